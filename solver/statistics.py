"""Welfare and indicators of one market solution (SPEC §4).

All money figures are in the mineral's price unit times its quantity unit
(e.g. USD/kg × kt = million USD).  Signs: a surplus is what the group
gains; ``government_net`` is revenue minus outlays; a positive
``deficiency_payments`` or ``offtake_outlay`` is money the government
spends.

Accounting identity (tests/test_policies.py): summed over regions,
``total_welfare`` equals :func:`objective`, the welfare program's value at
the solution (demand value − costs − transport, with stockpiles valued at
the floor the government paid), because every policy transfer appears
once as a payment and once as a receipt.
"""

from __future__ import annotations

import math

import numpy as np

from mineq.models.curves import Sum
from mineq.models.market import Market, Solution

#: per-region welfare items, in the order results and reports show them
WELFARE_ITEMS = (
    "consumer_surplus",
    "producer_surplus",
    "processor_surplus",
    "tariff_revenue",
    "levy_revenue",
    "export_tax_revenue",
    "stockpile_release_revenue",
    "deficiency_payments",
    "offtake_outlay",
    "government_net",
    "quota_rent",
    "undertaking_rent",
    "offtake_premium",
    "origin_rent",
    "trade_margin_rent",
    "market_power_rent",
    "extension_rent",
    "rents",
    "stockpile_value",
    "total_welfare",
    # the stockpile at the market price after the purchases: outside the
    # total, an alternative to its valuation at the price paid
    "stockpile_value_at_market",
)


def nan_to_zero(a) -> np.ndarray:
    """``a`` as floats with NaN (no curve, no flow) read as zero.

    ``np.nan_to_num`` does the same but costs ten times more on the short
    arrays of one market, which the result assembly handles thousands of
    times in a sweep.
    """
    a = np.asarray(a, dtype=float)
    return np.where(np.isnan(a), 0.0, a)


def _integral(curve, q: float) -> float:
    return curve.integral(q) if math.isfinite(q) else math.nan


def production(market: Market, sol: Solution) -> np.ndarray:
    """Own output at each node: supply plus processing output into it,
    plus the yields of joint activities there (:class:`mineq.models.market.Joint`)."""
    out = nan_to_zero(sol.supply)
    np.add.at(out, market.process_nodes[1], sol.processing)
    if market.joint:
        out += np.maximum(market.joint_net(sol.joint), 0.0)
    if len(sol.joint_net):
        out += np.maximum(np.asarray(sol.joint_net, dtype=float), 0.0)
    return out


def floor_payments(market: Market, sol: Solution, plan) -> tuple[np.ndarray, np.ndarray]:
    """Deficiency payments: per unit at each node, and total per process.

    Per node: ``max(0, F − P − origin rent)`` where producers or
    processors are covered (NaN elsewhere).  Totals are per supply node and per process, on the
    covered quantity ``min(q, cap)``.
    """
    per_unit = np.full(len(market.nodes), np.nan)
    if plan is None:
        return per_unit, np.zeros(len(market.processes))
    # the floor tops up the realised unit revenue: price plus origin rent
    realised = np.asarray(sol.price, dtype=float) + (plan.origin_rent_by_node(sol.origin_rent) if plan.origin_rules else 0.0)
    for n, f in plan.supply_floors.items():
        per_unit[n] = f.payment(realised[n])
    proc = np.zeros(len(market.processes))
    for k, f in plan.process_floors.items():
        p = market.processes[k]
        n = market.node_index(p.target, p.region)
        per_unit[n] = f.payment(realised[n])
        proc[k] = per_unit[n] * min(sol.processing[k], f.cap)
    if plan.joint_floors:
        # covered where joint activities deliver (a member of a linked
        # market knows it from its share of their output)
        made = joint_delivered(market, sol)
        for n in set(plan.joint_floored()) | {n for n in plan.joint_floors if made[n] > 0}:
            per_unit[n] = plan.joint_floors[n].payment(realised[n])
    return per_unit, proc


