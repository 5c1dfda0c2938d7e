"""Case files (SPEC §5): reading, validation and the canonical form.

Loading has two steps:

1. :func:`read_case` turns ``case.toml`` and any CSV tables it names into
   one *canonical* dictionary in which every table is inline and every
   entry remembers where it was written (``_file``, ``_where``).  That
   dictionary is JSON-serialisable and is stored in result files, so that
   ``mineq verify`` can rebuild the exact inputs.
2. :func:`build_case` validates the canonical dictionary and builds a
   :class:`Case` of :class:`mineq.models.market.Market` objects.

Every problem is a :class:`mineq.solver.errors.CaseError` naming the file, the
place, the field, the value and what was expected.  Unknown keys and
unknown CSV columns are errors.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import tomllib
from sys import intern
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import repeat
from pathlib import Path
from typing import Any

from mineq.models.curves import CONFIDENCE_LABELS, PROVENANCE_KEYS, Sum, make_curve
from mineq.models.errors import SpecError
from mineq.models.joint import SEP, Linked
from mineq.models.market import Joint, Market, Process
from mineq.models.policies import INSTRUMENTS, Regions

from .errors import CaseError
from .runtime import collector_off, steady_step

BASELINE = "baseline"
CURVE_SIDES = ("demand", "supply")

CASE_KEYS = ("name", "description", "base_year", "regions", "headline_minerals", "headline_region", "headline_group", "uncertainty", "calibration")
MINERAL_KEYS = ("name", "stages", "quantity_unit", "price_unit", "default_transport_cost", "nodes", "routes", "processing", *PROVENANCE_KEYS)
NODE_KEYS = ("stage", "region", "demand", "supply", "secondary", "quantity_unit", "price_unit", *PROVENANCE_KEYS)
ROUTE_KEYS = ("stage", "origin", "destination", "cost", "slope", *PROVENANCE_KEYS)
PROCESS_KEYS = ("region", "from", "to", "theta", "cost", "capacity", *PROVENANCE_KEYS)
TABLES = ("minerals", "nodes", "routes", "processing")
#: tables of the whole case rather than of one mineral each
CASE_TABLES = ("joint",)
JOINT_KEYS = ("name", "region", "inputs", "outputs", "cost", "capacity", *PROVENANCE_KEYS)
SCENARIO_KEYS = ("name", "description", "policies")

@dataclass
class Scenario:
    """A named set of policies applied on top of the baseline."""

    name: str
    description: str
    policies: list[dict]
    #: the validated instruments (``mineq.models.policies``), one per policy entry
    instruments: list = field(default_factory=list)


@dataclass
class Case:
    """A validated case: markets per mineral, groups and scenarios."""

    name: str
    description: str
    base_year: int | None
    regions: list[str]
    groups: dict[str, list[str]]
    markets: dict[str, Market]
    scenarios: list[Scenario]
    data: dict = field(repr=False)
    #: linked markets (:class:`mineq.models.joint.Linked`) by name: minerals
    #: that share a joint-production activity, solved as one program
    links: dict[str, Linked] = field(default_factory=dict)
    #: the ``[dynamics]`` settings (:class:`mineq.solver.dynamic.Dynamics`;
    #: None: a static case)
    dynamics: object = None
    #: :meth:`canonical`, made once (or handed over by a worker process
    #: that made it beside its solves: :func:`mineq.solver.run.solve_case`)
    _canonical: str | None = field(default=None, repr=False, compare=False)
    #: :attr:`digest`, made once (or handed over with :attr:`_canonical`)
    _digest: str | None = field(default=None, repr=False, compare=False)

    def link_of(self, mineral: str) -> Linked | None:
        """The linked market ``mineral`` belongs to, if any."""
        for link in self.links.values():
            if mineral in link.members:
                return link
        return None

    def canonical(self) -> str:
        """The inputs as canonical JSON (:func:`canonical_json`): what a
        result file stores, and what :attr:`digest` hashes."""
        if self._canonical is None:
            self._canonical = canonical_json(self.data)
        return self._canonical

    @property
    def digest(self) -> str:
        """SHA-256 of the canonical inputs: equal digests, equal inputs."""
        if self._digest is None:
            self._digest = digest_of(self.canonical())
        return self._digest


def canonical_json(data: dict) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)


def digest_of(text: str) -> str:
    """The digest of a case's canonical JSON (:attr:`Case.digest`)."""
    return hashlib.sha256(text.encode()).hexdigest()


# ----------------------------------------------------------------------
# step 1: files -> canonical dictionary
# ----------------------------------------------------------------------
def case_file(path: str | Path) -> Path:
    """The ``case.toml`` of a case folder, or the ``.toml`` file itself."""
    p = Path(path)
    if p.is_dir():
        p = p / "case.toml"
        if not p.exists():
            raise CaseError(str(path), "", "", "(a folder without case.toml)", "a case folder containing case.toml, or a .toml file")
    elif not p.exists():
        raise CaseError(str(path), "", "", "(no such file or folder)", "a case folder containing case.toml, or a .toml file")
    elif p.suffix.lower() != ".toml":
        raise CaseError(str(path), "", "", f"(a '{p.suffix}' file)", "a case folder containing case.toml, or a .toml file")
    return p


def inside_case(base: Path, name: str, owner: str, where: str, field: str, allow_outside: bool) -> Path:
    """``base / name``, refused when it leads out of the case folder
    ``base`` (``..``, an absolute path, a link pointing elsewhere) unless
    ``allow_outside``: a case from someone else must not make mineq read,
    and show in its messages, files the user did not hand over."""
    path = base / name
    if allow_outside:
        return path
    root, real = base.resolve(), path.resolve()
    if real != root and root not in real.parents:
        how = "lies" if Path(name).is_absolute() or ".." in Path(name).parts else "is a link that leads"
        raise CaseError(owner, where, field, name, f"a file inside the case folder {base} (this one {how} outside it, at {real}); pass --allow-outside-case to read files outside the case folder")
    return path


