"""Inverse supply, demand and processing-cost curves (SPEC §1).

A curve maps a quantity ``q`` (the mineral's quantity unit, e.g. kt) to a
price (the mineral's price unit): the marginal cost of supplying ``q`` or the
marginal value of consuming ``q``.  Supply and processing-cost curves are
non-decreasing, demand curves non-increasing.

Each curve serves two readers:

* the welfare program (``mineq.models.market``) asks for :meth:`Curve.segments`,
  blocks whose marginal value is affine in the block quantity.  For linear,
  step and fixed curves the blocks *are* the curve; an isoelastic curve
  returns its tangent at a linearisation point (successive linearisation,
  see ``mineq.solver.solve``).
* the verifier (``mineq.solver.verify``) asks for :meth:`Curve.price_range`, the
  prices at which a quantity is an optimal response of the true curve.  It
  never sees the blocks.

Forms: ``linear`` (``intercept``/``slope`` or ``price``/``quantity``/
``elasticity``), ``isoelastic`` (``price``/``quantity``/``elasticity``),
``steps`` (``blocks = [[quantity, price], ...]``) and ``fixed``
(``quantity``).  Any form may carry ``capacity``, an upper bound on ``q``.
Extra keys ``source``, ``confidence`` and ``notes`` document provenance and
do not change the curve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .errors import SpecError

INF = math.inf
SIDES = ("supply", "demand")
#: Keys that document a figure and are carried along, never interpreted.
PROVENANCE_KEYS = ("source", "confidence", "notes")
#: Accepted confidence labels for any figure in a case (see README).
CONFIDENCE_LABELS = ("reported", "derived", "estimated", "assumed")


@dataclass(frozen=True)
class Segment:
    """One block of a curve as the welfare program sees it.

    The block quantity ``z`` lies in ``[lower, upper]``; its marginal
    cost (supply) or marginal value (demand) is ``level + slope*z`` for
    supply and ``level - slope*z`` for demand, with ``slope >= 0``.
    """

    lower: float
    upper: float
    level: float
    slope: float


def _number(spec: dict, key: str, *, positive=False, nonneg=False, allow_inf=False) -> float:
    value = spec[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(key, value, "a number")
    value = float(value)
    if math.isnan(value) or (math.isinf(value) and not allow_inf):
        raise SpecError(key, value, "a finite number")
    if positive and not value > 0:
        raise SpecError(key, value, "a number > 0")
    if nonneg and value < 0:
        raise SpecError(key, value, "a number >= 0")
    return value


class Curve:
    """Base class: an inverse curve on one side of a market.

    Subclasses define ``form``, the accepted keys, how to read them, the
    marginal function and its integral.
    """

    form: ClassVar[str]
    #: keys that must be present, and keys that may be present
    required: ClassVar[tuple[str, ...]] = ()
    optional: ClassVar[tuple[str, ...]] = ("capacity",)
    #: True when :meth:`segments` is the curve itself (no linearisation)
    exact: ClassVar[bool] = True

    def __init__(self, spec: dict, side: str):
        if side not in SIDES:
            raise ValueError(side)
        self.side = side
        self.sign = 1.0 if side == "supply" else -1.0
        allowed = self._allowed()
        for key in spec:
            if key not in allowed:
                raise SpecError(key, spec[key], f"one of the keys of a {self.form} {side} curve: {', '.join(sorted(allowed))}")
        for key in self.required:
            if key not in spec:
                raise SpecError(key, "(missing)", f"a value: a {self.form} {side} curve needs {', '.join(self.required)}")
        if "confidence" in spec and spec["confidence"] not in CONFIDENCE_LABELS:
            raise SpecError("confidence", spec["confidence"], f"one of {', '.join(CONFIDENCE_LABELS)}")
        self.spec = dict(spec)
        self.capacity = _number(spec, "capacity", nonneg=True, allow_inf=True) if "capacity" in spec else INF
        self._read(spec)

    @classmethod
    def _allowed(cls) -> frozenset:
        """The keys a spec of this form may have: made once per class (an
        ensemble's draw reads 1,100 curves)."""
        got = cls.__dict__.get("_allowed_keys")
        if got is None:
            got = frozenset({"form", *cls.required, *cls.optional, *PROVENANCE_KEYS})
            setattr(cls, "_allowed_keys", got)
        return got

    # -- subclass interface -------------------------------------------
    def _read(self, spec: dict) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def value(self, q: float) -> float:
        """The inverse curve at ``q`` (continuous forms)."""
        raise NotImplementedError

    def left(self, q: float) -> float:
        """Limit of the inverse curve from below ``q``."""
        return self.value(q)

    def right(self, q: float) -> float:
        """Limit of the inverse curve from above ``q``."""
        return self.value(q)

    def integral(self, q: float) -> float:
        """``∫_0^q`` of the inverse curve; NaN where it diverges."""
        raise NotImplementedError

    def segments(self, at: float | None = None) -> list[Segment]:
        """Blocks for the welfare program (``at``: linearisation point)."""
        raise NotImplementedError

    def blocks(self, at: float | None = None) -> tuple[Segment, ...]:
        """:meth:`segments`, made once for an exact curve (they do not
        depend on ``at``, and a curve does not change once read): every
        program of a market, baseline and scenarios, asks for them."""
        if not self.exact:
            return self.segments(at)
        made = self.__dict__.get("_blocks")
        if made is None:
            made = self.__dict__["_blocks"] = tuple(self.segments())
        return made

    def scale_levels(self) -> tuple[float, ...]:
        """``|price|`` of the curve from below its reference quantity and
        of its blocks' levels, those finite and non-zero: what a market's
        price scale is the median of (:attr:`mineq.models.market.Market.price_scale`).
        Made once: a market and its linked market both ask, and a curve
        does not change once read."""
        made = self.__dict__.get("_scale_levels")
        if made is None:
            q = self.reference_quantity()
            levels = (self.left(q) if math.isfinite(q) else math.nan, *(s.level for s in self.blocks()))
            made = self.__dict__["_scale_levels"] = tuple(abs(v) for v in levels if math.isfinite(v) and v != 0)
        return made

    # -- shared behaviour ---------------------------------------------
    @property
    def lower(self) -> float:
        """Smallest feasible quantity."""
        return 0.0

    @property
    def upper(self) -> float:
        """Largest feasible quantity (capacity, block total, fixed level)."""
        return self.capacity

    def reference_quantity(self) -> float:
        """A quantity to start linearisation from.  Made once (a curve does
        not change once read): scaling, verifying and welfare ask for it
        some 5,800 times in a bundled draw."""
        q = self.__dict__.get("_reference")
        if q is None:
            q = self.__dict__["_reference"] = self._reference_quantity()
        return q

    def _reference_quantity(self) -> float:
        return min(max(self.lower, 1.0), self.upper)

    def quantity_at(self, price: float) -> float:
        """Largest quantity a supplier offers at ``price`` (``MC(q-) <= price``).

        Used for deficiency-payment floors: producers paid ``max(P, F)``
        produce at least ``quantity_at(F)``.  Generic bisection on the
        left limit; forms with a closed form override it.
        """
        lo, hi = self.lower, self.upper
        if self.left(lo) > price if lo > 0 else self.right(lo) > price:
            return lo
        if not math.isfinite(hi):
            hi = max(1.0, lo)
            while self.left(hi) <= price:
                hi *= 2.0
                if hi > 1e300:
                    return INF
        elif self.left(hi) <= price:
            return hi
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if self.left(mid) <= price:
                lo = mid
            else:
                hi = mid
            if hi - lo <= 1e-15 * max(1.0, hi):
                break
        return lo

    def integral_between(self, q0: float, q1: float) -> float:
        """``∫_q0^q1`` of the inverse curve: finite even where ``integral`` diverges."""
        return self.integral(q1) - self.integral(q0)

    def scaled(self, factor: float) -> "Curve":
        """The same producers with every quantity (and capacity) times ``factor``."""
        spec = {k: v for k, v in self.spec.items() if k not in ("source", "confidence", "notes")}
        if "capacity" in spec:
            spec["capacity"] = spec["capacity"] * factor
        if factor == 0:
            spec["capacity"] = 0.0
            return type(self)(spec, self.side) if self.form != "fixed" else Fixed({"quantity": 0.0}, self.side)
        return type(self)(self._scale_spec(spec, factor), self.side)

    def _scale_spec(self, spec: dict, factor: float) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def price_range(self, q: float, dq: float) -> tuple[float, float]:
        """Prices at which ``q`` is an optimal response, within ``dq``.

        A producer at ``q`` must not gain from producing more
        (``P <= MC(q+)``) nor, if ``q > 0``, from producing less
        (``P >= MC(q-)``); a consumer symmetrically.  At a bound the
        corresponding side is open (a capacity rent or a zero quantity).
        ``dq`` is the quantity tolerance, so that a quantity a hair past a
        kink or bound is judged as being at it.
        """
        at_lower = q - dq <= self.lower
        at_upper = q + dq >= self.upper
        below = self.left(max(q - dq, self.lower)) if not at_lower else None
        above = self.right(min(q + dq, self.upper)) if not at_upper else None
        if self.side == "supply":
            return (-INF if below is None else below, INF if above is None else above)
        return (-INF if above is None else above, INF if below is None else below)

    def residual(self, q: float, price: float, price_hi: float, dq: float, P: float, Q: float) -> float:
        """The equilibrium residual of an owner of this curve at ``q`` who
        earns (or pays) any price in ``[price, price_hi]``: the larger of
        the distance from that interval to :meth:`price_range` over ``P``
        and the distance from ``q`` to the curve's bounds over ``Q``
        (:func:`mineq.solver.verify.verify`, SPEC §2.2, §2.3 and §2.5)."""
        lo, hi = self.price_range(q, dq)
        return max(max(0.0, lo - price_hi, price - hi) / P, max(0.0, self.lower - q, q - self.upper) / Q)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.side}, {self.spec})"


