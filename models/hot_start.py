"""Hot starts of HiGHS's active-set QP from a neighbouring program.

A scenario's program is the baseline's plus a few policy columns and rows
(floors, credits, quotas, rules of origin) and other numbers.  HiGHS 1.16
can start its active-set QP from a given solution and basis, but only
when the option ``qp_allow_hot_start`` is on (off by default: HiGHS issue
#2521, a hot start that can call a point optimal wrongly).  So the
baseline's final HiGHS basis and solution are carried over by column and
row *name* (:meth:`mineq.models.program.MarketModel.block_keys` and
:meth:`~mineq.models.program.MarketModel.row_keys`), in natural
units (the two programs may scale a node differently), and the new
policy rows start inactive (their slacks basic), which keeps the basis
square and regular; new columns start at their lower bound.

Nothing here is trusted: the solve polishes HiGHS's answer on the
program (:func:`mineq.models.active_set.polish`), solves again cold when HiGHS
does not report an optimum or polish finds no KKT point, and the
verifier judges the result.  The routes the baseline used also start in
a scenario's restricted program (route generation, :mod:`mineq.models.routes`).
Measured on the bundled case's 216 scenario programs (``tests/
test_hot_start.py`` counts the same): 11 373 QP iterations in 336 HiGHS
runs, against 19 739 in 431 cold, the same optima.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np


#: HiGHS's basis statuses by their integer codes (kLower = 0, kBasic = 1,
#: kUpper = 2, kZero = 3, kNonbasic = 4)
LOWER, BASIC, UPPER = 0, 1, 2


@dataclass
class Start:
    """A solved program's HiGHS basis and solution, by column and row name.

    ``value`` (natural units) and ``col_status`` (HiGHS status codes) are
    in that program's column order: blocks named by ``blocks`` (in
    order), then one flow per route of ``routes``, then one credit per
    process of ``credited`` (name -> position); ``row_status`` holds the
    rows' codes in the order ``rows`` names them.
    """

    blocks: list
    routes: list
    credited: dict
    value: np.ndarray
    col_status: np.ndarray
    rows: list
    row_status: np.ndarray
    #: route generation also starts with each node's cheapest routes
    #: (:data:`mineq.models.routes.FIRST`); False when the start's own
    #: routes already make the program feasible (:mod:`mineq.models.lp_start`)
    cheapest: bool = True
    #: per column (in ``value``'s order), a flow route generation also
    #: starts with though the start's program does not use it: a route
    #: near profit at the start's prices (:data:`mineq.models.lp_start.NEAR`);
    #: None: none
    near: np.ndarray | None = None


def export(model) -> Start | None:
    """The basis and solution of ``model``'s last HiGHS run, over every
    column of the program (a route HiGHS did not hold sits nonbasic at
    zero), or None when HiGHS has not run on it (a program solved by
    polish alone)."""
    import highspy

    h = model._highs
    if h is None or h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    basis = h.getBasis()
    if not basis.valid:
        return None
    # over every column of the program: a route HiGHS does not hold
    # (models/routes.py) sits at its lower bound, zero
    cols = model._cols
    value = np.zeros(model._ncol)
    value[cols] = h.getSolution().col_value
    status = np.full(model._ncol, LOWER, dtype=np.int8)
    status[cols] = [int(c) for c in basis.col_status]
    return start_of(model, value, status, basis.row_status)


def start_of(model, value: np.ndarray, col_status: np.ndarray, row_status, cheapest: bool = True) -> Start:
    """A :class:`Start` for ``model``'s program from a point over all its
    columns (``value``, in the program's scaled units), their HiGHS status
    codes and the rows' statuses (HiGHS's ``HighsBasisStatus`` values)."""
    return Start(
        model.block_keys(),
        model.market.route_list,
        {k: j for j, k in enumerate(model._credit_keys())},
        value * model.column_scale(),
        col_status,
        model.row_keys(),
        np.array([int(r) for r in row_status], dtype=np.int8),
        cheapest,
    )


def _flow_positions(model, start: Start) -> np.ndarray:
    """Per flow of ``model``, its column in ``start`` (-1: a new route)."""
    nb, nr = len(start.blocks), len(start.routes)
    routes = model.market.route_list
    if routes is start.routes or routes == start.routes:
        return nb + np.arange(nr)
    where = {r: nb + i for i, r in enumerate(start.routes)}
    return np.array([where.get(r, -1) for r in routes], dtype=int)


def _positions(model, start: Start) -> np.ndarray:
    """Per column of ``model``, its position in ``start`` (-1: new)."""
    nb, nr = len(start.blocks), len(start.routes)
    keys = model.block_keys()
    if keys == start.blocks:  # the usual case: the same curves, the same blocks
        blocks = np.arange(nb)
    else:
        where = {k: i for i, k in enumerate(start.blocks)}
        blocks = np.array([where.get(k, -1) for k in keys], dtype=int)
    return np.concatenate([
        blocks,
        _flow_positions(model, start),
        np.array([nb + nr + start.credited[k] if k in start.credited else -1 for k in model._credit_keys()], dtype=int),
        # strategic sellers' home sales: new columns (a baseline has none)
        np.full(len(model._ix["h"]), -1, dtype=int),
    ])


def routes_used(model, start: Start) -> np.ndarray:
    """Per flow of ``model``: whether ``start``'s program used its route
    (basic, at an upper bound or not zero) or ``start`` names it near
    profit (:attr:`Start.near`), so that route generation
    (:mod:`mineq.models.routes`) starts with it."""
    at = _flow_positions(model, start)
    known = at >= 0
    used = np.zeros(len(at), dtype=bool)
    used[known] = (start.col_status[at[known]] != LOWER) | (start.value[at[known]] != 0.0)
    if start.near is not None:
        used[known] |= start.near[at[known]]
    return used


def apply(model, h, start: Start) -> bool:
    """Hand ``start`` to ``h`` (the HiGHS instance holding ``model``'s
    program, restricted to :attr:`~mineq.models.program.MarketModel.highs_columns`)
    and allow the hot start.  Returns False, changing nothing, when the
    carried basis does not fit the program (a bound it sat on is gone, or
    it is not square)."""
    import highspy

    num = model.numbers()
    cols = model.highs_columns
    lo, up = num["lower"][cols], num["upper"][cols]
    at = _positions(model, start)[cols]
    known = at >= 0
    status = np.where(known, start.col_status[at], LOWER)
    value = np.where(known, start.value[at] / model.column_scale()[cols], 0.0)
    # at a bound: the bound of this program; elsewhere: the value, inside them
    value = np.where(status == LOWER, lo, np.where(status == UPPER, up, np.clip(value, lo, up)))
    if not np.all(np.isfinite(value)):
        return False
    keys, n0 = model.row_keys(), len(start.rows)
    if keys[:n0] == start.rows:
        # the usual case: the start's rows first (a baseline's balance
        # rows), then this program's policy rows
        rows = np.concatenate([start.row_status, np.full(len(keys) - n0, BASIC, dtype=np.int8)])
    else:
        where = dict(zip(start.rows, start.row_status.tolist()))
        rows = np.array([where.get(k, BASIC) for k in keys], dtype=np.int8)
    if np.count_nonzero(status == BASIC) + np.count_nonzero(rows == BASIC) != len(rows):
        return False
    sol = highspy.HighsSolution()
    sol.col_value = value
    sol.value_valid = True
    basis = highspy.HighsBasis()
    codes = _statuses()
    basis.col_status = [codes[c] for c in status.tolist()]
    basis.row_status = [codes[c] for c in rows.tolist()]
    basis.valid = True
    # the solution first: passing one invalidates the basis (HiGHS #2521)
    if h.setSolution(sol) != highspy.HighsStatus.kOk or h.setBasis(basis) != highspy.HighsStatus.kOk:
        h.clearSolver()
        return False
    h.setOptionValue("qp_allow_hot_start", True)
    return True


@lru_cache(maxsize=None)
def _statuses() -> dict:
    """HiGHS's basis statuses by code."""
    import highspy

    return {int(c): c for c in highspy.HighsBasisStatus.__members__.values()}
