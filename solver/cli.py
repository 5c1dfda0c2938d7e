"""The ``mineq`` command line (SPEC §6).

One command per intention: ``solve`` a case, ``check`` a case without
solving, ``compare`` the scenarios of a result file, ``verify`` a result
file.  Every failure is one paragraph and a
non-zero exit status; set ``MINEQ_DEBUG=1`` to see a traceback instead.
"""

from __future__ import annotations

import math
import os
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
        except KeyboardInterrupt:
            raise click.ClickException("Interrupted; nothing was written.") from None
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


def _threads_option(default_help: str):
    return click.option("--threads", "--jobs", "-j", "threads", type=click.IntRange(1, 64), default=None, help=f"Workers for the market solves; the results do not depend on it. {default_help}")


@main.command()
@click.argument("case", required=False, type=click.Path())
@click.option("--scenario", "-s", "scenarios", multiple=True, help="Solve only this scenario (repeatable). Default: all scenarios of the case.")
@click.option("--out", "-o", type=click.Path(), help="Result file (NetCDF) or folder (--format csv). Default: a new file under ./mineq-results/.")
@click.option("--format", "fmt", type=click.Choice(["netcdf", "csv", "xlsx"]), default="netcdf", show_default=True, help="Result file format: NetCDF (everything; what verify, compare and report read), a folder of tidy CSVs, or an Excel workbook (one sheet per table, units in the headers).")
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@click.option("--quiet", "-q", is_flag=True, help="Print only the result path and problems.")
@_threads_option("Default: the cores available, at most 4. On Linux the workers are this process and processes forked from it, each solving a share of the minerals; elsewhere, or with MINEQ_PROCESSES=0, threads (HiGHS runs while Python prepares the next market).")
def solve(case, scenarios, out, fmt, force, quiet, threads):
    """Solve the baseline and the scenarios of CASE and write the results.

    With no CASE, solves the bundled 54-mineral case.  Prints a summary
    table, writes every quantity, price and welfare figure to a NetCDF file
    (or tidy CSVs) and exits non-zero if any market is not a verified
    equilibrium (its figures are still written, marked by status).
    """
    from .report import print_changes, print_headline, print_summary
    from .results import to_dataset, write
    from .run import solve_case

    t0 = time.perf_counter()
    c = _load(case)
    if out is not None and Path(out).exists() and not force:
        raise MineqError(f"The output {out} already exists; mineq does not overwrite results. Choose another --out or pass --force to replace it.")
    diagnoses: list = []
    results = solve_case(c, list(scenarios) or None, progress=not quiet, diagnoses=diagnoses, threads=threads)
    ds = to_dataset(c, results)
    ds.attrs["diagnoses"] = "\n".join(f"{sn}: {d}" for sn, d in diagnoses)
    errors = [(sn, d) for sn, d in diagnoses if d.severity == "error"]
    warnings = [(sn, d) for sn, d in diagnoses if d.severity != "error"]
    # errors always; warnings (policies or processes with nothing to act on)
    # in full only when few, else counted, so they do not bury the answer
    shown = errors[:20] + (warnings if len(warnings) <= 5 else [])
    for sn, d in shown:
        click.echo(f"Diagnosis ({sn}): {d}", err=True)
    if len(diagnoses) > len(shown):
        click.echo(f"{len(diagnoses) - len(shown)} more diagnoses ({len(warnings)} warnings: policies or processing with nothing to act on) are listed in the attribute 'diagnoses' of the result file.", err=True)
    path = write(ds, out or _default_out(c.name, fmt), fmt=fmt, force=force)
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


