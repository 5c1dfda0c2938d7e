"""mineq: partial-equilibrium models of critical-mineral markets.

The installed package holds three subpackages, kept as top-level folders of
the source tree:

* :mod:`mineq.models`: the formulation (curves, the market welfare program,
  policy instruments), what modelers read and extend;
* :mod:`mineq.solver`: case input and validation, the solve loop, the
  independent verifier, results, statistics, reports and the command line;
* :mod:`mineq.cases`: the bundled cases (package data).

The public Python API is :mod:`mineq.api` (re-exported here lazily, so
``import mineq`` stays cheap).
"""

from __future__ import annotations

import os as _os

__version__ = "0.1.0"

# In a source checkout the subpackages are the folders beside this one
# (``solver/``, ``models/``, ``cases/``); the installed package holds them
# inside ``mineq/`` (pyproject.toml maps them).  Extending ``__path__``
# lets the tests and benchmarks import the source tree unbuilt.
_here = _os.path.dirname(_os.path.abspath(__file__))
_root = _os.path.dirname(_here)
if not _os.path.isdir(_os.path.join(_here, "solver")) and _os.path.isfile(_os.path.join(_root, "solver", "cli.py")) and _os.path.isfile(_os.path.join(_root, "pyproject.toml")):
    __path__.append(_root)  # noqa: F821 (a package's own __path__)

#: the public API (:mod:`mineq.api`), imported on first use (PEP 562):
#: ``import mineq`` loads no numpy, xarray, Pyomo or HiGHS
_API = ("Case", "CaseError", "MineqError", "NotEquilibrium", "SweepResult", "load_case", "solve", "verify", "compare", "sweep", "target", "write", "read")


def __getattr__(name: str):
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'mineq' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_API])
