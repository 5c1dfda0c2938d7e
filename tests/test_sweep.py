"""Sweeps and targeting against the closed form of a minimum import price.

Market ``two_regions`` (tests/test_policies.py): free trade gives
``P_A = 72.5``, ``P_B = 82.5``, ``X = 35``.  A MIP ``M`` on A->B binds
above 82.5: ``P_B = M``, ``X = 200 − 2M``, ``P_A = 155 − M`` (until
``M = 100``, B's autarky price, where trade stops).  B's consumption is
``160 − P_B``, so its net import reliance is ``(200 − 2M)/(160 − M)`` and
reaches ``v`` at ``M = (200 − 160·v)/(2 − v)``.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

import mineq.models.program
from mineq.solver.case import build_case
from mineq.solver.cli import main
from mineq.solver.errors import MineqError
from mineq.solver.indicators import evaluate, scalar
from mineq.solver.results import to_dataset, write
from mineq.solver.run import open_results, verify_file
from mineq.solver.sweep import parse_set, sweep_case, sweep_dataset
from mineq.solver.target import find_level

from helpers import case_dict
from test_closed_form import two_regions

MIP = {"name": "mip", "policies": [{"type": "minimum_import_price", "minerals": ["m"], "importers": "B", "level": 90.0}]}


def closed_form(M):
    M = min(max(M, 82.5), 100.0)
    return {"P_A": 155 - M, "P_B": M, "X": 200 - 2 * M}


def nir_level(v):
    return (200 - 160 * v) / (2 - v)


@pytest.fixture()
def case():
    return build_case(case_dict(["A", "B"], [two_regions()], scenarios=[MIP]))


def test_sweep_matches_closed_form_and_builds_once(case, monkeypatch):
    builds = []
    orig = mineq.models.program.MarketModel.__init__

    def counting(self, *a, **k):
        builds.append(1)
        orig(self, *a, **k)

    monkeypatch.setattr(mineq.models.program.MarketModel, "__init__", counting)
    swept = parse_set("level=70:110:9", case, "mip")
    pcase, res = sweep_case(case, swept)
    # one program for the baseline, one re-used across all nine points
    assert len(builds) == 2
    for v in swept.values:
        r = res[swept.point_name(v)]["m"]
        assert r.ok
        cf = closed_form(v)
        mk = r.market
        assert r.solution.price[mk.node_index("refined", "A")] == pytest.approx(cf["P_A"], rel=1e-9)
        assert r.solution.price[mk.node_index("refined", "B")] == pytest.approx(cf["P_B"], rel=1e-9)
        assert r.solution.flow[0] == pytest.approx(cf["X"], rel=1e-9, abs=1e-9)


def test_sweep_dataset_and_file(case, tmp_path):
    swept = parse_set("1.level=84:98:8", case, "mip")
    pcase, res = sweep_case(case, swept)
    pts, base = sweep_dataset(to_dataset(pcase, res), swept)
    assert pts.sizes["sweep"] == 8 and list(pts.sweep.values) == pytest.approx(swept.values)
    nir = scalar(pts, "net_import_reliance[B,m]")
    M = np.asarray(swept.values)
    assert nir.values == pytest.approx((200 - 2 * M) / (160 - M), rel=1e-9)
    # changes are against the baseline: B's consumers lose the area under demand
    dcs = pts.consumer_surplus_change.sel(mineral="m", region="B").values
    assert dcs == pytest.approx([-(m - 82.5) * (160 - 82.5 + 160 - m) / 2 for m in M], rel=1e-9)
    path = write(pts, tmp_path / "s.nc", groups={"baseline": base})
    assert xr.load_dataset(path).sizes["sweep"] == 8
    rep = verify_file(path)
    assert len(rep) == 9 and all(v.ok for *_, v in rep)
    # a tampered point fails the independent check
    ds = xr.load_dataset(path)
    ds["price"].loc[dict(sweep=ds.sweep.values[3], mineral="m", stage="refined", region="B")] += 1.0
    bad = write(ds, tmp_path / "bad.nc", groups={"baseline": base})
    rep = verify_file(bad)
    assert [sn for sn, mn, v in rep if not v.ok] == [str(ds.point_scenario.values[3])]
    # and the scenario form round-trips
    back = open_results(path)
    assert back.scenario.values.tolist()[0] == "baseline" and back.sizes["scenario"] == 9


@pytest.mark.parametrize("v", [0.25, 0.4])
def test_target_finds_closed_form_level(case, v):
    r = find_level(case, "mip", "level", "net_import_reliance[B,m]", v, 80.0, 105.0, points=6)
    assert r.reached and r.monotone == "decreasing"
    assert r.level == pytest.approx(nir_level(v), rel=1e-6)
    assert r.value == pytest.approx(v, abs=1e-6)
    assert r.residual < 1e-6


def test_target_out_of_reach_reports_best(case):
    # NIR can only fall from the free-trade 35/77.5 as M rises
    r = find_level(case, "mip", "level", "net_import_reliance[B,m]", 0.9, 80.0, 105.0, points=6)
    assert not r.reached
    assert r.value == pytest.approx(35 / 77.5, rel=1e-9)
    assert "cannot reach 0.9" in r.message and "closest" in r.message


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("level", "expected [POLICY.]KEY=START:STOP:N"),
        ("level=1:2", "not START:STOP:N"),
        ("level=a,b", "not START:STOP:N"),
        ("level=1:2:0", "not START:STOP:N"),
        ("cap=1:2:3", "has the key 'cap'"),
        ("3.level=1:2:3", "policies 1 to 1"),
        ("tariff.level=1:2:3", "no policy of type 'tariff'"),
        ("importers=1:2:3", "not a number"),
        ("level=nan,1", "finite"),
    ],
)
def test_bad_set(case, text, fragment):
    with pytest.raises(MineqError, match=None) as err:
        parse_set(text, case, "mip")
    assert fragment in str(err.value)


def test_bad_indicators(case):
    swept = parse_set("level=85,90", case, "mip")
    pts, _ = sweep_dataset(to_dataset(*sweep_case(case, swept)), swept)
    for text, fragment in [("nope[B]", "not a numeric variable"), ("price[C]", "'C' is not a label"), ("supply_share[B,m]", "choose one label along origin"), ("price[B", "expected NAME")]:
        with pytest.raises(MineqError) as err:
            evaluate(pts, text)
        assert fragment in str(err.value)


CASE_TOML = """
[case]
name = "mip-sweep"
regions = ["A", "B"]
base_year = 2024

