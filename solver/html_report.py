"""``mineq report``: one self-contained HTML file per result file, plus PNGs.

Every figure is written as a PNG in ``DIR/figures`` and embedded in
``DIR/report.html`` as a data URI, so the HTML opens offline and can be
mailed on its own.  Sections (those that apply to the file):

* the checks: status and largest residual of every scenario and mineral;
* per scenario: price and quantity changes by region and stage, the welfare
  decomposition by region, the fiscal cost of floors and offtake, and
  trade flows (origin-destination heat maps, baseline beside scenario) for
  the minerals whose flows change most;
* across minerals: the headline region's net import reliance and sourcing
  (home, group, China) before and after, sorted;
* sweeps: indicator curves against the swept level; ensembles: quantile
  bands.
"""

from __future__ import annotations

import base64
import html
import os
import shutil
import textwrap
from pathlib import Path

import numpy as np
import xarray as xr

from .plot import pyplot, source_note, sweep_figure, year_figures
from .report import money_unit
from .results import OutputExists, _temp_path, publish, signals_held, terminate_as_interrupt

#: welfare groups: label -> variables (changes) summed into it
WELFARE_GROUPS = {
    "consumers": ["consumer_surplus_change"],
    "producers": ["producer_surplus_change"],
    "processors": ["processor_surplus_change"],
    "government": ["government_net_change"],
    "rents": ["rents_change"],
    "stockpile": ["stockpile_value_change"],
}
#: flows shown per scenario (the minerals whose flows change most)
FLOW_MINERALS = 3


class Report:
    """Collects sections and figures in a private draft folder, then
    publishes the HTML and the PNGs (:meth:`write`)."""

    def __init__(self, folder: Path, title: str, replace: bool = False):
        self.folder = Path(folder)
        self.replace = replace
        self.figdir = self.folder / "figures"
        # drafts beside the report, so the final renames stay on one file
        # system; nothing of a run shows under the report's names until
        # write() claims report.html.  Made by start(), inside the caller's
        # try, so that discard() removes them whenever an interruption lands
        self.draft = _temp_path(self.folder / "report", ".tmp")
        self.title = title
        self.parts: list[str] = []
        self.figures: list[Path] = []

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        os.mkdir(self.draft, 0o777)

    def h(self, level: int, text: str, anchor: str | None = None) -> None:
        a = f' id="{html.escape(anchor)}"' if anchor else ""
        self.parts.append(f"<h{level}{a}>{html.escape(text)}</h{level}>")

    def p(self, text: str) -> None:
        self.parts.append(f"<p>{html.escape(text)}</p>")

    def table(self, header: list[str], rows: list[list], caption: str = "", collapsed: bool = False) -> None:
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
        t = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        if collapsed:
            t = f"<details><summary>{html.escape(caption)}</summary>{t}</details>"
        elif caption:
            t = f"<p class='cap'>{html.escape(caption)}</p>{t}"
        self.parts.append(t)

    def next_png(self, name: str) -> Path:
        """The draft path of the next figure."""
        return self.draft / f"{len(self.figures) + 1:02d}-{_slug(name)}.png"

    def figure(self, fig, name: str, caption: str) -> Path:
        plt = pyplot()
        path = self.next_png(name)
        fig.savefig(path, dpi=100)
        plt.close(fig)
        self.add_png(path, caption)
        return self.figures[-1]

    def add_png(self, draft: Path, caption: str) -> None:
        self.figures.append(self.figdir / draft.name)
        data = base64.b64encode(draft.read_bytes()).decode()
        self.parts.append(f"<figure><img alt='{html.escape(caption)}' src='data:image/png;base64,{data}'/><figcaption>{html.escape(caption)}</figcaption></figure>")

    def write(self) -> Path:
        """Publish report.html, then the PNGs.

        report.html is the claim: it is linked into place only if absent
        (or replaced with ``replace``), so of two runs on one folder one
        writes the report and the other stops with nothing of it shown.
        """
        css = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
               "table{border-collapse:collapse;font-size:12px;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
               "td:first-child,th:first-child{text-align:left}img{max-width:100%}figcaption,.cap{font-size:12px;color:#555}"
               "nav a{margin-right:1em}")
        doc = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(self.title)}</title>"
               f"<style>{css}</style></head><body>" + "\n".join(self.parts) + "</body></html>")
        out = self.folder / "report.html"
        (self.draft / "report.html").write_text(doc, encoding="utf-8")
        with signals_held():
            if not self.replace:
                for f in self.figures:
                    if os.path.lexists(f):  # a file the user keeps there: never replaced without --force
                        raise OutputExists(f)
            publish(self.draft / "report.html", out, self.replace)
            self.figdir.mkdir(exist_ok=True)
            for f in self.figures:
                os.replace(self.draft / f.name, f)
        return out

    def discard(self) -> None:
        """Remove the drafts (after write, or when the report failed)."""
        shutil.rmtree(self.draft, ignore_errors=True)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")[:60]


