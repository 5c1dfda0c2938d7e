"""The fallback: an equilibrium as a mixed-integer program over its KKT system.

When the fixed point over frozen wedges does not reach a verified
equilibrium, this module writes the equilibrium conditions of the current
program (its blocks, flows, floors, credits, quotas) *with the wedges as
functions of prices* and solves them as a MILP in HiGHS:

* every complementarity pair ``a ⟂ b`` gets a binary ``δ`` with
  ``a <= M·δ`` and ``b <= M'·(1 − δ)``;
* a minimum import price's border price ``max(CIF, M)`` and a
  processor floor's credit ``max(0, F − P)`` get a binary each;
* ad valorem rates are linear in prices once the regime is fixed.

HiGHS has no MIQP, and none is needed: the KKT system of a quadratic
program is linear apart from complementarity.  The objective is zero (any
feasible point is an equilibrium).  Bounds ``M`` are derived from the
data (curve levels and slopes, capacities, policy levels) and widened if
the solution touches them.  The MILP's answer is then polished by fixing
its binaries and solving the remaining linear system as an LP with tight
tolerances, and verified like every other answer.  Isoelastic curves
enter through their current tangents and are re-linearised between MILPs.
"""

from __future__ import annotations

import math

import numpy as np

from .verify import verify


class _Program:
    """Columns and rows of a MILP, collected as triplets."""

    def __init__(self):
        self.lo, self.up, self.integer = [], [], []
        self.rows: list[tuple[float, float, dict]] = []
        #: per binary: (column, predicted value, confidence) from a start point
        self.hints: list[tuple[int, float, float]] = []

    def binary(self, pred: float | None = None, conf: float = 0.0) -> int:
        d = self.col(0.0, 1.0, True)
        if pred is not None:
            self.hints.append((d, pred, conf))
        return d

    def col(self, lo: float, up: float, integer: bool = False) -> int:
        self.lo.append(lo)
        self.up.append(up)
        self.integer.append(integer)
        return len(self.lo) - 1

    def row(self, terms: dict, lo: float, up: float) -> None:
        self.rows.append((lo, up, terms))

    def comp(self, mult: int, mult_max: float, gap: dict, gap_const: float, gap_max: float, hint: tuple[float, float] | None = None) -> None:
        """``mult >= 0 ⟂ (Σ gap + gap_const) >= 0`` with one binary.

        ``hint`` = (multiplier, gap) at a start point, to predict the
        regime: ``δ = 1`` lets the multiplier be positive (gap zero).
        """
        if hint is None:
            d = self.binary()
        else:
            m_, g_ = hint
            d = self.binary(1.0, m_) if g_ <= 1e-9 and m_ > 0 else self.binary(0.0, g_) if g_ > 1e-9 else self.binary(1.0, 0.0)
        self.row({mult: 1.0, d: -mult_max}, -math.inf, 0.0)
        terms = dict(gap)
        terms[d] = terms.get(d, 0.0) + gap_max
        self.row(terms, -math.inf, gap_max - gap_const)

    def highs(self):
        import highspy

        from mineq.models.active_set import new_highs

        h = new_highs()
        lp = highspy.HighsLp()
        n = len(self.lo)
        lp.num_col_, lp.num_row_ = n, len(self.rows)
        lp.col_cost_ = np.zeros(n)
        lp.col_lower_ = np.array(self.lo, dtype=float)
        lp.col_upper_ = np.array(self.up, dtype=float)
        lp.row_lower_ = np.array([r[0] for r in self.rows], dtype=float)
        lp.row_upper_ = np.array([r[1] for r in self.rows], dtype=float)
        cols: list[list[tuple[int, float]]] = [[] for _ in range(n)]
        for i, (_, _, terms) in enumerate(self.rows):
            for j, v in terms.items():
                if v != 0.0:
                    cols[j].append((i, v))
        start, index, value = [0], [], []
        for c in cols:
            for i, v in c:
                index.append(i)
                value.append(v)
            start.append(len(index))
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = np.array(start, dtype=np.int32)
        lp.a_matrix_.index_ = np.array(index, dtype=np.int32)
        lp.a_matrix_.value_ = np.array(value, dtype=float)
        lp.integrality_ = [highspy.HighsVarType.kInteger if b else highspy.HighsVarType.kContinuous for b in self.integer]
        h.passModel(lp)
        return h


def _add(terms: dict, col: int, v: float) -> None:
    terms[col] = terms.get(col, 0.0) + v


