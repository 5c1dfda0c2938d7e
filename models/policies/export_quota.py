"""``export_quota``: each exporter's covered exports are at most ``quantity``.

For each of ``exporters``: ``Σ_{covered d} X[o->d] <= quantity``; ``0``
is an export ban (export controls).  The rent ``λ ⟂ quantity − Σ X`` goes
to the exporter (``rent_to = "exporter"``, default: export licences) or
to the importers (``"importer"``).  Exact: a linear constraint.
"""

from __future__ import annotations

from .base import Instrument, choice, number, origins_of, register
from .plan import Quota


@register
class ExportQuota(Instrument):
    type = "export_quota"
    keys = ("exporters", "destinations", "exempt", "quantity", "rent_to")

    def read(self, spec, regions):
        self.exporters = regions.resolve(spec.get("exporters", "(missing)"), "exporters")
        self.destinations = origins_of(spec, regions, "destinations")
        self.quantity = number(spec, "quantity", minimum=0.0)
        self.rent_to = choice(spec, "rent_to", ("exporter", "importer"), default="exporter")

    def apply(self, plan, baseline):
        mk = plan.market
        for o in self.exporters:
            idx = self.route_indices(mk, self.stage_of(mk), self.destinations, [o])
            if idx:
                holders = [mk.route_list[i][1 if self.rent_to == "exporter" else 2] for i in idx]
                plan.quotas.append(Quota(routes=idx, quantity=self.quantity, holders=holders, label=f"{self.label}: exports of {o}"))
