"""Issue 17, "Trust": nothing a user wrote is lost, hostile or broken
input gets one paragraph and never a traceback, a crash or a leak.

Every test here failed on the code before the issue was addressed.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import xarray as xr

from mineq.solver import results
from mineq.solver.errors import MineqError
from helpers import DEMO, run, solved_demo

ROOT = Path(__file__).resolve().parent.parent
MINEQ = [sys.executable, "-c", "from mineq.solver.cli import main; main()"]




def one_paragraph(text: str) -> None:
    assert "Traceback" not in text and "Internal error" not in text and "bug in mineq" not in text, text
    assert text.startswith("Error: ") and text.strip().count("\n") == 0, text


@pytest.fixture(scope="module")
def solved(tmp_path_factory):
    return solved_demo(tmp_path_factory)


def leftovers(folder: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


# ----------------------------------------------------------------------
# nothing lost
# ----------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["netcdf", "csv", "xlsx"])
def test_a_result_that_appears_during_the_write_is_kept(solved, tmp_path, monkeypatch, fmt):
    """Another run publishes the same output while this one writes: this
    one stops with "already exists" and the other's result stays."""
    ds = xr.load_dataset(solved)
    target = tmp_path / {"netcdf": "r.nc", "csv": "r", "xlsx": "r.xlsx"}[fmt]

    def other_run_finishes():
        if fmt == "csv":
            target.mkdir()
            (target / "nodes.csv").write_text("the other run's\n")
        else:
            target.write_text("the other run's\n")

    if fmt == "netcdf":
        real = xr.Dataset.to_netcdf

        def racing(self, path, *a, **k):
            real(self, path, *a, **k)
            other_run_finishes()

        monkeypatch.setattr(xr.Dataset, "to_netcdf", racing)
    else:
        name = "write_csv" if fmt == "csv" else "write_sheets"
        real_writer = getattr(results, name)

        def racing(*a, **k):
            real_writer(*a, **k)
            other_run_finishes()

        monkeypatch.setattr(results, name, racing)
    with pytest.raises(MineqError, match="already exists"):
        results.write(ds, target, fmt=fmt)
    kept = target / "nodes.csv" if fmt == "csv" else target
    assert kept.read_text() == "the other run's\n"
    assert leftovers(tmp_path, {target.name}) == []


