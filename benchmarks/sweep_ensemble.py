"""Benchmark: sweeps and ensembles on the bundled 54-mineral case.

    python benchmarks/sweep_ensemble.py [--points 100] [--draws 8] [--repeat 3]
        [--ensemble-only] [--scenario NAME] [--checkout PATH ...]

* a sweep of the partner price floor (``level_vs_baseline`` from 1 to 1.5)
  over all 54 minerals, timed end to end through ``mineq sweep`` (solve,
  verify, Dataset, NetCDF and plot), with its default workers and with
  one (``-j 1``), alternating ``--repeat`` times: medians and the median
  of the per-repeat ratios;
* an ensemble of the same scenario (``--scenario``; ``baseline`` for the
  baseline alone) on 1 and on 2 local Dask workers, in one run: verified
  mineral-solves per second (as ``mineq ensemble`` reports them: from the
  cluster's start to the last chunk) and the speed-up ratio.  With
  ``--checkout`` (another mineq source tree, e.g. an export of the main
  branch before a change) the same ensembles run there too, alternating
  with this tree's ``--repeat`` times, and the ratio of the throughputs
  is printed: machine load cancels out of it.
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


def mineq(*args, tree: Path = ROOT) -> tuple[float, str]:
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", "from mineq.solver.cli import main; main()", *args], cwd=tree, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stdout + out.stderr)
    return time.perf_counter() - t, out.stdout


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=100)
    ap.add_argument("--draws", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--ensemble-only", action="store_true", help="skip the sweeps")
    ap.add_argument("--scenario", default="partner-floor-club", help="the ensemble's scenario (baseline: the baseline alone)")
    ap.add_argument("--workers", type=int, action="append", help="Dask workers of an ensemble (repeatable; default 1 and 2)")
    ap.add_argument("--checkout", type=Path, action="append", default=[], help="another mineq source tree to run the ensembles in too")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        if not a.ensemble_only:
            sweeps(a, tmp)
        ensembles(a, tmp)


def sweeps(a, tmp: str) -> None:
    times: dict[str, list[float]] = {"default": [], "one": []}
    for k in range(a.repeat):
        for key, extra in (("default", []), ("one", ["-j", "1"])):
            t, out = mineq("sweep", "-s", "partner-floor-club", "--set", f"level_vs_baseline=1:1.5:{a.points}", "-o", f"{tmp}/s{k}{key}.nc", "-q", *extra)
            times[key].append(t)
    med = {key: statistics.median(v) for key, v in times.items()}
    ratio = statistics.median(o / d for o, d in zip(times["one"], times["default"]))
    print(f"sweep, {a.points} points x 54 minerals: {med['default']:.2f} s wall with the default workers, {med['one']:.2f} s with one (medians of {a.repeat}; process start included; target <= 10 s); one / default {ratio:.2f}")
    print("  " + out.strip().splitlines()[-1])


def ensembles(a, tmp: str) -> None:
    trees = [ROOT, *[p.resolve() for p in a.checkout]]
    workers = a.workers or [1, 2]
    rates: dict[tuple, list[float]] = {}
    walls: dict[tuple, list[float]] = {}
    for k in range(a.repeat if a.checkout else 1):
        for w in workers:
            for i, tree in enumerate(trees):
                t, out = mineq("ensemble", "-n", str(a.draws), "-s", a.scenario, "-w", str(w), "-o", f"{tmp}/e{k}-{w}-{i}", "-q", tree=tree)
                line = out.strip().splitlines()[-1]
                rates.setdefault((i, w), []).append(float(line.split("; ")[1].split(" verified")[0]))
                walls.setdefault((i, w), []).append(t)
    for i, tree in enumerate(trees):
        for w in workers:
            print(f"ensemble in {tree}, {a.draws} draws of {a.scenario}, {w} worker(s): {statistics.median(walls[(i, w)]):.1f} s wall; "
                  f"{statistics.median(rates[(i, w)]):.1f} verified mineral-solves per second (median of {len(rates[(i, w)])})")
        if len(workers) > 1:
            print(f"  {workers[-1]} workers / {workers[0]} worker throughput: {statistics.median(rates[(i, workers[-1])]) / statistics.median(rates[(i, workers[0])]):.2f}")
    for i, tree in enumerate(trees[1:], start=1):
        for w in workers:
            ratio = statistics.median(x / y for x, y in zip(rates[(0, w)], rates[(i, w)]))
            print(f"  this tree / {tree}, {w} worker(s): throughput ratio {ratio:.2f} (median of the per-repeat ratios)")


if __name__ == "__main__":
    main()
