"""Years, not one year: a recursive-dynamic mode (issue 20).

In the tradition of GFPM and TiMBA (Buongiorno et al. 2003; Schier et al.
2022): each year is the static equilibrium mineq already solves and
verifies; between years capacities move.  A case opts in with a
``[dynamics]`` table in ``case.toml``:

    [dynamics]
    first_year = 2025
    last_year = 2035
    discount_rate = 0.05            # per year, for the fiscal cost
    depreciation = 0.0              # share of capacity lost per year
    investment_response = 0.5       # see invest()
    lead_time = { mine = 5, refined = 3 }   # years, per stage of output
    growth = "growth.csv"           # optional: mineral, region, rate, source, confidence
    [dynamics.active]               # optional: years a scenario's policies apply
    partner-floor-club = [2026, 2032]

**Capacity.**  Every supply or processing curve with a finite capacity
carries a capacity ``K`` that changes over the years (curves without one
respond through their elasticity alone, as in the static model).  A
curve that produces nothing in the base year's equilibrium (the latent
plants of a calibrated case) starts at ``K = 0``: it has to be built, and
it is built only if it pays (in the static model it appears at once).

**Investment** (:func:`invest`).  After year ``y`` is solved, a curve at
its capacity earns a capacity rent per unit
``ρ = realised margin − MC(K)`` (price plus any deficiency payment,
minus input cost for a process, minus the marginal cost at capacity;
zero below capacity).  It orders ``I_y = φ·K̄·ρ/P`` units of new
capacity, ``φ`` the investment response, ``K̄`` the curve's reference
capacity (its capacity in the case file) and ``P`` the output price; the
order arrives ``L`` years later (``lead_time`` of the stage the curve
produces).  So

    K_{y+1} = (1 − δ)·K_y + I_{y+1−L}.

With ``φ = 0``, ``δ = 0`` and no growth, every year is the static
equilibrium (tested).

**Demand** shifts by the growth table: a demand curve's quantities are
multiplied by ``(1 + g)^(y − first_year)`` (the curve stretches
horizontally: its price at a given share of the base quantity, and its
elasticity at the reference point, stay as they were).

**Policies** apply in every year unless ``[dynamics.active]`` gives a
scenario its first and last year.  Each scenario follows its own
capacity path from the first year; the baseline its own.  A scenario's
year is compared with the baseline path's same year (welfare and fiscal
changes).  Levels relative to the baseline (``level_vs_baseline``) are
taken from the year's own no-policy equilibrium at the scenario path's
capacities.

Results: one Dataset per year from :func:`mineq.solver.results.to_dataset`,
concatenated along ``year``, with the capacity path (``capacity``,
``investment``) and, per scenario, the fiscal cost per year, discounted
over the horizon, and the year the scenario's policies last bind.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .case import BASELINE, Case, build_case
from .errors import CaseError, MineqError

DYNAMICS_KEYS = ("first_year", "last_year", "discount_rate", "depreciation", "investment_response", "lead_time", "growth", "active", "source", "confidence", "notes")


@dataclass
class Dynamics:
    """The ``[dynamics]`` settings of a case (see the module docstring)."""

    first_year: int
    last_year: int
    discount_rate: float = 0.0
    depreciation: float = 0.0
    investment_response: float = 0.0
    lead_time: dict[str, int] = field(default_factory=dict)
    growth: dict[tuple[str, str], float] = field(default_factory=dict)
    active: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def years(self) -> list[int]:
        return list(range(self.first_year, self.last_year + 1))

    def is_active(self, scenario: str, year: int) -> bool:
        lo, hi = self.active.get(scenario, (self.first_year, self.last_year))
        return lo <= year <= hi

    def growth_of(self, mineral: str, region: str) -> float:
        for key in ((mineral, region), (mineral, "*"), ("*", region), ("*", "*")):
            if key in self.growth:
                return self.growth[key]
        return 0.0


def read_dynamics(data: dict, case: Case) -> Dynamics | None:
    """The validated ``[dynamics]`` table of the case data (None: a static case)."""
    raw = data.get("dynamics")
    if raw is None:
        return None
    f = data.get("_file", "case.toml")
    w = "[dynamics]"
    if not isinstance(raw, dict):
        raise CaseError(f, w, "dynamics", raw, "a [dynamics] table with first_year and last_year")
    for k in raw:
        if k not in DYNAMICS_KEYS and not k.startswith("_"):
            raise CaseError(f, w, k, raw[k], "one of the known keys here: " + ", ".join(DYNAMICS_KEYS))

    def year(key):
        v = raw.get(key, "(missing)")
        if isinstance(v, bool) or not isinstance(v, int) or not 1900 <= v <= 2200:
            raise CaseError(f, w, key, v, "a whole year such as 2025")
        return v

    first, last = year("first_year"), year("last_year")
    if last < first:
        raise CaseError(f, w, "last_year", last, f"a year not before first_year ({first})")

    def share(key, lo=0.0, hi=1.0):
        v = raw.get(key, 0.0)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
            raise CaseError(f, w, key, v, f"a number from {lo:g} to {hi:g}")
        return float(v)

    lead = raw.get("lead_time", {})
    if not isinstance(lead, dict):
        raise CaseError(f, w, "lead_time", lead, "a table of years per stage, such as { mine = 5, refined = 3 }")
    stages = {s for m in case.markets.values() for s in m.stages}
    for s, v in lead.items():
        if s not in stages:
            raise CaseError(f, w, f"lead_time.{s}", v, "a stage of the case's minerals: " + ", ".join(sorted(stages)))
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 30:
            raise CaseError(f, w, f"lead_time.{s}", v, "a whole number of years from 1 to 30 (new capacity arrives after it)")
    active = raw.get("active", {})
    if not isinstance(active, dict):
        raise CaseError(f, w, "active", active, "a table of scenario = [first year, last year]")
    names = [s.name for s in case.scenarios]
    windows = {}
    for s, v in active.items():
        if s not in names:
            raise CaseError(f, w, f"active.{s}", v, "a scenario of the case: " + ", ".join(names))
        if not (isinstance(v, list) and len(v) == 2 and all(isinstance(x, int) and not isinstance(x, bool) for x in v) and v[0] <= v[1]):
            raise CaseError(f, w, f"active.{s}", v, "[first year, last year] of the scenario's policies, first <= last")
        windows[s] = (v[0], v[1])
    growth = {}
    for row in data.get("dynamics_growth", []):
        rf, rw = row.get("_file", f), row.get("_where", "growth table")
        m, r = row.get("mineral", "*"), row.get("region", "*")
        if m != "*" and m not in case.markets:
            raise CaseError(rf, rw, "mineral", m, "a mineral of the case or *")
        if r != "*" and r not in case.regions:
            raise CaseError(rf, rw, "region", r, "a region of the case or *")
        try:
            g = float(row.get("rate", "(missing)"))
        except ValueError:
            g = math.nan
        if not math.isfinite(g) or not -0.5 < g < 1.0:
            raise CaseError(rf, rw, "rate", row.get("rate", "(missing)"), "an annual growth rate of demand as a fraction, such as 0.05 (between -0.5 and 1)")
        if not row.get("source") or row.get("confidence") not in ("reported", "derived", "estimated", "assumed", "secondary"):
            raise CaseError(rf, rw, "confidence", row.get("confidence", "(missing)"), "a source and a confidence label (reported, derived, estimated, secondary or assumed)")
        growth[(m, r)] = g
    return Dynamics(first, last, share("discount_rate", 0.0, 0.5), share("depreciation"), share("investment_response", 0.0, 100.0), {k: int(v) for k, v in lead.items()}, growth, windows)


def read_growth(base: Path, name: str, fname: str) -> list[dict]:
    """Rows of the growth table named by ``[dynamics] growth``."""
    path = base / name
    if not path.is_file():
        raise CaseError(fname, "[dynamics]", "growth", name, "the name of a CSV file (mineral, region, rate, source, confidence) beside the case file")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        return [dict({k: v for k, v in r.items() if v not in (None, "")}, _file=str(path), _where=f"row {i + 2}") for i, r in enumerate(csv.DictReader(fh))]


# -- capacities ---------------------------------------------------------------
def capacity_keys(case: Case) -> list[tuple]:
    """Every curve with a finite capacity: ("supply", mineral, stage,
    region) or ("processing", mineral, region, source stage)."""
    keys = []
    for mn, mk in case.markets.items():
        for (s, r), c in mk.supply.items():
            if _built(c):
                keys.append(("supply", mn, s, r))
        for p in mk.processes:
            if _built(p.cost):
                keys.append(("processing", mn, p.region, p.source))
    return keys


def _built(curve) -> bool:
    """A curve whose capacity is a plant's, built and worn out: an explicit
    finite capacity on a continuous curve (a step curve's total is what
    there is, such as gallium in alumina liquor; a secondary sum is scrap)."""
    return curve.form in ("linear", "isoelastic") and math.isfinite(getattr(curve, "capacity", math.inf))


def _curve(case: Case, key: tuple):
    mk = case.markets[key[1]]
    if key[0] == "supply":
        return mk.supply[(key[2], key[3])]
    return next(p for p in mk.processes if p.region == key[2] and p.source == key[3]).cost


def _quantity(res, key: tuple) -> float:
    mk, sol = res.market, res.solution
    if key[0] == "supply":
        return float(np.nan_to_num(sol.supply[mk.node_index(key[2], key[3])]))
    k = next(i for i, p in enumerate(mk.processes) if p.region == key[2] and p.source == key[3])
    return float(sol.processing[k])


#: a plant is not built smaller than this share of its market's scale
#: (the largest curve of the mineral, or of its linked market: the
#: quantity unit the program is scaled by).  A new plant of 1e-4 of that
#: scale (a 0.2 t dysprosium refinery beside China's 3,400 t, from an
#: order that was 1% of the latent plant's size) is a column whose whole
#: range lies at HiGHS's tolerances: its QP solver then stops with primal
#: infeasibilities of that size (numerical trouble), as on the 2029
#: dysprosium market of the bundled floor-club path; 3e-4 solves.
MIN_PLANT_SHARE = 1e-3


def smallest_plant(case: Case, mineral: str) -> float:
    """The smallest plant built from nothing for ``mineral`` (units of its
    quantity): :data:`MIN_PLANT_SHARE` of the scale its program uses."""
    link = case.link_of(mineral)
    return MIN_PLANT_SHARE * (link.market if link is not None else case.markets[mineral]).quantity_scale


def invest(res, key: tuple, capacity: float, reference: float, response: float, smallest: float = 0.0) -> float:
    """New capacity ordered after a solved year: ``φ·K̄·ρ/P`` (module
    docstring), with ``ρ`` the capacity rent per unit of the curve ``key``
    in result ``res`` at capacity ``capacity`` and ``P`` its output price.
    An order under 1% of ``reference`` is not placed, nor one that would
    start a plant (from capacity 0) smaller than ``smallest``
    (:func:`smallest_plant`)."""
    if response <= 0 or res.solution is None:
        return 0.0
    order = _order(res, key, capacity, reference, response)
    # slivers of capacity are no plant, and they make badly scaled programs
    if order < 1e-2 * reference or (capacity <= 0.0 and order < smallest):
        return 0.0
    return order


def _order(res, key: tuple, capacity: float, reference: float, response: float) -> float:
    from .statistics import floor_payments

    mk, sol = res.market, res.solution
    pay = np.nan_to_num(floor_payments(mk, sol, res.plan)[0])
    if key[0] == "supply":
        n = mk.node_index(key[2], key[3])
        curve = mk.supply[(key[2], key[3])]
        margin, price = sol.price[n] + pay[n], sol.price[n]
    else:
        k = next(i for i, p in enumerate(mk.processes) if p.region == key[2] and p.source == key[3])
        p = mk.processes[k]
        out, inp = mk.node_index(p.target, p.region), mk.node_index(p.source, p.region)
        curve = p.cost
        margin, price = sol.price[out] + pay[out] - p.theta * sol.price[inp], sol.price[out]
    q = _quantity(res, key)
    if q < capacity * (1 - 1e-6) - 1e-9 * max(reference, 1.0):
        return 0.0  # below capacity: no rent
    rent = margin - curve.value(min(capacity, curve.capacity)) if hasattr(curve, "value") else 0.0
    if not (math.isfinite(rent) and math.isfinite(price)) or rent <= 0 or price <= 0:
        return 0.0
    return response * reference * rent / price


def year_case(case: Case, dyn: Dynamics, year: int, capacity: dict[tuple, float], scenarios: list[str]) -> Case:
    """The static case of ``year``: capacities ``capacity``, demand grown to
    the year, and only ``scenarios`` (their policies active that year)."""
    # copies of what changes (the header, nodes, processing entries); the
    # rest, routes above all, is shared with the case: a deep copy of the
    # bundled case's data took 3 s a year and path
    data = dict(case.data)
    data["case"] = copy.deepcopy(data.get("case", {}))
    data["minerals"] = [dict(m, **{k: [dict(x) for x in m[k]] for k in ("nodes", "processing") if k in m}) for m in data["minerals"]]
    data.pop("dynamics", None)
    data.pop("dynamics_growth", None)
    data.pop("calibration_targets", None)
    data.get("case", {}).pop("calibration", None)
    data["case"]["base_year"] = year
    t = year - dyn.first_year
    by_name = {m["name"]: m for m in data["minerals"]}
    for key, k in capacity.items():
        m = by_name[key[1]]
        if key[0] == "supply":
            for nd in m["nodes"]:
                if nd.get("stage") == key[2] and nd.get("region") == key[3]:
                    nd["supply"] = dict(nd["supply"], capacity=float(k))
        else:
            for e in m["processing"]:
                if e.get("region") == key[2] and e.get("from") == key[3]:
                    if "capacity" in e:
                        e["capacity"] = float(k)
                    else:
                        e["cost"] = dict(e["cost"], capacity=float(k))
    if t and dyn.growth:
        for m in data["minerals"]:
            for nd in m["nodes"]:
                g = dyn.growth_of(m["name"], nd.get("region"))
                if g and isinstance(nd.get("demand"), dict):
                    nd["demand"] = _grown(nd["demand"], (1 + g) ** t)
    data["scenarios"] = [s for s in data.get("scenarios", []) if s.get("name") in scenarios]
    return build_case(data)


def _grown(curve: dict, f: float) -> dict:
    """A demand curve whose quantities are ``f`` times larger (stretched
    horizontally: the same price at ``f`` times the quantity)."""
    c = dict(curve)
    for key in ("quantity", "capacity"):
        if isinstance(c.get(key), (int, float)) and math.isfinite(c[key]):
            c[key] = c[key] * f
    if "slope" in c and "quantity" not in c:
        c["slope"] = c["slope"] / f
    if "blocks" in c:
        c["blocks"] = [[q * f, p] for q, p in c["blocks"]]
    return c


# -- the years ------------------------------------------------------------------
@dataclass
class Run:
    """One scenario's (or the baseline's) run over the years."""

    scenario: str
    results: dict[int, dict] = field(default_factory=dict)  # year -> {mineral: MarketResult}
    capacity: dict[int, dict] = field(default_factory=dict)  # year -> {key: K}
    investment: dict[int, dict] = field(default_factory=dict)  # year -> {key: I ordered}
    #: (year, what failed): the first year with a market that has no
    #: verified equilibrium; the path stops there (later capacities would
    #: rest on it), its later years are left unsolved
    failed: tuple[int, str] | None = None
    #: year -> the year's static case the path solved (the baseline path
    #: keeps them: the result Dataset is made from them)
    cases: dict[int, Case] = field(default_factory=dict)
    #: year -> {mineral: node prices of the no-policy equilibrium at the
    #: path's capacities}, for the minerals the scenario's policies cover
    #: that year (what levels relative to the baseline multiply)
    reference: dict[int, dict] = field(default_factory=dict)


def run_path(case: Case, dyn: Dynamics, scenario: str, start: dict[tuple, float], reference: dict[tuple, float], baseline=None, progress=None, listed: list[str] = (), only: set[str] | None = None) -> Run:
    """Solve ``scenario`` (or the baseline) year by year from capacities
    ``start``; ``baseline`` (the baseline path) gives the minerals the
    scenario leaves alone.  The baseline path keeps its year cases
    (:attr:`Run.cases`), which list the scenarios ``listed``.  ``only``
    (closed over links, :func:`minerals_closed`) restricts every year to
    those minerals; ``start`` then holds their curves only."""
    from .run import solve_case

    path = Run(scenario)
    cap = dict(start)
    smallest = {mn: smallest_plant(case, mn) for mn in {k[1] for k in cap}}
    pipeline: dict[int, dict] = {}
    touched = None
    if scenario != BASELINE:
        scen = next(s for s in case.scenarios if s.name == scenario)
        touched = {mn for mn, mk in case.markets.items() if any(i.covers(mk) for i in scen.instruments)}
    for y in dyn.years:
        path.capacity[y] = dict(cap)
        on = scenario != BASELINE and dyn.is_active(scenario, y)
        differs = {k[1] for k in cap if baseline is not None and cap[k] != baseline.capacity[y].get(k)}
        mine = None if touched is None else (touched if on else set()) | differs
        if only is not None:
            mine = set(only) if mine is None else mine & only
        if touched is not None and not mine:
            got = dict(baseline.results[y])  # nothing differs from the baseline path this year
        else:
            yc = year_case(case, dyn, y, cap, [scenario] if on else list(listed) if scenario == BASELINE else [])
            if scenario == BASELINE:
                path.cases[y] = yc
            if mine is not None:
                restrict(yc, mine)
            try:
                res = solve_case(yc, [scenario] if on else [], threads=1)
            except MineqError as err:  # a scenario's plan needs the year's baseline, which failed
                path.failed = (y, str(err))
                del path.capacity[y]
                break
            got = dict(baseline.results[y]) if baseline is not None else {}
            got.update(res[scenario] if on else res[BASELINE])
            if on:
                path.reference[y] = {mn: (res[BASELINE][mn].solution.price if res[BASELINE][mn].solution is not None else None) for mn, r in res[scenario].items() if r.plan is not None}
        bad = [f"{mn}: {r.message}" for mn, r in got.items() if not r.ok]
        path.results[y] = got
        if bad:
            path.failed = (y, "; ".join(bad[:3]))
            del path.capacity[y]
            break
        orders = {k: invest(got[k[1]], k, cap[k], reference[k], dyn.investment_response, smallest[k[1]]) for k in cap}
        path.investment[y] = orders
        for k, v in orders.items():
            if v:
                due = y + dyn.lead_time.get(_stage_of(case, k), 1)
                pipeline.setdefault(due, {}).setdefault(k, 0.0)
                pipeline[due][k] += v
        arriving = pipeline.get(y + 1, {})
        cap = {k: max(0.0, (1 - dyn.depreciation) * cap[k] + arriving.get(k, 0.0)) for k in cap}
        if progress is not None:
            progress(1)
    return path


def _stage_of(case: Case, key: tuple) -> str:
    if key[0] == "supply":
        return key[2]
    mk = case.markets[key[1]]
    return next(p.target for p in mk.processes if p.region == key[2] and p.source == key[3])


def minerals_closed(case: Case, minerals) -> set[str]:
    """``minerals`` with every member of their linked markets (a linked
    market is solved whole)."""
    return set(minerals) | {m for mn in minerals if case.link_of(mn) is not None for m in case.link_of(mn).members}


def restrict(case: Case, minerals) -> Case:
    """``case`` (changed in place) with the markets of ``minerals`` and of
    their linked markets only."""
    keep = minerals_closed(case, minerals)
    case.markets = {mn: mk for mn, mk in case.markets.items() if mn in keep}
    case.links = {k: v for k, v in case.links.items() if set(v.members) <= keep}
    return case


@dataclass
class Start:
    """Where every path starts: the curves with a capacity (``keys``),
    their capacities in the case file (``reference``) and in the first
    year (``capacity``: 0 for a curve idle in the base year's equilibrium,
    which has to be built first), and the minerals solved (``only``;
    None: all)."""

    keys: list[tuple]
    reference: dict[tuple, float]
    capacity: dict[tuple, float]
    only: set[str] | None = None


def start_of(case: Case, minerals=None) -> Start:
    """The :class:`Start` of ``case``'s paths (``minerals``: only these,
    with their linked markets)."""
    from .run import solve_case

    only = None if minerals is None else minerals_closed(case, minerals)
    keys = [k for k in capacity_keys(case) if only is None or k[1] in only]
    reference = {k: _curve(case, k).upper for k in keys}
    base = dataclasses.replace(case, scenarios=[], markets=dict(case.markets), links=dict(case.links))
    static = solve_case(base if only is None else restrict(base, only), [], threads=1)[BASELINE]
    return Start(keys, reference, {k: (0.0 if _quantity(static[k[1]], k) <= 0.0 else reference[k]) for k in keys}, only)


def baseline_path(case: Case, dyn: Dynamics, start: Start, listed: list[str] = (), progress=None) -> Run:
    """The baseline's path; raises MineqError if a year fails (without it
    no scenario can be compared)."""
    base = run_path(case, dyn, BASELINE, start.capacity, start.reference, progress=progress, listed=listed, only=start.only)
    if base.failed is not None:
        raise MineqError(f"Year {base.failed[0]} of the baseline has markets without a verified equilibrium ({base.failed[1]}); without a baseline path no scenario can be compared, so nothing was written. Milder settings in [dynamics] (investment response, growth) or fewer years get past it.")
    return base


def solve_dynamic(case: Case, dyn: Dynamics, scenarios: list[str] | None = None, progress: bool = False, minerals: list[str] | None = None, threads: int | None = None):
    """Every year of the baseline and of each scenario; returns a Dataset
    with a ``year`` dimension (module docstring).  ``minerals``: solve
    only these (and the minerals linked with them).

    Once the baseline path is solved, the scenarios' paths are
    independent: they run on ``threads`` processes (default: the cores,
    at most 4) where :func:`mineq.solver.processes.forking` allows, each
    taking the next scenario when it is free; the results do not depend on it."""
    import click

    from .run import _Null, default_threads

    names = [s.name for s in case.scenarios if scenarios is None or s.name in scenarios]
    start = start_of(case, minerals)
    with click.progressbar(length=len(dyn.years) * (1 + len(names)), label="Solving years", file=None if progress else _Null()) as bar:
        base = baseline_path(case, dyn, start, names, bar.update)
        paths = scenario_paths(case, dyn, names, start, base, default_threads() if threads is None else threads, bar.update)
    return paths_dataset(case, dyn, start, base, paths)


def scenario_paths(case: Case, dyn: Dynamics, names: list[str], start: Start, base: Run, threads: int, progress) -> dict[str, Run]:
    """The paths of the scenarios ``names`` against the baseline path
    ``base``, on ``threads`` forked processes when allowed (a path's
    years follow one another; different scenarios' paths do not)."""
    from mineq.models.speed import plain

    from .processes import forking, in_processes

    def path(sn: str, tick=None) -> Run:
        return run_path(case, dyn, sn, start.capacity, start.reference, base, tick, only=start.only)

    if threads < 2 or len(names) < 2 or plain() or not forking():
        return {sn: path(sn, progress) for sn in names}
    out = {}
    # a worker's path travels pickled whole; its results' welfare changes
    # were cached by the id of a baseline solution in the worker, which
    # means nothing here: they are made again against this process's
    for k, run in in_processes(path, names, threads, [1.0] * len(names), lambda run: run, lambda k, run: _forget_changes(run)):
        out[names[k]] = run
        progress(len(dyn.years))
    return {sn: out[sn] for sn in names}


def _forget_changes(run: Run) -> Run:
    for per in run.results.values():
        for r in per.values():
            if r.numbers is not None:
                r.numbers = {**r.numbers, "changes": {}}
    return run


def paths_dataset(case: Case, dyn: Dynamics, start: Start, base: Run, paths: dict[str, Run]):
    """The result Dataset of a baseline path and scenario paths: each
    year's static Dataset along ``year``, with the capacity path, the
    reference prices and the fiscal figures (module docstring)."""
    import xarray as xr

    from .results import to_dataset

    keys, reference, names = start.keys, start.reference, list(paths)
    per_year = []
    for y in dyn.years:
        yc = base.cases[y]  # built once, for the baseline path's solve
        # a path that failed before this year has nothing for it (not solved)
        results = {BASELINE: base.results[y], **{sn: paths[sn].results.get(y, {}) for sn in names}}
        ds = _described(to_dataset(yc, results), case)
        ds.attrs = {}
        per_year.append(ds)
    # what changes with the year (every scenario variable) along ``year``;
    # the rest (units, transport costs) as the first year has it
    moving = [v for v in per_year[0].data_vars if "scenario" in per_year[0][v].dims]
    out = xr.concat(per_year, dim="year", data_vars=moving, coords="minimal", compat="override", join="outer")
    out = out.assign_coords(year=dyn.years)
    kl = [f"{k[0]} {k[1]} {'/'.join(k[2:])}" for k in keys]
    out = out.assign_coords(capacity_curve=kl, capacity_kind=("capacity_curve", [k[0] for k in keys]), capacity_mineral=("capacity_curve", [k[1] for k in keys]),
                            capacity_region=("capacity_curve", [k[3] if k[0] == "supply" else k[2] for k in keys]))
    every = [BASELINE, *names]
    allp = {BASELINE: base, **paths}
    nan = float("nan")
    out["capacity"] = (("year", "scenario", "capacity_curve"), np.array([[[allp[sn].capacity.get(y, {}).get(k, nan) for k in keys] for sn in every] for y in dyn.years]), {"units": "quantity unit of the curve's stage (see mineral_quantity_unit): capacity in the year"})
    out["investment"] = (("year", "scenario", "capacity_curve"), np.array([[[allp[sn].investment.get(y, {}).get(k, nan) for k in keys] for sn in every] for y in dyn.years]), {"units": "capacity ordered after the year's equilibrium; arrives after the stage's lead time"})
    out.attrs["failed_paths"] = "; ".join(f"{sn} from {p.failed[0]}: {p.failed[1][:300]}" for sn, p in paths.items() if p.failed) or ""
    ref = np.full(out["price"].transpose("year", "scenario", "mineral", "stage", "region").shape, np.nan)
    at = {d: {v: i for i, v in enumerate(out[d].values.tolist())} for d in ("scenario", "mineral", "stage", "region")}
    for sn, p in paths.items():
        for y, per in p.reference.items():
            for mn, price in per.items():
                if price is None:
                    continue
                nodes = case.markets[mn].nodes
                ref[dyn.years.index(y), at["scenario"][sn], at["mineral"][mn], [at["stage"][s] for s, _ in nodes], [at["region"][r] for _, r in nodes]] = price
    out["reference_price"] = (("year", "scenario", "mineral", "stage", "region"), ref, {"units": "price unit of the mineral: the no-policy equilibrium's prices at the path's capacities in the year, which levels relative to the baseline multiply (NaN where no policy of the scenario applies)"})
    out["capacity_reference"] = (("capacity_curve",), np.array([reference[k] for k in keys]), {"units": "the curve's capacity in the case file (the investment rule's scale)"})
    fiscal, unit = fiscal_cost(out)
    money = unit or "price unit x quantity unit (the minerals' money units do not convert to one currency)"
    out["fiscal_cost"] = fiscal.assign_attrs(units=f"{money} per year: minus the change of government net revenue against the baseline path's same year, summed over minerals")
    out["fiscal_cost_discounted"] = (fiscal * _discount(out, dyn.discount_rate)).sum("year").assign_attrs(units=f"{money}, discounted to {dyn.first_year} at {dyn.discount_rate:g} per year")
    binds = _binds(out)
    last = [max([y for y in dyn.years if bool(binds.sel(scenario=sn, year=y))], default=-1) for sn in every]
    out["last_binding_year"] = (("scenario",), np.array(last), {"units": "the last year in which the scenario's policies move money (-1: never)"})
    text = case.canonical()
    from .case import digest_of

    out.attrs.update({"title": f"mineq dynamic results for case '{case.name}', {dyn.first_year}-{dyn.last_year}", "case_name": case.name, "case_json": text, "input_hash": digest_of(text), "dynamic": 1,
                      "max_residual": float(np.nanmax(out["max_residual"].values)), "all_equilibria": int(all(p.failed is None for p in paths.values())),
                      "Conventions": "CF-1.8; NaN marks combinations that do not exist or years a failed path did not reach"})
    return out



# -- checking a dynamic result file ---------------------------------------------
def verify_dynamic(ds, tol: float | None = None):
    """Verify a dynamic result Dataset (what :func:`solve_dynamic` writes)
    from its primal values and the case stored in it; returns a
    :class:`mineq.solver.run.FileCheck` whose markets are labelled
    ``"<scenario> <year>"``.

    For every path and every year it reached: the year's case is rebuilt
    from the stored inputs and the path's stored capacities
    (:func:`year_case`); a scenario's policies are rebuilt from the stored
    ``reference_price`` (levels relative to the baseline); every market is
    checked by :func:`mineq.solver.verify.verify` (a linked market as one
    program) and its stored status must say what the check says.  Then
    the capacity update is recomputed from the stored results: each year's
    orders by :func:`invest`, the next year's capacities by
    ``K' = (1 − δ)·K + arrivals``, and the fiscal cost, its discounted sum
    and the last binding year from the stored government revenue; every
    stored number that differs is a mismatch.  A path that stopped early
    fails the check (its later years have no equilibrium).
    """
    from .case import digest_of
    from .results import _Grid, case_from_dataset, solutions_from_dataset
    from .run import FileCheck, _solved, mineral_plan, rebuilt_result, status_mismatch
    from .verify import TOLERANCE, verify
    from mineq.models.market import Solution

    tol = TOLERANCE if tol is None else tol
    check = FileCheck()
    check.dynamic = True
    case = case_from_dataset(ds)
    text = ds.attrs["case_json"]
    if digest_of(text) != str(ds.attrs.get("input_hash", "(missing)")):
        check.problems.append(f"input_hash: the stored inputs (attribute case_json) hash to {digest_of(text)}, not to the stored input_hash {ds.attrs.get('input_hash', '(missing)')}; the inputs or the hash were edited after the solve")
    dyn = case.dynamics
    if dyn is None:
        raise MineqError("The result file has a year dimension, but its stored case has no [dynamics] table; the file was edited or is damaged.")
    years = [int(y) for y in ds.year.values]
    if years != dyn.years:
        check.problems.append(f"year: the file holds years {years[0]}-{years[-1]}, its stored case's [dynamics] says {dyn.first_year}-{dyn.last_year}")
        return check
    # a run restricted to some minerals (solve/sweep/target --mineral)
    # holds those and the minerals linked with them
    solved = [m for m in ds.mineral.values.tolist() if m in case.markets]
    only = None if len(solved) == len(case.markets) else minerals_closed(case, solved)
    keys = [k for k in capacity_keys(case) if only is None or k[1] in only]
    labels = [f"{k[0]} {k[1]} {'/'.join(k[2:])}" for k in keys]
    if [str(x) for x in ds.capacity_curve.values] != labels:
        check.problems.append("capacity_curve: the file's capacity curves are not the stored case's curves with a finite capacity")
        return check
    reference = {k: _curve(case, k).upper for k in keys}
    smallest = {mn: smallest_plant(case, mn) for mn in {k[1] for k in keys}}

    def differs(name, where, stored, want):
        if not bool(_close(stored, want)):
            check.problems.append(f"{name}[{where}]: stored {stored!r}, recomputed {want!r}")

    for j, k in enumerate(keys):
        differs("capacity_reference", labels[j], float(ds.capacity_reference.values[j]), reference[k])
    scen = ds.scenario.values.tolist()
    K_all = ds.capacity.transpose("year", "scenario", "capacity_curve").values
    I_all = ds.investment.transpose("year", "scenario", "capacity_curve").values
    status = ds["status"].transpose("year", "scenario", "mineral").values
    mpos = {m: i for i, m in enumerate(ds.mineral.values.tolist())}
    records = {v: ds[v] for v in ("method", "fallback_used", "iterations", "message")}
    # year -> ({scenario: {mineral: result rebuilt from the file}}, the baseline path's year case)
    tables: dict[int, tuple[dict, Case | None]] = {}
    for i, sn in enumerate(scen):
        start = {k: float(K_all[0, i, j]) for j, k in enumerate(keys)}
        base0 = {k: float(K_all[0, 0, j]) for j, k in enumerate(keys)}
        if i and start != base0:
            check.problems.append(f"capacity[{sn}, {years[0]}]: a scenario's path starts from the baseline's capacities, these differ")
        pipeline: dict[int, dict] = {}
        for t, y in enumerate(years):
            K = {k: float(K_all[t, i, j]) for j, k in enumerate(keys)}
            label = f"{sn} {y}"
            if any(math.isnan(v) for v in K.values()):
                check.problems.append(f"{label}: the path stopped before this year (not solved), so it has no verified equilibrium")
                break
            on = sn != BASELINE and dyn.is_active(sn, y)
            yc = year_case(case, dyn, y, K, [sn] if on else [])
            if only is not None:
                restrict(yc, only)
            sub = ds.sel(year=y)
            g = _Grid(sub)
            refp = sub["reference_price"] if "reference_price" in sub else None
            plans = {}
            if on:
                for mn, mk in yc.markets.items():
                    rp = None
                    if refp is not None:
                        vals = refp.sel(scenario=sn, mineral=mn)
                        rp = np.array([float(vals.sel(stage=s_, region=r_)) for s_, r_ in mk.nodes])
                    base_sol = None if rp is None or not np.isfinite(rp).any() else Solution(supply=rp * np.nan, demand=rp * np.nan, price=rp, flow=np.zeros(0), processing=np.zeros(0), objective=math.nan)
                    try:
                        plan = mineral_plan(yc, sn, mn, base_sol)
                    except MineqError as err:
                        check.mismatches.setdefault((label, mn), []).append(f"policies: {err}")
                        continue
                    if plan is not None:
                        plans[mn] = plan
            sols = solutions_from_dataset(sub, yc, plans, only=sn, grid=g)[sn]
            checks = {}
            for link in yc.links.values():
                lplan = link.plan({m: plans.get(m) for m in link.members})
                joined = link.join({m: sols[m] for m in link.members}, sols[next(iter(link.members))].joint)
                lmarket = lplan.market if lplan is not None else link.market
                v = verify(lmarket, joined, tol, lplan)
                stored = v if tol == TOLERANCE else verify(lmarket, joined, TOLERANCE, lplan)
                if _solved(joined):  # the members' shares of the joint surplus, as the solve made them
                    sols.update(link.split(joined, {m: plans.get(m) for m in link.members}))
                for m in link.members:
                    checks[m] = (v, stored)
            results = {}
            for mn, sol in sols.items():
                plan = plans.get(mn)
                v, stored = checks.get(mn) or (verify(yc.markets[mn], sol, tol, plan), None)
                stored = stored or (v if tol == TOLERANCE else verify(yc.markets[mn], sol, TOLERANCE, plan))
                check.append((label, mn, v))
                said = str(status[t, i, mpos[mn]])
                status_mismatch(check, (label, mn), said, stored)
                rec = {k: records[k].sel(year=y, scenario=sn, mineral=mn).item() for k in records}
                results[mn] = rebuilt_result(plan.market if plan is not None else yc.markets[mn], sol, plan, stored, said, rec)
            tables.setdefault(y, ({}, yc if i == 0 else None))[0][sn] = results
            # the capacity update, from the stored results
            for j, k in enumerate(keys):
                want = invest(results[k[1]], k, K[k], reference[k], dyn.investment_response, smallest[k[1]])
                differs("investment", f"{sn}, {y}, {labels[j]}", float(I_all[t, i, j]), want)
                if want:
                    due = y + dyn.lead_time.get(_stage_of(case, k), 1)
                    pipeline.setdefault(due, {}).setdefault(k, 0.0)
                    pipeline[due][k] += want
            if t + 1 < len(years) and not np.isnan(K_all[t + 1, i]).any():
                arriving = pipeline.get(y + 1, {})
                for j, k in enumerate(keys):
                    differs("capacity", f"{sn}, {years[t + 1]}, {labels[j]}", float(K_all[t + 1, i, j]), max(0.0, (1 - dyn.depreciation) * K[k] + arriving.get(k, 0.0)))
    _recompute_tables(ds, case, tables, check)
    # the fiscal figures, from the stored government revenue
    fiscal, _ = fiscal_cost(ds)
    disc = _discount(ds, dyn.discount_rate).values
    for sn in scen:
        fc = fiscal.sel(scenario=sn).transpose("year").values
        for y, a, b in zip(years, ds.fiscal_cost.sel(scenario=sn).transpose("year").values, fc):
            differs("fiscal_cost", f"{sn}, {y}", float(a), float(b))
        differs("fiscal_cost_discounted", sn, float(ds.fiscal_cost_discounted.sel(scenario=sn)), float(np.nansum(fc * disc)))
    binds = _binds(ds)
    for sn in scen:
        want = max([y for y in years if bool(binds.sel(scenario=sn, year=y))], default=-1)
        differs("last_binding_year", sn, int(ds.last_binding_year.sel(scenario=sn)), want)
    return check


def _described(ds, case: Case):
    """A year's Dataset with ``case``'s scenario descriptions: the year
    case it was made from lists only the scenarios known when the
    baseline path ran (a target's levels come later)."""
    descriptions = {s.name: s.description for s in case.scenarios}
    ds["scenario_description"] = (("scenario",), np.array(["no policy" if sn == BASELINE else descriptions.get(sn, "") for sn in ds.scenario.values.tolist()], dtype=str))
    return ds


def _recompute_tables(ds, case: Case, tables: dict, check) -> None:
    """Each year's tables (quantities, prices, trade, welfare and its
    changes, reliance, shares, rents, ...) made again by
    :func:`mineq.solver.results.to_dataset` from the results rebuilt out
    of the file's primal values (``tables``, from :func:`verify_dynamic`),
    and compared with the stored ones: a difference is a mismatch of the
    market ``"<scenario> <year>"``."""
    from .results import to_dataset
    from .run import FileCheck, _compare

    for y, (per, yc) in tables.items():
        if yc is None or BASELINE not in per:
            continue  # the baseline path did not reach the year: nothing to compare with
        again = _described(to_dataset(yc, per), case)
        again.attrs = {}
        stored = ds.sel(year=y, scenario=list(per))
        # the quota and extension rows of all years share one axis in the file
        for d in ("quota", "extension"):
            if d in again.dims and d in stored.dims and again.sizes[d] < stored.sizes[d]:
                again = again.reindex({d: stored[d].values})
        stored = stored[[v for v in again.data_vars if v in stored.data_vars]]
        stored.attrs = {}
        year = FileCheck()
        _compare(stored, again, year)
        for (sn, mn), lines in year.mismatches.items():
            check.mismatches.setdefault((f"{sn} {y}", mn), []).extend(lines)
        check.problems.extend(f"{y}: {p}" for p in year.problems)


def _close(a, b) -> bool:
    from .run import _same

    return bool(np.all(_same(np.asarray(a, dtype=float), np.asarray(b, dtype=float)) | (np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float)) <= 1e-12 * max(1.0, abs(float(np.nan_to_num(b)))))))


