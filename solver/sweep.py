"""Parameter sweeps and policy targeting over one scenario.

A sweep solves a scenario at many values of one policy key (``level``,
``ad_valorem``, ``cap``, ...).  Every point is an ordinary scenario of a
derived case (the swept policy entries with the key replaced), validated
like any case file and verified like any equilibrium; what makes it fast
is that each mineral's program is built once and re-solved at every point
with new numbers (``solve_market(..., reuse=...)``), starting from the
previous point's prices.

Syntax of a swept key (``--set``)::

    [POLICY.]KEY=START:STOP:N      N evenly spaced values, both ends included
    [POLICY.]KEY=V1,V2,...         the values listed

``POLICY`` is the policy's position in the scenario (1, 2, ...) or its
type (``price_floor``); without it, every policy of the scenario that has
``KEY`` is swept together.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass

import click
import numpy as np

from .case import BASELINE, Case, build_case
from .errors import CaseError, MineqError
from .runtime import steady_step
from .processes import forking, in_processes
from .results import market_numbers
from mineq.models.speed import plain

from .run import _dropped, _Null, canonical_aside, check_fits, in_threads, land_result, linked_point, market_size, member_results, scenario_plans, ship_result
from .solve import MarketResult, solve_market


@dataclass
class Swept:
    """A parsed ``--set``: which policies of the scenario, which key, which values."""

    scenario: str
    policies: list[int]  #: 0-based positions in the scenario's policies
    key: str
    values: list[float]
    #: how the user named the policies ("" for all with the key)
    who: str = ""

    @property
    def label(self) -> str:
        return f"{self.who}.{self.key}" if self.who else self.key

    def point_name(self, v: float) -> str:
        return f"{self.scenario} [{self.label}={v:.6g}]"


def parse_set(text: str, case: Case, scenario: str) -> Swept:
    """Read ``[POLICY.]KEY=START:STOP:N`` or ``[POLICY.]KEY=V1,V2,...``."""
    scen = _scenario(case, scenario)
    if "=" not in text:
        raise MineqError(f"--set '{text}': expected [POLICY.]KEY=START:STOP:N or [POLICY.]KEY=V1,V2,... (for example level=50:150:21).")
    lhs, rhs = (p.strip() for p in text.split("=", 1))
    who, _, key = lhs.rpartition(".")
    if not key:
        raise MineqError(f"--set '{text}': no key before '='; expected [POLICY.]KEY such as level or 1.level.")
    values = _values(text, rhs)
    pols = scen.policies
    if who:
        if who.isdigit():
            k = int(who) - 1
            if not 0 <= k < len(pols):
                raise MineqError(f"--set '{text}': scenario '{scenario}' has policies 1 to {len(pols)}, not {who}.")
            chosen = [k]
        else:
            chosen = [i for i, p in enumerate(pols) if p.get("type") == who]
            if not chosen:
                raise MineqError(f"--set '{text}': scenario '{scenario}' has no policy of type '{who}'; its types: {', '.join(p.get('type', '?') for p in pols) or '(none)'}.")
    else:
        chosen = list(range(len(pols)))
    having = [i for i in chosen if key in pols[i]]
    if not having:
        keys = sorted({k for i in chosen for k, v in pols[i].items() if isinstance(v, (int, float)) and not isinstance(v, bool)})
        raise MineqError(f"--set '{text}': no policy of scenario '{scenario}' chosen by '{lhs}' has the key '{key}'; numeric keys there: {', '.join(keys) or '(none)'}.")
    for i in having:
        v = pols[i][key]
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise MineqError(f"--set '{text}': policy {i + 1} of scenario '{scenario}' has {key} = {v!r}, not a number; only numeric keys can be swept.")
    return Swept(scenario, having, key, values, who)


def _values(text: str, rhs: str) -> list[float]:
    try:
        if ":" in rhs:
            a, b, n = rhs.split(":")
            n = int(n)
            if n < 1:
                raise ValueError
            vals = np.linspace(float(a), float(b), n).tolist()
        else:
            vals = [float(v) for v in rhs.split(",") if v.strip()]
    except ValueError:
        raise MineqError(f"--set '{text}': the values '{rhs}' are not START:STOP:N (N a whole number >= 1) or a comma-separated list of numbers.") from None
    if not vals or not all(math.isfinite(v) for v in vals):
        raise MineqError(f"--set '{text}': the values must be finite numbers (got '{rhs}').")
    return vals


def _scenario(case: Case, name: str):
    for s in case.scenarios:
        if s.name == name:
            return s
    raise MineqError(f"Scenario '{name}' is not in case '{case.name}'; its scenarios are: {', '.join(s.name for s in case.scenarios) or '(none)'}.")


def point_case(case: Case, swept: Swept) -> Case:
    """The case whose scenarios are the sweep's points (validated as a case file)."""
    data = copy.deepcopy(case.data)
    src = next(s for s in data["scenarios"] if s["name"] == swept.scenario)
    points = []
    for v in swept.values:
        s = copy.deepcopy(src)
        s["name"] = swept.point_name(v)
        s["description"] = f"{s.get('description', '')} [swept: {swept.label} = {v:.6g}]".strip()
        for i in swept.policies:
            s["policies"][i][swept.key] = v
        points.append(s)
    data["scenarios"] = points
    dyn = data.get("dynamics")
    if isinstance(dyn, dict) and isinstance(dyn.get("active"), dict):
        # the points take the swept scenario's policy window; the case's
        # other scenarios are not in the point case
        window = dyn["active"].get(swept.scenario)
        data["dynamics"] = dict(dyn, active={} if window is None else {p["name"]: list(window) for p in points})
    try:
        return build_case(data)
    except CaseError as err:
        raise MineqError(f"The swept value is not valid for the scenario: {err}") from None


