"""Extension by constraint (models/extensions.py), with the three worked
extensions of docs/extensions.md imported from outside the package.

Markets (tests/test_policies.py): ``two_regions``: A supply ``10 + S``,
demand ``100 − D``; B supply ``40 + S``, demand ``160 − D``; route A->B
at 10; without policy ``P_A = 72.5``, ``P_B = 82.5``, ``X = 35``.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs" / "extensions"))

import china_cap  # noqa: E402,F401  (registers cross_stage_cap)
import partner_content  # noqa: E402,F401
import stockpile_target  # noqa: E402,F401

from mineq.models import formulation  # noqa: E402
from mineq.models.errors import SpecError  # noqa: E402
from mineq.models.extensions import Extension  # noqa: E402
from mineq.models.policies import build_plan, register  # noqa: E402
from mineq.solver.case import build_case  # noqa: E402
from mineq.solver.solve import solve_market  # noqa: E402
from mineq.solver.statistics import objective, welfare  # noqa: E402
from mineq.solver.verify import verify  # noqa: E402

from hypothesis import HealthCheck  # noqa: E402

SETTINGS = dict(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
from helpers import case_dict, lin, mineral  # noqa: E402
from test_policies import P, solve_policy  # noqa: E402

R = "refined"


def content_market():
    """A: supply ``40 + S``, demand ``100 − D``; C: flat supply at 20 and
    a route C->A at 10; B (the partner): supply ``10 + S``, demand
    ``100 − D``, its route to A at 100 (never used)."""
    return mineral(
        nodes=[
            {"stage": R, "region": "A", "supply": lin(40, 1), "demand": lin(100, 1)},
            {"stage": R, "region": "B", "supply": lin(10, 1), "demand": lin(100, 1)},
            {"stage": R, "region": "C", "supply": lin(20, 0)},
        ],
        routes=[{"origin": "C", "destination": "A", "cost": 10.0}, {"origin": "B", "destination": "A", "cost": 100.0}],
    )


def test_partner_content_closed_form():
    """Without policy A imports at 20 + 10 = 30: ``P_A = 30``, ``S_A = 0``,
    ``D_A = 70``.  With ``S_A + X_BA ≥ 0.5·D_A`` (X_BA = 0: B's material
    lands at 155), shadow price μ: producers earn ``P + μ``, consumers pay
    ``P + 0.5·μ``, imports from C still set ``P_A = 30``.  So
    ``40 + S = 30 + μ``, ``100 − D = 30 + 0.5·μ``, ``S = 0.5·D`` give
    ``D = 52``, ``S = 26``, ``μ = 36``, imports 26.  The row's value is 0:
    no net rent; producers gain ``36·26 = 936`` and consumers lose the
    same, against the market price."""
    mk, base, res = solve_policy([{"type": "partner_content", "region": "A", "partners": ["B"], "share": 0.5}], market=content_market(), regions=("A", "B", "C"))
    assert res.ok, res.message
    sol = res.solution
    a = mk.node_index(R, "A")
    assert P(res, "A") == pytest.approx(30.0, abs=1e-9)
    assert sol.supply[a] == pytest.approx(26.0, abs=1e-9)
    assert sol.demand[a] == pytest.approx(52.0, abs=1e-9)
    # the row is written  0.5·D − S − X_BA <= 0: its upper bound binds, μ_row = −36
    assert sol.extension_price[0] == pytest.approx(-36.0, abs=1e-9)
    w = welfare(mk, sol, res.plan)
    assert w["extension_rent"].sum() == pytest.approx(0.0, abs=1e-9)
    ra = mk.regions.index("A")
    assert w["producer_surplus"][ra] == pytest.approx(26 * 30 - (40 * 26 + 26**2 / 2) + 36 * 26, abs=1e-8)
    assert w["total_welfare"].sum() == pytest.approx(objective(mk, sol, res.plan), rel=1e-12)


def test_verifier_judges_the_row_and_its_price():
    """The closed form above with μ set to 0 fails (producers would not
    make 26 at 30); with the row broken (S lower, imports higher) it fails."""
    mk, _, res = solve_policy([{"type": "partner_content", "region": "A", "partners": ["B"], "share": 0.5}], market=content_market(), regions=("A", "B", "C"))
    sol = res.solution
    assert verify(mk, sol, plan=res.plan).ok
    wrong = _copy(sol, extension_price=np.array([0.0]))
    assert not verify(mk, wrong, plan=res.plan).ok
    wrong = _copy(sol, extension_price=np.array([+36.0]))  # the sign of a lower bound on a row whose upper binds
    assert not verify(mk, wrong, plan=res.plan).ok
    a = mk.node_index(R, "A")
    broken = _copy(sol)
    broken.supply[a] -= 5.0
    broken.flow[mk.route_list.index((R, "C", "A"))] += 5.0
    v = verify(mk, broken, plan=res.plan)
    assert v.residuals["extension"][0] > 1e-3


def test_cross_stage_cap_equals_the_quota_on_one_stage():
    """On one stage the cap is an export quota: ``X_AB ≤ 20`` gives the
    quota's answer (A: ``2·P_A − 110 = 20``, ``P_A = 65``; B:
    ``200 − 2·P_B = 20``, ``P_B = 90``), and the licence value
    ``−μ = P_B − P_A − 10 = 15`` equals the quota rent."""
    _, _, cap = solve_policy([{"type": "cross_stage_cap", "exporter": "A", "importers": ["B"], "quantity": 20.0}])
    _, _, quota = solve_policy([{"type": "export_quota", "exporters": "A", "destinations": ["B"], "quantity": 20.0}])
    assert cap.ok and quota.ok
    assert P(cap, "A") == pytest.approx(65.0, abs=1e-9) and P(cap, "B") == pytest.approx(90.0, abs=1e-9)
    assert np.allclose(cap.solution.price, quota.solution.price, atol=1e-9)
    assert -cap.solution.extension_price[0] == pytest.approx(quota.solution.quota_rent[0], abs=1e-9) == pytest.approx(15.0)
    w = welfare(cap.market, cap.solution, cap.plan)
    # the importer's government holds the licences; A's exporters sell at
    # 90 − 10 − 15 = 65 = P_A: they keep no margin
    assert w["extension_rent"] == pytest.approx([0.0, 15.0 * 20.0])
    qw = welfare(quota.market, quota.solution, quota.plan)
    # the same world welfare; the built-in export quota gives its licences
    # to the exporter, this cap to the importer: 300 changes hands
    assert w["total_welfare"].sum() == pytest.approx(qw["total_welfare"].sum())
    assert w["total_welfare"] - qw["total_welfare"] == pytest.approx([-300.0, 300.0])
    assert w["total_welfare"].sum() == pytest.approx(objective(cap.market, cap.solution, cap.plan), rel=1e-12)


def two_stage():
    """Ore and refined in A (exporter) and B; A refines 1:1 at cost 5 + Y,
    B at 10 + Y; ore supply A ``5 + S``, B ``30 + S``; refined demand
    A ``100 − D``, B ``150 − D``; every route costs 5."""
    return mineral(
        stages=("ore", R),
        nodes=[
            {"stage": "ore", "region": "A", "supply": lin(5, 1)},
            {"stage": "ore", "region": "B", "supply": lin(30, 1)},
            {"stage": R, "region": "A", "demand": lin(100, 1)},
            {"stage": R, "region": "B", "demand": lin(150, 1)},
        ],
        routes=[{"stage": s, "origin": "A", "destination": "B", "cost": 5.0} for s in ("ore", R)],
        processing=[{"region": "A", "from": "ore", "to": R, "theta": 1.0, "cost": lin(5, 1)}, {"region": "B", "from": "ore", "to": R, "theta": 1.0, "cost": lin(10, 1)}],
    )


def test_cross_stage_cap_prices_both_stages_alike():
    """Across ore and refined the cap binds on the sum, and the licence
    value is the same on both stages: each used route lands at the
    destination price minus μ, i.e. ``P_B − P_A − 5 = −μ`` per stage."""
    mk, base, res = solve_policy([{"type": "cross_stage_cap", "exporter": "A", "importers": ["B"], "quantity": 10.0}], market=two_stage())
    assert res.ok, res.message
    sol = res.solution
    x = {r: sol.flow[i] for i, r in enumerate(mk.route_list)}
    assert sum(x.values()) == pytest.approx(10.0, abs=1e-9)
    assert sum(base.solution.flow) > 10.0
    mu = sol.extension_price[0]
    assert mu < 0
    for (s, o, d), f in x.items():
        gap = sol.price[mk.node_index(s, d)] - sol.price[mk.node_index(s, o)] - 5.0
        if f > 1e-9:
            assert gap == pytest.approx(-mu, abs=1e-8)
        else:
            assert gap <= -mu + 1e-8


def test_stockpile_target_buys_where_cheapest_and_keeps_the_rest_of_the_budget():
    """B's government buys 10 at A or B, budget 1000 (up to 100 per unit).
    A is cheaper (``P_B = P_A + 10`` while A exports), so it buys at A:
    A's excess supply ``2·P_A − 110 = X + 10`` and B's excess demand
    ``200 − 2·P_B = X`` give ``P_A = 75``, ``P_B = 85``, ``X = 30``.  The
    target's price ``μ = 75 − 100 = −25``; the government pays
    ``75·10 = 750`` and keeps ``250`` of the budget (its extension rent).

    With a budget of 740 (74 per unit) prices reach 74 first: ``4·P_A =
    290 + G`` gives ``G = 6``, the target is slack (``μ = 0``)."""
    mk, _, res = solve_policy([{"type": "stockpile_target", "region": "B", "sources": ["A", "B"], "quantity": 10.0, "budget": 1000.0}])
    assert res.ok, res.message
    sol = res.solution
    assert P(res, "A") == pytest.approx(75.0, abs=1e-9) and P(res, "B") == pytest.approx(85.0, abs=1e-9)
    assert sol.offtake == pytest.approx([10.0, 0.0], abs=1e-9)
    assert sol.extension_price[0] == pytest.approx(-25.0, abs=1e-9)
    w = welfare(mk, sol, res.plan)
    rb = mk.regions.index("B")
    assert w["extension_rent"][rb] == pytest.approx(250.0, abs=1e-8)
    # the sellers at A get the market price: no premium left over
    assert w["offtake_premium"].sum() == pytest.approx(0.0, abs=1e-8)
    assert w["offtake_outlay"][rb] - w["extension_rent"][rb] == pytest.approx(750.0, abs=1e-8)
    assert w["total_welfare"].sum() == pytest.approx(objective(mk, sol, res.plan), rel=1e-12)
    _, _, capped = solve_policy([{"type": "stockpile_target", "region": "B", "sources": ["A", "B"], "quantity": 10.0, "budget": 740.0}])
    assert capped.ok
    assert capped.solution.offtake.sum() == pytest.approx(6.0, abs=1e-9)
    assert capped.solution.extension_price[0] == pytest.approx(0.0, abs=1e-9)


def test_labelled_model_holds_the_extension_rows():
    """The labelled formulation with extension rows is the fast program,
    coefficient by coefficient (models/formulation.py::differences)."""
    for pol, market in (
        ({"type": "partner_content", "region": "A", "partners": ["B"], "share": 0.5}, content_market()),
        ({"type": "stockpile_target", "region": "B", "sources": ["A", "B"], "quantity": 10.0, "budget": 1000.0}, None),
        ({"type": "cross_stage_cap", "exporter": "A", "importers": ["B"], "quantity": 10.0}, two_stage()),
    ):
        regions = ("A", "B", "C") if pol["type"] == "partner_content" else ("A", "B")
        _, _, res = solve_policy([pol], market=market, regions=regions)
        m = formulation.build(res.market, res.plan, res.model.state())
        assert len(m.extension) == 1
        assert formulation.differences(m, res.model) == []


@settings(**SETTINGS)
@given(share=st.floats(0.0, 0.95), a=st.floats(20, 60), c=st.floats(5, 30))
def test_random_content_requirements_verify_and_keep_the_identity(share, a, c):
    """Any share, any cost of A's producers and of imports: the answer
    verifies, the row holds, μ has the sign of the bound that binds, and
    the welfare accounts sum to the program's objective."""
    m = content_market()
    m["nodes"][0]["supply"] = lin(a, 1)
    m["routes"][0]["cost"] = c
    mk, _, res = solve_policy([{"type": "partner_content", "region": "A", "partners": ["B"], "share": share}], market=m, regions=("A", "B", "C"))
    assert res.ok, res.message
    sol = res.solution
    ai = mk.node_index(R, "A")
    assert sol.supply[ai] >= share * sol.demand[ai] - 1e-7
    assert sol.extension_price[0] <= 1e-9
    w = welfare(mk, sol, res.plan)
    assert w["total_welfare"].sum() == pytest.approx(objective(mk, sol, res.plan), rel=1e-9, abs=1e-9)


