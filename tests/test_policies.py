"""Every instrument on markets whose equilibrium is derived by hand.

The market of most tests (``two_regions``): region A with supply
``P = 10 + S`` and demand ``P = 100 − D``, region B with supply
``P = 40 + S`` and demand ``P = 160 − D``, one route A->B at cost 10.
Without policy (tests/test_closed_form.py): ``P_A = 72.5``,
``P_B = 82.5``, ``X = 35``.  Along the route, A's excess supply is
``X = 2·P_A − 110`` and B's excess demand ``X = 200 − 2·P_B``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mineq.models.policies import build_plan
from mineq.solver.case import build_case
from mineq.solver.solve import solve_market
from mineq.solver.statistics import objective, welfare, welfare_change

from helpers import case_dict, lin, mineral
from test_closed_form import two_regions

R = "refined"


def solve_policy(policies, market=None, regions=("A", "B"), groups=None, **kw):
    """Baseline and one scenario with ``policies``; returns (market, base, result)."""
    case = build_case(case_dict(list(regions), [market or two_regions()], groups=groups, scenarios=[{"name": "s", "policies": [dict(p, minerals=["m"]) for p in policies]}]))
    mk = case.markets["m"]
    base = solve_market(mk)
    assert base.ok
    plan = build_plan(mk, case.scenarios[0].instruments, base.solution)
    res = solve_market(mk, plan=plan, start=base.solution, **kw)
    return mk, base, res


def P(res, region, stage=R):
    return res.solution.price[res.market.node_index(stage, region)]


def check_identity(mk, base, res):
    """World welfare = the objective; changes add up (SPEC §4)."""
    w = welfare(mk, res.solution, res.plan)
    assert np.nansum(w["total_welfare"]) == pytest.approx(objective(mk, res.solution, res.plan), rel=1e-9, abs=1e-7)
    d = welfare_change(mk, res.solution, base.solution, res.plan)
    assert d["total_welfare"].sum() == pytest.approx(objective(mk, res.solution, res.plan) - objective(mk, base.solution), rel=1e-9, abs=1e-7)
    return w


def test_mip_levy_binding():
    """MIP M = 90 on A->B, above the free-trade landed price 82.5: B's price is
    90, so X = 200 − 180 = 20 and P_A = (110 + 20)/2 = 65; the levy is
    90 − (65 + 10) = 15 per unit, 300 in all, to B's government."""
    mk, base, res = solve_policy([{"type": "minimum_import_price", "importers": "B", "level": 90.0}])
    assert res.ok and res.plan.price_dependent
    assert P(res, "A") == pytest.approx(65, rel=1e-9)
    assert P(res, "B") == pytest.approx(90, rel=1e-9)
    assert res.solution.flow[0] == pytest.approx(20, rel=1e-9)
    w = check_identity(mk, base, res)
    assert w["levy_revenue"] == pytest.approx([0, 300], rel=1e-9)
    assert w["undertaking_rent"] == pytest.approx([0, 0])


def test_mip_undertaking_moves_the_rent_only():
    """Same MIP as a price undertaking: same quantities and prices; the 300
    goes to the exporter A instead of B's government."""
    mk, base, lev = solve_policy([{"type": "minimum_import_price", "importers": "B", "level": 90.0}])
    mk, base, und = solve_policy([{"type": "minimum_import_price", "importers": "B", "level": 90.0, "rent": "undertaking"}])
    assert und.ok
    assert und.solution.price == pytest.approx(lev.solution.price, rel=1e-9)
    w = check_identity(mk, base, und)
    assert w["undertaking_rent"] == pytest.approx([300, 0], rel=1e-9)
    assert w["levy_revenue"] == pytest.approx([0, 0])


def test_mip_not_binding_changes_nothing():
    """M = 80 is below the landed price 82.5: the baseline stands, no levy."""
    mk, base, res = solve_policy([{"type": "minimum_import_price", "importers": "B", "level": 80.0}])
    assert res.ok
    assert res.solution.price == pytest.approx(base.solution.price, rel=1e-9)
    assert welfare(mk, res.solution, res.plan)["levy_revenue"].sum() == pytest.approx(0, abs=1e-9)