def test_two_racing_solves_never_both_claim_one_path(tmp_path):
    """Two `mineq solve` runs started together on one --out: exactly one
    writes it, the other says it exists.  Without --out, both results are
    kept, under two names."""
    target = tmp_path / "r.nc"
    for _ in range(2):
        if target.exists():
            target.unlink()
        procs = [subprocess.Popen([*MINEQ, "solve", str(DEMO), "--out", str(target), "--quiet"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
        outs = [(p.wait(timeout=120), p.stdout.read()) for p in procs]
        assert sorted(code for code, _ in outs) == [0, 1], outs
        assert sum("Results written" in text for _, text in outs) == 1, outs
        assert any("already exists" in text for _, text in outs), outs
        xr.load_dataset(target)  # a complete result
    work = tmp_path / "default"
    work.mkdir()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs = [subprocess.Popen([*MINEQ, "solve", str(DEMO), "--quiet"], cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outs = [(p.wait(timeout=120), p.stdout.read()) for p in procs]
    assert [code for code, _ in outs] == [0, 0], outs
    assert sorted(p.name for p in (work / "mineq-results").iterdir()) == ["three-region-demo-2.nc", "three-region-demo.nc"], outs


def test_results_follow_the_umask(solved, tmp_path):
    """Result files and folders get the user's umask (mkstemp and mkdtemp
    made them 0600 and 0700)."""
    ds = xr.load_dataset(solved)
    old = os.umask(0o027)
    try:
        nc = results.write(ds, tmp_path / "r.nc")
        xl = results.write(ds, tmp_path / "r.xlsx", fmt="xlsx")
        folder = results.write(ds, tmp_path / "csv", fmt="csv")
        replaced = results.write(ds, tmp_path / "r.nc", force=True)
    finally:
        os.umask(old)
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert mode(nc) == mode(xl) == mode(replaced) == 0o640
    assert mode(folder) == 0o750 and mode(folder / "nodes.csv") == 0o640


SIGNAL_DURING_WRITE = textwrap.dedent(
    """
    import os, signal, sys
    import xarray as xr
    from mineq.solver import results

    ds = xr.load_dataset(sys.argv[1])
    real = xr.Dataset.to_netcdf

    def signalled(self, path, *a, **k):
        os.kill(os.getpid(), getattr(signal, sys.argv[3]))  # arrives in the middle of the write
        return real(self, path, *a, **k)

    xr.Dataset.to_netcdf = signalled
    try:
        results.write(ds, sys.argv[2], force=True)
    except KeyboardInterrupt:
        sys.exit(3)
    """
)


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_a_signal_during_the_write_leaves_the_old_file_and_no_temporary(solved, tmp_path, sig):
    target = tmp_path / "r.nc"
    shutil.copy(solved, target)
    before = target.read_bytes()
    p = subprocess.run([sys.executable, "-c", SIGNAL_DURING_WRITE, str(solved), str(target), sig], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.returncode == 3, (p.returncode, p.stderr)
    assert target.read_bytes() == before
    assert leftovers(tmp_path, {"r.nc"}) == []


SOLVE_TERMINATED_IN_WRITE = textwrap.dedent(
    """
    import os, signal, sys
    import xarray as xr
    from mineq.solver.cli import main

    real = xr.Dataset.to_netcdf

    def terminated(self, path, *a, **k):
        os.kill(os.getpid(), signal.SIGTERM)
        return real(self, path, *a, **k)

    xr.Dataset.to_netcdf = terminated
    main(["solve", sys.argv[1], "--out", sys.argv[2], "--quiet"])
    """
)


def test_sigterm_in_the_write_of_a_solve_says_nothing_was_written(tmp_path):
    """The message after an interruption in the write is the truth, and
    the process ends through it (SIGTERM killed it on the spot, leaving
    the temporary file)."""
    target = tmp_path / "out" / "r.nc"
    p = subprocess.run([sys.executable, "-c", SOLVE_TERMINATED_IN_WRITE, str(DEMO), str(target)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 1 and "Terminated; nothing was written" in p.stderr, (p.returncode, p.stderr)
    assert leftovers(target.parent, set()) == []


PESTERED = textwrap.dedent(
    """
    import os, random, signal, sys, threading, time
    import xarray as xr
    from mineq.solver import results

    ds = xr.load_dataset(sys.argv[1])
    stop = time.time() + float(sys.argv[3])
    random.seed(0)

    def pester():
        if sys.argv[4] == "SIGTERM":  # once: by default it ends the process
            time.sleep(random.uniform(0.5, 1.5))
            os.kill(os.getpid(), signal.SIGTERM)
            return
        while time.time() < stop:
            time.sleep(random.uniform(0.001, 0.05))
            os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=pester, daemon=True).start()
    while time.time() < stop:
        try:
            results.write(ds, sys.argv[2], force=True)
        except KeyboardInterrupt:
            pass
    """
)


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_signals_at_any_moment_of_writes_leave_no_temporary_file(solved, tmp_path, sig):
    """Ctrl-C at random moments of repeated writes, or one SIGTERM: never a
    hang (the NetCDF library interrupted inside xarray's lock), never a
    temporary file, never a torn result."""
    target = tmp_path / "r.nc"
    shutil.copy(solved, target)
    subprocess.run([sys.executable, "-c", PESTERED, str(solved), str(target), "5", sig], cwd=ROOT, capture_output=True, timeout=90)
    assert leftovers(tmp_path, {"r.nc"}) == []
    assert xr.load_dataset(target).sizes["scenario"] == 4


def test_an_interruption_after_the_write_says_what_was_written(tmp_path, monkeypatch):
    """Ctrl-C while the summary prints: the file is complete, and the
    message says so (it said "nothing was written")."""
    from mineq.solver import report

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "print_summary", interrupted)
    monkeypatch.setattr(report, "print_headline", interrupted)
    target = tmp_path / "r.nc"
    code, text = run("solve", DEMO, "--out", target)
    assert code == 1 and "nothing was written" not in text, text
    assert f"Interrupted after writing {target} (complete)" in text, text
    xr.load_dataset(target)


def test_racing_reports_never_both_claim_one_folder(solved, tmp_path, monkeypatch):
    """A report that appears while this one is being drawn is kept."""
    from mineq.solver import html_report

    folder = tmp_path / "rep"
    real = html_report._checks

    def other_report_lands(rep, ds, *rest):
        real(rep, ds, *rest)
        folder.mkdir(exist_ok=True)
        (folder / "report.html").write_text("the other report\n")

    monkeypatch.setattr(html_report, "_checks", other_report_lands)
    code, text = run("report", solved, "--out", folder)
    assert code == 1 and "already exists" in text, text
    assert (folder / "report.html").read_text() == "the other report\n"
    assert leftovers(folder, {"report.html"}) == []


# ----------------------------------------------------------------------
# hostile or broken input
# ----------------------------------------------------------------------
def hostile_case(tmp_path: Path, mineral: str = "=cmd|' /C calc'!A0") -> Path:
    """The demo with formula-like names everywhere a user writes text."""
    text = (DEMO / "case.toml").read_text()
    text = text.replace('name = "three-region-demo"', 'name = "=HYPERLINK(\\"http://example.com\\",\\"open\\")"')
    text = text.replace('"USA"', '"+USA"').replace('"ROW"', '"-ROW"').replace('"lithium"', f'"{mineral}"')
    text = text.replace('name = "us-mip"', 'name = "@us-mip"').replace('description = "USA minimum', 'description = "=1+2 USA minimum')
    folder = tmp_path / "hostile"
    folder.mkdir()
    (folder / "case.toml").write_text(text)
    return folder


FORMULA = ("=", "+", "-", "@", "\t", "\r")


def test_no_live_formulas_in_csv_or_xlsx(tmp_path):
    import csv

    import openpyxl

    case = hostile_case(tmp_path)
    for fmt, out in (("csv", tmp_path / "csv"), ("xlsx", tmp_path / "r.xlsx"), ("netcdf", tmp_path / "r.nc")):
        code, text = run("solve", case, "--out", out, "--format", fmt, "--quiet")
        assert code == 0, text
    code, text = run("compare", tmp_path / "r.nc", "--format", "xlsx", "--out", tmp_path / "changes.xlsx")
    assert code == 0, text
    numbers = 0
    for f in sorted((tmp_path / "csv").glob("*.csv")):
        for row in csv.reader(f.open()):
            for cell in row:
                try:
                    float(cell)
                    numbers += cell.startswith("-")
                except ValueError:
                    assert not cell.startswith(FORMULA), (f.name, cell)
    assert numbers > 0  # negative numbers stay numbers
    nodes = (tmp_path / "csv" / "nodes.csv").read_text()
    assert "'=cmd|' /C calc'!A0" in nodes and "'+USA" in nodes and "'-ROW" in nodes and "'@us-mip" in nodes
    for book in ("r.xlsx", "changes.xlsx"):
        wb = openpyxl.load_workbook(tmp_path / book)
        seen = set()
        for ws in wb.worksheets:
            for row in ws.iter_rows():
                for c in row:
                    assert c.data_type != "f", (book, ws.title, c.coordinate, c.value)
                    if isinstance(c.value, str):
                        assert not c.value.startswith(FORMULA), (book, ws.title, c.coordinate, c.value)
                        seen.add(c.value)
                    elif isinstance(c.value, float) and c.value < 0:
                        seen.add("negative number")
        assert "'=cmd|' /C calc'!A0" in seen and "negative number" in seen, book
        if book == "r.xlsx":
            assert "'=HYPERLINK(\"http://example.com\",\"open\")" in seen


def test_names_are_text_in_figures_and_html(tmp_path):
    """A '$' in a name crashed `report` and `sweep` (matplotlib mathtext);
    HTML-like names are escaped in the report."""
    case = hostile_case(tmp_path, mineral="li$\\\\frac$<b>x</b>")
    code, text = run("solve", case, "--out", tmp_path / "r.nc", "--quiet")
    assert code == 0, text
    code, text = run("report", tmp_path / "r.nc", "--out", tmp_path / "rep")
    assert code == 0, text
    page = (tmp_path / "rep" / "report.html").read_text()
    assert "<b>x</b>" not in page and "li$\\frac$&lt;b&gt;x&lt;/b&gt;" in page
    code, text = run("sweep", case, "-s", "@us-mip", "--set", "level=30:40:3", "-m", "li$\\frac$<b>x</b>", "-i", "price[+USA]", "--out", tmp_path / "s.nc", "--quiet")
    assert code == 0, text
    assert (tmp_path / "s.png").stat().st_size > 0
    code, text = run("report", tmp_path / "s.nc", "--out", tmp_path / "srep")
    assert code == 0, text


def outside_case(tmp_path: Path, name: str) -> Path:
    """The demo with lithium's nodes in the table ``name``."""
    text = (DEMO / "case.toml").read_text()
    start, end = text.index("[[minerals.nodes]]"), text.index("[[minerals.routes]]")
    folder = tmp_path / "case"
    folder.mkdir(exist_ok=True)
    (folder / "case.toml").write_text(text[:start] + f'nodes = "{name}"\n\n' + text[end:])
    return folder


SECRET = "root:x:0:0:secret-line-one\nadmin:x:1:1:secret-line-two\nuser:x:2:2:secret-line-three\n"


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink"])
def test_tables_outside_the_case_folder_are_refused(tmp_path, how):
    secret = tmp_path / "secret.csv"
    secret.write_text(SECRET)
    if how == "dotdot":
        name = "../secret.csv"
    elif how == "absolute":
        name = str(secret)
    else:
        name = "nodes.csv"
    case = outside_case(tmp_path, name)
    if how == "symlink":
        (case / "nodes.csv").symlink_to(secret)
    for cmd in ("check", "solve"):
        code, text = run(cmd, case, *(["--out", tmp_path / "r.nc"] if cmd == "solve" else []))
        one_paragraph(text)
        assert "outside" in text and "--allow-outside-case" in text and "secret-line" not in text, text
    # with the option, the file is read; an error then shows one cell at most
    code, text = run("check", case, "--allow-outside-case")
    one_paragraph(text)
    assert "secret-line-one" in text and "secret-line-three" not in text, text


def test_extra_cells_show_one_cell_only(tmp_path):
    case = outside_case(tmp_path, "nodes.csv")
    (case / "nodes.csv").write_text("stage,region,demand_form,demand_intercept,demand_slope\nrefined,USA,linear,100,1,private-one,private-two\n")
    code, text = run("check", case)
    one_paragraph(text)
    assert "row 2" in text and "private-one" in text and "private-two" not in text, text


def test_unwritable_output_fails_before_solving(tmp_path, monkeypatch):
    """An output folder that cannot be made fails at once (after the whole
    solve it was an internal error)."""
    from mineq.solver import run as run_module

    blocker = tmp_path / "a-file"
    blocker.write_text("")

    def no_solve(*a, **k):
        raise AssertionError("solved although the output cannot be written")

    monkeypatch.setattr(run_module, "solve_case", no_solve)
    for fmt in ("netcdf", "csv", "xlsx"):
        code, text = run("solve", DEMO, "--out", blocker / "sub" / "r", "--format", fmt, "--quiet")
        one_paragraph(text)
        assert "a-file is a file" in text, text


def test_a_folder_as_out_with_force(tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    for fmt in ("netcdf", "xlsx"):
        code, text = run("solve", DEMO, "--out", folder, "--format", fmt, "--force", "--quiet")
        one_paragraph(text)
        assert "is a folder" in text, text
    assert (folder / "keep.txt").read_text() == "mine"


def test_a_netcdf_that_is_not_a_mineq_result(tmp_path):
    foreign = tmp_path / "foreign.nc"
    xr.Dataset({"temperature": ("time", [1.0, 2.0])}).to_netcdf(foreign)
    for args in (("verify", foreign), ("compare", foreign), ("report", foreign, "--out", tmp_path / "rep")):
        code, text = run(*args)
        one_paragraph(text)
        assert "not a mineq result" in text and "'price'" in text, text


@pytest.mark.parametrize("stored", ["[1, 2]", '"text"', "[" * 100000 + "]" * 100000])
def test_stored_case_that_is_not_an_object(solved, tmp_path, stored):
    ds = xr.load_dataset(solved)
    ds.attrs["case_json"] = stored
    bad = tmp_path / "bad.nc"
    ds.to_netcdf(bad)
    code, text = run("verify", bad)
    one_paragraph(text)
    assert "case_json" in text and "edited or is damaged" in text, text
    code, text = run("report", bad, "--out", tmp_path / "rep")
    assert code == 0, text  # the stored case only picks the headline region there


@pytest.mark.parametrize("toml", ["a = " + "[" * 5000 + "]" * 5000, '[case]\nname = "x"\ndescription = ' + "[" * 600 + "]" * 600, "a = " + "{b = " * 3000 + "1" + "}" * 3000])
def test_deeply_nested_toml(tmp_path, toml):
    case = tmp_path / "deep.toml"
    case.write_text(toml + "\n")
    code, text = run("check", case)
    one_paragraph(text)
    assert "deep.toml" in text and "nested too deeply" in text, text


@pytest.mark.parametrize("side,old,new", [("supply", "elasticity = 1.2 }", "elasticity = 1e-9 }"), ("demand", "elasticity = -0.8 }", "elasticity = -1e-9 }")])
def test_isoelastic_elasticity_near_zero(tmp_path, side, old, new):
    folder = tmp_path / "case"
    folder.mkdir()
    (folder / "case.toml").write_text((DEMO / "case.toml").read_text().replace(old, new))
    for args in (("check", folder), ("solve", folder, "--out", tmp_path / "r.nc", "--quiet")):
        code, text = run(*args)
        one_paragraph(text)
        assert f"field '{side}.elasticity'" in text and "form = \"fixed\"" in text and "lithium" in text, text


def test_steep_but_valid_isoelastic_curves_solve(tmp_path):
    """|elasticity| of 0.03 or 1e-5 is steep but valid: the unboundedness
    diagnosis overflowed on it (OverflowError in a valid case)."""
    for e in ("0.03", "1e-5"):
        folder = tmp_path / f"case{e}"
        folder.mkdir()
        (folder / "case.toml").write_text((DEMO / "case.toml").read_text().replace("elasticity = 1.2 }", f"elasticity = {e} }}"))
        code, text = run("solve", folder, "--out", tmp_path / f"r{e}.nc", "--quiet")
        assert code == 0, text


def test_uncertainty_table_outside_the_case_folder_is_refused(tmp_path):
    (tmp_path / "secret.csv").write_text(SECRET)
    folder = tmp_path / "case"
    folder.mkdir()
    text = (DEMO / "case.toml").read_text().replace("base_year = 2024\n", 'base_year = 2024\nuncertainty = "../secret.csv"\n', 1)
    (folder / "case.toml").write_text(text)
    code, text = run("ensemble", folder, "-n", "1", "--out", tmp_path / "run")
    one_paragraph(text)
    assert "field 'uncertainty'" in text and "--allow-outside-case" in text and "secret-line" not in text, text
    assert not (tmp_path / "run").exists()
