"""Extension by constraint: a policy written as Pyomo constraints on the
labelled formulation (:mod:`mineq.models.formulation`).

A modeler who needs a condition none of the built-in instruments writes
(a content requirement, a cap across stages, a purchase target) subclasses
:class:`Extension`, registers it like any instrument, and returns its
constraints from :meth:`Extension.constraints`, written on the labelled
quantities of one market in natural units::

    @register
    class PartnerContent(Extension):
        type = "partner_content"
        keys = ("region", "partners", "share")

        def read(self, spec, regions):
            self.region = regions.resolve(spec["region"], "region")[0]
            self.partners = regions.resolve(spec["partners"], "partners")
            self.share = number(spec, "share", minimum=0.0)
            self.holder = self.region  # who holds the row's rent

        def constraints(self, m, market):
            s, r = self.stage_of(market), self.region
            from_partners = sum(m.flow[s, o, r] for o in self.partners if (s, o, r) in m.ROUTES)
            return {"content": m.supply[s, r] + from_partners >= self.share * m.demand[s, r]}

Each constraint must be linear in the labelled quantities ``supply``,
``demand``, ``processing``, ``joint``, ``offtake``, ``flow`` and
``disposal`` (an :class:`Extension` may add government purchases first,
with the ``offtake`` primitive).  mineq reads it into a
:class:`Restriction` (``lower ≤ Σ coef·quantity ≤ upper``), adds it to the
program HiGHS solves (fast path included), and from then on it is a row
like the built-in ones:

* its shadow price ``μ`` (price unit per unit of the row) is stored with
  the results (``extension_price``), and enters every condition of the
  quantities it holds: a producer in the row earns ``P + μ·a``, a
  consumer pays ``P − μ·a``, a route's arbitrage condition gains ``μ·a``,
  and so on (``a``: the quantity's coefficient in the row);
* the verifier checks it generically from primal values: the row holds,
  ``μ ≥ 0`` where only the lower bound binds (``μ ≤ 0`` the upper),
  ``μ = 0`` where neither does, and every condition above with ``μ``;
* its rent: each quantity in the row gains ``μ·a·q`` in its own account
  (producer, consumer, processor surplus; the sellers' premium for a
  government purchase; a flow's traders pay ``μ·a`` out of the margin
  they would keep at market prices, and net nothing), and ``holder``'s
  ``extension_rent`` takes ``−μ·(row value)``, so the welfare identity
  holds whatever ``μ`` is.  A requirement met by a transfer (a content
  share, row value 0) has no net rent; a quantity target has one.

No other file of mineq changes for a new constraint.  Limits: an
extension may not hold a strategic seller's quantities (market power)
nor the minerals of a linked market (joint production); the MILP
fallback does not know extension rows (a market whose fixed point needs
it fails with a message saying so).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import SpecError
from .policies.base import Instrument

#: the labelled quantities a restriction may hold, and what indexes them
KINDS = ("supply", "demand", "processing", "joint", "offtake", "flow", "disposal")


@dataclass
class Restriction:
    """One row an extension adds: ``lower ≤ Σ coef·quantity ≤ upper``.

    ``terms`` maps ``(kind, index)`` to a coefficient: ``kind`` one of
    :data:`KINDS`, ``index`` a node (supply, demand, disposal), a process,
    an activity, an offtake's position in the plan or a route's position
    in :attr:`Market.route_list`.  Bounds in the row's own units (the
    quantity unit times the coefficients' units); ``holder`` is the
    region whose ``extension_rent`` takes the row's rent.
    """

    name: str
    terms: dict[tuple[str, int], float]
    lower: float = -math.inf
    upper: float = math.inf
    holder: str = ""
    source: str = ""

    def value(self, quantities: dict[str, object]) -> float:
        """``Σ coef·quantity`` at ``quantities`` (kind → array)."""
        return sum(c * float(quantities[kind][i]) for (kind, i), c in self.terms.items())


class Extension(Instrument):
    """A policy written as constraints on the labelled formulation.

    Subclasses set ``type`` and ``keys``, read their keys in :meth:`read`
    (setting ``self.holder``, the region that holds the rent) and return
    ``{name: constraint}`` from :meth:`constraints`.  :meth:`apply` may be
    extended to write other primitives first (``plan.offtakes`` for
    purchases); it must then call ``super().apply(plan, baseline)``.
    """

    holder: str = ""

    def constraints(self, m, market) -> dict:  # pragma: no cover - abstract
        """``{name: pyomo relational expression}`` on the skeleton ``m``
        of ``market`` (:func:`mineq.models.formulation.build` with
        ``skeleton=True``)."""
        raise NotImplementedError

    def apply(self, plan, baseline) -> None:
        plan.restrict(self)


def restrictions(extension: Extension, plan) -> list[Restriction]:
    """Read an extension's constraints on the market of ``plan`` into rows."""
    from pyomo.core.expr.relational_expr import EqualityExpression, InequalityExpression, RangedExpression
    from pyomo.repn import generate_standard_repn

    mk = plan.market
    m = plan.skeleton()
    where = _labels(m, mk, plan)
    try:
        got = extension.constraints(m, mk)
    except KeyError as err:
        import re

        said = re.search(r"Index '(.*)' is not valid for indexed component '(\w+)'", str(err.args[0] if err.args else err))
        what = f"{mk.name} has no {said.group(2)} {said.group(1)}" if said else f"{mk.name} has no {err}"
        raise SpecError(extension.type, type(extension).__name__ + ".constraints", f"constraints on quantities the market has ({what}; test membership first, e.g. `(stage, region) in m.SUPPLY_NODES`)") from None
    if not isinstance(got, dict):
        raise SpecError("constraints", type(got).__name__, f"a dict name → constraint from {type(extension).__name__}.constraints")
    out = []
    for name, expr in got.items():
        if isinstance(expr, bool):
            # Pyomo folds a constraint with no quantity in it to True/False
            if not expr:
                raise SpecError(extension.type, name, f"a constraint that some quantity of {mk.name} can meet (it reads as False)")
            continue
        if not isinstance(expr, (EqualityExpression, InequalityExpression, RangedExpression)):
            raise SpecError(extension.type, name, f"a Pyomo constraint (==, <= or >=) on labelled quantities; got {type(expr).__name__}")
        if isinstance(expr, RangedExpression):
            lo_e, body, up_e = expr.args
        else:
            lhs, rhs = expr.args
            body = lhs - rhs
            lo_e, up_e = (0.0, 0.0) if isinstance(expr, EqualityExpression) else (None, 0.0)
        repn = generate_standard_repn(body, quadratic=False)
        if not repn.is_linear():
            raise SpecError(extension.type, name, "a constraint linear in the labelled quantities")
        terms: dict = {}
        for v, c in zip(repn.linear_vars, repn.linear_coefs):
            if id(v) not in where:
                raise SpecError(extension.type, name, f"a constraint on supply, demand, processing, joint, offtake, flow or disposal; {v.name} is none of them")
            key = where[id(v)]
            terms[key] = terms.get(key, 0.0) + float(c)
        terms = {k: c for k, c in terms.items() if c != 0.0}
        const = float(repn.constant)
        lower = -math.inf if lo_e is None else float(_value(lo_e)) - const
        upper = math.inf if up_e is None else float(_value(up_e)) - const
        if not terms:
            if lower > 1e-12 * max(1.0, abs(lower)) or upper < -1e-12 * max(1.0, abs(upper)):
                raise SpecError(extension.type, name, f"a constraint that some quantity of {mk.name} can meet (no quantity of this market is in it)")
            continue
        if any(k == "flow" and i in plan.seller_routes() for k, i in terms) or any(k in ("supply", "processing") and _node_of(mk, k, i) in plan.seller_nodes() for k, i in terms):
            raise SpecError(extension.type, name, "a constraint off strategic sellers' output and exports (market_power): mineq does not check the two together yet")
        out.append(Restriction(f"{extension.label}: {name}", terms, lower, upper, extension.holder, extension.label))
    return out


