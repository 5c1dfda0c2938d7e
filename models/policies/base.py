"""The instrument interface and registry.

An instrument is a class with a ``type`` (its name in case files), the
keys it accepts, a constructor that validates one case-file entry, and
:meth:`Instrument.apply`, which writes primitives on a
:class:`mineq.models.policies.plan.PolicyPlan`.  Register it with
:func:`register`; the case reader, the solver, the verifier and the
welfare accounts then know it.  See ``README.md`` ("Adding an
instrument") for a complete example written outside the package.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..curves import PROVENANCE_KEYS
from ..errors import SpecError
from ..market import Market, Solution
from .plan import PolicyPlan

#: keys every instrument accepts
COMMON_KEYS = ("type", "minerals", "stage", "description", *PROVENANCE_KEYS)

#: type name -> instrument class
INSTRUMENTS: dict[str, type["Instrument"]] = {}


def register(cls: type["Instrument"]) -> type["Instrument"]:
    """Class decorator: make ``cls`` available under ``cls.type``."""
    if not getattr(cls, "type", None):
        raise TypeError(f"{cls.__name__} needs a class attribute 'type' (its name in case files)")
    INSTRUMENTS[cls.type] = cls
    return cls


@dataclass
class Regions:
    """The case's regions and groups, to resolve ``"USA"`` or ``"@partners"``."""

    regions: list[str]
    groups: dict[str, list[str]]

    def __post_init__(self):
        self._known = frozenset(r for r in self.regions if isinstance(r, str))

    def resolve(self, value, key: str) -> list[str]:
        if isinstance(value, str) and value in self._known and not value.startswith("@"):
            return [value]  # one region: the common case (a route's origin)
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not names:
            raise SpecError(key, value, "a region, '@group', or a non-empty list of them")
        out: list[str] = []
        for n in names:
            if isinstance(n, str) and n.startswith("@") and n[1:] in self.groups:
                out += [r for r in self.groups[n[1:]] if r not in out]
            elif n in self.regions:
                if n not in out:
                    out.append(n)
            else:
                groups = ", ".join("@" + g for g in self.groups) or "no groups defined"
                raise SpecError(key, n, f"a region ({', '.join(self.regions)}) or a group written '@name' ({groups})")
        return out


def number(spec: dict, key: str, *, minimum: float | None = None, strict: bool = False, default=None, allow_inf: bool = False) -> float:
    """A numeric key, validated (SpecError names key, value and expectation)."""
    if key not in spec:
        if default is not None:
            return default
        raise SpecError(key, "(missing)", "a number")
    v = spec[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v) or (math.isinf(v) and not allow_inf):
        raise SpecError(key, v, "a finite number")
    v = float(v)
    if minimum is not None and (v <= minimum if strict else v < minimum):
        raise SpecError(key, v, f"a number {'>' if strict else '>='} {minimum:g}")
    return v


def rates(spec: dict) -> tuple[float, float]:
    """``ad_valorem`` (a fraction) and/or ``specific`` (price units per unit), both >= 0."""
    if "ad_valorem" not in spec and "specific" not in spec:
        raise SpecError("ad_valorem", "(missing)", "ad_valorem (a fraction such as 0.25) and/or specific (price units per unit)")
    return number(spec, "ad_valorem", minimum=0.0, default=0.0), number(spec, "specific", minimum=0.0, default=0.0)


def choice(spec: dict, key: str, options: tuple[str, ...], default: str | None = None) -> str:
    v = spec.get(key, default)
    if v not in options:
        raise SpecError(key, v if v is not None else "(missing)", "one of " + ", ".join(f'"{o}"' for o in options))
    return v


