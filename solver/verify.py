"""The independent equilibrium check (SPEC §2).

Given a market's inputs and a candidate solution (quantities and prices,
as stored in a result file), recompute every equilibrium condition from the
primal values and the *true* curves.  Nothing here touches the
optimisation model or solver duals: a solution is an equilibrium because
these residuals are small, not because HiGHS said "optimal".

Residuals are dimensionless.  Quantity tolerances are *local*: no entry
of the data, however large, widens the check of another (issue 17: one
backstop block of 1e12 kt once made a market-wide scale under which a
10 kt step was invisible, and a wrong price verified).

* A curve (supply, demand, processing) and an offtake are judged at their
  own quantity ``q`` in the candidate solution: a quantity within
  ``dq = tol * |q|`` of a bound or kink counts as being at it, and the
  price must then lie in the interval the curve allows there (see
  :meth:`mineq.models.curves.Curve.price_range`); a bound violated by more
  than ``dq`` fails.  Neither the curve's block sizes nor its neighbours
  enter: a 10 kt step beside a 1e12 kt backstop, or a small producer at a
  node that consumes millions, is judged at its own scale.  (The solve
  puts a quantity at a kink or bound exactly, so this costs nothing.)
* A quantity where a node has no curve is divided by the node's *local
  volume*: the largest quantity produced, consumed, processed (output,
  and input times theta), released or bought there.  Trade does not
  enter it (a flow round a zero-cost cycle could be made as large as one
  likes).
* A node's balance is divided by its gross throughput (everything that
  arrives, or everything that leaves, flows included): the precision with
  which a sum of those terms can be known.
* A route's flow counts as positive when it exceeds ``tol`` times the
  smaller throughput of its two ends (it is part of both).
* A quota or a rule of origin is judged relative to its own quantities
  (the quota and the covered flows; the node's own output and its covered
  exports).
* Every such scale is at least the market's *quantity floor*
  (:attr:`mineq.models.market.Market.quantity_floor`): the smallest
  reference quantity or step block of any of its curves.  Where nothing
  moves, the solver's rounding (flows of 1e-17 into an unused hub) must
  still pass; the floor is never larger than any curve's own size, and a
  new entry can only lower it.

Price residuals are divided by the market's price scale (the median of
its curves' price levels and transport costs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from mineq.models.market import Market, Solution

from .statistics import joint_delivered, nan_to_zero, production

#: default tolerance on every scaled residual
TOLERANCE = 1e-6


@dataclass
class Verification:
    """Residuals of every condition, keyed by condition name.

    ``labels[name][i]`` says where residual ``residuals[name][i]`` sits
    (node, route or process) so that a failure can be reported; it may be
    given as a function that makes the list, called only when a report
    needs it (the solve loop verifies thousands of points and reads only
    the largest residual of most).
    """

    residuals: dict[str, np.ndarray] = field(default_factory=dict)
    labels: dict[str, list[str]] = field(default_factory=dict)
    tolerance: float = TOLERANCE
    #: the largest residual so far (kept by :meth:`add`: the solve loop asks often)
    _max: float = field(default=0.0, repr=False)

    def add(self, name: str, values, labels) -> None:
        vals = np.asarray(values, dtype=float)
        if name in self.residuals:
            raise ValueError(f"condition {name!r} is checked twice")
        self.residuals[name] = vals
        self.labels[name] = labels
        if vals.size:
            worst = float(vals.max())  # NaN if any residual is NaN
            # a NaN residual is a failed check, never one that max() skips
            self._max = max(self._max, math.inf if math.isnan(worst) else worst)

    @property
    def max_residual(self) -> float:
        return self._max

    @property
    def ok(self) -> bool:
        return math.isfinite(self.max_residual) and self.max_residual <= self.tolerance

    def where(self, name: str) -> list[str]:
        """The labels of condition ``name``, one per residual."""
        labels = self.labels[name]
        if callable(labels):
            labels = self.labels[name] = list(labels())
        return labels

    def worst(self, n: int = 3) -> list[tuple[float, str, str]]:
        """The ``n`` largest residuals as (value, condition, where)."""
        rows = []
        for name, vals in self.residuals.items():
            for v, lab in zip(vals, self.where(name)):
                rows.append((float(v) if math.isfinite(v) else math.inf, name, lab))
        rows.sort(key=lambda r: -r[0])
        return rows[:n]


def _paid(floor, q: float, price: float, dq: float) -> tuple[float, float]:
    """Interval of the marginal revenue a floored seller gets at output ``q``.

    ``price`` is the realised unit revenue (node price plus any origin
    rent); ``max(price, F)`` on covered units, ``price`` past the cap,
    anything between at it.
    """
    top = max(price, floor.level)
    if q < floor.cap - dq:
        return top, top
    if q > floor.cap + dq:
        return price, price
    return price, top


def joint_split(net: np.ndarray, output: np.ndarray, taken: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``output`` and ``taken`` with a joint net output added: yields to
    what arrives at a node, inputs to what leaves it."""
    return output + np.maximum(net, 0.0), taken + np.maximum(-net, 0.0)


