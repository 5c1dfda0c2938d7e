"""The welfare program of one market as a labelled Pyomo model, in
natural units: the formulation of record.

Read this module to see what mineq solves.  For one mineral's market
(:class:`mineq.models.market.Market`) and the policies of one scenario
(:class:`mineq.models.policies.PolicyPlan`):

Sets
    ``STAGES``, ``REGIONS``; ``NODES`` (stage, region) with a balance;
    ``ROUTES`` (stage, origin, destination), the allowed routes;
    ``PROCESSES`` (region, source stage, target stage); ``ACTIVITIES``
    (name, region), joint production; ``OFFTAKES`` (stage, region, j);
    ``SELLERS`` (stage, region), strategic sellers; ``CREDITED``, the
    processes under a deficiency-payment floor; ``FLOORED``, the supply
    nodes under one; ``QUOTAS``, ``ORIGIN_RULES`` (positions).

Variables (quantity unit of the mineral; each curve is a list of blocks,
``k`` counts them: a linear curve has one, a step curve one per step, an
isoelastic curve its tangent at the current point)
    ``supply_block[stage, region, k]``, ``demand_block[...]``,
    ``processing_block[region, source, target, k]`` (output),
    ``joint_block[name, region, k]`` (units of activity),
    ``offtake_block[stage, region, j, k]`` (government purchases),
    ``disposal[stage, region]`` (joint output nobody uses),
    ``flow[stage, origin, destination]``,
    ``credit[region, source, target]`` (output that earns a processor
    floor's payment), ``joint_credit[stage, region]`` (joint output
    delivered to a floored node that earns the floor's payment),
    ``home_sales[stage, region]`` (a strategic seller's
    sales at home).

Expressions
    ``supply[stage, region]``, ``demand[...]``, ``processing[...]``,
    ``joint[name, region]``, ``offtake[stage, region, j]``: the sums of
    their blocks; ``own_output[stage, region]``: supply + processing
    output + joint yields there.

Parameters (price unit of the mineral per quantity unit)
    ``route_cost[route]``: the unit transport cost plus the frozen border
    wedge of the scenario (export taxes, tariffs, a minimum import price's
    levy at the current prices: :meth:`PolicyPlan.route_wedges`);
    ``route_slope[route]``: ``s`` of a rising route cost ``t + s·X``;
    ``markup_slope[route]`` and ``home_markup[seller]``: a strategic
    seller's perceived ``θ·b`` (Harker 1986); ``credit_rate[process]``:
    a processor floor's payment per unit at the current prices;
    ``joint_credit_rate[node]``: the same for a floor on joint output;
    ``release[node]``: stocks released; ``floor_quantity[node]``,
    ``quota_quantity[q]``.

Constraints (their shadow prices are the equilibrium's prices and rents)
    ``balance[node]``: what arrives − what leaves = 0 (shadow price: the
    node price); ``floor[node]``: a floored producer's supply ≥ its
    guaranteed output; ``credit_cap[process]``: credit ≤ output;
    ``joint_credit_cap[node]``: joint credit ≤ what joint activities
    deliver there;
    ``quota[q]``: Σ covered flows ≤ the quota (the quota rent);
    ``origin[r]``: covered exports ≤ own output (the origin rent);
    ``seller[node]``: own output − home sales − exports = 0 (the seller's
    marginal revenue); and, added by extensions
    (:mod:`mineq.models.extensions`), ``extension[name]``.

Objective ``welfare`` (maximised): the value of demand blocks − the cost
of supply, processing and joint blocks − transport ``Σ (t·X + ½·s·X²)`` −
``½·θ·b·q²`` per strategic sale + credits.  Each block counts ``±(level·q
− ½·slope·q²)`` (:class:`mineq.models.curves.Segment`).

The program's KKT conditions are the equilibrium conditions
(docs/model.md).  :class:`mineq.models.program.MarketModel` hands the same
program to HiGHS as scaled matrices; ``tests/test_formulation.py`` holds
the two identical, coefficient by coefficient, on every market and
scenario of the bundled case.  This module builds the model; it does not
solve it (any Pyomo solver can: ``pyo.SolverFactory("highs")``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .market import Market


@dataclass
class State:
    """The program's parameters that move during a solve, in natural units.

    ``segments[(kind, key)]``: the blocks of the owner's curve
    (isoelastic curves enter as tangents at the current point);
    ``route_cost[i]``: unit cost plus frozen wedge per route of
    :attr:`Market.route_list`; ``credit[k]``: a floored process's payment
    per unit.  ``MarketModel.state()`` gives the current state of a
    solve; the default is the program as built.
    """

    segments: dict = field(default_factory=dict)
    route_cost: np.ndarray | None = None
    credit: dict = field(default_factory=dict)


def process_key(market: Market, k: int) -> tuple[str, str, str]:
    p = market.processes[k]
    return (p.region, p.source, p.target)


def owner_key(market: Market, plan, kind: str, owner: int) -> tuple:
    """A curve owner's label: a node (supply, demand, disposal), a process,
    an activity, or an offtake (its node and position)."""
    if kind in ("supply", "demand", "disposal"):
        return market.nodes[owner]
    if kind == "processing":
        return process_key(market, owner)
    if kind == "joint":
        j = market.joint[owner]
        return (j.name, j.region)
    if kind == "offtake":
        raise ValueError("an offtake's key is its position in plan.offtakes: use offtake_key")
    raise ValueError(f"unknown owner kind {kind!r}")


def offtake_key(market: Market, plan, j: int) -> tuple[str, str, int]:
    return (*market.nodes[plan.offtakes[j].node], j)


def owners(market: Market, plan=None) -> list[tuple[str, tuple, object]]:
    """(kind, key, curve) of every curve owner of the program, in the
    program's order (:class:`mineq.models.program.MarketModel`)."""
    from .program import _DISPOSAL, _offtake_curve

    out = [("supply", k, c) for k, c in market.supply.items()]
    out += [("demand", k, c) for k, c in market.demand.items()]
    out += [("processing", process_key(market, i), p.cost) for i, p in enumerate(market.processes)]
    out += [("joint", (j.name, j.region), j.cost) for j in market.joint]
    out += [("disposal", market.nodes[n], _DISPOSAL) for n in market.disposal_nodes]
    if plan is not None:
        out += [("offtake", offtake_key(market, plan, j), _offtake_curve(o)) for j, o in enumerate(plan.offtakes)]
    return out