def _pct(new, old):
    with np.errstate(all="ignore"):
        return np.where(np.abs(old) > 0, 100.0 * (new - old) / np.abs(old), np.nan)


def build_report(ds: xr.Dataset, folder: str | Path, sweep: xr.Dataset | None = None, replace: bool = False, verdict: tuple[bool, str] | None = None, point: float | None = None) -> Report:
    """Write ``folder/report.html`` and ``folder/figures/*.png`` for ``ds``
    (scenario form; ``sweep`` is the sweep-dimension view of a sweep file,
    a Dataset with a ``draw`` dimension is an ensemble).  An existing
    report is replaced only with ``replace``.  ``verdict`` is
    :func:`mineq.solver.run.verdict` of the file: the report calls the
    file verified only when it is (None: not re-verified, and it says so)."""
    with terminate_as_interrupt():
        rep = Report(Path(folder), f"mineq report: {ds.attrs.get('case_name', '')}", replace)
        try:
            rep.start()
            _build(rep, ds, sweep, verdict, point)
            rep.write()
        finally:
            rep.discard()
    return rep


def _build(rep: Report, ds: xr.Dataset, sweep: xr.Dataset | None, verdict: tuple[bool, str] | None = None, point: float | None = None) -> None:
    from .report import in_money

    # money in one currency unit wherever the minerals' units convert
    ds, _ = in_money(ds)
    name = ds.attrs.get("case_name", "")
    chosen = None
    if sweep is not None:
        # a sweep's points are scenarios of one policy at many levels: the
        # curves show them all, one scenario section shows the chosen one
        levels = np.asarray(sweep["sweep"].values, dtype=float)
        k = len(levels) - 1 if point is None else int(np.argmin(np.abs(levels - point)))
        chosen = (str(sweep["point_scenario"].values[k]), float(levels[k]), len(levels))
        ds = ds.sel(scenario=["baseline", chosen[0]])
    if "year" in ds.dims:
        return _years(rep, ds, verdict)
    rep.h(1, f"mineq report: case '{name}'")
    rep.p(f"{ds.attrs.get('title', '')}. Base year {ds.attrs.get('base_year', '')}; mineq {ds.attrs.get('mineq_version', '')}, "
          f"HiGHS {ds.attrs.get('highs_version', '')}, Pyomo {ds.attrs.get('pyomo_version', '')}; inputs {str(ds.attrs.get('input_hash', ''))[:12]}.")
    ensemble = "draw" in ds.dims
    scen = ds.scenario.values.tolist()
    others = [s for s in scen if s != "baseline"]
    rep.parts.append("<nav>" + "".join(f"<a href='#{a}'>{html.escape(t)}</a>" for a, t in [("checks", "Checks")] + ([("calibration", "Calibration")] if "calibration_model" in ds else []) + ([] if ensemble else [("across", "Across minerals")] + [(f"s-{_slug(s)}", s) for s in others]) + ([("sweep", "Sweep")] if sweep is not None else []) + ([("ensemble", "Ensemble")] if ensemble else [])) + "</nav>")
    _checks(rep, ds, verdict)
    if "calibration_model" in ds:
        _calibration(rep, ds)
    region = _headline_region(ds)
    if not ensemble:  # an ensemble keeps no flows or welfare decomposition per draw
        _across(rep, ds, region)
        for sn in others:
            _scenario(rep, ds, sn)
    if sweep is not None:
        rep.h(2, "Sweep", "sweep")
        inds = [f"price[{region}]", f"net_import_reliance[{region}]", f"processing_share[{region}]"]
        path = sweep_figure(sweep, inds, rep.next_png("sweep"))
        rep.add_png(path, f"Indicators of {region} against {sweep['sweep'].attrs.get('long_name', 'the swept value')} (one line per mineral that moves)")
        rep.p(f"The sweep has {chosen[2]} points; the scenario section above is the point at {chosen[1]:g} ({chosen[0]}). mineq report --point VALUE shows another.")
    if ensemble:
        _ensemble(rep, ds, region)


