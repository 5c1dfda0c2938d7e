"""A cold program's hot start: the optimum of its piecewise-linear twin.

HiGHS's active-set QP starts a program it knows nothing of from zero and
moves one variable at a time.  On a country-level market (400 nodes,
8,000 routes, ``benchmarks/country_case.py``) its first run takes about
2,000 iterations and route generation three or four runs, 0.5-0.9 s;
the same program hot-started from its own optimum takes none.  HiGHS's
dual simplex, on the other hand, solves a linear program of that size in
a few tens of milliseconds.

So a large cold program is first solved as a linear program: each
quadratic block ``c·z + ½·h·z²`` on ``[lo, X]`` becomes :data:`PIECES`
columns of equal width, each costing the block's average marginal value
over its piece (exact at the breakpoints), where ``X`` is the block's
upper bound, or, without one, where its marginal value has passed every
price in the program.  Everything else (flows, credits, rows) is the
program's own.  The simplex optimum lies near the QP's; the twin is then
solved again with its pieces over a narrow window around each block's
quantity (:data:`REFINE`), which puts fewer routes out of place for the
QP to correct.  The last basis maps onto the QP's columns: a block is basic when one of
its pieces is, at a bound when its pieces sum to it, and superbasic (off
its bounds, out of the basis: HiGHS's ``kNonbasic``) otherwise; flows and
rows keep theirs.  That is a square basis with a feasible point (the
pieces sum to the blocks' quantities, so every row holds), which
:mod:`mineq.models.hot_start` hands to HiGHS as it hands a baseline's
basis to a scenario: route generation starts with the routes the linear
program used, and HiGHS corrects the active set from there.

Nothing here is trusted: when the hot start does not end in an answer
polish accepts, the program is solved cold as before, and the verifier
judges the result.  Measured on the country case's first markets, whole
program: the simplex took 0.04-0.10 s (1,150-1,350 iterations) and the
hot-started QP 350-470 iterations instead of about 7,400 cold.
"""

from __future__ import annotations

import numpy as np

from .active_set import QP, highs_of

#: linear pieces per quadratic block: more pieces, a closer start and a
#: larger linear program
PIECES = 16
#: after the first optimum, the twin is solved this many times more, each
#: time with its pieces over a window of two of the last pieces' widths
#: around each block's quantity (the dual simplex restarting from the
#: last basis), so that the start lies within a piece an eighth as
#: wide.  Measured on the country case's 54 baselines, one process: 0
#: (one solve) 16.5-16.8 s of markets, HiGHS's QP 8.95-8.99 s in 273
#: runs; 1: 13.6-13.8 s, the QP 5.22 s in 227 runs, the twins 3.43
#: instead of 2.43-2.51 s.  With 32 pieces at once instead: 17.4 s (the
#: QP 7.31 s, the twins 4.69 s); with 8: 21.9 s
REFINE = 1
#: route generation also starts with the routes whose reduced cost at the
#: linear program's optimum is below this (program units: prices near
#: one), not only the routes it uses: the twin's prices are off by up to
#: a piece's marginal value, and the QP's first restricted optimum on the
#: twin's routes alone made hundreds of routes profitable.  Measured on
#: the country case (200 regions, 308,000 routes over 54 minerals), one
#: process, with the refined twin (REFINE), alternating: 0 (the twin's
#: routes only) 335 HiGHS runs, 8.47-8.55 s inside HiGHS, the markets
#: 13.1-13.4 s; 0.1: 287 runs, 8.23 s; 0.2: 266 runs, 7.73-7.78 s,
#: markets 12.56-12.73 s; 0.4: 253 runs, 7.81 s (a run costs more with
#: more columns held: at zero QP iterations 22 ms with 925 columns, 30
#: ms with 1,925, 43 ms with 2,925)
NEAR = 0.2
#: programs with fewer routes start cold, and so do linked ones
#: (MarketModel.solve says why) (small programs: HiGHS's cold
#: start costs less than the linear program)
MIN_ROUTES = 2000


def start(model):
    """A :class:`mineq.models.hot_start.Start` for ``model``'s program at
    its current parameters, from its piecewise-linear twin, or None when
    the program has a non-diagonal Hessian, no quadratic block, or the
    linear program has no optimum with a basis that maps."""
    from .hot_start import BASIC, LOWER, UPPER, start_of

    qp = model.qp()
    twin = _solved_twin(qp)
    if twin is None or not len(twin[3]):
        return None
    h, value, src, quad = twin
    basis = h.getBasis()
    if not basis.valid:
        return None
    keep = len(src) - len(quad) * PIECES  # the program's linear columns come first
    status = np.array([int(c) for c in basis.col_status], dtype=np.int8)
    col_status = np.full(qp.A.shape[1], LOWER, dtype=np.int8)
    col_status[src[:keep]] = status[:keep]
    basic = np.count_nonzero(status[keep:].reshape(len(quad), PIECES) == BASIC, axis=1)
    if np.any(basic > 1):
        return None  # two pieces of one block in the basis: no QP basis
    z, lo, up = value[quad], qp.lo[quad], qp.up[quad]
    col_status[quad] = np.where(basic == 1, BASIC, np.where(z <= lo, LOWER, np.where(z >= up, UPPER, SUPERBASIC)))
    # the linear program's routes carry a feasible point: each node's
    # cheapest routes would only make HiGHS's runs longer (measured on
    # the country case's baselines: 10% less CPU without them); the
    # routes near profit at its prices start as well (NEAR)
    start = start_of(model, value, col_status, basis.row_status, cheapest=False)
    sol = h.getSolution()
    if sol.dual_valid:
        # the twin minimises: a column's dual is its reduced cost, >= 0 at
        # its lower bound; the program's linear columns keep theirs
        near = np.zeros(qp.A.shape[1], dtype=bool)
        near[src[:keep]] = np.asarray(sol.col_dual)[:keep] < NEAR
        start.near = near
    return start