class Linear(Curve):
    """``P = intercept + slope*q`` (supply) or ``intercept - slope*q`` (demand).

    Given by ``intercept`` and ``slope`` (``slope >= 0``; 0 is perfectly
    elastic), or calibrated through a reference point: ``price``,
    ``quantity`` and ``elasticity`` (``> 0`` for supply, ``< 0`` for
    demand), giving ``slope = |price / (elasticity*quantity)|``.
    """

    form = "linear"
    optional = ("intercept", "slope", "price", "quantity", "elasticity", "capacity")

    def _read(self, spec: dict) -> None:
        coef = {"intercept", "slope"} & spec.keys()
        ref = {"price", "quantity", "elasticity"} & spec.keys()
        if coef and ref:
            raise SpecError(sorted(ref)[0], spec[sorted(ref)[0]], "either intercept and slope, or price, quantity and elasticity, not both")
        if coef or not ref:
            for key in ("intercept", "slope"):
                if key not in spec:
                    raise SpecError(key, "(missing)", "a value: a linear curve needs intercept and slope (or price, quantity and elasticity)")
            self.intercept = _number(spec, "intercept")
            self.slope = _number(spec, "slope", nonneg=True)
            return
        for key in ("price", "quantity", "elasticity"):
            if key not in spec:
                raise SpecError(key, "(missing)", "a value: calibrating a linear curve needs price, quantity and elasticity")
        price = _number(spec, "price", positive=True)
        quantity = _number(spec, "quantity", positive=True)
        elasticity = _elasticity(spec, self.side)
        product = elasticity * quantity
        self.slope = abs(price / product) if product != 0 else math.inf
        self.intercept = price - self.sign * self.slope * quantity
        if not (math.isfinite(self.slope) and math.isfinite(self.intercept)):
            # elasticity × quantity underflowing to zero (1e-300 × 1e-300),
            # or a slope past the largest float: no curve to build
            raise SpecError("elasticity", elasticity, f"a value for which the curve's slope |price / (elasticity × quantity)| and intercept are finite numbers (with price {price:g} and quantity {quantity:g} they overflow)")

    def value(self, q):
        return self.intercept + self.sign * self.slope * q

    def price_range(self, q, dq):
        # Curve.price_range with its calls written out (left = right =
        # value, lower = 0): the verifier asks this of every curve at every
        # iterate, and the generic version's calls were a third of its time
        cap = self.capacity
        b = self.sign * self.slope
        below = None if q - dq <= 0.0 else self.intercept + b * max(q - dq, 0.0)
        above = None if q + dq >= cap else self.intercept + b * min(q + dq, cap)
        if self.side == "supply":
            return (-INF if below is None else below, INF if above is None else above)
        return (-INF if above is None else above, INF if below is None else below)

    def residual(self, q, price, price_hi, dq, P, Q):
        # Curve.residual with the bounds written out (lower = 0, upper =
        # capacity): the verifier asks it of every curve at every iterate
        lo, hi = self.price_range(q, dq)
        return max(max(0.0, lo - price_hi, price - hi) / P, max(0.0, -q, q - self.capacity) / Q)

    def integral(self, q):
        return self.intercept * q + self.sign * 0.5 * self.slope * q * q

    def scale_levels(self):
        # Curve.scale_levels with left and blocks written out (left(q) =
        # value(q); one block, levelled at the intercept): the same
        # numbers, for the 1,100 curves a draw makes
        made = self.__dict__.get("_scale_levels")
        if made is None:
            q = self.reference_quantity()
            levels = (self.intercept + self.sign * self.slope * q if math.isfinite(q) else math.nan, self.intercept)
            made = self.__dict__["_scale_levels"] = tuple(abs(v) for v in levels if math.isfinite(v) and v != 0)
        return made

    def segments(self, at=None):
        return [Segment(0.0, self.capacity, self.intercept, self.slope)]

    def quantity_at(self, price):
        if self.slope == 0:
            return self.upper if self.intercept <= price else 0.0
        return min(max((price - self.intercept) / self.slope, 0.0), self.upper)

    def _scale_spec(self, spec, factor):
        if "quantity" in spec:
            spec["quantity"] = spec["quantity"] * factor
        else:
            spec["slope"] = spec["slope"] / factor
        return spec

    def _reference_quantity(self):
        if "quantity" in self.spec:
            return min(float(self.spec["quantity"]), self.upper)
        return super()._reference_quantity()


