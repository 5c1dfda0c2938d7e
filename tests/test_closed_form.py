"""Markets whose equilibrium is derived by hand in each docstring."""

import math

import numpy as np
import pytest

from helpers import flow_value, lin, mineral, node_value, solve_one

R = "refined"


def two_regions():
    """A: supply 10 + S, demand 100 - D; B: supply 40 + S, demand 160 - D; route A->B at 10."""
    return mineral(
        nodes=[
            {"stage": R, "region": "A", "supply": lin(10, 1), "demand": lin(100, 1)},
            {"stage": R, "region": "B", "supply": lin(40, 1), "demand": lin(160, 1)},
        ],
        routes=[{"origin": "A", "destination": "B", "cost": 10.0}],
    )


def test_dual_sign_gives_positive_price():
    """One node, supply P = 10 + S, demand P = 100 - D: S = D = 45, P = 55.

    Guards the sign convention of the balance duals under maximisation.
    """
    mk, res = solve_one(["A"], mineral(nodes=[{"stage": R, "region": "A", "supply": lin(10, 1), "demand": lin(100, 1)}]))
    assert res.ok
    assert res.solution.price[0] == pytest.approx(55, rel=1e-9)
    assert res.solution.supply[0] == pytest.approx(45, rel=1e-9)


def test_two_regions_one_route():
    """A: supply 10 + S, demand 100 - D; B: supply 40 + S, demand 160 - D;
    one route A->B at cost 10 (B->A forbidden).

    Autarky prices 55 and 100 differ by more than 10, so A exports X and
    P_B = P_A + 10.  In A: X = S_A - D_A = (P_A - 10) - (100 - P_A) = 2P_A - 110.
    In B: X = D_B - S_B = (160 - P_B) - (P_B - 40) = 180 - 2P_A.
    Hence P_A = 72.5, P_B = 82.5, X = 35, S_A = 62.5, D_A = 27.5,
    S_B = 42.5, D_B = 77.5.
    """
    m = two_regions()
    mk, res = solve_one(["A", "B"], m)
    s = res.solution
    assert res.ok
    assert node_value(mk, s.price, R, "A") == pytest.approx(72.5, rel=1e-8)
    assert node_value(mk, s.price, R, "B") == pytest.approx(82.5, rel=1e-8)
    assert flow_value(mk, s, R, "A", "B") == pytest.approx(35, rel=1e-8)
    assert node_value(mk, s.supply, R, "A") == pytest.approx(62.5, rel=1e-8)
    assert node_value(mk, s.demand, R, "B") == pytest.approx(77.5, rel=1e-8)
    assert mk.route_list == [(R, "A", "B")]


def test_transshipment_through_middle_region():
    """A (supply 10 + S) -> M (nothing) -> B (demand 100 - D), each leg cost 5;
    a direct route A->B costs 12, more than the two legs.

    All of A's output reaches B through M: X = S_A = D_B, and
    P_B = P_A + 10 with P_A = 10 + X, P_B = 100 - X: X = 40, P_A = 50,
    P_M = 55, P_B = 60.  The direct route stays unused (60 - 50 < 12).
    """
    m = mineral(
        nodes=[
            {"stage": R, "region": "A", "supply": lin(10, 1)},
            {"stage": R, "region": "B", "demand": lin(100, 1)},
        ],
        routes=[
            {"origin": "A", "destination": "M", "cost": 5.0},
            {"origin": "M", "destination": "B", "cost": 5.0},
            {"origin": "A", "destination": "B", "cost": 12.0},
        ],
    )
    mk, res = solve_one(["A", "M", "B"], m)
    s = res.solution
    assert res.ok
    for region, p in (("A", 50), ("M", 55), ("B", 60)):
        assert node_value(mk, s.price, R, region) == pytest.approx(p, rel=1e-8)
    assert flow_value(mk, s, R, "A", "M") == pytest.approx(40, rel=1e-8)
    assert flow_value(mk, s, R, "M", "B") == pytest.approx(40, rel=1e-8)
    assert flow_value(mk, s, R, "A", "B") == pytest.approx(0, abs=1e-7)


