"""Exact optima of the welfare program from an approximate active set.

HiGHS's active-set QP solver regularises its Hessian and stops at
tolerances near 1e-7; :func:`polish` solves the KKT system of the active
set it found exactly, and changes that set one variable or row at a time
when a sign or a bound is wrong.  Started from a neighbouring program's
optimum (a warm start) it is itself an active-set method; in ``strict``
mode it returns only a KKT point of the given program, which for a convex
program is its optimum.

The program is held as a :class:`QP` in HiGHS's form (either sense):

    min/max  c·x + ½·x'Hx   s.t.  rlo <= A·x <= rup,  lo <= x <= up
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .sparse import Matrix

_BANNER_SHOWN = False
def release_highs(h) -> None:
    """Free a HiGHS instance a program is done with.

    Not kept for the next program: a cleared instance (``Highs.clear``)
    does not solve like a new one after a long history.  On the bundled
    dynamic case, the linked light rare earths' 2035 program, solved after
    ten years of the other markets in one process, ended with balance
    residuals of 2.4e-6 that neither polish nor the MILP repaired, while a
    new instance solves it (and the answer of a program must not depend on
    what the process solved before it, nor on how markets are spread over
    workers).  A new instance costs about 0.25 ms a program.
    """
    h.clear()


def new_highs():
    """A new, silent ``highspy.Highs`` instance.

    HiGHS prints its banner to the C-level stdout when the first instance
    of a process is made, whatever ``output_flag`` says; that first
    construction runs with file descriptor 1 pointed at the null device
    (as Pyomo's own HiGHS interface does), so that ``mineq solve -q`` and
    piped CSV output stay clean.
    """
    import os
    import sys

    import highspy

    global _BANNER_SHOWN
    if _BANNER_SHOWN:
        h = highspy.Highs()
    else:
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), 1)
                h = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        _BANNER_SHOWN = True
    h.setOptionValue("output_flag", False)
    return h


@dataclass
class QP:
    """A quadratic program in HiGHS's form; ``A`` sparse
    (:class:`mineq.models.sparse.Matrix`; a dense array is converted),
    ``hd`` the Hessian's diagonal (``H`` the full matrix when it is not
    diagonal, else None); ``sense`` is +1 to minimise, -1 to maximise."""

    A: Matrix
    c: np.ndarray
    lo: np.ndarray
    up: np.ndarray
    rlo: np.ndarray
    rup: np.ndarray
    hd: np.ndarray
    sense: float
    H: np.ndarray | None = None

    def __post_init__(self):
        # a small program written by hand may give its matrix dense
        if not isinstance(self.A, Matrix):
            self.A = Matrix.from_dense(self.A)

    def reduced_costs(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Column reduced costs at primal ``x`` and row duals ``y``, in the
        minimisation form whatever the sense: >= 0 is optimal at a lower
        bound, <= 0 at an upper one, 0 between."""
        grad = self.c + (self.H @ x if self.H is not None else self.hd * x)
        return self.sense * (grad - self.A.T @ y)

    @classmethod
    def from_highs(cls, model) -> "QP":
        """From a ``highspy.HighsModel`` (``lp_`` and ``hessian_``)."""
        import highspy

        lp, hs = model.lp_, model.hessian_
        n = lp.num_col_
        a = lp.a_matrix_
        start, index, value = np.asarray(a.start_), np.asarray(a.index_), np.asarray(a.value_)
        outer = np.repeat(np.arange(len(start) - 1), np.diff(start))
        if a.format_ == highspy.MatrixFormat.kRowwise:
            A = Matrix.from_triplets((lp.num_row_, n), outer, index, value)
        else:
            A = Matrix.from_triplets((lp.num_row_, n), index, outer, value)
        hd = np.zeros(n)
        H = None
        if hs.dim_:
            st, ix, val = np.asarray(hs.start_), np.asarray(hs.index_), np.asarray(hs.value_)
            cols = np.repeat(np.arange(hs.dim_), np.diff(st))
            if np.all(ix == cols):
                hd[ix] = val
            else:
                H = np.zeros((n, n))
                H[ix, cols] = val
                H = H + H.T - np.diag(np.diag(H))
        sense = -1.0 if lp.sense_ == highspy.ObjSense.kMaximize else 1.0
        f = lambda v: np.asarray(v, dtype=float)  # noqa: E731
        return cls(A, f(lp.col_cost_), f(lp.col_lower_), f(lp.col_upper_), f(lp.row_lower_), f(lp.row_upper_), hd, sense, H)


def _kkt_step(K: np.ndarray, r: np.ndarray, nF: int | None = None) -> np.ndarray:
    """Solve ``K·step = r``: by LU when K is well conditioned, else the
    minimum-norm least-squares step (degenerate active sets).

    ``nF`` (the number of free columns, when K is the saddle-point matrix
    ``[[D, -B'], [B, 0]]`` of a diagonal Hessian D) lets a singular K take
    :func:`_degenerate_step`, which gives the same minimum-norm step as
    ``lstsq`` from one LU factorisation and two small SVDs; the plain
    path (:mod:`mineq.models.speed`) and ``FAST_DEGENERATE_STEP = False``
    keep ``lstsq``.  Systems of at least :data:`REDUCE_MIN` are solved
    with the curved columns eliminated first (:func:`_eliminated_solve`),
    and the whole LU is tried only where that and the degenerate step
    both fail.
    """
    from .speed import plain

    fast = nF is not None and not plain()
    reduced = fast and K.shape[0] >= REDUCE_MIN
    if reduced:
        form = _saddle(K, nF)  # read once: a scan of K, each step below needs it
        step = _eliminated_solve(K, r, nF, form=form)
        if step is not None and _accurate(K, step, r):
            return step
        # singular, as a rule (never otherwise in the bundled case's
        # linked markets): the whole LU would fail as well, so the
        # degenerate step comes first
        if FAST_DEGENERATE_STEP:
            step = _degenerate_step(K, r, nF, form=form)
            if step is not None:
                return step
    try:
        step = np.linalg.solve(K, r)
        if _accurate(K, step, r):
            return step
    except np.linalg.LinAlgError:
        pass
    if fast and not reduced and FAST_DEGENERATE_STEP:
        step = _degenerate_step(K, r, nF)
        if step is not None:
            return step
    return np.linalg.lstsq(K, r, rcond=None)[0]