def _elasticity(spec: dict, side: str) -> float:
    e = _number(spec, "elasticity")
    if side == "supply" and not e > 0:
        raise SpecError("elasticity", e, "a supply elasticity > 0 (use form = \"fixed\" for a perfectly inelastic supply)")
    if side == "demand" and not e < 0:
        hint = f" (did you mean {-e}?)" if e > 0 else " (use form = \"fixed\" for a perfectly inelastic demand)"
        raise SpecError("elasticity", e, "a demand elasticity < 0" + hint)
    return e


class Isoelastic(Curve):
    """``P = price * (q/quantity)**(1/elasticity)``: constant elasticity.

    Not a quadratic-program curve: the solver linearises it at the current
    quantity and re-solves until the true curve's conditions hold
    (``exact = False``).  The consumer-surplus integral diverges for demand
    with ``|elasticity| <= 1``; only changes are meaningful then.
    """

    form = "isoelastic"
    required = ("price", "quantity", "elasticity")
    exact = False
    #: the linearised block is kept within [q/TRUST, q*TRUST] of the point
    TRUST = 4.0

    def _read(self, spec):
        self.p0 = _number(spec, "price", positive=True)
        self.q0 = _number(spec, "quantity", positive=True)
        self.e = _elasticity(spec, self.side)
        self.k = 1.0 / self.e

    def value(self, q):
        if q <= 0:
            return 0.0 if self.side == "supply" else INF
        return self.p0 * (q / self.q0) ** self.k

    def integral(self, q):
        if q <= 0:
            return 0.0
        power = 1.0 + self.k
        if power <= 0:
            return math.nan
        return self.p0 * self.q0 * (q / self.q0) ** power / power

    def _reference_quantity(self):
        return min(self.q0, self.upper)

    def quantity_at(self, price):
        if price <= 0:
            return 0.0
        return min(self.q0 * (price / self.p0) ** self.e, self.upper)

    def integral_between(self, q0, q1):
        power = 1.0 + self.k
        if q0 <= 0 or q1 <= 0:
            return self.integral(q1) - self.integral(q0)
        if abs(power) < 1e-12:
            return self.p0 * self.q0 * math.log(q1 / q0)
        return self.p0 * self.q0 * ((q1 / self.q0) ** power - (q0 / self.q0) ** power) / power

    def _scale_spec(self, spec, factor):
        spec["quantity"] = spec["quantity"] * factor
        return spec

    def segments(self, at=None):
        q = self.reference_quantity() if at is None else min(at, self.upper)
        q = max(q, 1e-9 * self.q0)
        p = self.value(q)
        slope = abs(p * self.k / q)
        lower = q / self.TRUST
        upper = min(q * self.TRUST, self.capacity)
        return [Segment(min(lower, upper), upper, p - self.sign * slope * q, slope)]