def _value(x) -> float:
    import pyomo.environ as pyo

    return pyo.value(x)


def _node_of(market, kind: str, i: int) -> int:
    if kind == "processing":
        return int(market.process_nodes[1][i])
    return i


def _labels(m, market, plan) -> dict[int, tuple[str, int]]:
    """id of each skeleton variable → (kind, index)."""
    from .formulation import process_key

    nodes = market._node_position
    out = {}
    for key in m.supply:
        out[id(m.supply[key])] = ("supply", nodes[key])
    for key in m.demand:
        out[id(m.demand[key])] = ("demand", nodes[key])
    for key in m.disposal:
        out[id(m.disposal[key])] = ("disposal", nodes[key])
    pk = {process_key(market, k): k for k in range(len(market.processes))}
    for key in m.processing:
        out[id(m.processing[key])] = ("processing", pk[key])
    for j, jp in enumerate(market.joint):
        out[id(m.joint[(jp.name, jp.region)])] = ("joint", j)
    for key in m.offtake:
        out[id(m.offtake[key])] = ("offtake", key[2])
    for i, r in enumerate(market.route_list):
        out[id(m.flow[r])] = ("flow", i)
    return out


def attach(m, plan) -> None:
    """Add the plan's restrictions to a full labelled model ``m`` as
    ``m.extension[name]`` (so the labelled model and the fast program hold
    the same rows)."""
    import pyomo.environ as pyo

    from .formulation import process_key

    mk = plan.market
    nodes = mk.nodes

    def quantity(kind, i):
        if kind in ("supply", "demand", "disposal"):
            return getattr(m, kind)[nodes[i]]
        if kind == "processing":
            return m.processing[process_key(mk, i)]
        if kind == "joint":
            jp = mk.joint[i]
            return m.joint[(jp.name, jp.region)]
        if kind == "offtake":
            return m.offtake[(*nodes[plan.offtakes[i].node], i)]
        return m.flow[mk.route_list[i]]

    rows = {r.name: r for r in plan.extensions}
    m.EXTENSIONS = pyo.Set(initialize=list(rows), ordered=True)

    def rule(_, name):
        r = rows[name]
        body = sum(c * quantity(kind, i) for (kind, i), c in r.terms.items())
        return (None if math.isinf(r.lower) else r.lower, body, None if math.isinf(r.upper) else r.upper)

    m.extension = pyo.Constraint(m.EXTENSIONS, rule=rule)


