"""Diagnoses of ill-posed economics, before any solve.

A market can be well formed and still ask the impossible (a fixed demand
no supply can reach once a ban is in place) or contain policies that
cannot act (a floor where nobody produces).  These are found from the
data alone and reported in words — mineral, stage, region, instrument —
instead of surfacing later as a solver status.

``problems`` (returned with ``severity="error"``) make an equilibrium
impossible; ``notes`` (``"warning"``) flag policies or processes that
have no effect.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mineq.models.market import Market


@dataclass
class Diagnosis:
    severity: str  # "error" (no equilibrium can exist) or "warning" (no effect)
    mineral: str
    where: str
    text: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.mineral} {self.where}: {self.text}"


def _supplied(market: Market, plan, fed: frozenset = frozenset()) -> set[int]:
    """Nodes some supply can reach (through routes and processing).

    Breadth-first over all edges at once (arrays, one pass per step of
    distance): the bundled case's 269 markets have 264 routes each, and a
    Python loop over them cost more than the rest of the diagnosis."""
    nidx = market._node_position
    ro, rd = market.route_nodes
    open_ = np.ones(len(ro), dtype=bool)  # not covered by a zero quota
    if plan is not None:
        for q in plan.quotas:
            if q.quantity <= 0:
                open_[list(q.routes)] = False
    # edges along which goods can move: open routes and working processes
    po, pd = market.process_nodes
    work = np.array([p.cost.upper > 0 for p in market.processes], dtype=bool)
    src = np.concatenate([ro[open_], po[work]])
    dst = np.concatenate([rd[open_], pd[work]])
    reach = np.zeros(len(market.nodes), dtype=bool)
    reach[[nidx[k] for k, c in market.supply.items() if c.upper > 0]] = True
    reach[sorted(fed)] = True
    if plan is not None:
        reach[np.asarray(plan.release) > 0] = True
    while True:
        new = reach.copy()
        new[dst[reach[src]]] = True
        if np.array_equal(new, reach):
            return set(np.flatnonzero(reach).tolist())
        reach = new


def diagnose(market: Market, plan=None, scenario: str = "baseline", fed: frozenset = frozenset()) -> list[Diagnosis]:
    """Everything that makes ``market`` (under ``plan``) ill-posed or a policy idle.

    ``fed``: nodes a linked market's joint activities deliver to
    (:meth:`mineq.models.joint.Linked.fed`), which a member market alone
    does not show."""
    mk = plan.market if plan is not None else market
    out: list[Diagnosis] = []
    reach = _supplied(mk, plan, fed)
    nidx = mk._node_position
    tag = "" if scenario == "baseline" else f" in scenario '{scenario}'"
    for (s, r), c in mk.demand.items():
        if c.lower > 0 and nidx[(s, r)] not in reach:
            out.append(Diagnosis("error", mk.name, f"{s}/{r}", f"a fixed demand of {c.lower:g} {mk.quantity_unit} that no supply can reach{tag} (no producer, no open route, no processing feeds it): no equilibrium exists"))
    out += _unbounded(mk, tag)
    for p in mk.processes:
        if nidx[(p.source, p.region)] not in reach:
            out.append(Diagnosis("warning", mk.name, f"{p.source}->{p.target}/{p.region}", f"processing has no upstream {p.source} supply it can reach{tag}; it stays idle"))
    if plan is not None:
        # a floor with no producer of its own pays the joint activities that deliver here
        paid = {"/".join(mk.nodes[n]) for n in plan.joint_floors if n in fed}
        for where, text in plan.idle:
            if where not in paid:
                out.append(Diagnosis("warning", mk.name, where, text + tag))
        for n, f in plan.supply_floors.items():
            if mk.supply[mk.nodes[n]].upper <= 0:
                out.append(Diagnosis("warning", mk.name, "/".join(mk.nodes[n]), f"price floor ({f.source}) covers producers with no capacity{tag}"))
        for o in plan.offtakes:
            if o.quantity <= 0 or not math.isfinite(o.level):
                out.append(Diagnosis("warning", mk.name, "/".join(mk.nodes[o.node]), f"offtake ({o.source}) can buy nothing (zero quantity or budget){tag}"))
            elif o.node not in reach:
                out.append(Diagnosis("warning", mk.name, "/".join(mk.nodes[o.node]), f"offtake ({o.source}) at a node no supply can reach{tag}; it buys nothing"))
        routes = mk.route_list
        seen = set()
        for i, t in plan.routes.items():
            s, o, d = routes[i]
            if t.mip > -math.inf and (s, d) not in seen and (s, d) not in mk.demand and not any(p.source == s and p.region == d for p in mk.processes):
                seen.add((s, d))
                out.append(Diagnosis("warning", mk.name, f"{s}/{d}", f"minimum import price ({', '.join(dict.fromkeys(t.sources))}) on an importer with no demand and no refining{tag}; it can only affect trans-shipment"))
    return out


def _limit_price(curve) -> float:
    """The curve's price as the quantity grows without bound (inf if capped
    or rising without limit)."""
    if curve.upper < math.inf:
        return math.inf if curve.side == "supply" else -math.inf
    q = curve.reference_quantity()
    big = 1e12 * (q if math.isfinite(q) and q > 0 else 1.0)
    try:
        return curve.value(big)
    except OverflowError:
        # a steep curve (isoelastic, |elasticity| < 0.05): its price
        # outgrows any float long before that quantity, so it is unbounded
        return math.inf if curve.side == "supply" else -math.inf


def _unbounded(mk: Market, tag: str) -> list[Diagnosis]:
    """Uncapped supply whose price stays below what an unchoked demand pays,
    at its own node or across one open route: welfare grows without bound."""
    out = []
    sup = {n: _limit_price(c) for n, c in mk.supply.items()}
    dem = {n: _limit_price(c) for n, c in mk.demand.items()}
    if not sup or not dem or min(sup.values()) >= max(dem.values()):
        # transport costs are >= 0: no supply can undercut any demand's limit
        return out
    pairs = [(n, n, 0.0) for n in sup if n in dem]
    pairs += [((s, o), (s, d), t) for (s, o, d), t in mk.routes.items() if (s, o) in sup and (s, d) in dem]
    for a, b, t in pairs:
        if sup[a] + t < dem[b]:
            via = "" if a == b else f" shipped from {a[1]} at {t:g}"
            out.append(Diagnosis("error", mk.name, f"{b[0]}/{b[1]}", f"unbounded: the supply at {a[0]}/{a[1]} has no capacity and its price stays at or below {sup[a]:.4g} {mk.price_unit}{via}, while the demand at {b[0]}/{b[1]} has no choke (it still pays {dem[b]:.4g} for unlimited quantities){tag}; give the supply a capacity or the demand a choke price"))
            break
    return out


def circumvention(case, ds, share: float = 0.01) -> list[tuple[str, Diagnosis]]:
    """After the solve: minimum import prices that material goes around.

    For each scenario's ``minimum_import_price`` with exempt partners and
    each mineral it covers: if an importer's imports from an exempt
    partner rose against the baseline while that partner's imports from
    covered origins rose too, covered material reaches the importer
    through the partner (trans-shipment, or resource shuffling: the model
    cannot tell which), unless a ``rules_of_origin`` in the same scenario
    limits the partner's exports to the importer to its own output.
    Reported (a warning) when what can have gone round, the smaller of the
    two increases, exceeds ``share`` of the importer's baseline imports:
    which route carried it, and that ``rules_of_origin`` closes it.
    """
    from .results import RouteSlabs

    out = []
    regions = ds.region.values.tolist()
    idx = {r: i for i, r in enumerate(ds.origin.values.tolist())}
    jdx = {r: i for i, r in enumerate(ds.destination.values.tolist())}
    flow = None  # made when a minimum import price needs it
    for scen in case.scenarios:
        if scen.name not in ds.scenario.values:
            continue
        mips = [i for i in scen.instruments if i.type == "minimum_import_price" and i.origins is not None]
        rules = [i for i in scen.instruments if i.type == "rules_of_origin"]
        now = ds.sel(scenario=scen.name)
        for mip in mips:
            for mn, mk in case.markets.items():
                if not mip.covers(mk) or str(now.status.sel(mineral=mn).values) != "equilibrium":
                    continue
                stage = mip.stage_of(mk)
                if flow is None:
                    flow = RouteSlabs(ds, "flow")
                # plain arrays: xarray selection per pair costs seconds on country-level cases
                f1 = np.nan_to_num(flow(scen.name, mn, stage))
                f0 = np.nan_to_num(flow("baseline", mn, stage))
                rise = f1 - f0
                for d in mip.importers:
                    covered = [r for r in mip.origins if r != d]
                    exempt = [r for r in regions if r not in covered and r != d]
                    imports0 = float(f0[:, jdx[d]].sum())
                    for e in exempt:
                        if any(r.covers(mk) and r.stage_of(mk) == stage and e in r.exporters and d in r.importers for r in rules):
                            continue  # its exports to d are its own output
                        rise_out = float(rise[idx[e], jdx[d]])
                        if rise_out <= 0:
                            continue
                        rises_in = {c: float(rise[idx[c], jdx[e]]) for c in covered if c != e}
                        rise_in = sum(v for v in rises_in.values() if v > 0)
                        carried = min(rise_out, rise_in)
                        if carried <= share * max(imports0, 1e-300) or carried <= 0:
                            continue
                        via = ", ".join(f"{c}->{e}" for c, v in sorted(rises_in.items(), key=lambda kv: -kv[1]) if v > 0)
                        text = (f"the minimum import price on {d}'s imports is partly circumvented through the exempt {e}: "
                                f"{d}'s imports from {e} rose by {carried if rise_out <= rise_in else rise_out:.4g} {mk.quantity_unit} while {e}'s imports from covered origins rose by {rise_in:.4g} ({via}, then {e}->{d}); "
                                f"a rules_of_origin policy limiting {e}'s exports to {d} to its own output closes this")
                        out.append((scen.name, Diagnosis("warning", mn, f"{stage}/{d}", text)))
    return out