def twin_point(qp: QP):
    """``(col_value, row_dual)`` of ``qp``'s piecewise-linear twin at its
    optimum, summed back onto ``qp``'s columns (HiGHS's conventions), or
    None when the twin cannot be built or has no optimum: a start for
    :func:`mineq.models.active_set.polish` where HiGHS's QP fails
    (:func:`mineq.models.active_set.rescue`)."""
    twin = _solved_twin(qp)
    if twin is None:
        return None
    h, col, _, _ = twin
    sol = h.getSolution()
    if not sol.dual_valid:
        return None
    # the twin is a minimisation: its row duals are the program's times its sense
    return col, qp.sense * np.asarray(sol.row_dual)


def _solved_twin(qp: QP):
    """HiGHS at the optimum of ``qp``'s piecewise-linear twin, the twin's
    point summed back onto ``qp``'s columns, the program column of each
    twin column, and the quadratic columns; None when ``qp``'s Hessian is
    not diagonal and convex, a quadratic column has no lower bound, or
    the twin has no optimum."""
    import highspy

    if qp.H is not None:
        return None
    q, d = qp.sense * qp.c, qp.sense * qp.hd
    quad = np.flatnonzero(d > 0.0)
    if np.any(d < 0.0) or not np.all(np.isfinite(qp.lo[quad])):
        return None
    lp, src, reach = _linearised(qp, quad, q, d)
    h = highs_of(lp)
    h.setOptionValue("presolve", "off")  # measured: 10-30% faster here
    point, lo = None, qp.lo[quad]
    width = (reach - lo) / PIECES
    for window in range(1 + REFINE):
        if window:
            # the same pieces over a window of two of the last pieces'
            # widths around each block's quantity, in place: the dual
            # simplex restarts from the last basis
            a = np.maximum(lo, point[quad] - width)
            b = np.minimum(reach, point[quad] + width)
            width = (b - a) / PIECES
            cost, plo, pup = _pieces(q[quad], d[quad], a, width, ~np.isfinite(qp.up[quad]) & (b >= reach))
            at = np.arange(len(src) - len(quad) * PIECES, len(src), dtype=np.int32)
            h.changeColsCost(len(at), at, cost)
            h.changeColsBounds(len(at), at, plo, pup)
        h.run()
        sol = h.getSolution()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal or not sol.value_valid:
            return None
        point = np.zeros(qp.A.shape[1])
        np.add.at(point, src, np.asarray(sol.col_value))
    return h, point, src, quad


#: HiGHS's code for a column off its bounds and out of the basis
SUPERBASIC = 4


def _linearised(qp: QP, quad: np.ndarray, q: np.ndarray, d: np.ndarray):
    """The linear program (minimisation form) and the program column of
    each of its columns: the program's linear columns first, in order,
    then :data:`PIECES` per quadratic column."""
    lo, up = qp.lo[quad], qp.up[quad]
    # without an upper bound a block reaches as far as its marginal value
    # stays below every price the program can hold: twice the largest
    # cost, plus one (a supply block beyond that point never runs; a
    # demand block's marginal value, -(q + d·z), reaches zero at -q/d)
    top = 2.0 * np.max(np.abs(q)) + 1.0
    reach = np.where(np.isfinite(up), up, lo + np.maximum((top - q[quad]) / d[quad], 0.0))
    keep = np.setdiff1d(np.arange(len(q)), quad)
    src = np.concatenate([keep, np.repeat(quad, PIECES)])
    cost, plo, pup = _pieces(q[quad], d[quad], lo, (reach - lo) / PIECES, ~np.isfinite(up))
    lp = QP(qp.A.columns(src), np.concatenate([q[keep], cost]), np.concatenate([qp.lo[keep], plo]), np.concatenate([qp.up[keep], pup]), qp.rlo, qp.rup, np.zeros(len(src)), 1.0)
    return lp, src, reach


def _pieces(q: np.ndarray, d: np.ndarray, a: np.ndarray, width: np.ndarray, open_end: np.ndarray):
    """Cost, lower and upper bounds of :data:`PIECES` columns per block
    (blocks' linear and quadratic costs ``q``, ``d``) covering ``[a, a +
    PIECES·width]``: the first piece holds ``a`` itself (its lower bound),
    each costs the block's average marginal value over its span, and the
    last goes on without limit where ``open_end``."""
    k = PIECES
    j = np.repeat(np.arange(len(a)), k)
    piece = np.tile(np.arange(k), len(a))
    start = a[j] + piece * width[j]
    cost = q[j] + d[j] * (start + 0.5 * width[j])
    plo = np.where(piece == 0, a[j], 0.0)
    pup = plo + width[j]
    pup[(piece == k - 1) & open_end[j]] = np.inf
    return cost, plo, pup
