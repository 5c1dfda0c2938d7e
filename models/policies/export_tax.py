"""``export_tax``: a duty on exports, ad valorem on the FOB price and/or specific.

On covered routes from each of ``exporters`` (to ``destinations``, or all
but ``exempt``) the CIF price becomes ``P[o]·(1 + ad_valorem) + specific
+ t``.  Revenue goes to the exporter's government.  An ad valorem rate is
a price-dependent wedge (fixed point); a specific one is exact.  A high
enough tax is a ban in effect; ``export_quota`` with quantity 0 is the
ban itself.
"""

from __future__ import annotations

from ..errors import SpecError
from .base import Instrument, number, origins_of, register


@register
class ExportTax(Instrument):
    type = "export_tax"
    keys = ("exporters", "destinations", "exempt", "ad_valorem", "specific")

    def read(self, spec, regions):
        self.exporters = regions.resolve(spec.get("exporters", "(missing)"), "exporters")
        self.destinations = origins_of(self, spec, regions, "destinations", self.exporters)
        if "ad_valorem" not in spec and "specific" not in spec:
            raise SpecError("ad_valorem", "(missing)", "ad_valorem (a fraction such as 0.25) and/or specific (price units per unit)")
        self.ad_valorem = number(spec, "ad_valorem", minimum=0.0, default=0.0)
        self.specific = number(spec, "specific", minimum=0.0, default=0.0)

    def apply(self, plan, baseline):
        mk = plan.market
        for i in self.route_indices(mk, self.stage_of(mk), self.destinations, self.exporters):
            terms = plan.route(i)
            terms.export_av += self.ad_valorem
            terms.export_sp += self.specific
            terms.sources.append(self.label)