#: KKT systems at least this large (free columns plus active rows) are
#: solved with the curved columns eliminated first (:func:`_eliminated_solve`);
#: smaller ones by one LU of the whole system, which costs less than the
#: elimination's extra steps there
REDUCE_MIN = 150
#: reduced systems (:func:`_eliminated_solve`) at least this large are
#: factorised sparse (:func:`_sparse_reduced_solve`); the bundled case's
#: (about 230 on the linked light rare earths) stay dense
SPARSE_MIN = 500


def _saddle(K: np.ndarray, nF: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(D, B) when ``K`` is the saddle-point matrix ``[[D, -B'], [B, 0]]`` of
    a diagonal D on its first ``nF`` rows and columns, with at least one
    row; else None.  (The lower-left block is not checked against the
    upper-right: polish builds both from the same rows.)"""
    D = np.diag(K)[:nF]
    if K.shape[0] == nF or K[nF:, nF:].any() or np.count_nonzero(K[:nF, :nF]) > np.count_nonzero(D):
        return None
    return D, K[nF:, :nF]


def _eliminated_solve(K: np.ndarray, r: np.ndarray, nF: int, Nu: np.ndarray | None = None, Nv: np.ndarray | None = None, form=False) -> np.ndarray | None:
    """``(K + NN')·s = r`` for a saddle-point matrix ``K = [[D, -B'], [B, 0]]``
    (D diagonal) with the curved columns eliminated first, or None when K
    is not of that form or the reduced system is singular; the caller
    judges the accuracy.  ``N`` is empty (a plain solve of K), or K's
    orthonormal null space as :func:`_degenerate_step` finds it: ``Nu``
    on the free columns, zero wherever D is not (a null vector has
    ``Du = 0``), and ``Nv`` on the rows, so that ``NN'`` is
    ``Nu·Nu'`` on the columns beside ``Nv·Nv'`` on the rows.

    With P the columns whose D is not zero and Z the others (flows, a
    joint activity's linear parts), the first block row gives
    ``s_P = D_P⁻¹(r_P + B_P'·v)``, since N has no part on P; what is left
    is ``[[Nu_Z·Nu_Z', -B_Z'], [B_Z, B_P·D_P⁻¹·B_P' + Nv·Nv']]·(s_Z, v) =
    (r_Z, r_B - B_P·D_P⁻¹·r_P)``, of side |Z| + rows instead of
    |P| + |Z| + rows: on the linked light rare earths' fixed points about
    230 instead of 540, a twelfth of the LU's work.  The solution is the
    whole system's, to rounding.  A reduced system of at least
    :data:`SPARSE_MIN` without null-space terms is factorised sparse
    (:func:`_sparse_reduced_solve`), a smaller one dense
    (:func:`_dense_reduced_solve`).  ``form``: :func:`_saddle` of K where
    the caller has it.
    """
    n = K.shape[0]
    if form is False:
        form = _saddle(K, nF)
    if form is None:
        return None
    D, B = form
    P, Z = np.flatnonzero(D != 0.0), np.flatnonzero(D == 0.0)
    BP, inv = B[:, P], 1.0 / D[P]
    nz = len(Z)
    rhs = np.concatenate([r[Z], r[nF:] - BP @ (inv * r[P])])
    if Nu is None and Nv is None and n - len(P) >= SPARSE_MIN:
        sz = _sparse_reduced_solve(B[:, Z], BP, inv, rhs)
    else:
        sz = _dense_reduced_solve(B[:, Z], BP, inv, rhs, None if Nu is None else Nu[Z], Nv)
    if sz is None:
        return None
    step = np.empty(n)
    step[Z], step[nF:] = sz[:nz], sz[nz:]
    step[P] = inv * (r[P] + BP.T @ step[nF:])
    return step


def _dense_reduced_solve(BZ: np.ndarray, BP: np.ndarray, inv: np.ndarray, rhs: np.ndarray, NuZ: np.ndarray | None = None, Nv: np.ndarray | None = None) -> np.ndarray | None:
    """The reduced system of :func:`_eliminated_solve`, ``[[NuZ·NuZ',
    -BZ'], [BZ, BP·diag(inv)·BP' + Nv·Nv']]·s = rhs``, by one dense LU;
    None when it is singular."""
    nz = BZ.shape[1]
    R = np.empty((nz + BZ.shape[0], nz + BZ.shape[0]))
    R[:nz, :nz] = 0.0 if NuZ is None else NuZ @ NuZ.T
    R[:nz, nz:] = -BZ.T
    R[nz:, :nz] = BZ
    R[nz:, nz:] = (BP * inv) @ BP.T
    if Nv is not None:
        R[nz:, nz:] += Nv @ Nv.T
    try:
        return np.linalg.solve(R, rhs)
    except np.linalg.LinAlgError:
        return None


def _sparse_reduced_solve(BZ: np.ndarray, BP: np.ndarray, inv: np.ndarray, rhs: np.ndarray) -> np.ndarray | None:
    """:func:`_dense_reduced_solve` (without null-space terms) by a sparse
    LU (SuperLU, through SciPy), or None when the system is singular.

    The reduced system of a country-level market is mostly zeros: a flow
    has two entries (its ends' balances), a curve block one, and
    ``BP·diag(inv)·BP'`` couples only the nodes a processing block joins.
    Its side is about 725 there (325 free flows beside 400 balances):
    the country case's 63 such systems (benchmarks/country_case.py) took
    0.93 s dense, making the matrix and its LU, and 0.30 s sparse, the
    solutions equal to 3e-17 relative.  SciPy is imported here, on the
    first system this large: a case without one never loads it.
    """
    import scipy.sparse as sp
    from scipy.sparse.linalg import splu

    nz = BZ.shape[1]
    bp = sp.csr_matrix(BP)
    S = (bp.multiply(inv[None, :]) @ bp.T).tocsc()
    if nz:
        bz = sp.csc_matrix(BZ)
        R = sp.bmat([[sp.csc_matrix((nz, nz)), -bz.T], [bz, S]], format="csc")
    else:
        R = S
    try:
        return splu(R).solve(rhs)
    except RuntimeError:  # "Factor is exactly singular": as LinAlgError above
        return None


def _accurate(K: np.ndarray, step: np.ndarray, r: np.ndarray) -> bool:
    """``step`` solves ``K·step = r`` to working accuracy, and is not a
    huge step through a near-singular K."""
    return bool(np.all(np.isfinite(step)) and np.abs(K @ step - r).max(initial=0.0) <= 1e-10 * (1.0 + np.abs(r).max(initial=0.0)) and np.abs(step).max(initial=0.0) < 1e6)


#: False: a singular KKT matrix is solved by dense ``lstsq`` (as the plain
#: path does); benchmarks/linked_polish.py times the two
FAST_DEGENERATE_STEP = True


def _degenerate_step(K: np.ndarray, r: np.ndarray, nF: int, form=False) -> np.ndarray | None:
    """The minimum-norm least-squares solution of ``K·s = r`` for a singular
    saddle-point matrix ``K = [[D, -B'], [B, 0]]`` (D diagonal, of one
    sign), or None when K is not of that form or the result is not
    accurate (the caller then runs ``lstsq``).

    Why it is exact: for such a K, ``K·(u, v) = 0`` gives
    ``u'Du = u'B'v = 0``, so ``Du = 0``, ``Bu = 0`` and ``B'v = 0``: the
    null space of K is the null space of B restricted to the columns
    without curvature (D = 0: flows, a joint activity's linear parts)
    beside the left null space of B (dependent active rows, e.g. the
    balances of a linked group, which share activities).  Both come from
    SVDs of B's blocks, far smaller than K.  K is symmetric, so with N an
    orthonormal basis of its null space the minimum-norm least-squares
    solution is ``K⁺r = (K + NN')⁻¹(r − NN'r)``: the projection removes
    the inconsistent part of r, and ``K + NN'`` is nonsingular, so one LU
    solve does what ``lstsq``'s SVD of the whole K did (on the linked
    heavy rare earths' 700-row systems, benchmarks/linked_polish.py).
    Singular values below ``max(shape)·eps·σ_max`` of a block count as
    zero, as in ``numpy.linalg.matrix_rank``.  ``form``: :func:`_saddle`
    of K where the caller has it.
    """
    n = K.shape[0]
    nr = n - nF
    if form is False:
        form = _saddle(K, nF)
    if form is None:
        return None
    D, B = form
    if (D > 0).any() and (D < 0).any():
        return None
    # left null space of B: dependent active rows.  Rows that are
    # independent show in the eigenvalues of the small B·B' at a fraction
    # of B's SVD: a smallest above 1e-10 of the largest is a σ_min above
    # 1e-5·σ_max, far above the rank threshold below, so the SVD would
    # find no null vector there either (the light rare earths' fixed
    # points: 73 of 110 systems, the SVDs 0.40 s of the chain's 2.3 s)
    if nr <= nF and (lam := np.linalg.eigvalsh(B @ B.T))[0] > 1e-10 * lam[-1]:
        Nv = None
    else:
        U, sv, _ = np.linalg.svd(B, full_matrices=nr > nF)
        rank = int((sv > max(B.shape) * np.finfo(float).eps * sv.max(initial=0.0)).sum())
        Nv = U[:, rank:] if rank < nr else None
    # null space of B on the columns without curvature
    Z = np.flatnonzero(D == 0)
    Nu = None
    if len(Z):
        _, sz, Vt = np.linalg.svd(B[:, Z], full_matrices=True)
        rz = int((sz > max(nr, len(Z)) * np.finfo(float).eps * sz.max(initial=0.0)).sum())
        if rz < len(Z):
            Nu = np.zeros((nF, len(Z) - rz))
            Nu[Z] = Vt[rz:].T
    if Nu is None and Nv is None:
        return None
    # the projection r - NN'r, N's two parts on their own blocks
    rp = r.copy()
    if Nu is not None:
        rp[:nF] -= Nu @ (Nu.T @ r[:nF])
    if Nv is not None:
        rp[nF:] -= Nv @ (Nv.T @ r[nF:])

    def accurate(s):
        return s is not None and np.all(np.isfinite(s)) and np.abs(K @ s - rp).max(initial=0.0) <= 1e-10 * (1.0 + np.abs(rp).max(initial=0.0))

    if n >= REDUCE_MIN:
        s = _eliminated_solve(K, rp, nF, Nu, Nv, form=form)
        if accurate(s):
            return s
    KN = K.copy()
    if Nu is not None:
        KN[:nF, :nF] += Nu @ Nu.T
    if Nv is not None:
        KN[nF:, nF:] += Nv @ Nv.T
    try:
        s = np.linalg.solve(KN, rp)
    except np.linalg.LinAlgError:
        return None
    return s if accurate(s) else None


#: the compiled step's interface version (``ABI`` in models/_polish.c):
#: 4 settles its KKT point as models/program.py's ``_settled`` does (the
#: ``settle`` of :func:`polish`); 3 takes singular systems itself (the
#: degenerate step) and has ``mineq_kkt_step``; 2 took the matrix by its
#: nonzeros (1 took it dense)
KERNEL_ABI = 4


def _load_kernel():
    """The compiled active-set step (``models/_polish.c``) as a ctypes
    function, or None (not built, or ``MINEQ_KERNEL=0``).

    Looked for beside this module (an installed or in-place build), then
    in the installed ``mineq`` distribution: the tests and benchmarks
    import the source tree, which is not built.  A library of another
    interface version is not used.
    """
    if os.environ.get("MINEQ_KERNEL", "1") == "0":
        return None
    import ctypes
    import importlib.machinery

    here = Path(__file__).resolve().parent

    def installed():
        # every copy: the source tree's own egg-info lists no built files
        from importlib.metadata import distributions

        try:
            for dist in distributions(name="mineq"):
                yield from (Path(dist.locate_file(f)) for f in dist.files or () if f.parts[:2] == ("mineq", "models") and f.name.startswith("_polish.") and f.suffix in (".so", ".pyd"))
        except Exception:  # no file list: the source tree alone
            return

    beside = [here / f"_polish{suffix}" for suffix in importlib.machinery.EXTENSION_SUFFIXES]
    # the installed copies are looked up only when there is no build here
    paths = beside if any(p.is_file() for p in beside) else [*beside, *installed()]
    for path in paths:
        if not path.is_file():
            continue
        try:
            lib = ctypes.CDLL(str(path))
            if lib.mineq_polish_abi() != KERNEL_ABI:
                continue
        except (OSError, AttributeError):
            continue
        fn = lib.mineq_polish
        fn.restype = ctypes.c_int
        fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_double, ctypes.c_double, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_double, ctypes.c_void_p, ctypes.c_void_p]
        fn.path = str(path)
        fn.reduced_steps, fn.degenerate_steps = lib.mineq_polish_reduced_steps, lib.mineq_polish_degenerate_steps
        fn.reduced_steps.restype = fn.degenerate_steps.restype = ctypes.c_long
        fn.kkt_step = lib.mineq_kkt_step
        fn.kkt_step.restype = ctypes.c_int
        fn.kkt_step.argtypes = [ctypes.c_int, ctypes.c_int] + [ctypes.c_void_p] * 6
        return fn
    return None


_KERNEL = _load_kernel()
#: programs with a larger constraint matrix (rows × columns) polish in
#: Python.  The kernel reads the matrix by its nonzeros, but factors each
#: round's reduced KKT system dense, where Python factors one of 500 or
#: more sparse (_sparse_reduced_solve): a country-level market's systems
#: are small enough for either, a 2,000-region market's are not.  Up to
#: session 20 the limit was 2 million, from when the kernel copied the
#: matrix dense; 4 million takes in the country case's largest programs
#: (400 × 8,600: 59 of its 164 polish calls, 0.11 s compiled), whose
#: markets then took 10.4-10.5 s on one thread instead of 10.9-11.2 s
KERNEL_MAX_ENTRIES = 4_000_000


def kernel_path() -> str | None:
    """Where the compiled active-set step was loaded from (None: the Python one runs)."""
    return getattr(_KERNEL, "path", None)


def kernel_reduced_steps() -> int | None:
    """How many steps the compiled polish has solved with the curved
    columns eliminated (``kkt_step`` in ``models/_polish.c``, the systems
    of at least :data:`REDUCE_MIN`) since it was loaded; None without the
    kernel.  For tests and benchmarks."""
    f = getattr(_KERNEL, "reduced_steps", None)
    return None if f is None else int(f())


def kernel_degenerate_steps() -> int | None:
    """How many singular KKT systems the compiled polish has solved itself
    (its degenerate step, ``degenerate_step`` in ``models/_polish.c``)
    since it was loaded; None without the kernel.  For tests and
    benchmarks."""
    f = getattr(_KERNEL, "degenerate_steps", None)
    return None if f is None else int(f())


def kernel_kkt_step(K: np.ndarray, r: np.ndarray, nF: int) -> np.ndarray | None:
    """The compiled step of ``K·s = r`` (``kkt_step`` in
    ``models/_polish.c``, what :func:`_kkt_step` is in Python) for a
    saddle-point matrix ``K = [[D, -B'], [B, 0]]`` of a diagonal D on its
    first ``nF`` rows: None where it hands the system to Python (no
    accurate step, or a rank it cannot tell).  For tests; raises
    RuntimeError without the kernel."""
    if _KERNEL is None:
        raise RuntimeError("the compiled active-set step is not built here")
    form = _saddle(K, nF)
    if form is None:
        raise ValueError("K is not a saddle-point matrix [[D, -B'], [B, 0]] of a diagonal D")
    D, B = form
    starts = np.concatenate([[0], np.cumsum(np.count_nonzero(B, axis=0))]).astype(np.int64)
    index = np.concatenate([np.flatnonzero(B[:, f]) for f in range(nF)] + [np.zeros(0, np.int64)]).astype(np.int64)
    value = np.ascontiguousarray(B.T[B.T != 0], dtype=float)
    d, rr = np.ascontiguousarray(D, dtype=float), np.ascontiguousarray(r, dtype=float)
    s = np.empty(K.shape[0])
    status = _KERNEL.kkt_step(nF, K.shape[0] - nF, starts.ctypes.data, index.ctypes.data, value.ctypes.data, d.ctypes.data, rr.ctypes.data, s.ctypes.data)
    if status < 0:
        raise MemoryError("the compiled step ran out of memory")
    return s if status == 0 else None


#: what :func:`polish` returns with ``compiled_only`` when the compiled
#: step met a singular system and the Python one would have to run
LEFT_TO_PYTHON = object()


class Settled(tuple):
    """A result of :func:`polish` (col, row, active) that the compiled
    step has settled already, as ``settle`` asked: models/program.py's
    ``_settled`` has nothing left to do with it."""


def polish(qp: QP, col_value, row_dual, tol: float = 1e-7, rounds: int = 60, strict: bool = False, active: tuple | None = None, compiled_only: bool = False, settle: dict | None = None):
    """Exact KKT solution on the active set of an approximate QP optimum.

    :func:`polish_python` is the algorithm and its description; this runs
    it compiled (``models/_polish.c``, the same steps in the same order)
    when the extension is built and the Hessian is diagonal, and in Python
    otherwise, or when the compiled step solves a round's system neither
    by LU nor by its degenerate step (the Python version then takes its
    SVDs or least-squares step: a rank the compiled step cannot tell, a
    null space too large for it).  Compiled, the bundled
    case's 487 calls, replayed, took 0.045 s instead of 0.12 s (0.03 s of
    it in C, with the GIL free).  ``compiled_only``: where the compiled
    step hands over to Python, return :data:`LEFT_TO_PYTHON` instead (the
    caller decides whether the slow path is worth it; without the
    extension the Python path runs as usual).

    ``settle`` (``rounds``, ``strict`` and ``slack``: the options of
    models/program.py's ``_settled``): where the compiled step runs, it
    settles the KKT point it finds as ``_settled`` would, in the same
    call, and returns it as :class:`Settled`; a point it leaves to
    ``_settled`` (or a Python polish's) comes back as a plain tuple.
    """
    from .speed import plain

    m, n = qp.A.shape
    if _KERNEL is not None and qp.H is None and m * n <= KERNEL_MAX_ENTRIES and not plain():
        A = qp.A
        # the matrix by its nonzeros, as the program holds it
        start, index, value = (np.ascontiguousarray(a, dtype=t) for a, t in ((A.start, np.int64), (A.index, np.int64), (A.value, float)))
        buf = np.concatenate((qp.c, qp.lo, qp.up, qp.rlo, qp.rup, qp.hd, col_value, row_dual), dtype=float)
        flags = np.zeros(2 * (n + m), dtype=np.uint8) if active is None else np.concatenate(active, dtype=np.uint8)
        if (buf.size != 5 * n + 3 * m or flags.size != 2 * (n + m) or start.size != n + 1 or start[-1] != index.size or index.size != value.size
                or (index.size and not (0 <= index.min() and index.max() < m))):
            # arrays that do not fit the program: Python says what is wrong
            # (C would read past the buffer)
            return polish_python(qp, col_value, row_dual, tol, rounds, strict, active)
        out = np.empty(n + m)
        # _settled's second polish takes polish's own tolerance
        sr, ss, sl = (-1, 0, 0.0) if settle is None or settle.get("tol", tol) != tol else (int(settle.get("rounds", 60)), int(settle.get("strict", False)), float(settle["slack"]))
        status = _KERNEL(m, n, start.ctypes.data, index.ctypes.data, value.ctypes.data, buf.ctypes.data, float(qp.sense), float(tol), int(rounds), int(strict), int(active is not None), int(FAST_DEGENERATE_STEP), sr, ss, sl, flags.ctypes.data, out.ctypes.data)
        if status in (0, 3):
            f = flags.view(bool)
            got = out[:n], out[n:], (f[:n], f[n : 2 * n], f[2 * n : 2 * n + m], f[2 * n + m :])
            return Settled(got) if status == 0 and sr >= 0 else got
        if status == 1:
            return None
        if compiled_only:
            return LEFT_TO_PYTHON
    return polish_python(qp, col_value, row_dual, tol, rounds, strict, active)


def polish_python(qp: QP, col_value, row_dual, tol: float = 1e-7, rounds: int = 60, strict: bool = False, active: tuple | None = None):
    """Exact KKT solution on the active set of an approximate QP optimum.

    ``qp`` is the program; ``col_value`` and
    ``row_dual`` the solver's approximate primal and row duals.  Variables
    within ``tol`` of a bound are fixed there and inequality rows within
    ``tol`` of a side are made equalities; the remaining stationarity and
    feasibility equations are linear and solved by least squares, as the
    smallest correction of the solver's point (so that a degenerate price,
    anywhere between two steps, stays where HiGHS put it).  A fixed
    variable whose reduced cost then has the wrong sign is freed, and a
    free one that crosses its bound or cannot meet its equation is fixed,
    one variable per round, worst first (an active-set method started at
    HiGHS's active set).  Returns (col_value, row_dual, active) with the
    first two in HiGHS's sign convention and ``active`` the final active
    set, or None if no consistent active set was found; the verifier
    judges the result either way.  ``strict`` (for a start that is not
    this program's solver point: a warm start) also returns None when the
    equations are inconsistent on the final active set, so that only a
    KKT point of this program, hence its optimum, comes back.

    ``active`` (the set an earlier call returned) starts from that set
    instead of the bounds ``col_value`` touches: between neighbouring
    programs (a sweep, the next fixed-point step) a bound or row side that
    moved stays active at its new value, which is what a warm start needs;
    re-detecting it from the old point would drop it and take a round to
    find it again.
    """
    A, c, lo, up, rlo, rup, hd, H, sense = qp.A, qp.c, qp.lo, qp.up, qp.rlo, qp.rup, qp.hd, qp.H, qp.sense
    m, n = A.shape
    x0 = np.asarray(col_value, dtype=float)
    y0 = np.asarray(row_dual, dtype=float)
    # HiGHS's convention, either sense: grad f(x) - A'y - z = 0 with column
    # duals z >= 0 at a lower bound when minimising, <= 0 when maximising
    scale = np.maximum(1.0, np.abs(x0))
    has_lo, has_up = np.isfinite(lo), np.isfinite(up)
    lo_tol, up_tol = lo - tol * scale, up + tol * scale
    eq = np.isfinite(rlo) & np.isfinite(rup) & (rlo == rup)
    ineq_lo, ineq_up = ~eq & np.isfinite(rlo), ~eq & np.isfinite(rup)
    if active is None:
        at_lo = has_lo & (np.abs(x0 - lo) <= tol * np.maximum(1.0, np.abs(lo)))
        at_up = has_up & (np.abs(x0 - up) <= tol * np.maximum(1.0, np.abs(up))) & ~at_lo
        ax = A @ x0
        rscale = np.maximum(1.0, np.abs(ax))
        act_lo = ineq_lo & (np.abs(ax - rlo) <= tol * rscale)
        act_up = ineq_up & (np.abs(ax - rup) <= tol * rscale) & ~act_lo
    else:
        # only sides that still exist (a bound may have become infinite)
        at_lo = active[0] & has_lo
        at_up = active[1] & has_up & ~at_lo
        act_lo = active[2] & ineq_lo
        act_up = active[3] & ineq_up & ~act_lo
    for _ in range(rounds):
        active = eq | act_lo | act_up
        rows = np.flatnonzero(active)
        b = np.where(act_up, rup, rlo)[rows]
        fixed = at_lo | at_up
        free = ~fixed
        xf = np.where(at_lo, lo, np.where(at_up, up, x0))
        F = np.flatnonzero(free)
        # dense only on the active rows and free columns: the system solved
        Af = A.dense(rows, F)
        g = c[F] + (H[np.ix_(F, np.flatnonzero(fixed))] @ xf[fixed] if H is not None else 0.0)
        # a row with no free variable (a node whose quantities are all at
        # bounds) constrains nothing here and its multiplier, a price
        # anywhere in an interval, stays where it was: dropping it keeps K
        # regular in the common degenerate case
        live = Af.any(axis=1)
        Afl, rl = Af[live], rows[live]
        nF, nr = len(F), len(rl)
        K = np.zeros((nF + nr, nF + nr))
        if H is None:
            K.flat[: nF * (nF + nr + 1) : nF + nr + 1] = hd[F]
        else:
            K[:nF, :nF] = H[np.ix_(F, F)]
        K[:nF, nF:] = -Afl.T
        K[nF:, :nF] = Afl
        rhs = np.concatenate([-g, (b - (A @ np.where(fixed, xf, 0.0))[rows])[live]])
        start = np.concatenate([x0[F], y0[rl]])
        sol = start + _kkt_step(K, rhs - K @ start, nF if H is None else None)
        xf[F] = sol[:nF]
        y = np.where(active, y0, 0.0)
        y[rl] = sol[nF:]
        # reduced costs of the minimisation form: >= 0 at a lower bound
        red = qp.reduced_costs(xf, y)
        pos, neg = red > tol, red < -tol  # scaled units: prices near one
        wrong = (at_lo & neg) | (at_up & pos)
        below, above = xf < lo_tol, xf > up_tol
        # a free variable whose equation could not be met (the least-squares
        # system was inconsistent, e.g. a flow on a costly cycle) wants to
        # move to a bound
        push_lo = free & pos & has_lo
        push_up = free & neg & has_up
        # rows: an active inequality whose multiplier has the wrong sign is
        # released, an inactive one that the point violates is activated
        # (only possible when the start is not the optimum of this program,
        # as in a warm start from a neighbouring program)
        ymin = sense * y
        ax = A @ xf
        rscale = np.maximum(1.0, np.abs(ax))
        row_wrong = (act_lo & (ymin < -tol)) | (act_up & (ymin > tol))
        row_lo = ~active & ineq_lo & (ax < rlo - tol * rscale)
        row_up = ~active & ineq_up & (ax > rup + tol * rscale)
        x = xf
        # a free variable that wants to move where it has no bound, in no
        # active row (nothing in this round's system prices it: a price
        # floor's credit column whose rows were slack at the start) moves
        # alone along its ray, until the first inactive row it is in
        # reaches a side: that row is made active (ray_row, ray_side)
        unmet = free & (pos | neg) & ~(push_lo | push_up)
        ray_row, ray_side = _rays(A, F, Af, unmet, neg, ax, rlo, rup, ineq_lo & ~active, ineq_up & ~active)
        # a free variable that wants to move where it has no bound and no
        # ray, or an active row its equation does not meet: the
        # least-squares system was inconsistent and no single change fixes
        # it; give up (HiGHS solves instead)
        if strict:
            if (unmet & (ray_row < 0)).any() or (np.abs(ax[rows] - b) > tol * np.maximum(1.0, np.abs(b))).any():
                return None
        bound_bad, row_bad, move = below | above, row_lo | row_up, wrong | push_lo | push_up | (ray_row >= 0)
        if not (bound_bad.any() or row_bad.any() or move.any() or row_wrong.any()):
            return x, y, (at_lo, at_up, act_lo, act_up)
        # change the active set one variable or row at a time, the worst
        # first: changing all at once makes degenerate markets oscillate
        if bound_bad.any() or row_bad.any():
            jv = np.where(bound_bad, np.maximum(lo - xf, xf - up) / scale, -np.inf)
            jr = np.where(row_bad, np.maximum(rlo - ax, ax - rup) / rscale, -np.inf)
            if jv.max(initial=-np.inf) >= jr.max(initial=-np.inf):  # (a program may have no rows)
                j = int(np.argmax(jv))
                at_lo[j], at_up[j] = bool(below[j]), bool(above[j] and not below[j])
            else:
                i = int(np.argmax(jr))
                act_lo[i], act_up[i] = bool(row_lo[i]), bool(row_up[i])
        else:
            jv = np.where(move, np.abs(red), -np.inf)
            jr = np.where(row_wrong, np.abs(ymin), -np.inf)
            if jv.max(initial=-np.inf) >= jr.max(initial=-np.inf):  # (a program may have no rows)
                j = int(np.argmax(jv))
                if wrong[j]:
                    at_lo[j] = at_up[j] = False
                elif ray_row[j] >= 0:
                    i = int(ray_row[j])
                    act_lo[i], act_up[i] = ray_side[j] < 0, ray_side[j] > 0
                else:
                    at_lo[j], at_up[j] = bool(push_lo[j]), bool(push_up[j] and not push_lo[j])
            else:
                i = int(np.argmax(jr))
                act_lo[i] = act_up[i] = False
        x0 = np.clip(xf, lo, up)
        y0 = y
    return None


def _rays(A, F: np.ndarray, Af: np.ndarray, unmet: np.ndarray, up: np.ndarray, ax: np.ndarray, rlo: np.ndarray, rup: np.ndarray, open_lo: np.ndarray, open_up: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ratio test of :func:`polish_python` for variables that want to
    move where they have no bound (``unmet``; upward where ``up``) and
    that no active row holds (their column of ``Af``, the active rows on
    the free columns ``F``, is empty): alone on that ray, the first row
    among the inactive ones they are in to reach a side (``open_lo``,
    ``open_up``: inactive rows with that side).  Returns, per column, that
    row (-1: none, or not such a variable) and its side (-1 lower, +1
    upper); ties go to the first row, as in the compiled step."""
    n = len(unmet)
    row = np.full(n, -1, dtype=np.int64)
    side = np.zeros(n, dtype=np.int64)
    if not unmet.any():
        return row, side
    held = np.zeros(n, dtype=bool)
    held[F] = Af.any(axis=0)
    for j in np.flatnonzero(unmet & ~held):
        sgn = 1.0 if up[j] else -1.0
        best = np.inf
        for e in range(A.start[j], A.start[j + 1]):
            i, a = int(A.index[e]), sgn * float(A.value[e])
            if a > 0 and open_up[i]:
                dist = (rup[i] - ax[i]) / a
            elif a < 0 and open_lo[i]:
                dist = (ax[i] - rlo[i]) / -a
            else:
                continue
            if dist < best:
                best, row[j], side[j] = dist, i, 1 if a > 0 else -1
    return row, side


#: active-set changes polish may make from the linear twin's optimum in
#: :func:`rescue` (one per round; the zinc market above needed fewer than 300)
TWIN_ROUNDS = 300
#: relative cost perturbations of :func:`rescue`'s attempts, in order
RESCUE_PERTURBATIONS = (0.0, 1e-5, 1e-3, 1e-7, 1e-4, 1e-2)


def rescue(qp: QP, seed: int = 0):
    """Solve ``qp`` again where HiGHS failed on it, then polish on the true program.

    HiGHS 1.16's active-set QP can cycle on degenerate markets (ties and
    zero-cost route cycles) and its presolve can call a feasible program
    infeasible; both depend on the order of the columns.  Each attempt
    hands HiGHS the columns in a new random order (seeded: reproducible);
    all but the first also lower every cost by a random relative amount
    (:data:`RESCUE_PERTURBATIONS`), which removes the ties.  :func:`polish`
    then finds the exact KKT point of the unperturbed program from there,
    also from where HiGHS stopped at its iteration or time limit (a point
    near the optimum is a start like any other; polish returns only a KKT
    point).  Returns what :func:`polish` returns, in ``qp``'s order, or
    None.  Before those attempts, polish starts from the optimum of the
    program's piecewise-linear twin (:func:`mineq.models.lp_start.twin_point`),
    compiled; where only the Python step could go on from there, it does
    so after the first attempt.
    """
    from .lp_start import twin_point

    # first, without HiGHS's QP: polish from the optimum of the program's
    # piecewise-linear twin (dual simplex), whose active set is near the
    # QP's.  On the linked zinc, germanium and indium market under a
    # minimum import price: 0.09 s, against 1.5 s for the attempts below.
    # Compiled only at first: where the KKT systems turn singular (the
    # linked light rare earths' balances) the Python step costs about
    # 8 ms a round, and 300 rounds failed there in 2.5 s where the first
    # HiGHS attempt below ended it in 0.25 s; so the slow path waits for
    # that attempt
    later = None
    twin = twin_point(qp)
    if twin is not None:
        out = polish(qp, *twin, rounds=TWIN_ROUNDS, compiled_only=True)
        if out is LEFT_TO_PYTHON:
            later = twin
        elif out is not None:
            return out
    rng = np.random.default_rng(seed)
    for eps in RESCUE_PERTURBATIONS:
        out = _perturbed_attempt(qp, rng, eps)
        if out is not None:
            return out
        if later is not None:
            # the compiled step would stop where it did: Python from the start
            out, later = polish_python(qp, *later, rounds=TWIN_ROUNDS), None
            if out is not None:
                return out
    if later is not None:
        return polish_python(qp, *later, rounds=TWIN_ROUNDS)
    return None


def _perturbed_attempt(qp: QP, rng: np.random.Generator, eps: float):
    """One of :func:`rescue`'s HiGHS attempts: the columns in a random
    order, every cost lowered by a random relative amount up to ``eps``,
    then polish on the true program; what :func:`polish` returns."""
    import highspy

    n = qp.A.shape[1]
    perm = rng.permutation(n)
    # every cost moves the unattractive way (less welfare per unit)
    cost = qp.c + qp.sense * eps * rng.random(n) * np.maximum(1.0, np.abs(qp.c))
    h = highs_of(qp, perm, cost)
    h.setOptionValue("time_limit", 10.0)
    h.setOptionValue("qp_iteration_limit", max(20000, 20 * n))
    h.run()
    S = highspy.HighsModelStatus
    sol = h.getSolution()
    if h.getModelStatus() not in (S.kOptimal, S.kIterationLimit, S.kTimeLimit) or not (sol.value_valid and sol.dual_valid):
        return None
    col = np.empty(n)
    col[perm] = np.asarray(sol.col_value)
    # a tighter tolerance than polish's default: it is relative to the
    # program's scale, the verifier's to each node's, and a linked
    # program spans both lanthanum's price and neodymium's, 20 times
    # higher (a moved route of the light rare earths: 1.13e-6 at a
    # lanthanum node with the default, verified with this)
    return polish(qp, col, np.asarray(sol.row_dual), tol=1e-9, rounds=200)


def highs_of(qp: QP, perm: np.ndarray | None = None, cost: np.ndarray | None = None):
    """A silent HiGHS instance holding ``qp``, its columns in the order
    ``perm`` (default: as they are) and with ``cost`` instead of ``qp.c``.

    The arrays go to HiGHS in one ``passModel`` call: filling a
    ``HighsLp`` attribute by attribute cost twice as much (0.28 against
    0.17 ms per program of the bundled case; same solutions, same
    iteration counts)."""
    import highspy

    m, n = qp.A.shape
    cost = qp.c if cost is None else cost
    lo, up, A, hd, H = qp.lo, qp.up, qp.A, qp.hd, qp.H
    if perm is not None:
        cost, lo, up, A, hd = cost[perm], lo[perm], up[perm], A.columns(perm), hd[perm]
        H = None if H is None else H[np.ix_(perm, perm)]
    a_start, a_index, a_value = A.colwise()
    q_start, q_index, q_value = _triangular(hd, H)
    sense = -1 if qp.sense < 0 else 1
    f = lambda v: np.ascontiguousarray(v, dtype=float)  # noqa: E731
    cost, lo, up, rlo, rup = f(cost), f(lo), f(up), f(qp.rlo), f(qp.rup)
    integrality = np.zeros(n, dtype=np.int32)
    h = new_highs()
    status = h.passModel(n, m, len(a_value), len(q_value), _COLWISE, _TRIANGULAR, sense, 0.0, cost, lo, up, rlo, rup, a_start, a_index, a_value, q_start, q_index, q_value, integrality)
    if status == highspy.HighsStatus.kError:
        # HiGHS refuses the whole program for one entry out of its range
        # (a Hessian entry above 1e15, from figures spanning 300 orders of
        # magnitude): pass the linear part and then the Hessian, so that it
        # keeps what it accepts; polish and the verifier judge the result
        # on the true program
        h.passModel(n, m, len(a_value), _COLWISE, sense, 0.0, cost, lo, up, rlo, rup, a_start, a_index, a_value, integrality)
        if len(q_value):
            h.passHessian(n, len(q_value), _TRIANGULAR, q_start, q_index, q_value)
    return h


#: HiGHS's MatrixFormat.kColwise and HessianFormat.kTriangular (the
#: array form of ``passModel`` takes them as integers)
_COLWISE, _TRIANGULAR = 1, 1


def _triangular(diag: np.ndarray, full: np.ndarray | None = None):
    """Start, index and value arrays of HiGHS's lower-triangular Hessian of
    a diagonal ``diag`` (or of a full symmetric matrix), column-wise; only
    the nonzeros, because an all-zero Hessian makes the program an LP."""
    n = len(diag)
    if full is None:
        col = row = np.flatnonzero(diag)
        val = diag[col]
    else:
        col, row = np.nonzero(np.tril(full).T)  # by column, then row
        val = full[row, col]
    start = np.searchsorted(col, np.arange(n + 1)).astype(np.int32) if len(val) else np.zeros(n + 1, dtype=np.int32)
    return start, row.astype(np.int32), np.asarray(val, dtype=float)


def highs_hessian(diag: np.ndarray, full: np.ndarray | None = None):
    """HiGHS's lower-triangular Hessian of a diagonal ``diag`` (or of a full
    symmetric matrix), as a ``HighsHessian``; dimension 0 when it is all
    zeros (:func:`_triangular`)."""
    import highspy

    start, index, value = _triangular(diag, full)
    hs = highspy.HighsHessian()
    hs.format_ = highspy.HessianFormat.kTriangular
    hs.dim_ = len(diag) if len(value) else 0
    hs.start_ = start if len(value) else np.zeros(1, dtype=np.int32)
    hs.index_ = index
    hs.value_ = value
    return hs
