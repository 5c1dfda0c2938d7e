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


def _pct(new: float, old: float) -> str:
    if not (math.isfinite(new) and math.isfinite(old)) or old == 0:
        return "-"
    return f"{100 * (new - old) / abs(old):+.1f}%"


def _delta(x: float) -> str:
    if not math.isfinite(x):
        return "-"
    return ("+" if x > 0 else "") + _fmt(x) if abs(x) > 0 else "0"


#: what happens at a node: where all of these are zero, nothing is bought,
#: sold, made or moved there
ACTIVITY_VARS = ("supply", "demand", "processing", "processing_input", "imports", "exports", "offtake", "stockpile_release", "joint_output", "disposal")


def active_nodes(ds: xr.Dataset) -> xr.DataArray:
    """True at the nodes where something happens (:data:`ACTIVITY_VARS`).
    An idle node's price is a shadow price: any value between the bounds
    its neighbours' prices and the route costs set passes every
    equilibrium condition (an idle Chilean cerium mine beside a glutted
    market may show a negative one), so no change of it is a market's
    price change."""
    have = [v for v in ACTIVITY_VARS if v in ds.data_vars]
    return (np.abs(ds[have].to_array("variable").fillna(0.0)) > 0).any("variable")


def changed_minerals(ds: xr.Dataset, scenario: str, reference: str = "baseline", rtol: float = 1e-7) -> list[str]:
    """Minerals whose prices or money figures differ between two scenarios
    by more than ``rtol`` (relative to the price scale, and to price scale x
    total consumption for money): below the verifier's tolerance is noise."""
    out = []
    for mn in ds.mineral.values.tolist():
        a, b = ds.sel(scenario=scenario, mineral=mn), ds.sel(scenario=reference, mineral=mn)
        pa, pb = a.price.values, b.price.values
        scale = max(1.0, float(np.nanmax(np.abs(pb)))) if np.isfinite(pb).any() else 1.0
        dp = np.nanmax(np.abs(pa - pb)) / scale if np.isfinite(pa - pb).any() else 0.0
        dw = float(np.nansum(np.abs(a.total_welfare_change.values - b.total_welfare_change.values)))
        dg = float(np.nansum(np.abs(a.government_net.values - b.government_net.values)))
        money = rtol * scale * max(1.0, float(np.nansum(b.apparent_consumption.values)))
        if dp > rtol or dw > money or dg > money or str(a.status.values) != str(b.status.values):
            out.append(mn)
    return out


