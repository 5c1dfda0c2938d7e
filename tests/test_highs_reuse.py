"""HiGHS instances handed back (mineq.models.active_set.release_highs)
are not reused: a program always gets a new instance, so nothing of an
earlier program (model, basis, solution, options, internal state) reaches it."""

from __future__ import annotations

import numpy as np

import mineq.models.active_set as active_set
from mineq.models.program import MarketModel
from mineq.solver.case import build_case

from helpers import case_dict, random_linear_market


def _market(seed, n=6):
    regions, m = random_linear_market(n, np.random.default_rng(seed), dense=True)
    return build_case(case_dict(regions, [m])).markets["m"]


def _solve_raw(qp):
    h = active_set.highs_of(qp)
    h.run()
    out = np.asarray(h.getSolution().col_value), h.getInfo().qp_iteration_count
    return h, out


def test_a_released_instance_is_not_handed_to_the_next_program():
    """A cleared instance does not solve like a new one after a long
    history (the bundled dynamic case's light rare earths in 2035 failed
    after ten years of solves in one process): every program gets a new
    one, so its answer does not depend on what was solved before."""
    first, second = MarketModel(_market(1)).qp(), MarketModel(_market(2, n=7)).qp()
    fresh_h, fresh = _solve_raw(second)
    h, _ = _solve_raw(first)
    active_set.release_highs(h)
    next_h, again = _solve_raw(second)
    assert next_h is not h
    assert again[1] == fresh[1]
    np.testing.assert_array_equal(again[0], fresh[0])


def test_a_released_program_rebuilds_its_instance_when_solved_again():
    mk = _market(3)
    model = MarketModel(mk)
    before, _ = model.solve()
    model.release()
    other = MarketModel(_market(4))
    other.solve()  # takes the released instance
    again, _ = model.solve(tight=True)  # HiGHS again, on a new instance
    assert model.ran_highs
    np.testing.assert_allclose(again.price, before.price, rtol=1e-9)
