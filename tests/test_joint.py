"""Joint production (issue 19): activities with fixed yields of several
products, free disposal, and linked markets solved as one program.

Closed forms are derived in each test's docstring; the verifier, not the
solver status, is what the tests hold the answers to."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from mineq.models.curves import Linear
from mineq.models.joint import Linked
from mineq.models.market import Joint, Market
from mineq.solver.case import build_case, load_case, read_case
from mineq.solver.errors import CaseError
from mineq.solver.results import to_dataset
from mineq.solver.run import solve_case, verify_dataset
from mineq.solver.solve import solve_market
from mineq.solver.verify import verify

DEMO = Path(__file__).parent / "data" / "joint_demo.toml"


def dem(a, b):
    return Linear({"intercept": float(a), "slope": float(b)}, "demand")


def sup(c, d):
    return Linear({"intercept": float(c), "slope": float(d)}, "supply")


def two_products(b_intercept):
    """One region, an activity with no input, MC = 1 + Y, yielding 1 unit
    of a and 0.5 of b; demands P_a = 10 − Q_a, P_b = b_intercept − 2·Q_b."""
    return Market("ab", ["a", "b"], ["A"], "t", "USD/t", supply={}, demand={("a", "A"): dem(10, 1), ("b", "A"): dem(b_intercept, 2)},
                  routes={}, processes=[], joint=[Joint("sep", "A", {}, {"a": 1.0, "b": 0.5}, sup(1, 1))])


def test_two_products_share_one_cost():
    """Both products sold: Q_a = Y, Q_b = Y/2, and the activity runs until
    what it yields pays its marginal cost: P_a + ½·P_b = 1 + Y with
    P_a = 10 − Y, P_b = 10 − 2·(Y/2) = 10 − Y:
    15 − 1.5·Y = 1 + Y, so Y = 5.6 and P_a = P_b = 4.4."""
    r = solve_market(two_products(10))
    assert r.ok and r.verification.ok
    s = r.solution
    assert s.joint[0] == pytest.approx(5.6, rel=1e-9)
    assert s.price == pytest.approx([4.4, 4.4], rel=1e-9)
    assert s.demand == pytest.approx([5.6, 2.8], rel=1e-9)
    assert s.disposal == pytest.approx([0.0, 0.0], abs=1e-9)


def test_surplus_by_product_is_disposed_of_at_zero_price():
    """P_b = 1 − 2·Q_b cannot take Y/2 at a positive price for any Y that
    a pays for, so b's price is 0 (free disposal), b's consumers take
    Q_b = 0.5 and the rest is disposed of; a alone pays the cost:
    10 − Y = 1 + Y, Y = 4.5, P_a = 5.5, disposal = 2.25 − 0.5 = 1.75."""
    r = solve_market(two_products(1))
    assert r.ok
    s = r.solution
    assert s.joint[0] == pytest.approx(4.5, rel=1e-9)
    assert s.price[0] == pytest.approx(5.5, rel=1e-9)
    assert abs(s.price[1]) < 1e-9
    assert s.demand[1] == pytest.approx(0.5, rel=1e-9)
    assert s.disposal[1] == pytest.approx(1.75, rel=1e-9)


def test_host_input_and_the_balance_problem():
    """A concentrate c (supply P_c = 1 + Q_c) is separated at no cost into
    ½ a and ½ b (demands P_a = 20 − Q_a, P_b = 10 − Q_b).  With Q_c = Y,
    Q_a = Q_b = Y/2: ½(20 − Y/2) + ½(10 − Y/2) = 1 + Y, so Y = 28/3,
    P_c = 31/3, P_a = 46/3, P_b = 16/3.

    More demand for a alone (intercept 20 → 26) raises Y to 10 and so
    lowers the price of b, which nobody asked more of (the balance
    problem): ½(26 − Y/2) + ½(10 − Y/2) = 1 + Y gives Y = 34/3, P_b = 13/3."""
    def market(a):
        return Market("cab", ["c", "a", "b"], ["A"], "t", "USD/t", supply={("c", "A"): sup(1, 1)}, demand={("a", "A"): dem(a, 1), ("b", "A"): dem(10, 1)},
                      routes={}, processes=[], joint=[Joint("sep", "A", {"c": 1.0}, {"a": 0.5, "b": 0.5}, sup(0, 0))])
    r = solve_market(market(20))
    assert r.ok
    assert r.solution.joint[0] == pytest.approx(28 / 3, rel=1e-9)
    assert r.solution.price == pytest.approx([31 / 3, 46 / 3, 16 / 3], rel=1e-9)
    r2 = solve_market(market(26))
    assert r2.ok
    assert r2.solution.joint[0] == pytest.approx(34 / 3, rel=1e-9)
    assert r2.solution.price[2] == pytest.approx(13 / 3, rel=1e-9)
    assert r2.solution.price[2] < r.solution.price[2]


def test_verifier_rejects_answers_blind_to_the_by_product():
    """The answer of pricing a alone (Y solving P_a = MC: 10 − Y = 1 + Y,
    Y = 4.5) while b sells at a positive price is not an equilibrium:
    the activity then earns more than its marginal cost.  Free disposal
    at a positive price, and a negative price, are rejected too."""
    mk = two_products(10)
    good = solve_market(mk).solution
    blind = type(good)(**{**vars(good)})
    blind.joint = np.array([4.5])
    blind.demand = np.array([4.5, 2.25])
    blind.price = np.array([5.5, 10 - 4.5])
    v = verify(mk, blind)
    assert not v.ok and v.residuals["joint_production"].max() > 1e-3
    dumped = type(good)(**{**vars(good)})
    dumped.disposal = np.array([0.0, 0.5])
    dumped.demand = np.array([5.6, 2.3])
    assert not verify(mk, dumped).ok
    negative = type(good)(**{**vars(good)})
    negative.price = good.price - np.array([0.0, 5.0])
    assert not verify(mk, negative).ok


@settings(max_examples=25, deadline=None)
@given(
    y=st.lists(st.floats(0.05, 2.0), min_size=2, max_size=3),
    a=st.lists(st.floats(1.0, 50.0), min_size=3, max_size=3),
    b=st.lists(st.floats(0.05, 2.0), min_size=3, max_size=3),
    c=st.floats(0.0, 5.0),
    d=st.floats(0.01, 1.0),
    t=st.floats(0.0, 2.0),
)
def test_property_linked_markets_verify_and_split_exactly(y, a, b, c, d, t):
    """Random two-region, two- or three-product markets with a joint
    activity in each region: the solution verifies; split per member, each
    member's own balance holds with the joint output as an inflow (the
    member check), and the members' shares of the joint surplus add up to
    the activities' surplus Σ y·P·Y − ∫MC computed directly."""
    regions = ["A", "B"]
    members = {}
    for k in range(len(y)):
        name = f"p{k}"
        members[name] = Market(name, ["refined"], regions, "t", "USD/t", supply={}, demand={("refined", r): dem(a[k] * (1 + j), b[k]) for j, r in enumerate(regions)},
                               routes={("refined", "A", "B"): t, ("refined", "B", "A"): t}, processes=[])
    joint = [Joint("act", r, {}, {f"p{k}:refined": y[k] for k in range(len(y))}, sup(c * (1 + j), d)) for j, r in enumerate(regions)]
    link = Linked("L", members, joint)
    res = solve_market(link.market)
    assert res.ok, res.message
    parts = link.split(res.solution)
    for m, sol in parts.items():
        assert verify(members[m], sol).ok
    mk, sol = link.market, res.solution
    direct = sum(sum(amt * sol.price[n] for n, amt in terms) * sol.joint[j] - jp.cost.integral(sol.joint[j]) for j, (jp, terms) in enumerate(zip(mk.joint, mk.joint_terms)))
    shares = sum(float(np.sum(p.joint_surplus)) for p in parts.values())
    assert shares == pytest.approx(direct, rel=1e-9, abs=1e-9)
    # the join puts the same solution back together
    again = link.join(parts, sol.joint)
    assert verify(mk, again).ok


