"""`mineq target -v` takes fractions as 0.5 or 50% (issue 22)."""

import pytest

from mineq.solver.errors import MineqError
from mineq.solver.indicators import target_value


def test_percent_and_fraction_mean_the_same():
    assert target_value("50%", "net_import_reliance[USA,cobalt]") == 0.5
    assert target_value("0.5", "net_import_reliance[USA,cobalt]") == 0.5
    assert target_value("-20%", "net_import_reliance[USA,beryllium]") == -0.2
    assert target_value("45000", "price[USA,cobalt]") == 45000.0


def test_a_fraction_above_one_says_what_was_probably_meant():
    with pytest.raises(MineqError, match=r"Did you mean 50%\? Write 0.5 or 50%"):
        target_value("50", "net_import_reliance[USA,cobalt]")
    with pytest.raises(MineqError, match="not a fraction"):
        target_value("10%", "price[USA,cobalt]")
    with pytest.raises(MineqError, match="expected a number or a percentage"):
        target_value("half", "processing_share[USA,lithium]")
