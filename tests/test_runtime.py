"""The settings of a long step (solver/runtime.py) are always lifted."""

import gc
import threading

import pytest

from threadpoolctl import threadpool_info

from mineq.solver.runtime import STEP_GC_THRESHOLD, steady, steady_step


def test_freeze_is_lifted_after_nested_blocks_and_errors():
    assert gc.get_freeze_count() == 0
    before = gc.get_threshold()
    with steady():
        frozen = gc.get_freeze_count()
        assert frozen > 0
        assert gc.get_threshold() == (max(before[0], STEP_GC_THRESHOLD), *before[1:])
        with steady():
            # the inner block does not unfreeze the outer one's heap
            pass
        assert gc.get_threshold()[0] == max(before[0], STEP_GC_THRESHOLD)
        # (frozen objects can still die meanwhile, a few of them in a full
        # test run: an unfrozen heap would leave none)
        assert gc.get_freeze_count() > frozen // 2

    @steady_step
    def fails():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fails()
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before


def test_freeze_is_lifted_when_concurrent_blocks_end_in_any_order():
    before = gc.get_threshold()
    inside, release = threading.Barrier(3), threading.Event()

    def work():
        with steady():
            inside.wait()
            release.wait()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    inside.wait()
    assert gc.get_freeze_count() > 0
    release.set()
    for t in threads:
        t.join()
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before


def test_objects_made_before_a_step_are_collected_after_it():
    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle: only the collector frees it
    import weakref

    ref = weakref.ref(a)
    with steady():
        del a, b
        gc.collect()
        assert ref() is not None  # frozen: not scanned during the step
    gc.collect()
    assert ref() is None


def test_blas_threads_are_limited_in_a_step_and_restored_after():
    before = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    with steady():
        assert all(p["num_threads"] == 1 for p in threadpool_info() if p["user_api"] == "blas")
    assert [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"] == before


def test_a_step_whose_blas_limit_fails_changes_nothing(monkeypatch):
    """The BLAS limit is set before the heap is frozen and the collector's
    threshold raised: a step that cannot set it fails with the heap and
    the threshold as they were."""
    import threadpoolctl

    def broken(*args, **kwargs):
        raise RuntimeError("no BLAS info")

    monkeypatch.setattr(threadpoolctl, "threadpool_limits", broken)
    before = gc.get_threshold()
    with pytest.raises(RuntimeError):
        with steady():
            pass
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == before
