"""The recursive-dynamic mode (issue 20): capacities that move between
years by investment with a lead time, demand growth, policy windows.

Closed forms are derived in the docstrings; every year of every path is
solved by the static engine and verified there."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from helpers import DEMO, run
from mineq.solver.case import build_case, load_case, read_case
from mineq.solver.dynamic import smallest_plant, solve_dynamic
from mineq.solver.errors import CaseError
from mineq.solver.run import solve_case

TWO = Path(__file__).parent / "data" / "dynamic_two_year.toml"


def test_two_years_one_region_closed_form(tmp_path):
    """One region; free ore; a refinery with marginal cost 20 and capacity
    40; demand P = 100 − Q; investment response φ = 1, lead time 1 year.

    2025: the refinery runs at capacity, Q = 40, P = 60, a capacity rent
    ρ = 60 − 20 = 40 per unit; it orders I = φ·K̄·ρ/P = 40·40/60 = 26.67.
    2026: K = 40 + 26.67 = 66.67, still at capacity (P = 100 − 66.67 =
    33.33 > 20), so P = 33.33, and the order that year is
    40·(33.33 − 20)/33.33 = 16."""
    out = tmp_path / "r.nc"
    code, text = run("solve", TWO, "--out", out)
    assert code == 0, text
    ds = xr.load_dataset(out)
    assert ds.year.values.tolist() == [2025, 2026]
    k = ds.capacity.sel(scenario="baseline").isel(capacity_curve=0).values
    assert k == pytest.approx([40.0, 40.0 + 80.0 / 3.0], rel=1e-9)
    p = ds.price.sel(scenario="baseline", mineral="m", stage="refined", region="A").values
    assert p == pytest.approx([60.0, 100.0 / 3.0], rel=1e-9)
    i = ds.investment.sel(scenario="baseline").isel(capacity_curve=0).values
    assert i == pytest.approx([80.0 / 3.0, 16.0], rel=1e-9)
    assert (ds.status == "equilibrium").all()
    assert "every year of every scenario a verified equilibrium" in text


def _dynamic(response=0.0, growth=None, active=None, years=(2024, 2025), lead=1):
    data = read_case(DEMO)
    data["dynamics"] = {"first_year": years[0], "last_year": years[1], "investment_response": response, "lead_time": {"refined": lead}}
    if active:
        data["dynamics"]["active"] = active
    if growth is not None:
        data["dynamics_growth"] = [dict(mineral="*", region="*", rate=str(growth), source="test", confidence="assumed", _file="g.csv", _where="row 2")]
    case = build_case(data)
    return case, solve_dynamic(case, case.dynamics)


def test_zero_investment_reproduces_the_static_case_every_year():
    """φ = 0, no depreciation, no growth: each year of each scenario is the
    static equilibrium of the case (prices and quantities), although the
    latent capacity the static case holds is not there in the dynamic one
    (it is idle in both)."""
    case, ds = _dynamic()
    static = solve_case(load_case(DEMO), threads=1)
    for sn, per in static.items():
        for mn, r in per.items():
            mk = r.market
            for y in ds.year.values:
                got = ds.price.sel(year=y, scenario=sn, mineral=mn)
                for (s, reg), want in zip(mk.nodes, r.solution.price):
                    if np.isfinite(want):
                        assert float(got.sel(stage=s, region=reg)) == pytest.approx(want, rel=1e-7, abs=1e-9), (sn, mn, y, s, reg)


def test_capacity_path_recomputed_from_the_results():
    """K_{y+1} = (1 − δ)·K_y + I_{y+1−L} and I_y = φ·K̄·ρ/P (ρ the capacity
    rent at capacity, else 0), recomputed here from the stored prices,
    quantities and the case's cost curves, for every curve and path."""
    case, ds = _dynamic(response=0.8, growth=0.1, years=(2024, 2027), lead=1)
    dyn = case.dynamics
    ref = ds.capacity_reference.values
    for sn in ds.scenario.values.tolist():
        for j, lab in enumerate(ds.capacity_curve.values.tolist()):
            kind, mn = str(ds.capacity_kind.values[j]), str(ds.capacity_mineral.values[j])
            mk = case.markets[mn]
            K = ds.capacity.sel(scenario=sn).isel(capacity_curve=j).values
            I = ds.investment.sel(scenario=sn).isel(capacity_curve=j).values
            for t, y in enumerate(ds.year.values):
                d = ds.sel(year=y, scenario=sn, mineral=mn)
                if kind == "processing":
                    reg = str(ds.capacity_region.values[j])
                    p = next(p for p in mk.processes if p.region == reg and lab.endswith("/" + p.source))
                    q = float(d.processing.sel(stage=p.target, region=reg))
                    margin = float(d.producer_price.sel(stage=p.target, region=reg)) - p.theta * float(d.price.sel(stage=p.source, region=reg))
                    price, cost = float(d.price.sel(stage=p.target, region=reg)), p.cost
                else:
                    st, reg = lab.split(" ")[2].split("/")
                    q = float(d.supply.sel(stage=st, region=reg))
                    margin = price = float(d.producer_price.sel(stage=st, region=reg))
                    cost = mk.supply[(st, reg)]
                at_cap = q >= K[t] * (1 - 1e-6) - 1e-9 * max(ref[j], 1.0)
                rent = margin - cost.value(K[t]) if at_cap else 0.0
                want = dyn.investment_response * ref[j] * max(rent, 0.0) / price if at_cap and rent > 0 and price > 0 else 0.0
                # slivers are not ordered, nor a new plant below the smallest one
                want = want if want >= 1e-2 * ref[j] and (K[t] > 0 or want >= smallest_plant(case, mn)) else 0.0
                assert I[t] == pytest.approx(want, rel=1e-6, abs=1e-9 * max(ref[j], 1.0)), (sn, lab, y)
                if t + 1 < len(K):
                    assert K[t + 1] == pytest.approx((1 - dyn.depreciation) * K[t] + I[t], rel=1e-9, abs=1e-12), (sn, lab, y)


