"""Properties every instrument must have on every market (hypothesis).

Random markets come from ``test_properties.market_case``.  Properties
that compare two equilibria use ``strict`` markets (linear curves with
positive slopes, every route open), whose prices are unique.  Every
scenario solve must pass the verifier.  ``MINEQ_POLICY_EXAMPLES`` sets
the number of examples (default 40: each example is several fixed
points).
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mineq.models.policies import build_plan
from mineq.solver.case import build_case
from mineq.solver.solve import solve_market
from mineq.solver.statistics import objective, welfare

from test_properties import market_case

SETTINGS = dict(max_examples=int(os.environ.get("MINEQ_POLICY_EXAMPLES", 40)), deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


def scenario(cd, policies):
    """Baseline and scenario results for ``policies`` on the case dict ``cd``."""
    cd = dict(cd, scenarios=[{"name": "s", "policies": [dict(p, minerals=["x"]) for p in policies]}])
    case = build_case(cd)
    mk = case.markets["x"]
    base = solve_market(mk)
    assert base.ok, base.message
    plan = build_plan(mk, case.scenarios[0].instruments, base.solution)
    res = solve_market(mk, plan=plan, start=base.solution)
    assert res.ok, res.message
    w = welfare(mk, res.solution, plan)["total_welfare"].sum()
    assert w == pytest.approx(objective(mk, res.solution, plan), rel=1e-7, abs=1e-7 * mk.price_scale * mk.quantity_scale)
    return mk, base, res


def _node(mk, region):
    return mk.node_index(mk.stages[-1], region)


def _covered_imports(mk, sol, importer, origins):
    s = mk.stages[-1]
    return sum(sol.flow[i] for i, (st_, o, d) in enumerate(mk.route_list) if st_ == s and d == importer and o in origins)


def _close(a, b, mk, what="price"):
    scale = mk.price_scale if what == "price" else mk.quantity_scale
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6 * scale)


@settings(**SETTINGS)
@given(market_case(strict=True), st.data())
def test_mip_at_or_below_baseline_landed_price_changes_nothing(cd, data):
    mk0 = build_case(cd).markets["x"]
    base = solve_market(mk0).solution
    d = data.draw(st.sampled_from(mk0.regions))
    s = mk0.stages[-1]
    landed = min(base.price[mk0.node_index(s, o)] + mk0.routes[(s, o, d)] for o in mk0.regions if o != d)
    level = landed * data.draw(st.floats(0.3, 1.0))
    mk, base_r, res = scenario(cd, [{"type": "minimum_import_price", "importers": d, "level": level}])
    _close(res.solution.price, base_r.solution.price, mk)
    assert welfare(mk, res.solution, res.plan)["levy_revenue"].sum() == pytest.approx(0, abs=1e-6 * mk.price_scale * mk.quantity_scale)


@settings(**SETTINGS)
@given(market_case(strict=True), st.data())
def test_raising_a_mip_never_lowers_the_price_nor_raises_covered_imports(cd, data):
    mk0 = build_case(cd).markets["x"]
    d = data.draw(st.sampled_from(mk0.regions))
    others = [r for r in mk0.regions if r != d]
    origins = data.draw(st.lists(st.sampled_from(others), min_size=1, unique=True))
    p0 = solve_market(mk0).solution.price[_node(mk0, d)]
    # prices may be negative (negative supply intercepts): raise by adding
    lo = p0 + abs(p0) * data.draw(st.floats(-0.2, 0.3))
    hi = lo + max(abs(p0), 1.0) * data.draw(st.floats(0.01, 0.5))
    pol = {"type": "minimum_import_price", "importers": d, "origins": origins}
    mk, _, a = scenario(cd, [dict(pol, level=lo)])
    _, _, b = scenario(cd, [dict(pol, level=hi)])
    assert b.solution.price[_node(mk, d)] >= a.solution.price[_node(mk, d)] - 1e-6 * mk.price_scale
    assert _covered_imports(mk, b.solution, d, origins) <= _covered_imports(mk, a.solution, d, origins) + 1e-6 * mk.quantity_scale


@settings(**SETTINGS)
@given(market_case(strict=True), st.data())
def test_levy_and_undertaking_differ_only_by_the_transfer(cd, data):
    mk0 = build_case(cd).markets["x"]
    d = data.draw(st.sampled_from(mk0.regions))
    p0 = solve_market(mk0).solution.price[_node(mk0, d)]
    pol = {"type": "minimum_import_price", "importers": d, "level": p0 * data.draw(st.floats(0.9, 1.5))}
    mk, _, lev = scenario(cd, [dict(pol, rent="levy")])
    _, _, und = scenario(cd, [dict(pol, rent="undertaking")])
    for name in ("price", "supply", "demand", "flow"):
        _close(getattr(und.solution, name), getattr(lev.solution, name), mk, "price" if name == "price" else "quantity")
    wl, wu = welfare(mk, lev.solution, lev.plan), welfare(mk, und.solution, und.plan)
    money = 1e-6 * mk.price_scale * mk.quantity_scale
    assert wl["total_welfare"].sum() == pytest.approx(wu["total_welfare"].sum(), abs=money * 10, rel=1e-7)
    # region by region: the levy the importer loses is the rent exporters gain
    np.testing.assert_allclose(wl["total_welfare"] - wl["levy_revenue"], wu["total_welfare"] - wu["undertaking_rent"], rtol=1e-6, atol=money * 10)
    assert wl["levy_revenue"].sum() == pytest.approx(wu["undertaking_rent"].sum(), rel=1e-6, abs=money * 10)


@settings(**SETTINGS)
@given(market_case(strict=True), st.data())
def test_floor_below_baseline_price_changes_nothing_and_a_floor_raises_output(cd, data):
    mk0 = build_case(cd).markets["x"]
    base = solve_market(mk0).solution
    r = data.draw(st.sampled_from(mk0.regions))
    p0 = base.price[_node(mk0, r)]
    assume(p0 > 1e-3)  # a floor is a positive price; "below a negative price" is empty
    pol = {"type": "price_floor", "mechanism": "deficiency_payment", "regions": r, "stage": mk0.stages[-1], "covers": "producers"}
    mk, b, low = scenario(cd, [dict(pol, level=p0 * data.draw(st.floats(0.2, 1.0)))])
    _close(low.solution.price, b.solution.price, mk)
    assert welfare(mk, low.solution, low.plan)["deficiency_payments"].sum() == pytest.approx(0, abs=1e-6 * mk.price_scale * mk.quantity_scale)
    _, _, high = scenario(cd, [dict(pol, level=p0 * data.draw(st.floats(1.0, 2.0)))])
    n = _node(mk, r)
    assert high.solution.supply[n] >= b.solution.supply[n] - 1e-6 * mk.quantity_scale


@settings(**SETTINGS)
@given(market_case(strict=True), st.data())
def test_export_ban_equals_prohibitive_tariff(cd, data):
    mk0 = build_case(cd).markets["x"]
    o = data.draw(st.sampled_from(mk0.regions))
    others = [r for r in mk0.regions if r != o]
    mk, _, ban = scenario(cd, [{"type": "export_quota", "exporters": o, "quantity": 0.0}])
    # a specific tariff above every possible price gap shuts the routes
    levels = [abs(s.level) + s.slope * (s.upper if math.isfinite(s.upper) else 0) for _, _, c in mk.curves() for s in c.segments()]
    big = 10 * (max(levels) + max(mk.routes.values(), default=0.0)) + 1000.0
    _, _, tar = scenario(cd, [{"type": "tariff", "importers": others, "origins": [o], "specific": big}])
    out = [i for i, (s_, a, _) in enumerate(mk.route_list) if a == o and s_ == mk.stages[-1]]
    assert np.all(np.abs(ban.solution.flow[out]) <= 1e-6 * mk.quantity_scale)
    assert np.all(np.abs(tar.solution.flow[out]) <= 1e-6 * mk.quantity_scale)
    for name in ("supply", "demand", "processing"):
        _close(np.nan_to_num(getattr(tar.solution, name)), np.nan_to_num(getattr(ban.solution, name)), mk, "quantity")
    assert objective(mk, tar.solution, tar.plan) == pytest.approx(objective(mk, ban.solution, ban.plan), rel=1e-6, abs=1e-6 * mk.price_scale * mk.quantity_scale)


@settings(**SETTINGS)
@given(market_case(), st.data())
def test_every_instrument_mix_verifies(cd, data):
    """Random mixes of instruments on random (also degenerate) markets."""
    mk0 = build_case(cd).markets["x"]
    regs = mk0.regions
    s = mk0.stages[-1]
    pick = lambda: data.draw(st.sampled_from(regs))
    rent = data.draw(st.sampled_from(["levy", "undertaking"]))  # two MIPs on a route must agree on it
    menu = {
        "mip": lambda: {"type": "minimum_import_price", "importers": pick(), "level_vs_baseline": data.draw(st.floats(0.8, 1.6)), "rent": rent},
        "tariff": lambda: {"type": "tariff", "importers": pick(), "ad_valorem": data.draw(st.floats(0, 0.5)), "specific": data.draw(st.floats(0, 5))},
        "export_tax": lambda: {"type": "export_tax", "exporters": pick(), "ad_valorem": data.draw(st.floats(0, 0.5))},
        "import_quota": lambda: {"type": "import_quota", "importers": pick(), "quantity": data.draw(st.floats(0, 50))},
        "export_quota": lambda: {"type": "export_quota", "exporters": pick(), "quantity": data.draw(st.floats(0, 50))},
        "offtake": lambda: {"type": "price_floor", "mechanism": "offtake", "regions": pick(), "stage": s, "level": data.draw(st.floats(20, 150)), "budget": data.draw(st.floats(10, 5000))},
        "shock": lambda: {"type": "capacity_shock", "regions": pick(), "factor": data.draw(st.floats(0.2, 1.5))},
        "release": lambda: {"type": "stockpile_release", "regions": pick(), "quantity": data.draw(st.floats(0, 20))},
        "origin": lambda: {"type": "rules_of_origin", "exporters": data.draw(st.lists(st.sampled_from(regs), min_size=1, max_size=3, unique=True)), "importers": pick()},
    }
    # floors and released stocks force quantities onto the market; only
    # demand that absorbs any quantity at some price (linear, no capacity)
    # makes that well posed (elsewhere "infeasible" is the right answer)
    absorbs = all(n["demand"].get("form") == "linear" and "capacity" not in n["demand"] for n in cd["minerals"][0]["nodes"] if "demand" in n)
    has_demand = any("demand" in n for n in cd["minerals"][0]["nodes"])
    names = [k for k in menu if k != "release" or (absorbs and has_demand)]
    chosen = data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True))
    pols = [menu[i]() for i in chosen]
    nodes = {(n["stage"], n["region"]) for n in cd["minerals"][0]["nodes"] if "supply" in n}
    if absorbs and has_demand and data.draw(st.booleans()):
        r = pick()
        if (s, r) in nodes:
            pols.append({"type": "price_floor", "mechanism": "deficiency_payment", "regions": r, "stage": s, "level_vs_baseline": data.draw(st.floats(0.9, 1.5))})
    # a baseline price is needed for relative levels: skip nodes without one
    base = solve_market(mk0).solution
    for p in pols:
        if "level_vs_baseline" in p:
            r = p.get("importers", p.get("regions"))
            if not math.isfinite(base.price[mk0.node_index(s, r)]) or base.price[mk0.node_index(s, r)] <= 0:
                p.pop("level_vs_baseline")
                p["level"] = 50.0
    scenario(cd, pols)
