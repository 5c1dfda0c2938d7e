"""Linked markets: minerals that share a joint-production activity.

Most critical minerals are not mined for themselves.  The fifteen rare
earths come out of the same ores in fixed proportions (Binnemans & Jones
2015, "Rare Earths and the Balance Problem", J. Sustain. Metall. 1), and
gallium comes out of alumina liquor.  A joint activity
(:class:`mineq.models.market.Joint`) ties the markets of its inputs and
outputs together: its condition

    Y ⟂ Σ_outputs y·P_out − Σ_inputs a·P_in − MCjoint(Y)

holds prices of different minerals in one equation, so those minerals
are solved as **one** welfare program.  :class:`Linked` builds it: a
:class:`~mineq.models.market.Market` whose stages are the members' stages
named ``"mineral:stage"`` (``"neodymium:refined"``), holding every
member's curves, routes and processes unchanged, plus the joint
activities and free disposal at their outputs.  Minerals no activity
links stay separate programs.

Between the linked program and the rest of mineq, which reads one
mineral at a time, :class:`Linked` translates both ways:

* :meth:`Linked.plan` merges the members' policy plans into one plan of
  the linked market (indices shifted, nothing else changed);
* :meth:`Linked.split` cuts a solution of the linked market into one
  solution per member, each carrying the joint activities' net output at
  its nodes (``joint_net``), what is disposed of there (``disposal``) and
  its share of the activities' surplus (``joint_surplus``, shared by sales
  value: the "relative sales value" method of joint-cost accounting);
* :meth:`Linked.join` puts member solutions and activity levels back
  together (a result file stores them so), for the verifier.

Money must be in one unit across the members (price unit × quantity unit:
USD/kg × kg and USD/t × t are both USD); the quantity units may differ,
the yields convert them (kg of gallium per t of aluminium).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .market import QUANTITIES, Joint, Market, Process, Solution

#: what separates a member mineral from its stage in the linked market
SEP = ":"


def qualified(mineral: str, stage: str) -> str:
    """The linked market's name of a member's stage."""
    return f"{mineral}{SEP}{stage}"


class Linked:
    """The one market of a group of minerals linked by joint activities.

    ``members`` maps mineral → its own :class:`Market` (all on the same
    regions), in the order the linked market lays them out; ``joint`` are
    the activities, whose stages are qualified names.  :attr:`market` is
    the linked market.
    """

    def __init__(self, name: str, members: dict[str, Market], joint: list[Joint], like: Linked | None = None):
        self.name = name
        self.members = dict(members)
        self.joint = list(joint)
        # ``like``: a link of the same members and activities whose member
        # markets have the same nodes, routes and processes (a draw of an
        # ensemble, a scenario's plan): its market is re-used for all but
        # the numbers (:meth:`_relabelled`)
        self.market = (like is not None and self._relabelled(like)) or self._build(self.members)
        # where each member's nodes, routes and processes sit in the linked market
        self.offsets: dict[str, tuple[int, int, int]] = {}
        n = r = p = 0
        for mineral, m in self.members.items():
            self.offsets[mineral] = (n, r, p)
            n, r, p = n + len(m.nodes), r + len(m.route_list), p + len(m.processes)

    def _build(self, members: dict[str, Market]) -> Market:
        first = next(iter(members.values()))
        stages, supply, demand, routes, slopes, processes = [], {}, {}, {}, {}, []
        for mineral, m in members.items():
            if m.regions != first.regions:
                raise ValueError(f"linked market '{self.name}': {mineral} has regions {m.regions}, {first.name} has {first.regions}")
            q = lambda s, mineral=mineral: qualified(mineral, s)  # noqa: E731
            stages += [q(s) for s in m.stages]
            supply.update({(q(s), r): c for (s, r), c in m.supply.items()})
            demand.update({(q(s), r): c for (s, r), c in m.demand.items()})
            routes.update({(q(s), o, d): t for (s, o, d), t in m.routes.items()})
            slopes.update({(q(s), o, d): v for (s, o, d), v in m.route_slopes.items()})
            processes += [Process(p.region, q(p.source), q(p.target), p.theta, p.cost, p.meta) for p in m.processes]
        return Market(self.name, stages, list(first.regions), first.quantity_unit, first.price_unit, supply, demand, routes, processes, slopes, self.joint)

    def _relabelled(self, like: Linked) -> Market | None:
        """The linked market of :attr:`members` made from ``like``'s: its
        qualified keys, in its order, carrying the members' curves, costs
        and slopes, with its index helpers (:meth:`Market.drawn`); None
        where a member's nodes with curves, routes or processes differ
        from the ones ``like`` was built on, or the activities differ.
        The keys' order is the members' own, as :meth:`_build` lays them
        out, so the market is the one :meth:`_build` makes, number for
        number (``tests/test_joint.py``), without naming every key again:
        a draw of the bundled case's six linked markets took 8 ms."""
        if list(like.members) != list(self.members) or len(like.joint) != len(self.joint) or any(a is not b for a, b in zip(like.joint, self.joint)):
            return None
        supply, demand, routes, slopes = [], [], [], []
        for m, old in like.members.items():
            new = self.members[m]
            if new is old:
                pass
            elif (new.stages != old.stages or new.regions != old.regions or len(new.processes) != len(old.processes)
                    or any(a is not b for a, b in zip(new.processes, old.processes))
                    or list(new.supply) != list(old.supply) or list(new.demand) != list(old.demand)
                    or list(new.routes) != list(old.routes) or list(new.route_slopes) != list(old.route_slopes)):
                return None
            supply += new.supply.values()
            demand += new.demand.values()
            routes += new.routes.values()
            slopes += new.route_slopes.values()
        mk = like.market
        # every member's quantities carried from ``like``'s (an ensemble's
        # draw, Market.drawn(quantities=True)): the linked market's too
        same = all(new is old or all(k in new.__dict__ and new.__dict__[k] is old.__dict__.get(k) for k in QUANTITIES)
                   for new, old in zip(self.members.values(), like.members.values()))
        # the route arrays, where every member has them: the linked
        # market's routes are the members' in turn, each in its own order
        arrays = {a: np.concatenate([m.__dict__[a] for m in self.members.values()]) for a in ("route_costs", "route_slope")
                  if all(a in m.__dict__ for m in self.members.values())}
        return mk.drawn(dict(zip(mk.supply, supply)), dict(zip(mk.demand, demand)), dict(zip(mk.routes, routes)), dict(zip(mk.route_slopes, slopes)), arrays, quantities=same)

    def with_members(self, members: dict[str, Market]) -> Linked:
        """The same link over changed member markets (a scenario's capacity
        shock changes a member's curves, never its nodes or routes; an
        ensemble's draw its curves, costs and slopes)."""
        return Linked(self.name, {m: members.get(m, mk) for m, mk in self.members.items()}, self.joint, like=self)

    def fed(self, mineral: str) -> frozenset:
        """The member's nodes (its own indices) that joint activities able
        to run deliver to."""
        n0 = self.offsets[mineral][0]
        size = len(self.members[mineral].nodes)
        return frozenset(n - n0 for jp, terms in zip(self.joint, self.market.joint_terms) if jp.cost.upper > 0 for n, a in terms if a > 0 and n0 <= n < n0 + size)

    # -- policies ---------------------------------------------------------
    def plan(self, plans: dict):
        """One :class:`mineq.models.policies.PolicyPlan` of the linked market
        from the members' plans (``None`` or missing: no policy on that
        member).  Returns None when no member has a plan."""
        from .policies.plan import OriginRule, PolicyPlan, Quota, Seller

        if not any(plans.get(m) is not None for m in self.members):
            return None
        linked = self.with_members({m: p.market for m, p in plans.items() if p is not None})
        out = PolicyPlan(linked.market)
        for mineral, m in self.members.items():
            p = plans.get(mineral)
            if p is None:
                continue
            if p.extensions:
                from .errors import SpecError

                raise SpecError("extension", p.extensions[0].name, f"a policy on a mineral mined separately: {mineral} is produced jointly with {', '.join(x for x in self.members if x != mineral)}, and extension rows on linked markets are not supported yet")
            n0, r0, k0 = self.offsets[mineral]
            out.routes.update({i + r0: t for i, t in p.routes.items()})
            out.supply_floors.update({i + n0: f for i, f in p.supply_floors.items()})
            out.process_floors.update({k + k0: f for k, f in p.process_floors.items()})
            fed = self.fed(mineral)
            out.joint_floors.update({n + n0: f for n, f in p.joint_floors.items() if n in fed})
            out.offtakes += [replace(o, node=o.node + n0) for o in p.offtakes]
            out.quotas += [Quota([i + r0 for i in q.routes], q.quantity, list(q.holders), q.label) for q in p.quotas]
            out.origin_rules += [OriginRule(r.node + n0, [i + r0 for i in r.routes], r.label) for r in p.origin_rules]
            out.sellers += [Seller(sl.node + n0, sl.conduct, [i + r0 for i in sl.routes], {d + n0: b for d, b in sl.slopes.items()}, sl.region, sl.label) for sl in p.sellers]
            out.release[n0 : n0 + len(m.nodes)] = p.release
            # a floor idle in the member alone pays the joint activities here
            paid = {"{}/{}".format(*m.nodes[n]) for n in p.joint_floors if n in fed}
            out.idle += [x for x in p.idle if x[0] not in paid]
        return out

    # -- solutions ----------------------------------------------------------
    def split(self, sol: Solution, plans: dict | None = None) -> dict[str, Solution]:
        """One :class:`Solution` per member from a solution of the linked market."""
        plans = plans or {}
        mk = self.market
        net = mk.joint_net(sol.joint)
        surplus = self.surplus(sol)
        disposal = np.asarray(sol.disposal, dtype=float) if len(sol.disposal) else np.zeros(len(mk.nodes))
        out = {}
        counts = [0, 0, 0]  # offtakes, quotas, origin rules taken so far
        for mineral, m in self.members.items():
            n0, r0, k0 = self.offsets[mineral]
            nodes, routes, procs = slice(n0, n0 + len(m.nodes)), slice(r0, r0 + len(m.route_list)), slice(k0, k0 + len(m.processes))
            p = plans.get(mineral)
            take = [len(p.offtakes), len(p.quotas), len(p.origin_rules)] if p is not None else [0, 0, 0]
            parts = []
            for k, (arr, t) in enumerate(zip((sol.offtake, sol.quota_rent, sol.origin_rent), take)):
                parts.append(np.asarray(arr, dtype=float)[counts[k] : counts[k] + t])
                counts[k] += t
            out[mineral] = Solution(
                supply=np.asarray(sol.supply, dtype=float)[nodes].copy(),
                demand=np.asarray(sol.demand, dtype=float)[nodes].copy(),
                price=np.asarray(sol.price, dtype=float)[nodes].copy(),
                flow=np.asarray(sol.flow, dtype=float)[routes].copy(),
                processing=np.asarray(sol.processing, dtype=float)[procs].copy(),
                objective=sol.objective,  # the linked program's optimum: one program
                iterations=sol.iterations,
                status=sol.status,
                offtake=parts[0],
                quota_rent=parts[1],
                origin_rent=parts[2],
                joint=np.asarray(sol.joint, dtype=float).copy(),
                disposal=disposal[nodes].copy(),
                joint_net=net[nodes].copy(),
                joint_surplus=surplus[nodes].copy(),
            )
        return out

    def surplus(self, sol: Solution) -> np.ndarray:
        """:meth:`surplus_of` the linked market."""
        return self.surplus_of(self.market, sol)

    @staticmethod
    def surplus_of(mk: Market, sol: Solution) -> np.ndarray:
        """Per node of a market with joint activities: its share of their
        surplus ``Σ y·P·Y − Σ a·P_in·Y − ∫MCjoint`` (money).  Each output
        node gets the share of its sales value ``y·P·Y`` in the activity's
        (by yield when no output has a positive price)."""
        price = np.asarray(sol.price, dtype=float)
        out = np.zeros(len(mk.nodes))
        for j, (jp, terms) in enumerate(zip(mk.joint, mk.joint_terms)):
            y = float(sol.joint[j])
            if y == 0.0:
                continue
            total = sum(a * price[n] for n, a in terms) * y - jp.cost.integral(y)
            outs = [(n, a) for n, a in terms if a > 0]
            value = np.array([max(price[n], 0.0) * a for n, a in outs])
            share = value / value.sum() if value.sum() > 0 else np.array([a for _, a in outs]) / sum(a for _, a in outs)
            for (n, _), s in zip(outs, share):
                out[n] += s * total
        return out

    def join(self, solutions: dict[str, Solution], joint: np.ndarray) -> Solution:
        """The linked market's solution from member solutions (as a result
        file stores them) and the activity levels.  Policy multipliers are
        concatenated in member order, as :meth:`plan` orders their rows."""
        cat = lambda name: np.concatenate([np.asarray(getattr(solutions[m], name), dtype=float) for m in self.members])  # noqa: E731
        disposal = np.concatenate([np.asarray(solutions[m].disposal, dtype=float) if len(solutions[m].disposal) else np.zeros(len(mk.nodes)) for m, mk in self.members.items()])
        return Solution(
            supply=cat("supply"), demand=cat("demand"), price=cat("price"), flow=cat("flow"), processing=cat("processing"),
            objective=float("nan"), offtake=cat("offtake"), quota_rent=cat("quota_rent"), origin_rent=cat("origin_rent"),
            joint=np.asarray(joint, dtype=float), disposal=disposal,
        )