def test_mip_relative_to_baseline():
    """level_vs_baseline = 1.1: M = 1.1 × 82.5 = 90.75, so X = 200 − 181.5 = 18.5,
    P_A = (110 + 18.5)/2 = 64.25 and the levy is 90.75 − 74.25 = 16.5."""
    mk, base, res = solve_policy([{"type": "minimum_import_price", "importers": "B", "level_vs_baseline": 1.1}])
    assert res.ok
    assert P(res, "B") == pytest.approx(90.75, rel=1e-9)
    assert P(res, "A") == pytest.approx(64.25, rel=1e-9)
    assert welfare(mk, res.solution, res.plan)["levy_revenue"][1] == pytest.approx(16.5 * 18.5, rel=1e-9)


def test_mip_exempt_partner_not_covered():
    """The only origin A is exempt: the MIP covers no route."""
    mk, base, res = solve_policy([{"type": "minimum_import_price", "importers": "B", "exempt": ["@partners"], "level": 90.0}], groups={"partners": ["A"]})
    assert res.ok and not res.plan.routes
    assert res.solution.price == pytest.approx(base.solution.price, rel=1e-9)


def test_ad_valorem_tariff():
    """10% on CIF: P_B = 1.1·(P_A + 10); 2P_A − 110 = 200 − 2.2·(P_A + 10)
    gives P_A = 288/4.2 = 68.571..., P_B = 86.428..., X = 27.142...;
    revenue 0.1 × 78.571... × X to B."""
    mk, base, res = solve_policy([{"type": "tariff", "importers": "B", "ad_valorem": 0.1}])
    pa = 288 / 4.2
    assert res.ok
    assert P(res, "A") == pytest.approx(pa, rel=1e-9)
    assert P(res, "B") == pytest.approx(1.1 * (pa + 10), rel=1e-9)
    w = check_identity(mk, base, res)
    assert w["tariff_revenue"][1] == pytest.approx(0.1 * (pa + 10) * (2 * pa - 110), rel=1e-9)


def test_specific_tariff_is_one_program():
    """5 per unit: P_B = P_A + 15, so P_A = 70, P_B = 85, X = 30, revenue 150;
    a fixed wedge needs no fixed point."""
    mk, base, res = solve_policy([{"type": "tariff", "importers": "B", "specific": 5.0}])
    assert res.ok and res.method == "qp" and not res.plan.price_dependent
    assert (P(res, "A"), P(res, "B"), res.solution.flow[0]) == pytest.approx((70, 85, 30), rel=1e-9)
    assert check_identity(mk, base, res)["tariff_revenue"][1] == pytest.approx(150, rel=1e-9)


def test_ad_valorem_export_tax():
    """10% on FOB: CIF = 1.1·P_A + 10 = P_B; 2P_A − 110 = 200 − 2·(1.1P_A + 10)
    gives P_A = 290/4.2; revenue 0.1·P_A·X to A."""
    mk, base, res = solve_policy([{"type": "export_tax", "exporters": "A", "ad_valorem": 0.1}])
    pa = 290 / 4.2
    assert res.ok
    assert P(res, "A") == pytest.approx(pa, rel=1e-9)
    assert P(res, "B") == pytest.approx(1.1 * pa + 10, rel=1e-9)
    assert check_identity(mk, base, res)["export_tax_revenue"][0] == pytest.approx(0.1 * pa * (2 * pa - 110), rel=1e-9)


def test_import_quota_binding_and_not():
    """Quota 20 on B's imports: X = 20 gives P_A = 65, P_B = 90 and a rent of
    90 − 75 = 15 per unit (300) to the importer.  A quota of 50 > 35 does
    not bind: baseline, rent 0."""
    mk, base, res = solve_policy([{"type": "import_quota", "importers": "B", "quantity": 20.0}])
    assert res.ok
    assert (P(res, "A"), P(res, "B")) == pytest.approx((65, 90), rel=1e-9)
    assert res.solution.quota_rent == pytest.approx([15], rel=1e-9)
    assert check_identity(mk, base, res)["quota_rent"] == pytest.approx([0, 300], rel=1e-9)
    mk, base, loose = solve_policy([{"type": "import_quota", "importers": "B", "quantity": 50.0, "rent_to": "exporter"}])
    assert loose.ok and loose.solution.quota_rent == pytest.approx([0], abs=1e-9)
    assert loose.solution.price == pytest.approx(base.solution.price, rel=1e-9)


