"""Policy targeting: the level of a policy key that reaches an indicator
value, or that maximises it (:func:`find_maximum`).

``mineq target`` first solves a grid of levels (a sweep restricted to the
mineral the indicator is about), checks that the indicator is monotone
in the level, and brackets the target; then it refines inside the bracket
by regula falsi (Illinois variant), re-solving the same persistent
program, until the indicator is within the tolerance of the target.
Every evaluation is a verified equilibrium; the answer is reported only if
the final one is.

On a dynamic case (a ``[dynamics]`` table) each evaluation is the
scenario's path at that level over the years, every year verified,
against one baseline path solved once; the indicator is read in one year
(``year``) or is a total over the years: ``fiscal_cost_discounted``
answers a treasury's question, the highest floor a discounted budget
allows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .case import BASELINE, Case
from .errors import MineqError
from .indicators import Indicator, evaluate, parse, scalar
from .results import to_dataset
from .solve import MarketResult, solve_market
from .sweep import Swept, parse_set, point_case, point_instruments


@dataclass
class TargetResult:
    """What :func:`find_level` found."""

    reached: bool
    level: float  #: the level found (or the best one on the grid)
    value: float  #: the indicator there
    residual: float  #: the verifier's largest scaled residual there
    monotone: str  #: "increasing", "decreasing" or "not monotone"
    evaluations: list[tuple[float, float]] = field(default_factory=list)
    result: MarketResult | None = None
    mineral: str = ""
    message: str = ""


class _Evaluator:
    """The indicator at a level: one mineral's market, re-solved in place."""

    def __init__(self, case: Case, swept: Swept, mineral: str, indicator: str):
        import dataclasses

        self.case, self.swept, self.mineral, self.indicator = case, swept, mineral, indicator
        self.market = case.markets[mineral]
        # a member of a linked market is solved with the whole link
        self.link = case.link_of(mineral)
        if self.link is None:
            base = solve_market(self.market)
            self.linked_base = None
        else:
            from .run import member_results

            self.linked_base = solve_market(self.link.market)
            self.base_parts = member_results(self.link, self.linked_base, {})
            base = self.base_parts[mineral]
        if not base.ok:
            raise MineqError(f"The baseline of {mineral} has no verified equilibrium ({base.message}); nothing to target.")
        self.base = base
        self.model = None
        self.last = None
        # a one-mineral view of the case for the result Dataset
        self.view = dataclasses.replace(case, markets={mineral: self.market}, scenarios=[])

    def __call__(self, level: float) -> tuple[float, MarketResult]:
        from mineq.models.policies import build_plan

        insts = [i for i in point_instruments(self.case, self.swept, level) if i.covers(self.market)]
        if not insts:
            raise MineqError(f"Scenario '{self.swept.scenario}' does not touch {self.mineral}; its level cannot move {self.indicator}.")
        plan = build_plan(self.market, insts, self.base.solution)
        if self.link is None:
            r = solve_market(self.market, plan=plan, start=self.last or self.base.solution, reuse=self.model)
            self.model = r.model
        else:
            from .run import linked_point

            plans = {}
            for m, mk in self.link.members.items():
                mine = [i for i in point_instruments(self.case, self.swept, level) if i.covers(mk)]
                plans[m] = build_plan(mk, mine, self.base_parts[m].solution) if mine else None
            whole, parts = linked_point(self.link, plans, self.last or self.linked_base.solution, reuse=self.model)
            self.model = whole.model
            r = parts[self.mineral]
            if whole.ok:
                self.last = whole.solution
            if not r.ok:
                raise MineqError(f"At {self.swept.label} = {level:g}, {self.mineral} has no verified equilibrium ({r.message}); narrow --range.")
            name = self.swept.point_name(level)
            ds = to_dataset(self.view, {BASELINE: {self.mineral: self.base}, name: {self.mineral: r}})
            return float(scalar(ds.sel(scenario=[name]), self.indicator).values[0]), r
        if not r.ok:
            raise MineqError(f"At {self.swept.label} = {level:g}, {self.mineral} has no verified equilibrium ({r.message}); narrow --range.")
        self.last = r.solution
        name = self.swept.point_name(level)
        ds = to_dataset(self.view, {BASELINE: {self.mineral: self.base}, name: {self.mineral: r}})
        return float(scalar(ds.sel(scenario=[name]), self.indicator).values[0]), r


