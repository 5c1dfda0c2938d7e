"""Derived cases: a changed copy of a case, made from its canonical data.

A :class:`mineq.solver.case.Case` is built from its canonical dictionary
(:func:`mineq.solver.case.read_case`), and a result file stores that
dictionary as ``case_json`` so that ``mineq verify`` can rebuild the inputs.
Changing a built object (``case.scenarios[0].instruments[0].level = 45``)
changes what is solved but not what is stored, and the written file then
fails ``mineq verify``.  So a change is made here on a deep copy of the
canonical dictionary and the case is built again from it: the derived
case's ``case_json`` and ``input_hash`` are its inputs, validated like a
case file, and the original case is left as it was.

:func:`drift` finds the other way round: built objects that no longer
match the canonical data they were built from.

Every function takes and returns plain dictionaries in the case-file
form (``[[minerals]]`` entries with ``nodes`` holding ``demand``/``supply``
curve tables, ``[[scenarios]]`` with ``policies``); numbers are in the
mineral's own units, as in the case file.
"""

from __future__ import annotations

import copy
import json
import math
from functools import cached_property
from typing import Any, Callable

from .case import BASELINE, CURVE_SIDES, Case, build_case
from .errors import CaseError, MineqError

#: the keys that set a policy's level; one of them, never both
LEVEL_KEYS = ("level", "level_vs_baseline")


def derive(case: Case, edit: Callable[[dict], dict | None], note: str) -> Case:
    """``case`` with ``edit`` applied to a deep copy of its canonical data.

    ``edit`` changes the dictionary in place (or returns a new one).
    ``note`` says what was changed; it is appended to the data's
    ``_derived`` list, so the result file's ``case_json`` records how the
    inputs were made.  The new data is validated by
    :func:`mineq.solver.case.build_case`; a bad value raises the usual
    :class:`mineq.solver.errors.CaseError`.
    """
    data = copy.deepcopy(case.data)
    out = edit(data)
    if out is not None:
        data = out
    if not isinstance(data, dict):
        raise MineqError(f"A case change must leave a dictionary in the case-file form; it gave {type(data).__name__}.")
    data["_derived"] = [*data.get("_derived", []), note]
    return build_case(data)


def mineral_entry(data: dict, mineral: str) -> dict:
    """The ``[[minerals]]`` entry named ``mineral``."""
    for m in data.get("minerals", []):
        if isinstance(m, dict) and m.get("name") == mineral:
            return m
    names = ", ".join(str(m.get("name")) for m in data.get("minerals", []) if isinstance(m, dict))
    raise MineqError(f"No mineral '{mineral}' in the case; its minerals are: {names}.")


def curve_entry(data: dict, mineral: str, stage: str, region: str, side: str) -> dict:
    """The curve table (``demand``, ``supply``) of a node, or a processing
    ``cost`` curve when ``side`` is ``"processing"`` (the process in
    ``region`` whose output stage is ``stage``)."""
    m = mineral_entry(data, mineral)
    if side == "processing":
        for p in m.get("processing", []):
            if isinstance(p, dict) and p.get("region") == region and p.get("to") == stage:
                return p["cost"]
        raise MineqError(f"{mineral} has no processing into {stage} in {region}.")
    if side not in CURVE_SIDES:
        raise MineqError(f"Curve side '{side}': expected one of {', '.join(CURVE_SIDES)} or processing.")
    for n in m.get("nodes", []):
        if isinstance(n, dict) and n.get("stage") == stage and n.get("region") == region:
            if side not in n:
                raise MineqError(f"{mineral} {stage}/{region} has no {side} curve; its node has: {', '.join(s for s in CURVE_SIDES if s in n)}.")
            return n[side]
    raise MineqError(f"{mineral} has no node {stage}/{region} in the case.")


def set_curve(data: dict, mineral: str, stage: str, region: str, side: str, keys: dict[str, Any], drop: tuple[str, ...] = ()) -> None:
    """Set ``keys`` of one curve in place (and remove ``drop``)."""
    curve = curve_entry(data, mineral, stage, region, side)
    for k in drop:
        curve.pop(k, None)
    curve.update(keys)