#: the index width of each kind's blocks: its owner's label and k
_BLOCK_DIMEN = {"supply": 3, "demand": 3, "processing": 4, "joint": 3, "offtake": 4}


def _bound(v: float):
    return float(v) if math.isfinite(v) else None


def build(market: Market, plan=None, state: State | None = None, *, skeleton: bool = False):
    """The labelled welfare program (a Pyomo ``ConcreteModel``).

    ``skeleton=True`` gives the sets and the aggregate quantities only
    (``supply``, ``demand``, ``processing``, ``joint``, ``offtake`` as
    free variables, ``flow``, ``disposal``, ``home_sales``), no blocks,
    rows or objective: what an extension's rule is read on
    (:func:`linear_terms`).
    """
    import pyomo.environ as pyo

    if plan is not None:
        market = plan.market
    state = state or State()
    nodes = market.nodes
    m = pyo.ConcreteModel(name=market.name)
    m.STAGES = pyo.Set(initialize=list(market.stages), ordered=True)
    m.NODES = pyo.Set(initialize=list(nodes), dimen=2, ordered=True)
    m.REGIONS = pyo.Set(initialize=list(market.regions), ordered=True)
    m.ROUTES = pyo.Set(initialize=list(market.route_list), dimen=3, ordered=True)
    m.PROCESSES = pyo.Set(initialize=[process_key(market, k) for k in range(len(market.processes))], dimen=3, ordered=True)
    m.ACTIVITIES = pyo.Set(initialize=[(j.name, j.region) for j in market.joint], dimen=2, ordered=True)
    m.SUPPLY_NODES = pyo.Set(initialize=list(market.supply), dimen=2, ordered=True)
    m.DEMAND_NODES = pyo.Set(initialize=list(market.demand), dimen=2, ordered=True)
    m.DISPOSAL_NODES = pyo.Set(initialize=[nodes[n] for n in market.disposal_nodes], dimen=2, ordered=True)
    offtakes = plan.offtakes if plan is not None else []
    m.OFFTAKES = pyo.Set(initialize=[offtake_key(market, plan, j) for j in range(len(offtakes))], dimen=3, ordered=True)
    sellers = plan.sellers if plan is not None else []
    m.SELLERS = pyo.Set(initialize=[nodes[s.node] for s in sellers], dimen=2, ordered=True)

    m.flow = pyo.Var(m.ROUTES, domain=pyo.NonNegativeReals)
    m.disposal = pyo.Var(m.DISPOSAL_NODES, domain=pyo.NonNegativeReals)
    m.home_sales = pyo.Var(m.SELLERS, domain=pyo.NonNegativeReals)
    if skeleton:
        m.supply = pyo.Var(m.SUPPLY_NODES)
        m.demand = pyo.Var(m.DEMAND_NODES)
        m.processing = pyo.Var(m.PROCESSES)
        m.joint = pyo.Var(m.ACTIVITIES)
        m.offtake = pyo.Var(m.OFFTAKES)
        return m

    # -- curve blocks ------------------------------------------------------
    blocks: dict[str, list] = {}
    segs_by_kind: dict[str, dict] = {}
    for kind, key, curve in owners(market, plan):
        segs = state.segments.get((kind, key))
        if segs is None:
            segs = curve.blocks(None)
        for k, seg in enumerate(segs):
            blocks.setdefault(kind, []).append(((*key, k), seg))
    for kind in ("supply", "demand", "processing", "joint", "offtake", "disposal"):
        items = blocks.get(kind, [])
        if kind == "disposal":
            continue  # disposal has no value and no limit: one variable per node (above)
        seg_of = segs_by_kind[kind] = dict(items)
        idx = pyo.Set(initialize=[i for i, _ in items], dimen=_BLOCK_DIMEN[kind], ordered=True)
        setattr(m, f"{kind.upper()}_BLOCKS", idx)
        var = pyo.Var(idx, bounds=lambda _, *i, s=seg_of: (_bound(s[i].lower), _bound(s[i].upper)))
        setattr(m, f"{kind}_block", var)

    def total(kind, key):
        var = getattr(m, f"{kind}_block")
        return sum(var[i] for i in var.index_set() if i[:-1] == key)

    m.supply = pyo.Expression(m.SUPPLY_NODES, rule=lambda _, s, r: total("supply", (s, r)))
    m.demand = pyo.Expression(m.DEMAND_NODES, rule=lambda _, s, r: total("demand", (s, r)))
    m.processing = pyo.Expression(m.PROCESSES, rule=lambda _, *k: total("processing", k))
    m.joint = pyo.Expression(m.ACTIVITIES, rule=lambda _, *a: total("joint", a))
    m.offtake = pyo.Expression(m.OFFTAKES, rule=lambda _, *o: total("offtake", o))

    # -- parameters (natural units) -----------------------------------------
    routes = market.route_list
    cost = state.route_cost
    if cost is None:
        cost = market.route_costs.copy()
        for i, w in (plan.fixed_wedges().items() if plan is not None else []):
            cost[i] += w
    markup = plan.route_markups() if plan is not None else np.zeros(len(routes))
    m.route_cost = pyo.Param(m.ROUTES, initialize=dict(zip(routes, np.asarray(cost, dtype=float).tolist())), mutable=True)
    m.route_slope = pyo.Param(m.ROUTES, initialize=dict(zip(routes, market.route_slope.tolist())), mutable=True)
    m.markup_slope = pyo.Param(m.ROUTES, initialize=dict(zip(routes, markup.tolist())), mutable=True)
    m.home_markup = pyo.Param(m.SELLERS, initialize={nodes[s.node]: s.markup(s.node) for s in sellers}, mutable=True)
    release = plan.release if plan is not None else np.zeros(len(nodes))
    m.release = pyo.Param(m.NODES, initialize={nodes[n]: float(release[n]) for n in range(len(nodes))}, mutable=True)

    # -- what arrives at and leaves each node ---------------------------------
    arrive: dict[tuple, list] = {n: [] for n in nodes}
    leave: dict[tuple, list] = {n: [] for n in nodes}
    made: dict[tuple, list] = {n: [] for n in nodes}  # own output (a seller's row)
    exports: dict[tuple, list] = {n: [] for n in nodes}
    for n in m.SUPPLY_NODES:
        made[n].append(m.supply[n])
    for n in m.DEMAND_NODES:
        leave[n].append(m.demand[n])
    for k, p in enumerate(market.processes):
        key = process_key(market, k)
        made[(p.target, p.region)].append(m.processing[key])
        leave[(p.source, p.region)].append(p.theta * m.processing[key])
    for j, terms in zip(market.joint, market.joint_terms):
        for n, a in terms:
            (made if a > 0 else leave)[nodes[n]].append(abs(a) * m.joint[(j.name, j.region)])
    for n in m.DISPOSAL_NODES:
        leave[n].append(m.disposal[n])
    for o in m.OFFTAKES:
        leave[o[:2]].append(m.offtake[o])
    for s, o, d in routes:
        exports[(s, o)].append(m.flow[s, o, d])
        arrive[(s, d)].append(m.flow[s, o, d])
    seller_nodes = set(m.SELLERS)
    own = {n: sum(made[n]) for n in nodes}
    m.own_output = pyo.Expression(m.NODES, rule=lambda _, *n: own[n] if made[n] else 0.0)

    # balance: a strategic seller's node holds its home sales instead of
    # its own output and exports (those are in the seller's row)
    def balance(_, *n):
        if n in seller_nodes:
            inflow = [m.home_sales[n]] + arrive[n]
            outflow = leave[n]
        else:
            inflow = made[n] + arrive[n]
            outflow = leave[n] + exports[n]
        if not inflow and not outflow:
            return pyo.Constraint.Skip
        return sum(inflow) + m.release[n] - sum(outflow) == 0

    m.balance = pyo.Constraint(m.NODES, rule=balance)
    m.seller = pyo.Constraint(m.SELLERS, rule=lambda _, *n: sum(made[n]) - m.home_sales[n] - sum(exports[n]) == 0)

    floors = sorted(plan.supply_floors) if plan is not None else []
    m.FLOORED = pyo.Set(initialize=[nodes[n] for n in floors], dimen=2, ordered=True)
    m.floor_quantity = pyo.Param(m.FLOORED, initialize={nodes[n]: plan.floor_quantity(n) for n in floors}, mutable=True)
    m.floor = pyo.Constraint(m.FLOORED, rule=lambda _, *n: m.supply[n] >= m.floor_quantity[n])

    credited = sorted(plan.process_floors) if plan is not None else []
    m.CREDITED = pyo.Set(initialize=[process_key(market, k) for k in credited], dimen=3, ordered=True)
    caps = {process_key(market, k): _bound(plan.process_floors[k].cap) for k in credited}
    m.credit = pyo.Var(m.CREDITED, bounds=lambda _, *k: (0.0, caps[k]))
    m.credit_rate = pyo.Param(m.CREDITED, initialize={process_key(market, k): float(state.credit.get(k, 0.0)) for k in credited}, mutable=True)
    m.credit_cap = pyo.Constraint(m.CREDITED, rule=lambda _, *k: m.credit[k] <= m.processing[k])

    # a floor on what joint activities deliver to a node (a jointly mined
    # element): the activities earn its payment on that output, up to the cap
    delivered: dict[tuple, list] = {}
    for j, terms in zip(market.joint, market.joint_terms):
        for n, a in terms:
            if a > 0:
                delivered.setdefault(nodes[n], []).append(a * m.joint[(j.name, j.region)])
    jcredited = plan.joint_floored() if plan is not None else []
    m.JOINT_CREDITED = pyo.Set(initialize=[nodes[n] for n in jcredited], dimen=2, ordered=True)
    jcaps = {nodes[n]: _bound(plan.joint_floors[n].cap) for n in jcredited}
    m.joint_credit = pyo.Var(m.JOINT_CREDITED, bounds=lambda _, *n: (0.0, jcaps[n]))
    m.joint_credit_rate = pyo.Param(m.JOINT_CREDITED, initialize={nodes[n]: float(state.credit.get(("joint", n), 0.0)) for n in jcredited}, mutable=True)
    m.joint_credit_cap = pyo.Constraint(m.JOINT_CREDITED, rule=lambda _, *n: m.joint_credit[n] <= sum(delivered[n]))

    quotas = plan.quotas if plan is not None else []
    m.QUOTAS = pyo.Set(initialize=range(len(quotas)), ordered=True)
    m.quota_quantity = pyo.Param(m.QUOTAS, initialize={j: q.quantity for j, q in enumerate(quotas)}, mutable=True)
    m.quota = pyo.Constraint(m.QUOTAS, rule=lambda _, j: sum(m.flow[routes[i]] for i in quotas[j].routes) <= m.quota_quantity[j])

    rules = plan.origin_rules if plan is not None else []
    m.ORIGIN_RULES = pyo.Set(initialize=range(len(rules)), ordered=True)
    m.origin = pyo.Constraint(m.ORIGIN_RULES, rule=lambda _, j: sum(m.flow[routes[i]] for i in rules[j].routes) <= m.own_output[nodes[rules[j].node]])

    # -- welfare ---------------------------------------------------------------
    def blocks_value(kind, sign):
        var = getattr(m, f"{kind}_block")
        seg = segs_by_kind[kind]
        return sum(sign * seg[i].level * var[i] - 0.5 * seg[i].slope * var[i] ** 2 for i in var.index_set())

    value = blocks_value("demand", 1.0) + blocks_value("offtake", 1.0)
    cost_ = blocks_value("supply", -1.0) + blocks_value("processing", -1.0) + blocks_value("joint", -1.0)
    transport = sum(m.route_cost[r] * m.flow[r] + 0.5 * (m.route_slope[r] + m.markup_slope[r]) * m.flow[r] ** 2 for r in m.ROUTES)
    home = sum(0.5 * m.home_markup[n] * m.home_sales[n] ** 2 for n in m.SELLERS)
    credits = sum(m.credit_rate[k] * m.credit[k] for k in m.CREDITED) + sum(m.joint_credit_rate[n] * m.joint_credit[n] for n in m.JOINT_CREDITED)
    m.welfare = pyo.Objective(expr=value + cost_ - transport - home + credits, sense=pyo.maximize)
    if plan is not None and getattr(plan, "extensions", None):
        from .extensions import attach

        attach(m, plan)
    return m