@settings(max_examples=20, deadline=None)
@given(scale=st.lists(st.floats(0.2, 5.0), min_size=3, max_size=3), drop=st.booleans(), which=st.integers(0, 2))
def test_property_a_link_over_changed_members_is_the_link_built_anew(scale, drop, which):
    """:meth:`Linked.with_members` (a scenario's plan, an ensemble's
    draw) re-uses the link's market for its keys and index helpers: over
    members with other curves and route costs it is the market
    :meth:`Linked._build` makes, key for key, number for number and in
    the same order; over a member whose routes differ (one dropped) it is
    built anew, and still equals a fresh build."""
    from dataclasses import replace

    from mineq.models.market import STRUCTURE

    regions = ["A", "B"]
    members = {f"p{k}": Market(f"p{k}", ["ore", "refined"], regions, "t", "USD/t", supply={("ore", "A"): sup(1, 0.5)}, demand={("refined", r): dem(10 * (1 + j), 1) for j, r in enumerate(regions)},
                               routes={("refined", "A", "B"): 1.0, ("refined", "B", "A"): 2.0, ("ore", "A", "B"): 0.5}, processes=[], route_slopes={("refined", "A", "B"): 0.1})
               for k in range(3)}
    joint = [Joint("act", "A", {"p0:ore": 1.0}, {"p1:refined": 0.3, "p2:refined": 0.1}, sup(1, 1))]
    link = Linked("L", members, joint)
    for k in STRUCTURE:
        getattr(link.market, k)  # as a solved link has them
    m = f"p{which}"
    old = members[m]
    routes = {key: t * scale[1] for key, t in old.routes.items()}
    if drop:
        routes.pop(("ore", "A", "B"))
    changed = replace(old, demand={key: dem(10 * scale[0], scale[2]) for key in old.demand}, routes=routes, route_slopes={key: v * scale[1] for key, v in old.route_slopes.items()})
    for mk in (*members.values(), changed):  # as solved markets have them
        mk.route_costs, mk.route_slope
    got = link.with_members({m: changed}).market
    fresh = Linked("L", {**members, m: changed}, joint).market
    assert ("route_costs" in got.__dict__) != drop  # the members' arrays, joined
    assert np.array_equal(got.route_costs, fresh.route_costs) and np.array_equal(got.route_slope, fresh.route_slope)
    assert got is not link.market and got.name == fresh.name and got.stages == fresh.stages
    for part in ("supply", "demand", "routes", "route_slopes"):
        assert list(getattr(got, part).items()) == list(getattr(fresh, part).items()), part
    assert [(p.source, p.target, p.cost) for p in got.processes] == [(p.source, p.target, p.cost) for p in fresh.processes]
    for k in STRUCTURE:
        x, y = getattr(got, k), getattr(fresh, k)
        assert all(map(np.array_equal, x, y)) if isinstance(x, tuple) else (np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y), k
    assert (got.route_list is link.market.route_list) != drop  # kept where the routes are the same