def print_changes(ds: xr.Dataset, scenario: str, reference: str = "baseline", max_minerals: int = 6, minerals: list[str] | None = None, regions: list[str] | None = None) -> None:
    """What a scenario changes versus ``reference``, mineral by mineral.

    Per region at each stage: price, production, processing, imports and
    net import reliance before and after; then fiscal cost (change of
    government net) and welfare change by region.  Many changed minerals
    give one line each instead, unless ``minerals`` names the ones to
    show; ``regions`` limits the rows to those regions (the welfare table
    keeps its world total).
    """
    desc = str(ds.scenario_description.sel(scenario=scenario).values) if "scenario_description" in ds else ""
    click.echo(f"\n=== Scenario '{scenario}' vs '{reference}'" + (f": {desc}" if desc else ""))
    mins = changed_minerals(ds, scenario, reference)
    if minerals:
        unchanged = [m for m in minerals if m not in mins]
        if unchanged:
            click.echo(f"  No change for {', '.join(unchanged)}.")
        mins = [m for m in mins if m in minerals]
    if not mins:
        click.echo("  No mineral changes.")
        return
    regs = [r for r in ds.region.values.tolist() if not regions or r in regions]
    if len(mins) > max_minerals and not minerals:
        rows = []
        for mn in mins:
            a, b = ds.sel(scenario=scenario, mineral=mn), ds.sel(scenario=reference, mineral=mn)
            st = [s for s in ds.stage.values.tolist() if np.isfinite(a.price.sel(stage=s).values).any()][-1]
            # idle in both runs: a shadow price, not a market's (active_nodes)
            live = (active_nodes(a.sel(stage=st)) | active_nodes(b.sel(stage=st))).values
            pa, pb = np.where(live, a.price.sel(stage=st).values, np.nan), np.where(live, b.price.sel(stage=st).values, np.nan)
            dprice = np.nanmax(np.abs(pa - pb) / np.where(np.abs(pb) > 0, np.abs(pb), np.nan))
            dw = float(np.nansum(a.total_welfare_change.values) - np.nansum(b.total_welfare_change.values))
            fiscal = float(np.nansum(a.government_net.values) - np.nansum(b.government_net.values))
            conv = money_factor(str(a.mineral_price_unit.values), str(a.mineral_quantity_unit.values))
            k_m = conv[1] / 1e6 if conv else 1.0
            rows.append([mn, str(a.status.values), str(a.method.values), f"{100 * dprice:.1f}%", _delta(k_m * fiscal), _delta(k_m * dw), f"million {conv[0]}" if conv else _money(str(a.mineral_price_unit.values), str(a.mineral_quantity_unit.values))])
        click.echo("  " + _table(rows, ["mineral", "status", "method", "max |dP|", "gov net change", "world welfare change", "money unit"]).replace("\n", "\n  "))
        return
    for mn in mins:
        a, b = ds.sel(scenario=scenario, mineral=mn), ds.sel(scenario=reference, mineral=mn)
        unit = f"[{str(a.mineral_price_unit.values)}, {str(a.mineral_quantity_unit.values)}]"
        click.echo(f"\n{mn} {unit}: {str(a.status.values)} by {str(a.method.values)}, {int(a.iterations)} solve(s), largest scaled residual {float(a.max_residual):.1e}")
        for st in ds.stage.values.tolist():
            if np.isnan(a.price.sel(stage=st).values).all():
                continue
            rows = []
            has_proc = np.isfinite(a.processing.sel(stage=st).values).any()
            for r in regs:
                na, nb = a.sel(stage=st, region=r), b.sel(stage=st, region=r)
                row = [r, f"{_fmt(float(nb.price))} -> {_fmt(float(na.price))}", _pct(float(na.price), float(nb.price)), _delta(float(na.production) - float(nb.production))]
                if has_proc:
                    row.append(_delta(float(na.processing) - float(nb.processing)) if math.isfinite(float(na.processing)) else "-")
                row.append(_delta(float(na.imports) - float(nb.imports)))
                nir_a, nir_b = float(na.net_import_reliance), float(nb.net_import_reliance)
                row.append(f"{_fmt(100 * nir_b)} -> {_fmt(100 * nir_a)}" if math.isfinite(nir_a) or math.isfinite(nir_b) else "-")
                rows.append(row)
            head = ["region", "price", "dP", "d production"] + (["d processing"] if has_proc else []) + ["d imports", "NIR %"]
            click.echo(f"  stage {st}")
            click.echo("  " + _table(rows, head).replace("\n", "\n  "))
        rows = []
        native = _money(str(a.mineral_price_unit.values), str(a.mineral_quantity_unit.values))
        conv = money_factor(str(a.mineral_price_unit.values), str(a.mineral_quantity_unit.values))
        # money in million units of the currency where the units convert
        k_m = conv[1] / 1e6 if conv else 1.0
        for r in regs:
            wa, wb = a.sel(region=r), b.sel(region=r)
            d = {k: float(wa[f"{k}_change"]) - float(wb[f"{k}_change"]) for k in ("consumer_surplus", "producer_surplus", "processor_surplus", "government_net", "rents", "stockpile_value", "total_welfare")}
            rows.append([r] + [_delta(k_m * d[k]) for k in d])
        tot = [float(np.nansum(a[f"{k}_change"].values) - np.nansum(b[f"{k}_change"].values)) for k in ("consumer_surplus", "producer_surplus", "processor_surplus", "government_net", "rents", "stockpile_value", "total_welfare")]
        rows.append(["world"] + [_delta(k_m * x) for x in tot])
        unit = f"million {conv[0]}; native unit {native} = {conv[1]:g} {conv[0]}" if conv else native
        click.echo(f"  welfare change [{unit}] (government: revenue minus outlays; fiscal cost = minus its change)")
        click.echo("  " + _table(rows, ["region", "consumers", "producers", "processors", "government", "rents", "stockpile", "total"]).replace("\n", "\n  "))
        if "extension_label" in a:
            for lab, mu, rent in zip(a.extension_label.values.tolist(), a.extension_shadow_price.values.tolist(), a.extension_rent_by_row.values.tolist()):
                if lab:
                    click.echo(f"  extension row {lab}: shadow price {_fmt(mu)} {a.mineral_price_unit.values} per unit of the row, rent {_delta(k_m * rent)} (its holder's extension_rent, part of rents)")


