"""The welfare program of one market, and its solution by HiGHS.

The equilibrium of SPEC §2 without policy wedges is the solution of the
Takayama–Judge program

    max  Σ_nodes ∫ demand value  −  Σ_nodes ∫ supply cost
         − Σ_regions ∫ processing cost  −  Σ_routes (t·X + ½·s·X²)
         (+ Σ credits·u)

with columns

    z[b]  the quantity of curve block b (a supply, demand, processing or
          offtake block; :meth:`mineq.models.curves.Curve.segments`)
    x[i]  the flow on allowed route i
    u[j]  the credited output of a processor floor j, then of a floor on
          what joint activities deliver to a node
    h[j]  the home sales of strategic seller j (market_power)

and rows

    balance[n]  S + processing output + inflows + released stocks
                − D − θ·processing input − outflows − offtake = 0
                (one per node; its shadow price is the node price P)
    floor[j]    a floored producer's output >= its guaranteed quantity
    credit[j]   u[j] <= the floored processor's output (or the joint
                activities' output at the floored node)
    quota[j]    Σ covered flows <= the quota
    origin[j]   Σ covered exports <= the node's own output
    seller[j]   a strategic seller's own output − h − its exports = 0
                (its shadow price is the seller's marginal revenue; the
                balance row of its node then holds h instead of its own
                output and exports, and the objective gains −½·θ·b·q² per
                sale q: a Cournot–Nash equilibrium, Harker 1986)

Its KKT conditions are exactly SPEC §2.1–§2.5, so the optimum is the
equilibrium.  An isoelastic curve enters as its tangent and
``mineq.solver.solve`` re-linearises until the true curve's conditions hold.

The rows are written once, below, as coefficient lists; :class:`MarketModel`
hands them to HiGHS directly (a persistent instance, changed in place for
re-solves) and :meth:`MarketModel.pyomo` gives the same program as a Pyomo
model, for reading, writing (``.lp``/``.nl``) or other solvers
(``tests/test_closed_form.py`` checks the two are identical).  Going
through Pyomo at every solve cost ten times HiGHS's own time on the
bundled case (``benchmarks/full_case.py``).

Internally the program is scaled (quantities by ``quantity_scale``,
prices by ``price_scale``, and per node when a market's quantities span
more than :data:`MarketModel.SPAN`) so that HiGHS sees numbers near one
whatever the units.
"""

from __future__ import annotations

import math

import numpy as np

from . import hot_start, lp_start
from . import routes as route_generation
from .active_set import QP, Settled, highs_hessian, highs_of, polish, release_highs, rescue
from .curves import Linear
from .speed import plain
from .market import Market, Solution
from .sparse import Matrix

#: HiGHS settings.  The active-set QP solver regularises the Hessian (by
#: 1e-7), which shifts prices by about 1e-6 relative; tighter settings
#: make it cycle on degenerate markets (zero-cost route cycles).  So HiGHS
#: runs with its robust defaults and :func:`mineq.models.active_set.polish` then
#: solves the KKT system of the active set it found exactly.
HIGHS_OPTIONS = {"time_limit": 60.0}
#: active-set rounds of a warm re-solve's polish before HiGHS runs
#: instead.  A round frees or fixes one variable; an ensemble's draw of
#: the light rare earths moves more route flows than 20 rounds reach.
#: With the compiled step a round is cheap: 24 bundled baseline draws ran
#: 15 route-generation HiGHS runs instead of 45 (1.07x the draws per
#: second), and the bundled case on one thread 6.0-6.1 s instead of 6.4
#: (256 runs instead of 275); 40 to 200 rounds measured alike.  Since
#: the compiled step solves singular systems itself (session 22) the
#: linked markets' fixed points under market power and export controls
#: need more than 60 rounds from the central optimum and take them
#: cheaply: eight draws of every scenario took 9.5-10.6 s at 150 rounds
#: against 10.1-11.2 s at 60, alternating in one run, with the same
#: verified markets (100 and 200 alike, 300 no faster than 60)
WARM_ROUNDS = 150
#: the second attempt when the first does not verify: little
#: regularisation, tight KKT tolerances, and a short leash because these
#: settings can cycle on degenerate markets
HIGHS_TIGHT = {"time_limit": 2.0, "qp_regularization_value": 1e-11, "primal_feasibility_tolerance": 1e-9, "dual_feasibility_tolerance": 1e-9, "optimality_tolerance": 1e-9}
#: HiGHS's QP iteration limit on a run that holds n columns (route
#: generation holds a subset of the program's):
#: max(QP_ITERATIONS_MIN, QP_ITERATIONS_PER_COLUMN·n).  Measured: every
#: run of the bundled case that ended optimal took at most 2.1·n
#: iterations, the country case's cold starts at most 1.7·n; the four
#: runs that reached the former limit (20·n, at least 20,000) cycled on
#: 222-227 columns and took 1.0 of the case's 2.8 s inside HiGHS.  With
#: the deposit-specific rare earths (2026-12-05): 609 runs, the optimal
#: ones at most 2.34·n, four cycling runs (460-882 columns) that took
#: 1.38 of 3.88 s inside HiGHS at 10·n and 0.69 at 5·n, same results.
#: Session 20 (2026-12-05, 593 runs): the optimal ones again at most
#: 2.34·n, six runs (460-882 columns) that reached 5·n cycled there, 0.9 s
#: inside HiGHS; at 3·n every scenario-market has the same solution,
#: number for number, and the case on one thread took 5.5-5.6 s
#: instead of 5.6-5.8 s
QP_ITERATIONS_MIN = 1000
QP_ITERATIONS_PER_COLUMN = 3
#: HiGHS's own values of the options above, restored when a persistent
#: instance goes back from tight to normal settings
_HIGHS_DEFAULTS = {"qp_regularization_value": 1e-7, "primal_feasibility_tolerance": 1e-7, "dual_feasibility_tolerance": 1e-7, "optimality_tolerance": 1e-7}

#: a linked market's members whose typical prices span more than this
#: factor are scaled by value (MarketModel._value_scales)
VALUE_SPAN = 100.0

#: :meth:`MarketModel.update_market` keeps the program's node sizes when
#: the drawn market's own are within this factor of them, each node
NODE_SIZE_SLACK = 10.0

#: column groups and row groups, in the order HiGHS numbers them
COLUMNS = ("z", "x", "u", "h")
ROWS = ("balance", "floor", "credit", "quota", "origin", "seller", "extension")


class SolveError(RuntimeError):
    """HiGHS did not return an optimal solution of the welfare program."""

    def __init__(self, market: str, status: str, detail: str = ""):
        self.market = market
        self.status = status
        super().__init__(f"{market}: {status}{': ' + detail if detail else ''}")


def _qp_iterations(h) -> int:
    """QP iterations of HiGHS's last run; 0 when HiGHS says its run
    information is not valid (a run that ended in kSolveError leaves
    garbage there: -2,048,489,582 was read, in a process where Pyomo's
    HiGHS interface had run before)."""
    if not h.getInfo().valid:
        return 0
    return max(int(h.getInfoValue("qp_iteration_count")[1]), 0)


