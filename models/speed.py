"""One switch for the speed machinery: the plain reference path.

mineq's fast path adds machinery around the formulation: route generation
(:mod:`mineq.models.routes`: HiGHS first holds only a few routes per
node), hot starts from a neighbouring program's basis
(:mod:`mineq.models.hot_start`), the compiled active-set step
(``models/_polish.c``), re-use of a built program across a sweep's points,
and worker processes or threads.  None of it changes what is solved.  With
the plain path on, every program is built whole, solved cold, polished in
Python and solved one after another, so that a modeler can follow one
market from its formulation (:mod:`mineq.models.program`) to HiGHS to the
verifier; ``tests/test_plain_path.py`` holds the two paths to the same
equilibria on the bundled case.

Switch it on with the environment variable ``MINEQ_PLAIN=1`` or, in
Python, ``with mineq.models.speed.plain_path(): ...``.
"""

from __future__ import annotations

import contextlib
import os

_forced: bool | None = None


def plain() -> bool:
    """True when the plain reference path is on."""
    if _forced is not None:
        return _forced
    return os.environ.get("MINEQ_PLAIN", "0") == "1"


@contextlib.contextmanager
def plain_path(on: bool = True):
    """Solve on the plain path (``on``) or the fast one inside the block."""
    global _forced
    old, _forced = _forced, on
    try:
        yield
    finally:
        _forced = old
