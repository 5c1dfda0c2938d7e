"""HiGHS instances handed back (mineq.models.active_set.release_highs) carry
nothing into the next program: not its model, its basis, its solution nor
an option changed for it."""

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


def test_a_released_instance_solves_the_next_program_as_a_new_one():
    active_set._SPARE.clear()
    first, second = MarketModel(_market(1)).qp(), MarketModel(_market(2, n=7)).qp()
    fresh_h, fresh = _solve_raw(second)
    h, _ = _solve_raw(first)
    h.setOptionValue("time_limit", 1e-9)  # an option the next program must not inherit
    active_set.release_highs(h)
    reused_h, reused = _solve_raw(second)
    assert reused_h is h  # the pool gave the released instance back
    assert reused_h.getOptionValue("time_limit") == fresh_h.getOptionValue("time_limit")
    assert reused[1] == fresh[1]  # no basis carried: as many iterations as a new instance
    np.testing.assert_array_equal(reused[0], fresh[0])


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
