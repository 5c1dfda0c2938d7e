"""Monte Carlo ensembles over uncertain parameters, run on Dask.

Distributions come from the case's uncertainty table (``[case]
uncertainty = "assumptions.csv"``, or ``--uncertainty FILE``): one row per
mineral (or ``*``) and parameter with ``central``, ``low`` and ``high``.
Each draw takes every parameter from the triangular distribution
(low, central, high) and applies it to the case data as a factor
``draw / central``:

* ``demand_elasticity`` / ``supply_elasticity``: the ``elasticity`` of every
  demand (supply) curve of the mineral that has one, so each curve still
  passes through its reference point (calibration is kept) but is steeper
  or flatter;
* ``secondary_elasticity``: the ``elasticity`` of every secondary-supply
  curve of the mineral;
* ``trade_cost_half_gap``: every route cost of the mineral, the unit cost
  and the slope of a rising one alike (a calibrated route's whole margin
  scales with the price gap it was calibrated to).

Rows with other parameters are reported as not drawn.  Draw ``i`` uses the
random stream ``(seed, i)``: the same seed gives the same draws in any
order and on any number of workers.  A draw is an ordinary case: baseline
and scenarios solved and verified mineral by mineral.

Draws are solved in chunks, each chunk written by its worker to its own
NetCDF file (temporary file, then rename) in the output folder, so an
interrupted run keeps every finished chunk and ``--resume`` solves only the
missing ones; at the end the chunks are combined into ``ensemble.nc`` with
a ``draw`` dimension and summary quantiles.
"""

from __future__ import annotations

import copy
import csv
import json
import math
from pathlib import Path

import numpy as np
import xarray as xr

from .case import Case, build_case
from .errors import MineqError

#: what each draw keeps (a full result per draw would be mostly flows)
KEPT = ("price", "supply", "demand", "production", "processing", "net_import_reliance", "sourcing_share",
        "consumer_surplus_change", "producer_surplus_change", "processor_surplus_change", "government_net_change", "total_welfare_change",
        "status", "max_residual", "method", "iterations")
#: summary quantiles written beside the draws
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
DRAWN = {"demand_elasticity", "supply_elasticity", "secondary_elasticity", "trade_cost_half_gap"}


def read_uncertainty(path: str | Path, case: Case) -> list[dict]:
    """Rows (mineral, parameter, central, low, high) of an uncertainty table."""
    path = Path(path)
    if not path.exists():
        raise MineqError(f"The uncertainty table {path} does not exist.")
    rows = []
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = {"mineral", "parameter", "central", "low", "high"} - set(reader.fieldnames or [])
        if missing:
            raise MineqError(f"{path}: the header lacks {', '.join(sorted(missing))}; expected columns mineral, parameter, central, low, high.")
        for n, r in enumerate(reader, start=2):
            mn, par = (r["mineral"] or "").strip(), (r["parameter"] or "").strip()
            if mn != "*" and mn not in case.markets:
                raise MineqError(f"{path}, row {n}, field mineral: '{mn}' is not a mineral of case '{case.name}' (or '*').")
            vals = {}
            for k in ("central", "low", "high"):
                try:
                    vals[k] = float(r[k])
                except (TypeError, ValueError):
                    raise MineqError(f"{path}, row {n}, field {k}: '{r[k]}' is not a number.") from None
                if not math.isfinite(vals[k]):
                    raise MineqError(f"{path}, row {n}, field {k}: {r[k]} is not finite.")
            if par in DRAWN:
                if not (min(vals["low"], vals["high"]) <= vals["central"] <= max(vals["low"], vals["high"])) or vals["central"] == 0:
                    raise MineqError(f"{path}, row {n}: central {vals['central']:g} must be non-zero and between low {vals['low']:g} and high {vals['high']:g}.")
                if vals["low"] * vals["central"] <= 0 or vals["high"] * vals["central"] <= 0:
                    raise MineqError(f"{path}, row {n}: low, central and high of {par} must have the same sign (a draw may not flip a curve's direction).")
            rows.append({"row": n, "mineral": mn, "parameter": par, **vals})
    return rows


def draw_factors(rows: list[dict], seed: int, draw: int) -> list[tuple[str, str, float]]:
    """(mineral, parameter, factor) for one draw; triangular(low, central, high)."""
    rng = np.random.default_rng([seed, draw])
    out = []
    for r in rows:
        if r["parameter"] not in DRAWN:
            continue
        lo, mode, hi = sorted((r["low"], r["high"]))[0], r["central"], sorted((r["low"], r["high"]))[1]
        x = mode if lo == hi else rng.triangular(lo, mode, hi)
        out.append((r["mineral"], r["parameter"], float(x / mode)))
    return out


