"""Issue 17, "verified but wrong": a huge curve block must not blind the
verifier anywhere else in its market, and the solve must still find the
true equilibrium of such a market.

The market of the issue: one node, a cheap step of 10 kt at 5 USD/kg, then a
backstop of 1e12 kt at 1e6 USD/kg; demand P = 100 − Q.  Demand at the
backstop's price is negative, so the backstop is idle; the cheap step alone
meets demand only if 100 − P ≤ 10 at P ≤ 5, which fails (demand at 5 is 95),
so the quantity sits at the kink Q = 10 and the price is read off demand:
P = 100 − 10 = 90, inside the step's interval [5, 1e6].  Any other point on
the demand curve is off the supply staircase.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import lin, mineral, solve_one
from mineq.models.market import Solution
from mineq.solver.verify import verify

R = "refined"
SETTINGS = dict(max_examples=int(os.environ.get("MINEQ_FUZZ_EXAMPLES", 150)), deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


def backstop(blocks, intercept=100.0, slope=1.0):
    return mineral(nodes=[{"stage": R, "region": "A", "supply": {"form": "steps", "blocks": [list(b) for b in blocks]}, "demand": lin(intercept, slope)}])


def candidate(p, q):
    """One node's supply, demand and price as a Solution."""
    return Solution(supply=np.array([q]), demand=np.array([q]), price=np.array([p]), flow=np.zeros(0), processing=np.zeros(0), objective=0.0)


def test_backstop_market_solves_to_the_kink():
    """The issue's market: P = 90, Q = 10 (module docstring), verified."""
    mk, res = solve_one(["A"], backstop([(10.0, 5.0), (1e12, 1e6)]))
    assert res.ok, res.message
    assert res.solution.price[0] == pytest.approx(90.0, rel=1e-9)
    assert res.solution.supply[0] == pytest.approx(10.0, rel=1e-9)
    assert res.solution.demand[0] == pytest.approx(10.0, rel=1e-9)


@pytest.mark.parametrize("p, q", [(5.0, 95.0), (50.0, 50.0), (20.0, 80.0), (90.0 - 1e-3, 10.0 + 1e-3)])
def test_backstop_market_rejects_wrong_answers(p, q):
    """Points on the demand curve off the staircase are not equilibria:
    at Q > 10 the supplier's marginal cost is 1e6, far above P."""
    mk, _ = solve_one(["A"], backstop([(10.0, 5.0), (1e12, 1e6)]))
    assert verify(mk, candidate(90.0, 10.0)).ok
    v = verify(mk, candidate(p, q))
    assert not v.ok
    assert v.worst(1)[0][1] == "supply"


def test_a_second_region_does_not_widen_the_first():
    """Two unconnected regions: A is the backstop market (P = 90, Q = 10),
    B a market of trillions of kt calibrated through (4.5e12 kt, 55 USD/kg)
    with elasticities ±55/45: slopes 55/(55/45·4.5e12) = 1e-11, so supply
    P = 10 + 1e-11·S and demand P = 100 − 1e-11·D meet at S = D = 4.5e12,
    P = 55.  The verifier accepts that pair of answers and B's size does
    not let A's wrong answer (50, 50) through.  (Solving a market whose
    quantities span 1e12 is another matter: it ends as a clear failure,
    never as a wrong "equilibrium".)"""
    m = mineral(nodes=[
        {"stage": R, "region": "A", "supply": {"form": "steps", "blocks": [[10.0, 5.0], [1e12, 1e6]]}, "demand": lin(100, 1)},
        {"stage": R, "region": "B", "supply": {"form": "linear", "price": 55.0, "quantity": 4.5e12, "elasticity": 55 / 45},
         "demand": {"form": "linear", "price": 55.0, "quantity": 4.5e12, "elasticity": -55 / 45}},
    ])
    mk, res = solve_one(["A", "B"], m)
    assert res.ok or res.status != "equilibrium"
    a, b = mk.node_index(R, "A"), mk.node_index(R, "B")

    def pair(pa, qa):
        q, p = np.zeros(2), np.zeros(2)
        q[a], p[a], q[b], p[b] = qa, pa, 4.5e12, 55.0
        return Solution(supply=q, demand=q.copy(), price=p, flow=np.zeros(0), processing=np.zeros(0), objective=0.0)

    assert verify(mk, pair(90.0, 10.0)).ok
    for pa, qa in ((50.0, 50.0), (20.0, 80.0), (5.0, 95.0)):
        assert not verify(mk, pair(pa, qa)).ok


