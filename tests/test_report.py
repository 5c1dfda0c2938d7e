"""`mineq report`: sections, figures, a self-contained page, and a browser look."""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from mineq.solver.cli import main

DEMO = Path(__file__).resolve().parent.parent / "cases" / "three-region-demo"


class Page(HTMLParser):
    """Collects headings, image sources and every URL-bearing attribute."""

    def __init__(self):
        super().__init__()
        self.headings, self.images, self.urls, self._h = [], [], [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("h1", "h2", "h3"):
            self._h = tag
        if tag == "img":
            self.images.append(a.get("src", ""))
        for k in ("src", "href", "data"):
            if k in a:
                self.urls.append(a[k])
        if tag in ("link", "script", "iframe", "object"):
            self.urls.append(f"<{tag}>")

    def handle_endtag(self, tag):
        if tag == self._h:
            self._h = None

    def handle_data(self, data):
        if self._h:
            self.headings.append(data)


def nonblank_png(path: Path) -> None:
    import matplotlib.image as mpimg

    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, path
    img = mpimg.imread(path)[..., :3]
    # not one colour: a real share of the pixels differs from the background
    assert img.std() > 0.02 and (np.abs(img - img[0, 0]).sum(axis=-1) > 0.1).mean() > 0.01, path


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rep")
    res = tmp / "demo.nc"
    cli = CliRunner()
    r = cli.invoke(main, ["solve", str(DEMO), "-o", str(res), "-q"])
    assert r.exit_code == 0, r.output
    r = cli.invoke(main, ["report", str(res), "-o", str(tmp / "report")])
    assert r.exit_code == 0, r.output
    return tmp / "report"


def test_report_has_every_section_and_figure(report):
    page = Page()
    page.feed((report / "report.html").read_text())
    heads = " | ".join(page.headings)
    for h in ("Checks: every equilibrium verified", "Across minerals", "Scenario 'us-mip'", "Scenario 'partner-floor'", "Scenario 'china-ban'"):
        assert h in heads
    pngs = sorted((report / "figures").glob("*.png"))
    names = " ".join(p.name for p in pngs)
    # the demo's minerals are held in kt LCE and kt REO at USD/kg: their money
    # sums in million USD, one welfare chart per scenario (issue 22)
    for kind in ("across-us-mip", "us-mip-price", "us-mip-production", "us-mip-welfare-all", "us-mip-flows-lithium", "partner-floor-fiscal", "china-ban-flows"):
        assert kind in names
    assert len(page.images) == len(pngs)
    for p in pngs:
        nonblank_png(p)


def test_report_is_self_contained(report):
    page = Page()
    page.feed((report / "report.html").read_text())
    assert page.images and all(src.startswith("data:image/png;base64,") for src in page.images)
    external = [u for u in page.urls if not (u.startswith("data:") or u.startswith("#"))]
    assert external == []


def test_existing_report_not_overwritten(report):
    res = report.parent / "demo.nc"
    r = CliRunner().invoke(main, ["report", str(res), "-o", str(report)])
    assert r.exit_code != 0 and "already exists" in r.output


def _sweep_report(tmp_path: Path) -> CliRunner:
    """A five-point sweep of test_sweep's MIP case in tmp_path/s.nc and its
    report in tmp_path/rep; returns the runner."""
    from test_sweep import CASE_TOML

    case = tmp_path / "case.toml"
    case.write_text(CASE_TOML)
    cli = CliRunner()
    r = cli.invoke(main, ["sweep", str(case), "-s", "mip", "--set", "level=80:100:5", "-o", str(tmp_path / "s.nc"), "-q"])
    assert r.exit_code == 0, r.output
    r = cli.invoke(main, ["report", str(tmp_path / "s.nc"), "-o", str(tmp_path / "rep")])
    assert r.exit_code == 0, r.output
    return cli


def test_sweep_report(tmp_path):
    cli = _sweep_report(tmp_path)
    assert (tmp_path / "rep" / "figures").glob("*-sweep.png")
    page = Page()
    page.feed((tmp_path / "rep" / "report.html").read_text())
    assert "Sweep" in page.headings
    for p in (tmp_path / "rep" / "figures").glob("*.png"):
        nonblank_png(p)
    # the curves show all five points, one scenario section the last
    # (issue 22: a section per point made a 20-point report take 54 s)
    sections = [h for h in page.headings if h.startswith("Scenario")]
    assert len(sections) == 1 and "100" in sections[0], page.headings
    r = cli.invoke(main, ["report", str(tmp_path / "s.nc"), "-o", str(tmp_path / "rep85"), "--point", "86"])
    assert r.exit_code == 0, r.output
    page = Page()
    page.feed((tmp_path / "rep85" / "report.html").read_text())
    assert [h for h in page.headings if h.startswith("Scenario")] == [h for h in page.headings if h.startswith("Scenario") and "85" in h]
    assert "The sweep has 5 points" in (tmp_path / "rep85" / "report.html").read_text()


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _screenshot(page: Path, tmp_path: Path) -> Path:
    shot = tmp_path / "shot.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}"]
    subprocess.run([CHROMIUM, *flags, f"--screenshot={shot}", "--window-size=1200,2400", page.as_uri()], check=True, capture_output=True, timeout=120)
    return shot


