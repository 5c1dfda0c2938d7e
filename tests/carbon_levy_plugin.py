"""An instrument written outside mineq, as in README "Adding an instrument".

``carbon_border_levy``: a charge per unit on imports, the carbon price
times the origin's emission intensity (t CO2 per quantity unit).  It is
a specific tariff per route, so it needs only the route primitive.
"""

from mineq.models.errors import SpecError
from mineq.models.policies import Instrument, register
from mineq.models.policies.base import number


@register
class CarbonBorderLevy(Instrument):
    type = "carbon_border_levy"
    keys = ("importers", "carbon_price", "intensity")

    def read(self, spec, regions):
        self.importers = regions.resolve(spec.get("importers", "(missing)"), "importers")
        self.carbon_price = number(spec, "carbon_price", minimum=0.0)
        self.intensity = spec.get("intensity", {})
        if not isinstance(self.intensity, dict):
            raise SpecError("intensity", self.intensity, "a table region = t CO2 per unit")
        for r in self.intensity:
            regions.resolve(r, "intensity")

    def apply(self, plan, baseline):
        mk = plan.market
        for i in self.route_indices(mk, self.stage_of(mk), self.importers, None):
            origin = mk.route_list[i][1]
            terms = plan.route(i)
            terms.tariff_sp += self.carbon_price * float(self.intensity.get(origin, 0.0))
            terms.sources.append(self.label)