def test_two_stage_processing_capacity_binds():
    """Region R mines (P_mine = 2 + 0.1*M) and refines (theta 1.5, cost 1 + 0*Y,
    capacity 20); refined demand 100 - D in R and 90 - D in B, refined route
    R->B cost 2; no mine trade.

    Without the capacity, P_ref = 1.5*(2 + 0.15Y) + 1 meets 100 - Y at
    Y = 78.4 > 20, so the capacity binds: Y = 20, M = 30, P_mine = 5.
    Refined: D_R + X = 20 and P_B = P_R + 2 with P_R = 100 - D_R and
    P_B = 90 - X, so X = 4, D_R = 16, P_R = 84, P_B = 86.  The processing
    rent is 84 - 1.5*5 - 1 = 75.5 per unit.
    """
    m = mineral(
        stages=("mine", R),
        nodes=[
            {"stage": "mine", "region": "R", "supply": lin(2, 0.1)},
            {"stage": R, "region": "R", "demand": lin(100, 1)},
            {"stage": R, "region": "B", "demand": lin(90, 1)},
        ],
        routes=[{"stage": R, "origin": "R", "destination": "B", "cost": 2.0}],
        processing=[{"region": "R", "from": "mine", "to": R, "theta": 1.5, "cost": lin(1, 0), "capacity": 20.0}],
    )
    mk, res = solve_one(["R", "B"], m)
    s = res.solution
    assert res.ok
    assert s.processing[0] == pytest.approx(20, rel=1e-8)
    assert node_value(mk, s.supply, "mine", "R") == pytest.approx(30, rel=1e-8)
    assert node_value(mk, s.price, "mine", "R") == pytest.approx(5, rel=1e-8)
    assert node_value(mk, s.price, R, "R") == pytest.approx(84, rel=1e-8)
    assert node_value(mk, s.price, R, "B") == pytest.approx(86, rel=1e-8)
    assert flow_value(mk, s, R, "R", "B") == pytest.approx(4, rel=1e-8)


def test_isoelastic_curves_reach_true_equilibrium():
    """Demand P = 20 (D/100)^(-1/0.5), supply P = 10 (S/100)^(1/1).

    20 x^-2 = 10 x with x = Q/100 gives x^3 = 2: Q = 100 * 2^(1/3),
    P = 10 * 2^(1/3).  Reached by successive linearisation.
    """
    m = mineral(nodes=[{"stage": R, "region": "A",
                        "supply": {"form": "isoelastic", "price": 10.0, "quantity": 100.0, "elasticity": 1.0},
                        "demand": {"form": "isoelastic", "price": 20.0, "quantity": 100.0, "elasticity": -0.5}}])
    mk, res = solve_one(["A"], m)
    assert res.ok and res.iterations > 1
    assert res.solution.supply[0] == pytest.approx(100 * 2 ** (1 / 3), rel=1e-6)
    assert res.solution.price[0] == pytest.approx(10 * 2 ** (1 / 3), rel=1e-6)


def test_steps_supply_kink_and_fixed_demand():
    """Supply blocks 10 units at 5 and 10 at 15; fixed demand 10.

    Demand exhausts the first block exactly: S = 10 and any price in
    [5, 15] clears the market; the solver must return one of them.
    """
    m = mineral(nodes=[{"stage": R, "region": "A", "supply": {"form": "steps", "blocks": [[10, 15], [10, 5]]},
                        "demand": {"form": "fixed", "quantity": 10.0}}])
    mk, res = solve_one(["A"], m)
    assert res.ok
    assert res.solution.supply[0] == pytest.approx(10, rel=1e-9)
    assert 5 - 1e-6 <= res.solution.price[0] <= 15 + 1e-6