def test_policy_window_and_fiscal_cost():
    """A scenario active only in 2025 equals the baseline path in 2024, moves
    money in 2025, and its last binding year is 2025; the discounted fiscal
    cost is the sum of the yearly costs at the discount rate."""
    case0 = load_case(DEMO)
    sn = "partner-floor"
    case, ds = _dynamic(active={sn: [2025, 2025]})
    a, b = ds.sel(scenario=sn), ds.sel(scenario="baseline")
    assert np.allclose(a.price.sel(year=2024).values, b.price.sel(year=2024).values, equal_nan=True)
    assert float(ds.fiscal_cost.sel(scenario=sn, year=2024)) == pytest.approx(0.0, abs=1e-9)
    assert float(ds.fiscal_cost.sel(scenario=sn, year=2025)) > 0
    assert int(ds.last_binding_year.sel(scenario=sn)) == 2025
    fc = ds.fiscal_cost.sel(scenario=sn).values
    assert float(ds.fiscal_cost_discounted.sel(scenario=sn)) == pytest.approx(fc[0] + fc[1], rel=1e-12)  # discount rate 0


@pytest.mark.parametrize(
    "edit, field, words",
    [
        ({"last_year": 2020}, "last_year", "not before first_year"),
        ({"lead_time": {"smelted": 2}}, "lead_time.smelted", "a stage of the case's minerals"),
        ({"lead_time": {"refined": 0}}, "lead_time.refined", "from 1 to 30"),
        ({"active": {"nope": [2024, 2025]}}, "active.nope", "a scenario of the case"),
        ({"investment_response": -1}, "investment_response", "a number from 0"),
        ({"horizon": 10}, "horizon", "one of the known keys"),
    ],
)
def test_bad_dynamics_are_named(edit, field, words):
    data = read_case(DEMO)
    data["dynamics"] = {"first_year": 2024, "last_year": 2026, **edit}
    with pytest.raises(CaseError) as err:
        build_case(data)
    assert field in str(err.value) and words in str(err.value) and "[dynamics]" in str(err.value)


