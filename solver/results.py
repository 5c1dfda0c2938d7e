"""Result files (SPEC §7): one xarray Dataset, NetCDF or tidy CSV.

Dimensions ``scenario, mineral, stage, region, origin, destination``.
Combinations that do not exist (a stage a mineral lacks, a region with no
producers, a forbidden route) are NaN, never 0.  The canonical case
inputs are stored in the attribute ``case_json`` so that ``mineq verify``
can recompute every equilibrium condition from the file alone.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import platform
import secrets
import shutil
import signal
import threading
from contextlib import contextmanager
from itertools import repeat
from pathlib import Path

import numpy as np
import xarray as xr

from mineq.models.market import Solution

from . import __version__
from .case import Case, build_case
from .errors import MineqError
from .runtime import steady_step
from .solve import MarketResult
from .statistics import WELFARE_ITEMS, nan_to_zero, concentration, floor_payments, objective, supply_shares, trade, welfare, welfare_change

#: the NetCDF library: netCDF4 (the Unidata C library) writes the bundled
#: case's 80 variables six times faster than h5netcdf (benchmarks/full_case.py)
ENGINE = "netcdf4"

NODE_VARS = (
    "price",
    "producer_price",
    "floor_payment",
    "supply",
    "demand",
    "offtake",
    "stockpile_release",
    "origin_rent_per_unit",
    "marginal_revenue",
    "processing",
    "processing_input",
    "imports",
    "exports",
    "net_imports",
    "production",
    "secondary_production",
    "apparent_consumption",
    "net_import_reliance",
    "joint_output",
    "disposal",
)
ROUTE_VARS = ("flow", "export_tax_per_unit", "mip_rent_per_unit", "tariff_per_unit", "quota_rent_per_unit")
WELFARE_VARS = WELFARE_ITEMS
CHANGE_VARS = tuple(f"{v}_change" for v in WELFARE_ITEMS)

_Q, _P, _M = "quantity unit (see mineral_quantity_unit)", "price unit (see mineral_price_unit)", "price unit x quantity unit"
UNITS = {
    "price": _P,
    "producer_price": _P + ": price plus deficiency payment per unit",
    "floor_payment": _P + ": deficiency payment per covered unit",
    "supply": _Q,
    "demand": _Q,
    "offtake": _Q + ": government stockpile purchases",
    "stockpile_release": _Q + ": stocks sold",
    "origin_rent_per_unit": _P + ": shadow price of a rules-of-origin limit on the node's exports",
    "marginal_revenue": _P + ": a strategic seller's marginal revenue (market_power; NaN elsewhere): what its producers and refiners earn; price minus it is the markup on home sales",
    "processing": "quantity unit of the output stage, per year",
    "processing_input": "quantity unit of the input stage",
    "imports": _Q,
    "exports": _Q,
    "net_imports": _Q,
    "production": _Q,
    "secondary_production": _Q + ": output from old and new scrap, part of production (NaN: no secondary supply at the node)",
    "apparent_consumption": _Q,
    "net_import_reliance": "fraction (apparent consumption - production) / apparent consumption (USGS: net imports net of stock changes)",
    "joint_output": _Q + ": net output of joint activities at the node (yields positive, a host input negative; NaN: not part of a linked market)",
    "disposal": _Q + ": joint output nobody uses at a zero price, disposed of (NaN: not part of a linked market)",
    "joint_activity": "units of activity of each joint-production activity (see activity_inputs, activity_outputs)",
    "supply_share": "fraction of the node's supply by origin (home = own output net of exports)",
    "sourcing_share": "fraction of the node's supply produced at home or in each group (origin = exporting region)",
    "production_top_share": "fraction of world output at the stage in the largest region",
    "production_hhi": "Herfindahl-Hirschman index of output shares at the stage (0-1)",
    "flow": _Q,
    "export_tax_per_unit": _P,
    "mip_rent_per_unit": _P + ": minimum-import-price levy or undertaking per unit",
    "tariff_per_unit": _P,
    "quota_rent_per_unit": _P,
    "quota_shadow_price": _P + ": rent per unit of each quota",
    "extension_shadow_price": _P + " per unit of the row: shadow price μ of each extension row (models/extensions.py); μ·a adds to what a quantity with coefficient a in the row earns",
    "extension_rent_by_row": "money (price unit × quantity unit): rent of each extension row, −μ·(row value), taken by its holder (welfare item extension_rent)",
    "transport_cost": _P + ": unit route cost t at zero flow",
    "transport_cost_slope": _P + " per unit of flow: the route's marginal cost is t + slope x flow",
    "welfare_objective": _M,
    "welfare_objective_change": _M,
    "max_residual": "dimensionless (scaled residual)",
}
for _v in WELFARE_VARS + CHANGE_VARS:
    UNITS[_v] = _M


@functools.lru_cache(maxsize=1)
def _versions() -> dict[str, str]:
    """Versions of mineq and what it solves with (looked up once a process:
    the metadata lookups cost 5 ms a result file)."""
    from importlib.metadata import PackageNotFoundError, version

    from mineq.models.active_set import new_highs

    # from the installed metadata: importing Pyomo (and the SciPy it loads)
    # only for its version costs most of a second, and nothing else in a
    # solve needs it
    try:
        pv = version("pyomo")
    except PackageNotFoundError:  # pragma: no cover - pyomo is a dependency
        pv = "unknown"

    try:
        h = new_highs()
        hv = f"{h.versionMajor()}.{h.versionMinor()}.{h.versionPatch()}"
    except Exception:  # pragma: no cover - version query differs by build
        hv = "unknown"
    return {"mineq_version": __version__, "pyomo_version": pv, "highs_version": hv, "xarray_version": xr.__version__, "python_version": platform.python_version()}


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


def market_numbers(res: MarketResult, base: MarketResult | None = None, lean: bool = False) -> dict:
    """The numbers of one solved market that the result Dataset needs and
    that take computing: floor payments per unit, trade, supply shares,
    welfare, the objective and, against the ``base`` (baseline) result,
    the welfare change (None without a solved base).

    Kept on the result (``res.numbers``; the change by baseline solution):
    :func:`mineq.solver.run.solve_case` makes them on its worker threads as each
    market finishes, beside the other markets' solves, and
    :func:`to_dataset` only places them.  ``lean`` (an ensemble's draw,
    which keeps no objective, :data:`mineq.solver.ensemble.KEPT`): the
    objective is left out (None), and made by :func:`to_dataset` if a
    Dataset asks for it after all.
    """
    num = res.numbers
    if num is None:
        mk, sol, plan = res.market, res.solution, res.plan
        tr = trade(mk, sol, plan)
        num = res.numbers = {
            "floor_payment": floor_payments(mk, sol, plan)[0],
            "trade": tr,
            "supply_share": supply_shares(mk, sol, plan, flows=tr),
            "welfare": welfare(mk, sol, plan),
            "objective": None if lean else objective(mk, sol, plan),
            "changes": {},
        }
    change = None
    if base is not None and base.solution is not None:
        key = id(base.solution)
        if key not in num["changes"]:
            # the baseline's own welfare, computed once: every scenario compares with it
            then = market_numbers(base)["welfare"]
            num["changes"][key] = welfare_change(base.market, res.solution, base.solution, res.plan, now=num["welfare"], before=then)
        change = num["changes"][key]
    return {**num, "welfare_change": change}


@steady_step
def to_dataset(case: Case, results: dict[str, dict[str, MarketResult]], inputs: bool = True, layout: str = "dense", keep: tuple[str, ...] | None = None,
               rows: dict[str, tuple[str, str]] | None = None) -> xr.Dataset:
    """Assemble solved markets into the result Dataset.

    ``results[scenario][mineral]`` is the outcome of one market; markets
    without a solution leave NaN and are flagged in ``status``.  Welfare
    changes are versus the ``baseline`` scenario.  ``inputs=False`` (an
    ensemble's draw, of which only some numbers are kept) leaves out the
    stored inputs (``case_json``, ``input_hash``) and the comparison with
    the calibration targets, half the time of assembling a draw.

    ``layout``: ``"dense"`` holds the origin x destination variables as
    dense arrays; ``"file"`` along their entry dimensions, as a NetCDF
    file holds them (:data:`PACKED`; the same Dataset as
    :func:`pack_routes` of the dense one, made without the dense arrays:
    a 200-region case's take 0.5 GB and a second to fill).  Route values
    are gathered along the entries in either layout, and the dense arrays
    are filled from them (:func:`_refill`), so the two cannot differ.

    ``keep``: only these data variables (an ensemble's draw,
    :data:`mineq.solver.ensemble.KEPT`), each as the whole Dataset has
    it; the route and supply-share variables and the concentration
    measures are not computed unless kept (a bundled draw's Dataset:
    26 ms with all 90 variables).

    ``rows``: per key of ``results`` (a row along ``scenario``), the
    scenario it solves and the key of the row its welfare changes are
    against; by default each key is a scenario, against ``"baseline"``.
    An ensemble's chunk places several draws in one Dataset, a row per
    draw and scenario, each against its own draw's baseline
    (:func:`mineq.solver.ensemble.solve_chunk`): the Dataset's own cost,
    8 ms, is then paid once for all of them.
    """
    if layout not in ("dense", "file"):
        raise ValueError(f"layout must be 'dense' or 'file', not {layout!r}")
    scen = list(results)
    mins = list(case.markets)
    stages = all_stages(case)
    regs = case.regions
    S, M, G, R = len(scen), len(mins), len(stages), len(regs)
    node = {v: np.full((S, M, G, R), np.nan) for v in NODE_VARS}
    # origin x destination numbers, per solved market: gathered here,
    # placed along the entry dimensions after the loop (_Entries)
    routed: list[tuple[int, int, np.ndarray, dict[str, np.ndarray], bool]] = []  # (row, mineral, flat cells, values by variable, the case's own market)
    shared: list[tuple[int, int, np.ndarray, np.ndarray, np.ndarray]] = []  # (row, mineral, shares (nodes x regions), gi, ri)
    sourced = np.full((S, M, G, R, 1 + len(case.groups)), np.nan)
    members = [[regs.index(r) for r in case.groups[g]] for g in case.groups]
    top, hhi = np.full((S, M, G), np.nan), np.full((S, M, G), np.nan)
    wel = {v: np.full((S, M, R), np.nan) for v in WELFARE_VARS + CHANGE_VARS}
    obj = np.full((S, M), np.nan)
    dobj = np.full((S, M), np.nan)
    nq = max([len(r.plan.quotas) for sc in results.values() for r in sc.values() if r.plan is not None] + [0])
    qprice = np.full((S, M, nq), np.nan)
    qlabel = np.full((S, M, nq), "", dtype=object)
    ne = max([len(r.plan.extensions) for sc in results.values() for r in sc.values() if r.plan is not None] + [0])
    eprice = np.full((S, M, ne), np.nan)
    erent = np.full((S, M, ne), np.nan)
    elabel = np.full((S, M, ne), "", dtype=object)
    status = np.full((S, M), "not solved", dtype=object)
    method = np.full((S, M), "", dtype=object)
    iters = np.zeros((S, M), dtype=np.int64)
    fallback = np.zeros((S, M), dtype=np.int8)
    resid = np.full((S, M), np.nan)
    message = np.full((S, M), "", dtype=object)
    acts = [(ln, k, jp.label) for ln, link in case.links.items() for k, jp in enumerate(link.joint)]
    act_pos = {(ln, k): a for a, (ln, k, _) in enumerate(acts)}
    activity = np.full((S, len(acts)), np.nan)
    gpos, rpos = {s: k for k, s in enumerate(stages)}, {r: k for k, r in enumerate(regs)}
    grid = (M, G, R, R)  # (mineral, stage, origin, destination), and (mineral, stage, region, origin)
    wanted = lambda *vs: keep is None or any(v in keep for v in vs)  # noqa: E731
    on_routes, on_shares, on_top = wanted(*ROUTE_VARS, "transport_cost", "transport_cost_slope"), wanted("supply_share"), wanted("production_top_share", "production_hhi")
    costed: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (flat cells, cost, slope) per mineral
    for j, mn in enumerate(mins):
        mk = case.markets[mn]
        if not mk.routes or not on_routes:
            continue
        ss, os_, ds_ = zip(*mk.routes)
        cells = np.ravel_multi_index((np.full(len(ss), j), [gpos[s] for s in ss], [rpos[o] for o in os_], [rpos[d] for d in ds_]), grid)
        slopes = np.fromiter(map(mk.route_slopes.get, mk.routes, repeat(0.0)), float, len(ss)) if mk.route_slopes else np.zeros(len(ss))
        costed.append((cells, np.fromiter(mk.routes.values(), float, len(ss)), slopes))
    rows = rows or {sn: (sn, "baseline") for sn in scen}
    bases = [results.get(rows[sn][1], {}) for sn in scen]
    done: dict[int, int] = {}  # id(result) -> scenario row already filled
    repeats: list[tuple[int, int, int]] = []  # (row, mineral, the row it repeats)
    grids: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
    for i, sn in enumerate(scen):
        for j, mn in enumerate(mins):
            res = results[sn].get(mn)
            if res is None:
                continue
            link = case.link_of(mn)
            if link is not None and res.solution is not None and len(res.solution.joint) == len(link.joint):
                for k, y in enumerate(res.solution.joint):
                    activity[i, act_pos[(link.name, k)]] = y
            if id(res) in done:
                # a market the scenario leaves alone: the same result object,
                # the same numbers (changes are versus the same baseline);
                # copied below, array by array
                repeats.append((i, j, done[id(res)]))
                continue
            done[id(res)] = i
            status[i, j] = res.status
            method[i, j] = res.method
            fallback[i, j] = int(res.fallback)
            iters[i, j] = res.iterations
            resid[i, j] = res.max_residual
            message[i, j] = res.message
            if res.solution is None:
                continue
            mk, sol, plan = res.market, res.solution, res.plan
            key = (tuple(mk.stages), tuple(mk.regions))
            if key not in grids:
                # a market's nodes in the case-wide (stage, region) grid
                grids[key] = (np.array([stages.index(s) for s in mk.stages]).repeat(len(mk.regions)), np.tile([regs.index(r) for r in mk.regions], len(mk.stages)))
            gi, ri = grids[key]
            node["price"][i, j, gi, ri] = sol.price
            node["supply"][i, j, gi, ri] = sol.supply
            node["demand"][i, j, gi, ri] = sol.demand
            if len(sol.joint_net):
                node["joint_output"][i, j, gi, ri] = sol.joint_net
                node["disposal"][i, j, gi, ri] = sol.disposal
            b = bases[i].get(mn)
            num = market_numbers(res, b)
            per_unit, tr = num["floor_payment"], num["trade"]
            node["floor_payment"][i, j, gi, ri] = per_unit
            node["producer_price"][i, j, gi, ri] = sol.price + nan_to_zero(per_unit)
            for k, v in tr.items():
                node[k][i, j, gi, ri] = v
            if plan is not None:
                for o, g in zip(plan.offtakes, sol.offtake):
                    node["offtake"][i, j, gi[o.node], ri[o.node]] = g
                for rule, lam in zip(plan.origin_rules, sol.origin_rent):
                    node["origin_rent_per_unit"][i, j, gi[rule.node], ri[rule.node]] = lam
                for n in np.flatnonzero(plan.release):
                    node["stockpile_release"][i, j, gi[n], ri[n]] = plan.release[n]
                for acc in _seller_sales(plan, sol):
                    n = acc["seller"].node
                    node["marginal_revenue"][i, j, gi[n], ri[n]] = acc["mr"]
            # processing output sits at the output stage; NaN where no process
            src, tgt = mk.process_nodes
            node["processing"][i, j, gi[tgt], ri[tgt]] = sol.processing
            no_use = np.isnan(node["processing"][i, j])
            no_use[gi[src], ri[src]] = False
            node["processing_input"][i, j][no_use] = np.nan
            if on_routes:
                orig, dest = mk.route_nodes
                nr = len(orig)
                vals = {"flow": np.asarray(sol.flow, dtype=float), **{v: np.zeros(nr) for v in ROUTE_VARS[1:]}}
                if plan is not None:
                    rl = mk.route_list
                    for k, terms in plan.routes.items():
                        parts = terms.parts(sol.price[orig[k]], mk.routes[rl[k]])
                        vals["export_tax_per_unit"][k] = parts["export_tax"]
                        vals["mip_rent_per_unit"][k] = parts["mip_rent"]
                        vals["tariff_per_unit"][k] = parts["tariff"]
                    if plan.quotas:
                        vals["quota_rent_per_unit"] = plan.quota_rent_by_route(sol.quota_rent)
                routed.append((i, j, np.ravel_multi_index((np.full(nr, j), gi[orig], ri[orig], ri[dest]), grid), vals, mk is case.markets.get(mn)))
            sh = num["supply_share"]
            if on_shares:
                shared.append((i, j, sh, gi, ri))
            # home and group shares: of a region's supply at a stage, how
            # much was produced (processed, at the refined stage) at home
            # or in each group; NaN where the node has no supply
            none = np.isnan(sh).all(axis=1)
            sourced[i, j, gi, ri, 0] = sh[np.arange(len(gi)), ri]
            # np.nansum's own steps (NaN read as 0, then summed), the
            # NaN test made once for every group: 5 µs a call, 5 groups a market
            known = np.where(np.isnan(sh), 0.0, sh)
            for k, mem in enumerate(members, start=1):
                sourced[i, j, gi, ri, k] = np.where(none, np.nan, known[:, mem].sum(axis=1))
            for g in np.unique(gi) if on_top else ():
                top[i, j, g], hhi[i, j, g] = concentration(node["production"][i, j, g][ri[gi == g]])
            if plan is not None:
                for k, (q, lam) in enumerate(zip(plan.quotas, sol.quota_rent)):
                    qprice[i, j, k] = lam
                    qlabel[i, j, k] = q.label
                if plan.extensions:
                    from .statistics import extension_rents

                    n_ = len(plan.extensions)
                    eprice[i, j, :n_] = sol.extension_price
                    erent[i, j, :n_] = extension_rents(plan.market, sol, plan)
                    elabel[i, j, :n_] = [r.name for r in plan.extensions]
            for k, v in num["welfare"].items():
                wel[k][i, j] = v
            if num["objective"] is None and wanted("welfare_objective"):
                num["objective"] = res.numbers["objective"] = objective(mk, sol, plan)
            obj[i, j] = np.nan if num["objective"] is None else num["objective"]
            if num["welfare_change"] is not None:
                for k, v in num["welfare_change"].items():
                    wel[f"{k}_change"][i, j] = v
                dobj[i, j] = float(np.sum(wel["total_welfare_change"][i, j]))
    route, rent = _gathered_routes(routed, costed, grid, S)
    share, sent = _gathered_shares(shared, grid, S)
    if repeats:
        I, J, K = (np.array(a) for a in zip(*repeats))
        for arr in (*node.values(), sourced, top, hhi, *wel.values(), obj, dobj, qprice, qlabel, eprice, erent, elabel, status, method, iters, fallback, resid, message, *([share] if sent is None else [])):
            arr[I, J] = arr[K, J]
        along = [(route[v], rent) for v in ROUTE_VARS] + ([(share, sent)] if sent is not None else [])
        for i, j, k in repeats:
            for arr, ent in along:
                cut = ent.of(j)
                arr[i, cut] = arr[k, cut]
    coords = {"scenario": scen, "mineral": mins, "stage": stages, "region": regs, "origin": regs, "destination": regs, "quota": np.arange(nq), "source": ["home", *case.groups]}
    if ne:
        coords["extension"] = np.arange(ne)
    data = {v: (("scenario", "mineral", "stage", "region"), node[v]) for v in NODE_VARS}
    placed = _Placer(layout, grid, coords)
    data.update({v: placed("route", ("scenario",), route[v], rent) for v in ROUTE_VARS if wanted(v)})
    if on_shares:
        data["supply_share"] = placed("supply_entry", ("scenario",), share, sent)
    data["sourcing_share"] = (("scenario", "mineral", "stage", "region", "source"), sourced)
    data["production_top_share"] = (("scenario", "mineral", "stage"), top)
    data["production_hhi"] = (("scenario", "mineral", "stage"), hhi)
    data.update({v: (("scenario", "mineral", "region"), wel[v]) for v in WELFARE_VARS + CHANGE_VARS})
    if acts:
        coords["activity"] = [a for _, _, a in acts]
        data["joint_activity"] = (("scenario", "activity"), activity)
        data["activity_link"] = (("activity",), np.array([ln for ln, _, _ in acts], dtype=str))
        data["activity_inputs"] = (("activity",), np.array(["; ".join(f"{s}={a:g}" for s, a in case.links[ln].joint[k].inputs.items()) for ln, k, _ in acts], dtype=str))
        data["activity_outputs"] = (("activity",), np.array(["; ".join(f"{s}={a:g}" for s, a in case.links[ln].joint[k].outputs.items()) for ln, k, _ in acts], dtype=str))
    data["quota_shadow_price"] = (("scenario", "mineral", "quota"), qprice)
    data["quota_label"] = (("scenario", "mineral", "quota"), qlabel.astype(str))
    if ne:
        data["extension_shadow_price"] = (("scenario", "mineral", "extension"), eprice)
        data["extension_rent_by_row"] = (("scenario", "mineral", "extension"), erent)
        data["extension_label"] = (("scenario", "mineral", "extension"), elabel.astype(str))
    data["welfare_objective"] = (("scenario", "mineral"), obj)
    data["welfare_objective_change"] = (("scenario", "mineral"), dobj)
    data["status"] = (("scenario", "mineral"), status.astype(str))
    data["method"] = (("scenario", "mineral"), method.astype(str))
    data["fallback_used"] = (("scenario", "mineral"), fallback)
    data["iterations"] = (("scenario", "mineral"), iters)
    data["max_residual"] = (("scenario", "mineral"), resid)
    data["message"] = (("scenario", "mineral"), message.astype(str))
    for v in ("transport_cost", "transport_cost_slope"):
        if wanted(v):
            data[v] = placed("route", (), route[v], rent)
    data["mineral_quantity_unit"] = (("mineral",), np.array([case.markets[m].quantity_unit for m in mins], dtype=str))
    data["mineral_price_unit"] = (("mineral",), np.array([case.markets[m].price_unit for m in mins], dtype=str))
    data["scenario_description"] = (("scenario",), np.array(["no policy" if rows[sn][0] == "baseline" else next((x.description for x in case.scenarios if x.name == rows[sn][0]), "") for sn in scen], dtype=str))
    if keep is not None:
        data = {v: x for v, x in data.items() if v in keep}
    for v, u in UNITS.items():
        if v in data:  # units given with the arrays: ds[v].attrs costs a DataArray each
            data[v] = (*data[v][:2], {**(data[v][2] if len(data[v]) > 2 else {}), "units": u})
    ds = xr.Dataset(data, coords={**coords, **placed.coords})
    worst = float(np.nanmax(resid)) if np.isfinite(resid).any() else float("nan")
    text = case.canonical() if inputs else None  # the stored inputs and their digest
    ds.attrs.update(
        {
            "title": f"mineq results for case '{case.name}'",
            "case_name": case.name,
            "case_description": case.description,
            "base_year": case.base_year if case.base_year is not None else "",
            **({"input_hash": case.digest, "case_json": text} if inputs else {}),
            "max_residual": worst,
            "all_equilibria": int(all(r.ok for sc in results.values() for r in sc.values())),
            "Conventions": "CF-1.8; NaN marks combinations that do not exist",
            **_versions(),  # unpacked: the cached dict itself is never handed out
        }
    )
    named = [m.get("name") for m in case.data.get("minerals", []) if isinstance(m, dict)]
    if mins != named:
        # a file of some of the case's minerals (sweep --mineral, target
        # --out): which ones, so that verify checks those and knows the
        # rest were left out on purpose
        ds.attrs["minerals_held"] = json.dumps(mins)
    if inputs and case.data.get("calibration_targets") is not None and "baseline" in ds.scenario.values:
        # the baseline against the observed figures the case names
        from .calibration import attach, compare, targets

        attach(ds, compare(ds, targets(case, solved_only=True)))
    return ds


class _Grid:
    """A result Dataset's arrays and coordinate positions, read once: the
    element-wise ``.sel`` this replaces cost 56 of 58 s of verifying the
    bundled case's file."""

    def __init__(self, ds: xr.Dataset):
        self.ds = ds
        self.pos = {d: {v: i for i, v in enumerate(ds[d].values.tolist())} for d in ("scenario", "mineral", "stage", "region", "origin", "destination", "activity") if d in ds.coords}
        self._arrays: dict[str, np.ndarray] = {}

    def array(self, var: str, dims: tuple[str, ...]) -> np.ndarray:
        if var not in self._arrays:
            self._arrays[var] = np.asarray(self.ds[var].transpose(*dims).values, dtype=float)
        return self._arrays[var]

    def at(self, dim: str, labels) -> np.ndarray:
        where = self.pos[dim]
        try:
            return np.array([where[x] for x in labels], dtype=np.intp)
        except KeyError as err:
            raise MineqError(f"The result file has no {dim} '{err.args[0]}' although its stored case uses it; the file is incomplete or was edited.") from None


NODE_DIMS = ("scenario", "mineral", "stage", "region")
ROUTE_DIMS = ("scenario", "mineral", "stage", "origin", "destination")


def solutions_from_dataset(ds: xr.Dataset, case: Case, plans: dict | None = None, only: str | None = None, grid: _Grid | None = None) -> dict[str, dict[str, Solution]]:
    """Rebuild each market's primal solution from a result Dataset.

    ``plans`` (per mineral, for scenario ``only``) says which offtake and
    quota values to read; ``grid`` (a :class:`_Grid` of ``ds``) is read
    once by a caller that asks for many scenarios.
    """
    plans = plans or {}
    g = grid or _Grid(ds)
    out: dict[str, dict[str, Solution]] = {}
    for sn, i in g.pos["scenario"].items():
        if only is not None and sn != only:
            continue
        out[sn] = {}
        for mn, base_mk in case.markets.items():
            if mn not in g.pos["mineral"]:
                raise MineqError(f"The result file has no mineral '{mn}' although its stored case defines it; the file is incomplete or was edited.")
            j = g.pos["mineral"][mn]
            plan = plans.get(mn)
            mk = plan.market if plan is not None else base_mk
            gi = g.at("stage", [s for s, _ in mk.nodes])
            ri = g.at("region", [r for _, r in mk.nodes])
            node = lambda var: g.array(var, NODE_DIMS)[i, j, gi, ri]  # noqa: E731
            rl = mk.route_list
            flow = g.array("flow", ROUTE_DIMS)[i, j, g.at("stage", [s for s, _, _ in rl]), g.at("origin", [o for _, o, _ in rl]), g.at("destination", [d for _, _, d in rl])] if rl else np.zeros(0)
            proc = g.array("processing", NODE_DIMS)[i, j, g.at("stage", [p.target for p in mk.processes]), g.at("region", [p.region for p in mk.processes])] if mk.processes else np.zeros(0)
            sol = Solution(supply=node("supply"), demand=node("demand"), price=node("price"), flow=flow, processing=proc, objective=float(g.array("welfare_objective", ("scenario", "mineral"))[i, j]))
            if plan is not None:
                sol.offtake = np.array([node("offtake")[o.node] for o in plan.offtakes], dtype=float)
                nq = ds.sizes.get("quota", 0)
                qp = g.array("quota_shadow_price", ("scenario", "mineral", "quota"))[i, j] if nq else np.zeros(0)
                sol.quota_rent = np.array([qp[k] if k < nq else np.nan for k in range(len(plan.quotas))], dtype=float)
                sol.origin_rent = np.array([node("origin_rent_per_unit")[r.node] for r in plan.origin_rules], dtype=float)
                ne_ = ds.sizes.get("extension", 0)
                ep = g.array("extension_shadow_price", ("scenario", "mineral", "extension"))[i, j] if ne_ and "extension_shadow_price" in ds.data_vars else np.zeros(0)
                sol.extension_price = np.array([ep[k] if k < len(ep) else np.nan for k in range(len(plan.extensions))], dtype=float)
            link = case.link_of(mn)
            if link is not None and "joint_output" in ds.data_vars and "joint_activity" in ds.data_vars:
                sol.joint_net = nan_to_zero(node("joint_output"))
                sol.disposal = nan_to_zero(node("disposal"))
                acts = g.pos["activity"]
                sol.joint = np.array([g.array("joint_activity", ("scenario", "activity"))[i, acts[jp.label]] if jp.label in acts else np.nan for jp in link.joint], dtype=float)
            out[sn][mn] = sol
    return out


def _seller_sales(plan, sol) -> list:
    """:func:`mineq.models.policies.market_power.sales` (strategic sellers'
    marginal revenue from primal values), none without sellers."""
    if not plan.sellers:
        return []
    from mineq.models.policies.market_power import sales

    return sales(plan, sol)


def case_from_dataset(ds: xr.Dataset) -> Case:
    if "case_json" not in ds.attrs:
        raise MineqError("The result file has no stored case inputs (attribute 'case_json'); it was not written by mineq solve, so it cannot be verified.")
    text = ds.attrs["case_json"]
    if not isinstance(text, str):
        raise MineqError(f"The stored case inputs in the result file (attribute 'case_json') are a {type(text).__name__}, not JSON text; the file was edited or is damaged.")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise MineqError(f"The stored case inputs in the result file are not valid JSON ({err}); the file was edited or is damaged.") from None
    except RecursionError:
        raise MineqError("The stored case inputs in the result file (attribute 'case_json') are nested too deeply to be a mineq case; the file was edited or is damaged.") from None
    if not isinstance(data, dict):
        raise MineqError(f"The stored case inputs in the result file (attribute 'case_json') are a JSON {type(data).__name__}, not an object with the case's [case], minerals and scenarios; the file was edited or is damaged.")
    return build_case(data)


def forbidden_flows(ds: xr.Dataset, case: Case) -> list[str]:
    """Flows recorded on routes the case does not allow (should be NaN)."""
    bad = []
    g = _Grid(ds)
    flow = g.array("flow", ROUTE_DIMS)
    scen = list(g.pos["scenario"])
    for mn, mk in case.markets.items():
        if mn not in g.pos["mineral"]:
            continue
        sub = flow[:, g.pos["mineral"][mn]][:, g.at("stage", mk.stages)][:, :, g.at("origin", mk.regions)][:, :, :, g.at("destination", mk.regions)]
        allowed = np.zeros(sub.shape[1:], dtype=bool)
        for s, o, d in mk.routes:
            allowed[mk.stages.index(s), mk.regions.index(o), mk.regions.index(d)] = True
        hit = np.isfinite(sub) & (sub != 0) & ~allowed
        for i, a, b, c in zip(*np.nonzero(hit)):
            bad.append(f"{scen[i]}/{mn} {mk.stages[a]} {mk.regions[b]}->{mk.regions[c]} = {sub[i, a, b, c]:g}")
    return bad


# ----------------------------------------------------------------------
# the file layout of origin x destination variables
# ----------------------------------------------------------------------
#: Variables over (mineral, stage, origin, destination) exist only on a
#: market's routes, and supply shares only where an origin supplies a node;
#: held densely they grow with regions squared (a 200-region case: 69 MB
#: per variable, 506 MB a file, for 308,000 routes).  In a NetCDF file
#: they are stored along one dimension per group below, one entry per
#: combination that holds a number anywhere in the file, with the
#: combination's labels as coordinates ``<dim>_<label>`` (``route_mineral``,
#: ``route_stage``, ``route_origin``, ``route_destination``).  Readers
#: (:func:`mineq.solver.run.open_results`, ``mineq.api.read``) give the
#: dense arrays back (:func:`unpack_routes`); with xarray alone, select
#: a route by its labels: ``ds.flow.where((ds.route_origin == "CHN") &
#: (ds.route_destination == "USA"), drop=True)``.  Left out: NaN
#: (``route``: forbidden, self or unlisted routes) or, for a share, 0 in a
#: node that has shares and NaN in one that has none (``supply_entry``);
#: a variable that would not come back exactly is kept dense.
PACKED = {
    "route": (("mineral", "stage", "origin", "destination"), "nan"),
    "supply_entry": (("mineral", "stage", "region", "origin"), "row_zero"),
}


class _Entries:
    """The cells of a (mineral, ...) grid that an entry dimension of
    :data:`PACKED` holds, ascending: the order ``np.nonzero`` gives them
    in, so that arrays along them are :func:`pack_routes`' of the dense
    ones.  A mineral's entries are one slice (:meth:`of`)."""

    def __init__(self, grid: tuple, cells: list[np.ndarray]):
        self.grid = grid
        self.flat = np.unique(np.concatenate(cells)) if cells else np.zeros(0, dtype=np.intp)
        per = int(np.prod(grid[1:]))
        self._bounds = np.searchsorted(self.flat, np.arange(grid[0] + 1) * per)

    def __len__(self) -> int:
        return len(self.flat)

    def at(self, cells: np.ndarray) -> np.ndarray:
        """Positions of ``cells`` (flat grid indices, each an entry)."""
        return np.searchsorted(self.flat, cells)

    def of(self, mineral: int) -> slice:
        return slice(self._bounds[mineral], self._bounds[mineral + 1])

    @functools.cached_property
    def idx(self) -> tuple:
        return np.unravel_index(self.flat, self.grid)


def _gathered_routes(routed: list, costed: list, grid: tuple, S: int) -> tuple[dict[str, np.ndarray], _Entries]:
    """:data:`ROUTE_VARS` (scenario x entry) and the transport costs
    (entry) along the routes: every route of a case market and of a
    solved market's program, NaN where a scenario has no number."""
    # a case market's routes are among the costed cells; another program's
    # market (a scenario's) may have routes of its own
    ent = _Entries(grid, [c for c, _, _ in costed] + [c for _, _, c, _, own in routed if not own])
    out = {v: np.full((S, len(ent)), np.nan) for v in ROUTE_VARS}
    for i, _, cells, vals, _ in routed:
        at = ent.at(cells)
        for v, x in vals.items():
            out[v][i, at] = x
    out["transport_cost"], out["transport_cost_slope"] = np.full(len(ent), np.nan), np.full(len(ent), np.nan)
    for cells, cost, slope in costed:
        at = ent.at(cells)
        out["transport_cost"][at] = cost
        out["transport_cost_slope"][at] = slope
    return out, ent


def _gathered_shares(shared: list, grid: tuple, S: int) -> tuple[np.ndarray, _Entries | None]:
    """Supply shares (scenario x entry) along the (mineral, stage, region,
    origin) cells with a share other than zero in some scenario; the rest
    of a node's row is 0 where the node has shares, NaN where it has none
    (:data:`PACKED`: ``row_zero``).  Every row
    :func:`mineq.solver.statistics.supply_shares` makes is so (finite and
    summing to one, or NaN); where a row is not, the dense array and None."""
    cells, exact = [], True
    for _, j, sh, gi, ri in shared:
        fin = np.isfinite(sh)
        some = (sh != 0) & fin
        exact = exact and bool(np.all(np.where(fin.any(axis=1), fin.all(axis=1) & some.any(axis=1), True)))
        n, o = np.nonzero(some)
        cells.append(np.ravel_multi_index((np.full(len(n), j), gi[n], ri[n], o), grid))
    if not exact:
        dense = np.full((S, *grid), np.nan)
        for i, j, sh, gi, ri in shared:
            dense[i, j, gi, ri, :] = sh
        return dense, None
    ent = _Entries(grid, cells)
    vals = np.full((S, len(ent)), np.nan)
    _, g, r, o = ent.idx
    for i, j, sh, gi, ri in shared:
        cut = ent.of(j)
        node = np.full(grid[1:3], -1)
        node[gi, ri] = np.arange(len(gi))
        n = node[g[cut], r[cut]]
        vals[i, cut] = np.where(n >= 0, sh[np.maximum(n, 0), o[cut]], np.nan)
    return vals, ent


class _Placer:
    """:func:`to_dataset`'s origin x destination variables in its layout:
    dense, or along their entry dimension with its label coordinates
    (:attr:`coords`, as :func:`pack_routes` makes them)."""

    def __init__(self, layout: str, grid: tuple, labels: dict):
        self.layout, self.grid, self.labels = layout, grid, labels
        self.coords: dict[str, xr.Variable] = {}

    def __call__(self, name: str, lead: tuple, vals: np.ndarray, ent: _Entries | None) -> tuple:
        dims, fill = PACKED[name]
        if ent is None:  # kept dense (_gathered_shares)
            return (lead + dims, vals)
        if self.layout == "dense":
            return (lead + dims, _refill(vals.shape[:-1], self.grid, ent.idx, vals, fill))
        if f"{name}_{dims[0]}" not in self.coords:
            self.coords.update(_entry_coords(name, dims, {d: np.asarray(self.labels[d]) for d in dims}, ent.idx))
        return (lead + (name,), vals, {"packed_along": name, "packed_fill": fill})


def _entry_coords(name: str, dims: tuple, labels: dict, idx: tuple) -> dict[str, xr.Variable]:
    """The label coordinates ``<name>_<dim>`` of an entry dimension:
    fixed-width UTF-8 characters, compressed (variable-length strings cost
    HDF5 a heap entry each: a 308,000-route case's labels took ~70 MB;
    sorted labels compress to almost nothing)."""
    return {f"{name}_{d}": xr.Variable((name,), labels[d].astype(str)[k], encoding={"dtype": "S1", "zlib": True, "complevel": 1}) for d, k in zip(dims, idx)}


def _refill(lead: tuple, shape: tuple, idx: tuple, values: np.ndarray, fill: str) -> np.ndarray:
    dense = np.full(lead + shape, np.nan)
    dense[(Ellipsis, *idx)] = values
    if fill == "row_zero":
        outside = np.ones(shape, dtype=bool)
        outside[idx] = False
        rows = np.isfinite(dense).any(axis=-1, keepdims=True)
        dense[rows & outside] = 0.0
    return dense


def _refills_exactly(a: np.ndarray, idx: tuple, shape: tuple) -> bool:
    """Whether :func:`_refill` (``"row_zero"``) of ``a``'s entries at
    ``idx`` gives ``a`` back exactly, NaN for NaN, without making that
    dense copy (a 200-region case: 69 MB, and as much again to compare):
    the entries at ``idx`` come back as they are, and every other one must
    be 0 in a row with a finite entry at ``idx`` and NaN in any other row."""
    inside = np.zeros(shape, dtype=bool)
    inside[idx] = True
    rows = (np.isfinite(a) & inside).any(axis=-1, keepdims=True)
    return bool((inside | np.where(rows, a == 0, np.isnan(a))).all())


def pack_routes(ds: xr.Dataset) -> xr.Dataset:
    """The file layout of ``ds`` (see :data:`PACKED`): every dense
    origin x destination variable along its entry dimension."""
    out = ds
    for name, (dims, fill) in PACKED.items():
        names = [v for v in ds.data_vars if ds[v].dims[-4:] == dims and ds[v].dtype.kind == "f"]
        if not names or name in ds.dims:
            continue
        shape = tuple(ds.sizes[d] for d in dims)
        mask = np.zeros(shape, dtype=bool)
        for v in names:
            a = ds[v].values.reshape((-1, *shape))
            mask |= (np.isfinite(a) & (a != 0) if fill == "row_zero" else np.isfinite(a)).any(axis=0)
        idx = np.nonzero(mask)
        packed = {}
        for v in names:
            a = ds[v].values
            vals = a[(Ellipsis, *idx)]
            if fill != "nan" and not _refills_exactly(a, idx, shape):
                continue  # would not come back exactly: kept dense
            packed[v] = xr.Variable(ds[v].dims[:-4] + (name,), vals, {**ds[v].attrs, "packed_along": name, "packed_fill": fill})
        if not packed:
            continue
        out = out.drop_vars(list(packed))
        out = out.assign_coords(_entry_coords(name, dims, {d: ds[d].values for d in dims}, idx)).assign(packed)
    return out


#: The case inputs in a file: the canonical JSON text's UTF-8 bytes in a
#: variable of this name (dimension ``case_json_byte``), compressed by
#: NetCDF.  As an attribute the text was stored uncompressed and read on
#: every open (a 200-region case: 41 MB of the file's 87 MB); zlib
#: shrinks it tenfold, and the bytes come back exactly, so the stored
#: input hash still checks them.  With xarray alone:
#: ``json.loads(ds.case_json.values.tobytes())``.  Readers put the text back
#: in ``attrs["case_json"]`` (:func:`unpack_inputs`), where mineq before
#: this layout kept it, and where files written then still have it.
INPUTS = "case_json"

#: NetCDF (HDF5) compression of every number in a file: lossless zlib at
#: its fastest level.  Route variables are mostly zeros (taxes and rents
#: of routes no policy touches) and node variables mostly NaN; a
#: 200-region case's 45 MB of numbers take 6 MB, for a fraction of a
#: second of writing (benchmarks/country_case.py).  Level 1 compresses
#: these arrays within 10% of level 4 in less time; HDF5's byte shuffle
#: makes them larger, not smaller.  Values are never rounded: the
#: verifier re-checks them.  Arrays under :data:`MIN_COMPRESSED` bytes
#: stay contiguous: a compressed array is stored in chunks whose index
#: costs more than a small array saves (the three-region demo's file:
#: 144 kB so, 377 kB with every array compressed).
COMPRESSION = {"zlib": True, "complevel": 1, "shuffle": False}
MIN_COMPRESSED = 4096


def pack_inputs(ds: xr.Dataset) -> xr.Dataset:
    """The file layout of the stored case inputs (:data:`INPUTS`)."""
    text = ds.attrs.get(INPUTS)
    if not isinstance(text, str) or INPUTS in ds.variables:
        return ds
    raw = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    var = xr.Variable((f"{INPUTS}_byte",), raw, {"description": "the case inputs solved, canonical JSON as UTF-8 bytes (json.loads(ds.case_json.values.tobytes())); their SHA-256 is the attribute input_hash"})
    out = ds.assign({INPUTS: var})
    out.attrs = {k: v for k, v in ds.attrs.items() if k != INPUTS}
    return out


def unpack_inputs(ds: xr.Dataset) -> xr.Dataset:
    """The case inputs back in ``attrs["case_json"]`` as text, from a file
    in the layout of :data:`INPUTS` (a file that kept them as the
    attribute comes back as it is).  A file with both (the attribute added
    by hand) is read by its attribute, which the input hash then checks."""
    if INPUTS not in ds.variables:
        return ds
    var = ds[INPUTS]
    out = ds.drop_vars(INPUTS)
    if INPUTS in ds.attrs:
        return out
    if var.dims != (f"{INPUTS}_byte",) or var.dtype != np.uint8:
        raise MineqError(f"The result file's variable '{INPUTS}' (the stored case inputs) has dimensions {var.dims} and type {var.dtype}, not UTF-8 bytes along '{INPUTS}_byte'; the file was edited or is damaged.")
    try:
        text = var.values.tobytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise MineqError(f"The result file's stored case inputs (variable '{INPUTS}') are not UTF-8 text (byte {err.start}); the file was edited or is damaged.") from None
    out.attrs = {**ds.attrs, INPUTS: text}
    return out


def _label_bytes(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with its entry label coordinates (:func:`_entry_coords`) as
    UTF-8 bytes, which xarray writes as they are and reads back as text
    (the attribute ``_Encoding``): xarray would encode each of a
    308,000-route case's 1.2 million labels in Python (0.5 s); here each
    distinct label is encoded once."""
    import pandas as pd

    out = {}
    for name in PACKED:
        if name not in ds.dims:
            continue
        for k in [k for k in ds.coords if k.startswith(f"{name}_") and ds[k].dims == (name,) and ds[k].dtype.kind == "U"]:
            var = ds[k].variable
            codes, labels = pd.factorize(var.values)
            raw = np.array([str(x).encode("utf-8") for x in labels], dtype=bytes)[codes] if len(codes) else np.zeros(0, dtype="S1")
            out[k] = xr.Variable(var.dims, raw, {**var.attrs, "_Encoding": "utf-8"}, var.encoding)
    return ds.assign_coords(out) if out else ds


def file_encoding(ds: xr.Dataset) -> dict:
    """``to_netcdf``'s encoding for a Dataset in the file layout: every
    floating-point variable and the stored inputs compressed
    (:data:`COMPRESSION`) unless small; the rest as xarray encodes it."""
    enc = {v: dict(COMPRESSION) for v, var in ds.variables.items() if (var.dtype.kind == "f" or v == INPUTS) and var.nbytes >= MIN_COMPRESSED}
    if INPUTS in enc and ds.variables[INPUTS].ndim == 1:
        # netCDF's own choice for a 43 MB text (the country case) was one
        # 14 MB chunk, which HDF5 compressed in 0.30 s; in 1 MB chunks
        # 0.16 s, the file 0.1% larger
        enc[INPUTS]["chunksizes"] = (min(INPUTS_CHUNK, ds.variables[INPUTS].size),)
    return enc


#: bytes per chunk of the stored case inputs (:func:`file_encoding`)
INPUTS_CHUNK = 1 << 20


def dense_routes(ds: xr.Dataset, var: str) -> xr.DataArray:
    """``ds[var]`` with its origin x destination cells as dense
    dimensions, in either layout (:data:`PACKED`): for the few readers
    of a Dataset in the file layout that index routes by label."""
    name = next((d for d in PACKED if d in ds[var].dims), None)
    if name is None:
        return ds[var]
    sub = ds[[var]]
    return unpack_routes(sub.assign_coords({d: ds[d] for d in PACKED[name][0] if d not in sub.coords}))[var]


def _positions(labels: np.ndarray, names: np.ndarray) -> np.ndarray:
    """Where each of ``names`` is in ``labels`` (-1 if absent): a binary
    search on the text arrays as they are, with no Python string made
    (308,000 names among 200 labels: 0.025 s, pandas' get_indexer 0.033 s
    plus its conversion of both to objects)."""
    if not len(labels):
        return np.full(len(names), -1)
    order = np.argsort(labels)
    at = order[np.minimum(np.searchsorted(labels, names, sorter=order), len(labels) - 1)]
    return np.where(labels[at] == names, at, -1)


def _entry_positions(ds: xr.Dataset, name: str) -> tuple[np.ndarray, ...]:
    """Each entry of the dimension ``name`` (:data:`PACKED`) as positions
    along its dense dimensions, from its label coordinates; a label the
    Dataset does not have, or a combination listed twice, is refused
    (a damaged or hand-edited file)."""
    dims = PACKED[name][0]
    idx = []
    for d in dims:
        labels = ds[f"{name}_{d}"].values.astype(str)
        pos = _positions(ds[d].values.astype(str), labels)
        if (pos < 0).any():
            raise MineqError(f"The coordinate '{name}_{d}' names '{labels[pos < 0][0]}', which is not among the file's '{d}' labels: the file is damaged or was edited by hand.")
        idx.append(pos)
    shape = tuple(ds.sizes[d] for d in dims)
    flat = np.ravel_multi_index(idx, shape)
    # mineq writes the entries ascending: then no combination repeats
    # (checked in a millisecond; np.unique of 308,000 took 0.1 s)
    if not np.all(np.diff(flat) > 0) and len(np.unique(flat)) < len(flat):
        k = np.nonzero(np.bincount(flat) > 1)[0][0]
        raise MineqError(f"The dimension '{name}' lists the combination {', '.join(f'{d}={ds[d].values[i]}' for d, i in zip(dims, np.unravel_index(k, shape)))} more than once: the file is damaged or was edited by hand.")
    return tuple(idx)


class RouteSlabs:
    """One route variable's origin x destination array per (scenario,
    mineral, stage), from a Dataset in either layout (:data:`PACKED`),
    without making the whole dense array: a diagnosis that looks at a few
    markets of a 200-region case reads their routes only (the dense flow
    took 0.2-0.4 s to make)."""

    def __init__(self, ds: xr.Dataset, var: str):
        self.var = ds[var]
        self.pos = {d: {v: i for i, v in enumerate(ds[d].values.tolist())} for d in ("scenario", "mineral", "stage")}
        self.shape = (ds.sizes["origin"], ds.sizes["destination"])
        self.packed = "route" in self.var.dims
        if self.packed:
            self.values = self.var.transpose("scenario", "route").values
            self.cells = _entry_positions(ds, "route")

    def __call__(self, scenario: str, mineral: str, stage: str) -> np.ndarray:
        """NaN where there is no route; rows are ``ds.origin``, columns
        ``ds.destination``."""
        if not self.packed:
            return self.var.sel(scenario=scenario, mineral=mineral, stage=stage).transpose("origin", "destination").values
        m, g, o, d = self.cells
        at = (m == self.pos["mineral"][mineral]) & (g == self.pos["stage"][stage])
        out = np.full(self.shape, np.nan)
        out[o[at], d[at]] = self.values[self.pos["scenario"][scenario], at]
        return out


def unpack_routes(ds: xr.Dataset) -> xr.Dataset:
    """The dense arrays of a file written in the layout of :data:`PACKED`
    (a file with dense arrays, as mineq wrote before, comes back as it
    is), with the stored case inputs as the attribute ``case_json``
    (:func:`unpack_inputs`)."""
    ds = unpack_inputs(ds)

    for name, (dims, fill) in PACKED.items():
        if name not in ds.dims:
            continue
        idx = _entry_positions(ds, name)
        shape = tuple(ds.sizes[d] for d in dims)
        dense = {}
        for v in [v for v in ds.data_vars if name in ds[v].dims]:
            var = ds[v].transpose(..., name)
            attrs = {k: x for k, x in var.attrs.items() if k not in ("packed_along", "packed_fill")}
            dense[v] = xr.Variable(var.dims[:-1] + dims, _refill(var.shape[:-1], shape, idx, var.values, var.attrs.get("packed_fill", fill)), attrs)
        ds = ds.drop_vars([*dense, *[f"{name}_{d}" for d in dims]]).assign(dense)
    return ds


# ----------------------------------------------------------------------
# writing
# ----------------------------------------------------------------------
#: paths this process has put in place: an interruption after a write must
#: not claim that nothing was written (the CLI empties it per command)
WRITTEN: list[Path] = []


class OutputExists(MineqError):
    """The output appeared before this run could claim it (another run, or
    the user): nothing of it was touched."""

    def __init__(self, path: Path, hint: str = "--out"):
        self.path = Path(path)
        super().__init__(f"The output {path} already exists; mineq does not overwrite results. Choose another {hint} or pass --force to replace it.")


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived while a result was being written; raised
    once the write was finished or abandoned and its temporary file removed."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(signal.Signals(signum).name)


@contextmanager
def signals_held():
    """Hold SIGINT and SIGTERM while a result is written; yields the list of
    signals that arrived.

    Why: a KeyboardInterrupt inside the NetCDF library leaves xarray's
    write lock taken and its close then waits on it for ever, and SIGTERM
    kills the process before any ``finally`` removes the temporary file.
    Held, the write finishes or is abandoned cleanly, and the interruption
    is raised (as :class:`Interrupted`) right after.  Only the main thread
    can own signal handlers; elsewhere (a Dask worker) nothing is held.
    """
    if threading.current_thread() is not threading.main_thread():
        yield []
        return
    got: list[int] = []
    old = {s: signal.signal(s, lambda signum, frame: got.append(signum)) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield got
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
    if got:
        raise Interrupted(got[0])


@contextmanager
def terminate_as_interrupt():
    """SIGTERM raises :class:`Interrupted` (as Ctrl-C raises
    KeyboardInterrupt) for the block, so its ``finally`` clauses remove
    drafts; by default SIGTERM ends the process on the spot."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise Interrupted(signum)

    old = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _temp_path(path: Path, suffix: str) -> Path:
    # beside the target: a rename or link never crosses file systems
    return path.parent / f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}{suffix}"


def _new_file(path: Path, suffix: str) -> Path:
    """An empty temporary file beside ``path``, created with the user's
    umask (mkstemp would make it 0600, and the result with it)."""
    while True:
        tmp = _temp_path(path, suffix)
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:  # pragma: no cover - 32 random bits collided
            continue


def publish(tmp: Path, path: Path, replace: bool, hint: str = "--out") -> None:
    """Make the finished file ``tmp`` the file ``path`` in one step.

    Without ``replace`` the step is a hard link, which fails if ``path``
    exists: of two runs racing for one path exactly one gets it, and the
    other an :class:`OutputExists`, never a silent overwrite.  With
    ``replace``, ``os.replace``: readers see the old file or the new one.
    """
    path = Path(path)
    if replace:
        if path.is_dir():
            raise MineqError(f"The output {path} is a folder; give a file name (with --force, mineq replaces files, not folders).")
        os.replace(tmp, path)
    else:
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise OutputExists(path, hint) from None
        except OSError as err:
            if err.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK):
                raise
            # a file system without hard links: claim the name first
            # (O_EXCL is atomic there too), then move the file onto it
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            except FileExistsError:
                raise OutputExists(path, hint) from None
            os.replace(tmp, path)
        else:
            os.unlink(tmp)
    WRITTEN.append(path)


