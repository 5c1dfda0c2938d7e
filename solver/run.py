"""Solving and verifying whole cases: the loop over scenarios and minerals."""

from __future__ import annotations

import functools
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click
import numpy as np
import xarray as xr

from .case import BASELINE, Case
from .errors import MineqError
from .runtime import steady_step
from .processes import forking, in_processes
from .results import ENGINE, case_from_dataset, forbidden_flows, market_numbers, solutions_from_dataset, unpack_routes
from mineq.models.active_set import new_highs
from mineq.models.speed import plain
from mineq.models.market import Solution

from .solve import EQUILIBRIUM, NOT_CONVERGED, MarketResult, solve_market
from .verify import TOLERANCE, Verification, verify


def scenario_plans(case: Case, scenario: str, baseline: dict[str, Solution | None]) -> dict[str, object]:
    """The :class:`mineq.models.policies.PolicyPlan` of each mineral a scenario touches.

    ``baseline`` gives the baseline solution per mineral (for levels
    relative to the baseline).  Minerals the scenario leaves alone are
    absent: their scenario equilibrium is the baseline.
    """
    plans = {}
    for mn in case.markets:
        plan = mineral_plan(case, scenario, mn, baseline.get(mn))
        if plan is not None:
            plans[mn] = plan
    return plans


def mineral_plan(case: Case, scenario: str, mineral: str, baseline: Solution | None):
    """The :class:`mineq.models.policies.PolicyPlan` of one mineral under a
    scenario (None: the scenario leaves it alone), given its baseline
    solution (None if it has none)."""
    from mineq.models.errors import SpecError
    from mineq.models.policies import build_plan

    scen = next(s for s in case.scenarios if s.name == scenario)
    mk = case.markets[mineral]
    insts = [i for i in scen.instruments if i.covers(mk)]
    if not insts:
        return None
    if any(i.needs_baseline for i in insts) and baseline is None:
        raise MineqError(f"Scenario '{scenario}' sets a level relative to the baseline for {mineral}, but the baseline of {mineral} has no solution.")
    try:
        return build_plan(mk, insts, baseline)
    except SpecError as err:
        raise MineqError(f"Scenario '{scenario}', mineral {mineral}: {err.field} = {err.value!r} cannot be applied; expected {err.expected}.") from None


