import time, sys, dataclasses
from mineq.solver.case import load_case
from mineq.solver import dynamic as D
case = load_case("cases/critical-minerals-54/dynamic.toml")
dyn = dataclasses.replace(case.dynamics, investment_response=float(sys.argv[1]), depreciation=float(sys.argv[2]))
keys = D.capacity_keys(case); ref = {k: D._curve(case, k).upper for k in keys}
from mineq.solver.run import solve_case
static = solve_case(dataclasses.replace(case, scenarios=[]), [], threads=1)["baseline"]
start = {k: (0.0 if D._quantity(static[k[1]], k) <= 0.0 else ref[k]) for k in keys}
t = time.time()
r = D.run_path(case, dyn, "baseline", start, ref, progress=lambda n: print("year done", round(time.time()-t,1), flush=True))
print("failed", r.failed and (r.failed[0], r.failed[1][:200]))