[[minerals]]
name = "m"
stages = ["refined"]
quantity_unit = "kt"
price_unit = "USD/kg"
default_transport_cost = "none"
nodes = [
  {stage = "refined", region = "A", supply = {form = "linear", intercept = 10.0, slope = 1.0}, demand = {form = "linear", intercept = 100.0, slope = 1.0}},
  {stage = "refined", region = "B", supply = {form = "linear", intercept = 40.0, slope = 1.0}, demand = {form = "linear", intercept = 160.0, slope = 1.0}},
]
routes = [{stage = "refined", origin = "A", destination = "B", cost = 10.0}]

[[scenarios]]
name = "mip"
description = "MIP on B's imports"
policies = [{type = "minimum_import_price", minerals = ["m"], importers = "B", level = 90.0}]
"""


def test_cli_sweep_and_target(tmp_path):
    case = tmp_path / "case.toml"
    case.write_text(CASE_TOML)
    out = tmp_path / "s.nc"
    cli = CliRunner()
    r = cli.invoke(main, ["sweep", str(case), "-s", "mip", "--set", "level=80:100:5", "-i", "price[B]", "-i", "net_import_reliance[B,m]", "-o", str(out)])
    assert r.exit_code == 0, r.output
    png = out.with_suffix(".png")
    assert png.stat().st_size > 10_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Sweep of level over 5 values" in r.output
    # never overwrite without --force
    r2 = cli.invoke(main, ["sweep", str(case), "-s", "mip", "--set", "level=80:100:5", "-o", str(out)])
    assert r2.exit_code != 0 and "already exists" in r2.output
    r3 = cli.invoke(main, ["verify", str(out)])
    assert r3.exit_code == 0 and "6 equilibria" in r3.output
    r4 = cli.invoke(main, ["target", str(case), "-s", "mip", "-p", "level", "-i", "net_import_reliance[B]", "-v", "0.25", "--range", "80:105"])
    assert r4.exit_code == 0, r4.output
    assert f"level = {nir_level(0.25):.6g}" in r4.output.replace("level = 91.428571", "level = 91.4286")
    r5 = cli.invoke(main, ["target", str(case), "-s", "mip", "-p", "level", "-i", "net_import_reliance[B]", "-v", "0.9", "--range", "80:105"])
    assert r5.exit_code != 0 and "cannot reach 0.9" in r5.output and "Traceback" not in r5.output


def _swept_by_workers(workers: int, processes: bool):
    """Six bundled minerals swept over six points by ``workers`` workers,
    in a fresh process (tests/helpers.py): whether forking was allowed,
    prices and flows per point, and the result Dataset."""
    import os

    from mineq.solver.cli import bundled_case_path
    from mineq.solver.case import load_case
    from mineq.solver.processes import forking

    if not processes:
        os.environ["MINEQ_PROCESSES"] = "0"
    bundled = load_case(bundled_case_path())
    swept = parse_set("level_vs_baseline=1:1.4:6", bundled, "partner-floor-club")
    pcase, res = sweep_case(bundled, swept, minerals=list(bundled.markets)[:6], threads=workers)
    points = {(sn, mn): (r.ok, r.solution.price, r.solution.flow) for sn, per in res.items() for mn, r in per.items()}
    return forking(), points, to_dataset(pcase, res)


@pytest.mark.parametrize("processes", [True, False])
def test_sweep_workers_do_not_change_results(processes):
    """Chains of points on several workers (processes forked from this
    one, or threads) give exactly what one gives, result Dataset and all."""
    from helpers import in_fresh_process

    _, one, ds1 = _swept_by_workers(1, True)  # one worker: nothing to fork
    forked, two, ds2 = in_fresh_process("test_sweep", "_swept_by_workers", 2, processes)
    assert forked == processes
    assert list(one) == list(two)
    for key, (ok, price, flow) in two.items():
        assert ok and one[key][0], key
        np.testing.assert_array_equal(price, one[key][1])
        np.testing.assert_array_equal(flow, one[key][2])
    xr.testing.assert_identical(ds1, ds2)