def test_linear_calibration_through_reference_point():
    """Linear demand through (P=20, Q=60) with elasticity -0.5 has slope
    20/(0.5*60) = 2/3 and intercept 60; supply through (20, 60) with
    elasticity 1 has slope 1/3 and intercept 0.  They meet at (20, 60)."""
    m = mineral(nodes=[{"stage": R, "region": "A",
                        "supply": {"form": "linear", "price": 20.0, "quantity": 60.0, "elasticity": 1.0},
                        "demand": {"form": "linear", "price": 20.0, "quantity": 60.0, "elasticity": -0.5}}])
    mk, res = solve_one(["A"], m)
    d = mk.demand[(R, "A")]
    assert d.slope == pytest.approx(2 / 3) and d.intercept == pytest.approx(60)
    assert res.solution.price[0] == pytest.approx(20, rel=1e-9)
    assert res.solution.demand[0] == pytest.approx(60, rel=1e-9)


def test_negative_supply_intercept_and_zero_slope_demand():
    """Supply P = -10 + S (output 10 at a zero price), demand perfectly
    elastic at 30 (slope 0): P = 30, S = 40, D = 40."""
    m = mineral(nodes=[{"stage": R, "region": "A", "supply": lin(-10, 1), "demand": lin(30, 0)}])
    mk, res = solve_one(["A"], m)
    assert res.ok
    assert res.solution.price[0] == pytest.approx(30, rel=1e-9)
    assert res.solution.demand[0] == pytest.approx(40, rel=1e-9)


def test_welfare_sums_to_objective():
    """Regional surpluses add up to the welfare objective (transport cost
    is paid out of price gaps), here for the two-region market above:
    CS_A = 27.5^2/2, PS_A = 62.5^2/2, CS_B = 77.5^2/2, PS_B = 42.5^2/2,
    objective = their sum."""
    from mineq.solver.statistics import objective, welfare

    m = two_regions()
    mk, res = solve_one(["A", "B"], m)
    w = welfare(mk, res.solution)
    assert w["consumer_surplus"] == pytest.approx([27.5**2 / 2, 77.5**2 / 2], rel=1e-7)
    assert w["producer_surplus"] == pytest.approx([62.5**2 / 2, 42.5**2 / 2], rel=1e-7)
    assert w["total_welfare"].sum() == pytest.approx(objective(mk, res.solution), rel=1e-9)
    assert math.isclose(res.solution.objective, objective(mk, res.solution), rel_tol=1e-6)


def test_zero_cost_route_cycles_are_degenerate_not_unbounded():
    """Every route free (cost 0): flows around cycles cost nothing, so the
    flow pattern is not unique, but one price clears the world market.

    Four identical regions with supply 10 + S and demand 100 - D, except
    region A whose demand is 140 - D.  With free trade all prices are
    equal: 4(P - 10) = (140 - P) + 3(100 - P), so P = 60.
    """
    regions = ["A", "B", "C", "D"]
    nodes = [{"stage": R, "region": r, "supply": lin(10, 1), "demand": lin(140 if r == "A" else 100, 1)} for r in regions]
    mk, res = solve_one(regions, mineral(nodes=nodes, default_cost=0.0))
    assert res.ok, res.message
    assert res.solution.price == pytest.approx([60.0] * 4, rel=1e-9)


@pytest.mark.parametrize("name", ["qp_cycling_1.json", "qp_cycling_2.json", "qp_error_3.json"])
def test_degenerate_markets_where_the_qp_cycles(name):
    """Markets found by hypothesis on which HiGHS's active-set QP cycles
    (zero-cost route cycles through curve-less regions, tied step levels)
    until its time limit.  The iteration limit stops it early, a cost
    perturbation breaks the ties and polish restores the exact solution."""
    import json
    from pathlib import Path

    from mineq.solver.case import build_case
    from mineq.solver.solve import solve_market

    cd = json.loads((Path(__file__).parent / "data" / name).read_text())
    res = solve_market(build_case(cd).markets["x"])
    assert res.ok, res.message
    assert res.times["solve"] < 10