def joint_delivered(market: Market, sol: Solution) -> np.ndarray:
    """Per node: what joint activities deliver there (their yields, not
    their inputs), for a linked market (from the activity levels) or for
    one of its members (``sol.joint_net``); zeros elsewhere."""
    if market.joint:
        out = np.zeros(len(market.nodes))
        for j, terms in enumerate(market.joint_terms):
            for n, a in terms:
                if a > 0:
                    out[n] += a * float(sol.joint[j])
        return out
    if len(sol.joint_net):
        return np.maximum(np.asarray(sol.joint_net, dtype=float), 0.0)
    return np.zeros(len(market.nodes))


def joint_floor_payments(market: Market, sol: Solution, plan, per_unit: np.ndarray) -> dict[int, float]:
    """Deficiency payments on joint output: per floored node, the payment
    per unit times what joint activities deliver there, up to the cap."""
    if plan is None or not plan.joint_floors:
        return {}
    made = joint_delivered(market, sol)
    return {n: float(per_unit[n]) * min(float(made[n]), f.cap) for n, f in plan.joint_floors.items() if made[n] > 0}


def welfare(market: Market, sol: Solution, plan=None) -> dict[str, np.ndarray]:
    """Welfare items by region (arrays indexed like ``market.regions``).

    Consumer surplus ``∫_0^D PD − P·D`` (NaN where the integral diverges:
    fixed demand, isoelastic demand with ``|e| <= 1``; see
    :func:`welfare_change`); producer surplus ``P·S − ∫_0^S MC`` plus
    floor payments; processor surplus ``(P_out − θ·P_in)·Y − ∫_0^Y MCproc``
    plus floor payments; government revenue and outlays by instrument;
    rents (quota licences, price undertakings, the premium of offtake
    purchases above the market price, origin rents of exporters under
    rules of origin); the stockpile bought, valued at the price paid
    (``stockpile_value``, in the total: what the offtake program values
    it at) and at the market price after the purchases
    (``stockpile_value_at_market``, outside the total: valued so, world
    welfare falls by the premium paid above the market).
    A route whose cost rises with its flow (``t + s·X``) earns its
    traders the inframarginal margin ``½·s·X²``, credited to the
    destination region (``trade_margin_rent``).
    """
    if plan is not None:
        market = plan.market
    nr = len(market.regions)
    ridx = {r: i for i, r in enumerate(market.regions)}
    nidx = market._node_position
    # Python floats and lists while summing (the same arithmetic as numpy
    # scalars, at a fraction of the cost), arrays at the end
    price, demand, supply = (np.asarray(a, dtype=float).tolist() for a in (sol.price, sol.demand, sol.supply))
    processing, flow = np.asarray(sol.processing, dtype=float).tolist(), np.asarray(sol.flow, dtype=float).tolist()
    w = {k: [0.0] * nr for k in WELFARE_ITEMS}
    for (s, r), c in market.demand.items():
        i = nidx[(s, r)]
        w["consumer_surplus"][ridx[r]] += _integral(c, demand[i]) - price[i] * demand[i]
    per_unit, proc_pay = (a.tolist() for a in floor_payments(market, sol, plan))
    for (s, r), c in market.supply.items():
        i = nidx[(s, r)]
        w["producer_surplus"][ridx[r]] += price[i] * supply[i] - _integral(c, supply[i])
        if plan is not None and i in plan.supply_floors:
            f = plan.supply_floors[i]
            pay = per_unit[i] * min(supply[i], f.cap)
            w["producer_surplus"][ridx[r]] += pay
            w["deficiency_payments"][ridx[f.region]] += pay
    for k, p in enumerate(market.processes):
        margin = price[nidx[(p.target, p.region)]] - p.theta * price[nidx[(p.source, p.region)]]
        w["processor_surplus"][ridx[p.region]] += margin * processing[k] - _integral(p.cost, processing[k]) + proc_pay[k]
        if plan is not None and k in plan.process_floors:
            w["deficiency_payments"][ridx[plan.process_floors[k].region]] += proc_pay[k]
    # floors on joint output: paid to the activities where they run (their
    # surplus is counted with the processors', below)
    for n, pay in joint_floor_payments(market, sol, plan, np.asarray(per_unit)).items():
        w["processor_surplus"][ridx[market.nodes[n][1]]] += pay
        w["deficiency_payments"][ridx[plan.joint_floors[n].region]] += pay
    if len(sol.joint_surplus):
        # a linked market's member: its share of the joint activities'
        # surplus (by sales value) goes to the region where they run
        js = np.asarray(sol.joint_surplus, dtype=float)
        for n in np.flatnonzero(js).tolist():
            w["processor_surplus"][ridx[market.nodes[n][1]]] += float(js[n])
    if market.joint:
        from mineq.models.joint import Linked

        for n, v in enumerate(Linked.surplus_of(market, sol).tolist()):
            if v:
                w["processor_surplus"][ridx[market.nodes[n][1]]] += v
    if market.route_slopes:
        margin = 0.5 * market.route_slope * np.asarray(sol.flow, dtype=float) ** 2
        dest = market.route_nodes[1] % nr  # nodes are stage-major
        for i in np.flatnonzero(margin).tolist():
            w["trade_margin_rent"][int(dest[i])] += float(margin[i])
    if plan is not None:
        routes = market.route_list
        for i, terms in plan.routes.items():
            s, o, d = routes[i]
            x = flow[i]
            parts = terms.parts(price[nidx[(s, o)]], market.routes[routes[i]])
            w["export_tax_revenue"][ridx[o]] += parts["export_tax"] * x
            w["tariff_revenue"][ridx[d]] += parts["tariff"] * x
            if terms.mip_rent == "levy":
                w["levy_revenue"][ridx[d]] += parts["mip_rent"] * x
            else:
                w["undertaking_rent"][ridx[o]] += parts["mip_rent"] * x
        for q, lam in zip(plan.quotas, np.asarray(sol.quota_rent, dtype=float).tolist()):
            for i, holder in zip(q.routes, q.holders):
                w["quota_rent"][ridx[holder]] += lam * flow[i]
        for o, g in zip(plan.offtakes, np.asarray(sol.offtake, dtype=float).tolist()):
            r = ridx[market.nodes[o.node][1]]
            w["offtake_outlay"][ridx[o.region]] += o.level * g
            w["offtake_premium"][r] += (o.level - price[o.node]) * g
            w["stockpile_value"][ridx[o.region]] += o.level * g
            w["stockpile_value_at_market"][ridx[o.region]] += price[o.node] * g
        if plan.origin_rules:
            made = production(market, sol).tolist()
            for rule, lam in zip(plan.origin_rules, np.asarray(sol.origin_rent, dtype=float).tolist()):
                w["origin_rent"][ridx[market.nodes[rule.node][1]]] += lam * made[rule.node]
        for n, rel in enumerate(np.asarray(plan.release, dtype=float).tolist()):
            if rel:
                w["stockpile_release_revenue"][ridx[market.nodes[n][1]]] += price[n] * rel
    w = {k: np.array(v) for k, v in w.items()}
    w["government_net"] = w["tariff_revenue"] + w["levy_revenue"] + w["export_tax_revenue"] + w["stockpile_release_revenue"] - w["deficiency_payments"] - w["offtake_outlay"]
    if plan is not None and plan.sellers:
        _market_power(market, sol, plan, w, ridx)
    if plan is not None and plan.extensions:
        _extensions(market, sol, plan, w, ridx)
    w["rents"] = w["quota_rent"] + w["undertaking_rent"] + w["offtake_premium"] + w["origin_rent"] + w["trade_margin_rent"] + w["market_power_rent"] + w["extension_rent"]
    w["total_welfare"] = w["consumer_surplus"] + w["producer_surplus"] + w["processor_surplus"] + w["government_net"] + w["rents"] + w["stockpile_value"]
    return w


