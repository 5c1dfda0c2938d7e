"""``minimum_import_price``: no covered import lands below ``M``.

On covered routes ``o -> d`` (``origins``, or all but ``exempt``) into
each of ``importers``, the border price is ``max(CIF, M)`` with
``CIF = P[o] + export wedges + t[o,d]``; the gap ``max(0, M − CIF)`` per
unit is a levy collected by the importer's government (``rent = "levy"``)
or kept by the exporter (``rent = "undertaking"``, a price undertaking).
The two give the same quantities and prices; only the transfer differs.
Arbitrage (SPEC §2.4):  ``X ⟂ max(CIF, M)·(1 + τ) + τ_sp − P[d]``.

The levy moves with the exporter's price, so no single convex program
has this equilibrium: the solver uses a fixed point over the wedges and
falls back on a MILP over the complementarity conditions.

``level_vs_baseline`` sets ``M`` to a factor times the importer's
baseline price at the stage.
"""

from __future__ import annotations

from ..errors import SpecError
from .base import Instrument, choice, origins_of, register


@register
class MinimumImportPrice(Instrument):
    type = "minimum_import_price"
    keys = ("importers", "origins", "exempt", "level", "level_vs_baseline", "rent")

    def read(self, spec, regions):
        self.importers = regions.resolve(spec.get("importers", "(missing)"), "importers")
        self.origins = origins_of(spec, regions, "origins")
        self.read_level(spec)
        self.rent = choice(spec, "rent", ("levy", "undertaking"), default="levy")

    def apply(self, plan, baseline):
        mk = plan.market
        stage = self.stage_of(mk)
        for d in self.importers:
            level = self.level_at(mk, mk.node_index(stage, d), baseline)
            for i in self.route_indices(mk, stage, [d], self.origins):
                terms = plan.route(i)
                if terms.mip > -float("inf") and terms.mip_rent != self.rent:
                    raise SpecError("rent", self.rent, f"the same rent as the other minimum import price on {mk.name} {mk.route_list[i][1]}->{d} ('{terms.mip_rent}')")
                terms.mip = max(terms.mip, level)
                terms.mip_rent = self.rent
                terms.sources.append(self.label)