def staircase_equilibrium(blocks, a, b):
    """The exact equilibrium of cheapest-first supply blocks against
    demand P = a − b·Q, by walking the staircase (independent of the
    solver and of the verifier).  In block i (from c_{i−1} to c_i at price
    p_i), demand at p_i is D_i = (a − p_i)/b: if D_i falls in the block,
    P = p_i and Q = D_i; if D_i < c_{i−1}, demand meets the staircase on
    the riser at c_{i−1}: Q = c_{i−1}, P = a − b·c_{i−1}.  Past the last
    block, Q = its end (demand still pays more than every step)."""
    start = 0.0
    for q, p in sorted(blocks, key=lambda x: x[1]):
        d = (a - p) / b
        if d < start:
            return a - b * start, start
        if d <= start + q:
            return p, d
        start += q
    return a - b * start, start


@st.composite
def backstop_markets(draw):
    """A few small steps (1–100 kt at 1–60 USD/kg), a backstop block
    1e6–1e12 times larger than their total at a price above them (used or
    not: from just above the last step to far above the demand choke),
    and demand a − b·Q with a choke at 70–250 USD/kg (above every small
    step, so the first step is used and the equilibrium is unique)."""
    n = draw(st.integers(1, 4))
    qs = [draw(st.floats(1.0, 100.0)) for _ in range(n)]
    ps = sorted(draw(st.lists(st.floats(1.0, 60.0), min_size=n, max_size=n, unique=True)))
    ratio = 10.0 ** draw(st.floats(6.0, 12.0))
    big_p = ps[-1] + draw(st.sampled_from([0.5, 5.0, 50.0, 500.0, 1e6]))
    a = draw(st.floats(70.0, 250.0))
    b = draw(st.floats(0.05, 5.0))
    return list(zip(qs, ps)) + [(ratio * sum(qs), big_p)], a, b, draw(st.floats(0.0, 1.0)), draw(st.floats(0.0, 1.0))


@settings(**SETTINGS)
@given(backstop_markets())
def test_huge_block_verifies_only_true_equilibria(market):
    """The solve finds the staircase walk's equilibrium, the verifier
    accepts it, and rejects every other point of the demand curve (chosen
    at random between the lowest step price and the choke) that is more
    than 1e-4 away in price and quantity."""
    blocks, a, b, u, w = market
    p_star, q_star = staircase_equilibrium(blocks, a, b)
    mk, res = solve_one(["A"], backstop(blocks, a, b))
    assert res.ok, res.message
    assert res.solution.price[0] == pytest.approx(p_star, rel=1e-8, abs=1e-9 * a)
    assert res.solution.supply[0] == pytest.approx(q_star, rel=1e-8, abs=1e-9)
    assert verify(mk, candidate(p_star, q_star)).ok
    lo = min(p for _, p in blocks)
    for x in (u, w):
        p = lo + x * (a - lo)
        q = (a - p) / b
        if abs(p - p_star) > 1e-4 * a and abs(q - q_star) > 1e-4 * max(q, q_star):
            assert not verify(mk, candidate(p, q)).ok, (p, q, p_star, q_star)


