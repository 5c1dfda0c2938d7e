"""One mineral market: its data (:class:`Market`) and its welfare program.

The equilibrium of SPEC §2 without policy wedges is the solution of the
Takayama–Judge program

    max  Σ_nodes ∫ demand value  −  Σ_nodes ∫ supply cost
         − Σ_regions ∫ processing cost  −  Σ_routes t·X

subject to one balance row per node (stage, region):

    S + processing output + inflows − D − θ·processing input − outflows = 0

whose shadow price is the node price ``P``.  Its KKT conditions are exactly
SPEC §2.1–§2.5, so the optimum is the equilibrium.  Curves enter as blocks
(:class:`models.curves.Segment`); an isoelastic curve enters as its tangent
and ``solver.solve`` re-linearises until the true curve's conditions hold.

Internally the program is scaled (quantities by ``quantity_scale``, prices
by ``price_scale``) so that HiGHS sees numbers near one whatever the units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from .curves import Curve


@dataclass
class Process:
    """Processing in ``region`` from stage ``source`` to the next stage ``target``.

    ``theta`` units of ``source`` make one unit of ``target``; ``cost`` is the
    marginal processing cost curve (price unit per unit of output) and
    carries the capacity (units of output).
    """

    region: str
    source: str
    target: str
    theta: float
    cost: Curve
    meta: dict = field(default_factory=dict)


@dataclass
class Market:
    """All data of one mineral's market, in the mineral's own units.

    ``supply``/``demand`` map ``(stage, region)`` to a curve (absent: no
    producers or no consumers at that node).  ``routes`` maps
    ``(stage, origin, destination)`` to the unit transport cost of every
    *allowed* route (``origin != destination``); a missing key is a
    forbidden route.
    """

    name: str
    stages: list[str]
    regions: list[str]
    quantity_unit: str
    price_unit: str
    supply: dict[tuple[str, str], Curve]
    demand: dict[tuple[str, str], Curve]
    routes: dict[tuple[str, str, str], float]
    processes: list[Process]

    # -- index helpers shared by the model, the verifier and results --
    # (cached: a market does not change once built; policies that change a
    # market build a new one)
    @cached_property
    def nodes(self) -> list[tuple[str, str]]:
        """Every (stage, region), stage-major; index = position."""
        return [(s, r) for s in self.stages for r in self.regions]

    @cached_property
    def _node_position(self) -> dict[tuple[str, str], int]:
        return {n: i for i, n in enumerate(self.nodes)}

    def node_index(self, stage: str, region: str) -> int:
        return self._node_position[(stage, region)]

    @cached_property
    def route_nodes(self) -> tuple[np.ndarray, np.ndarray]:
        """Per route of :attr:`route_list`: its origin node and destination node."""
        pos = self._node_position
        o = np.array([pos[(s, a)] for s, a, _ in self.route_list], dtype=np.intp)
        d = np.array([pos[(s, b)] for s, _, b in self.route_list], dtype=np.intp)
        return o, d

    @cached_property
    def route_costs(self) -> np.ndarray:
        """Unit transport cost per route of :attr:`route_list`."""
        return np.array([self.routes[k] for k in self.route_list], dtype=float)

    @cached_property
    def route_labels(self) -> np.ndarray:
        """``"route stage o->d"`` per route, for messages."""
        return np.array([f"route {s} {o}->{d}" for s, o, d in self.route_list], dtype=object)

    @cached_property
    def process_nodes(self) -> tuple[np.ndarray, np.ndarray]:
        """Per process: its source (input) node and target (output) node."""
        pos = self._node_position
        src = np.array([pos[(p.source, p.region)] for p in self.processes], dtype=np.intp)
        tgt = np.array([pos[(p.target, p.region)] for p in self.processes], dtype=np.intp)
        return src, tgt

    @cached_property
    def route_list(self) -> list[tuple[str, str, str]]:
        """Allowed routes in a fixed order (stage, origin, destination as listed).

        Cached: a market's routes do not change once it is built (policies
        that change a market build a new one)."""
        return sorted(self.routes, key=lambda k: (self.stages.index(k[0]), self.regions.index(k[1]), self.regions.index(k[2])))

    @cached_property
    def connected(self) -> np.ndarray:
        """Per node: does anything (a curve, a route, a process) touch it?

        A node nothing touches has no balance row and no price (NaN).
        """
        idx = {n: i for i, n in enumerate(self.nodes)}
        on = np.zeros(len(idx), dtype=bool)
        for key in (*self.supply, *self.demand):
            on[idx[key]] = True
        for s, o, d in self.routes:
            on[idx[(s, o)]] = on[idx[(s, d)]] = True
        for p in self.processes:
            on[idx[(p.source, p.region)]] = on[idx[(p.target, p.region)]] = True
        return on

    def curves(self):
        """(kind, key, curve) for every curve of the market."""
        for key, c in self.supply.items():
            yield "supply", key, c
        for key, c in self.demand.items():
            yield "demand", key, c
        for p in self.processes:
            yield "processing", (p.target, p.region), p.cost

    @cached_property
    def exact(self) -> bool:
        """True when one quadratic program gives the equilibrium."""
        return all(c.exact for _, _, c in self.curves())

    @cached_property
    def quantity_scale(self) -> float:
        """A typical quantity (largest reference quantity), for scaling."""
        qs = [c.reference_quantity() for _, _, c in self.curves()]
        qs = [abs(q) for q in qs if math.isfinite(q) and q > 0]
        return float(max(qs)) if qs else 1.0

    @cached_property
    def price_scale(self) -> float:
        """A typical price (median of curve levels near reference), for scaling."""
        ps = []
        for _, _, c in self.curves():
            q = c.reference_quantity()
            for v in (c.left(q) if math.isfinite(q) else math.nan, *(s.level for s in c.segments())):
                if math.isfinite(v) and v != 0:
                    ps.append(abs(v))
        ps += [abs(t) for t in self.routes.values() if t > 0]
        return float(np.median(ps)) if ps else 1.0


@dataclass
class Solution:
    """Primal quantities and node prices of one market, in its own units.

    Arrays are indexed like ``Market.nodes`` (supply, demand, price),
    ``Market.route_list`` (flow) and ``Market.processes`` (processing,
    units of output).
    """

    supply: np.ndarray
    demand: np.ndarray
    price: np.ndarray
    flow: np.ndarray
    processing: np.ndarray
    objective: float
    iterations: int = 1
    status: str = "optimal"
    #: government purchases per :attr:`PolicyPlan.offtakes` entry
    offtake: np.ndarray = field(default_factory=lambda: np.zeros(0))
    #: rent per unit of each :attr:`PolicyPlan.quotas` entry (price unit)
    quota_rent: np.ndarray = field(default_factory=lambda: np.zeros(0))
    #: origin rent per unit of each :attr:`PolicyPlan.origin_rules` entry
    origin_rent: np.ndarray = field(default_factory=lambda: np.zeros(0))
    #: engine-internal: the program's block values (scaled), a warm start
    block_values: np.ndarray | None = None


#: HiGHS settings.  The active-set QP solver regularises the Hessian (by
#: 1e-7), which shifts prices by about 1e-6 relative; tighter settings
#: make it cycle on degenerate markets (zero-cost route cycles).  So HiGHS
#: runs with its robust defaults and :func:`polish` then solves the KKT
#: system of the active set it found exactly.
HIGHS_OPTIONS = {"time_limit": 60.0}
#: the second attempt when the first does not verify: little
#: regularisation, tight KKT tolerances, and a short leash because these
#: settings can cycle on degenerate markets
HIGHS_TIGHT = {"time_limit": 2.0, "qp_regularization_value": 1e-11, "primal_feasibility_tolerance": 1e-9, "dual_feasibility_tolerance": 1e-9, "optimality_tolerance": 1e-9}
#: HiGHS's own values of the options above, restored when a persistent
#: instance goes back from tight to normal settings
_HIGHS_DEFAULTS = {"qp_regularization_value": 1e-7, "primal_feasibility_tolerance": 1e-7, "dual_feasibility_tolerance": 1e-7, "optimality_tolerance": 1e-7}


def _dense_matrix(lp) -> np.ndarray:
    import highspy

    a = lp.a_matrix_
    M = np.zeros((lp.num_row_, lp.num_col_))
    start, index, value = np.asarray(a.start_), np.asarray(a.index_), np.asarray(a.value_)
    outer = np.repeat(np.arange(len(start) - 1), np.diff(start))
    if a.format_ == highspy.MatrixFormat.kRowwise:
        M[outer, index] = value
    else:
        M[index, outer] = value
    return M


def _kkt_step(K: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Solve ``K·step = r``: by LU when K is well conditioned, else the
    minimum-norm least-squares step (degenerate active sets)."""
    try:
        step = np.linalg.solve(K, r)
        if np.all(np.isfinite(step)) and np.abs(K @ step - r).max(initial=0.0) <= 1e-10 * (1.0 + np.abs(r).max(initial=0.0)) and np.abs(step).max(initial=0.0) < 1e6:
            return step
    except np.linalg.LinAlgError:
        pass
    return np.linalg.lstsq(K, r, rcond=None)[0]


