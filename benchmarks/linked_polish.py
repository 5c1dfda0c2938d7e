"""Benchmark: the active-set polish on a linked group's degenerate KKT systems.

    python benchmarks/linked_polish.py [--scenario partner-floor-club] [--repeat 1]

Builds a variant of the bundled case in a temporary folder whose seven
heavy rare earths (terbium to lutetium) are mined by one joint activity per
region (``build_case.py JOINT_REE_GROUPS``), so that they are one linked
program of about 700 KKT rows whose active rows are dependent (the
members' balances share the activities).  Every producer's ore has one
composition there (monazite's), as the bundled case had before its
deposit-specific rare earths: with those, the plain step's fixed point
under the floor club ends "not converged" while the fast one verifies
(measured 2026-12-05), so that variant cannot compare the two.  Then solves that linked market,
baseline and ``--scenario`` (the floor club's fixed point by default), with
the singular KKT systems solved by dense ``lstsq`` (the plain step) and by
the degenerate step (the fast one: ``_degenerate_step``, or compiled,
``degenerate_step`` in models/_polish.c), in turn, in one process, inside
mineq's own runtime settings (one BLAS thread, as ``mineq solve`` runs).
Prints, for each step: wall time of the unit, the singular solves in
Python (count and time) and compiled (count), and the ratio; then the largest difference of a price
between the two (relative to the price), and each point's status.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import mineq.models.active_set as AS  # noqa: E402
from mineq.solver import run  # noqa: E402
from mineq.solver.case import load_case  # noqa: E402
from mineq.solver.runtime import steady  # noqa: E402

CASE = ROOT / "cases" / "critical-minerals-54"


def heavy_linked_case(folder: Path) -> Path:
    """The bundled case with the heavy rare earths mined jointly, built in ``folder``."""
    shutil.copytree(CASE, folder / "case")
    spec = importlib.util.spec_from_file_location("build_case_heavy", folder / "case" / "build" / "build_case.py")
    b = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(b)
    b.JOINT_REE_GROUPS = [g for g in b.JOINT_REE_GROUPS if not set(g[1]) & set(b.HEAVY_REE)] + [("heavy rare-earth mining", b.HEAVY_REE)]
    b.REE_COUNTRY_DEPOSITS = {}  # one ore composition everywhere (docstring)
    b.main()
    return folder / "case" / "case.toml"


def timed_unit(case, unit: str, scenario: str, fast: bool):
    """(seconds, singular solves in Python, their seconds, singular solves
    compiled, chains) of one unit's chain.  With the compiled polish built
    the fast step's singular systems are solved there (``degenerate_step``
    in models/_polish.c, counted, not timed: the time is the unit's); the
    plain one hands them to Python's ``lstsq``."""
    counts = [0, 0.0]
    compiled = AS.kernel_degenerate_steps() or 0
    inner = AS._degenerate_step if fast else None
    lstsq = np.linalg.lstsq

    def count(f):
        def g(*a, **k):
            t = time.perf_counter()
            out = f(*a, **k)
            counts[0] += 1
            counts[1] += time.perf_counter() - t
            return out

        return g

    AS.FAST_DEGENERATE_STEP = fast
    if fast:
        AS._degenerate_step = count(inner)
    else:
        np.linalg.lstsq = count(lstsq)
    try:
        with steady():
            t = time.perf_counter()
            got = run._unit_chains(case, unit, [scenario])
            wall = time.perf_counter() - t
    finally:
        AS.FAST_DEGENERATE_STEP = True
        np.linalg.lstsq = lstsq
        if inner is not None:
            AS._degenerate_step = inner
    return wall, counts[0], counts[1], (AS.kernel_degenerate_steps() or 0) - compiled, got


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default="partner-floor-club")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        case = load_case(heavy_linked_case(Path(tmp)))
    unit = next(u for u in case.links if "terbium" in u)
    rows = {True: [], False: []}
    got = {}
    for _ in range(args.repeat):
        for fast in (False, True):
            wall, n, secs, nc, chains = timed_unit(case, unit, args.scenario, fast)
            rows[fast].append((wall, n, secs, nc))
            got[fast] = chains
    for fast in (False, True):
        wall, n, secs, nc = (float(np.median([r[k] for r in rows[fast]])) for k in range(4))
        print(f"{'fast degenerate step' if fast else 'plain lstsq':>22}: unit {wall:7.2f} s, {n:4.0f} singular solves in Python in {secs:6.2f} s ({1000 * secs / max(n, 1):.1f} ms each), {nc:4.0f} compiled")
    ratio = float(np.median([a[0] / b[0] for a, b in zip(rows[False], rows[True])]))
    print(f"ratio plain/fast: unit {ratio:.2f}x")
    worst = 0.0
    for m in got[True]:
        for (sn, _, a), (_, _, b) in zip(got[False][m], got[True][m]):
            print(f"  {m:>11} {sn:>20}: {a.status} / {b.status}")
            if a.solution is not None and b.solution is not None:
                pa, pb = a.solution.price, b.solution.price
                ok = np.isfinite(pa) & np.isfinite(pb)
                worst = max(worst, float(np.max(np.abs(pa[ok] - pb[ok]) / np.maximum(1.0, np.abs(pa[ok])), initial=0.0)))
    print(f"largest price difference plain vs fast (relative): {worst:.2e}")


if __name__ == "__main__":
    main()
