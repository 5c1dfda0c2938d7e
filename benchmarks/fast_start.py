"""Benchmark: ``mineq solve -s baseline`` end to end against a plain Pyomo peer.

    python benchmarks/fast_start.py [--repeat 5] [--checkout PATH ...]

Each run is a fresh process, timed by wall clock from outside (imports
included, as a user waits for them): mineq's command on the bundled case
(one worker, NetCDF written to a temporary file) and
``benchmarks/pyomo_peer.py`` (the same baseline programs through Pyomo and
HiGHS, nothing verified or written).  Runs alternate so that both see the
machine's slow and fast spells; medians are reported and the ratio is the
median of per-repeat ratios.  ``--checkout`` adds other source trees (for
example the main branch before a change), each timed the same way in the
same run.  Also reports, from one ``-X importtime`` run per checkout, the
modules a solve imports and whether dask, distributed, matplotlib,
xlsxwriter or Pyomo are among them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("dask", "distributed", "matplotlib", "xlsxwriter", "pyomo")


def wall(cmd: list[str], cwd: Path) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def solve_cmd(out: str, extra: list[str] | None = None) -> list[str]:
    return [sys.executable, *(extra or []), "-m", "mineq.solver.cli", "solve", "-s", "baseline", "-q", "-j", "1", "--force", "-o", out]


def imports(tree: Path, out: str) -> tuple[int, float, list[str]]:
    err = subprocess.run(solve_cmd(out, ["-X", "importtime"]), cwd=tree, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True).stderr
    rows = [line.split("|") for line in err.splitlines() if line.startswith("import time:") and "self [us]" not in line]
    total = sum(int(r[0].split(":")[1]) for r in rows) / 1e6
    # a package really imported brings submodules; a refused import
    # (solver/runtime.py) leaves one row of a few microseconds
    tops = {r[2].strip().split(".")[0] for r in rows if "." in r[2].strip()}
    return len(rows), total, [h for h in HEAVY if h in tops]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--checkout", type=Path, action="append", default=[], help="another mineq source tree to time the same way")
    a = ap.parse_args()
    trees = [ROOT, *[p.resolve() for p in a.checkout]]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "b.nc")
        for tree in trees:  # warm the file cache and compiled bytecode
            wall(solve_cmd(out), tree)
        wall([sys.executable, str(ROOT / "benchmarks" / "pyomo_peer.py")], ROOT)
        times: dict[str, list[float]] = {str(t): [] for t in trees}
        peer: list[float] = []
        for _ in range(a.repeat):
            for tree in trees:
                times[str(tree)].append(wall(solve_cmd(out), tree))
            peer.append(wall([sys.executable, str(ROOT / "benchmarks" / "pyomo_peer.py")], ROOT))
        print(f"{a.repeat} repeats, medians (wall, s); ratio = median of per-repeat mineq / peer")
        print(f"  Pyomo peer (benchmarks/pyomo_peer.py): {statistics.median(peer):.2f}")
        for tree in trees:
            ts = times[str(tree)]
            n, imp, heavy = imports(tree, out)
            ratio = statistics.median(t / p for t, p in zip(ts, peer))
            print(f"  mineq solve -s baseline in {tree}: {statistics.median(ts):.2f}  ratio {ratio:.2f}; "
                  f"imports: {n} modules, {imp:.2f} s self time under -X importtime; heavy: {', '.join(heavy) or 'none'}")


if __name__ == "__main__":
    main()
