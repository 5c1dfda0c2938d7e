"""Terminal summaries of a result Dataset."""

from __future__ import annotations

import math

import click
import numpy as np
import xarray as xr


def _fmt(x: float) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    a = abs(x)
    if a == 0:
        return "0"
    if a >= 1e5 or a < 1e-3:
        return f"{x:.3g}"
    return f"{x:,.4g}" if a < 1000 else f"{x:,.0f}"


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
    return "\n".join([line(header), "  ".join("-" * w for w in widths)] + [line(r) for r in rows])


def print_summary(ds: xr.Dataset, scenario: str = "baseline", max_minerals: int = 6) -> None:
    """Prices, production, consumption and net imports per region.

    Small cases get one table per mineral and stage; large cases one line
    per mineral (status, residual, price range, world output).
    """
    sc = ds.sel(scenario=scenario)
    minerals = ds.mineral.values.tolist()
    click.echo(f"Case {ds.attrs.get('case_name')}: scenario '{scenario}'")
    if len(minerals) <= max_minerals:
        for mn in minerals:
            m = sc.sel(mineral=mn)
            unit = f"[{str(m.mineral_price_unit.values)}, {str(m.mineral_quantity_unit.values)}]"
            click.echo(f"\n{mn} {unit}: {str(m.status.values)}, {int(m.iterations)} solve(s), largest scaled residual {float(m.max_residual):.1e}")
            for st in ds.stage.values.tolist():
                ms = m.sel(stage=st)
                if np.isnan(ms.price.values).all():
                    continue
                rows = []
                for r in ds.region.values.tolist():
                    n = ms.sel(region=r)
                    rows.append([r, _fmt(float(n.price)), _fmt(float(n.production)), _fmt(float(n.apparent_consumption)), _fmt(float(n.net_imports)), _fmt(100 * float(n.net_import_reliance)) if math.isfinite(float(n.net_import_reliance)) else "-"])
                click.echo(f"  stage {st}")
                click.echo("  " + _table(rows, ["region", "price", "production", "consumption", "net imports", "NIR %"]).replace("\n", "\n  "))
        return
    rows = []
    for mn in minerals:
        m = sc.sel(mineral=mn)
        last = [s for s in ds.stage.values.tolist() if not np.isnan(m.price.sel(stage=s).values).all()][-1:]
        if last:
            ms = m.sel(stage=last[0])
            p = ms.price.values
            rows.append([mn, str(m.status.values), f"{float(m.max_residual):.0e}", last[0], f"{_fmt(np.nanmin(p))}-{_fmt(np.nanmax(p))}", _fmt(float(np.nansum(ms.production.values))), str(m.mineral_price_unit.values), str(m.mineral_quantity_unit.values)])
        else:
            rows.append([mn, str(m.status.values), "-", "-", "-", "-", "", ""])
    click.echo(_table(rows, ["mineral", "status", "residual", "stage", "price range", "world output", "price unit", "quantity unit"]))