def test_export_ban_is_autarky_and_equals_prohibitive_tariff():
    """Export quota 0 from A: autarky prices 55 and 100.  A specific tariff of
    35 (= 100 − 55 − 10, the autarky gap net of transport) gives the same."""
    mk, base, ban = solve_policy([{"type": "export_quota", "exporters": "A", "quantity": 0.0}])
    assert ban.ok
    assert (P(ban, "A"), P(ban, "B"), ban.solution.flow[0]) == pytest.approx((55, 100, 0), abs=1e-8)
    check_identity(mk, base, ban)
    mk, base, tar = solve_policy([{"type": "tariff", "importers": "B", "specific": 40.0}])
    assert tar.solution.price == pytest.approx(ban.solution.price, rel=1e-9)


def test_deficiency_payment_binding():
    """Floor 80 for A's producers: S_A = 80 − 10 = 70 whatever the price; then
    70 = (100 − P_A) + (180 − 2P_A) gives P_A = 70, P_B = 80, X = 40; A's
    government pays (80 − 70) × 70 = 700, which A's producers receive."""
    mk, base, res = solve_policy([{"type": "price_floor", "mechanism": "deficiency_payment", "regions": "A", "level": 80.0}])
    assert res.ok and res.method == "qp"
    assert (P(res, "A"), P(res, "B"), res.solution.flow[0]) == pytest.approx((70, 80, 40), rel=1e-9)
    w = check_identity(mk, base, res)
    assert w["deficiency_payments"] == pytest.approx([700, 0], rel=1e-9)
    assert w["government_net"] == pytest.approx([-700, 0], rel=1e-9)


def test_deficiency_payment_cap_and_non_binding():
    """Cap 50 < the 62.5 A produces anyway: output unchanged, payment
    (80 − 72.5) × 50 = 375 (a pure transfer).  A floor of 60 < 72.5 pays nothing."""
    mk, base, res = solve_policy([{"type": "price_floor", "mechanism": "deficiency_payment", "regions": "A", "level": 80.0, "cap": 50.0}])
    assert res.ok and res.solution.price == pytest.approx(base.solution.price, rel=1e-9)
    assert check_identity(mk, base, res)["deficiency_payments"][0] == pytest.approx(375, rel=1e-9)
    mk, base, low = solve_policy([{"type": "price_floor", "mechanism": "deficiency_payment", "regions": "A", "level": 60.0}])
    assert low.solution.supply == pytest.approx(base.solution.supply, rel=1e-9)
    assert welfare(mk, low.solution, low.plan)["deficiency_payments"].sum() == 0


def test_offtake_uncapped_and_budget_capped():
    """Offtake at 80 in A: P_A = 80, P_B = 90, S_A = 70, D_A = 20, X = 20, so
    the government buys G = 30 for 2400.  With a budget of 400, G = 5 and
    (P_A − 10) − (100 − P_A) − (180 − 2P_A) − 5 = 0 gives P_A = 73.75 < 80;
    the premium (80 − 73.75) × 5 = 31.25 goes to A's sellers."""
    mk, base, res = solve_policy([{"type": "price_floor", "mechanism": "offtake", "regions": "A", "level": 80.0}])
    assert res.ok
    assert (P(res, "A"), P(res, "B")) == pytest.approx((80, 90), rel=1e-9)
    assert res.solution.offtake == pytest.approx([30], rel=1e-9)
    w = check_identity(mk, base, res)
    assert w["offtake_outlay"] == pytest.approx([2400, 0], rel=1e-9)
    mk, base, cap = solve_policy([{"type": "price_floor", "mechanism": "offtake", "regions": "A", "level": 80.0, "budget": 400.0}])
    assert cap.ok and P(cap, "A") == pytest.approx(73.75, rel=1e-9)
    assert cap.solution.offtake == pytest.approx([5], rel=1e-9)
    w = check_identity(mk, base, cap)
    assert w["offtake_premium"][0] == pytest.approx(31.25, rel=1e-9)
    # valued at the market price after the purchase (73.75 x 5), the stock
    # is worth the outlay less the premium paid above the market
    assert w["stockpile_value_at_market"] == pytest.approx([368.75, 0], rel=1e-9)
    assert w["stockpile_value"][0] - w["stockpile_value_at_market"][0] == pytest.approx(w["offtake_premium"][0], rel=1e-9)


