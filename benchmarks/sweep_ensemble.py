"""Benchmark: sweeps and ensembles on the bundled 54-mineral case.

    python benchmarks/sweep_ensemble.py [--points 100] [--draws 8] [--repeat 3]

* a sweep of the partner price floor (``level_vs_baseline`` from 1 to 1.5)
  over all 54 minerals, timed end to end through ``mineq sweep`` (solve,
  verify, Dataset, NetCDF and plot), with its default workers and with
  one (``-j 1``), alternating ``--repeat`` times: medians and the median
  of the per-repeat ratios;
* an ensemble of the same scenario on 1 and on 2 local Dask workers, in one
  run: verified mineral-solves per second and the speed-up ratio.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def mineq(*args) -> tuple[float, str]:
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", "from mineq.solver.cli import main; main()", *args], cwd=ROOT, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stdout + out.stderr)
    return time.perf_counter() - t, out.stdout


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=100)
    ap.add_argument("--draws", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        times: dict[str, list[float]] = {"default": [], "one": []}
        for k in range(a.repeat):
            for key, extra in (("default", []), ("one", ["-j", "1"])):
                t, out = mineq("sweep", "-s", "partner-floor-club", "--set", f"level_vs_baseline=1:1.5:{a.points}", "-o", f"{tmp}/s{k}{key}.nc", "-q", *extra)
                times[key].append(t)
        med = {key: statistics.median(v) for key, v in times.items()}
        ratio = statistics.median(o / d for o, d in zip(times["one"], times["default"]))
        print(f"sweep, {a.points} points x 54 minerals: {med['default']:.2f} s wall with the default workers, {med['one']:.2f} s with one (medians of {a.repeat}; process start included; target <= 10 s); one / default {ratio:.2f}")
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
