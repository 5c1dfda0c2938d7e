"""A command imports only what it uses (solver/runtime.py, ``without_dask``).

xarray imports dask (and, on ``to_netcdf``, distributed) whenever they are
installed; a ``mineq solve`` makes no dask arrays, so they were 0.4 s of a
1.3 s baseline solve for nothing.  Each check runs in a fresh interpreter,
because this test process has long imported them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import DEMO

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("dask", "distributed", "matplotlib", "xlsxwriter", "pyomo")


def _imported_after(args: list[str], tail: str = "") -> dict:
    code = (
        "import json, sys\n"
        "from mineq.solver.cli import main\n"
        f"main({args!r}, standalone_mode=False)\n"
        f"mods = {{m: m in sys.modules and sys.modules[m] is not None for m in {HEAVY!r}}}\n"
        f"{tail}\n"
        "print(json.dumps(mods))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_solve_and_verify_import_no_dask_nor_plotting(tmp_path):
    target = tmp_path / "r.nc"
    mods = _imported_after(["solve", str(DEMO), "-s", "baseline", "-q", "-j", "1", "-o", str(target)])
    assert target.exists()
    assert not any(mods.values()), mods
    mods = _imported_after(["verify", str(target)])
    assert not any(mods.values()), mods


def test_dask_works_again_after_a_command_in_process(tmp_path):
    """A command run inside a Python session (a notebook, a test) leaves
    dask importable and xarray recognising dask arrays afterwards."""
    tail = ("import dask.array as da, xarray as xr\n"
            "mods['chunked'] = xr.DataArray(da.ones(4, chunks=2)).chunks is not None")
    mods = _imported_after(["solve", str(DEMO), "-s", "baseline", "-q", "-j", "1", "-o", str(tmp_path / "r.nc")], tail)
    assert mods["chunked"]