def _build(model, plan, Mp: float, Mq: float, start=None):
    """The KKT MILP of ``model`` (scaled units); returns (program, columns).

    ``start`` (a Solution with ``block_values``) predicts every binary's
    regime, recorded in ``program.hints`` with a confidence.
    """
    mk = model.market
    v = model._vals
    P, Q = model.P, model.Q
    nodes = mk.nodes
    nidx = {n: i for i, n in enumerate(nodes)}
    routes = mk.route_list
    prog = _Program()
    big = 4.0 * Mp
    blocks = [(pos, v["lb"][b], v["ub"][b], v["level"][b], v["slope"][b]) for b, (pos, _) in enumerate(model._blocks)]
    big = max(big, 4.0 * Mp + max((slo * min(ub, Mq) for _, _, ub, _, slo in blocks), default=0.0))

    price = {int(n): prog.col(-Mp, Mp) for n in model._ix["nodes"]}
    has = start is not None and start.block_values is not None and len(start.block_values) == len(blocks)
    sp = np.nan_to_num(np.asarray(start.price, dtype=float) / P) if has else None
    sz = np.asarray(start.block_values) if has else None
    balance: dict[int, dict] = {n: {} for n in price}
    floor_mult = {n: prog.col(0.0, big) for n in model._floor_nodes}
    # rules of origin: one rent per rule, earned at its node, paid on its routes
    origin_cols = [prog.col(0.0, big) for _ in plan.origin_rules]
    origin_at: dict[int, list[int]] = {}
    for j, rule in enumerate(plan.origin_rules):
        origin_at.setdefault(rule.node, []).append(origin_cols[j])
    credit_mult = {k: prog.col(0.0, big) for k in model._credited}
    # strategic sellers: their own output and exports meet the seller's
    # marginal revenue (a column each) instead of the node price
    mr = {s_.node: prog.col(-Mp, Mp) for s_ in plan.sellers}
    sold: dict[int, dict] = {n: {} for n in mr}
    paid = lambda n: mr.get(n, price.get(n))  # noqa: E731  (what own output at n earns)
    ntgt = mk.process_nodes[1]

    z = []
    for b, (pos, lb, ub, lev, slo) in enumerate(blocks):
        kind, owner, _ = model._owners[pos]
        zc = prog.col(lb, ub if math.isfinite(ub) else Mq)
        z.append(zc)
        if kind == "supply":
            _add(sold[owner] if owner in mr else balance[owner], zc, 1.0)
        elif kind in ("demand", "offtake", "disposal"):
            _add(balance[owner], zc, -1.0)
        elif kind == "joint":
            for node, amount in mk.joint_terms[owner]:
                _add(balance[node], zc, amount)
        else:
            p = mk.processes[owner]
            down_ = nidx[(p.target, p.region)]
            _add(sold[down_] if down_ in mr else balance[down_], zc, 1.0)
            _add(balance[nidx[(p.source, p.region)]], zc, -p.theta)
        if ub - lb <= 0.0:
            continue  # a fixed block: nothing to decide
        # stationarity: r = marginal cost (or value) minus the price it meets
        a = prog.col(0.0, big)
        c = prog.col(0.0, big) if math.isfinite(ub) else None
        st = {}
        if kind == "supply":
            # lev + slo z − (p + μ) = a − c
            st = {zc: slo, paid(owner): -1.0, a: -1.0}
            if owner in floor_mult:
                st[floor_mult[owner]] = -1.0
            for oc in origin_at.get(owner, []):
                st[oc] = -1.0
            if c is not None:
                st[c] = 1.0
            prog.row(st, -lev, -lev)
        elif kind in ("demand", "offtake", "disposal"):
            # lev − slo z − p = c − a
            st = {zc: -slo, price[owner]: -1.0, a: 1.0}
            if c is not None:
                st[c] = -1.0
            prog.row(st, -lev, -lev)
        elif kind == "joint":
            # lev + slo z − Σ amount·(p + origin rent at outputs) = a − c
            st = {zc: slo, a: -1.0}
            for node, amount in mk.joint_terms[owner]:
                _add(st, price[node], -amount)
                if amount > 0:
                    for oc in origin_at.get(node, []):
                        _add(st, oc, -amount)
            if c is not None:
                st[c] = 1.0
            prog.row(st, -lev, -lev)
        else:
            p = mk.processes[owner]
            up_, down = nidx[(p.source, p.region)], nidx[(p.target, p.region)]
            # lev + slo z − (p_down − θ p_up + ν) = a − c
            st = {zc: slo, a: -1.0}
            _add(st, paid(down), -1.0)
            _add(st, price[up_], p.theta)
            if owner in credit_mult:
                st[credit_mult[owner]] = -1.0
            for oc in origin_at.get(down, []):
                st[oc] = -1.0
            if c is not None:
                st[c] = 1.0
            prog.row(st, -lev, -lev)
        hint_lo = hint_up = None
        strategic = (owner in mr) if kind == "supply" else (kind == "processing" and int(ntgt[owner]) in mr)
        if has and not strategic:  # a seller's regime is not predicted from P
            # what the block's marginal cost (value) leaves against its price
            if kind == "supply":
                r = lev + slo * sz[b] - sp[owner] - (plan.supply_floors[owner].payment(sp[owner] * P) / P if owner in plan.supply_floors else 0.0)
            elif kind in ("demand", "offtake", "disposal"):
                r = sp[owner] - (lev - slo * sz[b])
            elif kind == "joint":
                r = lev + slo * sz[b] - sum(amount * sp[node] for node, amount in mk.joint_terms[owner])
            else:
                p = mk.processes[owner]
                credit = plan.process_floors[owner].payment(sp[nidx[(p.target, p.region)]] * P) / P if owner in plan.process_floors else 0.0
                r = lev + slo * sz[b] - (sp[nidx[(p.target, p.region)]] - p.theta * sp[nidx[(p.source, p.region)]] + credit)
            hint_lo = (max(r, 0.0), sz[b] - lb)
            hint_up = (max(-r, 0.0), ub - sz[b]) if c is not None else None
        prog.comp(a, big, {zc: 1.0}, -lb, Mq, hint_lo)
        if c is not None:
            prog.comp(c, big, {zc: -1.0}, ub, Mq, hint_up)

    x = []
    rents = []
    for j, q in enumerate(plan.quotas):
        rents.append(prog.col(0.0, big))
    for i, (s, o, d) in enumerate(routes):
        xc = prog.col(0.0, Mq)
        x.append(xc)
        no, nd = nidx[(s, o)], nidx[(s, d)]
        _add(sold[no] if no in mr else balance[no], xc, -1.0)
        _add(balance[nd], xc, 1.0)
        t = mk.routes[(s, o, d)] / P
        g = prog.col(0.0, big)
        # landed + Σ rents − p_d − g = 0, g ⟂ x
        row = {g: -1.0}
        _add(row, price[nd], -1.0)
        const = 0.0
        terms = plan.routes.get(i)
        if terms is None:
            _add(row, price[no], 1.0)
            const += t
        else:
            e, esp, tav, tsp = terms.export_av, terms.export_sp / P, terms.tariff_av, terms.tariff_sp / P
            if terms.mip > -math.inf:
                M = terms.mip / P
                mc = prog.col(-big, big)
                if has:
                    cif = (1.0 + e) * sp[no] + esp + t
                    beta = prog.binary(1.0 if M > cif else 0.0, abs(M - cif))
                else:
                    beta = prog.binary()
                # mc = max(cif, M): mc >= cif, mc >= M, and equal to one of them
                prog.row({mc: 1.0, price[no]: -(1.0 + e)}, esp + t, math.inf)
                prog.row({mc: 1.0}, M, math.inf)
                prog.row({mc: 1.0, price[no]: -(1.0 + e), beta: -2 * big}, -math.inf, esp + t)
                prog.row({mc: 1.0, beta: 2 * big}, -math.inf, M + 2 * big)
                _add(row, mc, 1.0 + tav)
                const += tsp
            else:
                _add(row, price[no], (1.0 + e) * (1.0 + tav))
                const += (esp + t) * (1.0 + tav) + tsp
        for j, q in enumerate(plan.quotas):
            if i in q.routes:
                _add(row, rents[j], 1.0)
        for j, rule in enumerate(plan.origin_rules):
            if i in rule.routes:
                _add(row, origin_cols[j], 1.0)
        if mk.route_slopes:
            # a rising route cost t + s·X: s·X adds to the landed price
            _add(row, xc, mk.route_slope[i] * Q / P)
        if no in mr:
            # a seller's export: its marginal revenue, not P_o, plus the
            # wedges valued at P_o, plus the perceived markup θ·b_d·X
            _add(row, price[no], -1.0)
            _add(row, mr[no], 1.0)
            _add(row, xc, float(v["mslope"][i]))
        prog.row(row, -const, -const)
        hint = None
        if has and no not in mr:
            sx = start.flow[i] / Q
            landed = (terms.landed(sp[no] * P, mk.routes[(s, o, d)]) if terms is not None else sp[no] * P + mk.routes[(s, o, d)]) / P
            rent = sum(start.quota_rent[j] for j, q in enumerate(plan.quotas) if i in q.routes) / P if len(start.quota_rent) == len(plan.quotas) else 0.0
            if len(start.origin_rent) == len(plan.origin_rules):
                rent += sum(start.origin_rent[j] for j, r in enumerate(plan.origin_rules) if i in r.routes) / P
            landed += mk.route_slope[i] * start.flow[i] / P
            hint = (max(landed + rent - sp[nd], 0.0), sx)
        prog.comp(g, big, {xc: 1.0}, 0.0, Mq, hint)
    for j, q in enumerate(plan.quotas):
        used = {x[i]: -1.0 for i in q.routes}
        prog.row({x[i]: 1.0 for i in q.routes}, -math.inf, q.quantity / Q)
        hint = None
        if has and len(start.quota_rent) == len(plan.quotas):
            hint = (start.quota_rent[j] / P, (q.quantity - sum(start.flow[i] for i in q.routes)) / Q)
        prog.comp(rents[j], big, used, q.quantity / Q, Mq, hint)

    for j, rule in enumerate(plan.origin_rules):
        made: dict = {}
        for b, amount in model._made_at.get(rule.node, []):  # (block, units of own output per unit)
            _add(made, z[b], -amount)
        for i in rule.routes:
            _add(made, x[i], 1.0)
        prog.row(made, -math.inf, 0.0)
        slack = {k: -v for k, v in made.items()}  # own output − covered exports
        hint = None
        if has and len(start.origin_rent) == len(plan.origin_rules):
            own = sum(amount * sz[b] for b, amount in model._made_at.get(rule.node, []))
            hint = (start.origin_rent[j] / P, own - sum(start.flow[i] for i in rule.routes) / Q)
        prog.comp(origin_cols[j], big, slack, 0.0, Mq, hint)
    for n, mu in floor_mult.items():
        L = model.floor_quantity(n) / Q
        tot = {z[b]: 1.0 for b in model._supply_blocks[n]}
        prog.row(tot, L, math.inf)
        hint = None
        if has:
            hint = (plan.supply_floors[n].payment(sp[n] * P) / P, sum(sz[b] for b in model._supply_blocks[n]) - L)
        prog.comp(mu, big, tot, -L, Mq, hint)
    u_cols = {}
    for k, nu in credit_mult.items():
        f = plan.process_floors[k]
        cap = f.cap / Q
        u = prog.col(0.0, cap if math.isfinite(cap) else Mq)
        u_cols[k] = u
        Y = {z[b]: 1.0 for b in model._process_blocks[k]}
        gap = dict(Y)
        gap[u] = -1.0
        prog.row(gap, 0.0, math.inf)
        p = mk.processes[k]
        F = f.level / P
        y0 = sum(sz[b] for b in model._process_blocks[k]) if has else 0.0
        bonus0 = sum(start.origin_rent[j] for j, r in enumerate(plan.origin_rules) if r.node == nidx[(p.target, p.region)]) / P if has and len(start.origin_rent) == len(plan.origin_rules) else 0.0
        g0 = max(0.0, F - sp[nidx[(p.target, p.region)]] - bonus0) if has else 0.0
        prog.comp(nu, big, gap, 0.0, Mq, (g0, max(0.0, y0 - cap)) if has else None)
        # credit g = max(0, F − p_down)
        down = price[nidx[(p.target, p.region)]]
        g = prog.col(0.0, big)
        beta = prog.binary(1.0 if g0 <= 0 else 0.0, abs(F - sp[nidx[(p.target, p.region)]])) if has else prog.binary()
        # the floor tops up price plus origin rent at the refiner's node
        realised = {g: 1.0, down: 1.0}
        for oc in origin_at.get(nidx[(p.target, p.region)], []):
            realised[oc] = 1.0
        prog.row(realised, F, math.inf)
        prog.row({**realised, beta: -2 * big}, -math.inf, F)
        prog.row({g: 1.0, beta: 2 * big}, -math.inf, 2 * big)
        # u's value: g − ν = c_u − a_u
        a_u = prog.col(0.0, big)
        st = {g: 1.0, nu: -1.0, a_u: -1.0}
        c_u = None
        if math.isfinite(cap):
            c_u = prog.col(0.0, big)
            st[c_u] = 1.0
        prog.row(st, 0.0, 0.0)
        u0 = min(y0, cap)
        prog.comp(a_u, big, {u: 1.0}, 0.0, Mq, (0.0, u0) if has else None)
        if c_u is not None:
            prog.comp(c_u, big, {u: -1.0}, cap, Mq, (g0, cap - u0) if has else None)

    _sellers(prog, model, plan, price, mr, sold, balance, big, Mq)
    for n, terms in balance.items():
        rel = float(plan.release[n]) / Q
        prog.row(terms, -rel, -rel)
    return prog, {"price": price, "z": z, "x": x, "rent": rents, "origin": origin_cols, "big": big}


