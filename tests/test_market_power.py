"""Market power (issue 19): strategic sellers with conduct θ, on markets
whose Cournot equilibrium is derived by hand in each docstring, the
verifier's ``cournot`` condition, the welfare accounts, and a property
over random markets.

A strategic seller at node ``n`` sells its own output at home (``h``) and
on its export routes; on sales ``q`` into ``d`` it perceives the slope
``b_d`` of ``d``'s inverse demand, so it sells where

    P_n − θ·b_n·h = MR = MC(S)   and   P_d − t − s·X − θ·b_d·X = MR

for every sale that carries anything (``≤ MR`` for the others).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mineq.models.errors import SpecError
from mineq.models.policies import build_plan
from mineq.solver.case import build_case
from mineq.solver.errors import CaseError
from mineq.solver.solve import solve_market
from mineq.solver.statistics import objective, welfare
from mineq.solver.verify import verify

from helpers import case_dict, lin, mineral
from test_policies import P, check_identity, solve_policy
from test_properties import SETTINGS, market_case

R = "refined"


def monopoly(a=100.0, b=2.0, c=10.0, d=1.0):
    """One region A: demand P = a − b·Q, supply (marginal cost) c + d·Q."""
    return mineral(nodes=[{"stage": R, "region": "A", "supply": lin(c, d), "demand": lin(a, b)}])


def power(regions="A", conduct=1.0, **kw):
    return {"type": "market_power", "regions": regions, "conduct": conduct, **kw}


@pytest.mark.parametrize("theta", [0.0, 0.25, 0.5, 1.0])
def test_monopoly_closed_form(theta):
    """One region, P = a − b·Q, MC = c + d·Q, a = 100, b = 2, c = 10, d = 1.

    The seller sets MR = P − θ·b·Q equal to MC:  a − b·Q − θ·b·Q = c + d·Q,
    so Q = (a − c) / ((1 + θ)·b + d): 90/5 = 18 competitive (θ = 0),
    90/7 at Cournot (θ = 1: the monopoly output (a − c)/(2b + d)).
    Price a − b·Q; the markup rent is (P − MR)·Q = θ·b·Q², the producers
    get MR·Q − ∫MC = ½·d·Q², consumers ½·b·Q²."""
    a, b, c, d = 100.0, 2.0, 10.0, 1.0
    mk, base, res = solve_policy([power(conduct=theta)], market=monopoly(a, b, c, d), regions=("A",))
    assert res.ok, res.message
    q = (a - c) / ((1 + theta) * b + d)
    assert res.solution.supply[0] == pytest.approx(q, rel=1e-9)
    assert res.solution.demand[0] == pytest.approx(q, rel=1e-9)
    assert P(res, "A") == pytest.approx(a - b * q, rel=1e-9)
    w = check_identity(mk, base, res)
    assert w["market_power_rent"][0] == pytest.approx(theta * b * q * q, rel=1e-9, abs=1e-9)
    assert w["producer_surplus"][0] == pytest.approx(0.5 * d * q * q, rel=1e-9)
    assert w["consumer_surplus"][0] == pytest.approx(0.5 * b * q * q, rel=1e-9)
    assert res.verification.residuals["cournot"].tolist() == [pytest.approx(0.0, abs=1e-9)]
    # the seller row's shadow price is the marginal revenue = marginal cost
    model = res.model
    mr = -model._last[1][model._ix["seller"]][0] / model._e[0] * mk.price_scale
    assert mr == pytest.approx(c + d * q, rel=1e-9)


def test_strategic_exporter_facing_a_competitive_fringe():
    """two_regions (A: supply 10 + S, demand 100 − D; B: supply 40 + S,
    demand 160 − D; route A->B at 10) with A a Cournot seller (θ = 1).

    A perceives b = 1 in both markets.  With h its home sales and X its
    exports: home MR 100 − 2h, export MR P_B − 10 − X, and B's price from
    B's balance D_B = S_B + X:  160 − P_B = P_B − 40 + X, P_B = 100 − X/2.
    MR = MC = 10 + h + X:
        100 − 2h = 10 + h + X         → 3h + X = 90
        90 − 1.5·X = 10 + h + X       → h + 2.5·X = 80
    so X = 150/6.5 = 23.0769..., h = 22.3077, P_A = 77.6923, P_B = 88.4615,
    against X = 35, P_A = 72.5, P_B = 82.5 competitive: A withholds exports
    (and home sales) and both prices rise."""
    mk, base, res = solve_policy([power()])
    assert res.ok, res.message
    X = 150 / 6.5
    h = (90 - X) / 3
    assert res.solution.flow[0] == pytest.approx(X, rel=1e-9)
    assert P(res, "A") == pytest.approx(100 - h, rel=1e-9)
    assert P(res, "B") == pytest.approx(100 - X / 2, rel=1e-9)
    assert res.solution.supply[mk.node_index(R, "A")] == pytest.approx(h + X, rel=1e-9)
    w = check_identity(mk, base, res)
    # the rent: θ·b·q² on each sale, to A
    assert w["market_power_rent"].tolist() == pytest.approx([h * h + X * X, 0.0], rel=1e-9, abs=1e-9)
    # A's seller (producers + markup rent) gains from its market power;
    # A's own consumers pay the home markup (A's total falls: 2308.9
    # against 2331.25), and B loses
    now, before = welfare(mk, res.solution, res.plan), welfare(mk, base.solution)
    assert now["producer_surplus"][0] + now["market_power_rent"][0] > before["producer_surplus"][0]
    assert now["total_welfare"][1] < before["total_welfare"][1]


def test_cournot_duopoly_into_a_third_market():
    """A and B sell only to C (demand P = 100 − Q), at constant marginal
    costs 10 and 20 (flat supply curves), routes free.  Cournot–Nash:
    q_A = (a − 2c_A + c_B)/(3b) = 100/3, q_B = (a − 2c_B + c_A)/(3b) = 70/3,
    P = 100 − 170/3 = 43.33.  Competitive: P = 10, only A sells (90).
    With conduct ½ for both: P − ½·q_i = c_i, so q_A = 2(P − 10),
    q_B = 2(P − 20), P = 100 − 4P + 60: P = 32, q_A = 44, q_B = 24."""
    m = mineral(nodes=[
        {"stage": R, "region": "A", "supply": lin(10, 0)},
        {"stage": R, "region": "B", "supply": lin(20, 0)},
        {"stage": R, "region": "C", "demand": lin(100, 1)},
    ], routes=[{"origin": "A", "destination": "C", "cost": 0.0}, {"origin": "B", "destination": "C", "cost": 0.0}])
    for theta, qa, qb in ((1.0, 100 / 3, 70 / 3), (0.5, 44.0, 24.0)):
        mk, base, res = solve_policy([power(["A", "B"], theta)], market=m, regions=("A", "B", "C"))
        assert res.ok, res.message
        assert res.solution.flow.tolist() == pytest.approx([qa, qb], rel=1e-9)
        assert P(res, "C") == pytest.approx(100 - qa - qb, rel=1e-9)
        check_identity(mk, base, res)
    assert base.solution.flow.tolist() == pytest.approx([90.0, 0.0], abs=1e-9)


def test_verifier_rejects_the_wrong_conduct():
    """The competitive equilibrium is not a Cournot one when θ = 1 (the
    seller would gain by selling less), and the Cournot equilibrium is
    not competitive: each fails the other's verification, on the
    conditions that differ (``cournot``; ``supply`` and ``arbitrage``)."""
    mk, base, res = solve_policy([power()])
    ver = verify(mk, base.solution, plan=res.plan)
    assert not ver.ok
    assert ver.residuals["cournot"][0] > 1e-2
    competitive = build_plan(mk, [])
    ver2 = verify(mk, res.solution, plan=competitive)
    assert not ver2.ok
    # producers sell below the price, and A price-discriminates (P_B − P_A < t)
    assert max(ver2.residuals["supply"]) > 1e-2 and max(ver2.residuals["arbitrage"]) > 1e-2
    # θ = ½: neither the competitive nor the Cournot answer passes
    _, _, half = solve_policy([power(conduct=0.5)])
    assert half.ok
    for sol in (base.solution, res.solution):
        assert verify(mk, sol, plan=half.plan).residuals["cournot"][0] > 1e-3


def test_verifier_rejects_exports_of_imported_material():
    """A strategic seller's exports are its own output: a hand-made point
    where A exports more than it makes (h < 0) fails ``cournot``."""
    mk, base, res = solve_policy([power()])
    import dataclasses

    sol = res.solution
    supply = sol.supply.copy()
    supply[mk.node_index(R, "A")] = 0.5 * sol.flow[0]  # makes half of what it exports
    bad = dataclasses.replace(sol, supply=supply)
    assert verify(mk, bad, plan=res.plan).residuals["cournot"][0] > 0.1


def test_export_tax_on_a_strategic_seller_keeps_the_identity():
    """A strategic (θ = 1) with a specific export tax of 5 on A->B: the tax
    lowers its net-back by 5: home MR 100 − 2h, export MR 85 − 1.5·X,
    MC 10 + h + X: 3h + X = 90, h + 2.5·X = 75: X = 135/6.5.  The money
    adds up (tax to A's government, markup rent to A)."""
    mk, base, res = solve_policy([power(), {"type": "export_tax", "exporters": "A", "specific": 5.0}])
    assert res.ok, res.message
    X = 135 / 6.5
    assert res.solution.flow[0] == pytest.approx(X, rel=1e-9)
    w = check_identity(mk, base, res)
    assert w["export_tax_revenue"][0] == pytest.approx(5 * X, rel=1e-9)


def test_two_stage_seller_includes_its_refiners():
    """Refined output made from mine output: A mines (MC 10 + M) and refines
    one for one (processing cost 5 + Y... flat 5); B consumes refined
    (P = 100 − Q) and A none.  A is a Cournot seller of refined output:
    its marginal cost of refined is 10 + Y + 5, its MR 100 − 2Y, so
    Y = 85/3 and P_B = 100 − 85/3; the mine price is A's MR − 5."""
    m = mineral(stages=("mine", "refined"), nodes=[
        {"stage": "mine", "region": "A", "supply": lin(10, 1)},
        {"stage": R, "region": "B", "demand": lin(100, 1)},
    ], routes=[{"stage": R, "origin": "A", "destination": "B", "cost": 0.0}],
        processing=[{"region": "A", "from": "mine", "to": R, "theta": 1.0, "cost": lin(5, 0)}])
    mk, base, res = solve_policy([power(stage=R)], market=m, regions=("A", "B"))
    assert res.ok, res.message
    y = 85 / 3
    assert res.solution.processing[0] == pytest.approx(y, rel=1e-9)
    assert P(res, "B") == pytest.approx(100 - y, rel=1e-9)
    assert P(res, "A", "mine") == pytest.approx(10 + y, rel=1e-9)
    assert base.solution.processing[0] == pytest.approx(42.5, rel=1e-9)
    check_identity(mk, base, res)


def test_market_power_input_errors():
    """Bad entries name the field, the value and what was expected."""
    with pytest.raises(CaseError, match="conduct.*between 0 .*and 1"):
        solve_policy([power(conduct=1.5)])
    with pytest.raises(CaseError, match="'regions'"):
        solve_policy([power(regions="Z")])
    with pytest.raises(SpecError, match="rules of origin"):
        solve_policy([power(), {"type": "rules_of_origin", "exporters": ["A"], "importers": ["B"]}])
    with pytest.raises(SpecError, match="price floor"):
        solve_policy([power(), {"type": "price_floor", "mechanism": "deficiency_payment", "regions": "A", "level": 90.0}])


def test_optimal_export_tax_of_a_competitive_exporter():
    """The optimal-tariff argument: a competitive exporter A (supply
    P = c + d·S, no consumers) selling to B (demand P = a − b·D, no
    producers), free route, specific export tax τ.  Then
    X = (a − c − τ)/(b + d), and A's producers plus government gain
    W(τ) = ½·d·X² + τ·X.  dW/dτ = 0 gives τ* = b·X, so
    X* = (a − c)/(2b + d) — the monopoly quantity — and τ* = b·X*.
    With a = 100, b = 1, c = 10, d = 1: X* = 30, τ* = 30.  A sweep of τ
    over a grid through 30 peaks there, and A gains (a large world share
    makes restricting exports pay even without market power)."""
    from mineq.solver.sweep import parse_set, sweep_case
    from mineq.solver.results import to_dataset

    m = mineral(nodes=[{"stage": R, "region": "A", "supply": lin(10, 1)}, {"stage": R, "region": "B", "demand": lin(100, 1)}],
                routes=[{"origin": "A", "destination": "B", "cost": 0.0}])
    cd = case_dict(["A", "B"], [m], scenarios=[{"name": "tax", "policies": [{"type": "export_tax", "minerals": ["m"], "exporters": "A", "specific": 10.0}]}])
    case = build_case(cd)
    swept = parse_set("specific=0:60:31", case, "tax")
    pcase, results = sweep_case(case, swept)
    ds = to_dataset(pcase, results)
    gain = ds["total_welfare_change"].sel(mineral="m", region="A").sel(scenario=[swept.point_name(v) for v in swept.values]).values
    best = swept.values[int(np.argmax(gain))]
    assert best == pytest.approx(30.0)
    assert gain.max() == pytest.approx(0.5 * 30**2 + 30 * 30 - 0.5 * 45**2, rel=1e-9)  # 450 + 900 − 1012.5
    assert gain.max() > 0
    # and the same quantity as a Cournot seller facing B without any tax
    cournot = build_case(case_dict(["A", "B"], [m], scenarios=[{"name": "s", "policies": [dict(power(), minerals=["m"])]}]))
    plan = build_plan(cournot.markets["m"], cournot.scenarios[0].instruments)
    r = solve_market(cournot.markets["m"], plan=plan)
    assert r.ok and plan.sellers
    assert r.solution.flow[0] == pytest.approx(30.0, rel=1e-9)


@st.composite
def strategic_case(draw):
    """A strict random market (test_properties.market_case: linear curves,
    unique equilibria, every node with supply and demand, processes
    between two stages) with a random set of strategic regions at its
    last stage and a random conduct."""
    cd = draw(market_case(strict=True))
    regions = cd["case"]["regions"]
    chosen = draw(st.lists(st.sampled_from(regions), min_size=1, max_size=len(regions), unique=True))
    theta = draw(st.sampled_from([0.0, 0.3, 1.0]))
    return cd, chosen, theta


def _solve_with(cd, policies):
    cd = dict(cd, scenarios=[{"name": "s", "policies": [dict(p, minerals=["x"]) for p in policies]}])
    case = build_case(cd)
    mk = case.markets["x"]
    plan = build_plan(mk, case.scenarios[0].instruments)
    return mk, plan, solve_market(mk, plan=plan)


@settings(**{**SETTINGS, "max_examples": min(SETTINGS["max_examples"], 60)})
@given(strategic_case())
def test_random_markets_satisfy_the_cournot_conditions(drawn):
    """On random linear markets the QP's answer verifies, and it satisfies
    the Cournot conditions recomputed here from the curves' own numbers
    (not through the verifier): with MR = MC(S) = c + d·S of a seller that
    produces, every sale q into d has P_d − t − θ·b_d·q = MR when q > 0
    and ≤ MR when q = 0 (home: t = 0).  At θ = 0 the answer is the
    competitive one."""
    cd, chosen, theta = drawn
    mk, plan, res = _solve_with(cd, [power(chosen, theta)])
    assert res.ok, res.message
    sol = res.solution
    stage = mk.stages[-1]
    nodes = {n["stage"] + "/" + n["region"]: n for n in cd["minerals"][0]["nodes"]}
    tol = 1e-6 * mk.price_scale
    for r in chosen:
        n = mk.node_index(stage, r)
        spec = nodes[f"{stage}/{r}"]
        S = sol.supply[n]
        if S <= 1e-7 * mk.quantity_scale:
            continue
        mr = spec["supply"]["intercept"] + spec["supply"]["slope"] * S
        b = {d: nodes[f"{stage}/{d}"]["demand"]["slope"] for d in mk.regions}
        exports = 0.0
        for i, (s, o, d) in enumerate(mk.route_list):
            if s == stage and o == r:
                x = sol.flow[i]
                exports += x
                net = sol.price[mk.node_index(stage, d)] - mk.routes[(s, o, d)] - theta * b[d] * x
                assert net <= mr + tol
                if x > 1e-7 * mk.quantity_scale:
                    assert net == pytest.approx(mr, abs=tol)
        made = S + sum(sol.processing[k] for k, p in enumerate(mk.processes) if (p.target, p.region) == (stage, r))
        h = made - exports
        assert h >= -1e-7 * mk.quantity_scale
        home = sol.price[n] - theta * b[r] * h
        assert home <= mr + tol
        if h > 1e-7 * mk.quantity_scale:
            assert home == pytest.approx(mr, abs=tol)
    w = welfare(mk, sol, plan)
    assert np.nansum(w["total_welfare"]) == pytest.approx(objective(mk, sol, plan), rel=1e-8, abs=1e-6 * mk.price_scale * mk.quantity_scale)
    if theta == 0.0:
        free = solve_market(mk)
        assert free.ok
        # a strategic node does not re-export imports: where the free
        # market's answer has one exporting more than it makes, the
        # seller plan is a restriction of it and can only do worse
        made = free.solution.supply + np.bincount(mk.process_nodes[1], weights=free.solution.processing, minlength=len(mk.nodes))
        out = np.bincount(mk.route_nodes[0], weights=free.solution.flow, minlength=len(mk.nodes))
        if any(out[s.node] > made[s.node] + 1e-7 * mk.quantity_scale for s in plan.sellers):
            assert objective(mk, sol, plan) <= objective(mk, free.solution) + 1e-9 * abs(objective(mk, free.solution))
            return
        # quantities are unique (strict curves); a price is where something
        # is consumed (a seller selling nothing at home leaves its node's
        # price anywhere between the demand's choke price and its MR)
        used = free.solution.demand > 1e-7 * mk.quantity_scale
        assert np.allclose(sol.price[used], free.solution.price[used], rtol=1e-7, atol=1e-7 * mk.price_scale)
        assert np.allclose(sol.processing, free.solution.processing, rtol=1e-7, atol=1e-7 * mk.quantity_scale)
        assert np.allclose(sol.supply, free.solution.supply, rtol=1e-7, atol=1e-7 * mk.quantity_scale)
        assert np.allclose(sol.demand, free.solution.demand, rtol=1e-7, atol=1e-7 * mk.quantity_scale)
        assert math.isclose(float(np.nansum(w["market_power_rent"])), 0.0, abs_tol=1e-6 * mk.price_scale * mk.quantity_scale)


TAX_TOML = """
[case]
name = "optimal-export-tax"
regions = ["A", "B"]
base_year = 2024

[[minerals]]
name = "m"
stages = ["refined"]
quantity_unit = "kt"
price_unit = "USD/kg"
default_transport_cost = "none"
nodes = [
  {stage = "refined", region = "A", supply = {form = "linear", intercept = 10.0, slope = 1.0}},
  {stage = "refined", region = "B", demand = {form = "linear", intercept = 100.0, slope = 1.0}},
]
routes = [{stage = "refined", origin = "A", destination = "B", cost = 0.0}]

[[scenarios]]
name = "tax"
description = "A taxes its exports"
policies = [{type = "export_tax", minerals = ["m"], exporters = "A", specific = 10.0}]
"""


def test_target_maximize_finds_the_optimal_export_tax(tmp_path):
    """``find_maximum`` / ``mineq target --maximize`` on the case of
    test_optimal_export_tax_of_a_competitive_exporter: τ* = 30 off the
    grid (0, 13.75, 27.5, 41.25, 55: golden-section search between 13.75
    and 41.25), A's gain 337.5, with the derived indicator
    producer_government_change (A has no consumers, so it equals A's
    welfare change); a range that ends below τ* says so."""
    from click.testing import CliRunner

    from mineq.solver.case import load_case
    from mineq.solver.cli import main
    from mineq.solver.target import find_maximum

    path = tmp_path / "case.toml"
    path.write_text(TAX_TOML)
    case = load_case(path)
    r = find_maximum(case, "tax", "specific", "producer_government_change[A,m]", 0.0, 55.0, points=5)
    assert r.reached and r.mineral == "m" and r.monotone == "not monotone"
    assert r.level == pytest.approx(30.0, abs=1e-4)
    assert r.value == pytest.approx(337.5, rel=1e-9)
    short = find_maximum(case, "tax", "specific", "total_welfare_change[A,m]", 0.0, 20.0, points=5)
    assert not short.reached and short.level == pytest.approx(20.0) and "widen --range" in short.message
    out = CliRunner().invoke(main, ["target", str(path), "-s", "tax", "-p", "specific", "-i", "producer_government_change[A,m]", "--maximize", "--range", "0:55", "--points", "5"])
    assert out.exit_code == 0, out.output
    import re

    found = re.search(r"specific = ([0-9.]+) maximises producer_government_change\[A,m\] = 337\.5 \(verified", out.output)
    assert found and float(found.group(1)) == pytest.approx(30.0, abs=1e-4), out.output
    import mineq

    api = mineq.target(path, "tax", "specific", "producer_government_change[A,m]", bounds=(0.0, 55.0), points=5, maximize=True)
    assert api.reached and api.level == pytest.approx(30.0, abs=1e-4)
    both = CliRunner().invoke(main, ["target", str(path), "-s", "tax", "-p", "specific", "-i", "price[B,m]", "--maximize", "-v", "3"])
    assert both.exit_code != 0 and "exactly one of --value" in both.output


def test_headline_and_report_name_the_strategic_sellers(tmp_path, capsys):
    """The result file carries market_power_rent per region (in rents and
    the total), and the headline and the HTML report name the seller's
    rent: two_regions with A a Cournot seller, rent h² + X² (see
    test_strategic_exporter_facing_a_competitive_fringe)."""
    from mineq.solver.html_report import build_report
    from mineq.solver.report import print_headline
    from mineq.solver.results import to_dataset
    from mineq.solver.run import solve_case

    from test_closed_form import two_regions

    case = build_case(case_dict(["A", "B"], [two_regions()], scenarios=[{"name": "power", "policies": [dict(power(), minerals=["m"])]}]))
    ds = to_dataset(case, solve_case(case))
    X = 150 / 6.5
    h = (90 - X) / 3
    rent = ds.market_power_rent.sel(scenario="power", mineral="m")
    assert float(rent.sel(region="A")) == pytest.approx(h * h + X * X, rel=1e-9)
    assert float(ds.market_power_rent.sel(scenario="baseline").sum()) == 0.0
    assert float((ds.rents - ds.market_power_rent).sel(scenario="power", region="A", mineral="m")) == pytest.approx(0.0, abs=1e-9)
    # the seller's marginal revenue = its marginal cost 10 + S, at its node only
    mr = ds.marginal_revenue.sel(scenario="power", mineral="m", stage=R)
    assert float(mr.sel(region="A")) == pytest.approx(10 + h + X, rel=1e-9)
    assert np.isnan(float(mr.sel(region="B"))) and np.isnan(ds.marginal_revenue.sel(scenario="baseline")).all()
    # mineq verify re-makes both from the stored primal values: an edit fails
    from mineq.solver.results import write

    from helpers import run

    good = write(ds, tmp_path / "good.nc")
    code, text = run("verify", good)
    assert code == 0 and "0 stored numbers or inputs differ" in text, text
    for var in ("marginal_revenue", "market_power_rent"):
        bad = ds.copy(deep=True)
        bad[var].loc[dict(scenario="power", mineral="m", region="A")] *= 1.01
        code, text = run("verify", write(bad, tmp_path / f"bad-{var}.nc"))
        assert code != 0 and var in text, text
    print_headline(ds, ["m"], "B", None)
    out = capsys.readouterr().out
    assert "strategic sellers' markup rent" in out and "S1 A" in out
    rep = build_report(ds, tmp_path / "rep")
    page = (tmp_path / "rep" / "report.html").read_text()
    assert "Strategic sellers" in page and "A earns a markup rent" in page
    assert rep is not None


def test_conduct_sweep_reuses_the_program(monkeypatch):
    """A sweep over conduct from price-taking to Cournot on the monopoly
    of test_monopoly_closed_form: Q = (a − c)/((1 + θ)·b + d) at every
    point, with one program for the baseline and one re-used across the
    points (conduct is a number of the program, not its structure)."""
    import mineq.models.program
    from mineq.solver.sweep import parse_set, sweep_case

    builds = []
    orig = mineq.models.program.MarketModel.__init__

    def counting(self, *a, **k):
        builds.append(1)
        orig(self, *a, **k)

    monkeypatch.setattr(mineq.models.program.MarketModel, "__init__", counting)
    case = build_case(case_dict(["A"], [monopoly()], scenarios=[{"name": "power", "policies": [dict(power(conduct=0.5), minerals=["m"])]}]))
    swept = parse_set("conduct=0:1:5", case, "power")
    _, res = sweep_case(case, swept)
    assert len(builds) == 2
    for theta in swept.values:
        r = res[swept.point_name(theta)]["m"]
        assert r.ok
        assert r.solution.supply[0] == pytest.approx(90 / ((1 + theta) * 2 + 1), rel=1e-9)


@pytest.mark.parametrize("policies, market, regions", [
    ([power(), {"type": "export_tax", "exporters": "A", "ad_valorem": 0.1}], None, ("A", "B")),
    ([power(["A", "B"], 0.5), {"type": "minimum_import_price", "importers": "B", "level": 95.0}, {"type": "import_quota", "importers": "A", "quantity": 5.0}], None, ("A", "B")),
    ([power(stage=R, conduct=0.7)], "two-stage", ("A", "B")),
])
def test_milp_fallback_writes_strategic_sellers(policies, market, regions):
    """The MILP over the equilibrium conditions (solver/kkt.py) has the
    sellers' rows too: started from nothing it finds the equilibrium the
    fixed point found (ad valorem export tax on a seller's exports, a MIP
    and a quota with two sellers, a two-stage seller), and the verifier
    accepts it."""
    from mineq.solver.kkt import solve_kkt

    if market == "two-stage":
        market = mineral(stages=("mine", "refined"), nodes=[
            {"stage": "mine", "region": "A", "supply": lin(10, 1)},
            {"stage": R, "region": "A", "demand": lin(120, 2)},
            {"stage": R, "region": "B", "demand": lin(100, 1), "supply": lin(50, 1)},
        ], routes=[{"stage": R, "origin": "A", "destination": "B", "cost": 2.0}],
            processing=[{"region": "A", "from": "mine", "to": R, "theta": 1.5, "cost": lin(5, 0.5)}])
    mk, base, res = solve_policy(policies, market=market, regions=regions)
    assert res.ok, res.message
    found = solve_kkt(res.model, res.plan, tol=1e-6)
    assert found is not None
    sol, ver = found
    assert ver.ok, ver.worst(3)
    assert "cournot" in ver.residuals
    assert np.allclose(sol.price, res.solution.price, rtol=1e-6, equal_nan=True)
    assert np.allclose(sol.flow, res.solution.flow, rtol=1e-6, atol=1e-6)


def test_isoelastic_demand_uses_the_reference_slope():
    """Isoelastic demand P = 100·(Q/10)^(−1/2) (elasticity −2 through
    (100, 10)) and MC = 10 + Q, one Cournot seller.  It perceives the
    tangent's slope at the reference point, b = 100/(2·10) = 5, as a
    fixed conjecture (not the curve's slope at the solution), so it sells
    where 100·(Q/10)^(−1/2) − 5·Q = 10 + Q: Q found by bisection here.
    The solve relinearises the demand curve until the true curve holds."""
    m = mineral(nodes=[{"stage": R, "region": "A", "supply": lin(10, 1), "demand": {"form": "isoelastic", "price": 100.0, "quantity": 10.0, "elasticity": -2.0}}])
    mk, base, res = solve_policy([power()], market=m, regions=("A",))
    assert res.ok, res.message
    f = lambda q: 100 * (q / 10) ** -0.5 - 5 * q - 10 - q  # noqa: E731
    lo, hi = 1e-6, 100.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if f(mid) > 0 else (lo, mid)
    assert res.solution.supply[0] == pytest.approx(lo, rel=1e-6)
    assert res.plan.sellers[0].slopes == {0: pytest.approx(5.0)}


HARKER = Path(__file__).parent / "data" / "harker_1986.toml"


def harker_cournot_reference(alpha, beta, rho, eta, cost):
    """The Cournot–Nash equilibrium of Harker's oligopoly (GAMS HARKMCP's
    model ``harkoli`` with constant arc costs), solved here without mineq:
    producer i sells x_ij ≥ 0 into market j with

        rho_j − eta_j·D_j − eta_j·x_ij ≤ alpha_i + 2·beta_i·y_i + c_ij  ⟂  x_ij,

    D_j = Σ_i x_ij, y_i = Σ_j x_ij, c_ij the cheapest path cost (0 at home).
    The system is a linear complementarity problem whose matrix
    (eta_j on equal j, plus eta_j on equal (i, j), plus 2·beta_i on equal i)
    is symmetric positive definite, so it has exactly one solution; it is
    found by trying every support (2⁹ of them) and keeping the one whose
    linear solve satisfies all the inequalities.  Returns x (i × j)."""
    n = len(alpha)
    pairs = [(i, j) for i in range(n) for j in range(n)]
    M = np.zeros((len(pairs), len(pairs)))
    q = np.zeros(len(pairs))
    for a, (i, j) in enumerate(pairs):
        q[a] = alpha[i] + cost[i][j] - rho[j]
        for b, (k, l) in enumerate(pairs):
            M[a, b] = eta[j] * (j == l) + eta[j] * (i == k and j == l) + 2 * beta[i] * (i == k)
    found = []
    for mask in range(1 << len(pairs)):
        on = [a for a in range(len(pairs)) if mask >> a & 1]
        x = np.zeros(len(pairs))
        if on:
            x[on] = np.linalg.solve(M[np.ix_(on, on)], -q[on])
        w = M @ x + q
        if (x >= -1e-12).all() and (w >= -1e-12).all() and abs(x @ w) < 1e-9:
            found.append(x)
    assert len(found) == 1
    return found[0].reshape(n, n)


def test_harker_1986_spatial_oligopoly():
    """Harker (1986), "Alternative Models of Spatial Competition",
    *Operations Research* 34(3) 410–425: the multi-producer Cournot–Nash
    oligopoly of the GAMS model library (HARKER, SEQ=85, solved there by
    diagonalization; HARKMCP, SEQ=128, model ``harkoli``, as an MCP),
    with Harker's data: demand p = rho − eta·d, marginal cost
    alpha + 2·beta·y in three regions, and his transport network's arc
    costs kappa (tests/data/harker_1986.toml, where the network is
    collapsed into cheapest-path routes).

    What is reproduced: everything but the arcs' congestion term nu·t²
    (Harker's average cost kappa + nu·t² on arcs shared by several
    paths), which mineq's routes (cost linear in their own flow) cannot
    express; the case sets nu = 0.  GAMS itself cannot run here, and no
    printed solution of the nu = 0 variant exists, so the reference is
    the harkoli complementarity system solved independently of mineq
    (:func:`harker_cournot_reference`, by support enumeration).  mineq's
    answer (every region a seller with conduct 1) must match it in every
    producer's sales to every market (home sales and the route flows),
    outputs, consumption and prices where something is consumed, to
    1e-7 relative; the Cournot answer must verify, and both producers
    that export keep less for home than competitive pricing does."""
    from mineq.solver.case import load_case

    case = load_case(str(HARKER))
    mk = case.markets["m"]
    regions = ["one", "two", "three"]
    alpha, beta = [1.0, 2.0, 1.5], [0.5, 0.4, 0.3]
    rho, eta = [19.0, 27.0, 30.0], [0.2, 0.01, 0.3]
    path = {("one", "two"): 4, ("one", "three"): 4, ("two", "one"): 6, ("two", "three"): 5, ("three", "one"): 4, ("three", "two"): 3}
    cost = [[0.0 if i == j else path[(i, j)] for j in regions] for i in regions]
    # the case file holds Harker's numbers (2·beta is the supply slope)
    for k, r in enumerate(regions):
        n = mk.node_index(R, r)
        s, d = mk.supply[(R, r)], mk.demand[(R, r)]
        assert (s.intercept, s.slope, d.intercept, d.slope) == (alpha[k], 2 * beta[k], rho[k], eta[k]), r
    for (o, d), c in path.items():
        assert mk.routes[(R, o, d)] == c

    x = harker_cournot_reference(alpha, beta, rho, eta, cost)
    base = solve_market(mk)
    assert base.ok and base.verification.ok
    plan = build_plan(mk, case.scenarios[0].instruments, base.solution)
    res = solve_market(mk, plan=plan, start=base.solution)
    assert res.ok and res.verification.ok, res.message
    sol = res.solution
    for i, o in enumerate(regions):
        n = mk.node_index(R, o)
        assert sol.supply[n] == pytest.approx(x[i].sum(), rel=1e-7)
        exports = 0.0
        for j, d in enumerate(regions):
            if i != j:
                f = sol.flow[mk.route_list.index((R, o, d))]
                exports += f
                assert f == pytest.approx(x[i, j], rel=1e-7, abs=1e-7)
        assert sol.supply[n] - exports == pytest.approx(x[i, i], rel=1e-7, abs=1e-7)
    for j, d in enumerate(regions):
        n = mk.node_index(R, d)
        D = x[:, j].sum()
        assert sol.demand[n] == pytest.approx(D, rel=1e-7, abs=1e-7)
        if D > 1e-9:
            assert sol.price[n] == pytest.approx(rho[j] - eta[j] * D, rel=1e-7)
    # market power shows: the exporting producers hold back
    for r in ("one", "three"):
        n = mk.node_index(R, r)
        assert sol.supply[n] < base.solution.supply[n]


@st.composite
def one_seller_case(draw):
    """A strict random market (test_properties.market_case) with one
    strategic region at its last stage and two conducts θ₁ < θ₂."""
    cd = draw(market_case(strict=True))
    region = draw(st.sampled_from(cd["case"]["regions"]))
    low = draw(st.sampled_from([0.0, 0.2, 0.5, 0.8]))
    high = draw(st.sampled_from([t for t in (0.2, 0.5, 0.8, 1.0) if t > low]))
    return cd, region, low, high


@settings(**{**SETTINGS, "max_examples": min(SETTINGS["max_examples"], 50)})
@given(one_seller_case())
def test_raising_conduct_never_raises_the_sellers_output(drawn):
    """One strategic seller among price-takers: its output (supply plus
    its refiners' output at the node) at conduct θ₂ is at most its output
    at θ₁ < θ₂.  Intuition (the network's feedback makes it no one-line
    proof, hence the random markets): the program maximises W(z) − θ·G(z)
    with G = ½·Σ b·q² over the seller's sales, so G cannot rise with θ;
    at given quantities the seller's marginal revenue on every sale falls
    as θ rises while its marginal cost rises with output.  (With several
    sellers the claim is false: in the duopoly of
    test_cournot_duopoly_into_a_third_market B sells 0 at θ = 0 and 24 at
    θ = ½.)  Both answers must verify."""
    cd, region, low, high = drawn
    out = []
    for theta in (low, high):
        mk, plan, res = _solve_with(cd, [power([region], theta)])
        assert res.ok and res.verification.ok, res.message
        n = mk.node_index(mk.stages[-1], region)
        made = np.nan_to_num(res.solution.supply[n]) + sum(res.solution.processing[k] for k in range(len(mk.processes)) if int(mk.process_nodes[1][k]) == n)
        out.append(made)
    assert out[1] <= out[0] + 1e-7 * mk.quantity_scale
