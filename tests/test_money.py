"""Money in one currency unit (issue 22): welfare and fiscal figures of
minerals held in different units are converted before they are summed."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from helpers import DEMO, run
from mineq.solver.report import in_money, money_unit


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("m") / "demo.nc"
    code, text = run("solve", DEMO, "--out", out, "--quiet")
    assert code == 0, text
    return xr.load_dataset(out)


def test_minerals_in_different_units_are_summed_in_one_currency(demo):
    """The demo holds lithium in kt LCE and rare earths in kt REO, both
    priced in USD/kg: USD/kg x kt = 1e6 USD each, so money sums in USD
    after multiplying by 1e6, which the raw strings ('USD/kg x kt LCE'
    against 'USD/kg x kt REO') did not allow."""
    assert money_unit(demo) is None  # the raw unit strings differ
    conv, unit = in_money(demo)
    assert unit == "USD" and money_unit(conv) == "USD"
    for v in ("total_welfare_change", "government_net", "consumer_surplus_change"):
        assert np.allclose(conv[v].values, demo[v].values * 1e6, equal_nan=True)
        assert conv[v].attrs["units"] == "USD"
    # quantities and prices keep their native units
    assert np.array_equal(conv["price"].values, demo["price"].values, equal_nan=True)
    assert in_money(conv)[0] is conv


def test_units_that_do_not_convert_are_not_summed(demo):
    odd = demo.copy()
    odd["mineral_quantity_unit"] = ("mineral", np.array(["pieces", "kt REO"]))
    same, unit = in_money(odd)
    assert unit is None and same is odd


def test_headline_sums_money_across_minerals_in_million_usd(demo, capsys):
    from mineq.solver.report import print_headline

    print_headline(demo, ["lithium", "rare_earths"], "USA", None)
    text = capsys.readouterr().out
    assert "money in million USD per year, summed over all 2 minerals" in text
    world = float(demo.total_welfare_change.sel(scenario=demo.scenario.values[1]).sum()) * 1e6 / 1e6
    row = next(x for x in text.splitlines() if x.strip().startswith("S1 us-mip"))
    assert f"{world:.4g}"[:4] in row.replace(",", "")