def _demo_file(tmp_path):
    """A dynamic demo result whose paths differ in capacity (the floor
    builds refining capacity), written and read back."""
    case, ds = _dynamic(response=0.8, growth=0.1, years=(2024, 2027), active={"partner-floor": [2025, 2026]})
    path = tmp_path / "d.nc"
    ds.to_netcdf(path)
    return case, path


def test_verify_rechecks_every_year_and_the_capacity_update(tmp_path):
    """mineq verify on a dynamic file: every path-year market passes, from
    its primal values; a stored order, a capacity or a price edited after
    the solve is found (by the recomputed capacity update or by the
    equilibrium check of that year)."""
    case, path = _demo_file(tmp_path)
    ds = xr.load_dataset(path)
    assert float(np.nanmax(np.abs(ds.capacity - ds.capacity.sel(scenario="baseline")))) > 1.0  # the paths differ
    code, text = run("verify", path)
    assert code == 0, text
    assert f"Checked {ds.sizes['year'] * ds.sizes['scenario'] * ds.sizes['mineral']} scenario-mineral markets" in text and "0 failures" in text

    def edited(name, change):
        bad = ds.copy(deep=True)
        change(bad[name])
        out = tmp_path / f"{name}.nc"
        bad.to_netcdf(out)
        return run("verify", out)

    j = int(np.argmax(ds.investment.sel(scenario="partner-floor", year=2025).values))
    code, text = edited("investment", lambda v: v.loc[dict(year=2025, scenario="partner-floor")].__setitem__(j, float(v.sel(year=2025, scenario="partner-floor")[j]) * 1.01))
    assert code != 0 and "investment[partner-floor, 2025" in text
    code, text = edited("capacity", lambda v: v.loc[dict(year=2027, scenario="baseline")].__setitem__(0, float(v.sel(year=2027, scenario="baseline")[0]) + 1.0))
    assert code != 0 and "2027" in text
    code, text = edited("price", lambda v: v.loc[dict(year=2026, scenario="partner-floor", mineral="rare_earths", stage="refined", region="USA")].__iadd__(0.5))
    assert code != 0 and "FAIL partner-floor 2026/rare_earths" in text
    # each year's tables are made again from the primal values: a welfare
    # figure or an import reliance edited alone is found, named by year
    code, text = edited("consumer_surplus_change", lambda v: v.loc[dict(year=2026, scenario="partner-floor", mineral="rare_earths", region="USA")].__iadd__(1.0))
    assert code != 0 and "partner-floor 2026" in text and "consumer_surplus_change[region=USA]" in text, text
    code, text = edited("net_import_reliance", lambda v: v.loc[dict(year=2025, scenario="baseline", mineral="lithium")].__iadd__(0.01))
    assert code != 0 and "baseline 2025" in text and "net_import_reliance" in text, text


def test_compare_year_by_year_and_one_year(tmp_path):
    """compare on a dynamic file: one line per year (fiscal cost in million
    USD: the demo's money is USD/kg x kt), and with --year that year's
    full comparison; a year outside the file is named."""
    case, path = _demo_file(tmp_path)
    ds = xr.load_dataset(path)
    code, text = run("compare", path, "-s", "partner-floor")
    assert code == 0, text
    for y in (2024, 2025, 2026, 2027):
        assert f"\n{y} " in text
    fc = ds.fiscal_cost.sel(scenario="partner-floor").values
    assert ds.fiscal_cost.attrs["units"].startswith("USD per year")  # USD/kg x kt REO converted: 1e6 USD
    assert f"{fc[2] / 1e6:,.4g}" in text
    assert "last year it binds: 2026" in text
    code, text = run("compare", path, "-s", "partner-floor", "--year", "2026")
    assert code == 0 and "rare_earths [USD/kg, kt REO]" in text, text
    code, text = run("compare", path, "--year", "2040")
    assert code != 0 and "2024-2027" in text and "Traceback" not in text


