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