def test_highs_presolve_verdict_is_not_trusted():
    """A market found by hypothesis (nine regions, zero-cost processing and
    routes) whose program HiGHS 1.16's presolve declares infeasible when
    the columns come in mineq's order, although zero flows and quantities
    are feasible (with presolve off, or the columns in another order,
    HiGHS solves it).  A non-optimal verdict is re-checked without
    presolve, so the market solves and verifies."""
    import json
    from pathlib import Path

    from mineq.models.active_set import highs_of
    from mineq.models.program import MarketModel
    from mineq.solver.case import build_case
    from mineq.solver.solve import solve_market

    cd = json.loads((Path(__file__).parent / "data" / "presolve_infeasible_4.json").read_text())
    mk = build_case(cd).markets["x"]
    h = highs_of(MarketModel(mk).qp())  # the whole program (no route generation)
    h.run()
    assert h.getModelStatus().name == "kInfeasible"  # the HiGHS behaviour this guards against
    res = solve_market(mk)
    assert res.ok, res.message


def _calibrated(p, q, e):
    """Intercept and slope of a linear curve through (p, q) with elasticity e."""
    slope = abs(p / (e * q))
    return p - (1 if e > 0 else -1) * slope * q, slope


def test_numeric_range_within_one_market():
    """A tiny dear region (0.001 units at 100,000) beside a huge cheap one
    (1e7 units at 0.01) in one market: quantities span 1e10, prices 1e7.
    Per-node scaling keeps it solvable.  Closed form: B ships X to A, so
    S_B(P) − D_B(P) = X = D_A(P + t) − S_A(P + t) with P = P_B, t = 0.005;
    the curves are linear, so P solves one linear equation."""
    from mineq.solver.case import build_case
    from mineq.solver.solve import solve_market

    from helpers import case_dict

    A = {"supply": (1e5, 0.001, 0.5), "demand": (1e5, 0.002, -0.3)}
    B = {"supply": (0.01, 1e7, 0.5), "demand": (0.01, 9.9e6, -0.3)}
    m = mineral(nodes=[
        {"stage": R, "region": r, **{side: {"form": "linear", "price": p, "quantity": q, "elasticity": e} for side, (p, q, e) in spec.items()}}
        for r, spec in (("A", A), ("B", B))
    ], routes=[{"origin": "B", "destination": "A", "cost": 0.005}, {"origin": "A", "destination": "B", "cost": 0.005}])
    res = solve_market(build_case(case_dict(["A", "B"], [m])).markets["m"])
    assert res.ok and res.max_residual <= 1e-6, res.message
    (sa, ka), (da, ja), (sb, kb), (db, jb) = (_calibrated(*A["supply"]), _calibrated(*A["demand"]), _calibrated(*B["supply"]), _calibrated(*B["demand"]))
    # S(P) = (P − a)/k (clipped at 0), D(P) = (a − P)/k
    t = 0.005
    # A's supply is above zero at these prices (negative intercept); solve
    # (P − sb)/kb − (db − P)/jb = (da − P − t)/ja − (P + t − sa)/ka
    lhs = 1 / kb + 1 / jb + 1 / ja + 1 / ka
    rhs = sb / kb + db / jb + (da - t) / ja + (sa - t) / ka
    pb = rhs / lhs
    x = (da - pb - t) / ja - (pb + t - sa) / ka
    mk = res.market
    assert res.solution.price[mk.node_index(R, "B")] == pytest.approx(pb, rel=1e-7)
    assert res.solution.price[mk.node_index(R, "A")] == pytest.approx(pb + t, rel=1e-7)
    assert res.solution.flow[mk.route_list.index((R, "B", "A"))] == pytest.approx(x, rel=1e-6)


