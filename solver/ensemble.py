"""Monte Carlo ensembles over uncertain parameters, run on Dask.

Distributions come from the case's uncertainty table (``[case]
uncertainty = "assumptions.csv"``, or ``--uncertainty FILE``): one row per
mineral (or ``*``) and parameter with ``central``, ``low`` and ``high``.
Each draw takes every parameter from the triangular distribution
(low, central, high) and applies it to the case data as a factor
``draw / central``:

* ``demand_elasticity`` / ``supply_elasticity``: the ``elasticity`` of every
  demand (supply) curve of the mineral that has one, so each curve still
  passes through its reference point (calibration is kept) but is steeper
  or flatter;
* ``secondary_elasticity``: the ``elasticity`` of every secondary-supply
  curve of the mineral;
* ``trade_cost_half_gap``: every route cost of the mineral, the unit cost
  and the slope of a rising one alike (a calibrated route's whole margin
  scales with the price gap it was calibrated to).

Rows with other parameters are reported as not drawn.  Draw ``i`` uses the
random stream ``(seed, i)``: the same seed gives the same draws in any
order and on any number of workers.  A draw is an ordinary case: baseline
and scenarios solved and verified mineral by mineral.

Draws are solved in chunks, each chunk written by its worker to its own
NetCDF file (temporary file, then rename) in the output folder, so an
interrupted run keeps every finished chunk and ``--resume`` solves only the
missing ones; at the end the chunks are combined into ``ensemble.nc`` with
a ``draw`` dimension and summary quantiles.

The run folder's ``manifest.json`` says what the run was made for and
records each chunk's draws and the sha256 of the file its worker wrote
(:func:`record_chunk`); each chunk also carries the run's identity
(:func:`run_id`).  ``--resume`` and :func:`combine` take only chunks that
match (:func:`checked_chunks`): a chunk file copied into another chunk's
place, from another run, or changed would otherwise be combined as
duplicate or foreign draws.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import math
import os
import zlib
from pathlib import Path

import numpy as np
import xarray as xr

from mineq.models.speed import plain

from .case import BASELINE, Case, build_case, drawn_case, factors_by_mineral
from .errors import MineqError
from .runtime import steady_step


def _versions() -> dict:
    from .results import _versions as versions

    return versions()

#: what each draw keeps (a full result per draw would be mostly flows)
KEPT = ("price", "supply", "demand", "production", "processing", "net_import_reliance", "sourcing_share",
        "consumer_surplus_change", "producer_surplus_change", "processor_surplus_change", "government_net_change", "total_welfare_change",
        "status", "max_residual", "method", "iterations")
#: summary quantiles written beside the draws
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
#: kept per draw of a dynamic case too (solver/dynamic.py): the treasury's
#: figures per year
DYNAMIC_KEPT = ("fiscal_cost", "fiscal_cost_discounted", "last_binding_year", "floor_binds", "capacity")
DRAWN = {"demand_elasticity", "supply_elasticity", "secondary_elasticity", "trade_cost_half_gap"}


def read_uncertainty(path: str | Path, case: Case) -> list[dict]:
    """Rows (mineral, parameter, central, low, high) of an uncertainty table."""
    path = Path(path)
    if not path.exists():
        raise MineqError(f"The uncertainty table {path} does not exist.")
    rows = []
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = {"mineral", "parameter", "central", "low", "high"} - set(reader.fieldnames or [])
        if missing:
            raise MineqError(f"{path}: the header lacks {', '.join(sorted(missing))}; expected columns mineral, parameter, central, low, high.")
        for n, r in enumerate(reader, start=2):
            mn, par = (r["mineral"] or "").strip(), (r["parameter"] or "").strip()
            if mn != "*" and mn not in case.markets:
                raise MineqError(f"{path}, row {n}, field mineral: '{mn}' is not a mineral of case '{case.name}' (or '*').")
            vals = {}
            for k in ("central", "low", "high"):
                try:
                    vals[k] = float(r[k])
                except (TypeError, ValueError):
                    raise MineqError(f"{path}, row {n}, field {k}: '{r[k]}' is not a number.") from None
                if not math.isfinite(vals[k]):
                    raise MineqError(f"{path}, row {n}, field {k}: {r[k]} is not finite.")
            if par in DRAWN:
                if not (min(vals["low"], vals["high"]) <= vals["central"] <= max(vals["low"], vals["high"])) or vals["central"] == 0:
                    raise MineqError(f"{path}, row {n}: central {vals['central']:g} must be non-zero and between low {vals['low']:g} and high {vals['high']:g}.")
                if vals["low"] * vals["central"] <= 0 or vals["high"] * vals["central"] <= 0:
                    raise MineqError(f"{path}, row {n}: low, central and high of {par} must have the same sign (a draw may not flip a curve's direction).")
            rows.append({"row": n, "mineral": mn, "parameter": par, **vals})
    return rows


def draw_factors(rows: list[dict], seed: int, draw: int) -> list[tuple[str, str, float]]:
    """(mineral, parameter, factor) for one draw; triangular(low, central, high)."""
    rng = np.random.default_rng([seed, draw])
    out = []
    for r in rows:
        if r["parameter"] not in DRAWN:
            continue
        lo, mode, hi = sorted((r["low"], r["high"]))[0], r["central"], sorted((r["low"], r["high"]))[1]
        x = mode if lo == hi else rng.triangular(lo, mode, hi)
        out.append((r["mineral"], r["parameter"], float(x / mode)))
    return out


def perturbed_data(data: dict, factors: list[tuple[str, str, float]], routes: bool = True) -> dict:
    """The case data with the draw's factors applied (see the module docstring).
    ``routes=False`` leaves the route entries (and the default transport
    cost) as they are, for :func:`mineq.solver.case.drawn_case`, which
    scales the built routes instead.

    ``data`` is not changed.  Only what a factor changes is copied (the
    minerals list, and of a mineral its entry, its routes or nodes and
    the curves drawn); the rest (sources, labels, scenarios, most of a
    large case) is shared with ``data``: a deep copy of the bundled case
    took about as long as solving its 54 baseline markets, and building
    a case reads its data without changing it."""
    data = dict(data)
    data["minerals"] = minerals = list(data["minerals"])
    by_mineral = factors_by_mineral(factors, [m["name"] for m in minerals])
    for i, m in enumerate(minerals):
        mine = by_mineral[m["name"]]
        if not mine:
            continue
        m = minerals[i] = dict(m)
        for par, k in mine:
            if par == "trade_cost_half_gap":
                if not routes:
                    continue
                if "routes" in m:
                    m["routes"] = [_scaled(r, ("cost", "slope"), k) for r in m["routes"]]
                if isinstance(m.get("default_transport_cost"), (int, float)):
                    m["default_transport_cost"] = m["default_transport_cost"] * k
            else:
                side = {"demand_elasticity": "demand", "supply_elasticity": "supply", "secondary_elasticity": "secondary"}[par]
                if "nodes" in m:
                    m["nodes"] = [nd if not isinstance(nd.get(side), dict) else {**nd, side: _scaled(nd[side], ("elasticity",), k)} for nd in m["nodes"]]
    return data


def _scaled(entry, keys: tuple, k: float):
    """A copy of ``entry`` with its numeric ``keys`` times ``k`` (the
    entry itself when it has none: nothing to change, nothing to copy)."""
    if not isinstance(entry, dict) or not any(isinstance(entry.get(key), (int, float)) for key in keys):
        return entry
    return {**entry, **{key: entry[key] * k for key in keys if isinstance(entry.get(key), (int, float))}}


# one step for the whole chunk: the draws' solves and Datasets, each a
# step of its own, then nest in it instead of each setting the BLAS
# threads and freezing the heap again (0.9 ms a time, measured; a few a draw)
@steady_step
def solve_chunk(case_json: str | bytes, rows: list[dict], seed: int, draws: list[int], out: str, scenarios: list[str] | None, run: str = "") -> dict:
    """Solve ``draws`` and write them to ``out`` (atomically).  Runs on a
    worker.  ``case_json``: the case's JSON text, or :func:`packed_case`
    of it.  ``run`` (:func:`run_id`) is stamped on the file: a chunk whose
    worker died before reporting it can still be told to be this run's."""
    from .results import to_dataset
    from .run import solve_case

    data = _case_data(case_json)
    kept = None
    parts = []
    ok = total = 0
    central = None
    batch: dict[int, dict] = {}  # draw -> its solved markets, placed BATCH at a time
    for d in draws:
        factors = draw_factors(rows, seed, d)
        if plain():
            case = build_case(perturbed_data(data, factors))
        else:
            # the draw's markets from the central case's (drawn_case: what
            # the factors change is made again, the rest is shared)
            central = central or _central_case(case_json, data)
            case = drawn_case(central, perturbed_data(data, factors, routes=False), factors)
        if case.dynamics is not None:
            # a dynamic case: every year of every path, the fiscal figures per year
            from .dynamic import floor_binds, solve_dynamic

            ds = solve_dynamic(case, case.dynamics, scenarios, threads=1)  # the draws are the parallel work
            ds["floor_binds"] = floor_binds(ds)
            ok += int((ds["status"] == "equilibrium").sum())
            total += int(ds["status"].size)
            parts.append(ds[[v for v in KEPT + DYNAMIC_KEPT if v in ds]].expand_dims(draw=[d]))
            continue
        # one thread: the workers are the parallelism
        kept = kept or central_programs(case_json, data, scenarios)
        res = solve_case(case, scenarios, threads=1, kept=kept)
        ok += sum(r.ok for sc in res.values() for r in sc.values())
        total += sum(len(sc) for sc in res.values())
        batch[d] = res
        if len(batch) >= min(BATCH, max(1, BATCH_NUMBERS // max(1, len(res) * _held(case)))):
            parts.append(_placed(case, batch))
            batch = {}
    if batch:
        parts.append(_placed(case, batch))
    chunk = xr.concat(parts, dim="draw") if len(parts) > 1 else parts[0]
    chunk.attrs = {"seed": seed, "draws": json.dumps(draws), "run": run}
    from .results import ENGINE, atomic_file

    with atomic_file(Path(out), replace=True) as tmp, _local_locks():  # a chunk is only written where none is
        chunk.to_netcdf(tmp, engine=ENGINE)
        # hashed before the rename: what the manifest records is what this
        # worker wrote, whatever lands at ``out`` later
        digest = file_sha256(tmp)
    return {"draws": len(draws), "verified": ok, "markets": total, "sha256": digest}


#: draws placed in one Dataset (:func:`_placed`): a Dataset costs about
#: 8 ms beside its numbers, which a draw of the bundled baseline solves
#: in 100; a batch's solved markets, curves included, stay in memory
#: until it is placed
BATCH = 16
#: fewer where a batch's results would hold more numbers than this, as
#: :func:`_held` counts them (a 200-region case's draw: one at a time)
BATCH_NUMBERS = 1_000_000


def _held(case: Case) -> int:
    """The larger numbers one scenario of a draw's results holds until it
    is placed: each market's route flows, and its supply shares, one per
    node and region (a 200-region case: 308,000 flows, 4.3 million
    shares; the bundled case: 18,240 and 27,648)."""
    return sum(len(m.routes) + len(m.nodes) * len(m.regions) for m in case.markets.values())


def _placed(case: Case, batch: dict[int, dict]) -> xr.Dataset:
    """The :data:`KEPT` numbers of solved draws (``{draw: results}``,
    each as :func:`mineq.solver.run.solve_case` returns them, of the same
    scenarios), along ``draw``: one :func:`mineq.solver.results.to_dataset`
    for all of them, a row per draw and scenario, each draw's scenarios
    compared with its own baseline, then the rows split into ``draw`` and
    ``scenario``.  ``case``: any of the draws' cases (they share minerals,
    stages, regions and scenarios, which is all the kept numbers take
    from it besides the results)."""
    from .results import to_dataset

    first = next(iter(batch.values()))
    names = list(first)
    if any(list(res) != names for res in batch.values()):
        raise ValueError("the draws of a batch must solve the same scenarios in the same order")
    results = {f"{sn}@{d}": res[sn] for d, res in batch.items() for sn in names}
    rows = {f"{sn}@{d}": (sn, f"{BASELINE}@{d}") for d in batch for sn in names}
    ds = to_dataset(case, results, inputs=False, keep=KEPT, rows=rows)
    ds = ds[[v for v in KEPT if v in ds]]
    out = {v: (("draw", *x.dims), x.values.reshape(len(batch), len(names), *x.shape[1:]), x.attrs) for v, x in ds.data_vars.items()}
    coords = {k: c for k, c in ds.coords.items() if k != "scenario"}
    return xr.Dataset(out, coords={"draw": list(batch), "scenario": names, **coords})


#: this worker process's central programs (:class:`mineq.solver.run.KeptPrograms`)
#: by the case text and scenarios (the last run's only): a worker solves
#: many chunks of a run.  Keyed by the text itself: a dict hashes a string
#: once and compares it on a hit, where a digest of the bundled case's
#: 6 MB took 16 ms a chunk
_CENTRAL: dict[tuple, object] = {}


def central_programs(case_json: str | bytes, data: dict, scenarios: list[str] | None):
    """The programs of the central (undrawn) case and ``scenarios``, solved
    once per worker process and run: every draw starts from them."""
    from .run import KeptPrograms

    key = (case_json, None if scenarios is None else tuple(scenarios))
    if key not in _CENTRAL:
        _CENTRAL.clear()  # another run's programs: memory for nothing
        _CENTRAL[key] = KeptPrograms.of_central(_central_case(case_json, data), scenarios)
    return _CENTRAL[key]


#: this worker process's central case and its data by the case text (the
#: last run's only): the draws' cases are made from them (drawn_case), and
#: reading the bundled case's text took 45-140 ms a chunk
_CENTRAL_CASE: dict[str | bytes, tuple[dict, Case | None]] = {}


def packed_case(case_json: str) -> bytes:
    """The case's JSON text compressed, as each chunk's task carries it
    (:func:`solve_chunk`): the bundled case's 6.3 MB are 0.35 MB.  Sent
    plain, 32 tasks' copies took the scheduler's process 1.1 s of CPU,
    on the cores the workers solve on.  Every task carries the case, so
    a worker that joins late or replaces a lost one needs nothing else."""
    return zlib.compress(case_json.encode(), 1)


def _case_data(case_json: str | bytes) -> dict:
    if case_json not in _CENTRAL_CASE:
        _CENTRAL_CASE.clear()
        text = zlib.decompress(case_json).decode() if isinstance(case_json, bytes) else case_json
        _CENTRAL_CASE[case_json] = (json.loads(text), None)
    return _CENTRAL_CASE[case_json][0]


def _central_case(case_json: str | bytes, data: dict) -> Case:
    got = _CENTRAL_CASE.get(case_json)
    if got is None or got[1] is None:
        _CENTRAL_CASE.clear()
        _CENTRAL_CASE[case_json] = (data, build_case(data))
    return _CENTRAL_CASE[case_json][1]


@contextlib.contextmanager
def _local_locks():
    """Write a file with this process's own locks.  On a Dask worker,
    xarray takes the cluster's scheduler for the file's lock and asks it
    for every variable written (824 round trips for four chunks, 125 ms a
    chunk); a chunk file is written by one worker under a name of its own
    and renamed, so no other process can touch it."""
    try:
        import dask
    except ImportError:  # not installed, or kept out (runtime.without_dask)
        yield
        return
    with dask.config.set(scheduler="synchronous"):
        yield


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def scenarios_per_draw(case: Case, scenarios: list[str] | None) -> int:
    """The scenarios each draw solves beside the baseline: those named
    (``baseline`` among them is the baseline itself), or all the case's."""
    return len(set(scenarios) - {BASELINE}) if scenarios else len(case.scenarios)


def draw_bytes(case: Case, scenarios: list[str] | None) -> int:
    """Bytes one draw adds to the result (the :data:`KEPT` variables at the
    case's dimensions; what ``ensemble.nc`` and the combine step hold)."""
    S = 1 + scenarios_per_draw(case, scenarios)
    M = len(case.markets)
    G = max((len(m.stages) for m in case.markets.values()), default=1)
    R = len(case.regions)
    node = S * M * G * R * 8 * (6 + 1 + len(case.groups))  # six node variables and the sourcing shares
    region = S * M * R * 8 * 5  # the welfare changes
    market = S * M * (2 * 44 + 2 * 8)  # status and method (11 characters), residual, iterations
    years = len(case.dynamics.years) if case.dynamics is not None else 1  # a dynamic case keeps every year
    return (node + region + market) * years


def chunk_path(folder: Path, k: int) -> Path:
    return folder / f"chunk-{k:05d}.nc"


def plan_chunks(n: int, size: int) -> list[list[int]]:
    return [list(range(i, min(n, i + size))) for i in range(0, n, size)]


def manifest(case: Case, rows: list[dict], seed: int, draws: int, chunk: int, scenarios) -> dict:
    """What a run folder was made for: a resume must match it exactly.

    The file also holds ``chunks`` (:func:`record_chunk`), which grows as
    the run goes and is not part of what a resume must match."""
    return {"case_hash": case.digest, "uncertainty": rows, "seed": seed, "draws": draws, "chunk": chunk, "scenarios": scenarios}


def run_id(meta: dict) -> str:
    """A digest of what a run was made for (:func:`manifest`)."""
    body = {k: v for k, v in meta.items() if k != "chunks"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _own_chunk(path: Path, run: str, draws: list[int], legacy_seed: int | None = None) -> str | None:
    """The sha256 of a chunk file this run wrote but never recorded (its
    worker died, or the run was stopped, between the write and the
    report), or None if the file does not say it is this run's chunk for
    ``draws``.  ``legacy_seed``: the run was started by a mineq that
    recorded no chunks and stamped none; its chunks are taken when their
    seed and draws are this place's."""
    from .results import ENGINE

    try:
        with xr.open_dataset(path, engine=ENGINE) as ds:
            a = ds.attrs
            stamped = a.get("run") == run or (legacy_seed is not None and "run" not in a and a.get("seed") == legacy_seed)
            mine = stamped and a.get("draws") == json.dumps(draws) and ds["draw"].values.tolist() == draws
    except Exception:  # unreadable: certainly not vouched for
        return None
    return file_sha256(path) if mine else None


def _draw_range(draws: list[int]) -> str:
    return f"draw {draws[0]}" if len(draws) == 1 else f"draws {draws[0]}-{draws[-1]}"


#: chunks recorded since ``manifest.json`` was last rewritten, one JSON
#: line each: appending is constant work per chunk, where rewriting the
#: manifest after each of n chunks would write O(n²) bytes
JOURNAL = "manifest-chunks.jsonl"


def record_chunk(folder: Path, k: int, draws: list[int], sha256: str) -> None:
    """Record that chunk ``k`` holds ``draws`` and has this checksum (in
    the manifest's journal; :func:`fold_journal` moves it into
    ``manifest.json``).  Only the client writes it."""
    line = json.dumps({"file": chunk_path(folder, k).name, "draws": list(draws), "sha256": sha256})
    with open(folder / JOURNAL, "a", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def recorded_chunks(folder: Path) -> tuple[dict, dict]:
    """(the manifest, its recorded chunks: file name -> draws and sha256),
    the journal's lines over the manifest's own ``chunks``."""
    meta = json.loads((folder / "manifest.json").read_text())
    if not isinstance(meta, dict) or not isinstance(meta.get("chunks", {}), dict):
        raise ValueError("manifest.json is not a table with a table of chunks")
    chunks = dict(meta.get("chunks", {}))
    try:
        lines = (folder / JOURNAL).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        lines = []
    for n, text in enumerate(lines):
        try:
            rec = json.loads(text)
        except ValueError:
            if n == len(lines) - 1:  # torn by a crash mid-append: that chunk is simply unrecorded
                break
            raise
        chunks[rec["file"]] = {"draws": rec["draws"], "sha256": rec["sha256"]}
    return meta, chunks


def fold_journal(folder: Path) -> None:
    """Move the journal's records into ``manifest.json`` (rewritten
    atomically, then the journal removed): once per run, as it ends."""
    from .results import atomic_file

    if not (folder / JOURNAL).exists():
        return
    meta, chunks = recorded_chunks(folder)
    meta["chunks"] = dict(sorted(chunks.items()))
    with atomic_file(folder / "manifest.json", replace=True) as tmp:  # the run owns its manifest: folding replaces it
        tmp.write_text(json.dumps(meta, indent=1))
    (folder / JOURNAL).unlink()


def checked_chunks(folder: Path, chunks: list[list[int]]) -> list[int]:
    """The chunks of the plan already written in ``folder``: each chunk file
    must be one the manifest records, for the draws the plan gives it,
    with the recorded checksum.  Anything else (a chunk copied from
    another place or run, changed, or unknown to the manifest) raises a
    :class:`MineqError`: combining it would duplicate or mix draws."""
    mfile = folder / "manifest.json"
    try:
        meta, recorded = recorded_chunks(folder)
    except (OSError, ValueError, KeyError, TypeError):
        raise MineqError(f"{mfile} is missing or unreadable, so the chunk files in {folder} cannot be checked against what the run wrote; nothing was combined.") from None
    have = []
    for f in sorted(folder.glob("chunk-*.nc")):
        stem = f.name[len("chunk-"):-len(".nc")]
        k = int(stem) if stem.isdigit() else -1
        fix = f"Remove {f.name} (its draws are then solved again by --resume) or restore the file this run wrote."
        if not 0 <= k < len(chunks):
            raise MineqError(f"{f} is not a chunk of this run: the run in {folder} has chunks 0 to {len(chunks) - 1} ({sum(map(len, chunks))} draws). Remove it; nothing was combined.")
        rec = recorded.get(f.name)
        if rec is None:
            legacy = meta.get("seed") if "chunks" not in meta else None
            digest = _own_chunk(f, run_id(meta), chunks[k], legacy)
            if digest is None:
                raise MineqError(f"{f} is not recorded in {mfile} and is not stamped as this run's chunk {k} ({_draw_range(chunks[k])}): it was copied from another place or run. {fix}")
            record_chunk(folder, k, chunks[k], digest)
            rec = {"draws": chunks[k], "sha256": digest}
        if rec.get("draws") != chunks[k]:
            raise MineqError(f"{mfile} records {f.name} with draws {rec.get('draws')}, but this run's chunk {k} is {_draw_range(chunks[k])} (the manifest was edited or comes from another run). {fix}")
        got = file_sha256(f)
        if got != rec.get("sha256"):
            raise MineqError(f"{f} has sha256 {got[:16]}..., but {mfile} records {str(rec.get('sha256'))[:16]}... for it ({_draw_range(chunks[k])}): the file is not the one this run wrote (copied over or changed), and combining it could duplicate or lose draws. {fix}")
        have.append(k)
    return have


def combine(folder: Path, chunks: list[list[int]], case: Case, meta: dict) -> xr.Dataset:
    """All chunks along ``draw``, with quantiles of every numeric variable."""
    from .results import ENGINE

    have = set(checked_chunks(folder, chunks))
    missing = [k for k in range(len(chunks)) if k not in have]
    if missing:
        raise MineqError(f"{folder} lacks {len(missing)} of its {len(chunks)} chunk files (first: {chunk_path(folder, missing[0]).name}, {_draw_range(chunks[missing[0]])}); run again with --resume to solve them.")
    parts = []
    for k in range(len(chunks)):
        part = xr.load_dataset(chunk_path(folder, k), engine=ENGINE)
        # the checksum says the file is the one a worker wrote; this says
        # the worker wrote the draws of its place
        if part["draw"].values.tolist() != chunks[k]:
            raise MineqError(f"{chunk_path(folder, k)} holds draws {part['draw'].values.tolist()[:6]}, but chunk {k} of this run is {_draw_range(chunks[k])}; nothing was combined. Remove the file and run again with --resume.")
        parts.append(part)
    # the chunks of one run share every coordinate but ``draw`` (checked
    # here, index by index): concatenated without aligning them again, and
    # not sorted again when the plan's draws are in order (1,024 draws:
    # 0.08 s instead of 1.3)
    same = all(set(p.indexes) == set(parts[0].indexes) for p in parts) and all(p.indexes[k].equals(parts[0].indexes[k]) for p in parts for k in parts[0].indexes if k != "draw")
    ds = xr.concat(parts, dim="draw", coords="minimal", compat="override", join="override") if same else xr.concat(parts, dim="draw")
    if not bool(np.all(np.diff(ds["draw"].values) > 0)):
        ds = ds.sortby("draw")
    num = [v for v in ds.data_vars if ds[v].dtype.kind == "f"]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells: combinations that do not exist
        q = ds[num].quantile(list(QUANTILES), dim="draw", skipna=True)
    for v in num:
        ds[f"{v}_quantiles"] = q[v]
        ds[f"{v}_quantiles"].attrs = {"description": f"quantiles of {v} over the draws"}
    if "floor_binds" in ds:
        # what a treasury asks: per year and scenario, how likely a floor
        # binds, and the expected and tail (95th percentile) outlays
        ds["floor_binding_probability"] = ds["floor_binds"].mean("draw", skipna=True).assign_attrs(description="share of the draws (that reached the year) in which the scenario's price floors pay (deficiency payments or offtake outlays)")
        ds["fiscal_cost_expected"] = ds["fiscal_cost"].mean("draw", skipna=True).assign_attrs(description="mean of fiscal_cost over the draws", units=ds["fiscal_cost"].attrs.get("units", ""))
        ds["fiscal_cost_p95"] = ds["fiscal_cost"].quantile(0.95, dim="draw", skipna=True).drop_vars("quantile").assign_attrs(description="95th percentile of fiscal_cost over the draws", units=ds["fiscal_cost"].attrs.get("units", ""))
    mins = ds.mineral.values.tolist()
    # units per mineral, as in a solve's results (money in the report)
    ds["mineral_quantity_unit"] = (("mineral",), np.array([case.markets[m].quantity_unit for m in mins], dtype=str))
    ds["mineral_price_unit"] = (("mineral",), np.array([case.markets[m].price_unit for m in mins], dtype=str))
    ds.attrs = {
        "title": f"mineq ensemble of case '{case.name}'",
        "case_name": case.name,
        "base_year": case.base_year if case.base_year is not None else "",
        "seed": meta["seed"],
        "draws": meta["draws"],
        "distribution": "triangular(low, central, high) per uncertainty row; factor = draw / central (solver/ensemble.py)",
        "uncertainty_json": json.dumps(meta["uncertainty"]),
        "input_hash": meta["case_hash"],
        "all_equilibria": int((ds["status"] == "equilibrium").all()),
        "max_residual": float(ds["max_residual"].max()),
        **_versions(),  # the report's header names the versions, as for a solve
    }
    return ds