def _sellers(prog: _Program, model, plan, price: dict, mr: dict, sold: dict, balance: dict, big: float, Mq: float) -> None:
    """Strategic sellers' rows (``market_power``): own output − h − exports
    = 0 (``sold``, collected with the blocks and flows), ``h`` into the
    node's balance, and home sales ``P_n − θ·b_n·h ≤ MR ⟂ h``.  Their
    producers, processes and exports meet ``MR`` (:func:`_build`)."""
    for j, s_ in enumerate(plan.sellers):
        n = s_.node
        h = prog.col(0.0, Mq)
        _add(balance[n], h, 1.0)
        _add(sold[n], h, -1.0)
        prog.row(sold[n], 0.0, 0.0)
        # MR − P_n + θ·b_n·h = gap ⟂ h
        gap = prog.col(0.0, big)
        prog.row({mr[n]: 1.0, price[n]: -1.0, h: float(model._vals["hslope"][j]), gap: -1.0}, 0.0, 0.0)
        prog.comp(gap, big, {h: 1.0}, 0.0, Mq)


def _bounds(model, plan) -> tuple[float, float]:
    """Price and quantity bounds (scaled) from the program's data."""
    mk, P, Q, v = model.market, model.P, model.Q, model._vals
    levels = [1.0]
    qmax, qfix = 0.0, 0.0
    for b, (pos, _) in enumerate(model._blocks):
        kind = model._owners[pos][0]
        lb, ub, lev, slo = (v[k][b] for k in ("lb", "ub", "level", "slope"))
        levels.append(abs(lev))
        if math.isfinite(ub):
            levels.append(abs(lev) + slo * ub)
        if kind == "supply":
            qmax += ub if math.isfinite(ub) else math.nan
        elif kind == "joint":
            # an activity's outputs: its level times its largest yield
            qmax += ub * max(1.0, *(abs(a) for _, a in mk.joint_terms[model._owners[pos][1]])) if math.isfinite(ub) else math.nan
        elif kind in ("demand", "offtake"):
            qfix += lb
    levels += [abs(t) / P for t in mk.routes.values()]
    for t in plan.routes.values():
        levels += [abs(t.export_sp) / P, abs(t.tariff_sp) / P] + ([abs(t.mip) / P] if t.mip > -math.inf else [])
    levels += [f.level / P for f in (*plan.supply_floors.values(), *plan.process_floors.values())]
    levels += [o.level / P for o in plan.offtakes]
    Mp = 10.0 * max(levels) * (1.0 + max([t.export_av for t in plan.routes.values()] + [0.0])) * (1.0 + max([t.tariff_av for t in plan.routes.values()] + [0.0]))
    if not math.isfinite(qmax):
        # unbounded supply: at most what the steepest supply offers at Mp
        qmax = 0.0
        for b, (pos, _) in enumerate(model._blocks):
            kind, owner, _ = model._owners[pos]
            if kind in ("supply", "joint"):
                ub, lev, slo = v["ub"][b], v["level"][b], v["slope"][b]
                k = max(1.0, *(abs(a) for _, a in mk.joint_terms[owner])) if kind == "joint" else 1.0
                qmax += k * (ub if math.isfinite(ub) else ((Mp - lev) / slo if slo > 0 else 100.0))
    Mq = 2.0 * max(qmax + float(np.sum(plan.release)) / Q, qfix, 1.0)
    return Mp, Mq