def variable_of(m, kind: str, key: tuple):
    """The labelled variable (or expression) of an aggregate quantity:
    ``kind`` one of supply, demand, processing, joint, offtake, flow,
    disposal, home_sales; ``key`` its label."""
    return getattr(m, kind)[key]


def owner_label(model, pos: int) -> tuple[str, tuple]:
    """(kind, label) of the fast program's curve owner at position ``pos``."""
    kind, owner, _ = model._owners[pos]
    if kind == "offtake":
        return kind, offtake_key(model.market, model.plan, sum(1 for k, *_ in model._owners[:pos] if k == "offtake"))
    return kind, owner_key(model.market, model.plan, kind, owner)


def columns(m, model) -> list[tuple[object, float]]:
    """Per column of the fast program (``model``, a
    :class:`mineq.models.program.MarketModel`, in HiGHS's order): the
    labelled variable it is and the natural units per unit of the column
    (the fast program counts a quantity ``q`` as ``q / (Q·scale)``)."""
    mk, plan = model.market, model.plan
    scale = model.column_scale() * model.Q
    out: list = [None] * model._ncol
    seen: dict[int, int] = {}
    for b, (pos, _) in enumerate(model._blocks):
        kind, key = owner_label(model, pos)
        k = seen[pos] = seen.get(pos, -1) + 1
        var = m.disposal[key] if kind == "disposal" else getattr(m, f"{kind}_block")[(*key, k)]
        out[model._ix["z"][b]] = (var, scale[model._ix["z"][b]])
    for i, r in enumerate(mk.route_list):
        j = model._ix["x"][i]
        out[j] = (m.flow[r], scale[j])
    for j, k in enumerate(model._credited):
        c = model._ix["u"][j]
        out[c] = (m.credit[process_key(mk, k)], scale[c])
    for j, n in enumerate(model._joint_credited, len(model._credited)):
        c = model._ix["u"][j]
        out[c] = (m.joint_credit[mk.nodes[n]], scale[c])
    for j, s_ in enumerate(model._sellers):
        c = model._ix["h"][j]
        out[c] = (m.home_sales[mk.nodes[s_.node]], scale[c])
    return out