def verify(market: Market, sol: Solution, tol: float = TOLERANCE, plan=None) -> Verification:
    """Check SPEC §2 conditions 1–6 for ``sol`` against ``market``.

    With a :class:`mineq.models.policies.PolicyPlan`, ``market`` should be
    ``plan.market`` and every policy's own condition is checked too:
    floors (``price_floor``), offtake, quotas and border measures.
    """
    if plan is not None:
        market = plan.market
    P = market.price_scale
    # per node (a linked market's members keep their own scales)
    Pn = market.node_price_scale.tolist()
    nodes = market.nodes
    nidx = market._node_position
    v = Verification(tolerance=tol)
    price = np.asarray(sol.price, dtype=float)
    # a node nothing touches has no price; every other node needs one
    bad_price = ~np.isfinite(price) & market.connected
    v.add("price_defined", np.where(bad_price, np.inf, 0.0), lambda: [f"price {s}/{r}" for s, r in nodes])

    S = nan_to_zero(sol.supply)
    D = nan_to_zero(sol.demand)
    X = np.asarray(sol.flow, dtype=float)
    Y = np.asarray(sol.processing, dtype=float)
    offtakes = plan.offtakes if plan is not None else []
    quotas = plan.quotas if plan is not None else []
    G = np.asarray(sol.offtake, dtype=float) if len(offtakes) else np.zeros(0)
    lam = np.asarray(sol.quota_rent, dtype=float) if len(quotas) else np.zeros(0)
    rules = plan.origin_rules if plan is not None else []
    orig = np.asarray(sol.origin_rent, dtype=float) if len(rules) else np.zeros(0)
    if len(G) != len(offtakes) or len(lam) != len(quotas) or len(orig) != len(rules):
        v.add("policy_data", [np.inf], [f"solution has {len(G)} offtake, {len(lam)} quota and {len(orig)} origin values for {len(offtakes)}, {len(quotas)} and {len(rules)} policies"])
        return v
    # origin rents: what a unit made at a node earns on top of its price
    bonus = plan.origin_rent_by_node(orig) if rules else np.zeros(len(nodes))
    # strategic sellers' nodes: their producers, processors and exports
    # earn the seller's marginal revenue, checked by _cournot
    strategic = {s.node for s in plan.sellers} if plan is not None else set()
    # extension rows (models/extensions.py): μ·a on each quantity they hold
    restricted = plan.extensions if plan is not None else []
    mu = np.asarray(sol.extension_price, dtype=float) if restricted else np.zeros(0)
    if len(mu) != len(restricted):
        v.add("policy_data", [np.inf], [f"solution has {len(mu)} extension prices for {len(restricted)} extension rows"])
        return v
    if restricted:
        from mineq.models.extensions import wedges

        ew = wedges(market, plan, mu)
    else:
        ew = None

    # 1. balance at each node, relative to what passes through it
    n = len(nodes)
    release = np.asarray(plan.release, dtype=float) if plan is not None else np.zeros(n)
    bought = np.zeros(n)
    for k, o in enumerate(offtakes):
        bought[o.node] += G[k]
    src, tgt = market.process_nodes
    used = np.array([p.theta for p in market.processes]) * Y
    output, taken = np.zeros(n), np.zeros(n)
    np.add.at(output, tgt, Y)
    np.add.at(taken, src, used)
    routes = market.route_list
    ro, rd = market.route_nodes
    inflow, outflow = np.zeros(n), np.zeros(n)
    np.add.at(inflow, rd, X)
    np.add.at(outflow, ro, X)
    # joint production: a linked market's activities (market.joint), or,
    # for one member mineral of it, their net output here (sol.joint_net);
    # what joint output a node cannot use is disposed of
    if market.joint:
        output, taken = joint_split(market.joint_net(sol.joint), output, taken)
    if len(sol.joint_net):
        output, taken = joint_split(np.asarray(sol.joint_net, dtype=float), output, taken)
    W = np.asarray(sol.disposal, dtype=float) if len(sol.disposal) else np.zeros(n)
    taken = taken + W
    net = S - D + release - bought + output - taken + inflow - outflow
    # local volume V (no trade: see the module docstring), for quantities
    # at a node without a curve, and gross throughput, for the balance
    local = np.abs(np.stack([S, D, release, bought, output, taken])).max(axis=0)
    gross = np.maximum(np.abs(S) + np.abs(release) + np.abs(output) + np.abs(inflow), np.abs(D) + np.abs(bought) + np.abs(taken) + np.abs(outflow))
    # the floor F: a node where nothing moves (a hub no flow uses, an idle
    # exporter) still receives the solver's rounding (flows of 1e-17)
    F = market.quantity_floor
    V = np.maximum(local, F)
    T = np.maximum(gross, F)
    v.add("balance", np.abs(net) / T, lambda: [f"{s}/{r}" for s, r in nodes])

    # 2-3. producers and consumers at each node (floors: §3 price_floor)
    floors = plan.supply_floors if plan is not None else {}
    # Python floats: the loop below reads one element at a time
    price_, bonus_, V_ = price.tolist(), bonus.tolist(), V.tolist()
    extra = {"supply": ew["supply"].tolist(), "demand": (-ew["demand"]).tolist()} if ew is not None else {"supply": [0.0] * n, "demand": [0.0] * n}
    for side, curves, qty in (("supply", market.supply, S.tolist()), ("demand", market.demand, D.tolist())):
        res, lab, fres, flab = [], [], [], []
        for (s, r), c in curves.items():
            i = nidx[(s, r)]
            # the curve's own quantity (not its node's): a small producer
            # beside a huge market is judged at its own scale
            own = max(abs(qty[i]), F)
            if side == "supply" and i in strategic:
                continue
            if side == "supply" and i in floors:
                lo, hi = _paid(floors[i], qty[i], price_[i] + bonus_[i] + extra[side][i], tol * own)
                fres.append(c.residual(qty[i], lo, hi, tol * own, Pn[i], own))
                flab.append(f"floored supply {s}/{r} (floor {floors[i].level:g})")
                continue
            earned = price_[i] + (bonus_[i] if side == "supply" else 0.0) + extra[side][i]
            res.append(c.residual(qty[i], earned, earned, tol * own, Pn[i], own))
            lab.append((s, r))
        # a quantity where there is no curve: only the nodes that have one
        # (one array test) are left out, the rest looked at one by one
        raw = np.asarray(sol.supply if side == "supply" else sol.demand, dtype=float)
        held = np.isfinite(raw) & (raw != 0)
        held[[nidx[k] for k in curves]] = False
        for i in np.flatnonzero(held).tolist():
            n = nodes[i]
            res.append(abs(raw[i]) / V_[i])
            lab.append(f"{side} {n[0]}/{n[1]} (no {side} curve)")
        v.add(side, res, lambda lab=lab, side=side: [x if isinstance(x, str) else f"{side} {x[0]}/{x[1]}" for x in lab])
        if flab:
            v.add("price_floor", fres, flab)

    # 4. spatial arbitrage on every allowed route (border measures: §3)
    terms = plan.routes if plan is not None else {}
    rent = plan.quota_rent_by_route(lam, orig) if plan is not None else np.zeros(len(routes))
    # landed minus destination price, per route; border measures route by route
    landed = price[ro] + market.route_costs
    special = np.zeros(len(routes), dtype=bool)
    for i in terms:
        landed[i] = terms[i].landed(price[ro[i]], market.route_costs[i])
        special[i] = True
    # a rising route cost t + s·X: the part s·X is a real cost of the
    # route (not a border price), so border measures apply to t alone
    landed = landed + market.route_slope * X
    special |= rent != 0
    if ew is not None:
        # an extension row holding the flow: μ·a per unit shipped
        rent = rent - ew["flow"]
        special |= ew["flow"] != 0
    gap = (landed + rent - price[rd]) / (np.asarray(Pn)[rd] if len(routes) else P)
    # a flow is part of both ends' throughput: judged against the smaller
    ends = np.minimum(T[ro], T[rd]) if len(routes) else np.zeros(0)
    resid = np.maximum.reduce([np.zeros(len(routes)), -X / ends, -gap, np.where(X > tol * ends, gap, 0.0)]) if len(routes) else np.zeros(0)
    sold = np.zeros(len(routes), dtype=bool)  # a strategic seller's exports: _cournot
    for s_ in plan.sellers if plan is not None else []:
        sold[s_.routes] = True
    res, lab = resid[~special & ~sold], market.route_labels[~special & ~sold]
    bres = resid[special & ~sold]
    v.add("arbitrage", res, lab)
    if bres.size:
        v.add("border", bres, lambda: [f"{label} (border measures)" for label in market.route_labels[special & ~sold]])

    # 5. processing margins (floors on processors: §2.5)
    pfloors = plan.process_floors if plan is not None else {}
    res, lab = [], []
    for i, p in enumerate(market.processes):
        p_out, p_in = price[nidx[(p.target, p.region)]], price[nidx[(p.source, p.region)]]
        # what a unit of output earns: price plus origin rent, topped up to a floor
        lo = hi = p_out + bonus[nidx[(p.target, p.region)]] + (ew["processing"][i] if ew is not None else 0.0)
        own = max(abs(float(Y[i])), F)
        if int(tgt[i]) in strategic:
            res.append(0.0)  # earns the seller's marginal revenue: _cournot
            continue
        if i in pfloors:
            lo, hi = _paid(pfloors[i], Y[i], lo, tol * own)
        res.append(p.cost.residual(float(Y[i]), lo - p.theta * p_in, hi - p.theta * p_in, tol * own, Pn[nidx[(p.target, p.region)]], own))
    v.add("processing", res, lambda: [f"processing {p.region} {p.source}->{p.target}" + (f" (floor {pfloors[i].level:g})" if i in pfloors else "") for i, p in enumerate(market.processes)])

    # 5b. joint production: an activity runs while what its outputs fetch
    # covers its inputs and its own marginal cost; free disposal never
    # leaves a price below zero, and disposes only of what is worth nothing
    if market.joint:
        res = []
        Yj = np.asarray(sol.joint, dtype=float)
        # a floor on joint output: each unit delivered to the node, up to
        # the cap, earns max(0, F − P) more (an interval at the cap, _paid)
        jfloors = plan.joint_floors if plan is not None else {}
        topped = {}
        if jfloors:
            made = joint_delivered(market, sol)
            for nd, f in jfloors.items():
                realised = price_[nd] + bonus_[nd]
                lo_, hi_ = _paid(f, float(made[nd]), realised, tol * max(abs(float(made[nd])), F))
                topped[nd] = (lo_ - realised, hi_ - realised)
        for j, (jp, terms) in enumerate(zip(market.joint, market.joint_terms)):
            # outputs earn their node's origin rent too (own output under
            # rules of origin, as a supply's or a refiner's does); inputs not
            margin = sum(a * (price_[nd] + (bonus_[nd] if a > 0 else 0.0)) for nd, a in terms) + (float(ew["joint"][j]) if ew is not None else 0.0)
            up = sum(a * topped[nd][0] for nd, a in terms if a > 0 and nd in topped)
            top = sum(a * topped[nd][1] for nd, a in terms if a > 0 and nd in topped)
            own = max(abs(float(Yj[j])), F)
            # money per unit of activity: judged against its outputs' and
            # inputs' value at their members' typical prices
            res.append(jp.cost.residual(float(Yj[j]), margin + up, margin + top, tol * own, sum(abs(a) * Pn[nd] for nd, a in terms), own))
        v.add("joint_production", res, lambda: [f"joint {jp.name} {jp.region}" + (" (floored output)" if any(a > 0 and nd in topped for nd, a in terms) else "") for jp, terms in zip(market.joint, market.joint_terms)])
    if W.any() or market.joint or len(sol.disposal):
        places = market.disposal_nodes if market.joint else np.flatnonzero(W).tolist()
        # what disposing of a unit costs: the price, less any extension's μ·a
        cost_w = [price_[i] - (float(ew["disposal"][i]) if ew is not None else 0.0) for i in range(n)]
        res = [max(0.0, -W[i] / V_[i], -cost_w[i] / Pn[i], (cost_w[i] / Pn[i]) if W[i] > tol * V_[i] else 0.0) for i in places]
        # disposal where no activity delivers anything: none allowed
        stray = sorted(set(np.flatnonzero(W).tolist()) - set(places)) if market.joint else []
        res += [abs(W[i]) / V_[i] for i in stray]
        v.add("disposal", res, lambda: [f"disposal {nodes[i][0]}/{nodes[i][1]}" for i in places] + [f"disposal {nodes[i][0]}/{nodes[i][1]} (no joint output here)" for i in stray])

    # 6. the policies' own conditions
    if offtakes:
        res, lab = [], []
        for k, o in enumerate(offtakes):
            g, pn = G[k], price[o.node] - (float(ew["offtake"][k]) if ew is not None else 0.0)
            vol = max(abs(g), F)
            dq = tol * vol
            r_ = max(0.0, -g / vol, (g - o.quantity) / vol)
            if g < o.quantity - dq:  # room to buy more: price not below the floor
                r_ = max(r_, (o.level - pn) / Pn[o.node])
            if g > dq:  # buying: price not above the floor
                r_ = max(r_, (pn - o.level) / Pn[o.node])
            res.append(r_)
            s, rg = nodes[o.node]
            lab.append(f"offtake {s}/{rg} at {o.level:g}")
        v.add("offtake", res, lab)
    if quotas:
        res, lab = [], []
        for k, q in enumerate(quotas):
            used = float(sum(X[i] for i in q.routes))
            slack = (q.quantity - used) / max(abs(q.quantity), abs(used), F)
            Pq = Pn[ro[q.routes[0]]] if q.routes else P
            r_ = max(0.0, -lam[k] / Pq, -slack, min(lam[k] / Pq, slack))
            res.append(r_)
            lab.append(f"quota {q.label}")
        v.add("quota", res, lab)
    if rules:
        made = production(market, sol)
        res, lab = [], []
        for k, rule in enumerate(rules):
            out = float(sum(X[i] for i in rule.routes))
            slack = (made[rule.node] - out) / max(abs(made[rule.node]), abs(out), F)
            res.append(max(0.0, -orig[k] / Pn[rule.node], -slack, min(orig[k] / Pn[rule.node], slack)))
            lab.append(f"origin {rule.label}")
        v.add("rules_of_origin", res, lab)
    if strategic:
        _cournot(v, market, sol, plan, tol, F)
    if restricted:
        _extensions(v, market, sol, plan, mu, tol, F, Pn)
    return v


