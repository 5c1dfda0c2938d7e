"""Peer: the bundled case's baseline as a plain Pyomo + HiGHS script.

    python benchmarks/pyomo_peer.py [CASE]

What a modeler without mineq's solve machinery would write: per mineral,
one Pyomo model of the same welfare program (:meth:`MarketModel.pyomo`,
whole program, no route generation, no polish), solved by HiGHS through
Pyomo's ``highs`` interface, prices and quantities read back, and a
summary printed.  The case is read and its coefficients built by mineq
(both count against the peer: their imports and time are in its wall
time), nothing is verified and nothing is written to a file.  Used by
``benchmarks/fast_start.py``; run alone it prints the time it took.
"""

from __future__ import annotations

import sys
import time

T0 = time.perf_counter()

from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pyomo.environ as pyo  # noqa: E402
from pyomo.contrib.solver.common.factory import SolverFactory  # noqa: E402

from mineq.models.program import MarketModel  # noqa: E402
from mineq.solver.case import load_case  # noqa: E402


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "cases" / "critical-minerals-54"
    case = load_case(path)
    solver = SolverFactory("highs")
    worst = []
    welfare = 0.0
    for name, market in case.markets.items():
        m = MarketModel(market).pyomo()
        res = solver.solve(m, load_solutions=True)
        if str(res.termination_condition).split(".")[-1] != "convergenceCriteriaSatisfied":
            worst.append(name)
        welfare += pyo.value(m.welfare)
    print(f"{len(case.markets)} baseline markets, {len(worst)} not optimal {worst[:3]}; scaled welfare {welfare:.6g}; {time.perf_counter() - T0:.2f} s")


if __name__ == "__main__":
    main()
