"""The solve loop: one welfare program per mineral, verified.

For each market the program is built once (:class:`models.market.MarketModel`)
and solved.  Markets with isoelastic curves are solved by successive
linearisation: each curve is replaced by its tangent at the current
quantity and the persistent model is re-solved (Josephy–Newton on the
equilibrium conditions) until the verifier, which uses the true curves,
accepts the solution.  No result leaves this module without a
:class:`solver.verify.Verification`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from models.market import Market, MarketModel, Solution, SolveError

from .verify import TOLERANCE, Verification, verify

#: successive-linearisation iterations before giving up on a market
MAX_ITERATIONS = 60

EQUILIBRIUM = "equilibrium"
NOT_CONVERGED = "not converged"


@dataclass
class MarketResult:
    """The outcome for one market: solution (if any), check and timings."""

    market: Market
    solution: Solution | None
    verification: Verification | None
    status: str
    iterations: int = 0
    message: str = ""
    times: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == EQUILIBRIUM

    @property
    def max_residual(self) -> float:
        return self.verification.max_residual if self.verification else float("nan")


def solve_market(market: Market, tol: float = TOLERANCE, max_iterations: int = MAX_ITERATIONS) -> MarketResult:
    """Solve and verify one market; never raises for solver trouble."""
    times = {}
    t0 = time.perf_counter()
    model = MarketModel(market)
    times["build"] = time.perf_counter() - t0
    times["solve"] = times["verify"] = 0.0
    sol = ver = None
    it = 0
    try:
        for it in range(1, max_iterations + 1):
            t = time.perf_counter()
            sol, q = model.solve()
            times["solve"] += time.perf_counter() - t
            t = time.perf_counter()
            ver = verify(market, sol, tol)
            times["verify"] += time.perf_counter() - t
            if not ver.ok and market.exact:
                # second attempt with tight HiGHS settings; keep the better
                try:
                    sol2, q2 = model.solve(tight=True)
                    ver2 = verify(market, sol2, tol)
                    if ver2.max_residual < ver.max_residual:
                        sol, q, ver = sol2, q2, ver2
                except SolveError:
                    pass
            if ver.ok or market.exact:
                break
            model.relinearise({pos: q[pos] for pos in model.nonlinear_owners})
    except SolveError as err:
        return MarketResult(market, sol, ver, err.status.split(" (")[0], it, str(err), times)
    sol.iterations = it
    if ver.ok:
        return MarketResult(market, sol, ver, EQUILIBRIUM, it, "", times)
    worst = "; ".join(f"{name} at {where}: {val:.2e}" for val, name, where in ver.worst(3))
    how = f"after {it} linearisation steps" if not market.exact else "from the quadratic program"
    msg = f"{market.name}: no verified equilibrium {how}; largest residuals {worst} (tolerance {tol:g})"
    return MarketResult(market, sol, ver, NOT_CONVERGED, it, msg, times)