@dataclass
class PathsOutcome:
    """What a dynamic evaluation gives :class:`TargetResult`: the verified
    paths' result Dataset (baseline and the point) and its largest scaled
    residual."""

    dataset: object
    max_residual: float


class _DynamicEvaluator:
    """The indicator at a level, over the years of a dynamic case: the
    scenario's path at that level for the indicator's mineral (and the
    minerals linked with it), against one baseline path solved once.
    ``year`` picks the year of an indicator that has one; the scenario's
    totals over the years (``fiscal_cost_discounted``,
    ``last_binding_year``) have none: a mineral named for them chooses
    which market's paths are solved."""

    def __init__(self, case: Case, swept: Swept, mineral: str, indicator: str, year: int | None):
        from .dynamic import baseline_path, start_of

        dyn = case.dynamics
        if year is not None and year not in dyn.years:
            raise MineqError(f"--year {year}: case '{case.name}' runs {dyn.first_year}-{dyn.last_year}.")
        self.case, self.swept, self.mineral, self.year, self.dyn = case, swept, mineral, year, dyn
        ind = parse(indicator)
        self.indicator = ind
        self.start = start_of(case, [mineral])
        self.base = baseline_path(case, dyn, self.start)

    def value(self, ds) -> float:
        ind = self.indicator
        if ind.name in ds.data_vars and "mineral" not in ds[ind.name].dims:
            # a total over the minerals solved: the named one's market
            ind = Indicator(ind.text, ind.name, [x for x in ind.labels if x not in self.case.markets])
        da = evaluate(ds, ind)
        if "year" in da.dims:
            if self.year is None:
                raise MineqError(f"Indicator '{self.indicator}' has a value each year of the dynamic case ({self.dyn.first_year}-{self.dyn.last_year}): choose one with --year (in Python, year=...), or target a total over the years such as fiscal_cost_discounted.")
            da = da.sel(year=self.year)
        elif self.year is not None:
            raise MineqError(f"Indicator '{self.indicator}' is one number over the years ({self.dyn.first_year}-{self.dyn.last_year}); --year means nothing for it.")
        if "mineral" in da.dims:
            da = da.sel(mineral=self.mineral)
        return float(da.values.reshape(-1)[0])

    def __call__(self, level: float) -> tuple[float, PathsOutcome]:
        import dataclasses

        from .dynamic import paths_dataset, run_path

        sw = dataclasses.replace(self.swept, values=[float(level)])
        pcase = point_case(self.case, sw)
        name = sw.point_name(float(level))
        # the point case's [dynamics]: its policy window is the point's
        # (point_case), the case's own names the scenario swept
        dyn = pcase.dynamics
        path = run_path(pcase, dyn, name, self.start.capacity, self.start.reference, self.base, only=self.start.only)
        if path.failed is not None:
            raise MineqError(f"At {self.swept.label} = {level:g}, year {path.failed[0]} of the path has no verified equilibrium ({path.failed[1][:300]}); narrow --range.")
        ds = paths_dataset(pcase, dyn, self.start, self.base, {name: path})
        return self.value(ds.sel(scenario=[name])), PathsOutcome(ds, float(ds.attrs["max_residual"]))


def _mineral_of(case: Case, indicator: str, swept: Swept) -> str:
    labels = [x for x in parse(indicator).labels if x in case.markets]
    if len(labels) == 1:
        return labels[0]
    scen = next(s for s in case.scenarios if s.name == swept.scenario)
    touched = [mn for mn, mk in case.markets.items() if any(i.covers(mk) for i in scen.instruments)]
    if not labels and len(touched) == 1:
        return touched[0]
    raise MineqError(f"Indicator '{indicator}': name exactly one mineral among its labels (the scenario touches {len(touched)} minerals, e.g. {', '.join(touched[:4])}); a target is one number.")


def default_range(case: Case, scenario: str, param: str) -> tuple[float, float]:
    """The levels ``mineq target`` searches when none are given: 0.5 to 2
    times the scenario's own value of ``param`` (``[POLICY.]KEY``)."""
    sw = parse_set(f"{param}=0", case, scenario)
    now = next(s for s in case.scenarios if s.name == scenario).policies[sw.policies[0]][sw.key]
    if not now:
        raise MineqError(f"The scenario's own {sw.key} is {now}, so there is no default range; give the range to search (--range LOW:HIGH; in Python, bounds=(low, high)).")
    lo, hi = sorted((0.5 * now, 2.0 * now))
    return lo, hi


