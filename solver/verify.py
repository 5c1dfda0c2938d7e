"""The independent equilibrium check (SPEC §2).

Given a market's inputs and a candidate solution (quantities and prices,
as stored in a result file), recompute every equilibrium condition from the
primal values and the *true* curves.  Nothing here touches the
optimisation model or solver duals: a solution is an equilibrium because
these residuals are small, not because HiGHS said "optimal".

Residuals are dimensionless: quantity residuals are divided by the
market's quantity scale, price residuals by its price scale.  A
complementarity condition ``a ⟂ b`` is judged with a quantity tolerance
``dq = tol * quantity_scale``: a quantity within ``dq`` of a bound or kink
counts as being at it, and the price must then lie in the interval the
curve allows there (see :meth:`models.curves.Curve.price_range`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from models.market import Market, Solution

#: default tolerance on every scaled residual
TOLERANCE = 1e-6


@dataclass
class Verification:
    """Residuals of every condition, keyed by condition name.

    ``labels[name][i]`` says where residual ``residuals[name][i]`` sits
    (node, route or process) so that a failure can be reported.
    """

    residuals: dict[str, np.ndarray] = field(default_factory=dict)
    labels: dict[str, list[str]] = field(default_factory=dict)
    tolerance: float = TOLERANCE

    def add(self, name: str, values, labels) -> None:
        self.residuals[name] = np.asarray(values, dtype=float)
        self.labels[name] = list(labels)

    @property
    def max_residual(self) -> float:
        vals = [float(np.max(v)) for v in self.residuals.values() if v.size]
        return max(vals) if vals else 0.0

    @property
    def ok(self) -> bool:
        return math.isfinite(self.max_residual) and self.max_residual <= self.tolerance

    def worst(self, n: int = 3) -> list[tuple[float, str, str]]:
        """The ``n`` largest residuals as (value, condition, where)."""
        rows = []
        for name, vals in self.residuals.items():
            for v, lab in zip(vals, self.labels[name]):
                rows.append((float(v) if math.isfinite(v) else math.inf, name, lab))
        rows.sort(key=lambda r: -r[0])
        return rows[:n]


def _range_gap(curve, q: float, price: float, dq: float) -> float:
    lo, hi = curve.price_range(q, dq)
    return max(0.0, lo - price, price - hi)


def _bound_gap(curve, q: float) -> float:
    return max(0.0, curve.lower - q, q - curve.upper)


def verify(market: Market, sol: Solution, tol: float = TOLERANCE) -> Verification:
    """Check SPEC §2 conditions 1–5 for ``sol`` against ``market``."""
    Q, P = market.quantity_scale, market.price_scale
    dq = tol * Q
    nodes = market.nodes
    nidx = {n: i for i, n in enumerate(nodes)}
    v = Verification(tolerance=tol)
    price = np.asarray(sol.price, dtype=float)
    # a node nothing touches has no price; every other node needs one
    bad_price = ~np.isfinite(price) & market.connected
    v.add("price_defined", np.where(bad_price, np.inf, 0.0), [f"price {s}/{r}" for s, r in nodes])

    S = np.nan_to_num(np.asarray(sol.supply, dtype=float))
    D = np.nan_to_num(np.asarray(sol.demand, dtype=float))
    X = np.asarray(sol.flow, dtype=float)
    Y = np.asarray(sol.processing, dtype=float)

    # 1. balance at each node
    net = S - D
    for i, p in enumerate(market.processes):
        net[nidx[(p.target, p.region)]] += Y[i]
        net[nidx[(p.source, p.region)]] -= p.theta * Y[i]
    routes = market.route_list
    for i, (s, o, d) in enumerate(routes):
        net[nidx[(s, o)]] -= X[i]
        net[nidx[(s, d)]] += X[i]
    v.add("balance", np.abs(net) / Q, [f"{s}/{r}" for s, r in nodes])

    # 2-3. producers and consumers at each node
    for side, curves, qty in (("supply", market.supply, S), ("demand", market.demand, D)):
        res, lab = [], []
        for (s, r), c in curves.items():
            i = nidx[(s, r)]
            res.append(max(_range_gap(c, qty[i], price[i], dq) / P, _bound_gap(c, qty[i]) / Q))
            lab.append(f"{side} {s}/{r}")
        absent = [i for i, n in enumerate(nodes) if n not in curves]
        raw = np.asarray(sol.supply if side == "supply" else sol.demand, dtype=float)
        for i in absent:
            if np.isfinite(raw[i]) and abs(raw[i]) > 0:
                res.append(abs(raw[i]) / Q)
                lab.append(f"{side} {nodes[i][0]}/{nodes[i][1]} (no {side} curve)")
        v.add(side, res, lab)

    # 4. spatial arbitrage on every allowed route
    res, lab = [], []
    for i, (s, o, d) in enumerate(routes):
        po, pd_ = price[nidx[(s, o)]], price[nidx[(s, d)]]
        gap = (po + market.routes[(s, o, d)] - pd_) / P  # landed minus destination price
        r_ = max(0.0, -X[i] / Q, -gap)
        if X[i] > dq:
            r_ = max(r_, gap)
        res.append(r_)
        lab.append(f"route {s} {o}->{d}")
    v.add("arbitrage", res, lab)

    # 5. processing margins
    res, lab = [], []
    for i, p in enumerate(market.processes):
        margin = price[nidx[(p.target, p.region)]] - p.theta * price[nidx[(p.source, p.region)]]
        res.append(max(_range_gap(p.cost, Y[i], margin, dq) / P, _bound_gap(p.cost, Y[i]) / Q))
        lab.append(f"processing {p.region} {p.source}->{p.target}")
    v.add("processing", res, lab)
    return v