def _years(rep: Report, ds: xr.Dataset, verdict) -> None:
    """The report of a dynamic result: checks of every path-year market,
    the figures over the years, then the last year scenario by scenario."""
    name = ds.attrs.get("case_name", "")
    years = ds.year.values.tolist()
    others = [s for s in ds.scenario.values.tolist() if s != "baseline"]
    last = years[-1]
    rep.h(1, f"mineq report: case '{name}', {years[0]}-{last}")
    rep.p(f"{ds.attrs.get('title', '')}. mineq {ds.attrs.get('mineq_version', '')}, HiGHS {ds.attrs.get('highs_version', '')}; inputs {str(ds.attrs.get('input_hash', ''))[:12]}. "
          "Each scenario follows its own capacity path; each of its years is compared with the baseline path's same year.")
    rep.parts.append("<nav>" + "".join(f"<a href='#{a}'>{html.escape(t)}</a>" for a, t in [("checks", "Checks"), ("years", "Over the years"), ("across", f"Across minerals, {last}")] + [(f"s-{_slug(s)}", f"{s}, {last}") for s in others]) + "</nav>")
    _checks(rep, ds, verdict)
    failed = ds.attrs.get("failed_paths", "")
    if failed:
        rep.p(f"Paths that stopped early (their later years are not solved): {failed}")
    rep.h(2, "Over the years", "years")
    region = _headline_region(ds)
    for path, caption in year_figures(ds, region, rep.next_png):
        rep.add_png(path, caption)
    from .dynamic import _discount, fiscal_cost

    fiscal, unit = fiscal_cost(ds)
    k, money = (1e6, f"million {unit}") if unit else (1.0, "price unit x quantity unit")
    rows = []
    for sn in others:
        lb = int(ds.last_binding_year.sel(scenario=sn))
        rows.append([sn, f"{float((fiscal.sel(scenario=sn) * _discount(ds)).sum('year')) / k:,.4g}", lb if lb > 0 else "never"])
    rep.table(["scenario", f"fiscal cost discounted over {years[0]}-{last} ({money})", "last year its policies bind"], rows)
    one = ds.sel(year=last)
    rep.p(f"The sections below show the year {last}.")
    _across(rep, one, region)
    for sn in others:
        _scenario(rep, one, sn)


def _headline_region(ds):
    import json

    # the stored case only picks the region to feature: a damaged one
    # (not JSON, not an object, nested absurdly deep) falls back to the first
    try:
        data = json.loads(ds.attrs.get("case_json", "{}"))
    except (ValueError, TypeError, RecursionError):
        data = {}
    head = data.get("case", {}) if isinstance(data, dict) else {}
    region = head.get("headline_region") if isinstance(head, dict) else None
    return region if isinstance(region, str) and region in ds.region.values.tolist() else str(ds.region.values[0])


def _checks(rep: Report, ds: xr.Dataset, verdict: tuple[bool, str] | None) -> None:
    ok, said = verdict if verdict is not None else (False, "This file was not re-verified for this report; the statuses below are as stored in it, and are not verified.")
    rep.h(2, "Checks: every equilibrium verified" if ok else "Checks: NOT VERIFIED", "checks")
    rep.p(said)
    st, res = ds["status"], ds["max_residual"]
    outer = [d for d in ("draw", "year") if d in ds.dims]
    if outer:
        st = st.transpose(*outer, "scenario", "mineral").stack(run=(*outer, "scenario")).transpose("run", "mineral")
        res = res.transpose(*outer, "scenario", "mineral").stack(run=(*outer, "scenario")).transpose("run", "mineral")
    else:
        st, res = st.rename(scenario="run"), res.rename(scenario="run")
    rows = []
    for i in range(st.sizes["run"]):
        s, r = st.isel(run=i).values, res.isel(run=i).values
        label = st.run.values[i]
        label = " / ".join(map(str, label)) if isinstance(label, tuple) else str(label)
        rows.append([label, len(s), int((s == "equilibrium").sum()), f"{np.nanmax(r):.1e}" if np.isfinite(r).any() else "-"])
    rep.p("A market counts as an equilibrium only after mineq's verifier recomputed every condition of SPEC §2 (and each policy's own) from the primal values, with the largest scaled residual at most 1e-6." + ("" if ok else " The table shows the statuses stored in the file."))
    rep.table(["scenario", "markets", "verified equilibria", "largest scaled residual"], rows)
    detail = []
    for i in range(st.sizes["run"]):
        label = st.run.values[i]
        label = " / ".join(map(str, label)) if isinstance(label, tuple) else str(label)
        for j, mn in enumerate(ds.mineral.values.tolist()):
            detail.append([label, mn, str(st.isel(run=i).values[j]), f"{float(res.isel(run=i).values[j]):.1e}", str(ds["method"].transpose(*outer, "scenario", "mineral").values.reshape(-1, ds.sizes['mineral'])[i][j]) if "method" in ds else ""])
    rep.table(["scenario", "mineral", "status", "largest scaled residual", "method"], detail, caption=f"Every market ({len(detail)} rows)", collapsed=True)


