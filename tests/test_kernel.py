"""The compiled active-set step (models/_polish.c) takes the steps of the
Python reference (``polish_python``): on random markets, from HiGHS's
point (cold) and from a neighbouring program's optimum (warm, strict), both
find a KKT point or neither does, at the same prices and quantities.

CI sets ``MINEQ_REQUIRE_KERNEL=1``: there the kernel must be built and
found; elsewhere the tests marked ``kernel`` (tests/conftest.py) skip
when it is not (an install without a C compiler runs the Python step).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mineq.models.active_set as active_set
from mineq.models.program import MarketModel
from mineq.solver.case import build_case

from helpers import BUNDLED, case_dict, random_linear_market

REQUIRED = os.environ.get("MINEQ_REQUIRE_KERNEL") == "1"


def test_kernel_is_found_where_required():
    if not REQUIRED:
        pytest.skip("MINEQ_REQUIRE_KERNEL is not set")
    assert active_set.kernel_path() is not None, "pip install . should have built models/_polish.c"


def _solved(regions, m, rng):
    """The program of market ``m``, HiGHS's raw point on it, and a
    neighbouring program (costs moved by up to 20%)."""
    mk = build_case(case_dict(regions, [m])).markets["m"]
    qp = MarketModel(mk).qp()
    h = active_set.highs_of(qp)
    h.run()
    sol = h.getSolution()
    moved = active_set.QP(qp.A, qp.c * (1 + 0.2 * rng.uniform(-1, 1, len(qp.c))), qp.lo, qp.up, qp.rlo, qp.rup, qp.hd, qp.sense)
    return qp, np.asarray(sol.col_value), np.asarray(sol.row_dual), moved


@st.composite
def programs(draw):
    """A random market's program, HiGHS's raw point on it, and a
    neighbouring program (costs moved by up to 20%)."""
    n = draw(st.integers(4, 9))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    regions, m = random_linear_market(n, rng, dense=draw(st.booleans()), free_share=draw(st.sampled_from([0.0, 0.2])))
    for node in m["nodes"]:
        if rng.random() < 0.3:  # some capacities bind
            node["supply"]["capacity"] = float(rng.uniform(1, 60))
    return _solved(regions, m, rng)


def _same(a, b, qp):
    assert (a is None) == (b is None)
    if a is None:
        return
    scale = max(1.0, float(np.abs(qp.c).max()))
    np.testing.assert_allclose(a[0], b[0], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(a[1], b[1], rtol=1e-9, atol=1e-9 * scale)


@pytest.mark.kernel
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_kernel_takes_the_python_steps(case):
    qp, x, y, moved = case
    cold = active_set.polish(qp, x, y)
    _same(cold, active_set.polish_python(qp, x, y), qp)
    assert cold is not None  # HiGHS's point of a linear market polishes
    # warm: the neighbouring program from this optimum, strict, with its active set
    warm = active_set.polish(moved, cold[0], cold[1], rounds=20, strict=True, active=cold[2])
    _same(warm, active_set.polish_python(moved, cold[0], cold[1], rounds=20, strict=True, active=cold[2]), moved)


@st.composite
def large_programs(draw):
    """A market of 50 to 64 regions on a ring with three hubs (about 600
    routes): its KKT systems (free columns plus active rows, about 200)
    are past ``REDUCE_MIN``, where both steps eliminate the curved
    columns first (``_eliminated_solve``; the compiled step's
    ``kkt_step``)."""
    n = draw(st.integers(50, 64))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    regions, m = random_linear_market(n, rng, dense=False)
    return _solved(regions, m, rng)


@pytest.mark.kernel
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(large_programs())
def test_kernel_takes_the_python_steps_on_large_systems(case):
    qp, x, y, moved = case
    before = active_set.kernel_reduced_steps()
    cold = active_set.polish(qp, x, y)
    assert cold is not None
    # the kernel's eliminated system solved the step (the whole LU, its
    # fallback, would give the same point)
    assert active_set.kernel_reduced_steps() > before
    _same(cold, active_set.polish_python(qp, x, y), qp)
    at_lo, at_up, act_lo, act_up = cold[2]
    # the system solved: free columns beside the active rows (every
    # balance is an equality), some of them without curvature (flows)
    free = ~(at_lo | at_up)
    assert free.sum() + ((qp.rlo == qp.rup) | act_lo | act_up).sum() >= active_set.REDUCE_MIN
    assert (free & (qp.hd == 0)).any()
    warm = active_set.polish(moved, cold[0], cold[1], rounds=20, strict=True, active=cold[2])
    _same(warm, active_set.polish_python(moved, cold[0], cold[1], rounds=20, strict=True, active=cold[2]), moved)


@pytest.mark.kernel
def test_a_kernel_failure_falls_back_to_python(monkeypatch):
    """Status 2 (an LU step not accurate enough) hands the call to Python,
    whose least-squares step handles it: a singular KKT system (two
    identical free columns) still polishes."""
    A = np.array([[1.0, 1.0]])
    qp = active_set.QP(A, np.array([1.0, 1.0]), np.zeros(2), np.full(2, np.inf), np.array([2.0]), np.array([2.0]), np.zeros(2), 1.0)
    out = active_set.polish(qp, np.array([1.0, 1.0]), np.array([1.0]))
    ref = active_set.polish_python(qp, np.array([1.0, 1.0]), np.array([1.0]))
    assert out is not None and ref is not None
    np.testing.assert_allclose(out[0], ref[0])
    np.testing.assert_allclose(out[0].sum(), 2.0)


def test_arrays_that_do_not_fit_are_refused_not_read_past():
    """A start of the wrong length never reaches the C step (which would
    read past its buffer): the error is Python's."""
    qp = active_set.QP(np.array([[1.0, 1.0]]), np.array([1.0, 2.0]), np.zeros(2), np.full(2, 5.0), np.array([1.0]), np.array([1.0]), np.array([-1.0, -1.0]), -1.0)
    with pytest.raises(ValueError):
        active_set.polish(qp, np.array([0.5]), np.array([0.0]))
    with pytest.raises(ValueError):
        active_set.polish(qp, np.array([0.5, 0.5]), np.array([0.0]), active=(np.zeros(3, bool),) * 4)


