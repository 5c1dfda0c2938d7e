"""Build the tables of the bundled 54-mineral case from its data folder.

    python cases/critical-minerals-54/build/build_case.py

Reads the copies in ``../data/`` (USGS MCS 2026 figures, IEA refining
shares, elasticities, the calibration targets of ``data/calibration_targets.csv``;
see ``data/SOURCES.md``) and the assumptions below, and writes
``minerals.csv``, ``nodes.csv``, ``routes.csv``, ``processing.csv``,
``assumptions.csv`` and ``calibration.csv`` next to ``case.toml``.  Every
row carries ``source``, ``confidence`` and ``notes``; a curve's confidence
is the weakest label among its parts (a reported quantity with an assumed
elasticity is ``assumed``).  Nothing here is tuned to a result: the method
is the documentation (``README.md`` of the case), and ``calibration.csv``
(the observed figures with their bands) is what ``mineq calibration`` and
``tests/test_calibration.py`` hold the baseline to.

Method in short
---------------
* Regions: 16 (``REGIONS``); countries of the USGS tables map to them by
  ``COUNTRY_REGION``.  Mexico, Chile, Malaysia and South Africa are their
  own regions because US import sources need them.
* World production by region: USGS country production aggregated to
  regions where the country table exists, else the top-3 shares with the
  rest in ROW.  Refining by region (two-stage minerals): IEA shares where
  given, the rest spread like mine output.
* The USA at the last stage (where USGS measures net import reliance):
  apparent consumption from USGS; domestic output (primary + secondary)
  = consumption × (1 − NIR), so that the model's NIR is the USGS figure;
  secondary output from USGS (old and new scrap) is its own supply curve;
  US primary output is the rest.  Other regions consume the rest of world
  output in assumed shares (``CONSUMPTION_KEY``).
* Bilateral trade: US imports are shared among origins by the USGS import
  sources (MCS 2026, 2021–24); every other region's surplus goes to the
  regions short of the good in proportion to their shortfall (assumed).
  Exporters' price is ``P·(1 − 2τ)``, importers' ``P·(1 − τ)`` and the
  US price is the sourced ``P`` (when the USA imports), so that every
  used route climbs in price.  A used route's marginal cost is ``s·X``,
  zero at zero flow and the whole price gap at the observed flow
  (positive-mathematical-programming route terms; Paris, Drogué & Anania
  2011): the baseline reproduces every flow exactly, and a change of a
  route's margin moves its flow by the same fraction, never all at once.  An
  unused route costs ``τ·P`` more than the price gap (a constant unit
  cost).  The proportional flows are thinned (pairs under 5% of either
  end dropped, then scaled back to the totals) so that no route is
  calibrated to a sliver of trade.
* Curves: linear through (regional price, quantity) with an elasticity.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
DATA = HERE / "data"

REGIONS = ["USA", "CAN", "MEX", "CHL", "LAT", "EU", "CHN", "JPK", "MYS", "IND", "IDN", "AUS", "ZAF", "AFR", "RUS", "ROW"]
COUNTRY_REGION = {
    "United States": "USA", "Canada": "CAN", "Mexico": "MEX", "Chile": "CHL",
    "Argentina": "LAT", "Bolivia": "LAT", "Brazil": "LAT", "Cuba": "LAT", "Guatemala": "LAT", "Peru": "LAT", "Colombia": "LAT",
    "Austria": "EU", "Belgium": "EU", "Bulgaria": "EU", "Czechia": "EU", "Estonia": "EU", "Finland": "EU", "France": "EU", "Germany": "EU", "Italy": "EU", "Latvia": "EU",
    "Netherlands": "EU", "Poland": "EU", "Portugal": "EU", "Spain": "EU", "Sweden": "EU", "Norway": "EU", "Iceland": "EU", "United Kingdom": "EU", "Switzerland": "EU", "Greenland": "EU",
    "China": "CHN", "Japan": "JPK", "Korea, Republic of": "JPK", "Malaysia": "MYS", "India": "IND", "Indonesia": "IDN", "Australia": "AUS",
    "South Africa": "ZAF",
    "Congo (Kinshasa)": "AFR", "Gabon": "AFR", "Ghana": "AFR", "Mali": "AFR", "Morocco": "AFR", "Mozambique": "AFR", "Nigeria": "AFR", "Rwanda": "AFR", "Senegal": "AFR", "Sierra Leone": "AFR",
    "Tanzania": "AFR", "Zambia": "AFR", "Zimbabwe": "AFR", "Madagascar": "AFR", "Burundi": "AFR", "Ethiopia": "AFR", "Cote d'Ivoire": "AFR", "Guinea": "AFR",
    "Russia": "RUS", "Belarus": "RUS",
}  # every other country (and "Other countries") -> ROW

#: share of world consumption outside the USA (assumed; normalised after
#: the USA's figure is set).  Order of magnitude from the metals
#: literature: China about half of world metal use.
CONSUMPTION_KEY = {"CAN": 0.015, "MEX": 0.012, "CHL": 0.004, "LAT": 0.014, "EU": 0.13, "CHN": 0.50, "JPK": 0.11, "MYS": 0.01, "IND": 0.05, "IDN": 0.015, "AUS": 0.005, "ZAF": 0.006, "AFR": 0.009, "RUS": 0.025, "ROW": 0.09}

#: elasticities (assumed where no study value): demand and supply of every
#: mineral without a published number, secondary (scrap) supply, and the
#: refining margin elasticity
DEFAULT_DEMAND_E = (-0.3, -0.6, -0.1)  # central, low, high
DEFAULT_SUPPLY_E = (0.5, 0.2, 1.5)
SECONDARY_E = (0.3, 0.1, 1.0)
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
    "gallium": dict(theta=1.0, price_stage="refined", ratio=0.05, refining=None, feed="aluminum", src="USGS MCS 2026 primary low-purity gallium by country; mine stage: gallium content of Bayer liquor where alumina is refined (BYPRODUCT)"),
    "germanium": dict(theta=1.0, price_stage="refined", ratio=0.3, refining={"CHN": 70.0}, feed="zinc", src="no figure: China 70% assumed (IEA GCMO 2025 via scobricsinsight: China >50% of germanium processing); feed spread like zinc mining (germanium is a zinc by-product)"),
    "manganese": dict(theta=1.05, price_stage="mine", ratio=0.25, refining={"CHN": 90.0}, src="no figure: China 90% of refined manganese assumed (IEA GCMO 2025 via miningvisuals: China leading refiner of 19 of 20 strategic minerals)"),
    "tungsten": dict(theta=1.02, price_stage="mine", ratio=0.8, refining={"CHN": 85.0}, src="no figure: China 85% of tungsten refining assumed (USGS: China 79% of mine output; IEA: China leading refiner)"),
}
REE = ["lanthanum", "cerium", "praseodymium", "neodymium", "samarium", "europium", "gadolinium", "terbium", "dysprosium", "holmium", "erbium", "thulium", "ytterbium", "lutetium", "yttrium"]
#: the rare earths mined jointly in the case (joint_rare_earth_mining)
JOINT_REE = ["lanthanum", "cerium", "praseodymium", "neodymium"]
HEAVY_REE = ["terbium", "dysprosium", "holmium", "erbium", "thulium", "ytterbium", "lutetium"]
#: the medium and heavy rare earths (samarium to lutetium, and yttrium):
#: each region's output of them follows its deposits (REE_DEPOSIT)
MID_HEAVY_REE = ["samarium", "europium", "gadolinium", *HEAVY_REE, "yttrium"]
#: the heavy rare earths mined jointly: terbium, dysprosium and yttrium,
#: 78% of the value of a tonne of Longnan ionic clay at the case's US
#: prices (73% of its mass)
JOINT_HEAVY_REE = ["terbium", "dysprosium", "yttrium"]
#: joint rare-earth mining activities: (activity name, elements it yields).
#: The other medium and heavy ones keep a supply curve each: as one
#: linked activity of all eleven the case took 263 s instead of 6 s and
#: the rules-of-origin fixed point of agreements-plus-floor did not
#: converge; with the seven heavy ones and yttrium, 153 s (case README,
#: "Why the medium and heavy rare earths are not one linked activity")
JOINT_REE_GROUPS = [("rare-earth mining", JOINT_REE), ("heavy rare-earth mining", JOINT_HEAVY_REE)]
#: medium and heavy rare earths in % of the deposit type's TREO
#: (data/joint/ree_deposit_distribution.csv; the light remainder is split
#: like REE_SHARE's lanthanum to neodymium).  "ionic clay": Longnan
#: high-yttrium ion-adsorption clay (Gupta & Krishnamurthy 2005 as
#: transcribed; Y 64.9 cross-checked by Zhang et al. 2016's reported
#: 64.83: secondary).  "monazite": Australian east-coast monazite placer
#: (same transcription: secondary).  "bastnaesite": Mountain Pass, SEG+ 1.8%
#: of TREO (MP Materials 2021 TRS: reported) of which Sm 1.0 (resource
#: grades: estimate) and the other 0.8 split like monazite's Eu..Y
#: (estimate).
_MONAZITE = {"samarium": 2.53, "europium": 0.05, "gadolinium": 1.49, "terbium": 0.04, "dysprosium": 0.69, "holmium": 0.05, "erbium": 0.21, "thulium": 0.01, "ytterbium": 0.12, "lutetium": 0.04, "yttrium": 2.41}
_SEG_REST = sum(v for k, v in _MONAZITE.items() if k != "samarium")
REE_DEPOSIT = {
    "ionic clay": {"samarium": 2.8, "europium": 0.1, "gadolinium": 6.9, "terbium": 1.3, "dysprosium": 6.7, "holmium": 1.6, "erbium": 4.9, "thulium": 0.7, "ytterbium": 2.5, "lutetium": 0.4, "yttrium": 64.9},
    "monazite": _MONAZITE,
    "bastnaesite": {"samarium": 1.0, **{k: 0.8 * v / _SEG_REST for k, v in _MONAZITE.items() if k != "samarium"}},
}
#: deposit types behind each producing country's rare-earth mine output
#: (fractions of its TREO).  China: ion-adsorption clays 10,140 of the
#: 135,000 t first 2024 quota (7.51%, Fastmarkets 6 Feb 2024:
#: data/joint/ree_china_mine_mix.csv), the rest rock-type ores (Bayan
#: Obo, Sichuan) like Mountain Pass bastnaesite (Zhang et al. 2016: >94%
#: light rare earths; assumed).  Burma: ion-adsorption clays (assumed: no
#: element data for Myanmar clays).  Every other producer: monazite
#: (assumed; Mount Weld, Indian, Brazilian and African sands unresolved).
REE_COUNTRY_DEPOSITS = {"China": {"ionic clay": 0.0751, "bastnaesite": 0.9249}, "Burma": {"ionic clay": 1.0}, "United States": {"bastnaesite": 1.0}}
REE_OTHER_DEPOSITS = {"monazite": 1.0}
#: producers that separate none of their rare earths at home: Burma's
#: ionic-clay concentrates go to China for separation (assumed)
REE_UNSEPARATED = {"Burma"}
#: element shares of world rare-earth oxide output (assumed: typical mix of
#: bastnaesite, monazite and ionic-clay production; not a data figure).
#: Used for the split of the light remainder among lanthanum to neodymium
#: and as the abundance in the price fit; the element outputs themselves
#: follow the deposits (REE_OUTPUT)
REE_SHARE = {"lanthanum": 0.26, "cerium": 0.38, "praseodymium": 0.045, "neodymium": 0.15, "samarium": 0.02, "europium": 0.002, "gadolinium": 0.015, "terbium": 0.002, "dysprosium": 0.008, "holmium": 0.002, "erbium": 0.005, "thulium": 0.0008, "ytterbium": 0.004, "lutetium": 0.0008, "yttrium": 0.10}
#: mine output of each rare earth by region, t REO (ree_element_output)
REE_OUTPUT: dict[str, dict[str, float]] = {}
#: refined output of each rare earth by region, % (ree_refined_shares)
REE_REFINED: dict[str, dict[str, float]] = {}


def ree_world_share(m: str) -> float:
    """The element's share of world rare-earth mine output (REE_OUTPUT)."""
    return sum(REE_OUTPUT[m].values()) / sum(sum(v.values()) for v in REE_OUTPUT.values())


