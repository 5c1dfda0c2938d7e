"""``import_quota``: each importer's covered imports are at most ``quantity``.

For each of ``importers``: ``Σ_{covered o} X[o->d] <= quantity``
(``0`` is a ban).  The quota's shadow price ``λ ⟂ quantity − Σ X`` is a
rent per unit added to the landed price (SPEC §2.4); it goes to the
importer (``rent_to = "importer"``, default: licences auctioned or held
at home) or to the exporters (``"exporter"``, e.g. a voluntary export
restraint).  Exact in the welfare program: a linear constraint.
"""

from __future__ import annotations

from .base import Instrument, choice, number, origins_of, register
from .plan import Quota


@register
class ImportQuota(Instrument):
    type = "import_quota"
    keys = ("importers", "origins", "exempt", "quantity", "rent_to")

    def read(self, spec, regions):
        self.importers = regions.resolve(spec.get("importers", "(missing)"), "importers")
        self.origins = origins_of(spec, regions, "origins")
        self.quantity = number(spec, "quantity", minimum=0.0)
        self.rent_to = choice(spec, "rent_to", ("importer", "exporter"), default="importer")

    def apply(self, plan, baseline):
        mk = plan.market
        for d in self.importers:
            idx = self.route_indices(mk, self.stage_of(mk), [d], self.origins)
            if idx:
                holders = [mk.route_list[i][2 if self.rent_to == "importer" else 1] for i in idx]
                plan.quotas.append(Quota(routes=idx, quantity=self.quantity, holders=holders, label=f"{self.label}: imports of {d}"))