def set_elasticity(data: dict, mineral: str, stage: str, region: str, side: str, value: float) -> None:
    """Set the ``elasticity`` of a curve given through a reference point.

    Only a curve with an ``elasticity`` key has one to change: a linear
    curve calibrated by ``price``/``quantity``/``elasticity`` (its slope
    becomes ``|price / (elasticity·quantity)|``, through the same point)
    or an isoelastic one.  A linear curve given by ``intercept``/``slope``
    has a different elasticity at every quantity: change its ``slope``
    with :func:`set_curve` instead.
    """
    curve = curve_entry(data, mineral, stage, region, side)
    if "elasticity" not in curve:
        given = ", ".join(k for k in curve if not k.startswith("_"))
        raise MineqError(f"The {side} curve of {mineral} {stage}/{region} has no elasticity to change (it is given by {given}); "
                         "set its keys with with_curve(...) instead, e.g. slope for a linear curve.")
    curve["elasticity"] = value


def scenario_entry(data: dict, scenario: str) -> dict:
    """The ``[[scenarios]]`` entry named ``scenario``."""
    for s in data.get("scenarios", []):
        if isinstance(s, dict) and s.get("name") == scenario:
            return s
    names = ", ".join(str(s.get("name")) for s in data.get("scenarios", []) if isinstance(s, dict))
    raise MineqError(f"Scenario '{scenario}' is not in the case; its scenarios are: {names or '(none)'}.")


def chosen_policies(data: dict, scenario: str, policy: int | str | None) -> list[dict]:
    """The policy entries of ``scenario`` that ``policy`` names.

    ``policy`` is a position counted from 1, as in ``mineq sweep --set
    1.level=...``; or an instrument type (every policy of that type); or
    None (every policy of the scenario).
    """
    pols = scenario_entry(data, scenario).get("policies", [])
    if policy is None:
        return list(pols)
    if isinstance(policy, bool) or not isinstance(policy, (int, str)):
        raise MineqError(f"Policy {policy!r}: expected its position in scenario '{scenario}' (1, 2, ...) or its type.")
    if isinstance(policy, int):
        if not 1 <= policy <= len(pols):
            raise MineqError(f"Scenario '{scenario}' has policies 1 to {len(pols)} (counted from 1, as on the command line), not {policy}.")
        return [pols[policy - 1]]
    out = [p for p in pols if p.get("type") == policy]
    if not out:
        raise MineqError(f"Scenario '{scenario}' has no policy of type '{policy}'; its types: {', '.join(str(p.get('type')) for p in pols) or '(none)'}.")
    return out


def set_policy(data: dict, scenario: str, policy: int | str | None, keys: dict[str, Any]) -> None:
    """Set ``keys`` on the chosen policies (:func:`chosen_policies`).

    With ``policy`` None, only the policies that have the keys already
    (as ``mineq sweep --set KEY=...`` without POLICY): a tariff's
    ``ad_valorem`` is not pushed onto the scenario's quota.  A level key
    (``level`` or ``level_vs_baseline``) replaces the other one: a policy
    has exactly one.
    """
    chosen = chosen_policies(data, scenario, policy)
    if policy is None:
        def has(p, k):
            return any(x in p for x in LEVEL_KEYS) if k in LEVEL_KEYS else k in p
        chosen = [p for p in chosen if all(has(p, k) for k in keys)]
        if not chosen:
            raise MineqError(f"No policy of scenario '{scenario}' has the keys {', '.join(keys)}; name the policy (its position, counted from 1, or its type) to add them.")
    for p in chosen:
        if any(k in keys for k in LEVEL_KEYS):
            for k in LEVEL_KEYS:
                p.pop(k, None)
        p.update(keys)