for _m in REE:
    TWO_STAGE[_m] = dict(theta=1.05, price_stage="refined", ratio=0.4, refining={"CHN": 92.0, "MYS": 5.0}, src="IEA GCMO 2024 via SEAISI: China 92%, Malaysia 5% of refined rare earths (2023)")

#: by-products whose mine stage is the content their host's throughput
#: makes available where the host runs (not traded): the host's output by
#: country (USGS, reported), the content per unit of host output, and the
#: recovery capacities USGS reports
BYPRODUCT = {
    "gallium": dict(
        host="alumina refinery production 2025 (USGS MCS 2026 data release, BAUXITE AND ALUMINA, 'Alumina, refinery production', thousand metric dry tons; reported, 2025 estimates)",
        host_statistic="Alumina, refinery production",
        per_host=19.0,  # kg Ga extractable per thousand t of alumina (19 g/t)
        per_host_src="19 g Ga extractable per t alumina (estimate: 50 g Ga/t bauxite, USGS MCS 2026 and Frenzel et al. 2016, x 2.5 t bauxite/t alumina, Australian Bauxite Ltd, x 15% extractable at a 50 ppm feed, Frenzel et al. 2016; data/joint/byproduct_yields.csv)",
        no_host={"JPK": "zinc-residue feed of Japan's primary gallium (assumed: 1.25 x its output; Japan has no alumina refinery)"},
        capacity={"CHN": (1_600_000.0, "1,600 t (USGS MCS 2026, reported)"), "JPK": (10_000.0, "10 t (USGS MCS 2026, reported)"), "RUS": (10_000.0, "10 t (USGS MCS 2026, reported)")},
    ),
}


#: by-products whose host is one of the case's minerals: one joint
#: activity per region, a unit of it being a unit of the host's primary
#: output there, yields the host and the by-products in the proportions
#: of the region's calibrated primary outputs (so the baseline is
#: unchanged), in the regions ``regions`` (every region when None) where
#: both the host and the by-product have primary output; elsewhere a
#: by-product keeps its own supply curve (e.g. hafnium in the USA and
#: Australia, where zircon keeps its curve for the floor club: below).
#: The activity's cost curve has the host's supply elasticity: a
#: by-product's output follows its host (short run: its value is a small
#: part of the host's).  Recovery beyond the yields: for a two-stage
#: by-product (cobalt) the refining of the by-product's
#: content (processing.csv, with its capacity) is the recovery step; for
#: single-stage ones recovery is folded into the joint activity.
#: The platinum-group metals were left out until session 13: the
#: verifier missed the origin rent a joint activity's yields earn under
#: rules of origin (negotiations-fail-mip failed on that alone).
#: Germanium and indium with zinc were left out until session 15: the
#: plain reference path found no equilibrium under agreements-plus-floor
#: (a rule-of-origin row violated inside polish's tolerance,
#: models/program.py _settled).
COPRODUCTS = [
    dict(name="zircon mining", host=("zirconium", "refined"), products=[("hafnium", "refined")], regions=None,
         basis="hafnium is separated from zirconium (Zr:Hf about 50:1 in zircon, Edison Group; 'most commercial hafnium is a by-product of zirconium refining'; /work/shared/data/joint_production.csv); yields: the region's calibrated hafnium output per t of zircon concentrate (hafnium spread like zirconium, NO_DATA)",
         confidence="estimated"),
    dict(name="copper-cobalt mining", host=("copper", "refined"), products=[("cobalt", "mine")], regions=["AFR"],
         basis="cobalt of the DR Congo and Zambia is a by-product of sediment-hosted copper (USGS MCS 2026 cobalt; about 98% of world cobalt is a by-product of copper and nickel, Bloomberg via joint_production.csv; Tenke Fungurume 85 kg Co per t Cu, CMOC via byproduct_yields.csv); yields: AFR's calibrated cobalt mine output per t of AFR's refined copper",
         confidence="estimated"),
    dict(name="PGM mining", host=("platinum", "refined"), products=[("palladium", "refined"), ("rhodium", "refined"), ("iridium", "refined"), ("ruthenium", "refined")], regions=None,
         basis="the platinum-group metals come out of the same ores in fixed proportions per deposit (Bushveld and Stillwater mined for PGMs, Norilsk and Sudbury for nickel-copper with PGMs as by-products, investcom PGM facts via joint_production.csv; rhodium 'primarily a by-product of platinum mining', Johnson Matthey via joint_production.csv; Stillwater in-situ Pd:Pt 3.57:1, USGS Minerals Yearbook PGM 2011); yields: the region's calibrated palladium, rhodium, iridium and ruthenium outputs per kg of its platinum (the by-products spread like platinum where USGS gives no split, NO_DATA)",
         confidence="estimated"),
    dict(name="zinc smelting", host=("zinc", "refined"), products=[("germanium", "mine"), ("indium", "refined")], regions=None,
         basis="germanium and indium are recovered from zinc: germanium from zinc and lead-zinc-copper sulfide ores and from coal fly ash (USGS MCS 2026 germanium; about half of China's identified germanium is in coal, Zhao et al. 2019, via joint_production.csv), indium from sphalerite at <1 to 100 ppm (USGS MCS 2026 indium); yields: the region's calibrated germanium feed and indium output per t of its refined zinc (germanium feed spread like zinc mining); the coal route is not modelled apart",
         confidence="estimated"),
    dict(name="nickel-cobalt mining", host=("nickel", "mine"), products=[("cobalt", "mine")], regions=[r for r in REGIONS if r != "AFR"],
         basis="outside Africa cobalt comes from nickel laterites (Indonesia, Australia, Cuba, the Philippines) and magmatic Ni-Cu sulfides (Canada, Russia, Australia) (USGS MCS 2026 cobalt; Obi HPAL 123 kg Co per t Ni, byproduct_yields.csv); yields: the region's calibrated cobalt mine output per t of nickel mine output",
         confidence="estimated"),
]


def byproduct_content(name: str, ref_prod: dict[str, float]) -> dict[str, tuple[float, str, str]]:
    """Per region: (content available, source, confidence) of a by-product
    (BYPRODUCT): host output by region x content per unit of host."""
    bp = BYPRODUCT[name]
    host: dict[str, float] = defaultdict(float)
    with open(DATA / "usgs_mcs2026_commodities_data.csv", newline="", encoding="cp1252") as f:  # the USGS release is Windows-1252
        rows = list(csv.DictReader(f))
    for row in rows:
        if row["Statistics_detail"] == bp["host_statistic"] and row["Year"] == "2025" and not row["Country"].startswith("World"):
            v = num(row["Value"].replace(",", ""))
            if v:
                host[COUNTRY_REGION.get(row["Country"], "ROW")] += v
    out = {}
    for r in REGIONS:
        if r in bp["no_host"] and not host.get(r):
            out[r] = (1.25 * ref_prod[r], bp["no_host"][r], "assumed")
        else:
            out[r] = (host.get(r, 0.0) * bp["per_host"], f"{host.get(r, 0.0):,.0f} kt alumina x {bp['per_host_src']}; {bp['host']}", "estimated")
        if out[r][0] < ref_prod[r]:
            raise SystemExit(f"{name}/{r}: content {out[r][0]:g} below its recovered output {ref_prod[r]:g}")
    return out