def polish(model, col_value, row_dual, tol: float = 1e-7, rounds: int = 60, strict: bool = False):
    """Exact KKT solution on the active set of an approximate QP optimum.

    ``model`` is a HiGHS model (``lp_`` and ``hessian_``); ``col_value`` and
    ``row_dual`` the solver's approximate primal and row duals.  Variables
    within ``tol`` of a bound are fixed there and inequality rows within
    ``tol`` of a side are made equalities; the remaining stationarity and
    feasibility equations are linear and solved by least squares, as the
    smallest correction of the solver's point (so that a degenerate price,
    anywhere between two steps, stays where HiGHS put it).  A fixed
    variable whose reduced cost then has the wrong sign is freed, and a
    free one that crosses its bound or cannot meet its equation is fixed,
    one variable per round, worst first (an active-set method started at
    HiGHS's active set).  Returns (col_value, row_dual) in HiGHS's
    sign convention, or None if no consistent active set was found; the
    verifier judges the result either way.  ``strict`` (for a start that
    is not this program's solver point: a warm start) also returns None
    when the equations are inconsistent on the final active set, so that
    only a KKT point of this program, hence its optimum, comes back.
    """
    lp, hs = model.lp_, model.hessian_
    n, m = lp.num_col_, lp.num_row_
    x0 = np.asarray(col_value, dtype=float)
    y0 = np.asarray(row_dual, dtype=float)
    lo, up = np.asarray(lp.col_lower_), np.asarray(lp.col_upper_)
    rlo, rup = np.asarray(lp.row_lower_), np.asarray(lp.row_upper_)
    c = np.asarray(lp.col_cost_, dtype=float)
    A = _dense_matrix(lp)
    # the Hessian: a vector when diagonal (every mineq program), else dense
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
    import highspy

    # HiGHS's convention, either sense: grad f(x) - A'y - z = 0 with column
    # duals z >= 0 at a lower bound when minimising, <= 0 when maximising
    sense = -1.0 if lp.sense_ == highspy.ObjSense.kMaximize else 1.0
    scale = np.maximum(1.0, np.abs(x0))
    at_lo = np.isfinite(lo) & (np.abs(x0 - lo) <= tol * np.maximum(1.0, np.abs(lo)))
    at_up = np.isfinite(up) & (np.abs(x0 - up) <= tol * np.maximum(1.0, np.abs(up))) & ~at_lo
    ax = A @ x0
    rscale = np.maximum(1.0, np.abs(ax))
    eq = np.isfinite(rlo) & np.isfinite(rup) & (rlo == rup)
    act_lo = ~eq & np.isfinite(rlo) & (np.abs(ax - rlo) <= tol * rscale)
    act_up = ~eq & np.isfinite(rup) & (np.abs(ax - rup) <= tol * rscale) & ~act_lo
    for _ in range(rounds):
        rows = np.flatnonzero(eq | act_lo | act_up)
        b = np.where(eq | act_lo, rlo, rup)[rows]
        Ar = A[rows]
        fixed = at_lo | at_up
        xf = x0.copy()
        xf[at_lo] = lo[at_lo]
        xf[at_up] = up[at_up]
        F, X = np.where(~fixed)[0], np.where(fixed)[0]
        Af, Ax = Ar[:, F], Ar[:, X]
        g = c[F] + (H[np.ix_(F, X)] @ xf[X] if H is not None else 0.0)
        # a row with no free variable (a node whose quantities are all at
        # bounds) constrains nothing here and its multiplier, a price
        # anywhere in an interval, stays where it was: dropping it keeps K
        # regular in the common degenerate case
        live = np.any(Af != 0, axis=1)
        Afl = Af[live]
        nF, nr = len(F), int(live.sum())
        K = np.zeros((nF + nr, nF + nr))
        K[:nF, :nF] = H[np.ix_(F, F)] if H is not None else np.diag(hd[F])
        K[:nF, nF:] = -Afl.T
        K[nF:, :nF] = Afl
        rhs = np.concatenate([-g, (b - Ax @ xf[X])[live]])
        start = np.concatenate([x0[F], y0[rows[live]]])
        step = _kkt_step(K, rhs - K @ start)
        sol = start + step
        xf[F] = sol[:nF]
        y = np.zeros(m)
        y[rows[~live]] = y0[rows[~live]]
        y[rows[live]] = sol[nF:]
        # reduced costs of the minimisation form: >= 0 at a lower bound
        red = sense * (c + (H @ xf if H is not None else hd * xf) - A.T @ y)
        wrong = (at_lo & (red < -tol)) | (at_up & (red > tol))  # scaled units: prices near one
        below, above = xf < lo - tol * scale, xf > up + tol * scale
        # a free variable whose equation could not be met (the least-squares
        # system was inconsistent, e.g. a flow on a costly cycle) wants to
        # move to a bound
        push_lo = ~fixed & (red > tol) & np.isfinite(lo)
        push_up = ~fixed & (red < -tol) & np.isfinite(up)
        # rows: an active inequality whose multiplier has the wrong sign is
        # released, an inactive one that the point violates is activated
        # (only possible when the start is not the optimum of this program,
        # as in a warm start from a neighbouring program)
        ymin = sense * y
        ax = A @ xf
        rscale = np.maximum(1.0, np.abs(ax))
        row_wrong = (act_lo & (ymin < -tol)) | (act_up & (ymin > tol))
        row_lo = ~eq & ~act_lo & ~act_up & np.isfinite(rlo) & (ax < rlo - tol * rscale)
        row_up = ~eq & ~act_lo & ~act_up & np.isfinite(rup) & (ax > rup + tol * rscale)
        x = xf
        # a free variable that wants to move where it has no bound, or an
        # active row its equation does not meet: the least-squares system
        # was inconsistent and no single change fixes it; give up (HiGHS
        # solves instead)
        if strict:
            unmet = (~fixed & (np.abs(red) > tol) & ~(push_lo | push_up)).any()
            if unmet or (np.abs(Ar @ xf - b) > tol * np.maximum(1.0, np.abs(b))).any():
                return None
        if not (wrong.any() or below.any() or above.any() or push_lo.any() or push_up.any() or row_wrong.any() or row_lo.any() or row_up.any()):
            return x, y
        # change the active set one variable or row at a time, the worst
        # first: changing all at once makes degenerate markets oscillate
        primal = np.maximum(lo - xf, xf - up) / scale
        rowviol = np.maximum(rlo - ax, ax - rup) / rscale
        if (below | above).any() or (row_lo | row_up).any():
            jv = np.where(below | above, primal, -np.inf)
            jr = np.where(row_lo | row_up, rowviol, -np.inf)
            if jv.max() >= jr.max():
                j = int(np.argmax(jv))
                at_lo[j], at_up[j] = bool(below[j]), bool(above[j] and not below[j])
            else:
                i = int(np.argmax(jr))
                act_lo[i], act_up[i] = bool(row_lo[i]), bool(row_up[i])
        else:
            move = wrong | push_lo | push_up
            jv = np.where(move, np.abs(red), -np.inf)
            jr = np.where(row_wrong, np.abs(ymin), -np.inf)
            if jv.max() >= jr.max():
                j = int(np.argmax(jv))
                if wrong[j]:
                    at_lo[j] = at_up[j] = False
                else:
                    at_lo[j], at_up[j] = bool(push_lo[j]), bool(push_up[j] and not push_lo[j])
            else:
                i = int(np.argmax(jr))
                act_lo[i] = act_up[i] = False
        x0 = np.clip(xf, lo, up)
        y0 = y
    return None