def point_instruments(case: Case, swept: Swept, value: float) -> list:
    """The scenario's instruments with the swept key set to ``value``."""
    from mineq.models.errors import SpecError
    from mineq.models.policies import INSTRUMENTS, Regions

    scen = _scenario(case, swept.scenario)
    reg = Regions(list(case.regions), {k: list(v) for k, v in case.groups.items()})
    out = []
    for i, p in enumerate(scen.policies):
        spec = dict(p)
        if i in swept.policies:
            spec[swept.key] = value
        try:
            out.append(INSTRUMENTS[spec["type"]](spec, reg, case.markets))
        except SpecError as err:
            raise MineqError(f"Scenario '{swept.scenario}', policy {i + 1} ({spec['type']}) with {swept.key} = {value:g}: {err.field} = {err.value!r}; expected {err.expected}.") from None
    return out


@steady_step
def sweep_case(case: Case, swept: Swept, progress: bool = False, minerals: list[str] | None = None, threads: int = 1) -> tuple[Case, dict[str, dict[str, MarketResult]]]:
    """Solve the baseline and every point of ``swept``.

    Returns the derived case (scenarios = points) and
    ``results[scenario][mineral]`` like :func:`mineq.solver.run.solve_case`.
    Each mineral's program is re-used from point to point when the plan's
    structure allows; every point is verified.  ``minerals`` restricts the
    solve (the others are left out of the results).  Minerals are
    independent, so their chains of points can run on ``threads``
    workers: processes where :func:`mineq.solver.processes.forking` allows
    (each sweeps a share of the minerals), else threads; the results do
    not depend on it.  Threads gain nothing here: a chain's re-solves are
    active-set steps (HiGHS runs only at the baseline) wrapped in Python
    that holds the GIL, and a second thread made a 100-point sweep of the
    bundled case slower (``mineq sweep``, 7.6 s against 7.2 s end to end,
    measured).  The result Dataset's numbers of each point are made in
    its chain.
    """
    if plain():
        threads = 1  # the plain path: one market after another
    pcase = point_case(case, swept)
    if minerals is not None:
        # a linked market is solved whole: a member brings the others
        keep = set(minerals) | {m for mn in minerals if pcase.link_of(mn) is not None for m in pcase.link_of(mn).members}
        pcase.markets = {mn: mk for mn, mk in pcase.markets.items() if mn in keep}
        pcase.links = {k: v for k, v in pcase.links.items() if keep & set(v.members)}
    links = list(pcase.links.values())
    markets = [m for m in pcase.markets.values() if pcase.link_of(m.name) is None]
    members = [m for m in pcase.markets.values() if pcase.link_of(m.name) is not None]
    check_fits(pcase, threads)
    names = [s.name for s in pcase.scenarios]
    quiet = not progress
    with click.progressbar(length=(len(markets) + len(members)) * (1 + len(names)), label="Sweeping", show_pos=True, file=_Null() if quiet else None) as bar:
        baseline, bases = {}, {}
        for m, r in zip(markets, in_threads(solve_market, markets, threads)):
            bases[m.name] = r.model.start_basis() if r.model is not None else None
            baseline[m.name] = _dropped(r)
            bar.update(1)
        linked_base = {}
        for link in links:
            r = solve_market(link.market)
            bases[link.name] = r.model.start_basis() if r.model is not None else None
            linked_base[link.name] = _dropped(r)
            baseline.update(member_results(link, r, {}))
            bar.update(len(link.members))
        base = {mn: r.solution if r.ok else None for mn, r in baseline.items()}
        plans = {sn: scenario_plans(pcase, sn, base) for sn in names}

        def link_chain(link) -> dict[str, list]:
            # a linked market through every point: one program, split per member
            model, last = None, linked_base[link.name].solution if linked_base[link.name].ok else None
            out = {m: [] for m in link.members}
            for sn in names:
                got = linked_point(link, {m: plans[sn].get(m) for m in link.members}, last, reuse=model, basis=bases[link.name])
                if got is None:
                    for m in link.members:
                        out[m].append(baseline[m])
                    continue
                r, parts = got
                model = r.model
                if r.ok:
                    last = r.solution
                for m, mr in parts.items():
                    if mr.solution is not None:
                        market_numbers(mr, baseline[m])
                    out[m].append(mr)
                _dropped(r, release=False)
            if model is not None:
                model.release()
            return out

        def chain(m) -> list[MarketResult]:
            # one mineral through every point, each solve starting from the
            # program and the prices of the point before
            model, last, out = None, base.get(m.name), []
            for sn in names:
                plan = plans[sn].get(m.name)
                if plan is None:
                    out.append(baseline[m.name])
                    continue
                r = solve_market(m, plan=plan, start=last or base.get(m.name), reuse=model, basis=bases[m.name])
                model = r.model
                if r.ok:
                    last = r.solution
                if r.solution is not None:
                    market_numbers(r, baseline[m.name])
                out.append(_dropped(r, release=False))  # the next point re-solves the model
            if model is not None:
                model.release()
            return out

        def ship(out: list) -> list:
            # a point the scenario leaves alone is the baseline, which the parent has
            return [None if r is baseline.get(r.market.name) else ship_result(r) for r in out]

        def land(i: int, shipped: list) -> list:
            m = markets[i]
            return [baseline[m.name] if x is None else land_result(x, plans[sn][m.name].market, plans[sn][m.name], baseline[m.name]) for sn, x in zip(names, shipped)]

        if threads > 1 and len(markets) > 1 and forking():
            done = ((markets[i], out) for i, out in in_processes(chain, markets, threads, [market_size(m) for m in markets], ship, land, aside=canonical_aside(pcase)))
        else:
            done = zip(markets, in_threads(chain, markets, threads))
        chains = {}
        for m, out in done:
            chains[m.name] = out
            bar.update(len(names))
        for link in links:
            chains.update(link_chain(link))
            bar.update(len(link.members) * len(names))
    results: dict[str, dict[str, MarketResult]] = {BASELINE: baseline}
    for k, sn in enumerate(names):
        results[sn] = {mn: chains[mn][k] for mn in pcase.markets}
    return pcase, results


