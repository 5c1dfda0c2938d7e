"""The command line: solve/verify round trip, tampering, bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from helpers import DEMO, run, solved_demo
from mineq.solver.results import ENGINE, write
from mineq.solver.run import open_results


@pytest.fixture(scope="module")
def solved(tmp_path_factory):
    return solved_demo(tmp_path_factory)


def test_solve_writes_verifiable_netcdf(solved):
    raw = xr.load_dataset(solved)
    # route variables along 'route': one entry per route of some market
    # (the demo lists 9 per stage and mineral at most, of 3 x 3 pairs)
    assert raw.flow.dims == ("scenario", "route") and raw.transport_cost.dims == ("route",)
    assert np.isfinite(raw.transport_cost.values).all()
    ds = open_results(solved)
    for v in ("price", "supply", "demand", "processing", "flow", "consumer_surplus", "producer_surplus", "government_net", "total_welfare", "net_import_reliance"):
        assert v in ds
    assert set(ds.dims) >= {"scenario", "mineral", "stage", "region", "origin", "destination"}
    assert ds.attrs["case_name"] == "three-region-demo" and len(ds.attrs["input_hash"]) == 64
    # lithium has no mine stage: NaN, not 0; a forbidden/self route is NaN
    assert np.isnan(ds.price.sel(scenario="baseline", mineral="lithium", stage="mine")).all()
    assert np.isnan(ds.flow.sel(scenario="baseline", mineral="lithium", stage="refined", origin="USA", destination="USA"))
    # world welfare equals the objective
    tot = ds.total_welfare.sel(scenario="baseline", mineral="rare_earths").sum()
    assert float(tot) == pytest.approx(float(ds.welfare_objective.sel(scenario="baseline", mineral="rare_earths")), rel=1e-8)
    ds.close()
    code, text = run("verify", solved)
    assert code == 0, text
    assert "0 failures" in text


def test_tampered_price_fails_verify(solved, tmp_path):
    ds = xr.load_dataset(solved)
    ds["price"].loc[dict(scenario="baseline", mineral="lithium", stage="refined", region="USA")] *= 1.01
    bad = tmp_path / "tampered.nc"
    ds.to_netcdf(bad, engine=ENGINE)
    code, text = run("verify", bad)
    assert code == 1
    assert "FAIL baseline/lithium" in text and "Traceback" not in text


@pytest.mark.parametrize("layout", ["route", "dense"])
def test_tampered_flow_fails_verify(solved, tmp_path, layout):
    """Along ``route`` (as written) or origin x destination (as files of
    earlier versions hold it), an edited flow is caught."""
    ds = open_results(solved)
    ds["flow"].loc[dict(scenario="baseline", mineral="rare_earths", stage="mine", origin="CHN", destination="USA")] += 1.0
    bad = tmp_path / "tampered.nc"
    write(ds, bad) if layout == "route" else ds.to_netcdf(bad, engine=ENGINE)
    assert ("route" in xr.open_dataset(bad).dims) == (layout == "route")
    code, text = run("verify", bad)
    assert code == 1 and "balance" in text


def test_edited_route_label_fails_verify(solved, tmp_path):
    """Moving a flow to another route by editing its label is caught."""
    raw = xr.load_dataset(solved)
    k = int(np.nanargmax(raw.flow.sel(scenario="baseline").values))
    labels = raw.route_destination.values.astype(str)
    labels[k] = next(r for r in raw.region.values if r not in (labels[k], raw.route_origin.values[k]))
    raw = raw.assign_coords(route_destination=("route", labels))
    bad = tmp_path / "moved.nc"
    raw.to_netcdf(bad, engine=ENGINE)
    code, text = run("verify", bad)
    assert code == 1 and "Traceback" not in text


def test_scenarios_are_solved_verified_and_compared(solved):
    ds = open_results(solved)
    assert ds.scenario.values.tolist() == ["baseline", "us-mip", "partner-floor", "china-ban"]
    assert (ds.status.values == "equilibrium").all()
    # the MIP binds: USA's price is the MIP and the levy is collected
    assert float(ds.price.sel(scenario="us-mip", mineral="lithium", stage="refined", region="USA")) == pytest.approx(35.0, rel=1e-6)
    assert float(ds.levy_revenue.sel(scenario="us-mip", mineral="lithium", region="USA")) > 0
    # the export ban: no refined rare earths from CHN to the USA
    assert float(ds.flow.sel(scenario="china-ban", mineral="rare_earths", stage="refined", origin="CHN", destination="USA")) == pytest.approx(0, abs=1e-9)
    # world welfare change = change of the welfare objective, per scenario and mineral
    for sn in ("us-mip", "partner-floor", "china-ban"):
        for mn in ("lithium", "rare_earths"):
            d = float(ds.total_welfare_change.sel(scenario=sn, mineral=mn).sum())
            assert d == pytest.approx(float(ds.welfare_objective_change.sel(scenario=sn, mineral=mn)), rel=1e-9, abs=1e-9)
    ds.close()
    code, text = run("compare", solved)
    assert code == 0, text
    for frag in ("Scenario 'us-mip' vs 'baseline'", "Scenario 'china-ban'", "welfare change", "NIR %", "government"):
        assert frag in text
    code, text = run("compare", solved, "--baseline", "us-mip", "--scenario", "china-ban")
    assert code == 0 and "Scenario 'china-ban' vs 'us-mip'" in text
    code, text = run("compare", solved, "--scenario", "nope")
    assert code != 0 and "Scenario 'nope' is not in" in text


@pytest.mark.parametrize("var,where,delta,condition", [
    ("price", dict(scenario="us-mip", mineral="lithium", stage="refined", region="USA"), -1.0, "border"),
    ("offtake", dict(scenario="china-ban", mineral="lithium", stage="refined", region="USA"), 0.5, "balance"),
    ("quota_shadow_price", dict(scenario="china-ban", mineral="rare_earths", quota=0), -1e3, "quota"),
    ("processing", dict(scenario="partner-floor", mineral="rare_earths", stage="refined", region="USA"), -1.0, "processing"),
])
def test_tampered_scenario_fails_verify(solved, tmp_path, var, where, delta, condition):
    ds = xr.load_dataset(solved)
    ds[var].loc[where] += delta
    bad = tmp_path / "tampered.nc"
    ds.to_netcdf(bad, engine=ENGINE)
    code, text = run("verify", bad)
    assert code == 1, text
    assert f"FAIL {where['scenario']}/{where['mineral']}" in text and condition in text, text


def test_existing_output_is_not_overwritten(solved):
    before = solved.read_bytes()
    code, text = run("solve", DEMO, "--out", solved, "--quiet")
    assert code != 0 and "already exists" in text and "--force" in text
    assert solved.read_bytes() == before


def test_csv_format(tmp_path):
    out = tmp_path / "csv"
    code, text = run("solve", DEMO, "--out", out, "--format", "csv", "--quiet")
    assert code == 0, text
    nodes = (out / "nodes.csv").read_text().splitlines()
    assert nodes[0].startswith("scenario,mineral,stage,region,price")
    assert (out / "flows.csv").exists() and (out / "welfare.csv").exists()


def test_check_and_help():
    code, text = run("check", DEMO)
    assert code == 0 and "is valid" in text
    for cmd in ([], ["solve"], ["check"], ["verify"]):
        code, text = run(*cmd, "--help")
        assert code == 0 and "Usage" in text


# ----------------------------------------------------------------------
# bad input: one paragraph naming file, place, field, value, expectation
# ----------------------------------------------------------------------
GOOD = """
[case]
name = "t"
regions = ["A", "B"]