@contextmanager
def atomic_file(path: Path, suffix: str = ".tmp", replace: bool = False, hint: str = "--out"):
    """A temporary file beside ``path`` that becomes ``path`` only when the
    block finishes (:func:`publish`): an interruption leaves the old file
    (or none), never a torn one, and no temporary file.  A signal during
    the block abandons the new file and is raised afterwards."""
    path = Path(path)
    with signals_held() as got:
        tmp = _new_file(path, suffix)
        try:
            yield tmp
            if not got:
                publish(tmp, path, replace, hint)
        finally:
            if os.path.lexists(tmp):
                os.unlink(tmp)


def check_target(path: str | Path, fmt: str = "netcdf", force: bool = False, hint: str = "--out") -> None:
    """Fail before any work if ``path`` cannot be written: it exists
    (without ``force``), is a folder where a file goes, or its folder
    cannot be made or written to.  The write itself checks existence
    again, atomically (:func:`publish`)."""
    path = Path(path)
    if os.path.lexists(path) and not force:
        raise OutputExists(path, hint)
    if path.is_dir() and fmt != "csv":
        raise MineqError(f"The output {path} is a folder; give a file name for the {fmt} result (with --force, mineq replaces files, not folders).")
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise MineqError(f"Cannot write {path}: {parent} is a file, so the folder {path.parent} cannot be made. Choose another {hint}.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise MineqError(f"Cannot write {path}: the folder {parent} is not writable by this user (or is on a read-only file system). Choose another {hint}.")
    if parent == path.absolute().parent:
        # access() answers for permissions only (and yes to root): a file
        # made and removed is the true answer, before hours of solving
        with signals_held():  # the probe never outlives an interruption
            try:
                probe = _new_file(parent / path.name, ".probe")
            except OSError as err:
                raise MineqError(f"Cannot write {path}: the folder {parent} does not take new files ({err.strerror}). Choose another {hint}.") from None
            os.unlink(probe)


def write(ds: xr.Dataset, path: str | Path, fmt: str = "netcdf", force: bool = False, groups: dict[str, xr.Dataset] | None = None, hint: str = "--out") -> Path:
    """Write atomically: to a temporary file beside ``path``, then link or
    rename it into place (:func:`publish`).

    An existing output is never replaced unless ``force``.  ``groups``
    are written beside the main Dataset: NetCDF groups, or sub-folders of
    CSVs (a sweep's baseline).
    """
    groups = groups or {}
    path = Path(path)
    if fmt not in ("netcdf", "csv", "xlsx"):
        raise MineqError(f"Unknown result format '{fmt}'; expected netcdf, csv or xlsx.")
    if fmt != "netcdf":  # tables by origin and destination, from either layout
        ds, groups = unpack_routes(ds), {k: unpack_routes(g) for k, g in groups.items()}
    check_target(path, fmt, force, hint)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "netcdf":
            with atomic_file(path, replace=force, hint=hint) as tmp:
                packed = _label_bytes(pack_inputs(pack_routes(ds)))
                packed.to_netcdf(tmp, engine=ENGINE, encoding=file_encoding(packed))
                for name, g in groups.items():
                    packed = _label_bytes(pack_inputs(pack_routes(g)))
                    packed.to_netcdf(tmp, engine=ENGINE, mode="a", group=name, encoding=file_encoding(packed))
        elif fmt == "csv":
            _write_csv_folder(ds, path, force, groups, hint)
        else:
            with atomic_file(path, ".xlsx", replace=force, hint=hint) as tmp:
                sheets, about = workbook_tables(ds)
                write_sheets(sheets, tmp, about)
    except OSError as err:
        raise MineqError(f"Cannot write {path}: {err.strerror or err} ({err.filename or path}). Nothing was written there; choose another {hint}.") from None
    return path


def _write_csv_folder(ds: xr.Dataset, path: Path, force: bool, groups: dict, hint: str) -> None:
    """The CSV folder, built under a temporary name and renamed into place.

    Without ``force`` the rename is the create-if-absent step: renaming a
    folder onto a folder with files in it (another run's) or onto a file
    fails, atomically.
    """
    with signals_held() as got:
        tmpdir = _temp_path(path, ".tmp")
        os.mkdir(tmpdir, 0o777)  # the user's umask, not mkdtemp's 0700
        try:
            write_csv(ds, tmpdir)
            for name, g in groups.items():
                write_csv(g, tmpdir / name)
            if got:
                return
            if not force:
                try:
                    os.rename(tmpdir, path)
                except OSError as err:
                    if err.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
                        raise OutputExists(path, hint) from None
                    raise
            elif os.path.lexists(path):
                # move the old output aside first: an interruption leaves it
                # under the aside name, never half-deleted
                aside = _temp_path(path, ".old")
                os.replace(path, aside)
                os.replace(tmpdir, path)
                shutil.rmtree(aside) if aside.is_dir() and not aside.is_symlink() else aside.unlink()
            else:
                os.replace(tmpdir, path)
            WRITTEN.append(path)
        finally:
            if os.path.lexists(tmpdir):
                shutil.rmtree(tmpdir)


#: the tables of a result file: CSV files, or sheets of a workbook
TABLES = {
    "nodes": list(NODE_VARS),
    "flows": list(ROUTE_VARS),
    "welfare": list(WELFARE_VARS + CHANGE_VARS),
    "supply_shares": ["supply_share"],
    "sourcing_shares": ["sourcing_share"],
    "concentration": ["production_top_share", "production_hhi"],
    "quotas": ["quota_shadow_price", "quota_label"],
    "extensions": ["extension_shadow_price", "extension_rent_by_row", "extension_label"],
    "solve": ["status", "method", "fallback_used", "iterations", "max_residual", "welfare_objective", "welfare_objective_change", "message"],
    # the baseline against observed figures (solver/calibration.py), where the case names them
    "calibration": [f"calibration_{c}" for c in ("mineral", "indicator", "stage", "region", "origin", "model", "observed", "lower", "upper", "inside", "unit", "source", "confidence")],
}


def tables(ds: xr.Dataset, units: bool = False) -> dict:
    """Tidy tables (pandas DataFrames): one row per observation, one column
    per variable; rows where every number is NaN (combinations that do not
    exist) are left out.  ``units`` puts each column's unit in its header.
    ``ds`` in either layout (a file as xarray reads it, or as mineq does)."""
    ds = unpack_routes(ds)
    out = {}
    for name, vars_ in TABLES.items():
        vars_ = [v for v in vars_ if v in ds]
        if not vars_:
            continue
        df = ds[vars_].to_dataframe()
        num = [v for v in vars_ if ds[v].dtype.kind == "f"]
        if num:
            df = df.dropna(how="all", subset=num)
        if units:
            if "mineral" in df.index.names and "mineral_price_unit" in ds:
                mins = df.index.get_level_values("mineral")
                df.insert(0, "quantity_unit", ds["mineral_quantity_unit"].sel(mineral=mins).values)
                df.insert(0, "price_unit", ds["mineral_price_unit"].sel(mineral=mins).values)
            df = df.rename(columns={v: f"{v} [{str(ds[v].attrs['units']).split(':')[0]}]" for v in vars_ if ds[v].attrs.get("units")})
        out[name] = df
    return out


#: what a spreadsheet reads as the start of a formula (OWASP, CSV injection)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell_text(value):
    """A cell as a spreadsheet must show it: text that a spreadsheet would
    run as a formula (``=HYPERLINK(...)``, ``=cmd|...``, ``@SUM(...)``)
    gets a leading apostrophe.  Numbers, and text that is a number
    (``-1.5``), are left alone: a negative number is not a formula."""
    if not isinstance(value, str) or not value.startswith(FORMULA_START):
        return value
    try:
        float(value)
        return value
    except ValueError:
        return "'" + value


def safe_frame(df):
    """``df`` with its index as columns and every text cell through
    :func:`cell_text` (names are index levels: mineral, region, scenario)."""
    df = df.reset_index()
    for col in df.columns:
        if df[col].dtype.kind in "OSU" or str(df[col].dtype) in ("string", "str"):
            df[col] = df[col].map(cell_text)
    df.columns = [cell_text(str(c)) for c in df.columns]
    return df


def write_csv(ds: xr.Dataset, folder: Path) -> None:
    """Tidy CSVs: one per table of :data:`TABLES`, plus attributes and inputs."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in tables(ds).items():
        safe_frame(df).to_csv(folder / f"{name}.csv", index=False)
    meta = {k: v for k, v in ds.attrs.items() if k != "case_json"}
    (folder / "attributes.json").write_text(json.dumps(meta, indent=2, default=str))
    (folder / "case.json").write_text(ds.attrs.get("case_json", "{}"))


def workbook_tables(ds: xr.Dataset) -> tuple[dict, dict]:
    """The result workbook's sheets and its 'about' entries: the tidy
    tables, with money in million units of one currency where every
    mineral's price unit x quantity unit converts to it
    (:func:`mineq.solver.report.in_money`); each row keeps its mineral's
    native units (price_unit, quantity_unit)."""
    ds = unpack_routes(ds)
    from .report import in_money

    about = {k: v for k, v in ds.attrs.items() if k != "case_json"}
    conv, unit = in_money(ds)
    if unit is None:
        return tables(ds, units=True), about
    sheets = tables(conv, units=True)
    for name, df in sheets.items():
        money = [c for c in df.columns if str(c).endswith(f" [{unit}]")]
        if money:
            df = df.copy()
            df[money] = df[money] / 1e6
            sheets[name] = df.rename(columns={c: c[: -len(f"[{unit}]")] + f"[million {unit}]" for c in money})
    about["money"] = f"million {unit} per year, converted from each mineral's price unit x quantity unit (columns price_unit and quantity_unit give the native units)"
    return sheets, about


#: workbook sheets whose rows with nothing in them (every number zero or
#: missing: a route nothing uses and no measure touches, a source that
#: supplies nothing) are left out; the NetCDF file and the CSV folder keep them
SPARSE_SHEETS = ("flows", "supply_shares", "sourcing_shares")


def write_sheets(sheets: dict, path: Path, about: dict) -> None:
    """A workbook: one sheet per table (index as columns), then 'about'.

    Written by XlsxWriter in its streaming mode (a row at a time, nothing
    kept): openpyxl built every cell as an object first and took 56 s for
    the bundled case's result.  No text becomes a formula or a link."""
    import pandas as pd

    about = dict(about)
    kept = {}
    for name, df in sheets.items():
        if name in SPARSE_SHEETS:
            num = df.select_dtypes("number")
            full = len(df)
            df = df[(num.fillna(0.0) != 0.0).any(axis=1)]
            about[f"{name} rows"] = f"{len(df)} of {full}: rows whose numbers are all zero or missing are left out here (the NetCDF file and the CSV folder hold them)"
        kept[name] = df
    import xlsxwriter

    # a cell holds at most 32,767 characters (Excel's limit)
    info = pd.DataFrame({"attribute": list(about), "value": [_cell_limited(str(v)) for v in about.values()]}).set_index("attribute")
    options = {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}
    book = xlsxwriter.Workbook(str(path), options)
    try:
        for name, df in [*kept.items(), ("about", info)]:
            df = safe_frame(df)
            ws = book.add_worksheet(name[:31])
            ws.write_row(0, 0, [str(c) for c in df.columns])
            # rows as plain Python values, missing numbers as empty cells:
            # pandas' own writer formats every cell on its way (4/5 of the time)
            cells = df.astype(object).where(df.notna(), None)
            for col in df.columns[[k in "fc" for k in df.dtypes.map(lambda t: t.kind)]]:
                infinite = np.isinf(df[col].to_numpy(dtype=float, na_value=np.nan))
                if infinite.any():  # no number in a workbook says infinity: the word does
                    cells.loc[infinite, col] = np.where(df[col].to_numpy()[infinite] > 0, "inf", "-inf")
            body = cells.itertuples(index=False, name=None)
            for r, row in enumerate(body, start=1):
                ws.write_row(r, 0, row)
    finally:
        book.close()


def _cell_limited(text: str, limit: int = 32767) -> str:
    """``text`` cut to what one spreadsheet cell holds, saying so."""
    if len(text) <= limit:
        return text
    note = f" ... [cut at {limit} characters: the whole text is in the NetCDF file's attributes]"
    return text[: limit - len(note)] + note


def change_tables(ds: xr.Dataset, scenarios: list[str], reference: str = "baseline") -> dict:
    """What each scenario changes against ``reference``, as tidy tables:
    node quantities and prices before and after, and welfare changes by
    region: money in million units of one currency where every mineral's
    units convert to it (:func:`mineq.solver.report.in_money`), else in
    each mineral's price unit x quantity unit."""
    import pandas as pd

    from .report import in_money

    ds, unit = in_money(ds)

    node_vars = ["price", "producer_price", "supply", "demand", "production", "processing", "imports", "exports", "net_import_reliance"]
    nodes, welfare_rows = [], []
    for sn in scenarios:
        before = ds[node_vars].sel(scenario=reference).to_dataframe().drop(columns="scenario", errors="ignore")
        after = ds[node_vars].sel(scenario=sn).to_dataframe().drop(columns="scenario", errors="ignore")
        df = before.add_suffix(" (before)").join(after.add_suffix(" (after)"))
        df = df.dropna(how="all")
        with np.errstate(all="ignore"):
            df["price change %"] = 100 * (df["price (after)"] - df["price (before)"]) / df["price (before)"].abs()
        df.insert(0, "scenario", sn)
        nodes.append(df)
        w = ds[[f"{v}_change" for v in WELFARE_ITEMS]].sel(scenario=sn).to_dataframe().drop(columns="scenario", errors="ignore").dropna(how="all")
        if unit is not None:
            w = (w / 1e6).add_suffix(f" [million {unit}]")
        w.insert(0, "scenario", sn)
        welfare_rows.append(w)
    out = {"nodes": pd.concat(nodes), "welfare_change": pd.concat(welfare_rows)}
    for df in out.values():
        mins = df.index.get_level_values("mineral")
        df.insert(1, "quantity_unit", ds["mineral_quantity_unit"].sel(mineral=mins).values)
        df.insert(1, "price_unit", ds["mineral_price_unit"].sel(mineral=mins).values)
    return out
