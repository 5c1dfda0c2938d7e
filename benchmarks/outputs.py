"""What an economist waits for after a solve, measured in one run (issue 22).

On the bundled case: the solve, then writing its result as NetCDF and as a
workbook, verifying the file, a 20-point sweep and the report of that
sweep.  The targets are ratios, so they are printed as ratios: a workbook
within a few times the NetCDF write, verify no slower than the solve, a
20-point sweep report under 10 s.

    python benchmarks/outputs.py [--repeat 3]

Each step runs ``--repeat`` times; medians are printed.  Run it from the
source tree (it imports ``mineq`` from there).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from click.testing import CliRunner  # noqa: E402

from mineq.solver.cli import main as cli  # noqa: E402

CASE = ROOT / "cases" / "critical-minerals-54"


def timed(*args) -> float:
    t = time.perf_counter()
    res = CliRunner().invoke(cli, [str(a) for a in args])
    if res.exit_code != 0:
        raise SystemExit(f"mineq {' '.join(map(str, args))} failed:\n{res.output}")
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    runs: dict[str, list[float]] = {}
    for k in range(a.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            nc = tmp / "r.nc"
            step = {
                "solve + NetCDF": timed("solve", CASE, "--out", nc, "--quiet"),
                "solve + workbook": timed("solve", CASE, "--out", tmp / "r.xlsx", "--format", "xlsx", "--quiet"),
                "verify": timed("verify", nc),
                "sweep, 20 points": timed("sweep", CASE, "-s", "stockpile-offtake", "--set", "level_vs_baseline=1:1.5:20", "-o", tmp / "s.nc", "-q"),
                "report of the sweep": timed("report", tmp / "s.nc", "-o", tmp / "rep"),
            }
            for name, v in step.items():
                runs.setdefault(name, []).append(v)
            print(f"run {k + 1}: " + ", ".join(f"{n} {v:.2f} s" for n, v in step.items()), flush=True)
    med = {n: statistics.median(v) for n, v in runs.items()}
    print(f"\nbundled case, medians of {a.repeat} runs (seconds):")
    for n, v in med.items():
        print(f"  {n:22s} {v:7.2f}")
    workbook = med["solve + workbook"] - med["solve + NetCDF"]
    print(f"  workbook beyond the NetCDF run: {workbook:.2f} s")
    print(f"  verify / solve: {med['verify'] / med['solve + NetCDF']:.2f}")


if __name__ == "__main__":
    main()