def test_case_file_linked_market_solves_verifies_and_moves_the_by_product(tmp_path):
    """The demo case: a US offtake of neodymium at 80 (above its baseline
    price) raises separation, so cerium output rises although no policy
    touches cerium; every member verifies, the stored file verifies, and
    an edited activity level fails verification."""
    case = load_case(DEMO)
    assert list(case.links) == ["linked: concentrate, cerium, neodymium"]
    res = solve_case(case, threads=1)
    assert all(r.ok for sc in res.values() for r in sc.values())
    ds = to_dataset(case, res)
    prod = ds["production"].sel(stage="refined").sum("region")
    assert float(prod.sel(scenario="nd-offtake", mineral="cerium")) > float(prod.sel(scenario="baseline", mineral="cerium")) + 1.0
    assert float(ds["joint_activity"].sel(scenario="nd-offtake").sum()) > float(ds["joint_activity"].sel(scenario="baseline").sum())
    # the members' processor surplus (their shares of the joint surplus) is in the welfare identity
    assert np.isfinite(ds["processor_surplus"].sel(scenario="baseline", mineral="neodymium").values).all()
    check = verify_dataset(ds)
    assert check.ok, (check.problems, check.mismatches)
    bad = ds.copy(deep=True)
    bad["joint_activity"][dict(scenario=0, activity=0)] = float(bad["joint_activity"][0, 0]) * 1.5
    assert not verify_dataset(bad).ok