class Steps(Curve):
    """Blocks ``[[quantity, price], ...]``.

    Supply: block ``i`` offers ``quantity_i`` units at marginal cost
    ``price_i`` (blocks are used cheapest first).  Demand: block ``i`` wants
    ``quantity_i`` units valued at ``price_i`` (highest value first).  The
    inverse curve is a staircase; at a step any price between the two
    levels clears the market.
    """

    form = "steps"
    required = ("blocks",)

    def _read(self, spec):
        blocks = spec["blocks"]
        if not isinstance(blocks, (list, tuple)) or not blocks:
            raise SpecError("blocks", blocks, "a non-empty list of [quantity, price] pairs")
        rows = []
        for i, blk in enumerate(blocks):
            if not isinstance(blk, (list, tuple)) or len(blk) != 2:
                raise SpecError(f"blocks[{i}]", blk, "a pair [quantity, price]")
            try:
                qty = _number({"quantity": blk[0]}, "quantity", nonneg=True)
                price = _number({"price": blk[1]}, "price")
            except SpecError as err:
                raise err.prefixed(f"blocks[{i}]") from None
            rows.append((qty, price))
        rows.sort(key=lambda r: self.sign * r[1])
        self.qty = np.array([r[0] for r in rows])
        self.price = np.array([r[1] for r in rows])
        self.cum = np.cumsum(self.qty)

    @property
    def upper(self):
        return min(self.capacity, float(self.cum[-1]))

    def _reference_quantity(self):
        # where the last block starts: a last block is often a backstop
        # (1e12 kt at a prohibitive price) whose size says "no limit", not
        # how much trades, and scaling a program by it hid the other
        # blocks below HiGHS's tolerances (issue 17)
        start = float(self.cum[-2]) if len(self.cum) > 1 else 0.0
        return min(start, self.upper) if start > 0 else self.upper / 2

    def left(self, q):
        i = int(np.searchsorted(self.cum, q, side="left"))
        return float(self.price[min(i, len(self.price) - 1)])

    def right(self, q):
        i = int(np.searchsorted(self.cum, q, side="right"))
        return float(self.price[min(i, len(self.price) - 1)])

    def _scale_spec(self, spec, factor):
        spec["blocks"] = [[q * factor, p] for q, p in spec["blocks"]]
        return spec

    def integral(self, q):
        start = self.cum - self.qty
        used = np.clip(q - start, 0.0, self.qty)
        return float(np.dot(used, self.price))

    def segments(self, at=None):
        out, room = [], self.capacity
        for qty, price in zip(self.qty, self.price):
            size = min(float(qty), room)
            out.append(Segment(0.0, size, float(price), 0.0))
            room -= size
        return out