def _search(case: Case, scenario: str, param: str, indicator: str, lo: float, hi: float, points: int, year: int | None = None):
    """(swept grid, mineral, evaluator) of a search over [lo, hi], after
    checking the range and the grid; a dynamic case's evaluator solves
    paths over its years (``year``: the indicator's year)."""
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise MineqError(f"--range {lo:g}:{hi:g}: expected LOW:HIGH with LOW < HIGH, both finite.")
    if points < 3:
        raise MineqError(f"--points {points}: expected at least 3 grid points.")
    swept = parse_set(f"{param}={lo}:{hi}:{points}", case, scenario)
    mineral = _mineral_of(case, indicator, swept)
    if case.dynamics is not None:
        return swept, mineral, _DynamicEvaluator(case, swept, mineral, indicator, year)
    if year is not None:
        raise MineqError(f"--year {year}: case '{case.name}' is static (no [dynamics] table), it has one year.")
    return swept, mineral, _Evaluator(case, swept, mineral, indicator)


def find_level(case: Case, scenario: str, param: str, indicator: str, value: float, lo: float, hi: float, points: int = 9, tol: float | None = None, max_evaluations: int = 60, year: int | None = None) -> TargetResult:
    """The level of ``param`` in [lo, hi] at which ``indicator`` equals ``value``.

    ``tol`` is the accepted |indicator − value| (default 1e-6 relative to
    the indicator's range on the grid, at least 1e-9).  Raises MineqError
    for bad input; returns ``reached=False`` with the best grid point when
    the target is outside what the range can reach.
    """
    swept, mineral, f = _search(case, scenario, param, indicator, lo, hi, points, year)
    grid = np.asarray(swept.values)
    vals, runs = [], []
    for x in grid:
        v, r = f(float(x))
        vals.append(v)
        runs.append(r)
    vals = np.asarray(vals)
    evals = list(zip(grid.tolist(), vals.tolist()))
    if not np.all(np.isfinite(vals)):
        bad = [f"{x:g}" for x, v in evals if not np.isfinite(v)]
        raise MineqError(f"Indicator '{indicator}' is undefined (NaN) at {swept.label} = {', '.join(bad)}; choose an indicator defined for {mineral} (e.g. a region with consumption) or another range.")
    span = float(vals.max() - vals.min())
    eps = 1e-9 * max(1.0, float(np.abs(vals).max()))
    d = np.diff(vals)
    monotone = "increasing" if np.all(d >= -eps) else "decreasing" if np.all(d <= eps) else "not monotone"
    tol = tol if tol is not None else max(1e-9, 1e-6 * span)
    hit = np.flatnonzero(np.abs(vals - value) <= tol)
    if hit.size:
        k = int(hit[0])
        return TargetResult(True, float(grid[k]), float(vals[k]), runs[k].max_residual, monotone, evals, runs[k], mineral)
    side = np.sign(vals - value)
    cross = np.flatnonzero(side[:-1] * side[1:] < 0)
    if not cross.size:
        k = int(np.argmin(np.abs(vals - value)))
        msg = (f"{indicator} cannot reach {value:g} with {swept.label} in [{lo:g}, {hi:g}]: it ranges over [{vals.min():.6g}, {vals.max():.6g}] ({monotone}); "
               f"the closest is {vals[k]:.6g} at {swept.label} = {grid[k]:g}.")
        return TargetResult(False, float(grid[k]), float(vals[k]), runs[k].max_residual, monotone, evals, runs[k], mineral, msg)
    k = int(cross[0])
    a, b, fa, fb = float(grid[k]), float(grid[k + 1]), float(vals[k] - value), float(vals[k + 1] - value)
    best = None
    side_kept = 0
    for _ in range(max_evaluations):
        x = b - fb * (b - a) / (fb - fa)
        if not (min(a, b) < x < max(a, b)):
            x = 0.5 * (a + b)
        v, r = f(x)
        evals.append((x, v))
        fx = v - value
        best = (x, v, r)
        if abs(fx) <= tol or abs(b - a) <= 1e-12 * max(1.0, abs(a), abs(b)):
            break
        if fx * fb < 0:
            a, fa = b, fb
            side_kept = 0
        else:
            side_kept += 1
            fa = fa / 2 if side_kept > 1 else fa  # Illinois: halve the stale end
        b, fb = x, fx
    x, v, r = best
    ok = abs(v - value) <= tol
    note = "" if monotone != "not monotone" else f" The indicator is not monotone in {swept.label} on the grid; other levels may reach the target too (this is the lowest bracket)."
    msg = ("" if ok else f"Stopped after {max_evaluations} refinements {abs(v - value):.2e} from the target.") + note
    return TargetResult(ok, float(x), float(v), r.max_residual, monotone, evals, r, mineral, msg.strip())


