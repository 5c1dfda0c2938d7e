"""What policies do to one market: the primitives every instrument uses.

An instrument (one module each in this package) translates its case-file
entry into a few primitives on a :class:`PolicyPlan`:

* route terms (:class:`RouteTerms`): export taxes, a minimum import price
  and tariffs, which together give the landed price of SPEC §2.4

      landed = max(P[o]·(1 + e_av) + e_sp + t, M)·(1 + τ_av) + τ_sp (+ quota rent)

* deficiency-payment floors (:class:`Floor`) on producers or processors,
  and on what joint activities deliver to a node (``joint_floors``: the
  activity earns ``yield·max(0, F − P)`` more per unit, a credit found by
  fixed point like a processor's);
* offtake purchases (:class:`Offtake`) at a node;
* quotas (:class:`Quota`) on sums of flows;
* strategic sellers (:class:`Seller`): a node's output sold with market
  power (conduct ``θ`` from price-taking 0 to Cournot 1);
* exogenous supply (``release``) and a modified market (capacity shocks).

The engine (``mineq.models.market``, ``mineq.solver.solve``, ``mineq.solver.verify`` and
``mineq.solver.statistics``) understands only these primitives, so a new
instrument that can be written with them needs no change anywhere else.

All figures are in the mineral's own units: prices in its price unit,
quantities in its quantity unit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..market import Market

INF = math.inf


@dataclass
class RouteTerms:
    """Border measures on one route ``o -> d`` (all zero: free trade)."""

    export_av: float = 0.0  #: export tax, fraction of the FOB price P[o]
    export_sp: float = 0.0  #: export tax per unit
    mip: float = -INF  #: minimum import price on the CIF price (``-inf``: none)
    mip_rent: str = "levy"  #: "levy" (importer's government) or "undertaking" (exporter)
    tariff_av: float = 0.0  #: import tariff, fraction of max(CIF, M)
    tariff_sp: float = 0.0  #: import tariff per unit
    sources: list[str] = field(default_factory=list)  #: policies that set these terms

    @property
    def price_dependent(self) -> bool:
        """True when the wedge moves with the origin price (not one convex program)."""
        return self.export_av != 0.0 or self.tariff_av != 0.0 or self.mip > -INF

    def cif(self, p_origin: float, t: float) -> float:
        return p_origin * (1.0 + self.export_av) + self.export_sp + t

    def landed(self, p_origin: float, t: float) -> float:
        """Price at which a unit from the origin arrives, before quota rents."""
        return max(self.cif(p_origin, t), self.mip) * (1.0 + self.tariff_av) + self.tariff_sp

    def wedge(self, p_origin: float, t: float) -> float:
        """landed − P[o] − t: what border measures add per unit."""
        return self.landed(p_origin, t) - p_origin - t

    def parts(self, p_origin: float, t: float) -> dict[str, float]:
        """Per-unit money: export tax (exporter), MIP rent, tariff (importer)."""
        cif = self.cif(p_origin, t)
        border = max(cif, self.mip)
        return {
            "export_tax": p_origin * self.export_av + self.export_sp,
            "mip_rent": border - cif,
            "tariff": border * self.tariff_av + self.tariff_sp,
        }


@dataclass
class Floor:
    """A deficiency-payment floor: eligible output earns ``max(P, level)``.

    ``cap`` bounds the covered quantity (units of the node's stage); the
    payment per covered unit is ``max(0, level − P)``, paid by ``region``'s
    government.  Where a rule of origin gives the node's output a rent
    ``λ``, the floor tops up the realised revenue: ``max(0, level − P − λ)``.
    """

    level: float
    cap: float = INF
    region: str = ""
    source: str = ""

    def payment(self, price: float) -> float:
        return max(0.0, self.level - price)


@dataclass
class Offtake:
    """Government purchases ``G ⟂ P − level`` at a node, at most ``quantity``.

    ``quantity`` is the quantity cap, or ``budget / level``, whichever is
    smaller; past it the node price may fall below the floor.
    """

    node: int
    level: float
    quantity: float = INF
    region: str = ""
    source: str = ""


@dataclass
class Quota:
    """``Σ flows on routes <= quantity``; ``holders[i]`` gets route i's rent."""

    routes: list[int]
    quantity: float
    holders: list[str]
    label: str = ""


@dataclass
class OriginRule:
    """``Σ flows on routes <= own output at node`` (no re-exports on them).

    Own output is the node's supply plus processing into it.  The rule's
    shadow price ``λ`` is an origin rent: it adds to the landed price on
    the routes and to the price the node's producers and refiners earn.
    """

    node: int
    routes: list[int]
    label: str = ""


@dataclass
class Seller:
    """A strategic seller: the whole own output (supply and processing
    output) of ``node``, sold at home and on its export ``routes`` with
    conduct ``conduct`` (θ: 0 price-taking, 1 Cournot).

    On sales ``q`` into node ``d`` it perceives the inverse-demand slope
    ``slopes[d]`` (``b_d``, price unit per quantity unit; 0 where ``d``
    has no final demand), so its marginal revenue there is
    ``P_d − θ·b_d·q`` (net of route costs and border measures on
    exports).  Imported material at the node is not re-exported: the
    node's exports are its own output (``models/program.py``, row group
    ``seller``).
    """

    node: int
    conduct: float
    routes: list[int]
    slopes: dict[int, float]
    region: str = ""
    label: str = ""

    def markup(self, node: int) -> float:
        """``θ·b`` for sales into ``node``: the perceived markup per unit sold there."""
        return self.conduct * self.slopes.get(node, 0.0)


@dataclass
class PolicyPlan:
    """Everything the policies of one scenario do to one market.

    ``market`` is the market the scenario sees (capacity shocks applied);
    indices follow ``market.nodes``, ``market.route_list`` and
    ``market.processes``.
    """

    market: Market
    routes: dict[int, RouteTerms] = field(default_factory=dict)
    supply_floors: dict[int, Floor] = field(default_factory=dict)
    process_floors: dict[int, Floor] = field(default_factory=dict)
    #: deficiency-payment floors on the output joint activities deliver to
    #: a node (a jointly mined element has no supply curve of its own; in
    #: a market that is not linked nothing is delivered, and they pay nothing)
    joint_floors: dict[int, Floor] = field(default_factory=dict)
    offtakes: list[Offtake] = field(default_factory=list)
    quotas: list[Quota] = field(default_factory=list)
    origin_rules: list[OriginRule] = field(default_factory=list)
    release: np.ndarray | None = None
    #: strategic sellers (``market_power``), at most one per node
    sellers: list[Seller] = field(default_factory=list)
    #: rows written by extensions (:mod:`mineq.models.extensions`)
    extensions: list = field(default_factory=list)
    #: (where, text) of policy parts that found nothing to act on (a floor
    #: in a region with no eligible producer or processor): diagnoses
    idle: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self):
        if self.release is None:
            self.release = np.zeros(len(self.market.nodes))

    @property
    def price_dependent(self) -> bool:
        """True when some wedge depends on prices (fixed point needed)."""
        return bool(self.process_floors) or bool(self.joint_floored()) or any(t.price_dependent for t in self.routes.values())

    def joint_floored(self) -> list[int]:
        """The nodes with a joint floor that some joint activity of the
        market delivers to (only those have anything to pay for)."""
        if not self.joint_floors or not self.market.joint:
            return []
        fed = {n for terms in self.market.joint_terms for n, a in terms if a > 0}
        return sorted(n for n in self.joint_floors if n in fed)

    def fixed_wedges(self) -> dict[int, float]:
        """Per route with terms: the per-unit parts of its border wedge
        (specific export tax and tariff), the part no price moves."""
        return {i: t.export_sp + t.tariff_sp for i, t in self.routes.items()}

    def route_markups(self) -> np.ndarray:
        """Per route of ``market.route_list``: ``θ·b`` of the strategic
        seller exporting on it (price unit per unit, per unit sold; 0 off
        sellers' exports)."""
        dest = self.market.route_nodes[1]
        out = np.zeros(len(self.market.route_list))
        for s in self.sellers:
            for i in s.routes:
                out[i] = s.markup(int(dest[i]))
        return out

    def restrict(self, extension) -> None:
        """Add the rows of an :class:`mineq.models.extensions.Extension`."""
        from ..extensions import restrictions

        rows = restrictions(extension, self)
        taken = {r.name for r in self.extensions}
        for r in rows:
            if r.name in taken:
                raise ValueError(f"two extension rows are named {r.name!r}: give the policies a description each")
            taken.add(r.name)
        self.extensions.extend(rows)

    def skeleton(self):
        """The labelled quantities of this plan's market as a Pyomo model
        (:func:`mineq.models.formulation.build`, ``skeleton=True``): what
        extensions write their constraints on."""
        from ..formulation import build

        return build(self.market, self, skeleton=True)

    def seller_nodes(self) -> set[int]:
        return {s.node for s in self.sellers}

    def seller_routes(self) -> set[int]:
        return {i for s in self.sellers for i in s.routes}

    def floor_quantity(self, node: int) -> float:
        """Output a deficiency-payment floor guarantees at supply ``node``:
        what the producers offer at the floor price, at most the cap."""
        f = self.supply_floors[node]
        curve = self.market.supply[self.market.nodes[node]]
        return min(f.cap, curve.quantity_at(f.level), curve.upper)

    def route(self, i: int) -> RouteTerms:
        """The terms of route ``i``, created on first use."""
        if i not in self.routes:
            self.routes[i] = RouteTerms()
        return self.routes[i]

    # -- the wedges the engine needs at given prices ---------------------
    def route_wedges(self, price: np.ndarray) -> dict[int, float]:
        """Per route with terms: landed − P[o] − t at node prices ``price``."""
        mk = self.market
        out = {}
        routes = mk.route_list
        for i, terms in self.routes.items():
            s, o, d = routes[i]
            out[i] = terms.wedge(price[mk.node_index(s, o)], mk.routes[routes[i]])
        return out

    def process_credits(self, price: np.ndarray, origin: np.ndarray | None = None) -> dict[int, float]:
        """Per floored process: the deficiency payment per unit of output
        (the floor tops up price plus origin rent)."""
        mk = self.market
        realised = np.asarray(price, dtype=float) + (self.origin_rent_by_node(origin) if origin is not None and len(origin) else 0.0)
        return {k: f.payment(realised[mk.node_index(mk.processes[k].target, mk.processes[k].region)]) for k, f in self.process_floors.items()}

    def joint_credits(self, price: np.ndarray, origin: np.ndarray | None = None) -> dict[tuple, float]:
        """Per node of :meth:`joint_floored`, keyed ``("joint", node)``: the
        deficiency payment per unit delivered there (price plus origin
        rent topped up to the floor)."""
        realised = np.asarray(price, dtype=float) + (self.origin_rent_by_node(origin) if origin is not None and len(origin) else 0.0)
        return {("joint", n): self.joint_floors[n].payment(realised[n]) for n in self.joint_floored()}

    def quota_rent_by_route(self, rents: np.ndarray, origin: np.ndarray | None = None) -> np.ndarray:
        """Σ of the rents of the quotas (and origin rules) each route belongs to."""
        out = np.zeros(len(self.market.route_list))
        for q, lam in zip(self.quotas, rents):
            for i in q.routes:
                out[i] += lam
        if origin is not None:
            for rule, lam in zip(self.origin_rules, origin):
                for i in rule.routes:
                    out[i] += lam
        return out

    def origin_rent_by_node(self, origin: np.ndarray) -> np.ndarray:
        """Origin rent per unit earned by each node's producers and refiners."""
        out = np.zeros(len(self.market.nodes))
        for rule, lam in zip(self.origin_rules, origin):
            out[rule.node] += lam
        return out
