"""A minimum import price that material goes around through an exempt
partner is reported after the solve, with the route, and a rules of
origin in the scenario silences it (issue 22)."""

from click.testing import CliRunner

from mineq.solver.cli import main

CASE = """
[case]
name = "around"
regions = ["A", "C", "E"]

[[minerals]]
name = "m"
stages = ["refined"]
quantity_unit = "kt"
price_unit = "USD/kg"
default_transport_cost = "none"
[[minerals.nodes]]
stage = "refined"
region = "A"
demand = { form = "linear", intercept = 100.0, slope = 1.0 }
[[minerals.nodes]]
stage = "refined"
region = "C"
supply = { form = "linear", intercept = 10.0, slope = 1.0 }
[[minerals.nodes]]
stage = "refined"
region = "E"
supply = { form = "linear", intercept = 30.0, slope = 1.0 }
demand = { form = "linear", intercept = 60.0, slope = 1.0 }
[[minerals.routes]]
origin = "C"
destination = "A"
cost = 3.0
[[minerals.routes]]
origin = "C"
destination = "E"
cost = 2.0
[[minerals.routes]]
origin = "E"
destination = "A"
cost = 2.0

[[scenarios]]
name = "mip"
[[scenarios.policies]]
type = "minimum_import_price"
minerals = "*"
importers = ["A"]
exempt = ["E"]
level = 70.0

[[scenarios]]
name = "mip-with-origin"
[[scenarios.policies]]
type = "minimum_import_price"
minerals = "*"
importers = ["A"]
exempt = ["E"]
level = 70.0
[[scenarios.policies]]
type = "rules_of_origin"
minerals = "*"
exporters = ["E"]
importers = ["A"]
"""


def test_circumvention_is_reported_with_its_route(tmp_path, monkeypatch):
    """A's baseline imports come straight from C (C->A costs 3, the detour
    C->E->A 4): 38.75 kt, with E selling 9.5 kt of its own.  A MIP of 70
    on C's material (landed 48.75 + 3 before) makes the detour pay: C's
    direct sales stop, E buys 38 kt from C and sells 48 kt to A.  With a
    rules of origin on E's sales to A (second scenario), E may sell A only
    its own output, and nothing is reported (E consumes C's material and
    exports its own: resource shuffling, which the diagnosis cannot tell
    from trans-shipment and the rule permits)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "around.toml").write_text(CASE)
    r = CliRunner().invoke(main, ["solve", "around.toml", "--out", "r.nc", "--quiet"])
    assert r.exit_code == 0, r.output
    text = r.output
    lines = [line for line in text.splitlines() if "circumvented" in line]
    assert len(lines) == 1, text
    assert "Diagnosis (mip)" in lines[0] and "C->E, then E->A" in lines[0] and "rules_of_origin" in lines[0]


def test_diagnosis_reads_either_layout_alike(tmp_path):
    """The diagnosis reads a market's flows from the dense arrays or from
    the route entries (results.RouteSlabs, what ``mineq solve`` holds):
    the same finding, word for word, from both."""
    from mineq.solver.case import load_case
    from mineq.solver.diagnose import circumvention
    from mineq.solver.results import to_dataset
    from mineq.solver.run import solve_case

    (tmp_path / "around.toml").write_text(CASE)
    case = load_case(tmp_path / "around.toml")
    results = solve_case(case, threads=1)
    dense = circumvention(case, to_dataset(case, results))
    assert len(dense) == 1
    assert [(s, str(d)) for s, d in circumvention(case, to_dataset(case, results, layout="file"))] == [(s, str(d)) for s, d in dense]
