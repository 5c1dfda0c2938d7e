"""Route generation: the welfare program of a market with many routes,
solved on a few of them at a time.

HiGHS's active-set QP slows sharply with the number of columns (one
mineral with 200 regions and every ordered pair of them as a route: 39 800
flows, 27 s), yet at an equilibrium only a few routes per destination
carry anything.  So the program is solved with most flows held at zero
(their columns left out), and a route left out comes back when the
restricted optimum's prices make it profitable: its reduced cost, the
arbitrage gap ``P_d - P_o - cost - wedges`` in the program's units, is
positive.  When no left-out route is profitable, the restricted optimum
satisfies every condition of the full program (a flow at zero whose gap is
not positive is optimal), so it is the full program's optimum: exact, not
an approximation.  :func:`models.active_set.polish` then refines it on
the full program and the verifier checks it like any other.

The program is held as a :class:`models.active_set.QP`; ``flows`` are the
columns that may be left out (each a flow with lower bound zero) and
``ends`` their destination nodes, by which the first routes are chosen and
the returning ones rationed.
"""

from __future__ import annotations

import numpy as np

from .active_set import QP, highs_of

#: a market with at least this many routes is solved by route generation;
#: below, HiGHS on the whole program is as fast or faster (measured,
#: 132 routes, 12 regions, 8 ms generated against
#: 2 ms whole; 600 routes, 25 regions, 10 ms against 14 ms; 2 450 routes,
#: 50 regions, 40 ms against 182 ms)
MIN_ROUTES = 500
#: the cheapest routes into and out of each node that start in the program
FIRST = 3
#: at most this many profitable routes per destination return per round:
#: the first rounds' prices are rough, and taking every route they make
#: look profitable would bring back most of the program
PER_ROUND = 3
#: a left-out route returns when its reduced cost (program units: prices
#: near one) is below minus this: polish's own tolerance, so that a route
#: polish would call optimal at zero is not brought back (routes tied at
#: zero profit would otherwise return a few per round for nothing)
TOL = 1e-7


def restricted(qp: QP, cols: np.ndarray) -> QP:
    """``qp`` with only the columns ``cols`` (every row kept)."""
    H = None if qp.H is None else qp.H[np.ix_(cols, cols)]
    return QP(qp.A[:, cols], qp.c[cols], qp.lo[cols], qp.up[cols], qp.rlo, qp.rup, qp.hd[cols], qp.sense, H)


def first_routes(qp: QP, flows: np.ndarray, starts: np.ndarray, ends: np.ndarray, first: int = FIRST) -> np.ndarray:
    """Which columns start in the program: everything but the flows, and
    for each node the ``first`` routes into it and out of it with the
    lowest cost (transport plus fixed wedges, program units)."""
    keep = np.ones(qp.A.shape[1], dtype=bool)
    keep[flows] = False
    cost = np.abs(qp.c[flows])
    for side in (ends, starts):
        keep[_first_per_group(flows, side, cost, first)] = True
    # a flow that cannot sit at zero (a forced minimum) never leaves
    keep[flows[qp.lo[flows] != 0.0]] = True
    return keep


def solve(qp: QP, flows: np.ndarray, starts: np.ndarray, ends: np.ndarray, options: dict, max_rounds: int = 50):
    """HiGHS on growing restrictions of ``qp`` until no left-out route is
    profitable.  Returns (col_value, row_dual, rounds) on the full
    program, in HiGHS's sign convention, or None when a restricted
    program does not solve to optimality or the rounds run out (the
    caller then hands HiGHS the whole program)."""
    import highspy

    n = qp.A.shape[1]
    keep = first_routes(qp, flows, starts, ends)
    is_flow = np.zeros(n, dtype=bool)
    is_flow[flows] = True
    dest = np.full(n, -1)
    dest[flows] = ends
    for rounds in range(1, max_rounds + 1):
        cols = np.flatnonzero(keep)
        h = highs_of(restricted(qp, cols))
        for k, v in options.items():
            h.setOptionValue(k, v)
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        sol = h.getSolution()
        x = np.zeros(n)
        x[cols] = sol.col_value
        y = np.asarray(sol.row_dual, dtype=float)
        # a left-out flow sits at its lower bound (zero), where a negative
        # reduced cost means profit
        red = qp.reduced_costs(x, y)
        profitable = np.flatnonzero(is_flow & ~keep & (red < -TOL))
        if not len(profitable):
            return x, y, rounds
        # per destination, the most profitable first
        keep[_first_per_group(profitable, dest[profitable], red[profitable], PER_ROUND)] = True
    return None


def _first_per_group(items: np.ndarray, group: np.ndarray, key: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` items with the smallest ``key`` in each ``group``."""
    order = np.lexsort((key, group))  # by group, smallest key first
    g = group[order]
    rank = np.arange(len(order)) - np.searchsorted(g, g)  # position within the group
    return items[order[rank < k]]