#: tonnes per mass unit, for money from a price per mass times a quantity
MASS = {"g": 1e-6, "kg": 1e-3, "t": 1.0, "kt": 1e3, "Mt": 1e6, "lb": 0.00045359237, "oz": 3.11034768e-5}


def money_factor(price_unit: str, quantity_unit: str) -> tuple[str, float] | None:
    """(currency, factor): a price in ``price_unit`` times a quantity in
    ``quantity_unit`` is ``factor`` units of the currency.  ``USD/kg`` times
    ``kt LCE`` is 1e6 USD (a kt is 1e6 kg); None where the units do not
    convert (a price per piece, a quantity in m3)."""
    cur, _, per = price_unit.partition("/")
    q = quantity_unit.split(" ")[0] if quantity_unit else ""
    if not per or per not in MASS or q not in MASS or not cur:
        return None
    return cur, MASS[q] / MASS[per]


def _money(price_unit: str, quantity_unit: str) -> str:
    """``USD/t`` x ``t Co content`` -> ``USD``; otherwise the product written out."""
    cur, _, per = price_unit.partition("/")
    return cur if per and quantity_unit.split(" ")[0] == per else f"{price_unit} x {quantity_unit}"


def money_unit(ds: xr.Dataset) -> str | None:
    """The common money unit of all minerals (price unit x quantity unit), if any.

    ``USD/t`` times ``t Co content`` is ``USD``; mixed units give None
    (money is then not summed across minerals).  A Dataset from
    :func:`in_money` says its unit in the attribute ``money_unit``.
    """
    if ds.attrs.get("money_unit"):
        return str(ds.attrs["money_unit"])
    units = {_money(str(pu), str(qu)) for pu, qu in zip(ds.mineral_price_unit.values.tolist(), ds.mineral_quantity_unit.values.tolist())}
    return units.pop() if len(units) == 1 else None


#: what a money variable's units attribute starts with (results.UNITS)
MONEY_UNITS = "price unit x quantity unit"


def in_money(ds: xr.Dataset) -> tuple[xr.Dataset, str | None]:
    """``ds`` with every money variable in one currency unit, and that unit.

    Where the minerals' price unit x quantity unit differ but all convert
    to one currency (``USD/kg`` x ``kt LCE`` is 1e6 USD, ``USD/t`` x ``t`` is
    1 USD), each mineral's money is multiplied by its factor, so that
    money can be summed across minerals; the native units stay in
    ``mineral_price_unit`` and ``mineral_quantity_unit``.  Where they do
    not convert (a price per piece), ``ds`` comes back as it is, with None.
    """
    if "mineral_price_unit" not in ds or ds.attrs.get("money_unit"):
        return ds, (str(ds.attrs["money_unit"]) if ds.attrs.get("money_unit") else None)
    pairs = list(zip(ds.mineral_price_unit.values.tolist(), ds.mineral_quantity_unit.values.tolist()))
    same = {_money(str(p), str(q)) for p, q in pairs}
    conv = [money_factor(str(p), str(q)) for p, q in pairs]
    if len(same) == 1 and (conv[0] is None or conv[0][1] == 1.0):
        unit, factors = same.pop(), None
    elif all(c is not None for c in conv) and len({c[0] for c in conv}) == 1:
        unit, factors = conv[0][0], np.array([c[1] for c in conv])
    else:
        return ds, None
    out = ds.copy()
    if factors is not None:
        k = xr.DataArray(factors, dims="mineral", coords={"mineral": ds.mineral.values})
        for v in list(out.data_vars):
            if "mineral" in out[v].dims and str(out[v].attrs.get("units", "")).startswith(MONEY_UNITS):
                out[v] = (out[v] * k).assign_attrs({**out[v].attrs, "units": unit})
    out.attrs["money_unit"] = unit
    return out, unit


