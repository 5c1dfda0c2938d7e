"""A cold program's optimum without HiGHS: Newton on its dual, then polish.

HiGHS's active-set QP starts a program with nothing known from zero and
moves one variable at a time: on a country-level market (400 nodes,
8,000 routes) its first run takes about 2,000 iterations and route
generation several more runs, 0.5-0.9 s, while a hot start from the
optimum takes none (``benchmarks/country_case.py``).  Here the program is
solved approximately by a method whose work grows with the number of
*rows* (nodes), not with the steps from zero, and the answer goes to
:func:`mineq.models.active_set.polish`, which solves the KKT system of
its active set exactly; when that gives no KKT point the program is left
to HiGHS as before.  Nothing here is trusted: the verifier checks the
result like any other.

The method is the proximal method of multipliers.  The program, in its
minimisation form (``q = sense·c``, ``d = sense·hd >= 0``), with a slack
``w`` per inequality row (``A·x - w = 0``, ``rlo <= w <= rup``) so that
every row is an equality ``Ā·v = b`` over ``v = (x, w)`` in a box:

    min  q·v + ½ v'Dv   s.t.  Ā·v = b,  lo <= v <= up

is replaced, around a point (v̄, ȳ), by the strongly convex-concave

    max_y min_{v in box}  q·v + ½ v'Dv + ε/2·|v - v̄|² - y·(Ā·v - b) - δ/2·|y - ȳ|²

whose inner minimum is explicit because D is diagonal,
``v(y) = clip((Ā'y - q + ε·v̄) / (d + ε), lo, up)``, leaving a smooth,
strongly concave function of the row prices ``y`` alone.  Its gradient is
``b - Ā·v(y) - δ·(y - ȳ)`` and its generalised Hessian
``-(Ā_F·diag(1/(d+ε))_F·Ā_F' + δ·I)`` (F: the components of v off their
bounds): a dense system with one row per program row, solved by Newton's
method with a backtracking line search.  Then (v̄, ȳ) moves to the
answer and the next subproblem is solved; the fixed point of these
proximal steps is the program's optimum whatever ε and δ are (the
regularisation shifts nothing at the limit).  A flow has no quadratic
term, so ε alone makes its response finite; on a market every flow
column has two entries, so building the system costs a few operations
per column.
"""

from __future__ import annotations

import numpy as np

from .active_set import QP

#: proximal weights on the columns and the rows, in the program's scaled
#: units (prices and quantities near one)
EPS = 1e-6
DELTA = 1e-6
#: the answer's largest row residual and proximal shift (scaled units)
#: before it goes to polish
TOL = 1e-9
#: Newton steps in all before the method gives up (HiGHS then solves)
MAX_NEWTON = 200


class _Program:
    """The program with slacks: ``Ā`` by its entries, bounds, costs, and
    the pairs of entries that share a column (for the Newton matrix)."""

    def __init__(self, qp: QP):
        A = qp.A
        m, n = A.shape
        s = qp.sense
        eq = np.isfinite(qp.rlo) & np.isfinite(qp.rup) & (qp.rlo == qp.rup)
        k = np.flatnonzero(~eq)
        self.m, self.n = m, n
        self.N = n + len(k)
        self.q = np.concatenate([s * qp.c, np.zeros(len(k))])
        self.d = np.concatenate([s * qp.hd, np.zeros(len(k))])
        self.lo = np.concatenate([qp.lo, qp.rlo[k]])
        self.up = np.concatenate([qp.up, qp.rup[k]])
        self.b = np.where(eq, qp.rlo, 0.0)
        # entries ordered by column (the CSC matrix, then one slack each)
        self.row = np.concatenate([A.index, k])
        self.col = np.concatenate([np.repeat(np.arange(n), np.diff(A.start)), n + np.arange(len(k))])
        self.val = np.concatenate([A.value, -np.ones(len(k))])
        cnt = np.bincount(self.col, minlength=self.N)
        first = np.concatenate([[0], np.cumsum(cnt)])[:-1]
        reps = cnt[self.col]
        e = np.repeat(np.arange(len(self.row)), reps)
        offset = np.arange(len(e)) - np.repeat(np.cumsum(reps) - reps, reps)
        f = first[self.col[e]] + offset
        self.pair_at = self.row[e] * m + self.row[f]
        self.pair_val = self.val[e] * self.val[f]
        self.pair_col = self.col[e]

    def times(self, v: np.ndarray) -> np.ndarray:
        return np.bincount(self.row, weights=self.val * v[self.col], minlength=self.m)

    def transposed_times(self, y: np.ndarray) -> np.ndarray:
        return np.bincount(self.col, weights=self.val * y[self.row], minlength=self.N)


def solve(qp: QP, eps: float = EPS, delta: float = DELTA, tol: float = TOL, max_newton: int = MAX_NEWTON):
    """An approximate optimum of ``qp`` (diagonal Hessian, convex):
    ``(col_value, row_dual)`` in HiGHS's conventions, for
    :func:`mineq.models.active_set.polish`, with the largest row residual
    and proximal shift at most ``tol``; None when the Hessian is not
    diagonal or convex, or ``max_newton`` steps were not enough."""
    if qp.H is not None or np.any(qp.sense * qp.hd < 0.0):
        return None
    p = _Program(qp)
    m = p.m
    w_den = p.d + eps
    vbar = np.clip(np.zeros(p.N), p.lo, p.up)
    y = np.zeros(m)
    ybar = y.copy()

    def response(y):
        return np.clip((p.transposed_times(y) - p.q + eps * vbar) / w_den, p.lo, p.up)

    def value(y, v):
        return float(p.q @ v + 0.5 * (p.d @ (v * v)) + 0.5 * eps * ((v - vbar) @ (v - vbar)) - y @ (p.times(v) - p.b) - 0.5 * delta * ((y - ybar) @ (y - ybar)))

    newton = 0
    v = response(y)
    while newton < max_newton:
        # one proximal subproblem, by Newton's method on y
        while newton < max_newton:
            g = p.b - p.times(v) - delta * (y - ybar)
            if np.max(np.abs(g), initial=0.0) <= 0.1 * tol:
                break
            free = (v > p.lo) & (v < p.up)
            wt = np.where(free[p.pair_col], p.pair_val / w_den[p.pair_col], 0.0)
            M = np.bincount(p.pair_at, weights=wt, minlength=m * m).reshape(m, m)
            M.flat[:: m + 1] += delta
            step = np.linalg.solve(M, g)
            newton += 1
            f0, slope, t = value(y, v), float(g @ step), 1.0
            while True:
                y1 = y + t * step
                v1 = response(y1)
                if value(y1, v1) >= f0 + 1e-4 * t * slope or t < 1e-12:
                    break
                t *= 0.5
            y, v = y1, v1
        shift = max(eps * np.max(np.abs(v - vbar), initial=0.0), delta * np.max(np.abs(y - ybar), initial=0.0))
        residual = np.max(np.abs(p.b - p.times(v)), initial=0.0)
        if shift <= tol and residual <= tol:
            # HiGHS's row duals: the minimisation form's multipliers times the sense
            return v[: p.n], qp.sense * y, newton
        vbar, ybar = v, y.copy()
        v = response(y)
    return None
