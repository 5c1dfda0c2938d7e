"""Every Python example of README.md and docs/*.md runs.

Each ```python block runs in a fresh interpreter (so a block that
registers an instrument leaves nothing behind), with the source tree under
test first on the path, in a temporary folder shared by the blocks of one
document, in document order.  Before a document's blocks run, the command
line step they assume is taken there: every ```toml block of the document
that is a case (it has a ``[case]`` table with a ``name``) is written to
``NAME.toml`` and solved with ``mineq solve NAME.toml``, which writes
``mineq-results/NAME.nc`` — the file README's worked example opens.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)


def blocks(path: Path, lang: str) -> list[tuple[int, str]]:
    """(line, code) of each fenced block in ``lang`` in the file."""
    text = path.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 1, m.group(2)) for m in FENCE.finditer(text) if m.group(1) == lang]


EXAMPLES = [(doc, line, code) for doc in DOCS for line, code in blocks(doc, "python")]


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env.pop("MINEQ_PLUGINS", None)
    return env


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def workdirs(tmp_path_factory):
    """One folder per document, with its cases solved by the command line."""
    made: dict[Path, Path] = {}

    def get(doc: Path) -> Path:
        if doc not in made:
            folder = tmp_path_factory.mktemp(doc.stem)
            for line, code in blocks(doc, "toml"):
                try:
                    name = tomllib.loads(code).get("case", {}).get("name")
                except tomllib.TOMLDecodeError as err:
                    raise AssertionError(f"{doc.name} line {line}: a toml block that is not TOML ({err})") from None
                if not name:
                    continue
                (folder / f"{name}.toml").write_text(code, encoding="utf-8")
                out = _run(["-m", "mineq.solver.cli", "solve", f"{name}.toml", "--quiet"], folder)
                assert out.returncode == 0, f"{doc.name} line {line}: mineq solve {name}.toml failed:\n{out.stdout}\n{out.stderr}"
                assert (folder / "mineq-results" / f"{name}.nc").is_file()
            made[doc] = folder
        return made[doc]

    return get


def test_the_documents_have_examples():
    """The collection below is not empty by accident (a renamed fence, a
    moved file): README has its worked example, plugin and API examples,
    and each page under docs/ at least one."""
    per_doc = {doc.name: sum(1 for d, _, _ in EXAMPLES if d == doc) for doc in DOCS}
    assert per_doc["README.md"] >= 3 and {"api.md", "model.md"} <= per_doc.keys(), per_doc
    assert all(n >= 1 for n in per_doc.values()), per_doc


@pytest.mark.parametrize(("doc", "line", "code"), EXAMPLES, ids=[f"{d.relative_to(ROOT)}:{line}" for d, line, _ in EXAMPLES])
def test_example_runs(doc, line, code, workdirs):
    folder = workdirs(doc)
    script = folder / f"example_{line}.py"
    script.write_text(code, encoding="utf-8")
    out = _run([str(script)], folder)
    assert out.returncode == 0, f"{doc.name}, the python block at line {line} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}"
