"""What a draw changes in the case data (solver.ensemble.perturbed_data)."""

import pytest

from mineq.solver.ensemble import perturbed_data


def test_a_trade_cost_draw_scales_rising_route_costs_and_secondary_elasticities_are_drawn():
    """A calibrated route's marginal cost is t + s·X with its whole margin
    in t + s·X0: a draw of the price gap by a factor k must scale both,
    or the draw would leave every calibrated (t = 0) route untouched."""
    data = {"minerals": [{"name": "m", "routes": [{"origin": "A", "destination": "B", "cost": 0.0, "slope": 2.0}, {"origin": "B", "destination": "A", "cost": 5.0}],
                          "nodes": [{"stage": "refined", "region": "A", "secondary": {"form": "linear", "price": 10.0, "quantity": 1.0, "elasticity": 0.3}}]}]}
    out = perturbed_data(data, [("m", "trade_cost_half_gap", 1.5), ("*", "secondary_elasticity", 2.0)])
    assert out["minerals"][0]["routes"][0]["slope"] == pytest.approx(3.0)
    assert out["minerals"][0]["routes"][1]["cost"] == pytest.approx(7.5)
    assert out["minerals"][0]["nodes"][0]["secondary"]["elasticity"] == pytest.approx(0.6)
    assert data["minerals"][0]["routes"][0]["slope"] == 2.0  # the original is not changed


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=200, deadline=None)
@given(factors=st.lists(st.tuples(st.sampled_from(["*", "a", "b", "c", "zz"]), st.sampled_from(["demand_elasticity", "supply_elasticity"]), st.floats(0.1, 10)), max_size=12))
def test_factors_by_mineral_are_each_minerals_own_in_the_draws_order(factors):
    """``factors_by_mineral`` reads a draw once: for each mineral, the
    factors naming it or ``*``, in the draw's order (they multiply in that
    order), as filtering the draw for that mineral gives them; a mineral
    the case lacks (``zz``) gets none of them onto another."""
    from mineq.solver.case import factors_by_mineral

    got = factors_by_mineral(factors, ["a", "b", "c"])
    assert list(got) == ["a", "b", "c"]
    for name in ("a", "b", "c"):
        assert got[name] == [(par, k) for mn, par, k in factors if mn in ("*", name)]


def test_the_drawn_parameters_keep_the_curves_quantities():
    """``drawn_case`` carries a market's quantity scales (``Market.drawn(
    quantities=...)``) only where every factor is one that leaves curves'
    reference quantities, capacities, steps and forms alone: every
    parameter an ensemble draws must be one (a new drawn parameter that
    moves quantities must not be added to ``DRAWN`` without it)."""
    from mineq.solver.case import QUANTITY_KEEPING
    from mineq.solver.ensemble import DRAWN

    assert DRAWN <= QUANTITY_KEEPING
