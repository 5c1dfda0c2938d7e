"""``export_tax``: a duty on exports, ad valorem on the FOB price and/or specific.

On covered routes from each of ``exporters`` (to ``destinations``, or all
but ``exempt``) the CIF price becomes ``P[o]·(1 + ad_valorem) + specific
+ t``.  Revenue goes to the exporter's government.  An ad valorem rate is
a price-dependent wedge (fixed point); a specific one is exact.  A high
enough tax is a ban in effect; ``export_quota`` with quantity 0 is the
ban itself.
"""

from __future__ import annotations

from .base import Instrument, origins_of, rates, register


@register
class ExportTax(Instrument):
    type = "export_tax"
    keys = ("exporters", "destinations", "exempt", "ad_valorem", "specific")

    def read(self, spec, regions):
        self.exporters = regions.resolve(spec.get("exporters", "(missing)"), "exporters")
        self.destinations = origins_of(spec, regions, "destinations")
        self.ad_valorem, self.specific = rates(spec)

    def apply(self, plan, baseline):
        mk = plan.market
        for i in self.route_indices(mk, self.stage_of(mk), self.destinations, self.exporters):
            terms = plan.route(i)
            terms.export_av += self.ad_valorem
            terms.export_sp += self.specific
            terms.sources.append(self.label)
