"""Worker processes (solver/processes.py): what comes back, dead
workers, errors, interruptions and the packing of results."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mineq.solver import processes
from mineq.solver.errors import MineqError
from mineq.solver.processes import forking, in_processes, pack, shares, unpack

PARENT = os.getpid()


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return (a != a and b != b) or a == b  # NaN leaves compare equal


arrays = hnp.arrays(st.sampled_from([np.float64, np.int64, np.int8]), hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
leaves = arrays | st.none() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=5)
nested = st.recursive(leaves, lambda kids: st.lists(kids, max_size=4) | st.tuples(kids, kids) | st.dictionaries(st.text(max_size=3) | st.integers(0, 9), kids, max_size=4), max_leaves=20)


@settings(max_examples=200, deadline=None)
@given(nested)
def test_pack_and_unpack_give_back_the_structure(obj):
    """A worker's results travel with their float arrays in one buffer;
    whatever nesting of dicts, lists and tuples went in comes back,
    arrays of every shape and type (0-d and empty included) equal."""
    import pickle

    assert _same(unpack(pickle.loads(pickle.dumps(pack(obj)))), obj)


@given(st.lists(st.floats(0.0, 100.0), max_size=40), st.integers(1, 4), st.floats(0.0, 0.3))
def test_shares_take_every_item_once_and_balance(weights, workers, extra):
    parts = shares(weights, workers, extra)
    assert len(parts) == workers
    assert sorted(i for p in parts for i in p) == list(range(len(weights)))
    assert all(p == sorted(p) for p in parts)
    # greedy, largest first: no share exceeds its fair load by more than one item
    total, speed = sum(weights), [processes.PARENT_SHARE] + [1.0] * (workers - 1)
    top = max(weights, default=0.0)
    for k, p in enumerate(parts):
        fair = (total * (1 + extra)) * speed[k] / sum(speed)
        assert sum(weights[i] for i in p) <= fair + top + 1e-9 * (1 + total)


needs_fork = pytest.mark.skipif(not forking(), reason="forking is only used on Linux from a single-threaded process")


@pytest.fixture
def forked(monkeypatch):
    """The pids of the workers forked during a test."""
    pids = []
    fork = os.fork

    def spy():
        pid = fork()
        if pid:
            pids.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", spy)
    return pids


def _gone(pids) -> bool:
    """Every one of ``pids`` has exited and been reaped."""
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            continue
        return False
    return bool(pids)


def _square(i):
    return {"i": i, "x": np.full(3, float(i * i)), "pid": os.getpid()}


def _run(fn, n=12, workers=3, **kw):
    out = list(in_processes(fn, list(range(n)), workers, [1.0] * n, lambda r: r, lambda i, r: r, **kw))
    return dict(out)


@needs_fork
def test_every_item_comes_back_once_from_the_workers(forked):
    got = _run(_square)
    assert sorted(got) == list(range(12))
    for i, r in got.items():
        assert r["i"] == i and np.array_equal(r["x"], np.full(3, float(i * i)))
    assert len({r["pid"] for r in got.values()}) == 3  # the parent and two workers did some
    # workers still exiting when their results were in are reaped later
    processes._reap(block=True)
    assert _gone(forked) and not processes._UNREAPED


def _dies(i):
    if os.getpid() != PARENT and i % 4 == 1:
        os._exit(3)  # a worker killed mid-way (out of memory, a crash in C)
    return _square(i)


@needs_fork
def test_a_dead_worker_leaves_its_items_to_the_parent():
    got = _run(_dies)
    assert sorted(got) == list(range(12))
    for i, r in got.items():
        assert r["i"] == i
        if i % 4 == 1:
            assert r["pid"] == PARENT


def _fails(i):
    if os.getpid() != PARENT:
        if i % 2:
            raise MineqError(f"item {i} cannot be solved")
        1 / 0
    return _square(i)


@needs_fork
def test_a_worker_error_is_raised_here(forked):
    """A user error in a worker surfaces as it would in-process; a bug
    carries the worker's traceback.  The workers are gone either way."""
    with pytest.raises((MineqError, RuntimeError)) as err:
        _run(_fails)
    if isinstance(err.value, MineqError):
        assert "cannot be solved" in str(err.value)
    else:
        assert "ZeroDivisionError" in str(err.value)
    assert _gone(forked)


def _slow(i):
    if os.getpid() != PARENT:
        signal.pause()  # a worker still busy when the caller stops
    return _square(i)


@needs_fork
def test_stopping_early_kills_and_reaps_the_workers(forked):
    """A caller that stops early (an error, Ctrl-C) leaves no worker
    running and none unreaped."""
    gen = in_processes(_slow, list(range(12)), 3, [1.0] * 12, lambda r: r, lambda i, r: r)
    first = next(gen)
    assert first[1]["pid"] == PARENT and len(forked) == 2
    gen.close()
    assert _gone(forked)


@needs_fork
def test_an_aside_job_comes_back_from_the_first_worker():
    kept = []
    got = _run(_square, aside=(lambda: ("made in", os.getpid()), kept.append, 0.1))
    assert sorted(got) == list(range(12))
    assert len(kept) == 1 and kept[0][0] == "made in" and kept[0][1] != PARENT


def _running(pid: int) -> bool:
    """Is ``pid`` alive (not gone, nor a zombie waiting for a reaper)?"""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _orphan_script() -> str:
    return """
import os, signal, sys, time
sys.path.insert(0, sys.argv[1])
from mineq.solver.processes import in_processes
PARENT = os.getpid()
def job(i):
    if os.getpid() != PARENT:
        print(os.getpid(), flush=True)
        time.sleep(60)
    return i
for _ in in_processes(job, list(range(4)), 2, [1.0] * 4, lambda r: r, lambda i, r: r):
    time.sleep(60)
"""


@needs_fork
def test_a_worker_ends_with_its_parent():
    """A worker whose parent is killed (a job scheduler's SIGKILL) does
    not go on solving for nobody."""
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = str(Path(__file__).resolve().parent.parent)
    proc = subprocess.Popen([sys.executable, "-c", _orphan_script(), root], stdout=subprocess.PIPE, text=True)
    try:
        worker = int(proc.stdout.readline())
        assert _running(worker)  # alive while its parent is
        proc.kill()
        proc.wait()
        for _ in range(100):
            if not _running(worker):
                break
            time.sleep(0.05)
        else:
            os.kill(worker, signal.SIGKILL)
            pytest.fail("the worker outlived its parent by 5 s")
    finally:
        proc.kill()