def _credit_program(row: bool):
    """min ½z² − 10z − 2u with a credit u ≤ z (the row, when ``row``),
    z ≤ 100, u ≥ 0: a price floor's credit column, worth 2 a unit, capped
    by what is processed.  Stationarity: z − 10 − y = 0 and −2 + y = 0 at
    the row's multiplier y, so the optimum is z = u = 12 with y = 2 (in
    HiGHS's sign for a ≤ row of a minimisation, −2).  Without the row u
    is unbounded."""
    A = np.array([[-1.0, 1.0]]) if row else np.zeros((0, 2))
    m = A.shape[0]
    return active_set.QP(A, np.array([-10.0, -2.0]), np.zeros(2), np.array([100.0, np.inf]), np.full(m, -np.inf), np.zeros(m), np.array([1.0, 0.0]), 1.0)


@pytest.mark.parametrize("compiled", [False, pytest.param(True, marks=pytest.mark.kernel)])
def test_a_free_column_in_no_active_row_moves_along_its_ray(compiled):
    """A warm start from the program without the credit (its optimum z =
    10, u = 0, the credit row slack): u at its lower bound has reduced
    cost −2 and is freed; then it is in no active row, wants to grow and
    has no upper bound.  The ratio test along its ray finds the credit
    row u − z ≤ 0 first to reach a side and makes it active, and the
    next round solves z = u = 12.  Strict polish used to give up there
    (HiGHS then solved: the ensemble draws of the floor scenarios, 20 of
    31 HiGHS runs over two draws of every scenario).  With the row gone,
    nothing bounds the ray and strict polish still gives up."""
    run = active_set.polish if compiled else active_set.polish_python
    qp = _credit_program(True)
    start = (np.array([False, True]), np.zeros(2, bool), np.zeros(1, bool), np.zeros(1, bool))
    got = run(qp, np.array([10.0, 0.0]), np.array([0.0]), rounds=20, strict=True, active=start)
    assert got is not None
    np.testing.assert_allclose(got[0], [12.0, 12.0], rtol=1e-12)
    np.testing.assert_allclose(got[1], [-2.0], rtol=1e-12)
    assert got[2][3][0] and not got[2][0].any()  # the row at its upper side, u off its bound
    h = active_set.highs_of(qp)
    h.run()
    np.testing.assert_allclose(h.getSolution().col_value, got[0], rtol=1e-6)
    qp = _credit_program(False)
    assert run(qp, np.array([10.0, 0.0]), np.zeros(0), rounds=20, strict=True, active=(start[0], start[1], np.zeros(0, bool), np.zeros(0, bool))) is None


@pytest.mark.kernel
def test_the_compiled_settle_is_the_python_one(monkeypatch):
    """``_settled_polish`` settles a polished point inside the compiled
    call (ABI 4) instead of a second call from Python: fixed-point
    programs often leave a tied flow a hair below zero, and the active set
    is solved again with it at its bound.  Replayed on every polish of
    tungsten's fixed point under the minimum import price, in both ways
    (one compiled call; the compiled polish, then ``_settled`` in Python),
    the points, duals and active sets are the same bit for bit, the
    settled ones included (their number is checked: the replay must hold
    points that needed settling, and in both ways)."""
    import mineq.models.program as program
    from mineq.solver.case import load_case
    from mineq.solver.dynamic import restrict
    from mineq.solver.run import mineral_plan
    from mineq.solver.solve import solve_market

    calls = []
    real = program._settled_polish

    def spy(qp, col, row, settle, **kw):
        calls.append((qp, np.array(col), np.array(row), settle, {k: (tuple(np.array(a) for a in v) if k == "active" and v is not None else v) for k, v in kw.items()}))
        return real(qp, col, row, settle, **kw)

    case = restrict(load_case(BUNDLED), ["tungsten"])
    base = solve_market(case.markets["tungsten"])
    plan = mineral_plan(case, "negotiations-fail-mip", "tungsten", base.solution)
    with monkeypatch.context() as mp:
        mp.setattr(program, "_settled_polish", spy)
        assert solve_market(case.markets["tungsten"], plan=plan, start=base.solution).ok
    settled = 0
    for qp, col, row, settle, kw in calls:
        one = real(qp, col, row, settle, **kw)
        first = active_set.polish(qp, col, row, **kw)
        two = program._settled(qp, first, **settle)
        assert (one is None) == (two is None)
        if one is None:
            continue
        if first is not None and program._wrong_side(qp, first[0], first[2]) is not None:
            settled += 1
            assert isinstance(one, active_set.Settled)
        for a, b in zip(one[:2], two[:2]):
            assert np.array_equal(a, b)
        for a, b in zip(one[2], two[2]):
            assert np.array_equal(a, b)
    assert len(calls) >= 5 and settled >= 2, (len(calls), settled)