class MarketModel:
    """The welfare program of one :class:`Market` (scaled units).

    Built once, re-solved persistently: linearisation points, wedges,
    credits and policy quantities are parameters (:attr:`_vals`, changed
    through :meth:`_set`), so a re-solve changes numbers in HiGHS without
    rebuilding anything.
    """

    #: within-market quantity span above which variables get their own scales
    SPAN = 1e8

    def __init__(self, market: Market, plan=None, points: dict | None = None):
        """``plan`` (a :class:`mineq.models.policies.PolicyPlan` for ``market``)
        adds the policy primitives: offtake blocks, floor rows, processing
        credits, quota rows, released stocks and route wedges."""
        self.market = market
        self.plan = plan
        self.P = market.price_scale
        self.Q = market.quantity_scale
        nodes = market.nodes

        # Blocks of every curve: (owner kind, owner index, curve).  Owner
        # index is a node for supply/demand/offtake and a process for
        # processing.  An offtake is a demand that values the good at the
        # floor, up to its quantity cap.
        owners = _market_owners(market)
        if plan is not None:
            for o in plan.offtakes:
                owners.append(("offtake", o.node, _offtake_curve(o)))
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
            for seg in curve.blocks(points.get(pos)):
                blocks.append((pos, seg))
        self._blocks = blocks
        nb = len(blocks)
        # fixed per program (a re-linearisation replaces a block's segment,
        # never its owner): the owner of each block, and where each kind of
        # owner's quantity goes in a Solution
        self._block_owner = np.array([pos for pos, _ in blocks], dtype=np.intp)
        at: dict[str, tuple[list, list]] = {kind: ([], []) for kind in ("supply", "demand", "processing", "offtake", "joint", "disposal")}
        for pos, (kind, owner, _) in enumerate(owners):
            at[kind][0].append(pos)
            at[kind][1].append(owner)
        self._owner_at = {kind: (np.array(p, dtype=np.intp), np.array(o, dtype=np.intp)) for kind, (p, o) in at.items()}
        owner_blocks: list[list] = [[] for _ in owners]
        for b, (pos, _) in enumerate(blocks):
            owner_blocks[pos].append(b)
        # blocks of each supply node and of each process (floors, credits,
        # rules of origin and the MILP fallback all sum over them)
        self._supply_blocks = {owner: owner_blocks[pos] for pos, (kind, owner, _) in enumerate(owners) if kind == "supply"}
        self._process_blocks = {owner: owner_blocks[pos] for pos, (kind, owner, _) in enumerate(owners) if kind == "processing"}

        # Per-variable scales (units of Q) for markets whose quantities span
        # many orders of magnitude: a block counts in units of its node's
        # size, a flow in units of its ends' geometric mean, and every row
        # is divided by the size of its node, so that HiGHS sees numbers
        # near one in a market that holds 0.001 t here and 1e7 t there.
        self._by_value = self._sized_by_value()
        e = self._e = self._node_sizes(owners, self._by_value)  # row scale of each node's balance
        block_node = np.array([self._owner_node(owners[pos]) for pos, _ in blocks], dtype=np.intp)
        fb = self._f = e[block_node] if nb else np.zeros(0)  # block b's quantity / Q = f[b]·z[b]
        kinds = [owners[pos][0] for pos, _ in blocks]
        # +1: the block's value counts positive in welfare (consumers)
        self._zsign = np.array([1.0 if k in ("demand", "offtake", "disposal") else -1.0 for k in kinds])
        routes = market.route_list
        nr = len(routes)
        ro, rd = market.route_nodes
        # a flow counts in the geometric mean of its ends' sizes: the
        # coefficients in both rows stay within sqrt(span) of one (HiGHS
        # drops matrix entries below 1e-9 as it reads the rows)
        g = self._g = np.sqrt(e[ro] * e[rd]) if nr else np.zeros(0)  # route i's flow / Q = g[i]·x[i]

        floors = [] if plan is None else sorted(plan.supply_floors)
        self._floor_nodes = floors
        credited = [] if plan is None else sorted(plan.process_floors)
        self._credited = credited
        src, tgt = market.process_nodes
        # floors on joint output: a credit at each floored node some joint
        # activity delivers to (elsewhere nothing is delivered to pay for)
        self._joint_credited = [] if plan is None else plan.joint_floored()
        fu = self._fu = np.concatenate([e[tgt[credited]] if credited else np.zeros(0), e[self._joint_credited] if self._joint_credited else np.zeros(0)])
        quotas = [] if plan is None else plan.quotas
        eq = self._eq = np.array([max([g[i] for i in q.routes], default=1.0) for q in quotas])
        rules = [] if plan is None else plan.origin_rules
        # node -> (block, units per unit of the block) of its own output
        made_at: dict[int, list] = {n: [(b, 1.0) for b in bs] for n, bs in self._supply_blocks.items()}
        for k, bs in self._process_blocks.items():
            made_at.setdefault(int(tgt[k]), []).extend((b, 1.0) for b in bs)
        joint_blocks = {owner: owner_blocks[pos] for pos, (kind, owner, _) in enumerate(owners) if kind == "joint"}
        joint_at: dict[int, list] = {}  # node -> (block, yield) of the joint activities delivering there
        for j, terms in enumerate(market.joint_terms):
            for node, a in terms:
                if a > 0:
                    made_at.setdefault(node, []).extend((b, a) for b in joint_blocks[j])
                    joint_at.setdefault(node, []).extend((b, a) for b in joint_blocks[j])
        self._made_at = made_at
        eo = self._eo = np.array([e[r.node] for r in rules])

        # -- columns -------------------------------------------------------
        nu = len(credited) + len(self._joint_credited)
        self._ix = {"z": np.arange(nb), "x": nb + np.arange(nr), "u": nb + nr + np.arange(nu)}
        self._ncol = nb + nr + nu
        Z, X, U = self._ix["z"], self._ix["x"], self._ix["u"]
        self._ucap = np.array([plan.process_floors[k].cap / self.Q for k in credited] + [plan.joint_floors[n].cap / self.Q for n in self._joint_credited]) / fu if nu else np.zeros(0)
        # strategic sellers (market_power): a home-sales column each, in
        # units of its node's size
        sellers = self._sellers = [] if plan is None else list(plan.sellers)
        nh = len(sellers)
        self._ix["h"] = self._ncol + np.arange(nh)
        self._ncol += nh
        self._fh = e[[s.node for s in sellers]] if nh else np.zeros(0)

        # -- rows: (row, column, coefficient) triplets, group by group -------
        # balance: + for what arrives at a node, − for what leaves it
        at, col, coef = [], [], []
        for b, (pos, _) in enumerate(blocks):
            kind, owner, _ = owners[pos]
            if kind == "processing":
                at += [int(tgt[owner]), int(src[owner])]
                col += [Z[b], Z[b]]
                coef += [fb[b], -market.processes[owner].theta * fb[b]]
            elif kind == "joint":
                for node, a in market.joint_terms[owner]:
                    at.append(node)
                    col.append(Z[b])
                    coef.append(a * fb[b])
            else:
                at.append(owner)
                col.append(Z[b])
                coef.append(fb[b] if kind == "supply" else -fb[b])  # demand, offtake, disposal: taken
        at = np.concatenate([np.asarray(at, dtype=np.intp), ro, rd])
        col = np.concatenate([np.asarray(col, dtype=np.intp), X, X])
        coef = np.concatenate([np.asarray(coef, dtype=float), -g, g]) / e[at] if len(at) else np.zeros(0)
        # strategic sellers: the own output (blocks entering the node's
        # balance with +) and the exports (flows leaving it) move to the
        # seller's row; the balance gets + h, the seller's row − h
        seller_of = np.full(len(nodes), -1, dtype=np.intp)
        for j, s_ in enumerate(sellers):
            seller_of[s_.node] = j
        moved = (seller_of[at] >= 0) & (((col < nb) & (coef > 0)) | ((col >= nb) & (col < nb + nr) & (coef < 0))) if nh else np.zeros(len(at), dtype=bool)
        H = self._ix["h"]
        hn = np.array([s_.node for s_ in sellers], dtype=np.intp)
        seller_rows = (np.concatenate([seller_of[at[moved]], np.arange(nh)]), np.concatenate([col[moved], H]), np.concatenate([coef[moved], -np.ones(nh)]))
        at, col, coef = np.concatenate([at[~moved], hn]), np.concatenate([col[~moved], H]), np.concatenate([coef[~moved], np.ones(nh)])
        # a node nothing touches has no row (and no price)
        touched = np.zeros(len(nodes), dtype=bool)
        touched[at] = True
        self._ix["nodes"] = np.flatnonzero(touched)
        row_of = np.cumsum(touched) - 1  # a touched node's balance row
        groups = {"balance": (row_of[at], col, coef)}

        def group(rows):
            """Triplets of a group given as one list of (column, coefficient) per row."""
            r = [j for j, terms in enumerate(rows) for _ in terms]
            return np.asarray(r, dtype=np.intp), np.array([c for terms in rows for c, _ in terms], dtype=np.intp), np.array([v for terms in rows for _, v in terms], dtype=float)

        # deficiency-payment floors on producers: S >= min(cap, MC^-1(F))
        groups["floor"] = group([[(Z[b], fb[b] / e[n]) for b in self._supply_blocks[n]] for n in floors])
        # floors on processors: a credit per unit on u <= min(Y, cap)
        groups["credit"] = group([[(U[j], 1.0)] + [(Z[b], -fb[b] / fu[j]) for b in self._process_blocks[k]] for j, k in enumerate(credited)]
                                 # floors on joint output: u <= Σ yield·activity delivered to the node
                                 + [[(U[j], 1.0)] + [(Z[b], -a * fb[b] / fu[j]) for b, a in joint_at[n]] for j, n in enumerate(self._joint_credited, len(credited))])
        # quotas on sums of flows
        groups["quota"] = group([[(X[i], g[i] / eq[j]) for i in q.routes] for j, q in enumerate(quotas)])
        # rules of origin: covered exports <= own output (supply + refining)
        groups["origin"] = group([[(X[i], g[i] / eo[j]) for i in r.routes] + [(Z[b], -a * fb[b] / eo[j]) for b, a in made_at.get(r.node, [])] for j, r in enumerate(rules)])
        # strategic sellers: own output − h − exports = 0
        groups["seller"] = seller_rows
        # extensions (models/extensions.py): lower <= Σ a·quantity <= upper,
        # each row divided by its largest entry
        restricted = [] if plan is None else plan.extensions
        # each labelled quantity's owner: (kind, index) -> owner position,
        # an offtake by its place among the plan's offtakes
        pos_of = {(kind, owner): pos for pos, (kind, owner, _) in enumerate(owners) if kind != "offtake"}
        pos_of.update({("offtake", j): pos for j, pos in enumerate(p for p, (kind, *_) in enumerate(owners) if kind == "offtake")})
        ext_rows = [self._extension_terms(r, pos_of, owner_blocks, Z, X) for r in restricted]
        self._ee = np.array([max((abs(v) for _, v in t), default=1.0) for t in ext_rows])
        groups["extension"] = group([[(c, v / ee) for c, v in t] for t, ee in zip(ext_rows, self._ee)])
        nrows = {"balance": len(self._ix["nodes"]), "floor": len(floors), "credit": nu, "quota": len(quotas), "origin": len(rules)}
        nrows["seller"] = nh
        nrows["extension"] = len(restricted)
        self._nrow = sum(nrows.values())
        # stored sparse (models/sparse.py): a few entries per column, so a
        # market of thousands of nodes and millions of routes fits
        offset, triplets = 0, []
        for name in ROWS:
            r, c, v = groups[name]
            self._ix[name] = offset + np.arange(nrows[name])
            triplets.append((r + offset, c, v))
            offset += nrows[name]
        # a column twice in a row: summed
        self._A = Matrix.from_triplets((self._nrow, self._ncol), *(np.concatenate(t) for t in zip(*triplets)))

        # -- parameters (scaled), changed in place by _set -----------------
        lo, up, lev, slo = self._scaled(blocks)
        release = np.zeros(len(nodes)) if plan is None else np.asarray(plan.release, dtype=float)
        self._vals = {
            "lb": np.array(lo, dtype=float), "ub": np.array(up, dtype=float),
            "level": np.array(lev, dtype=float), "slope": np.array(slo, dtype=float),
            "cost": market.route_costs / self.P if nr else np.zeros(0),
            # d(marginal route cost)/d(flow), in program units (like a block's slope)
            "rslope": market.route_slope * self.Q / self.P if nr else np.zeros(0),
            "credit": np.zeros(nu),
            "floor_q": np.array([self.floor_quantity(n) / self.Q for n in floors]),
            "quota_q": np.array([q.quantity / self.Q for q in quotas]),
            "release": release / self.Q,
            # strategic sellers: the perceived markup slope θ·b on each
            # flow (0 off a seller's exports; kept apart from rslope, a
            # real cost) and on each seller's home sales, program units
            "mslope": self._markup_slopes(),
            "hslope": np.array([s_.markup(s_.node) for s_ in sellers]) * self.Q / self.P,
            "ext_lo": np.array([r.lower / self.Q for r in restricted]) / self._ee if restricted else np.zeros(0),
            "ext_up": np.array([r.upper / self.Q for r in restricted]) / self._ee if restricted else np.zeros(0),
        }
        self._numbers_cache = None
        self._highs = None
        self._cols = None  # the columns HiGHS holds, in its order (models/routes.py)
        self._synced = False  # HiGHS holds the current numbers
        self._hessian = None  # the Hessian diagonal HiGHS holds
        self._last = None  # (col, row, active set) of the last solution: a warm start
        self.ran_highs = False
        self.route_rounds = 0  # HiGHS runs of the last solve (rounds of route generation)
        self.qp_iterations = 0  # HiGHS's QP iterations in them
        self._hot = None  # a hot_start.Start for the next HiGHS run
        self._block_keys = self._row_keys = None
        self.hot_started = False  # the last HiGHS run started from one
        if plan is not None:
            # the fixed per-unit parts; price-dependent parts are set by the solve loop
            self.set_wedges(plan.fixed_wedges(), {})

    def _extension_terms(self, row, pos_of, owner_blocks, Z, X) -> list[tuple[int, float]]:
        """(column, coefficient) of an extension row, in units of Q: a
        labelled quantity is the sum of its owner's blocks (or a flow)."""
        mk = self.market
        out = []
        for (kind, i), a in row.terms.items():
            if kind == "flow":
                out.append((int(X[i]), a * self._g[i]))
                continue
            pos = pos_of.get((kind, i))
            if pos is None:
                s, r = mk.nodes[i] if kind in ("supply", "demand", "disposal") else ("", "")
                raise ValueError(f"extension row {row.name!r}: {mk.name} has no {kind} {s}/{r}".rstrip(" /"))
            out += [(int(Z[b]), a * self._f[b]) for b in owner_blocks[pos]]
        return out

    # -- names of columns and rows (hot starts carry values by name) ------
    def block_keys(self) -> list[tuple]:
        """A name per block column that another program of the same market
        gives the same block: (owner kind, owner, k-th block of the owner).
        Flows are named by :attr:`Market.route_list` order, credits by
        ``self._credited``."""
        if self._block_keys is None:  # fixed: a re-linearisation replaces blocks in place
            keys, seen = [], {}
            for pos, _ in self._blocks:
                kind, owner, _ = self._owners[pos]
                k = seen[(kind, owner)] = seen.get((kind, owner), -1) + 1
                keys.append((kind, owner, k))
            self._block_keys = keys
        return self._block_keys

    def _credit_keys(self) -> list:
        """A key per credit column: a floored process's index, then
        ``("joint", node)`` for a floor on joint output (the keys of
        :meth:`set_wedges`' credits)."""
        return list(self._credited) + [("joint", n) for n in self._joint_credited]

    def column_scale(self) -> np.ndarray:
        """Natural units (of Q) per unit of each column."""
        return np.concatenate([self._f, self._g, self._fu, self._fh])

    def _markup_slopes(self) -> np.ndarray:
        """Per route: θ·b of the strategic seller exporting on it (program units)."""
        if self.plan is None:
            return np.zeros(len(self.market.route_list))
        return self.plan.route_markups() * self.Q / self.P

    def row_keys(self) -> list[tuple]:
        """A name per row: (group, node, process, or the routes it sums)."""
        if self._row_keys is not None:  # fixed: plans of one structure only
            return self._row_keys
        keys: list = [None] * self._nrow
        named = {
            "balance": [int(n) for n in self._ix["nodes"]],
            "floor": list(self._floor_nodes),
            "credit": self._credit_keys(),
            "quota": [tuple(q.routes) for q in (self.plan.quotas if self.plan is not None else [])],
            "origin": [(r.node, tuple(r.routes)) for r in (self.plan.origin_rules if self.plan is not None else [])],
            "seller": [s_.node for s_ in self._sellers],
            "extension": [r.name for r in (self.plan.extensions if self.plan is not None else [])],
        }
        for name in ROWS:
            for i, who in zip(self._ix[name], named[name]):
                keys[i] = (name, who)
        self._row_keys = keys
        return keys

    def release(self) -> None:
        """Hand the HiGHS instance back for another program
        (:func:`mineq.models.active_set.release_highs`): for a caller done with
        this program.  A later solve makes a new instance."""
        if self._highs is not None:
            release_highs(self._highs)
            self._highs = None
        self._cols = None
        self._synced = False

    def start_basis(self):
        """The last HiGHS run's basis and solution, for :meth:`hot_start` of
        another program of this market (None if HiGHS did not solve this one)."""
        return hot_start.export(self)

    def hot_start(self, start) -> None:
        """Start the next HiGHS run from ``start`` (:meth:`start_basis` of a
        neighbouring program, e.g. the baseline's); see :mod:`mineq.models.hot_start`."""
        if plain():
            return  # the plain path solves every program cold
        self._hot = start

    def _owner_node(self, owner) -> int:
        """The node whose size scales the owner's blocks."""
        kind, idx, _ = owner
        if kind == "processing":
            return int(self.market.process_nodes[1][idx])
        if kind == "joint":
            # its largest output: the yields of minor by-products stay
            # small coefficients beside it rather than large ones
            return max(self.market.joint_terms[idx], key=lambda t: t[1])[0]
        return idx

    def _sized_by_value(self) -> bool:
        """Whether a linked market's nodes are sized by value
        (:meth:`_value_scales`): only where members' prices are far apart.
        In value units a cheap member's tonne is a large column unit, and
        HiGHS's rounding then shows in the balance of its small nodes (the
        four light rare earths, 73x apart, stay in natural units)."""
        if not self.market.joint:
            return False
        scales = self._value_scales()
        return bool(scales.max() / scales.min() > VALUE_SPAN)

    def _node_sizes(self, owners, by_value: bool) -> np.ndarray:
        """Each node's size in units of Q: its value scale where
        ``by_value`` (:meth:`_sized_by_value`); else its largest reference
        quantity (:attr:`Market.node_quantities`, and the program's
        offtakes), when the market's quantities span more than
        :data:`SPAN`; else 1."""
        mk, Q = self.market, self.Q
        if by_value:
            return self._value_scales()
        size = mk.node_quantities / Q
        for kind, idx, curve in owners:
            if kind == "offtake":
                q = curve.reference_quantity()
                if math.isfinite(q) and q > 0:
                    size[idx] = max(size[idx], q / Q)
        known = size[size > 0]
        if not len(known) or known.max() / known.min() <= self.SPAN:
            return np.ones(len(mk.nodes))
        # a node with no curve of its own (a hub) counts as the median size
        return np.clip(np.where(size > 0, size, np.median(known)), 1e-12, 1.0)

    def _value_scales(self) -> np.ndarray:
        """Node scales of a linked market (:mod:`mineq.models.joint`): each
        member's quantities count in units of value, ``P / p_m`` with
        ``p_m`` the member's typical price.  The members of one linked
        market are priced orders of magnitude apart (lanthanum 1 USD/kg,
        terbium 1,000), so in natural units their prices, yields and
        curve slopes spread over many decades and HiGHS's QP solver stops
        with numerical trouble; in units of value a yield becomes the
        output's share of the activity's value and every price is near
        one."""
        # the member's typical price is the verifier's scale for its nodes
        return np.clip(self.P / self.market.node_price_scale, 1e-8, 1e8)

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
            tuple((n, plan.joint_floors[n].cap) for n in sorted(plan.joint_floors)),
            tuple(tuple(q.routes) for q in plan.quotas),
            tuple((r.node, tuple(r.routes)) for r in plan.origin_rules),
            tuple((s.node, tuple(s.routes)) for s in plan.sellers),
            tuple((r.name, tuple(r.terms.items())) for r in plan.extensions),
        )

    def update_plan(self, plan) -> bool:
        """Take the numbers of another plan of the same structure.

        Floor and quota quantities, offtake prices and caps, released stocks,
        strategic sellers' conduct and the fixed parts of the route wedges
        change in place (the next
        solve re-uses the HiGHS instance and starts from the last optimum).
        Returns False, changing nothing, when the structure differs: build
        a new model.
        """
        if self.structure(plan) != self.structure(self.plan):
            return False
        if plan is None:  # a baseline's program stays one (update_market changes its numbers)
            return True
        Q = self.Q
        self.plan = plan
        for j, n in enumerate(self._floor_nodes):
            self._set("floor_q", j, self.floor_quantity(n) / Q)
        for j, q in enumerate(plan.quotas):
            self._set("quota_q", j, q.quantity / Q)
        for j, r in enumerate(plan.extensions):
            self._set("ext_lo", j, r.lower / Q / self._ee[j])
            self._set("ext_up", j, r.upper / Q / self._ee[j])
        for n in range(len(self.market.nodes)):
            self._set("release", n, float(plan.release[n]) / Q)
        offtakes = iter(plan.offtakes)
        for pos, (kind, owner, _) in enumerate(self._owners):
            if kind == "offtake":
                self._owners[pos] = (kind, owner, _offtake_curve(next(offtakes)))
        points = {}
        for pos, (kind, owner, curve) in enumerate(self._owners):
            if kind == "supply" and owner in plan.supply_floors and not curve.exact:
                points[pos] = max(curve.reference_quantity(), self.floor_quantity(owner))
        for b, (pos, _) in enumerate(self._blocks):
            kind, _, curve = self._owners[pos]
            if kind == "offtake" or pos in points:
                (seg,) = curve.segments(points.get(pos))
                self._blocks[b] = (pos, seg)
                self._set_block(b, seg)
        self.set_wedges(plan.fixed_wedges(), {k: 0.0 for k in self._credit_keys()})
        # strategic sellers: conduct and perceived slopes are numbers (a
        # sweep over conduct re-uses the program)
        self._sellers = list(plan.sellers)
        if self._sellers:
            for i, m in enumerate(self._markup_slopes().tolist()):
                self._set("mslope", i, m)
            for j, s_ in enumerate(self._sellers):
                self._set("hslope", j, s_.markup(s_.node) * self.Q / self.P)
        return True

    def update_market(self, market: Market, plan=None) -> bool:
        """Take the curves and route costs of another market of the same
        shape: an ensemble's draw of this market (other elasticities and
        trade costs, the same nodes, routes, processes and reference
        points), with ``plan`` for a scenario's program (a plan of the same
        structure for the drawn market, whose numbers :meth:`update_plan`
        then takes).  The matrix stays; costs, bounds and the Hessian
        change in place, so the next solve starts from this program's last
        optimum (polish of its active set) instead of building and solving
        anew.

        Returns False, changing nothing, when anything the matrix or the
        column scales depend on differs (nodes, routes, processes and their
        yields, joint activities, the number of blocks of a curve, the
        quantity scale, the plan's structure), or when a node's size
        (:meth:`_node_sizes`, by value where the program is) would move by
        more than :data:`NODE_SIZE_SLACK` (the held sizes are kept
        otherwise): build
        a new model.  The price scale may differ (it follows the curves'
        levels): every number is scaled again by the new one.
        """
        old = self.market
        if market is old and plan is self.plan:
            return True
        if (plan is None) != (self.plan is None) or (plan is not None and (plan.market is not market or self.structure(plan)[1:] != self.structure(self.plan)[1:])):
            return False
        if (market.nodes != old.nodes or market.route_list != old.route_list or market.disposal_nodes != old.disposal_nodes
                or market.quantity_scale != self.Q or len(market.processes) != len(old.processes) or len(market.joint) != len(old.joint)
                or any(a.theta != b.theta for a, b in zip(market.processes, old.processes)) or market.joint_terms != old.joint_terms
                or not all(np.array_equal(a, b) for a, b in zip(market.process_nodes, old.process_nodes))):
            return False
        owners = _market_owners(market)
        owners += self._owners[len(owners):]  # a plan's offtakes: update_plan takes their numbers
        if [(k, o) for k, o, _ in owners] != [(k, o) for k, o, _ in self._owners]:
            return False
        blocks = [(pos, seg) for pos, (_, _, curve) in enumerate(owners) for seg in curve.blocks(None)]
        if [pos for pos, _ in blocks] != [pos for pos, _ in self._blocks]:
            return False
        P = self.P
        self.market, self.P = market, market.price_scale
        # of the held program's kind: a draw of the heavy rare earths whose
        # members' prices span 95 instead of 112 times keeps value scales
        # (built anew, it would size by quantity; half its draws were built
        # and solved from nothing for that)
        sizes = self._node_sizes(owners, self._by_value)
        if not np.array_equal(sizes, self._e):
            # the node sizes are a conditioning choice, and the matrix is
            # built on them: a linked market's follow its members' price
            # levels, which a draw of elasticities moves (Dy-Tb-Y up to 4x,
            # Ge-In-Zn 1.4x), and each such draw was built and solved from
            # nothing.  Sizes near the ones held keep the matrix and the
            # held sizes; any positive sizes give the same program
            ratio = sizes / self._e
            if not (np.all(ratio > 0) and np.all(np.maximum(ratio, 1.0 / ratio) <= NODE_SIZE_SLACK)):
                self.market, self.P = old, P
                return False
        self._owners, self._blocks = owners, blocks
        lo, up, lev, slo = self._scaled(blocks)
        nr = len(market.route_list)
        v = self._vals
        v["lb"], v["ub"], v["level"], v["slope"] = (np.array(a, dtype=float) for a in (lo, up, lev, slo))
        v["cost"] = market.route_costs / self.P if nr else np.zeros(0)
        v["rslope"] = market.route_slope * self.Q / self.P if nr else np.zeros(0)
        self._numbers_cache = None
        self._synced = False
        self._block_keys = self._row_keys = None
        if plan is not None:
            # the same structure (checked above): every number of the
            # plan, in the new price scale
            self.plan = plan
            self.update_plan(plan)
        return True

    def _set(self, name: str, index: int, value: float) -> None:
        """Set one parameter (scaled units)."""
        self._vals[name][index] = value
        self._numbers_cache = None
        self._synced = False

    def _set_block(self, b: int, seg) -> None:
        (lo,), (up,), (lev,), (slo,) = self._scaled([(None, seg)])
        for name, v in (("lb", lo), ("ub", up), ("level", lev), ("slope", slo)):
            self._set(name, b, v)

    def floor_quantity(self, node: int) -> float:
        """Output a deficiency-payment floor guarantees at a supply node."""
        return self.plan.floor_quantity(node)

    def set_wedges(self, route: dict[int, float], credit: dict) -> None:
        """Border wedges per route and credits (price units per unit): by
        process index, and by ``("joint", node)`` for floors on joint output."""
        mk = self.market
        costs = mk.route_costs
        for i, w in route.items():
            self._set("cost", i, (costs[i] + w) / self.P)
        for j, k in enumerate(self._credit_keys()):
            if k in credit:
                self._set("credit", j, credit[k] / self.P)

    def state(self):
        """The parameters that move during a solve (current tangents of
        isoelastic curves, frozen wedges, credits), in natural units: a
        :class:`mineq.models.formulation.State` for the labelled model."""
        from .curves import Segment
        from .formulation import State, owner_label

        v, P, Q = self._vals, self.P, self.Q
        segments: dict = {}
        for b, (pos, _) in enumerate(self._blocks):
            segments.setdefault(owner_label(self, pos), []).append(Segment(v["lb"][b] * Q, v["ub"][b] * Q, v["level"][b] * P, v["slope"][b] * P / Q))
        credit = {k: float(v["credit"][j]) * P for j, k in enumerate(self._credit_keys())}
        return State(segments=segments, route_cost=np.asarray(v["cost"], dtype=float) * P, credit=credit)

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
            self._set_block(b, seg)

    def owner_quantities(self, z: np.ndarray) -> np.ndarray:
        """Quantity of each curve owner (node supply/demand, process)."""
        # summed block by block in order, as a loop would
        return np.bincount(self._block_owner, weights=z, minlength=len(self._owners)) * self.Q

    @property
    def nonlinear_owners(self) -> list[int]:
        return [pos for pos, (_, _, c) in enumerate(self._owners) if not c.exact]

    # -- the numbers of the program ------------------------------------
    def numbers(self) -> dict[str, np.ndarray]:
        """Costs, bounds, right-hand sides and Hessian diagonal of the
        program at the current parameters, in HiGHS's column and row order.

        The objective is ``max Σ sign·level·z − ½·slope·z² − cost·x −
        ½·rslope·x² + credit·u`` (blocks, flows, credits, in their scaled
        units).
        """
        if self._numbers_cache is not None:
            return self._numbers_cache
        v, ix, f = self._vals, self._ix, self._f
        inf = math.inf
        cost = np.zeros(self._ncol)
        lower = np.zeros(self._ncol)
        upper = np.full(self._ncol, inf)
        hess = np.zeros(self._ncol)
        cost[ix["z"]] = self._zsign * v["level"] * f
        cost[ix["x"]] = -v["cost"] * self._g
        cost[ix["u"]] = v["credit"] * self._fu
        lower[ix["z"]] = v["lb"] / f
        upper[ix["z"]] = v["ub"] / f
        upper[ix["u"]] = self._ucap
        hess[ix["z"]] = -v["slope"] * f * f
        hess[ix["x"]] = -v["rslope"] * self._g * self._g
        # strategic sellers: −½·θ·b·q² per sale (exports and home sales)
        hess[ix["x"]] -= v["mslope"] * self._g * self._g
        hess[ix["h"]] = -v["hslope"] * self._fh * self._fh
        row_lower = np.full(self._nrow, -inf)
        row_upper = np.zeros(self._nrow)
        rel = -(v["release"] / self._e)[ix["nodes"]]
        row_lower[ix["balance"]] = row_upper[ix["balance"]] = rel
        row_lower[ix["floor"]] = v["floor_q"] / self._e[self._floor_nodes] if self._floor_nodes else 0.0
        row_upper[ix["floor"]] = inf
        row_upper[ix["quota"]] = v["quota_q"] / self._eq if len(self._eq) else 0.0
        row_lower[ix["seller"]] = 0.0  # own output − h − exports = 0
        row_lower[ix["extension"]] = v["ext_lo"]
        row_upper[ix["extension"]] = v["ext_up"]
        self._numbers_cache = {"cost": cost, "lower": lower, "upper": upper, "row_lower": row_lower, "row_upper": row_upper, "hessian": hess}
        return self._numbers_cache

    def qp(self) -> QP:
        """The program at the current parameters as a :class:`QP` (its
        matrix sparse, :class:`mineq.models.sparse.Matrix`)."""
        n = self.numbers()
        return QP(self._A, n["cost"], n["lower"], n["upper"], n["row_lower"], n["row_upper"], n["hessian"], -1.0)

    @property
    def highs(self):
        """The persistent HiGHS instance (``highspy.Highs``), holding the
        program at the current parameters, restricted to the columns
        :attr:`highs_columns` (route generation, :mod:`mineq.models.routes`)."""
        self._sync()
        return self._highs

    @property
    def highs_columns(self) -> np.ndarray:
        """The program's columns HiGHS holds, in HiGHS's order: all of them
        for a market with fewer than :data:`mineq.models.routes.MIN_ROUTES`
        routes; else all but the flows left out so far (at zero)."""
        self._sync()
        return self._cols

    def _sync(self) -> None:
        """Create the HiGHS instance, or write changed numbers into it.

        Costs and bounds change in place, so HiGHS keeps its basis; the
        Hessian is passed again only when it changed (passing it drops the
        basis).
        """
        if self._synced:
            return
        num = self.numbers()
        if self._highs is None:
            cols = self._cols = self._first_columns()
            qp = self.qp()
            self._highs = highs_of(qp if len(cols) == self._ncol else route_generation.restricted(qp, cols))
        else:
            h, cols, m = self._highs, self._cols, self._nrow
            n = len(cols)
            at, rows = np.arange(n, dtype=np.int32), np.arange(m, dtype=np.int32)
            if n:
                h.changeColsCost(n, at, num["cost"][cols])
                h.changeColsBounds(n, at, num["lower"][cols], num["upper"][cols])
            if m:
                h.changeRowsBounds(m, rows, num["row_lower"], num["row_upper"])
            if not np.array_equal(num["hessian"], self._hessian):
                h.passHessian(highs_hessian(num["hessian"][cols]))
        self._hessian = num["hessian"].copy()
        self._synced = True

    def _first_columns(self) -> np.ndarray:
        """The columns a new HiGHS instance holds (:func:`mineq.models.routes.first_columns`),
        with the routes the hot start's program used."""
        flows = self._ix["x"]
        if len(flows) < route_generation.MIN_ROUTES or plain():
            return np.arange(self._ncol)
        seed = None if self._hot is None else hot_start.routes_used(self, self._hot)
        first = route_generation.FIRST if self._hot is None or self._hot.cheapest else 0
        return route_generation.first_columns(self.qp(), flows, *self.market.route_nodes, seed, first)

    def _generate(self, h, qp: QP, warm: bool):
        """Run HiGHS on the program it holds until no left-out route is
        profitable (:mod:`mineq.models.routes`), adding the profitable ones to
        ``h`` between runs (``warm``: restarting from its last basis).
        Returns (status, col_value, row_dual, runs), the values over every
        column of the program, zero for those left out (None when HiGHS
        reports no optimum)."""
        import highspy

        n = self._ncol
        # only flows are left out, and a flow's lower bound is zero in every
        # program (numbers()), so a left-out column sits at its bound
        left = np.ones(n, dtype=bool)
        left[self._cols] = False
        dest = np.full(n, -1)
        dest[self._ix["x"]] = self.market.route_nodes[1]
        for runs in range(1, route_generation.MAX_ROUNDS + 1):
            # the limit follows the columns HiGHS holds, not the whole
            # program's: a run on a third of the routes that cycled went on
            # to ten times the whole program's width (36 s, linked heavy
            # rare earths)
            h.setOptionValue("qp_iteration_limit", max(QP_ITERATIONS_MIN, QP_ITERATIONS_PER_COLUMN * len(self._cols)))
            h.run()
            self.qp_iterations += _qp_iterations(h)
            status = h.getModelStatus()
            if status not in (highspy.HighsModelStatus.kOptimal, highspy.HighsModelStatus.kModelEmpty):
                return status, None, None, runs
            sol = h.getSolution()
            col = np.zeros(n)
            col[self._cols] = sol.col_value
            row = np.asarray(sol.row_dual, dtype=float)
            if not left.any():
                return status, col, row, runs
            # the last round brings back every route: generation always ends
            new = route_generation.profitable(qp, col, row, left, dest) if runs < route_generation.MAX_ROUNDS else np.flatnonzero(left)
            if not len(new):
                return status, col, row, runs
            self._cols = np.concatenate([self._cols, new])
            route_generation.add_columns(h, qp, new, col[self._cols] if warm else None, qp.hd[self._cols])
            left[new] = False
        raise AssertionError("unreachable: the last round holds every column")  # pragma: no cover

    def formulation(self):
        """The labelled model of this program at its current parameters
        (:func:`mineq.models.formulation.build`: sets, variables and rows
        named after nodes, routes and processes, natural units), with the
        last solution's values when there is one."""
        from . import formulation

        m = formulation.build(self.market, self.plan, self.state())
        if self._last is not None:
            formulation.load(m, self)
        return m

    def pyomo(self):
        """The program at the current parameters as a Pyomo ``ConcreteModel``,
        as HiGHS receives it (scaled, integer-indexed: for checking what
        HiGHS holds; a modeler reads :meth:`formulation`).

        Components: variables ``z`` (blocks), ``x`` (flows), ``u``
        (credits), ``h`` (strategic sellers' home sales); constraint lists named as :data:`ROWS`; objective
        ``welfare`` (maximised).  All in the scaled units HiGHS sees:
        quantities / ``Q`` (and / the node sizes of a wide market), prices
        / ``P``.  A snapshot: later parameter changes do not reach it.
        """
        import pyomo.environ as pyo

        num = self.numbers()
        m = pyo.ConcreteModel(name=self.market.name)
        bound = lambda v: None if not math.isfinite(v) else float(v)  # noqa: E731
        var = [None] * self._ncol
        for name in COLUMNS:
            ix = self._ix[name]
            setattr(m, name, pyo.Var(range(len(ix)), bounds=lambda _, k, ix=ix: (bound(num["lower"][ix[k]]), bound(num["upper"][ix[k]]))))
            comp = getattr(m, name)
            for k, j in enumerate(ix):
                var[j] = comp[k]
        terms: list[list] = [[] for _ in range(self._nrow)]
        for i, j, a in zip(*self._A.nonzero()):
            terms[i].append((a, var[j]))

        def row(i):
            body = sum(c * v for c, v in terms[i])
            lo, up = bound(num["row_lower"][i]), bound(num["row_upper"][i])
            return body == lo if lo is not None and lo == up else (lo, body, up)

        for name in ROWS:
            ix = self._ix[name]
            setattr(m, name, pyo.Constraint(range(len(ix)), rule=lambda _, k, ix=ix: row(ix[k])))
        c, h = num["cost"], num["hessian"]
        m.welfare = pyo.Objective(expr=sum(c[j] * var[j] + 0.5 * h[j] * var[j] ** 2 for j in range(self._ncol) if c[j] or h[j]), sense=pyo.maximize)
        return m

    # -- solving ---------------------------------------------------------
    def solve(self, tight: bool = False) -> tuple[Solution, np.ndarray]:
        """Solve the program; returns the solution and owner quantities.

        ``tight`` uses :data:`HIGHS_TIGHT` instead of :data:`HIGHS_OPTIONS`.
        A re-solve first tries
        :func:`mineq.models.active_set.polish` from the last optimum's active
        set: between nearby programs (a sweep, the next fixed-point step)
        a few active-set steps (at most :data:`WARM_ROUNDS`) are much
        cheaper than a HiGHS run.  (From a
        baseline's optimum to a scenario's program they are not: measured
        on the bundled case, 91 of 215 such starts reach a KKT point, so a
        scenario's first solve is HiGHS's, hot-started from the baseline's
        basis when :meth:`hot_start` gave one.)  A KKT point of this convex
        program is its optimum; when polish finds none, HiGHS solves: on
        the whole program, or, for a market with at least
        :data:`mineq.models.routes.MIN_ROUTES` routes, on a few routes at a time
        (:mod:`mineq.models.routes`: the routes that make a profit at its prices
        are added to the same instance until none is left out), then
        polish on the whole program.  When a hot-started run (from
        :meth:`hot_start`, or after routes were added) gives an answer
        polish finds no KKT point near, the program is solved again cold.
        """
        if self._last is not None and not tight:
            col, row, active = self._last
            qp = self.qp()
            warm = _settled_polish(qp, col, row, {"rounds": 20, "strict": True}, rounds=WARM_ROUNDS, strict=True, active=active)
            if warm is not None:
                self.ran_highs = False
                return self._result(*warm, None)
        import highspy

        self.ran_highs = True
        # the active-set QP can cycle on degenerate markets (zero-cost route
        # cycles with ties); an iteration limit catches it early, and rescue
        # (polish from the linear twin, then perturbed HiGHS runs) takes over
        options = {**_HIGHS_DEFAULTS, **HIGHS_OPTIONS, **(HIGHS_TIGHT if tight else {})}
        if self._hot is None and self._highs is None and not tight and len(self._ix["x"]) >= lp_start.MIN_ROUTES and not self.market.joint and not plain():
            # a large program never solved: start from its linear twin's
            # optimum (not a linked one: there the hot-started runs went
            # longer, and on the heavy rare earths settled degenerate
            # prices elsewhere, tests/test_kkt_step.py)
            self._hot = lp_start.start(self)
        h = self.highs
        for k, v in options.items():
            h.setOptionValue(k, v)
        hot = self._hot is not None and not tight and hot_start.apply(self, h, self._hot)
        self._hot = None
        qp = self.qp()
        self.qp_iterations = 0
        status, col, row, self.route_rounds = self._generate(h, qp, warm=True)
        polished = None
        if col is not None:
            polished = _settled_polish(qp, col, row, {})
        cycled = status == highspy.HighsModelStatus.kIterationLimit
        if polished is None and (hot or self.route_rounds > 1) and not cycled:
            # a hot start took part, and HiGHS did not finish it well
            # (#2521): solve cold.  Not after a run that cycled to the
            # iteration limit: the cold run cycles as well (the linked
            # zinc, germanium and indium market: both runs to the limit),
            # and rescue below is what ends it
            h.setOptionValue("qp_allow_hot_start", False)
            h.clearSolver()
            status, col, row, runs = self._generate(h, qp, warm=False)
            self.route_rounds += runs
            hot = False
        h.setOptionValue("qp_allow_hot_start", False)
        self.hot_started = hot
        if col is None:
            # cycling, HiGHS's own error exit on degenerate programs, or an
            # infeasible/unbounded verdict from a presolve that HiGHS 1.16
            # sometimes gets wrong (tests/test_closed_form.py::
            # test_highs_presolve_verdict_is_not_trusted): solve again with
            # the columns in another order; a verdict stands when that fails
            rescued = rescue(qp)
            if rescued is None:
                raise SolveError(self.market.name, _status_words(status))
            # settled like any polished point: on the linked light rare
            # earths with one import route dearer (tests/test_calibration.py,
            # a cycling HiGHS run), rescue's point had tied neodymium and
            # praseodymium ore flows of -0.0016 t, and the market failed
            col, row, active = _settled(qp, rescued)
            obj = None
        else:
            obj = h.getObjectiveValue()
            if polished is None:
                polished = _polished(qp, col, row)
            col, row, active = polished
        return self._result(col, row, active, obj)

    def refine(self) -> tuple[Solution, np.ndarray] | None:
        """The last optimum's active set solved again at :data:`SETTLE_TOL`
        instead of polish's tolerance, or None (no optimum yet, or no
        consistent active set at that tolerance).

        Polish's tolerance is relative to the program's scale: a flow at
        its bound whose reduced cost has the wrong sign by less than it
        counts as settled.  In a linked market that scale is the dearest
        member's, and the verifier judges each member at its own: on a
        draw of the light rare earths under the partner floor, lanthanum
        ore routes into Mexico kept a profit of 1.8e-6 of lanthanum's
        price unused, step after step of a converged fixed point, and the
        market was reported not converged.  At this tolerance such a
        flow is freed."""
        if self._last is None or self._last[2] is None:
            return None
        col, row, active = self._last
        got = polish(self.qp(), col, row, tol=SETTLE_TOL, active=active)
        return None if got is None else self._result(*got, None)

    def _result(self, col, row, active, obj) -> tuple[Solution, np.ndarray]:
        """Solution and owner quantities from HiGHS-ordered primal and duals
        (``active``: the active set polish found, None if it found none)."""
        self._last = (np.array(col, dtype=float), np.array(row, dtype=float), active)
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
            num = self.numbers()
            obj = float(num["cost"] @ col + 0.5 * num["hessian"] @ (np.asarray(col) ** 2))
        sol = self._assemble(q, x, price * self.P, float(obj) * self.P * self.Q)
        # a quota's rent is what one more unit of quota is worth: for a <=
        # row of a maximisation HiGHS reports it with the opposite sign of
        # the balance rows' duals (tests/test_policies.py)
        sol.quota_rent = np.maximum(0.0, row[ix["quota"]] / self._eq) * self.P
        sol.origin_rent = np.maximum(0.0, row[ix["origin"]] / self._eo) * self.P
        # an extension row's μ (models/extensions.py): like a node price,
        # minus the reported dual, per unit of the row
        sol.extension_price = -row[ix["extension"]] / self._ee * self.P if len(self._ee) else np.zeros(0)
        sol.block_values = z
        return sol, q

    def _assemble(self, q, x, price, objective) -> Solution:
        """Node and process arrays from owner quantities ``q`` (own units)."""
        mk = self.market
        nn = len(mk.nodes)
        supply = np.full(nn, np.nan)
        demand = np.full(nn, np.nan)
        processing = np.zeros(len(mk.processes))
        for kind, arr in (("supply", supply), ("demand", demand), ("processing", processing)):
            pos, owner = self._owner_at[kind]
            arr[owner] = q[pos]
        offtake = q[self._owner_at["offtake"][0]].astype(float)
        joint = q[self._owner_at["joint"][0]].astype(float)
        disposal = np.zeros(nn) if mk.joint else np.zeros(0)
        pos, owner = self._owner_at["disposal"]
        disposal[owner] = q[pos]
        return Solution(supply=supply, demand=demand, price=price, flow=x * self.Q, processing=processing, objective=objective, offtake=offtake, joint=joint, disposal=disposal)


