"""Figures (matplotlib, no display needed: the Agg backend).

Every figure has a title, axis labels with units, a legend and a source
note (case, scenario, base year), and is written as PNG.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

#: at most this many lines per panel (the minerals that move most)
MAX_LINES = 10


def pyplot():
    """matplotlib.pyplot on the Agg backend (works without a display)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    # names of cases, minerals, regions and scenarios are text, never
    # markup: with mathtext on, a '$' in one crashes the figure (or
    # typesets it); mineq's own labels use no mathtext
    matplotlib.rcParams["text.parse_math"] = False
    import matplotlib.pyplot as plt

    return plt


def source_note(ds: xr.Dataset, scenario: str | None = None) -> str:
    year = ds.attrs.get("base_year", "")
    parts = [f"Source: mineq {ds.attrs.get('mineq_version', '')}".strip(), f"case '{ds.attrs.get('case_name', '')}'"]
    if scenario:
        parts.append(f"scenario '{scenario}'")
    if year not in ("", None):
        parts.append(f"base year {year}")
    return ", ".join(parts)


def _units(da: xr.DataArray, ds: xr.Dataset | None = None, minerals: list[str] | None = None) -> str:
    """Short units for an axis label; the case's own unit where all shown
    minerals share it."""
    u = str(da.attrs.get("units", "")).split(":")[0].split(" (")[0].strip()
    if ds is not None and minerals:
        for generic, var in (("price unit x quantity unit", None), ("price unit", "mineral_price_unit"), ("quantity unit", "mineral_quantity_unit")):
            if u.startswith(generic):
                if var is None:
                    from .report import money_unit

                    u = money_unit(ds.sel(mineral=minerals)) or u
                else:
                    vals = set(ds[var].sel(mineral=minerals).values.tolist())
                    if len(vals) == 1:
                        u = vals.pop()
                break
    return f" ({u})" if u else ""


def top_movers(da: xr.DataArray, dim: str, n: int = MAX_LINES) -> list[str]:
    """The ``n`` minerals whose indicator varies most along ``dim`` (relative range)."""
    vals = da.transpose("mineral", dim).values
    # a mineral with no value anywhere (not solved, or no such node) scores
    # -1 without asking numpy for the max of nothing
    seen = np.isfinite(vals).any(axis=1)
    filled = np.where(np.isfinite(vals), vals, 0.0)
    lo = np.where(np.isfinite(vals), vals, np.inf).min(axis=1)
    hi = np.where(np.isfinite(vals), vals, -np.inf).max(axis=1)
    with np.errstate(all="ignore"):
        span = np.where(seen, hi - lo, np.nan)
        scale = np.maximum(np.abs(filled).max(axis=1), 1e-300)
    score = np.nan_to_num(span / scale, nan=-1.0)
    order = np.argsort(-score, kind="stable")
    floor = 1e-9 if (score > 1e-9).any() else 0.0  # hide flat lines when some move
    return [str(da.mineral.values[i]) for i in order[:n] if score[i] >= floor]


