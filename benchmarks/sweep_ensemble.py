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
* ``--worker``: what one Dask worker does for a chunk of ``--draws``
  draws (``solver.ensemble.solve_chunk``: draw, build, solve and verify
  every market, assemble the kept numbers, write the chunk), in a fresh
  process per tree, alternating ``--repeat`` times: verified
  mineral-solves per second of wall time and per CPU second of that
  process (``time.process_time``; on a machine others load too, the CPU
  figure moves least).  The worker's central solve (once per worker
  process and run) is timed apart.
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
    ap.add_argument("--worker", action="store_true", help="time one worker's chunk (no Dask) instead of whole ensembles")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        if a.worker:
            worker(a, tmp)
            return
        if not a.ensemble_only:
            sweeps(a, tmp)
        ensembles(a, tmp)


#: one worker's chunk in a fresh process of a source tree: prints the
#: central solve's wall time (0 where the tree has none), then the chunk's
#: wall and CPU seconds and its verified markets
WORKER = """
import json, sys, time
from mineq.solver.case import load_case
from mineq.solver import ensemble as E
c = load_case("cases/critical-minerals-54")
rows = E.read_uncertainty("cases/critical-minerals-54/assumptions.csv", c)
text, n, scen, out = json.dumps(c.data), int(sys.argv[1]), [sys.argv[2]], sys.argv[3]
t = time.perf_counter()
if hasattr(E, "central_programs"):
    E.central_programs(text, json.loads(text), scen)
central = time.perf_counter() - t
w, p = time.perf_counter(), time.process_time()
r = E.solve_chunk(text, rows, 1, list(range(n)), out, scen, "bench")
print(central, time.perf_counter() - w, time.process_time() - p, r["verified"], r["markets"])
"""


def worker(a, tmp: str) -> None:
    trees = [ROOT, *[p.resolve() for p in a.checkout]]
    got: dict[int, list[tuple]] = {}
    for k in range(a.repeat):
        for i, tree in enumerate(trees):
            p = subprocess.run([sys.executable, "-c", WORKER, str(a.draws), a.scenario, f"{tmp}/w{k}-{i}.nc"], cwd=tree, capture_output=True, text=True)
            if p.returncode:
                raise SystemExit(p.stdout + p.stderr)
            central, wall, cpu, ok, total = p.stdout.split()
            assert ok == total, f"{tree}: {ok} of {total} markets verified"
            got.setdefault(i, []).append((float(central), float(wall), float(cpu), int(ok)))
    med = lambda xs: statistics.median(xs)  # noqa: E731
    for i, tree in enumerate(trees):
        runs = got[i]
        print(f"one worker in {tree}, {a.draws} draws of {a.scenario} ({runs[0][3]} verified markets): "
              f"{med(r[3] / r[1] for r in runs):.0f} per second of wall time, {med(r[3] / r[2] for r in runs):.0f} per CPU second; "
              f"central solve {med(r[0] for r in runs):.2f} s (medians of {len(runs)})")
    for i, tree in enumerate(trees[1:], start=1):
        print(f"  this tree / {tree}: wall {med(y[1] / x[1] for x, y in zip(got[0], got[i])):.2f}x, CPU {med(y[2] / x[2] for x, y in zip(got[0], got[i])):.2f}x the throughput (medians of per-repeat ratios)")


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
