"""`mineq compare --mineral/--region` gives the regional rows for what was
named (issue 22: the bundled case changes more than six minerals, so
compare otherwise prints one line per mineral)."""

from pathlib import Path

from click.testing import CliRunner

from mineq.solver.cli import main

DEMO = Path(__file__).resolve().parent.parent / "cases" / "three-region-demo"


def test_compare_filters_minerals_and_regions(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(main, ["solve", str(DEMO), "--out", "d.nc", "--quiet"]).exit_code == 0
    r = CliRunner().invoke(main, ["compare", "d.nc", "-s", "us-mip", "-m", "lithium", "-r", "USA"])
    assert r.exit_code == 0, r.output
    rows = [line.split()[0] for line in r.output.splitlines() if line.startswith("  ") and line.split() and line.split()[0] in ("USA", "CHN", "ROW", "world")]
    # the stage table and the welfare table: USA only, plus the world total
    assert rows == ["USA", "USA", "world"], r.output
    assert "rare_earths" not in r.output
    r = CliRunner().invoke(main, ["compare", "d.nc", "-r", "Atlantis"])
    assert r.exit_code != 0 and "--region Atlantis: not in d.nc" in r.output


def test_compare_prints_money_in_million_currency_units():
    """USD/kg x kt is 1e6 USD: a kt is 1e6 kg (issue 22: welfare printed as
    'USD/t x kt')."""
    from mineq.solver.report import money_factor

    assert money_factor("USD/kg", "kt LCE") == ("USD", 1e6)
    assert money_factor("USD/t", "t Co content") == ("USD", 1.0)
    assert money_factor("USD/lb", "t Sn") == ("USD", 1.0 / 0.00045359237)
    assert money_factor("USD/unit", "kt") is None


def test_compare_welfare_table_says_its_money_unit(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(main, ["solve", str(DEMO), "--out", "d.nc", "--quiet"]).exit_code == 0
    r = CliRunner().invoke(main, ["compare", "d.nc", "-s", "us-mip", "-m", "lithium"])
    assert "welfare change [million USD; native unit USD/kg x kt LCE = 1e+06 USD]" in r.output, r.output