[groups]
partners = ["B"]

[[minerals]]
name = "m"
stages = ["mine", "refined"]
quantity_unit = "kt"
price_unit = "USD/kg"
default_transport_cost = 1.0

[[minerals.nodes]]
stage = "refined"
region = "A"
demand = { form = "linear", intercept = 100.0, slope = 1.0 }
supply = { form = "linear", intercept = 10.0, slope = 1.0 }

[[minerals.nodes]]
stage = "mine"
region = "B"
supply = { form = "linear", intercept = 5.0, slope = 1.0 }

[[minerals.processing]]
region = "A"
from = "mine"
to = "refined"
theta = 1.2
cost = { form = "linear", intercept = 1.0, slope = 0.1 }

[[scenarios]]
name = "s"
[[scenarios.policies]]
type = "tariff"
minerals = ["m"]
stage = "refined"
importers = ["A"]
ad_valorem = 0.1
"""

BAD = [
    # (replace this, with that, expected fragments of the message)
    ('slope = 1.0 }\nsupply', 'slope = -1.0 }\nsupply', ["demand.slope", "-1.0", ">= 0"]),
    ('intercept = 10.0, slope = 1.0', 'intercept = 10.0, slope = "steep"', ["supply.slope", "'steep'", "a number"]),
    ('form = "linear", intercept = 100.0', 'form = "cubic", intercept = 100.0', ["demand.form", "'cubic'", "linear"]),
    ('region = "A"\ndemand', 'region = "Z"\ndemand', ["region", "'Z'", "A, B"]),
    ('stage = "refined"\nregion = "A"\ndemand', 'stage = "smelted"\nregion = "A"\ndemand', ["stage", "'smelted'", "mine, refined"]),
    ('default_transport_cost = 1.0', 'default_transport_cost = 1.0\ncolour = "red"', ["colour", "'red'", "known keys"]),
    ('theta = 1.2', 'theta = 0.8', ["theta", "0.8", ">= 1"]),
    ('to = "refined"', 'to = "mine"', ["to", "'mine'", "refined"]),
    ('type = "tariff"', 'type = "embargo"', ["type", "'embargo'", "minimum_import_price"]),
    ('importers = ["A"]', 'importers = ["@allies"]', ["importers", "'@allies'", "@partners"]),
    ('regions = ["A", "B"]', 'regions = ["A", "A"]', ["regions", "'A'", "once"]),
    ('name = "m"', 'name = "m"\nstages2 = 1', ["stages2"]),
    ('price_unit = "USD/kg"\n', '', ["price_unit", "(missing)", "non-empty text"]),
    ('demand = { form = "linear", intercept = 100.0, slope = 1.0 }',
     'demand = { form = "linear", price = 10.0, quantity = 5.0, elasticity = 0.5 }', ["demand.elasticity", "0.5", "-0.5"]),
    ('[case]', '[case\n', ["not valid TOML"]),
]


@pytest.mark.parametrize("old,new,fragments", BAD, ids=[b[2][0] for b in BAD])
def test_bad_input_gives_one_paragraph(tmp_path, old, new, fragments):
    assert old in GOOD
    path = tmp_path / "case.toml"
    path.write_text(GOOD.replace(old, new, 1))
    for cmd in ("check", "solve"):
        code, text = run(cmd, path, "--quiet") if cmd == "solve" else run(cmd, path)
        assert code != 0
        assert "Traceback" not in text
        assert str(path) in text
        for frag in fragments:
            assert frag in text, (frag, text)
        assert text.count("\n") <= 2


def test_good_input_is_valid(tmp_path):
    path = tmp_path / "case.toml"
    path.write_text(GOOD)
    code, text = run("check", path)
    assert code == 0, text


def test_missing_case_and_bad_result_file(tmp_path):
    code, text = run("check", tmp_path / "nope")
    assert code != 0 and "no such file" in text and "Traceback" not in text
    junk = tmp_path / "junk.nc"
    junk.write_text("not netcdf")
    code, text = run("verify", junk)
    assert code != 0 and "Cannot read" in text and "Traceback" not in text


CSV_CASE = """
[case]
name = "csv"
regions = ["A", "B"]