def test_numeric_range_across_a_case(tmp_path):
    """One case with prices from 0.01 to 100,000 per unit and quantities
    from 0.001 to 10,000,000 (within and across minerals), baseline and a
    minimum-import-price scenario: every market verifies through the CLI
    and the file, residuals reported relative to each market's scales."""
    from click.testing import CliRunner

    from mineq.solver.cli import main

    def node(r, p, q, es=0.5, ed=-0.3):
        return f'{{stage = "refined", region = "{r}", supply = {{form = "linear", price = {p}, quantity = {q}, elasticity = {es}}}, demand = {{form = "linear", price = {p}, quantity = {q * 1.1}, elasticity = {ed}}}}}'

    minerals = {
        "tiny_dear": [node("A", 1e5, 0.001), node("B", 9e4, 0.003)],
        "huge_cheap": [node("A", 0.01, 1e7), node("B", 0.012, 5e6)],
        "mixed": [node("A", 1e5, 0.001), node("B", 0.01, 1e7)],
    }
    text = '[case]\nname = "range"\nregions = ["A", "B"]\n'
    for name, nodes in minerals.items():
        text += f'\n[[minerals]]\nname = "{name}"\nstages = ["refined"]\nquantity_unit = "t"\nprice_unit = "USD/t"\ndefault_transport_cost = "none"\nnodes = [{", ".join(nodes)}]\n'
        cost = 0.002 if name != "tiny_dear" else 500.0
        text += f'routes = [{{stage = "refined", origin = "A", destination = "B", cost = {cost}}}, {{stage = "refined", origin = "B", destination = "A", cost = {cost}}}]\n'
    text += '\n[[scenarios]]\nname = "mip"\npolicies = [{type = "minimum_import_price", minerals = "*", importers = "A", level_vs_baseline = 1.2}]\n'
    case = tmp_path / "range.toml"
    case.write_text(text)
    out = tmp_path / "r.nc"
    cli = CliRunner()
    r = cli.invoke(main, ["solve", str(case), "-o", str(out), "-q"])
    assert r.exit_code == 0, r.output
    r = cli.invoke(main, ["verify", str(out)])
    assert r.exit_code == 0 and "6 equilibria, 0 failures" in r.output, r.output


def _program(highs, cols=None, rows=None):
    """Sense, costs, bounds, row bounds, Hessian diagonal and constraint
    matrix (dense) a HiGHS instance holds; ``cols``/``rows`` reorder them."""
    import highspy

    from mineq.models.active_set import QP

    model = highs.getModel()
    qp = QP.from_highs(model)
    assert qp.H is None  # mineq's Hessians are diagonal
    cols = np.arange(len(qp.c)) if cols is None else cols
    rows = np.arange(len(qp.rlo)) if rows is None else rows
    out = {"cost": qp.c[cols], "lower": qp.lo[cols], "upper": qp.up[cols], "row_lower": qp.rlo[rows], "row_upper": qp.rup[rows], "hessian": qp.hd[cols], "matrix": qp.A.dense(rows, cols)}
    out["sense"] = np.array([model.lp_.sense_ == highspy.ObjSense.kMaximize], dtype=float)
    return out