#: the golden ratio's conjugate, for :func:`find_maximum`
_GOLDEN = (5 ** 0.5 - 1) / 2


def find_maximum(case: Case, scenario: str, param: str, indicator: str, lo: float, hi: float, points: int = 9, xtol: float | None = None, max_evaluations: int = 60, year: int | None = None) -> TargetResult:
    """The level of ``param`` in [lo, hi] that maximises ``indicator``.

    Solves a grid of ``points`` levels, takes the best one and refines by
    golden-section search between its two neighbours (the indicator is
    taken to be single-peaked there), until the bracket is narrower than
    ``xtol`` (default 1e-6 of the range).  Every evaluation is a verified
    equilibrium.  The use case: the export tax or quota a strategic
    exporter would choose, with ``indicator`` its producers' and
    government's gain (``producer_government_change[CHN,antimony]``) or its
    welfare change.  A maximum at an end of the range is reported with
    ``reached = False`` and a message to widen it.
    """
    swept, mineral, f = _search(case, scenario, param, indicator, lo, hi, points, year)
    grid = np.asarray(swept.values, dtype=float)
    evals, runs = [], {}
    for x in grid:
        v, r = f(float(x))
        evals.append((float(x), v))
        runs[float(x)] = r
    vals = np.array([v for _, v in evals])
    if not np.all(np.isfinite(vals)):
        bad = [f"{x:g}" for x, v in evals if not np.isfinite(v)]
        raise MineqError(f"Indicator '{indicator}' is undefined (NaN) at {swept.label} = {', '.join(bad)}; choose an indicator defined for {mineral} or another range.")
    d = np.diff(vals)
    eps = 1e-9 * max(1.0, float(np.abs(vals).max()))
    monotone = "increasing" if np.all(d >= -eps) else "decreasing" if np.all(d <= eps) else "not monotone"
    k = int(np.argmax(vals))
    best = (float(grid[k]), float(vals[k]), runs[float(grid[k])])
    a, b = float(grid[max(k - 1, 0)]), float(grid[min(k + 1, len(grid) - 1)])
    xtol = xtol if xtol is not None else 1e-6 * (hi - lo)
    c, e = b - _GOLDEN * (b - a), a + _GOLDEN * (b - a)
    fc, rc = f(c)
    fe, re_ = f(e)
    evals += [(c, fc), (e, fe)]
    for _ in range(max_evaluations):
        if b - a <= xtol:
            break
        if fc >= fe:
            b, e, fe, re_ = e, c, fc, rc
            c = b - _GOLDEN * (b - a)
            fc, rc = f(c)
            evals.append((c, fc))
        else:
            a, c, fc, rc = c, e, fe, re_
            e = a + _GOLDEN * (b - a)
            fe, re_ = f(e)
            evals.append((e, fe))
    for x, v, r in ((c, fc, rc), (e, fe, re_)):
        if v > best[1]:
            best = (x, v, r)
    x, v, r = best
    edge = x - lo <= 2 * xtol or hi - x <= 2 * xtol
    msg = f"The maximum on [{lo:g}, {hi:g}] is at its end ({swept.label} = {x:g}): widen --range." if edge else ""
    if monotone == "not monotone" and not edge and np.sum((d[:-1] > eps) & (d[1:] < -eps)) > 1:
        msg = "The indicator has several peaks on the grid; this is the highest grid point's, refined."
    return TargetResult(not edge, float(x), float(v), r.max_residual, monotone, evals, r, mineral, msg)