def _market_power(market: Market, sol: Solution, plan, w: dict, ridx: dict) -> None:
    """Strategic sellers' accounts (``market_power``), in place on ``w``.

    The producers and processors of a seller's node earn its marginal
    revenue ``MR`` (:func:`mineq.models.policies.market_power.sales`), not
    the node price: their surpluses above were counted at ``P_n`` and are
    moved by ``(MR − P_n)·output``.  The seller's region gets the markup
    rent ``Σ_sales (a − MR)·q`` (``a``: the sale's net-back, so
    ``θ·b·q²`` per sale at an equilibrium).  The two together are the
    seller's receipts less what its output is valued at, whatever ``MR``
    is: the welfare identity does not depend on it.
    """
    from mineq.models.policies.market_power import sales

    price = np.asarray(sol.price, dtype=float)
    supply = nan_to_zero(sol.supply)
    processing = np.asarray(sol.processing, dtype=float)
    tgt = market.process_nodes[1]
    for acc in sales(plan, sol):
        s = acc["seller"]
        n, mr = s.node, acc["mr"]
        r = ridx[market.nodes[n][1]]
        shift = mr - float(price[n])
        w["producer_surplus"][r] += shift * float(supply[n])
        w["processor_surplus"][r] += shift * float(processing[tgt == n].sum())
        w["market_power_rent"][r] += sum((row["a"] - mr) * row["q"] for row in acc["sales"])


