"""The labelled formulation (models/formulation.py) is the program mineq
solves: coefficient by coefficient on every market and scenario of the
bundled case, and as a model any Pyomo solver can take."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mineq.api import formulation as api_formulation
from mineq.api import load_case
from mineq.models import formulation
from mineq.solver.run import member_results, mineral_plan
from mineq.solver.solve import solve_market

ROOT = Path(__file__).resolve().parents[1]


def _programs(case):
    """(label, solved MarketResult) of every market and scenario: linked
    markets whole, other minerals alone; a scenario that touches nothing
    of a market is its baseline."""
    done: set[str] = set()
    for unit, link in case.links.items():
        res = solve_market(link.market)
        yield unit, res
        base = member_results(link, res, {})
        done |= set(link.members)
        for sc in case.scenarios:
            plan = link.plan({m: mineral_plan(case, sc.name, m, base[m].solution) for m in link.members})
            if plan is not None:
                yield f"{unit} {sc.name}", solve_market(plan.market, plan=plan, start=res.solution)
    for mineral, mk in case.markets.items():
        if mineral in done:
            continue
        res = solve_market(mk)
        yield mineral, res
        for sc in case.scenarios:
            plan = mineral_plan(case, sc.name, mineral, res.solution)
            if plan is not None:
                yield f"{mineral} {sc.name}", solve_market(mk, plan=plan, start=res.solution)


def test_bundled_case_programs_are_the_labelled_model():
    """Every program of the bundled case at its solved state (tangents,
    frozen wedges, credits as the fixed point left them) is the labelled
    model: same columns, rows, bounds, right-hand sides, costs and
    Hessian, each fast row a positive multiple of its labelled row
    (formulation.differences; every market under each scenario that
    touches it, every instrument the case
    uses, linked rare earths, strategic sellers)."""
    case = load_case()
    seen = 0
    groups: set[str] = set()
    for label, res in _programs(case):
        assert res.ok, (label, res.message)
        m = formulation.build(res.model.market, res.model.plan, res.model.state())
        assert formulation.differences(m, res.model) == [], label
        groups |= {g for g, _ in res.model.row_keys()}
        seen += 1
    # 245 programs with the linked groups of 2026-12-05 (each group one
    # program per scenario instead of one per member)
    assert seen > 230
    assert {"balance", "floor", "credit", "quota", "origin", "seller"} <= groups


def test_labelled_model_solved_by_pyomo_gives_the_equilibrium():
    """Handed to HiGHS through Pyomo (no mineq machinery), the labelled
    model of the demo's two-stage rare earths under China's export ban
    (a quota row) has the same optimum: flows, supplies and processing equal mineq's
    verified equilibrium.  (Under a binding minimum import price tied
    routes may split differently; the optimum's value is the same.)"""
    import pyomo.environ as pyo
    from pyomo.contrib.solver.common.factory import SolverFactory

    m = api_formulation(ROOT / "cases" / "three-region-demo", "rare_earths", "china-ban")
    value = pyo.value(m.welfare)
    want = {v.name: v.value for v in m.component_data_objects(pyo.Var)}
    for v in m.component_data_objects(pyo.Var):
        v.set_value(None)
    # HiGHS regularises a QP (1e-7 by default): smaller for a closer optimum
    SolverFactory("highs").solve(m, solver_options={"qp_regularization_value": 1e-11})
    got = {v.name: v.value for v in m.component_data_objects(pyo.Var)}
    assert want.keys() == got.keys()
    scale = max(abs(x) for x in want.values())
    for k in want:
        assert got[k] == pytest.approx(want[k], abs=1e-6 * scale), k
    assert pyo.value(m.welfare) == pytest.approx(value, rel=1e-9)
    assert len(m.quota) == 1


def test_api_formulation_names_what_it_cannot_find():
    from mineq.api import MineqError

    with pytest.raises(MineqError, match="no mineral 'unobtainium'"):
        api_formulation(ROOT / "cases" / "three-region-demo", "unobtainium")
    with pytest.raises(MineqError, match="no scenario 'nope'"):
        api_formulation(ROOT / "cases" / "three-region-demo", "lithium", "nope")


def test_differences_finds_a_changed_coefficient():
    """The identity check can fail: a labelled model with one route cost
    changed differs from the program in exactly that column's cost."""
    case = load_case(ROOT / "cases" / "three-region-demo")
    res = solve_market(case.markets["lithium"])
    m = formulation.build(res.model.market, None, res.model.state())
    assert formulation.differences(m, res.model) == []
    r = next(iter(m.ROUTES))
    m.route_cost[r] = m.route_cost[r].value + 1.0
    diff = formulation.differences(m, res.model)
    assert len(diff) == 1 and "flow" in diff[0] and "objective" in diff[0]
    assert np.isfinite(len(diff))
