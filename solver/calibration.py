"""The baseline against the observed world: a calibration table.

A case may name a table of observed figures (``calibration = "file.csv"``
in its ``[case]`` section), one row per figure, in the case's own terms
(regions, stages, the mineral's units)::

    mineral, indicator, stage, region, origin, observed, lower, upper,
    unit, source, confidence, note

``lower``/``upper`` are the band the baseline must fall in (a USGS bound
such as ">50" is a band with one open side; a net exporter "E" is
``upper = 0``).  Indicators, computed from a result's baseline:

* ``net_import_reliance_pct``: 100 × (apparent consumption − production)
  / apparent consumption at (stage, region); production counts secondary
  output (the USGS definition);
* ``import_share_pct``: 100 × flow origin → region / all flows into
  region at the stage (origin is a region of the case);
* ``production_share_pct``: 100 × the region's share of world primary
  output at the stage (production less secondary output: the basis of the
  USGS world production tables).  ``mineral`` may name a group joined by
  ``+`` (minerals in one quantity unit, such as the rare earths in t REO):
  the share of the group's summed output, as USGS reports for groups;
* ``price``: the node price, in the mineral's price unit;
* ``production``, ``secondary_production``, ``apparent_consumption``: at
  (stage, region), in the mineral's quantity unit.

:func:`compare` gives one row per figure with the model's value and
whether it lies in its band; ``mineq calibration`` prints it, ``mineq
solve`` stores it in the result file (variables ``calibration_*`` along a
``target`` dimension), and the bundled case's tests hold every band.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import MineqError

INDICATORS = {
    "net_import_reliance_pct": "percent of apparent consumption",
    "import_share_pct": "percent of the region's imports at the stage",
    "production_share_pct": "percent of world output at the stage",
    "price": "the mineral's price unit",
    "production": "the mineral's quantity unit",
    "secondary_production": "the mineral's quantity unit",
    "apparent_consumption": "the mineral's quantity unit",
}
COLUMNS = ("mineral", "indicator", "stage", "region", "origin", "observed", "lower", "upper", "unit", "source", "confidence", "note")


def targets(case, solved_only: bool = False) -> list[dict] | None:
    """The observed figures a case names (``[case] calibration``; read with
    the case, so stored and hashed with its results), checked against the
    case: one paragraph naming file, row, field and value for anything
    wrong.  None when the case names none.  ``solved_only``: leave out the
    rows of minerals the case object does not hold (a sweep or target over
    some minerals of a case)."""
    rows = case.data.get("calibration_targets")
    if rows is None:
        return None
    out = []
    for raw in rows:
        path, n = raw.get("_file", "calibration table"), raw.get("_where", "")
        r = {k: str(v).strip() for k, v in raw.items() if not k.startswith("_")}
        unknown = set(r) - set(COLUMNS)
        if unknown:
            raise MineqError(f"{path}, {n}: unknown column {sorted(unknown)[0]}; expected columns {', '.join(COLUMNS)}.")
        for key in ("mineral", "indicator", "stage", "region"):
            if not r.get(key):
                raise MineqError(f"{path}, {n}, field {key}: empty; every observed figure names its mineral, indicator, stage and region.")
        names = r["mineral"].split("+")
        if solved_only and any(mn not in case.markets for mn in names):
            continue
        for mn in names:
            if mn not in case.markets:
                raise MineqError(f"{path}, {n}, field mineral: '{mn}' is not a mineral of case '{case.name}'.")
        if r["indicator"] not in INDICATORS:
            raise MineqError(f"{path}, {n}, field indicator: '{r['indicator']}' is not one of {', '.join(INDICATORS)}.")
        if len(names) > 1:
            if r["indicator"] != "production_share_pct":
                raise MineqError(f"{path}, {n}, field mineral: '{r['mineral']}' names a group; only production_share_pct is defined for a group of minerals.")
            units = {case.markets[mn].quantity_unit for mn in names}
            if len(units) > 1:
                raise MineqError(f"{path}, {n}, field mineral: the group '{r['mineral']}' mixes quantity units ({', '.join(sorted(map(str, units)))}); a share of summed output needs one unit.")
        for mn in names:
            mk = case.markets[mn]
            if r["stage"] not in mk.stages:
                raise MineqError(f"{path}, {n}, field stage: '{r['stage']}' is not a stage of {mn} ({', '.join(mk.stages)}).")
        for key in ("region", "origin"):
            if r.get(key) and r[key] not in case.regions:
                raise MineqError(f"{path}, {n}, field {key}: '{r[key]}' is not a region of case '{case.name}' ({', '.join(case.regions)}).")
        if r["indicator"] == "import_share_pct" and not r.get("origin"):
            raise MineqError(f"{path}, {n}, field origin: empty; an import share needs the exporting region.")
        vals = {}
        for key in ("observed", "lower", "upper"):
            text = r.get(key, "")
            if text == "" and key != "observed":
                vals[key] = -math.inf if key == "lower" else math.inf
                continue
            try:
                vals[key] = float(text) if text != "" else math.nan
            except ValueError:
                raise MineqError(f"{path}, {n}, field {key}: '{text}' is not a number (leave it empty for an open band).") from None
        if not vals["lower"] <= vals["upper"]:
            raise MineqError(f"{path}, {n}: lower {vals['lower']:g} exceeds upper {vals['upper']:g}.")
        out.append({**{k: r.get(k, "") for k in COLUMNS}, **vals})
    return out


def model_value(ds, row: dict, scenario: str = "baseline") -> float:
    """The model's value of one calibration row in a result Dataset."""
    ind, region = row["indicator"], row["region"]
    sel = dict(scenario=scenario, mineral=row["mineral"], stage=row["stage"])
    if ind == "net_import_reliance_pct":
        return 100.0 * float(ds["net_import_reliance"].sel(**sel, region=region))
    if ind == "import_share_pct":
        from .results import dense_routes

        inflow = dense_routes(ds, "flow").sel(**sel, destination=region).fillna(0.0)
        total = float(inflow.sum())
        return 100.0 * float(inflow.sel(origin=row["origin"])) / total if total > 0 else math.nan
    if ind == "production_share_pct":
        # world production tables (USGS) count primary output; a group
        # ("a+b+c") sums its members'
        grp = dict(sel, mineral=row["mineral"].split("+"))
        prod = (ds["production"].sel(**grp).fillna(0.0) - ds["secondary_production"].sel(**grp).fillna(0.0)).clip(min=0.0).sum("mineral")
        total = float(prod.sum())
        return 100.0 * float(prod.sel(region=region)) / total if total > 0 else math.nan
    var = {"price": "price", "production": "production", "secondary_production": "secondary_production", "apparent_consumption": "apparent_consumption"}[ind]
    v = float(ds[var].sel(**sel, region=region))
    return 0.0 if math.isnan(v) and ind == "secondary_production" else v


