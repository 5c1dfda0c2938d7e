"""``market_power``: regions whose output at a stage is sold strategically.

Each region of ``regions`` becomes a strategic seller at the policy's
stage (:class:`mineq.models.policies.plan.Seller`): the whole own output
of the node (its supply curve and the output of processes into it) is
sold at home and exported by one decision maker with conduct
``conduct`` = θ, from price-taking (0) to Cournot (1), as in Harker
(1986, *Operations Research* 34) and the spatial-oligopoly literature.

On its sales ``q`` into a node ``d`` the seller perceives the slope
``b_d`` of ``d``'s final-demand curve, so its marginal revenue there is
``P_d − θ·b_d·q`` (net of route costs, border measures and quota rents
on exports), and it sells where that equals its marginal cost:

    MC(S) ⟂ MR_n,   P_n − θ·b_n·h ≤ MR_n ⟂ h,
    P_d − t − w − s·X − ρ − θ·b_d·X ≤ MR_n ⟂ X   (every export route),

with ``h`` its home sales (own output − exports).  ``b_d`` is the slope
of a linear demand curve (exact Cournot: the inverse demand is linear),
the tangent's slope at the reference point of an isoelastic curve (a
constant conjecture, not the curve's slope at the solution), and 0 for
step, fixed or absent final demand (no perceived markup there).

The welfare program stays one convex QP (``models/program.py``, row
group ``seller`` and column group ``h``): the objective gains
``−½·θ·b·q²`` per sale; the MILP fallback (``solver/kkt.py``) writes the
same conditions.  The verifier (``solver/verify.py``, condition
``cournot``) checks the conditions above from primal values; the markup
rent goes to the seller's region (``market_power_rent``).
"""

from __future__ import annotations

import numpy as np

from ..curves import Isoelastic, Linear
from ..errors import SpecError
from .base import Instrument, number, register
from .plan import Seller


def demand_slope(curve) -> float:
    """The inverse-demand slope ``b`` a strategic seller perceives at a
    node with final-demand curve ``curve`` (see the module docstring)."""
    if isinstance(curve, Linear):
        return float(curve.slope)
    if isinstance(curve, Isoelastic):
        (seg,) = curve.segments(None)
        return float(seg.slope)
    return 0.0


@register
class MarketPower(Instrument):
    type = "market_power"
    keys = ("regions", "conduct")

    def read(self, spec, regions):
        self.regions = regions.resolve(spec.get("regions", "(missing)"), "regions")
        self.conduct = number(spec, "conduct", minimum=0.0, default=1.0)
        if self.conduct > 1.0:
            raise SpecError("conduct", spec["conduct"], "a conduct parameter between 0 (price-taking) and 1 (Cournot)")

    def apply(self, plan, baseline):
        mk = plan.market
        stage = self.stage_of(mk)
        slopes = {}
        for r in mk.regions:
            b = demand_slope(mk.demand.get((stage, r)))
            if b > 0:
                slopes[mk.node_index(stage, r)] = b
        src, tgt = mk.process_nodes
        for r in self.regions:
            n = mk.node_index(stage, r)
            if (stage, r) not in mk.supply and n not in set(tgt.tolist()):
                plan.idle.append((f"{mk.name} {stage}/{r}", f"{self.label}: no producers or processors to act strategically"))
                continue
            if any(s.node == n for s in plan.sellers):
                raise SpecError("regions", r, f"a region with one market_power policy per mineral and stage ({mk.name} {stage}/{r} has two)")
            routes = self.route_indices(mk, stage, None, [r])
            plan.sellers.append(Seller(node=n, conduct=self.conduct, routes=routes, slopes=dict(slopes), region=r, label=f"{self.label}: {r} {stage}"))


def check(plan) -> None:
    """Combinations the engine does not handle: floors on a strategic
    seller's output (their payment tops up the price, not the seller's
    marginal revenue) and rules of origin on its exports (its exports are
    its own output already).  Raises SpecError naming the node."""
    if not plan.sellers:
        return
    mk = plan.market
    tgt = mk.process_nodes[1]
    for s in plan.sellers:
        stage, r = mk.nodes[s.node]
        floored = s.node in plan.supply_floors or any(int(tgt[k]) == s.node for k in plan.process_floors)
        if floored:
            raise SpecError("regions", r, f"a region without a price floor on its own output at {stage} ({mk.name}: market_power and a deficiency-payment floor on the same seller are not supported)")
        if any(rule.node == s.node for rule in plan.origin_rules):
            raise SpecError("regions", r, f"a region whose exports at {stage} are not under rules of origin ({mk.name}: a strategic seller exports only its own output already)")


def sales(plan, sol) -> list[dict]:
    """Per strategic seller of ``plan``, from the primal values of ``sol``:

    ``own`` (supply + processing output at the node), ``home`` (``h`` =
    own − exports), and ``sales``: one row per sale (home first, then
    each export route) with its quantity ``q``, its net-back ``a`` (what
    a unit earns before the markup: ``P_n`` at home,
    ``P_d − t − w − s·X − ρ`` on a route, border measures valued at the
    node price) and its markup slope ``m = θ·b``; and ``mr``, the
    marginal revenue ``max(a − m·q)`` over the sales (at an equilibrium
    every sale that carries anything earns exactly it, and no other sale
    earns more: see ``solver/verify.py``, condition ``cournot``).
    """
    if not plan.sellers:
        return []
    mk = plan.market
    price = np.asarray(sol.price, dtype=float)
    flow = np.asarray(sol.flow, dtype=float)
    supply = np.where(np.isnan(np.asarray(sol.supply, dtype=float)), 0.0, np.asarray(sol.supply, dtype=float))
    own = supply.copy()
    np.add.at(own, mk.process_nodes[1], np.asarray(sol.processing, dtype=float))
    rho = plan.quota_rent_by_route(np.asarray(sol.quota_rent, dtype=float) if plan.quotas else np.zeros(0), np.asarray(sol.origin_rent, dtype=float) if plan.origin_rules else None)
    rd = mk.route_nodes[1]
    costs = mk.route_costs
    out = []
    for s in plan.sellers:
        n = s.node
        exports = float(flow[s.routes].sum()) if s.routes else 0.0
        h = float(own[n]) - exports
        rows = [{"to": n, "route": None, "q": h, "a": float(price[n]), "m": s.markup(n)}]
        for i in s.routes:
            d = int(rd[i])
            terms = plan.routes.get(i)
            w = terms.wedge(float(price[n]), float(costs[i])) if terms is not None else 0.0
            a = float(price[d]) - costs[i] - w - mk.route_slope[i] * flow[i] - rho[i]
            rows.append({"to": d, "route": i, "q": float(flow[i]), "a": float(a), "m": s.markup(d)})
        mr = max(r["a"] - r["m"] * r["q"] for r in rows)
        out.append({"seller": s, "own": float(own[n]), "home": h, "sales": rows, "mr": float(mr)})
    return out