def sweep_dynamic(case: Case, swept: Swept, progress: bool = False, minerals: list[str] | None = None, threads: int | None = None):
    """A sweep of a dynamic case: every point is a scenario path over the
    case's years (:func:`mineq.solver.dynamic.solve_dynamic`), each year a
    verified equilibrium, against one baseline path.  Returns the point
    case and the dynamic result Dataset (scenarios = baseline + points;
    :func:`sweep_dataset` puts the points along ``sweep``).  The points
    share the swept scenario's policy window (``[dynamics.active]``);
    their paths run on ``threads`` processes where forking is allowed."""
    from .dynamic import solve_dynamic

    pcase = point_case(case, swept)
    return pcase, solve_dynamic(pcase, pcase.dynamics, None, progress, minerals, threads)


def sweep_dataset(ds, swept: Swept):
    """Split a scenario-form result Dataset into (points along ``sweep``, baseline).

    The points keep every variable, ``scenario`` becoming ``sweep`` with the
    swept values as its coordinate; the baseline is the one-scenario
    Dataset their ``_change`` variables refer to.
    """
    import xarray as xr

    names = [swept.point_name(v) for v in swept.values]
    pts = ds.sel(scenario=names).rename(scenario="sweep")
    pts = pts.assign_coords(sweep=np.asarray(swept.values, dtype=float), point_scenario=("sweep", names))
    pts["sweep"].attrs.update(long_name=f"{swept.label} of scenario {swept.scenario}", policy_key=swept.key)
    pts.attrs.update(sweep_scenario=swept.scenario, sweep_key=swept.key, sweep_policies=json.dumps([i + 1 for i in swept.policies]), title=f"mineq sweep of {swept.label} in scenario '{swept.scenario}' of case '{ds.attrs.get('case_name', '')}'")
    if "year" in ds.dims:  # a dynamic sweep: what each value built
        pts["built_outside_china"] = built_by_points(ds, pts)
    base = ds.sel(scenario=[BASELINE])
    base.attrs = {k: v for k, v in ds.attrs.items() if k != "case_json"}
    return pts, xr.Dataset(base.data_vars, attrs=base.attrs)