def floor_binds(ds):
    """Per year and scenario: 1.0 where the scenario's price floors pay
    (deficiency payments or offtake outlays), else 0.0; NaN in years its
    path did not reach."""
    reached = (ds["status"] == "equilibrium").all("mineral")
    pay = [v for v in ("deficiency_payments", "offtake_outlay") if v in ds.data_vars]
    if not pay:
        return (reached * 0.0).where(reached)
    return _moves(ds, pay).astype(float).where(reached)


#: money a policy moves counts when above this share of its market's
#: value (consumers' spending, Σ price·demand, in the mineral's money
#: units): a floor at exactly the market price pays solver-precision dust
#: (5e-7 USD on a lithium market of billions), which is no binding floor
MOVES = 1e-9


def _moves(ds, names):
    """Per scenario and year (and draw): whether the money in the
    variables ``names`` is more than :data:`MOVES` of its market's value
    in some mineral."""
    money = np.abs(ds[names].to_array().sum("variable").fillna(0.0).sum("region"))
    value = np.abs(ds["price"] * ds["demand"]).sum(["stage", "region"])
    return (money > MOVES * value).any("mineral")


def _binds(ds):
    """Per scenario and year: whether the scenario's policies move money."""
    moved = [v for v in ("deficiency_payments", "offtake_outlay", "levy_revenue", "tariff_revenue", "export_tax_revenue", "quota_rent", "origin_rent") if v in ds.data_vars]
    return _moves(ds, moved)


