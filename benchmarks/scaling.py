"""Benchmark: one mineral market as the number of regions grows.

    python benchmarks/scaling.py [--regions 12 25 50 100 200] [--seed 0]

For each size, a one-stage market with a linear supply and demand in every
region (random reference prices and quantities) and either *dense* routes
(every ordered pair of regions) or *sparse* ones (each region to its four
neighbours on a ring and to and from three hubs).  Reports, in one run:

* build + first solve: mineq's program and its first solve (HiGHS on the
  whole program, or route generation from ``mineq.models.routes.MIN_ROUTES``
  routes on: ``models/routes.py``), polish included, with the number of
  HiGHS runs it took;
* HiGHS whole: the cold QP solve of the whole program alone (HiGHS's
  active-set method), measured outside mineq: what the first solve
  would cost without route generation;
* polish + verify: mineq's exact KKT step and the independent check;
* re-solve: one warm re-solve after all transport costs rise by 1%
  (polish from the previous active set, HiGHS only if that fails).

Every solution is verified; a size that does not verify is reported as such.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mineq.models.active_set import highs_of  # noqa: E402
from mineq.models.program import MarketModel  # noqa: E402
from mineq.solver.case import build_case  # noqa: E402

sys.path.insert(0, str(ROOT / "tests"))
from helpers import case_dict, random_linear_market  # noqa: E402
from mineq.solver.verify import verify  # noqa: E402


def market(n: int, dense: bool, seed: int):
    regions, mineral = random_linear_market(n, np.random.default_rng(seed), dense=dense)
    return build_case(case_dict(regions, [mineral], name="scaling")).markets["m"]


def run(n: int, dense: bool, seed: int) -> dict:
    mk = market(n, dense, seed)
    t = time.perf_counter()
    mm = MarketModel(mk)
    sol, _ = mm.solve()
    t_build_first = time.perf_counter() - t
    h = highs_of(mm.qp())  # the whole program, as HiGHS alone would get it
    t = time.perf_counter()
    h.run()
    t_highs = time.perf_counter() - t
    t = time.perf_counter()
    ver = verify(mk, sol)
    t_verify = time.perf_counter() - t
    # warm re-solve: every transport cost 1% higher
    for i in range(len(mk.route_list)):
        mm._set("cost", i, mm._vals["cost"][i] * 1.01)
    t = time.perf_counter()
    sol2, _ = mm.solve()
    t_resolve = time.perf_counter() - t
    return {"regions": n, "routes": len(mk.routes), "build+first": t_build_first, "rounds": mm.route_rounds, "highs": t_highs, "verify": t_verify,
            "resolve": t_resolve, "resolve_highs": mm.ran_highs, "ok": ver.ok, "residual": ver.max_residual}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--regions", type=int, nargs="+", default=[12, 25, 50, 100, 200])
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    print(f"{'routes':<7}{'regions':>8}{'arcs':>8}{'build+1st solve s':>19}{'(HiGHS runs)':>13}{'HiGHS whole s':>15}{'verify s':>10}{'warm re-solve s':>17}  verified (residual)")
    for dense in (False, True):
        for n in a.regions:
            r = run(n, dense, a.seed)
            how = "HiGHS" if r["resolve_highs"] else "polish"
            print(f"{'dense' if dense else 'sparse':<7}{r['regions']:>8}{r['routes']:>8}{r['build+first']:>19.3f}{max(1, r['rounds']):>13}{r['highs']:>15.3f}{r['verify']:>10.4f}{r['resolve']:>11.3f} ({how}){'':>1}  {r['ok']} ({r['residual']:.1e})", flush=True)


if __name__ == "__main__":
    main()
