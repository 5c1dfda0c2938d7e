"""Benchmark: a random 54-mineral, 12-region, two-stage case, by phase.

Writes the case as CSV tables (like a large real case), then times in one
process: load (read + validate), build (Pyomo models), solve (HiGHS),
verify (independent check) and total.  Repeats and reports medians, plus
the ratio of mineq's solve phase to a direct highspy solve of the same
programs, so that machine noise cancels out of the comparison.

The case also has a policy scenario: on most minerals (``--covered``,
default 80%), a levy-type minimum import price at 1.2x the baseline price
into R00 and R01 on refined imports from non-partners, and a deficiency-
payment floor at 1.15x the baseline price for refiners in R00 and the
partners (R02, R03): price-dependent wedges on both routes and processors.
The scenario phase reports its time, the fixed-point iterations and how
often the MILP fallback ran.

    python benchmarks/random_case.py [--minerals 54] [--regions 12] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mineq.models.program import MarketModel  # noqa: E402
from mineq.solver.case import load_case  # noqa: E402
from mineq.solver.run import scenario_plans  # noqa: E402
from mineq.solver.solve import solve_market  # noqa: E402
from mineq.solver.verify import verify  # noqa: E402

from full_case import highs_floor  # noqa: E402  (same folder)


def write_case(folder: Path, minerals: int, regions: int, seed: int, covered: float = 0.8, two_stage: int | None = None, nearest: int | None = None, floor: bool = True) -> Path:
    """Write the case's CSV tables and case.toml into ``folder``.

    By default every mineral has a mine and a refined stage and each
    ordered pair of regions has a route with probability 1/2.  ``two_stage``:
    only the first so many minerals have both stages, the others a refined
    stage only (supply and demand in one node).  ``nearest``: regions sit
    at random points of the unit square and each destination is reached,
    at every stage, from its ``nearest`` other regions, at a cost that grows
    with the distance (``benchmarks/country_case.py``).  ``floor=False``
    leaves the deficiency-payment floor out of the scenario (the minimum
    import price alone).
    """
    rng = np.random.default_rng(seed)
    regs = [f"R{i:02d}" if regions <= 100 else f"R{i:03d}" for i in range(regions)]
    near = None
    if nearest is not None:
        xy = np.random.default_rng([seed, 1]).random((regions, 2))
        dist = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
        np.fill_diagonal(dist, np.inf)
        near = np.argsort(dist, axis=0, kind="stable")[:nearest]  # near[:, d]: the origins of d
    names = [f"m{k:02d}" for k in range(minerals)]
    chosen = [n for n in names if rng.random() < covered]
    mlist = ", ".join(f'"{n}"' for n in chosen)
    (folder / "case.toml").write_text(
        "[case]\nname = \"random-bench\"\nregions = [" + ", ".join(f'"{r}"' for r in regs) + "]\n\n"
        f"[groups]\npartners = [\"{regs[2]}\", \"{regs[3]}\"]\n\n"
        "[tables]\nminerals = \"minerals.csv\"\nnodes = \"nodes.csv\"\nroutes = \"routes.csv\"\nprocessing = \"processing.csv\"\n\n"
        "[[scenarios]]\nname = \"mip-and-floors\"\n"
        f"[[scenarios.policies]]\ntype = \"minimum_import_price\"\nminerals = [{mlist}]\nstage = \"refined\"\nimporters = [\"{regs[0]}\", \"{regs[1]}\"]\nexempt = [\"@partners\"]\nlevel_vs_baseline = 1.2\n"
        + (f"[[scenarios.policies]]\ntype = \"price_floor\"\nmechanism = \"deficiency_payment\"\nminerals = [{mlist}]\nstage = \"refined\"\nregions = [\"{regs[0]}\", \"@partners\"]\nlevel_vs_baseline = 1.15\n" if floor else "")
    )
    mins, nodes, routes, procs = ["name,stages,quantity_unit,price_unit,default_transport_cost"], [], [], []
    nodes.append("mineral,stage,region,supply_form,supply_price,supply_quantity,supply_elasticity,supply_capacity,demand_form,demand_price,demand_quantity,demand_elasticity")
    routes.append("mineral,stage,origin,destination,cost")
    procs.append("mineral,region,from,to,theta,cost_form,cost_intercept,cost_slope,capacity")
    for k in range(minerals):
        name = f"m{k:02d}"
        both = two_stage is None or k < two_stage
        default = rng.uniform(1, 4)  # drawn either way: the default case's numbers stay as they were
        # with ``nearest``, the listed routes are all there is (no default for the other pairs)
        mins.append(f"{name},{'mine;refined' if both else 'refined'},kt,USD/kg,{'none' if near is not None else f'{default:.4f}'}")
        price = rng.uniform(5, 50)
        for r in regs:
            q = rng.uniform(5, 100)
            cap = q * rng.uniform(1.5, 3)
            if both:
                nodes.append(f"{name},mine,{r},linear,{price * rng.uniform(0.2, 0.5):.4f},{q:.4f},{rng.uniform(0.3, 2):.4f},{cap:.4f},,,,")
                nodes.append(f"{name},refined,{r},,,,,,linear,{price * rng.uniform(0.8, 1.2):.4f},{rng.uniform(5, 100):.4f},{-rng.uniform(0.2, 1.5):.4f}")
                procs.append(f"{name},{r},mine,refined,{rng.uniform(1, 2):.4f},linear,{price * rng.uniform(0.05, 0.3):.4f},{rng.uniform(0.01, 0.2):.4f},{rng.uniform(20, 150):.4f}")
            else:
                nodes.append(f"{name},refined,{r},linear,{price * rng.uniform(0.4, 0.8):.4f},{q:.4f},{rng.uniform(0.3, 2):.4f},{cap:.4f},linear,{price * rng.uniform(0.8, 1.2):.4f},{rng.uniform(5, 100):.4f},{-rng.uniform(0.2, 1.5):.4f}")
        for s in ("mine", "refined") if both else ("refined",):
            if near is not None:
                for d in range(regions):
                    for o in near[:, d]:
                        routes.append(f"{name},{s},{regs[o]},{regs[d]},{rng.uniform(0.5, 1.5) * (0.5 + 7.5 * dist[o, d]):.4f}")
                continue
            for o in regs:
                for d in regs:
                    if o != d and rng.random() < 0.5:
                        routes.append(f"{name},{s},{o},{d},{rng.uniform(0.5, 8):.4f}")
    for fname, rows in (("minerals.csv", mins), ("nodes.csv", nodes), ("routes.csv", routes), ("processing.csv", procs)):
        (folder / fname).write_text("\n".join(rows) + "\n")
    return folder


def floor_solve(models) -> float:
    """Direct highspy on the same programs: the solver's own cost.

    Passes each already-built program to HiGHS as matrices (the model
    build is not counted) and solves it cold.
    """
    return highs_floor([mm.highs.getModel() for mm in models if mm._highs is not None])


def run_once(folder: Path) -> dict:
    t0 = time.perf_counter()
    case = load_case(folder)
    t1 = time.perf_counter()
    models = [MarketModel(m) for m in case.markets.values()]
    t2 = time.perf_counter()
    sols = [mm.solve()[0] for mm in models]
    t3 = time.perf_counter()
    worst = max(verify(m, s).max_residual for m, s in zip(case.markets.values(), sols))
    t4 = time.perf_counter()
    out = {"load": t1 - t0, "build": t2 - t1, "solve": t3 - t2, "verify": t4 - t3, "total": t4 - t0, "highspy_floor": floor_solve(models), "max_residual": worst}
    # the policy scenario: plans from the baseline, fixed point, fallback
    base = dict(zip(case.markets, sols))
    t5 = time.perf_counter()
    plans = scenario_plans(case, "mip-and-floors", base)
    results = [solve_market(case.markets[mn], plan=p, start=base[mn]) for mn, p in plans.items()]
    t6 = time.perf_counter()
    its = [r.iterations for r in results]
    out.update(
        {
            "scenario": t6 - t5,
            "scenario_markets": len(results),
            "scenario_equilibria": sum(r.ok for r in results),
            "fp_iterations_mean": float(np.mean(its)) if its else 0.0,
            "fp_iterations_max": max(its, default=0),
            "fallback_runs": sum(r.fallback for r in results),
            "scenario_max_residual": max((r.max_residual for r in results), default=0.0),
        }
    )
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minerals", type=int, default=54)
    ap.add_argument("--regions", type=int, default=12)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--covered", type=float, default=0.8, help="share of minerals the policy scenario covers")
    ap.add_argument("--json", type=Path, help="also write the medians here")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_case(Path(tmp), a.minerals, a.regions, a.seed, a.covered)
        runs = [run_once(folder) for _ in range(a.repeat)]
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(f"random case: {a.minerals} minerals x {a.regions} regions x 2 stages, {a.repeat} repeats (medians, seconds)")
    for k in ("load", "build", "solve", "verify", "total"):
        print(f"  {k:<8} {med[k]:8.3f}")
    print(f"  HiGHS alone on the same programs: {med['highspy_floor']:.3f} s; mineq solve phase / HiGHS = {med['solve'] / med['highspy_floor']:.1f}")
    print(f"  largest scaled residual: {med['max_residual']:.1e}")
    last = runs[-1]
    print(f"policy scenario (MIP 1.2x into R00/R01 from non-partners, refiner floor 1.15x in R00 + partners): {last['scenario_markets']} markets")
    print(f"  plan + fixed point + verify: {med['scenario']:.3f} s; {last['scenario_equilibria']}/{last['scenario_markets']} verified equilibria")
    print(f"  fixed-point iterations per market: mean {last['fp_iterations_mean']:.1f}, max {last['fp_iterations_max']}; MILP fallback ran {last['fallback_runs']} times")
    print(f"  largest scaled residual: {last['scenario_max_residual']:.1e}")
    if a.json:
        a.json.write_text(json.dumps({"args": vars(a) | {"json": str(a.json)}, "median": med}, indent=2))


if __name__ == "__main__":
    main()