[tables]
minerals = "minerals.csv"
nodes = "nodes.csv"
routes = "routes.csv"
"""


def _csv_case(tmp_path, nodes_csv):
    (tmp_path / "case.toml").write_text(CSV_CASE)
    (tmp_path / "minerals.csv").write_text("name,stages,quantity_unit,price_unit,default_transport_cost,source,confidence\nm,refined,kt,USD/kg,none,made up,assumed\n")
    (tmp_path / "routes.csv").write_text("mineral,origin,destination,cost\nm,A,B,10\n")
    (tmp_path / "nodes.csv").write_text(nodes_csv, encoding="utf-8")
    return tmp_path


def test_csv_tables_solve_like_inline(tmp_path):
    """The two-region closed form of test_closed_form, written as CSV with a
    BOM and stray spaces: P_A = 72.5, P_B = 82.5."""
    nodes = "\ufeffmineral, stage ,region,supply_form,supply_intercept,supply_slope,demand_intercept,demand_slope\n" \
            "m,refined,A,linear, 10 ,1,100,1\nm,refined,B,linear,40,1,160,1\n"
    folder = _csv_case(tmp_path, nodes)
    out = tmp_path / "r.nc"
    code, text = run("solve", folder, "--out", out, "--quiet")
    assert code == 0, text
    ds = xr.open_dataset(out)
    assert float(ds.price.sel(scenario="baseline", mineral="m", stage="refined", region="A")) == pytest.approx(72.5, rel=1e-8)
    assert float(ds.price.sel(scenario="baseline", mineral="m", stage="refined", region="B")) == pytest.approx(82.5, rel=1e-8)
    ds.close()


@pytest.mark.parametrize("nodes,fragments", [
    ("mineral,stage,region,supply_intercept,supply_slope\nm,refined,A,ten,1\n", ["nodes.csv", "row 2", "supply_intercept", "'ten'", "a number"]),
    ("mineral,stage,region,supply_intercept,supply_slope,color\nm,refined,A,10,1,red\n", ["nodes.csv", "row 2", "color", "known keys"]),
    ("mineral,stage,region,supply_intercept,supply_slope\nm,refined,A,10,1\nm,refined,A,10,2\n", ["nodes.csv", "row 3", "appears twice"]),
    ("mineral,stage,region,supply_intercept,supply_slope\nq,refined,A,10,1\n", ["nodes.csv", "row 2", "mineral", "'q'"]),
    ("mineral,stage,region,supply_blocks\nm,refined,A,10-5\n", ["nodes.csv", "row 2", "supply_blocks", "quantity:price"]),
    ("mineral,stage,region,supply_intercept,supply_slope,quantity_unit\nm,refined,A,10,1,t\n", ["nodes.csv", "quantity_unit", "'t'", "'kt'"]),
    ("mineral,stage,region\n", ["nodes.csv", "no data rows"]),
])
def test_bad_csv_rows(tmp_path, nodes, fragments):
    folder = _csv_case(tmp_path, nodes)
    code, text = run("check", folder)
    assert code != 0 and "Traceback" not in text
    for frag in fragments:
        assert frag in text, (frag, text)


def test_ill_posed_scenario_is_diagnosed(tmp_path):
    """A ban that leaves a fixed demand without any reachable supply: the
    scenario is reported as infeasible with the economic reason (mineral,
    stage, region, scenario), and the baseline still solves and is saved."""
    case = tmp_path / "ban.toml"
    case.write_text(
        '[case]\nname = "ban"\nregions = ["A", "B"]\n'
        '[[minerals]]\nname = "m"\nstages = ["refined"]\nquantity_unit = "kt"\nprice_unit = "USD/kg"\ndefault_transport_cost = 1.0\n'
        '[[minerals.nodes]]\nstage = "refined"\nregion = "A"\nsupply = { form = "linear", intercept = 10.0, slope = 1.0 }\n'
        '[[minerals.nodes]]\nstage = "refined"\nregion = "B"\ndemand = { form = "fixed", quantity = 5.0 }\n'
        '[[scenarios]]\nname = "ban"\n[[scenarios.policies]]\ntype = "export_quota"\nminerals = ["m"]\nexporters = ["A"]\nquantity = 0.0\n'
    )
    out = tmp_path / "r.nc"
    code, text = run("solve", case, "--out", out, "--quiet")
    assert code != 0 and "Traceback" not in text
    assert "m refined/B: a fixed demand of 5 kt that no supply can reach in scenario 'ban'" in text
    ds = xr.open_dataset(out)
    assert str(ds.status.sel(scenario="baseline", mineral="m").values) == "equilibrium"
    assert str(ds.status.sel(scenario="ban", mineral="m").values) == "infeasible"
    assert "no supply can reach" in ds.attrs["diagnoses"]
    ds.close()
    # solved without a caller asking for diagnoses (an ensemble's draw):
    # only the failed market is diagnosed, and its message still says why
    from mineq.solver.case import load_case
    from mineq.solver.run import solve_case

    res = solve_case(load_case(case), threads=1)
    assert res["baseline"]["m"].ok and not res["ban"]["m"].ok
    assert "a fixed demand of 5 kt that no supply can reach in scenario 'ban'" in res["ban"]["m"].message


UNBOUNDED = """
[case]
name = "unbounded"
regions = ["A", "B"]