def test_capacity_shock_and_stockpile_release():
    """Halving A's producers: S_A = (P_A − 10)/2, so 1.5P_A − 105 = 180 − 2P_A
    and P_A = 285/3.5.  Releasing 10 in B: 2P_A − 110 = 190 − 2(P_A + 10)
    gives P_A = 70, P_B = 80, X = 30; B's government sells 10 at 80."""
    mk, base, res = solve_policy([{"type": "capacity_shock", "regions": "A", "factor": 0.5}])
    assert res.ok and P(res, "A") == pytest.approx(285 / 3.5, rel=1e-9)
    check_identity(mk, base, res)
    mk, base, rel = solve_policy([{"type": "stockpile_release", "regions": "B", "quantity": 10.0}])
    assert rel.ok and (P(rel, "A"), P(rel, "B"), rel.solution.flow[0]) == pytest.approx((70, 80, 30), rel=1e-9)
    assert check_identity(mk, base, rel)["stockpile_release_revenue"] == pytest.approx([0, 800], rel=1e-9)


def processing_market():
    """One region: mine supply 10 + S, processing θ = 1 at cost 5 + Y, refined
    demand 100 − D.  Baseline: 100 − Y − (10 + Y) = 5 + Y, Y = 85/3."""
    return mineral(
        stages=("mine", R),
        nodes=[{"stage": "mine", "region": "A", "supply": lin(10, 1)}, {"stage": R, "region": "A", "demand": lin(100, 1)}],
        processing=[{"region": "A", "from": "mine", "to": R, "theta": 1.0, "cost": lin(5, 1)}],
    )


def test_floor_on_processors_is_a_price_dependent_credit():
    """Floor 80 on refiners: they earn 80 while P_ref < 80, so
    80 − (10 + Y) = 5 + Y, Y = 32.5, P_mine = 42.5, P_ref = 67.5; payment
    12.5 × 32.5 = 406.25.  With cap 30 the credit stops at 30 units: at
    Y = 30 the marginal revenue 70 (uncovered) < 35 + 40 < 80 (covered),
    so Y = 30 and the payment is 10 × 30 = 300."""
    pol = {"type": "price_floor", "mechanism": "deficiency_payment", "regions": "A", "stage": R, "level": 80.0}
    mk, base, res = solve_policy([pol], market=processing_market(), regions=("A",))
    assert base.solution.processing == pytest.approx([85 / 3], rel=1e-9)
    assert res.ok and res.method == "fixed point"
    assert res.solution.processing == pytest.approx([32.5], rel=1e-9)
    assert P(res, "A") == pytest.approx(67.5, rel=1e-9)
    assert P(res, "A", "mine") == pytest.approx(42.5, rel=1e-9)
    assert check_identity(mk, base, res)["deficiency_payments"] == pytest.approx([406.25], rel=1e-9)
    mk, base, cap = solve_policy([dict(pol, cap=30.0)], market=processing_market(), regions=("A",))
    assert cap.ok and cap.solution.processing == pytest.approx([30], rel=1e-9)
    assert check_identity(mk, base, cap)["deficiency_payments"] == pytest.approx([300], rel=1e-9)


def flat_importer():
    """A as in two_regions; B nearly flat: supply 100 + 0.01S, demand 200 − 0.01D."""
    return mineral(
        nodes=[
            {"stage": R, "region": "A", "supply": lin(10, 1), "demand": lin(100, 1)},
            {"stage": R, "region": "B", "supply": lin(100, 0.01), "demand": lin(200, 0.01)},
        ],
        routes=[{"origin": "A", "destination": "B", "cost": 10.0}],
    )


