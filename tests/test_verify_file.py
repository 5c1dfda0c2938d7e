"""Issue 17: `mineq verify` checks the stored inputs against their hash and
recomputes every stored number from the primal solution; `report` and
`compare` never call a file verified that `verify` rejects.

Each test edits one thing of a solved demo file, as a careless or
dishonest editor would, and expects verify to name it (variable,
coordinates, stored and recomputed value) and exit 1.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from mineq.solver.case import digest_of
from mineq.solver.results import ENGINE, write
from mineq.solver.run import open_results
from helpers import run, solved_demo





@pytest.fixture(scope="module")
def solved(tmp_path_factory):
    return solved_demo(tmp_path_factory)


def edited(solved, tmp_path, change) -> Path:
    """The file read as mineq reads it (route variables origin x
    destination), changed, and written as mineq writes it (along
    ``route``): an edit in either layout must be caught."""
    ds = open_results(solved)
    change(ds)
    bad = tmp_path / "edited.nc"
    write(ds, bad)
    return bad


def test_untouched_file_verifies(solved):
    code, text = run("verify", solved)
    assert code == 0, text
    assert "0 failures" in text and "0 stored numbers or inputs differ" in text


def _describe(ds):
    data = json.loads(ds.attrs["case_json"])
    data["case"]["description"] = data["case"].get("description", "") + " (edited)"
    ds.attrs["case_json"] = json.dumps(data, sort_keys=True, separators=(",", ":"))


def _edit_slope(ds):
    ds.attrs["case_json"] = ds.attrs["case_json"].replace('"slope":', '"slope":1', 1)


@pytest.mark.parametrize("change", [_describe, _edit_slope], ids=["description", "a slope"])
def test_edited_inputs_fail_the_hash(solved, tmp_path, change):
    """Even an edit that changes no number of any market (the description)
    makes the inputs not the ones that were solved."""
    code, text = run("verify", edited(solved, tmp_path, change))
    assert code == 1, text
    assert "input_hash" in text and "Traceback" not in text


def test_edited_hash_fails(solved, tmp_path):
    code, text = run("verify", edited(solved, tmp_path, lambda ds: ds.attrs.update(input_hash=digest_of("something else"))))
    assert code == 1 and "input_hash" in text


def _sel(**kw):
    return dict(scenario="baseline", mineral="lithium", **kw)


@pytest.mark.parametrize("var, where, how", [
    ("total_welfare", _sel(region="USA"), lambda x: 2 * x),
    ("consumer_surplus", _sel(region="USA"), lambda x: x + 1000),
    ("net_import_reliance", _sel(stage="refined", region="USA"), lambda x: x - 0.1),
    ("imports", _sel(stage="refined", region="USA"), lambda x: x + 1.0),
    ("max_residual", dict(scenario="us-mip", mineral="lithium"), lambda x: 0.0 * x),
    ("welfare_objective", dict(scenario="us-mip", mineral="rare_earths"), lambda x: x * (1 + 1e-9)),
    ("producer_price", _sel(stage="refined", region="CHN"), lambda x: x + 1e-6),
    ("tariff_per_unit", dict(scenario="us-mip", mineral="lithium", stage="refined", origin="CHN", destination="USA"), lambda x: x + 0.5),
    ("total_welfare_change", dict(scenario="china-ban", mineral="rare_earths", region="USA"), lambda x: -x),
])
def test_edited_derived_number_fails(solved, tmp_path, var, where, how):
    """Derived numbers are made again from the stored solution; any
    difference fails, named by variable, coordinates, stored and
    recomputed values, under the market it belongs to."""
    stored = float(open_results(solved)[var].loc[where])
    assert np.isfinite(stored) and how(stored) != stored

    def change(ds):
        ds[var].loc[where] = how(stored)

    code, text = run("verify", edited(solved, tmp_path, change))
    assert code == 1, text
    line = next(x for x in text.splitlines() if x.startswith(f"MISMATCH {where['scenario']}/{where['mineral']}"))
    assert var in line and "stored" in line and "recomputed" in line and repr(how(stored)) in line
    # the primal solution is untouched: every market is still an equilibrium
    assert "0 failures" in text


def test_attribute_max_residual_fails(solved, tmp_path):
    code, text = run("verify", edited(solved, tmp_path, lambda ds: ds.attrs.update(max_residual=0.0)))
    assert code == 1 and "attribute max_residual: stored 0.0" in text


def test_status_must_agree_with_the_check(solved, tmp_path):
    def change(ds):
        ds["status"].loc[dict(scenario="baseline", mineral="lithium")] = "infeasible"

    code, text = run("verify", edited(solved, tmp_path, change))
    assert code == 1 and "MISMATCH baseline/lithium: " in text and "status: stored 'infeasible', but the solution passes the check" in text
    assert "attribute all_equilibria: stored 1, recomputed 0" not in text


def test_compare_and_report_say_a_rejected_file_is_not_verified(solved, tmp_path):
    bad = edited(solved, tmp_path, lambda ds: ds["consumer_surplus"].loc[_sel(region="USA")].__iadd__(1000.0))
    code, text = run("compare", bad)
    assert "FAILS mineq verify" in text and "NOT verified" in text and "Verified:" not in text
    code, text = run("report", bad, "-o", tmp_path / "rep")
    assert code == 0, text
    page = (tmp_path / "rep" / "report.html").read_text()
    assert "NOT VERIFIED" in page and "every equilibrium verified" not in page


def test_compare_and_report_say_a_good_file_is_verified(solved, tmp_path):
    code, text = run("compare", solved)
    assert code == 0 and text.startswith("Verified: all 8 scenario-mineral markets")
    code, text = run("report", solved, "-o", tmp_path / "rep")
    assert code == 0 and "every equilibrium verified" in (tmp_path / "rep" / "report.html").read_text()


def test_added_variable_fails(solved, tmp_path):
    """A number mineq did not write cannot be recomputed, so it cannot be
    vouched for: verify says so rather than pass the file."""
    def change(ds):
        ds["doubled_price"] = 2 * ds["price"]

    code, text = run("verify", edited(solved, tmp_path, change))
    assert code == 1 and "variable doubled_price: in the file, but not a variable mineq writes" in text
