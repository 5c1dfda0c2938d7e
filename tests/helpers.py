"""Small builders shared by the tests (and the scaling benchmark)."""

from __future__ import annotations

from pathlib import Path

from mineq.solver.case import build_case
from mineq.solver.solve import solve_market


def case_dict(regions, minerals, groups=None, scenarios=None, name="test"):
    return {
        "_file": "test.toml",
        "case": {"name": name, "regions": list(regions)},
        "groups": groups or {},
        "minerals": minerals,
        "scenarios": scenarios or [],
    }


def mineral(name="m", stages=("refined",), nodes=(), routes=(), processing=(), default_cost="none"):
    return {
        "name": name,
        "stages": list(stages),
        "quantity_unit": "kt",
        "price_unit": "USD/kg",
        "default_transport_cost": default_cost,
        "nodes": list(nodes),
        "routes": list(routes),
        "processing": list(processing),
    }


def lin(intercept, slope, **kw):
    return {"form": "linear", "intercept": float(intercept), "slope": float(slope), **kw}


def solve_one(regions, mineral_dict):
    """Build a one-mineral case, solve it, return (market, result)."""
    case = build_case(case_dict(regions, [mineral_dict]))
    market = next(iter(case.markets.values()))
    return market, solve_market(market)


def node_value(market, arr, stage, region):
    return arr[market.node_index(stage, region)]


def flow_value(market, sol, stage, o, d):
    return sol.flow[market.route_list.index((stage, o, d))]


def random_linear_market(n, rng, dense=True, price=(80.0, 120.0), cost=(2.0, 15.0), free_share=0.0):
    """A one-stage mineral 'm' on ``n`` regions (``R000``...): a linear
    supply and demand in every region through a random reference point,
    and routes between every ordered pair (``dense``) or from each region
    to its two neighbours either way round a ring and to and from three
    hubs.  ``free_share`` of the routes cost nothing (ties).  Returns
    (regions, mineral dict); shared by tests/test_routes.py and
    benchmarks/scaling.py."""
    regions = [f"R{i:03d}" for i in range(n)]
    nodes = []
    for r in regions:
        p = float(rng.uniform(*price))
        nodes.append({"stage": "refined", "region": r,
                      "supply": {"form": "linear", "price": p, "quantity": float(rng.uniform(1, 100)), "elasticity": float(rng.uniform(0.2, 1.5))},
                      "demand": {"form": "linear", "price": p, "quantity": float(rng.uniform(1, 100)), "elasticity": -float(rng.uniform(0.1, 0.8))}})
    if dense:
        pairs = {(a, b) for a in range(n) for b in range(n) if a != b}
    else:
        pairs = set()
        for a in range(n):
            for d in (1, 2):
                pairs |= {(a, (a + d) % n), ((a + d) % n, a)}
            for h in range(3):
                if a != h:
                    pairs |= {(a, h), (h, a)}
    routes = [{"stage": "refined", "origin": regions[a], "destination": regions[b], "cost": 0.0 if rng.random() < free_share else float(rng.uniform(*cost))} for a, b in sorted(pairs)]
    return regions, mineral(nodes=nodes, routes=routes)


def in_fresh_process(module: str, func: str, *args):
    """``tests/<module>.py``'s ``func(*args)`` run in a fresh Python
    process, returning what it returned (pickled).  For the worker
    processes: forking is refused once a process runs other Python
    threads (the Dask tests leave one behind), so tests of the forking
    path run where nothing else ran before them."""
    import pickle
    import subprocess
    import sys
    from pathlib import Path

    tests = Path(__file__).resolve().parent
    code = "import pickle, sys; sys.path.insert(0, sys.argv[1]); m = __import__(sys.argv[2]); sys.stdout.buffer.write(pickle.dumps(getattr(m, sys.argv[3])(*pickle.loads(bytes.fromhex(sys.argv[4])))))"
    out = subprocess.run([sys.executable, "-c", code, str(tests), module, func, pickle.dumps(args).hex()], capture_output=True, cwd=tests.parent)
    assert out.returncode == 0, out.stderr.decode(errors="replace")[-3000:]
    return pickle.loads(out.stdout)


#: the small illustrative case most CLI tests run
DEMO = Path(__file__).resolve().parent.parent / "cases" / "three-region-demo"
BUNDLED = Path(__file__).resolve().parent.parent / "cases" / "critical-minerals-54"


def run(*args):
    """Run the mineq command line in-process: (exit code, everything printed;
    click 8.2+ gives stdout and stderr together)."""
    from click.testing import CliRunner

    from mineq.solver.cli import main

    res = CliRunner().invoke(main, [str(a) for a in args])
    return res.exit_code, res.output


def solved_demo(tmp_path_factory):
    """A result file of the demo case, solved once (for a module fixture)."""
    out = tmp_path_factory.mktemp("res") / "demo.nc"
    code, text = run("solve", DEMO, "--out", out, "--quiet")
    assert code == 0, text
    return out