#: minerals with no production figure in the data set: assumed world
#: output (quantity unit), price where none, and where it is produced
NO_DATA = {
    "germanium": dict(unit="kg Ge", world=140000.0, shares_like="zinc", note="world refined germanium about 140 t assumed (USGS withholds it)"),
    "hafnium": dict(unit="kg Hf", world=75000.0, shares_like="zirconium", note="world hafnium about 75 t assumed (by-product of zirconium; no USGS table)"),
    "scandium": dict(unit="kg Sc2O3", world=30000.0, shares={"CHN": 70.0, "RUS": 10.0, "ROW": 20.0}, note="world scandium oxide about 30 t assumed (no USGS table)"),
    "iridium": dict(unit="kg Ir", world=7000.0, shares_like="platinum", note="world iridium about 7 t assumed (about 4% of platinum output in PGM ores)"),
    "rhodium": dict(unit="kg Rh", world=23000.0, shares_like="platinum", note="world rhodium about 23 t assumed (about 13% of platinum output in PGM ores)"),
    "ruthenium": dict(unit="kg Ru", world=30000.0, shares_like="platinum", note="world ruthenium about 30 t assumed (about 18% of platinum output in PGM ores)"),
    "cesium": dict(unit="t Cs", world=20.0, price=80000000.0, shares={"CAN": 40.0, "ROW": 40.0, "AFR": 20.0}, note="no USGS production or bulk price: world 20 t and 80 USD/g (cesium formate/metal order of magnitude) assumed; results for cesium are illustrative only"),
    "rubidium": dict(unit="t Rb", world=10.0, price=100000000.0, shares={"CAN": 40.0, "CHN": 40.0, "ROW": 20.0}, note="no USGS production or bulk price: world 10 t and 100 USD/g assumed; results for rubidium are illustrative only"),
}
#: quantity units: the data unit, converted to tonnes or kilograms so that
#: price x quantity is in USD for every mineral
KG_MINERALS = {"gallium", "palladium", "platinum", "rhenium", "germanium", "hafnium", "scandium", "iridium", "rhodium", "ruthenium"}
#: single-stage minerals whose data are processing-stage (metal) figures
PROCESSING_DATA = {"aluminum", "bismuth", "copper", "indium", "magnesium", "silicon", "titanium"}
#: USGS states no US production at the stage the model holds (NIR 100 with
#: no domestic output, or a chapter that says so)
US_NONE = {"gallium": "USGS MCS 2026: no domestic primary (low-purity) gallium production"}
#: minerals held in gross weight (ore or concentrate): their price is the
#: gross-weight price, not a contained-element one
GROSS_WEIGHT = {"barite", "chromium", "fluorspar", "graphite", "zirconium"}
#: chromium: USGS counts consumption and scrap in Cr content, the model
#: holds chromite (gross weight); Cr content of chromite (assumed)
CR_IN_CHROMITE = 0.30

TAU_HIGH, TAU_MID, TAU_BULK = 0.02, 0.04, 0.06  # price gap between tiers, fraction of price (assumed)
FLOOR_CLUB = ["USA", "CAN", "MEX", "CHL", "JPK", "AUS"]
#: bands the baseline must fall in (calibration.csv)
NIR_BAND, SHARE_BAND, CHINA_BAND, PRICE_BAND = 2.0, 5.0, 1.0, 0.02

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


# ----------------------------------------------------------------------
# the calibration targets (data/calibration_targets.csv)
# ----------------------------------------------------------------------
def unit_factor(unit: str, qunit: str) -> float | None:
    """Factor from a USGS unit to the model's quantity unit (t or kg of
    the mineral's basis), or None when the units do not convert."""
    u = unit.lower()
    if "percent" in u or "%" in u or "usd" in u or "$" in u:
        return None
    if u.startswith(("thousand metric tons", "kt")) or "thousand metric tons" in u:
        t = 1000.0
    elif u.startswith(("million metric tons",)) or "million metric tons" in u:
        t = 1e6
    elif u.startswith(("metric tons", "t ")) or "metric tons" in u or u == "t":
        t = 1.0
    elif "kilogram" in u or u.startswith("kg"):
        t = 0.001
    else:
        return None
    return t * (1000.0 if qunit.startswith("kg ") else 1.0)


def load_targets() -> dict[str, dict]:
    """Per mineral: its observed figures from ``data/calibration_targets.csv``."""
    path = DATA / "calibration_targets.csv"
    out: dict[str, dict] = defaultdict(lambda: {"imports": []})
    if not path.exists():
        return out
    for r in read(path.name):
        m, ind = r["mineral"].strip(), r["indicator"].strip()
        v = num(r.get("value", ""))
        rec = dict(value=v, unit=r.get("unit", ""), bound=(r.get("bound") or "").strip(), stage=r.get("stage", ""), source=r.get("source", ""), confidence=r.get("confidence", "") or "reported", note=r.get("note", ""), origin=(r.get("origin") or "").strip())
        if ind == "us_import_share_pct":
            if v is not None:
                out[m]["imports"].append(rec)
        elif ind not in out[m]:
            out[m][ind] = rec
    return out


def import_shares(recs: list[dict]) -> tuple[dict[str, float], str, str]:
    """US import shares (%) by region from the origin countries of one
    import-source line; "Other" goes to the regions no named country maps
    to (ROW first).  Returns (shares, source, weakest confidence)."""
    named: dict[str, float] = defaultdict(float)
    other = 0.0
    for r in recs:
        if r["origin"].lower() in ("other", "others", "other countries", "all other"):
            other += r["value"]
        else:
            named[COUNTRY_REGION.get(r["origin"], "ROW")] += r["value"]
    tot = sum(named.values()) + other
    if tot <= 0:
        return {}, "", "assumed"
    shares = {k: 100.0 * v / tot for k, v in named.items()}
    if other > 0:
        shares["_other"] = 100.0 * other / tot
    src = recs[0]["source"] if recs else ""
    return shares, src, weakest(*(r["confidence"] if r["confidence"] in LABELS else "derived" for r in recs))


def ree_element_output(series_rows: list[dict], separated_only: bool = False) -> dict[str, dict[str, float]]:
    """Mine output of each rare earth by region (t REO): each country's
    TREO (USGS MCS 2026 country table; the rounding remainder of the world
    total in ROW) times the medium and heavy shares of its deposit types
    (REE_COUNTRY_DEPOSITS, REE_DEPOSIT), the light remainder split like
    REE_SHARE's lanthanum to neodymium.  So each region's TREO is the
    reported one, while Burma's and China's ionic clays make most of the
    heavy rare earths (the regional shares of an element differ from the
    group's).  ``separated_only``: leave out the countries that separate
    none of their output at home (REE_UNSEPARATED)."""
    light = {m: REE_SHARE[m] / sum(REE_SHARE[k] for k in JOINT_REE) for m in JOINT_REE}
    out: dict[str, dict[str, float]] = {m: defaultdict(float) for m in REE}
    world = num(series_rows[0]["world_total_rounded"])
    listed = 0.0

    def add(region: str, treo: float, mix: dict[str, float]) -> None:
        heavy = {m: treo * sum(f * REE_DEPOSIT[d][m] / 100.0 for d, f in mix.items()) for m in MID_HEAVY_REE}
        for m, v in heavy.items():
            out[m][region] += v
        for m, f in light.items():
            out[m][region] += (treo - sum(heavy.values())) * f

    for r in series_rows:
        v = num(r["value"])
        if r["country"].startswith("World") or not v:
            continue
        listed += v
        if separated_only and r["country"] in REE_UNSEPARATED:
            continue
        add(COUNTRY_REGION.get(r["country"], "ROW"), v, REE_COUNTRY_DEPOSITS.get(r["country"], REE_OTHER_DEPOSITS))
    if world and listed < world:
        add("ROW", world - listed, REE_OTHER_DEPOSITS)
    return {m: dict(v) for m, v in out.items()}