#: the account a quantity in an extension row earns its μ·a·q in
_EXTENSION_ACCOUNT = {"supply": "producer_surplus", "demand": "consumer_surplus", "processing": "processor_surplus", "joint": "processor_surplus",
                      "disposal": "processor_surplus", "offtake": "offtake_premium"}


def extension_rents(market: Market, sol: Solution, plan) -> np.ndarray:
    """Per extension row: its rent ``−μ·(a·q)``, what its holder takes."""
    from mineq.models.extensions import quantities

    q = quantities(market, sol, plan)
    out = []
    for r, u in zip(plan.extensions, np.asarray(sol.extension_price, dtype=float).tolist()):
        value = r.value(q)
        # a row binding at zero (a share requirement) is zero up to the
        # rounding of its terms: no rent, not 1e-15 of one
        if abs(value) <= 1e-12 * sum(abs(c * float(q[k][i])) for (k, i), c in r.terms.items()):
            value = 0.0
        out.append(-u * value)
    return np.array(out)


def _extensions(market: Market, sol: Solution, plan, w: dict, ridx: dict) -> None:
    """Extension rows' accounts (:mod:`mineq.models.extensions`), in place
    on ``w``: each quantity ``q`` a row holds with coefficient ``a`` earns
    ``μ·a·q`` in its own account (a government purchase: its sellers'
    ``offtake_premium``, since the purchase then pays ``level + μ·a``,
    not the offtake's level).  A flow in the row lands at its
    destination price plus ``−μ·a`` over its origin price and cost: the
    traders would keep that margin at market prices, and pay it as ``μ·a``
    per unit, so they net nothing and no account moves.  The
    row's holder takes ``−μ·Σ a·q``, flows included: with the flows'
    margins the accounts sum to the program's value whatever ``μ`` is."""
    for account, by_region in extension_shifts(market, sol, plan, ridx).items():
        w[account] = w[account] + np.array(by_region)
    for r, rent in zip(plan.extensions, extension_rents(market, sol, plan).tolist()):
        w["extension_rent"][ridx[r.holder]] += rent