def test_plain_fixed_point_fails_and_the_milp_finds_the_equilibrium():
    """A 150% export tax from A into a nearly flat market B.

    B's excess demand is X = 30000 − 200·P_B and P_B = 2.5·P_A + 10, so
    2P_A − 110 = 28000 − 500P_A: P_A = 28110/502, P_B = 2.5·P_A + 10.
    A bears almost all of the tax, so the wedge map w -> 1.5·P_A(w) has
    slope about −1.5: the plain iteration oscillates with growing
    amplitude and never verifies.  With the fallback on, the MILP over the
    complementarity conditions finds the closed form; the accelerated
    fixed point finds it too.
    """
    pol = [{"type": "export_tax", "exporters": "A", "ad_valorem": 1.5}]
    pa = 28110 / 502
    mk, base, plain = solve_policy(pol, market=flat_importer(), memory=0, damping=1.0, fallback=False, max_iterations=40)
    assert not plain.ok and plain.status == "not converged"
    assert "no verified equilibrium" in plain.message
    mk, base, rescued = solve_policy(pol, market=flat_importer(), memory=0, damping=1.0, max_iterations=40)
    assert rescued.ok and rescued.fallback and rescued.method == "milp"
    assert P(rescued, "A") == pytest.approx(pa, rel=1e-9)
    assert P(rescued, "B") == pytest.approx(2.5 * pa + 10, rel=1e-9)
    mk, base, accel = solve_policy(pol, market=flat_importer())
    assert accel.ok and not accel.fallback
    assert accel.solution.price == pytest.approx(rescued.solution.price, rel=1e-9)


def test_milp_agrees_with_fixed_point_on_a_two_stage_market():
    """MIP and a processor floor together on the demo's rare-earth market,
    solved by the fixed point and by the MILP alone (one iteration, then
    fallback): both verify and agree."""
    from mineq.solver.case import load_case
    from pathlib import Path

    case = load_case(Path(__file__).resolve().parent.parent / "cases" / "three-region-demo")
    mk = case.markets["rare_earths"]
    base = solve_market(mk)
    data = dict(case.data)
    data["scenarios"] = [{"name": "x", "policies": [
        {"type": "minimum_import_price", "minerals": ["rare_earths"], "stage": "refined", "importers": ["USA", "ROW"], "origins": ["CHN"], "level_vs_baseline": 1.15},
        {"type": "price_floor", "mechanism": "deficiency_payment", "minerals": ["rare_earths"], "stage": "refined", "regions": ["USA"], "level_vs_baseline": 1.4},
    ]}]
    case2 = build_case(data)
    plan = build_plan(mk, case2.scenarios[0].instruments, base.solution)
    fp = solve_market(mk, plan=plan, start=base.solution)
    plan = build_plan(mk, case2.scenarios[0].instruments, base.solution)
    milp = solve_market(mk, plan=plan, start=base.solution, max_iterations=1)
    assert fp.ok and milp.ok and milp.method == "milp"
    assert milp.solution.price == pytest.approx(fp.solution.price, rel=1e-7)
    assert milp.solution.processing == pytest.approx(fp.solution.processing, rel=1e-7, abs=1e-7)


def test_bad_policy_entries_name_the_field():
    from mineq.solver.errors import CaseError

    bad = [
        ({"type": "price_floor", "mechanism": "cfd", "regions": "A", "level": 1.0}, "mechanism"),
        ({"type": "price_floor", "mechanism": "offtake", "regions": "A"}, "level"),
        ({"type": "price_floor", "mechanism": "offtake", "regions": "A", "level": 1.0, "level_vs_baseline": 1.2}, "level"),
        ({"type": "minimum_import_price", "importers": "Z", "level": 1.0}, "importers"),
        ({"type": "minimum_import_price", "importers": "B", "origins": ["A"], "exempt": ["A"], "level": 1.0}, "exempt"),
        ({"type": "tariff", "importers": "B"}, "ad_valorem"),
        ({"type": "tariff", "importers": "B", "ad_valorem": -0.1}, "ad_valorem"),
        ({"type": "import_quota", "importers": "B", "quantity": -1.0}, "quantity"),
        ({"type": "capacity_shock", "regions": "A"}, "factor"),
        ({"type": "price_floor", "mechanism": "deficiency_payment", "regions": "A", "level": 5.0, "budget": 3.0}, "budget"),
        ({"type": "export_tax", "exporters": "A", "specific": 1.0, "colour": "red"}, "colour"),
    ]
    for pol, field in bad:
        with pytest.raises(CaseError) as err:
            build_case(case_dict(["A", "B"], [two_regions()], scenarios=[{"name": "s", "policies": [dict(pol, minerals=["m"])]}]))
        assert f"field '{field}'" in str(err.value), (pol, str(err.value))
        assert "scenario 's', policy 1" in str(err.value)