def _across(rep: Report, ds: xr.Dataset, region: str) -> None:
    from .indicators import evaluate

    rep.h(2, f"Across minerals: {region}'s import reliance and sourcing", "across")
    plt = pyplot()
    nir = evaluate(ds, f"net_import_reliance[{region}]")
    srcs = [s for s in ds.source.values.tolist() if s != "home"][:1]
    scen = ds.scenario.values.tolist()
    for sn in scen[1:] or scen:
        b, a = nir.sel(scenario=scen[0]), nir.sel(scenario=sn)
        order = np.argsort(np.nan_to_num(b.values, nan=-9))
        mins = [str(m) for m in b.mineral.values[order]]
        home_b = evaluate(ds, f"sourcing_share[{region},home]").sel(scenario=scen[0]).values[order]
        home_a = evaluate(ds, f"sourcing_share[{region},home]").sel(scenario=sn).values[order]
        grp = {g: (evaluate(ds, f"sourcing_share[{region},{g}]").sel(scenario=scen[0]).values[order], evaluate(ds, f"sourcing_share[{region},{g}]").sel(scenario=sn).values[order]) for g in srcs}
        chn = "CHN" if "CHN" in ds.origin.values.tolist() else None
        fig, axes = plt.subplots(1, 2, figsize=(11, max(4.5, 0.17 * len(mins) + 1.5)), sharey=True)
        y = np.arange(len(mins))
        axes[0].barh(y - 0.2, 100 * b.values[order], 0.4, label="baseline", color="0.6")
        axes[0].barh(y + 0.2, 100 * a.values[order], 0.4, label=sn, color="C0")
        axes[0].set_yticks(y, mins, fontsize=7)
        axes[0].set_xlabel(f"net import reliance of {region} (% of apparent consumption)")
        axes[0].legend(fontsize=8)
        axes[1].plot(100 * home_b, y, "o", ms=3, color="0.6", label="home, baseline")
        axes[1].plot(100 * home_a, y, "o", ms=3, color="C0", label=f"home, {sn}")
        for g, (gb, ga) in grp.items():
            axes[1].plot(100 * gb, y, "s", ms=3, color="0.75", label=f"{g}, baseline")
            axes[1].plot(100 * ga, y, "s", ms=3, color="C1", label=f"{g}, {sn}")
        if chn:
            sh = ds["supply_share"].sel(region=region, origin=chn)
            from .indicators import _last_valid

            sh = _last_valid(sh, "stage")
            axes[1].plot(100 * sh.sel(scenario=scen[0]).values[order], y, "^", ms=3, color="0.8", label="China, baseline")
            axes[1].plot(100 * sh.sel(scenario=sn).values[order], y, "^", ms=3, color="C3", label=f"China, {sn}")
        axes[1].set_xlabel(f"share of {region}'s supply by origin (%; last stage)")
        axes[1].legend(fontsize=7, loc="lower right")
        for ax in axes:
            ax.grid(alpha=0.3, axis="x")
        fig.suptitle(f"{region}: net import reliance and sourcing by mineral, baseline and '{sn}' (sorted by baseline reliance)", fontsize=10)
        fig.text(0.01, 0.005, source_note(ds, sn), fontsize=7, color="0.35")
        fig.tight_layout(rect=(0, 0.02, 1, 0.97))
        rep.figure(fig, f"across-{sn}", f"{region}'s net import reliance and supply shares (home, {', '.join(srcs) or 'no group'}, China) for every mineral, baseline against '{sn}'.")