def default_threads() -> int:
    """Workers for a case solve: the cores this process may use, at most 4.

    On Linux :func:`solve_case` makes them processes (this one and forked
    ones: :mod:`mineq.solver.processes`), each taking the next mineral
    when it is free, with its own interpreter.  Elsewhere they are threads: HiGHS releases
    the GIL while it solves, so a second thread runs one market's HiGHS
    solve while the first does another's Python work, and beyond a few
    threads the Python parts, which hold the GIL, set the pace.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


def in_threads(fn, items: list, threads: int):
    """``map(fn, items)`` in order, on ``threads`` threads when more than one."""
    if threads <= 1 or len(items) <= 1:
        yield from map(fn, items)
        return
    # HiGHS prints its banner on the first instance of a process (and
    # new_highs hides it by pointing stdout away for a moment): make that
    # instance here, before other threads might print
    new_highs()
    pool = ThreadPoolExecutor(threads)
    try:
        yield from pool.map(fn, items)
    finally:
        # an error, Ctrl-C or a consumer that stops early: the markets not
        # yet started are dropped, not solved before the error surfaces
        pool.shutdown(wait=True, cancel_futures=True)


def check_fits(case: Case, threads: int = 1, markets: list[str] | None = None) -> None:
    """Refuse, before anything is solved, a case whose programs cannot fit
    in the memory available (:mod:`mineq.models.program_size`): the
    largest market alone, or the ``threads`` largest solved at once."""
    from mineq.models.program_size import available_memory, gib, program_size

    sizes = sorted((program_size(case.markets[mn]) for mn in (markets or case.markets)), key=lambda z: z.bytes, reverse=True)
    if not sizes:
        return
    try:
        avail = available_memory()
    except ValueError as err:
        raise MineqError(f"{err}.") from None
    big = sizes[0]
    together = sizes[: max(1, min(threads, len(sizes)))]
    need = sum(z.bytes for z in together)
    if need <= avail:
        return
    alone = big.bytes <= avail
    hint = (f"Solve with fewer workers (-j 1 needs {gib(big.bytes)})" if alone else
            "a market's memory grows with its routes and curve blocks, and with the square of its nodes (polish's dense active-set system): "
            "split the market, list fewer routes (default_transport_cost = \"none\" and explicit routes), or use a machine with more memory")
    what = (f"mineral {big.market} alone needs {big.describe()}" if not alone else
            f"its {len(together)} largest markets solved at once ({', '.join(z.market for z in together)}) need about {gib(need)}")
    raise MineqError(
        f"Case '{case.name}' cannot be solved in the memory available: its welfare program for {what}, but {gib(avail)} are available "
        f"on this machine; nothing was solved. {hint} (MINEQ_MEMORY sets the figure mineq assumes, e.g. MINEQ_MEMORY=64G)."
    )


@steady_step
def solve_case(case: Case, scenarios: list[str] | None = None, progress: bool = False, diagnoses: list | None = None, threads: int | None = None, kept: "KeptPrograms | None" = None) -> dict[str, dict[str, MarketResult]]:
    """Solve the baseline and the scenarios of ``case``, mineral by mineral.

    Returns ``results[scenario][mineral]``.  Minerals are independent
    markets, so each is its own program; a failure in one is recorded in
    its result and the others still finish.  A scenario market starts
    from the baseline solution; a mineral no policy touches keeps the
    baseline result.  ``diagnoses``, if given, receives (scenario,
    :class:`mineq.solver.diagnose.Diagnosis`) for every ill-posed market or idle
    policy found before solving.  Each mineral is one chain
    (:func:`_chain`): its baseline, then the scenarios that touch it,
    hot-started from the baseline's basis; minerals are solved by
    ``threads`` workers (default :func:`default_threads`): processes where
    :func:`mineq.solver.processes.forking` allows, else threads.  The results do
    not depend on either.  ``kept`` (:class:`KeptPrograms`, one worker's
    own): each baseline market re-uses the program kept for it, an
    ensemble's central case's, instead of building and solving anew; it
    is used on one thread.
    """
    known = [s.name for s in case.scenarios]
    for s in scenarios or []:
        if s != BASELINE and s not in known:
            raise MineqError(f"Scenario '{s}' is not in case '{case.name}'; its scenarios are: {', '.join(known) or '(none)'}.")
    wanted = [s for s in known if scenarios is None or s in scenarios]
    threads = 1 if plain() else default_threads() if threads is None else threads
    if kept is None or kept.filling:
        # (an ensemble's draw has the central case's counts of nodes,
        # blocks and routes, which alone size a program: checked once)
        check_fits(case, threads)
    markets = list(case.markets.values())
    names = [m.name for m in markets]
    # units of work: a mineral on its own, or a linked market (minerals
    # that share a joint activity are one program)
    units = [mn for mn in names if case.link_of(mn) is None] + list(case.links)
    quiet = not (progress and len(markets) * (1 + len(wanted)) > 3)
    chains: dict[str, list] = {}
    # without a caller reading them, only a failed market's diagnoses are
    # made (they explain its message): an ensemble's draw spent 5 ms on
    # the diagnoses of markets that all solved
    solve = lambda u: _unit_chains(case, u, wanted, kept, every=diagnoses is not None)  # noqa: E731
    if kept is not None:
        threads = 1
    if threads > 1 and len(units) > 1 and forking():
        weights = [_unit_weight(case, u, wanted) for u in units]
        done = (got for _, got in in_processes(solve, units, threads, weights, _ship, lambda i, shipped: _land(case, units[i], shipped), aside=canonical_aside(case)))
    else:
        if threads > 1:  # the largest first, as the processes take them
            units.sort(key=lambda u: -_unit_weight(case, u, wanted))
        done = in_threads(solve, units, threads)
    with click.progressbar(length=len(markets) * (1 + len(wanted)), label="Solving", show_pos=True, file=_Null() if quiet else None) as bar:
        for got in done:
            chains.update(got)
            bar.update(len(got) * (1 + len(wanted)))
    # by scenario, then mineral in the case's order: results and diagnoses
    solved = {(sn, mn): (diag, res) for mn, chain in chains.items() for sn, diag, res in chain}
    found = diagnoses if diagnoses is not None else []
    out: dict[str, dict[str, MarketResult]] = {}
    for sn in [BASELINE, *wanted]:
        out[sn] = {}
        for mn in names:
            if (sn, mn) not in solved:
                out[sn][mn] = out[BASELINE][mn]  # a mineral the scenario leaves alone
                continue
            diag, res = solved[(sn, mn)]
            found += [(sn, d) for d in diag]
            out[sn][mn] = res
    return out


def _unit_chains(case: Case, unit: str, wanted: list[str], kept: "KeptPrograms | None" = None, every: bool = True) -> dict[str, list]:
    """{mineral: chain} of a unit of work: one mineral (:func:`_chain`) or
    the members of a linked market (:func:`_link_chain`).  ``every``:
    diagnose every market, else only those without a verified
    equilibrium (:func:`_diagnosed`)."""
    if unit in case.links:
        return _link_chain(case, case.links[unit], wanted, kept, every)
    return {unit: _chain(case, unit, wanted, kept, every)}


def _diagnosed(make, res: MarketResult, every: bool) -> list:
    """``make()`` (a market's diagnoses) where they are wanted: ``every``
    market's, or one without a verified equilibrium (they explain its
    message); else none."""
    return make() if every or not res.ok else []


class KeptPrograms:
    """Programs kept across an ensemble's draws, as solved for the central
    case: the baseline and each scenario of every mineral and linked
    market.

    A draw changes elasticities and trade costs, not the shape of a
    market, so its programs are the central ones with other numbers
    (:meth:`mineq.models.program.MarketModel.update_market`), solved from
    the central optimum: polish of its active set, which for a draw near
    the centre is a few linear solves instead of a build and HiGHS runs
    of route generation; when polish finds no KKT point, HiGHS runs on a
    new instance hot-started from the central basis.  A scenario's fixed
    point starts from the central scenario's last frozen wedges
    (:attr:`mineq.solver.solve.MarketResult.wedges`) rather than from
    their value at the draw's baseline prices: the central active set
    then fits the first programs better, and six draws of every scenario
    of the bundled case took 5.6 s instead of 6.7–7.0 s on one worker
    (session 23: 22 HiGHS runs instead of 56, 3,978 verifications
    instead of 4,383).  Where a scenario's equilibrium is not unique (a
    minimum import price lands several origins at the floor price, and
    the split of imports between them is open) the point reached
    depends on the start; a draw's is the one reached from the central
    wedges, whichever worker solves it.  A linked
    market's scenario programs were built per draw until the compiled
    polish eliminated the curved columns (session 19): kept, two draws of
    every scenario of the bundled case took 9.2–9.4 s instead of 12.0–12.4
    s, HiGHS 3.5 s instead of 6.3 s (the earlier measurement that had
    the cobalt-copper-nickel market take 50 times HiGHS's iterations from
    the central scenario's basis no longer holds there: 0.69 s against
    1.09 s).  Every draw
    starts from the central state (never from the draw before it), so a
    draw's numbers do not depend on which draws a worker solved before,
    nor on the number of workers.  Made by :meth:`of_central`; a market
    whose shape differs, or that the central case did not solve to an
    equilibrium, is built and solved as usual."""

    def __init__(self):
        self.held: dict[tuple, tuple] = {}  # (unit, scenario) -> (model, last optimum, HiGHS start)
        self.filling = True  # solving the central case: programs are kept, never after
        self.reused = self.built = 0  # draws' markets solved each way (benchmarks, tests)

    @classmethod
    def of_central(cls, case: Case, scenarios: list[str] | None) -> "KeptPrograms":
        """The programs of ``case`` (the central case) and ``scenarios``
        (as :func:`solve_case` takes them)."""
        kept = cls()
        solve_case(case, scenarios, threads=1, kept=kept)
        kept.filling = False
        return kept

    def solve(self, key: tuple, market, plan=None, start=None, basis=None) -> MarketResult:
        """:func:`mineq.solver.solve.solve_market` of ``market`` (with
        ``plan``, ``start`` and ``basis`` as there) on the program kept for
        ``key``."""
        held = self.held.get(key)
        if held is not None:
            model, last, hot, wedges = held
            model.release()
            if model.update_market(plan.market if plan is not None else market, plan):
                model._last = last
                model.hot_start(hot)
                self.reused += 1
                return solve_market(market, plan=plan, start=start, reuse=model, wedges=wedges)
        res = solve_market(market, plan=plan, start=start, basis=basis)
        if self.filling and res.ok and res.model is not None and res.model._last is not None:
            self.held[key] = (res.model, res.model._last, res.model.start_basis(), res.wedges)
        else:
            self.built += 1
        return res


def _unit_weight(case: Case, unit: str, wanted: list[str]) -> float:
    """A guess at what a unit's chain costs, to start the largest first:
    a linked market's members', doubled (one program of all of them, and
    fixed points over every member's policies)."""
    if unit in case.links:
        return sum(_weight(case, m, wanted) for m in case.links[unit].members) * 2
    return _weight(case, unit, wanted)


def member_results(link, res: MarketResult, plans: dict) -> dict[str, MarketResult]:
    """One :class:`MarketResult` per member of a linked market from the
    linked market's result: each member's solution
    (:meth:`mineq.models.joint.Linked.split`), its own market and plan, and
    the linked market's verification (one program, one check)."""
    sols = link.split(res.solution, plans) if res.solution is not None else {}
    out = {}
    for m, mk in link.members.items():
        plan = plans.get(m)
        out[m] = MarketResult(plan.market if plan is not None else mk, sols.get(m), res.verification, res.status, res.iterations, res.message, dict(res.times), plan, res.method, res.fallback, linked=True)
    return out


def linked_point(link, plans: dict, start, reuse=None, basis=None, kept: KeptPrograms | None = None, key: tuple | None = None):
    """Solve a linked market under its members' plans (``plans``: member →
    plan or None); returns (linked result, member results), or None when
    no member has a plan (the point is the baseline).  ``kept`` (an
    ensemble's draw): on the program kept for ``key`` instead."""
    plan = link.plan(plans)
    if plan is None:
        return None
    res = solve_market(plan.market, plan=plan, start=start, reuse=reuse, basis=basis) if kept is None else kept.solve(key, plan.market, plan, start, basis)
    return res, member_results(link, res, plans)


def _link_chain(case: Case, link, wanted: list[str], kept: KeptPrograms | None = None, every: bool = True) -> dict[str, list]:
    """The chains of a linked market's members: solved together, baseline
    then each scenario that touches any member, split per member.  A
    scenario that touches one member moves them all (they share
    activities), so every member gets a result for it."""
    from .diagnose import diagnose

    res = solve_market(link.market) if kept is None else kept.solve((link.name, BASELINE), link.market)
    basis = res.model.start_basis() if res.model is not None else None
    _dropped(res)
    base = member_results(link, res, {})
    diag = {m: _diagnosed(lambda m=m, mk=mk: diagnose(mk, fed=link.fed(m)), res, every) for m, mk in link.members.items()}
    out = {m: [(BASELINE, diag[m], _explained(r, diag[m]))] for m, r in base.items()}
    for r in base.values():
        if r.solution is not None:
            market_numbers(r, r, lean=kept is not None)
    start = res.solution if res.ok else None
    for sn in wanted:
        plans = {m: mineral_plan(case, sn, m, base[m].solution if base[m].ok else None) for m in link.members}
        got = linked_point(link, plans, start, basis=basis, kept=kept, key=(link.name, sn))
        if got is None:
            continue
        _dropped(got[0])
        for m, r in got[1].items():
            d = _diagnosed(lambda m=m, r=r: diagnose(r.market, plans[m], sn, fed=link.fed(m)), r, every) if plans[m] is not None else []
            if r.solution is not None:
                market_numbers(r, base[m], lean=kept is not None)
            out[m].append((sn, d, _explained(r, d)))
    return out


def _chain(case: Case, mineral: str, wanted: list[str], kept: KeptPrograms | None = None, every: bool = True) -> list[tuple[str, list, MarketResult]]:
    """One mineral's baseline, then the scenarios that touch it, each
    diagnosed, solved and verified: [(scenario, diagnoses, result), ...].
    A scenario starts from the baseline's solution and hot-starts HiGHS
    from its basis; the result Dataset's numbers are made here too,
    beside the other minerals' solves."""
    from .diagnose import diagnose

    m = case.markets[mineral]
    res = solve_market(m) if kept is None else kept.solve((mineral, BASELINE), m)
    diag = _diagnosed(lambda: diagnose(m), res, every)
    basis = res.model.start_basis() if res.model is not None else None
    if res.solution is not None:
        market_numbers(res, res, lean=kept is not None)
    base = _explained(_dropped(res), diag)
    out = [(BASELINE, diag, base)]
    start = base.solution if base.ok else None
    for sn in wanted:
        plan = mineral_plan(case, sn, mineral, start)
        if plan is None:
            continue
        res = solve_market(m, plan=plan, start=start, basis=basis) if kept is None else kept.solve((mineral, sn), m, plan, start, basis)
        diag = _diagnosed(lambda: diagnose(m, plan, sn), res, every)
        if res.solution is not None:
            market_numbers(res, base, lean=kept is not None)
        out.append((sn, diag, _explained(_dropped(res), diag)))
    return out


def canonical_aside(case: Case):
    """The ``aside`` job of :func:`mineq.solver.processes.in_processes` that
    has a worker make the result file's copy of the inputs
    (:meth:`mineq.solver.case.Case.canonical`) and its digest beside its
    solves (None when it is made already): here, after the fork, it would
    also fault in every page of the case data, since reading an object
    writes its reference count."""
    if case._canonical is not None:
        return None

    def made():
        return case.canonical(), case.digest

    def landed(got):
        case._canonical, case._digest = got

    return made, landed


def market_size(m) -> float:
    """A guess at what solving a market costs, to share markets between
    worker processes: about its program's columns."""
    return len(m.routes) + 2 * len(m.supply) + 2 * len(m.demand) + 20


def _weight(case: Case, mineral: str, wanted: list[str]) -> float:
    """A guess at what a mineral's chain costs: its market, once for the
    baseline and twice for each scenario that touches it (a fixed point
    solves it again)."""
    m = case.markets[mineral]
    touched = sum(any(i.covers(m) for i in s.instruments) for s in case.scenarios if s.name in wanted)
    return market_size(m) * (1 + 2 * touched)


def _ship(chains: dict) -> dict:
    """A unit's chains as plain data for :func:`mineq.solver.processes.in_processes`
    (:func:`ship_result` for each market)."""
    return {m: [(sn, diag, ship_result(res)) for sn, diag, res in chain] for m, chain in chains.items()}


def _land(case: Case, unit: str, shipped: dict) -> dict:
    """The chains :func:`_ship` sent, made whole again here, with plans
    rebuilt from the case and each chain's own baseline."""
    return {m: _land_chain(case, m, chain) for m, chain in shipped.items()}


def _land_chain(case: Case, mineral: str, shipped: list) -> list:
    out = []
    base = None
    for sn, diag, fields in shipped:
        plan = None
        if sn != BASELINE:
            plan = mineral_plan(case, sn, mineral, base.solution if base.ok else None)
        res = land_result(fields, plan.market if plan is not None else case.markets[mineral], plan, base)
        if base is None:
            base = res
        out.append((sn, diag, res))
    return out


def ship_result(res: MarketResult) -> tuple:
    """A solved market as plain data for a worker process to send: the
    market and policy plan stay behind (the parent has them), the
    verification travels as its residuals."""
    v = res.verification
    sol = None if res.solution is None else dict(vars(res.solution))
    num = res.numbers
    if num is not None:  # welfare changes are kept by the baseline solution's id (one: the chain's); ids do not travel
        num = {**num, "changes": list(num["changes"].values())}
    fields = {k: getattr(res, k) for k in ("status", "iterations", "message", "times", "method", "fallback")}
    # a linked market's check covers conditions no member has alone: its
    # labels travel with it
    labels = {name: v.where(name) for name in v.residuals} if v is not None and res.linked else None
    return fields, sol, None if v is None else (v.residuals, v.tolerance, v.max_residual, labels), num


def land_result(shipped: tuple, market, plan, base: MarketResult | None) -> MarketResult:
    """The market :func:`ship_result` sent, made whole with its ``market``
    and ``plan`` and the ``base`` (baseline) result its welfare change
    refers to (None: it is the baseline); the verification's labels are
    made on demand, by verifying again (the same residuals)."""
    fields, sol, ver, num = shipped
    solution = None if sol is None else Solution(**sol)
    v = None
    if ver is not None:
        v = Verification(residuals=ver[0], tolerance=ver[1], _max=ver[2])
        if ver[3] is not None:
            v.labels = ver[3]
        else:
            again = functools.cache(lambda: verify(market, solution, v.tolerance, plan))  # once, for every condition's labels
            v.labels = {name: (lambda name=name: again().where(name)) for name in ver[0]}
    res = MarketResult(market, solution, v, plan=plan, **fields)
    if num is not None:
        key = id(solution if base is None else base.solution)
        res.numbers = {**num, "changes": {key: num["changes"][0]} if num["changes"] else {}}
    return res


def _dropped(res: MarketResult, release: bool = True) -> MarketResult:
    """Let the program go: a whole case's models would hold memory for
    nothing.  ``release`` also hands its HiGHS instance to the next
    program (not when the caller goes on re-solving the model)."""
    if release and res.model is not None:
        res.model.release()
    res.model = None
    return res


def _explained(res: MarketResult, diag) -> MarketResult:
    """Put the economic diagnosis in front of a failed market's message."""
    errors = [d for d in diag if d.severity == "error"]
    if errors and not res.ok:
        res.message = "; ".join(str(d) for d in errors) + (f" (solver: {res.message})" if res.message else "")
    return res


class _Null:
    """A sink for the progress bar when it should stay quiet."""

    def write(self, *_):
        pass

    def flush(self):
        pass

    def isatty(self):
        return False


def open_results(path: str | Path, scenarios: bool = True, dynamic: bool = False) -> xr.Dataset:
    """Read a result file.  A sweep file (dimension ``sweep``, baseline in
    the group ``baseline``) comes back in scenario form unless
    ``scenarios=False``: the baseline and one scenario per point.  A
    dynamic file (dimension ``year``) is refused unless ``dynamic``."""
    try:
        ds = unpack_routes(xr.load_dataset(path, engine=ENGINE))
        _check_mineq_result(ds, path, dynamic)
        if scenarios and "sweep" in ds.dims:
            from .sweep import scenario_form

            ds = scenario_form(ds, unpack_routes(xr.load_dataset(path, engine=ENGINE, group="baseline")))
        return ds
    except MineqError:
        raise
    except Exception as err:
        raise MineqError(f"Cannot read {path} as a mineq NetCDF result file ({type(err).__name__}: {err}).") from None


#: what every mineq result file (solve, sweep, ensemble) holds
RESULT_VARIABLES = ("price", "supply", "demand", "status", "max_residual")


def _check_mineq_result(ds: xr.Dataset, path, dynamic: bool = False) -> None:
    """A NetCDF file from elsewhere fails here, in a sentence, not later
    with a KeyError deep in a command."""
    if (ds.attrs.get("dynamic") or "year" in ds.dims) and not dynamic:
        raise MineqError(f"{path} holds the results of a dynamic case (a year dimension); this command reads static result files. verify, compare and report read dynamic files; for anything else open it with xarray (xr.open_dataset) and select a year (ds.sel(year=2030)).")
    missing = [v for v in RESULT_VARIABLES if v not in ds.variables]
    dims = [d for d in ("mineral",) if d not in ds.dims] + ([] if {"scenario", "sweep"} & set(ds.dims) else ["scenario"])
    if missing or dims:
        what = ", ".join([f"variable '{v}'" for v in missing] + [f"dimension '{d}'" for d in dims])
        raise MineqError(f"{path} is a NetCDF file but not a mineq result: it lacks {what}. Give a file written by mineq solve, sweep or ensemble.")


class FileCheck(list):
    """What :func:`verify_file` found: one ``(scenario, mineral,
    Verification)`` per market (a list, as before), and

    * ``mismatches[(scenario, mineral)]``: stored numbers of that market
      that differ from the ones recomputed from its primal solution and the
      stored inputs, one line each (variable, coordinates, stored,
      recomputed);
    * ``problems``: everything else that is wrong with the file as a whole
      (input hash, attributes, inputs stored as variables).
    """

    def __init__(self, rows=()):
        super().__init__(rows)
        self.mismatches: dict[tuple[str, str], list[str]] = {}
        self.problems: list[str] = []

    @property
    def ok(self) -> bool:
        return all(v.ok for *_, v in self) and not self.problems and not any(self.mismatches.values())


#: stored numbers must equal the recomputed ones to this relative precision:
#: both are made by the same code from the same float64 solution, so they
#: agree to the last bit; the margin only allows for a platform's libm
SAME = 1e-12
#: attributes recomputed and compared (the others are provenance: versions,
#: title, conventions, diagnoses)
CHECKED_ATTRS = ("case_name", "case_description", "base_year", "max_residual", "all_equilibria", "minerals_held")


def verify_file(path: str | Path, tol: float = TOLERANCE) -> FileCheck:
    """Verify every scenario and mineral of a result file from its primal
    values, and recompute every stored number.

    Scenario policies are rebuilt from the stored case and the file's own
    baseline solution (for levels relative to the baseline).  The stored
    inputs must hash to ``input_hash``; the derived outputs (trade, import
    reliance, shares, welfare and its changes, objectives, residuals,
    policy rents, ...) are made again by :func:`mineq.solver.results.to_dataset`
    from the primal solutions and compared with the stored ones
    (:class:`FileCheck`).
    """
    return verify_dataset(open_results(path, dynamic=True), tol)


def verify_dataset(ds: xr.Dataset, tol: float = TOLERANCE) -> FileCheck:
    """:func:`verify_file` of a result Dataset in scenario form (what
    :func:`open_results` gives, and what :func:`mineq.solver.results.to_dataset`
    makes): every scenario and mineral, from its primal values and the
    inputs stored in its ``case_json`` attribute.  Route variables in
    either layout (``route``, or origin x destination).  A dynamic
    Dataset (a ``year`` dimension) is checked path by path and year by
    year (:func:`mineq.solver.dynamic.verify_dynamic`)."""
    from .case import digest_of
    from .results import _Grid, to_dataset

    ds = unpack_routes(ds)
    if "year" in ds.dims:
        from .dynamic import verify_dynamic

        return verify_dynamic(ds, tol)
    case = case_from_dataset(ds)
    check = FileCheck()
    held = ds.attrs.get("minerals_held")
    if held is not None:
        try:
            names = json.loads(held)
            assert isinstance(names, list) and all(isinstance(n, str) for n in names)
        except (ValueError, AssertionError):
            raise MineqError(f"The result file's attribute minerals_held ({str(held)[:80]!r}) is not a JSON list of mineral names; the file was edited or is damaged.") from None
        unknown = [n for n in names if n not in case.markets]
        if unknown:
            raise MineqError(f"The result file says it holds minerals {', '.join(unknown)}, which its stored case does not define; the file was edited or is damaged.")
        # a file of some of the case's minerals: those are checked (a
        # linked market only whole)
        case.markets = {m: mk for m, mk in case.markets.items() if m in names}
        split = [ln for ln, link in case.links.items() if 0 < len(set(link.members) & set(names)) < len(link.members)]
        if split:
            check.problems.append(f"minerals_held: the file holds part of the linked market '{split[0]}', which is only solved whole")
        case.links = {ln: link for ln, link in case.links.items() if set(link.members) <= set(names)}
    text = ds.attrs["case_json"]
    stored_hash = str(ds.attrs.get("input_hash", "(missing)"))
    if digest_of(text) != stored_hash:
        check.problems.append(f"input_hash: the stored inputs (attribute case_json) hash to {digest_of(text)}, not to the stored input_hash {stored_hash}; the inputs or the hash were edited after the solve, so nothing in the file can be trusted to belong to them")
    grid = _Grid(ds)
    bad = forbidden_flows(ds, case)
    sols = solutions_from_dataset(ds, case, {}, only=BASELINE, grid=grid)
    base = sols.get(BASELINE, {})
    for name in ("status", "method", "fallback_used", "iterations", "message", "welfare_objective"):
        if name not in ds.data_vars:
            raise MineqError(f"The result file has no variable '{name}', which every mineq result file holds; the file is incomplete or was edited, so it cannot be verified.")
    status = ds["status"].transpose("scenario", "mineral").values
    records = {v: ds[v].transpose("scenario", "mineral").values for v in ("method", "fallback_used", "iterations", "message")}
    results: dict[str, dict[str, MarketResult]] = {}
    for i, sn in enumerate(ds.scenario.values.tolist()):
        plans = {} if sn == BASELINE else scenario_plans(case, sn, {mn: sol for mn, sol in base.items() if _solved(sol)})
        per = sols[sn] if sn == BASELINE else solutions_from_dataset(ds, case, plans, only=sn, grid=grid)[sn]
        # a linked market is one program: its members' solutions are joined,
        # checked as one, and split again (the split makes their shares of
        # the joint surplus)
        linked_checks = {}
        for link in case.links.values():
            touched = sn == BASELINE or any(plans.get(m) is not None for m in link.members)
            if not touched or not all(m in per for m in link.members):
                continue
            lplan = link.plan({m: plans.get(m) for m in link.members})
            joined = link.join({m: per[m] for m in link.members}, per[next(iter(link.members))].joint)
            lmarket = lplan.market if lplan is not None else link.market
            checks = (verify(lmarket, joined, tol, lplan), verify(lmarket, joined, TOLERANCE, lplan) if tol != TOLERANCE else None)
            if _solved(joined):
                per.update(link.split(joined, {m: plans.get(m) for m in link.members}))
            for m in link.members:
                linked_checks[m] = checks
        results[sn] = {}
        for mn, sol in per.items():
            plan = plans.get(mn)
            market = plan.market if plan is not None else case.markets[mn]
            if mn in linked_checks:
                v, stored = linked_checks[mn]
                v = _copied(v)
                stored = v if stored is None else stored
            else:
                v = verify(case.markets[mn], sol, tol, plan)
                # the residuals as the solve stored them are made at the default tolerance
                stored = v if tol == TOLERANCE else verify(case.markets[mn], sol, TOLERANCE, plan)
            mine = [b for b in bad if b.startswith(f"{sn}/{mn} ")]
            if mine:
                v.add("forbidden_route", [float("inf")] * len(mine), mine)
            check.append((sn, mn, v))
            jm = grid.pos["mineral"][mn]
            said = str(status[i, jm])
            status_mismatch(check, (sn, mn), said, stored)
            if sn != BASELINE and plan is None and mn not in linked_checks:
                # a mineral the scenario leaves alone: the baseline's result, as the solve stores it
                results[sn][mn] = results[BASELINE][mn]
                continue
            results[sn][mn] = rebuilt_result(market, sol, plan, stored, said, {k: records[k][i, jm] for k in records})
    again = to_dataset(case, results)
    _compare(ds, again, check)
    return check


def status_mismatch(check: FileCheck, key: tuple, said: str, stored) -> None:
    """Record in ``check`` a stored status ``said`` that the check
    ``stored`` (at the default tolerance) contradicts."""
    if (said == EQUILIBRIUM) != stored.ok:
        check.mismatches.setdefault(key, []).append(f"status: stored '{said}', but the solution {'passes' if stored.ok else 'fails'} the check at the default tolerance {TOLERANCE:g}")


def rebuilt_result(market, sol: Solution, plan, stored, said: str, rec: dict) -> MarketResult:
    """A market's result made again from a file: its solution, the check
    ``stored`` (at the default tolerance), the status that check gives (a
    failure keeps the stored reason ``said``) and the stored records
    ``rec`` (method, fallback_used, iterations, message), so that
    :func:`mineq.solver.results.to_dataset` makes the file's numbers again."""
    now = EQUILIBRIUM if stored.ok else (said if said != EQUILIBRIUM else NOT_CONVERGED)
    return MarketResult(market, sol if _solved(sol) else None, stored, now, int(rec["iterations"]), str(rec["message"]), plan=plan, method=str(rec["method"]), fallback=bool(rec["fallback_used"]))


def verdict(path: str | Path) -> tuple[bool, str]:
    """Whether a result file passes :func:`verify_file`, and one sentence
    saying so, for commands that show a file's figures (``report``,
    ``compare``): they never call a file verified that ``verify`` rejects.
    A file ``verify`` cannot read (an ensemble, damaged stored inputs) is
    said to be unverified, with the reason."""
    import xarray as xr

    try:
        with xr.open_dataset(path, engine=ENGINE) as head:
            if "draw" in head.dims:
                return False, f"{path} is an ensemble file: each draw's markets were verified as they were solved, but mineq verify does not re-check ensemble files, so its figures are unverified here."
        check = verify_file(path)
    except MineqError as err:
        return False, f"{path} is UNVERIFIED: mineq verify cannot check it ({err})"
    failed = [f"{sn}/{mn}" for sn, mn, v in check if not v.ok]
    wrong = sum(len(x) for x in check.mismatches.values()) + len(check.problems)
    if check.ok and getattr(check, "dynamic", False):
        return True, f"Verified: all {len(check)} path-year markets of {path} pass mineq verify (every equilibrium condition from the primal solution and the stored inputs; the capacity path, the fiscal costs and the binding years recomputed from the stored results)."
    if check.ok:
        return True, f"Verified: all {len(check)} scenario-mineral markets of {path} pass mineq verify (every equilibrium condition and every stored number recomputed from the primal solution and the stored inputs)."
    what = []
    if failed:
        what.append(f"{len(failed)} of {len(check)} markets are not verified equilibria ({', '.join(failed[:5])}{', ...' if len(failed) > 5 else ''})")
    if wrong:
        what.append(f"{wrong} stored numbers or inputs differ from their recomputation" + (" (the inputs do not match input_hash)" if any(p.startswith("input_hash") for p in check.problems) else ""))
    return False, f"{path} FAILS mineq verify: {'; '.join(what)}. The figures shown are as stored in the file and are NOT verified; run mineq verify {path} for the details."


def _copied(v: Verification) -> Verification:
    """A verification of its own (a member of a linked market may gain a
    forbidden-route entry the others must not)."""
    out = Verification(residuals=dict(v.residuals), labels=dict(v.labels), tolerance=v.tolerance)
    out._max = v._max
    return out


def _solved(sol: Solution) -> bool:
    """A market the solve found a solution for (else every price is NaN)."""
    return bool(np.isfinite(sol.price).any())


def _compare(ds: xr.Dataset, again: xr.Dataset, check: FileCheck, show: int = 3) -> None:
    """Put every difference between the stored Dataset ``ds`` and the
    recomputed ``again`` into ``check``: by market where a variable has
    scenario and mineral dimensions, else as a file problem."""
    for name in again.attrs:
        if name not in CHECKED_ATTRS:
            continue
        a, b = ds.attrs.get(name, "(missing)"), again.attrs[name]
        if not _same(np.asarray(a), np.asarray(b)).all():
            check.problems.append(f"attribute {name}: stored {_plain(a)!r}, recomputed {_plain(b)!r}")
    for name in ds.data_vars:
        if name not in again.data_vars:
            check.problems.append(f"variable {name}: in the file, but not a variable mineq writes, so it cannot be recomputed; remove it or keep it in another file")
    for name in again.data_vars:
        if name == "status":  # checked market by market against the check itself (verify_dataset)
            continue
        if name not in ds.data_vars:
            check.problems.append(f"variable {name}: missing from the file (recomputed from the stored solution and inputs)")
            continue
        want, have = again[name], ds[name]
        # labels compared as sets, then aligned: the stored case's groups
        # come back from canonical JSON in sorted order
        if set(want.dims) != set(have.dims) or any(sorted(map(str, want[d].values)) != sorted(map(str, have[d].values)) for d in want.dims if d in want.coords):
            check.problems.append(f"variable {name}: stored with dimensions {dict(have.sizes)}, recomputed with {dict(want.sizes)}")
            continue
        have = have.transpose(*want.dims).sel({d: want[d].values for d in want.dims if d in want.coords})
        diff = ~_same(have.values, want.values)
        if not diff.any():
            continue
        dims = want.dims
        for idx in zip(*np.nonzero(diff)):
            where = {d: _plain(want[d].values[k]) for d, k in zip(dims, idx)}
            by_market = "scenario" in where and "mineral" in where
            at = ", ".join(f"{d}={x}" for d, x in where.items() if not (by_market and d in ("scenario", "mineral")))
            line = f"{name}{f'[{at}]' if at else ''}: stored {_plain(have.values[idx])!r}, recomputed {_plain(want.values[idx])!r}"
            if by_market:
                check.mismatches.setdefault((str(where["scenario"]), str(where["mineral"])), []).append(line)
            else:
                check.problems.append(line)


def _plain(x):
    """A NumPy scalar as the Python number or text it holds (for messages)."""
    return x.item() if hasattr(x, "item") else x


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element by element: equal numbers (to :data:`SAME`), both NaN, the
    same infinity (an open band), or equal text."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind in "fiub" and b.dtype.kind in "fiub":
        a, b = a.astype(float), b.astype(float)
        with np.errstate(invalid="ignore"):
            close = np.abs(a - b) <= SAME * np.maximum(np.abs(a), np.abs(b))
        return close | (np.isnan(a) & np.isnan(b)) | (np.isinf(a) & (a == b))
    return np.asarray(a.astype(str) == b.astype(str))
