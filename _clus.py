def main():
    import time, json
    t0=time.perf_counter()
    from dask.distributed import Client, LocalCluster
    from mineq.solver.cli import _local_cluster
    cl=_local_cluster(LocalCluster, 2); c=Client(cl)
    t1=time.perf_counter(); print("cluster", t1-t0)
    global imp, central
    def imp():
        import time; t=time.perf_counter()
        from mineq.solver import ensemble, run, results, case
        return time.perf_counter()-t
    print("import on workers", c.run(imp))
    from mineq.solver.case import load_case
    ca = load_case("cases/critical-minerals-54"); text=json.dumps(ca.data)
    def central(text):
        import time, json; t=time.perf_counter()
        from mineq.solver import ensemble as E
        d=E._case_data(text); a=time.perf_counter()-t
        cc=E._central_case(text, d); b=time.perf_counter()-t
        E.central_programs(text, d, ["baseline"]); return a, b, time.perf_counter()-t
    t=time.perf_counter()
    fs=[c.submit(central, text, pure=False, workers=[w]) for w in c.scheduler_info()["workers"]]
    print([f.result() for f in fs], time.perf_counter()-t)
    c.close(); cl.close()
if __name__ == "__main__": main()
