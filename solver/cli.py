"""The ``mineq`` command line (SPEC §6).

One command per intention: ``solve`` a case, ``check`` a case without
solving, ``compare`` the scenarios of a result file, ``verify`` a result
file.  Every failure is one paragraph and a
non-zero exit status; set ``MINEQ_DEBUG=1`` to see a traceback instead.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import time
from pathlib import Path

import click

from . import __version__
from .errors import CaseError, MineqError

BUNDLED_CASE = "critical-minerals-54"


def bundled_case_path() -> Path:
    """Folder of the case shipped with the package (``cases/`` data)."""
    here = Path(__file__).resolve().parent.parent / "cases" / BUNDLED_CASE
    if here.exists():
        return here
    from importlib import resources

    try:
        return Path(str(resources.files("mineq.cases") / BUNDLED_CASE))
    except ModuleNotFoundError:  # pragma: no cover - broken install
        return here


class _Group(click.Group):
    """Turns every error into one paragraph and an exit status."""

    def invoke(self, ctx):
        # the files written so far, from results.py if a command imported
        # it (not imported here: it brings xarray before main() can keep
        # dask out, solver/runtime.py)
        results = sys.modules.get(f"{__package__}.results")
        if results is not None:
            results.WRITTEN.clear()
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except (CaseError, MineqError) as err:
            raise click.ClickException(str(err)) from None
        except BrokenPipeError:
            # the reader went away (``mineq compare ... | head``): stop quietly
            sys.stdout = open(os.devnull, "w")
            raise click.exceptions.Exit(0) from None
        except KeyboardInterrupt as err:
            # what was written decides the message: an interruption may come
            # after a result is in place (while the summary prints)
            what = "Terminated" if getattr(err, "signum", None) == signal.SIGTERM else "Interrupted"
            results = sys.modules.get(f"{__package__}.results")
            if results is not None and results.WRITTEN:
                raise click.ClickException(f"{what} after writing {', '.join(map(str, results.WRITTEN))} (complete); nothing else was written.") from None
            raise click.ClickException(f"{what}; nothing was written (any earlier result at the output path is unchanged).") from None
        except RecursionError:
            if os.environ.get("MINEQ_DEBUG"):
                raise
            raise click.ClickException("The input is nested too deeply to process (lists or tables inside one another hundreds of levels deep); a mineq case or result file is nested a few levels at most. Check the file for runaway brackets (if nothing is nested deeply, this is a bug in mineq: please report it, with MINEQ_DEBUG=1 for the traceback).") from None
        except OverflowError as err:
            if os.environ.get("MINEQ_DEBUG"):
                raise
            raise click.ClickException(f"A number outgrew the floating-point range ({err}). The usual cause is a curve too steep for its figures: an isoelastic elasticity very close to 0, or prices and quantities spanning hundreds of orders of magnitude; check the case's curves (form = \"fixed\" for a quantity that does not respond to price). If they look sound, this is a bug in mineq: please report it, with MINEQ_DEBUG=1 for the traceback.") from None
        except Exception as err:  # the promise is: no traceback for users
            if os.environ.get("MINEQ_DEBUG"):
                raise
            raise click.ClickException(
                f"Internal error ({type(err).__name__}: {err}). This is a bug in mineq, not in your input; "
                "please report it with the case that triggered it (set MINEQ_DEBUG=1 to see the traceback)."
            ) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mineq")
def main():
    """mineq: critical-mineral market equilibria under price floors and
    minimum import prices.

    Solve a case (a folder with case.toml, or a .toml file) with
    `mineq solve CASE`; every reported solution has passed an independent
    check of the equilibrium conditions.  Instruments defined outside mineq
    are loaded from the entry-point group `mineq.instruments` and from the
    modules named in MINEQ_PLUGINS (comma-separated).
    """
    from mineq.models.policies import load_plugins

    ctx = click.get_current_context()
    if ctx.invoked_subcommand != "ensemble":
        # only an ensemble makes dask arrays; xarray would import dask and
        # distributed (0.4 s) for every other command because they are
        # installed (solver/runtime.py)
        from .runtime import allow_dask, without_dask

        blocked = without_dask()
        ctx.call_on_close(lambda: allow_dask(blocked))
    try:
        load_plugins()
    except Exception as err:
        raise MineqError(f"Could not load an instrument plugin ({type(err).__name__}: {err}); check MINEQ_PLUGINS and the mineq.instruments entry points.") from None


def _default_out(case_name: str, fmt: str) -> Path:
    """A results path that does not exist yet (never overwrite silently)."""
    stem = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in case_name)
    ext = {"netcdf": ".nc", "xlsx": ".xlsx"}.get(fmt, "")
    base = Path("mineq-results") / f"{stem}{ext}"
    n = 2
    while base.exists():
        base = Path("mineq-results") / f"{stem}-{n}{ext}"
        n += 1
    return base


def _outside_option(fn):
    return click.option("--allow-outside-case", "allow_outside", is_flag=True, help="Read tables the case names outside its folder (../, absolute paths, links that lead out). Off by default: a case from elsewhere cannot make mineq read other files.")(fn)


def _threads_option(default_help: str):
    return click.option("--threads", "--jobs", "-j", "threads", type=click.IntRange(1, 64), default=None, help=f"Workers for the market solves; the results do not depend on it. {default_help}")


def _solve_dynamic(c, scenarios, target, fmt, force, quiet, t0, threads=None) -> None:
    """`mineq solve` of a case with a [dynamics] table: every year, every
    scenario (mineq.solver.dynamic), one NetCDF file with a year dimension."""
    from .dynamic import solve_dynamic
    from .results import write

    if fmt != "netcdf":
        raise MineqError(f"Case '{c.name}' is dynamic ([dynamics]): its results are written as NetCDF (a year dimension); --format {fmt} is not available for it yet.")
    dyn = c.dynamics
    ds = solve_dynamic(c, dyn, scenarios, progress=not quiet, threads=threads)
    path = write(ds, target, "netcdf", force)
    failed = ds.attrs.get("failed_paths", "")
    if failed:
        click.echo(f"Not every year was solved: {failed}. Those paths stop at the year named (their later years are NaN, status 'not solved'); the other paths and the baseline are verified equilibria in every year.", err=True)
    if not quiet:
        click.echo(f"Case {c.name}: {dyn.first_year}-{dyn.last_year}, " + ("every year of every scenario a verified equilibrium" if not failed else "every year solved a verified equilibrium") + f" (largest scaled residual {ds.attrs['max_residual']:.1e}).")
        from .dynamic import built_outside_china, fiscal_cost

        every, unit = fiscal_cost(ds)
        k = 1e6 if unit else 1.0
        money = f"million {unit}" if unit else "price unit x quantity unit"
        for sn in ds.scenario.values.tolist()[1:]:
            fc = every.sel(scenario=sn)
            built = built_outside_china(ds, sn).isel(year=-1)
            click.echo(f"  {sn}: fiscal cost per year [{money}] " + ", ".join(f"{y} {round(float(v) / k, 6) + 0.0:,.4g}" for y, v in zip(ds.year.values, fc.values)) +
                       f"; discounted over the horizon {float(ds.fiscal_cost_discounted.sel(scenario=sn)) / k:,.4g}; last year it binds: {int(ds.last_binding_year.sel(scenario=sn)) if int(ds.last_binding_year.sel(scenario=sn)) > 0 else 'never'}; "
                       f"capacity built outside China because of it by {int(ds.year.values[-1])}: {int((built > 1e-9).sum())} curves")
    click.echo(f"Results written to {path} ({time.perf_counter() - t0:.2f} s).")
    if failed:
        raise SystemExit(1)


@main.command()
@click.argument("case", required=False, type=click.Path())
@click.option("--scenario", "-s", "scenarios", multiple=True, help="Solve only this scenario (repeatable). Default: all scenarios of the case.")
@click.option("--out", "-o", type=click.Path(), help="Result file (NetCDF) or folder (--format csv). Default: a new file under ./mineq-results/.")
@click.option("--format", "fmt", type=click.Choice(["netcdf", "csv", "xlsx"]), default="netcdf", show_default=True, help="Result file format: NetCDF (everything; what verify, compare and report read), a folder of tidy CSVs, or an Excel workbook (one sheet per table, units in the headers).")
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@click.option("--quiet", "-q", is_flag=True, help="Print only the result path and problems.")
@_threads_option("Default: the cores available, at most 4. On Linux the workers are this process and processes forked from it, each taking the next mineral when it is free; elsewhere, or with MINEQ_PROCESSES=0, threads (HiGHS runs while Python prepares the next market).")
@_outside_option
def solve(case, scenarios, out, fmt, force, quiet, threads, allow_outside):
    """Solve the baseline and the scenarios of CASE and write the results.

    With no CASE, solves the bundled 54-mineral case.  Prints a summary
    table, writes every quantity, price and welfare figure to a NetCDF file
    (or tidy CSVs) and exits non-zero if any market is not a verified
    equilibrium (its figures are still written, marked by status).
    """
    from .report import print_changes, print_headline, print_summary
    from .results import OutputExists, check_target, to_dataset, write
    from .run import solve_case

    t0 = time.perf_counter()
    c = _load(case, allow_outside)
    target = Path(out) if out is not None else _default_out(c.name, fmt)
    check_target(target, fmt, force)  # before the solve, not after it
    if c.dynamics is not None:
        return _solve_dynamic(c, list(scenarios) or None, target, fmt, force, quiet, t0, threads)
    diagnoses: list = []
    results = solve_case(c, list(scenarios) or None, progress=not quiet, diagnoses=diagnoses, threads=threads)
    # a NetCDF file's layout from the start: nothing here reads the dense
    # origin x destination arrays, which on a 200-region case take 0.5 GB
    # and a second to make (benchmarks/country_case.py)
    ds = to_dataset(c, results, layout="file" if fmt == "netcdf" else "dense")
    from .diagnose import circumvention

    around = circumvention(c, ds)  # after the solve: shown in full, never folded
    for sn, d in around:
        click.echo(f"Diagnosis ({sn}): {d}", err=True)
    diagnoses = diagnoses + around
    ds.attrs["diagnoses"] = "\n".join(f"{sn}: {d}" for sn, d in diagnoses)
    errors = [(sn, d) for sn, d in diagnoses if d.severity == "error"]
    warnings = [(sn, d) for sn, d in diagnoses if d.severity != "error" and (sn, d) not in around]
    # errors always; warnings (policies or processes with nothing to act on)
    # in full only when few, else counted, so they do not bury the answer
    shown = errors[:20] + (warnings if len(warnings) <= 5 else [])
    for sn, d in shown:
        click.echo(f"Diagnosis ({sn}): {d}", err=True)
    if len(diagnoses) > len(shown) + len(around):
        click.echo(f"{len(diagnoses) - len(shown) - len(around)} more diagnoses ({len(warnings)} warnings: policies or processing with nothing to act on) are listed in the attribute 'diagnoses' of the result file.", err=True)
    while True:
        try:
            path = write(ds, target, fmt=fmt, force=force)
            break
        except OutputExists:
            if out is not None or not os.path.lexists(target):
                raise
            # a name mineq chose was taken meanwhile (another run): the next free one
            target = _default_out(c.name, fmt)
    elapsed = time.perf_counter() - t0
    if not quiet:
        head = c.data.get("case", {})
        if head.get("headline_minerals"):
            group = head.get("headline_group")
            print_headline(ds, head["headline_minerals"], head.get("headline_region", c.regions[0]), group, c.groups.get(group, []) if group else [])
            click.echo(f"Per-mineral changes: mineq compare {path}")
        else:
            print_summary(ds)
            for sn in ds.scenario.values.tolist()[1:]:
                print_changes(ds, sn)
    bad = [(sn, mn, r) for sn, sc in results.items() for mn, r in sc.items() if not r.ok]
    click.echo(f"Results written to {path} ({elapsed:.2f} s; largest scaled residual {ds.attrs['max_residual']:.1e}).")
    if bad:
        lines = "; ".join(f"{sn}/{mn}: {r.message or r.status}" for sn, mn, r in bad[:5])
        more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
        raise click.ClickException(f"{len(bad)} market(s) have no verified equilibrium and are marked in the results' status variable: {lines}{more}.")


@main.command()
@click.argument("case", required=False, type=click.Path())
@click.option("--mineral", "-m", "minerals", multiple=True, help="Show only this mineral (repeatable). Default: all.")
@click.option("--failing", is_flag=True, help="Show only the figures outside their bands.")
@click.option("--csv", "csv_path", type=click.Path(), help="Also write the table as tidy CSV (not overwritten: choose a new name).")
@_threads_option("Default: the cores available, at most 4.")
def calibration(case, minerals, failing, csv_path, threads):
    """Compare CASE's baseline with the observed figures it names.

    With no CASE, the bundled case.  Solves the baseline only and prints,
    per mineral, the model's value and the observed one (USGS net import
    reliance in percent, US import shares by origin in percent, China's
    share of world mine and refinery output in percent, prices, US
    production, secondary production and consumption in the mineral's
    units), the band the model must fall in, and the source and
    confidence of each observed figure; then how many lie inside their
    bands.  Exits non-zero if any does not.  The table is the case's
    ``calibration`` file (see its README); `mineq solve` stores the same
    comparison in the result file.
    """
    from .calibration import compare, format_table, targets
    from .results import to_dataset
    from .run import solve_case

    c = _load(case)
    rows = targets(c)
    if rows is None:
        raise MineqError(f"Case '{c.name}' names no calibration table: add calibration = \"file.csv\" to its [case] section (columns mineral, indicator, stage, region, origin, observed, lower, upper, unit, source, confidence).")
    if minerals:
        unknown = [m for m in minerals if m not in c.markets]
        if unknown:
            raise MineqError(f"--mineral {unknown[0]}: not a mineral of case '{c.name}'.")
    if csv_path is not None and Path(csv_path).exists():
        raise MineqError(f"The output {csv_path} already exists; mineq does not overwrite files. Choose another --csv.")
    from .case import BASELINE

    results = solve_case(c, [BASELINE], threads=threads)
    ds = to_dataset(c, results)
    table = compare(ds, rows)
    shown = table if not failing else table[~table.inside]
    click.echo(format_table(shown, list(minerals) or None))
    if csv_path is not None:
        with open(csv_path, "x", newline="", encoding="utf-8") as f:
            table.to_csv(f, index=False)
    if not bool(table.inside.all()):
        n = int((~table.inside).sum())
        raise click.ClickException(f"{n} of {len(table)} observed figures are outside their bands.")


def _load(case, allow_outside: bool = False):
    """The case at CASE, or the bundled one when CASE is None."""
    from .case import load_case

    if case is None:
        case = bundled_case_path()
        if not Path(case).exists():
            raise MineqError(f"The bundled case '{BUNDLED_CASE}' is missing from this installation (looked in {case}); reinstall mineq, or pass a case folder or .toml file.")
    return load_case(case, allow_outside)


def _default_indicators(c) -> list[str]:
    region = c.data.get("case", {}).get("headline_region", c.regions[0])
    return [f"price[{region}]", f"net_import_reliance[{region}]"]


@main.command()
@click.argument("case", required=False, type=click.Path())
@click.option("--scenario", "-s", required=True, help="The scenario whose policy is swept.")
@click.option("--set", "setting", required=True, metavar="[POLICY.]KEY=START:STOP:N", help="The swept key and its values: START:STOP:N evenly spaced, or V1,V2,...  POLICY is the policy's number in the scenario or its type; without it every policy with KEY is swept. Example: level_vs_baseline=1:1.5:21.")
@click.option("--indicator", "-i", "indicators", multiple=True, metavar="NAME[LABEL,...]", help="Indicator to plot against the swept value (repeatable), e.g. 'net_import_reliance[USA]', 'processing_share[USA]'. Default: price and net import reliance of the headline region.")
@click.option("--mineral", "-m", "minerals", multiple=True, help="Solve only this mineral (repeatable). Default: all.")
@click.option("--out", "-o", type=click.Path(), help="Result file (NetCDF; dimension 'sweep', baseline in group 'baseline') or folder (--format csv). Default: a new file under ./mineq-results/.")
@click.option("--format", "fmt", type=click.Choice(["netcdf", "csv"]), default="netcdf", show_default=True)
@click.option("--plot", "plot_path", type=click.Path(), help="PNG of the indicators against the swept value. Default: beside the results, same name, .png.")
@click.option("--force", is_flag=True, help="Replace --out and --plot if they exist.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or table.")
@click.option("--year", "-y", type=int, default=None, help="For a dynamic case: the year whose indicators the table and the plot show (the file holds every year). Default: the last year.")
@_threads_option("Default: the cores available, at most 4, where the workers are processes (on Linux: this process and processes forked from it, each taking the next mineral to sweep when it is free); 1 where they would be threads (MINEQ_PROCESSES=0, other systems), since a sweep's re-solves are Python active-set steps that a second thread only slows down.")
@_outside_option
def sweep(case, scenario, setting, indicators, minerals, out, fmt, plot_path, force, quiet, year, threads, allow_outside):
    """Solve SCENARIO of CASE at many values of one policy key.

    Each mineral's program is built once and re-solved at every value
    (from the previous value's prices); every point is a verified
    equilibrium.  Writes a result Dataset with a 'sweep' dimension and a
    plot of the chosen indicators against the swept value.  With no CASE,
    sweeps the bundled case.

    A dynamic case (a [dynamics] table) is swept over its years: each
    value is a path of the scenario from the first year to the last,
    every year a verified equilibrium, against one baseline path; the
    file has 'sweep' and 'year' dimensions, and the table and plot add
    each value's discounted fiscal cost and the last year its policies
    bind.
    """
    from .indicators import evaluate
    from .plot import sweep_figure
    from .results import OutputExists, atomic_file, check_target, to_dataset, write
    from .processes import forking
    from .run import default_threads
    from .sweep import parse_set, sweep_case, sweep_dataset

    t0 = time.perf_counter()
    c = _load(case, allow_outside)
    swept = parse_set(setting, c, scenario)
    for mn in minerals:
        if mn not in c.markets:
            raise click.BadParameter(f"'{mn}' is not a mineral of case '{c.name}' ({', '.join(list(c.markets)[:8])}, ...)", param_hint="--mineral")
    indicators = list(indicators) or _default_indicators(c)
    if c.dynamics is not None:
        return _sweep_dynamic(c, swept, indicators, minerals, out, fmt, plot_path, force, quiet, year, t0, threads)
    if year is not None:
        raise click.BadParameter(f"{year}: case '{c.name}' is static (no [dynamics] table), it has one year", param_hint="--year")
    chosen = out is not None
    out = Path(out) if out else _default_out(f"{c.name}-sweep", fmt)
    png = Path(plot_path) if plot_path else out.with_suffix(".png") if fmt == "netcdf" else out / "sweep.png"
    check_target(out, fmt, force)
    inside = fmt == "csv" and png == out / "sweep.png"  # written into the new folder
    if not inside:
        check_target(png, "png", force, hint="--plot")
    pcase, results = sweep_case(c, swept, progress=not quiet, minerals=list(minerals) or None, threads=threads or (default_threads() if forking() else 1))
    ds = to_dataset(pcase, results)
    pts, base = sweep_dataset(ds, swept)
    for text in indicators:
        evaluate(pts, text)  # a bad indicator fails before anything is written
    while True:
        try:
            path = write(pts, out, fmt=fmt, force=force, groups={"baseline": base})
            break
        except OutputExists:
            if chosen or not os.path.lexists(out):
                raise
            # a name mineq chose was taken meanwhile (another run): the next free one
            out = _default_out(f"{c.name}-sweep", fmt)
            png = Path(plot_path) if plot_path else out.with_suffix(".png") if fmt == "netcdf" else out / "sweep.png"
            inside = fmt == "csv" and png == out / "sweep.png"
    with atomic_file(png, ".png", replace=force or inside, hint="--plot") as tmp:
        sweep_figure(pts, indicators, tmp)
    elapsed = time.perf_counter() - t0
    n = sum(1 for sn, sc in results.items() if sn != "baseline" for _ in sc)
    bad = [(sn, mn, r) for sn, sc in results.items() for mn, r in sc.items() if not r.ok]
    if not quiet:
        _print_sweep(pts, indicators)
    click.echo(f"Sweep of {swept.label} over {len(swept.values)} values, {len(pcase.markets)} minerals ({n} scenario-markets): results written to {path}, plot to {png} ({elapsed:.2f} s; largest scaled residual {ds.attrs['max_residual']:.1e}).")
    if bad:
        lines = "; ".join(f"{sn}/{mn}: {r.message or r.status}" for sn, mn, r in bad[:5])
        raise click.ClickException(f"{len(bad)} point(s) have no verified equilibrium and are marked in the status variable: {lines}.")


def _sweep_dynamic(c, swept, indicators, minerals, out, fmt, plot_path, force, quiet, year, t0, threads=None) -> None:
    """`mineq sweep` of a dynamic case: each swept value a path over the years."""
    from .indicators import evaluate
    from .plot import sweep_figure
    from .results import atomic_file, check_target, write
    from .sweep import sweep_dataset, sweep_dynamic

    dyn = c.dynamics
    if fmt != "netcdf":
        raise MineqError(f"Case '{c.name}' is dynamic ([dynamics]): a sweep of it is written as NetCDF (dimensions sweep and year); --format {fmt} is not available for it yet.")
    year = dyn.last_year if year is None else year
    if year not in dyn.years:
        raise click.BadParameter(f"{year}: the case runs {dyn.first_year}-{dyn.last_year}", param_hint="--year")
    out = Path(out) if out else _default_out(f"{c.name}-sweep", fmt)
    png = Path(plot_path) if plot_path else out.with_suffix(".png")
    check_target(out, fmt, force)
    check_target(png, "png", force, hint="--plot")
    pcase, ds = sweep_dynamic(c, swept, progress=not quiet, minerals=list(minerals) or None, threads=threads)
    pts, base = sweep_dataset(ds, swept)
    shown = pts.sel(year=year)
    shown.attrs["title"] = f"{pts.attrs['title']}\nindicators in {year}; fiscal cost over {dyn.first_year}-{dyn.last_year}, discounted at {dyn.discount_rate:g} per year"
    currency = pts.fiscal_cost_discounted.attrs.get("units", "").split(",")[0]
    shown["fiscal_cost_discounted"] = shown.fiscal_cost_discounted.assign_attrs(units=currency, long_name=f"fiscal cost discounted to {dyn.first_year}")
    money = [*indicators, "fiscal_cost_discounted"]
    for text in indicators:
        evaluate(shown, text)  # a bad indicator fails before anything is written
    path = write(pts, out, fmt=fmt, force=force, groups={"baseline": base})
    with atomic_file(png, ".png", replace=force, hint="--plot") as tmp:
        sweep_figure(shown, money, tmp)
    if not quiet:
        click.echo(f"Indicators in {year}; fiscal cost discounted to {dyn.first_year} at {dyn.discount_rate:g} per year [{currency}]; capacity curves built outside China by {dyn.last_year}:")
        _print_sweep(shown.assign(curves_built_outside_china=(pts["built_outside_china"].isel(year=-1) > 1e-9).sum("capacity_curve").astype(float)), [*money, "last_binding_year", "curves_built_outside_china"])
    failed = ds.attrs.get("failed_paths", "")
    n = len(swept.values) * len(dyn.years)
    click.echo(f"Sweep of {swept.label} over {len(swept.values)} values x {len(dyn.years)} years ({dyn.first_year}-{dyn.last_year}), {ds.sizes['mineral']} minerals: results written to {path}, plot of {year} to {png} ({time.perf_counter() - t0:.2f} s; {n} point-years, largest scaled residual {ds.attrs['max_residual']:.1e}).")
    if failed:
        raise click.ClickException(f"Not every point reached the last year: {failed}. Those paths stop at the year named (status 'not solved' after it); the other points are verified equilibria in every year.")


def _print_sweep(pts, indicators) -> None:
    """Scalar indicators as a table; per-mineral ones as their range."""
    from .indicators import evaluate
    from .report import _table

    x = pts["sweep"].values
    rows, head = [], [pts["sweep"].attrs.get("policy_key", "value")]
    cols = []
    for text in indicators:
        da = evaluate(pts, text)
        if "mineral" in da.dims and da.sizes["mineral"] == 1:
            da = da.isel(mineral=0)
        if "mineral" in da.dims:
            lo, hi = da.min("mineral").values, da.max("mineral").values
            cols.append([f"{a:.4g} .. {b:.4g}" for a, b in zip(lo, hi)])
            head.append(f"{text} (min .. max over minerals)")
        else:
            cols.append([f"{v:.6g}" for v in da.values])
            head.append(text)
    step = max(1, len(x) // 12)
    for k in range(0, len(x), step):
        rows.append([f"{x[k]:.6g}", *(c[k] for c in cols)])
    click.echo(_table(rows, head))


@main.command()
@click.argument("case", required=False, type=click.Path())
@click.option("--scenario", "-s", required=True, help="The scenario whose policy is adjusted.")
@click.option("--param", "-p", required=True, metavar="[POLICY.]KEY", help="The policy key to adjust, e.g. level, level_vs_baseline, 1.ad_valorem.")
@click.option("--indicator", "-i", required=True, metavar="NAME[LABEL,...]", help="One number: an indicator naming a mineral, e.g. 'processing_share[USA,lithium]'.")
@click.option("--value", "-v", "target_value", help="The value the indicator should take, in its own unit; fractions (net import reliance, shares) as 0.5 or 50%.")
@click.option("--maximize", is_flag=True, help="Instead of --value: the level that maximises the indicator (e.g. the export tax that maximises an exporter's 'producer_government_change[CHN,antimony]').")
@click.option("--range", "bounds", metavar="LOW:HIGH", help="Levels to search. Default: 0.5 to 2 times the scenario's own value.")
@click.option("--points", type=int, default=9, show_default=True, help="Grid points for the bracketing and monotonicity check.")
@click.option("--tol", type=float, default=None, help="Accepted |indicator - value| (default: 1e-6 of the indicator's range).")
@click.option("--out", "-o", type=click.Path(), help="Also write the result at the level found (NetCDF).")
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@click.option("--year", "-y", type=int, default=None, help="For a dynamic case: the year in which the indicator is read (an indicator with a value each year needs one; totals over the years such as fiscal_cost_discounted take none).")
@_outside_option
def target(case, scenario, param, indicator, target_value, maximize, bounds, points, tol, out, force, year, allow_outside):
    """Find the level of a policy key at which an indicator reaches a value.

    Solves a grid of levels, checks that the indicator is monotone in the
    level, brackets the target and refines by regula falsi, every point a
    verified equilibrium.  If the target cannot be reached in the range,
    says so and gives the closest reachable value.  With --maximize, finds
    the level that maximises the indicator instead (grid, then
    golden-section search around the best point; --tol is then the
    accepted width of the level's bracket).  With no CASE, uses the
    bundled case.

    On a dynamic case every level is a path over the years (the
    indicator's mineral and the minerals linked with it), each year
    verified; the indicator is read in --year, or is a total over the
    years: 'fiscal_cost_discounted[lithium]' = 5e9 finds the floor a
    discounted budget of 5 billion allows.
    """
    from .results import check_target, to_dataset, write
    from .sweep import parse_set, sweep_case
    from .target import default_range, find_level, find_maximum

    from .indicators import target_value as read_value

    if (target_value is None) == (not maximize):
        raise click.UsageError("Give exactly one of --value (the indicator's target) or --maximize.")
    c = _load(case, allow_outside)
    target_value = read_value(target_value, indicator) if not maximize else None
    if bounds:
        try:
            lo, hi = (float(v) for v in bounds.split(":"))
        except ValueError:
            raise click.BadParameter(f"'{bounds}'; expected LOW:HIGH, two numbers", param_hint="--range") from None
    else:
        lo, hi = default_range(c, scenario, param)
    if out:
        check_target(out, "netcdf", force)
    if maximize:
        r = find_maximum(c, scenario, param, indicator, lo, hi, points=points, xtol=tol, year=year)
    else:
        r = find_level(c, scenario, param, indicator, target_value, lo, hi, points=points, tol=tol, year=year)
    click.echo(f"{indicator} against {param} in [{lo:g}, {hi:g}] ({r.mineral}, {len(r.evaluations)} verified solves, {r.monotone}):")
    for x, v in sorted(r.evaluations)[:: max(1, len(r.evaluations) // 15)]:
        click.echo(f"  {param} = {x:<12.6g} {indicator} = {v:.6g}")
    if out and c.dynamics is not None:
        click.echo(f"Paths at the level found written to {write(r.result.dataset, out, force=force)}.")
    elif out:
        pcase, results = sweep_case(c, parse_set(f"{param}={r.level!r}", c, scenario), minerals=[r.mineral])
        click.echo(f"Result at the level found written to {write(to_dataset(pcase, results), out, force=force)}.")
    if maximize and r.reached:
        click.echo(f"{param} = {r.level:.8g} maximises {indicator} = {r.value:.8g} (verified equilibrium, largest scaled residual {r.residual:.1e}).{(' ' + r.message) if r.message else ''}")
    elif r.reached:
        click.echo(f"{param} = {r.level:.8g} gives {indicator} = {r.value:.8g} (target {target_value:g}; verified equilibrium, largest scaled residual {r.residual:.1e}).{(' ' + r.message) if r.message else ''}")
    else:
        raise click.ClickException(r.message)


@main.command()
@click.argument("case", required=False, type=click.Path())
@click.option("--draws", "-n", type=click.IntRange(min=1), required=True, help="Number of Monte Carlo draws.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed; draw i uses the stream (seed, i), whatever the number of workers.")
@click.option("--scenario", "-s", "scenarios", multiple=True, help="Solve only this scenario in each draw (repeatable; 'baseline': the baseline alone). Default: all.")
@click.option("--uncertainty", type=click.Path(dir_okay=False), help="Uncertainty table (CSV: mineral, parameter, central, low, high). Default: the case's [case] uncertainty.")
@click.option("--workers", "-w", type=click.IntRange(min=1), default=None, help="Workers of the local Dask cluster. Default: all cores.")
@click.option("--scheduler", metavar="ADDRESS", help="Run on an existing Dask cluster (tls://host:8786, or tcp:// on a trusted network); its workers need mineq installed and the run folder (--out) on a file system they share with this machine. See the README, 'Ensembles on a cluster'.")
@click.option("--tls-ca-file", type=click.Path(exists=True, dir_okay=False), help="With a tls:// --scheduler: the certificate authority that signed the scheduler's and workers' certificates (PEM). Default: Dask's configuration distributed.comm.tls.ca-file.")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False), help="With a tls:// --scheduler: this client's certificate (PEM; may hold the key too). Default: distributed.comm.tls.client.cert.")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), help="With a tls:// --scheduler: this client's private key (PEM), if not in --tls-cert. Default: distributed.comm.tls.client.key.")
@click.option("--worker-timeout", type=click.FloatRange(min=0, min_open=True), default=300.0, show_default=True, metavar="SECONDS", help="Give up when the cluster has had no worker for this long (every worker gone, or none ever joined); the chunks written are kept for --resume.")
@click.option("--chunk", type=click.IntRange(min=1), default=None, help="Draws per task and per chunk file.  [default: 2, or 16 from 256 draws on: each task carries the case to its worker; with --resume, the run's own]")
@click.option("--out", "-o", type=click.Path(file_okay=False), help="Run folder (chunk files, then ensemble.nc). Default: a new folder under ./mineq-results/.")
@click.option("--resume", is_flag=True, help="Continue an interrupted run in --out: solve only the chunks not yet written.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@_outside_option
def ensemble(case, draws, seed, scenarios, uncertainty, workers, scheduler, tls_ca_file, tls_cert, tls_key, worker_timeout, chunk, out, resume, quiet, allow_outside):
    """Monte Carlo over uncertain elasticities and trade costs, on Dask.

    Each draw perturbs the case by factors from triangular distributions
    (the case's uncertainty table) and solves the baseline and scenarios,
    every market verified.  Chunks of draws are written as they finish and
    recorded (draws, sha256) in the run folder's manifest.json, so an
    interrupted run keeps them and --resume continues it; a chunk file the
    manifest does not vouch for is refused.  The result, ensemble.nc, has
    a 'draw' dimension and '_quantiles' summaries.
    """
    import json as _json
    import shlex
    import shutil

    from .ensemble import DRAWN, checked_chunks, chunk_path, combine, draw_bytes, fold_journal, manifest, packed_case, plan_chunks, read_uncertainty, record_chunk, run_id, scenarios_per_draw, solve_chunk
    from .case import BASELINE
    from .run import check_fits
    from mineq.models.program_size import available_memory, gib

    c = _load(case, allow_outside)
    for sn in scenarios:
        # -s baseline: the baseline alone, as in mineq solve
        if sn != BASELINE and sn not in [x.name for x in c.scenarios]:
            raise MineqError(f"Scenario '{sn}' is not in case '{c.name}'; its scenarios are: {', '.join(x.name for x in c.scenarios) or '(none)'} (or baseline, for the baseline alone).")
    security = _security(scheduler, tls_ca_file, tls_cert, tls_key)
    if uncertainty is None:
        name = c.data.get("case", {}).get("uncertainty")
        if not name:
            raise MineqError(f"Case '{c.name}' names no uncertainty table ([case] uncertainty = \"file.csv\"); pass --uncertainty FILE.")
        from .case import inside_case

        uncertainty = inside_case(Path(c.data.get("_file", ".")).parent, name, c.data.get("_file", "case.toml"), "[case]", "uncertainty", allow_outside)
    rows = read_uncertainty(uncertainty, c)
    skipped = sorted({r["parameter"] for r in rows} - DRAWN)
    if skipped:
        click.echo(f"Not drawn (no rule for these parameters; they stay at their central values): {', '.join(skipped)}.", err=True)
    folder = Path(out) if out else _default_out(f"{c.name}-ensemble", "csv")
    mfile = folder / "manifest.json"
    # the run's manifest, read once (None: none, or not a table; refused
    # below if the folder holds anything)
    old = None
    if resume:
        try:
            old = _json.loads(mfile.read_text())
        except (OSError, ValueError, RecursionError):
            pass
        if not isinstance(old, dict):
            old = None
    if chunk is None and old is not None and "chunk" in old:
        # a resume without --chunk continues with the run's own chunks
        # (one started before a change of the default below, too)
        given = old["chunk"]
        if not (isinstance(given, int) and not isinstance(given, bool) and given >= 1):
            raise MineqError(f"{mfile} records a chunk of {_json.dumps(given)}, not a whole number of draws of at least 1, so it is not a run mineq started; choose another --out.")
        chunk = given
    if chunk is None:
        # by the draws alone; 256 baseline draws of the bundled case on 2
        # local workers: 377 verified mineral-solves per second with 2 a
        # chunk, 425 with 8 (session 19); with 16 draws a chunk, one
        # Dataset and one file each (solver.ensemble.BATCH), 1,104-1,117
        # against 967-1,060 with 8 (session 21)
        chunk = 16 if draws >= 256 else 2
    # before any folder, cluster or plan exists: -n 1000000000 would
    # otherwise spend its first minutes listing chunks and then fail in
    # the combine step, after the solves
    per_draw = draw_bytes(c, list(scenarios) or None)
    total = per_draw * draws
    solves = draws * len(c.markets) * (1 + scenarios_per_draw(c, list(scenarios) or None))
    try:
        avail = available_memory()
    except ValueError as err:
        raise MineqError(f"{err}.") from None
    place = next(p for p in (folder.resolve(), *folder.resolve().parents) if p.exists())
    free = shutil.disk_usage(place).free
    # the combine step holds the chunks, their concatenation and its
    # sorted copy; the disk holds the chunks and ensemble.nc
    if 3 * total > avail or 2 * total > free:
        short = f"{gib(avail)} of memory are available" if 3 * total > avail else f"{place} has {gib(free)} free"
        fit = max(1, min(avail // (3 * per_draw), free // (2 * per_draw)))
        raise MineqError(
            f"--draws {draws:,} is too large for case '{c.name}': the result holds about {gib(per_draw)} per draw, "
            f"{gib(total)} in all ({solves:,} market solves), and combining it needs about {gib(3 * total)} of memory and {gib(2 * total)} of disk, but {short}; nothing was started. "
            f"At most about {fit:,} draws fit here; the quantiles of a few thousand draws are usually steady."
        )
    check_fits(c, 1)
    meta = manifest(c, rows, seed, draws, chunk, list(scenarios) or None)
    if folder.exists() and any(folder.iterdir()):
        if not resume:
            raise MineqError(f"The run folder {folder} is not empty; pass --resume to continue the run in it, or choose another --out.")
        if old is None:
            raise MineqError(f"{folder} has no readable manifest.json, so it is not a mineq ensemble run that can be resumed.")
        old_meta = {k: v for k, v in old.items() if k != "chunks"}
        if old_meta != _json.loads(_json.dumps(meta)):
            diff = [k for k in meta if _json.dumps(old.get(k)) != _json.dumps(meta[k])]
            raise MineqError(f"--resume: the run in {folder} was started with different {', '.join(diff)}; resume with the same case, table, --seed, --draws, --chunk and --scenario, or choose another --out.")
    folder.mkdir(parents=True, exist_ok=True)
    if not mfile.exists():
        # an empty record, not none: a manifest without one is a run of a
        # mineq that recorded no chunks (ensemble._own_chunk)
        try:
            with open(mfile, "x") as f:  # create-if-absent: of two runs starting in one folder, one owns it
                f.write(_json.dumps({**meta, "chunks": {}}, indent=1))
        except FileExistsError:
            raise MineqError(f"Another run started in {folder} at the same moment; choose another --out, or --resume once it has stopped.") from None
    chunks = plan_chunks(draws, chunk)
    have = set(checked_chunks(folder, chunks))
    todo = [k for k in range(len(chunks)) if k not in have]
    if resume:
        click.echo(f"Resuming: {len(chunks) - len(todo)} of {len(chunks)} chunks already written.")

    again = ["mineq", "ensemble", *([case] if case else []), "-n", str(draws), "--seed", str(seed), "--chunk", str(chunk), "--uncertainty", str(uncertainty)]
    again += [a for sn in scenarios for a in ("-s", sn)] + ["-o", str(folder)]
    again += ["--scheduler", scheduler] if scheduler else []
    again += [a for flag, v in (("--tls-ca-file", tls_ca_file), ("--tls-cert", tls_cert), ("--tls-key", tls_key)) if v for a in (flag, v)]
    again.append("--resume")

    def kept() -> str:
        """What is on disk and how to go on, for any way the run stops."""
        try:
            # records the chunks whose workers died before reporting them
            written = checked_chunks(folder, chunks)
        except MineqError:
            written = [k for k in range(len(chunks)) if chunk_path(folder, k).exists()]
        try:
            fold_journal(folder)
        except (OSError, ValueError):  # the journal stays, and is read as the manifest's part
            pass
        n = sum(len(chunks[k]) for k in written)
        return (f"{len(written)} of {len(chunks)} chunks ({n} of {draws} draws) are kept in {folder} and recorded in its manifest.json; "
                f"no ensemble.nc was written. Continue with: {shlex.join(again)}")

    t0 = time.perf_counter()
    done = {"verified": 0, "markets": 0}
    if todo:
        import logging

        from dask.distributed import Client, LocalCluster, wait

        # the user is told what happened in one paragraph; Dask's own
        # reports of the same (lost workers, results fetched again, tasks
        # cancelled when the run stops) would bury it
        for name in ["distributed", *logging.root.manager.loggerDict]:
            if name.startswith("distributed"):
                logging.getLogger(name).setLevel(logging.ERROR)
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)
        cluster = client = None
        pending: dict = {}
        try:
            if scheduler:
                try:
                    client = Client(scheduler, timeout="10s", security=security)
                except Exception as err:
                    tls = " Check that the certificates were signed by the authority the scheduler trusts and that the address starts with tls://." if security is not None else ""
                    raise MineqError(f"Cannot connect to the Dask scheduler at {scheduler} ({type(err).__name__}: {err}).{tls}") from None
            else:
                n = workers or os.cpu_count() or 1
                cluster = _local_cluster(LocalCluster, n)
                client = Client(cluster)
            case_json = packed_case(_json.dumps(c.data))
            run = run_id(meta)
            pending = {client.submit(solve_chunk, case_json, rows, seed, chunks[k], str(chunk_path(folder, k).resolve()), list(scenarios) or None, run, pure=False): k for k in todo}
            poll = min(1.0, worker_timeout / 4)
            seen = time.monotonic()
            with click.progressbar(length=sum(len(chunks[k]) for k in todo), label="Draws", show_pos=True, show_eta=True, file=None if not quiet else open(os.devnull, "w")) as bar:
                while pending:
                    try:
                        finished = wait(list(pending), timeout=poll, return_when="FIRST_COMPLETED").done
                    except TimeoutError:
                        finished = set()
                    collected = 0
                    for fut in finished:
                        k = pending[fut]
                        r = _chunk_result(fut, k, chunks[k], kept, poll)
                        if r is None:
                            continue
                        del pending[fut]
                        collected += 1
                        record_chunk(folder, k, chunks[k], r["sha256"])
                        done["verified"] += r["verified"]
                        done["markets"] += r["markets"]
                        bar.update(r["draws"])
                    if collected:
                        continue
                    now = time.monotonic()
                    if _has_workers(client):
                        seen = now
                    elif now - seen > worker_timeout:
                        raise MineqError(
                            f"The Dask cluster{' at ' + scheduler if scheduler else ''} has had no worker for {worker_timeout:g} s (--worker-timeout); gave up. "
                            f"{kept()} once workers are back."
                        )
        except KeyboardInterrupt:
            # chunks a worker finished while this process was stopping
            # are on disk: recording them keeps them for --resume
            for fut, k in list(pending.items()):
                try:
                    if fut.status == "finished" and chunk_path(folder, k).exists():
                        record_chunk(folder, k, chunks[k], fut.result(timeout=1)["sha256"])
                except Exception:
                    pass
            # the workers stopped before what is on disk is counted: a
            # local worker (Ctrl-C does not reach it) could otherwise
            # rename a finished chunk into place after the count; a remote
            # one may still, and its chunk is recognised on --resume
            _close_quietly(client, cluster)
            client = cluster = None
            raise MineqError(f"Interrupted. {kept()}") from None
        finally:
            _close_quietly(client, cluster)
    elapsed = time.perf_counter() - t0
    from .results import write

    try:
        fold_journal(folder)
        ds = combine(folder, chunks, c, meta)
        path = write(ds, folder / "ensemble.nc", force=True)
    except KeyboardInterrupt:
        raise MineqError(f"Interrupted while combining the chunks. {kept()}") from None
    rate = f"; {done['verified'] / elapsed:.1f} verified mineral-solves per second" if done["markets"] else ""
    bad = int((ds["status"] != "equilibrium").sum())
    click.echo(f"{draws} draws ({len(todo)} chunks solved in {elapsed:.1f} s{rate}) combined in {path}; largest scaled residual {ds.attrs['max_residual']:.1e}.")
    if bad:
        raise click.ClickException(f"{bad} draw-scenario-mineral markets have no verified equilibrium; they are marked in the status variable of {path}.")


def _security(scheduler, ca, cert, key):
    """Dask's security settings for ``--scheduler``: from the --tls-*
    options, else from Dask's configuration (``distributed.comm.tls.*``);
    None for a plain tcp:// scheduler or the local cluster."""
    given = {"--tls-ca-file": ca, "--tls-cert": cert, "--tls-key": key}
    named = [k for k, v in given.items() if v]
    if named and not scheduler:
        raise MineqError(f"{', '.join(named)} apply to a cluster given with --scheduler tls://HOST:PORT; the local cluster mineq starts itself needs no certificates.")
    if not scheduler:
        return None
    from distributed.security import Security

    if scheduler.startswith("tls://"):
        if named:
            if not ca or not cert:
                raise MineqError(f"A tls:// scheduler needs both --tls-ca-file (the authority that signed the cluster's certificates) and --tls-cert (this client's certificate{'; --tls-key if the key is a separate file' if not key else ''}); got only {', '.join(named)}.")
            return Security(tls_ca_file=ca, tls_client_cert=cert, tls_client_key=key, require_encryption=True)
        sec = Security()  # Dask's configuration: distributed.comm.tls.*
        if not sec.tls_ca_file or not sec.tls_client_cert:
            raise MineqError(
                f"The scheduler {scheduler} speaks TLS, but no client certificate is set: pass --tls-ca-file CA.pem --tls-cert CLIENT.pem [--tls-key CLIENT.key], "
                "or set distributed.comm.tls.ca-file, distributed.comm.tls.client.cert and distributed.comm.tls.client.key in Dask's configuration (see the README, 'Ensembles on a cluster')."
            )
        return sec
    if named:
        raise MineqError(f"{', '.join(named)} were given, but the scheduler address {scheduler} is not tls://; a TLS scheduler is addressed as tls://HOST:PORT.")
    host = scheduler.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"Warning: {scheduler} is neither encrypted nor authenticated: anyone who can reach it can run code on its workers and read the case. Use a tls:// scheduler (README, 'Ensembles on a cluster') unless the network is trusted.", err=True)
    return None


def _local_cluster(LocalCluster, n: int):
    """A local cluster of ``n`` worker processes that ignore Ctrl-C and
    log nothing: Ctrl-C reaches every process of the terminal's group, and
    workers that die of it, or log their tasks' cancellation, print
    tracebacks over the message saying what was kept.  This process stops
    them itself, and a task's failure reaches it through its future."""
    import signal
    import threading

    # both inherited by the worker processes started now, and only by them
    # (signals can be set from the main thread only: elsewhere the workers
    # keep Ctrl-C)
    main_thread = threading.current_thread() is threading.main_thread()
    old = signal.signal(signal.SIGINT, signal.SIG_IGN) if main_thread else None
    env = os.environ.get("DASK_LOGGING__DISTRIBUTED")
    os.environ["DASK_LOGGING__DISTRIBUTED"] = "critical"
    try:
        # no dashboard; the scheduler's HTTP server (health checks) still
        # starts, on 8787 unless told otherwise, and warned over the
        # interruption message when another cluster held that port
        # Dask starts its workers with MALLOC_TRIM_THRESHOLD_=65536, and a
        # threshold set fixes glibc's mmap threshold at 128 KiB: every
        # larger buffer (a linked market's KKT matrices, the compiled
        # polish's workspace) was mapped and faulted in anew, and its
        # pages handed back at each free.  A worker spent 24% more CPU on
        # the same draws (polish 1.7 times as long); unset, glibc's own
        # adaptive thresholds hold
        import dask

        with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
            return LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None, scheduler_kwargs={"dashboard_address": ":0"})
    finally:
        if main_thread:
            signal.signal(signal.SIGINT, old)
        if env is None:
            os.environ.pop("DASK_LOGGING__DISTRIBUTED", None)
        else:
            os.environ["DASK_LOGGING__DISTRIBUTED"] = env


def _has_workers(client) -> bool:
    try:
        return bool(client.nthreads())
    except Exception:  # the scheduler itself unreachable: no workers either
        return False


def _chunk_result(fut, k: int, draws: list[int], kept, timeout: float) -> dict | None:
    """A finished chunk's report; None if it cannot be fetched within
    ``timeout`` seconds (its worker died after finishing it: Dask solves it
    again, and fetching without a timeout would wait for that however long
    it takes, forever with no worker left); its failure (an error raised on
    the worker, a task that killed its workers) as one paragraph."""
    try:
        return fut.result(timeout=timeout)
    except TimeoutError:
        return None
    except (MineqError, CaseError) as err:
        raise MineqError(f"Chunk {k} (draws {draws[0]}-{draws[-1]}) failed on its worker: {err} {kept()}") from None
    except Exception as err:
        raise MineqError(f"Chunk {k} (draws {draws[0]}-{draws[-1]}) failed on the cluster ({type(err).__name__}: {err}). {kept()}") from None


def _close_quietly(client, cluster) -> None:
    """Close the client and the local cluster without Dask's shutdown
    noise (workers already gone, comms cut by an interrupt)."""
    import logging

    for name in ["distributed", *logging.root.manager.loggerDict]:
        if name.startswith("distributed"):
            logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    for thing in (client, cluster):
        if thing is None:
            continue
        try:
            thing.close()
        except BaseException:  # a second Ctrl-C or a dead scheduler: nothing left to save
            pass


@main.command()
@click.argument("results", type=click.Path(exists=True))
@click.option("--out", "-o", type=click.Path(file_okay=False), help="Folder for report.html and figures/. Default: beside RESULTS, named after it with -report.")
@click.option("--force", is_flag=True, help="Replace the report in --out if there is one.")
@click.option("--point", type=float, default=None, help="For a sweep: the swept value whose scenario section the report shows (the nearest point). Default: the last point.")
def report(results, out, force, point):
    """Write an HTML report (figures embedded; opens offline) and its PNGs.

    RESULTS is a result file of `solve`, `sweep` or `ensemble` (its
    ensemble.nc).  The report shows the checks of every equilibrium, per
    scenario the price, production, welfare, fiscal and trade-flow changes,
    and across minerals the headline region's import reliance and
    sourcing; sweeps get indicator curves and one scenario section, at
    --point; ensembles quantile bands.
    """
    import xarray as xr

    from .html_report import build_report
    from .results import ENGINE, check_target
    from .run import open_results, verdict

    folder = Path(out) if out else Path(results).with_name(Path(results).stem + "-report")
    check_target(folder / "report.html", "html", force)
    ds = open_results(results, dynamic=True)
    if "year" in ds.dims and "draw" in ds.dims:
        raise MineqError(f"{results} is an ensemble of a dynamic case; report does not draw those yet. Its per-year summaries are the variables floor_binding_probability, fiscal_cost_expected and fiscal_cost_p95 (open it with xarray), and the draws' fiscal_cost per year and scenario.")
    with xr.open_dataset(results, engine=ENGINE) as head:
        swept = "sweep" in head.dims
    if swept and "year" in ds.dims:
        # a dynamic sweep is reported as a dynamic file whose scenarios are
        # the points: its figures over the years draw a line per point
        if point is not None:
            raise MineqError(f"--point {point:g}: {results} is a sweep of a dynamic case, reported with every point as a scenario over the years; --point is for static sweeps.")
        swept = False
    sweep_view = open_results(results, scenarios=False) if swept else None
    # re-verified here (a few seconds for the bundled case), never taken from the stored statuses
    ok, said = verdict(results)
    if point is not None and sweep_view is None:
        raise MineqError(f"--point {point:g}: {results} is not a sweep file; --point picks a point of a sweep.")
    rep = build_report(ds, folder, sweep_view, replace=force, verdict=(ok, said), point=point)
    click.echo(said, err=not ok)
    click.echo(f"Report written to {folder / 'report.html'} ({len(rep.figures)} figures, also as PNG in {folder / 'figures'}).")


@main.command()
@click.argument("case", required=False, type=click.Path())
@_outside_option
def check(case, allow_outside):
    """Validate CASE without solving it.

    With no CASE, the bundled case (as `mineq solve`).  Reads case.toml and
    every CSV table it names, checks every field, and prints what the case
    contains.  Exit status 0 when the case is valid.  `mineq calibration`
    compares a case's baseline with the observed figures it names.
    """
    from .calibration import targets

    c = _load(case, allow_outside)
    observed = targets(c)  # the calibration table's rows are checked too
    click.echo(f"Case '{c.name}' is valid: {len(c.regions)} regions, {len(c.groups)} groups, {len(c.markets)} minerals, {len(c.scenarios)} scenarios" + (f", {len(observed)} observed figures to calibrate to." if observed is not None else "."))
    for name, m in c.markets.items():
        click.echo(
            f"  {name}: stages {'->'.join(m.stages)}, {len(m.supply)} supply and {len(m.demand)} demand curves, "
            f"{len(m.routes)} routes, {len(m.processes)} processing entries [{m.quantity_unit}, {m.price_unit}]"
        )
    for link in c.links.values():
        click.echo(f"  {link.name}: solved as one program, {len(link.joint)} joint activities ({', '.join(sorted({j.name for j in link.joint}))})")
    for s in c.scenarios:
        click.echo(f"  scenario {s.name}: {len(s.policies)} policies")
    if c.dynamics is not None:
        d = c.dynamics
        click.echo(f"  dynamic: {d.first_year}-{d.last_year}, investment response {d.investment_response:g}, depreciation {d.depreciation:g}, lead times {d.lead_time or '1 year'}, {len(d.growth)} growth rules, discount rate {d.discount_rate:g}" + (f"; policy windows: {', '.join(f'{k} {a}-{b}' for k, (a, b) in d.active.items())}" if d.active else ""))
    from .diagnose import diagnose

    for m in c.markets.values():
        link = c.link_of(m.name)
        for d in diagnose(m, fed=link.fed(m.name) if link is not None else frozenset()):
            click.echo(f"  Diagnosis: {d}")


@main.command()
@click.argument("results", type=click.Path(exists=True, dir_okay=False))
@click.option("--baseline", "reference", default="baseline", show_default=True, help="Scenario to compare against.")
@click.option("--scenario", "-s", "scenarios", multiple=True, help="Compare only this scenario (repeatable). Default: every other scenario.")
@click.option("--format", "fmt", type=click.Choice(["text", "xlsx"]), default="text", show_default=True, help="Print tables, or write them to a workbook (--out): sheets 'nodes' (before, after, price change) and 'welfare_change', units in columns.")
@click.option("--out", "-o", type=click.Path(dir_okay=False), help="Workbook for --format xlsx.")
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@click.option("--mineral", "-m", "minerals", multiple=True, help="Show only this mineral (repeatable), with its regional tables whatever the number of minerals.")
@click.option("--region", "-r", "regions", multiple=True, help="Show only this region's rows (repeatable); the welfare table keeps its world total.")
@click.option("--year", "-y", type=int, default=None, help="For a dynamic result file: the year whose changes are shown in full. Default: one line per year and scenario.")
def compare(results, reference, scenarios, fmt, out, force, minerals, regions, year):
    """Print what each scenario of a RESULTS file changes.

    Per mineral that changes: prices, production, processing, imports and
    net import reliance by region before and after, and the welfare change
    by region (consumers, producers, processors, government, rents,
    stockpile, total).  When more than six minerals change, one line per
    mineral instead; --mineral and --region give the regional rows for
    the minerals and regions named.  Money is in each mineral's price unit
    times its quantity unit.  For a dynamic result file, one line per year
    and scenario (fiscal cost, whether its policies bind, capacity built
    outside China against the baseline path, the largest price change),
    or with --year the full comparison of that year (against the
    baseline path's same year).
    """
    from .report import print_changes
    from .run import open_results, verdict

    ds = open_results(results, dynamic=True)
    dynamic = "year" in ds.dims
    if year is not None:
        if not dynamic:
            raise MineqError(f"--year {year}: {results} is not a dynamic result file (it has no year dimension).")
        if year not in ds.year.values.tolist():
            raise MineqError(f"--year {year}: not in {results}; it holds {int(ds.year.values[0])}-{int(ds.year.values[-1])}.")
        ds = ds.sel(year=year)
    names = ds.scenario.values.tolist()
    for s in (reference, *scenarios):
        if s not in names:
            raise MineqError(f"Scenario '{s}' is not in {results}; it holds: {', '.join(names)}.")
    chosen = list(scenarios) or [s for s in names if s != reference]
    for label, given, known in (("--mineral", minerals, ds.mineral.values.tolist()), ("--region", regions, ds.region.values.tolist())):
        bad = [x for x in given if x not in known]
        if bad:
            raise MineqError(f"{label} {bad[0]}: not in {results}; it holds: {', '.join(map(str, known))}.")
    # re-verified here, never taken from the stored statuses: said first,
    # and again last for a file that fails, so no reader misses it
    ok, said = verdict(results)
    click.echo(said, err=not ok)
    if dynamic and year is None:
        if fmt == "xlsx":
            raise click.BadParameter("a dynamic result file is written to a workbook one year at a time: add --year YEAR", param_hint="--format")
        from .dynamic import print_years

        for sn in chosen:
            print_years(ds, sn, reference, minerals=list(minerals) or None)
        if not ok:
            click.echo(said)
        return
    if fmt == "xlsx":
        from .results import change_tables, write_sheets

        if not out:
            raise click.BadParameter("give the workbook to write with --out FILE.xlsx", param_hint="--out")
        from .results import atomic_file, check_target

        check_target(out, "xlsx", force)
        with atomic_file(Path(out), ".xlsx", replace=force) as tmp:
            write_sheets(change_tables(ds, chosen, reference), tmp, {"results": results, "reference": reference, "scenarios": ", ".join(chosen), "case": ds.attrs.get("case_name", ""), "verification": said})
        click.echo(f"Changes of {len(chosen)} scenario(s) against '{reference}' written to {out}.")
        return
    for sn in chosen:
        print_changes(ds, sn, reference, minerals=list(minerals) or None, regions=list(regions) or None)
    if not ok:
        click.echo(said)


@main.command()
@click.argument("results", type=click.Path(exists=True, dir_okay=False))
@click.option("--tol", type=float, default=None, help="Tolerance on the largest scaled residual (default 1e-6).")
def verify(results, tol):
    """Recompute every equilibrium condition and every stored number from a
    RESULTS file.

    Uses only the primal quantities and prices in the file and the case
    inputs stored in it (never the solver).  The inputs must match their
    stored hash, and every derived number (trade, import reliance, shares,
    welfare and its changes, rents, residuals, statuses) must equal the one
    recomputed from the solution.  Prints the largest residual of each
    failed market and every stored number that differs; exit status 0
    only if all hold.
    """
    from .run import verify_file
    from .verify import TOLERANCE

    tol = TOLERANCE if tol is None else tol
    if not (tol > 0 and math.isfinite(tol)):
        raise click.BadParameter(f"{tol!r}; expected a tolerance > 0", param_hint="--tol")
    report = verify_file(results, tol)
    failed = [r for r in report if not r[2].ok]
    worst = max((r[2].max_residual for r in report), default=0.0)
    for sn, mn, v in report:
        if not v.ok:
            where = "; ".join(f"{name} at {w}: {val:.2e}" for val, name, w in v.worst(3))
            click.echo(f"FAIL {sn}/{mn}: largest residual {v.max_residual:.2e} > {tol:g} ({where})")
    for (sn, mn), lines in report.mismatches.items():
        more = f"; and {len(lines) - 5} more" if len(lines) > 5 else ""
        click.echo(f"MISMATCH {sn}/{mn}: stored numbers differ from those recomputed from its solution and the stored inputs: {'; '.join(lines[:5])}{more}")
    for line in report.problems:
        click.echo(f"MISMATCH {results}: {line}")
    wrong = sum(len(x) for x in report.mismatches.values()) + len(report.problems)
    click.echo(f"Checked {len(report)} scenario-mineral markets from {results}: {len(report) - len(failed)} equilibria, {len(failed)} failures; largest scaled residual {worst:.2e} (tolerance {tol:g}); {wrong} stored numbers or inputs differ from their recomputation.")
    if not report.ok:
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
