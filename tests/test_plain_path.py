"""The plain reference path (``MINEQ_PLAIN=1``, :mod:`mineq.models.speed`)
solves the same equilibria as the fast path: every program whole (no
route generation), cold (no hot starts), polished in Python, one market
after another.  The fast path's machinery changes only how an optimum is
found, never which one: the welfare objective of each program is unique,
and so are the quantities where every curve is strictly monotone (a
fixed point over frozen wedges may split flows differently between tied
routes: its objective is compared only through the quantities)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import mineq.models.active_set as active_set
import mineq.models.program as program
from mineq.models.speed import plain_path
from mineq.solver.case import load_case
from mineq.solver.run import solve_case

CASE = Path(__file__).resolve().parent.parent / "cases" / "critical-minerals-54"


def test_plain_path_gives_the_fast_paths_equilibria(monkeypatch):
    case = load_case(CASE)
    fast = solve_case(case, threads=1)
    # the plain path must not touch the machinery: count what it calls
    used = {"generation": 0, "kernel": 0, "hot": 0}
    real_gen, real_kernel = program.MarketModel._generate, active_set._KERNEL

    def gen(self, h, qp, warm):
        if len(self.highs_columns) < self._ncol:
            used["generation"] += 1
        return real_gen(self, h, qp, warm)

    def kernel(*args):
        used["kernel"] += 1
        return real_kernel(*args)

    monkeypatch.setattr(program.MarketModel, "_generate", gen)
    if real_kernel is not None:
        monkeypatch.setattr(active_set, "_KERNEL", kernel)
    real_hot = program.MarketModel.hot_start

    def hot(self, start):
        real_hot(self, start)
        used["hot"] += self._hot is not None

    monkeypatch.setattr(program.MarketModel, "hot_start", hot)
    with plain_path():
        slow = solve_case(case, threads=2)
    assert used == {"generation": 0, "kernel": 0, "hot": 0}
    worst_obj = worst_q = 0.0
    for sn, per in fast.items():
        for mn, a in per.items():
            b = slow[sn][mn]
            assert a.ok and b.ok, (sn, mn, a.message, b.message)
            mk = a.market
            # a linked market's objective is the whole program's: judged on
            # the program's scales, not a member's (yttrium's price is a
            # hundredth of terbium's, its program the same)
            link = case.link_of(mn)
            whole = mk if link is None else link.market
            scale = whole.price_scale * whole.quantity_scale
            if a.method == "qp":
                # one program: its optimal value is unique.  Under frozen
                # wedges (fixed point) levies can make routes of different
                # transport cost tie, and the split between them -- with the
                # program's objective -- is not unique (both are verified)
                worst_obj = max(worst_obj, abs(a.solution.objective - b.solution.objective) / scale)
            q = np.concatenate([np.nan_to_num(a.solution.supply), np.nan_to_num(a.solution.demand)])
            r = np.concatenate([np.nan_to_num(b.solution.supply), np.nan_to_num(b.solution.demand)])
            worst_q = max(worst_q, float(np.max(np.abs(q - r))) / mk.quantity_scale)
    # both are verified to 1e-6 of the market's scales: nothing tighter holds
    assert worst_obj < 1e-6 and worst_q < 1e-5, (worst_obj, worst_q)


def test_plain_path_solves_zinc_with_its_by_products_under_rules_of_origin():
    """Germanium and indium recovered from zinc (one activity per region):
    under agreements-plus-floor the wedge iteration of the plain path used
    to settle at a rules-of-origin residual of 1.09e-3 -- Malaysia, which
    makes no germanium, exporting 0.001 kg of it, a row violation inside
    polish's tolerance on the program's (zinc's) scale.  With rows on the
    wrong side made active (program._settled) both paths verify and agree
    on every quantity to the verifier's tolerance.  (Without that step
    this test fails; the whole-case test above covers the same unit among
    the others, this one names the cause.)"""
    from mineq.solver import run

    case = load_case(CASE)
    unit = next(u for u in case.links if "zinc" in u)
    fast = run._unit_chains(case, unit, ["agreements-plus-floor"])
    with plain_path():
        slow = run._unit_chains(case, unit, ["agreements-plus-floor"])
    for m in fast:
        for (sn, _, a), (_, _, b) in zip(fast[m], slow[m]):
            assert a.ok and b.ok, (m, sn, a.message, b.message)
            mk = a.market
            q = np.concatenate([np.nan_to_num(a.solution.supply), np.nan_to_num(a.solution.demand)])
            r = np.concatenate([np.nan_to_num(b.solution.supply), np.nan_to_num(b.solution.demand)])
            assert float(np.max(np.abs(q - r))) <= 1e-5 * mk.quantity_scale, (m, sn)
