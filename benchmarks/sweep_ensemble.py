"""Benchmark: sweeps and ensembles on the bundled 54-mineral case.

    python benchmarks/sweep_ensemble.py [--points 100] [--draws 8]

* a sweep of the partner price floor (``level_vs_baseline`` from 1 to 1.5)
  over all 54 minerals, timed end to end through ``mineq sweep`` (solve,
  verify, Dataset, NetCDF and plot);
* an ensemble of the same scenario on 1 and on 2 local Dask workers, in one
  run: verified mineral-solves per second and the speed-up ratio.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def mineq(*args) -> tuple[float, str]:
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", "from solver.cli import main; main()", *args], cwd=ROOT, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stdout + out.stderr)
    return time.perf_counter() - t, out.stdout


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=100)
    ap.add_argument("--draws", type=int, default=8)
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        t, out = mineq("sweep", "-s", "partner-floor-club", "--set", f"level_vs_baseline=1:1.5:{a.points}", "-o", f"{tmp}/s.nc", "-q")
        print(f"sweep, {a.points} points x 54 minerals: {t:.2f} s wall (process start included; target <= 10 s)")
        print("  " + out.strip().splitlines()[-1])
        rates = {}
        for w in (1, 2):
            t, out = mineq("ensemble", "-n", str(a.draws), "-s", "partner-floor-club", "-w", str(w), "-o", f"{tmp}/e{w}", "-q")
            line = out.strip().splitlines()[-1]
            rates[w] = float(line.split("; ")[1].split(" verified")[0])
            print(f"ensemble, {a.draws} draws, {w} worker(s): {t:.1f} s wall; {rates[w]:.1f} verified mineral-solves per second")
        print(f"  2 workers / 1 worker throughput: {rates[2] / rates[1]:.2f}")


if __name__ == "__main__":
    main()