# -- reading a dynamic result ------------------------------------------------------
def built_outside_china(ds, scenario: str, reference: str = BASELINE):
    """Capacity (per year and curve) of ``scenario``'s path above
    ``reference``'s outside China: what the scenario's policies built
    (0 where it is not more; quantity units of each curve's mineral)."""
    outside = ds.capacity_region != "CHN"
    more = (ds.capacity.sel(scenario=scenario) - ds.capacity.sel(scenario=reference)).where(outside, 0.0)
    return more.clip(min=0.0)


def print_years(ds, scenario: str, reference: str = BASELINE, minerals: list[str] | None = None) -> None:
    """``mineq compare`` of a dynamic file: per year, the fiscal cost of
    ``scenario`` against ``reference``'s path, whether its policies move
    money, the curves where it built capacity outside China, and its
    largest price change (mineral, region, stage)."""
    import click

    from .report import _table, active_nodes

    every, unit = fiscal_cost(ds, reference)
    fiscal = every.sel(scenario=scenario)
    money = f"million {unit}" if unit else "price unit x quantity unit"
    k = 1e6 if unit else 1.0
    binds = _binds(ds).sel(scenario=scenario)
    built = built_outside_china(ds, scenario, reference)
    status = ds.status.sel(scenario=scenario)
    mins = [m for m in ds.mineral.values.tolist() if not minerals or m in minerals]
    desc = str(ds.scenario_description.sel(scenario=scenario).values[0] if "year" in ds.scenario_description.dims else ds.scenario_description.sel(scenario=scenario).values) if "scenario_description" in ds else ""
    click.echo(f"\n=== Scenario '{scenario}' vs '{reference}', year by year" + (f": {desc}" if desc else ""))
    rows = []
    for y in ds.year.values.tolist():
        if not (status.sel(year=y) == "equilibrium").all():
            rows.append([str(y), "not solved", "", "", ""])
            continue
        # nodes idle in both runs hold shadow prices, not market prices (active_nodes)
        live = active_nodes(ds.sel(year=y, scenario=scenario, mineral=mins)) | active_nodes(ds.sel(year=y, scenario=reference, mineral=mins))
        a = ds.price.sel(year=y, scenario=scenario, mineral=mins).where(live)
        b = ds.price.sel(year=y, scenario=reference, mineral=mins).where(live)
        # a price near zero (a by-product disposed of) makes no percentage:
        # only prices above 0.1% of the mineral's highest are compared
        typical = np.abs(b).max(["stage", "region"])
        rel = (np.abs(a - b) / np.abs(b).where(np.abs(b) > 1e-3 * typical)).fillna(0.0)
        top = rel.argmax(...)
        at = {d: rel[d].values[int(i)] for d, i in top.items()}
        change = float(rel.isel(top))
        p_text = f"{100 * float((a - b).isel(top) / b.isel(top)):+.2f}% {at['mineral']} {at['stage']} {at['region']}" if change > 0 else "none"
        curves = int((built.sel(year=y) > 0).sum())
        rows.append([str(y), f"{float(fiscal.sel(year=y)) / k + 0.0:,.4g}", "yes" if bool(binds.sel(year=y)) else "no", str(curves), p_text])
    click.echo(_table(rows, ["year", f"fiscal cost [{money}]", "binds", "curves built outside China", "largest price change"]))
    if reference == BASELINE:
        v = float(ds.fiscal_cost_discounted.sel(scenario=scenario))
        click.echo(f"  discounted over the horizon: {v / k:,.4g} {money}; last year it binds: {int(ds.last_binding_year.sel(scenario=scenario)) if int(ds.last_binding_year.sel(scenario=scenario)) > 0 else 'never'}")


def _discount(ds, rate: float | None = None):
    """The discount factor of each year of a dynamic result (``rate``, or
    the stored case's [dynamics] discount rate)."""
    import json

    import xarray as xr

    if rate is None:
        rate = float(json.loads(ds.attrs["case_json"]).get("dynamics", {}).get("discount_rate", 0.0))
    first = int(ds.year.values[0])
    return xr.DataArray([(1 + rate) ** -(int(y) - first) for y in ds.year.values], dims="year", coords={"year": ds.year.values})


def fiscal_cost(ds, reference: str = BASELINE):
    """Per year and scenario: minus the change of government net revenue
    (all minerals and regions) against ``reference``'s path, in one
    currency unit where the minerals' money units convert
    (:func:`mineq.solver.report.in_money`: USD/kg x kt is 1e6 USD); returns
    it and that unit (None: native units, which then do not add up)."""
    from .report import in_money

    dm, unit = in_money(ds)
    gov = dm["government_net"].sum(["mineral", "region"])
    return -(gov - gov.sel(scenario=reference)), unit