def perturbed_data(data: dict, factors: list[tuple[str, str, float]]) -> dict:
    """The case data with the draw's factors applied (see the module docstring)."""
    data = copy.deepcopy(data)
    for m in data["minerals"]:
        for mn, par, k in factors:
            if mn not in ("*", m["name"]):
                continue
            if par == "trade_cost_half_gap":
                for r in m.get("routes", []):
                    for key in ("cost", "slope"):
                        if isinstance(r.get(key), (int, float)):
                            r[key] = r[key] * k
                if isinstance(m.get("default_transport_cost"), (int, float)):
                    m["default_transport_cost"] = m["default_transport_cost"] * k
            else:
                side = {"demand_elasticity": "demand", "supply_elasticity": "supply", "secondary_elasticity": "secondary"}[par]
                for nd in m.get("nodes", []):
                    c = nd.get(side)
                    if isinstance(c, dict) and isinstance(c.get("elasticity"), (int, float)):
                        c["elasticity"] = c["elasticity"] * k
    return data


def solve_chunk(case_json: str, rows: list[dict], seed: int, draws: list[int], out: str, scenarios: list[str] | None) -> dict:
    """Solve ``draws`` and write them to ``out`` (atomically).  Runs on a worker."""
    from .results import to_dataset
    from .run import solve_case

    data = json.loads(case_json)
    parts = []
    ok = total = 0
    for d in draws:
        case = build_case(perturbed_data(data, draw_factors(rows, seed, d)))
        # one thread: the workers are the parallelism
        res = solve_case(case, scenarios, threads=1)
        ok += sum(r.ok for sc in res.values() for r in sc.values())
        total += sum(len(sc) for sc in res.values())
        ds = to_dataset(case, res)
        parts.append(ds[[v for v in KEPT if v in ds]].expand_dims(draw=[d]))
    chunk = xr.concat(parts, dim="draw")
    chunk.attrs = {"seed": seed, "draws": json.dumps(draws)}
    from .results import ENGINE, atomic_file

    with atomic_file(Path(out), replace=True) as tmp:  # a chunk is only written where none is
        chunk.to_netcdf(tmp, engine=ENGINE)
    return {"draws": len(draws), "verified": ok, "markets": total}


def chunk_path(folder: Path, k: int) -> Path:
    return folder / f"chunk-{k:05d}.nc"


def plan_chunks(n: int, size: int) -> list[list[int]]:
    return [list(range(i, min(n, i + size))) for i in range(0, n, size)]


def manifest(case: Case, rows: list[dict], seed: int, draws: int, chunk: int, scenarios) -> dict:
    """What a run folder was made for: a resume must match it exactly."""
    return {"case_hash": case.digest, "uncertainty": rows, "seed": seed, "draws": draws, "chunk": chunk, "scenarios": scenarios}


def combine(folder: Path, chunks: list[list[int]], case: Case, meta: dict) -> xr.Dataset:
    """All chunks along ``draw``, with quantiles of every numeric variable."""
    from .results import ENGINE

    parts = [xr.load_dataset(chunk_path(folder, k), engine=ENGINE) for k in range(len(chunks))]
    ds = xr.concat(parts, dim="draw").sortby("draw")
    num = [v for v in ds.data_vars if ds[v].dtype.kind == "f"]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells: combinations that do not exist
        q = ds[num].quantile(list(QUANTILES), dim="draw", skipna=True)
    for v in num:
        ds[f"{v}_quantiles"] = q[v]
        ds[f"{v}_quantiles"].attrs = {"description": f"quantiles of {v} over the draws"}
    ds.attrs = {
        "title": f"mineq ensemble of case '{case.name}'",
        "case_name": case.name,
        "base_year": case.base_year if case.base_year is not None else "",
        "seed": meta["seed"],
        "draws": meta["draws"],
        "distribution": "triangular(low, central, high) per uncertainty row; factor = draw / central (solver/ensemble.py)",
        "uncertainty_json": json.dumps(meta["uncertainty"]),
        "input_hash": meta["case_hash"],
        "all_equilibria": int((ds["status"] == "equilibrium").all()),
        "max_residual": float(ds["max_residual"].max()),
    }
    return ds