@pytest.mark.skipif(not CHROMIUM and not os.environ.get("MINEQ_REQUIRE_BROWSER"), reason="Debian's chromium is not installed (.ci/run installs it and sets MINEQ_REQUIRE_BROWSER=1)")
def test_report_renders_in_headless_chromium(report, tmp_path):
    assert CHROMIUM, "MINEQ_REQUIRE_BROWSER is set but chromium is not installed"
    # the page drew text, tables and the embedded figures: far from blank
    nonblank_png(_screenshot(report / "report.html", tmp_path))


@pytest.mark.skipif(not CHROMIUM and not os.environ.get("MINEQ_REQUIRE_BROWSER"), reason="Debian's chromium is not installed (.ci/run installs it and sets MINEQ_REQUIRE_BROWSER=1)")
def test_sweep_report_renders_in_headless_chromium(tmp_path):
    """The sweep report (curves and one scenario section) draws in a browser."""
    assert CHROMIUM, "MINEQ_REQUIRE_BROWSER is set but chromium is not installed"
    _sweep_report(tmp_path)
    nonblank_png(_screenshot(tmp_path / "rep" / "report.html", tmp_path))


def test_xlsx_for_solve_and_compare(report, tmp_path):
    import pandas as pd
    import xarray as xr

    res = report.parent / "demo.nc"
    ds = xr.load_dataset(res)
    cli = CliRunner()
    book = tmp_path / "r.xlsx"
    r = cli.invoke(main, ["solve", str(DEMO), "--format", "xlsx", "-o", str(book), "-q"])
    assert r.exit_code == 0, r.output
    sheets = pd.read_excel(book, sheet_name=None)
    assert {"nodes", "flows", "welfare", "supply_shares", "sourcing_shares", "solve", "about"} <= set(sheets)
    nodes = sheets["nodes"]
    price_col = next(c for c in nodes.columns if c.startswith("price ["))
    row = nodes[(nodes.scenario == "us-mip") & (nodes.mineral == "lithium") & (nodes.stage == "refined") & (nodes.region == "USA")].iloc[0]
    assert row[price_col] == pytest.approx(float(ds.price.sel(scenario="us-mip", mineral="lithium", stage="refined", region="USA")), rel=1e-12)
    assert row["price_unit"] == str(ds.mineral_price_unit.sel(mineral="lithium").values)
    out = tmp_path / "c.xlsx"
    r = cli.invoke(main, ["compare", str(res), "--format", "xlsx", "-o", str(out), "-s", "us-mip"])
    assert r.exit_code == 0, r.output
    ch = pd.read_excel(out, sheet_name="nodes")
    row = ch[(ch.mineral == "lithium") & (ch.stage == "refined") & (ch.region == "USA")].iloc[0]
    b, a = (float(ds.price.sel(scenario=s, mineral="lithium", stage="refined", region="USA")) for s in ("baseline", "us-mip"))
    assert row["price change %"] == pytest.approx(100 * (a - b) / b, rel=1e-9)
    r = cli.invoke(main, ["compare", str(res), "--format", "xlsx", "-o", str(out)])
    assert r.exit_code != 0 and "already exists" in r.output
