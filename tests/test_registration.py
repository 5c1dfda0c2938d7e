"""A modeler adds an instrument from outside the package (the registration hook)."""

from __future__ import annotations

import importlib
import sys
import textwrap

import pytest
from click.testing import CliRunner

from mineq.models.policies import INSTRUMENTS, build_plan
from mineq.solver.case import build_case
from mineq.solver.solve import solve_market
from mineq.solver.statistics import welfare

from helpers import case_dict
from test_closed_form import two_regions


@pytest.fixture
def plugin(monkeypatch):
    monkeypatch.setenv("MINEQ_PLUGINS", "carbon_levy_plugin")
    sys.modules.pop("carbon_levy_plugin", None)
    importlib.import_module("carbon_levy_plugin")
    yield
    INSTRUMENTS.pop("carbon_border_levy", None)
    sys.modules.pop("carbon_levy_plugin", None)


def test_external_instrument_solves_like_its_closed_form(plugin):
    """Carbon price 50 × intensity 0.1 on A's exports to B is a specific
    charge of 5: P_A = 70, P_B = 85, X = 30, 150 of revenue to B
    (tests/test_policies.py::test_specific_tariff_is_one_program)."""
    pol = {"type": "carbon_border_levy", "minerals": ["m"], "importers": ["B"], "carbon_price": 50.0, "intensity": {"A": 0.1}}
    case = build_case(case_dict(["A", "B"], [two_regions()], scenarios=[{"name": "cbam", "policies": [pol]}]))
    mk = case.markets["m"]
    base = solve_market(mk)
    plan = build_plan(mk, case.scenarios[0].instruments, base.solution)
    res = solve_market(mk, plan=plan, start=base.solution)
    assert res.ok
    assert (res.solution.price[0], res.solution.price[1], res.solution.flow[0]) == pytest.approx((70, 85, 30), rel=1e-9)
    assert welfare(mk, res.solution, plan)["tariff_revenue"][1] == pytest.approx(150, rel=1e-9)


def test_external_instrument_validates_and_runs_from_the_cli(plugin, tmp_path):
    from mineq.solver.cli import main

    case = tmp_path / "cbam.toml"
    case.write_text(textwrap.dedent('''
        [case]
        name = "cbam"
        regions = ["A", "B"]
        [[minerals]]
        name = "m"
        stages = ["refined"]
        quantity_unit = "kt"
        price_unit = "USD/kg"
        default_transport_cost = 10.0
        [[minerals.nodes]]
        stage = "refined"
        region = "A"
        supply = { form = "linear", intercept = 10.0, slope = 1.0 }
        demand = { form = "linear", intercept = 100.0, slope = 1.0 }
        [[minerals.nodes]]
        stage = "refined"
        region = "B"
        supply = { form = "linear", intercept = 40.0, slope = 1.0 }
        demand = { form = "linear", intercept = 160.0, slope = 1.0 }
        [[scenarios]]
        name = "cbam"
        [[scenarios.policies]]
        type = "carbon_border_levy"
        minerals = ["m"]
        importers = ["B"]
        carbon_price = 50.0
        intensity = { A = 0.1 }
    '''))
    out = tmp_path / "r.nc"
    r = CliRunner().invoke(main, ["solve", str(case), "--out", str(out), "-q"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["verify", str(out)])
    assert r.exit_code == 0 and "2 equilibria, 0 failures" in r.output, r.output
    bad = case.read_text().replace("intensity = { A = 0.1 }", "intensity = { Z = 0.1 }")
    case.write_text(bad)
    r = CliRunner().invoke(main, ["check", str(case)])
    assert r.exit_code != 0 and "field 'intensity' is 'Z'" in r.output, r.output
