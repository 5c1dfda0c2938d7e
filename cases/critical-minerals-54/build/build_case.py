"""Build the tables of the bundled 54-mineral case from its data folder.

    python cases/critical-minerals-54/build/build_case.py

Reads the copies in ``../data/`` (USGS MCS 2026 figures, IEA refining
shares, elasticities; see ``data/SOURCES.md``) and the assumptions below,
and writes ``minerals.csv``, ``nodes.csv``, ``routes.csv``,
``processing.csv`` and ``assumptions.csv`` next to ``case.toml``.  Every
row carries ``source``, ``confidence`` and ``notes``; a curve's confidence
is the weakest label among its parts (a reported quantity with an assumed
elasticity is ``assumed``).  Nothing here is tuned to a result: the
method is the documentation (``README.md`` of the case).

Method in short
---------------
* Regions: 12 blocs (``REGIONS``); countries of the USGS tables map to
  them by ``COUNTRY_REGION``.
* Production by region: USGS country production aggregated to blocs where
  the country table exists, else the top-3 shares with the rest in ROW.
  Refining by region (two-stage minerals): IEA shares where given, the
  rest spread like mine output (stated per mineral in ``REFINING``).
* Consumption: the USA from USGS apparent consumption; other regions
  share the rest of world output by ``CONSUMPTION_KEY`` (assumed).
* Prices: the USGS reference price converted to USD per quantity unit;
  exporters' price is ``P·(1 − τ)`` and importers' ``P·(1 + τ)``; routes
  from exporters to importers cost ``2τP`` and every other route ``3τP``,
  so the baseline reproduces every region's production and consumption
  exactly at these prices (a homogeneous good cannot reproduce bilateral
  flows: only net positions).
* Curves: linear through (regional price, quantity) with an elasticity.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
DATA = HERE / "data"

REGIONS = ["USA", "CAN", "LAT", "EU", "CHN", "JPK", "IND", "IDN", "AUS", "AFR", "RUS", "ROW"]
COUNTRY_REGION = {
    "United States": "USA", "Canada": "CAN",
    "Argentina": "LAT", "Bolivia": "LAT", "Brazil": "LAT", "Chile": "LAT", "Cuba": "LAT", "Guatemala": "LAT", "Mexico": "LAT", "Peru": "LAT",
    "Austria": "EU", "Belgium": "EU", "Bulgaria": "EU", "Finland": "EU", "France": "EU", "Germany": "EU", "Poland": "EU", "Portugal": "EU", "Spain": "EU", "Sweden": "EU", "Norway": "EU", "Iceland": "EU",
    "China": "CHN", "Japan": "JPK", "Korea, Republic of": "JPK", "India": "IND", "Indonesia": "IDN", "Australia": "AUS",
    "Congo (Kinshasa)": "AFR", "South Africa": "AFR", "Gabon": "AFR", "Ghana": "AFR", "Mali": "AFR", "Morocco": "AFR", "Mozambique": "AFR", "Nigeria": "AFR", "Rwanda": "AFR", "Senegal": "AFR", "Sierra Leone": "AFR", "Tanzania": "AFR", "Zambia": "AFR", "Zimbabwe": "AFR", "Madagascar": "AFR", "Burundi": "AFR", "Ethiopia": "AFR", "Cote d'Ivoire": "AFR", "Guinea": "AFR",
    "Russia": "RUS", "Belarus": "RUS",
}  # every other country (and "Other countries") -> ROW

#: share of world consumption outside the USA (assumed; normalised after
#: the USA's reported figure is set).  Order of magnitude from the metals
#: literature: China about half of world metal use.
CONSUMPTION_KEY = {"CAN": 0.015, "LAT": 0.03, "EU": 0.13, "CHN": 0.50, "JPK": 0.11, "IND": 0.05, "IDN": 0.015, "AUS": 0.005, "AFR": 0.015, "RUS": 0.025, "ROW": 0.10}

#: elasticities (assumed where no study value): demand and supply of every
#: mineral without a published number, and the refining margin elasticity
DEFAULT_DEMAND_E = (-0.3, -0.6, -0.1)  # central, low, high
DEFAULT_SUPPLY_E = (0.5, 0.2, 1.5)
PROCESSING_E = (1.0, 0.5, 2.0)
STUDY_ELASTICITIES = {  # from data/elasticities.csv (mineral: (demand, supply, citation))
    "copper": (-0.5, 1.5, "Pindyck & Rubinfeld (2013) Microeconomics 8e, Example 2.8 (long run), via data/elasticities.csv"),
    "cobalt": (-0.28, 0.38, "City University of London dissertation (2023), 'Cobalt Market Dynamics', via data/elasticities.csv"),
}

#: unit conversion: USD per tonne of the quoted form -> USD per tonne of the quantity unit
PRICE_FACTOR = {
    "lithium": (5.323, "1 t Li = 5.323 t Li2CO3 (stoichiometry)"),
    "tungsten": (1.261, "1 t W = 1.261 t WO3 (stoichiometry)"),
    "vanadium": (1.785, "1 t V = 1.785 t V2O5 (stoichiometry)"),
    "tantalum": (1.221, "1 t Ta = 1.221 t Ta2O5 (stoichiometry)"),
}

#: two-stage minerals: theta (mine units per refined unit), the stage the
#: data price refers to, the mine/refined price ratio, and refining shares
TWO_STAGE = {
    "lithium": dict(theta=1.05, price_stage="refined", ratio=0.5, refining={"CHN": 70.0}, src="IEA GCMO 2025 via Argus: China 70% of lithium refining (2024)"),
    "cobalt": dict(theta=1.05, price_stage="refined", ratio=0.6, refining={"CHN": 74.0}, src="third-party compilation (OwenCoonahan/critical-minerals-tracker): China ~74% of refined cobalt (estimated)"),
    "nickel": dict(theta=1.03, price_stage="refined", ratio=0.75, refining={"IDN": 45.0, "CHN": 25.0}, src="IEA GCMO 2025 via indiarenews: Indonesia ~45% of nickel processing; China 25% assumed (IEA: China 70-95% of most battery-metal refining)"),
    "graphite": dict(theta=1.6, price_stage="mine", ratio=1 / 3.0, refining={"CHN": 90.0}, src="IEA GCMO 2025 via indiarenews: China >90% of battery-grade graphite"),
    "gallium": dict(theta=1.0, price_stage="refined", ratio=0.3, refining=None, feed="aluminum", src="USGS MCS 2026 primary low-purity gallium by country; feed spread like primary aluminum (assumed: gallium is recovered from alumina liquor)"),
    "germanium": dict(theta=1.0, price_stage="refined", ratio=0.3, refining={"CHN": 70.0}, feed="zinc", src="no figure: China 70% assumed (IEA GCMO 2025 via scobricsinsight: China >50% of germanium processing); feed spread like zinc mining (germanium is a zinc by-product)"),
    "manganese": dict(theta=1.05, price_stage="mine", ratio=0.25, refining={"CHN": 90.0}, src="no figure: China 90% of refined manganese assumed (IEA GCMO 2025 via miningvisuals: China leading refiner of 19 of 20 strategic minerals)"),
    "tungsten": dict(theta=1.02, price_stage="mine", ratio=0.8, refining={"CHN": 85.0}, src="no figure: China 85% of tungsten refining assumed (USGS: China 79% of mine output; IEA: China leading refiner)"),
}
REE = ["lanthanum", "cerium", "praseodymium", "neodymium", "samarium", "europium", "gadolinium", "terbium", "dysprosium", "holmium", "erbium", "thulium", "ytterbium", "lutetium", "yttrium"]
#: element shares of world rare-earth oxide output (assumed: typical mix of
#: bastnaesite, monazite and ionic-clay production; not a data figure)
REE_SHARE = {"lanthanum": 0.26, "cerium": 0.38, "praseodymium": 0.045, "neodymium": 0.15, "samarium": 0.02, "europium": 0.002, "gadolinium": 0.015, "terbium": 0.002, "dysprosium": 0.008, "holmium": 0.002, "erbium": 0.005, "thulium": 0.0008, "ytterbium": 0.004, "lutetium": 0.0008, "yttrium": 0.10}
for _m in REE:
    TWO_STAGE[_m] = dict(theta=1.05, price_stage="refined", ratio=0.4, refining={"CHN": 92.0, "ROW": 5.0}, src="IEA GCMO 2024 via SEAISI: China 92%, Malaysia 5% of refined rare earths (2023)")

#: minerals with no production figure in the data set: assumed world
#: output (quantity unit), price where none, and where it is produced
NO_DATA = {
    "germanium": dict(unit="kg Ge", world=140000.0, shares_like="zinc", note="world refined germanium about 140 t assumed (USGS withholds it)"),
    "hafnium": dict(unit="kg Hf", world=75000.0, shares_like="zirconium", note="world hafnium about 75 t assumed (by-product of zirconium; no USGS table)"),
    "scandium": dict(unit="kg Sc2O3", world=30000.0, shares={"CHN": 70.0, "RUS": 10.0, "ROW": 20.0}, note="world scandium oxide about 30 t assumed (no USGS table)"),
    "iridium": dict(unit="kg Ir", world=7000.0, shares_like="platinum", note="world iridium about 7 t assumed (about 4% of platinum output in PGM ores)"),
    "rhodium": dict(unit="kg Rh", world=23000.0, shares_like="platinum", note="world rhodium about 23 t assumed (about 13% of platinum output in PGM ores)"),
    "ruthenium": dict(unit="kg Ru", world=30000.0, shares_like="platinum", note="world ruthenium about 30 t assumed (about 18% of platinum output in PGM ores)"),
    "cesium": dict(unit="t Cs", world=20.0, price=80000000.0, shares={"CAN": 40.0, "ROW": 40.0, "AFR": 20.0}, note="no USGS production or price: world 20 t and 80 USD/g (cesium formate/metal order of magnitude) assumed; results for cesium are illustrative only"),
    "rubidium": dict(unit="t Rb", world=10.0, price=100000000.0, shares={"CAN": 40.0, "CHN": 40.0, "ROW": 20.0}, note="no USGS production or price: world 10 t and 100 USD/g assumed; results for rubidium are illustrative only"),
}
#: quantity units: the data unit, converted to tonnes or kilograms so that
#: price x quantity is in USD for every mineral
KG_MINERALS = {"gallium", "palladium", "platinum", "rhenium", "germanium", "hafnium", "scandium", "iridium", "rhodium", "ruthenium"}
#: single-stage minerals whose data are processing-stage (metal) figures
PROCESSING_DATA = {"aluminum", "bismuth", "copper", "indium", "magnesium", "silicon", "titanium"}

TAU_HIGH, TAU_MID, TAU_BULK = 0.02, 0.04, 0.06  # half the exporter-importer price gap, fraction of price (assumed)
OFFTAKE_KEY = ["neodymium", "praseodymium", "dysprosium", "terbium", "lithium", "cobalt", "nickel", "graphite", "gallium", "germanium", "manganese", "tungsten", "antimony"]
FLOOR_CLUB = ["USA", "CAN", "LAT", "JPK", "AUS"]

LABELS = ["reported", "derived", "estimated", "assumed"]


def weakest(*labels: str) -> str:
    return max(labels, key=LABELS.index)


def num(x: str) -> float | None:
    try:
        return float(x.replace(",", "").lstrip("<>~").strip())
    except (ValueError, AttributeError):
        return None


def read(name: str) -> list[dict]:
    with open(DATA / name, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def country_shares(series_rows: list[dict]) -> dict[str, float]:
    """Regional shares (%) of a USGS series from its country rows."""
    world = num(series_rows[0]["world_total_rounded"])
    out: dict[str, float] = defaultdict(float)
    for r in series_rows:
        v = num(r["value"])
        if r["country"].startswith("World") or v is None:
            continue
        out[COUNTRY_REGION.get(r["country"], "ROW")] += v
    tot = sum(out.values())
    if world and tot < world:
        out["ROW"] += world - tot  # rounding and unlisted countries
        tot = world
    return {k: 100.0 * v / tot for k, v in out.items() if v > 0}


def top_shares(row: dict, prefix: str) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for i in (1, 2, 3):
        c, s = row.get(f"{prefix}_top{i}", ""), num(row.get(f"{prefix}_top{i}_share", ""))
        if c and s:
            out[COUNTRY_REGION.get(c, "ROW")] += s
    rest = 100.0 - sum(out.values())
    if rest > 0:
        out["ROW"] += rest
    return dict(out)


def spread(fixed: dict[str, float], like: dict[str, float]) -> dict[str, float]:
    """``fixed`` shares (%), the rest spread in proportion to ``like``."""
    rest = 100.0 - sum(fixed.values())
    pool = {k: v for k, v in like.items() if k not in fixed}
    tot = sum(pool.values()) or 1.0
    out = dict(fixed)
    for k, v in pool.items():
        out[k] = out.get(k, 0.0) + rest * v / tot
    return out


def main() -> None:
    rows = {r["mineral"]: r for r in read("critical_minerals_2025.csv")}
    by_series: dict[str, list[dict]] = defaultdict(list)
    for r in read("usgs_mcs2026_country_production_2025e.csv"):
        by_series[r["series"]].append(r)
    series_of = {m: s for s in by_series for m in [s.split("_")[0]]}
    series_of["rare"] = "ree_mine"
    mine_shares = {}
    for name in rows:
        key = "ree_mine" if name in REE else next((s for s in by_series if s.startswith(name + "_")), None)
        if name == "silicon":
            key = None  # two series (FeSi, metal): use the row's combined top shares
        if key:
            mine_shares[name] = (country_shares(by_series[key]), f"USGS MCS 2026 country table '{key}' aggregated to regions (data/usgs_mcs2026_country_production_2025e.csv)", "derived")
        elif rows[name]["mine_top1"]:
            mine_shares[name] = (top_shares(rows[name], "mine"), "USGS MCS 2026 top-3 mine shares (data/critical_minerals_2025.csv), rest in ROW", "derived")
        elif rows[name]["proc_top1"] and rows[name]["processing_unit"] != "share only":
            mine_shares[name] = (top_shares(rows[name], "proc"), "USGS MCS 2026 top-3 processing shares (data/critical_minerals_2025.csv), rest in ROW", "derived")

    # REE prices missing for heavy elements: log price on log abundance share
    priced = [(math.log(REE_SHARE[m]), math.log(num(rows[m]["price_usd_per_t_of_quoted_form"]))) for m in REE if num(rows[m]["price_usd_per_t_of_quoted_form"])]
    mx = sum(a for a, _ in priced) / len(priced)
    my = sum(b for _, b in priced) / len(priced)
    slope = sum((a - mx) * (b - my) for a, b in priced) / sum((a - mx) ** 2 for a, _ in priced)

    minerals_out, nodes_out, routes_out, proc_out, assumptions = [], [], [], [], []
    us_nir = {}
    for name, row in rows.items():
        base_src = f"USGS MCS 2026 via data/critical_minerals_2025.csv (row {name}); {row['source'][:160]}"
        nd = NO_DATA.get(name)
        two = TWO_STAGE.get(name)
        # ---- quantity unit and world output --------------------------------
        if nd:
            qunit, world, wconf, wsrc = nd["unit"], nd["world"], "assumed", nd["note"]
        else:
            if name in PROCESSING_DATA or (not row["world_mine_production"] and row["world_processing_production"]):
                unit, world = row["processing_unit"], num(row["world_processing_production"])
            else:
                unit, world = row["mine_unit"], num(row["world_mine_production"])
            if name in REE:
                world = world * REE_SHARE[name] / sum(REE_SHARE.values())
            qunit, world = unit, world
            wconf = "derived" if name in REE or row["confidence"] != "reported" else "reported"
            wsrc = base_src + (f"; element share {REE_SHARE[name] / sum(REE_SHARE.values()):.4f} of the rare-earth group total (assumed composition, build/build_case.py REE_SHARE)" if name in REE else "")
        # convert kt -> t and everything into t or kg
        scale = 1.0
        if qunit.startswith("kt "):
            qunit, scale = "t " + qunit[3:], 1000.0
        if name in KG_MINERALS and qunit.startswith("t "):
            qunit, scale = "kg " + qunit[2:], scale * 1000.0
        world *= scale
        per_kg = qunit.startswith("kg ")
        price_unit = "USD/kg" if per_kg else "USD/t"
        # ---- price ---------------------------------------------------------
        praw = num(row["price_usd_per_t_of_quoted_form"])
        if praw is None and nd and "price" in nd:
            price, pconf, psrc = nd["price"], "assumed", nd["note"]
        elif praw is None and name in REE:
            price = math.exp(my + slope * (math.log(REE_SHARE[name]) - mx))
            pconf, psrc = "estimated", f"no price in the data set: log price regressed on log abundance share over the 7 priced rare-earth oxides (slope {slope:.2f}), build/build_case.py"
        else:
            f, fnote = PRICE_FACTOR.get(name, (1.0, ""))
            price = praw * f
            pconf = "reported" if row["confidence"] == "reported" and not fnote else "derived"
            psrc = f"{row['price']} {row['price_unit']} ({row['price_basis'][:80]}), USGS MCS 2026" + (f"; {fnote}" if fnote else "")
        if per_kg:
            price /= 1000.0
        # ---- regional production ------------------------------------------
        if nd and "shares" in nd:
            prod_sh, sh_src, sh_conf = nd["shares"], nd["note"], "assumed"
        elif nd:
            prod_sh, sh_src, sh_conf = mine_shares[nd["shares_like"]][0], f"spread like {nd['shares_like']} ({nd['note']})", "assumed"
        else:
            prod_sh, sh_src, sh_conf = mine_shares[name]
        # ---- US consumption ------------------------------------------------
        ac = num(row["us_apparent_consumption"])
        if ac is not None and row["us_apparent_consumption_unit"] and not nd:
            acu = row["us_apparent_consumption_unit"]
            ac = ac * (1000.0 if acu.startswith("kt") else 1.0) * (1000.0 if per_kg and acu.startswith(("t ", "kt")) else 1.0)
            if name in REE:
                ac *= REE_SHARE[name] / sum(REE_SHARE.values())
            if name == "chromium":
                ac /= 0.30  # Cr content -> chromite gross weight (about 30% Cr), assumed
            ac_conf = "derived" if name in REE or name == "chromium" else "reported"
            ac_src = f"USGS MCS 2026 US apparent consumption {row['us_apparent_consumption']} {acu}" + (" x element share" if name in REE else "") + (" / 0.30 (Cr content -> chromite)" if name == "chromium" else "")
        else:
            nir = num(row["us_net_import_reliance_pct"])
            usprod = world * prod_sh.get("USA", 0.0) / 100.0
            if nir is not None and nir < 100 and usprod > 0 and not row["us_net_import_reliance_raw"].startswith("E"):
                ac = usprod / (1.0 - nir / 100.0)
                ac_conf, ac_src = "estimated", f"US consumption = US production / (1 - NIR {row['us_net_import_reliance_raw']}%): USGS withholds apparent consumption"
            else:
                ac = 0.08 * world
                ac_conf, ac_src = "assumed", "US consumption not published: 8% of world output assumed"
        us_nir[name] = row["us_net_import_reliance_raw"]
        stages = ["mine", "refined"] if two else ["refined"]
        theta = two["theta"] if two else 1.0
        refined_world = world / theta if two else world
        # refined production by region
        if two:
            if two.get("refining") is None:
                ref_sh = prod_sh
                feed_sh = mine_shares[two["feed"]][0]
                ref_src, ref_conf = two["src"], "derived"
            else:
                like = prod_sh if "feed" not in two else mine_shares[two["feed"]][0]
                ref_sh = spread(two["refining"], like)
                ref_src, ref_conf = two["src"] + "; the rest spread like mine output (assumed)", "estimated"
                feed_sh = mine_shares[two["feed"]][0] if "feed" in two else prod_sh
            mine_sh = feed_sh if "feed" in two else prod_sh
        else:
            ref_sh, ref_src, ref_conf = prod_sh, sh_src, sh_conf
            mine_sh = None
        # consumption: USA reported, the rest by the key
        us_d = min(ac, 0.9 * refined_world)
        rest = refined_world - us_d
        key_tot = sum(CONSUMPTION_KEY.values())
        demand = {"USA": us_d, **{r: rest * CONSUMPTION_KEY[r] / key_tot for r in CONSUMPTION_KEY}}
        tau = TAU_HIGH if price * (1000.0 if per_kg else 1.0) >= 5000 else TAU_BULK if price * (1000.0 if per_kg else 1.0) < 1000 else TAU_MID
        p_ref = price / (two["ratio"] if two and two["price_stage"] == "mine" else 1.0)
        p_mine = p_ref * two["ratio"] if two else None
        refined_conf = weakest(pconf, "assumed") if two and two["price_stage"] == "mine" else pconf
        ed, es = DEFAULT_DEMAND_E, DEFAULT_SUPPLY_E
        e_src, e_conf = "assumed: minerals' demand and supply are typically price inelastic (Bogmans et al. 2024, IMF WP/24/77, finding only; data/elasticities.csv); central value with a range", "assumed"
        if name in STUDY_ELASTICITIES:
            d_, s_, cit = STUDY_ELASTICITIES[name]
            ed, es, e_src, e_conf = (d_, d_ * 2, d_ / 2), (s_, s_ / 2, s_ * 2), cit, "estimated"
        assumptions.append(dict(mineral=name, parameter="demand_elasticity", central=ed[0], low=ed[1], high=ed[2], confidence=e_conf, source=e_src))
        assumptions.append(dict(mineral=name, parameter="supply_elasticity", central=es[0], low=es[1], high=es[2], confidence=e_conf, source=e_src))
        assumptions.append(dict(mineral=name, parameter="trade_cost_half_gap", central=tau, low=tau / 2, high=tau * 2, confidence="assumed", source="half the exporter-importer price gap as a fraction of the price: 2% high-value, 4% mid, 6% bulk (assumed)"))
        minerals_out.append(dict(name=name, stages=";".join(stages), quantity_unit=qunit, price_unit=price_unit, default_transport_cost="none",
                                 source=wsrc[:400], confidence=weakest(wconf, pconf), notes=f"world output {world:.6g} {qunit} ({wconf}); reference price {price:.6g} {price_unit} ({pconf}: {psrc[:200]}); US NIR as published: {row['us_net_import_reliance_raw'] or 'n/a'}"))

        def price_at(p, exporter):
            return p * (1.0 - tau) if exporter else p * (1.0 + tau)

        # refined stage: production (own supply or processing) and demand
        ref_prod = {r: refined_world * ref_sh.get(r, 0.0) / 100.0 for r in REGIONS}
        ref_exp = {r: ref_prod[r] > demand.get(r, 0.0) for r in REGIONS}
        for r in REGIONS:
            node = dict(mineral=name, stage="refined", region=r)
            pr = price_at(p_ref, ref_exp[r])
            if not two and ref_prod[r] > 0:
                node.update(supply_form="linear", supply_price=f"{pr:.10g}", supply_quantity=f"{ref_prod[r]:.10g}", supply_elasticity=es[0], supply_confidence=weakest(sh_conf, pconf, e_conf),
                            supply_source=f"quantity: {sh_src[:150]}; price: {psrc[:120]}; elasticity: {e_src[:80]}")
            if demand[r] > 0:
                dconf = ac_conf if r == "USA" else "assumed"
                node.update(demand_form="linear", demand_price=f"{pr:.10g}", demand_quantity=f"{demand[r]:.10g}", demand_elasticity=ed[0], demand_confidence=weakest(dconf, refined_conf, e_conf),
                            demand_source=(f"quantity: {ac_src[:150]}" if r == "USA" else "quantity: world output minus US consumption, shared by the regional consumption key (assumed, build_case.py CONSUMPTION_KEY)") + f"; price: {psrc[:100]}; elasticity: {e_src[:80]}")
            if len(node) > 3:
                nodes_out.append(node)
        if two:
            mine_prod = {r: world * mine_sh.get(r, 0.0) / 100.0 for r in REGIONS}
            use = {r: theta * ref_prod[r] for r in REGIONS}
            mine_exp = {r: mine_prod[r] > use[r] for r in REGIONS}
            for r in REGIONS:
                if mine_prod[r] > 0:
                    pm = price_at(p_mine, mine_exp[r])
                    nodes_out.append(dict(mineral=name, stage="mine", region=r, supply_form="linear", supply_price=f"{pm:.10g}", supply_quantity=f"{mine_prod[r]:.10g}", supply_elasticity=es[0],
                                          supply_confidence=weakest(sh_conf, pconf, "assumed", e_conf),
                                          supply_source=f"quantity: {sh_src[:150]}; price: mine/refined price ratio {two['ratio']:.3g} (assumed) on {psrc[:100]}; elasticity: {e_src[:60]}"))
            for r in REGIONS:
                pr = price_at(p_ref, ref_exp[r])
                pm = price_at(p_mine, mine_exp[r])
                margin = pr - theta * pm
                if ref_prod[r] > 0:
                    slope_ = margin / (PROCESSING_E[0] * ref_prod[r])
                    proc_out.append(dict(mineral=name, region=r, **{"from": "mine", "to": "refined"}, theta=theta, cost_form="linear", cost_intercept=f"{margin - slope_ * ref_prod[r]:.10g}", cost_slope=f"{slope_:.10g}",
                                         capacity=f"{1.25 * ref_prod[r]:.10g}", source=f"output: {ref_src[:200]}; margin = refined price - theta x mine price; capacity 1.25 x output (80% utilisation, assumed); margin elasticity {PROCESSING_E[0]} (assumed)",
                                         confidence=weakest(ref_conf, "assumed")))
                elif r in FLOOR_CLUB:
                    # latent refining: 25% dearer than the local margin, so idle at
                    # baseline prices and able to start under a floor
                    yl = 0.02 * refined_world
                    proc_out.append(dict(mineral=name, region=r, **{"from": "mine", "to": "refined"}, theta=theta, cost_form="linear", cost_intercept=f"{1.25 * margin:.10g}", cost_slope=f"{margin / yl:.10g}",
                                         capacity=f"{3 * yl:.10g}", source="latent refining capacity (assumed): cost 25% above the local margin, up to 6% of world output; idle at baseline prices", confidence="assumed"))
            assumptions.append(dict(mineral=name, parameter="mine_to_refined_price_ratio", central=two["ratio"], low=two["ratio"] * 0.8, high=min(0.95 / theta, two["ratio"] * 1.2), confidence="assumed", source="concentrate payable / feed value as a share of the refined price (assumed)"))
            assumptions.append(dict(mineral=name, parameter="theta", central=theta, low=1.0, high=theta * 1.1, confidence="assumed", source="mine units per refined unit: recovery losses (assumed)"))
        # routes: exporters -> importers at the price gap, everything else dearer
        for s in stages:
            exp = ref_exp if s == "refined" else mine_exp
            p = p_ref if s == "refined" else p_mine
            for o in REGIONS:
                for d in REGIONS:
                    if o == d:
                        continue
                    gap = exp[o] and not exp[d]
                    routes_out.append(dict(mineral=name, stage=s, origin=o, destination=d, cost=f"{(2 if gap else 3) * tau * p:.10g}", confidence="assumed",
                                           notes="exporter to importer: the calibrated price gap 2*tau*P" if gap else "no trade at baseline prices: 3*tau*P"))
    write(HERE / "minerals.csv", minerals_out)
    write(HERE / "nodes.csv", nodes_out)
    write(HERE / "routes.csv", routes_out)
    write(HERE / "processing.csv", proc_out)
    write(HERE / "assumptions.csv", assumptions)
    print(f"wrote {len(minerals_out)} minerals, {len(nodes_out)} nodes, {len(routes_out)} routes, {len(proc_out)} processing entries")


def write(path: Path, rows: list[dict]) -> None:
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow(r)


if __name__ == "__main__":
    main()
