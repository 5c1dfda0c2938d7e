"""Hot starts (models/hot_start.py): a scenario's first HiGHS run starts
from the baseline's basis.  They must change nothing but the work: every
scenario market of the bundled case reaches a verified equilibrium with
the same quantities demanded (and, where one program decides it, the same
optimum) as from a cold start, with fewer QP iterations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import models.hot_start
from models.program import MarketModel
from solver.case import load_case
from solver.run import solve_case
from solver.solve import solve_market
from solver.verify import verify

CASE = Path(__file__).resolve().parent.parent / "cases" / "critical-minerals-54"


def _solve(case, hot: bool, monkeypatch):
    """solve_case, recording each HiGHS run's hot start and QP iterations."""
    runs = []
    orig = MarketModel.solve

    def spy(self, tight=False):
        out = orig(self, tight)
        if self.ran_highs and self._highs is not None:
            runs.append((self.hot_started, self._highs.getInfo().qp_iteration_count))
        return out

    with monkeypatch.context() as mp:
        mp.setattr(MarketModel, "solve", spy)
        if not hot:
            mp.setattr(MarketModel, "hot_start", lambda self, start: None)
        return solve_case(case, threads=1), runs


def test_hot_starts_reach_the_cold_optimum_with_less_work(monkeypatch):
    case = load_case(CASE)
    hot, hot_runs = _solve(case, True, monkeypatch)
    cold, cold_runs = _solve(case, False, monkeypatch)
    started = sum(h for h, _ in hot_runs)
    assert started >= 200 and not any(h for h, _ in cold_runs)
    assert sum(i for _, i in hot_runs) < 0.8 * sum(i for _, i in cold_runs)
    for sn in cold:
        for mn, c in cold[sn].items():
            h = hot[sn][mn]
            assert c.ok and h.ok, (sn, mn)
            # prices may differ where they are not unique (ties between
            # routes: a hot start may settle them elsewhere); what consumers
            # buy may not, nor, for one program, its optimum
            scale = c.market.quantity_scale
            np.testing.assert_allclose(np.nan_to_num(h.solution.demand), np.nan_to_num(c.solution.demand), rtol=0, atol=1e-6 * scale)
            if c.method == "qp":
                assert h.solution.objective == pytest.approx(c.solution.objective, rel=1e-9), (sn, mn)


def test_a_basis_that_does_not_fit_is_not_used():
    """A carried basis that sits on a bound the new program lacks is
    refused, and the solve runs cold to the same verified optimum."""
    case = load_case(CASE)
    mk = case.markets["cobalt"]
    base = MarketModel(mk)
    base.solve()
    start = base.start_basis()
    assert start is not None
    bad = models.hot_start.Start(start.blocks, start.routes, start.credited, start.value, start.col_status.copy(), dict(start.row_status))
    flows = len(start.blocks) + np.arange(len(start.routes))
    bad.col_status[flows[0]] = models.hot_start.UPPER  # flows have no upper bound
    again = MarketModel(mk)
    assert not models.hot_start.apply(again, again.highs, bad)
    again.hot_start(bad)
    sol, _ = again.solve()
    assert not again.hot_started and verify(mk, sol).ok
    ref = solve_market(mk)
    assert sol.objective == pytest.approx(ref.solution.objective, rel=1e-9)
