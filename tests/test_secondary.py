"""Secondary (scrap-based) supply as its own curve beside primary supply
at a node: the node supplies the horizontal sum, and net import reliance
counts both as domestic output (the USGS definition)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import case_dict, lin, mineral, node_value, solve_one
from mineq.models.curves import Sum, make_curve
from mineq.solver.case import build_case
from mineq.solver.errors import CaseError
from mineq.solver.statistics import trade
from mineq.solver.verify import verify

R = "refined"


def test_primary_and_secondary_closed_form():
    """Region A: demand P = 100 - D, primary P = 10 + S1, secondary
    P = 20 + 2·S2; region B: supply P = S_B, no demand; route B->A at 8.

    B exports X = S_B = P_A - 8.  In A, D = S1 + S2 + X:
    100 - P = (P - 10) + (P - 20)/2 + (P - 8), so 3.5·P = 128,
    P_A = 256/7, S1 = 186/7, S2 = 58/7, X = 200/7, D = 444/7, and
    net import reliance X/D = 50/111 (secondary output is domestic).
    """
    m = mineral(
        nodes=[
            {"stage": R, "region": "A", "supply": lin(10, 1), "secondary": lin(20, 2), "demand": lin(100, 1)},
            {"stage": R, "region": "B", "supply": lin(0, 1)},
        ],
        routes=[{"origin": "B", "destination": "A", "cost": 8.0}],
    )
    mk, res = solve_one(["A", "B"], m)
    s = res.solution
    assert res.ok and verify(mk, s).ok
    assert node_value(mk, s.price, R, "A") == pytest.approx(256 / 7, rel=1e-9)
    assert node_value(mk, s.supply, R, "A") == pytest.approx(244 / 7, rel=1e-9)
    t = trade(mk, s)
    a = mk.node_index(R, "A")
    assert t["secondary_production"][a] == pytest.approx(58 / 7, rel=1e-9)
    assert t["net_import_reliance"][a] == pytest.approx(50 / 111, rel=1e-9)
    assert np.isnan(t["secondary_production"][mk.node_index(R, "B")])
    # a price off the summed curve does not verify
    wrong = type(s)(**{**s.__dict__})
    wrong.price = s.price.copy()
    wrong.price[a] += 1.0
    wrong.price[mk.node_index(R, "B")] += 1.0
    assert not verify(mk, wrong).ok


def test_secondary_alone_and_bad_secondary():
    m = mineral(nodes=[{"stage": R, "region": "A", "secondary": lin(20, 2), "demand": lin(100, 1)}])
    mk, res = solve_one(["A"], m)
    # 100 - P = (P - 20)/2: P = 220/3
    assert res.solution.price[0] == pytest.approx(220 / 3, rel=1e-9)
    bad = mineral(nodes=[{"stage": R, "region": "A", "supply": lin(10, 1), "secondary": {"form": "isoelastic", "price": 10.0, "quantity": 5.0, "elasticity": 0.5}, "demand": lin(100, 1)}])
    with pytest.raises(CaseError, match="secondary"):
        build_case(case_dict(["A"], [bad]))


parts = st.lists(
    st.tuples(st.floats(0, 50), st.one_of(st.just(0.0), st.floats(1e-3, 3.0)), st.one_of(st.none(), st.floats(1, 40))),
    min_size=1, max_size=4,
)


@settings(max_examples=100, deadline=None)
@given(parts, st.floats(0.01, 0.99))
def test_sum_inverts_total_supply(ps, frac):
    """For any exact parts, the summed curve's price at a total q
    supplies q: quantity_at(left(q)) >= q >= the supply just below that
    price, and the split adds up to q with each part at most what it
    offers at that price."""
    curves = []
    for a, b, cap in ps:
        spec = {"form": "linear", "intercept": a, "slope": b}
        if cap is not None:
            spec["capacity"] = cap
        curves.append(make_curve(spec, "supply"))
    s = Sum(curves)
    top = s.upper if np.isfinite(s.upper) else 100.0
    q = frac * top
    p = s.left(q)
    assert s.quantity_at(p) >= q - 1e-7 * max(1.0, q)
    below = sum(c.quantity_at(p - 1e-6 * max(1.0, abs(p))) for c in curves)
    assert below <= q + 1e-6 * max(1.0, q)
    parts_q = s.split(q)
    assert sum(parts_q) == pytest.approx(q, rel=1e-9, abs=1e-9)
    for c, x in zip(curves, parts_q):
        assert x <= c.quantity_at(p) + 1e-7 * max(1.0, q)