def _polished(qp: QP, col, row) -> tuple:
    """(col, row, active): :func:`mineq.models.active_set.polish`'s exact KKT
    point near a solver's answer, or the answer itself (active set None)
    when polish finds none; the verifier judges either."""
    got = _settled_polish(qp, col, row, {})
    return got if got is not None else (col, row, None)


def _settled_polish(qp: QP, col, row, settle: dict, **kw):
    """``_settled(qp, polish(qp, col, row, **kw), **settle)``: where the
    compiled step runs, in one call (:class:`mineq.models.active_set.Settled`),
    which saves half of a fixed point's polished points a second call
    and the check in Python (session 23)."""
    return _settled(qp, polish(qp, col, row, settle={**settle, "slack": SETTLED_SLACK}, **kw), **settle)


def _settled(qp: QP, got, **kw):
    """``got`` (a polish result), with every variable on the wrong side of
    a bound fixed at it and the active set solved once more.

    Polish counts a variable within its tolerance (relative to the
    program's scale) of a bound as at it.  Where routes tie (a binding
    minimum import price makes every covered route land at the same
    price) the tied flows are free, their split is undetermined, and one
    can come out a hair below zero: small for the program, not for a
    small region's own balance, which the verifier judges locally.  The
    verifier judges whichever point comes back.  Inequality rows on the
    wrong side of a side are made active the same way: a rule of origin
    caps a region's covered exports at its own output, and where that is
    zero, polish's tolerance (relative to a linked program's largest
    scale: zinc's tonnes beside germanium's kilograms) let 0.001 kg of
    germanium out of Malaysia, which makes none, on the plain path."""
    if got is None or isinstance(got, Settled):
        return got
    x, y, active = got
    fixed = _wrong_side(qp, x, active)
    if fixed is None:
        return got
    again = polish(qp, np.clip(x, qp.lo, qp.up), y, active=fixed, **kw)
    if again is not None and _wrong_side(qp, again[0], again[2], SETTLED_SLACK) is not None:
        # polish freed a tied flow again (its reduced cost is zero) and
        # let it cross its bound by less than polish's tolerance, which
        # is relative to the whole program: an ensemble's draw of the
        # linked germanium-indium-zinc market, started from the central
        # optimum, came back with germanium ore flows of -1.2 kg beside
        # nodes of a few kg; at a tolerance far below any node's share
        # of the program the flow stays at its bound
        tight = polish(qp, np.clip(x, qp.lo, qp.up), y, active=fixed, **{**kw, "tol": SETTLE_TOL})
        if tight is not None:
            return tight
    return again if again is not None else got


