"""Small builders shared by the tests."""

from __future__ import annotations

from solver.case import build_case
from solver.solve import solve_market


def case_dict(regions, minerals, groups=None, scenarios=None, name="test"):
    return {
        "_file": "test.toml",
        "case": {"name": name, "regions": list(regions)},
        "groups": groups or {},
        "minerals": minerals,
        "scenarios": scenarios or [],
    }


def mineral(name="m", stages=("refined",), nodes=(), routes=(), processing=(), default_cost="none"):
    return {
        "name": name,
        "stages": list(stages),
        "quantity_unit": "kt",
        "price_unit": "USD/kg",
        "default_transport_cost": default_cost,
        "nodes": list(nodes),
        "routes": list(routes),
        "processing": list(processing),
    }


def lin(intercept, slope, **kw):
    return {"form": "linear", "intercept": float(intercept), "slope": float(slope), **kw}


def solve_one(regions, mineral_dict):
    """Build a one-mineral case, solve it, return (market, result)."""
    case = build_case(case_dict(regions, [mineral_dict]))
    market = next(iter(case.markets.values()))
    return market, solve_market(market)


def node_value(market, arr, stage, region):
    return arr[market.node_index(stage, region)]


def flow_value(market, sol, stage, o, d):
    return sol.flow[market.route_list.index((stage, o, d))]
