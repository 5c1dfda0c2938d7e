"""One mineral market: its data (:class:`Market`) and a solution of it
(:class:`Solution`), in the mineral's own units.

The welfare program whose optimum is the market's equilibrium is in
:mod:`mineq.models.program`; the exact active-set step on its KKT system in
:mod:`mineq.models.active_set`.
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
class Joint:
    """Joint production in ``region``: one unit of *activity* takes
    ``inputs[stage]`` units of each input stage and yields ``outputs[stage]``
    units of each output stage, all at once and in fixed proportions.

    The stages are those of one linked market (:func:`mineq.models.joint.link`
    names a member mineral's stage ``"mineral:stage"``), so one activity
    may take a host concentrate and yield fifteen rare-earth oxides, or
    make aluminium and the gallium content of its alumina liquor.
    ``cost`` is the marginal cost per unit of activity (price unit of the
    linked market per unit of activity) and carries the capacity (units of
    activity).  What an output node cannot use is disposed of at no cost
    (free disposal: its price never falls below zero); what is disposed of
    is reported, not hidden.
    """

    name: str
    region: str
    inputs: dict[str, float]
    outputs: dict[str, float]
    cost: Curve
    meta: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``"name/region"``: the activity's name in result files."""
        return f"{self.name}/{self.region}"


@dataclass
class Market:
    """All data of one mineral's market, in the mineral's own units.

    ``supply``/``demand`` map ``(stage, region)`` to a curve (absent: no
    producers or no consumers at that node).  ``routes`` maps
    ``(stage, origin, destination)`` to the unit transport cost of every
    *allowed* route (``origin != destination``); a missing key is a
    forbidden route.  ``route_slopes`` gives some routes a marginal cost
    that rises with the flow, ``t + s·X`` (price unit per unit; ``s`` in
    price unit per unit, per unit of flow): the quadratic route term that
    lets a baseline reproduce observed bilateral flows and keeps responses
    to shocks smooth (Paris, Drogué & Anania 2011, Economic Modelling 28;
    Jansson & Heckelei 2009); a missing key is ``s = 0``.
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
    route_slopes: dict[tuple[str, str, str], float] = field(default_factory=dict)
    #: joint production (:class:`Joint`): activities with several outputs
    joint: list[Joint] = field(default_factory=list)

    def drawn(self, supply: dict, demand: dict, routes: dict, route_slopes: dict, arrays: dict | None = None, quantities: bool = False) -> "Market":
        """This market with other curves at the same nodes and other costs
        and slopes on the same routes (an ensemble's draw,
        :func:`mineq.solver.case.drawn_case`).  The index helpers that
        depend only on the nodes, routes, processes and joint activities
        (:data:`STRUCTURE`) are carried over where this market has them:
        made anew, they took about a millisecond a draw and market.
        ``arrays``: :attr:`route_costs` and :attr:`route_slope` where the
        caller has them (the central arrays times the draw's factor: the
        very numbers made from ``routes`` and ``route_slopes``).
        ``quantities``: the new curves are this market's own but for their
        elasticities (the same forms, reference quantities, capacities and
        steps), so what follows from those alone (:data:`QUANTITIES`) is
        carried over too: walking a draw's 1,100 curves for them again
        took a tenth of a draw's time in the program update."""
        from dataclasses import replace

        new = replace(self, supply=supply, demand=demand, routes=routes, route_slopes=route_slopes)
        new.__dict__.update((k, self.__dict__[k]) for k in (*STRUCTURE, *(QUANTITIES if quantities else ())) if k in self.__dict__)
        new.__dict__.update((k, v) for k, v in (arrays or {}).items() if k in ("route_costs", "route_slope"))
        return new

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
    def route_table(self) -> dict[str, dict[str, dict[str, int]]]:
        """``route_table[stage][origin][destination]``: the route's index in :attr:`route_list`."""
        table: dict[str, dict[str, dict[str, int]]] = {}
        for i, (s, o, d) in enumerate(self.route_list):
            table.setdefault(s, {}).setdefault(o, {})[d] = i
        return table

    @cached_property
    def route_costs(self) -> np.ndarray:
        """Unit transport cost per route of :attr:`route_list`."""
        return np.array([self.routes[k] for k in self.route_list], dtype=float)

    @cached_property
    def route_slope(self) -> np.ndarray:
        """Per route of :attr:`route_list`: the slope ``s`` of its marginal
        cost ``t + s·X`` (0 for a constant unit cost)."""
        get = self.route_slopes.get
        return np.array([get(k, 0.0) for k in self.route_list], dtype=float)

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
        stage = {s: i for i, s in enumerate(self.stages)}
        region = {r: i for i, r in enumerate(self.regions)}
        return sorted(self.routes, key=lambda k: (stage[k[0]], region[k[1]], region[k[2]]))

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
        for j in self.joint:
            for stage in (*j.inputs, *j.outputs):
                on[idx[(stage, j.region)]] = True
        return on

    @cached_property
    def joint_terms(self) -> list[list[tuple[int, float]]]:
        """Per joint activity: (node, units per unit of activity), positive
        for an output and negative for an input."""
        pos = self._node_position
        return [[(pos[(s, j.region)], -a) for s, a in j.inputs.items()] + [(pos[(s, j.region)], y) for s, y in j.outputs.items()] for j in self.joint]

    @cached_property
    def disposal_nodes(self) -> list[int]:
        """Nodes where a joint activity delivers an output: free disposal there."""
        return sorted({n for terms in self.joint_terms for n, a in terms if a > 0})

    def joint_net(self, activity) -> np.ndarray:
        """Per node: net output of the joint activities at levels
        ``activity`` (outputs positive, inputs negative)."""
        out = np.zeros(len(self.nodes))
        for terms, y in zip(self.joint_terms, np.asarray(activity, dtype=float)):
            for n, a in terms:
                out[n] += a * y
        return out

    def curves(self):
        """(kind, key, curve) for every curve of the market."""
        for key, c in self.supply.items():
            yield "supply", key, c
        for key, c in self.demand.items():
            yield "demand", key, c
        for p in self.processes:
            yield "processing", (p.target, p.region), p.cost
        for j in self.joint:
            yield "joint", (j.name, j.region), j.cost

    @cached_property
    def node_quantities(self) -> np.ndarray:
        """Per node: the largest finite, positive reference quantity of a
        curve there (a process counts at its output node, and at its input
        node as ``theta`` times its output); 0 where there is none.  What
        :class:`mineq.models.program.MarketModel` scales a wide market's rows by."""
        size = [0.0] * len(self.nodes)  # Python floats: one element at a time
        src, tgt = self.process_nodes
        pos = self._node_position
        owners = [(pos[k], c, None) for k, c in (*self.supply.items(), *self.demand.items())]
        owners += [(int(tgt[i]), p.cost, (int(src[i]), p.theta)) for i, p in enumerate(self.processes)]
        for n, curve, source in owners:
            q = curve.reference_quantity()
            if math.isfinite(q) and q > 0:
                size[n] = max(size[n], q)
                if source is not None:
                    size[source[0]] = max(size[source[0]], source[1] * q)
        for j, terms in zip(self.joint, self.joint_terms):
            q = j.cost.reference_quantity()
            if math.isfinite(q) and q > 0:
                for n, a in terms:
                    size[n] = max(size[n], abs(a) * q)
        return np.array(size)

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
    def quantity_floor(self) -> float:
        """The smallest positive reference quantity or step block of any
        curve: the verifier's smallest local scale
        (:func:`mineq.solver.verify.verify`).  Never larger than any
        curve's own size, and a new curve can only lower it, so no entry
        of the data widens another's check through it."""
        qs = [c.reference_quantity() for _, _, c in self.curves()]
        qs += [float(q) for _, _, c in self.curves() for q in getattr(c, "qty", ())]
        qs = [abs(q) for q in qs if math.isfinite(q) and q > 0]
        return float(min(qs)) if qs else 1.0

    @cached_property
    def node_price_scale(self) -> np.ndarray:
        """Per node: the price scale the verifier judges the node's prices
        by.  :attr:`price_scale` everywhere, except in a linked market
        (:mod:`mineq.models.joint`, stages named ``"mineral:stage"``),
        where each member's nodes keep the scale the member has alone:
        linking lanthanum (1 USD/kg) with neodymium (73 USD/kg) must
        neither loosen the check of the one nor tighten the other's."""
        n = len(self.nodes)
        if not any(":" in s for s in self.stages):
            return np.full(n, self.price_scale)
        # the levels by member (stages "mineral:stage"), then each
        # member's median; grouped by stage first, and route costs by
        # their origin node's member: a member's median is of the same
        # numbers in any order
        member = {s: s.partition(":")[0] for s in self.stages}
        levels: dict[str, list[float]] = {}
        for kind, key, c in self.curves():
            if kind != "joint":
                levels.setdefault(member[key[0]], []).extend(c.scale_levels())
        if self.routes:
            names = list(dict.fromkeys(member.values()))
            at = {m: k for k, m in enumerate(names)}
            of_node = np.array([at[member[s]] for s, _ in self.nodes], dtype=np.intp)
            cost = self.route_costs
            paid = cost > 0
            route_member = of_node[self.route_nodes[0]]
            routed = {}
            for k, m in enumerate(names):
                got = cost[paid & (route_member == k)]
                if len(got):
                    routed[m] = got
                    levels.setdefault(m, [])
        else:
            routed = {}
        # a member without a finite non-zero level (fixed curves alone, no
        # priced route) keeps the market's scale, as before
        typical = {m: _median(v, routed.get(m)) for m, v in levels.items() if v or m in routed}
        return np.array([typical.get(member[s], self.price_scale) for s, _ in self.nodes])

    @cached_property
    def price_scale(self) -> float:
        """A typical price (median of curve levels near reference), for scaling."""
        ps: list[float] = []
        # the curves of :meth:`curves`, without its tuples (a drawn
        # market's 1,100 curves are read afresh)
        for c in (*self.supply.values(), *self.demand.values(), *(p.cost for p in self.processes), *(j.cost for j in self.joint)):
            ps += c.scale_levels()
        paid = None
        if self.routes:
            cost = self.route_costs
            paid = cost[cost > 0]
        return _median(ps, paid) if ps or (paid is not None and len(paid)) else 1.0


#: from this many numbers on, :func:`_median` partitions an array instead
#: of sorting a list
MEDIAN_SORT = 100


def _median(values: list[float], extra: np.ndarray | None = None) -> float:
    """numpy's median of ``values`` and ``extra`` (the mean of the middle
    two of an even count: the same sum and division).  A few dozen
    numbers (a market's curve levels) are sorted as a list, where
    ``np.median`` took 77 µs, and an ensemble's draw makes 46 of them;
    more (a linked market's 7,000 route costs) are partitioned as an
    array: 25 µs instead of 670 to sort them.  Either way the middle
    numbers are the same, and so is the median."""
    n = len(values) + (len(extra) if extra is not None else 0)
    h = n // 2
    if n >= MEDIAN_SORT:
        a = np.asarray(values, dtype=float) if extra is None else np.concatenate([np.asarray(values, dtype=float), np.asarray(extra, dtype=float)])
        s = np.partition(a, h if n % 2 else (h - 1, h))
    else:
        s = sorted(values if extra is None else [*values, *np.asarray(extra, dtype=float).tolist()])
    return float(s[h]) if n % 2 else float((s[h - 1] + s[h]) / 2)


#: :class:`Market`'s cached index helpers that depend only on which nodes
#: have curves, which routes exist, the processes and the joint
#: activities, not on any number: :meth:`Market.drawn` keeps them.  (A
#: helper added to Market that reads a curve, a cost or a slope must not
#: be named here.)
STRUCTURE = ("nodes", "_node_position", "route_list", "route_nodes", "route_table", "route_labels", "process_nodes", "connected", "joint_terms", "disposal_nodes")
#: what follows from the curves' forms, reference quantities, capacities
#: and steps alone, not from their prices or slopes (:meth:`Market.drawn`)
QUANTITIES = ("node_quantities", "quantity_scale", "quantity_floor", "exact")


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
    #: shadow price μ of each :attr:`PolicyPlan.extensions` row (price
    #: unit per unit of the row; models/extensions.py)
    extension_price: np.ndarray = field(default_factory=lambda: np.zeros(0))
    #: engine-internal: the program's block values (scaled), a warm start
    block_values: np.ndarray | None = None
    #: level of each :attr:`Market.joint` activity (units of activity)
    joint: np.ndarray = field(default_factory=lambda: np.zeros(0))
    #: per node: output of joint activities disposed of (empty: none)
    disposal: np.ndarray = field(default_factory=lambda: np.zeros(0))
    #: a member of a linked market (:mod:`mineq.models.joint`): per node,
    #: the net output of the linked market's joint activities here
    #: (yields positive, inputs negative; empty: not a member)
    joint_net: np.ndarray = field(default_factory=lambda: np.zeros(0))
    #: a member of a linked market: per node, this mineral's share of the
    #: joint activities' surplus (money; shares by sales value)
    joint_surplus: np.ndarray = field(default_factory=lambda: np.zeros(0))
