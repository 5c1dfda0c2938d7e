"""The heap freeze around long steps (solver/heap.py) is always lifted."""

import gc
import threading

import pytest

from solver.heap import frozen_heap, steady_heap


def test_freeze_is_lifted_after_nested_blocks_and_errors():
    assert gc.get_freeze_count() == 0
    with frozen_heap():
        frozen = gc.get_freeze_count()
        assert frozen > 0
        with frozen_heap():
            # the inner block does not unfreeze the outer one's heap
            pass
        assert gc.get_freeze_count() == frozen

    @steady_heap
    def fails():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fails()
    assert gc.get_freeze_count() == 0


def test_freeze_is_lifted_when_concurrent_blocks_end_in_any_order():
    inside, release = threading.Barrier(3), threading.Event()

    def work():
        with frozen_heap():
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


def test_objects_made_before_a_step_are_collected_after_it():
    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle: only the collector frees it
    import weakref

    ref = weakref.ref(a)
    with frozen_heap():
        del a, b
        gc.collect()
        assert ref() is not None  # frozen: not scanned during the step
    gc.collect()
    assert ref() is None