def built_by_points(ds, pts):
    """Of a dynamic sweep (``ds`` from :func:`sweep_dynamic`, ``pts`` its
    points from :func:`sweep_dataset`): capacity built outside China by
    each point's policies, along ``sweep``, per year and capacity curve
    (:func:`mineq.solver.dynamic.built_outside_china`)."""
    import xarray as xr

    from .dynamic import built_outside_china

    every = [built_outside_china(ds, sn) for sn in pts["point_scenario"].values.tolist()]
    return xr.concat(every, dim="sweep").assign_coords(sweep=pts["sweep"]).assign_attrs(units="quantity unit of each curve's mineral: capacity of the point's path above the baseline path's, outside China")


def scenario_form(pts, base):
    """The inverse of :func:`sweep_dataset`: baseline and points along ``scenario``."""
    import xarray as xr

    sc = pts.rename(sweep="scenario").drop_vars("scenario").assign_coords(scenario=pts["point_scenario"].values).drop_vars("point_scenario")
    shared = [v for v in base.data_vars if "scenario" not in base[v].dims]
    out = xr.concat([base.drop_vars(shared), sc.drop_vars(shared, errors="ignore")], dim="scenario", data_vars="all", coords="minimal", compat="override", join="outer")
    for v in shared:
        out[v] = pts[v]
    out.attrs = dict(pts.attrs)
    return out
