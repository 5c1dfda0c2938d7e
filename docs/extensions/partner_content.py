"""Worked extension 1 (docs/extensions.md): a partner-content requirement.

At least ``share`` of ``region``'s use of a stage (final demand plus what
its processors take in) comes from its own output or imports from
``partners``:

    own output + Σ_partners imports ≥ share · (demand + processing input)

Written as one Pyomo constraint on the labelled formulation; mineq adds
it to the program, prices it (``μ``, a premium per unit of qualifying
supply, paid for by the region's users) and checks it.  The row's value
is zero when it binds (a transfer from users to qualifying suppliers), so
its net rent is zero; who gains and who pays shows in the surpluses.
"""

from mineq.models.extensions import Extension
from mineq.models.policies import register
from mineq.models.policies.base import number


@register
class PartnerContent(Extension):
    type = "partner_content"
    keys = ("region", "partners", "share")

    def read(self, spec, regions):
        (self.region,) = regions.resolve(spec.get("region", "(missing)"), "region")[:1]
        self.partners = regions.resolve(spec.get("partners", "(missing)"), "partners")
        self.share = number(spec, "share", minimum=0.0)
        self.holder = self.region

    def constraints(self, m, market):
        s, r = self.stage_of(market), self.region
        own = (m.supply[s, r] if (s, r) in m.SUPPLY_NODES else 0) + sum(m.processing[p] for p in m.PROCESSES if p[0] == r and p[2] == s)
        partners = sum(m.flow[s, o, r] for o in self.partners if (s, o, r) in m.ROUTES)
        use = (m.demand[s, r] if (s, r) in m.DEMAND_NODES else 0) + sum(p.theta * m.processing[(p.region, p.source, p.target)] for p in market.processes if p.region == r and p.source == s)
        return {f"{r} {s} content": own + partners >= self.share * use}