def print_headline(ds: xr.Dataset, minerals: list[str], region: str, group: str | None, members: list[str] | None = None) -> None:
    """One screen: import reliance and sourcing before/after each scenario,
    then fiscal cost and welfare by region (money summed over minerals)."""
    scen = ds.scenario.values.tolist()
    short = {s: ("baseline" if i == 0 else f"S{i}") for i, s in enumerate(scen)}
    last = "refined" if "refined" in ds.stage.values.tolist() else ds.stage.values.tolist()[-1]
    click.echo(f"Headline: {ds.attrs.get('case_name')} (base year {ds.attrs.get('base_year')}), {region} at the {last} stage")
    src = ["home"] + ([group] if group else [])
    click.echo(f"  cells: net import reliance % / % of {region}'s supply made at home" + (f" or in {group}" if group else "") + " (by exporting region: re-exports are not traced); a negative reliance is a net exporter")
    rows = []
    for mn in minerals:
        row = [mn]
        for sn in scen:
            if str(ds.status.sel(scenario=sn, mineral=mn).values) != "equilibrium":
                row.append("no equilibrium")  # never a number that is not an answer
                continue
            n = ds.sel(scenario=sn, mineral=mn, stage=last, region=region)
            nir = float(n.net_import_reliance)
            share = float(n.sourcing_share.sel(source=src).sum()) if np.isfinite(n.sourcing_share.sel(source="home")) else math.nan
            # whole percent: the figures behind them are not better than that
            row.append(f"{round(100 * nir) if math.isfinite(nir) else '-'} / {round(100 * share) if math.isfinite(share) else '-'}")
        rows.append(row)
    click.echo("  " + _table(rows, ["mineral"] + [short[s] for s in scen]).replace("\n", "\n  "))
    click.echo("  " + "; ".join(f"{short[s]} = {s}" for s in scen[1:]))
    ds, unit = in_money(ds)
    rows = []
    members = members or []
    regs = [region, "CHN"] if "CHN" in ds.region.values and region != "CHN" else [region]
    for sn in scen[1:]:
        ok = [m for m in ds.mineral.values.tolist() if str(ds.status.sel(scenario=sn, mineral=m).values) == "equilibrium" and str(ds.status.sel(scenario=scen[0], mineral=m).values) == "equilibrium"]
        d = ds.sel(scenario=sn, mineral=ok)
        b = ds.sel(scenario=scen[0], mineral=ok)
        pr = (d.price.sel(stage=last, region=region) / b.price.sel(stage=last, region=region) - 1).values
        changed = pr[np.isfinite(pr) & (np.abs(pr) > 1e-9)]
        if unit:
            gov = -float((d.government_net.sel(region=region) - b.government_net.sel(region=region)).sum())
            w = d.total_welfare_change
            vals = [_fmt(gov / 1e6)] + [_fmt(float(w.sel(region=r).sum()) / 1e6) for r in regs]
            if group and members:
                vals.append(_fmt(float(w.sel(region=members).sum()) / 1e6))
            vals.append(_fmt(float(w.sum()) / 1e6))
        else:
            vals = ["-"]
        missing = ds.sizes["mineral"] - len(ok)
        rows.append([f"{short[sn]} {sn}" + (f" ({missing} minerals without equilibrium left out)" if missing else ""), str(len(changed)), f"{100 * np.median(changed):+.1f}%" if len(changed) else "0"] + vals)
    if unit:
        head = ["scenario", "minerals moved", f"median dP {region}", f"{region} fiscal cost"] + [f"dW {r}" for r in regs] + ([f"dW {group}"] if group and members else []) + ["dW world"]
        click.echo(f"  money in million {unit} per year, summed over all {ds.sizes['mineral']} minerals; fiscal cost > 0 is an outlay, < 0 a revenue (levies, tariffs); dW = welfare change")
    else:
        head = ["scenario", "minerals moved", f"median dP {region}", "money"]
    click.echo("  " + _table(rows, head).replace("\n", "\n  "))
    if unit and "stockpile_value_at_market_change" in ds:
        for sn in scen[1:]:
            d = ds.sel(scenario=sn)
            paid = float(d.stockpile_value_change.sum()) / 1e6
            if abs(paid) < 1e-9:
                continue
            market = float(d.stockpile_value_at_market_change.sum()) / 1e6
            world = float(d.total_welfare_change.sum()) / 1e6
            click.echo(f"  {short[sn]}: the stockpile counts at the price paid ({_fmt(paid)}); at the market price after the purchases it is worth {_fmt(market)}, and dW world would be {_fmt(world - paid + market)}.")
    if unit:
        _market_power_line(ds, scen, short)
    _joint_lines(ds, scen, short, region)