def test_program_handed_to_highs_equals_the_pyomo_model():
    """mineq hands HiGHS its matrices directly and changes numbers in place
    for re-solves (``MarketModel._sync``).  After new wedges, credits and
    tangents on a solved model, the program in HiGHS must equal the one
    Pyomo itself hands HiGHS from :meth:`MarketModel.pyomo` of a model
    given the same numbers before its first solve: sense, every cost,
    bound, right-hand side, Hessian entry and matrix coefficient, on the
    demo's scenarios (floors, offtake, quotas, MIPs, isoelastic curves)
    and on a market with per-node scaling."""
    from pathlib import Path

    from pyomo.contrib.solver.common.factory import SolverFactory

    from mineq.models.program import COLUMNS, ROWS, MarketModel
    from mineq.solver.case import build_case, load_case
    from mineq.solver.run import scenario_plans
    from mineq.solver.solve import solve_market

    from helpers import case_dict

    demo = load_case(Path(__file__).resolve().parent.parent / "cases" / "three-region-demo")
    base = {mn: solve_market(mk).solution for mn, mk in demo.markets.items()}
    cases = [(mk, None) for mk in demo.markets.values()]
    for sc in demo.scenarios:
        cases += [(plan.market, plan) for plan in scenario_plans(demo, sc.name, base).values()]
    wide = mineral(nodes=[
        {"stage": R, "region": "A", "supply": {"form": "linear", "price": 1e5, "quantity": 0.001, "elasticity": 0.5}, "demand": {"form": "linear", "price": 1e5, "quantity": 0.002, "elasticity": -0.3}},
        {"stage": R, "region": "B", "supply": {"form": "linear", "price": 0.01, "quantity": 1e7, "elasticity": 0.5}, "demand": {"form": "linear", "price": 0.01, "quantity": 9.9e6, "elasticity": -0.3}},
    ], routes=[{"origin": "B", "destination": "A", "cost": 0.005}, {"origin": "A", "destination": "B", "cost": 0.005}])
    cases.append((build_case(case_dict(["A", "B"], [wide])).markets["m"], None))
    assert (MarketModel(cases[-1][0])._e != 1).any()  # the per-node scaling is in play
    # enough routes for route generation: HiGHS holds part of the columns
    from helpers import random_linear_market
    import mineq.models.routes

    regions, dense = random_linear_market(8, np.random.default_rng(5))
    cases.append((build_case(case_dict(regions, [dense])).markets["m"], None))
    assert len(cases[-1][0].route_list) >= mineq.models.routes.MIN_ROUTES
    # a producer floor and a rule of origin (rows the demo does not have)
    from mineq.models.policies import build_plan
    from test_policies import transit_market

    pols = [{"type": "export_quota", "exporters": "A", "destinations": ["B"], "quantity": 0.0}, {"type": "rules_of_origin", "exporters": ["M"], "importers": ["B"]},
            {"type": "price_floor", "mechanism": "deficiency_payment", "regions": "A", "level": 60.0}]
    transit = build_case(case_dict(["A", "M", "B"], [transit_market()], scenarios=[{"name": "s", "policies": [dict(p, minerals=["m"]) for p in pols]}]))
    tm = transit.markets["m"]
    plan = build_plan(tm, transit.scenarios[0].instruments, solve_market(tm).solution)
    cases.append((plan.market, plan))
    # a strategic seller (row group seller, column group h) on the dense
    # market, where route generation holds part of the flows
    mp = build_case(case_dict(regions, [dense], scenarios=[{"name": "s", "policies": [{"type": "market_power", "minerals": ["m"], "regions": regions[:2], "conduct": 1.0}]}]))
    cases.append((mp.markets["m"], build_plan(mp.markets["m"], mp.scenarios[0].instruments)))
    # an extension row (models/extensions.py, row group extension): a cap
    # on one region's exports over the dense market
    from mineq.models.extensions import Extension
    from mineq.models.policies import register

    @register
    class _ExportCap(Extension):
        type = "test_export_cap"
        keys = ("quantity",)

        def read(self, spec, regions_):
            self.quantity = spec["quantity"]
            self.holder = regions[0]

        def constraints(self, m, market):
            return {"cap": sum(m.flow[r] for r in m.ROUTES if r[1] == regions[0]) <= self.quantity}

    ext = build_case(case_dict(regions, [dense], scenarios=[{"name": "s", "policies": [{"type": "test_export_cap", "minerals": ["m"], "quantity": 1.0}]}]))
    cases.append((ext.markets["m"], build_plan(ext.markets["m"], ext.scenarios[0].instruments)))
    kinds = set()
    restricted = False
    rng = np.random.default_rng(3)
    for mk, plan in cases:
        pushed = MarketModel(mk, plan)
        pushed.solve()
        assert pushed.ran_highs
        wedges = {i: float(rng.uniform(0, 0.5)) * mk.price_scale for i in range(len(mk.route_list))}
        credits = {k: float(rng.uniform(0, 0.5)) * mk.price_scale for k in pushed._credited}
        points = {pos: float(rng.uniform(0.5, 2.0)) * pushed._owners[pos][2].reference_quantity() for pos in pushed.nonlinear_owners}
        pushed.set_wedges(wedges, credits)
        pushed.relinearise(points)
        fresh = MarketModel(mk, plan)
        fresh.set_wedges(wedges, credits)
        fresh.relinearise(points)
        pm = fresh.pyomo()
        handed = SolverFactory("highs")
        handed.set_instance(pm)
        vmap, cmap = handed._pyomo_var_to_solver_var_map, handed._pyomo_con_to_solver_con_map
        cols = np.empty(fresh._ncol, dtype=int)
        for name in COLUMNS:
            var = getattr(pm, name)
            cols[fresh._ix[name]] = [vmap[id(var[k])] for k in var]
        rows = np.empty(fresh._nrow, dtype=int)
        for name in ROWS:
            con = getattr(pm, name)
            rows[fresh._ix[name]] = [cmap[con[k]] for k in con]
            kinds |= {name} if len(con) else set()
        held = pushed.highs_columns  # the columns HiGHS holds (route generation), in its order
        restricted |= len(held) < pushed._ncol
        a, b = _program(pushed.highs), _program(handed._solver_model, cols[held], rows)
        for k in a:
            assert np.allclose(a[k], b[k], rtol=1e-12, atol=0.0, equal_nan=True), (mk.name, k)
    assert kinds == set(ROWS)  # every row group was compared somewhere
    assert restricted  # and a program HiGHS holds only part of