def _extensions(v: Verification, market: Market, sol: Solution, plan, mu: np.ndarray, tol: float, F: float, Pn: list) -> None:
    """Condition ``extension``: each extension row ``lower ≤ a·q ≤ upper``
    holds, and its shadow price ``μ`` has the sign and complementarity of
    the bound that binds (``μ ≥ 0`` only at the lower bound, ``μ ≤ 0``
    only at the upper).  The row is judged against its own terms' size,
    ``max(Σ|a·q|, |bounds|, F·max|a|)``; ``μ·max|a|`` against the price
    scale of the nodes it holds.  (``μ`` in the other conditions: see
    :func:`verify`.)"""
    from mineq.models.extensions import quantities

    q = quantities(market, sol, plan)
    rd, tgt = market.route_nodes[1], market.process_nodes[1]
    # the node whose price scale judges a quantity's μ·a
    node_of = {"flow": lambda i: int(rd[i]), "processing": lambda i: int(tgt[i]), "joint": lambda i: market.joint_terms[i][0][0], "offtake": lambda i: plan.offtakes[i].node}
    res, lab = [], []
    for r, u in zip(plan.extensions, mu.tolist()):
        value = r.value(q)
        amax = max(abs(c) for c in r.terms.values())
        size = max(sum(abs(c * float(q[k][i])) for (k, i), c in r.terms.items()), max((abs(b) for b in (r.lower, r.upper) if math.isfinite(b)), default=0.0), F * amax)
        dq = tol * size
        pscale = max(Pn[node_of.get(k, lambda i: i)(i)] for k, i in r.terms)
        m_ = u * amax / pscale
        at_lo = math.isfinite(r.lower) and value <= r.lower + dq
        at_up = math.isfinite(r.upper) and value >= r.upper - dq
        rr = max(0.0, (r.lower - value) / size if math.isfinite(r.lower) else 0.0, (value - r.upper) / size if math.isfinite(r.upper) else 0.0)
        if not math.isfinite(u):
            rr = math.inf
        if m_ > 0 and not at_lo:
            rr = max(rr, m_)  # a positive price on a row whose lower bound is slack
        if m_ < 0 and not at_up:
            rr = max(rr, -m_)
        res.append(rr)
        lab.append(f"extension {r.name}")
    v.add("extension", res, lab)


