"""Benchmark: a country-level case (issue 23), solve time, peak memory, file size.

    python benchmarks/country_case.py [--regions 200] [--nearest 20] [--seed 7] [--checkout PATH ...]

Generates, reproducibly from ``--seed``, the case of issue 23 with
``benchmarks/random_case.py``'s writer: 200 regions at random points,
each destination reached at every stage from its 20 nearest regions;
54 minerals, 23 of them with a mine and a refined stage (77 stage
markets x 4,000 routes = 308,000 routes); a baseline and one scenario
with a minimum import price (a MIP: price-dependent wedges on routes).
Then runs ``mineq solve`` on it in a child process per source tree (this
one and each ``--checkout``, for example the main branch before a change,
in the same run) and reports wall time, the child's peak resident memory
(``resource.getrusage(RUSAGE_CHILDREN)``: one child at a time, so the
maximum is that child's), the result file's size and whether every
market was verified (exit status 0).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from random_case import write_case  # noqa: E402


def measure(tree: Path, case: Path, out: Path, threads: int) -> dict:
    """One ``mineq solve`` in a fresh child that forks nothing else first."""
    code = ("import resource, subprocess, sys, time\n"
            "t = time.perf_counter()\n"
            "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)\n"
            "w = time.perf_counter() - t\n"
            "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
            "print(w, peak, r.returncode)\n"
            "sys.stderr.write(r.stderr[-2000:])\n")
    cmd = [sys.executable, "-c", code, sys.executable, "-m", "mineq.solver.cli", "solve", str(case), "-q", "--force", "-j", str(threads), "-o", str(out)]
    p = subprocess.run(cmd, cwd=tree, capture_output=True, text=True)
    w, peak, rc = p.stdout.split()
    return {"wall": float(w), "peak_mb": int(peak) / 1024, "rc": int(rc), "size_mb": out.stat().st_size / 1e6 if out.exists() else float("nan"), "err": p.stderr.strip()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--regions", type=int, default=200)
    ap.add_argument("--nearest", type=int, default=20)
    ap.add_argument("--minerals", type=int, default=54)
    ap.add_argument("--two-stage", type=int, default=23)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--checkout", type=Path, action="append", default=[], help="another mineq source tree to run the same way")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        case = write_case(Path(tmp), a.minerals, a.regions, a.seed, two_stage=a.two_stage, nearest=a.nearest, floor=False)
        routes = sum(1 for _ in open(case / "routes.csv")) - 1
        print(f"country case: {a.regions} regions, {a.minerals} minerals ({a.two_stage} two-stage), {routes} routes, seed {a.seed}; mineq solve -j {a.threads}")
        for tree in [ROOT, *[p.resolve() for p in a.checkout]]:
            r = measure(tree, case, Path(tmp) / f"out-{abs(hash(tree))}.nc", a.threads)
            print(f"  {tree}: {r['wall']:.1f} s, peak {r['peak_mb']:.0f} MB, file {r['size_mb']:.1f} MB, "
                  + ("every market verified" if r["rc"] == 0 else f"exit status {r['rc']}: {r['err'][-300:]}"))


if __name__ == "__main__":
    main()
