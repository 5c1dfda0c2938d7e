"""``stockpile_release``: ``quantity`` units sold from stocks at each region's node.

An exogenous supply at (stage, region): the balance of SPEC §2.1 gains
``+quantity``.  The releasing government sells at the market price
(``stockpile_release_revenue``).  Exact in the welfare program.
"""

from __future__ import annotations

from .base import Instrument, number, register


@register
class StockpileRelease(Instrument):
    type = "stockpile_release"
    keys = ("regions", "quantity")

    def read(self, spec, regions):
        self.regions = regions.resolve(spec.get("regions", "(missing)"), "regions")
        self.quantity = number(spec, "quantity", minimum=0.0)

    def apply(self, plan, baseline):
        mk = plan.market
        for r in self.regions:
            plan.release[mk.node_index(self.stage_of(mk), r)] += self.quantity