def test_rescue_polishes_from_where_highs_stopped(monkeypatch):
    """:func:`mineq.models.active_set.rescue` after HiGHS gave up: when its
    attempts end at the QP iteration limit (here forced to 3 iterations:
    the linked zinc, germanium and indium market of the bundled case
    under a minimum import price ended four of six attempts so), polish
    starts from the point HiGHS stopped at and reaches an exact optimum
    (the program's value as with HiGHS's own limits; its quantities are
    not unique: tied routes), instead of giving up."""
    import json
    from pathlib import Path

    import highspy

    import mineq.models.active_set as AS
    from mineq.models import lp_start
    from mineq.models.program import MarketModel
    from mineq.solver.case import build_case

    cd = json.loads((Path(__file__).parent / "data" / "qp_cycling_1.json").read_text())
    qp = MarketModel(build_case(cd).markets["x"]).qp()
    # HiGHS cycles on this program unless stopped: the optimum as rescue
    # finds it with HiGHS's own limits
    want = AS.rescue(qp)[0]
    real = AS.highs_of
    stops = []

    def stopping(*a, **k):
        inner = real(*a, **k)

        class Stopped:
            def setOptionValue(self, key, value):
                inner.setOptionValue(key, 3 if key == "qp_iteration_limit" else value)

            def run(self):
                inner.run()
                stops.append(inner.getModelStatus())

            def __getattr__(self, name):
                return getattr(inner, name)

        return Stopped()

    monkeypatch.setattr(AS, "highs_of", stopping)
    # the HiGHS attempts are what this test holds: no linear-twin start
    # (tested below)
    monkeypatch.setattr(lp_start, "twin_point", lambda qp: None)
    out = AS.rescue(qp)
    assert stops and stops[0] == highspy.HighsModelStatus.kIterationLimit
    assert out is not None
    # tied routes make the optimal quantities not unique: the value is unique
    assert _value(qp, out[0]) == pytest.approx(_value(qp, want), rel=1e-9, abs=1e-12)
    assert np.all(qp.lo - 1e-9 <= out[0]) and np.all(out[0] <= qp.up + 1e-9)


