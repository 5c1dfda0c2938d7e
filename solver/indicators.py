"""Indicators: one number (or one line per mineral) out of a result Dataset.

Syntax, as typed after ``--indicator``::

    NAME[LABEL,LABEL,...]

``NAME`` is a variable of the result file (``price``, ``net_import_reliance``,
``total_welfare_change``, ...) or a derived indicator from
:data:`DERIVED`.  Each ``LABEL`` is a mineral, stage, region or sourcing
group of the case and selects along the dimension it names (a region
selects ``region``, else ``destination``).  A stage left open means each
mineral's last stage with a value (the refined product where there is
one).  Examples: ``net_import_reliance[USA]``,
``processing_share[USA,lithium]``, ``sourcing_share[USA,partners,cobalt]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import xarray as xr

from .errors import MineqError

#: run dimensions: what an indicator is a function of
RUN_DIMS = ("scenario", "sweep", "draw", "year")


def processing_share(ds: xr.Dataset) -> xr.DataArray:
    """A region's share of world processing output at a stage (0-1)."""
    out = ds["processing"]
    tot = out.sum("region", min_count=1)
    return (out / tot.where(tot > 0)).assign_attrs(units="fraction of world processing output at the stage", long_name="processing share")


def production_share(ds: xr.Dataset) -> xr.DataArray:
    """A region's share of world production (mining or processing) at a stage (0-1)."""
    out = ds["production"]
    tot = out.sum("region", min_count=1)
    return (out / tot.where(tot > 0)).assign_attrs(units="fraction of world production at the stage", long_name="production share")


def producer_government_change(ds: xr.Dataset) -> xr.DataArray:
    """A region's sellers' and government's gain against the baseline:
    producer + processor surplus + government net + rents (quota
    licences, undertakings, origin and markup rents) changes; everything
    in the total but its consumers and its stockpile.  What an exporter
    that restricts its exports (an export tax or quota) maximises: the
    strategic-export-restriction use case of ``mineq target --maximize``."""
    parts = ("producer_surplus_change", "processor_surplus_change", "government_net_change", "rents_change")
    return sum(ds[p].fillna(0.0) for p in parts).assign_attrs(units=ds["producer_surplus_change"].attrs.get("units", ""), long_name="producers' + processors' + government's + rents' change")


#: name -> function of the Dataset, for indicators that are not stored
DERIVED = {"processing_share": processing_share, "production_share": production_share, "producer_government_change": producer_government_change}

_SYNTAX = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\[(.*)\])?\s*$")


@dataclass
class Indicator:
    """A parsed indicator: ``name`` and its ``labels``."""

    text: str
    name: str
    labels: list[str]

    def __str__(self) -> str:
        return self.text


#: indicators that are fractions (0.5 = 50%): net import reliance and shares
FRACTIONS = {"net_import_reliance", "processing_share", "production_share", "supply_share", "sourcing_share", "production_top_share"}


def target_value(text: str, ind: Indicator | str) -> float:
    """A value for ``ind`` as typed: a number, or for a fraction indicator
    also a percentage (``50%`` = 0.5).  A fraction indicator never exceeds
    1 (net import reliance: production is never negative), so a number
    above 1 is refused with the percentage it probably meant."""
    if isinstance(ind, str):
        ind = parse(ind)
    raw = str(text).strip()
    pct = raw.endswith("%")
    try:
        v = float(raw[:-1] if pct else raw)
    except ValueError:
        raise MineqError(f"--value '{text}': expected a number" + (" or a percentage such as 50%" if ind.name in FRACTIONS else "") + ".") from None
    if pct:
        if ind.name not in FRACTIONS:
            raise MineqError(f"--value '{text}': {ind.name} is not a fraction, so a percentage means nothing; give it in its own unit.")
        return v / 100.0
    if ind.name in FRACTIONS and v > 1.0:
        raise MineqError(f"--value {raw}: {ind.name} is a fraction (0 to 1; net import reliance may be negative for a net exporter), never above 1. Did you mean {raw}%? Write {v / 100:g} or {raw}%.")
    return v


def parse(text: str) -> Indicator:
    m = _SYNTAX.match(text)
    if not m:
        raise MineqError(f"Indicator '{text}': expected NAME or NAME[LABEL,...], for example net_import_reliance[USA] or processing_share[USA,lithium].")
    labels = [x.strip() for x in (m.group(2) or "").split(",") if x.strip()]
    return Indicator(text.strip(), m.group(1), labels)


def evaluate(ds: xr.Dataset, ind: Indicator | str) -> xr.DataArray:
    """The indicator as a DataArray over the run dimension (and ``mineral``
    when no mineral was chosen)."""
    if isinstance(ind, str):
        ind = parse(ind)
    if ind.name in DERIVED:
        da = DERIVED[ind.name](ds)
    elif ind.name in ds.data_vars and ds[ind.name].dtype.kind in "fi":
        da = ds[ind.name]
    else:
        numeric = sorted([v for v in ds.data_vars if ds[v].dtype.kind == "f" and any(d in ds[v].dims for d in RUN_DIMS)] + list(DERIVED))
        raise MineqError(f"Indicator '{ind}': '{ind.name}' is not a numeric variable of the result file nor a derived indicator; choose one of: {', '.join(numeric)}.")
    for label in ind.labels:
        dims = [d for d in ("mineral", "stage", "region", "destination", "origin", "source") if d in da.dims and label in da[d].values.tolist()]
        if not dims:
            where = {d: da[d].values.tolist() for d in da.dims if d not in RUN_DIMS and da[d].dtype.kind in "UO"}
            raise MineqError(f"Indicator '{ind}': '{label}' is not a label of {ind.name}'s dimensions ({'; '.join(f'{d}: ' + ', '.join(map(str, v[:12])) + (', ...' if len(v) > 12 else '') for d, v in where.items())}).")
        da = da.sel({dims[0]: label})
    if "stage" in da.dims:
        # each mineral's last stage with a value: the refined product if any
        da = _last_valid(da, "stage")
    rest = [d for d in da.dims if d not in RUN_DIMS and d != "mineral"]
    if rest:
        raise MineqError(f"Indicator '{ind}': choose one label along {', '.join(rest)} (for example {ind.name}[{', '.join(ind.labels + [str(da[d].values[0]) for d in rest])}]); an indicator is one number per mineral.")
    return da


def _last_valid(da: xr.DataArray, dim: str) -> xr.DataArray:
    """Along ``dim``, the last value that is not NaN (NaN if none)."""
    ok = da.notnull()
    # position of the last valid entry: argmax over the reversed mask
    n = da.sizes[dim]
    last = (n - 1) - ok.isel({dim: slice(None, None, -1)}).argmax(dim)
    return da.isel({dim: last}).where(ok.any(dim)).drop_vars(dim, errors="ignore")


def scalar(ds: xr.Dataset, ind: Indicator | str) -> xr.DataArray:
    """Like :func:`evaluate`, but one number per run (a mineral must be chosen)."""
    da = evaluate(ds, ind)
    if "mineral" in da.dims:
        if da.sizes["mineral"] == 1:
            return da.isel(mineral=0)
        raise MineqError(f"Indicator '{ind}': name a mineral among its labels (for example {parse(str(ind)).name}[{', '.join(parse(str(ind)).labels + [str(da.mineral.values[0])])}]); a target is one number.")
    return da