def ree_refined_shares(separable: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Each rare earth's refined output by region (% of its world output).

    The group's separation shares (TWO_STAGE: China 92%, Malaysia 5% of
    refined rare earths, IEA; the rest spread like the mine output of the
    countries that separate at home, ``separable``) are shares of TREO.
    Each refiner outside China separates a feed of its own ore's
    composition (Malaysia's own mine is monazite, as is Mount Weld's
    concentrate that Lynas separates there: assumed); China separates the
    rest of each element, its own ores and the concentrates it imports
    (Burma's ionic clays, Mountain Pass).  So China's share is larger for
    the ionic-clay elements (dysprosium, terbium, yttrium) than for the
    group."""
    treo = {r: sum(separable[m].get(r, 0.0) for m in REE) for r in REGIONS}
    world = sum(sum(REE_OUTPUT[m].values()) for m in REE)
    group = spread(TWO_STAGE[REE[0]]["refining"], {r: v for r, v in treo.items() if v > 0})
    out: dict[str, dict[str, float]] = {m: {} for m in REE}
    for r, sh in group.items():
        if r == "CHN" or sh <= 0:
            continue
        for m in REE:
            out[m][r] = world * sh / 100.0 * separable[m].get(r, 0.0) / treo[r]
    for m in REE:
        tot = sum(REE_OUTPUT[m].values())
        out[m]["CHN"] = tot - sum(out[m].values())
        out[m] = {r: 100.0 * v / tot for r, v in out[m].items()}
    return out


def main() -> None:
    rows = {r["mineral"]: r for r in read("critical_minerals_2025.csv")}
    targets = load_targets()
    by_series: dict[str, list[dict]] = defaultdict(list)
    for r in read("usgs_mcs2026_country_production_2025e.csv"):
        by_series[r["series"]].append(r)
    mine_shares = {}
    REE_OUTPUT.update(ree_element_output(by_series["ree_mine"]))
    REE_REFINED.update(ree_refined_shares(ree_element_output(by_series["ree_mine"], separated_only=True)))
    for name in rows:
        key = "ree_mine" if name in REE else next((s for s in by_series if s.startswith(name + "_")), None)
        if name == "silicon":
            key = None  # two series (FeSi, metal): use the row's combined top shares
        if name in REE:
            tot = sum(REE_OUTPUT[name].values())
            mine_shares[name] = ({r: 100.0 * v / tot for r, v in REE_OUTPUT[name].items() if v > 0}, "USGS MCS 2026 rare-earth mine output by country times the element shares of its deposit types (build_case.py ree_element_output; REE_DEPOSIT: data/joint/ree_deposit_distribution.csv)", "estimated")
        elif key:
            mine_shares[name] = (country_shares(by_series[key]), f"USGS MCS 2026 country table '{key}' aggregated to regions (data/usgs_mcs2026_country_production_2025e.csv)", "derived")
        elif rows[name]["mine_top1"]:
            mine_shares[name] = (top_shares(rows[name], "mine"), "USGS MCS 2026 top-3 mine shares (data/critical_minerals_2025.csv), rest in ROW", "derived")
        elif rows[name]["proc_top1"] and rows[name]["processing_unit"] != "share only":
            mine_shares[name] = (top_shares(rows[name], "proc"), "USGS MCS 2026 top-3 processing shares (data/critical_minerals_2025.csv), rest in ROW", "derived")

    # REE prices missing in the data: log price on log abundance share
    priced = [(math.log(REE_SHARE[m]), math.log(num(rows[m]["price_usd_per_t_of_quoted_form"]))) for m in REE if num(rows[m]["price_usd_per_t_of_quoted_form"])]
    mx = sum(a for a, _ in priced) / len(priced)
    my = sum(b for _, b in priced) / len(priced)
    slope = sum((a - mx) * (b - my) for a, b in priced) / sum((a - mx) ** 2 for a, _ in priced)

    out = dict(minerals=[], nodes=[], routes=[], processing=[], assumptions=[], calibration=[], joint=[])
    for name, row in rows.items():
        tg = targets.get(name, {"imports": []})
        if name in REE:
            # China's 69% of mining and 92% of separation are figures of
            # the group's TREO, not of each element (its ionic clays are a
            # small part of its output): one row each for the group below,
            # no element pinned to them
            tg = {k: v for k, v in tg.items() if k not in ("china_mine_share_pct", "china_refinery_share_pct")}
        build_mineral(name, row, rows, tg, mine_shares, (mx, my, slope), out)
    for ind, stage, what in (("china_mine_share_pct", "mine", "mine"), ("china_refinery_share_pct", "refined", "refined")):
        t = targets["rare_earths"][ind]
        out["calibration"].append(dict(mineral="+".join(REE), indicator="production_share_pct", stage=stage, region="CHN", origin="", observed=_f(t["value"]), lower=_f(t["value"] - CHINA_BAND), upper=_f(t["value"] + CHINA_BAND),
                                       unit="percent", source=t["source"][:300], confidence=t["confidence"], note=f"China's share of world {what} rare-earth output (t REO, all fifteen elements together)"))
    for label, elements in JOINT_REE_GROUPS:
        joint_rare_earth_mining(out, label, elements)
    joint_coproducts(out)
    for table in ("minerals", "nodes", "routes", "processing", "assumptions", "calibration", "joint"):
        write(HERE / f"{table}.csv", out[table])
    print(f"wrote {len(out['minerals'])} minerals, {len(out['nodes'])} nodes, {len(out['routes'])} routes, {len(out['processing'])} processing entries, {len(out['calibration'])} calibration targets")


def joint_rare_earth_mining(out, label: str = "rare-earth mining", elements: list[str] = JOINT_REE) -> None:
    """Rare earths are mined together: one joint activity per region and
    group (``joint.csv``) yields the group's elements' mine-stage output in
    fixed proportions, in place of independent mine supply curves
    (Binnemans & Jones 2015, the balance problem: more neodymium means
    more lanthanum and cerium too).  Two groups (JOINT_REE_GROUPS): the
    light ones (lanthanum to neodymium) and the medium and heavy ones
    (samarium to lutetium, and yttrium).  Splitting one ore into two
    activities is an approximation: it lets a region's light and heavy
    outputs move apart, which in the field only a change of deposit mix
    does (China's ionic clays against Bayan Obo, say).

    A unit of activity is a tonne of the group's oxides mined; the yields
    are the element shares of the region's group output
    (ree_element_output: each country's TREO times its deposit types'
    composition, so Burma and China's ionic clays yield mostly yttrium,
    dysprosium and terbium, monazite and bastnaesite mostly samarium and
    gadolinium).  The activity's marginal cost at the region's output A is
    the value of what it yields at the baseline mine prices, Σ y·P_mine,
    so the baseline is an equilibrium of the joint market; its elasticity
    is the one the element curves had (all equal)."""
    mine = [n for n in out["nodes"] if n["mineral"] in elements and n["stage"] == "mine"]
    out["nodes"][:] = [n for n in out["nodes"] if not (n["mineral"] in elements and n["stage"] == "mine")]
    by_region = defaultdict(list)
    for n in mine:
        by_region[n["region"]].append(n)
    for r in REGIONS:
        rows = by_region.get(r, [])
        if not rows:
            continue
        A = sum(float(n["supply_quantity"]) for n in rows)
        y = {n["mineral"]: float(n["supply_quantity"]) / A for n in rows}
        mc = sum(y[n["mineral"]] * float(n["supply_price"]) for n in rows)
        es = {n["supply_elasticity"] for n in rows}
        if len(es) != 1:
            raise SystemExit(f"rare-earth mine curves of {r} have different elasticities {sorted(es)}: one joint cost curve cannot stand for them")
        out["joint"].append(dict(
            name=label, region=r, inputs="",
            outputs="; ".join(f"{m}:mine={y[m]:.10g}" for m in elements if m in y),
            cost_form="linear", cost_price=f"{mc:.10g}", cost_quantity=f"{A:.10g}", cost_elasticity=es.pop(),
            source=f"joint mining of the rare earths (Binnemans & Jones 2015, J. Sustain. Metall. 1:29-38: the balance problem); output: the region's rare-earth mine output ({rows[0]['supply_source'][10:120]}); yields: the region's element outputs (country TREO times deposit-type composition, build_case.py ree_element_output and REE_DEPOSIT); marginal cost: value of the yields at baseline mine prices",
            confidence=weakest(*(n["supply_confidence"] for n in rows), "assumed")))


def joint_coproducts(out) -> None:
    """By-products whose host is in the case (COPRODUCTS): in each region
    where the host and a by-product both have primary output, their
    primary supply curves become one joint activity (``joint.csv``) whose
    unit is a unit of host output, with yields y = by-product output /
    host output (the calibrated ones, so the baseline is an equilibrium of
    the joint market: the activity's marginal cost at the host's output is
    the value of what it yields at the baseline prices, P_host + Σ y·P)
    and the host's supply elasticity.  Secondary (scrap) supply stays a
    curve of its own.  The partner floor club's floors on refined output
    pay such an activity for its floored yields (models/policies/plan.py,
    joint_floors)."""
    taken: set[tuple[str, str, str]] = set()
    for g in COPRODUCTS:
        hm, hs = g["host"]
        for r in g["regions"] or REGIONS:
            host = next((n for n in out["nodes"] if (n["mineral"], n["stage"], n["region"]) == (hm, hs, r) and n.get("supply_form") == "linear" and float(n["supply_quantity"]) > 0), None)
            if host is None or (hm, hs, r) in taken:
                continue
            prods = [n for n in out["nodes"] if (n["mineral"], n["stage"]) in g["products"] and n["region"] == r and n.get("supply_form") == "linear" and float(n["supply_quantity"]) > 0 and (n["mineral"], n["stage"], r) not in taken]
            if not prods:
                continue
            A = float(host["supply_quantity"])
            y = {n["mineral"]: float(n["supply_quantity"]) / A for n in prods}
            mc = float(host["supply_price"]) + sum(y[n["mineral"]] * float(n["supply_price"]) for n in prods)
            e, src, conf = host["supply_elasticity"], host["supply_source"], weakest(*(n["supply_confidence"] for n in (host, *prods)), g["confidence"])
            for n in (host, *prods):
                taken.add((n["mineral"], n["stage"], r))
                for k in [k for k in n if k.startswith("supply_")]:
                    del n[k]
            out["joint"].append(dict(
                name=g["name"], region=r, inputs="",
                outputs="; ".join([f"{hm}:{hs}=1"] + [f"{n['mineral']}:{n['stage']}={y[n['mineral']]:.10g}" for n in prods]),
                cost_form="linear", cost_price=f"{mc:.10g}", cost_quantity=f"{A:.10g}", cost_elasticity=e,
                source=f"{g['basis']}; unit: 1 {hm} ({hs}) of the region's primary output ({src[:160]}); marginal cost: value of the yields at baseline prices; elasticity: the host's ({e})",
                confidence=conf))
    out["nodes"][:] = [n for n in out["nodes"] if any(k in n for k in ("supply_form", "secondary_form", "demand_form"))]


def build_mineral(name, row, rows, tg, mine_shares, ree_fit, out) -> None:
    mx, my, slope = ree_fit
    base_src = f"USGS MCS 2026 via data/critical_minerals_2025.csv (row {name}); {row['source'][:160]}"
    nd = NO_DATA.get(name)
    two = TWO_STAGE.get(name)
    # ---- quantity unit and world output ---------------------------------
    if nd:
        qunit, world, wconf, wsrc = nd["unit"], nd["world"], "assumed", nd["note"]
    else:
        if name in PROCESSING_DATA or (not row["world_mine_production"] and row["world_processing_production"]):
            unit, world = row["processing_unit"], num(row["world_processing_production"])
        else:
            unit, world = row["mine_unit"], num(row["world_mine_production"])
        if name in REE:
            world = sum(REE_OUTPUT[name].values())
        qunit = unit
        wconf = "estimated" if name in REE else "derived" if row["confidence"] != "reported" else "reported"
        wsrc = base_src + (f"; element share {ree_world_share(name):.4f} of the rare-earth group total (each country's TREO times its deposit types' composition, build/build_case.py ree_element_output)" if name in REE else "")
    scale = 1.0
    if qunit.startswith("kt "):
        qunit, scale = "t " + qunit[3:], 1000.0
    if name in KG_MINERALS and qunit.startswith("t "):
        qunit, scale = "kg " + qunit[2:], scale * 1000.0
    world *= scale
    per_kg = qunit.startswith("kg ")
    price_unit = "USD/kg" if per_kg else "USD/t"
    # ---- price: the sourced content price where the targets give one -----
    praw = num(row["price_usd_per_t_of_quoted_form"])
    ptg, pox = tg.get("price_usd_per_t_content"), tg.get("price")
    oxide_basis = any(k in qunit for k in ("REO", "Sc2O3"))
    if nd and "price" in nd:
        # catalogue prices of gram ampoules are no bulk price (data/SOURCES.md)
        price, pconf, psrc = nd["price"], "assumed", nd["note"]
    elif oxide_basis and pox and pox["value"] and pox["unit"] == "USD/kg":
        price, pconf, psrc = pox["value"] * 1000.0, pox["confidence"] if pox["confidence"] in LABELS else "derived", f"{pox['value']:g} USD/kg oxide ({pox['stage'][:60]}): {pox['source'][:140]}"
    elif ptg and ptg["value"] and not oxide_basis and name not in GROSS_WEIGHT:
        price, pconf, psrc = ptg["value"], ptg["confidence"] if ptg["confidence"] in LABELS else "derived", f"{ptg['source'][:160]} ({ptg['note'][:80]})"
    elif praw is None and nd and "price" in nd:
        price, pconf, psrc = nd["price"], "assumed", nd["note"]
    elif praw is None and name in REE:
        price = math.exp(my + slope * (math.log(REE_SHARE[name]) - mx))
        pconf, psrc = "estimated", f"no price in the data set: log price regressed on log abundance share over the priced rare-earth oxides (slope {slope:.2f}), build/build_case.py"
    else:
        f, fnote = PRICE_FACTOR.get(name, (1.0, ""))
        price = praw * f
        pconf = "reported" if row["confidence"] == "reported" and not fnote else "derived"
        psrc = f"{row['price']} {row['price_unit']} ({row['price_basis'][:80]}), USGS MCS 2026" + (f"; {fnote}" if fnote else "")
    if per_kg:
        price /= 1000.0
    # ---- regional production shares --------------------------------------
    if nd and "shares" in nd:
        prod_sh, sh_src, sh_conf = nd["shares"], nd["note"], "assumed"
    elif nd:
        prod_sh, sh_src, sh_conf = mine_shares[nd["shares_like"]][0], f"spread like {nd['shares_like']} ({nd['note']})", "assumed"
    else:
        prod_sh, sh_src, sh_conf = mine_shares[name]
    stages = ["mine", "refined"] if two else ["refined"]
    theta = two["theta"] if two else 1.0
    refined_world = world / theta if two else world
    if two:
        if two.get("refining") is None:
            ref_sh = dict(prod_sh)
            feed_sh = mine_shares[two["feed"]][0]
            ref_src, ref_conf = two["src"], "derived"
        elif name in REE:
            ref_sh = dict(REE_REFINED[name])
            ref_src, ref_conf = two["src"] + " (of TREO); the rest spread like mine output (assumed); each refiner outside China separates its own ore's composition, China the rest of each element (build_case.py ree_refined_shares)", "estimated"
        else:
            like = prod_sh if "feed" not in two else mine_shares[two["feed"]][0]
            ref_sh = spread(two["refining"], like)
            ref_src, ref_conf = two["src"] + "; the rest spread like mine output (assumed)", "estimated"
            feed_sh = mine_shares[two["feed"]][0] if "feed" in two else prod_sh
        mine_sh = dict(feed_sh if "feed" in two else prod_sh)
        if name in US_NONE:
            mine_sh.pop("USA", None)
    else:
        ref_sh, ref_src, ref_conf = dict(prod_sh), sh_src, sh_conf
        mine_sh = None

    # ---- the USA at the last stage: consumption, NIR, secondary ----------
    us = us_figures(name, row, tg, qunit, per_kg, world, refined_world, ref_sh, nd, bool(two))
    D_us, H_us, sec_us = us["consumption"], us["domestic"], us["secondary"]
    prim_us = max(H_us - sec_us, 0.0)
    # primary output at the last stage: the USA as calibrated, China at its
    # observed share of world output, the rest of the world in proportion
    # to its shares
    metal_basis = name in PROCESSING_DATA or (not row["world_mine_production"] and bool(row["world_processing_production"]))
    china_last = china_target(tg, "china_refinery_share_pct" if two or metal_basis else "china_mine_share_pct", (two or {}).get("refining") or {})
    ref_prod = pinned_output(refined_world, ref_sh, {"USA": prim_us, **({"CHN": refined_world * china_last[0] / 100.0} if china_last else {})})
    sec = {r: 0.0 for r in REGIONS}
    sec["USA"] = sec_us
    supply_total = refined_world + sec_us
    rest = supply_total - D_us
    key_tot = sum(CONSUMPTION_KEY.values())
    demand = {"USA": D_us, **{r: rest * CONSUMPTION_KEY[r] / key_tot for r in CONSUMPTION_KEY}}

    tau = TAU_HIGH if price * (1000.0 if per_kg else 1.0) >= 5000 else TAU_BULK if price * (1000.0 if per_kg else 1.0) < 1000 else TAU_MID
    p_ref = price / (two["ratio"] if two and two["price_stage"] == "mine" else 1.0)
    refined_conf = weakest(pconf, "assumed") if two and two["price_stage"] == "mine" else pconf
    ed, es = DEFAULT_DEMAND_E, DEFAULT_SUPPLY_E
    e_src, e_conf = "assumed: minerals' demand and supply are typically price inelastic (Bogmans et al. 2024, IMF WP/24/77, finding only; data/elasticities.csv); central value with a range", "assumed"
    if name in STUDY_ELASTICITIES:
        d_, s_, cit = STUDY_ELASTICITIES[name]
        ed, es, e_src, e_conf = (d_, d_ * 2, d_ / 2), (s_, s_ / 2, s_ * 2), cit, "estimated"
    A = out["assumptions"]
    A.append(dict(mineral=name, parameter="demand_elasticity", central=ed[0], low=ed[1], high=ed[2], confidence=e_conf, source=e_src + "; horizon: one year"))
    A.append(dict(mineral=name, parameter="supply_elasticity", central=es[0], low=es[1], high=es[2], confidence=e_conf, source=e_src + "; horizon: one year"))
    if sec_us > 0:
        A.append(dict(mineral=name, parameter="secondary_elasticity", central=SECONDARY_E[0], low=SECONDARY_E[1], high=SECONDARY_E[2], confidence="assumed", source="old-scrap supply responds less to price than primary output (assumed); horizon: one year"))
    A.append(dict(mineral=name, parameter="trade_cost_half_gap", central=tau, low=tau / 2, high=tau * 2, confidence="assumed", source="price gap between exporters, importers and the USA as a fraction of the price: 2% high-value, 4% mid, 6% bulk (assumed)"))
    out["minerals"].append(dict(name=name, stages=";".join(stages), quantity_unit=qunit, price_unit=price_unit, default_transport_cost="none",
                                source=wsrc[:400], confidence=weakest(wconf, pconf), notes=f"world output {world:.6g} {qunit} ({wconf}); reference price {price:.6g} {price_unit} ({pconf}: {psrc[:200]}); US NIR as published: {us['nir_raw'] or 'n/a'}; {us['note']}"))

    # ---- last stage: flows, prices, curves ---------------------------------
    net = {r: ref_prod[r] + sec[r] - demand[r] for r in REGIONS}
    shares, imp_src, imp_conf = import_shares(tg["imports"]) if tg["imports"] else ({}, "", "assumed")
    gross = us_net_imports(row["mcs_chapter"] or name, qunit) if us["note"].startswith("US net exporter") else None
    flows, price_at = trade_pattern(net, p_ref, tau, shares, us_gross=gross[2] if gross else None)
    for r in REGIONS:
        node = dict(mineral=name, stage="refined", region=r)
        pr = price_at[r]
        if not two and ref_prod[r] > 0:
            conf = us["conf"] if r == "USA" else sh_conf
            node.update(supply_form="linear", supply_price=f"{pr:.10g}", supply_quantity=f"{ref_prod[r]:.10g}", supply_elasticity=es[0], supply_confidence=weakest(conf, pconf, e_conf),
                        supply_source=(f"quantity: {us['src'][:150]}" if r == "USA" else f"quantity: {sh_src[:150]}") + f"; price: {psrc[:120]}; elasticity: {e_src[:80]}")
        if sec[r] > 0:
            node.update(secondary_form="linear", secondary_price=f"{pr:.10g}", secondary_quantity=f"{sec[r]:.10g}", secondary_elasticity=SECONDARY_E[0], secondary_confidence=weakest(us["sec_conf"], pconf, "assumed"),
                        secondary_source=f"quantity: {us['sec_src'][:180]}; price: {psrc[:100]}; elasticity {SECONDARY_E[0]} (assumed)")
        if demand[r] > 0:
            dconf = us["d_conf"] if r == "USA" else "assumed"
            node.update(demand_form="linear", demand_price=f"{pr:.10g}", demand_quantity=f"{demand[r]:.10g}", demand_elasticity=ed[0], demand_confidence=weakest(dconf, refined_conf, e_conf),
                        demand_source=(f"quantity: {us['d_src'][:150]}" if r == "USA" else "quantity: world output minus US consumption, shared by the regional consumption key (assumed, build_case.py CONSUMPTION_KEY)") + f"; price: {psrc[:100]}; elasticity: {e_src[:80]}")
        if len(node) > 3:
            out["nodes"].append(node)
    write_routes(out["routes"], name, "refined", flows, price_at, tau * p_ref, "US imports by origin: " + (imp_src[:120] if shares else "no USGS import-source line; proportional to surpluses (assumed)"))
    if two and name in BYPRODUCT:
        # a by-product of a host nobody runs for it: the mine stage is the
        # content the host's throughput makes available where the host
        # runs, not traded (it is in the host's process stream), at a low
        # value up to what is there (a step curve: the rest stays in the
        # stream, as most gallium stays in red mud)
        bp = BYPRODUCT[name]
        avail = byproduct_content(name, ref_prod)
        p_mine = p_ref * two["ratio"]
        mprice = {r: p_mine for r in REGIONS}
        for r in REGIONS:
            if avail[r][0] > 0:
                out["nodes"].append(dict(mineral=name, stage="mine", region=r, supply_form="steps", supply_blocks=f"{avail[r][0]:.10g}:{p_mine:.10g}",
                                         supply_confidence=weakest(avail[r][2], "assumed"),
                                         supply_source=f"quantity: {avail[r][1][:300]}; price: value of the content to the host ({two['ratio']:.3g} x the {name} price, assumed)"))
    if two and name not in BYPRODUCT:
        china_mine = china_target(tg, "china_mine_share_pct", {})
        # US_NONE: the USA has none, the rest keep the world total
        mine_prod = pinned_output(world, mine_sh, {"USA": world * mine_sh.get("USA", 0.0) / 100.0, **({"CHN": world * china_mine[0] / 100.0} if china_mine else {})})
        use = {r: theta * ref_prod[r] for r in REGIONS}
        p_mine = p_ref * two["ratio"]
        mflows, mprice = trade_pattern({r: mine_prod[r] - use[r] for r in REGIONS}, p_mine, tau, {}, centre=True)
        for r in REGIONS:
            if mine_prod[r] > 0:
                out["nodes"].append(dict(mineral=name, stage="mine", region=r, supply_form="linear", supply_price=f"{mprice[r]:.10g}", supply_quantity=f"{mine_prod[r]:.10g}", supply_elasticity=es[0],
                                         supply_confidence=weakest(sh_conf, pconf, "assumed", e_conf),
                                         supply_source=f"quantity: {sh_src[:150]}; price: mine/refined price ratio {two['ratio']:.3g} (assumed) on {psrc[:100]}; elasticity: {e_src[:60]}"))
        write_routes(out["routes"], name, "mine", mflows, mprice, tau * p_mine, "proportional to surpluses (assumed)")
    if two:
        for r in REGIONS:
            margin = price_at[r] - theta * mprice[r]
            if margin <= 0:
                raise SystemExit(f"{name}/{r}: refining margin {margin:g} <= 0; lower the mine/refined price ratio")
            known_cap = BYPRODUCT.get(name, {}).get("capacity", {}).get(r)
            if ref_prod[r] > 0:
                slope_ = margin / (PROCESSING_E[0] * ref_prod[r])
                cap, cap_src = (known_cap[0], f"capacity {known_cap[1]}") if known_cap else (1.25 * ref_prod[r], "capacity 1.25 x output (80% utilisation, assumed)")
                out["processing"].append(dict(mineral=name, region=r, **{"from": "mine", "to": "refined"}, theta=theta, cost_form="linear", cost_intercept=f"{margin - slope_ * ref_prod[r]:.10g}", cost_slope=f"{slope_:.10g}",
                                              capacity=f"{cap:.10g}", source=(f"output: {us['src'][:200]}" if r == "USA" else f"output: {ref_src[:200]}") + f"; margin = refined price - theta x mine price; {cap_src}; margin elasticity 1 (assumed)",
                                              confidence=weakest(ref_conf, "assumed")))
            elif name in BYPRODUCT and avail[r][0] <= 0:
                continue  # no host here: no content to recover, no latent plant
            elif r in FLOOR_CLUB and demand[r] > 0:
                # latent refining: dearer than the local margin, so idle at
                # baseline prices; at most half the region's own use, so a
                # floor cannot turn an importer into an exporter of a good it
                # does not make
                yl = min(0.02 * refined_world, 0.5 * demand[r] / 3)
                if 3 * yl < 0.005 * refined_world:
                    continue  # a plant for a sliver of world output is no plant (and a badly scaled curve)
                out["processing"].append(dict(mineral=name, region=r, **{"from": "mine", "to": "refined"}, theta=theta, cost_form="linear", cost_intercept=f"{1.25 * margin:.10g}", cost_slope=f"{margin / yl:.10g}",
                                              capacity=f"{3 * yl:.10g}", source="latent refining capacity (assumed): cost 25% above the local margin, up to the smaller of 6% of world output and half the region's consumption (none under 0.5% of world output); idle at baseline prices", confidence="assumed"))
        A.append(dict(mineral=name, parameter="mine_to_refined_price_ratio", central=two["ratio"], low=two["ratio"] * 0.8, high=min(0.95 / theta, two["ratio"] * 1.2), confidence="assumed", source="concentrate payable / feed value as a share of the refined price (assumed)"))
        A.append(dict(mineral=name, parameter="theta", central=theta, low=1.0, high=theta * 1.1, confidence="assumed", source="mine units per refined unit: recovery losses (assumed)"))

    # ---- calibration targets in the case's terms ---------------------------
    C = out["calibration"]
    if us["nir_band"] is not None:
        lo, hi, obs = us["nir_band"]
        C.append(dict(mineral=name, indicator="net_import_reliance_pct", stage="refined", region="USA", origin="", observed=_f(obs), lower=_f(lo), upper=_f(hi), unit="percent", source=us["nir_src"][:300], confidence=us["nir_conf"], note=f"USGS: {us['nir_raw']}"))
    for r, s in sorted(shares.items()):
        if r.startswith("_") or r == "USA":
            continue
        C.append(dict(mineral=name, indicator="import_share_pct", stage="refined", region="USA", origin=r, observed=_f(s), lower=_f(max(s - SHARE_BAND, 0.0)), upper=_f(min(s + SHARE_BAND, 100.0)), unit="percent", source=imp_src[:300], confidence=imp_conf, note="USGS origin countries mapped to regions (COUNTRY_REGION); 'Other' spread over unnamed regions"))
    for ind in ("china_mine_share_pct", "china_refinery_share_pct"):
        t = tg.get(ind)
        if t is None or t["value"] is None:
            continue
        if two:
            stage = "mine" if ind == "china_mine_share_pct" else "refined"
        elif (ind == "china_refinery_share_pct") == metal_basis:
            stage = "refined"  # the one stage holds output on this basis
        else:
            continue
        v, b = t["value"], t["bound"]
        lo, hi = (v, 100.0) if b == ">" else (0.0, v) if b in ("<", "<=") else (v - CHINA_BAND, v + CHINA_BAND)
        C.append(dict(mineral=name, indicator="production_share_pct", stage=stage, region="CHN", origin="", observed=_f(v), lower=_f(lo), upper=_f(hi), unit="percent", source=t["source"][:300], confidence=t["confidence"], note=f"{ind} (USGS/IEA: {'' if b in ('=', '~', '') else b}{v:g}); share of world primary output"))
    if pconf in ("reported", "derived"):
        if not two or two["price_stage"] == "refined":
            pstage, pregion, pnote = "refined", "USA", "sourced reference price at the US node"
        else:
            # a mine-stage price is an import price (CIF, unit value of imports)
            pstage, pnote = "mine", "sourced import price at a mine-stage importer"
            pregion = next(r for r in ("USA", "CHN", "EU", "JPK", *REGIONS) if mprice[r] == max(mprice.values()))
        C.append(dict(mineral=name, indicator="price", stage=pstage, region=pregion, origin="", observed=_f(price), lower=_f(price * (1 - PRICE_BAND)), upper=_f(price * (1 + PRICE_BAND)), unit=price_unit, source=psrc[:300], confidence=pconf, note=pnote))
    if us["d_conf"] == "reported":
        C.append(dict(mineral=name, indicator="apparent_consumption", stage="refined", region="USA", origin="", observed=_f(D_us), lower=_f(D_us * 0.98), upper=_f(D_us * 1.02), unit=qunit, source=us["d_src"][:300], confidence="reported", note="USGS apparent consumption in the model's unit"))
    if us["sec_conf"] == "reported" and sec_us > 0:
        C.append(dict(mineral=name, indicator="secondary_production", stage="refined", region="USA", origin="", observed=_f(us["sec_obs"]), lower=_f(us["sec_obs"] * 0.95), upper=_f(us["sec_obs"] * 1.05), unit=qunit, source=us["sec_src"][:300], confidence="reported", note="USGS secondary production (old + new scrap where given)"))


def china_target(tg: dict, key: str, assumed: dict) -> tuple[float, str] | None:
    """China's share (%) of world output to pin: the observed figure, or
    for a lower bound (">75") the assumed share if it respects the bound,
    else one point above it; None for an upper bound or no figure."""
    t = tg.get(key)
    if t is None or t["value"] is None or t["bound"] in ("<", "<="):
        return None
    if t["bound"] == ">":
        a = assumed.get("CHN")
        return (a if a is not None and a > t["value"] else t["value"] + 1.0), t["source"]
    return t["value"], t["source"]


def pinned_output(world: float, shares: dict[str, float], pinned: dict[str, float]) -> dict[str, float]:
    """Output by region: ``pinned`` regions at their figures, the rest of
    ``world`` shared by the other regions in proportion to ``shares``."""
    rest = world - sum(pinned.values())
    if rest < -1e-9 * world:
        raise SystemExit(f"pinned output {pinned} exceeds the world total {world:g}")
    pool = {r: v for r, v in shares.items() if r not in pinned and v > 0}
    tot = sum(pool.values())
    out = {r: 0.0 for r in REGIONS}
    out.update(pinned)
    if tot <= 0:
        if rest > 1e-9 * world:
            out["ROW"] = out.get("ROW", 0.0) + rest
        return out
    for r, v in pool.items():
        out[r] = max(rest, 0.0) * v / tot
    return out


def _f(x: float) -> str:
    return f"{x:.10g}"


#: US consumption of rare-earth compounds and metals (t REO, MCS 2026): the
#: group, and the heavy rare earths (Tb, Dy, Ho, Er, Tm, Yb, Lu)
REE_GROUP_USE = {
    "all": (27000.0, "USGS MCS 2026 Rare Earths: US apparent consumption of compounds and metals 27,000 t REO (2025e)"),
    "heavy": (100.0, "USGS MCS 2026 Rare Earths (Heavy): US consumption of heavy-rare-earth compounds and metals 100 t REO (2025e, = imports)"),
}


def us_net_imports(chapter: str, qunit: str) -> tuple[float, str, float] | None:
    """US imports for consumption minus exports in 2025 from the MCS 2026
    data release (every import and export line of the chapter's US
    salient statistics: ores, metal and other forms, in content), in the
    model's unit, the source, and the gross
    imports; None where either is missing."""
    path = DATA / "usgs_mcs2026_commodities_data.csv"
    if not path.exists():
        return None
    got: dict[str, float] = defaultdict(float)
    names = {chapter.strip().lower(), chapter.strip().lower() + " metal"}
    with open(path, newline="", encoding="latin-1") as f:
        for r in csv.DictReader(f):
            if r["MCS chapter"].strip().lower() not in names or r["Year"] != "2025" or not r["Section"].startswith("Salient"):
                continue
            kind = r["Statistics"].strip()
            if kind not in ("Import", "Export"):
                continue
            # every form the chapter lists (ores, metal, other forms), in content
            v = num(r["Value"])
            fct = unit_factor(r["Unit"] + " " + r.get("Other notes", ""), qunit)
            if v is None or fct is None:
                return None
            got[kind] += v * fct
    if len(got) < 2:
        return None
    return got["Import"] - got["Export"], f"MCS 2026 data release: imports {got['Import']:.6g} - exports {got['Export']:.6g} {qunit} (2025e)", got["Import"]


def us_figures(name, row, tg, qunit, per_kg, world, refined_world, ref_sh, nd, two_stage) -> dict:
    """The USA at the model's last stage: consumption, domestic output
    (primary + secondary) consistent with the USGS net import reliance,
    secondary output, and the band the model's NIR must fall in."""
    res = dict(note="", conf="derived", src="", d_conf="assumed", d_src="", sec_conf="assumed", sec_src="", sec_obs=0.0, nir_band=None, nir_src="", nir_conf="reported", nir_raw=row["us_net_import_reliance_raw"])
    # consumption
    ac_t = tg.get("us_apparent_consumption")
    f = unit_factor(ac_t["unit"], qunit) if ac_t and ac_t["value"] is not None and ac_t["bound"] in ("=", "~", "") else None
    cr = 1.0 / CR_IN_CHROMITE if name == "chromium" else 1.0
    D = None
    if f is not None and (name not in REE or name == "yttrium"):
        D, res["d_conf"] = ac_t["value"] * f * cr, ac_t["confidence"] if ac_t["confidence"] in LABELS else "derived"
        res["d_src"] = f"USGS apparent consumption {ac_t['value']:g} {ac_t['unit']} ({ac_t['stage'][:60]})" + (f" / {CR_IN_CHROMITE} (Cr content -> chromite, assumed)" if cr != 1 else "") + f": {ac_t['source'][:120]}"
        if cr != 1:
            res["d_conf"] = "derived"
    elif name in REE and name != "yttrium":
        heavy = name in HEAVY_REE
        grp = REE_GROUP_USE["heavy" if heavy else "all"]
        pool = sum(ree_world_share(m) for m in (HEAVY_REE if heavy else REE))
        D = grp[0] * ree_world_share(name) / pool
        res["d_conf"], res["d_src"] = "derived", f"{grp[1]} x element share {ree_world_share(name) / pool:.4f} of the group's world mine output (build_case.py ree_element_output)"
    # net import reliance: the figure, its USGS flag and the band
    t = tg.get("us_nir_pct")
    raw = row["us_net_import_reliance_raw"] or ""
    if name in HEAVY_REE or name == "yttrium":
        nir, bound, res["nir_src"] = 100.0, "=", "USGS MCS 2026 Rare Earths (Heavy) and Yttrium chapters: 100% (2021-2025)"
    elif t is not None and (t["value"] is not None or t["bound"] == "E"):
        nir, bound, res["nir_src"], res["nir_conf"] = t["value"], t["bound"] or "=", t["source"], t["confidence"] if t["confidence"] in LABELS else "reported"
        res["nir_raw"] = (t["bound"] if t["bound"] not in ("=", "") else "") + (f"{t['value']:g}" if t["value"] is not None else "")
    else:
        v = num(raw)
        bound = "E" if raw.startswith("E") else ">" if raw.startswith(">") else "<" if raw.startswith("<") else "=" if v is not None else ""
        nir, res["nir_src"] = v, f"USGS MCS 2026 via data/critical_minerals_2025.csv (us_net_import_reliance_raw = {raw})"
    # secondary output: old scrap where USGS gives it apart (new scrap is
    # largely recirculated within consumption, and USGS leaves it out of
    # net import reliance), else the secondary total
    sec_obs, sec_parts = 0.0, []
    for key in ("us_secondary_old_scrap", "us_secondary_production"):
        s_ = tg.get(key)
        fs = unit_factor(s_["unit"], qunit) if s_ and s_["value"] is not None else None
        if fs is not None:
            sec_obs, sec_parts = s_["value"] * fs * (1.0 / CR_IN_CHROMITE if name == "chromium" else 1.0), [s_]
            break
    res["sec_obs"] = sec_obs
    if sec_parts:
        s_ = sec_parts[0]
        res["sec_conf"] = "derived" if name == "chromium" or s_["confidence"] not in LABELS else s_["confidence"]
        res["sec_src"] = f"USGS {s_['stage'][:70]}: {s_['value']:g} {s_['unit']}" + (f" / {CR_IN_CHROMITE}" if name == "chromium" else "") + f"; {s_['source'][:120]}"
    # observed primary output at this stage (to size a withheld consumption)
    p = tg.get("us_primary_production")
    fp = unit_factor(p["unit"], qunit) if p and p["value"] is not None and p["bound"] in ("=", "~", "") else None
    prim_obs = p["value"] * fp if fp is not None else None
    if name in US_NONE:
        prim_obs = 0.0
    if D is None:
        usprod = prim_obs if prim_obs is not None else refined_world * ref_sh.get("USA", 0.0) / 100.0
        usprod += sec_obs
        trade = us_net_imports(row["mcs_chapter"] or name, qunit)
        if trade is not None and nir is not None and bound in ("=", ">", "<", "~") and 0 < _inside(nir, bound):
            D = trade[0] / (_inside(nir, bound) / 100.0)
            res["d_conf"], res["d_src"] = "derived", f"US consumption = net imports / NIR ({trade[1]}; NIR {raw}, the middle of a bound): USGS withholds apparent consumption"
        elif nir is not None and bound in ("=", ">", "<") and nir < 100 and usprod > 0:
            D = usprod / (1.0 - _inside(nir, bound) / 100.0)
            res["d_conf"], res["d_src"] = "estimated", f"US consumption = US output / (1 - NIR): USGS withholds apparent consumption (NIR {raw})"
        else:
            D = 0.08 * refined_world
            res["d_conf"], res["d_src"] = "assumed", "US consumption not published: 8% of world output assumed"
    D = min(D, 0.9 * (refined_world + sec_obs))
    # domestic output consistent with the NIR target
    if bound == "E":
        out_obs = (prim_obs or 0.0) + sec_obs
        H = out_obs if out_obs > D else 1.2 * D
        res["nir_band"] = (-math.inf, 0.0, math.nan)
        res["note"] = "US net exporter (USGS 'E')" + ("" if out_obs > D else "; output 1.2 x consumption assumed")
    elif nir is not None and bound in ("=", ">", "<"):
        target = _inside(nir, bound)
        H = D * (1.0 - target / 100.0)
        if bound == "=":
            res["nir_band"] = (max(nir - NIR_BAND, -math.inf), min(nir + NIR_BAND, 100.0), nir)
        elif bound == ">":
            res["nir_band"] = (nir, 100.0, nir)
        else:
            res["nir_band"] = (0.0, nir, nir)
        res["note"] = f"US domestic output set so that NIR = {target:g}% (USGS {raw or bound + format(nir, 'g')})"
    else:
        # USGS publishes no NIR (hafnium "NA"; Ir, Rh, Ru): half of US use
        # imported (assumed), so that the US import sources have imports
        H = 0.5 * D
        res["note"] = "no USGS NIR: half of US consumption imported (assumed)"
    if two_stage or prim_obs is None or prim_obs + sec_obs <= 0:
        # the observed primary figure is mine output (or none): secondary first
        sec = min(sec_obs, H)
    else:
        # keep USGS's ratio of primary to secondary output at this stage
        sec = H * sec_obs / (prim_obs + sec_obs)
    if 0 < H - sec < 0.02 * H and sec > 0:
        # a sliver of primary output is the rounding of a published NIR,
        # not a plant: all domestic output is secondary
        sec = H
    res.update(consumption=D, domestic=H, secondary=sec, prim_obs=prim_obs)
    res["src"] = f"US primary output = consumption x (1 - NIR) - secondary output ({res['note']})"
    res["conf"] = "derived"
    return res


def _inside(nir: float, bound: str) -> float:
    """The NIR the baseline aims at: the figure, or the middle of a USGS bound."""
    if bound == ">":
        return (nir + 100.0) / 2.0
    if bound == "<":
        return nir / 2.0
    return nir


def trade_pattern(net: dict[str, float], p: float, tau: float, us_shares: dict[str, float], centre: bool = False, us_gross: float | None = None):
    """Baseline flows and regional prices at one stage from net positions
    (output − use per region, summing to zero).

    The USA's imports go to origins by ``us_shares`` (% by region;
    ``_other`` over the regions no named origin maps to): its net imports,
    or ``us_gross`` (gross imports) when the USA is a net exporter that
    still imports; every other surplus (the USA's exports included) goes
    to the regions short of the good in proportion to their shortfall.
    Prices climb along every used route.  The USA importing: exporters
    ``P(1 − 2τ)``, importers ``P(1 − τ)``, the USA the sourced ``P``.  The
    USA exporting: exporters ``P(1 − τ)`` (``P(1 − τ/2)`` for one that
    buys abroad to sell to the USA), the USA ``P``, importers ``P(1 + τ)``.
    ``centre``, for a stage whose sourced price is an import price and
    without US import sources: exporters ``P(1 − τ)``, importers ``P``."""
    flows: dict[tuple[str, str], float] = {}
    surplus = dict(net)
    tiny = 1e-9 * max(1.0, max(abs(v) for v in net.values()))
    M = -net["USA"]
    G = M if M > tiny else (us_gross or 0.0)
    if G > tiny and us_shares and not centre:
        sh = {r: s for r, s in us_shares.items() if r in net and r != "USA"}
        other = us_shares.get("_other", 0.0)
        if other > 0:
            pool = {r: max(net[r], 0.0) for r in net if r != "USA" and r not in sh}
            if sum(pool.values()) <= 0:
                pool = {"ROW": 1.0} if "ROW" not in sh else {r: 1.0 for r in sh}
            tot = sum(pool.values())
            for r, v in pool.items():
                sh[r] = sh.get(r, 0.0) + other * v / tot
        tot = sum(sh.values())
        for r, s in sh.items():
            x = G * s / tot
            if x > tiny:
                flows[(r, "USA")] = x
                surplus[r] -= x
        surplus["USA"] += G
    to_us = {o for (o, d) in flows if d == "USA"}
    pos = {r: v for r, v in surplus.items() if v > tiny}
    neg = {r: -v for r, v in surplus.items() if v < -tiny}
    if pos.get("USA", 0.0) > tiny and not centre:
        # US exports go to regions that do not also sell to the USA (no
        # route may run both ways round a price ladder)
        ok = {d: b for d, b in neg.items() if d not in to_us}
        if sum(ok.values()) < pos["USA"] - tiny:
            if us_gross:
                # too few buyers outside the USA's suppliers: import less
                fit = max(sum(ok.values()) + M, 0.0) * 0.999
                return trade_pattern(net, p, tau, us_shares, centre, fit if fit > us_gross * 0.01 else None)
            raise SystemExit(f"US exports {pos['USA']:g} exceed the shortfall of the regions that do not sell to the USA")
        tot = sum(ok.values())
        for d, b in ok.items():
            x = pos["USA"] * b / tot
            flows[("USA", d)] = x
            neg[d] -= x
        del pos["USA"]
        neg = {d: b for d, b in neg.items() if b > tiny}
    for (o, d), x in sparse_proportional(pos, neg).items():
        flows[(o, d)] = flows.get((o, d), 0.0) + x
    importers = {d for (_, d) in flows}
    price = {}
    for r in net:
        if centre:
            price[r] = p if r in importers else p * (1 - tau)
        elif M > tiny:
            price[r] = p if r == "USA" else p * (1 - tau) if r in importers else p * (1 - 2 * tau)
        elif r == "USA":
            price[r] = p
        elif r in to_us:
            price[r] = p * (1 - tau / 2) if r in importers else p * (1 - tau)
        else:
            price[r] = p * (1 + tau) if r in importers else p * (1 - tau)
    return flows, price


def sparse_proportional(pos: dict[str, float], neg: dict[str, float], keep: float = 0.05) -> dict[tuple[str, str], float]:
    """Flows from surpluses ``pos`` to shortfalls ``neg`` (equal totals):
    proportional (each exporter serves each importer in proportion to its
    shortfall), then the pairs carrying less than ``keep`` of the smaller
    of the two ends' totals dropped, except the largest exporter's and the
    largest importer's, and the rest scaled back to the totals (iterative
    proportional fitting).  Tiny flows would make tiny-flow routes' calibrated
    slopes (half the price gap over the flow) huge and the program badly
    conditioned; the largest exporter and importer keep every pair so that
    the totals can always be met."""
    if not pos or not neg:
        return {}
    S = sum(pos.values())
    top_o, top_d = max(pos, key=pos.get), max(neg, key=neg.get)
    x = {(o, d): a * b / S for o, a in pos.items() for d, b in neg.items()}
    x = {k: v for k, v in x.items() if k[0] == top_o or k[1] == top_d or v >= keep * min(pos[k[0]], neg[k[1]])}
    for _ in range(500):
        err = 0.0
        for o, a in pos.items():
            row = sum(v for k, v in x.items() if k[0] == o)
            err = max(err, abs(row - a) / a)
            for k in [k for k in x if k[0] == o]:
                x[k] *= a / row
        for d, b in neg.items():
            col = sum(v for k, v in x.items() if k[1] == d)
            err = max(err, abs(col - b) / b)
            for k in [k for k in x if k[1] == d]:
                x[k] *= b / col
        if err < 1e-13:
            break
    return x


def write_routes(routes_out, name, stage, flows, price, gap, used_note) -> None:
    """Every route of a stage: a used route's marginal cost is ``s·X``,
    zero at zero flow and the whole price gap at the baseline flow (the
    largest slope a non-negative unit cost allows, so the smoothest
    response: a route's flow moves by the same fraction as its margin);
    an unused one costs ``gap`` more than the price gap, at a constant
    unit cost."""
    for (o, d), x in flows.items():
        if price[d] - price[o] <= 0:
            raise SystemExit(f"{name}/{stage}: a used route {o}->{d} does not climb in price ({price[d] - price[o]:g})")
    # unused routes keep a constant unit cost: a rising cost on all of them
    # made HiGHS 3x slower on the bundled case (a Hessian entry per flow),
    # and a route that opens under a shock still opens from zero flow
    s_unused = 0.0
    for o in REGIONS:
        for d in REGIONS:
            if o == d:
                continue
            x = flows.get((o, d))
            if x:
                m = price[d] - price[o]
                routes_out.append(dict(mineral=name, stage=stage, origin=o, destination=d, cost="0", slope=f"{m / x:.10g}", confidence="derived",
                                       notes=f"used at baseline: {x:.10g} units; marginal cost s*X rises from zero to the price gap at that flow; flow: {used_note}"))
            else:
                t = max(price[d] - price[o], 0.0) + gap
                routes_out.append(dict(mineral=name, stage=stage, origin=o, destination=d, cost=f"{t:.10g}", slope=f"{s_unused:.10g}", confidence="assumed",
                                       notes="unused at baseline: the price gap plus tau*P, constant unit cost"))


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