def compare(ds, rows: list[dict], scenario: str = "baseline"):
    """One row per figure: the model's value, the observed one, the band
    and whether the model lies in it (a pandas DataFrame).  Reads the
    baseline's arrays once and indexes them (:func:`model_value` is the
    same per row, and the test of this module holds the two equal)."""
    import pandas as pd

    base = ds.sel(scenario=scenario)
    pos = {d: {str(v): i for i, v in enumerate(ds[d].values.tolist())} for d in ("mineral", "stage", "region")}
    arr = {v: np.asarray(base[v].transpose("mineral", "stage", "region").values, dtype=float) for v in ("net_import_reliance", "production", "secondary_production", "price", "apparent_consumption")}
    from .results import dense_routes

    flow = np.nan_to_num(np.asarray(dense_routes(base, "flow").transpose("mineral", "stage", "origin", "destination").values, dtype=float))
    primary = np.maximum(np.nan_to_num(arr["production"]) - np.nan_to_num(arr["secondary_production"]), 0.0)
    out = []
    for r in rows:
        g, k = pos["stage"][r["stage"]], pos["region"][r["region"]]
        ind = r["indicator"]
        group = [pos["mineral"][m] for m in r["mineral"].split("+")]  # one mineral, or a group (production shares only)
        i = group[0]
        if ind == "net_import_reliance_pct":
            m = 100.0 * arr["net_import_reliance"][i, g, k]
        elif ind == "import_share_pct":
            inflow = flow[i, g, :, k]
            tot = float(inflow.sum())
            m = 100.0 * float(inflow[pos["region"][r["origin"]]]) / tot if tot > 0 else math.nan
        elif ind == "production_share_pct":
            summed = primary[group, g].sum(axis=0)
            tot = float(summed.sum())
            m = 100.0 * float(summed[k]) / tot if tot > 0 else math.nan
        elif ind == "secondary_production":
            m = float(np.nan_to_num(arr["secondary_production"][i, g, k]))
        else:
            m = float(arr[ind][i, g, k])
        inside = bool(np.isfinite(m) and r["lower"] <= m <= r["upper"])
        out.append({k2: r[k2] for k2 in ("mineral", "indicator", "stage", "region", "origin")} | {"model": float(m), "observed": r["observed"], "lower": r["lower"], "upper": r["upper"], "inside": inside, "unit": r["unit"] or INDICATORS[r["indicator"]], "source": r["source"], "confidence": r["confidence"]})
    return pd.DataFrame(out, columns=["mineral", "indicator", "stage", "region", "origin", "model", "observed", "lower", "upper", "inside", "unit", "source", "confidence"])