def _perturbed_solve(model, seed: int = 0):
    """Break the QP's cycling by perturbing costs, then polish on the true program.

    ``model`` is the HiGHS model (scaled units).  Linear costs are lowered
    by a random relative 1e-5 (then 1e-3), which removes the ties and
    zero-cost cycles the active-set method cycles on; :func:`polish` then
    finds the exact KKT point of the unperturbed program from there.
    Returns (col_value, row_dual) or None.
    """
    import highspy

    rng = np.random.default_rng(seed)
    lp = model.lp_
    c = np.asarray(lp.col_cost_, dtype=float)
    for eps in (1e-5, 1e-3):
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("time_limit", 10.0)
        h.setOptionValue("qp_iteration_limit", max(20000, 20 * lp.num_col_))
        lp2 = highspy.HighsLp()
        lp2.num_col_, lp2.num_row_, lp2.sense_ = lp.num_col_, lp.num_row_, lp.sense_
        # every cost moves the unattractive way (less welfare per unit)
        worse = -1.0 if lp.sense_ == highspy.ObjSense.kMaximize else 1.0
        lp2.col_cost_ = c + worse * eps * rng.random(len(c)) * np.maximum(1.0, np.abs(c))
        lp2.col_lower_, lp2.col_upper_ = lp.col_lower_, lp.col_upper_
        lp2.row_lower_, lp2.row_upper_ = lp.row_lower_, lp.row_upper_
        lp2.a_matrix_ = lp.a_matrix_
        h.passModel(lp2)
        if model.hessian_.dim_:
            h.passHessian(model.hessian_)
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            continue
        sol = h.getSolution()
        out = polish(model, sol.col_value, sol.row_dual, rounds=200)
        if out is not None:
            return out
    return None


