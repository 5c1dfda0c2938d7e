"""``capacity_shock``: producers or processors of ``regions`` scaled by ``factor``.

Every quantity of the affected curves is multiplied by ``factor`` (a
supply curve shifts horizontally: at each price, ``factor`` times the
output; capacities scale too; ``0`` shuts the capacity down).
``target`` is ``"supply"`` (own supply curves at the stage),
``"processing"`` (processing into the stage) or ``"all"`` (default).
The scenario then solves the changed market: nothing else to verify.
"""

from __future__ import annotations

from dataclasses import replace

from ..market import Process
from .base import Instrument, choice, number, register


@register
class CapacityShock(Instrument):
    type = "capacity_shock"
    keys = ("regions", "factor", "target")
    priority = 0  # the other instruments see the shocked market

    def read(self, spec, regions):
        self.regions = regions.resolve(spec.get("regions", "(missing)"), "regions")
        self.factor = number(spec, "factor", minimum=0.0)
        self.target = choice(spec, "target", ("supply", "processing", "all"), default="all")

    def apply(self, plan, baseline):
        mk = plan.market
        stage = self.stage_of(mk)
        supply = dict(mk.supply)
        processes = list(mk.processes)
        for r in self.regions:
            if self.target in ("supply", "all") and (stage, r) in supply:
                supply[(stage, r)] = supply[(stage, r)].scaled(self.factor)
            if self.target in ("processing", "all"):
                for k, p in enumerate(processes):
                    if p.target == stage and p.region == r:
                        processes[k] = Process(p.region, p.source, p.target, p.theta, p.cost.scaled(self.factor), p.meta)
        plan.market = replace(mk, supply=supply, processes=processes)