def wedges(market, plan, mu) -> dict[str, object]:
    """Per labelled quantity: ``Σ_rows μ·a``, what the extension rows add to
    what it earns (price units): kind → array."""
    import numpy as np

    n = len(market.nodes)
    out = {"supply": np.zeros(n), "demand": np.zeros(n), "disposal": np.zeros(n), "processing": np.zeros(len(market.processes)),
           "joint": np.zeros(len(market.joint)), "offtake": np.zeros(len(plan.offtakes)), "flow": np.zeros(len(market.route_list))}
    for r, u in zip(plan.extensions, np.asarray(mu, dtype=float).tolist()):
        for (kind, i), c in r.terms.items():
            out[kind][i] += u * c
    return out


def quantities(market, sol, plan) -> dict[str, object]:
    """The labelled quantities of a solution, kind → array (NaN read as 0)."""
    import numpy as np

    nz = lambda a: np.where(np.isnan(np.asarray(a, dtype=float)), 0.0, np.asarray(a, dtype=float))  # noqa: E731
    n = len(market.nodes)
    return {"supply": nz(sol.supply), "demand": nz(sol.demand), "processing": np.asarray(sol.processing, dtype=float), "joint": np.asarray(sol.joint, dtype=float),
            "offtake": np.asarray(sol.offtake, dtype=float), "flow": np.asarray(sol.flow, dtype=float),
            "disposal": np.asarray(sol.disposal, dtype=float) if len(sol.disposal) else np.zeros(n)}
