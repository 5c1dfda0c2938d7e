"""The polish's step on singular KKT systems (models/active_set.py).

``_degenerate_step`` must give what ``numpy.linalg.lstsq`` gives, the
minimum-norm least-squares solution, for saddle-point matrices
``K = [[D, -B'], [B, 0]]`` with dependent active rows (a left null space of
B) and columns without curvature that B does not pin down (D = 0 on a null
vector of B): for such K the null space is exactly those two parts
(``u'Du = 0`` forces ``Du = 0``, then ``Bu = 0`` and ``B'v = 0``), and the
minimum-norm solution is the one orthogonal to it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import mineq.models.active_set as AS

ROOT = Path(__file__).resolve().parent.parent


def degenerate_kkt(seed: int, nF: int, nr: int, dep: int, flat: int, sign: float, consistent: bool):
    """A random singular saddle-point system with ``dep`` dependent rows and
    ``flat`` columns without curvature, one of them (when ``flat`` >= 2)
    a copy of another so that B has a null vector on them; singular values
    of order one, far above lstsq's cutoff, so that lstsq's answer is the
    exact minimum-norm one."""
    rng = np.random.default_rng(seed)
    D = sign * rng.uniform(0.5, 2.0, nF)
    D[:flat] = 0.0
    B = rng.normal(size=(nr, nF))
    if flat >= 2:
        B[:, 1] = B[:, 0]  # two flows on the same rows: only their sum is pinned
    for k in range(dep):
        # a dependent active row: a combination of the independent ones
        B[nr - 1 - k] = rng.normal(size=nr - dep) @ B[: nr - dep]
    K = np.zeros((nF + nr, nF + nr))
    K[:nF, :nF] = np.diag(D)
    K[:nF, nF:] = -B.T
    K[nF:, :nF] = B
    r = K @ rng.normal(size=nF + nr) if consistent else rng.normal(size=nF + nr)
    return K, r


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    nF=st.integers(4, 30),
    nr=st.integers(2, 12),
    dep=st.integers(0, 3),
    flat=st.integers(0, 3),
    sign=st.sampled_from([1.0, -1.0]),
    consistent=st.booleans(),
    eliminated=st.booleans(),
)
def test_property_degenerate_step_is_the_minimum_norm_least_squares_step(seed, nF, nr, dep, flat, sign, consistent, eliminated):
    """``eliminated``: also on systems this small, the step solves with the
    curved columns eliminated first (as on systems of REDUCE_MIN and
    more), which must give the same minimum-norm step.  Where the kernel
    is built, its step is held to the same answer."""
    dep = min(dep, nr - 1)
    flat = min(flat, nF)
    K, r = degenerate_kkt(seed, nF, nr, dep, flat, sign, consistent)
    old = AS.REDUCE_MIN
    AS.REDUCE_MIN = 0 if eliminated else 10**9
    try:
        s = AS._degenerate_step(K, r, nF)
        whole = AS._kkt_step(K, r, nF)
    finally:
        AS.REDUCE_MIN = old
    singular = np.linalg.matrix_rank(K) < K.shape[0]
    if not singular:
        # nothing to project out: the caller's LU step solves it
        assert s is None
        return
    assert s is not None
    ref = np.linalg.lstsq(K, r, rcond=None)[0]
    assert np.allclose(s, ref, rtol=1e-8, atol=1e-8 * (1.0 + np.abs(ref).max()))
    # _kkt_step: the minimum-norm step where the system is inconsistent;
    # where it is consistent, an LU that succeeds may give another exact
    # solution (the caller's polish needs one, not the smallest)
    if consistent:
        assert np.abs(K @ whole - r).max() <= 1e-9 * (1.0 + np.abs(r).max())
    else:
        assert np.allclose(whole, ref, rtol=1e-8, atol=1e-8 * (1.0 + np.abs(ref).max()))
    if consistent:
        # a known solution exists: the step solves the system exactly
        assert np.abs(K @ s - r).max() <= 1e-9 * (1.0 + np.abs(r).max())
    if AS.kernel_path() is not None:
        # the compiled step on the same dense B: nothing peels, the core is
        # all of B, and its Jacobi SVD alone finds the null spaces
        _compiled_step_is_minimum_norm(K, r, nF, consistent)


def test_degenerate_step_declines_what_is_not_a_diagonal_saddle_point():
    """Mixed curvature signs or a full Hessian block: not the form whose
    null space the SVDs of B find; lstsq then runs."""
    K, r = degenerate_kkt(1, 8, 4, 1, 0, 1.0, True)
    mixed = K.copy()
    mixed[0, 0] = -1.0
    assert AS._degenerate_step(mixed, r, 8) is None
    full = K.copy()
    full[0, 1] = full[1, 0] = 0.3
    assert AS._degenerate_step(full, r, 8) is None
    # and where it applies (an inconsistent system, which LU cannot
    # solve), _kkt_step takes it only off the plain path
    from mineq.models.speed import plain_path

    K, r = degenerate_kkt(1, 8, 4, 1, 2, 1.0, False)

    calls = []
    inner = AS._degenerate_step
    AS._degenerate_step = lambda *a: calls.append(1) or inner(*a)
    try:
        with plain_path():
            plain = AS._kkt_step(K, r, 8)
        assert not calls
        fast = AS._kkt_step(K, r, 8)
        assert calls
    finally:
        AS._degenerate_step = inner
    assert np.allclose(plain, fast, rtol=1e-8, atol=1e-10)


@pytest.fixture(scope="module")
def heavy_linked(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("linked_polish", ROOT / "benchmarks" / "linked_polish.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    from mineq.solver.case import load_case

    case = load_case(bench.heavy_linked_case(tmp_path_factory.mktemp("heavy")))
    return bench, case


def test_linked_heavy_rare_earths_same_equilibrium_with_either_step(heavy_linked):
    """The seven heavy rare earths mined jointly (benchmarks/linked_polish.py):
    the floor club's fixed point meets singular KKT systems; with lstsq and
    with the fast step every point verifies, and the two agree on the
    welfare objective and every quantity to the verifier's 1e-6 of the
    market's scales.  Prices agree to 1e-5 relative where a node's
    consumption is positive: its inverse demand then pins the price to the
    (equal) quantity.  Elsewhere a price may sit anywhere in an interval
    of equilibrium prices (a mine-stage node that only trades, between a
    joint activity's yields), and each path's is checked by the verifier
    (``ok``)."""
    bench, case = heavy_linked
    unit = next(u for u in case.links if "terbium" in u)
    _, n_plain, _, c_plain, plain = bench.timed_unit(case, unit, "partner-floor-club", fast=False)
    _, n_fast, _, c_fast, fast = bench.timed_unit(case, unit, "partner-floor-club", fast=True)
    assert n_plain > 0 and c_plain == 0  # lstsq ran, never the degenerate step
    assert n_fast + c_fast > 0  # the degenerate step ran (compiled where built)
    if AS.kernel_path() is not None:
        assert c_fast > 0
    for m in fast:
        for (sn, _, a), (_, _, b) in zip(plain[m], fast[m]):
            assert a.ok and b.ok, (m, sn, a.status, b.status)
            sa, sb = a.solution, b.solution
            scale = max(1.0, abs(sa.objective))
            assert abs(sa.objective - sb.objective) <= 1e-6 * scale, (m, sn)
            for f in ("supply", "demand"):
                x, y = getattr(sa, f), getattr(sb, f)
                ok = np.isfinite(x)
                qs = max(1.0, float(np.abs(x[ok]).max(initial=0.0)))
                assert np.all(np.abs(x[ok] - y[ok]) <= 1e-5 * qs), (m, sn, f)
            d = np.nan_to_num(sa.demand)
            ok = np.isfinite(sa.price) & (d > 1e-9 * max(1.0, float(d.max(initial=0.0))))
            assert ok.any()
            assert np.all(np.abs(sa.price[ok] - sb.price[ok]) <= 1e-5 * np.maximum(1.0, np.abs(sa.price[ok]))), (m, sn)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    nF=st.integers(4, 40),
    nr=st.integers(2, 15),
    flat=st.integers(0, 10),
    sign=st.sampled_from([1.0, -1.0]),
    sparse=st.booleans(),
)
def test_property_eliminated_solve_is_the_whole_solve(seed, nF, nr, flat, sign, sparse):
    """A nonsingular saddle-point system (no more rows than free columns and
    no dependent rows, so B has full row rank; fewer flat columns than
    rows, none repeated, so B pins them): eliminating the curved columns
    first gives the solution of the whole LU to rounding, with the
    reduced system factorised dense or sparse (``SPARSE_MIN``)."""
    nr = min(nr, nF)
    flat = min(flat, nr - 1)
    K, r = degenerate_kkt(seed, nF, nr, 0, min(flat, 1), sign, True)
    D = np.diag(K)[:nF].copy()
    D[:flat] = 0.0
    K[:nF, :nF] = np.diag(D)
    whole = np.linalg.solve(K, r)
    if not AS._accurate(K, whole, r):
        return  # a near-singular draw: nothing to compare with
    old = AS.SPARSE_MIN
    AS.SPARSE_MIN = 0 if sparse else 10**9
    try:
        step = AS._eliminated_solve(K, r, nF)
    finally:
        AS.SPARSE_MIN = old
    assert step is not None
    np.testing.assert_allclose(step, whole, rtol=0, atol=1e-8 * (1 + np.abs(whole).max()))


def test_eliminated_solve_declines_what_is_not_a_diagonal_saddle_point():
    """A full Hessian block, or a block on the rows: not the form the
    elimination assumes (None: the caller solves K whole)."""
    K, r = degenerate_kkt(2, 8, 4, 0, 0, 1.0, True)
    full = K.copy()
    full[0, 1] = full[1, 0] = 0.3
    assert AS._eliminated_solve(full, r, 8) is None
    rows = K.copy()
    rows[9, 9] = 1.0
    assert AS._eliminated_solve(rows, r, 8) is None


def test_sparse_reduced_solve_refuses_a_singular_system():
    """Two flows on the same two nodes and no curvature at either: the
    reduced system has two equal columns, so it is singular; the sparse
    factorisation says so (None, as the dense solve's LinAlgError), and
    the caller goes on to the degenerate step."""
    BZ = np.array([[1.0, 1.0], [-1.0, -1.0]])
    BP = np.zeros((2, 1))
    BP[0, 0] = 1.0
    assert AS._sparse_reduced_solve(BZ, BP, np.array([-2.0]), np.ones(4)) is None
    assert AS._dense_reduced_solve(BZ, BP, np.array([-2.0]), np.ones(4)) is None


def test_sparse_and_dense_reduced_solves_reach_the_same_equilibrium(monkeypatch):
    """A 40-region market polished in Python (the compiled step off), its
    reduced systems factorised sparse (every one) or dense (none): the
    same verified equilibrium, prices and quantities to 1e-9 of their
    scales."""
    from helpers import case_dict, random_linear_market

    from mineq.models.program import MarketModel
    from mineq.solver.case import build_case
    from mineq.solver.verify import verify

    monkeypatch.setattr(AS, "_KERNEL", None)
    monkeypatch.setattr(AS, "REDUCE_MIN", 0)
    regions, m = random_linear_market(40, np.random.default_rng(5), price=(60.0, 140.0), cost=(1.0, 30.0))
    mk = build_case(case_dict(regions, [m])).markets["m"]
    got = {}
    calls = []
    for sparse in (True, False):
        monkeypatch.setattr(AS, "SPARSE_MIN", 0 if sparse else 10**9)
        real = AS._sparse_reduced_solve
        monkeypatch.setattr(AS, "_sparse_reduced_solve", lambda *a, real=real: calls.append(1) or real(*a))
        sol, _ = MarketModel(mk).solve()
        assert verify(mk, sol).ok
        got[sparse] = sol
    assert calls  # the sparse factorisation did run
    a, b = got[True], got[False]
    np.testing.assert_allclose(a.price, b.price, rtol=0, atol=1e-9 * mk.price_scale)
    np.testing.assert_allclose(a.supply, b.supply, rtol=0, atol=1e-9 * mk.quantity_scale, equal_nan=True)
    np.testing.assert_allclose(a.demand, b.demand, rtol=0, atol=1e-9 * mk.quantity_scale, equal_nan=True)


def network_kkt(seed: int, nodes: int, flows: int, blocks: int, dep: int, parallel: int, sign: float, consistent: bool):
    """A singular saddle-point system shaped like a market's: rows are node
    balances, each flow column has -1 at its origin and +1 at its
    destination (no curvature), each curve block one entry at its node
    (curvature of one sign), ``parallel`` flows repeat an earlier one's
    ends (only their sum is pinned: a null vector of B_Z) and ``dep``
    rows are sums of two balances (dependent rows, as a linked group's
    shared activities make).  Random flows also close cycles, further
    null vectors.  Returns (K, r, nF)."""
    rng = np.random.default_rng(seed)
    ends = [tuple(rng.choice(nodes, 2, replace=False)) for _ in range(flows)]
    ends += [ends[int(rng.integers(len(ends)))] for _ in range(parallel)] if ends else []
    at = rng.integers(nodes, size=blocks)
    nF = len(ends) + blocks
    Bn = np.zeros((nodes, nF))
    for j, (o, d) in enumerate(ends):
        Bn[o, j], Bn[d, j] = -1.0, 1.0
    Bn[at, len(ends) + np.arange(blocks)] = rng.uniform(0.5, 2.0, blocks)
    extra = [Bn[a] + Bn[b] for a, b in (rng.choice(nodes, 2, replace=False) for _ in range(dep))]
    B = np.vstack([Bn, *extra]) if extra else Bn
    live = B.any(axis=1)  # polish drops rows with no free column
    B = B[live]
    D = np.zeros(nF)
    D[len(ends):] = sign * rng.uniform(0.5, 2.0, blocks)
    nr = len(B)
    K = np.zeros((nF + nr, nF + nr))
    K[:nF, :nF] = np.diag(D)
    K[:nF, nF:] = -B.T
    K[nF:, :nF] = B
    r = K @ rng.normal(size=nF + nr) if consistent else rng.normal(size=nF + nr)
    return K, r, nF


def _compiled_step_is_minimum_norm(K, r, nF, consistent):
    """The compiled step against lstsq's minimum-norm step: on an
    inconsistent system exactly that one; on a consistent one an exact
    solution (its LU, tried first below REDUCE_MIN as in Python, may give
    another)."""
    s = AS.kernel_kkt_step(K, r, nF)
    assert s is not None  # handled where it was built, not left to Python
    ref = np.linalg.lstsq(K, r, rcond=None)[0]
    if consistent:
        assert np.abs(K @ s - r).max() <= 1e-9 * (1.0 + np.abs(r).max())
    else:
        assert np.allclose(s, ref, rtol=1e-8, atol=1e-8 * (1.0 + np.abs(ref).max()))
    return s


@pytest.mark.kernel
@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    nodes=st.integers(2, 40),
    flows=st.integers(1, 60),
    blocks=st.integers(1, 40),
    dep=st.integers(0, 3),
    parallel=st.integers(0, 3),
    sign=st.sampled_from([1.0, -1.0]),
    consistent=st.booleans(),
)
# 49 parallel flows between two nodes, found by CI: a core column norm far
# below sigma_max, and Jacobi's rounding past a threshold taken from it
@example(seed=1, nodes=2, flows=49, blocks=1, dep=2, parallel=2, sign=1.0, consistent=False)
def test_property_compiled_degenerate_step_on_market_shaped_systems(seed, nodes, flows, blocks, dep, parallel, sign, consistent):
    """The compiled step (models/_polish.c: peeling B's singletons, then a
    Jacobi SVD of the core) on network systems, up to about 180 rows and
    columns, on both sides of REDUCE_MIN: where K is singular its step is
    the minimum-norm least-squares step, as Python's SVD-based
    ``_degenerate_step`` and lstsq give."""
    K, r, nF = network_kkt(seed, nodes, flows, blocks, dep, parallel, sign, consistent)
    if np.linalg.matrix_rank(K) == K.shape[0]:
        s = AS.kernel_kkt_step(K, r, nF)
        assert s is not None and np.allclose(s, np.linalg.solve(K, r), rtol=1e-8, atol=1e-8 * (1.0 + np.abs(r).max()))
        return
    _compiled_step_is_minimum_norm(K, r, nF, consistent)


@pytest.mark.kernel
def test_compiled_degenerate_step_runs_and_agrees_with_python():
    """Singular systems of both sizes: past REDUCE_MIN (reduced first)
    and below it (the whole LU first, singular there), inconsistent so
    that only the minimum-norm step is right.  The compiled step takes
    them (its counter moves) and gives Python's ``_kkt_step`` to 1e-9."""
    for nodes, flows, blocks in ((60, 70, 40), (10, 14, 8)):
        K, r, nF = network_kkt(3, nodes, flows, blocks, 2, 2, -1.0, False)
        assert (K.shape[0] >= AS.REDUCE_MIN) == (nodes == 60)
        before = AS.kernel_degenerate_steps()
        s = _compiled_step_is_minimum_norm(K, r, nF, False)
        assert AS.kernel_degenerate_steps() == before + 1
        ref = AS._kkt_step(K, r, nF)
        np.testing.assert_allclose(s, ref, rtol=1e-9, atol=1e-9 * (1.0 + np.abs(ref).max()))


@pytest.mark.kernel
def test_compiled_step_leaves_mixed_curvature_to_python():
    """Curvature of both signs: not the form whose null space is B's
    (``_degenerate_step`` declines it too); a singular such system is
    handed to Python (None)."""
    K, r, nF = network_kkt(4, 6, 8, 4, 1, 1, 1.0, False)
    K[nF - 1, nF - 1] = -1.0
    assert np.linalg.matrix_rank(K) < K.shape[0]
    assert AS._degenerate_step(K, r, nF) is None
    assert AS.kernel_kkt_step(K, r, nF) is None


@pytest.mark.kernel
def test_compiled_step_leaves_a_large_core_to_python():
    """Ninety-two flows among sixty nodes close 35 independent cycles: the
    core left after peeling has more flows than the Jacobi SVD takes
    (``CORE_MAX``), so the compiled step hands the system to Python
    (None), whose SVD gives the minimum-norm step."""
    K, r, nF = network_kkt(3, 60, 90, 40, 2, 2, -1.0, False)
    assert AS.kernel_kkt_step(K, r, nF) is None
    ref = np.linalg.lstsq(K, r, rcond=None)[0]
    assert np.allclose(AS._kkt_step(K, r, nF), ref, rtol=1e-8, atol=1e-8 * (1.0 + np.abs(ref).max()))
