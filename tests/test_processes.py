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
from mineq.solver.processes import _next, _queue, forking, in_processes, pack, unpack

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


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.0, 100.0), max_size=40), st.integers(1, 8))
def test_the_work_queue_holds_every_item_once_largest_first(weights, entries):
    """Read to its end, the queue gives every position exactly once, in
    batches of at most ceil(n / QUEUE_ENTRIES), largest weights first
    (ties by position), and then reads as empty."""
    old = processes.QUEUE_ENTRIES
    processes.QUEUE_ENTRIES = entries
    try:
        fd, batches = _queue(weights)
    finally:
        processes.QUEUE_ENTRIES = old
    try:
        got = [j for j in iter(lambda: _next(fd), None)]
        assert _next(fd) is None
    finally:
        os.close(fd)
    assert got == list(range(len(batches))) and len(batches) <= entries
    order = [i for j in got for i in batches[j]]
    assert sorted(order) == list(range(len(weights)))
    assert order == sorted(range(len(weights)), key=lambda i: (-weights[i], i))
    assert all(len(b) <= -(-len(weights) // entries) for b in batches)


def test_a_long_queue_fits_in_one_pipe_page():
    """100,000 items: the queue is written before any process reads it, so
    it must fit in the one page (4 KiB) a pipe always has; the items go in
    batches of ceil(100000 / QUEUE_ENTRIES), every one once."""
    fd, batches = _queue([float(i % 7) for i in range(100_000)])
    try:
        got = list(iter(lambda: _next(fd), None))
    finally:
        os.close(fd)
    assert 4 * len(got) <= 4096 and got == list(range(len(batches)))
    assert sorted(i for b in batches for i in b) == list(range(100_000))


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


def _square_slowly(i):
    import time

    time.sleep(0.05)
    return _square(i)


def _run(fn, n=12, workers=3, **kw):
    out = list(in_processes(fn, list(range(n)), workers, [1.0] * n, lambda r: r, lambda i, r: r, **kw))
    return dict(out)


@needs_fork
def test_every_item_comes_back_once_from_the_workers(forked):
    # items that take a while: the first free process takes the next one,
    # and an instant item may all go to the parent before a worker starts
    got = _run(_square_slowly)
    assert sorted(got) == list(range(12))
    for i, r in got.items():
        assert r["i"] == i and np.array_equal(r["x"], np.full(3, float(i * i)))
    assert len({r["pid"] for r in got.values()}) == 3  # the parent and two workers did some
    # workers still exiting when their results were in are reaped later
    processes._reap(block=True)
    assert _gone(forked) and not processes._UNREAPED


def _one_slow(i):
    import time

    time.sleep(0.6 if i == 0 else 0.03)
    return _square(i)


@needs_fork
def test_whoever_is_free_takes_the_next_item():
    """Weights that mislead (all equal, while item 0 takes twenty times
    the others): the process that took item 0 takes few others and the
    other process most of the rest (shared out in advance by the
    weights, each would have taken 10 or 11)."""
    got = _run(_one_slow, n=21, workers=2)
    assert sorted(got) == list(range(21))
    slow = got[0]["pid"]
    by_slow = sum(r["pid"] == slow for r in got.values())
    assert by_slow <= 4 < 21 - by_slow


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
    import time

    time.sleep(0.05)  # long enough that the workers take some items
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
    got = _run(_square, aside=(lambda: ("made in", os.getpid()), kept.append))
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
