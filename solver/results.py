"""Result files (SPEC §7): one xarray Dataset, NetCDF or tidy CSV.

Dimensions ``scenario, mineral, stage, region, origin, destination``.
Combinations that do not exist (a stage a mineral lacks, a region with no
producers, a forbidden route) are NaN, never 0.  The canonical case
inputs are stored in the attribute ``case_json`` so that ``mineq verify``
can recompute every equilibrium condition from the file alone.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from pathlib import Path

import numpy as np
import xarray as xr

from models.market import Market, Solution

from . import __version__
from .case import Case, build_case, canonical_json
from .errors import MineqError
from .solve import MarketResult
from .statistics import objective, trade, welfare

NODE_VARS = ("price", "supply", "demand", "processing", "processing_input", "imports", "exports", "net_imports", "production", "apparent_consumption", "net_import_reliance")
WELFARE_VARS = ("consumer_surplus", "producer_surplus", "processor_surplus", "government_net", "total_welfare")

UNITS = {
    "price": "price unit (see mineral_price_unit)",
    "supply": "quantity unit (see mineral_quantity_unit)",
    "demand": "quantity unit",
    "processing": "quantity unit of the output stage, per year",
    "processing_input": "quantity unit of the input stage",
    "imports": "quantity unit",
    "exports": "quantity unit",
    "net_imports": "quantity unit",
    "production": "quantity unit",
    "apparent_consumption": "quantity unit",
    "net_import_reliance": "fraction (imports - exports) / apparent consumption",
    "flow": "quantity unit",
    "transport_cost": "price unit",
    "welfare_objective": "price unit x quantity unit",
    "max_residual": "dimensionless (scaled residual)",
}
for _v in WELFARE_VARS:
    UNITS[_v] = "price unit x quantity unit"


def _versions() -> dict[str, str]:
    import highspy
    import pyomo

    try:
        h = highspy.Highs()
        hv = f"{h.versionMajor()}.{h.versionMinor()}.{h.versionPatch()}"
    except Exception:  # pragma: no cover - version query differs by build
        hv = "unknown"
    return {"mineq_version": __version__, "pyomo_version": pyomo.version.version, "highs_version": hv, "xarray_version": xr.__version__, "python_version": platform.python_version()}


def all_stages(case: Case) -> list[str]:
    """Every stage of the case, upstream first.

    A stage's rank is the most stages that follow it in any mineral's
    chain, so ``mine`` (one successor) precedes ``refined`` (none).
    """
    after: dict[str, int] = {}
    for m in case.markets.values():
        for i, s in enumerate(m.stages):
            after[s] = max(after.get(s, 0), len(m.stages) - 1 - i)
    return sorted(after, key=lambda s: -after[s])


def to_dataset(case: Case, results: dict[str, dict[str, MarketResult]]) -> xr.Dataset:
    """Assemble solved markets into the result Dataset.

    ``results[scenario][mineral]`` is the outcome of one market; markets
    without a solution leave NaN and are flagged in ``status``.
    """
    scen = list(results)
    mins = list(case.markets)
    stages = all_stages(case)
    regs = case.regions
    S, M, G, R = len(scen), len(mins), len(stages), len(regs)
    node = {v: np.full((S, M, G, R), np.nan) for v in NODE_VARS}
    flow = np.full((S, M, G, R, R), np.nan)
    wel = {v: np.full((S, M, R), np.nan) for v in WELFARE_VARS}
    obj = np.full((S, M), np.nan)
    status = np.full((S, M), "not solved", dtype=object)
    iters = np.zeros((S, M), dtype=np.int64)
    resid = np.full((S, M), np.nan)
    message = np.full((S, M), "", dtype=object)
    tcost = np.full((M, G, R, R), np.nan)
    for j, mn in enumerate(mins):
        mk = case.markets[mn]
        for (s, o, d), c in mk.routes.items():
            tcost[j, stages.index(s), regs.index(o), regs.index(d)] = c
    for i, sn in enumerate(scen):
        for j, mn in enumerate(mins):
            res = results[sn].get(mn)
            if res is None:
                continue
            status[i, j] = res.status
            iters[i, j] = res.iterations
            resid[i, j] = res.max_residual
            message[i, j] = res.message
            if res.solution is None:
                continue
            mk, sol = res.market, res.solution
            gi = [stages.index(s) for s, _ in mk.nodes]
            ri = [regs.index(r) for _, r in mk.nodes]
            node["price"][i, j, gi, ri] = sol.price
            node["supply"][i, j, gi, ri] = sol.supply
            node["demand"][i, j, gi, ri] = sol.demand
            for k, v in trade(mk, sol).items():
                node[k][i, j, gi, ri] = v
            # processing output sits at the output stage; NaN where no process
            for k, p in enumerate(mk.processes):
                node["processing"][i, j, stages.index(p.target), regs.index(p.region)] = sol.processing[k]
            no_use = np.isnan(node["processing"][i, j])
            for k, p in enumerate(mk.processes):
                no_use[stages.index(p.source), regs.index(p.region)] = False
            node["processing_input"][i, j][no_use] = np.nan
            for k, (s, o, d) in enumerate(mk.route_list):
                flow[i, j, stages.index(s), regs.index(o), regs.index(d)] = sol.flow[k]
            for k, v in welfare(mk, sol).items():
                wel[k][i, j] = v
            obj[i, j] = objective(mk, sol)
    coords = {"scenario": scen, "mineral": mins, "stage": stages, "region": regs, "origin": regs, "destination": regs}
    data = {v: (("scenario", "mineral", "stage", "region"), node[v]) for v in NODE_VARS}
    data["flow"] = (("scenario", "mineral", "stage", "origin", "destination"), flow)
    data.update({v: (("scenario", "mineral", "region"), wel[v]) for v in WELFARE_VARS})
    data["welfare_objective"] = (("scenario", "mineral"), obj)
    data["status"] = (("scenario", "mineral"), status.astype(str))
    data["iterations"] = (("scenario", "mineral"), iters)
    data["max_residual"] = (("scenario", "mineral"), resid)
    data["message"] = (("scenario", "mineral"), message.astype(str))
    data["transport_cost"] = (("mineral", "stage", "origin", "destination"), tcost)
    data["mineral_quantity_unit"] = (("mineral",), np.array([case.markets[m].quantity_unit for m in mins], dtype=str))
    data["mineral_price_unit"] = (("mineral",), np.array([case.markets[m].price_unit for m in mins], dtype=str))
    ds = xr.Dataset(data, coords=coords)
    for v, u in UNITS.items():
        if v in ds:
            ds[v].attrs["units"] = u
    worst = float(np.nanmax(resid)) if np.isfinite(resid).any() else float("nan")
    ds.attrs.update(
        {
            "title": f"mineq results for case '{case.name}'",
            "case_name": case.name,
            "case_description": case.description,
            "base_year": case.base_year if case.base_year is not None else "",
            "input_hash": case.digest,
            "case_json": canonical_json(case.data),
            "max_residual": worst,
            "all_equilibria": int(all(r.ok for sc in results.values() for r in sc.values())),
            "Conventions": "CF-1.8; NaN marks combinations that do not exist",
            **_versions(),
        }
    )
    return ds


def solutions_from_dataset(ds: xr.Dataset, case: Case) -> dict[str, dict[str, Solution]]:
    """Rebuild each market's primal solution from a result Dataset."""
    out: dict[str, dict[str, Solution]] = {}
    for sn in ds.scenario.values.tolist():
        out[sn] = {}
        for mn, mk in case.markets.items():
            if mn not in ds.mineral.values:
                raise MineqError(f"The result file has no mineral '{mn}' although its stored case defines it; the file is incomplete or was edited.")
            sel = ds.sel(scenario=sn, mineral=mn)
            price = np.array([float(sel.price.sel(stage=s, region=r)) for s, r in mk.nodes])
            supply = np.array([float(sel.supply.sel(stage=s, region=r)) for s, r in mk.nodes])
            demand = np.array([float(sel.demand.sel(stage=s, region=r)) for s, r in mk.nodes])
            flow = np.array([float(sel.flow.sel(stage=s, origin=o, destination=d)) for s, o, d in mk.route_list])
            proc = np.array([float(sel.processing.sel(stage=p.target, region=p.region)) for p in mk.processes])
            out[sn][mn] = Solution(supply=supply, demand=demand, price=price, flow=flow, processing=proc, objective=float(sel.welfare_objective))
    return out


