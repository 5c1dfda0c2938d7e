"""The bundled dynamic case (cases/critical-minerals-54/dynamic.toml,
2025-2035, every scenario) against 11 static solves of the same case, in
one run (issue 20).

    python benchmarks/dynamic_case.py [--scenario NAME ...] [--last-year Y] [--workers N]

Prints the dynamic solve's time on one process and on ``--workers``
processes (the scenarios' paths in parallel once the baseline path is
solved), the time of 11 static solves (baseline and the same scenarios,
one thread each, as the dynamic mode solves its years) and the ratios.  What limits it: each (path, year) is a full
static solve of the minerals the path touches, built from the case data
(``year_case``) and solved from scratch; nothing is carried from one year
to the next but the capacities.  Profiled (2025-2027, baseline and the
floor club): most of the time is the linked light rare earths' scenario
program, whose active-set polish falls back from the compiled step to
Python least squares (numpy lstsq: 45 of 104 s); re-using the previous
year's programs and hot starts is the next speed-up.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mineq.solver.case import build_case, load_case, read_case  # noqa: E402
from mineq.solver.dynamic import solve_dynamic  # noqa: E402
from mineq.solver.run import solve_case  # noqa: E402

CASE = ROOT / "cases" / "critical-minerals-54" / "dynamic.toml"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", "-s", action="append", help="only these scenarios (default: all)")
    ap.add_argument("--last-year", type=int, default=None, help="end the horizon earlier (default: the case's)")
    ap.add_argument("--workers", "-w", type=int, default=2, help="processes for the second dynamic solve (default 2)")
    a = ap.parse_args()
    data = read_case(CASE)
    if a.last_year is not None:
        data["dynamics"] = dict(data["dynamics"], last_year=a.last_year)
    case = build_case(data)
    dyn = case.dynamics
    t = time.perf_counter()
    ds = solve_dynamic(case, dyn, a.scenario, threads=1)
    t_dyn = time.perf_counter() - t
    t = time.perf_counter()
    ds_n = solve_dynamic(case, dyn, a.scenario, threads=a.workers)
    t_dyn_n = time.perf_counter() - t
    assert ds.identical(ds_n), "the dynamic results depend on the number of processes"
    t = time.perf_counter()
    for _ in dyn.years:
        solve_case(load_case(CASE), a.scenario, threads=1)
    t_static = time.perf_counter() - t
    n = len(ds.scenario) - 1
    failed = ds.attrs.get("failed_paths", "")
    said = "every year of every path a verified equilibrium" if not failed else f"paths that stopped early: {failed}"
    print(f"dynamic case {case.name}: {dyn.first_year}-{dyn.last_year} ({len(dyn.years)} years), baseline + {n} scenarios; {said} (largest scaled residual {ds.attrs['max_residual']:.1e})")
    print(f"  dynamic solve, 1 process   {t_dyn:8.1f} s")
    print(f"  dynamic solve, {a.workers} processes {t_dyn_n:8.1f} s  (ratio to 1 process {t_dyn_n / t_dyn:.2f}; identical results)")
    print(f"  {len(dyn.years)} static solves, 1 thread {t_static:8.1f} s")
    print(f"  ratio dynamic (1 process) / static {t_dyn / t_static:8.2f}")


if __name__ == "__main__":
    main()