def joint_changes(ds: xr.Dataset, scenario: str, region: str | None = None) -> list[tuple]:
    """Per linked market (joint production) in ``ds``: (members, change of
    the joint activity, {member: price change}, units disposed of) in
    ``scenario`` against the baseline; changes as fractions (NaN where the
    baseline has no activity), prices at ``region``'s last stage or, with
    None, averaged over the regions there."""
    if "joint_activity" not in ds:
        return []
    out = []
    for link in dict.fromkeys(ds.activity_link.values.tolist()):
        acts = ds.joint_activity.sel(activity=ds.activity_link.values == link)
        base, now = float(acts.sel(scenario="baseline").sum()), float(acts.sel(scenario=scenario).sum())
        members = link.partition(": ")[2].split(", ")
        prices = {}
        for m in members:
            p = ds.price.sel(mineral=m) if region is None else ds.price.sel(mineral=m, region=region)
            live = [st for st in p.stage.values.tolist() if np.isfinite(p.sel(scenario="baseline", stage=st).values).any()]
            if live:
                p0, p1 = (float(p.sel(scenario=sc, stage=live[-1]).mean()) for sc in ("baseline", scenario))
                prices[m] = p1 / p0 - 1
        dump = float(ds.disposal.sel(scenario=scenario, mineral=members).sum()) if "disposal" in ds else 0.0
        out.append((members, now / base - 1 if base else math.nan, prices, dump))
    return out


def _joint_lines(ds: xr.Dataset, scen: list[str], short: dict, region: str) -> None:
    """Per linked market (joint production), one line: the scenarios that
    move the joint activity by more than half a percent, and what that
    does to each member's price at ``region``'s last stage, so that a
    by-product whose price moves although no policy touches it is seen
    (the balance problem)."""
    lines: dict[tuple, list[str]] = {}
    for sn in scen[1:]:
        for members, act, prices, dump in joint_changes(ds, sn, region):
            parts = lines.setdefault(tuple(members), [])
            if not math.isfinite(act) or abs(act) < 5e-3:
                continue
            said = ", ".join(f"{m} {100 * v:+.0f}%" for m, v in prices.items())
            parts.append(f"{short[sn]} activity {100 * act:+.1f}%, prices {said}" + (f", {dump:.3g} units disposed of" if dump > 0 else ""))
    for members, parts in lines.items():
        if parts:
            click.echo(f"  joint production ({', '.join(members)} mined together, prices in {region}): " + "; ".join(parts))


def _market_power_line(ds: xr.Dataset, scen: list[str], short: dict) -> None:
    """One line naming the strategic sellers' markup rent per scenario
    (``market_power``; part of the rents in dW), when a scenario has any."""
    if "market_power_rent" not in ds:
        return
    parts = []
    for sn in scen[1:]:
        ok = [m for m in ds.mineral.values.tolist() if str(ds.status.sel(scenario=sn, mineral=m).values) == "equilibrium"]
        by = ds.market_power_rent.sel(scenario=sn, mineral=ok).sum("mineral")
        held = [(str(r), float(v)) for r, v in zip(by.region.values, by.values) if abs(float(v)) > 0]
        if held:
            parts.append(f"{short[sn]} " + ", ".join(f"{r} {_fmt(v / 1e6)}" for r, v in held))
    if parts:
        click.echo("  strategic sellers' markup rent (market_power; part of dW): " + "; ".join(parts))
