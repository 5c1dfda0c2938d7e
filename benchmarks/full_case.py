"""Benchmark: the bundled 54-mineral case, baseline and every scenario, by phase.

    python benchmarks/full_case.py [--repeat 3] [--json benchmarks/full_case.json]

Times in one process, after one warm-up run (imports), repeated
(medians): load (read + validate), build (the programs' matrices), solve
(HiGHS, polish, fixed points, fallbacks), verify (independent check), results (Dataset + NetCDF write) and total.  In the
same run, HiGHS alone re-solves every program mineq passed it (matrices
taken from the built models; model building not counted): the floor of
what the solver itself costs, and the ratio mineq / floor.  The JSON
records the commit, machine and versions so results can be tracked.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models.program import MarketModel  # noqa: E402
from solver.case import BASELINE, load_case  # noqa: E402
from solver.results import _versions, to_dataset, write  # noqa: E402
from solver.run import scenario_plans  # noqa: E402
from solver.solve import solve_market  # noqa: E402

CASE = ROOT / "cases" / "critical-minerals-54"


def highs_floor(programs) -> float:
    """Seconds HiGHS alone takes to solve the given HiGHS models cold."""
    import highspy

    total = 0.0
    for lp in programs:
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.passModel(lp)
        t = time.perf_counter()
        h.run()
        total += time.perf_counter() - t
    return total


def run_once() -> dict:
    t0 = time.perf_counter()
    case = load_case(CASE)
    t_load = time.perf_counter() - t0
    phases = {"build": 0.0, "solve": 0.0, "verify": 0.0, "fallback": 0.0}
    results = {BASELINE: {}}
    programs = []
    # capture each program HiGHS saw, for the floor
    orig = MarketModel.solve

    def spy(self, tight=False):
        out = orig(self, tight)
        if self.ran_highs:  # warm re-solves that needed no HiGHS run are not its work
            programs.append(self.highs.getModel())
        return out

    MarketModel.solve = spy
    try:
        for m in case.markets.values():
            r = solve_market(m)
            results[BASELINE][m.name] = r
        base = {mn: r.solution for mn, r in results[BASELINE].items()}
        for sc in case.scenarios:
            plans = scenario_plans(case, sc.name, base)
            results[sc.name] = {mn: (solve_market(m, plan=plans[mn], start=base[mn]) if mn in plans else results[BASELINE][mn]) for mn, m in case.markets.items()}
    finally:
        MarketModel.solve = orig
    seen = set()
    for per in results.values():
        for r in per.values():
            if id(r) in seen:
                continue
            seen.add(id(r))
            for k in phases:
                phases[k] += r.times.get(k, 0.0)
    t1 = time.perf_counter()
    ds = to_dataset(case, results)
    with tempfile.TemporaryDirectory() as tmp:
        write(ds, Path(tmp) / "r.nc")
    t_results = time.perf_counter() - t1
    total = time.perf_counter() - t0
    floor = highs_floor(programs)
    markets = len(seen)
    return {
        "load": t_load,
        **phases,
        "results": t_results,
        "total": total,
        "highs_floor": floor,
        "markets": markets,
        "highs_solves": len(programs),
        "equilibria": sum(r.ok for per in results.values() for r in per.values()),
        "max_residual": float(ds.attrs["max_residual"]),
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path, help="write medians, commit, machine and versions here")
    a = ap.parse_args(argv)
    # one warm-up run, not counted: importing xarray's optional backends
    # (dask, scipy) on the first Dataset costs ~0.7 s once per process
    run_once()
    runs = [run_once() for _ in range(a.repeat)]
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(f"bundled case {CASE.name}: baseline + scenarios, {int(med['markets'])} distinct markets, {int(med['highs_solves'])} HiGHS solves; {a.repeat} repeats after one warm-up run (medians, seconds)")
    for k in ("load", "build", "solve", "verify", "fallback", "results", "total"):
        print(f"  {k:<9}{med[k]:8.3f}")
    print(f"  HiGHS alone on the same programs: {med['highs_floor']:.3f} s; mineq total / HiGHS = {med['total'] / med['highs_floor']:.1f} (target <= 2; whole case target <= 1 s)")
    print(f"  {int(med['equilibria'])} verified scenario-markets; largest scaled residual {med['max_residual']:.1e}")
    if a.json:
        try:
            commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        except Exception:  # not a git checkout
            commit = "unknown"
        a.json.write_text(json.dumps({"commit": commit, "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()}, "versions": _versions(), "repeat": a.repeat, "median": med}, indent=2))
        print(f"  written to {a.json}")


if __name__ == "__main__":
    main()
