"""A large cold program starts from its piecewise-linear twin's optimum
(models/lp_start.py), and ends at the optimum HiGHS reaches cold.

Closed form: a block ``c·z + ½·h·z²`` on ``[0, X]`` becomes ``k`` pieces of
width ``w = X/k`` costing ``c + h·(i + ½)·w`` each; filling the first ``j``
costs ``Σ_{i<j} (c + h·(i+½)·w)·w = c·(jw) + ½·h·(jw)²``, the block's own
cost at the breakpoint ``jw``.

Property: random dense markets (23-26 regions, every ordered pair a
route), solved with the linear start (its route threshold lowered to
zero) and cold: both verified, the same prices and quantities; the
start was used.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mineq.models import lp_start
from mineq.models.active_set import QP
from mineq.models.program import MarketModel
from mineq.models.speed import plain_path
from mineq.solver.case import build_case
from mineq.solver.verify import verify

from helpers import case_dict, mineral, random_linear_market
from test_routes import dense_market  # 23-26 regions, every ordered pair a route


def test_pieces_cost_the_block_at_their_breakpoints():
    c, h, X = np.array([3.0, -40.0]), np.array([0.5, 2.0]), np.array([8.0, np.inf])
    qp = QP(np.array([[1.0, -1.0]]), c, np.zeros(2), np.array([X[0], np.inf]), np.zeros(1), np.zeros(1), h, 1.0)
    lp, src, _ = lp_start._linearised(qp, np.arange(2), c, h)
    k = lp_start.PIECES
    assert list(src) == [0] * k + [1] * k  # no linear column, k pieces each
    for b in range(2):
        cost, up = lp.c[src == b], lp.up[src == b]
        # the unbounded demand block reaches past the price 2·|c|+1 = 81:
        # its marginal value 40 - 2z is then below -81, z = 60.5
        reach = X[0] if b == 0 else (2 * 40 + 1 + 40) / 2.0
        w = reach / k
        np.testing.assert_allclose(up[:-1], w, rtol=1e-15)
        for j in range(k + 1):
            assert cost[:j].sum() * w == pytest.approx(c[b] * j * w + 0.5 * h[b] * (j * w) ** 2, rel=1e-12, abs=1e-12)
        assert np.all(np.diff(cost) > 0)  # convex: pieces fill in order
    assert up[-1] == np.inf  # the unbounded block's last piece goes on


@given(st.floats(-50, 50), st.floats(0.01, 5), st.floats(0, 100), st.floats(0.01, 10))
def test_pieces_of_a_window_cost_the_block_from_its_start(c, h, a, w):
    """The refined twin's pieces over ``[a, a + k·w]`` (lp_start._pieces):
    the first holds ``a`` itself, each is ``w`` wide, and the first j of
    them cost ``C(a + j·w) − C(a)`` for the block's ``C(z) = c·z + ½·h·z²``
    (exact at every breakpoint); an open end goes on without limit."""
    k = lp_start.PIECES
    for open_end in (False, True):
        cost, lo, up = lp_start._pieces(np.array([c]), np.array([h]), np.array([a]), np.array([w]), np.array([open_end]))
        assert lo[0] == a and np.all(lo[1:] == 0.0)
        np.testing.assert_allclose(up[:-1] - lo[:-1], w, rtol=1e-12)
        assert (up[-1] == np.inf) == open_end
        C = lambda z: c * z + 0.5 * h * z * z  # noqa: E731
        for j in range(k + 1):
            assert cost[:j].sum() * w == pytest.approx(C(a + j * w) - C(a), rel=1e-9, abs=1e-9 * (1 + abs(C(a))))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(dense_market(), st.sampled_from([0, 1]))
def test_linear_start_reaches_the_cold_optimum(monkeypatch, mk, refine):
    """From the twin solved once or refined over a window (REFINE), the
    hot-started QP reaches the cold optimum."""
    monkeypatch.setattr(lp_start, "MIN_ROUTES", 0)
    monkeypatch.setattr(lp_start, "REFINE", refine)
    fast = MarketModel(mk)
    sol, _ = fast.solve()
    assert fast.hot_started  # HiGHS ran from the linear program's basis
    assert verify(mk, sol).ok
    monkeypatch.setattr(lp_start, "MIN_ROUTES", 10**9)
    cold = MarketModel(mk)
    ref, _ = cold.solve()
    assert not cold.hot_started and verify(mk, ref).ok
    np.testing.assert_allclose(sol.price, ref.price, rtol=0, atol=1e-7 * mk.price_scale)
    np.testing.assert_allclose(sol.supply, ref.supply, rtol=0, atol=1e-7 * mk.quantity_scale)
    np.testing.assert_allclose(sol.demand, ref.demand, rtol=0, atol=1e-7 * mk.quantity_scale)
    assert sol.objective == pytest.approx(ref.objective, rel=1e-9)


def test_plain_path_starts_cold(monkeypatch):
    monkeypatch.setattr(lp_start, "MIN_ROUTES", 0)
    regions, m = random_linear_market(24, np.random.default_rng(5), price=(60.0, 140.0), cost=(1.0, 30.0))
    mk = build_case(case_dict(regions, [m])).markets["m"]
    with plain_path():
        model = MarketModel(mk)
        sol, _ = model.solve()
    assert not model.hot_started and verify(mk, sol).ok


def test_no_quadratic_block_no_linear_start():
    """A step supply and a fixed demand (no quadratic term): the program
    is already a linear program, and there is nothing to start from."""
    regions = ["A", "B"]
    nodes = [
        {"stage": "refined", "region": "A", "supply": {"form": "steps", "blocks": [[10.0, 5.0], [10.0, 8.0]]}},
        {"stage": "refined", "region": "B", "demand": {"form": "fixed", "quantity": 12.0}},
    ]
    mk = build_case(case_dict(regions, [mineral(nodes=nodes, routes=[{"stage": "refined", "origin": "A", "destination": "B", "cost": 1.0}])])).markets["m"]
    assert lp_start.start(MarketModel(mk)) is None


def test_routes_near_profit_at_the_twin_start_too(monkeypatch):
    """Route generation starts with the routes the linear program uses and
    with those whose reduced cost there is below ``NEAR``: exactly those
    (the cheapest per node are not added), and the optimum is the cold
    one's."""
    from mineq.models import hot_start

    monkeypatch.setattr(lp_start, "MIN_ROUTES", 0)
    regions, m = random_linear_market(24, np.random.default_rng(3), price=(60.0, 140.0), cost=(1.0, 30.0))
    mk = build_case(case_dict(regions, [m])).markets["m"]
    model = MarketModel(mk)
    start = lp_start.start(model)
    assert start is not None and start.near is not None and not start.cheapest
    flows = model._ix["x"]
    near = start.near[flows]
    used = (start.col_status[flows] != hot_start.LOWER) | (start.value[flows] != 0.0)
    assert (near & ~used).any()  # some routes start that the linear program leaves at zero
    assert np.array_equal(hot_start.routes_used(model, start), used | near)
    sol, _ = model.solve()
    assert model.hot_started and verify(mk, sol).ok
    seeded = flows[used | near]
    assert np.isin(seeded, model.highs_columns).all()
    monkeypatch.setattr(lp_start, "MIN_ROUTES", 10**9)
    ref, _ = MarketModel(mk).solve()
    np.testing.assert_allclose(sol.price, ref.price, rtol=0, atol=1e-7 * mk.price_scale)
    np.testing.assert_allclose(sol.supply, ref.supply, rtol=0, atol=1e-7 * mk.quantity_scale)