def read_case(path: str | Path, allow_outside: bool = False) -> dict:
    """Read a case folder or ``.toml`` file into the canonical dictionary.

    Tables named by the case must lie inside its folder unless
    ``allow_outside`` (:func:`inside_case`)."""
    toml_path = case_file(path)
    fname = str(toml_path)
    try:
        raw = tomllib.loads(toml_path.read_text(encoding="utf-8-sig"))
    except tomllib.TOMLDecodeError as err:
        raise CaseError(fname, "", "", "(not valid TOML)", f"valid TOML syntax ({err})") from None
    except RecursionError:
        raise CaseError(fname, "", "", "(arrays or tables nested too deeply to read)", "a case nested a few levels deep, as the case format is") from None
    except UnicodeDecodeError as err:
        raise CaseError(fname, "", "", "(not UTF-8 text)", f"a UTF-8 text file ({err.reason} at byte {err.start})") from None
    base = toml_path.parent
    if "extends" in raw:
        raw = _extended(raw, base, fname)
    _check_keys(raw, ("case", "groups", "minerals", "scenarios", "tables", "joint", "dynamics"), fname, "top level")
    data: dict[str, Any] = {"_file": fname}
    data["case"] = raw.get("case", {})
    data["groups"] = raw.get("groups", {})
    minerals = raw.get("minerals", [])
    if not isinstance(minerals, list):
        raise CaseError(fname, "", "minerals", minerals, "an array of tables [[minerals]]")
    tables = raw.get("tables", {})
    if not isinstance(tables, dict):
        raise CaseError(fname, "[tables]", "tables", tables, "a table with keys " + ", ".join(TABLES))
    _check_keys(tables, TABLES + CASE_TABLES, fname, "[tables]")
    shared = {k: _read_table(base, tables[k], fname, f"[tables] {k}", allow_outside, NUMERIC_CELLS.get(k, ())) for k in TABLES if k in tables}
    joint = raw.get("joint", [])
    if not isinstance(joint, list):
        raise CaseError(fname, "", "joint", joint, "an array of tables [[joint]], one per joint-production activity")
    joint = [dict(e, _file=fname, _where=f"[[joint]] entry {i + 1}") if isinstance(e, dict) else e for i, e in enumerate(joint)]
    if "joint" in tables:
        for row in _read_table(base, tables["joint"], fname, "[tables] joint", allow_outside):
            _unflatten(row, "joint")
            joint.append(row)
    if joint:
        data["joint"] = joint
    if "dynamics" in raw:
        data["dynamics"] = raw["dynamics"]
        growth = raw["dynamics"].get("growth") if isinstance(raw["dynamics"], dict) else None
        if isinstance(growth, str):
            from .dynamic import read_growth

            data["dynamics_growth"] = read_growth(base, growth, fname)
    # shared rows by mineral, in file order (one pass, not one per mineral)
    by_mineral: dict[str, dict[Any, list[dict]]] = {}
    for key, rows in shared.items():
        if key == "minerals":
            continue
        for row in rows:
            if "mineral" not in row:
                raise CaseError(row["_file"], row["_where"], "mineral", "(missing)", "a mineral column in a shared [tables] table")
            by_mineral.setdefault(key, {}).setdefault(row["mineral"], []).append(row)

    out_minerals = []
    for i, m in enumerate(minerals):
        if not isinstance(m, dict):
            raise CaseError(fname, f"[[minerals]] entry {i + 1}", "", m, "a table")
        out_minerals.append(dict(m, _file=fname, _where=f"[[minerals]] entry {i + 1}"))
    if "minerals" in shared:
        for row in shared["minerals"]:
            out_minerals.append(_mineral_from_row(row))
    claimed: set = set()
    for m in out_minerals:
        name = m.get("name")
        where = f"mineral '{name}'"
        for key in ("nodes", "routes", "processing"):
            val = m.get(key)
            if isinstance(val, str):
                rows = _read_table(base, val, m["_file"], f"{where} {key}", allow_outside, NUMERIC_CELLS.get(key, ()))
                m[key] = [r for r in rows if r.pop("mineral", name) == name]
            elif val is None:
                m[key] = []
            elif isinstance(val, list):
                m[key] = [dict(e, _file=m["_file"], _where=f"{where}, {key} entry {j + 1}") if isinstance(e, dict) else e for j, e in enumerate(val)]
            else:
                raise CaseError(m["_file"], where, key, val, "an array of tables or the name of a CSV file")
            rows = by_mineral.get(key, {}).get(name, [])
            if (key, name) in claimed:  # a mineral defined twice (build_case says so): a copy
                m[key] += [dict(row) for row in rows]
                continue
            claimed.add((key, name))
            for row in rows:  # the row is this mineral's alone: its mineral cell goes in place
                del row["mineral"]
                m[key].append(row)
        for key in ("nodes", "routes", "processing"):
            for e in m[key] if CURVE_PREFIXES.get(key) else _text_numbers(m[key], key):
                if isinstance(e, dict) and e.get("_file", "").endswith(".csv"):
                    _unflatten(e, key)
    known = {m.get("name") for m in out_minerals}
    for key, groups in by_mineral.items():
        for mname, rows in groups.items():
            if mname in known:
                continue
            row = rows[0]  # the first row of a mineral the case does not have
            raise CaseError(row["_file"], row["_where"], "mineral", row.get("mineral", "(missing)"), "the name of a mineral of the case: " + ", ".join(sorted(map(str, known))))
    data["minerals"] = out_minerals
    scen = raw.get("scenarios", [])
    if not isinstance(scen, list):
        raise CaseError(fname, "", "scenarios", scen, "an array of tables [[scenarios]]")
    data["scenarios"] = [dict(s, _file=fname, _where=f"[[scenarios]] entry {i + 1}") if isinstance(s, dict) else s for i, s in enumerate(scen)]
    cal = data["case"].get("calibration") if isinstance(data["case"], dict) else None
    if isinstance(cal, str) and cal.strip():
        # observed figures are inputs too: stored with the results (and
        # hashed), so that a result's calibration table can be re-checked
        data["calibration_targets"] = _read_table(base, cal, fname, "[case] calibration", allow_outside)
    return data


