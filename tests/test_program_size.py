"""A market's program size is known before it is built, and a case that
cannot fit in memory is refused before anything is solved (issue 17)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from mineq.models.program import MarketModel
from mineq.models.program_size import available_memory, parse_bytes, program_size
from mineq.solver.case import build_case, load_case
from mineq.solver.cli import main
from mineq.solver.errors import MineqError
from mineq.solver.sweep import parse_set, sweep_case

from helpers import case_dict, lin, mineral, random_linear_market

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "cases" / "three-region-demo"


def test_program_size_counts_the_program_that_is_built():
    """The estimate's rows and columns are the built program's, for markets
    with steps, processing and sparse or dense routes."""
    markets = list(load_case(DEMO).markets.values())
    rng = np.random.default_rng(5)
    for n, dense in ((12, True), (40, False)):
        regions, m = random_linear_market(n, rng, dense=dense)
        markets += list(build_case(case_dict(regions, [m])).markets.values())
    steps = mineral(stages=("mine", "refined"), nodes=[
        {"stage": "mine", "region": "A", "supply": {"form": "steps", "blocks": [[5, 10], [5, 20], [10, 40]]}},
        {"stage": "refined", "region": "B", "demand": lin(100, 1)},
    ], processing=[{"region": "B", "from": "mine", "to": "refined", "theta": 1.2, "cost": lin(5, 0.5)}], default_cost=2.0)
    markets += list(build_case(case_dict(["A", "B"], [steps])).markets.values())
    for mk in markets:
        size, model = program_size(mk), MarketModel(mk)
        assert size.columns == model._ncol, mk.name
        assert model._nrow <= size.rows <= len(mk.nodes), mk.name
        assert size.nonzeros >= np.count_nonzero(model._A), mk.name
        assert size.dense_bytes >= model._A.nbytes and size.bytes > size.dense_bytes


def test_a_market_too_large_is_refused_before_solving(tmp_path, monkeypatch):
    """2000 regions trading every way: the dense program is 60 GiB; mineq
    used to start building it and die with a MemoryError.  Now `mineq
    solve` refuses at once, naming the market and the figures."""
    regions = [f"R{i:04d}" for i in range(2000)]
    lines = ['[case]', 'name = "world"', f"regions = {regions!r}".replace("'", '"'), "", "[[minerals]]", 'name = "nickel"', 'stages = ["refined"]',
             'quantity_unit = "kt"', 'price_unit = "USD/kg"', "default_transport_cost = 1.0"]
    for r in regions:
        lines += ["[[minerals.nodes]]", 'stage = "refined"', f'region = "{r}"', 'supply = { form = "linear", intercept = 10.0, slope = 1.0 }', 'demand = { form = "linear", intercept = 100.0, slope = 1.0 }']
    (tmp_path / "world.toml").write_text("\n".join(lines) + "\n")
    # the figure a machine with plenty of memory would see too
    monkeypatch.setenv("MINEQ_MEMORY", "16G")
    t0 = time.perf_counter()
    r = CliRunner().invoke(main, ["solve", str(tmp_path / "world.toml"), "-o", str(tmp_path / "out.nc"), "-j", "1"])
    assert time.perf_counter() - t0 < 120
    assert r.exit_code == 1, r.output
    text = r.output.strip()
    assert "Case 'world' cannot be solved in the memory available: its welfare program for mineral nickel alone needs 2,000 rows × 4,002,000 columns (the dense matrix alone 59.6 GiB" in text, text
    assert "but 16.0 GiB are available" in text and "nothing was solved" in text and "\n" not in text and "Traceback" not in text
    assert not (tmp_path / "out.nc").exists()


def test_several_workers_need_room_for_their_markets_together(monkeypatch):
    case = load_case(DEMO)
    sizes = sorted(program_size(m).bytes for m in case.markets.values())
    from mineq.solver.run import check_fits

    monkeypatch.setenv("MINEQ_MEMORY", str(sizes[-1] + sizes[-2] - 1))
    check_fits(case, 1)
    with pytest.raises(MineqError, match=r"its 2 largest markets solved at once .* Solve with fewer workers \(-j 1 needs"):
        check_fits(case, 2)


def test_sweeps_and_ensembles_are_refused_too(tmp_path, monkeypatch):
    case = load_case(DEMO)
    monkeypatch.setenv("MINEQ_MEMORY", "1K")
    with pytest.raises(MineqError, match="cannot be solved in the memory available.*nothing was solved"):
        sweep_case(case, parse_set("level=30:40:3", case, "us-mip"))
    table = tmp_path / "u.csv"
    table.write_text("mineral,parameter,central,low,high\n*,demand_elasticity,1,0.5,2\n")
    r = CliRunner().invoke(main, ["ensemble", str(DEMO), "-n", "10", "--uncertainty", str(table), "-o", str(tmp_path / "run")])
    assert r.exit_code == 1 and "--draws 10 is too large" in r.output and "but 1.0 KiB of memory are available" in r.output, r.output
    assert not (tmp_path / "run").exists()
    monkeypatch.setenv("MINEQ_MEMORY", "lots")
    r = CliRunner().invoke(main, ["solve", str(DEMO), "-o", str(tmp_path / "x.nc")])
    assert r.exit_code == 1 and "MINEQ_MEMORY is 'lots'; expected a number of bytes" in r.output, r.output


def test_parse_bytes_and_available_memory(monkeypatch):
    assert parse_bytes("512M") == 512 << 20 and parse_bytes("2GiB") == 2 << 30 and parse_bytes("1e9") == 10**9 and parse_bytes("3k") == 3072
    monkeypatch.delenv("MINEQ_MEMORY", raising=False)
    assert 0 < available_memory() < 1 << 50
