"""Welfare and indicators of one market solution (SPEC §4).

All money figures are in the mineral's price unit times its quantity unit
(e.g. USD/kg × kt = million USD).  Signs: a surplus is what the group
gains; ``government_net`` is revenue minus outlays.
"""

from __future__ import annotations

import math

import numpy as np

from models.market import Market, Solution


def _integral(curve, q: float) -> float:
    return curve.integral(q) if math.isfinite(q) else math.nan


def welfare(market: Market, sol: Solution) -> dict[str, np.ndarray]:
    """Surplus by region (arrays indexed like ``market.regions``).

    Consumer surplus ``∫_0^D PD - P·D`` (NaN where the integral diverges:
    fixed demand, isoelastic demand with ``|e| <= 1``); producer surplus
    ``P·S - ∫_0^S MC`` at producer prices; processor surplus
    ``(P_out - θ·P_in)·Y - ∫_0^Y MCproc``.  Their world sum equals the
    welfare objective (transport costs are paid out of price gaps).
    """
    nr = len(market.regions)
    ridx = {r: i for i, r in enumerate(market.regions)}
    nidx = {n: i for i, n in enumerate(market.nodes)}
    cs, ps, proc = np.zeros(nr), np.zeros(nr), np.zeros(nr)
    for (s, r), c in market.demand.items():
        i = nidx[(s, r)]
        cs[ridx[r]] += _integral(c, sol.demand[i]) - sol.price[i] * sol.demand[i]
    for (s, r), c in market.supply.items():
        i = nidx[(s, r)]
        ps[ridx[r]] += sol.price[i] * sol.supply[i] - _integral(c, sol.supply[i])
    for k, p in enumerate(market.processes):
        margin = sol.price[nidx[(p.target, p.region)]] - p.theta * sol.price[nidx[(p.source, p.region)]]
        proc[ridx[p.region]] += margin * sol.processing[k] - _integral(p.cost, sol.processing[k])
    gov = np.zeros(nr)
    return {
        "consumer_surplus": cs,
        "producer_surplus": ps,
        "processor_surplus": proc,
        "government_net": gov,
        "total_welfare": cs + ps + proc + gov,
    }


def objective(market: Market, sol: Solution) -> float:
    """The welfare objective recomputed from primal quantities and true curves."""
    nidx = {n: i for i, n in enumerate(market.nodes)}
    total = 0.0
    for (s, r), c in market.demand.items():
        total += _integral(c, sol.demand[nidx[(s, r)]])
    for (s, r), c in market.supply.items():
        total -= _integral(c, sol.supply[nidx[(s, r)]])
    for k, p in enumerate(market.processes):
        total -= _integral(p.cost, sol.processing[k])
    for i, key in enumerate(market.route_list):
        total -= market.routes[key] * sol.flow[i]
    return total


def trade(market: Market, sol: Solution) -> dict[str, np.ndarray]:
    """Per node: imports, exports, production, use and net import reliance.

    ``production`` = mining/own supply + processing output at the node;
    ``apparent_consumption`` = final demand + processing input, which by
    the balance equals production + imports − exports (USGS definition,
    no stock change).  ``net_import_reliance`` = (imports − exports) /
    apparent consumption, NaN where consumption is zero.
    """
    nn = len(market.nodes)
    nidx = {n: i for i, n in enumerate(market.nodes)}
    imports, exports = np.zeros(nn), np.zeros(nn)
    for i, (s, o, d) in enumerate(market.route_list):
        exports[nidx[(s, o)]] += sol.flow[i]
        imports[nidx[(s, d)]] += sol.flow[i]
    out, use = np.zeros(nn), np.zeros(nn)
    for k, p in enumerate(market.processes):
        out[nidx[(p.target, p.region)]] += sol.processing[k]
        use[nidx[(p.source, p.region)]] += p.theta * sol.processing[k]
    production = np.nan_to_num(sol.supply) + out
    consumption = np.nan_to_num(sol.demand) + use
    with np.errstate(divide="ignore", invalid="ignore"):
        nir = np.where(consumption > 1e-12 * market.quantity_scale, (imports - exports) / consumption, np.nan)
    return {
        "imports": imports,
        "exports": exports,
        "net_imports": imports - exports,
        "production": production,
        "processing_input": use,
        "apparent_consumption": consumption,
        "net_import_reliance": nir,
    }