def test_bundled_dynamic_variant_extends_the_static_case():
    """cases/critical-minerals-54/dynamic.toml repeats nothing of case.toml
    (extends it) and adds [dynamics]; two of its years for the floor club:
    the floor starts in 2026, so 2025 costs nothing and 2026 does."""
    import dataclasses

    root = Path(__file__).resolve().parent.parent / "cases" / "critical-minerals-54"
    case = load_case(root / "dynamic.toml")
    static = load_case(root)
    assert case.name == "critical-minerals-54-dynamic" and list(case.markets) == list(static.markets)
    assert [s.name for s in case.scenarios] == [s.name for s in static.scenarios]
    dyn = dataclasses.replace(case.dynamics, last_year=2026)
    ds = solve_dynamic(case, dyn, ["partner-floor-club"])
    assert (ds.status == "equilibrium").all()
    fc = ds.fiscal_cost.sel(scenario="partner-floor-club")
    assert float(fc.sel(year=2025)) == pytest.approx(0.0, abs=1e-6) and float(fc.sel(year=2026)) > 0


def test_extends_must_name_a_case_file_beside_it(tmp_path):
    (tmp_path / "v.toml").write_text('extends = "../elsewhere.toml"\n')
    with pytest.raises(CaseError, match="another case file in the same folder"):
        read_case(tmp_path / "v.toml")


def _bundled_part(minerals, scenario, last_year):
    """The bundled dynamic case restricted to ``minerals`` and one scenario
    (the capacities of a mineral depend on its own markets only)."""
    root = Path(__file__).resolve().parent.parent / "cases" / "critical-minerals-54"
    data = read_case(root / "dynamic.toml")
    data["minerals"] = [m for m in data["minerals"] if m["name"] in minerals]
    data["joint"] = [j for j in data.get("joint", []) if all(o.split(":")[0].strip() in minerals for o in j["outputs"].split(";") if o.strip())]
    for k in ("headline_minerals", "headline_group", "calibration"):
        data["case"].pop(k, None)
    data.pop("calibration_targets", None)
    data["dynamics_growth"] = [g for g in data["dynamics_growth"] if g.get("mineral", "*") in ("*", *minerals)]
    data["scenarios"] = [s for s in data["scenarios"] if s["name"] == scenario]
    data["dynamics"] = dict(data["dynamics"], last_year=last_year, active={k: v for k, v in data["dynamics"]["active"].items() if k == scenario})
    return build_case(data)


def test_no_plant_is_started_as_a_sliver_of_its_market():
    """Dysprosium on the bundled floor-club path: in 2025-2028 the latent
    US, Canadian and Mexican refineries earned orders of 0.2-0.26 t
    (1.1-1.4% of their case-file size, 1e-4 of the market's scale) that
    arrived in 2029, and HiGHS stopped with numerical trouble on that
    year's program.  No plant is now started below smallest_plant(), and
    the path runs to 2035, every year verified."""
    case = _bundled_part(["dysprosium"], "partner-floor-club", 2035)
    ds = solve_dynamic(case, case.dynamics)
    assert ds.attrs["failed_paths"] == "" and (ds.status == "equilibrium").all()
    K = ds.capacity.values
    least = smallest_plant(case, "dysprosium")
    assert least == pytest.approx(1e-3 * case.markets["dysprosium"].quantity_scale)
    # every capacity is zero, or at least the smallest plant, or the case's own (existing plants)
    ref = ds.capacity_reference.values
    assert ((K == 0) | (K >= least * (1 - 1e-12)) | np.isclose(K, ref)).all()
    assert (K[-1] > K[0]).any()  # plants are built


def test_each_year_case_is_built_once_per_path(monkeypatch):
    """The two-year case: the baseline path and the tariff's path each
    build their two year cases; the result Dataset is made from the
    baseline's (it built them twice before: once for the path, once for
    the Dataset)."""
    import mineq.solver.dynamic as dynamic

    built = []
    real = dynamic.year_case
    monkeypatch.setattr(dynamic, "year_case", lambda *a, **k: built.append(a[2]) or real(*a, **k))
    case = load_case(TWO)
    ds = solve_dynamic(case, case.dynamics)
    assert sorted(built) == [2025, 2025, 2026, 2026]
    assert (ds.status == "equilibrium").all()