def _extended(raw: dict, base: Path, fname: str) -> dict:
    """A case file that says ``extends = "case.toml"``: that file's tables,
    with this file's on top (its [case] keys one by one, any other table
    whole).  The variant of a case (e.g. its dynamic one) so repeats
    nothing of it.  The file extended must lie in the same folder and
    extend nothing itself."""
    name = raw.get("extends")
    target = base / name if isinstance(name, str) else None
    if target is None or target.parent.resolve() != base.resolve() or not target.is_file() or target.resolve() == (base / Path(fname).name).resolve():
        raise CaseError(fname, "top level", "extends", name, "the name of another case file in the same folder, such as \"case.toml\"")
    try:
        below = tomllib.loads(target.read_text(encoding="utf-8-sig"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise CaseError(str(target), "", "", "(not a readable TOML file)", f"valid UTF-8 TOML ({err})") from None
    if "extends" in below:
        raise CaseError(str(target), "top level", "extends", below["extends"], "a case file that extends nothing (one level only)")
    out = dict(below)
    for k, v in raw.items():
        if k == "extends":
            continue
        if k == "case" and isinstance(v, dict) and isinstance(out.get("case"), dict):
            out["case"] = {**out["case"], **v}
        else:
            out[k] = v
    return out


def _read_table(base: Path, name: Any, owner: str, where: str, allow_outside: bool = False, numeric: tuple = ()) -> list[dict]:
    """Rows of a CSV table as dicts of non-empty cells, with locations.
    ``numeric``: columns whose cells are numbers (:data:`NUMERIC_CELLS`),
    read as floats where every cell of the column is one; otherwise they
    stay text, which :func:`_unflatten` reads (and names any cell that is
    not a number)."""
    if not isinstance(name, str) or not name.strip():
        raise CaseError(owner, where, "", name, "the file name of a CSV table, relative to the case folder")
    path = inside_case(base, name, owner, where, "", allow_outside)
    if not path.is_file():
        raise CaseError(owner, where, "", name, f"an existing CSV file (looked for {path})")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise CaseError(str(path), "", "", "(not UTF-8 text)", f"a UTF-8 CSV file ({err.reason} at byte {err.start})") from None
    reader = csv.reader(io.StringIO(text))
    try:
        rows = [r for r in reader]
    except csv.Error as err:
        raise CaseError(str(path), f"line {reader.line_num}", "", "(malformed CSV)", f"well-formed CSV ({err})") from None
    # blank rows and comment rows go ("".join: one C call a row, not a generator)
    rows = [r for r in rows if "".join(r).strip() and not r[0].lstrip().startswith("#")]
    if not rows:
        raise CaseError(str(path), "", "", "(an empty table)", "a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    seen = set()
    for h in header:
        if not h or h in seen:
            raise CaseError(str(path), "header row", "", h, "unique, non-empty column names")
        seen.add(h)
    file = str(path)
    out = _rows_by_column(rows[1:], header, file, numeric)
    if out is None:
        out = _rows_one_by_one(rows[1:], header, file)
    if not out:
        raise CaseError(str(path), "", "", "(no data rows)", "at least one data row")
    return out


def _rows_one_by_one(data: list[list[str]], header: list[str], file: str) -> list[dict]:
    """A CSV table's data rows as dicts of their non-empty cells (stripped,
    interned), with locations ``_file`` and ``_where`` (``row 2`` is the
    first after the header); a cell beyond the header's width is refused."""
    out = []
    for i, r in enumerate(data, start=2):
        if len(r) > len(header) and any(c.strip() for c in r[len(header):]):
            extra = next(c for c in r[len(header):] if c.strip())  # that cell only: the rest of the file stays unshown
            raise CaseError(file, f"row {i}", "", extra, f"at most {len(header)} cells, as many as the header has (this cell is beyond them)")
        # one string object per distinct cell text (sys.intern): a
        # country-level routes table names 200 regions 616,000 times
        cells = {h: intern(v) for h, c in zip(header, r) if (v := c.strip())}
        cells["_file"] = file
        cells["_where"] = f"row {i}"
        out.append(cells)
    return out


def _rows_by_column(data: list[list[str]], header: list[str], file: str, numeric: tuple) -> list[dict] | None:
    """The rows :func:`_read_table` makes, made a column at a time: each
    column's cells stripped and interned, its numbers read, in one pass
    each, and each row's dict built in C.  A country-level routes table
    (308,000 rows): 0.56-0.60 s, against 0.77-1.07 s a row at a time with
    its numbers read (:func:`_unflatten`).  The same rows as
    :func:`_rows_one_by_one` (tests/test_case_tables.py), or None (that
    path then runs, and names what is wrong) when a row's width is not
    the header's."""
    n = len(header)
    if not data or set(map(len, data)) != {n}:
        return None
    cols = []
    empty: dict[int, list[int]] = {}
    for k, col in enumerate(zip(*data)):
        col = list(map(str.strip, col))
        if "" in col:
            empty[k] = [i for i, c in enumerate(col) if not c]
        if header[k] in numeric and k not in empty:
            try:
                col = list(map(float, col))
            except ValueError:
                col = list(map(intern, col))
        else:
            col = list(map(intern, col))
        cols.append(col)
    keys = (*header, "_file", "_where")
    wheres = [f"row {i}" for i in range(2, len(data) + 2)]
    out = list(map(dict, map(zip, repeat(keys), zip(*cols, repeat(file), wheres))))
    for k, rows in empty.items():
        for i in rows:
            del out[i][header[k]]
    return out


def _mineral_from_row(row: dict) -> dict:
    m = dict(row)
    if "stages" in m:
        m["stages"] = [s.strip() for s in m["stages"].replace(">", ";").split(";") if s.strip()]
    if "default_transport_cost" in m:
        m["default_transport_cost"] = _cell_number(m, "default_transport_cost", allow_none=True)
    return m


def _cell_number(row: dict, key: str, allow_none: bool = False):
    text = row[key]
    if not isinstance(text, str):
        return text
    if allow_none and text.lower() == "none":
        return "none"
    try:
        return float(text)
    except ValueError:
        raise CaseError(row["_file"], row["_where"], key, text, "a number" + (" or 'none'" if allow_none else "")) from None


def _parse_blocks(row: dict, key: str) -> list:
    """'10:5; 20:8' -> [[10, 5], [20, 8]]"""
    blocks = []
    for part in row[key].split(";"):
        if not part.strip():
            continue
        bits = part.split(":")
        try:
            if len(bits) != 2:
                raise ValueError
            blocks.append([float(bits[0]), float(bits[1])])
        except ValueError:
            raise CaseError(row["_file"], row["_where"], key, row[key], "blocks written as 'quantity:price; quantity:price; ...'") from None
    return blocks


#: per table: the column prefixes of its curves (``supply_slope``), and its numeric cells
CURVE_PREFIXES = {"nodes": (*CURVE_SIDES, "secondary"), "processing": ("cost",), "joint": ("cost",)}
NUMERIC_CELLS = {"routes": ("cost", "slope"), "processing": ("theta", "capacity"), "joint": ("capacity",)}


def _unflatten(row: dict, table: str) -> None:
    """Turn a CSV row's prefixed columns (``supply_slope``) into nested curves."""
    for p in CURVE_PREFIXES.get(table, ()):
        cols = [k for k in list(row) if k.startswith(p + "_")]
        if not cols:
            continue
        curve = {}
        for k in cols:
            sub = k[len(p) + 1:]
            if sub == "blocks":
                curve[sub] = _parse_blocks(row, k)
            elif sub in ("form", *PROVENANCE_KEYS):
                curve[sub] = row[k]
            else:
                curve[sub] = _cell_number(row, k)
            del row[k]
        row[p] = curve
    for k in NUMERIC_CELLS.get(table, ()):
        text = row.get(k)
        if isinstance(text, str):
            try:  # a number, as in nearly every cell; anything else, _cell_number says
                row[k] = float(text)
            except ValueError:
                row[k] = _cell_number(row, k, allow_none=(table == "routes"))


def _text_numbers(rows: list, table: str) -> list:
    """The rows of a table without curves whose numeric cells
    (:data:`NUMERIC_CELLS`) still hold text, which :func:`_unflatten`
    then reads: a table read a column at a time (:func:`_rows_by_column`)
    has none, and its 308,000 rows are not visited one by one."""
    if not rows or set(map(type, rows)) != {dict}:
        return rows  # anything else: every entry, as before
    text = [k for k in NUMERIC_CELLS.get(table, ()) if str in set(map(type, map(dict.get, rows, repeat(k))))]
    return [e for e in rows if any(isinstance(e.get(k), str) for k in text)] if text else []


def _check_keys(d: dict, allowed, file: str, where: str) -> None:
    unknown = d.keys() - _key_set(tuple(allowed))  # one set operation a row, in C
    if not unknown:  # every row of a valid table: nothing more to look at
        return
    for k in d:  # the first unknown key as written; "_file" and such are mineq's own
        if k in unknown and not k.startswith("_"):
            raise CaseError(file, where, k, d[k], "one of the known keys here: " + ", ".join(allowed))


@lru_cache(maxsize=None)
def _key_set(allowed: tuple) -> frozenset:
    # with the locations every CSV row carries: a valid row leaves nothing over
    return frozenset(allowed) | {"_file", "_where"}


# ----------------------------------------------------------------------
# step 2: canonical dictionary -> validated Case
# ----------------------------------------------------------------------
@steady_step
def load_case(path: str | Path, allow_outside: bool = False) -> Case:
    """Read and validate a case (folder or ``.toml``)."""
    with collector_off():
        return build_case(read_case(path, allow_outside))


def build_case(data: dict) -> Case:
    """Validate the canonical dictionary and build the markets."""
    fname = data.get("_file", "case.toml")
    head = data.get("case")
    if not isinstance(head, dict):
        raise CaseError(fname, "[case]", "case", head, "a [case] table with name and regions")
    _check_keys(head, CASE_KEYS, fname, "[case]")
    name = _text(head, "name", fname, "[case]")
    description = head.get("description", "")
    if not isinstance(description, str):
        raise CaseError(fname, "[case]", "description", description, "text")
    base_year = head.get("base_year")
    if base_year is not None and (isinstance(base_year, bool) or not isinstance(base_year, int)):
        raise CaseError(fname, "[case]", "base_year", base_year, "a whole year such as 2024")
    regions = head.get("regions")
    if not isinstance(regions, list) or not regions:
        raise CaseError(fname, "[case]", "regions", regions if regions is not None else "(missing)", "a non-empty list of region names")
    for r in regions:
        if not isinstance(r, str) or not r.strip() or r.startswith("@"):
            raise CaseError(fname, "[case]", "regions", r, "region names: non-empty text not starting with '@'")
    dup = _first_duplicate(regions)
    if dup is not None:
        raise CaseError(fname, "[case]", "regions", dup, "each region listed once")

    groups = data.get("groups", {})
    if not isinstance(groups, dict):
        raise CaseError(fname, "[groups]", "groups", groups, "a table of group = [regions]")
    for g, members in groups.items():
        if g in regions:
            raise CaseError(fname, "[groups]", g, members, f"a group name different from every region name ('{g}' is a region)")
        if not isinstance(members, list) or not members:
            raise CaseError(fname, "[groups]", g, members, "a non-empty list of regions")
        for r in members:
            if r not in regions:
                raise CaseError(fname, "[groups]", g, r, "regions of the case: " + ", ".join(regions))

    minerals = data.get("minerals", [])
    if not isinstance(minerals, list) or not minerals:
        raise CaseError(fname, "", "minerals", minerals if minerals else "(none)", "at least one [[minerals]] entry (or a [tables] minerals CSV)")
    markets: dict[str, Market] = {}
    for m in minerals:
        market = _build_market(m, regions, groups)
        if market.name in markets:
            raise CaseError(m.get("_file", fname), m.get("_where", ""), "name", market.name, "each mineral defined once")
        markets[market.name] = market

    # what the headline of `mineq solve` features (optional)
    hl = head.get("headline_minerals", [])
    if not isinstance(hl, list) or any(not isinstance(m, str) or m not in markets for m in hl):
        bad = hl if not isinstance(hl, list) else next(m for m in hl if not isinstance(m, str) or m not in markets)
        raise CaseError(fname, "[case]", "headline_minerals", bad, "a list of minerals of the case")
    if "headline_region" in head and (not isinstance(head["headline_region"], str) or head["headline_region"] not in regions):
        raise CaseError(fname, "[case]", "headline_region", head["headline_region"], "a region of the case: " + ", ".join(regions))
    if "headline_group" in head and (not isinstance(head["headline_group"], str) or head["headline_group"] not in groups):
        raise CaseError(fname, "[case]", "headline_group", head["headline_group"], "a group of the case: " + (", ".join(groups) or "(none defined)"))

    if "uncertainty" in head and (not isinstance(head["uncertainty"], str) or not head["uncertainty"].strip()):
        raise CaseError(fname, "[case]", "uncertainty", head["uncertainty"], "the file name of the uncertainty table (CSV with mineral, parameter, central, low, high), relative to the case file")
    if "calibration" in head and (not isinstance(head["calibration"], str) or not head["calibration"].strip()):
        raise CaseError(fname, "[case]", "calibration", head["calibration"], "the file name of the calibration table (CSV of observed figures: mineral, indicator, stage, region, origin, observed, lower, upper, ...), relative to the case file")

    return _case_of(data, name, description, base_year, regions, groups, markets)


def _case_of(data: dict, name: str, description: str, base_year, regions: list, groups: dict, markets: dict[str, Market], links: dict[str, Linked] | None = None) -> Case:
    """The case of ``data`` around its built ``markets``: the linked
    markets, the scenarios and the dynamics, which refer to the markets
    (:func:`build_case`, :func:`drawn_case`).  ``links``: the central
    case's linked markets, whose activities a draw leaves alone (made
    again over the drawn ``markets``, :meth:`Linked.with_members`)."""
    fname = data.get("_file", "case.toml")
    if links is None:
        links = _build_links(data.get("joint", []), fname, markets, regions)
    else:
        links = {ln: link.with_members(markets) for ln, link in links.items()}

    scenarios = []
    if not isinstance(data.get("scenarios", []), list):
        raise CaseError(fname, "", "scenarios", data.get("scenarios"), "an array of tables [[scenarios]]")
    for s in data.get("scenarios", []):
        scen = _build_scenario(s, fname, markets, regions, groups)
        if scen.name in [x.name for x in scenarios]:
            raise CaseError(s.get("_file", fname), s.get("_where", ""), "name", scen.name, "each scenario name used once")
        scenarios.append(scen)
    case = Case(name=name, description=description, base_year=base_year, regions=list(regions), groups={k: list(v) for k, v in groups.items()}, markets=markets, scenarios=scenarios, data=data, links=links)
    if "dynamics" in data:
        from .dynamic import read_dynamics

        case.dynamics = read_dynamics(data, case)
    return case


#: a draw's parameters that change no curve's reference quantity,
#: capacity, steps or form (:meth:`mineq.models.market.Market.drawn`)
QUANTITY_KEEPING = frozenset({"demand_elasticity", "supply_elasticity", "secondary_elasticity", "trade_cost_half_gap"})


def factors_by_mineral(factors: list[tuple[str, str, float]], names) -> dict[str, list[tuple[str, float]]]:
    """A draw's ``(mineral or "*", parameter, factor)`` by mineral of
    ``names``: each mineral's ``(parameter, factor)``, those for ``"*"``
    among them, in the draw's order (factors on one parameter multiply
    in that order).  Read once a draw instead of once a mineral."""
    out: dict[str, list[tuple[str, float]]] = {n: [] for n in names}
    for mn, par, k in factors:
        for n in out if mn == "*" else (mn,) if mn in out else ():
            out[n].append((par, k))
    return out


def drawn_case(central: Case, data: dict, factors: list[tuple[str, str, float]]) -> Case:
    """The case of an ensemble's draw, made from the ``central`` case: the
    case ``build_case`` makes of the central data with the draw's
    ``factors`` applied (``(mineral or "*", parameter, factor)``,
    :func:`mineq.solver.ensemble.perturbed_data`), without validating and
    building again what the factors leave alone.

    ``data`` is that perturbed data but for the route entries, which stay
    the central ones (``perturbed_data(..., routes=False)``): copying a
    draw's 18,000 scaled route entries took longer than solving its
    single-mineral markets.  It is the case's ``data`` (a draw's result
    stores no inputs).  A factor on an elasticity changes the curves of
    the mineral's nodes, which are made again from ``data``'s node entries
    by :func:`_node_curves`, as a build makes them;
    ``trade_cost_half_gap`` scales every route cost and slope, here the
    central market's, factor after factor (a build's ``float(cost · k)``
    is ``float(cost) · k``, default routes included); nodes, routes,
    processes and joint activities are the central ones.  The linked
    markets are the central ones over the drawn members
    (:meth:`mineq.models.joint.Linked.with_members`); the scenarios and
    dynamics are made again around the drawn markets, since they refer
    to them.  ``tests/test_ensemble.py`` holds
    every program of a drawn case equal to the one of the built case; the
    plain path (:mod:`mineq.models.speed`) builds the case instead."""
    entries = {m["name"]: m for m in data["minerals"]}
    markets = {}
    by_mineral = factors_by_mineral(factors, central.markets)
    for name, market in central.markets.items():
        mine = by_mineral[name]
        if not mine:
            markets[name] = market
            continue
        m = entries[name]
        file = m.get("_file", "case.toml")
        supply, demand = market.supply, market.demand
        if any(par != "trade_cost_half_gap" for par, _ in mine):
            supply, demand = {}, {}
            for e in m.get("nodes", []):
                node = (e["stage"], e["region"])
                _node_curves(e, node, supply, demand, e.get("_file", file), f"{e.get('_where', f'mineral {name!r}')} ({name}/{node[0]}/{node[1]})")
        routes, slopes = market.routes, market.route_slopes
        # the cost and slope arrays in route order, scaled as the entries
        # are (the same products), where the central market made them
        arrays = {a: market.__dict__[a] for a in ("route_costs", "route_slope") if a in market.__dict__}
        for par, k in mine:
            if par == "trade_cost_half_gap":
                routes = {key: cost * k for key, cost in routes.items()}
                slopes = {key: sl * k for key, sl in slopes.items()}
                arrays = {a: v * k for a, v in arrays.items()}
        # a factor on an elasticity or on a route's cost and slope leaves
        # the curves' quantities, capacities and forms the central ones
        markets[name] = market.drawn(supply, demand, routes, slopes, arrays, quantities=all(par in QUANTITY_KEEPING for par, _ in mine))
    return _case_of(data, central.name, central.description, central.base_year, central.regions, central.groups, markets, central.links)


def _yields(e: dict, key: str, f: str, w: str, markets: dict) -> dict[str, float]:
    """An activity's ``inputs`` or ``outputs``: ``{"mineral:stage": amount}``
    (TOML table), or ``"mineral:stage=amount; ..."`` (a CSV cell)."""
    val = e.get(key, {} if key == "inputs" else "(missing)")
    if isinstance(val, str) and val != "(missing)":
        parsed = {}
        for part in filter(None, (p.strip() for p in val.split(";"))):
            stage, eq, amount = part.partition("=")
            try:
                parsed[stage.strip()] = float(amount) if eq else math.nan
            except ValueError:
                parsed[stage.strip()] = amount.strip()
        val = parsed
    if not isinstance(val, dict) or (key == "outputs" and not val):
        raise CaseError(f, w, key, val, f"the {key} per unit of activity, written mineral:stage=amount; mineral:stage=amount (a CSV cell) or {{ \"neodymium:refined\" = 0.15 }} (TOML)" + ("; at least one output" if key == "outputs" else ""))
    out = {}
    for stage, amount in val.items():
        mineral, sep, st = str(stage).partition(SEP)
        if not sep or mineral not in markets:
            raise CaseError(f, w, key, stage, "mineral:stage with a mineral of the case (" + ", ".join(list(markets)[:8]) + (", ..." if len(markets) > 8 else "") + ")")
        if st not in markets[mineral].stages:
            raise CaseError(f, w, key, stage, f"a stage of {mineral}: " + ", ".join(markets[mineral].stages))
        if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not math.isfinite(amount) or amount <= 0:
            raise CaseError(f, w, f"{key} {stage}", amount, f"a positive number of units of {mineral} ({markets[mineral].quantity_unit}) per unit of activity")
        out[str(stage)] = float(amount)
    return out


def _build_links(entries: list, fname: str, markets: dict, regions: list) -> dict[str, Linked]:
    """Joint-production activities, and the linked markets of the minerals
    they connect (one per connected group, members in the case's order)."""
    if not isinstance(entries, list):
        raise CaseError(fname, "", "joint", entries, "an array of tables [[joint]]")
    acts: list[tuple[Joint, set]] = []
    seen: dict = {}
    for e in entries:
        if not isinstance(e, dict):
            raise CaseError(fname, "[[joint]]", "joint", e, "a table per joint-production activity")
        f, w = e.get("_file", fname), e.get("_where", "[[joint]]")
        _check_keys(e, JOINT_KEYS, f, w)
        _provenance(e, f, w)
        name = _text(e, "name", f, w)
        region = e.get("region")
        if region not in regions:
            raise CaseError(f, w, "region", region if region is not None else "(missing)", "a region of the case: " + ", ".join(regions))
        w = f"{w} (joint {name}/{region})"
        if (name, region) in seen:
            raise CaseError(f, w, "name", name, f"one activity per name and region (also in {seen[(name, region)]})")
        seen[(name, region)] = w
        inputs, outputs = _yields(e, "inputs", f, w, markets), _yields(e, "outputs", f, w, markets)
        both = set(inputs) & set(outputs)
        if both:
            raise CaseError(f, w, "outputs", sorted(both)[0], "a stage that is not also an input of the activity")
        curve = _cost_curve(e, f, w, "a marginal cost curve per unit of activity")
        minerals = {s.partition(SEP)[0] for s in (*inputs, *outputs)}
        acts.append((Joint(name, region, inputs, outputs, curve, meta={k: e[k] for k in PROVENANCE_KEYS if k in e} | {"where": f"{f}: {w}"}), minerals))
    if not acts:
        return {}
    # connected groups of minerals (union-find over the activities)
    parent = {m: m for m in markets}

    def root(m):
        while parent[m] != m:
            parent[m] = parent[parent[m]]
            m = parent[m]
        return m

    for _, ms in acts:
        first, *rest = sorted(ms)
        for m in rest:
            parent[root(m)] = root(first)
    # one group per root, in the order activities name them; members in the case's order
    groups: dict[str, list[str]] = {root(next(iter(ms))): [] for _, ms in acts}
    linked = set().union(*(ms for _, ms in acts))
    for m in markets:
        if m in linked:
            groups[root(m)].append(m)
    from .report import money_factor

    links = {}
    for members in groups.values():
        money = {m: money_factor(markets[m].price_unit, markets[m].quantity_unit) or (markets[m].price_unit, markets[m].quantity_unit) for m in members}
        if len(set(money.values())) > 1:
            a, b = members[0], next(m for m in members if money[m] != money[members[0]])
            j = next(jp for jp, ms in acts if b in ms)
            raise CaseError(fname, j.meta["where"], "outputs", b, f"minerals whose money units agree, since a joint activity links them into one program: {a} is priced {markets[a].price_unit} per {markets[a].quantity_unit}, {b} {markets[b].price_unit} per {markets[b].quantity_unit}")
        name = "linked: " + ", ".join(members)
        joint = [jp for jp, ms in acts if ms <= set(members)]
        links[name] = Linked(name, {m: markets[m] for m in members}, joint)
    return links


def _first_duplicate(items):
    seen = set()
    for x in items:
        key = json.dumps(x, sort_keys=True) if not isinstance(x, str) else x
        if key in seen:
            return x
        seen.add(key)
    return None


def _text(d: dict, key: str, file: str, where: str) -> str:
    v = d.get(key)
    if not isinstance(v, str) or not v.strip():
        raise CaseError(file, where, key, v if v is not None else "(missing)", "non-empty text")
    return v


def _provenance(d: dict, file: str, where: str) -> None:
    conf = d.get("confidence")
    if conf is not None and conf not in CONFIDENCE_LABELS:
        raise CaseError(file, where, "confidence", conf, "one of " + ", ".join(CONFIDENCE_LABELS))


def _regions_ref(value, file, where, key, reg: Regions) -> list[str]:
    """Regions named by ``value`` (a region, ``"@group"`` or a list of them)."""
    try:
        return reg.resolve(value, key)
    except SpecError as err:
        raise CaseError(file, where, err.field, err.value, err.expected) from None


def _node_curves(e: dict, node: tuple[str, str], supply: dict, demand: dict, f: str, w: str) -> None:
    """The curves of one node entry ``e``, into ``supply`` and ``demand``
    at ``node``: shared by :func:`_build_market` and :func:`drawn_case`."""
    for side, store in (("supply", supply), ("demand", demand)):
        if side in e:
            try:
                store[node] = _steep_checked(make_curve(e[side], side))
            except SpecError as err:
                raise CaseError(f, w, f"{side}.{err.field}" if err.field else side, err.value, err.expected) from None
    if "secondary" in e:
        # secondary (scrap-based) output is its own supply at the node;
        # the node's supply is the horizontal sum of both
        try:
            sec = make_curve(e["secondary"], "supply")
            parts, names = ([supply[node], sec], ("primary", "secondary")) if node in supply else ([sec], ("secondary",))
            supply[node] = Sum(parts, "supply", names)
        except SpecError as err:
            raise CaseError(f, w, f"secondary.{err.field}" if err.field else "secondary", err.value, err.expected + " (primary and secondary supply at one node are summed)") from None


def _build_market(m: dict, regions: list[str], groups: dict) -> Market:
    if not isinstance(m, dict):
        raise CaseError("case.toml", "[[minerals]]", "", m, "a table")
    file, where0 = m.get("_file", "case.toml"), m.get("_where", "")
    _check_keys(m, MINERAL_KEYS, file, where0)
    name = _text(m, "name", file, where0)
    where = f"mineral '{name}'"
    stages = m.get("stages")
    if not isinstance(stages, list) or not stages or not all(isinstance(s, str) and s.strip() for s in stages):
        raise CaseError(file, where, "stages", stages if stages is not None else "(missing)", "an ordered list of stage names such as [\"mine\", \"refined\"]")
    if _first_duplicate(stages) is not None:
        raise CaseError(file, where, "stages", _first_duplicate(stages), "each stage listed once")
    qunit = _text(m, "quantity_unit", file, where)
    punit = _text(m, "price_unit", file, where)
    _provenance(m, file, where)
    dtc = m.get("default_transport_cost", "(missing)")
    if not (dtc == "none" or (isinstance(dtc, (int, float)) and not isinstance(dtc, bool) and math.isfinite(dtc) and dtc >= 0)):
        raise CaseError(file, where, "default_transport_cost", dtc, "a unit cost >= 0 (in the price unit) or \"none\" (no trade unless a route is listed)")

    for key in ("nodes", "routes", "processing"):
        if not isinstance(m.get(key, []), list):
            raise CaseError(file, where, key, m.get(key), "an array of tables (or the name of a CSV file)")
    supply, demand = {}, {}
    for e in m.get("nodes", []):
        if not isinstance(e, dict):
            raise CaseError(file, where, "nodes", e, "a table per node")
        f, w = e.get("_file", file), e.get("_where", where)
        _check_keys(e, NODE_KEYS, f, w)
        stage, region = e.get("stage"), e.get("region")
        if stage not in stages:
            raise CaseError(f, w, "stage", stage if stage is not None else "(missing)", f"a stage of {name}: " + ", ".join(stages))
        if region not in regions:
            raise CaseError(f, w, "region", region if region is not None else "(missing)", "a region of the case: " + ", ".join(regions))
        w = f"{w} ({name}/{stage}/{region})"
        for unit_key, unit in (("quantity_unit", qunit), ("price_unit", punit)):
            if unit_key in e and e[unit_key] != unit:
                raise CaseError(f, w, unit_key, e[unit_key], f"the mineral's {unit_key.replace('_', ' ')} '{unit}' (convert the figures; units are never mixed)")
        _provenance(e, f, w)
        if (stage, region) in supply or (stage, region) in demand:
            raise CaseError(f, w, "region", region, f"one entry per stage and region ({stage}/{region} appears twice)")
        if "demand" not in e and "supply" not in e and "secondary" not in e:
            raise CaseError(f, w, "demand", "(missing)", "a demand or a supply curve (or both) at a listed node")
        _node_curves(e, (stage, region), supply, demand, f, w)

    routes: dict[tuple[str, str, str], float] = {}
    slopes: dict[tuple[str, str, str], float] = {}
    if dtc != "none":
        for s in stages:
            for o in regions:
                for d in regions:
                    if o != d:
                        routes[(s, o, d)] = float(dtc)
    known, stage_set = frozenset(regions), frozenset(stages)
    columns = _plain_routes(m.get("routes", []), known, stage_set)
    if columns is not None:
        keys, costs, slopes_ = columns
        routes.update(zip(keys, costs))
        slopes.update((k, sl) for k, sl in zip(keys, slopes_) if sl)
    explicit: dict = {}
    reg = Regions(list(regions), groups)
    for e in [] if columns is not None else sorted(m.get("routes", []), key=lambda e: isinstance(e, dict) and "stage" in e):
        plain = _plain_route(e, known, stage_set)
        # anything else (a group, all stages, a forbidden route, a bad cell):
        # every check, each with its message
        origins, dests, st, cost, slope = plain or _route_entry(e, file, where, name, stages, reg)
        f, w = e.get("_file", file), e.get("_where", where)
        for o in origins:
            for d in dests:
                if o == d:
                    if len(origins) == 1 and len(dests) == 1:
                        raise CaseError(f, w, "destination", d, "a region other than the origin (trade within a region is not a flow)")
                    continue
                for s in [st] if st else stages:
                    key = (s, o, d, st is not None)
                    if key in explicit:
                        raise CaseError(f, w, "destination", d, f"one route entry per stage, origin and destination ({o}->{d} at {s} is also given in {explicit[key]})")
                    explicit[key] = w
                    slopes.pop((s, o, d), None)
                    if cost == "none":
                        routes.pop((s, o, d), None)
                    else:
                        routes[(s, o, d)] = float(cost)
                        if slope:
                            slopes[(s, o, d)] = float(slope)

    processes = []
    seen = {}
    for e in m.get("processing", []):
        if not isinstance(e, dict):
            raise CaseError(file, where, "processing", e, "a table per processing entry")
        f, w = e.get("_file", file), e.get("_where", where)
        _check_keys(e, PROCESS_KEYS, f, w)
        _provenance(e, f, w)
        region = e.get("region")
        if region not in regions:
            raise CaseError(f, w, "region", region if region is not None else "(missing)", "a region of the case: " + ", ".join(regions))
        src, dst = e.get("from"), e.get("to")
        if src not in stages[:-1]:
            raise CaseError(f, w, "from", src if src is not None else "(missing)", f"a stage of {name} that has a next stage: " + ", ".join(stages[:-1]) if len(stages) > 1 else f"no processing entry: {name} has a single stage")
        nxt = stages[stages.index(src) + 1]
        if dst != nxt:
            raise CaseError(f, w, "to", dst if dst is not None else "(missing)", f"the stage after '{src}', which is '{nxt}'")
        w = f"{w} ({name}/{src}->{dst}/{region})"
        if (region, src) in seen:
            raise CaseError(f, w, "region", region, f"one processing entry per region and stage ({region} {src}->{dst} also in {seen[(region, src)]})")
        seen[(region, src)] = w
        theta = e.get("theta", "(missing)")
        if isinstance(theta, bool) or not isinstance(theta, (int, float)) or not math.isfinite(theta) or theta < 1:
            raise CaseError(f, w, "theta", theta, f"a number >= 1: units of {src} per unit of {dst}")
        curve = _cost_curve(e, f, w, "a processing cost curve")
        processes.append(Process(region=region, source=src, target=dst, theta=float(theta), cost=curve, meta={k: e[k] for k in PROVENANCE_KEYS if k in e}))
    processes.sort(key=lambda p: (stages.index(p.source), regions.index(p.region)))
    return Market(name=name, stages=list(stages), regions=list(regions), quantity_unit=qunit, price_unit=punit, supply=supply, demand=demand, routes=routes, processes=processes, route_slopes=slopes)


def _plain_routes(entries: list, known: frozenset, stage_set: frozenset):
    """``(keys, costs, slopes)`` of a mineral's routes entries when every
    one is plain (:func:`_plain_route`: one stage, two different known
    regions, a finite cost and slope >= 0, known keys) and no route is
    given twice: a country-level table's 308,000 rows checked a column at
    a time, in C.  None otherwise; the entries are then read one by one,
    every check with its message.  ``keys`` are ``(stage, origin,
    destination)`` in the entries' order, as the one-by-one reading adds
    them."""
    if not isinstance(entries, list) or not entries or set(map(type, entries)) != {dict}:
        return None
    if not all(map(_key_set(ROUTE_KEYS).issuperset, map(dict.keys, entries))):
        return None
    st, o, d = (list(map(dict.get, entries, repeat(k))) for k in ("stage", "origin", "destination"))
    if set(map(type, st + o + d)) != {str}:  # text only (a list would not even go in a set)
        return None
    if not (set(st) <= stage_set and set(o) <= known and set(d) <= known) or any(map(str.__eq__, o, d)):
        return None
    costs, slopes = list(map(dict.get, entries, repeat("cost"))), list(map(dict.get, entries, repeat("slope"), repeat(0.0)))
    if not set(map(type, costs)) | set(map(type, slopes)) <= {float, int}:
        return None
    if not all(map(math.isfinite, costs)) or not all(map(math.isfinite, slopes)) or min(costs) < 0 or min(slopes) < 0:
        return None
    labels = list(map(dict.get, entries, repeat("confidence"), repeat(CONFIDENCE_LABELS[0])))
    if set(map(type, labels)) != {str} or not set(labels) <= set(CONFIDENCE_LABELS):
        return None
    keys = list(zip(st, o, d))
    if len(set(keys)) != len(keys):
        return None
    return keys, list(map(float, costs)), list(map(float, slopes))


def _plain_route(e, known: frozenset, stage_set: frozenset):
    """``([origin], [destination], stage, cost, slope)`` of a routes entry
    that names one stage, two different regions and a finite cost and
    slope >= 0, with known keys: most rows of a country-level table,
    accepted here in a few comparisons; None for any other entry, which
    :func:`_route_entry` then checks (and refuses, naming what is wrong)."""
    if type(e) is not dict or not e.keys() <= _key_set(ROUTE_KEYS):
        return None
    o, d, st, cost, slope = e.get("origin"), e.get("destination"), e.get("stage"), e.get("cost"), e.get("slope", 0.0)
    if not (type(o) is str and type(d) is str and type(st) is str and o != d and o in known and d in known and st in stage_set):
        return None
    if not (type(cost) in (float, int) and type(slope) in (float, int) and math.isfinite(cost) and math.isfinite(slope) and cost >= 0 and slope >= 0):
        return None
    if e.get("confidence", CONFIDENCE_LABELS[0]) not in CONFIDENCE_LABELS:
        return None
    return [o], [d], st, cost, slope


def _route_entry(e, file: str, where: str, name: str, stages: list, reg: Regions):
    """``(origins, destinations, stage, cost, slope)`` of a routes entry,
    every field checked (a CaseError naming the first one wrong)."""
    if not isinstance(e, dict):
        raise CaseError(file, where, "routes", e, "a table per route")
    f, w = e.get("_file", file), e.get("_where", where)
    _check_keys(e, ROUTE_KEYS, f, w)
    _provenance(e, f, w)
    origins = _regions_ref(e.get("origin", "(missing)"), f, w, "origin", reg)
    dests = _regions_ref(e.get("destination", "(missing)"), f, w, "destination", reg)
    st = e.get("stage")
    if st is not None and st not in stages:
        raise CaseError(f, w, "stage", st, f"a stage of {name}: " + ", ".join(stages) + " (or no stage: all stages)")
    cost = e.get("cost", "(missing)")
    if not (cost == "none" or (isinstance(cost, (int, float)) and not isinstance(cost, bool) and math.isfinite(cost) and cost >= 0)):
        raise CaseError(f, w, "cost", cost, "a unit transport cost >= 0 or \"none\" (route forbidden)")
    slope = e.get("slope", 0.0)
    if not (isinstance(slope, (int, float)) and not isinstance(slope, bool) and math.isfinite(slope) and slope >= 0):
        raise CaseError(f, w, "slope", slope, "a number >= 0: how much the route's marginal cost rises per unit of flow (price unit per quantity unit), 0 for a constant unit cost")
    if slope and cost == "none":
        raise CaseError(f, w, "slope", slope, "no slope on a forbidden route (cost = \"none\")")
    return origins, dests, st, cost, slope


#: the smallest |elasticity| of an isoelastic curve: its price goes as
#: quantity**(1/elasticity), and at 1e-9 a change of one part in a million
#: in the quantity already puts the price beyond any float (OverflowError)
MIN_ISOELASTIC = 1e-6


def _cost_curve(e: dict, f: str, w: str, what: str):
    """The ``cost`` curve of a processing or joint-activity entry, with a
    ``capacity`` given beside it or inside it (not both)."""
    cost = e.get("cost", "(missing)")
    if not isinstance(cost, dict):
        raise CaseError(f, w, "cost", cost, what + " such as { form = \"linear\", intercept = 3.0, slope = 0.1 }")
    if "capacity" in e:
        if "capacity" in cost:
            raise CaseError(f, w, "capacity", e["capacity"], "capacity given once: beside the cost curve or inside it, not both")
        cost = dict(cost, capacity=e["capacity"])
    try:
        return _steep_checked(make_curve(cost, "supply"))
    except SpecError as err:
        field_ = "capacity" if err.field == "capacity" and "capacity" in e else f"cost.{err.field}"
        raise CaseError(f, w, field_, err.value, err.expected) from None


def _steep_checked(curve):
    if curve.form == "isoelastic" and abs(curve.e) < MIN_ISOELASTIC:
        raise SpecError("elasticity", curve.e, f"an isoelastic elasticity of magnitude at least {MIN_ISOELASTIC:g} (the price goes as quantity**(1/elasticity)); for a quantity that does not respond to price use form = \"fixed\"")
    return curve


def _build_scenario(s: Any, fname: str, markets: dict, regions: list, groups: dict) -> Scenario:
    if not isinstance(s, dict):
        raise CaseError(fname, "[[scenarios]]", "", s, "a table with name, description and policies")
    f, w = s.get("_file", fname), s.get("_where", "[[scenarios]]")
    _check_keys(s, SCENARIO_KEYS, f, w)
    name = _text(s, "name", f, w)
    if name == BASELINE:
        raise CaseError(f, w, "name", name, "a name other than 'baseline' (the baseline is always solved and named so)")
    w = f"scenario '{name}'"
    desc = s.get("description", "")
    if not isinstance(desc, str):
        raise CaseError(f, w, "description", desc, "text")
    policies = s.get("policies", [])
    if not isinstance(policies, list):
        raise CaseError(f, w, "policies", policies, "an array of tables [[scenarios.policies]]")
    out, insts = [], []
    reg = Regions(list(regions), {k: list(v) for k, v in groups.items()})
    for i, p in enumerate(policies):
        pw = f"{w}, policy {i + 1}"
        if not isinstance(p, dict):
            raise CaseError(f, pw, "", p, "a table with a type")
        ptype = p.get("type")
        if not isinstance(ptype, str) or ptype not in INSTRUMENTS:
            raise CaseError(f, pw, "type", ptype if ptype is not None else "(missing)", "one of " + ", ".join(INSTRUMENTS))
        pw = f"{pw} ({ptype})"
        _provenance(p, f, pw)
        try:
            insts.append(INSTRUMENTS[ptype](p, reg, markets))
        except SpecError as err:
            raise CaseError(f, pw, err.field, err.value, err.expected) from None
        out.append(dict(p))
    return Scenario(name=name, description=desc, policies=out, instruments=insts)