def load(m, model) -> None:
    """Put the last solution of the fast program ``model`` into the
    labelled model's variables (natural units)."""
    col = model._last[0]
    for j, (var, scale) in enumerate(columns(m, model)):
        var.set_value(float(col[j]) * scale, skip_validation=True)


def rows(m, model) -> list:
    """Per row of the fast program: the labelled constraint it is."""
    mk = model.market
    plan = model.plan
    out = []
    for group, who in model.row_keys():
        if group == "balance":
            out.append(m.balance[mk.nodes[who]])
        elif group == "floor":
            out.append(m.floor[mk.nodes[who]])
        elif group == "credit" and isinstance(who, tuple):  # ("joint", node)
            out.append(m.joint_credit_cap[mk.nodes[who[1]]])
        elif group == "credit":
            out.append(m.credit_cap[process_key(mk, who)])
        elif group == "quota":
            out.append(m.quota[[tuple(q.routes) for q in plan.quotas].index(who)])
        elif group == "origin":
            out.append(m.origin[[(r.node, tuple(r.routes)) for r in plan.origin_rules].index(who)])
        elif group == "seller":
            out.append(m.seller[mk.nodes[who]])
        elif group == "extension":
            out.append(m.extension[who])
        else:  # pragma: no cover - a new row group must be named here
            raise ValueError(f"no labelled constraint for row group {group!r}")
    return out