def test_report_plots_the_years(tmp_path):
    """report on a dynamic file: checks of every path-year market, the
    three figures over the years, the discounted fiscal cost per scenario
    in million USD (the stored figure, USD, / 1e6), then the last year's
    sections."""
    case, path = _demo_file(tmp_path)
    ds = xr.load_dataset(path)
    code, text = run("report", path, "--out", tmp_path / "rep")
    assert code == 0 and "Verified: all 32 path-year markets" in text, text
    figs = sorted(p.name for p in (tmp_path / "rep" / "figures").iterdir())
    assert figs[:3] == ["01-fiscal-cost-per-year.png", "02-capacity-built-outside-china.png", "03-prices-over-years.png"]
    page = (tmp_path / "rep" / "report.html").read_text()
    want = float(ds.fiscal_cost_discounted.sel(scenario="partner-floor")) / 1e6
    assert want > 1 and f"{want:,.4g}" in page
    assert "The sections below show the year 2027" in page
    assert "2026 / partner-floor" in page  # a row of the checks per year and path


def test_ensemble_of_a_dynamic_case_closed_form(tmp_path):
    """tests/data/dynamic_floor.toml: a refinery of capacity 40 (cost 20),
    demand through (Q, P) = (40, 60) with elasticity −x at that point,
    x ~ triangular(1, 1.5, 3) (the uncertainty table), investment
    response 1, lead time 1, a deficiency-payment floor at 40.

    2025: Q = 40, P = 60 whatever x; the floor does not bind; the order is
    40·(60 − 20)/60 = 80/3, so K = 40 + 80/3 in 2026 on both paths.
    2026: the slope at the reference point is 60/(40·x), so
    P = 60 − (60/(40x))·(80/3) = 60 − 40/x (≥ 20 for x ≥ 1: at capacity);
    the floor binds iff P < 40, i.e. x < 2, and costs (40 − P)·K.
    P(x < 2) = 1 − (3 − 2)²/((3 − 1)(3 − 1.5)) = 2/3.  Each draw's x is
    read from the draw's stream, so the binding probability, the mean and
    the 95th percentile of the outlays are checked exactly."""
    from mineq.solver.ensemble import draw_factors, read_uncertainty

    data = Path(__file__).parent / "data"
    out = tmp_path / "ens"
    n = 12
    code, text = run("ensemble", data / "dynamic_floor.toml", "-n", n, "--seed", 3, "--chunk", 6, "-w", 1, "-o", out, "-q")
    assert code == 0, text
    ds = xr.load_dataset(out / "ensemble.nc")
    case = load_case(data / "dynamic_floor.toml")
    rows = read_uncertainty(data / "dynamic_floor_uncertainty.csv", case)
    x = np.array([1.5 * draw_factors(rows, 3, d)[0][2] for d in range(n)])
    K = 40 + 80 / 3
    price = 60 - 40 / x
    cost = np.where(price < 40, (40 - price) * K, 0.0)
    assert np.allclose(ds.fiscal_cost.sel(scenario="floor", year=2026).values, cost, rtol=1e-9, atol=1e-9)
    p = ds.floor_binding_probability.sel(scenario="floor")
    assert float(p.sel(year=2025)) == 0.0
    assert float(p.sel(year=2026)) == pytest.approx(np.mean(x < 2), abs=1e-12)
    assert 0 < float(p.sel(year=2026)) < 1  # the draws fall on both sides of x = 2
    assert float(ds.fiscal_cost_expected.sel(scenario="floor", year=2026)) == pytest.approx(cost.mean(), rel=1e-9)
    assert float(ds.fiscal_cost_p95.sel(scenario="floor", year=2026)) == pytest.approx(np.quantile(cost, 0.95), rel=1e-9)
    assert float(ds.fiscal_cost_expected.sel(scenario="floor", year=2025)) == pytest.approx(0.0, abs=1e-9)


FLOOR = Path(__file__).parent / "data" / "dynamic_floor.toml"