class Instrument:
    """Base class of every policy instrument.

    Subclasses set ``type`` and ``keys`` and implement :meth:`read` (store
    and validate the entry's own keys) and :meth:`apply`.  ``priority``
    orders application within a scenario: instruments that change the
    market itself (capacity) go first.
    """

    type: ClassVar[str] = ""
    keys: ClassVar[tuple[str, ...]] = ()
    priority: ClassVar[int] = 10

    def __init__(self, spec: dict, regions: Regions, markets: dict[str, Market]):
        allowed = (*COMMON_KEYS, *self.keys)
        for k in spec:
            if not k.startswith("_") and k not in allowed:
                raise SpecError(k, spec[k], f"one of the keys of a {self.type} policy: {', '.join(allowed)}")
        self.spec = dict(spec)
        self.description = spec.get("description", "")
        mins = spec.get("minerals", "(missing)")
        mins = [mins] if isinstance(mins, str) else mins
        if not isinstance(mins, list) or not mins:
            raise SpecError("minerals", spec.get("minerals", "(missing)"), "a list of minerals of the case, or \"*\" for all")
        for mn in mins:
            if mn != "*" and (not isinstance(mn, str) or mn not in markets):
                raise SpecError("minerals", mn, "a mineral of the case (" + ", ".join(markets) + ") or \"*\"")
        self.minerals = None if "*" in mins else list(mins)
        self.stage = spec.get("stage")
        if self.stage is not None:
            if not isinstance(self.stage, str):
                raise SpecError("stage", self.stage, "a stage name")
            if self.minerals is not None:
                for mn in self.minerals:
                    if self.stage not in markets[mn].stages:
                        raise SpecError("stage", self.stage, f"a stage of {mn}: " + ", ".join(markets[mn].stages))
            elif not any(self.stage in m.stages for m in markets.values()):
                raise SpecError("stage", self.stage, "a stage of at least one mineral")
        self.read(spec, regions)

    # -- subclass interface ---------------------------------------------
    def read(self, spec: dict, regions: Regions) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def apply(self, plan: PolicyPlan, baseline: Solution | None) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- shared helpers --------------------------------------------------
    @property
    def needs_baseline(self) -> bool:
        return "level_vs_baseline" in self.spec

    def covers(self, market: Market) -> bool:
        """Does this policy touch ``market`` (mineral listed, stage present)?"""
        if self.minerals is not None and market.name not in self.minerals:
            return False
        return self.stage is None or self.stage in market.stages

    def stage_of(self, market: Market) -> str:
        """The policy's stage in ``market``: as given, else the last stage."""
        return self.stage if self.stage is not None else market.stages[-1]

    def read_level(self, spec: dict) -> None:
        """``level`` (absolute) or ``level_vs_baseline`` (times the baseline price)."""
        if ("level" in spec) == ("level_vs_baseline" in spec):
            raise SpecError("level", spec.get("level", "(missing)"), "exactly one of level (absolute price) or level_vs_baseline (factor times the baseline price)")
        if "level" in spec:
            self.level, self.relative = number(spec, "level"), False
        else:
            self.level, self.relative = number(spec, "level_vs_baseline", minimum=0.0), True

    def level_at(self, market: Market, node: int, baseline: Solution | None) -> float:
        """The absolute level at a node (resolving ``level_vs_baseline``)."""
        if not self.relative:
            return self.level
        if baseline is None:
            raise ValueError(f"{self.type}: level_vs_baseline needs the baseline solution")
        p = float(baseline.price[node])
        if not np.isfinite(p):
            s, r = market.nodes[node]
            raise SpecError("level_vs_baseline", self.level, f"a node with a baseline price ({market.name} {s}/{r} has none; give an absolute level)")
        return self.level * p

    @property
    def label(self) -> str:
        return self.description or self.type

    def route_indices(self, market: Market, stage: str, importers: list[str] | None, exporters: list[str] | None) -> list[int]:
        """Indices of allowed routes at ``stage`` from ``exporters`` to ``importers``."""
        out = []
        for o, dests in market.route_table.get(stage, {}).items():
            if exporters is None or o in exporters:
                out += [i for d, i in dests.items() if importers is None or d in importers]
        return sorted(out)


def origins_of(spec: dict, regions: Regions, key_list: str) -> list[str] | None:
    """Covered partners by list (``origins``/``destinations``) or by ``exempt``.

    Returns None for "every other region".
    """
    if key_list in spec and "exempt" in spec:
        raise SpecError("exempt", spec["exempt"], f"either {key_list} or exempt, not both")
    if key_list in spec:
        return regions.resolve(spec[key_list], key_list)
    if "exempt" in spec:
        ex = regions.resolve(spec["exempt"], "exempt")
        return [r for r in regions.regions if r not in ex]
    return None