def _scenario(rep: Report, ds: xr.Dataset, sn: str) -> None:
    plt = pyplot()
    desc = str(ds["scenario_description"].sel(scenario=sn).values) if "scenario_description" in ds else ""
    rep.h(2, f"Scenario '{sn}'", f"s-{_slug(sn)}")
    if desc:
        rep.p(desc)
    b, s = ds.sel(scenario="baseline"), ds.sel(scenario=sn)
    ok = (s["status"] == "equilibrium") & (b["status"] == "equilibrium")
    dp = xr.DataArray(_pct(s["price"].values, b["price"].values), dims=b["price"].dims, coords=b["price"].coords).where(ok)
    moved = np.nanmax(np.abs(dp.values), axis=(1, 2)) if dp.size else np.zeros(0)
    moved = np.nan_to_num(moved)
    order = [int(i) for i in np.argsort(-moved) if moved[i] > 1e-9][:15]
    if not order:
        rep.p("No price moves by more than 1e-9 %: the scenario leaves every verified market as it was.")
        return
    mins = [str(ds.mineral.values[i]) for i in order]
    # price and quantity changes: heat maps minerals x (stage, region)
    cols = [(g, r) for g in ds.stage.values.tolist() for r in ds.region.values.tolist()]
    for var, label in (("price", "price change (%)"), ("production", "production change (%)")):
        d = xr.DataArray(_pct(s[var].values, b[var].values), dims=b[var].dims, coords=b[var].coords).where(ok)
        mat = np.array([[float(d.sel(mineral=m, stage=g, region=r)) for g, r in cols] for m in mins])
        keep = ~np.all(np.isnan(mat), axis=0)
        mat, cl = mat[:, keep], [f"{g[:4]} {r}" for (g, r), k in zip(cols, keep) if k]
        # never smaller than what its title, labels and colour bar need:
        # a one-mineral, two-region map was 190 px wide with its title cut
        fig, ax = plt.subplots(figsize=(min(14, max(6.5, 1.0 + 0.45 * len(cl))), max(2.6, 1.2 + 0.3 * len(mins))))
        lim = np.nanmax(np.abs(mat)) if np.isfinite(mat).any() else 1.0
        im = ax.imshow(mat, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
        ax.set_xticks(range(len(cl)), cl, rotation=60, fontsize=7, ha="right")
        ax.set_yticks(range(len(mins)), mins, fontsize=7)
        bar = fig.colorbar(im, ax=ax, pad=0.02)
        bar.set_label(label, fontsize=8)
        bar.ax.tick_params(labelsize=7)
        title = f"'{sn}': {label} against the baseline, by stage and region ({len(mins)} mineral{'s' if len(mins) > 1 else ''} that move{'' if len(mins) > 1 else 's'} most)"
        ax.set_title("\n".join(textwrap.wrap(title, 75)), fontsize=9)
        fig.text(0.01, 0.005, source_note(ds, sn), fontsize=7, color="0.35")
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        rep.figure(fig, f"{sn}-{var}", f"{label} by mineral, stage and region in '{sn}' (grey: no such node or no verified equilibrium).")
    # welfare decomposition by region: summed over verified minerals when
    # they share a money unit, else one chart per mineral that moves most
    unit = money_unit(ds)
    okm = ok.values
    _market_power(rep, ds, s, okm, unit)
    _extension_rows(rep, s, okm)
    _joint(rep, ds, sn)
    if unit is not None:
        _welfare(rep, ds, s, sn, okm, unit, f"summed over {int(okm.sum())} verified minerals")
    else:
        from .report import _money

        for mn in mins[:FLOW_MINERALS]:
            j = ds.mineral.values.tolist().index(mn)
            one = np.zeros_like(okm)
            one[j] = okm[j]
            mu = _money(str(ds["mineral_price_unit"].values[j]), str(ds["mineral_quantity_unit"].values[j]))
            _welfare(rep, ds, s, sn, one, mu, mn)
    # trade flows of the minerals whose flows change most
    regs = ds.region.values.tolist()
    f0, f1 = b["flow"].fillna(0.0), s["flow"].fillna(0.0)
    with np.errstate(all="ignore"):
        change = (np.abs(f1 - f0).sum(("stage", "origin", "destination")) / f0.sum(("stage", "origin", "destination")).where(lambda v: v > 0)).where(ok)
    top = [str(m) for m in change.mineral.values[np.argsort(-np.nan_to_num(change.values))][:FLOW_MINERALS] if np.nan_to_num(change.sel(mineral=m).values) > 1e-9]
    for mn in top:
        stage = [g for g in ds.stage.values.tolist() if np.isfinite(b["flow"].sel(mineral=mn, stage=g).values).any()][-1]
        m0 = f0.sel(mineral=mn, stage=stage).values
        m1 = f1.sel(mineral=mn, stage=stage).values
        vmax = max(m0.max(), m1.max(), 1e-300)
        # big enough that a 16-region matrix's cells hold a readable number
        fig, axes = plt.subplots(1, 2, figsize=(14, 6.6))
        for ax, mat, t in ((axes[0], m0, "baseline"), (axes[1], m1, sn)):
            im = ax.imshow(mat, cmap="Blues", vmin=0, vmax=vmax)
            ax.set_xticks(range(len(regs)), regs, rotation=60, fontsize=8)
            ax.set_yticks(range(len(regs)), regs, fontsize=8)
            ax.set_xlabel("destination")
            ax.set_ylabel("origin")
            ax.set_title(t, fontsize=9)
            for i in range(len(regs)):
                for j in range(len(regs)):
                    if mat[i, j] > 0.1 * vmax:  # label the main flows only
                        ax.text(j, i, f"{mat[i, j]:.2g}", ha="center", va="center", fontsize=7, color="k" if mat[i, j] < 0.6 * vmax else "w")
        qu = str(ds["mineral_quantity_unit"].sel(mineral=mn).values)
        fig.colorbar(im, ax=axes, label=f"flow ({qu})", shrink=0.8)
        fig.suptitle(f"{mn} ({stage}) trade flows, origin (rows) to destination (columns): baseline and '{sn}'", fontsize=10)
        fig.text(0.01, 0.005, source_note(ds, sn), fontsize=7, color="0.35")
        rep.figure(fig, f"{sn}-flows-{mn}", f"{mn} {stage} trade flows ({qu}), baseline beside '{sn}'; a row is what an origin ships, a column what a destination receives.")


def _joint(rep: Report, ds: xr.Dataset, sn: str) -> None:
    """A paragraph per linked market (joint production) the scenario moves:
    the activity's change and every member's world output and price
    change, by-products included, and what is disposed of."""
    from .report import joint_changes

    for members, act, prices, dump in joint_changes(ds, sn):
        if not np.isfinite(act) or abs(act) < 1e-4:
            continue
        said = ", ".join(f"{m} {100 * v:+.1f}%" for m, v in prices.items())
        rep.p(f"Joint production: {', '.join(members)} come out of the same activity in fixed proportions, which runs {100 * act:+.1f}% in '{sn}' against the baseline; their regional-average prices at the last stage move {said}" + (f", and {dump:.4g} units of output nobody buys at a positive price are disposed of" if dump > 0 else "") + ". Each member's processor surplus holds its share of the activity's surplus, shared by sales value.")


def _extension_rows(rep: Report, s: xr.Dataset, okm: np.ndarray) -> None:
    """A paragraph per extension row of the scenario (constraints added by
    plugins, models/extensions.py): its shadow price and its rent."""
    if "extension_label" not in s:
        return
    for j in np.flatnonzero(okm).tolist():
        m = s.isel(mineral=j)
        pu, qu = str(m.mineral_price_unit.values), str(m.mineral_quantity_unit.values)
        for lab, mu, rent in zip(m.extension_label.values.tolist(), m.extension_shadow_price.values.tolist(), m.extension_rent_by_row.values.tolist()):
            if lab:
                rep.p(f"Extension row '{lab}' ({m.mineral.values}): shadow price {mu:,.4g} {pu} per unit of the row, what a quantity with coefficient a in the row earns on top of the market price (×a); rent {rent:,.4g} {pu} × {qu}, taken by the row's holder ('rents' in the welfare chart).")


def _market_power(rep: Report, ds: xr.Dataset, s: xr.Dataset, okm: np.ndarray, unit: str | None) -> None:
    """A paragraph on the scenario's strategic sellers (``market_power``),
    when it has any: each seller region's markup rent, summed over the
    verified minerals (part of 'rents' in the welfare chart)."""
    if "market_power_rent" not in s:
        return
    rent = s["market_power_rent"].isel(mineral=np.flatnonzero(okm))
    by = rent.sum("mineral")
    held = [(str(r), float(v)) for r, v in zip(by.region.values, by.values) if abs(float(v)) > 0]
    if not held:
        return
    where = {str(r): [str(m) for m in rent.mineral.values if abs(float(rent.sel(region=r, mineral=m))) > 0] for r, _ in held}
    # a sum over minerals only where they share a money unit
    said = [f"{r} earns a markup rent of {v / 1e6:,.4g} million {unit} on {len(where[r])} minerals" if unit else f"{r} earns a markup rent on {', '.join(where[r])}" for r, v in held]
    rep.p("Strategic sellers (market power, conduct from price-taking 0 to Cournot 1): " + "; ".join(said) + ". The rent is the seller's price above its marginal revenue on every sale (home and exports); it is part of 'rents' in the welfare chart below.")


def _welfare(rep: Report, ds: xr.Dataset, s: xr.Dataset, sn: str, okm: np.ndarray, unit: str, what: str) -> None:
    """Stacked welfare changes by region and group with the total marked,
    and the fiscal cost of floors and offtake, for the minerals in ``okm``."""
    plt = pyplot()
    regs = ds.region.values.tolist()
    parts = {g: np.nansum(np.stack([s[v].values[okm] for v in vs]), axis=(0, 1)) for g, vs in WELFARE_GROUPS.items()}
    total = np.nansum(s["total_welfare_change"].values[okm], axis=0)
    scale, su = _money_scale(np.nanmax(np.abs(np.concatenate([*parts.values(), total]))), unit)
    fig, ax = plt.subplots(figsize=(10, 4.2))
    x = np.arange(len(regs))
    pos, neg = np.zeros(len(regs)), np.zeros(len(regs))
    for k, (g, v) in enumerate(parts.items()):
        v = v / scale
        ax.bar(x, np.where(v > 0, v, 0), bottom=pos, color=f"C{k}", label=g)
        ax.bar(x, np.where(v < 0, v, 0), bottom=neg, color=f"C{k}")
        pos += np.where(v > 0, v, 0)
        neg += np.where(v < 0, v, 0)
    ax.plot(x, total / scale, "k_", ms=18, mew=2.5, label="total")
    lo_, hi_ = min(neg.min(), (total / scale).min(), 0.0), max(pos.max(), (total / scale).max(), 0.0)
    pad = 0.08 * max(hi_ - lo_, 1e-12)
    ax.set_ylim(lo_ - pad, hi_ + pad)
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xticks(x, regs)
    ax.set_ylabel(f"welfare change ({su})")
    ax.set_title(f"'{sn}': welfare change by region and group, {what}", fontsize=10)
    ax.legend(fontsize=7, ncol=4)
    fig.text(0.01, 0.005, source_note(ds, sn) + "; government = revenue minus payments, by instrument in the result file", fontsize=7, color="0.35")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    rep.figure(fig, f"{sn}-welfare-{what.split()[0] if okm.sum() == 1 else 'all'}", f"Welfare change by region in '{sn}', {what} ({su}): consumers, producers, processors, government (net of tariff, levy and export-tax revenue, deficiency payments, offtake outlay and release revenue), rents and stockpile value; black bar: total.")
    fiscal = {v: np.nansum(s[v].values[okm], axis=0) for v in ("deficiency_payments", "offtake_outlay") if v in s}
    if any(np.abs(f).sum() > 0 for f in fiscal.values()):
        fig, ax = plt.subplots(figsize=(10, 3.4))
        bottom = np.zeros(len(regs))
        for k, (v, f) in enumerate(fiscal.items()):
            ax.bar(x, f / scale, bottom=bottom, label=v.replace("_", " "), color=f"C{k + 4}")
            bottom += f / scale
        ax.set_xticks(x, regs)
        ax.set_ylabel(f"fiscal cost ({su})")
        ax.set_title(f"'{sn}': fiscal cost of floors and offtake by paying government, {what}", fontsize=10)
        ax.legend(fontsize=8)
        fig.text(0.01, 0.005, source_note(ds, sn), fontsize=7, color="0.35")
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        rep.figure(fig, f"{sn}-fiscal", f"Deficiency payments and offtake outlays in '{sn}', {what} ({su}).")


def _money_scale(biggest: float, unit: str) -> tuple[float, str]:
    for f, word in ((1e9, "billion"), (1e6, "million"), (1e3, "thousand")):
        if biggest >= f:
            return f, f"{word} {unit}"
    return 1.0, unit


def _ensemble(rep: Report, ds: xr.Dataset, region: str) -> None:
    """Quantile bands over the draws: the headline region's net import
    reliance by mineral, one panel per scenario (every scenario, sharing
    the mineral axis), and a table of the fiscal cost and welfare change
    summed over minerals (5%, median, 95%)."""
    from .indicators import evaluate
    from .report import money_unit

    plt = pyplot()
    rep.h(2, "Ensemble: distributions over the draws", "ensemble")
    rep.p(f"{ds.sizes['draw']} draws, seed {ds.attrs.get('seed', '')}; {ds.attrs.get('distribution', '')}.")
    scen = ds.scenario.values.tolist()
    nir = evaluate(ds, f"net_import_reliance[{region}]")
    q = nir.quantile([0.05, 0.25, 0.5, 0.75, 0.95], dim="draw")
    med = q.sel(quantile=0.5).isel(scenario=0)
    order = np.argsort(np.nan_to_num(med.values, nan=-9))
    mins = [str(m) for m in nir.mineral.values[order]]
    n = len(scen)
    fig, axes = plt.subplots(1, n, figsize=(min(2.3 * n + 1.5, 18), max(4, 0.16 * len(mins) + 1.8)), sharey=True, squeeze=False)
    y = np.arange(len(mins))
    for k, (ax, sn) in enumerate(zip(axes[0], scen)):
        qq = q.sel(scenario=sn).values[:, order] * 100
        ax.hlines(y, qq[0], qq[4], color=f"C{k}", lw=1, alpha=0.6)
        ax.hlines(y, qq[1], qq[3], color=f"C{k}", lw=4, alpha=0.8)
        ax.plot(qq[2], y, "|", color="k", ms=5)
        ax.set_title(sn, fontsize=8)
        ax.grid(alpha=0.3, axis="x")
        ax.tick_params(axis="x", labelsize=7)
    axes[0][0].set_yticks(y, mins, fontsize=7)
    fig.supxlabel(f"net import reliance of {region} (%): 5-95% (thin), 25-75% (thick), median (|)", fontsize=8)
    fig.suptitle(f"Uncertainty of {region}'s net import reliance over {ds.sizes['draw']} draws, every scenario", fontsize=10)
    fig.text(0.01, 0.005, source_note(ds), fontsize=7, color="0.35")
    fig.tight_layout(rect=(0, 0.03, 1, 0.97))
    rep.figure(fig, "ensemble-nir", f"Quantile bands of {region}'s net import reliance by mineral, one panel per scenario, over the draws.")
    unit = money_unit(ds) if "mineral_price_unit" in ds else None
    if unit and "government_net_change" in ds and "total_welfare_change" in ds:
        rows = []
        for sn in scen[1:]:
            d = ds.sel(scenario=sn)
            fiscal = -d.government_net_change.sel(region=region).sum("mineral")
            world = d.total_welfare_change.sum(["mineral", "region"])
            cells = []
            for v in (fiscal, world):
                # rounded first, then + 0.0: a tiny negative prints 0.0, not -0.0
                a, m, b = (round(float(v.quantile(p, dim="draw")) / 1e6, 1) + 0.0 for p in (0.05, 0.5, 0.95))
                cells.append(f"{m:,.1f} ({a:,.1f} to {b:,.1f})")
            rows.append([sn, *cells])
        rep.p(f"Money in million {unit} per year, summed over the minerals: median (5% to 95% of the draws). Fiscal cost > 0 is an outlay, < 0 a revenue.")
        rep.table(["scenario", f"{region} fiscal cost", "world welfare change"], rows)


def _calibration(rep: Report, ds: xr.Dataset) -> None:
    """The baseline against the observed figures the case names
    (:mod:`mineq.solver.calibration`): the count inside their bands by
    indicator, then every figure with its source."""
    rep.h(2, "Calibration: the baseline against observed figures", "calibration")
    ind = ds["calibration_indicator"].values.astype(str)
    inside = ds["calibration_inside"].values.astype(bool)
    rows = [[k, int((ind == k).sum()), int(inside[ind == k].sum())] for k in dict.fromkeys(ind.tolist())]
    rep.p(f"{int(inside.sum())} of {len(inside)} observed figures lie inside their bands. Read them before trusting a headline: "
          "each row names its source and confidence; bands are the tolerance the calibration test holds (net import reliance ±2 points, import shares ±5, China's output shares ±1, prices ±2%).")
    rep.table(["indicator", "figures", "inside their band"], rows)

    def num(v):
        v = float(v)
        return "" if not np.isfinite(v) else f"{v:.4g}"

    detail = []
    for k in range(ds.sizes["target"]):
        g = lambda c: str(ds[f"calibration_{c}"].values[k])  # noqa: E731
        where = f"{g('stage')}/{g('region')}" + (f" from {g('origin')}" if g("origin") else "")
        detail.append([g("mineral"), g("indicator"), where, num(ds["calibration_model"].values[k]), num(ds["calibration_observed"].values[k]),
                       f"[{num(ds['calibration_lower'].values[k])}, {num(ds['calibration_upper'].values[k])}]", "yes" if inside[k] else "NO", g("unit"), f"{g('source')[:160]} ({g('confidence')})"])
    rep.table(["mineral", "indicator", "where", "model", "observed", "band", "inside", "unit", "source"], detail, caption=f"Every observed figure ({len(detail)} rows)", collapsed=True)