def _floor_cost(level: float) -> float:
    """tests/data/dynamic_floor.toml at its central elasticity x = 1.5
    (see test_ensemble_of_a_dynamic_case_closed_form): 2025 P = 60, the
    floor (level L < 60) does not bind, K = 40 + 80/3 = 200/3 in 2026
    on every path; 2026 P = 60 − 40/1.5 = 100/3 at capacity, whatever
    the floor (a deficiency payment does not move a refinery at
    capacity), so the floor costs (L − 100/3)·200/3 in 2026 when
    L > 100/3, else nothing; discount rate 0."""
    return max(0.0, level - 100.0 / 3.0) * 200.0 / 3.0


def test_sweep_of_a_dynamic_case_closed_form(tmp_path):
    """mineq sweep on a dynamic case: each floor level is a path over the
    years; its discounted fiscal cost and last binding year follow
    :func:`_floor_cost`; the file (sweep x year) verifies, compares and
    reports."""
    out = tmp_path / "s.nc"
    code, text = run("sweep", FLOOR, "-s", "floor", "--set", "level=30:50:5", "-i", "price[A,m]", "--out", out)
    assert code == 0, text
    assert "5 values x 2 years (2025-2026)" in text and "fiscal_cost_discounted" in text
    with xr.open_dataset(out) as ds:
        assert ds.sizes["sweep"] == 5 and ds.year.values.tolist() == [2025, 2026]
        levels = ds.sweep.values
        assert ds.fiscal_cost_discounted.values == pytest.approx([_floor_cost(v) for v in levels], rel=1e-9, abs=1e-9)
        assert ds.last_binding_year.values.tolist() == [2026 if v > 100 / 3 else -1 for v in levels]
        assert ds.price.sel(year=2026, mineral="m", stage="refined", region="A").values == pytest.approx([100 / 3] * 5, rel=1e-9)
        assert (ds.status == "equilibrium").all()
    assert out.with_suffix(".png").stat().st_size > 10_000
    code, text = run("verify", out)
    assert code == 0 and "0 failures" in text and "0 stored numbers or inputs differ" in text, text
    code, text = run("compare", out)
    assert code == 0 and "=== Scenario 'floor [level=50]' vs 'baseline', year by year" in text, text
    code, text = run("report", out, "--out", tmp_path / "rep")
    assert code == 0 and (tmp_path / "rep" / "figures" / "01-fiscal-cost-per-year.png").exists(), text
    code, text = run("sweep", FLOOR, "-s", "floor", "--set", "level=30,40", "--year", 2031, "--out", tmp_path / "y.nc")
    assert code != 0 and "2025-2026" in text and "Traceback" not in text


def test_target_of_a_dynamic_case_closed_form(tmp_path):
    """mineq target on a dynamic case: the floor a discounted budget of
    1,000 USD allows is L = 100/3 + 1000·3/200 = 48.333... (from
    :func:`_floor_cost`); read in one year (--year 2026) the yearly cost
    gives the same level.  An indicator with a value each year needs
    --year; a total over the years refuses one."""
    want = 100.0 / 3.0 + 15.0
    out = tmp_path / "t.nc"
    code, text = run("target", FLOOR, "-s", "floor", "-p", "level", "-i", "fiscal_cost_discounted", "-v", 1000, "--range", "30:60", "--out", out)
    assert code == 0, text
    level = float(text.split("level = ")[-1].split()[0])
    assert level == pytest.approx(want, rel=1e-6)
    code, text = run("verify", out)
    assert code == 0 and "0 failures" in text, text
    code, text = run("target", FLOOR, "-s", "floor", "-p", "level", "-i", "fiscal_cost[m]", "-y", 2026, "-v", 1000, "--range", "30:60")
    assert code == 0 and float(text.split("level = ")[-1].split()[0]) == pytest.approx(want, rel=1e-6), text
    code, text = run("target", FLOOR, "-s", "floor", "-p", "level", "-i", "fiscal_cost[m]", "-v", 1000, "--range", "30:60")
    assert code != 0 and "choose one with --year" in text and "Traceback" not in text
    code, text = run("target", FLOOR, "-s", "floor", "-p", "level", "-i", "fiscal_cost_discounted", "-y", 2026, "-v", 1000, "--range", "30:60")
    assert code != 0 and "--year means nothing" in text and "Traceback" not in text


