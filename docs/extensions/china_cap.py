"""Worked extension 2 (docs/extensions.md): one cap on imports from an
exporter across every stage.

``importers`` together take at most ``quantity`` (the mineral's quantity
unit, contained) from ``exporter``, ores and refined material counted
together:

    Σ_stages Σ_importers flow[stage, exporter, importer] ≤ quantity

A built-in quota covers the routes of one stage; this row spans both, so
buyers shift between ore and refined imports until the licence is worth
the same on each.  Its shadow price ``μ ≤ 0`` is the licence value per
unit; the importers' governments hold the licences (rent ``−μ·quantity``
to ``holder``), and each exporter's flow is charged ``μ`` per unit.
"""

from mineq.models.extensions import Extension
from mineq.models.policies import register
from mineq.models.policies.base import number


@register
class CrossStageCap(Extension):
    type = "cross_stage_cap"
    keys = ("exporter", "importers", "quantity", "holder")

    def read(self, spec, regions):
        (self.exporter,) = regions.resolve(spec.get("exporter", "(missing)"), "exporter")[:1]
        self.importers = regions.resolve(spec.get("importers", "(missing)"), "importers")
        self.quantity = number(spec, "quantity", minimum=0.0)
        self.holder = regions.resolve(spec.get("holder", self.importers[0]), "holder")[0]

    def constraints(self, m, market):
        covered = [(s, o, d) for (s, o, d) in m.ROUTES if o == self.exporter and d in self.importers]
        return {f"imports from {self.exporter}": sum(m.flow[r] for r in covered) <= self.quantity}