def _case(joint, minerals=None):
    lin = lambda a, b: {"form": "linear", "intercept": a, "slope": b}  # noqa: E731
    mins = minerals or [
        {"name": "x", "stages": ["refined"], "quantity_unit": "t", "price_unit": "USD/t", "default_transport_cost": "none", "nodes": [{"stage": "refined", "region": "A", "demand": lin(10.0, 1.0)}]},
        {"name": "y", "stages": ["refined"], "quantity_unit": "t", "price_unit": "USD/t", "default_transport_cost": "none", "nodes": [{"stage": "refined", "region": "A", "demand": lin(10.0, 1.0)}]},
    ]
    return {"_file": "t.toml", "case": {"name": "t", "regions": ["A"]}, "minerals": mins, "scenarios": [], "joint": joint}


@pytest.mark.parametrize(
    "entry, field, words",
    [
        ({"outputs": {"z:refined": 1.0}}, "outputs", "mineral of the case"),
        ({"outputs": {"x:mine": 1.0}}, "outputs", "a stage of x"),
        ({"outputs": {"x:refined": -1.0}}, "outputs x:refined", "positive number"),
        ({"outputs": {}}, "outputs", "at least one output"),
        ({"outputs": "x:refined=abc"}, "outputs x:refined", "positive number"),
        ({"region": "B"}, "region", "a region of the case"),
    ],
)
def test_bad_joint_entries_are_named(entry, field, words):
    base = {"name": "j", "region": "A", "outputs": {"x:refined": 1.0, "y:refined": 0.5}, "cost": {"form": "linear", "intercept": 1.0, "slope": 1.0}}
    with pytest.raises(CaseError) as err:
        build_case(_case([{**base, **entry, "_file": "t.toml", "_where": "[[joint]] entry 1"}]))
    text = str(err.value)
    assert field in text and words in text and "[[joint]] entry 1" in text


def test_linked_minerals_need_one_money_unit():
    lin = {"form": "linear", "intercept": 10.0, "slope": 1.0}
    mins = [
        {"name": "x", "stages": ["refined"], "quantity_unit": "t", "price_unit": "USD/t", "default_transport_cost": "none", "nodes": [{"stage": "refined", "region": "A", "demand": lin}]},
        {"name": "y", "stages": ["refined"], "quantity_unit": "t", "price_unit": "EUR/t", "default_transport_cost": "none", "nodes": [{"stage": "refined", "region": "A", "demand": lin}]},
    ]
    entry = {"name": "j", "region": "A", "outputs": {"x:refined": 1.0, "y:refined": 0.5}, "cost": lin, "_file": "t.toml", "_where": "[[joint]] entry 1"}
    with pytest.raises(CaseError, match="money units agree"):
        build_case(_case([entry], mins))
    # kg and t convert: USD/kg x kg and USD/t x t are both USD
    mins[1]["price_unit"], mins[1]["quantity_unit"] = "USD/kg", "kg"
    assert len(build_case(_case([entry], mins)).links) == 1


def test_sweep_and_target_solve_a_linked_market_whole():
    """Sweeping the US neodymium offtake level with only neodymium asked
    for still solves the whole linked market (a member alone has no
    supply), the restricted file verifies (it says which minerals it
    holds), cerium output rises with the level, and the target search
    finds the level that puts the US neodymium price at 82: a binding
    offtake holds the price at its level, so the level is 82."""
    from mineq.solver.sweep import parse_set, sweep_case
    from mineq.solver.target import find_level

    case = load_case(DEMO)
    pcase, results = sweep_case(case, parse_set("level=80:86:3", case, "nd-offtake"), minerals=["neodymium"])
    assert set(pcase.markets) == {"concentrate", "cerium", "neodymium"}
    ds = to_dataset(pcase, results)
    check = verify_dataset(ds)
    assert check.ok, (check.problems, check.mismatches)
    ce = ds["production"].sel(mineral="cerium", stage="refined").sum("region").values
    assert np.all(np.diff(ce[1:]) > 0)
    r = find_level(case, "nd-offtake", "level", "price[USA,neodymium,refined]", 82.0, 80.0, 86.0)
    assert r.reached and r.level == pytest.approx(82.0, rel=1e-6)


