"""Solving and verifying whole cases: the loop over scenarios and minerals."""

from __future__ import annotations

from pathlib import Path

import click
import xarray as xr

from .case import BASELINE, Case
from .errors import MineqError
from .results import case_from_dataset, forbidden_flows, solutions_from_dataset
from .solve import MarketResult, solve_market
from .verify import TOLERANCE, Verification, verify


def solve_case(case: Case, scenarios: list[str] | None = None, progress: bool = False) -> dict[str, dict[str, MarketResult]]:
    """Solve the baseline (and scenarios) of ``case``, mineral by mineral.

    Returns ``results[scenario][mineral]``.  Minerals are independent
    markets, so each is its own program; a failure in one is recorded in
    its result and the others still finish.
    """
    known = [s.name for s in case.scenarios]
    for s in scenarios or []:
        if s != BASELINE and s not in known:
            raise MineqError(f"Scenario '{s}' is not in case '{case.name}'; its scenarios are: {', '.join(known) or '(none)'}.")
    wanted = [s for s in known if scenarios is None or s in scenarios]
    if wanted:
        click.echo(
            f"Note: scenarios {', '.join(wanted)} were read and validated but not solved: this version of mineq solves the baseline only "
            "(policy instruments are not implemented yet).",
            err=True,
        )
    markets = list(case.markets.values())
    out: dict[str, dict[str, MarketResult]] = {BASELINE: {}}
    with click.progressbar(markets, label="Solving baseline", show_pos=True, file=None if progress and len(markets) > 3 else _Null()) as bar:
        for m in bar:
            out[BASELINE][m.name] = solve_market(m)
    return out


class _Null:
    """A sink for the progress bar when it should stay quiet."""

    def write(self, *_):
        pass

    def flush(self):
        pass

    def isatty(self):
        return False


def open_results(path: str | Path) -> xr.Dataset:
    try:
        return xr.load_dataset(path, engine="h5netcdf")
    except Exception as err:
        raise MineqError(f"Cannot read {path} as a mineq NetCDF result file ({type(err).__name__}: {err}).") from None


def verify_file(path: str | Path, tol: float = TOLERANCE) -> list[tuple[str, str, Verification]]:
    """Verify every scenario and mineral of a result file from its primal values."""
    ds = open_results(path)
    case = case_from_dataset(ds)
    sols = solutions_from_dataset(ds, case)
    bad = forbidden_flows(ds, case)
    report = []
    for sn, per in sols.items():
        for mn, sol in per.items():
            v = verify(case.markets[mn], sol, tol)
            mine = [b for b in bad if b.startswith(mn + " ")]
            if mine:
                v.add("forbidden_route", [float("inf")] * len(mine), mine)
            report.append((sn, mn, v))
    return report
