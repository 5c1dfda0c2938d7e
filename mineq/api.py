"""The Python API of mineq: load a case, derive changed cases, solve,
verify, compare, sweep, target, write.

Everything here is a thin layer over what the command line runs
(:mod:`mineq.solver.cli`), so a result made in Python is the same file,
with the same numbers, as one made by ``mineq solve``:

>>> import mineq
>>> case = mineq.load_case("three-region-demo")            # a bundled case, by name
>>> dearer = case.with_policy_level("us-mip", 1, level=45.0)  # a new case; ``case`` is unchanged
>>> ds = mineq.solve(dearer)                                  # an xarray.Dataset, every market verified
>>> round(float(ds.price.sel(scenario="us-mip", mineral="lithium", stage="refined", region="USA")), 9)
45.0

Units and signs.  Every figure is in its mineral's own units, as in the
case file: quantities in ``mineral_quantity_unit`` (e.g. kt LCE), prices
in ``mineral_price_unit`` (e.g. USD/kg), money in price unit x quantity
unit (USD/kg x kt = million USD).  Each result variable carries its unit
in ``ds[v].attrs["units"]``.  Welfare items are gains of the group they
name; ``government_net`` is revenue minus outlays; ``deficiency_payments``
and ``offtake_outlay`` are positive when the government spends.
Elasticities: demand < 0, supply > 0.

Inputs and what is stored.  A result stores its inputs (the canonical
case as JSON in ``ds.attrs["case_json"]``, with its SHA-256 in
``input_hash``) so that :func:`verify` and ``mineq verify`` can recompute
every equilibrium condition from the file alone.  So a case is never
changed in place: the ``with_*`` methods of :class:`Case` return a new
case built from a changed copy of the canonical data, and :func:`solve`
refuses a case whose built objects were changed after it was built
(their change would be solved but not stored, and the file would fail
``mineq verify``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from mineq.solver import case as _case
from mineq.solver import derive as _derive
from mineq.solver.errors import CaseError, MineqError
from mineq.solver.verify import TOLERANCE

if TYPE_CHECKING:  # xarray and pandas load with the first solve, not with ``import mineq``
    import pandas as pd
    import xarray as xr

    from mineq.solver.target import TargetResult

__all__ = ["Case", "CaseError", "MineqError", "NotEquilibrium", "SweepResult", "load_case", "solve", "verify", "compare", "sweep", "target", "write", "read", "formulation"]


class NotEquilibrium(MineqError):
    """Some market has no verified equilibrium.  ``dataset`` holds every
    figure anyway (a :class:`SweepResult` for a sweep), the failed markets
    marked in its ``status`` and ``message`` variables (what ``mineq
    solve`` writes before it exits non-zero)."""

    def __init__(self, message: str, dataset):
        super().__init__(message)
        self.dataset = dataset


class Case(_case.Case):
    """A validated case (:class:`mineq.solver.case.Case`) that derives
    changed copies of itself.

    ``markets`` (one :class:`mineq.models.market.Market` per mineral),
    ``scenarios``, ``regions`` and ``groups`` are as built from ``data``,
    the canonical case dictionary (the case file with every CSV table
    inline).  Treat them as read-only: change a case with the ``with_*``
    methods, each of which returns a new :class:`Case` validated like a
    case file and leaves this one as it was.  ``derived`` lists the changes
    made since the case was read; they travel in the stored inputs.
    """

    @classmethod
    def of(cls, case: _case.Case) -> "Case":
        """``case`` (built by :func:`mineq.solver.case.build_case`) as a :class:`Case`."""
        if isinstance(case, cls):
            return case
        return cls(**{f.name: getattr(case, f.name) for f in dataclasses.fields(_case.Case)})

    @property
    def derived(self) -> list[str]:
        """The changes made since the case was read, oldest first."""
        return list(self.data.get("_derived", []))

    def drift(self) -> list[str]:
        """Where the built objects no longer match the canonical data
        (empty if they match; :func:`mineq.solver.derive.drift`)."""
        return _derive.drift(self)

    def with_changes(self, edit: Callable[[dict], dict | None], note: str | None = None) -> "Case":
        """A new case made by ``edit`` from a deep copy of the canonical data.

        ``edit(data)`` changes the dictionary in place (or returns a new
        one).  ``data`` has the case-file layout: ``data["case"]``,
        ``data["groups"]``, ``data["minerals"]`` (each with ``nodes``,
        ``routes`` and ``processing`` lists, CSV rows included, curve keys
        nested as in TOML) and ``data["scenarios"]``.  Numbers are in the
        mineral's units.  ``note`` (default: the function's name) is
        recorded in :attr:`derived`.

        >>> cheap = case.with_changes(lambda d: d["minerals"][0].update(default_transport_cost=0.5))
        """
        return Case.of(_derive.derive(self, edit, note or f"with_changes({getattr(edit, '__name__', 'edit')})"))

    def with_curve(self, mineral: str, stage: str, region: str, side: str, drop: Iterable[str] = (), **keys: Any) -> "Case":
        """A new case with keys of one curve set, e.g. ``slope=2.0``.

        ``side`` is ``"demand"``, ``"supply"`` or ``"processing"`` (the
        cost curve of the process in ``region`` whose output stage is
        ``stage``).  Keys are those of the case file (``intercept``,
        ``slope``, ``price``, ``quantity``, ``elasticity``, ``capacity``,
        ``blocks``, ``form``...); ``drop`` removes keys first (to switch a
        linear curve from ``intercept``/``slope`` to a reference point).
        Prices in the mineral's price unit, quantities in its quantity unit.
        """
        drop = tuple(drop)
        note = f"with_curve({mineral!r}, {stage!r}, {region!r}, {side!r}, " + ", ".join([f"drop={drop!r}"] * bool(drop) + [f"{k}={v!r}" for k, v in keys.items()]) + ")"
        return Case.of(_derive.derive(self, lambda d: _derive.set_curve(d, mineral, stage, region, side, keys, drop), note))

    def with_elasticity(self, mineral: str, stage: str, region: str, side: str, value: float) -> "Case":
        """A new case with one curve's elasticity at its reference point set to ``value``.

        Demand elasticities are negative, supply elasticities positive.
        The curve must be given through a reference point (``price``,
        ``quantity``, ``elasticity``): a calibrated linear curve keeps the
        point and gets ``slope = |price / (value·quantity)|``; an isoelastic
        curve gets the new constant elasticity.
        """
        note = f"with_elasticity({mineral!r}, {stage!r}, {region!r}, {side!r}, {value!r})"
        return Case.of(_derive.derive(self, lambda d: _derive.set_elasticity(d, mineral, stage, region, side, value), note))

    def with_policy(self, scenario: str, policy: int | str | None = None, **keys: Any) -> "Case":
        """A new case with keys of policies of ``scenario`` set, e.g.
        ``ad_valorem=0.25`` or ``cap=10.0`` (case-file keys and units).

        ``policy`` is the policy's position in the scenario counted from 1
        (as in ``mineq sweep --set 1.level=...``), its type (every policy
        of that type), or None (every policy of the scenario that has the
        keys already).  A level key replaces the other level key.
        """
        note = f"with_policy({scenario!r}, {policy!r}, " + ", ".join(f"{k}={v!r}" for k, v in keys.items()) + ")"
        return Case.of(_derive.derive(self, lambda d: _derive.set_policy(d, scenario, policy, keys), note))

    def with_policy_level(self, scenario: str, policy: int | str | None = None, *, level: float | None = None, level_vs_baseline: float | None = None) -> "Case":
        """A new case in which the chosen policies of ``scenario`` have a new level.

        Exactly one of ``level`` (absolute, in the mineral's price unit,
        e.g. USD/kg) and ``level_vs_baseline`` (a factor times the
        baseline price at the policy's node; for a minimum import price the
        importer's).  ``policy`` as in :meth:`with_policy`; policies
        without a level (a tariff, a quota) are left alone.
        """
        note = f"with_policy_level({scenario!r}, {policy!r}, " + (f"level={level!r})" if level is not None else f"level_vs_baseline={level_vs_baseline!r})")
        return Case.of(_derive.derive(self, lambda d: _derive.set_policy_level(d, scenario, policy, level, level_vs_baseline), note))

    def with_scenario(self, name: str, policies: list[dict], description: str = "", replace: bool = False) -> "Case":
        """A new case with one more scenario (or ``name`` replaced, with ``replace``).

        ``policies`` are dictionaries written like ``[[scenarios.policies]]``
        entries of a case file, e.g. ``{"type": "tariff", "minerals":
        ["lithium"], "importers": ["USA"], "specific": 5.0}``.
        """
        note = f"with_scenario({name!r}, {len(policies)} policies{', replace=True' if replace else ''})"
        return Case.of(_derive.derive(self, lambda d: _derive.add_scenario(d, name, policies, description, replace), note))


def load_case(path: str | Path | None = None) -> Case:
    """Read and validate a case: a folder with ``case.toml``, or a ``.toml`` file.

    ``None`` loads the bundled 54-mineral case (what ``mineq solve`` with
    no CASE solves); a name that is not a path but names a bundled case
    (``"three-region-demo"``) loads that one.  Bad input raises
    :class:`CaseError` naming the file, the place, the field, the value and
    what was expected.
    """
    from mineq.solver.cli import bundled_case_path

    if path is None:
        path = bundled_case_path()
    elif not Path(path).exists():
        bundled = bundled_case_path().parent / str(path)
        if (bundled / "case.toml").is_file():
            path = bundled
    return Case.of(_case.load_case(path))


def _checked(case: _case.Case | str | Path | None) -> Case:
    """A case whose built objects are what its canonical data say (so
    what is solved is what a result stores), loaded first if a path."""
    c = case if isinstance(case, _case.Case) else load_case(case)
    stale = _derive.drift(c)
    if stale:
        raise MineqError(
            f"Case '{c.name}' was changed after it was built ({'; '.join(stale[:5])}); solving it would store inputs "
            "(case_json) other than those solved, and the result would fail mineq verify. Derive a changed case "
            "instead: case.with_policy_level(...), with_policy(...), with_elasticity(...), with_curve(...), "
            "with_scenario(...) or with_changes(...).")
    return Case.of(c)


def _failures(results) -> list:
    return [(sn, mn, r) for sn, sc in results.items() for mn, r in sc.items() if not r.ok]


def _raise_if_failed(results, ds, what: str) -> None:
    bad = _failures(results)
    if bad:
        lines = "; ".join(f"{sn}/{mn}: {r.message or r.status}" for sn, mn, r in bad[:5])
        more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
        raise NotEquilibrium(f"{len(bad)} {what} have no verified equilibrium: {lines}{more}. The figures are in this error's dataset, marked in its status variable.", ds)


def _raise_if_paths_failed(ds, carried, strict: bool) -> None:
    failed = ds.attrs.get("failed_paths", "")
    if strict and failed:
        raise NotEquilibrium(f"Not every path of the dynamic case reached its last year: {failed}. The figures are in this error's dataset (status 'not solved' after the year named).", carried)


def solve(case: _case.Case | str | Path | None, scenarios: Iterable[str] | str | None = None, *, threads: int | None = None, strict: bool = True) -> "xr.Dataset":
    """Solve the baseline and ``scenarios`` (default: all) of ``case``; as ``mineq solve``.

    ``case`` is a :class:`Case` (or a path, or None for the bundled case);
    ``scenarios=[]`` solves the baseline alone.  Returns the result
    Dataset (dimensions ``scenario, mineral, stage, region, origin,
    destination``; see README "Results"): every quantity, price and welfare
    figure, per-market ``status`` and ``max_residual``, and the inputs in
    ``attrs["case_json"]`` and ``attrs["input_hash"]``.  Non-existent
    combinations are NaN.  Diagnoses of ill-posed markets are in
    ``attrs["diagnoses"]``.  ``threads``: workers, as ``-j`` (default: the
    cores, at most 4); the numbers do not depend on it.

    With ``strict`` (default) a market without a verified equilibrium
    raises :class:`NotEquilibrium` (its ``dataset`` holds the figures);
    otherwise the Dataset is returned with ``attrs["all_equilibria"] == 0``.

    A dynamic case (a ``[dynamics]`` table) is solved over its years
    (:func:`mineq.solver.dynamic.solve_dynamic`): the Dataset has a
    ``year`` dimension, the capacity path, the fiscal cost per year and
    discounted; with ``strict``, a path that stops before the last year
    raises :class:`NotEquilibrium`.
    """
    from mineq.solver.results import to_dataset
    from mineq.solver.run import solve_case

    c = _checked(case)
    wanted = None if scenarios is None else [scenarios] if isinstance(scenarios, str) else list(scenarios)
    if c.dynamics is not None:
        from mineq.solver.dynamic import solve_dynamic

        for s in wanted or []:
            if s not in [x.name for x in c.scenarios]:
                raise MineqError(f"Scenario '{s}' is not in case '{c.name}'; its scenarios are: {', '.join(x.name for x in c.scenarios) or '(none)'}.")
        ds = solve_dynamic(c, c.dynamics, wanted, threads=threads)
        _raise_if_paths_failed(ds, ds, strict)
        return ds
    diagnoses: list = []
    results = solve_case(c, wanted, diagnoses=diagnoses, threads=threads)
    ds = to_dataset(c, results)
    ds.attrs["diagnoses"] = "\n".join(f"{sn}: {d}" for sn, d in diagnoses)
    if strict:
        _raise_if_failed(results, ds, "market(s)")
    return ds


def formulation(case: _case.Case | str | Path | None, mineral: str, scenario: str = "baseline"):
    """The labelled Pyomo model of one market (:mod:`mineq.models.formulation`)
    at its verified equilibrium under ``scenario``, in natural units.

    Variables hold the equilibrium's values (``m.flow["refined", "CHN",
    "USA"].value``, ``pyo.value(m.supply["refined", "USA"])``); the model
    can be changed and handed to any Pyomo solver.  Parameters that move
    during a solve (tangents of isoelastic curves, border wedges at the
    equilibrium prices) are at their final values, so re-solving it gives
    the same equilibrium.  A mineral mined jointly with others
    (``case.links``) is modelled with them: the model is the linked
    market's, its stages named ``"mineral:stage"``.
    """
    from mineq.models import formulation as _formulation
    from mineq.solver.run import member_results, mineral_plan
    from mineq.solver.solve import solve_market

    c = _checked(case)
    if mineral not in c.markets:
        raise MineqError(f"The case has no mineral '{mineral}'; it has {', '.join(c.markets)}.")
    if scenario != "baseline" and scenario not in [s.name for s in c.scenarios]:
        raise MineqError(f"The case has no scenario '{scenario}'; it has baseline, {', '.join(s.name for s in c.scenarios)}.")
    link = c.link_of(mineral)
    market = link.market if link is not None else c.markets[mineral]
    res = solve_market(market)
    if scenario != "baseline":
        if link is not None:
            base = member_results(link, res, {})
            plan = link.plan({m: mineral_plan(c, scenario, m, base[m].solution) for m in link.members})
        else:
            plan = mineral_plan(c, scenario, mineral, res.solution)
        if plan is not None:
            res = solve_market(plan.market, plan=plan, start=res.solution)
    if not res.ok:
        raise MineqError(f"{mineral} under {scenario}: no verified equilibrium ({res.message}).")
    m = _formulation.build(res.model.market, res.model.plan, res.model.state())
    _formulation.load(m, res.model)
    return m


@dataclass
class SweepResult:
    """What :func:`sweep` returns: the points along ``sweep`` and their baseline.

    ``points`` has the dimension ``sweep`` (coordinate: the swept values;
    ``point_scenario`` names each point's scenario) instead of
    ``scenario``; its ``_change`` variables are against ``baseline``, a
    one-scenario Dataset.  ``mineq sweep`` writes the two as one NetCDF
    file (the baseline in the group ``baseline``): so does :func:`write`.
    """

    points: "xr.Dataset"
    baseline: "xr.Dataset"

    def dataset(self) -> "xr.Dataset":
        """Baseline and points in scenario form (one scenario per point),
        as :func:`read` returns a sweep file."""
        from mineq.solver.sweep import scenario_form

        return scenario_form(self.points, self.baseline)


def sweep(case: _case.Case | str | Path | None, scenario: str, key: str, values: str | Iterable[float], *, minerals: Iterable[str] | None = None, threads: int | None = None, strict: bool = True) -> SweepResult:
    """Solve ``scenario`` at each of ``values`` of one policy key; as ``mineq sweep``.

    ``key`` is ``[POLICY.]KEY`` (``level``, ``1.level``,
    ``tariff.ad_valorem``; POLICY is a position counted from 1 or a type;
    without it every policy of the scenario with KEY is swept together).
    ``values`` is ``"START:STOP:N"`` (N evenly spaced, both ends included)
    or a list of numbers, in the key's own unit (a level: the mineral's
    price unit).  ``minerals`` restricts the solve.  Each mineral's program
    is re-solved from point to point; every point is verified
    (``strict``: as in :func:`solve`).

    On a dynamic case each value is a path over the years
    (:func:`mineq.solver.sweep.sweep_dynamic`): ``points`` and
    ``baseline`` have a ``year`` dimension, and ``points`` holds each
    value's ``fiscal_cost_discounted``, ``last_binding_year`` and
    ``built_outside_china``.
    """
    from mineq.solver.processes import forking
    from mineq.solver.results import to_dataset
    from mineq.solver.run import default_threads
    from mineq.solver.sweep import parse_set, sweep_case, sweep_dataset

    c = _checked(case)
    spec = values if isinstance(values, str) else ",".join(repr(float(v)) for v in values)
    swept = parse_set(f"{key}={spec}", c, scenario)
    minerals = None if minerals is None else list(minerals)
    for mn in minerals or []:
        if mn not in c.markets:
            raise MineqError(f"'{mn}' is not a mineral of case '{c.name}' ({', '.join(list(c.markets)[:8])}, ...).")
    if c.dynamics is not None:
        from mineq.solver.sweep import sweep_dynamic

        _, ds = sweep_dynamic(c, swept, minerals=minerals, threads=threads)
        pts, base = sweep_dataset(ds, swept)
        out = SweepResult(pts, base)
        _raise_if_paths_failed(ds, out, strict)
        return out
    # as the command line: processes where they can fork, else one thread
    # (a sweep's re-solves hold the GIL, so threads only slow it down)
    pcase, results = sweep_case(c, swept, minerals=minerals, threads=threads or (default_threads() if forking() else 1))
    ds = to_dataset(pcase, results)
    pts, base = sweep_dataset(ds, swept)
    out = SweepResult(pts, base)
    if strict:
        _raise_if_failed(results, out, "point(s)")
    return out


def target(case: _case.Case | str | Path | None, scenario: str, param: str, indicator: str, value: float | None = None, bounds: tuple[float, float] | None = None, *, points: int = 9, tol: float | None = None, maximize: bool = False, year: int | None = None) -> "TargetResult":
    """The level of ``param`` at which ``indicator`` equals ``value``; as ``mineq target``.

    With ``maximize=True`` (and no ``value``): the level that maximises
    ``indicator`` instead, as ``mineq target --maximize``
    (:func:`mineq.solver.target.find_maximum`; ``tol`` is then the width
    of the level's bracket) — e.g. the export tax a strategic exporter
    would choose, ``indicator = "producer_government_change[CHN,antimony]"``.

    ``param`` is ``[POLICY.]KEY`` as in :func:`sweep`; ``indicator`` one
    number such as ``"price[USA,lithium]"`` or
    ``"net_import_reliance[USA,lithium]"`` (README "Indicators"), in the
    indicator's own unit.  ``bounds`` = (low, high) levels to search
    (default: 0.5 to 2 times the scenario's own value).  Returns a
    :class:`mineq.solver.target.TargetResult`: ``reached``, ``level``,
    ``value`` (the indicator there), ``residual`` (the verifier's largest
    scaled residual), ``monotone``, ``evaluations`` [(level, value)];
    when the target is out of reach, ``reached`` is False, ``level`` the
    closest grid point and ``message`` says so.  To keep the equilibrium
    at the level found, solve ``case.with_policy_level(...)`` or
    ``case.with_policy(...)`` at it.

    On a dynamic case each level is a path over the years and ``year``
    picks the year the indicator is read in (none for totals over the
    years such as ``fiscal_cost_discounted``); ``result.dataset`` holds
    the paths at the level found.
    """
    from mineq.solver.target import default_range, find_level, find_maximum

    if (value is None) != maximize:
        raise MineqError("target: give exactly one of value (the indicator's target) or maximize=True.")
    c = _checked(case)
    lo, hi = bounds if bounds is not None else default_range(c, scenario, param)
    if maximize:
        return find_maximum(c, scenario, param, indicator, float(lo), float(hi), points=points, xtol=tol, year=year)
    return find_level(c, scenario, param, indicator, value, float(lo), float(hi), points=points, tol=tol, year=year)


def read(path: str | Path) -> "xr.Dataset":
    """A result file (NetCDF) as a Dataset, loaded into memory; a sweep
    file in scenario form (baseline and one scenario per point)."""
    from mineq.solver.run import open_results

    return open_results(path)


def _dataset(results) -> "xr.Dataset":
    if isinstance(results, SweepResult):
        return results.dataset()
    if isinstance(results, (str, Path)):
        return read(results)
    if "sweep" in results.dims:
        raise MineqError("This Dataset is a sweep's points (dimension 'sweep') without its baseline; pass the SweepResult that sweep() returned, or its .dataset().")
    from mineq.solver.results import unpack_routes

    return unpack_routes(results)  # a file opened with xarray: routes along 'route'



def verify(results, tol: float = TOLERANCE) -> "xr.Dataset":
    """Recompute every equilibrium condition; as ``mineq verify``.

    ``results`` is a result Dataset, a :class:`SweepResult` or the path of
    a result file.  Only the primal quantities and prices and the inputs
    stored in ``attrs["case_json"]`` are used, never the solver.  Returns
    a Dataset of dimensionless scaled residuals (quantities over the
    market's quantity scale, prices over its price scale):
    ``residual(scenario, mineral, condition)`` the largest residual of each
    condition (NaN where a market has no such condition),
    ``max_residual(scenario, mineral)``, ``ok(scenario, mineral)``
    (``max_residual <= tol``), and attributes ``tolerance``, ``all_ok``
    (1 or 0) and ``failures`` (the worst residuals of each failed market,
    one line each, as ``mineq verify`` prints them).
    """
    import numpy as np
    import xarray as xr

    from mineq.solver.run import verify_dataset, verify_file

    if isinstance(results, (str, Path)):
        report = verify_file(results, tol)
    else:
        report = verify_dataset(_dataset(results), tol)
    scen = list(dict.fromkeys(sn for sn, _, _ in report))
    mins = list(dict.fromkeys(mn for _, mn, _ in report))
    conds = list(dict.fromkeys(c for _, _, v in report for c in v.residuals))
    res = np.full((len(scen), len(mins), len(conds)), np.nan)
    worst = np.full((len(scen), len(mins)), np.nan)
    ok = np.zeros((len(scen), len(mins)), dtype=bool)
    lines = []
    for sn, mn, v in report:
        i, j = scen.index(sn), mins.index(mn)
        for c, vals in v.residuals.items():
            # an empty condition (no routes) holds trivially: 0, not NaN
            res[i, j, conds.index(c)] = float(np.max(vals)) if np.size(vals) else 0.0
        worst[i, j], ok[i, j] = v.max_residual, v.ok
        if not v.ok:
            where = "; ".join(f"{name} at {w}: {val:.2e}" for val, name, w in v.worst(3))
            lines.append(f"FAIL {sn}/{mn}: largest residual {v.max_residual:.2e} > {tol:g} ({where})")
    unit = "dimensionless (scaled residual)"
    return xr.Dataset(
        {
            "residual": (("scenario", "mineral", "condition"), res, {"units": unit}),
            "max_residual": (("scenario", "mineral"), worst, {"units": unit}),
            "ok": (("scenario", "mineral"), ok),
        },
        coords={"scenario": scen, "mineral": mins, "condition": conds},
        attrs={"tolerance": tol, "all_ok": int(bool(ok.all())), "failures": "\n".join(lines)},
    )


def compare(results, baseline: str = "baseline", scenarios: Iterable[str] | None = None) -> "dict[str, pd.DataFrame]":
    """What each scenario changes against ``baseline``; as ``mineq compare --format xlsx``.

    ``results``: a result Dataset, a :class:`SweepResult` or a path.
    Returns tidy pandas tables indexed by (mineral, stage, region) or
    (mineral, region): ``"nodes"``, each node variable before and after
    (price, producer price, supply, demand, production, processing,
    imports, exports, net import reliance) and ``price change %``; and
    ``"welfare_change"``, every welfare item's change by region (money in
    million units of one currency, ``consumer_surplus_change [million USD]``,
    where every mineral's price unit x quantity unit converts to it, else
    in each mineral's own units; positive: the group gains).  Each table has
    a ``scenario`` column and the mineral's ``price_unit`` and
    ``quantity_unit``.
    """
    from mineq.solver.results import change_tables

    ds = _dataset(results)
    names = ds.scenario.values.tolist()
    chosen = list(scenarios) if scenarios is not None else [s for s in names if s != baseline]
    for s in (baseline, *chosen):
        if s not in names:
            raise MineqError(f"Scenario '{s}' is not in the results; they hold: {', '.join(names)}.")
    return change_tables(ds, chosen, baseline)


def write(results, path: str | Path, *, format: str = "netcdf", force: bool = False) -> Path:
    """Write results atomically; as ``mineq solve --out``.

    ``results`` is a Dataset from :func:`solve` or a :class:`SweepResult`
    (written as ``mineq sweep`` writes it: points, baseline in the group
    ``baseline``).  ``format``: ``"netcdf"`` (everything; what
    :func:`verify` and ``mineq verify``, ``compare`` and ``report`` read),
    ``"csv"`` (a folder of tidy tables) or ``"xlsx"``.  An existing
    ``path`` is replaced only with ``force``.  Returns the path written.
    """
    from mineq.solver.results import write as _write

    if isinstance(results, SweepResult):
        return _write(results.points, path, fmt=format, force=force, groups={"baseline": results.baseline})
    return _write(results, path, fmt=format, force=force)