def set_policy_level(data: dict, scenario: str, policy: int | str | None, level: float | None, level_vs_baseline: float | None) -> None:
    """Set the level of the chosen policies that have one: ``level``
    (absolute, the mineral's price unit) or ``level_vs_baseline`` (a factor
    times the baseline price at the policy's node)."""
    if (level is None) == (level_vs_baseline is None):
        raise MineqError("Give exactly one of level (absolute, in the mineral's price unit) or level_vs_baseline (times the baseline price).")
    chosen = [p for p in chosen_policies(data, scenario, policy) if any(k in p for k in LEVEL_KEYS)]
    if not chosen:
        raise MineqError(f"No policy of scenario '{scenario}' chosen by {policy!r} has a level (level or level_vs_baseline).")
    key, value = ("level", level) if level is not None else ("level_vs_baseline", level_vs_baseline)
    for p in chosen:
        for k in LEVEL_KEYS:
            p.pop(k, None)
        p[key] = value


def add_scenario(data: dict, name: str, policies: list[dict], description: str = "", replace: bool = False) -> None:
    """Append a scenario (or replace the one named ``name``)."""
    if name == BASELINE:
        raise MineqError("A scenario cannot be named 'baseline': the baseline is always solved and named so.")
    entry = {"name": name, "description": description, "policies": copy.deepcopy(list(policies)), "_file": data.get("_file", "case.toml"), "_where": f"scenario '{name}' (added in Python)"}
    scens = data.setdefault("scenarios", [])
    for i, s in enumerate(scens):
        if isinstance(s, dict) and s.get("name") == name:
            if not replace:
                raise MineqError(f"Scenario '{name}' is in the case already; pass replace=True to replace it.")
            scens[i] = entry
            return
    scens.append(entry)


# ----------------------------------------------------------------------
# built objects against their canonical data
# ----------------------------------------------------------------------
def drift(case: Case) -> list[str]:
    """Where the built objects of ``case`` differ from a fresh build of
    its canonical data (what a result file stores): empty when they match.

    Compares the markets (curves, routes, processes) and the scenarios
    (policy entries and validated instruments) attribute by attribute.
    Attributes a fresh build lacks are caches a solve made (a curve's
    blocks) and are not compared.
    """
    try:
        fresh = build_case(json.loads(case.canonical()))
    except CaseError as err:
        return [f"its canonical data no longer validate ({err})"]
    out = []
    for label, a, b in (("name", case.name, fresh.name), ("regions", case.regions, fresh.regions), ("groups", case.groups, fresh.groups)):
        if not _same(a, b):
            out.append(label)
    if list(case.markets) != list(fresh.markets):
        out.append("the list of minerals")
    else:
        out += [f"mineral '{mn}'" for mn in case.markets if not _same(case.markets[mn], fresh.markets[mn])]
    if [s.name for s in case.scenarios] != [s.name for s in fresh.scenarios]:
        out.append("the list of scenarios")
    else:
        for s, f in zip(case.scenarios, fresh.scenarios):
            if not _same(s.policies, f.policies) or s.description != f.description:
                out.append(f"scenario '{s.name}' (its policy entries)")
            elif len(s.instruments) != len(f.instruments):
                out.append(f"scenario '{s.name}' (its instruments)")
            else:
                out += [f"scenario '{s.name}', policy {k + 1} ({type(i).__name__})" for k, (i, j) in enumerate(zip(s.instruments, f.instruments)) if not _same(i, j)]
    return out


def _same(a: Any, b: Any, depth: int = 0) -> bool:
    """Structural equality of built case objects (NaN equals NaN; numpy
    arrays by value; objects by type and the attributes of ``b``)."""
    if depth > 50:  # no case object nests this deep: treat as different
        return False
    import numpy as np

    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k], depth + 1) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y, depth + 1) for x, y in zip(a, b))
    if hasattr(a, "__dict__") and not isinstance(a, type):
        if type(a) is not type(b):
            return False
        mine, theirs = vars(a), vars(b)
        cached = {k for k in (*mine, *theirs) if isinstance(getattr(type(a), k, None), cached_property)}
        for k in cached:  # derived from the fields: computed on both, then compared
            if not _same(getattr(a, k), getattr(b, k), depth + 1):
                return False
        return all(k in mine and _same(mine[k], v, depth + 1) for k, v in theirs.items() if k not in cached)
    return a == b
