"""Route generation (models/routes.py) is exact: a market with many routes,
solved on a few at a time, has the equilibrium of its whole program.

Property: for random dense markets (every ordered pair of 23-26 regions a
route, 506-650 routes, at or past ``MIN_ROUTES``; a few routes free),
the generated solve is verified and has the prices and quantities of
HiGHS on the whole program (both polished).  A closed-form
market checks that a profitable route the first restriction leaves out
comes back.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mineq.models.routes
from mineq.models.program import MarketModel
from mineq.solver.case import build_case
from mineq.solver.verify import verify

from helpers import case_dict, mineral, random_linear_market

def _whole(solve):
    """``solve()`` with route generation off: HiGHS on the whole program."""
    old = mineq.models.routes.MIN_ROUTES
    mineq.models.routes.MIN_ROUTES = 10**9
    try:
        return solve()
    finally:
        mineq.models.routes.MIN_ROUTES = old


@st.composite
def dense_market(draw):
    n = draw(st.integers(23, 26))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    # a few routes cost nothing: ties between origins, which a restricted
    # program must not settle differently from the whole one
    regions, m = random_linear_market(n, rng, price=(60.0, 140.0), cost=(1.0, 30.0), free_share=0.05)
    return build_case(case_dict(regions, [m])).markets["m"]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dense_market())
def test_route_generation_is_exact(mk):
    assert len(mk.route_list) >= mineq.models.routes.MIN_ROUTES
    gen = MarketModel(mk)
    sol, _ = gen.solve()
    assert gen.ran_highs and len(gen.highs_columns) < gen._ncol  # generation was used
    ver = verify(mk, sol)
    assert ver.ok, ver.worst(3)
    whole = MarketModel(mk)
    ref, _ = _whole(whole.solve)
    assert whole.route_rounds == 1 and len(whole.highs_columns) == whole._ncol
    assert verify(mk, ref).ok
    scale = mk.price_scale
    np.testing.assert_allclose(sol.price, ref.price, rtol=0, atol=1e-7 * scale)
    np.testing.assert_allclose(sol.supply, ref.supply, rtol=0, atol=1e-7 * mk.quantity_scale)
    np.testing.assert_allclose(sol.demand, ref.demand, rtol=0, atol=1e-7 * mk.quantity_scale)


def test_profitable_left_out_route_returns():
    """Closed form: two cheap routes into B are in the first restriction,
    the cheapest origin is far (cost order) but it is the only one with
    cheap supply; the equilibrium must use it."""
    n = 24
    regions = [f"R{i:02d}" for i in range(n)]
    nodes = [{"stage": "refined", "region": r, "demand": {"form": "linear", "intercept": 100.0, "slope": 1.0}} for r in regions]
    # only R00 can produce, at marginal cost 10 + S
    nodes[0]["supply"] = {"form": "linear", "intercept": 10.0, "slope": 1.0}
    for k in range(1, n):
        nodes[k]["supply"] = {"form": "linear", "intercept": 200.0, "slope": 1.0, "capacity": 1.0}
    routes = []
    for i, a in enumerate(regions):
        for j, b in enumerate(regions):
            if a != b:
                # R00's routes are the dearest, so no first restriction holds them
                routes.append({"stage": "refined", "origin": a, "destination": b, "cost": 20.0 if i == 0 else float(1 + (7 * i + 3 * j) % 5)})
    mk = build_case(case_dict(regions, [mineral(nodes=nodes, routes=routes)])).markets["m"]
    gen = MarketModel(mk)
    sol, _ = gen.solve()
    assert gen.route_rounds >= 2
    assert verify(mk, sol).ok
    # closed form: price at R00 is p, elsewhere p + 20; R00 supplies all:
    # S = p - 10 = (100 - p) + 23 (100 - (p + 20))  =>  p = 78
    p = (10 + 100 + 23 * 80) / 25
    assert sol.price[mk.node_index("refined", "R00")] == pytest.approx(p, rel=1e-9)
    for r in regions[1:]:
        assert sol.price[mk.node_index("refined", r)] == pytest.approx(p + 20, rel=1e-9)
    assert sol.supply[mk.node_index("refined", "R00")] == pytest.approx(p - 10, rel=1e-9)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dense_market(), st.sampled_from(["mip", "quota", "floor", "export ban"]))
def test_route_generation_with_policies(mk, which):
    """Scenario programs (wedges, quota rows, floor rows, a closed route set)
    on a many-route market: the full solve loop with route generation
    reaches the verified equilibrium the whole program gives."""
    from mineq.models.policies import build_plan
    from mineq.solver.solve import solve_market

    regions = list(mk.regions)
    policy = {
        "mip": {"type": "minimum_import_price", "importers": regions[0], "level_vs_baseline": 1.1},
        "quota": {"type": "import_quota", "importers": regions[0], "quantity": 1.0},
        "floor": {"type": "price_floor", "mechanism": "deficiency_payment", "regions": regions[1], "level_vs_baseline": 1.2},
        "export ban": {"type": "export_quota", "exporters": regions[2], "quantity": 0.0},
    }[which]
    base = solve_market(mk)
    assert base.ok
    data = case_dict(regions, [], scenarios=[{"name": "s", "policies": [dict(policy, minerals=["m"])]}])
    data["minerals"] = [mineral(nodes=[], routes=[])]  # only the scenario is read from this case
    insts = build_case(data).scenarios[0].instruments
    plan = build_plan(mk, insts, base.solution)
    gen = solve_market(mk, plan=plan, start=base.solution)
    assert gen.ok, gen.message
    assert len(gen.model.highs_columns) < gen.model._ncol  # generation was used
    whole = _whole(lambda: solve_market(mk, plan=plan, start=base.solution))
    assert whole.ok, whole.message
    assert len(whole.model.highs_columns) == whole.model._ncol
    np.testing.assert_allclose(gen.solution.price, whole.solution.price, rtol=0, atol=1e-6 * mk.price_scale)
    np.testing.assert_allclose(gen.solution.supply, whole.solution.supply, rtol=0, atol=1e-6 * mk.quantity_scale)


def test_route_generation_on_a_calibrated_market():
    """Transport costs equal to the gaps between the regions' reference
    prices (as in the bundled case's calibration): every route into a
    dearer region costs exactly the price gap, so two-leg paths tie with
    direct routes everywhere; route generation must reach the verified
    equilibrium and the prices of the whole program."""
    regions, m = random_linear_market(30, np.random.default_rng(1))
    price = {n["region"]: n["supply"]["price"] for n in m["nodes"]}
    for r in m["routes"]:
        gap = price[r["destination"]] - price[r["origin"]]
        r["cost"] = gap if gap > 0 else 5.0 - gap
    mk = build_case(case_dict(regions, [m])).markets["m"]
    gen = MarketModel(mk)
    sol, _ = gen.solve()
    assert gen.route_rounds >= 1 and verify(mk, sol).ok
    ref, _ = _whole(MarketModel(mk).solve)
    np.testing.assert_allclose(sol.price, ref.price, rtol=1e-9)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**31 - 1))
def test_route_generation_with_rising_route_costs(seed):
    """Routes with a marginal cost t + s·X (a Hessian entry per flow):
    generation adds their columns with their quadratic terms, and ends at
    the whole program's optimum.  The program is strictly concave in the
    flows, so the flows themselves (not only prices) are unique."""
    rng = np.random.default_rng(seed)
    regions, m = random_linear_market(24, rng, price=(60.0, 140.0), cost=(1.0, 30.0))
    for r in m["routes"]:
        r["slope"] = float(rng.uniform(0.01, 1.0))
    mk = build_case(case_dict(regions, [m])).markets["m"]
    gen = MarketModel(mk)
    sol, _ = gen.solve()
    assert gen.ran_highs and len(gen.highs_columns) < gen._ncol
    assert verify(mk, sol).ok
    whole = MarketModel(mk)
    ref, _ = _whole(whole.solve)
    assert verify(mk, ref).ok
    np.testing.assert_allclose(sol.price, ref.price, rtol=0, atol=1e-7 * mk.price_scale)
    np.testing.assert_allclose(sol.flow, ref.flow, rtol=0, atol=1e-7 * mk.quantity_scale)
