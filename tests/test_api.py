"""The Python API (mineq.api): each function on the three-region demo case,
checked against the command line's results or closed forms.

Closed forms used below (demo case, lithium, refined stage, USA): supply
``P = 10 + 2·S`` (capacity 30), demand ``P = 100 − D``.  Under the
``us-mip`` minimum import price ``M`` with a levy the USA imports at every
level tested, so every import lands at ``M`` and ``P_USA = M``, hence
``S = (M − 10)/2`` and ``D = 100 − M``.  With imports banned the USA is in
autarky: ``10 + 2·S = 100 − S`` gives ``S = D = 30`` (the capacity) and
``P = 70``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

import mineq
from mineq.solver.case import build_case
from mineq.solver.cli import main

from helpers import case_dict
from test_closed_form import two_regions

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "cases" / "three-region-demo"
LI = dict(mineral="lithium", stage="refined")


def cli(*args):
    res = CliRunner().invoke(main, [str(a) for a in args])
    return res.exit_code, res.output


def usa(ds, var, scenario):
    return float(ds[var].sel(scenario=scenario, region="USA", **LI))


@pytest.fixture(scope="module")
def demo():
    return mineq.load_case(DEMO)


@pytest.fixture(scope="module")
def solved(demo):
    return mineq.solve(demo)


@pytest.fixture(scope="module")
def cli_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "demo.nc"
    code, text = cli("solve", DEMO, "--out", out, "--quiet")
    assert code == 0, text
    return out


def test_import_mineq_loads_no_solver_libraries():
    """``import mineq`` stays cheap (PEP 562): the API and its libraries
    load on first use."""
    code = ("import sys, mineq; heavy = [m for m in ('numpy', 'xarray', 'pyomo', 'highspy', 'mineq.api') if m in sys.modules]; "
            "assert not heavy, heavy; assert mineq.solve is __import__('mineq.api').api.solve; assert 'load_case' in dir(mineq); print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
    with pytest.raises(AttributeError):
        mineq.no_such_function


def test_load_case_by_path_name_and_default(demo):
    by_name = mineq.load_case("three-region-demo")
    assert isinstance(by_name, mineq.Case) and by_name.digest == demo.digest
    bundled = mineq.load_case(None)
    assert bundled.name == "critical-minerals-54" and len(bundled.markets) == 54
    # read from CSV tables, it round-trips through its canonical JSON unchanged
    assert bundled.drift() == []
    # a CSV row's curve is derived like an inline one: aluminum's US demand is
    # linear through (P, Q) of its row (the sourced price and USGS apparent
    # consumption, 5.7e6 t), so elasticity -0.6 halves its slope
    al = bundled.with_elasticity("aluminum", "refined", "USA", "demand", -0.6)
    old, new = (c.markets["aluminum"].demand[("refined", "USA")] for c in (bundled, al))
    row = next(n for n in bundled.data["minerals"][0]["nodes"] if n["region"] == "USA" and n["stage"] == "refined")
    P, Q = row["demand"]["price"], row["demand"]["quantity"]
    assert Q == 5.7e6
    assert new.slope == pytest.approx(P / (0.6 * Q), rel=1e-12) and new.slope == pytest.approx(old.slope / 2, rel=1e-12)
    assert bundled.data["minerals"][0]["nodes"][0]["demand"]["elasticity"] == -0.3
    with pytest.raises(mineq.CaseError, match="no such file"):
        mineq.load_case("no-such-case-anywhere")


def test_solve_matches_the_command_line(solved, cli_file):
    ref = mineq.read(cli_file)  # flows along 'route' in the file, origin x destination here
    assert solved.attrs["input_hash"] == ref.attrs["input_hash"]
    assert solved.scenario.values.tolist() == ref.scenario.values.tolist() == ["baseline", "us-mip", "partner-floor", "china-ban"]
    for v in ("price", "supply", "demand", "processing", "flow", "total_welfare", "total_welfare_change", "government_net"):
        np.testing.assert_allclose(solved[v].values, ref[v].values, rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=v)
    assert (solved.status.values == "equilibrium").all()
    # the MIP binds: imports land at M = 35, the closed form of the module docstring
    assert usa(solved, "price", "us-mip") == pytest.approx(35.0, abs=1e-9)
    assert usa(solved, "supply", "us-mip") == pytest.approx(12.5, abs=1e-9)
    assert usa(solved, "demand", "us-mip") == pytest.approx(65.0, abs=1e-9)


def test_solve_selected_scenarios(demo):
    ds = mineq.solve(demo, scenarios=[])
    assert ds.scenario.values.tolist() == ["baseline"]
    ds = mineq.solve(demo, "us-mip")
    assert ds.scenario.values.tolist() == ["baseline", "us-mip"]
    with pytest.raises(mineq.MineqError, match="not in case"):
        mineq.solve(demo, ["no-such-scenario"])


@pytest.mark.parametrize("level", [40.0, 45.0])
def test_derived_policy_level_is_stored_and_verifies(demo, level, tmp_path):
    """A derived level is what is solved and what is stored: the written
    file passes ``mineq verify``; the original case is untouched."""
    dearer = demo.with_policy_level("us-mip", 1, level=level)
    assert dearer is not demo and dearer.digest != demo.digest
    assert demo.data["scenarios"][0]["policies"][0]["level"] == 35.0 and demo.scenarios[0].instruments[0].level == 35.0
    assert dearer.derived == [f"with_policy_level('us-mip', 1, level={level!r})"]
    ds = mineq.solve(dearer, ["us-mip"])
    stored = json.loads(ds.attrs["case_json"])
    assert stored["scenarios"][0]["policies"][0]["level"] == level and stored["_derived"] == dearer.derived
    assert ds.attrs["input_hash"] == dearer.digest
    assert usa(ds, "price", "us-mip") == pytest.approx(level, abs=1e-9)
    assert usa(ds, "supply", "us-mip") == pytest.approx((level - 10) / 2, abs=1e-9)
    assert usa(ds, "demand", "us-mip") == pytest.approx(100 - level, abs=1e-9)
    # the levy: (M − CIF) per unit on each origin's flow into the USA
    sel = ds.sel(scenario="us-mip", **LI)
    levy = sum((level - float(sel.price.sel(region=o)) - float(sel.transport_cost.sel(origin=o, destination="USA"))) * float(sel.flow.sel(origin=o, destination="USA")) for o in ("CHN", "ROW"))
    assert float(sel.levy_revenue.sel(region="USA")) == pytest.approx(levy, rel=1e-9)
    path = mineq.write(ds, tmp_path / "dearer.nc")
    code, text = cli("verify", path)
    assert code == 0 and "0 failures" in text, text
    assert mineq.verify(path).attrs["all_ok"] == 1


def test_relative_level_replaces_the_absolute_one(demo):
    rel = demo.with_policy_level("us-mip", "minimum_import_price", level_vs_baseline=1.2)
    pol = rel.data["scenarios"][0]["policies"][0]
    assert pol["level_vs_baseline"] == 1.2 and "level" not in pol
    ds = mineq.solve(rel, ["us-mip"])
    base = usa(ds, "price", "baseline")
    assert usa(ds, "price", "us-mip") == pytest.approx(1.2 * base, rel=1e-9)
    with pytest.raises(mineq.MineqError, match="exactly one"):
        demo.with_policy_level("us-mip", 1, level=1.0, level_vs_baseline=1.0)
    with pytest.raises(mineq.MineqError, match="counted from 1"):
        demo.with_policy_level("us-mip", 0, level=40.0)
    with pytest.raises(mineq.CaseError, match="floor price > 0"):
        demo.with_policy_level("china-ban", "price_floor", level=-1.0)


def test_with_policy_sets_keys_where_they_belong(demo):
    """china-ban: an export ban on rare earths and a lithium offtake at 40
    with a budget of 200 (so at most 5 units).  A cap of 3 binds first."""
    capped = demo.with_policy("china-ban", "price_floor", cap=3.0)
    assert capped.data["scenarios"][2]["policies"][1]["cap"] == 3.0 and "cap" not in capped.data["scenarios"][2]["policies"][0]
    ds = mineq.solve(capped, ["china-ban"])
    # the price stays below the floor, so the government buys up to its cap and pays F·G
    assert usa(ds, "price", "china-ban") < 40.0
    assert usa(ds, "offtake", "china-ban") == pytest.approx(3.0, abs=1e-9)
    assert float(ds.offtake_outlay.sel(scenario="china-ban", mineral="lithium", region="USA")) == pytest.approx(40.0 * 3.0, rel=1e-12)
    # without a policy named: only those that have the key (the offtake's budget, not the quota)
    loose = demo.with_policy("china-ban", budget=1e6)
    assert [("budget" in p) for p in loose.data["scenarios"][2]["policies"]] == [False, True]
    with pytest.raises(mineq.MineqError, match="name the policy"):
        demo.with_policy("china-ban", ad_valorem=0.1)


def test_changed_built_objects_are_refused(demo):
    """The hazard the API closes: a built object changed in place would be
    solved while the stored case_json keeps the old value."""
    mutated = mineq.load_case(DEMO)
    mutated.scenarios[0].instruments[0].level = 45.0
    assert mutated.drift() == ["scenario 'us-mip', policy 1 (MinimumImportPrice)"]
    with pytest.raises(mineq.MineqError, match="with_policy_level"):
        mineq.solve(mutated)
    curve = mineq.load_case(DEMO)
    curve.markets["lithium"].demand[("refined", "USA")].slope = 2.0
    assert curve.drift() == ["mineral 'lithium'"]
    with pytest.raises(mineq.MineqError, match="changed after it was built"):
        mineq.sweep(curve, "us-mip", "level", [40.0])
    entry = mineq.load_case(DEMO)
    entry.scenarios[1].policies[0]["level_vs_baseline"] = 2.0
    assert entry.drift() == ["scenario 'partner-floor' (its policy entries)"]
    # a case solved before (its curves now hold cached blocks) has not drifted
    assert demo.drift() == []


def test_with_elasticity_recalibrates_through_the_reference_point(demo):
    """CHN lithium demand is linear through (P, D) = (20, 60): elasticity
    −1 gives slope 20/60 and intercept 40, so P_CHN = 40 − D/3."""
    el = demo.with_elasticity("lithium", "refined", "CHN", "demand", -1.0)
    curve = el.markets["lithium"].demand[("refined", "CHN")]
    assert curve.slope == pytest.approx(1 / 3) and curve.intercept == pytest.approx(40.0)
    assert demo.markets["lithium"].demand[("refined", "CHN")].slope == pytest.approx(2 / 3)
    ds = mineq.solve(el, [])
    sel = ds.sel(scenario="baseline", **LI)
    assert float(sel.price.sel(region="CHN")) == pytest.approx(40 - float(sel.demand.sel(region="CHN")) / 3, abs=1e-9)
    assert json.loads(ds.attrs["case_json"])["minerals"][0]["nodes"][1]["demand"]["elasticity"] == -1.0
    # an isoelastic curve: P = 25·(D/40)^(1/e) with the new e at the solution
    iso = demo.with_elasticity("lithium", "refined", "ROW", "demand", -1.5)
    sel = mineq.solve(iso, []).sel(scenario="baseline", **LI)
    assert float(sel.price.sel(region="ROW")) == pytest.approx(25 * (float(sel.demand.sel(region="ROW")) / 40) ** (1 / -1.5), rel=1e-6)
    with pytest.raises(mineq.MineqError, match="with_curve"):
        demo.with_elasticity("lithium", "refined", "USA", "demand", -0.5)  # intercept/slope: no elasticity key
    with pytest.raises(mineq.CaseError, match="demand elasticity < 0"):
        demo.with_elasticity("lithium", "refined", "CHN", "demand", 0.5)


def test_with_scenario_ban_gives_autarky(demo, tmp_path):
    ban = {"type": "import_quota", "minerals": ["lithium"], "stage": "refined", "importers": ["USA"], "quantity": 0.0}
    case = demo.with_scenario("us-ban", [ban], description="USA bans lithium imports")
    assert [s.name for s in case.scenarios] == ["us-mip", "partner-floor", "china-ban", "us-ban"] and len(demo.scenarios) == 3
    ds = mineq.solve(case, ["us-ban"])
    assert usa(ds, "price", "us-ban") == pytest.approx(70.0, abs=1e-9)
    assert usa(ds, "supply", "us-ban") == pytest.approx(30.0, abs=1e-9)
    assert usa(ds, "imports", "us-ban") == pytest.approx(0.0, abs=1e-9)
    assert str(ds.scenario_description.sel(scenario="us-ban").values) == "USA bans lithium imports"
    code, text = cli("verify", mineq.write(ds, tmp_path / "ban.nc"))
    assert code == 0, text
    with pytest.raises(mineq.MineqError, match="replace=True"):
        case.with_scenario("us-ban", [ban])
    tariff = {"type": "tariff", "minerals": ["lithium"], "importers": ["USA"], "specific": 1000.0}
    again = case.with_scenario("us-ban", [tariff], replace=True)
    assert usa(mineq.solve(again, ["us-ban"]), "price", "us-ban") == pytest.approx(70.0, abs=1e-9)  # prohibitive: autarky too


def test_with_changes_and_with_curve_on_two_regions():
    """README's two regions: P_A = 77.5 − t/2, P_B = P_A + t and
    X = 2·P_A − 110 for a route cost t (A exports S_A − D_A = 2P_A − 110,
    B imports D_B − S_B = 200 − 2P_B)."""
    case = mineq.Case.of(build_case(case_dict(["A", "B"], [two_regions()])))
    for t in (10.0, 20.0):
        def cost(d, t=t):
            d["minerals"][0]["routes"][0]["cost"] = t
        ds = mineq.solve(case.with_changes(cost, note=f"route cost {t}"))
        sel = ds.sel(scenario="baseline", mineral="m", stage="refined")
        pa = 77.5 - t / 2
        assert float(sel.price.sel(region="A")) == pytest.approx(pa, abs=1e-9)
        assert float(sel.price.sel(region="B")) == pytest.approx(pa + t, abs=1e-9)
        assert float(sel.flow.sel(origin="A", destination="B")) == pytest.approx(2 * pa - 110, abs=1e-9)
    assert case.data["minerals"][0]["routes"][0]["cost"] == 10.0
    # B's supply shifted up by 10 (intercept 50): B imports 210 − 2·P_B = 2·P_A − 110 with P_B = P_A + 10 gives P_A = 75, X = 40
    sel = mineq.solve(case.with_curve("m", "refined", "B", "supply", intercept=50.0)).sel(scenario="baseline", mineral="m", stage="refined")
    assert float(sel.price.sel(region="A")) == pytest.approx(75.0, abs=1e-9)
    assert float(sel.flow.sel(origin="A", destination="B")) == pytest.approx(40.0, abs=1e-9)


def test_unreachable_demand_raises_not_equilibrium_with_the_figures():
    """B's fixed demand of 1000 with B's supply capped at 10 and no route:
    no equilibrium; strict raises with the dataset, lenient returns it."""
    case = mineq.Case.of(build_case(case_dict(["A", "B"], [two_regions()])))
    case = case.with_curve("m", "refined", "B", "demand", drop=("intercept", "slope"), form="fixed", quantity=1000.0)
    case = case.with_curve("m", "refined", "B", "supply", capacity=10.0)
    case = case.with_changes(lambda d: d["minerals"][0]["routes"][0].update(cost="none"), note="no route")
    with pytest.raises(mineq.NotEquilibrium) as err:
        mineq.solve(case)
    assert err.value.dataset.attrs["all_equilibria"] == 0
    ds = mineq.solve(case, strict=False)
    assert str(ds.status.sel(scenario="baseline", mineral="m").values) != "equilibrium"


def test_sweep_closed_form_written_and_verified(demo, tmp_path):
    res = mineq.sweep(demo, "us-mip", "level", "35:45:3")
    pts = res.points
    assert pts.sweep.values.tolist() == [35.0, 40.0, 45.0]
    np.testing.assert_allclose(pts.price.sel(region="USA", **LI).values, [35.0, 40.0, 45.0], atol=1e-9)
    np.testing.assert_allclose(pts.supply.sel(region="USA", **LI).values, [12.5, 15.0, 17.5], atol=1e-9)
    assert res.baseline.scenario.values.tolist() == ["baseline"]
    listed = mineq.sweep(demo, "us-mip", "1.level", [40.0], minerals=["lithium"])
    assert float(listed.points.price.sel(region="USA", **LI).values[0]) == pytest.approx(40.0, abs=1e-9)
    assert list(listed.points.mineral.values) == ["lithium"]
    assert mineq.verify(res).attrs["all_ok"] == 1
    path = mineq.write(res, tmp_path / "sweep.nc")
    code, text = cli("verify", path)
    assert code == 0 and "0 failures" in text, text
    back = mineq.read(path)
    assert back.scenario.values.tolist() == res.dataset().scenario.values.tolist()
    with pytest.raises(mineq.MineqError, match="without its baseline"):
        mineq.verify(pts)


def test_target_reaches_the_closed_form_level(demo):
    """P_USA = M while the USA imports: the level for a USA price of 42 is 42."""
    r = mineq.target(demo, "us-mip", "level", "price[USA,lithium]", 42.0, (35.0, 45.0))
    assert r.reached and r.mineral == "lithium"
    assert r.level == pytest.approx(42.0, abs=1e-5) and r.value == pytest.approx(42.0, abs=1e-5)
    # default range 0.5-2x the scenario's own 35: [17.5, 70]; 80 is out of reach
    far = mineq.target(demo, "us-mip", "level", "price[USA,lithium]", 80.0)
    assert not far.reached and "cannot reach" in far.message and max(x for x, _ in far.evaluations) == pytest.approx(70.0)


def test_compare_matches_the_command_line_workbook(solved, cli_file, tmp_path):
    import pandas as pd

    tables = mineq.compare(solved)
    book = tmp_path / "changes.xlsx"
    code, text = cli("compare", cli_file, "--format", "xlsx", "--out", book)
    assert code == 0, text
    for sheet in ("nodes", "welfare_change"):
        ref = pd.read_excel(book, sheet_name=sheet)
        mine = tables[sheet].reset_index()
        assert list(mine.columns) == list(ref.columns) and len(mine) == len(ref)
        num = [c for c in mine.columns if mine[c].dtype.kind == "f"]
        np.testing.assert_allclose(mine[num].to_numpy(float), ref[num].to_numpy(float), rtol=1e-9, atol=1e-9, equal_nan=True)
    row = tables["nodes"].loc[("lithium", "refined", "USA")]
    row = row[row.scenario == "us-mip"].iloc[0]
    p0 = usa(solved, "price", "baseline")
    assert row["price (after)"] == pytest.approx(35.0, abs=1e-9)
    assert row["price change %"] == pytest.approx(100 * (35.0 - p0) / p0, rel=1e-9)
    only = mineq.compare(solved, scenarios=["china-ban"])
    assert set(only["nodes"].scenario) == {"china-ban"}
    with pytest.raises(mineq.MineqError, match="not in the results"):
        mineq.compare(solved, baseline="nope")


def test_verify_agrees_with_the_command_line(solved, cli_file, tmp_path):
    good = mineq.verify(solved)
    assert good.attrs["all_ok"] == 1 and bool(good.ok.all()) and good.attrs["failures"] == ""
    assert {"balance", "supply", "demand", "arbitrage", "processing"} <= set(good.condition.values.tolist())
    assert float(good.max_residual.max()) <= 1e-6
    bad = solved.copy(deep=True)
    bad["price"].loc[dict(scenario="baseline", mineral="lithium", stage="refined", region="USA")] *= 1.01
    report = mineq.verify(bad)
    assert report.attrs["all_ok"] == 0
    assert not bool(report.ok.sel(scenario="baseline", mineral="lithium")) and bool(report.ok.sel(scenario="baseline", mineral="rare_earths"))
    assert report.attrs["failures"].startswith("FAIL baseline/lithium")
    path = mineq.write(bad, tmp_path / "bad.nc")
    code, text = cli("verify", path)
    assert code == 1
    # the command line prints the same failures and the same largest residual
    assert report.attrs["failures"] in text
    assert f"largest scaled residual {float(report.max_residual.max()):.2e}" in text


def test_write_formats_and_no_overwrite(solved, tmp_path):
    path = mineq.write(solved, tmp_path / "r.nc")
    with pytest.raises(mineq.MineqError, match="already exists"):
        mineq.write(solved, path)
    assert mineq.write(solved, path, force=True) == path
    folder = mineq.write(solved, tmp_path / "csv", format="csv")
    assert (folder / "nodes.csv").is_file() and json.loads((folder / "case.json").read_text())["case"]["name"] == "three-region-demo"
    back = mineq.read(path)
    np.testing.assert_array_equal(back.price.values, solved.price.values)