def test_sweep_of_a_dynamic_case_in_python_keeps_windows_and_minerals():
    """mineq.api on a dynamic case: solve has a year dimension (not the
    base year alone); a sweep's points take the swept scenario's policy
    window (no money moves before it) and --mineral restricts every year
    to that mineral, its file still verifying."""
    from mineq import api

    data = read_case(DEMO)
    data["dynamics"] = {"first_year": 2024, "last_year": 2026, "investment_response": 0.8, "lead_time": {"refined": 1}, "active": {"partner-floor": [2025, 2026], "us-mip": [2024, 2026]}}
    case = build_case(data)
    ds = api.solve(case, ["partner-floor"])
    assert ds.year.values.tolist() == [2024, 2025, 2026]
    res = api.sweep(case, "partner-floor", "level_vs_baseline", [1.1, 1.3], minerals=["rare_earths"])
    pts = res.points
    assert pts.mineral.values.tolist() == ["rare_earths"] and pts.sizes["sweep"] == 2
    assert np.allclose(pts.fiscal_cost.sel(year=2024).values, 0.0)
    assert (pts.fiscal_cost.sel(year=2025).values > 0).all()
    assert float(pts.fiscal_cost_discounted.sel(sweep=1.3)) > float(pts.fiscal_cost_discounted.sel(sweep=1.1))
    assert float(pts.fiscal_cost.sel(year=2026, sweep=1.3)) == pytest.approx(float(ds.fiscal_cost.sel(year=2026, scenario="partner-floor")), rel=1e-7)
    check = api.verify(res)
    assert bool(check.attrs["all_ok"]), check.attrs["failures"]
    # target's paths are the sweep's: the same window, the same cost
    hit = api.target(case, "partner-floor", "level_vs_baseline", "fiscal_cost_discounted[rare_earths]", float(pts.fiscal_cost_discounted.sel(sweep=1.3)), bounds=(1.1, 1.5), points=3)
    assert hit.reached and hit.level == pytest.approx(1.3, rel=1e-6)
    assert np.allclose(hit.result.dataset.fiscal_cost.sel(year=2024).values, 0.0)


def test_year_cases_leave_the_case_data_as_it_was():
    """year_case shares the case's unchanged tables (routes) instead of
    deep-copying them: building years at other capacities and grown
    demand must not change the case itself."""
    import json

    from mineq.solver.dynamic import _curve, capacity_keys, year_case

    case, _ = _dynamic(response=0.8, growth=0.1, years=(2024, 2027), active={"partner-floor": [2025, 2026]})
    before = json.dumps(case.data, sort_keys=True, default=str)
    cap = {k: 2.0 * _curve(case, k).upper for k in capacity_keys(case)}
    yc = year_case(case, case.dynamics, 2027, cap, ["partner-floor"])
    assert json.dumps(case.data, sort_keys=True, default=str) == before
    k = next(iter(cap))
    assert _curve(yc, k).upper == pytest.approx(cap[k]) != pytest.approx(_curve(case, k).upper)


def test_scenario_paths_on_processes_equal_one_process():
    """The scenarios' paths run on forked processes once the baseline path
    is solved; the file is the same, number for number, as on one
    process (welfare changes made again here, not taken from a worker's
    cache keyed by its own objects)."""
    from mineq.solver.processes import forking

    if not forking():
        pytest.skip("no forked workers on this platform")
    data = read_case(DEMO)
    data["dynamics"] = {"first_year": 2024, "last_year": 2026, "investment_response": 0.8, "lead_time": {"refined": 1}, "active": {"partner-floor": [2025, 2026]}}
    case = build_case(data)
    one = solve_dynamic(case, case.dynamics, threads=1)
    two = solve_dynamic(case, case.dynamics, threads=2)
    assert one.scenario.values.tolist() == ["baseline", "us-mip", "partner-floor", "china-ban"]
    xr.testing.assert_identical(one, two)
