"""Keep the garbage collector off the objects a long step did not make.

CPython's full collections scan every tracked object in the process: the
modules, classes and functions numpy, xarray and HiGHS bring (about 120 000
objects) and the loaded case, none of which a solve turns into garbage.
Solving the bundled case triggers one or two full collections at 0.05 s
each (0.09-0.14 s of a 1.3 s run, measured with ``gc.callbacks``).
:func:`steady_heap` freezes what exists when a step starts
(:func:`gc.freeze`), so that the step's collections scan only what it
makes, and unfreezes it when the step ends: nothing is kept alive longer
than one step, and collection works as before between steps.
"""

from __future__ import annotations

import functools
import gc
import threading
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0


@contextmanager
def frozen_heap():
    """Freeze the heap for the block; nested and concurrent blocks (threads
    solving cases side by side) share one freeze, lifted when the last
    block ends."""
    global _depth
    with _lock:
        if _depth == 0:
            gc.freeze()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                gc.unfreeze()


def steady_heap(fn):
    """Decorator: run ``fn`` inside :func:`frozen_heap`."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with frozen_heap():
            return fn(*args, **kwargs)

    return wrapper
