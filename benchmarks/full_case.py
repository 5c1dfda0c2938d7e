"""Benchmark: the bundled 54-mineral case, baseline and every scenario, by phase.

    python benchmarks/full_case.py [--repeat 3] [--threads N] [--json benchmarks/full_case.json]

Each timed run is a fresh Python process, as a ``mineq solve`` is: it
imports, makes one untimed warm-up run (the first Dataset imports
xarray's optional backends, ~0.7 s once per process; the warm-up runs on
one thread, so that nothing was forked before the timed run), then times
one run by phase: load (read + validate), markets (``solve_case``: build
the programs, solve them -- HiGHS, polish, fixed points, fallbacks -- and
verify every one, by ``--threads`` workers: on Linux this process and
workers forked from it, ``solver/processes.py``; the per-market phases
are also shown summed), results (Dataset + NetCDF write) and total.  A
fresh process per run because a fork write-protects every page of the
parent, and the faults that follow would otherwise land on the next
runs of the same process.

Every repeat times, in turn, one worker, ``--threads`` workers, and (where
workers are processes) as many threads (``MINEQ_PROCESSES=0``); medians
are reported and ratios are medians of per-repeat ratios, so that all see
the machine's slow and fast spells alike (identical runs here spread by
+-10%).  After the one-worker run, this process has HiGHS alone solve
every program mineq passed it, cold (captured once in a separate, untimed
run and built into HiGHS models as mineq builds them, outside the clock),
on one thread and on ``--threads``: the floor of what the solver itself
costs (mineq's own runs are partly hot-started, ``models/hot_start.py``).
The JSON records the commit, machine, versions and worker count so results
can be tracked.
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

from mineq.models.active_set import highs_of  # noqa: E402
from mineq.models.program import MarketModel  # noqa: E402
from mineq.solver.case import load_case  # noqa: E402
from mineq.solver.results import _versions, to_dataset, write  # noqa: E402
from mineq.solver.processes import ENV, forking  # noqa: E402
from mineq.solver.run import default_threads, in_threads, solve_case  # noqa: E402

CASE = ROOT / "cases" / "critical-minerals-54"


def highs_floor(programs, threads: int = 1) -> float:
    """Seconds HiGHS alone takes to solve the given programs cold, on
    ``threads`` threads (wall clock; HiGHS releases the GIL).  The HiGHS
    instances are built before the clock starts."""
    from mineq.models.program import _HIGHS_DEFAULTS, HIGHS_OPTIONS

    instances = [highs_of(qp) for qp in programs]
    for h, qp in zip(instances, programs):
        # mineq's own settings: cold, some linked programs make HiGHS's QP
        # solver cycle, and without mineq's limits this floor never ended
        for k, v in {**_HIGHS_DEFAULTS, **HIGHS_OPTIONS, "qp_iteration_limit": max(20000, 20 * qp.A.shape[1])}.items():
            h.setOptionValue(k, v)
    t = time.perf_counter()
    for _ in in_threads(lambda h: h.run(), instances, threads):
        pass
    return time.perf_counter() - t


def programs_of(case) -> list:
    """Every program mineq passes HiGHS in ``solve_case``, captured once in
    a separate, untimed run so that the capture costs mineq's clock
    nothing: they are the same in every run (results do not depend on the
    thread count, ``tests/test_bundled_case.py``), so one thread captures
    them in a fixed order."""
    programs = []
    orig = MarketModel.solve

    def spy(self, tight=False):
        # the program as HiGHS gets it (a snapshot: numbers are replaced,
        # never changed in place); made into a HiGHS model after the clock
        program = self.qp()
        out = orig(self, tight)
        if self.ran_highs:  # warm re-solves that needed no HiGHS run are not its work
            programs.append(program)
        return out

    MarketModel.solve = spy
    try:
        solve_case(case, threads=1)
    finally:
        MarketModel.solve = orig
    return programs


def run_once(threads: int) -> dict:
    """One timed run in this process, by phase (seconds)."""
    t0 = time.perf_counter()
    case = load_case(CASE)
    t_load = time.perf_counter() - t0
    t1 = time.perf_counter()
    results = solve_case(case, threads=threads)
    t_solve = time.perf_counter() - t1
    t1 = time.perf_counter()
    ds = to_dataset(case, results)
    with tempfile.TemporaryDirectory() as tmp:
        write(ds, Path(tmp) / "r.nc")
    t_results = time.perf_counter() - t1
    total = time.perf_counter() - t0
    phases = {"build": 0.0, "solve": 0.0, "verify": 0.0, "fallback": 0.0}
    seen = set()
    for per in results.values():
        for r in per.values():
            if id(r) in seen:
                continue
            seen.add(id(r))
            for k in phases:
                phases[k] += r.times.get(k, 0.0)
    return {
        "load": t_load,
        "markets_wall": t_solve,
        **{f"{k}_summed": v for k, v in phases.items()},
        "results": t_results,
        "total": total,
        "markets": len(seen),
        "equilibria": sum(r.ok for per in results.values() for r in per.values()),
        "max_residual": float(ds.attrs["max_residual"]),
    }


def sample(threads: int, processes: bool) -> dict:
    """A timed run in a fresh process: a warm-up run on one thread, then
    one run on ``threads`` workers (processes or threads)."""
    env = {**os.environ, ENV: "0"}
    code = (
        "import json, os, sys; sys.path.insert(0, sys.argv[1]); import full_case as f; "
        "f.run_once(1); "
        "os.environ.pop(f.ENV) if sys.argv[3] == '1' else None; "
        "print(json.dumps(f.run_once(int(sys.argv[2]))))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent), str(threads), "1" if processes else "0"], env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"a benchmark run failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=default_threads(), help="workers for the market solves: processes where mineq forks them, else threads (default: the cores, at most 4)")
    ap.add_argument("--json", type=Path, help="write medians, commit, machine and versions here")
    a = ap.parse_args(argv)
    programs = programs_of(load_case(CASE))
    processes = a.threads > 1 and forking()
    one, runs, threaded, floor1, floorn = [], [], [], [], []
    for _ in range(a.repeat):
        if a.threads > 1:
            one.append(sample(1, False))
        # HiGHS right after the one-worker run: each ratio from runs seconds apart
        floor1.append(highs_floor(programs))
        floorn.append(highs_floor(programs, a.threads))
        runs.append(sample(a.threads, processes))
        if processes:
            threaded.append(sample(a.threads, False))
    for r, f1, fn in zip(runs, floor1, floorn):
        r["highs_floor"], r["highs_floor_threads"], r["highs_solves"] = f1, fn, len(programs)
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(f"bundled case {CASE.name}: baseline + scenarios, {int(med['markets'])} distinct markets, {int(med['highs_solves'])} HiGHS solves; {a.repeat} repeats, each run a fresh process after a warm-up run (medians, seconds)")
    print(f"  load       {med['load']:8.3f}")
    kind = "processes (this one and forked workers)" if processes else "thread(s)"
    print(f"  markets    {med['markets_wall']:8.3f}   on {a.threads} {kind}; summed over markets: build {med['build_summed']:.3f}, solve {med['solve_summed']:.3f}, verify {med['verify_summed']:.3f}, fallback {med['fallback_summed']:.3f}")
    print(f"  results    {med['results']:8.3f}   (Dataset and NetCDF file)")
    print(f"  total      {med['total']:8.3f}   (target <= 1 s; fastest of the {a.repeat} runs {min(r['total'] for r in runs):.3f})")
    if threaded:
        tmed = {k: statistics.median(r[k] for r in threaded) for k in ("total", "markets_wall", "results")}
        gain = statistics.median(t["total"] / r["total"] for t, r in zip(threaded, runs))
        print(f"  on {a.threads} threads instead (MINEQ_PROCESSES=0): total {tmed['total']:.3f} (markets {tmed['markets_wall']:.3f}, results {tmed['results']:.3f}); threads / processes {gain:.2f} (median of per-repeat ratios)")
        med["total_threads"], med["threads_over_processes"] = tmed["total"], gain
    print(f"  HiGHS alone on the same programs: {med['highs_floor']:.3f} s on 1 thread, {med['highs_floor_threads']:.3f} s on {a.threads}")
    if one:
        # each ratio from one run (mineq, then HiGHS on its programs, seconds apart)
        m1 = statistics.median(r["total"] for r in one)
        ratios = [r["total"] / f for r, f in zip(one, floor1)]
        ratio = statistics.median(ratios)
        print(f"  mineq total on 1 thread: {m1:.3f}; mineq / HiGHS, both on 1 thread: {ratio:.2f} (median of per-run ratios, lowest {min(ratios):.2f}; target <= 2)")
    print(f"  mineq total / HiGHS, both on {a.threads} workers: {statistics.median(r['total'] / r['highs_floor_threads'] for r in runs):.2f}")
    print(f"  {int(med['equilibria'])} verified scenario-markets; largest scaled residual {med['max_residual']:.1e}")
    if one:
        med["total_1_thread"] = m1
        med["ratio_1_thread"] = ratio
    if a.json:
        try:
            commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        except Exception:  # not a git checkout
            commit = "unknown"
        a.json.write_text(json.dumps({"commit": commit, "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()}, "versions": _versions(), "repeat": a.repeat, "threads": a.threads, "median": med}, indent=2))
        print(f"  written to {a.json}")


if __name__ == "__main__":
    main()