def case_from_dataset(ds: xr.Dataset) -> Case:
    if "case_json" not in ds.attrs:
        raise MineqError("The result file has no stored case inputs (attribute 'case_json'); it was not written by mineq solve, so it cannot be verified.")
    try:
        data = json.loads(ds.attrs["case_json"])
    except json.JSONDecodeError as err:
        raise MineqError(f"The stored case inputs in the result file are not valid JSON ({err}); the file was edited or is damaged.") from None
    return build_case(data)


def forbidden_flows(ds: xr.Dataset, case: Case) -> list[str]:
    """Flows recorded on routes the case does not allow (should be NaN)."""
    bad = []
    for mn, mk in case.markets.items():
        f = ds.flow.sel(mineral=mn)
        for s in mk.stages:
            for o in mk.regions:
                for d in mk.regions:
                    if (s, o, d) not in mk.routes:
                        val = float(f.sel(stage=s, origin=o, destination=d).max())
                        if np.isfinite(val) and val != 0:
                            bad.append(f"{mn} {s} {o}->{d} = {val:g}")
    return bad


# ----------------------------------------------------------------------
# writing
# ----------------------------------------------------------------------
def write(ds: xr.Dataset, path: str | Path, fmt: str = "netcdf", force: bool = False) -> Path:
    """Write atomically: to a temporary file beside ``path``, then rename.

    An existing output is never replaced unless ``force``.
    """
    path = Path(path)
    if path.exists() and not force:
        raise MineqError(f"The output {path} already exists; mineq does not overwrite results. Choose another --out or pass --force to replace it.")
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "netcdf":
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        try:
            ds.to_netcdf(tmp, engine="h5netcdf")
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return path
    if fmt == "csv":
        tmpdir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        try:
            write_csv(ds, tmpdir)
            if path.exists():
                shutil.rmtree(path) if path.is_dir() else path.unlink()
            os.replace(tmpdir, path)
        finally:
            if tmpdir.exists():
                shutil.rmtree(tmpdir)
        return path
    raise MineqError(f"Unknown result format '{fmt}'; expected netcdf or csv.")


def write_csv(ds: xr.Dataset, folder: Path) -> None:
    """Tidy CSVs: one row per observation, one column per variable."""
    folder.mkdir(parents=True, exist_ok=True)
    groups = {
        "nodes": list(NODE_VARS),
        "flows": ["flow"],
        "welfare": list(WELFARE_VARS),
        "solve": ["status", "iterations", "max_residual", "welfare_objective", "message"],
    }
    for name, vars_ in groups.items():
        df = ds[vars_].to_dataframe()
        num = [v for v in vars_ if ds[v].dtype.kind == "f"]
        if num:
            df = df.dropna(how="all", subset=num)
        df.to_csv(folder / f"{name}.csv")
    meta = {k: v for k, v in ds.attrs.items() if k != "case_json"}
    (folder / "attributes.json").write_text(json.dumps(meta, indent=2, default=str))
    (folder / "case.json").write_text(ds.attrs.get("case_json", "{}"))