def test_a_small_producer_beside_a_huge_demand():
    """Node A buys billions of kt (demand P = 100 − 1e-8·D) from B (supply
    P = 10 + 1e-8·S, free route B→A) and has a small producer of its own:
    10 kt at 5, then 10 kt at 80.  With A's producer at its kink (10 kt,
    any price in [5, 80]) the balance S_B + 10 = D gives
    (P − 10)/1e-8 + 10 = (100 − P)/1e-8, so P = 55 − 5e-8,
    D = 4.5e9 + 5, S_B = 4.5e9 − 5.  Moving 5 kt from B to A's second step
    (marginal cost 80 > P) keeps every balance exact and every price, and
    is wrong: A's producer must be judged at its own 15 kt, not at the
    node's 4.5e9."""
    m = mineral(nodes=[
        {"stage": R, "region": "A", "supply": {"form": "steps", "blocks": [[10.0, 5.0], [10.0, 80.0]]}, "demand": lin(100, 1e-8)},
        {"stage": R, "region": "B", "supply": lin(10, 1e-8)},
    ], routes=[{"origin": "B", "destination": "A", "cost": 0.0}])
    mk, _ = solve_one(["A", "B"], m)
    a, b = mk.node_index(R, "A"), mk.node_index(R, "B")
    p = 55 - 5e-8

    def point(s_a):
        supply, demand, price = np.full(2, np.nan), np.full(2, np.nan), np.full(2, p)
        supply[a], supply[b], demand[a] = s_a, 4.5e9 + 5 - s_a, 4.5e9 + 5
        return Solution(supply=supply, demand=demand, price=price, flow=np.array([4.5e9 + 5 - s_a]), processing=np.zeros(0), objective=0.0)

    assert verify(mk, point(10.0)).ok
    v = verify(mk, point(15.0))
    assert not v.ok and v.worst(1)[0][1:] == ("supply", "supply refined/A")


def test_a_backstop_region_never_gives_a_wrong_equilibrium():
    """A: supply P = 10 + S, demand P = 100 − D, so in autarky S = D = 45
    at P = 55; B holds only a backstop of 1e12 kt at 1e6, one route B→A at
    1: landed at 1e6 + 1 > 55, so B is idle and A stays at 55.  Quantities
    spanning 1e12 within one market are beyond what the program's scaling
    resolves (README, "numerical trouble"): the solve may fail, plainly,
    but whatever it calls an equilibrium is this one (before issue 17 it
    called P_A = 100, S_A = 0 one)."""
    m = mineral(nodes=[
        {"stage": R, "region": "A", "supply": lin(10, 1), "demand": lin(100, 1)},
        {"stage": R, "region": "B", "supply": {"form": "steps", "blocks": [[1e12, 1e6]]}},
    ], routes=[{"origin": "B", "destination": "A", "cost": 1.0}])
    mk, res = solve_one(["A", "B"], m)
    a = mk.node_index(R, "A")
    if res.ok:
        assert res.solution.price[a] == pytest.approx(55.0, rel=1e-9)
        assert res.solution.supply[a] == pytest.approx(45.0, rel=1e-9)
    else:
        assert res.status != "equilibrium" and "supply" in res.message
    right = Solution(supply=np.array([45.0, 0.0]), demand=np.array([45.0, np.nan]), price=np.array([55.0, 1e6]), flow=np.zeros(1), processing=np.zeros(0), objective=0.0)
    assert verify(mk, right).ok
    wrong = Solution(supply=np.array([0.0, 0.0]), demand=np.array([0.0, np.nan]), price=np.array([100.0, 1e6]), flow=np.zeros(1), processing=np.zeros(0), objective=0.0)
    assert not verify(mk, wrong).ok


@pytest.mark.parametrize("blocks, p, q", [
    ([(10.0, 5.0), (1e12, 50.0)], 50.0, 50.0),
    ([(1e12, 5.0), (10.0, 8.0)], 5.0, 95.0),
])
def test_backstop_used(blocks, p, q):
    """Demand P = 100 − Q.  A backstop at 50 behind 10 kt at 5: demand at
    50 is 50 kt, past the step, so P = 50, Q = 50 (10 from the step, 40
    from the backstop).  A huge cheap first block at 5: demand at 5 is
    95 kt, inside it, so P = 5, Q = 95."""
    mk, res = solve_one(["A"], backstop(blocks))
    assert res.ok, res.message
    assert res.solution.price[0] == pytest.approx(p, rel=1e-9)
    assert res.solution.supply[0] == pytest.approx(q, rel=1e-9)