def test_offtake_below_the_market_price_buys_nothing():
    """An offtake floor of 60 < P_A = 72.5: G = 0, prices unchanged, no outlay."""
    mk, base, res = solve_policy([{"type": "price_floor", "mechanism": "offtake", "regions": "A", "level": 60.0}])
    assert res.ok and res.solution.offtake == pytest.approx([0], abs=1e-9)
    assert res.solution.price == pytest.approx(base.solution.price, rel=1e-9)
    assert check_identity(mk, base, res)["offtake_outlay"].sum() == pytest.approx(0, abs=1e-9)


def test_sourcing_shares_in_results():
    """In the two-region baseline B buys 35 from A and makes 42.5 itself:
    B's supply is 42.5/77.5 home and 35/77.5 from A (the group 'partners')."""
    from mineq.solver.results import to_dataset
    from mineq.solver.solve import MarketResult  # noqa: F401

    case = build_case(case_dict(["A", "B"], [two_regions()], groups={"partners": ["A"]}))
    res = {"baseline": {"m": solve_market(case.markets["m"])}}
    ds = to_dataset(case, res)
    sh = ds.sourcing_share.sel(scenario="baseline", mineral="m", stage=R, region="B")
    assert float(sh.sel(source="home")) == pytest.approx(42.5 / 77.5, rel=1e-9)
    assert float(sh.sel(source="partners")) == pytest.approx(35 / 77.5, rel=1e-9)
    assert float(ds.production_hhi.sel(scenario="baseline", mineral="m", stage=R)) == pytest.approx((62.5**2 + 42.5**2) / 105**2, rel=1e-9)


def transit_market():
    """A (supply 10 + S) ships to M (supply 40 + S, demand 100 − D) at 5; M
    ships to B (demand 160 − D) at 5; the direct route A->B costs 10."""
    return mineral(
        nodes=[
            {"stage": R, "region": "A", "supply": lin(10, 1)},
            {"stage": R, "region": "M", "supply": lin(40, 1), "demand": lin(100, 1)},
            {"stage": R, "region": "B", "demand": lin(160, 1)},
        ],
        routes=[{"origin": "A", "destination": "M", "cost": 5.0}, {"origin": "M", "destination": "B", "cost": 5.0}, {"origin": "A", "destination": "B", "cost": 10.0}],
    )