[[minerals]]
name = "m"
stages = ["refined"]
quantity_unit = "kt"
price_unit = "USD/kg"
default_transport_cost = "none"
nodes = [
  {stage = "refined", region = "A", supply = {form = "linear", intercept = 10.0, slope = 0.0}},
  {stage = "refined", region = "B", demand = {form = "linear", intercept = 50.0, slope = 0.0}},
]
routes = [{stage = "refined", origin = "A", destination = "B", cost = 5.0}]
"""


def test_unbounded_market_is_diagnosed(tmp_path):
    """Perfectly elastic, uncapped supply at 10 + 5 transport against a
    demand that pays 50 for any quantity: no equilibrium; the message says
    which supply and which demand, before the solver's word."""
    case = tmp_path / "u.toml"
    case.write_text(UNBOUNDED)
    code, text = run("solve", case, "--out", tmp_path / "u.nc", "--quiet")
    assert code != 0 and "Traceback" not in text
    assert "unbounded: the supply at refined/A has no capacity" in text and "no choke" in text
    code, text = run("check", case)
    assert code == 0 and "Diagnosis: error: m refined/B: unbounded" in text


def test_interrupted_write_keeps_the_old_file(solved, tmp_path, monkeypatch):
    """An interruption while the new result is being written leaves the old
    file untouched and no temporary file behind (write to a temporary file,
    then rename)."""
    from mineq.solver import results

    target = tmp_path / "r.nc"
    shutil.copy(solved, target)
    before = target.read_bytes()
    ds = xr.load_dataset(solved)
    real = xr.Dataset.to_netcdf

    def dies_halfway(self, path, *a, **k):
        real(self, path, *a, **k)  # the temporary file is complete on disk...
        raise KeyboardInterrupt  # ...and the run is stopped before the rename

    monkeypatch.setattr(xr.Dataset, "to_netcdf", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        results.write(ds, target, force=True)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.nc"]
    # the same for a folder of CSVs replaced with --force
    monkeypatch.setattr(xr.Dataset, "to_netcdf", real)
    folder = results.write(ds, tmp_path / "csv", fmt="csv")
    old = {p.name: p.read_bytes() for p in folder.iterdir()}
    real_csv = results.write_csv

    def csv_dies(ds_, f):
        real_csv(ds_, f)
        raise KeyboardInterrupt

    monkeypatch.setattr(results, "write_csv", csv_dies)
    with pytest.raises(KeyboardInterrupt):
        results.write(ds, folder, fmt="csv", force=True)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["csv", "r.nc"]


def test_killed_solve_leaves_old_or_new_file(solved, tmp_path):
    """SIGKILL at several moments of a `mineq solve --force` over an existing
    file: afterwards the file is always a complete result (old or new),
    never torn."""
    import signal
    import subprocess
    import sys
    import time

    target = tmp_path / "r.nc"
    shutil.copy(solved, target)
    for delay in (0.5, 1.5, 2.5, 3.5, 5.0):
        p = subprocess.Popen([sys.executable, "-c", "from mineq.solver.cli import main; main()", "solve", str(DEMO), "--out", str(target), "--force", "--quiet"], cwd=Path(__file__).resolve().parent.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
        ds = xr.load_dataset(target)  # loads: complete
        assert ds.sizes["scenario"] == 4 and "case_json" in ds.variables
    code, text = run("verify", target)
    assert code == 0, text


def test_same_case_gives_identical_numbers(solved, tmp_path):
    """Run to run, every number of the result file is the same (bit for
    bit); tests/test_ensemble.py checks 1 against 2 Dask workers."""
    out = tmp_path / "again.nc"
    code, text = run("solve", DEMO, "--out", out, "--quiet")
    assert code == 0, text
    a, b = xr.load_dataset(solved), xr.load_dataset(out)
    for v in a.data_vars:
        assert a[v].equals(b[v]), v
    keep = {"mineq_version", "input_hash", "max_residual", "all_equilibria"}  # the stored case: the variable case_json, above
    assert {k: a.attrs[k] for k in keep} == {k: b.attrs[k] for k in keep}