class Fixed(Curve):
    """A fixed quantity: perfectly inelastic demand or exogenous supply.

    Its integral is undefined for demand (NaN: report surplus changes only)
    and taken as zero cost for supply (surplus = revenue).
    """

    form = "fixed"
    required = ("quantity",)
    optional = ()

    def _read(self, spec):
        self.quantity = _number(spec, "quantity", nonneg=True)

    @property
    def lower(self):
        return self.quantity

    @property
    def upper(self):
        return self.quantity

    def value(self, q):
        return math.nan

    def integral(self, q):
        return 0.0 if self.side == "supply" else math.nan

    def integral_between(self, q0, q1):
        # the quantity cannot move: a change of surplus is price times quantity only
        return 0.0 if abs(q1 - q0) <= 1e-12 * max(1.0, abs(q0)) else math.nan

    def quantity_at(self, price):
        return self.quantity

    def _scale_spec(self, spec, factor):
        spec["quantity"] = spec["quantity"] * factor
        return spec

    def segments(self, at=None):
        return [Segment(self.quantity, self.quantity, 0.0, 0.0)]


#: a :class:`Sum` of fewer blocks computes its totals in Python floats
SMALL_SUM = 8


class Sum(Curve):
    """Several groups of suppliers at one node: the horizontal sum of their
    (exact) curves, e.g. primary output and secondary (scrap) output.

    The welfare program sees every part's blocks, so it uses the cheapest
    first whatever part they belong to; the verifier sees the inverse of
    the summed supply, computed here from the parts' blocks.  :meth:`split`
    tells how much of a node's total each part supplies (at the price the
    total implies; on a flat step shared by several parts, the earlier
    parts first).  Built by the case reader from a node's ``supply`` and
    ``secondary`` curves; not a form a case names.
    """

    form = "sum"
    required = ("parts",)
    optional = ()

    def __init__(self, parts: list[Curve], side: str = "supply", names: tuple[str, ...] | None = None):
        #: what each part is (e.g. ``("primary", "secondary")``)
        self.names = tuple(names) if names is not None else tuple(f"part{k}" for k in range(len(parts)))
        for k, p in enumerate(parts):
            if not p.exact:
                raise SpecError(f"parts[{k}].form", p.form, "an exact form (linear, steps or fixed) for a curve summed with another")
            if p.side != side:
                raise ValueError("parts of a Sum are on one side")
        self.parts = list(parts)
        super().__init__({"form": "sum", "parts": [p.spec for p in parts]}, side)

    def _read(self, spec):
        segs = [s for p in self.parts for s in p.blocks()]
        self._lev = np.array([s.level for s in segs], dtype=float)
        self._slo = np.array([s.slope for s in segs], dtype=float)
        self._lo = np.array([s.lower for s in segs], dtype=float)
        self._up = np.array([s.upper for s in segs], dtype=float)
        width = self._up - self._lo
        ends = self._lev + self._slo * np.where(np.isfinite(width), width, 0.0)
        self._knots = np.unique(np.concatenate([self._lev, ends]))
        # the blocks as Python floats, for :meth:`_total_at`: a node's
        # primary and secondary supply are two or three blocks, where
        # numpy's per-call cost was most of the verifier's and the welfare
        # accounts' time on such a node
        self._rows = list(zip(self._lev.tolist(), self._slo.tolist(), self._lo.tolist(), self._up.tolist())) if len(segs) < SMALL_SUM else None
        self._knot_list = self._knots.tolist()

    def _total_at(self, p: float, flat_in: bool) -> float:
        """``float(self._blocks_at(p, flat_in).sum())``, the same number:
        in Python floats for fewer than :data:`SMALL_SUM` blocks, each
        block's supply as numpy computes it and summed in numpy's order
        for so few (one after the other; from 8 on numpy sums pairwise)."""
        rows = self._rows
        if rows is None:
            return float(self._blocks_at(p, flat_in).sum())
        total = 0.0  # as numpy's sum starts: -0.0 blocks sum to 0.0
        for lev, slo, lo, up in rows:
            if slo > 0:
                z = max((p - lev) / slo, 0.0) + lo
            else:
                z = up if (lev <= p if flat_in else lev < p) else lo
            total += min(z, up)
        return total

    def _blocks_at(self, p: float, flat_in: bool) -> np.ndarray:
        """Each block's supply at price ``p``; a flat block priced exactly
        at ``p`` counted in full (``flat_in``) or not at all."""
        lev, slo, lo, up = self._lev, self._slo, self._lo, self._up
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(slo > 0, np.clip((p - lev) / np.where(slo > 0, slo, 1.0), 0.0, None) + lo, np.where((lev <= p) if flat_in else (lev < p), up, lo))
        return np.minimum(z, up)

    def _qmax(self, p: float) -> float:
        """Total supply at price ``p``, flat blocks at ``p`` counted in full."""
        return self._total_at(p, True)

    def _qmin(self, p: float) -> float:
        """Total supply at price ``p``, flat blocks at ``p`` not counted."""
        return self._total_at(p, False)

    def _inverse(self, q: float, strict: bool) -> float:
        """The smallest price at which total supply reaches ``q``
        (``strict``: exceeds ``q``), between knots by linear interpolation."""
        reach = (lambda v: v > q) if strict else (lambda v: v >= q)
        knots = self._knot_list
        prev = None
        for p in knots:
            if reach(self._qmax(p)):
                if prev is None:
                    return float(p)
                a, b = self._qmax(prev), self._qmin(p)  # linear in between
                if b > a and (b > q if strict else b >= q):
                    return float(prev + (p - prev) * (q - a) / (b - a))
                return float(p)
            prev = p
        # past the last knot only sloped blocks without a bound still rise
        a = self._qmax(prev) if prev is not None else 0.0
        rate = self.__dict__.get("_rate")
        if rate is None:
            rate = self.__dict__["_rate"] = float(np.sum(np.where((self._slo > 0) & ~np.isfinite(self._up), 1.0 / np.where(self._slo > 0, self._slo, 1.0), 0.0)))
        if rate <= 0:
            return INF
        return float(prev + (q - a) / rate)

    @property
    def lower(self):
        return float(self._lo.sum())

    @property
    def upper(self):
        return float(sum(p.upper for p in self.parts))

    def left(self, q):
        return self._inverse(q, strict=False)

    def right(self, q):
        return self._inverse(q, strict=True)

    def value(self, q):
        return self.left(q)

    def split(self, q: float) -> list[float]:
        """The part of a total output ``q`` each part supplies."""
        p = self.left(q)
        lev, slo, up = self._lev, self._slo, self._up
        z = self._blocks_at(p, False)
        rest = q - float(z.sum())
        for k in np.flatnonzero((slo == 0) & (lev == p)):
            add = min(max(rest, 0.0), up[k] - z[k])
            z[k] += add
            rest -= add
        out, at = [], 0
        for part in self.parts:
            n = len(part.blocks())
            out.append(float(z[at:at + n].sum()))
            at += n
        return out

    def integral(self, q):
        return float(sum(p.integral(x) for p, x in zip(self.parts, self.split(q))))

    def quantity_at(self, price):
        return float(sum(p.quantity_at(price) for p in self.parts))

    def _reference_quantity(self):
        return float(sum(p.reference_quantity() for p in self.parts))

    def segments(self, at=None):
        return [s for p in self.parts for s in p.blocks()]

    def scaled(self, factor):
        return Sum([p.scaled(factor) for p in self.parts], self.side, self.names)

    def part(self, name: str) -> Curve | None:
        """The part called ``name``, or None."""
        return self.parts[self.names.index(name)] if name in self.names else None


#: form name -> class.  A new form is one subclass and one entry here.
FORMS: dict[str, type[Curve]] = {cls.form: cls for cls in (Linear, Isoelastic, Steps, Fixed)}


def make_curve(spec: Any, side: str) -> Curve:
    """Read a curve from its key/value specification, raising SpecError."""
    if not isinstance(spec, dict):
        raise SpecError("", spec, "a table of curve keys such as { form = \"linear\", intercept = 10.0, slope = 1.0 }")
    form = spec.get("form", "linear")
    if not isinstance(form, str) or form not in FORMS:
        raise SpecError("form", form, f"one of {', '.join(FORMS)}")
    return FORMS[form](spec, side)