def _cournot(v: Verification, market: Market, sol: Solution, plan, tol: float, F: float) -> None:
    """Condition ``cournot``: every strategic seller (``market_power``)
    sells where its marginal revenue equals its marginal cost.

    From primal values only (:func:`mineq.models.policies.market_power.sales`):
    home sales ``h`` = own output − exports, and per sale (home, each
    export route) the net-back ``a`` and markup slope ``m = θ·b``; the
    marginal revenue ``MR = max(a − m·q)`` over the sales.  Then

    * every sale is not negative (beyond ``dq``);
    * a sale above ``dq`` earns exactly ``MR``: ``|a − m·q − MR| / P``
      (a sale at zero earns at most ``MR`` by construction of ``MR``);
    * the node's producers: ``MC(S) ⟂ MR`` (against the true curve's
      price interval at ``S``, with capacities and steps, as ``supply``);
    * the processes into the node: ``θ_k·P_in + MCproc(Y) ⟂ MR``.

    ``MR`` so chosen loses nothing: if any value satisfies the conditions,
    this one does.  Quantities are judged at the seller's own output
    (``dq = tol·max(|own|, F)``), prices over ``P``.  One residual per
    seller, its largest.
    """
    from mineq.models.policies.market_power import sales

    P = market.price_scale
    nidx = market._node_position
    src, tgt = market.process_nodes
    price = np.asarray(sol.price, dtype=float)
    S = nan_to_zero(sol.supply)
    Y = np.asarray(sol.processing, dtype=float)
    res, lab = [], []
    for acc in sales(plan, sol):
        s_ = acc["seller"]
        n, mr = s_.node, acc["mr"]
        V = max(abs(acc["own"]), F)
        dq = tol * V
        r_ = 0.0 if math.isfinite(mr) and all(math.isfinite(row["a"]) for row in acc["sales"]) else math.inf
        for row in acc["sales"]:
            q = row["q"]
            r_ = max(r_, -q / V)
            if q > dq:
                r_ = max(r_, abs(row["a"] - row["m"] * q - mr) / P)
        c = market.supply.get(market.nodes[n])
        if c is not None:
            own = max(abs(float(S[n])), F)
            r_ = max(r_, c.residual(float(S[n]), mr, mr, tol * own, P, own))
        for k in np.flatnonzero(tgt == n).tolist():
            p = market.processes[k]
            cost = mr - p.theta * price[nidx[(p.source, p.region)]]
            own = max(abs(float(Y[k])), F)
            r_ = max(r_, p.cost.residual(float(Y[k]), cost, cost, tol * own, P, own))
        res.append(r_)
        stage, region = market.nodes[n]
        lab.append(f"cournot {stage}/{region} (conduct {s_.conduct:g})")
    v.add("cournot", res, lab)
