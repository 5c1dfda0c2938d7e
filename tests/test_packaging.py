"""The installed distribution is one package, ``mineq``: nothing else at
the top level of site-packages (a generic ``models`` or ``solver`` would
collide with other projects)."""

from importlib.metadata import distributions

import pytest


def _installed():
    """The installed distribution (a wheel's ``.dist-info``), not the
    source tree's ``mineq.egg-info`` that a build leaves beside it."""
    for dist in distributions(name="mineq"):
        if getattr(dist, "_path", None) is not None and str(dist._path).endswith(".dist-info"):
            return dist
    pytest.skip("mineq is not installed (pip install . first)")


def test_installs_only_the_mineq_package():
    dist = _installed()
    files = dist.files or []
    assert files, "the installed distribution lists no files"
    tops = set()
    for f in files:
        top = f.parts[0]
        if top == ".." or top.endswith((".dist-info", ".egg-info")) or top == "__pycache__":
            continue  # scripts (bin/mineq) and metadata
        tops.add(top)
    assert tops == {"mineq"}, f"top-level entries installed besides mineq: {sorted(tops - {'mineq'})}"
    names = {"/".join(f.parts[:2]) for f in files if f.parts[0] == "mineq"}
    # the three folders of the source tree are its subpackages
    assert {"mineq/solver", "mineq/models", "mineq/cases"} <= names


def test_entry_point_is_in_the_package():
    dist = _installed()
    scripts = {ep.name: ep.value for ep in dist.entry_points if ep.group == "console_scripts"}
    assert scripts["mineq"] == "mineq.solver.cli:main"
