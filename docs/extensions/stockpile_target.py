"""Worked extension 3 (docs/extensions.md): a stockpile purchase target
with a budget.

``region``'s government buys ``quantity`` in total at the ``stage`` of the
``sources`` (its own and partners' markets), wherever it is cheapest,
paying the market price, and spends at most ``budget`` (money: price unit
× quantity unit).  Two parts:

* a purchase at each source node, as a government demand that pays up to
  ``budget / quantity`` per unit (the built-in offtake primitive), so
  that spending can never pass the budget;
* one row over all the purchases (the extension):

      Σ_sources offtake[stage, source] ≤ quantity

While prices stay below ``budget / quantity`` the target binds: its
shadow price ``μ = P − budget/quantity ≤ 0`` makes every purchase pay the
market price at its node, and ``−μ·quantity``, the part of the budget
left unspent, is the government's (``extension_rent``).  When prices
reach ``budget / quantity`` the budget binds instead and less than the
target is bought.
"""

from mineq.models.extensions import Extension
from mineq.models.policies import register
from mineq.models.policies.base import number
from mineq.models.policies.plan import Offtake


@register
class StockpileTarget(Extension):
    type = "stockpile_target"
    keys = ("region", "sources", "quantity", "budget")

    def read(self, spec, regions):
        (self.region,) = regions.resolve(spec.get("region", "(missing)"), "region")[:1]
        self.sources = regions.resolve(spec.get("sources", self.region), "sources")
        self.quantity = number(spec, "quantity", minimum=0.0, strict=True)
        self.budget = number(spec, "budget", minimum=0.0, strict=True)
        self.holder = self.region

    def apply(self, plan, baseline):
        mk = plan.market
        s = self.stage_of(mk)
        self.first = len(plan.offtakes)
        for r in self.sources:
            node = mk.node_index(s, r)
            if mk.connected[node]:
                plan.offtakes.append(Offtake(node=node, level=self.budget / self.quantity, region=self.region, source=self.label))
        self.last = len(plan.offtakes)
        super().apply(plan, baseline)

    def constraints(self, m, market):
        mine = [o for o in m.OFFTAKES if self.first <= o[2] < self.last]
        return {"purchase target": sum(m.offtake[o] for o in mine) <= self.quantity}
