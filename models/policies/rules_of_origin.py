"""``rules_of_origin``: exports to covered importers must be the exporter's own output.

For each of ``exporters`` at the policy's stage:
``Σ_{covered d} X[o->d] <= S[o] + processing output at o`` — material
imported from elsewhere cannot be re-exported to ``importers``.  Without
it a homogeneous-goods model lets a minimum import price or an export ban
be circumvented through an exempt third country.  The rule's shadow price
``λ ⟂ own output − Σ X`` is an origin rent: landed prices on the covered
routes rise by ``λ`` and the exporter's producers and refiners earn
``P + λ`` (SPEC §2.2, §2.4, §2.5 with the rent as a wedge).  Exact in the
welfare program: a linear constraint.
"""

from __future__ import annotations

from ..errors import SpecError
from .base import Instrument, register
from .plan import OriginRule


@register
class RulesOfOrigin(Instrument):
    type = "rules_of_origin"
    keys = ("exporters", "importers")

    def read(self, spec, regions):
        self.exporters = regions.resolve(spec.get("exporters", "(missing)"), "exporters")
        self.importers = regions.resolve(spec.get("importers", "(missing)"), "importers")

    def apply(self, plan, baseline):
        mk = plan.market
        stage = self.stage_of(mk)
        for o in self.exporters:
            n = mk.node_index(stage, o)
            if any(r.node == n for r in plan.origin_rules):
                raise SpecError("exporters", o, f"one rules_of_origin per exporter and stage ({mk.name} {stage}/{o} has two)")
            idx = self.route_indices(mk, stage, [d for d in self.importers if d != o], [o])
            if idx:
                plan.origin_rules.append(OriginRule(node=n, routes=idx, label=f"{self.label}: exports of {o}"))
