"""Process-wide settings for mineq's long steps (load, solve, results).

Two settings that cost a solve time without changing a number:

* **The garbage collector.**  CPython's full collections scan every
  tracked object in the process: the modules, classes and functions numpy,
  xarray and HiGHS bring (about 120 000 objects) and the loaded case, none
  of which a solve turns into garbage.  Solving the bundled case triggered
  one or two full collections at 0.05 s each (0.09-0.14 s of a 1.3 s run,
  measured with ``gc.callbacks``).  What exists when a step starts is
  frozen (:func:`gc.freeze`), so that the step's collections scan only
  what it makes, and unfrozen when it ends: nothing lives longer than one
  step, and collection works as before between steps.  During a step
  a young-generation collection waits for 10,000 new objects instead of
  700: a step makes objects that live to its end (curves, programs,
  results: an ensemble's draw makes some 60,000) and few cycles, so at
  700 the collector ran 12 young and one middle collection per draw of
  the bundled case, each scanning the survivors again, 5% of a draw's
  time (``gc.callbacks``, 48 draws: 0.25 of 5 s; at 10,000: 0.02 s).
* **BLAS threads.**  mineq runs markets side by side on its own threads
  (:func:`mineq.solver.run.in_threads`); OpenBLAS's threads on top of them only
  spin on the cores those threads need.  Limiting BLAS to one thread cut
  the bundled case's CPU time from 1.2 to 1.06 s on one thread and from
  1.30 to 1.18 s on two (wall 0.82 -> 0.76 s), and left the 200-region
  scaling benchmark unchanged.

Nested and concurrent steps (threads solving cases side by side, an
ensemble's workers) share one setting, lifted when the last step ends.
"""

from __future__ import annotations

import functools
import gc
import threading
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_blas = None
_threshold = None
#: the young generation's collection threshold during a step (CPython's is 700)
STEP_GC_THRESHOLD = 10_000


@contextmanager
def steady():
    """Freeze the heap, collect the young generation less often and hold
    BLAS to one thread for the block."""
    global _depth, _blas, _threshold
    with _lock:
        if _depth == 0:
            from threadpoolctl import threadpool_limits

            # the limits first: if setting them fails, nothing else was changed
            _blas = threadpool_limits(limits=1, user_api="blas")
            gc.freeze()
            _threshold = gc.get_threshold()
            gc.set_threshold(max(_threshold[0], STEP_GC_THRESHOLD), *_threshold[1:])
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _blas.restore_original_limits()
                _blas = None
                gc.set_threshold(*_threshold)
                gc.unfreeze()


@contextmanager
def collector_off():
    """The garbage collector off for a block that makes many objects that
    all live on and no garbage: loading a case.  The country-level case's
    330,000 rows, each a dict, set off collections that scanned them again
    and again (:func:`mineq.solver.case.load_case` 2.14 -> 1.81 s).  What
    the block does leave cyclic is collected after it.  Turned back on only
    if it was on: a caller that turned it off keeps it so."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def steady_step(fn):
    """Decorator: run ``fn`` inside :func:`steady`."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with steady():
            return fn(*args, **kwargs)

    return wrapper


#: modules xarray imports only because they are installed: it asks for
#: dask's array type whenever it makes a variable
#: (``xarray.namedarray.pycompat.array_type("dask")`` in
#: ``as_compatible_data``) and for dask's scheduler on every ``to_netcdf``
#: (``backends.locks.get_dask_scheduler``), which brings distributed too.
#: No xarray option turns either off; the two cost a ``mineq solve`` of the
#: bundled case 0.4 of its 1.3 s.
OPTIONAL = ("dask", "distributed")


def without_dask() -> list[str]:
    """Have imports of dask and distributed fail for the rest of a command.

    A ``None`` in :data:`sys.modules` makes ``import dask`` raise
    ImportError, which xarray, imported after this, takes as "dask is not
    installed" (it then handles every array as numpy).  Only for commands that make no dask
    arrays (all but ``mineq ensemble``), and only if dask is not already
    imported (someone else's dask arrays may be live).  Returns the names
    blocked, for :func:`allow_dask`.
    """
    import sys

    if "xarray" in sys.modules or any(name in sys.modules for name in OPTIONAL):
        # xarray caches at import whether dask is installed: once it has
        # seen it, a failing import would break it (a command run inside a
        # session that imported xarray, as tests and notebooks do)
        return []
    for name in OPTIONAL:
        sys.modules[name] = None  # type: ignore[assignment]
    return list(OPTIONAL)


def allow_dask(blocked: list[str]) -> None:
    """Undo :func:`without_dask` (a command run in-process, as by a test
    or a notebook, leaves dask importable and xarray's view of it fresh)."""
    import sys

    for name in blocked:
        if sys.modules.get(name, 0) is None:
            del sys.modules[name]
    if blocked and "xarray" in sys.modules:
        # xarray caches "dask is missing" per process; forget it so that a
        # later dask array is recognised as one
        cache = getattr(sys.modules.get("xarray.namedarray.pycompat"), "_cached_duck_array_modules", None)
        if isinstance(cache, dict) and "dask" in cache and not cache["dask"].available:
            del cache["dask"]
        available = getattr(sys.modules.get("xarray.namedarray.utils"), "module_available", None)
        if hasattr(available, "cache_clear"):
            available.cache_clear()