def differences(m, model, rtol: float = 1e-9) -> list[str]:
    """Where the labelled model ``m`` and the fast program ``model`` differ.

    Both are read as matrices: each labelled constraint and the objective
    through Pyomo's standard representation, each fast column and row
    through :func:`columns` and :func:`rows`.  A fast row is the labelled
    row divided by one positive scale (found from its largest entry);
    costs and the Hessian are the labelled ones in units of ``P·Q``;
    bounds in column units.  Every coefficient must agree to ``rtol``
    relative to the largest of its row (or of the objective).  An empty
    list: the two are one program.
    """
    from pyomo.repn import generate_standard_repn

    cols = columns(m, model)
    where = {id(v): j for j, (v, _) in enumerate(cols)}
    num = model.numbers()
    PQ = model.P * model.Q
    out: list[str] = []

    def close(a, b, ref):
        if not (math.isfinite(a) and math.isfinite(b)):
            return a == b
        return abs(a - b) <= rtol * max(ref, 1e-300)

    repn = generate_standard_repn(m.welfare.expr, quadratic=True)
    cost = np.zeros(len(cols))
    hess = np.zeros(len(cols))
    for v, c in zip(repn.linear_vars, repn.linear_coefs):
        if id(v) not in where:
            out.append(f"objective: {v.name} is no column of the fast program")
            continue
        j = where[id(v)]
        cost[j] += c * cols[j][1] / PQ
    for (v1, v2), c in zip(repn.quadratic_vars, repn.quadratic_coefs):
        if v1 is not v2 or id(v1) not in where:
            out.append(f"objective: quadratic term {v1.name}·{v2.name} is not on the fast program's diagonal")
            continue
        j = where[id(v1)]
        hess[j] += 2.0 * c * cols[j][1] ** 2 / PQ
    ref = max(np.abs(num["cost"]).max(initial=0.0), np.abs(cost).max(initial=0.0))
    href = max(np.abs(num["hessian"]).max(initial=0.0), np.abs(hess).max(initial=0.0))
    for j, (v, sc) in enumerate(cols):
        if not close(cost[j], num["cost"][j], ref):
            out.append(f"objective: {v.name} has {cost[j]:.12g} in the labelled model, {num['cost'][j]:.12g} in the fast program")
        if not close(hess[j], num["hessian"][j], href):
            out.append(f"objective: {v.name}² has {hess[j]:.12g} in the labelled model, {num['hessian'][j]:.12g} in the fast program")
        lo = -math.inf if v.lb is None else v.lb / sc
        up = math.inf if v.ub is None else v.ub / sc
        if not close(lo, num["lower"][j], max(abs(lo), 1.0)) or not close(up, num["upper"][j], max(abs(up), 1.0)):
            out.append(f"bounds of {v.name}: [{lo:.12g}, {up:.12g}] in the labelled model, [{num['lower'][j]:.12g}, {num['upper'][j]:.12g}] in the fast program")
    A = model.qp().A
    labelled_rows = rows(m, model)
    if len(labelled_rows) != A.shape[0]:
        out.append(f"{len(labelled_rows)} labelled rows for {A.shape[0]} fast rows")
    for i, con in enumerate(labelled_rows):
        r = generate_standard_repn(con.body)
        lab = np.zeros(len(cols))
        for v, c in zip(r.linear_vars, r.linear_coefs):
            if id(v) not in where:
                out.append(f"{con.name}: {v.name} is no column of the fast program")
                continue
            lab[where[id(v)]] += c * cols[where[id(v)]][1]
        fast = A.dense(rows=[i]).ravel() if hasattr(A, "dense") else np.asarray(A[i], dtype=float)
        k = int(np.argmax(np.abs(lab)))
        if lab[k] == 0 or fast[k] == 0 or fast[k] / lab[k] <= 0:
            out.append(f"{con.name}: no common scale (largest labelled entry {lab[k]:g}, fast {fast[k]:g})")
            continue
        scale = fast[k] / lab[k]  # fast row = labelled row × scale
        big = np.abs(fast).max()
        bad = [j for j in range(len(cols)) if not close(lab[j] * scale, fast[j], big)]
        for j in bad[:3]:
            out.append(f"{con.name}: {cols[j][0].name} has {lab[j] * scale:.12g} (scaled) in the labelled model, {fast[j]:.12g} in the fast program")
        const = float(r.constant)
        for name, bound, fast_bound in (("lower", con.lower, num["row_lower"][i]), ("upper", con.upper, num["row_upper"][i])):
            b = (-math.inf if name == "lower" else math.inf) if bound is None else (float(pyo_value(bound)) - const) * scale
            if not close(b, fast_bound, max(abs(b), abs(fast_bound), big)):
                out.append(f"{con.name}: {name} bound {b:.12g} (scaled) in the labelled model, {fast_bound:.12g} in the fast program")
    return out


def pyo_value(x) -> float:
    import pyomo.environ as pyo

    return pyo.value(x)