def _load(case):
    """The case at CASE, or the bundled one when CASE is None."""
    from .case import load_case

    if case is None:
        case = bundled_case_path()
        if not Path(case).exists():
            raise MineqError(f"The bundled case '{BUNDLED_CASE}' is missing from this installation (looked in {case}); reinstall mineq, or pass a case folder or .toml file.")
    return load_case(case)


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
@_threads_option("Default: the cores available, at most 4, where the workers are processes (on Linux: this process and processes forked from it, each sweeping a share of the minerals); 1 where they would be threads (MINEQ_PROCESSES=0, other systems), since a sweep's re-solves are Python active-set steps that a second thread only slows down.")
def sweep(case, scenario, setting, indicators, minerals, out, fmt, plot_path, force, quiet, threads):
    """Solve SCENARIO of CASE at many values of one policy key.

    Each mineral's program is built once and re-solved at every value
    (from the previous value's prices); every point is a verified
    equilibrium.  Writes a result Dataset with a 'sweep' dimension and a
    plot of the chosen indicators against the swept value.  With no CASE,
    sweeps the bundled case.
    """
    from .indicators import evaluate
    from .plot import sweep_figure
    from .results import to_dataset, write
    from .processes import forking
    from .run import default_threads
    from .sweep import parse_set, sweep_case, sweep_dataset

    t0 = time.perf_counter()
    c = _load(case)
    swept = parse_set(setting, c, scenario)
    for mn in minerals:
        if mn not in c.markets:
            raise click.BadParameter(f"'{mn}' is not a mineral of case '{c.name}' ({', '.join(list(c.markets)[:8])}, ...)", param_hint="--mineral")
    indicators = list(indicators) or _default_indicators(c)
    out = Path(out) if out else _default_out(f"{c.name}-sweep", fmt)
    png = Path(plot_path) if plot_path else out.with_suffix(".png") if fmt == "netcdf" else out / "sweep.png"
    for p in (out, png):
        if p.exists() and not force and not (fmt == "csv" and p == out / "sweep.png"):
            raise MineqError(f"The output {p} already exists; mineq does not overwrite results. Choose another --out/--plot or pass --force to replace it.")
    pcase, results = sweep_case(c, swept, progress=not quiet, minerals=list(minerals) or None, threads=threads or (default_threads() if forking() else 1))
    ds = to_dataset(pcase, results)
    pts, base = sweep_dataset(ds, swept)
    for text in indicators:
        evaluate(pts, text)  # a bad indicator fails before anything is written
    path = write(pts, out, fmt=fmt, force=force, groups={"baseline": base})
    if fmt == "csv":
        png = path / "sweep.png" if not plot_path else png
    sweep_figure(pts, indicators, png)
    elapsed = time.perf_counter() - t0
    n = sum(1 for sn, sc in results.items() if sn != "baseline" for _ in sc)
    bad = [(sn, mn, r) for sn, sc in results.items() for mn, r in sc.items() if not r.ok]
    if not quiet:
        _print_sweep(pts, indicators)
    click.echo(f"Sweep of {swept.label} over {len(swept.values)} values, {len(pcase.markets)} minerals ({n} scenario-markets): results written to {path}, plot to {png} ({elapsed:.2f} s; largest scaled residual {ds.attrs['max_residual']:.1e}).")
    if bad:
        lines = "; ".join(f"{sn}/{mn}: {r.message or r.status}" for sn, mn, r in bad[:5])
        raise click.ClickException(f"{len(bad)} point(s) have no verified equilibrium and are marked in the status variable: {lines}.")


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
@click.option("--value", "-v", "target_value", type=float, required=True, help="The value the indicator should take.")
@click.option("--range", "bounds", metavar="LOW:HIGH", help="Levels to search. Default: 0.5 to 2 times the scenario's own value.")
@click.option("--points", type=int, default=9, show_default=True, help="Grid points for the bracketing and monotonicity check.")
@click.option("--tol", type=float, default=None, help="Accepted |indicator - value| (default: 1e-6 of the indicator's range).")
@click.option("--out", "-o", type=click.Path(), help="Also write the result at the level found (NetCDF).")
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
def target(case, scenario, param, indicator, target_value, bounds, points, tol, out, force):
    """Find the level of a policy key at which an indicator reaches a value.

    Solves a grid of levels, checks that the indicator is monotone in the
    level, brackets the target and refines by regula falsi, every point a
    verified equilibrium.  If the target cannot be reached in the range,
    says so and gives the closest reachable value.  With no CASE, uses the
    bundled case.
    """
    from .results import to_dataset, write
    from .sweep import parse_set, sweep_case
    from .target import find_level

    c = _load(case)
    if bounds:
        try:
            lo, hi = (float(v) for v in bounds.split(":"))
        except ValueError:
            raise click.BadParameter(f"'{bounds}'; expected LOW:HIGH, two numbers", param_hint="--range") from None
    else:
        sw = parse_set(f"{param}=0", c, scenario)
        now = next(s for s in c.scenarios if s.name == scenario).policies[sw.policies[0]][sw.key]
        if not now:
            raise click.BadParameter(f"the scenario's own {sw.key} is {now}, so no default range; give --range LOW:HIGH", param_hint="--range")
        lo, hi = sorted((0.5 * now, 2.0 * now))
    if out and Path(out).exists() and not force:
        raise MineqError(f"The output {out} already exists; mineq does not overwrite results. Choose another --out or pass --force to replace it.")
    r = find_level(c, scenario, param, indicator, target_value, lo, hi, points=points, tol=tol)
    click.echo(f"{indicator} against {param} in [{lo:g}, {hi:g}] ({r.mineral}, {len(r.evaluations)} verified solves, {r.monotone}):")
    for x, v in sorted(r.evaluations)[:: max(1, len(r.evaluations) // 15)]:
        click.echo(f"  {param} = {x:<12.6g} {indicator} = {v:.6g}")
    if out:
        pcase, results = sweep_case(c, parse_set(f"{param}={r.level!r}", c, scenario), minerals=[r.mineral])
        click.echo(f"Result at the level found written to {write(to_dataset(pcase, results), out, force=force)}.")
    if r.reached:
        click.echo(f"{param} = {r.level:.8g} gives {indicator} = {r.value:.8g} (target {target_value:g}; verified equilibrium, largest scaled residual {r.residual:.1e}).{(' ' + r.message) if r.message else ''}")
    else:
        raise click.ClickException(r.message)


@main.command()
@click.argument("case", required=False, type=click.Path())
@click.option("--draws", "-n", type=click.IntRange(min=1), required=True, help="Number of Monte Carlo draws.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed; draw i uses the stream (seed, i), whatever the number of workers.")
@click.option("--scenario", "-s", "scenarios", multiple=True, help="Solve only this scenario in each draw (repeatable). Default: all.")
@click.option("--uncertainty", type=click.Path(dir_okay=False), help="Uncertainty table (CSV: mineral, parameter, central, low, high). Default: the case's [case] uncertainty.")
@click.option("--workers", "-w", type=click.IntRange(min=1), default=None, help="Workers of the local Dask cluster. Default: all cores.")
@click.option("--scheduler", metavar="ADDRESS", help="Run on an existing Dask cluster (tcp://host:8786); its workers need mineq installed.")
@click.option("--chunk", type=click.IntRange(min=1), default=2, show_default=True, help="Draws per task and per chunk file.")
@click.option("--out", "-o", type=click.Path(file_okay=False), help="Run folder (chunk files, then ensemble.nc). Default: a new folder under ./mineq-results/.")
@click.option("--resume", is_flag=True, help="Continue an interrupted run in --out: solve only the chunks not yet written.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def ensemble(case, draws, seed, scenarios, uncertainty, workers, scheduler, chunk, out, resume, quiet):
    """Monte Carlo over uncertain elasticities and trade costs, on Dask.

    Each draw perturbs the case by factors from triangular distributions
    (the case's uncertainty table) and solves the baseline and scenarios,
    every market verified.  Chunks of draws are written as they finish, so
    an interrupted run keeps them and --resume continues it.  The result,
    ensemble.nc, has a 'draw' dimension and '_quantiles' summaries.
    """
    import json as _json

    from .ensemble import chunk_path, combine, manifest, plan_chunks, read_uncertainty, solve_chunk

    c = _load(case)
    for sn in scenarios:
        if sn not in [x.name for x in c.scenarios]:
            raise MineqError(f"Scenario '{sn}' is not in case '{c.name}'; its scenarios are: {', '.join(x.name for x in c.scenarios) or '(none)'}.")
    if uncertainty is None:
        name = c.data.get("case", {}).get("uncertainty")
        if not name:
            raise MineqError(f"Case '{c.name}' names no uncertainty table ([case] uncertainty = \"file.csv\"); pass --uncertainty FILE.")
        uncertainty = Path(c.data.get("_file", ".")).parent / name
    rows = read_uncertainty(uncertainty, c)
    skipped = sorted({r["parameter"] for r in rows} - {"demand_elasticity", "supply_elasticity", "trade_cost_half_gap"})
    if skipped:
        click.echo(f"Not drawn (no rule for these parameters; they stay at their central values): {', '.join(skipped)}.", err=True)
    folder = Path(out) if out else _default_out(f"{c.name}-ensemble", "csv")
    meta = manifest(c, rows, seed, draws, chunk, list(scenarios) or None)
    mfile = folder / "manifest.json"
    if folder.exists() and any(folder.iterdir()):
        if not resume:
            raise MineqError(f"The run folder {folder} is not empty; pass --resume to continue the run in it, or choose another --out.")
        try:
            old = _json.loads(mfile.read_text())
        except (OSError, ValueError):
            raise MineqError(f"{folder} has no readable manifest.json, so it is not a mineq ensemble run that can be resumed.") from None
        if old != _json.loads(_json.dumps(meta)):
            diff = [k for k in meta if _json.dumps(old.get(k)) != _json.dumps(meta[k])]
            raise MineqError(f"--resume: the run in {folder} was started with different {', '.join(diff)}; resume with the same case, table, --seed, --draws, --chunk and --scenario, or choose another --out.")
    folder.mkdir(parents=True, exist_ok=True)
    if not mfile.exists():
        mfile.write_text(_json.dumps(meta, indent=1))
    chunks = plan_chunks(draws, chunk)
    todo = [k for k in range(len(chunks)) if not chunk_path(folder, k).exists()]
    if resume:
        click.echo(f"Resuming: {len(chunks) - len(todo)} of {len(chunks)} chunks already written.")
    t0 = time.perf_counter()
    done = {"verified": 0, "markets": 0}
    if todo:
        from dask.distributed import Client, LocalCluster, as_completed

        import logging

        logging.getLogger("distributed").setLevel(logging.ERROR)
        cluster = None
        if scheduler:
            try:
                client = Client(scheduler, timeout="10s")
            except Exception as err:
                raise MineqError(f"Cannot connect to the Dask scheduler at {scheduler} ({type(err).__name__}: {err}).") from None
        else:
            n = workers or os.cpu_count() or 1
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
            client = Client(cluster)
        try:
            case_json = _json.dumps(c.data)
            futures = [client.submit(solve_chunk, case_json, rows, seed, chunks[k], str(chunk_path(folder, k).resolve()), list(scenarios) or None, pure=False) for k in todo]
            with click.progressbar(length=sum(len(chunks[k]) for k in todo), label="Draws", show_pos=True, show_eta=True, file=None if not quiet else open(os.devnull, "w")) as bar:
                for fut in as_completed(futures):
                    r = fut.result()
                    done["verified"] += r["verified"]
                    done["markets"] += r["markets"]
                    bar.update(r["draws"])
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    elapsed = time.perf_counter() - t0
    ds = combine(folder, chunks, c, meta)
    from .results import write

    path = write(ds, folder / "ensemble.nc", force=True)
    rate = f"; {done['verified'] / elapsed:.1f} verified mineral-solves per second" if done["markets"] else ""
    bad = int((ds["status"] != "equilibrium").sum())
    click.echo(f"{draws} draws ({len(todo)} chunks solved in {elapsed:.1f} s{rate}) combined in {path}; largest scaled residual {ds.attrs['max_residual']:.1e}.")
    if bad:
        raise click.ClickException(f"{bad} draw-scenario-mineral markets have no verified equilibrium; they are marked in the status variable of {path}.")


@main.command()
@click.argument("results", type=click.Path(exists=True))
@click.option("--out", "-o", type=click.Path(file_okay=False), help="Folder for report.html and figures/. Default: beside RESULTS, named after it with -report.")
@click.option("--force", is_flag=True, help="Replace the report in --out if there is one.")
def report(results, out, force):
    """Write an HTML report (figures embedded; opens offline) and its PNGs.

    RESULTS is a result file of `solve`, `sweep` or `ensemble` (its
    ensemble.nc).  The report shows the checks of every equilibrium, per
    scenario the price, production, welfare, fiscal and trade-flow changes,
    and across minerals the headline region's import reliance and
    sourcing; sweeps get indicator curves, ensembles quantile bands.
    """
    import xarray as xr

    from .html_report import build_report
    from .results import ENGINE
    from .run import open_results, verdict

    folder = Path(out) if out else Path(results).with_name(Path(results).stem + "-report")
    if (folder / "report.html").exists() and not force:
        raise MineqError(f"{folder / 'report.html'} already exists; mineq does not overwrite it. Choose another --out or pass --force.")
    ds = open_results(results)
    with xr.open_dataset(results, engine=ENGINE) as head:
        swept = "sweep" in head.dims
    sweep_view = open_results(results, scenarios=False) if swept else None
    # re-verified here (a few seconds for the bundled case), never taken from the stored statuses
    ok, said = verdict(results)
    rep = build_report(ds, folder, sweep_view, verdict=(ok, said))
    click.echo(said, err=not ok)
    click.echo(f"Report written to {folder / 'report.html'} ({len(rep.figures)} figures, also as PNG in {folder / 'figures'}).")


@main.command()
@click.argument("case", type=click.Path())
def check(case):
    """Validate CASE without solving it.

    Reads case.toml and every CSV table it names, checks every field, and
    prints what the case contains.  Exit status 0 when the case is valid.
    """
    from .case import load_case

    c = load_case(case)
    click.echo(f"Case '{c.name}' is valid: {len(c.regions)} regions, {len(c.groups)} groups, {len(c.markets)} minerals, {len(c.scenarios)} scenarios.")
    for name, m in c.markets.items():
        click.echo(
            f"  {name}: stages {'->'.join(m.stages)}, {len(m.supply)} supply and {len(m.demand)} demand curves, "
            f"{len(m.routes)} routes, {len(m.processes)} processing entries [{m.quantity_unit}, {m.price_unit}]"
        )
    for s in c.scenarios:
        click.echo(f"  scenario {s.name}: {len(s.policies)} policies")
    from .diagnose import diagnose

    for m in c.markets.values():
        for d in diagnose(m):
            click.echo(f"  Diagnosis: {d}")


@main.command()
@click.argument("results", type=click.Path(exists=True, dir_okay=False))
@click.option("--baseline", "reference", default="baseline", show_default=True, help="Scenario to compare against.")
@click.option("--scenario", "-s", "scenarios", multiple=True, help="Compare only this scenario (repeatable). Default: every other scenario.")
@click.option("--format", "fmt", type=click.Choice(["text", "xlsx"]), default="text", show_default=True, help="Print tables, or write them to a workbook (--out): sheets 'nodes' (before, after, price change) and 'welfare_change', units in columns.")
@click.option("--out", "-o", type=click.Path(dir_okay=False), help="Workbook for --format xlsx.")
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
def compare(results, reference, scenarios, fmt, out, force):
    """Print what each scenario of a RESULTS file changes.

    Per mineral that changes: prices, production, processing, imports and
    net import reliance by region before and after, and the welfare change
    by region (consumers, producers, processors, government, rents,
    stockpile, total).  Money is in each mineral's price unit times its
    quantity unit.
    """
    from .report import print_changes
    from .run import open_results, verdict

    ds = open_results(results)
    names = ds.scenario.values.tolist()
    for s in (reference, *scenarios):
        if s not in names:
            raise MineqError(f"Scenario '{s}' is not in {results}; it holds: {', '.join(names)}.")
    chosen = list(scenarios) or [s for s in names if s != reference]
    # re-verified here, never taken from the stored statuses: said first,
    # and again last for a file that fails, so no reader misses it
    ok, said = verdict(results)
    click.echo(said, err=not ok)
    if fmt == "xlsx":
        from .results import change_tables, write_sheets

        if not out:
            raise click.BadParameter("give the workbook to write with --out FILE.xlsx", param_hint="--out")
        if Path(out).exists() and not force:
            raise MineqError(f"The output {out} already exists; mineq does not overwrite results. Choose another --out or pass --force to replace it.")
        from .results import atomic_file

        with atomic_file(Path(out), ".xlsx") as tmp:
            write_sheets(change_tables(ds, chosen, reference), tmp, {"results": results, "reference": reference, "scenarios": ", ".join(chosen), "case": ds.attrs.get("case_name", ""), "verification": said})
        click.echo(f"Changes of {len(chosen)} scenario(s) against '{reference}' written to {out}.")
        return
    for sn in chosen:
        print_changes(ds, sn, reference)
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
