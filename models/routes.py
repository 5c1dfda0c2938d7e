"""Route generation: the welfare program of a market with many routes,
solved by HiGHS on a few of them at a time.

HiGHS's active-set QP slows sharply with the number of columns, yet at an
equilibrium only a few routes per destination carry anything (the bundled
case: 17 of a market's 264 routes).  So HiGHS holds the program with most
flows left out (their columns absent, their flows zero), and a route left
out comes back when the restricted optimum's prices make it profitable:
its reduced cost, the arbitrage gap ``P_d - P_o - cost - wedges`` in the
program's units, is positive.  When no left-out route is profitable, the
restricted optimum satisfies every condition of the full program (a flow
at zero whose gap is not positive is optimal), so it is the full
program's optimum: exact, not an approximation.  The caller then polishes
it on the full program (:func:`mineq.models.active_set.polish`) and the verifier
checks it like any other.

Returning routes are added to the same HiGHS instance, which restarts from
the basis and solution it had (the new flows at zero, nonbasic): a few QP
iterations per round instead of a solve from scratch.  Measured on the
bundled case's 270 programs, replayed cold (``benchmarks/full_case.py``
captures them): HiGHS on the whole programs 0.66 s of run time, 26 428 QP
iterations; generated, 0.34-0.38 s and 21 949, all optima the same
(objective within 8e-16 relative).  On 200 regions with every ordered
pair a route (``benchmarks/scaling.py``): 1.0 s, five HiGHS runs, against
31 s for HiGHS on the whole program.

The first restriction holds every column but the flows, the cheapest
route into and out of each node, every flow that cannot sit at zero, and
the routes a neighbouring program used (a scenario starts with its
baseline's routes, :mod:`mineq.models.hot_start`).
"""

from __future__ import annotations

import numpy as np

from .active_set import QP

#: a market with at least this many routes is solved by route generation;
#: below, HiGHS on the whole program is as fast (a 4-region market has 12)
MIN_ROUTES = 40
#: the cheapest routes into and out of each node that start in the program
#: (measured on the bundled case, with its baselines' routes as seeds and
#: 3 routes back per round: 1 took 0.49 s, 2 took 0.58 s, 3 took 0.65 s,
#: replayed)
FIRST = 1
#: at most this many profitable routes per destination return per round:
#: the first rounds' prices are rough, and taking every route they make
#: look profitable would bring back most of a dense program.  Measured:
#: the bundled case took 440 HiGHS runs with 10 (0.78 s on one thread),
#: 515 with 3 (0.82 s); 200 dense regions 5 runs and 7
PER_ROUND = 10
#: a left-out route returns when its reduced cost (program units: prices
#: near one) is below minus this: polish's own tolerance, so that a route
#: polish would call optimal at zero is not brought back (routes tied at
#: zero profit would otherwise return a few per round for nothing)
TOL = 1e-7
#: at the last of this many rounds every left-out route comes back (the
#: whole program), so that generation always ends
MAX_ROUNDS = 100


def restricted(qp: QP, cols: np.ndarray) -> QP:
    """``qp`` with only the columns ``cols``, in that order (every row kept)."""
    H = None if qp.H is None else qp.H[np.ix_(cols, cols)]
    return QP(qp.A.columns(cols), qp.c[cols], qp.lo[cols], qp.up[cols], qp.rlo, qp.rup, qp.hd[cols], qp.sense, H)


def first_columns(qp: QP, flows: np.ndarray, starts: np.ndarray, ends: np.ndarray, seed: np.ndarray | None = None, first: int = FIRST) -> np.ndarray:
    """The columns the first restriction holds, ascending: everything but
    the flows; for each node the ``first`` routes into it and out of it
    with the lowest cost (transport plus fixed wedges, program units);
    every flow whose lower bound is not zero (a left-out column sits at
    its lower bound, zero); and the flows ``seed`` (a mask over
    ``flows``) names."""
    keep = np.ones(qp.A.shape[1], dtype=bool)
    keep[flows] = False
    cost = np.abs(qp.c[flows])
    for side in (ends, starts):
        keep[_first_per_group(flows, side, cost, first)] = True
    keep[flows[qp.lo[flows] != 0.0]] = True
    if seed is not None:
        keep[flows[seed]] = True
    return np.flatnonzero(keep)


def profitable(qp: QP, x: np.ndarray, y: np.ndarray, left: np.ndarray, group: np.ndarray, per_round: int = PER_ROUND) -> np.ndarray:
    """Left-out columns (mask ``left``, each at its lower bound, zero)
    that would rise at primal ``x`` and row duals ``y`` of the restricted
    optimum: their reduced cost is below ``-TOL`` and their upper bound
    above zero.  At most ``per_round`` per ``group`` (a flow's
    destination), the most profitable first."""
    gain = -qp.reduced_costs(x, y)
    cand = np.flatnonzero(left & (gain > TOL) & (qp.up > 0.0))
    if len(cand) == 0:
        return cand
    return np.sort(_first_per_group(cand, group[cand], -gain[cand], per_round))


def add_columns(h, qp: QP, new: np.ndarray, value: np.ndarray | None = None, hessian: np.ndarray | None = None) -> None:
    """Append the columns ``new`` of ``qp`` to the HiGHS instance ``h``
    (holding a restriction of ``qp``).  With ``value`` (the solution over
    ``h``'s columns after the append, the new ones zero), the next run
    restarts from it and from the basis ``h`` had, which HiGHS extends
    with the new columns nonbasic at zero: HiGHS's hot start (its option
    ``qp_allow_hot_start``; :mod:`mineq.models.hot_start` says why it is off by
    default and why the answer is polished and verified anyway).
    ``hessian``: the Hessian diagonal over ``h``'s columns after the
    append; passed to HiGHS when a new column has a quadratic term (a
    route whose cost rises with its flow)."""
    import highspy

    a_start, a_index, a_value = qp.A.columns(new).colwise()
    f = lambda v: np.ascontiguousarray(v, dtype=float)  # noqa: E731
    h.addCols(len(new), f(qp.c[new]), f(qp.lo[new]), f(qp.up[new]), len(a_value), a_start, a_index, a_value)
    if hessian is not None and np.any(qp.hd[new] != 0.0):
        from .active_set import highs_hessian

        h.passHessian(highs_hessian(hessian))
    if value is None:
        return
    basis = h.getBasis()  # a copy, extended by addCols
    if not basis.valid:
        return
    sol = highspy.HighsSolution()
    sol.col_value = f(value)
    sol.value_valid = True
    # the solution first: passing one invalidates the basis (HiGHS #2521)
    if h.setSolution(sol) == highspy.HighsStatus.kOk and h.setBasis(basis) == highspy.HighsStatus.kOk:
        h.setOptionValue("qp_allow_hot_start", True)
    else:
        h.clearSolver()


def _first_per_group(items: np.ndarray, group: np.ndarray, key: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` items with the smallest ``key`` in each ``group``."""
    order = np.lexsort((key, group))  # by group, smallest key first
    g = group[order]
    rank = np.arange(len(order)) - np.searchsorted(g, g)  # position within the group
    return items[order[rank < k]]