def _value(qp, x):
    """The objective of ``qp`` (diagonal Hessian) at ``x``."""
    return float(qp.c @ x + 0.5 * qp.hd @ (x * x))


def test_rescue_from_the_linear_twin_alone(monkeypatch):
    """The same cycling program with no HiGHS QP attempt at all
    (``RESCUE_PERTURBATIONS`` empty): polish from the optimum of its
    piecewise-linear twin (:func:`mineq.models.lp_start.twin_point`,
    HiGHS's dual simplex) reaches the optimum HiGHS's attempts reach:
    the same value, within the bounds, and a KKT point (no reduced cost
    of the wrong sign)."""
    import json
    from pathlib import Path

    import mineq.models.active_set as AS
    from mineq.models.program import MarketModel
    from mineq.solver.case import build_case

    cd = json.loads((Path(__file__).parent / "data" / "qp_cycling_1.json").read_text())
    qp = MarketModel(build_case(cd).markets["x"]).qp()
    want = AS.rescue(qp)[0]
    monkeypatch.setattr(AS, "RESCUE_PERTURBATIONS", ())
    out = AS.rescue(qp)
    assert out is not None
    x, y, _ = out

    assert _value(qp, x) == pytest.approx(_value(qp, want), rel=1e-9, abs=1e-12)
    assert np.all(qp.lo - 1e-9 <= x) and np.all(x <= qp.up + 1e-9)
    red = qp.reduced_costs(x, y)
    assert np.all(red[x <= qp.lo + 1e-9] >= -1e-7) and np.all(red[x >= qp.up - 1e-9] <= 1e-7)
    free = (x > qp.lo + 1e-9) & (x < qp.up - 1e-9)
    assert np.abs(red[free]).max(initial=0.0) <= 1e-7


def test_rescue_leaves_the_slow_polish_until_after_the_first_attempt(monkeypatch):
    """Where the compiled polish from the linear twin hands over to Python
    (a singular KKT system; forced here by a kernel that always does),
    rescue runs its first HiGHS attempt before that Python polish, and
    still ends at the optimum when the attempts fail: the Python polish
    from the twin runs once, right after the first attempt.  (On the
    bundled light rare earths the Python polish failed after 2.5 s where
    the first attempt ended it in 0.25 s.)"""
    import json
    from pathlib import Path

    import mineq.models.active_set as AS
    from mineq.models.program import MarketModel
    from mineq.solver.case import build_case

    cd = json.loads((Path(__file__).parent / "data" / "qp_cycling_1.json").read_text())
    qp = MarketModel(build_case(cd).markets["x"]).qp()
    want = AS.rescue(qp)[0]
    if AS._KERNEL is None:
        pytest.skip("the compiled polish is not built here (MINEQ_KERNEL=0 or no extension)")
    monkeypatch.setattr(AS, "_KERNEL", lambda *a: 2)
    assert AS.polish(qp, np.zeros(qp.A.shape[1]), np.zeros(qp.A.shape[0]), compiled_only=True) is AS.LEFT_TO_PYTHON
    order = []
    real_python = AS.polish_python
    monkeypatch.setattr(AS, "_perturbed_attempt", lambda qp, rng, eps: order.append(("attempt", eps)))
    monkeypatch.setattr(AS, "polish_python", lambda *a, **k: order.append(("python",)) or real_python(*a, **k))
    out = AS.rescue(qp)
    assert order == [("attempt", AS.RESCUE_PERTURBATIONS[0]), ("python",)]
    assert out is not None and _value(qp, out[0]) == pytest.approx(_value(qp, want), rel=1e-9, abs=1e-12)