#: polish's tolerance when :func:`_settled` solves the active set again
#: after a first try left a variable across its bound
SETTLE_TOL = 1e-11

#: how far (scaled units, relative to the bound) :func:`_settled` lets a
#: variable lie across its bound before it tries :data:`SETTLE_TOL`
SETTLED_SLACK = 1e-12


def _wrong_side(qp: QP, x, active, slack: float = 0.0):
    """``active`` (polish's) with every variable and inequality row of
    ``x`` on the wrong side of a bound or side, by more than ``slack``
    relative to it, made active there; None when there is none."""
    def off(b, sign):  # (the bounds are often infinite: inf times 0 is nan)
        return b if not slack else b + sign * slack * np.maximum(1.0, np.abs(b))

    lo, up = off(qp.lo, -1), off(qp.up, 1)
    below = (x < lo) & ~active[0]
    above = (x > up) & ~active[1] & ~below
    ax = qp.A @ x
    ineq = ~(np.isfinite(qp.rlo) & np.isfinite(qp.rup) & (qp.rlo == qp.rup))
    rlo, rup = off(qp.rlo, -1), off(qp.rup, 1)
    rbelow = ineq & (ax < rlo) & ~active[2]
    rabove = ineq & (ax > rup) & ~active[3] & ~rbelow
    if not (below.any() or above.any() or rbelow.any() or rabove.any()):
        return None
    return (active[0] | below, active[1] | above, active[2] | rbelow, active[3] | rabove)


#: free disposal: a "demand" that values the good at zero, without limit
_DISPOSAL = Linear({"intercept": 0.0, "slope": 0.0}, "demand")


def _market_owners(market: Market) -> list[tuple]:
    """The market's curve owners, (kind, index, curve): supply and demand
    by node, processes, joint activities and disposal (a plan's offtakes
    come after them)."""
    nidx = market._node_position
    owners = [("supply", nidx[k], c) for k, c in market.supply.items()]
    owners += [("demand", nidx[k], c) for k, c in market.demand.items()]
    owners += [("processing", i, p.cost) for i, p in enumerate(market.processes)]
    # joint production: an activity's blocks put yields into several
    # nodes at once; what an output node cannot use is disposed of free
    owners += [("joint", j, jp.cost) for j, jp in enumerate(market.joint)]
    owners += [("disposal", n, _DISPOSAL) for n in market.disposal_nodes]
    return owners


def _offtake_curve(o) -> Linear:
    """An offtake: a demand that values the good at the floor, up to its cap."""
    return Linear({"intercept": o.level, "slope": 0.0, "capacity": o.quantity}, "demand")


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