def attach(ds, table) -> None:
    """Store a :func:`compare` table in a result Dataset (``target`` dimension)."""
    n = len(table)
    ds.coords["target"] = np.arange(n)
    for col in ("mineral", "indicator", "stage", "region", "origin", "unit", "source", "confidence"):
        ds[f"calibration_{col}"] = (("target",), table[col].astype(str).to_numpy())
    for col in ("model", "observed", "lower", "upper"):
        ds[f"calibration_{col}"] = (("target",), table[col].to_numpy(dtype=float))
    ds["calibration_inside"] = (("target",), table["inside"].to_numpy(dtype=np.int8))
    ds["calibration_model"].attrs["description"] = "the baseline's value of each observed figure (see calibration_indicator)"


def format_table(table, minerals=None) -> str:
    """The table as text: one line per figure, then the count inside bands."""
    lines = []
    t = table if not minerals else table[table.mineral.map(lambda m: any(x in minerals for x in m.split("+")))]
    head = f"{'mineral':<14}{'indicator':<26}{'where':<22}{'model':>12}{'observed':>12}  {'band':<22}{'ok':<4}source"
    lines.append(head)
    for r in t.itertuples():
        where = f"{r.stage}/{r.region}" + (f"<-{r.origin}" if r.origin else "")
        band = f"[{_num(r.lower)}, {_num(r.upper)}]"
        parts = r.mineral.split("+")
        mineral = r.mineral if len(parts) == 1 else f"{parts[0]}+{len(parts) - 1}"
        src = (r.source or "")[:70]
        lines.append(f"{mineral:<14}{r.indicator:<26}{where:<22}{_num(r.model):>12}{_num(r.observed):>12}  {band:<22}{'yes' if r.inside else 'NO':<4}{src} ({r.confidence})")
    n_in = int(t.inside.sum())
    lines.append(f"{n_in} of {len(t)} observed figures inside their bands." + ("  (a mineral 'x+N' is a group: x and N more, its output summed)" if t.mineral.str.contains("+", regex=False).any() else ""))
    return "\n".join(lines)


def _num(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if math.isinf(v):
        return "-inf" if v < 0 else "inf"
    a = abs(v)
    return f"{v:.4g}" if a < 1e5 else f"{v:.3e}"