def test_file_of_some_minerals_verifies_and_a_forged_list_does_not(tmp_path):
    """A sweep of one mineral of an unlinked case writes the minerals it
    holds; verify checks those, and refuses a list naming a mineral the
    stored case does not have."""
    from mineq.solver.errors import MineqError
    from mineq.solver.sweep import parse_set, sweep_case

    demo = Path(__file__).parent.parent / "cases" / "three-region-demo"
    case = load_case(demo)
    scen = case.scenarios[0]
    key = next(k for k in ("level", "level_vs_baseline", "quantity", "ad_valorem") if k in scen.policies[0])
    v = scen.policies[0][key]
    pcase, results = sweep_case(case, parse_set(f"1.{key}={v}", case, scen.name), minerals=[next(iter(case.markets))])
    ds = to_dataset(pcase, results)
    assert "minerals_held" in ds.attrs
    assert verify_dataset(ds).ok
    ds.attrs["minerals_held"] = '["unobtainium"]'
    with pytest.raises(MineqError, match="unobtainium"):
        verify_dataset(ds)


def test_headline_and_report_say_what_joint_production_does(tmp_path):
    """The solve's headline has a joint-production line with the activity's
    change and the members' prices (the by-product cerium's included),
    and the HTML report a paragraph on it."""
    from helpers import run

    out = tmp_path / "j.nc"
    code, text = run("solve", DEMO, "--out", out)
    assert code == 0, text
    line = next(x for x in text.splitlines() if "joint production (" in x)
    assert "activity" in line and "cerium" in line and "neodymium" in line
    code, text = run("report", out, "--out", tmp_path / "rep")
    assert code == 0, text
    html = (tmp_path / "rep" / "report.html").read_text()
    assert "Joint production: concentrate, cerium, neodymium" in html


@settings(max_examples=25, deadline=None)
@given(
    y=st.lists(st.floats(0.05, 2.0), min_size=2, max_size=3),
    a=st.lists(st.floats(5.0, 50.0), min_size=3, max_size=3),
    b=st.lists(st.floats(0.05, 2.0), min_size=3, max_size=3),
    c=st.floats(0.0, 4.0),
    d=st.floats(0.01, 1.0),
    t=st.floats(0.0, 2.0),
)
def test_property_decoupled_group_gives_the_separate_markets(y, a, b, c, d, t):
    """Decoupling a linked group: the products of the random two-region
    markets of the property above, each made by an activity of its own
    (Y_k with yield y_k of product k only, MC c_r + d·Y_k) yet solved as
    one linked program, give exactly the separate markets in which product
    k has the supply curve of its activity written per unit of product:
    Q = y·Y, and the activity runs where y·P = c + d·Y, so
    P = c/y + (d/y²)·Q.  Consumption, flows, outputs and the prices where
    something is consumed must agree
    (and the activity levels be Q/y); a coupling term left anywhere in the
    linked program (a shared cost, disposal at a positive price, a wrong
    offset between members) would show."""
    regions = ["A", "B"]
    members, separate, joint = {}, {}, []
    for k in range(len(y)):
        name = f"p{k}"
        demand = {("refined", r): dem(a[k] * (1 + j), b[k]) for j, r in enumerate(regions)}
        routes = {("refined", "A", "B"): t, ("refined", "B", "A"): t}
        members[name] = Market(name, ["refined"], regions, "t", "USD/t", supply={}, demand=demand, routes=routes, processes=[])
        separate[name] = Market(name, ["refined"], regions, "t", "USD/t", demand=demand, routes=routes, processes=[],
                                supply={("refined", r): sup(c * (1 + j) / y[k], d / y[k] ** 2) for j, r in enumerate(regions)})
        joint += [Joint(f"make{k}", r, {}, {f"{name}:refined": y[k]}, sup(c * (1 + j), d)) for j, r in enumerate(regions)]
    link = Linked("L", members, joint)
    res = solve_market(link.market)
    assert res.ok and res.verification.ok, res.message
    parts = link.split(res.solution)
    P, Q = link.market.price_scale, link.market.quantity_scale
    for k, (name, mk) in enumerate(separate.items()):
        alone = solve_market(mk)
        assert alone.ok and alone.verification.ok
        got, want = parts[name], alone.solution
        # a price is unique where something is consumed (a node that
        # neither makes nor buys may price anywhere its arbitrage allows)
        used = want.demand > 1e-7 * Q
        assert got.price[used] == pytest.approx(want.price[used], rel=1e-7, abs=1e-7 * P)
        assert got.demand == pytest.approx(want.demand, rel=1e-7, abs=1e-7 * Q)
        assert got.flow == pytest.approx(want.flow, rel=1e-7, abs=1e-7 * Q)
        levels = [res.solution.joint[j] for j, jp in enumerate(link.market.joint) if jp.name == f"make{k}"]
        assert np.array(levels) * y[k] == pytest.approx(np.nan_to_num(want.supply), rel=1e-7, abs=1e-7 * Q)


