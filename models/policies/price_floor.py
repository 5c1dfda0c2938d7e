"""``price_floor``: a guaranteed price for eligible producers or a stockpile bid.

Mechanism ``deficiency_payment`` (a contract for difference).  Eligible
producers at the policy's stage in ``regions`` earn ``max(P, F)``; the
region's government pays ``max(0, F − P)`` per covered unit, on at most
``cap`` units per region.  Equilibrium conditions (SPEC §2.2, §2.5):

    producers   S ⟂ MC(S) − max(P, F)            (first ``cap`` units)
    processors  Y ⟂ θ·P[up] + MCproc(Y) − max(P, F)
    joint       Y ⟂ MCjoint(Y) − Σ y·P − y_F·max(0, F − P_F)
                (an activity delivering the floored element: first
                ``cap`` units of it)

For producers with an own supply curve this is exact in the welfare
program: they produce at least ``L = min(cap, MC⁻¹(F))`` whatever the
price, and above ``L`` follow their curve.  For processors the floor gap
depends on the upstream price as well, a price-dependent credit the
solver finds by fixed point (``covers`` chooses producers, processors or
both, default both).

Mechanism ``offtake``.  The government of each region buys ``G ⟂ P − F``
at the floor, at most ``cap`` units or ``budget / F``; past that cap the
price may fall below the floor.  It pays ``F·G`` (``offtake_outlay``).
"""

from __future__ import annotations

import math

from ..errors import SpecError
from .base import Instrument, choice, number, register
from .plan import Floor, Offtake


@register
class PriceFloor(Instrument):
    type = "price_floor"
    keys = ("mechanism", "regions", "level", "level_vs_baseline", "cap", "budget", "covers")

    def read(self, spec, regions):
        self.mechanism = choice(spec, "mechanism", ("deficiency_payment", "offtake"))
        self.regions = regions.resolve(spec.get("regions", "(missing)"), "regions")
        self.read_level(spec)
        if not self.relative and self.level <= 0:
            raise SpecError("level", self.level, "a floor price > 0")
        self.cap = number(spec, "cap", minimum=0.0, default=math.inf)
        if self.mechanism == "deficiency_payment":
            if "budget" in spec:
                raise SpecError("budget", spec["budget"], "no budget for a deficiency payment (limit it with cap, the covered quantity); budget applies to mechanism = \"offtake\"")
            self.covers_what = choice(spec, "covers", ("producers", "processors", "all"), default="all")
        else:
            if "covers" in spec:
                raise SpecError("covers", spec["covers"], "no covers key for an offtake (the government buys at the node whoever produced it)")
            self.budget = number(spec, "budget", minimum=0.0, default=math.inf)

    def apply(self, plan, baseline):
        mk = plan.market
        stage = self.stage_of(mk)
        for r in self.regions:
            n = mk.node_index(stage, r)
            level = self.level_at(mk, n, baseline)
            if self.mechanism == "offtake":
                if any(o.node == n for o in plan.offtakes):
                    raise SpecError("regions", r, f"one offtake per node ({mk.name} {stage}/{r} has two)")
                qty = min(self.cap, self.budget / level if level > 0 else math.inf)
                plan.offtakes.append(Offtake(node=n, level=level, quantity=qty, region=r, source=self.label))
                continue
            floor = Floor(level=level, cap=self.cap, region=r, source=self.label)
            eligible = (self.covers_what in ("producers", "all") and (stage, r) in mk.supply) or (
                self.covers_what in ("processors", "all") and any(p.target == stage and p.region == r for p in mk.processes))
            if not eligible:
                plan.idle.append((f"{stage}/{r}", f"price floor ({self.label}) has no eligible {'producers or processors' if self.covers_what == 'all' else self.covers_what} in {r} at the {stage} stage; it pays nothing there"))
            if self.covers_what in ("producers", "all") and (stage, r) in mk.supply:
                if n in plan.supply_floors:
                    raise SpecError("regions", r, f"one deficiency-payment floor per node ({mk.name} {stage}/{r} has two)")
                plan.supply_floors[n] = floor
            elif self.covers_what in ("producers", "all"):
                # no own supply curve: if the mineral is mined jointly, the
                # floor pays the joint activities for what they deliver here
                # (mineq.models.joint.Linked.plan drops the diagnosis above)
                if n in plan.joint_floors:
                    raise SpecError("regions", r, f"one deficiency-payment floor per node ({mk.name} {stage}/{r} has two)")
                plan.joint_floors[n] = floor
            if self.covers_what in ("processors", "all"):
                for k, p in enumerate(mk.processes):
                    if p.target == stage and p.region == r:
                        if k in plan.process_floors:
                            raise SpecError("regions", r, f"one deficiency-payment floor per process ({mk.name} {p.source}->{p.target} in {r} has two)")
                        plan.process_floors[k] = floor