def extension_shifts(market: Market, sol: Solution, plan, ridx: dict) -> dict[str, list[float]]:
    """Per account and region: ``Σ μ·a·q`` of the quantities extension rows
    hold (see :func:`_extensions`)."""
    from mineq.models.extensions import quantities

    q = quantities(market, sol, plan)
    nodes = market.nodes
    out = {k: [0.0] * len(ridx) for k in set(_EXTENSION_ACCOUNT.values())}
    region_of = {
        "supply": lambda i: nodes[i][1], "demand": lambda i: nodes[i][1], "disposal": lambda i: nodes[i][1],
        "processing": lambda i: market.processes[i].region, "joint": lambda i: market.joint[i].region,
        "offtake": lambda i: nodes[plan.offtakes[i].node][1],
    }
    for r, u in zip(plan.extensions, np.asarray(sol.extension_price, dtype=float).tolist()):
        for (kind, i), a in r.terms.items():
            if kind in _EXTENSION_ACCOUNT:
                out[_EXTENSION_ACCOUNT[kind]][ridx[region_of[kind](i)]] += u * a * float(q[kind][i])
    return out


def welfare_change(market: Market, sol: Solution, base: Solution, plan=None, now: dict | None = None, before: dict | None = None) -> dict[str, np.ndarray]:
    """Changes of every welfare item versus ``base`` (the baseline solution).

    Consumer surplus changes are computed between the two quantities
    (``∫_{D0}^{D1} PD − P1·D1 + P0·D0``, the Marshallian change), which is
    finite even where the surplus itself diverges.  Demand curves are the
    same in every scenario; ``market`` is the baseline market.  ``now`` and
    ``before`` are :func:`welfare` of ``sol`` and ``base`` when the caller
    has them already (a sweep compares every point with one baseline).
    """
    now = welfare(market, sol, plan) if now is None else now
    before = welfare(market, base, None) if before is None else before
    if plan is not None:
        market = plan.market
    out = {k: now[k] - before[k] for k in WELFARE_ITEMS}
    nidx = market._node_position
    ridx = {r: i for i, r in enumerate(market.regions)}
    dcs = [0.0] * len(market.regions)
    D0, D1 = np.asarray(base.demand, dtype=float).tolist(), np.asarray(sol.demand, dtype=float).tolist()
    P0, P1 = np.asarray(base.price, dtype=float).tolist(), np.asarray(sol.price, dtype=float).tolist()
    for (s, r), c in market.demand.items():
        i = nidx[(s, r)]
        d0, d1 = D0[i], D1[i]
        dcs[ridx[r]] += c.integral_between(d0, d1) - P1[i] * d1 + P0[i] * d0
    dcs = np.array(dcs)
    if plan is not None and plan.extensions:
        # consumers in an extension row pay P − μ·a, not the market price
        dcs = dcs + np.array(extension_shifts(market, sol, plan, ridx)["consumer_surplus"])
    # equal to CS1 − CS0 where both are finite, and finite where they are not
    out["consumer_surplus"] = dcs
    out["total_welfare"] = sum(out[k] for k in ("consumer_surplus", "producer_surplus", "processor_surplus", "government_net", "rents", "stockpile_value"))
    return out


def objective(market: Market, sol: Solution, plan=None) -> float:
    """The welfare objective recomputed from primal quantities and true curves.

    Demand value − supply and processing costs − transport costs, plus the
    stockpile at the floor price (what the offtake program values it at).
    """
    if plan is not None:
        market = plan.market
    nidx = market._node_position
    demand, supply = np.asarray(sol.demand, dtype=float).tolist(), np.asarray(sol.supply, dtype=float).tolist()
    processing = np.asarray(sol.processing, dtype=float).tolist()
    total = 0.0
    for (s, r), c in market.demand.items():
        total += _integral(c, demand[nidx[(s, r)]])
    for (s, r), c in market.supply.items():
        total -= _integral(c, supply[nidx[(s, r)]])
    for k, p in enumerate(market.processes):
        total -= _integral(p.cost, processing[k])
    Yj = np.asarray(sol.joint, dtype=float)
    for j, jp in enumerate(market.joint):
        total -= _integral(jp.cost, float(Yj[j]))
    x = np.asarray(sol.flow, dtype=float)
    total -= float(market.route_costs @ x) + 0.5 * float(market.route_slope @ (x * x))
    if plan is not None:
        total += sum(o.level * g for o, g in zip(plan.offtakes, sol.offtake))
    return total