@pytest.mark.parametrize("cap, y, p, paid", [(math.inf, 6.0, 4.0, 6.0), (2.0, 5.6, 4.4, 3.2), (2.9, 5.8, 4.2, 5.22)])
def test_floor_on_a_by_product_pays_the_joint_activity(cap, y, p, paid):
    """A deficiency-payment floor F = 6 on b in :func:`two_products` (no
    policy: Y = 5.6, P_a = P_b = 4.4): the activity earns
    P_a + ½·max(P_b, F) on the first ``cap`` units of b.  Both prices
    are 10 − Y (Q_a = Y, Q_b = Y/2 at P_b = 10 − 2·Q_b).

    No cap: 10 − Y + ½·6 = 1 + Y gives Y = 6 (P = 4 < 6: the floor
    binds), and the floor on b lowers a's price from 4.4 to 4; it pays
    (6 − 4)·3 = 6.  Cap 2: at Y = 5.6 b's output 2.8 is past the cap, the
    marginal unit earns the price alone: the unfloored equilibrium, paid
    (6 − 4.4)·2 = 3.2.  Cap 2.9: past the cap at Y = 6, within it at 5.6,
    so the activity stops where b's output is the cap, Y = 5.8 (its
    marginal cost 6.8 lies between 1.5·4.2 = 6.3 and 4.2 + 3 = 7.2), paid
    (6 − 4.2)·2.9 = 5.22.  A floor at the no-policy answer fails the
    verifier."""
    from mineq.models.policies.plan import Floor, PolicyPlan
    from mineq.solver.statistics import welfare

    mk = two_products(10)
    plan = PolicyPlan(mk)
    plan.joint_floors[1] = Floor(level=6.0, cap=cap, region="A", source="floor on b")
    r = solve_market(mk, plan=plan)
    assert r.ok and r.verification.ok, r.message
    assert r.solution.joint[0] == pytest.approx(y, rel=1e-9)
    assert r.solution.price == pytest.approx([p, p], rel=1e-9)
    w = welfare(mk, r.solution, plan)
    assert w["deficiency_payments"][0] == pytest.approx(paid, rel=1e-9)
    # revenue + payment − cost ∫(1 + Y) = the activity's surplus
    assert w["processor_surplus"][0] == pytest.approx(p * 1.5 * y + paid - (y + 0.5 * y * y), rel=1e-9)
    if cap != 2.0:
        blind = solve_market(two_products(10)).solution
        assert not verify(mk, blind, plan=plan).ok


