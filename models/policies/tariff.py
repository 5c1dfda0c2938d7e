"""``tariff``: an import duty, ad valorem and/or specific.

On covered routes into each of ``importers`` the landed price becomes
``border·(1 + ad_valorem) + specific`` where ``border = max(CIF, MIP)``
(the CIF price, or the minimum import price where one applies).  Revenue
goes to the importer's government.  A specific tariff is a fixed cost on
the route (exact in one quadratic program); an ad valorem one moves with
the exporter's price and is found by fixed point.  Several tariffs on one
route add up.
"""

from __future__ import annotations

from .base import Instrument, origins_of, rates, register


@register
class Tariff(Instrument):
    type = "tariff"
    keys = ("importers", "origins", "exempt", "ad_valorem", "specific")

    def read(self, spec, regions):
        self.importers = regions.resolve(spec.get("importers", "(missing)"), "importers")
        self.origins = origins_of(spec, regions, "origins")
        self.ad_valorem, self.specific = rates(spec)

    def apply(self, plan, baseline):
        mk = plan.market
        for i in self.route_indices(mk, self.stage_of(mk), self.importers, self.origins):
            terms = plan.route(i)
            terms.tariff_av += self.ad_valorem
            terms.tariff_sp += self.specific
            terms.sources.append(self.label)
