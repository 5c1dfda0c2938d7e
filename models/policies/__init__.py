"""Policy instruments (SPEC §3), one module each.

``INSTRUMENTS`` maps a case file's ``type`` to its class; :func:`register`
adds one (also from outside this package); :func:`build_plan` applies a
scenario's instruments to one market.
"""

from __future__ import annotations

from ..market import Market, Solution
from . import capacity_shock, export_quota, export_tax, import_quota, minimum_import_price, price_floor, rules_of_origin, stockpile_release, tariff  # noqa: F401  (registration)
from . import market_power  # noqa: F401  (registration)
from .base import COMMON_KEYS, INSTRUMENTS, Instrument, Regions, register
from .plan import Floor, Offtake, OriginRule, PolicyPlan, Quota, RouteTerms, Seller

__all__ = ["COMMON_KEYS", "INSTRUMENTS", "Instrument", "Regions", "register", "build_plan", "PolicyPlan", "RouteTerms", "Floor", "Offtake", "Quota", "OriginRule", "Seller"]


def load_plugins() -> list[str]:
    """Import instruments defined outside mineq; returns the modules loaded.

    Two ways, both standard: a package declares an entry point in the
    group ``mineq.instruments`` (its module registers its classes on
    import), or the environment variable ``MINEQ_PLUGINS`` lists modules
    to import, comma-separated (handy for a script next to a case).
    """
    import importlib
    import os
    from importlib.metadata import entry_points

    loaded = []
    for ep in entry_points(group="mineq.instruments"):
        ep.load()
        loaded.append(ep.value)
    for name in filter(None, (n.strip() for n in os.environ.get("MINEQ_PLUGINS", "").split(","))):
        importlib.import_module(name)
        loaded.append(name)
    return loaded


def build_plan(market: Market, instruments: list[Instrument], baseline: Solution | None = None) -> PolicyPlan:
    """Apply ``instruments`` (in priority order) to ``market``."""
    plan = PolicyPlan(market=market)
    for inst in sorted(instruments, key=lambda i: i.priority):
        if inst.covers(plan.market):
            inst.apply(plan, baseline)
    market_power.check(plan)
    return plan