def test_floor_on_a_jointly_mined_element_in_a_case_file():
    """tests/data/joint_demo.toml with a deficiency-payment floor on US
    neodymium (mined only jointly, no supply curve of its own): the
    floor pays the US separation activity instead of being idle; the
    file verifies (the payments recomputed), and the labelled
    formulation is the fast program, coefficient by coefficient."""
    from mineq import api
    from mineq.models import formulation
    from mineq.solver.run import member_results, mineral_plan

    data = read_case(DEMO)
    data["scenarios"].append({"name": "nd-floor", "description": "a floor on US neodymium at 80", "policies": [{"type": "price_floor", "mechanism": "deficiency_payment", "minerals": ["neodymium"], "stage": "refined", "regions": ["USA"], "level": 80.0}]})
    case = build_case(data)
    diag = []
    res = solve_case(case, ["nd-floor"], diagnoses=diag, threads=1)
    assert all(r.ok for per in res.values() for r in per.values())
    assert not [d for sn, d in diag if "pays nothing" in str(d)]
    ds = to_dataset(case, res)
    usa = dict(scenario="nd-floor", mineral="neodymium", stage="refined", region="USA")
    per_unit = float(ds.floor_payment.sel(**usa))
    assert per_unit == pytest.approx(80.0 - float(ds.price.sel(**usa)), rel=1e-9) and per_unit > 0
    # paid on what the US activity delivers (0.2 of its activity)
    (us,) = [a for a in ds.activity.values.tolist() if "USA" in a]
    act = float(ds.joint_activity.sel(scenario="nd-floor", activity=us))
    assert float(ds.deficiency_payments.sel(scenario="nd-floor", mineral="neodymium", region="USA")) == pytest.approx(per_unit * 0.2 * act, rel=1e-9)
    assert float(ds.price.sel(**usa)) < float(ds.price.sel(**{**usa, "scenario": "baseline"}))
    assert verify_dataset(ds).ok
    link = case.link_of("neodymium")
    base = member_results(link, solve_market(link.market), {})
    plan = link.plan({m: mineral_plan(case, "nd-floor", m, base[m].solution) for m in link.members})
    assert plan.joint_floors
    r = solve_market(plan.market, plan=plan)
    m = formulation.build(r.model.market, r.model.plan, r.model.state())
    assert formulation.differences(m, r.model) == []
    assert len(api.formulation(case, "neodymium", "nd-floor").joint_credit_cap) == 1