class SolveError(RuntimeError):
    """HiGHS did not return an optimal solution of the welfare program."""

    def __init__(self, market: str, status: str, detail: str = ""):
        self.market = market
        self.status = status
        super().__init__(f"{market}: {status}{': ' + detail if detail else ''}")


class MarketModel:
    """The welfare program of one :class:`Market` as a Pyomo model.

    Built once, re-solved persistently: linearisation points and block
    data are mutable parameters, so a re-solve changes numbers in HiGHS
    without rebuilding anything.
    """

    def __init__(self, market: Market, plan=None, points: dict | None = None):
        """``plan`` (a :class:`models.policies.PolicyPlan` for ``market``)
        adds the policy primitives: offtake blocks, floor rows, processing
        credits, quota rows, released stocks and route wedges."""
        import pyomo.environ as pyo

        self.market = market
        self.plan = plan
        self.P = market.price_scale
        self.Q = market.quantity_scale
        m = self.model = pyo.ConcreteModel(name=market.name)
        nodes = market.nodes
        nidx = {n: i for i, n in enumerate(nodes)}
        P, Q = self.P, self.Q

        # Blocks of every curve: (owner kind, owner index, curve).  Owner
        # index is a node for supply/demand/offtake and a process for
        # processing.  An offtake is a demand that values the good at the
        # floor, up to its quantity cap.
        from .curves import Linear

        owners = [("supply", nidx[k], c) for k, c in market.supply.items()]
        owners += [("demand", nidx[k], c) for k, c in market.demand.items()]
        owners += [("processing", i, p.cost) for i, p in enumerate(market.processes)]
        if plan is not None:
            for o in plan.offtakes:
                owners.append(("offtake", o.node, Linear({"intercept": o.level, "slope": 0.0, "capacity": o.quantity}, "demand")))
        self._owners = owners
        points = dict(points or {})
        if plan is not None:
            # a floored isoelastic producer starts at its guaranteed output,
            # so the tangent's trust region contains the floor row's bound
            for pos, (kind, owner, curve) in enumerate(owners):
                if kind == "supply" and owner in plan.supply_floors and not curve.exact:
                    points.setdefault(pos, max(curve.reference_quantity(), self.floor_quantity(owner)))
        blocks = []  # (owner position, segment)
        for pos, (_, _, curve) in enumerate(owners):
            for seg in curve.segments(points.get(pos)):
                blocks.append((pos, seg))
        self._blocks = blocks
        nb = len(blocks)
        m.B = pyo.RangeSet(0, nb - 1) if nb else pyo.Set(initialize=[])
        lo, up, lev, slo = self._scaled(blocks)
        m.lb = pyo.Param(m.B, mutable=True, initialize=dict(enumerate(lo)))
        m.ub = pyo.Param(m.B, mutable=True, initialize=dict(enumerate(up)))
        m.level = pyo.Param(m.B, mutable=True, initialize=dict(enumerate(lev)))
        m.slope = pyo.Param(m.B, mutable=True, initialize=dict(enumerate(slo)))
        # Per-variable scales (units of Q) for markets whose quantities span
        # many orders of magnitude: a block counts in units of its node's
        # size, a flow in units of its ends' geometric mean, and every row is divided
        # by the size of its node, so that HiGHS sees numbers near one in a
        # market that holds 0.001 t here and 1e7 t there.
        e = self._node_sizes(owners)
        self._e = e  # row scale of each node's balance (units of Q)
        fb = np.array([e[self._owner_node(owners[pos])] for pos, _ in blocks]) if blocks else np.zeros(0)
        self._f = fb  # block b's actual quantity / Q = f[b] * z[b]
        # bounds follow the mutable parameters (a tangent moves them)
        m.z = pyo.Var(m.B, bounds=lambda m, b: (m.lb[b] / fb[b], m.ub[b] / fb[b] if math.isfinite(up[b]) else None))
        owner_blocks: list[list] = [[] for _ in owners]
        for b, (pos, _) in enumerate(blocks):
            owner_blocks[pos].append(b)
        # blocks of each supply node and of each process (floors, credits,
        # rules of origin and the MILP fallback all sum over them)
        self._supply_blocks = {owner: owner_blocks[pos] for pos, (kind, owner, _) in enumerate(owners) if kind == "supply"}
        self._process_blocks = {owner: owner_blocks[pos] for pos, (kind, owner, _) in enumerate(owners) if kind == "processing"}

        routes = market.route_list
        m.R = pyo.RangeSet(0, len(routes) - 1) if routes else pyo.Set(initialize=[])
        # route cost = transport cost + border wedge (set by set_wedges)
        m.cost = pyo.Param(m.R, mutable=True, initialize={i: market.routes[r] / P for i, r in enumerate(routes)})
        m.x = pyo.Var(m.R, bounds=(0, None))
        # a flow counts in the geometric mean of its ends' sizes: the
        # coefficients in both rows stay within sqrt(span) of one (HiGHS
        # drops matrix entries below 1e-9 as it reads the rows)
        g = np.array([math.sqrt(e[nidx[(s, o)]] * e[nidx[(s, d)]]) for s, o, d in routes]) if routes else np.zeros(0)
        self._g = g  # route i's actual flow / Q = g[i] * x[i]

        # balance rows: + for what arrives at a node, − for what leaves it
        terms: list[list] = [[] for _ in nodes]
        for b, (pos, _) in enumerate(blocks):
            kind, owner, _ = owners[pos]
            if kind == "supply":
                terms[owner].append((fb[b], m.z[b]))
            elif kind in ("demand", "offtake"):
                terms[owner].append((-fb[b], m.z[b]))
            else:
                p = market.processes[owner]
                terms[nidx[(p.target, p.region)]].append((fb[b], m.z[b]))
                terms[nidx[(p.source, p.region)]].append((-p.theta * fb[b], m.z[b]))
        for i, (s, o, d) in enumerate(routes):
            terms[nidx[(s, o)]].append((-g[i], m.x[i]))
            terms[nidx[(s, d)]].append((g[i], m.x[i]))
        terms = [[(c / e[n], v) for c, v in t] for n, t in enumerate(terms)]
        release = np.zeros(len(nodes)) if plan is None else np.asarray(plan.release, dtype=float)
        m.N = pyo.RangeSet(0, len(nodes) - 1)
        m.release = pyo.Param(m.N, mutable=True, initialize={n: release[n] / Q for n in range(len(nodes))})
        m.balance = pyo.Constraint(m.N, rule=lambda m, n: (sum(c * v for c, v in terms[n]) + m.release[n] / e[n] == 0) if terms[n] else pyo.Constraint.Skip)

        # deficiency-payment floors on producers: S >= min(cap, MC^-1(F))
        floors = [] if plan is None else sorted(plan.supply_floors)
        self._floor_nodes = floors
        m.FL = pyo.RangeSet(0, len(floors) - 1) if floors else pyo.Set(initialize=[])
        m.floor_q = pyo.Param(m.FL, mutable=True, initialize={j: self.floor_quantity(n) / Q for j, n in enumerate(floors)})
        m.floor = pyo.Constraint(m.FL, rule=lambda m, j: sum(fb[b] / e[floors[j]] * m.z[b] for b in self._supply_blocks[floors[j]]) >= m.floor_q[j] / e[floors[j]])

        # floors on processors: a credit per unit on u <= min(Y, cap)
        credited = [] if plan is None else sorted(plan.process_floors)
        self._credited = credited
        m.C = pyo.RangeSet(0, len(credited) - 1) if credited else pyo.Set(initialize=[])
        fu = np.array([e[nidx[(market.processes[k].target, market.processes[k].region)]] for k in credited])
        self._fu = fu
        caps = [plan.process_floors[k].cap / Q / fu[j] for j, k in enumerate(credited)]
        m.u = pyo.Var(m.C, bounds=lambda m, j: (0, caps[j] if math.isfinite(caps[j]) else None))
        m.credit = pyo.Param(m.C, mutable=True, initialize={j: 0.0 for j in range(len(credited))})
        m.credit_row = pyo.Constraint(m.C, rule=lambda m, j: m.u[j] - sum(fb[b] / fu[j] * m.z[b] for b in self._process_blocks[credited[j]]) <= 0)

        # quotas on sums of flows
        quotas = [] if plan is None else plan.quotas
        m.QT = pyo.RangeSet(0, len(quotas) - 1) if quotas else pyo.Set(initialize=[])
        m.quota_q = pyo.Param(m.QT, mutable=True, initialize={j: q.quantity / Q for j, q in enumerate(quotas)})
        eq = np.array([max([g[i] for i in q.routes], default=1.0) for q in quotas])
        self._eq = eq
        m.quota = pyo.Constraint(m.QT, rule=lambda m, j: sum(g[i] / eq[j] * m.x[i] for i in quotas[j].routes) <= m.quota_q[j] / eq[j])

        # rules of origin: covered exports <= own output (supply + refining)
        rules = [] if plan is None else plan.origin_rules
        made_at: dict[int, list] = {n: list(bs) for n, bs in self._supply_blocks.items()}
        for k, bs in self._process_blocks.items():
            p = market.processes[k]
            made_at.setdefault(nidx[(p.target, p.region)], []).extend(bs)
        self._made_at = made_at  # node -> blocks of its own output
        m.OR = pyo.RangeSet(0, len(rules) - 1) if rules else pyo.Set(initialize=[])
        self._eo = np.array([e[r.node] for r in rules])
        m.origin = pyo.Constraint(m.OR, rule=lambda m, j: sum(g[i] / e[rules[j].node] * m.x[i] for i in rules[j].routes) - sum(fb[b] / e[rules[j].node] * m.z[b] for b in made_at.get(rules[j].node, [])) <= 0)

        value = []
        for b, (pos, _) in enumerate(blocks):
            sign = 1.0 if owners[pos][0] in ("demand", "offtake") else -1.0
            value.append(sign * (m.level[b] * fb[b] * m.z[b] - sign * 0.5 * m.slope[b] * fb[b] ** 2 * m.z[b] ** 2))
        value += [-m.cost[i] * g[i] * m.x[i] for i in m.R]
        value += [m.credit[j] * fu[j] * m.u[j] for j in m.C]
        m.welfare = pyo.Objective(expr=sum(value), sense=pyo.maximize)
        self._solver = None
        # numpy copies of the mutable parameters, kept equal by _set: the
        # fast path (_push) reads these instead of the Pyomo components
        self._vals = {name: np.array([getattr(m, name)[i].value for i in getattr(m, name)], dtype=float) for name in ("lb", "ub", "level", "slope", "cost", "credit", "floor_q", "quota_q", "release")}
        if plan is not None:
            # the fixed per-unit parts; price-dependent parts are set by the solve loop
            self.set_wedges({i: t.export_sp + t.tariff_sp for i, t in plan.routes.items()}, {})

    #: within-market quantity span above which variables get their own scales
    SPAN = 1e8

    def _owner_node(self, owner) -> int:
        kind, idx, _ = owner
        if kind == "processing":
            p = self.market.processes[idx]
            return self.market.node_index(p.target, p.region)
        return idx

    def _node_sizes(self, owners) -> np.ndarray:
        """Each node's size in units of Q: its largest reference quantity,
        when the market's quantities span more than :data:`SPAN`; else 1."""
        mk, Q = self.market, self.Q
        size = np.zeros(len(mk.nodes))
        for owner in owners:
            q = owner[2].reference_quantity()
            if math.isfinite(q) and q > 0:
                n = self._owner_node(owner)
                size[n] = max(size[n], q / Q)
                if owner[0] == "processing":
                    p = mk.processes[owner[1]]
                    src = mk.node_index(p.source, p.region)
                    size[src] = max(size[src], p.theta * q / Q)
        known = size[size > 0]
        if not len(known) or known.max() / known.min() <= self.SPAN:
            return np.ones(len(mk.nodes))
        # a node with no curve of its own (a hub) counts as the median size
        return np.clip(np.where(size > 0, size, np.median(known)), 1e-12, 1.0)

    @staticmethod
    def structure(plan) -> tuple:
        """What fixes the program's rows and columns for a plan: plans with
        equal structure differ only in numbers, so one model serves both."""
        if plan is None:
            return (None,)
        return (
            id(plan.market),
            tuple(o.node for o in plan.offtakes),
            tuple(sorted(plan.supply_floors)),
            tuple((k, plan.process_floors[k].cap) for k in sorted(plan.process_floors)),
            tuple(tuple(q.routes) for q in plan.quotas),
            tuple((r.node, tuple(r.routes)) for r in plan.origin_rules),
        )

    def update_plan(self, plan) -> bool:
        """Take the numbers of another plan of the same structure.

        Floor and quota quantities, offtake prices and caps, released stocks
        and the fixed parts of the route wedges change in place (the next
        solve re-uses the HiGHS instance and its basis).  Returns False,
        changing nothing, when the structure differs: build a new model.
        """
        if self.structure(plan) != self.structure(self.plan):
            return False
        from .curves import Linear

        m, Q = self.model, self.Q
        self.plan = plan
        for j, n in enumerate(self._floor_nodes):
            self._set("floor_q", j, self.floor_quantity(n) / Q)
        for j, q in enumerate(plan.quotas):
            self._set("quota_q", j, q.quantity / Q)
        for n in m.N:
            self._set("release", n, float(plan.release[n]) / Q)
        offtakes = iter(plan.offtakes)
        for pos, (kind, owner, _) in enumerate(self._owners):
            if kind == "offtake":
                o = next(offtakes)
                self._owners[pos] = (kind, owner, Linear({"intercept": o.level, "slope": 0.0, "capacity": o.quantity}, "demand"))
        points = {}
        for pos, (kind, owner, curve) in enumerate(self._owners):
            if kind == "supply" and owner in plan.supply_floors and not curve.exact:
                points[pos] = max(curve.reference_quantity(), self.floor_quantity(owner))
        for b, (pos, _) in enumerate(self._blocks):
            kind, _, curve = self._owners[pos]
            if kind == "offtake" or pos in points:
                (seg,) = curve.segments(points.get(pos))
                self._blocks[b] = (pos, seg)
                (lo,), (up,), (lev,), (slo,) = self._scaled([(pos, seg)])
                for name, v in (("lb", lo), ("ub", up), ("level", lev), ("slope", slo)):
                    self._set(name, b, v)
        self.set_wedges({i: t.export_sp + t.tariff_sp for i, t in plan.routes.items()}, {k: 0.0 for k in self._credited})
        return True

    def _set(self, name: str, index: int, value: float) -> None:
        """Set a mutable parameter of the Pyomo model and its numpy copy."""
        getattr(self.model, name)[index] = value
        self._vals[name][index] = value

    def floor_quantity(self, node: int) -> float:
        """Output a deficiency-payment floor guarantees at a supply node."""
        f = self.plan.supply_floors[node]
        curve = self.market.supply[self.market.nodes[node]]
        return min(f.cap, curve.quantity_at(f.level), curve.upper)

    def set_wedges(self, route: dict[int, float], credit: dict[int, float]) -> None:
        """Border wedges per route and processing credits (price units per unit)."""
        mk = self.market
        routes = mk.route_list
        for i, w in route.items():
            self._set("cost", i, (mk.routes[routes[i]] + w) / self.P)
        for j, k in enumerate(self._credited):
            if k in credit:
                self._set("credit", j, credit[k] / self.P)

    # -- data ----------------------------------------------------------
    def _scaled(self, blocks):
        P, Q = self.P, self.Q
        lo = [s.lower / Q for _, s in blocks]
        up = [s.upper / Q for _, s in blocks]
        lev = [s.level / P for _, s in blocks]
        slo = [s.slope * Q / P for _, s in blocks]
        return lo, up, lev, slo

    def relinearise(self, points: dict[int, float]) -> None:
        """Replace the blocks of non-exact curves by tangents at ``points``.

        ``points`` maps an owner position (see :meth:`owner_quantities`)
        to the quantity to linearise at.  Exact curves are left alone.
        """
        for b, (pos, _) in enumerate(self._blocks):
            curve = self._owners[pos][2]
            if curve.exact or pos not in points:
                continue
            (seg,) = curve.segments(points[pos])
            (lo,), (up,), (lev,), (slo,) = self._scaled([(pos, seg)])
            for name, v in (("lb", lo), ("ub", up), ("level", lev), ("slope", slo)):
                self._set(name, b, v)

    def owner_quantities(self, z: np.ndarray) -> np.ndarray:
        """Quantity of each curve owner (node supply/demand, process)."""
        q = np.zeros(len(self._owners))
        for b, (pos, _) in enumerate(self._blocks):
            q[pos] += z[b]
        return q * self.Q

    @property
    def nonlinear_owners(self) -> list[int]:
        return [pos for pos, (_, _, c) in enumerate(self._owners) if not c.exact]

    # -- solving ---------------------------------------------------------
    def solve(self, tight: bool = False) -> tuple[Solution, np.ndarray]:
        """Solve the program; returns the solution and owner quantities.

        ``tight`` uses :data:`HIGHS_TIGHT` instead of :data:`HIGHS_OPTIONS`.
        The first solve hands the Pyomo model to HiGHS (Pyomo's persistent
        ``highs`` interface); later solves write the mutable parameters
        straight into that HiGHS instance (:meth:`_push`) and re-run it from
        its last basis, because Pyomo's own update walks every expression
        and costs more than the solve (``benchmarks/full_case.py``).
        """
        import highspy

        m = self.model
        # the active-set QP can cycle on degenerate markets (zero-cost route
        # cycles with ties); a generous iteration limit catches it early
        options = {**_HIGHS_DEFAULTS, **HIGHS_OPTIONS, **(HIGHS_TIGHT if tight else {}), "qp_iteration_limit": max(20000, 20 * (len(m.B) + len(m.R)))}
        if self._solver is None:
            from pyomo.contrib.solver.common.factory import SolverFactory

            self._solver = SolverFactory("highs")
            self._solver.solve(m, load_solutions=False, raise_exception_on_nonoptimal_result=False, solver_options=options)
            self._index()
        else:
            self._push()
            if self._last is not None and not tight:
                # the previous optimum's active set, corrected by polish's own
                # active-set steps: HiGHS's QP solver cannot hot start (1.16),
                # and between nearby programs (a sweep, the next fixed-point
                # step) a few steps from the old active set are much cheaper
                # than a cold solve.  A KKT point of this convex program is
                # its optimum; when polish finds none, HiGHS solves.
                warm = polish(self._highs.getModel(), *self._last, rounds=20, strict=True)
                if warm is not None:
                    self.ran_highs = False
                    return self._result(*warm, None)
        self.ran_highs = True
        h = self._highs
        h.setOptionValue("output_flag", False)
        for k, v in options.items():
            h.setOptionValue(k, v)
        if self._ran:
            h.run()
        self._ran = True
        status = h.getModelStatus()
        if status not in (highspy.HighsModelStatus.kOptimal, highspy.HighsModelStatus.kModelEmpty):
            # cycling, or HiGHS's own error exit on degenerate programs: retry
            # perturbed (a proven infeasible or unbounded program is final)
            final = status in (highspy.HighsModelStatus.kInfeasible, highspy.HighsModelStatus.kUnbounded, highspy.HighsModelStatus.kUnboundedOrInfeasible)
            rescued = None if final else _perturbed_solve(h.getModel())
            if rescued is None:
                raise SolveError(self.market.name, _status_words(status))
            col, row = rescued
            obj = None
        else:
            raw = h.getSolution()
            col, row = np.asarray(raw.col_value), np.asarray(raw.row_dual)
            obj = h.getInfo().objective_function_value
            polished = polish(h.getModel(), col, row)
            if polished is not None:
                col, row = polished
        return self._result(col, row, obj)

    def _result(self, col, row, obj) -> tuple[Solution, np.ndarray]:
        """Solution and owner quantities from HiGHS-ordered primal and duals."""
        self._last = (np.array(col, dtype=float), np.array(row, dtype=float))
        ix = self._ix
        # back to units of Q (blocks, flows) and of P (prices, rents)
        z, x = col[ix["z"]] * self._f, col[ix["x"]] * self._g
        # For a maximisation HiGHS reports the row dual of the negated
        # (minimisation) problem: the shadow price of a unit more at the
        # node is minus the reported dual (tests/test_closed_form.py).
        price = np.full(len(self.market.nodes), np.nan)
        price[ix["nodes"]] = -row[ix["balance"]] / self._e[ix["nodes"]]
        q = self.owner_quantities(z)
        if obj is None:
            # the program's value at this point (the Hessian is diagonal)
            cost = np.asarray(self._highs.getLp().col_cost_, dtype=float)
            obj = float(cost @ col + 0.5 * self._hessian @ (np.asarray(col) ** 2))
        sol = self._assemble(q, x, price * self.P, float(obj) * self.P * self.Q)
        # a quota's rent is what one more unit of quota is worth: for a <=
        # row of a maximisation HiGHS reports it with the opposite sign of
        # the balance rows' duals (tests/test_policies.py)
        sol.quota_rent = np.maximum(0.0, row[ix["quota"]] / self._eq) * self.P
        sol.origin_rent = np.maximum(0.0, row[ix["origin"]] / self._eo) * self.P
        sol.block_values = z
        return sol, q

    @property
    def highs(self):
        """The HiGHS instance (``highspy.Highs``) after the first solve."""
        return self._highs

    def _index(self) -> None:
        """Column and row positions in HiGHS of every variable and row."""
        opt = self._solver
        m = self.model
        vmap, cmap = opt._pyomo_var_to_solver_var_map, opt._pyomo_con_to_solver_con_map
        cols = lambda var: np.array([vmap[id(var[i])] for i in var], dtype=np.int32)  # noqa: E731
        rows = lambda con: np.array([cmap[con[i]] for i in con], dtype=np.int32)  # noqa: E731
        self._highs = opt._solver_model
        self._last = None  # (col, row) of the last solution: a warm start
        self._ran = False  # the Pyomo call above already ran HiGHS once
        self._ix = {
            "z": cols(m.z), "x": cols(m.x), "u": cols(m.u),
            "nodes": np.array([n for n in m.N if n in m.balance], dtype=np.int32), "balance": rows(m.balance),
            "floor": rows(m.floor), "quota": rows(m.quota), "origin": rows(m.origin),
        }
        # the Hessian Pyomo passed: -slope on the block columns
        self._hessian = np.zeros(self._highs.getNumCol())
        self._hessian[self._ix["z"]] = -np.array([m.slope[b].value for b in m.B], dtype=float) * self._f ** 2
        self._zsign = np.array([1.0 if self._owners[pos][0] in ("demand", "offtake") else -1.0 for pos, _ in self._blocks])

    def _push(self) -> None:
        """Write the mutable parameters into the HiGHS instance.

        The program is ``max Σ sign·level·z − ½·slope·z² − cost·x + credit·u``;
        its bounds and right-hand sides are the block bounds, the floor and
        quota quantities and the released stocks
        (``tests/test_closed_form.py`` compares the result with what Pyomo
        itself hands HiGHS).
        """
        import highspy

        h, ix, v = self._highs, self._ix, self._vals
        nz, nx, nu = len(ix["z"]), len(ix["x"]), len(ix["u"])
        if nz:
            f = self._f
            h.changeColsCost(nz, ix["z"], self._zsign * v["level"] * f)
            ub = v["ub"] / f
            h.changeColsBounds(nz, ix["z"], v["lb"] / f, np.where(np.isfinite(ub), ub, highspy.kHighsInf))
            diag = np.zeros(h.getNumCol())
            diag[ix["z"]] = -v["slope"] * f * f
            # unchanged: passing it again would drop HiGHS's basis
            if not np.array_equal(diag, self._hessian):
                self._hessian = diag
                self._pass_hessian(diag)
        if nx:
            h.changeColsCost(nx, ix["x"], -v["cost"] * self._g)
        if nu:
            h.changeColsCost(nu, ix["u"], v["credit"] * self._fu)
        rel = -(v["release"] / self._e)[ix["nodes"]]
        if len(rel):
            h.changeRowsBounds(len(rel), ix["balance"], rel, rel)
        if len(ix["floor"]):
            h.changeRowsBounds(len(ix["floor"]), ix["floor"], v["floor_q"] / self._e[self._floor_nodes], np.full(len(ix["floor"]), highspy.kHighsInf))
        if len(ix["quota"]):
            h.changeRowsBounds(len(ix["quota"]), ix["quota"], np.full(len(ix["quota"]), -highspy.kHighsInf), v["quota_q"] / self._eq)

    def _pass_hessian(self, diag: np.ndarray) -> None:
        """Give HiGHS a diagonal Hessian; only the nonzeros, because an
        all-zero Hessian makes the program an LP again."""
        import highspy

        nzc = np.flatnonzero(diag)
        hess = highspy.HighsHessian()
        hess.dim_ = len(diag) if len(nzc) else 0
        hess.format_ = highspy.HessianFormat.kTriangular
        hess.start_ = np.searchsorted(nzc, np.arange(len(diag) + 1)).astype(np.int32) if len(nzc) else np.zeros(1, dtype=np.int32)
        hess.index_ = nzc.astype(np.int32)
        hess.value_ = diag[nzc]
        self._highs.passHessian(hess)

    def _assemble(self, q, x, price, objective) -> Solution:
        """Node and process arrays from owner quantities ``q`` (own units)."""
        mk = self.market
        nn = len(mk.nodes)
        supply = np.full(nn, np.nan)
        demand = np.full(nn, np.nan)
        processing = np.zeros(len(mk.processes))
        offtake = []
        for pos, (kind, owner, _) in enumerate(self._owners):
            if kind == "offtake":
                offtake.append(q[pos])
            elif kind == "supply":
                supply[owner] = q[pos]
            elif kind == "demand":
                demand[owner] = q[pos]
            else:
                processing[owner] = q[pos]
        return Solution(supply=supply, demand=demand, price=price, flow=x * self.Q, processing=processing, objective=objective, offtake=np.asarray(offtake, dtype=float))


def _status_words(status) -> str:
    name = getattr(status, "name", str(status))
    return {
        "kInfeasible": "infeasible (no quantities satisfy every balance and bound)",
        "kUnboundedOrInfeasible": "infeasible or unbounded",
        "kUnbounded": "unbounded (a supply with no capacity and a demand with no choke price)",
        "kIterationLimit": "iteration limit reached",
        "kTimeLimit": "time limit reached",
        "kSolveError": "numerical trouble (HiGHS stopped with a solver error)",
    }.get(name, name.lstrip("k"))