def trade(market: Market, sol: Solution, plan=None) -> dict[str, np.ndarray]:
    """Per node: imports, exports, production, use and net import reliance.

    ``production`` = own supply + processing output at the node, with
    ``secondary_production`` (old and new scrap; NaN where a node has no
    secondary supply) part of it, so that net import reliance follows the
    USGS definition (secondary output is domestic supply);
    ``apparent_consumption`` = final demand + processing input, which by
    the balance equals production + stock released + imports − exports −
    government stockpiling (USGS definition: stock changes are not
    consumption).  ``net_import_reliance`` = (imports − exports) /
    apparent consumption, NaN where consumption is zero.
    """
    if plan is not None:
        market = plan.market
    nn = len(market.nodes)
    imports, exports = np.zeros(nn), np.zeros(nn)
    orig, dest = market.route_nodes
    np.add.at(exports, orig, sol.flow)
    np.add.at(imports, dest, sol.flow)
    use = np.zeros(nn)
    np.add.at(use, market.process_nodes[0], np.array([p.theta for p in market.processes]) * sol.processing)
    # what joint activities take (a host concentrate) is used like a process input
    if market.joint:
        use += np.maximum(-market.joint_net(sol.joint), 0.0)
    if len(sol.joint_net):
        use += np.maximum(-np.asarray(sol.joint_net, dtype=float), 0.0)
    made = production(market, sol)
    secondary = np.full(nn, np.nan)
    for key, c in market.supply.items():
        if isinstance(c, Sum) and "secondary" in c.names:
            i = market._node_position[key]
            secondary[i] = c.split(float(sol.supply[i]))[c.names.index("secondary")]
    consumption = nan_to_zero(sol.demand) + use
    with np.errstate(divide="ignore", invalid="ignore"):
        nir = np.where(consumption > 1e-12 * market.quantity_scale, (consumption - made) / consumption, np.nan)
    return {
        "imports": imports,
        "exports": exports,
        "net_imports": imports - exports,
        "production": made,
        "secondary_production": secondary,
        "processing_input": use,
        "apparent_consumption": consumption,
        "net_import_reliance": nir,
    }


def supply_shares(market: Market, sol: Solution, plan=None, flows: dict | None = None) -> np.ndarray:
    """Share of each node's supply by origin region, shape (nodes, regions).

    A region's own output net of its exports counts as "home"; imports
    count for the exporting region (re-exports are not traced).  Rows sum
    to one where the node has any supply, NaN elsewhere.  ``flows`` is
    :func:`trade` of the same solution, when the caller has it.
    """
    if plan is not None:
        market = plan.market
    nr = len(market.regions)
    t = trade(market, sol) if flows is None else flows
    shares = np.zeros((len(market.nodes), nr))
    home = np.arange(len(market.nodes)) % nr  # nodes are stage-major
    shares[np.arange(len(market.nodes)), home] = np.maximum(0.0, t["production"] - t["exports"])
    orig, dest = market.route_nodes
    np.add.at(shares, (dest, orig % nr), np.maximum(0.0, sol.flow))
    tot = shares.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(tot > 1e-12 * market.quantity_scale, shares / tot, np.nan)


def concentration(production: np.ndarray) -> tuple[float, float]:
    """Top share and Herfindahl–Hirschman index (0–1) of one stage's output."""
    p = np.maximum(nan_to_zero(production), 0.0)
    tot = p.sum()
    if tot <= 0:
        return math.nan, math.nan
    s = p / tot
    return float(s.max()), float((s * s).sum())