def _solve_once(model, plan, Mp, Mq, time_limit, start=None, free: int | None = None):
    """One MILP; with ``free``, only the ``free`` least confident binaries
    are left to the solver and the others fixed at their predicted regime."""
    import highspy

    prog, cols = _build(model, plan, Mp, Mq, start)
    if free is not None and prog.hints:
        order = sorted(prog.hints, key=lambda h: h[2])
        for col, pred, _ in order[free:]:
            prog.lo[col] = prog.up[col] = pred
    h = prog.highs()
    h.setOptionValue("time_limit", float(time_limit))
    h.setOptionValue("mip_feasibility_tolerance", 1e-9)
    h.setOptionValue("primal_feasibility_tolerance", 1e-9)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None, h.modelStatusToString(h.getModelStatus())
    vals = np.asarray(h.getSolution().col_value)
    # polish: fix the regime (binaries) and solve the rest as an LP, tightly
    ints = [j for j, b in enumerate(prog.integer) if b]
    if ints:
        rounded = np.round(vals[ints])
        h.changeColsIntegrality(len(ints), np.array(ints, dtype=np.int32), np.array([highspy.HighsVarType.kContinuous] * len(ints)))
        h.changeColsBounds(len(ints), np.array(ints, dtype=np.int32), rounded, rounded)
        h.setOptionValue("primal_feasibility_tolerance", 1e-10)
        h.setOptionValue("dual_feasibility_tolerance", 1e-10)
        h.run()
        if h.getModelStatus() == highspy.HighsModelStatus.kOptimal:
            vals = np.asarray(h.getSolution().col_value)
    return (vals, cols), "optimal"