def sweep_figure(pts: xr.Dataset, indicators: list[str], path: str | Path) -> Path:
    """Indicator curves against the swept level: one panel per indicator,
    one line per mineral (the :data:`MAX_LINES` that move most)."""
    from .indicators import evaluate

    plt = pyplot()
    n = len(indicators)
    fig, axes = plt.subplots(n, 1, figsize=(8.5, 3.6 * n + 0.6), squeeze=False)
    x = pts["sweep"].values
    xlabel = f"{pts['sweep'].attrs.get('long_name', 'swept value')}"
    for ax, text in zip(axes[:, 0], indicators):
        da = evaluate(pts, text)
        shown = None
        index = False
        if "mineral" in da.dims:
            shown = top_movers(da, "sweep")
            # minerals in their own units, or of levels far apart (rubidium
            # near 1e8 USD/t beside barite near 200), share a panel only as
            # indices; fractions (import reliance, shares) stay as they are
            from .indicators import FRACTIONS, parse

            units = {_units(da, pts, [mn]) for mn in shown}
            levels = [abs(next((a for a in da.sel(mineral=mn).values if np.isfinite(a) and a != 0), np.nan)) for mn in shown]
            levels = [v for v in levels if np.isfinite(v)]
            spread = max(levels) / min(levels) if levels else 1.0
            index = len(shown) > 1 and parse(text).name not in FRACTIONS and (len(units) > 1 or spread > 50)
            for mn in shown:
                v = da.sel(mineral=mn).values
                if index:
                    first = next((a for a in v if np.isfinite(a) and a != 0), np.nan)
                    v = 100.0 * v / first
                ax.plot(x, v, marker="o", ms=3, label=mn)
            total = da.sizes["mineral"]
            title = f"{text}" + (f": {len(shown)} of {total} minerals (those that move most)" if len(shown) < total else "")
        else:
            ax.plot(x, da.values, marker="o", ms=3, label=text)
            title = text
            shown = [str(da["mineral"].values)] if "mineral" in da.coords else None
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(xlabel)
        name = da.attrs.get("long_name", text.split("[")[0]).replace("_", " ")
        ax.set_ylabel(f"{name}, index (first point = 100)" if index else f"{name}{_units(da, pts, shown)}", fontsize=9)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, ncol=2, loc="best")
    fig.suptitle(pts.attrs.get("title", "mineq sweep"), fontsize=11)
    fig.text(0.01, 0.005, source_note(pts, pts.attrs.get("sweep_scenario")), fontsize=7, color="0.35")
    fig.tight_layout(rect=(0, 0.02, 1, 0.97))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def year_figures(ds: xr.Dataset, region: str, folder_png):
    """Figures of a dynamic result over its years (``ds`` with money in one
    unit, :func:`mineq.solver.report.in_money`): the fiscal cost per year
    of each scenario; capacity built outside China by each scenario's
    policies, per mineral, as a share of the baseline path's capacity
    outside China; and, per scenario, the prices in ``region`` against the
    baseline path's (the minerals that move most).  ``folder_png(name)``
    gives each PNG's path, asked for as each figure is drawn; yields
    (path, caption) per figure."""
    from .dynamic import built_outside_china, fiscal_cost

    plt = pyplot()
    years = ds.year.values
    scen = [s for s in ds.scenario.values.tolist() if s != "baseline"]
    fiscal, unit = fiscal_cost(ds)
    money = f"million {unit}" if unit else "price unit x quantity unit"
    k = 1e6 if unit else 1.0
    fig, ax = plt.subplots(figsize=(11, 4.6))
    for sn in scen:
        ax.plot(years, fiscal.sel(scenario=sn).values / k, marker="o", ms=3, label=sn)
    ax.axhline(0, color="0.6", lw=0.8)
    ax.set_xlabel("year")
    ax.set_ylabel(f"fiscal cost ({money} per year)")
    ax.set_title("Fiscal cost per year: minus the change of government net revenue against the baseline path", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the lines, never over them
    yield (_save(fig, ds, folder_png("fiscal-cost-per-year")), f"Fiscal cost per year of each scenario ({money}; outlays positive, revenue negative)")

    outside = (ds.capacity_region != "CHN")
    base = ds.capacity.sel(scenario="baseline").where(outside, 0.0)
    n = max(1, len(scen))
    fig, axes = plt.subplots(n, 1, figsize=(8.5, 3.2 * n + 0.6), squeeze=False)
    for ax, sn in zip(axes[:, 0], scen):
        more = built_outside_china(ds, sn).groupby("capacity_mineral").sum()
        have = base.groupby("capacity_mineral").sum()
        share = (100.0 * more / have.where(have > 0)).rename(capacity_mineral="mineral")
        shown = [m for m in top_movers(share, "year") if np.nanmax(np.abs(share.sel(mineral=m).values)) > 0]
        for mn in shown:
            ax.plot(years, share.sel(mineral=mn).values, marker="o", ms=3, label=mn)
        ax.set_title(f"{sn}: capacity outside China above the baseline path's", fontsize=10)
        if not shown:
            _empty(ax, years, "no capacity built outside China above the baseline path's")
        ax.set_ylabel("% of the baseline path's capacity outside China", fontsize=8)
        ax.grid(alpha=0.3)
        if shown:
            ax.legend(fontsize=7, ncol=2)
    axes[-1, 0].set_xlabel("year")
    yield (_save(fig, ds, folder_png("capacity-built-outside-china")), "Capacity built outside China because of each scenario's policies: per mineral, its path's capacity above the baseline path's, as a share of the baseline path's capacity outside China (the minerals that move most)")

    fig, axes = plt.subplots(n, 1, figsize=(8.5, 3.2 * n + 0.6), squeeze=False)
    for ax, sn in zip(axes[:, 0], scen):
        # the last stage with a price in the region: what its buyers pay
        p = ds.price.sel(region=region).transpose("scenario", "mineral", "stage", "year")
        stages = ds.stage.values.tolist()
        rows = []
        for mn in ds.mineral.values.tolist():
            have = [st for st in stages if np.isfinite(p.sel(scenario="baseline", mineral=mn, stage=st).values).any()]
            pm = p.sel(mineral=mn, stage=have[-1]) if have else p.sel(mineral=mn).isel(stage=0)
            rows.append(100.0 * (pm.sel(scenario=sn).values / pm.sel(scenario="baseline").values - 1.0))
        change = xr.DataArray(np.array(rows), dims=("mineral", "year"), coords={"mineral": ds.mineral.values, "year": years})
        shown = [m for m in top_movers(change, "year") if np.nanmax(np.abs(change.sel(mineral=m).values)) > 1e-9]
        for mn in shown:
            ax.plot(years, change.sel(mineral=mn).values, marker="o", ms=3, label=mn)
        ax.axhline(0, color="0.6", lw=0.8)
        ax.set_title(f"{sn}: prices in {region} against the baseline path's", fontsize=10)
        if not shown:
            _empty(ax, years, f"no price in {region} moves")
        ax.set_ylabel("price change (%)", fontsize=8)
        ax.grid(alpha=0.3)
        if shown:
            ax.legend(fontsize=7, ncol=2)
    axes[-1, 0].set_xlabel("year")
    yield (_save(fig, ds, folder_png("prices-over-years")), f"Prices over the years: the price in {region} at each mineral's last stage, each scenario against the baseline path's same year (the minerals that move most)")


def _empty(ax, years, text: str) -> None:
    """A panel with nothing to draw says so (not a blank 0-1 frame)."""
    ax.set_xlim(years[0] - 0.5, years[-1] + 0.5)
    ax.set_yticks([])
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=9, color="0.35")


def _save(fig, ds, path) -> Path:
    from matplotlib.ticker import MaxNLocator

    for ax in fig.axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # years
    fig.suptitle(ds.attrs.get("title", "mineq dynamic results"), fontsize=11)
    fig.text(0.01, 0.005, source_note(ds), fontsize=7, color="0.35")
    fig.tight_layout(rect=(0, 0.02, 1, 0.97))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    fig.canvas.figure.clf()
    pyplot().close(fig)
    return path
