"""Routes whose marginal cost rises with the flow, ``t + s·X``: the
quadratic route terms that calibrate a spatial model to observed bilateral
flows (Paris, Drogué & Anania 2011; Jansson & Heckelei 2009)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import case_dict, flow_value, lin, mineral, node_value, solve_one
from mineq.solver.case import build_case
from mineq.solver.errors import CaseError
from mineq.solver.solve import solve_market
from mineq.solver.statistics import objective, welfare
from mineq.solver.verify import verify

R = "refined"


def two_regions(slope):
    return mineral(
        nodes=[
            {"stage": R, "region": "A", "supply": lin(10, 1), "demand": lin(100, 1)},
            {"stage": R, "region": "B", "supply": lin(40, 1), "demand": lin(160, 1)},
        ],
        routes=[{"origin": "A", "destination": "B", "cost": 10.0, "slope": slope}],
    )


def test_rising_route_cost_closed_form():
    """A: supply 10 + S, demand 100 - D; B: supply 40 + S, demand 160 - D;
    route A->B with marginal cost 10 + 1·X.

    In A: X = S_A - D_A = (P_A - 10) - (100 - P_A), so P_A = (110 + X)/2.
    In B: X = D_B - S_B = (160 - P_B) - (P_B - 40), so P_B = (200 - X)/2.
    Arbitrage with a used route: P_B = P_A + 10 + X, hence
    200 - X = 110 + X + 20 + 2X, X = 17.5, P_A = 63.75, P_B = 91.25
    (with a constant cost of 10 the flow is 35: the slope halves it).
    The route's traders keep the inframarginal margin ½·1·17.5² = 153.125,
    credited to B; total welfare equals the program's objective.
    """
    mk, res = solve_one(["A", "B"], two_regions(1.0))
    s = res.solution
    assert res.ok
    assert flow_value(mk, s, R, "A", "B") == pytest.approx(17.5, rel=1e-9)
    assert node_value(mk, s.price, R, "A") == pytest.approx(63.75, rel=1e-9)
    assert node_value(mk, s.price, R, "B") == pytest.approx(91.25, rel=1e-9)
    w = welfare(mk, s)
    assert w["trade_margin_rent"].tolist() == pytest.approx([0.0, 153.125], rel=1e-9)
    assert float(w["total_welfare"].sum()) == pytest.approx(objective(mk, s), rel=1e-12)


def test_verifier_holds_the_rising_cost():
    """The equilibrium with a constant cost (X = 35, P_A = 72.5, P_B = 82.5)
    is not one with the rising cost: landed 72.5 + 10 + 35 = 117.5 exceeds
    82.5 on a used route, and the verifier must say so."""
    mk, res = solve_one(["A", "B"], two_regions(1.0))
    s = res.solution
    wrong = type(s)(**{**s.__dict__})
    wrong.price = s.price.copy()
    wrong.flow = np.array([35.0])
    wrong.price[mk.node_index(R, "A")] = 72.5
    wrong.price[mk.node_index(R, "B")] = 82.5
    wrong.supply = s.supply.copy()
    wrong.demand = s.demand.copy()
    wrong.supply[mk.node_index(R, "A")], wrong.demand[mk.node_index(R, "A")] = 62.5, 27.5
    wrong.supply[mk.node_index(R, "B")], wrong.demand[mk.node_index(R, "B")] = 42.5, 77.5
    assert verify(mk, res.solution).ok
    v = verify(mk, wrong)
    assert not v.ok
    assert v.residuals["arbitrage"].max() > 0.1


def test_slope_is_validated():
    for bad in (-1.0, math.inf, "x", True):
        with pytest.raises(CaseError, match="slope"):
            build_case(case_dict(["A", "B"], [two_regions(bad)]))


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    delta=st.floats(0.01, 5.0),
)
def test_flows_move_smoothly_with_costs(seed, delta):
    """Every slope (supply, demand and route) is at least mu = 0.5, so the
    welfare program is mu-strongly concave in the vector of all
    quantities (in natural units), and its maximiser moves by at most
    |Δc|/mu when one linear cost coefficient moves by Δc (the solution map
    of a strongly convex program over a fixed polyhedron is 1/mu-Lipschitz
    in its linear term).  Raising one route's cost by delta therefore
    moves supplies, demands and flows together by at most delta/0.5 in
    Euclidean norm: no origin flips from nothing to everything."""
    rng = np.random.default_rng(seed)
    regions = ["A", "B", "C"]
    nodes = [{"stage": R, "region": r, "supply": lin(rng.uniform(5, 40), rng.uniform(0.5, 2)), "demand": lin(rng.uniform(80, 160), rng.uniform(0.5, 2))} for r in regions]
    routes = [{"origin": o, "destination": d, "cost": float(rng.uniform(1, 15)), "slope": float(rng.uniform(0.5, 2))} for o in regions for d in regions if o != d]
    base = build_case(case_dict(regions, [mineral(nodes=nodes, routes=routes)]))
    k = int(rng.integers(len(routes)))
    routes2 = [dict(r) for r in routes]
    routes2[k]["cost"] += delta
    moved = build_case(case_dict(regions, [mineral(nodes=nodes, routes=routes2)]))
    a = solve_market(next(iter(base.markets.values())))
    b = solve_market(next(iter(moved.markets.values())))
    assert a.ok and b.ok
    va = np.concatenate([a.solution.supply[:3], a.solution.demand[:3], a.solution.flow])
    vb = np.concatenate([b.solution.supply[:3], b.solution.demand[:3], b.solution.flow])
    assert np.linalg.norm(va - vb) <= delta / 0.5 * (1 + 1e-6) + 1e-7