#: binaries left free in the successive stages (None: all of them)
STAGES = (8, 32, 128, None)


def solve_kkt(model, plan, tol: float, rounds: int = 20, time_limit: float = 60.0, start=None):
    """Find a verified equilibrium by MILP; returns (Solution, Verification) or None.

    With ``start`` (the best point found so far), the regime of every
    complementarity pair is predicted from it; the MILP first decides only
    the least confident ones (:data:`STAGES`), then more, and finally all
    of them, so the last stage is the full MILP whatever the start.

    Strategic sellers (``market_power``) get their own rows
    (:func:`_sellers`).  Extension rows (:mod:`mineq.models.extensions`)
    and floors on joint output are not written here: a plan with any gets
    None (no answer rather than one that ignores them).
    """
    if plan is not None and (plan.extensions or model._joint_credited):
        return None
    mk = model.market
    best = None
    Mp, Mq = _bounds(model, plan)
    stages = STAGES if start is not None and start.block_values is not None else (None,)
    stage = 0
    for _ in range(rounds):
        free = stages[stage]
        out, status = _solve_once(model, plan, Mp, Mq, time_limit if free is None else min(time_limit, 10.0), start, free)
        if out is None:
            if free is not None:
                stage += 1  # the predicted regime was wrong somewhere: free more
                continue
            if status in ("Infeasible", "Primal infeasible or unbounded") and Mp < 1e8:
                Mp, Mq = Mp * 10.0, Mq * 10.0  # bounds too tight: widen
                continue
            return best
        vals, cols = out
        z = vals[cols["z"]] if cols["z"] else np.zeros(0)
        x = vals[cols["x"]] if cols["x"] else np.zeros(0)
        price = np.full(len(mk.nodes), np.nan)
        for n, c in cols["price"].items():
            price[n] = vals[c]
        q = model.owner_quantities(z)
        sol = model._assemble(q, x, price * model.P, math.nan)
        sol.quota_rent = np.array([vals[c] * model.P for c in cols["rent"]]) if cols["rent"] else np.zeros(0)
        sol.origin_rent = np.array([vals[c] * model.P for c in cols["origin"]]) if cols["origin"] else np.zeros(0)
        sol.block_values = z
        sol.status = "milp"
        ver = verify(mk, sol, tol, plan)
        if best is None or ver.max_residual < best[1].max_residual:
            best = (sol, ver)
        touching = np.nanmax(np.abs(price)) >= 0.99 * Mp if np.isfinite(price).any() else False
        if ver.ok:
            return best
        if touching:
            Mp, Mq = Mp * 10.0, Mq * 10.0
            continue
        if mk.exact:
            if free is None:
                return best
            stage += 1
            continue
        model.relinearise({pos: q[pos] for pos in model.nonlinear_owners})
        start = sol
    return best