def test_bad_constraints_are_named():
    """A constraint on a quantity the market does not have, a nonlinear
    one, and a non-constraint each get a sentence, not a traceback."""

    @register
    class Broken(Extension):
        type = "broken_extension_test"
        keys = ("what",)

        def read(self, spec, regions):
            self.what = spec["what"]
            self.holder = "A"

        def constraints(self, m, market):
            if self.what == "square":
                return {"sq": m.supply[R, "A"] ** 2 <= 4}
            if self.what == "number":
                return {"n": 3.0}
            return {"missing": m.supply[R, "C"] >= 1}

    for what, words in (("square", "linear"), ("number", "Pyomo constraint"), ("missing", "no supply")):
        with pytest.raises(SpecError, match=words):
            solve_policy([{"type": "broken_extension_test", "what": what}])


def test_cli_solves_verifies_and_compares_an_extension(tmp_path):
    """From the command line, with the plugin loaded from outside the
    package: solve, verify, compare; the rent is in the file and the
    comparison."""
    case = tmp_path / "case.toml"
    text = (ROOT / "cases" / "three-region-demo" / "case.toml").read_text()
    text += '\n[[scenarios]]\nname = "content"\n\n[[scenarios.policies]]\ntype = "partner_content"\nminerals = ["lithium"]\nregion = "USA"\npartners = ["ROW"]\nshare = 0.7\n'
    text += '\n[[scenarios]]\nname = "cap-and-stock"\n\n[[scenarios.policies]]\ntype = "cross_stage_cap"\nminerals = ["rare_earths"]\nexporter = "CHN"\nimporters = ["USA"]\nquantity = 1.0\n'
    text += '\n[[scenarios.policies]]\ntype = "stockpile_target"\nminerals = ["lithium"]\nregion = "USA"\nsources = ["USA", "ROW"]\nquantity = 5.0\nbudget = 200.0\n'
    case.write_text(text)
    env = dict(os.environ, MINEQ_PLUGINS="partner_content,china_cap,stockpile_target", PYTHONPATH=os.pathsep.join([str(ROOT / "docs" / "extensions"), str(ROOT)]))
    out = tmp_path / "r.nc"
    run = lambda *a: subprocess.run([sys.executable, "-m", "mineq.solver.cli", *a], cwd=ROOT, env=env, capture_output=True, text=True)  # noqa: E731
    got = run("solve", str(case), "--out", str(out), "--quiet")
    assert got.returncode == 0, got.stdout + got.stderr
    got = run("verify", str(out))
    assert got.returncode == 0, got.stdout + got.stderr
    import xarray as xr

    with xr.open_dataset(out) as ds:
        mu = float(ds["extension_shadow_price"].sel(scenario="content", mineral="lithium").values[0])
        assert mu < 0
        # a transfer from US users to qualifying producers: no net rent
        assert abs(float(ds["extension_rent_by_row"].sel(scenario="content", mineral="lithium").values[0])) < 1e-9
        assert float(ds["producer_surplus_change"].sel(scenario="content", mineral="lithium", region="USA")) > 0
        # the stockpile: 5 bought at ROW (the cheaper source) for less than the budget
        stock = ds.sel(scenario="cap-and-stock", mineral="lithium")
        assert float(stock.offtake.sum()) == pytest.approx(5.0)
        assert 0 < float(stock.extension_rent_by_row.values[0]) < 200.0
        assert float(ds.extension_rent_by_row.sel(scenario="cap-and-stock", mineral="rare_earths").values[0]) > 0
    got = run("compare", str(out), "--mineral", "lithium")
    assert got.returncode == 0, got.stdout + got.stderr
    assert "extension row partner_content: USA refined content: shadow price" in got.stdout
    assert "extension row stockpile_target: purchase target: shadow price" in got.stdout
    got = run("report", str(out), "--out", str(tmp_path / "rep"))
    assert got.returncode == 0, got.stdout + got.stderr
    html = (tmp_path / "rep" / "report.html").read_text()
    assert html.count("Extension row") >= 3


def _copy(sol, **changes):
    import dataclasses

    fields = {f.name: (np.array(getattr(sol, f.name), dtype=float) if isinstance(getattr(sol, f.name), np.ndarray) else getattr(sol, f.name)) for f in dataclasses.fields(sol)}
    fields.update(changes)
    return type(sol)(**fields)
