import time, json, sys
def main():
    from dask.distributed import Client, LocalCluster, wait
    from mineq.solver.cli import _local_cluster
    from mineq.solver.case import load_case
    from mineq.solver import ensemble as E
    ca = load_case("cases/critical-minerals-54"); text=json.dumps(ca.data)
    rows = E.read_uncertainty("cases/critical-minerals-54/assumptions.csv", ca)
    mode = sys.argv[1]
    t0=time.perf_counter()
    cl=_local_cluster(LocalCluster, int(sys.argv[2])); c=Client(cl)
    arg = c.scatter(text, broadcast=True) if mode == "scatter" else text
    t1=time.perf_counter()
    fs=[c.submit(E.solve_chunk, arg, rows, 1, list(range(k*8, k*8+8)), f"/work/tmp/ch{k}.nc", ["baseline"], "r", pure=False) for k in range(int(sys.argv[3]))]
    wait(fs)
    t2=time.perf_counter()
    n=sum(f.result()["verified"] for f in fs)
    print(mode, "start", round(t1-t0,2), "run", round(t2-t1,2), "rate", round(n/(t2-t0)))
    c.close(); cl.close()
if __name__ == "__main__": main()