def test_joint_output_earns_the_origin_rent():
    """Rules of origin count a joint activity's yields as own output
    (models/program.py), so the activity earns the origin rent on them and
    the verifier must count it.  Product a: A (supply 10 + S) ships to M at
    5, M to B at 5, A->B banned; M's exports to B limited to M's own
    output, made only by the activity (MC 40 + Y, yields 1 a and ½ b at M;
    b's demand at M: 100 − 2·Q_b, so P_b = 100 − Y).  As in
    tests/test_policies.py's transit case, A's material stays in M:
    P_M − 15 = 100 − P_M, P_M = 57.5, P_A = 52.5.  The activity's output
    all goes to B: Y = D_B = 160 − P_B with P_B = P_M + 5 + λ, so
    Y = 97.5 − λ, and it runs until P_M + λ + ½·(100 − Y) = 40 + Y:
    57.5 + λ = 1.5·(97.5 − λ) − 10, λ = 31.5, Y = 66, P_B = 94, P_b = 34."""
    from helpers import case_dict, mineral
    from mineq.solver.run import linked_point, member_results, mineral_plan

    lin = lambda a, b: {"form": "linear", "intercept": float(a), "slope": float(b)}  # noqa: E731
    a = mineral("a", nodes=[
        {"stage": "refined", "region": "A", "supply": lin(10, 1)},
        {"stage": "refined", "region": "M", "demand": lin(100, 1)},
        {"stage": "refined", "region": "B", "demand": lin(160, 1)},
    ], routes=[{"origin": "A", "destination": "M", "cost": 5.0}, {"origin": "M", "destination": "B", "cost": 5.0}, {"origin": "A", "destination": "B", "cost": 10.0}])
    b = mineral("b", nodes=[{"stage": "refined", "region": "M", "demand": lin(100, 2)}])
    data = case_dict(["A", "M", "B"], [a, b], scenarios=[{"name": "s", "policies": [
        {"type": "export_quota", "minerals": ["a"], "exporters": "A", "destinations": ["B"], "quantity": 0.0},
        {"type": "rules_of_origin", "minerals": ["a"], "exporters": ["M"], "importers": ["B"]},
    ]}])
    data["joint"] = [{"name": "sep", "region": "M", "inputs": {}, "outputs": {"a:refined": 1.0, "b:refined": 0.5}, "cost": lin(40, 1), "confidence": "assumed"}]
    case = build_case(data)
    link = case.link_of("a")
    base = solve_market(link.market)
    assert base.ok
    parts = member_results(link, base, {})
    plans = {m: mineral_plan(case, "s", m, parts[m].solution) for m in link.members}
    res, members = linked_point(link, plans, base.solution)
    assert res.ok, res.message
    s = res.solution
    assert s.joint[0] == pytest.approx(66.0, rel=1e-9)
    assert s.origin_rent == pytest.approx([31.5], rel=1e-9)
    price = {k: float(p) for k, p in zip(res.market.nodes, s.price) if np.isfinite(p)}
    assert sorted(price.values()) == pytest.approx([34.0, 52.5, 57.5, 94.0], rel=1e-9)
    # the verifier without the rent on joint output would call this wrong:
    # the activity's margin at prices alone is 57.5 + 17 = 74.5 < 40 + 66
    assert res.verification.ok


def test_each_member_of_a_linked_market_keeps_its_own_price_scale():
    """The verifier judges a linked market's nodes by their member's
    typical price (``Market.node_price_scale``): the median of the
    member's curve levels and positive route costs, the very numbers of
    the member's market alone, so each member's nodes carry exactly the
    member's own ``price_scale`` (lanthanum's 1 USD/kg beside
    terbium's 1,000), and the linked market's own scale is the median of
    all of them."""
    case = load_case(Path(__file__).resolve().parent.parent / "cases" / "critical-minerals-54")
    for link in case.links.values():
        scale = link.market.node_price_scale
        every = []
        for m, mk in link.members.items():
            n0 = link.offsets[m][0]
            assert np.all(scale[n0 : n0 + len(mk.nodes)] == mk.price_scale), (link.name, m)
            every += [v for _, _, c in mk.curves() for v in c.scale_levels()] + [t for t in mk.routes.values() if t > 0]
        every += [v for jp in link.joint for v in jp.cost.scale_levels()]
        assert link.market.price_scale == float(np.median(every)), link.name
        assert len({float(mk.price_scale) for mk in link.members.values()}) == len(link.members)  # the members are priced apart


def test_a_member_with_fixed_demand_alone_keeps_the_market_s_price_scale():
    """A member whose only curve is a fixed demand (no finite non-zero
    price level, no priced route) has no typical price of its own: its
    nodes keep the linked market's scale, and the market solves (the
    median of an empty list had raised IndexError)."""
    from mineq.models.curves import make_curve

    a = Market("a", ["mine"], ["X", "Y"], "t", "USD/t", {("mine", "X"): sup(1, 1)}, {("mine", "Y"): dem(10, 1)}, {("mine", "X", "Y"): 0.5}, [])
    b = Market("b", ["mine"], ["X", "Y"], "t", "USD/t", {}, {("mine", "X"): make_curve({"form": "fixed", "quantity": 0.5}, "demand")}, {}, [])
    link = Linked("ab", {"a": a, "b": b}, [Joint("ore", "X", {}, {"a:mine": 1.0, "b:mine": 0.2}, sup(2, 1))])
    scale = link.market.node_price_scale
    assert np.all(scale[2:] == link.market.price_scale) and np.all(scale[:2] == a.price_scale)
    assert solve_market(link.market).ok