def test_rules_of_origin_stop_a_ban_leaking_through_a_third_country():
    """Ban A->B.  Without rules of origin A's output reaches B through M:
    P_M = P_A + 5, P_B = P_M + 5 and (P_M − 15) + (P_M − 40) = (100 − P_M)
    + (155 − P_M) give P_M = 77.5, P_B = 82.5.

    With M's exports to B limited to M's own output (rent λ): M's
    producers earn P_M + λ, so S_M = P_M + λ − 40 = X_MB = D_B = 160 − P_B
    and P_B = P_M + 5 + λ, hence P_M + λ = 97.5, S_M = 57.5, P_B = 102.5.
    M consumes A's material: X_AM = P_M − 15 = D_M = 100 − P_M, so
    P_M = 57.5, λ = 40, P_A = 52.5; the origin rent 40 × 57.5 = 2300 goes
    to M."""
    ban = {"type": "export_quota", "exporters": "A", "destinations": ["B"], "quantity": 0.0}
    mk, base, leak = solve_policy([ban], market=transit_market(), regions=("A", "M", "B"))
    assert leak.ok and (P(leak, "M"), P(leak, "B")) == pytest.approx((77.5, 82.5), rel=1e-9)
    roo = {"type": "rules_of_origin", "exporters": ["M"], "importers": ["B"]}
    mk, base, res = solve_policy([ban, roo], market=transit_market(), regions=("A", "M", "B"))
    assert res.ok
    assert (P(res, "A"), P(res, "M"), P(res, "B")) == pytest.approx((52.5, 57.5, 102.5), rel=1e-9)
    assert res.solution.origin_rent == pytest.approx([40], rel=1e-9)
    w = check_identity(mk, base, res)
    assert w["origin_rent"] == pytest.approx([0, 2300, 0], rel=1e-9)
    # the MILP fallback knows the rule too
    mk, base, milp = solve_policy([ban, roo, {"type": "tariff", "importers": "M", "ad_valorem": 0.0001}], market=transit_market(), regions=("A", "M", "B"), max_iterations=1)
    assert milp.ok and milp.method == "milp"
    assert milp.solution.origin_rent[0] == pytest.approx(40, rel=1e-3)


def test_floor_without_eligible_producers_is_diagnosed():
    """A deficiency-payment floor in a region with no producers (B has a
    supply curve, a region C with only demand has none): nothing changes
    and the diagnosis names the mineral, node and policy."""
    from mineq.solver.diagnose import diagnose

    m = two_regions()
    m["nodes"].append({"stage": R, "region": "C", "demand": lin(120, 1)})
    m["routes"].append({"origin": "A", "destination": "C", "cost": 10.0})
    mk, base, res = solve_policy([{"type": "price_floor", "mechanism": "deficiency_payment", "regions": "C", "level": 95.0, "description": "floor in C"}], market=m, regions=("A", "B", "C"))
    assert res.ok
    assert res.solution.price == pytest.approx(base.solution.price, rel=1e-9)
    notes = [str(d) for d in diagnose(mk, res.plan, "s")]
    assert notes == ["warning: m refined/C: price floor (floor in C) has no eligible producers or processors in C at the refined stage; it pays nothing there in scenario 's'"]


def test_margin_refinement_stops_when_it_stalls(monkeypatch):
    """Once an iterate of a fixed point verifies, solve_market takes a few
    more steps to sit well inside the tolerance (``MARGIN``), but only
    while each halves the residual (``MARGIN_GAIN``): with residuals
    scripted to 0.5, 4e-8, 3.99e-8, 3.98e-8, ... (the linked light rare
    earths' fixed points stalled so), it stops at the third iterate,
    which is better than the second, and reports it; a step that does
    not improve at all gives back the better point before it, and so
    does one that leaves the tolerance (before, the iteration went on to
    its limit and reported no equilibrium)."""
    import mineq.solver.solve as S
    from mineq.solver.case import load_case
    from mineq.solver.run import mineral_plan
    from mineq.solver.verify import Verification

    case = load_case(Path(__file__).resolve().parent.parent / "cases" / "three-region-demo")
    base = solve_market(case.markets["lithium"])
    plan = mineral_plan(case, "us-mip", "lithium", base.solution)
    assert plan.price_dependent
    for script, stop, kept in (([0.5, 4e-8, 3.99e-8, 3.98e-8, 3.97e-8, 3.96e-8, 3.95e-8, 3.94e-8], 3, 3.99e-8), ([0.5, 4e-8, 4.1e-8, 1e-12, 1e-12, 1e-12, 1e-12, 1e-12], 3, 4e-8),
                               # a margin step out of the tolerance (1e-6) again
                               ([0.5, 4e-8, 5e-6] + [4.9e-6] * 70, 3, 4e-8)):
        seen = iter(script)

        def scripted(market, sol, tol, plan=None, seen=seen):
            v = Verification()
            v.add("scripted", [next(seen)], ["x"])
            return v

        monkeypatch.setattr(S, "verify", scripted)
        res = solve_market(plan.market, plan=plan, start=base.solution)
        assert res.iterations == stop and res.max_residual == kept, (script, res.iterations, res.max_residual)
