"""Calibration targets for the 54-mineral case (issue 18), as sourced USGS figures.

    python cases/critical-minerals-54/build/targets.py

Reads the copies in ``../data/`` (USGS MCS 2026 official data release and the
compiled tables derived from it; see ``data/SOURCES.md``, section
"Calibration-target inputs") and writes

* ``data/calibration_targets.csv``: one row per (mineral, indicator[, origin])
  with ``mineral, indicator, origin, value, unit, bound, stage, year, note,
  source, confidence``;
* ``data/country_region_candidates.csv``: every origin country of the chosen
  US import-source lines with the US import share it carries summed over
  minerals and the number of minerals it appears in.

No model code, no tuning: every number is copied from a data row (label
``reported``) or computed from such rows by a rule written here (``derived``,
the rule is in ``note``).  Labels: reported, derived, estimated, assumed.
USGS marks every 2025 figure as an estimate ("e"); these are still USGS
headline figures and keep the label ``reported`` (the note says "USGS 2025e").
A figure read in a third-party transcription of USGS text (input label
``secondary``) or quoted by a secondary outlet (IEA shares) is ``derived``.

``bound``: ``=`` exact figure; ``>`` lower bound (value = the bound, e.g.
NIR ">50"); ``<`` upper bound (e.g. NIR "<25", zirconium "<100,000");
``<=`` at most (China not listed separately: value = the share of "Other
countries", which includes it); ``E`` net exporter (value empty); ``~``
approximate / mid-point of a published range.

Rare earths: production, consumption and world output are published for the
rare-earth GROUP (t REO) and for the heavy-REE group, not per element.
Extensive figures (tonnages) are therefore given under the pseudo-minerals
``rare_earths`` and ``rare_earths_heavy`` and are NOT copied to the elements;
intensive figures (NIR, shares) are copied to the elements and labelled
``derived`` when they come from a group line.
"""

from __future__ import annotations

import ast
import re
import math
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent.parent
DATA = HERE / "data"
OUT_TARGETS = DATA / "calibration_targets.csv"
OUT_CANDIDATES = DATA / "country_region_candidates.csv"
BUILD_CASE = HERE / "build" / "build_case.py"

YEAR = 2025
COLUMNS = ["mineral", "indicator", "origin", "value", "unit", "bound", "stage", "year", "note", "source", "confidence"]

MINERALS = [
    "aluminum", "antimony", "barite", "beryllium", "bismuth", "cerium", "cesium", "chromium", "cobalt", "copper",
    "dysprosium", "erbium", "europium", "fluorspar", "gadolinium", "gallium", "germanium", "graphite", "hafnium",
    "holmium", "indium", "iridium", "lanthanum", "lead", "lithium", "lutetium", "magnesium", "manganese",
    "neodymium", "nickel", "niobium", "palladium", "platinum", "potash", "praseodymium", "rhenium", "rhodium",
    "rubidium", "ruthenium", "samarium", "scandium", "silicon", "silver", "tantalum", "terbium", "thulium", "tin",
    "titanium", "tungsten", "vanadium", "ytterbium", "yttrium", "zinc", "zirconium",
]
LIGHT_REE = ["lanthanum", "cerium", "praseodymium", "neodymium", "samarium", "europium", "gadolinium"]
HEAVY_REE = ["terbium", "dysprosium", "holmium", "erbium", "thulium", "ytterbium", "lutetium"]
REE = LIGHT_REE + HEAVY_REE + ["yttrium"]

RELEASE = ("USGS MCS 2026 data release MCS2026_Commodities_Data.csv (doi:10.5066/P1WKQ63T; copy "
           "data/usgs_mcs2026_commodities_data.csv, md5 36185ff3742087e1dd90c52fe634fe12)")


def _num(x) -> float | None:
    """A USGS cell as a number ("1,200" -> 1200.0); None for W, NA, blank, ranges."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    s = str(x).strip().replace(",", "")
    try:
        return float(s)
    except ValueError:
        return None


def fmt(v: float | None) -> str:
    if v is None:
        return ""
    if abs(v - round(v)) < 1e-9:
        return str(int(round(v)))
    return f"{v:.6g}" if abs(v) < 1e6 else f"{v:.0f}"


def conf(label: str) -> str:
    """Map an input label to the four labels of the case."""
    label = str(label).strip().lower()
    if label.startswith("reported (secondary"):
        return "derived"
    if label.startswith("estimated"):
        return "estimated"
    return {"reported": "reported", "secondary": "derived", "derived": "derived"}.get(label, "assumed")


class Table:
    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(self, mineral, indicator, value, unit, stage, source, confidence, note="", bound="=", origin="", year=YEAR):
        assert confidence in ("reported", "derived", "estimated", "assumed"), confidence
        if value is None and bound != "E":
            raise ValueError(f"no value for {mineral} {indicator}")
        self.rows.append(dict(mineral=mineral, indicator=indicator, origin=origin,
                              value=fmt(value) if value is not None else "", unit=unit, bound=bound,
                              stage=stage, year=year, note=note, source=source, confidence=confidence))

    def frame(self) -> pd.DataFrame:
        df = pd.DataFrame(self.rows, columns=COLUMNS)
        key = ["mineral", "indicator", "origin"]
        dup = df[df.duplicated(key, keep=False)]
        if len(dup):
            raise ValueError(f"duplicate target keys:\n{dup[key]}")
        return df


# ---------------------------------------------------------------- inputs

def load():
    sec = pd.read_csv(DATA / "us_secondary_supply.csv", dtype={"year": str})
    imp = pd.read_csv(DATA / "us_import_sources.csv")
    prices = pd.read_csv(DATA / "prices.csv", dtype={"year": str})
    cm = pd.read_csv(DATA / "critical_minerals_2025.csv")
    raw = pd.read_csv(DATA / "usgs_mcs2026_commodities_data.csv", encoding="cp1252", dtype=str)
    iea = pd.read_csv(DATA / "iea_refining_concentration_secondary.csv", dtype=str)
    stage = pd.read_csv(DATA / "us_consumption_stage.csv", dtype={"year": str})
    return sec, imp, prices, cm, raw, iea, stage


# ---------------------------------------------------------------- US net import reliance

#: mineral -> (series in us_secondary_supply.csv, mcs_label to pick, stage text, extra note)
NIR_PICK = {
    "aluminum": ("aluminum", "Net import reliance as a percentage of apparent consumption", "aluminum metal (Aluminum chapter)",
                 "Excludes traded scrap (USGS: exported scrap no longer in the calculation). Bauxite >75 and alumina 71 (Bauxite and Alumina chapter) are NOT used."),
    "silicon": ("silicon", "Net import reliance as a percentage of apparent consumption: Total", "ferrosilicon + silicon metal, total",
                "USGS total '>50'; split: ferrosilicon '<50', silicon metal '>50' (same table)."),
    "zinc": ("zinc", "Net import reliance as a percentage of apparent consumption: Refined zinc", "refined zinc",
             "Ores and concentrates: E (net exporter), not used."),
    "titanium": ("titanium", "Titanium sponge metal: Net import reliance as a percentage of apparent consumption", "titanium sponge metal",
                 "TiO2 pigment: E (net exporter), not used."),
    "zirconium": ("zirconium", "Net import reliance as a percentage of apparent consumption: Zirconium ores and concentrates", "zirconium ores and concentrates", ""),
    "palladium": ("palladium", "Net import reliance as a percentage of apparent consumption: Palladium", "palladium (excl. waste and scrap trade)", ""),
    "platinum": ("platinum", "Net import reliance as a percentage of apparent consumption: Platinum", "platinum (excl. waste and scrap trade)", ""),
    "nickel": ("nickel", "Net import reliance as a percentage of total apparent consumption", "total nickel incl. scrap",
               "USGS text: nearly 100% if scrap is excluded."),
    "gallium": ("gallium", None, "gallium metal, % of REPORTED consumption", "Excludes GaAs wafers (USGS)."),
    "germanium": ("germanium", None, "germanium metal + dioxide, % of ESTIMATED consumption", "Bound only; consumption not published after 2021."),
    "indium": ("indium", None, "refined indium, % of estimated consumption (= imports)", ""),
    "lead": ("lead", None, "refined lead metal", ""),
    "tin": ("tin", None, "refined tin", ""),
    "copper": ("copper", None, "refined copper", "USGS: refined imports - refined exports +/- stock changes."),
    "manganese": ("manganese", None, "manganese content, all forms", ""),
    "rhenium": ("rhenium", None, "rhenium (all forms)", ""),
    "cesium": ("cesium", None, "cesium (all forms)", "USGS text: 'The United States was 100% net import reliant for its cesium needs'."),
    "rubidium": ("rubidium", None, "rubidium (all forms)", "USGS text: 100% net import reliant."),
    "scandium": ("scandium", None, "scandium oxide and compounds", ""),
    "yttrium": ("yttrium", None, "yttrium compounds and metals", "MCS 2026 Yttrium chapter (not the rare-earth group 67)."),
}


def nir_targets(t: Table, sec: pd.DataFrame) -> None:
    s = sec[(sec.year == "2025") & (sec.item == "net import reliance % of consumption")]

    def put(mineral, row, stage, note, conf_override=None, extra=""):
        raw = str(row.value_raw).strip()
        if raw == "E":
            value, bound = None, "E"
        elif raw.startswith(">"):
            value, bound = _num(raw[1:]), ">"
        elif raw.startswith("<"):
            value, bound = _num(raw[1:]), "<"
        else:
            value, bound = _num(row.value), "="
        n = "; ".join(x for x in [f"USGS 2025e as printed: {raw}" if str(row.estimate_flag) == "e" else f"as printed: {raw}",
                                  f"MCS label: {row.mcs_label}", note, extra] if x)
        t.add(mineral, "us_nir_pct", value, "percent", stage, row.source,
              conf_override or conf(row.confidence), n, bound)

    done = set()
    for m in MINERALS:
        if m in REE:
            continue
        series, label, stage, note = NIR_PICK.get(m, (m, None, "", ""))
        rows = s[s.mineral == series]
        if label is not None:
            rows = rows[rows.mcs_label == label]
        if m == "aluminum":
            rows = rows[rows.mcs_label == "Net import reliance as a percentage of apparent consumption"]
        if rows.empty or (rows.value.isna().all() and not (rows.value_raw.astype(str) == "E").any()):
            continue
        if len(rows) > 1:
            raise ValueError(f"several NIR rows for {m}: {rows.mcs_label.tolist()}")
        put(m, rows.iloc[0], stage or "all forms, % of apparent consumption (same basis as us_apparent_consumption; USGS definition in source)", note)
        done.add(m)

    grp = s[(s.mineral == "rare_earths") & (s.mcs_label.str.contains("Compounds and metals"))].iloc[0]
    conc = s[(s.mineral == "rare_earths") & (s.mcs_label.str.contains("Mineral concentrates"))].iloc[0]
    heavy = s[s.mineral == "rare_earths_heavy"].iloc[0]
    ytt = s[s.mineral == "yttrium"].iloc[0]
    for m in LIGHT_REE:
        put(m, grp, "rare-earth compounds and metals (GROUP figure)", "Rare-earth group NIR (Rare Earths chapter), applied to the light REE",
            conf_override="derived", extra=f"mineral concentrates: {conc.value_raw} (net exporter)")
    for m in HEAVY_REE:
        put(m, heavy, "heavy-rare-earth compounds and metals (Tb, Dy, Ho, Er, Tm, Yb, Lu; group of the Rare Earths (Heavy) chapter)",
            "MCS 2026 Rare Earths (Heavy) chapter: 100 for 2021-2025; USGS: quantitative export data not available",
            conf_override="reported" if m != "thulium" else "derived",
            extra="" if m != "thulium" else "thulium is in the heavy-REE group of the chapter; no element line")
    put("yttrium", ytt, "yttrium compounds and metals", "MCS 2026 Yttrium chapter (not the rare-earth group 67)")
    # group rows for reference
    put("rare_earths", grp, "rare-earth compounds and metals (GROUP)", "group figure")
    put("rare_earths_heavy", heavy, "heavy-rare-earth compounds and metals (GROUP, excl. yttrium)", "group figure")


# ---------------------------------------------------------------- US production and consumption

def _sec_row(sec, mineral, item=None, label=None, year="2025"):
    r = sec[(sec.mineral == mineral) & (sec.year == year)]
    if item is not None:
        r = r[r["item"] == item]
    if label is not None:
        r = r[r.mcs_label == label]
    if len(r) > 1 and (r.confidence == "reported").sum() == 1:
        r = r[r.confidence == "reported"]  # the salient-table row wins over a text figure
    if len(r) != 1:
        raise ValueError(f"{mineral} {item} {label}: {len(r)} rows")
    return r.iloc[0]


#: (mineral, indicator, series mineral, item, mcs_label or None, stage)
US_ROWS = [
    ("aluminum", "us_primary_production", "aluminum", "primary production", None, "primary aluminum metal (smelter output)"),
    ("aluminum", "us_secondary_old_scrap", "aluminum", "secondary production (old scrap)", None, "aluminum metal recovered from old (post-consumer) scrap"),
    ("aluminum", "us_secondary_new_scrap", "aluminum", "secondary production (new scrap)", None, "aluminum metal recovered from new (manufacturing) scrap"),
    ("aluminum", "us_apparent_consumption", "aluminum", "apparent consumption", None, "aluminum metal: primary + old-scrap secondary + net imports (excl. traded scrap)"),
    ("antimony", "us_primary_production", "antimony", "primary production", None, "primary smelter output, Sb content (mine output W)"),
    ("antimony", "us_secondary_production", "antimony", "secondary production", None, "secondary smelter output, Sb content"),
    ("antimony", "us_apparent_consumption", "antimony", "apparent consumption", None, "Sb content: primary + old-scrap secondary + net imports of oxide and metal"),
    ("beryllium", "us_primary_production", "beryllium", "mine production", None, "mine shipments, Be content (ore)"),
    ("beryllium", "us_apparent_consumption", "beryllium", "apparent consumption", None, "Be content, all forms"),
    ("bismuth", "us_primary_production", "bismuth", "refinery production", None, "primary refinery output, Bi metal"),
    ("bismuth", "us_secondary_production", "bismuth", "secondary production", None, "Bi from scrap"),
    ("bismuth", "us_apparent_consumption", "bismuth", "apparent consumption", None, "Bi metal: secondary + net imports"),
    ("chromium", "us_primary_production", "chromium", "mine production", None, "mine (chromite), Cr content"),
    ("chromium", "us_secondary_production", "chromium", "secondary production", None, "Cr content of reported scrap receipts (stainless steel etc.)"),
    ("chromium", "us_apparent_consumption", "chromium", "apparent consumption", None, "Cr content, all forms incl. recycling"),
    ("cobalt", "us_primary_production", "cobalt", "mine production", None, "mine, Co content (no US refinery figure)"),
    ("cobalt", "us_secondary_production", "cobalt", "secondary production", None, "Co content of scrap"),
    ("cobalt", "us_apparent_consumption", "cobalt", "apparent consumption", None, "Co content, refined-cobalt basis incl. secondary (= secondary + net imports)"),
    ("copper", "us_mine_production", "copper", "mine production", None, "mine, Cu content (ore/concentrate)"),
    ("copper", "us_primary_production", "copper", "refinery production", None, "primary refined copper (refinery output from ore)"),
    ("copper", "us_secondary_production", "copper", "secondary production", None, "refined copper from scrap (refinery output)"),
    ("copper", "us_secondary_old_scrap", "copper", "secondary recovery (old scrap, all forms)", "Copper recovered from old (post-consumer) scrap", "Cu recovered from old scrap, all forms (refined, alloys, other)"),
    ("copper", "us_apparent_consumption", "copper", "apparent consumption", None, "primary refined copper + copper from old scrap + net refined imports"),
    ("fluorspar", "us_apparent_consumption", "fluorspar", "apparent consumption", None, "fluorspar, all grades (= imports - exports)"),
    ("gallium", "us_primary_production", "gallium", "primary production", None, "primary low-purity gallium, Ga content"),
    ("gallium", "us_apparent_consumption", "gallium", "reported consumption", None, "REPORTED consumption (no apparent consumption published), Ga content, incl. USGS estimates"),
    ("germanium", "us_primary_production", "germanium", "refinery production", None, "primary refinery output, Ge content"),
    ("graphite", "us_primary_production", "graphite", "mine production", None, "mine, natural graphite"),
    ("graphite", "us_apparent_consumption", "graphite", "apparent consumption", None, "NATURAL graphite only, gross weight (= imports - exports); excludes synthetic graphite and anode material"),
    ("indium", "us_primary_production", "indium", "refinery production", None, "primary refinery output, In metal"),
    ("indium", "us_apparent_consumption", "indium", "estimated consumption", None, "ESTIMATED consumption of refined indium (= imports)"),
    ("lead", "us_mine_production", "lead", "mine production", "Production: Mine, lead in concentrates", "mine, lead in concentrates"),
    ("lead", "us_primary_production", "lead", "refinery production", None, "primary refinery output, refined lead"),
    ("lead", "us_secondary_old_scrap", "lead", "secondary production (old scrap)", None, "secondary refined lead from old scrap"),
    ("lead", "us_apparent_consumption", "lead", "apparent consumption", None, "REFINED lead metal: secondary refined from old scrap + net refined imports"),
    ("magnesium", "us_primary_production", "magnesium", "primary production", None, "primary magnesium metal"),
    ("magnesium", "us_secondary_production", "magnesium", "secondary production (new and old scrap)", None, "secondary magnesium from new and old scrap"),
    ("manganese", "us_primary_production", "manganese", "mine production", None, "mine, gross weight"),
    ("manganese", "us_apparent_consumption", "manganese", "apparent consumption", None, "Mn CONTENT of all significant forms (ore, ferromanganese, silicomanganese, metal, MnO2, scrap)"),
    ("nickel", "us_primary_production", "nickel", "mine production", None, "mine, Ni content (refinery byproduct output W)"),
    ("nickel", "us_apparent_consumption", "nickel", "apparent consumption", "Consumption: Apparent, total", "TOTAL nickel, Ni content: apparent primary (90,000 t) + reported secondary purchased scrap"),
    ("niobium", "us_primary_production", "niobium", "mine production", None, "mine, Nb content"),
    ("niobium", "us_apparent_consumption", "niobium", "apparent consumption", None, "Nb content, all forms (ferroniobium, metal, oxide)"),
    ("palladium", "us_primary_production", "palladium", "mine production", None, "mine, Pd content"),
    ("palladium", "us_apparent_consumption", "palladium", "apparent consumption", None, "Pd: primary + secondary + net imports"),
    ("platinum", "us_primary_production", "platinum", "mine production", None, "mine, Pt content"),
    ("platinum", "us_apparent_consumption", "platinum", "apparent consumption", None, "Pt: primary + secondary + net imports"),
    ("potash", "us_primary_production", "potash", "mine production", None, "marketable potash, K2O equivalent"),
    ("potash", "us_apparent_consumption", "potash", "apparent consumption", None, "K2O equivalent (= production + imports - exports)"),
    ("rhenium", "us_primary_production", "rhenium", "primary production (byproduct of molybdenum concentrates; excludes secondary)", None, "primary Re recovered from molybdenum concentrates (80% recovery basis), Re content"),
    ("rhenium", "us_apparent_consumption", "rhenium", "apparent consumption", None, "Re content (= production + imports - exports)"),
    ("rubidium", "us_apparent_consumption", "rubidium", "consumption (other)", None, "domestic consumption rate, Rb (upper bound)"),
    ("silver", "us_mine_production", "silver", "mine production", None, "mine, Ag content"),
    ("silver", "us_primary_production", "silver", "refinery production", None, "primary refinery output, Ag"),
    ("silver", "us_secondary_production", "silver", "secondary production (new and old scrap)", "Production: Refinery: Secondary (new and old scrap)", "refined silver from new and old scrap"),
    ("silver", "us_apparent_consumption", "silver", "apparent consumption", None, "Ag: mine + secondary + net imports"),
    ("tantalum", "us_primary_production", "tantalum", "mine production", None, "mine, Ta content"),
    ("tantalum", "us_apparent_consumption", "tantalum", "apparent consumption", None, "Ta content, all forms"),
    ("tin", "us_secondary_old_scrap", "tin", "secondary production (old scrap)", None, "tin from old scrap, Sn content"),
    ("tin", "us_secondary_new_scrap", "tin", "secondary production (new scrap)", None, "tin from new scrap, Sn content"),
    ("tin", "us_apparent_consumption", "tin", "apparent consumption", None, "REFINED tin: old-scrap production + net refined imports"),
    ("titanium", "us_primary_production", "titanium", "primary production", None, "titanium sponge metal"),
    ("titanium", "us_apparent_consumption", "titanium", "apparent consumption", "Titanium sponge metal: Consumption, apparent", "titanium sponge metal (= production + imports - exports)"),
    ("tungsten", "us_primary_production", "tungsten", "mine production", None, "mine, W content"),
    ("vanadium", "us_primary_production", "vanadium", "primary production", None, "from primary ore and concentrate, V content"),
    ("vanadium", "us_secondary_production", "vanadium", "secondary production", None, "V from ash, residues and spent catalysts"),
    ("vanadium", "us_apparent_consumption", "vanadium", "apparent consumption", None, "V content: primary + secondary + net imports"),
    ("yttrium", "us_apparent_consumption", "yttrium", "apparent consumption", None, "yttrium compounds and metals, Y2O3 equivalent (= imports - exports)"),
    ("zinc", "us_mine_production", "zinc", "mine production", None, "mine, zinc in concentrates"),
    ("zinc", "us_primary_production", "zinc", "refinery production (primary + secondary combined)", None, "refined zinc metal, PRIMARY AND SECONDARY COMBINED (USGS does not split)"),
    ("zinc", "us_apparent_consumption", "zinc", "apparent consumption", None, "REFINED zinc metal (slab), Zn content"),
    ("zirconium", "us_primary_production", "zirconium", "mine production", None, "zirconium ores and concentrates, ZrO2 content (upper bound)"),
    ("zirconium", "us_apparent_consumption", "zirconium", "apparent consumption", None, "zirconium ores and concentrates, ZrO2 content (upper bound)"),
    ("rare_earths", "us_mine_production", "rare_earths", "mine production", None, "GROUP: rare-earth mineral concentrates, REO (excl. monazite)"),
    ("rare_earths", "us_primary_production", "rare_earths", "refinery production (compounds and metals)", None, "GROUP: rare-earth compounds and metals, REO"),
    ("rare_earths", "us_apparent_consumption", "rare_earths", "apparent consumption", None, "GROUP: rare-earth compounds and metals, REO (= production + imports - exports)"),
]

#: text figures (third-party transcription of MCS text; label derived)
US_TEXT_ROWS = [
    ("copper", "us_secondary_new_scrap", "secondary recovery (new scrap)", "Cu recovered from new (manufacturing) scrap, all forms"),
    ("magnesium", "us_secondary_old_scrap", "secondary production (old scrap)", "secondary magnesium from old scrap"),
    ("magnesium", "us_secondary_new_scrap", "secondary production (new scrap)", "secondary magnesium from new scrap"),
    ("palladium", "us_secondary_production", "secondary recovery (U.S. spent automobile catalytic converters)", "Pd recovered from US spent autocatalysts (old scrap) only"),
    ("platinum", "us_secondary_production", "secondary recovery (U.S. spent automobile catalytic converters)", "Pt recovered from US spent autocatalysts (old scrap) only"),
]


def us_targets(t: Table, sec: pd.DataFrame, release: pd.DataFrame, cstage: pd.DataFrame) -> None:
    cst = cstage[cstage.year == "2025"]
    for mineral, ind, series, item, label, stage in US_ROWS:
        r = _sec_row(sec, series, item, label)
        defn = cst[(cst.mineral == series) & (cst.measure == r.mcs_label)]
        if ind == "us_apparent_consumption" and len(defn) == 1:
            stage = defn.refers_to.iloc[0]  # curated definition (data/us_consumption_stage.csv)
        raw = str(r.value_raw).strip()
        if raw in ("W", "NA", "nan", ""):
            continue  # withheld / not available: no row
        bound = "="
        note = [f"as printed: {raw}", f"MCS label: {r.mcs_label}"]
        if str(r.estimate_flag) == "e":
            note.insert(0, "USGS 2025e")
        if raw in ("—", "-"):
            value = 0.0
            note.insert(0, "USGS: none ('—')")
        else:
            value = _num(r.value)
            if raw.startswith("<"):
                bound = "<"
            elif raw.startswith(">"):
                bound = ">"
        if mineral == "titanium" and ind == "us_primary_production":
            note.insert(0, "USGS prints 0 (no domestic sponge production in 2025)")
        if mineral == "gallium" and ind == "us_primary_production":
            note.insert(0, "no domestic primary low-purity gallium")
        if mineral == "nickel" and ind == "us_apparent_consumption":
            note.append("apparent primary consumption 90,000 t; NIR 41% is a share of this total")
        if mineral == "lead" and ind == "us_mine_production":
            note.append("recoverable lead 270 kt")
        t.add(mineral, ind, value, r.unit, stage, r.source, conf(r.confidence), "; ".join(note), bound)
    for mineral, ind, item, stage in US_TEXT_ROWS:
        r = _sec_row(sec, mineral, item)
        approx = any(w in str(r.value_raw).lower() for w in ("about", "approximately"))
        t.add(mineral, ind, _num(r.value), r.unit, stage, r.source, "derived",
              f"USGS 2025e; MCS text figure ({r.value_raw}) read in a third-party transcription of the MCS 2026 PDF",
              "~" if approx else "=")
    # totals of old + new scrap where USGS gives only the split (aluminum, tin)
    for mineral in ("aluminum", "tin"):
        old = _sec_row(sec, mineral, "secondary production (old scrap)", None if mineral != "tin" else "Production, secondary: Old scrap")
        new = _sec_row(sec, mineral, "secondary production (new scrap)", None if mineral != "tin" else "Production, secondary: New scrap")
        t.add(mineral, "us_secondary_production", _num(old.value) + _num(new.value), old.unit,
              "secondary production from old + new scrap",
              f"{old.source} ; {new.source}", "derived",
              f"sum of the USGS old-scrap ({old.value_raw}) and new-scrap ({new.value_raw}) rows, 2025e")
    # lead: only the old-scrap secondary refinery line exists
    lead = _sec_row(sec, "lead", "secondary production (old scrap)")
    t.add("lead", "us_secondary_production", _num(lead.value), lead.unit, "secondary refined lead (old scrap; USGS gives no new-scrap line)",
          lead.source, "reported", "USGS 2025e; same figure as us_secondary_old_scrap (USGS: nearly all secondary lead from old scrap)")
    # nickel: secondary supply = reported consumption of purchased scrap
    ni = _sec_row(sec, "nickel", "reported consumption (secondary / purchased scrap)")
    t.add("nickel", "us_secondary_production", _num(ni.value), ni.unit, "Ni content of purchased scrap consumed (secondary supply; USGS gives no secondary production line)",
          ni.source, "derived", "USGS 2025e 'Consumption: Reported, secondary, purchased scrap' used as secondary supply; MCS text: scrap ~60% of apparent consumption")
    # heavy REE group: consumption = imports (NIR 100, no export data) -- read from the release
    rel = release
    h = rel[(rel["MCS chapter"] == "RARE EARTHS (Heavy)") & (rel.Year == "2025") & (rel.Statistics_detail == "Imports, compounds and metals")].iloc[0]
    t.add("rare_earths_heavy", "us_apparent_consumption", _num(h.Value), "metric tons, rare-earth-oxide (REO) equivalent",
          "GROUP: heavy-rare-earth compounds and metals (Tb..Lu, excl. Y), REO",
          _release_source("RARE EARTHS (Heavy)", h.Section, h.Statistics_detail, "United States").replace("p.2 (world table)", "p.1 (salient statistics)"),
          "derived", f"= imports 2025e ({h.Value} t REO, estimated by USGS from shipping records); USGS: NIR 100%, quantitative export "
          "data not available, so apparent consumption = imports")


def derived_production(t: Table) -> None:
    """consumption x (1 - NIR) where NIR is exact, consumption given and no production row exists."""
    df = pd.DataFrame(t.rows)
    for m in MINERALS:
        have = df[(df.mineral == m)]
        if (have.indicator.isin(["us_primary_production", "us_mine_production"])).any():
            continue
        nir = have[have.indicator == "us_nir_pct"]
        ac = have[have.indicator == "us_apparent_consumption"]
        if nir.empty or ac.empty or nir.iloc[0].bound != "=" or ac.iloc[0].bound != "=":
            continue
        if m == "tin":
            continue  # C x (1-NIR) = old-scrap production for tin (USGS defines C from old scrap); no primary stage
        n, c = float(nir.iloc[0].value), float(ac.iloc[0].value)
        t.add(m, "us_primary_production", c * (1 - n / 100.0), ac.iloc[0].unit,
              f"derived at the consumption stage: {ac.iloc[0].stage}",
              f"{ac.iloc[0].source} ; {nir.iloc[0].source}", "derived",
              f"= apparent consumption {fmt(c)} x (1 - NIR {fmt(n)}%) (production = consumption - net imports); USGS publishes no production figure for 2025")


# ---------------------------------------------------------------- import sources

#: mineral -> (series, form in us_import_sources.csv, stage text, why)
IMPORT_PICK = {
    "aluminum": ("aluminum", "all forms (single list in MCS)", "all forms (Aluminum chapter list: metal, alloys, scrap, etc.)", "single list; bauxite and alumina lines not used"),
    "antimony": ("antimony", "Total metal and oxide", "metal and oxide, total", "total line"),
    "barite": ("barite", "all forms (single list in MCS)", "all forms", "single list"),
    "beryllium": ("beryllium", "all forms (single list in MCS)", "all forms, Be content", "single list"),
    "bismuth": ("bismuth", "all forms (single list in MCS)", "all forms", "single list"),
    "chromium": ("chromium", "Total imports", "all forms, total", "total line"),
    "cobalt": ("cobalt", "Metal, oxide, and salts", "metal, oxide and salts (refined)", "only line"),
    "copper": ("copper", "Refined copper", "refined copper", "no total line; refined = 88% of unmanufactured copper imports (MCS)"),
    "fluorspar": ("fluorspar", "all forms (single list in MCS)", "all forms", "single list"),
    "gallium": ("gallium", "Metal", "gallium metal", "only line"),
    "germanium": ("germanium", "Combined total", "metal + dioxide (Ge content), combined total", "total line"),
    "graphite": ("graphite", "all forms (single list in MCS)", "natural graphite, all forms", "single list (2021-24); 2025 anode-material text line not used"),
    "indium": ("indium", "all forms (single list in MCS)", "all forms", "single list"),
    "lead": ("lead", "Refined metal", "refined lead metal", "only line"),
    "lithium": ("lithium", "all forms (single list in MCS)", "all forms", "single list"),
    "magnesium": ("magnesium", "Combined total (includes magnesium content of alloys, metal, powder, scrap, sheet, and other)", "all forms, Mg content, combined total (incl. scrap)", "total line"),
    "manganese": ("manganese", "Manganese contained in principal manganese imports", "Mn content of principal imports (ore, FeMn, SiMn, MnO2, metal), total", "total line"),
    "nickel": ("nickel", "Primary nickel", "primary nickel (refined)", "no total line; primary (refined) form; scrap line not used"),
    "niobium": ("niobium", "Total imports", "all forms, total", "total line"),
    "palladium": ("palladium", "Palladium", "palladium (unwrought etc.)", "only line"),
    "platinum": ("platinum", "Platinum", "platinum (unwrought etc.)", "only line"),
    "potash": ("potash", "all forms (single list in MCS)", "all forms", "single list"),
    "rhenium": ("rhenium", "Total imports", "ammonium perrhenate + metal, total", "total line"),
    "scandium": ("scandium", "all forms (single list in MCS)", "scandium oxide", "single list (shipping records)"),
    "silicon": ("silicon", "Total", "ferrosilicon + silicon metal, total", "total line"),
    "silver": ("silver", "all forms (single list in MCS)", "all forms (Ag content of ores, concentrates, bullion, dore)", "single list"),
    "tantalum": ("tantalum", "Total", "all forms, total", "total line"),
    "tin": ("tin", "Refined tin", "refined tin", "no total line; refined form (scrap line not used)"),
    "titanium": ("titanium", "Titanium Sponge Metal", "titanium sponge metal", "no total line; sponge = model stage (pigment and concentrate lines not used)"),
    "tungsten": ("tungsten", "Ores, concentrates, and other forms", "all forms (ores, concentrates, APT, ferrotungsten, powders, metal)", "single line covering all forms"),
    "vanadium": ("vanadium", "Total", "ferrovanadium + V2O5, total", "total line"),
    "yttrium": ("yttrium", "all forms (single list in MCS)", "yttrium alloys, compounds and metals", "single list (shipping records)"),
    "zinc": ("zinc", "Combined total (includes gross weight of waste and scrap)", "all forms, combined total (incl. scrap gross weight)", "total line (refined-metal line nearly identical)"),
    "zirconium": ("zirconium", "Zirconium ores and concentrates", "zirconium ores and concentrates", "no total line; concentrates = model stage"),
    "hafnium": ("hafnium", "Hafnium, unwrought", "unwrought hafnium", "no total line; unwrought (refined metal) form"),
    "terbium": ("terbium", "Terbium compounds and metals", "terbium compounds and metals", "element line (heavy-REE chapter)"),
    "holmium": ("holmium", "Holmium compounds and metals", "holmium compounds and metals", "element line (heavy-REE chapter)"),
    "erbium": ("erbium", "Erbium compounds and metals", "erbium compounds and metals", "element line (heavy-REE chapter)"),
    "ytterbium": ("ytterbium", "Ytterbium compounds and metals", "ytterbium compounds and metals", "element line (heavy-REE chapter)"),
    "lutetium": ("lutetium", "Lutetium compounds and metals", "lutetium compounds and metals", "element line (heavy-REE chapter)"),
}
for _m in LIGHT_REE:
    IMPORT_PICK[_m] = ("rare_earths", "rare-earth compounds and metals", "rare-earth compounds and metals (GROUP line)", "GROUP line of the Rare Earths chapter applied to the element")


def import_targets(t: Table, imp: pd.DataFrame) -> pd.DataFrame:
    imp = imp[(imp.edition == "MCS 2026") & (imp.period == "2021–24")]
    chosen = []
    for m in MINERALS:
        if m not in IMPORT_PICK:
            continue
        series, form, stage, why = IMPORT_PICK[m]
        rows = imp[(imp.mineral == series) & (imp.form == form)]
        if rows.empty:
            raise ValueError(f"no import line {m} {form}")
        total = rows.share_pct.sum()
        for r in rows.itertuples():
            origin = "Other" if str(r.origin_country).lower() == "other" else r.origin_country
            note = [f"MCS 2026 Import Sources (2021-24), form '{form}'", why]
            if isinstance(r.note, str) and r.note.strip():
                note.append(r.note.strip()[:300])
            if abs(total - 100) > 0.5:
                note.append(f"shares of this line sum to {fmt(total)}")
            c = "derived" if series == "rare_earths" else conf(r.confidence)
            t.add(m, "us_import_share_pct", float(r.share_pct), "percent of US imports", stage, r.source, c,
                  "; ".join(note), "=", origin=origin, year="2021-2024")
            chosen.append(dict(mineral=m, origin=origin, share=float(r.share_pct), group_line=(series == "rare_earths")))
    return pd.DataFrame(chosen)


# ---------------------------------------------------------------- world production and China shares

def _release_source(ch, section, detail, countries):
    return f"{RELEASE} | chapter={ch} | section={section} | statistic='{detail}' | country={countries} | year=2025 | MCS 2026 chapter PDF p.2 (world table)"


#: mineral -> list of (indicator stage, chapter, detail, unit text, stage text)
WORLD = {
    "mine": {
        "aluminum": ("BAUXITE AND ALUMINA", "Bauxite, mine production", "thousand metric dry tons, bauxite", "mine: bauxite (dry gross weight); world total excludes US production"),
        "antimony": ("ANTIMONY", "Mine production", "metric tons, antimony content", "mine"),
        "barite": ("BARITE", "Mine production", "thousand metric tons, barite", "mine"),
        "beryllium": ("BERYLLIUM", "Mine production", "metric tons, beryllium content", "mine"),
        "chromium": ("CHROMIUM", "Mine production", "thousand metric tons, chromite gross weight", "mine: chromite (gross weight)"),
        "cobalt": ("COBALT", "Mine production", "metric tons, cobalt content", "mine"),
        "copper": ("COPPER", "Mine production", "thousand metric tons, copper content", "mine"),
        "fluorspar": ("FLUORSPAR", "Mine production", "thousand metric tons, fluorspar", "mine"),
        "graphite": ("GRAPHITE (NATURAL)", "Mine production", "metric tons, natural graphite", "mine"),
        "lead": ("LEAD", "Mine production", "thousand metric tons, lead content", "mine"),
        "lithium": ("LITHIUM", "Mine production", "metric tons, lithium content", "mine"),
        "magnesium": ("MAGNESIUM COMPOUNDS", "Mine production", "thousand metric tons, magnesite (gross weight per section title)", "mine: magnesite (Magnesium Compounds chapter)"),
        "manganese": ("MANGANESE", "Mine production", "thousand metric tons, manganese content", "mine"),
        "nickel": ("NICKEL", "Mine production", "metric tons, nickel content", "mine"),
        "niobium": ("NIOBIUM (COLUMBIUM)", "Mine production", "metric tons, niobium content", "mine"),
        "palladium": ("PLATINUM-GROUP METALS", "Mine production: Palladium", "kilograms, palladium content", "mine"),
        "platinum": ("PLATINUM-GROUP METALS", "Mine production: Platinum", "kilograms, platinum content", "mine"),
        "potash": ("POTASH", "Mine production", "thousand metric tons, K2O equivalent", "mine"),
        "rare_earths": ("RARE EARTHS", "Mine production", "metric tons, REO equivalent", "mine: rare-earth GROUP (lanthanides + yttrium, excl. most Sc)"),
        "rhenium": ("RHENIUM", "Mine production", "kilograms, rhenium content", "mine (byproduct of molybdenum)"),
        "silver": ("SILVER", "Mine production", "metric tons, silver content", "mine"),
        "tantalum": ("TANTALUM", "Mine production", "metric tons, tantalum content", "mine"),
        "tin": ("TIN", "Mine production", "metric tons, tin content", "mine"),
        "titanium": ("TITANIUM MINERAL CONCENTRATES", "Mine production: ilmenite and rutile", "thousand metric tons, TiO2 content", "mine: ilmenite + rutile concentrates"),
        "tungsten": ("TUNGSTEN", "Mine production", "metric tons, tungsten content", "mine"),
        "vanadium": ("VANADIUM", "Mine production", "metric tons, vanadium content", "mine"),
        "zinc": ("ZINC", "Mine production", "thousand metric tons, zinc content", "mine"),
        "zirconium": ("ZIRCONIUM AND HAFNIUM", "Zirconium mineral concentrates, mine production (thousand metric tons, gross weight)", "thousand metric tons, zirconium mineral concentrates (gross weight)", "mine: zirconium mineral concentrates"),
    },
    "refinery": {
        "aluminum": ("ALUMINUM", "Smelter production", "thousand metric tons, primary aluminum", "smelter: primary aluminum metal"),
        "bismuth": ("BISMUTH", "Refinery production", "metric tons, bismuth", "refinery"),
        "copper": ("COPPER", "Refinery production", "thousand metric tons, copper content", "refinery (primary + secondary refined copper)"),
        "gallium": ("GALLIUM", "Primary production", "kilograms, gallium content", "primary low-purity gallium"),
        "indium": ("INDIUM", "Refinery production", "metric tons, indium", "refinery"),
        "magnesium": ("MAGNESIUM METAL", "Smelter production", "thousand metric tons, primary magnesium metal", "smelter: primary magnesium metal"),
        "titanium": ("TITANIUM AND TITANIUM DIOXIDE", "Titanium sponge metal production", "metric tons, titanium sponge", "titanium sponge metal"),
    },
}
SILICON_PARTS = ("SILICON", ["Ferrosilicon", "Silicon metal"], "thousand metric tons, silicon content")


def _world_table(raw, ch, detail):
    w = raw[(raw["MCS chapter"] == ch) & raw.Section.str.startswith("World") & (raw.Statistics == "Production") & (raw.Year == "2025")]
    countries = w[w.Statistics_detail == detail]
    tot = w[(w.Country == "World total") & w.Statistics_detail.str.startswith(detail)]
    if ch == "TITANIUM MINERAL CONCENTRATES":
        countries = w[w.Statistics_detail.isin(["Mine production: Ilmenite", "Mine production: Rutile"])]
        tot = w[(w.Country == "World total") & (w.Statistics_detail == "Mine production: ilmenite and rutile, rounded")]
    if len(tot) != 1:
        raise ValueError(f"world total {ch} {detail}: {len(tot)}")
    return countries, tot.iloc[0]


def world_and_china(t: Table, raw: pd.DataFrame, iea: pd.DataFrame) -> None:
    for stage_key, spec in WORLD.items():
        ind_world = "world_mine_production" if stage_key == "mine" else "world_refinery_production"
        ind_cn = "china_mine_share_pct" if stage_key == "mine" else "china_refinery_share_pct"
        for m, (ch, detail, unit, stage) in spec.items():
            countries, tot = _world_table(raw, ch, detail)
            world = _num(tot.Value)
            src = _release_source(ch, tot.Section, tot.Statistics_detail, "World total")
            t.add(m, ind_world, world, unit, stage, src, "reported", f"USGS 2025e world total (rounded) as printed: {tot.Value}")
            cn = countries[countries.Country == "China"]
            listed = countries[~countries.Country.isin(["World total", "Other countries"])]
            csum = sum(v for v in (_num(x) for x in listed.Value) if v is not None) + sum(
                v for v in (_num(x) for x in countries[countries.Country == "Other countries"].Value) if v is not None)
            src_c = _release_source(ch, tot.Section, detail, "China; World total")
            targets = [m] if m != "rare_earths" else REE + ["rare_earths"]
            if not cn.empty and _num(cn.Value.sum() if len(cn) == 1 else None) is not None or (len(cn) > 1):
                cval = sum(_num(x) or 0.0 for x in cn.Value)
                share = 100.0 * cval / world
                note = (f"= China {fmt(cval)} / world total {fmt(world)} (USGS 2025e, rounded world total); "
                        f"against the sum of listed countries + Other ({fmt(csum)}): {100.0 * cval / csum:.1f}%")
                if ch == "TITANIUM MINERAL CONCENTRATES":
                    note += "; China listed for ilmenite only (rutile: not listed, in Other countries)"
                for tm in targets:
                    c = "derived"
                    n = note if tm in (m,) else note + "; rare-earth GROUP share applied to the element"
                    t.add(tm, ind_cn, round(share, 2), "percent of world", stage, src_c, c,
                          "computed share (country / world): " + n)
            else:
                oth = countries[countries.Country == "Other countries"]
                ov = _num(oth.Value.iloc[0]) if len(oth) else None
                if ov is not None:
                    t.add(m, ind_cn, round(100.0 * ov / world, 2), "percent of world", stage,
                          _release_source(ch, tot.Section, detail, "Other countries; World total"), "derived",
                          f"China not listed in the USGS table; at most the 'Other countries' share = {fmt(ov)} / {fmt(world)}", "<=")
    # silicon: two series summed (Si content)
    ch, parts, unit = SILICON_PARTS
    w = raw[(raw["MCS chapter"] == ch) & (raw.Statistics == "Production") & (raw.Year == "2025")]
    wt = {p: _num(w[(w.Country == "World total") & w.Statistics_detail.str.startswith(p)].Value.iloc[0]) for p in parts}
    cn = {p: _num(w[(w.Country == "China") & (w.Statistics_detail == p)].Value.iloc[0]) for p in parts}
    src = _release_source(ch, "World Production", "Ferrosilicon; Silicon metal", "China; World total")
    t.add("silicon", "world_refinery_production", sum(wt.values()), unit, "ferrosilicon + silicon metal (smelter), Si content",
          src, "derived", f"sum of the two USGS 2025e world totals: ferrosilicon {fmt(wt['Ferrosilicon'])} + silicon metal {fmt(wt['Silicon metal'])}")
    t.add("silicon", "china_refinery_share_pct", round(100 * sum(cn.values()) / sum(wt.values()), 2), "percent of world",
          "ferrosilicon + silicon metal, Si content", src, "derived",
          f"= China ({fmt(cn['Ferrosilicon'])} + {fmt(cn['Silicon metal'])}) / world ({fmt(wt['Ferrosilicon'])} + {fmt(wt['Silicon metal'])}); "
          f"separately: ferrosilicon {100 * cn['Ferrosilicon'] / wt['Ferrosilicon']:.1f}%, silicon metal {100 * cn['Silicon metal'] / wt['Silicon metal']:.1f}%")
    # scandium, yttrium: world figures from text rows of the release
    sc = raw[(raw["MCS chapter"] == "SCANDIUM") & (raw.Statistics == "Production") & (raw.Year == "2025") & raw.Section.str.startswith("World")].iloc[0]
    t.add("scandium", "world_refinery_production", _num(sc.Value), "metric tons, scandium oxide equivalent", "scandium oxide equivalent, global production",
          _release_source("SCANDIUM", sc.Section, sc.Statistics_detail, "World total"), "reported",
          "USGS 2025e: 'global production totaled about 80 tons'; China the leading producer (no share published)", "~")
    y = raw[(raw["MCS chapter"] == "YTTRIUM") & (raw.Statistics == "Production") & (raw.Year == "2025") & raw.Section.str.startswith("World")].iloc[0]
    lo, hi = [_num(x) for x in re.findall(r"[\d,]+", str(y.Value))]
    t.add("yttrium", "world_mine_production", (lo + hi) / 2, "metric tons, Y2O3 equivalent", "Y2O3 equivalent contained in rare-earth mineral concentrates",
          _release_source("YTTRIUM", y.Section, y.Statistics_detail, "World"), "derived",
          f"mid-point of the USGS 2025e range {fmt(lo)}-{fmt(hi)} t; USGS: China produced most, Burma a significant share", "~")
    # IEA refining shares where USGS has none (secondary citations -> derived; cobalt third-party)
    def iea_row(mineral_key, stage_sub, country="China", year=None):
        r = iea[(iea.mineral == mineral_key) & (iea.country_or_group == country) & iea.stage.str.contains(stage_sub, regex=False)]
        if year:
            r = r[r.year == year]
        return r.iloc[0]

    def iea_src(r):
        return f"{r.original_source} as quoted by {r.where_found} (data/iea_refining_concentration_secondary.csv)"

    r = iea_row("lithium", "refining", year="2024")
    t.add("lithium", "china_refinery_share_pct", 70.0, "percent of world", "lithium refining (chemicals)", iea_src(r), "derived",
          "IEA share via secondary outlet; 2024; USGS publishes no refinery table", "=", year=2024)
    r = iea_row("rare earths", "refining", year="2023")
    for m in REE + ["rare_earths"]:
        t.add(m, "china_refinery_share_pct", 92.0, "percent of world", "refined rare-earth output (GROUP)", iea_src(r), "derived",
              "IEA share via secondary outlet (2023); GROUP figure applied to every element" if m != "rare_earths" else "IEA share via secondary outlet (2023)", "=", year=2023)
    r = iea_row("graphite", "battery-grade")
    t.add("graphite", "china_refinery_share_pct", 90.0, "percent of world", "battery-grade graphite production", iea_src(r), "derived",
          "IEA '>90' via secondary outlet (2024)", ">", year=2024)
    grp75 = iea[iea.mineral.str.startswith("tellurium, cobalt")].iloc[0]
    alt = iea[(iea.mineral == "cobalt")]
    t.add("cobalt", "china_refinery_share_pct", 75.0, "percent of world", "refined cobalt (processing)", iea_src(grp75), "derived",
          "IEA GCMO 2025 via secondary outlet: China '>75' of processing for Te, Co, Mo, Si, REE, Mg, graphite, Ga (2024); alternatives: "
          + "; ".join(f"{a.share_raw} ({a.year}, {a.where_found}, {a.confidence})" for a in alt.itertuples()), ">", year=2024)
    grp50 = iea[iea.mineral.str.startswith("vanadium, titanium")].iloc[0]
    for m, stage in (("germanium", "germanium refining/processing"), ("antimony", "antimony processing"), ("vanadium", "vanadium processing")):
        t.add(m, "china_refinery_share_pct", 50.0, "percent of world", stage, iea_src(grp50), "derived",
              "IEA GCMO 2025 via secondary outlet: China '>50' of processing for V, Ti, Li, In, Ge, Sb (2024); USGS has no refinery table", ">", year=2024)


# ---------------------------------------------------------------- prices

LB_PER_T = 2204.62262
OZT_PER_T = 32150.7466
ATOMIC = {"O": 15.999, "La": 138.905, "Ce": 140.116, "Pr": 140.908, "Nd": 144.242, "Sm": 150.36, "Eu": 151.964,
          "Gd": 157.25, "Tb": 158.925, "Dy": 162.500, "Ho": 164.930, "Er": 167.259, "Yb": 173.045, "Lu": 174.967,
          "Y": 88.906, "Sc": 44.956, "Li": 6.94, "C": 12.011, "W": 183.84, "V": 50.942, "Ta": 180.948, "K": 39.098}


def oxide_factor(el: str, n_el: int, n_o: int) -> float:
    """t of oxide per t of contained element."""
    return (n_el * ATOMIC[el] + n_o * ATOMIC["O"]) / (n_el * ATOMIC[el])


#: REE oxide formulas as quoted (element, n, nO)
REE_OXIDE = {"lanthanum": ("La", 2, 3, "La2O3"), "cerium": ("Ce", 1, 2, "CeO2"), "praseodymium": ("Pr", 6, 11, "Pr6O11"),
             "neodymium": ("Nd", 2, 3, "Nd2O3"), "samarium": ("Sm", 2, 3, "Sm2O3"), "europium": ("Eu", 2, 3, "Eu2O3"),
             "gadolinium": ("Gd", 2, 3, "Gd2O3"), "terbium": ("Tb", 4, 7, "Tb4O7"), "dysprosium": ("Dy", 2, 3, "Dy2O3"),
             "holmium": ("Ho", 2, 3, "Ho2O3"), "erbium": ("Er", 2, 3, "Er2O3"), "ytterbium": ("Yb", 2, 3, "Yb2O3"),
             "lutetium": ("Lu", 2, 3, "Lu2O3"), "yttrium": ("Y", 2, 3, "Y2O3")}

#: unit -> USD per tonne of the quoted form
UNIT_TO_USD_T = {"c/lb": LB_PER_T / 100, "$/lb": LB_PER_T, "USD/lb": LB_PER_T, "$/kg": 1000.0, "USD/kg": 1000.0, "$/t": 1.0,
                 "USD/t": 1.0, "$/troy oz": OZT_PER_T, "USD/troy oz": OZT_PER_T, "$/mtu WO3": 100.0, "$/dmtu Mn": 100.0,
                 "USD/g": 1e6}

#: content conversion for minerals priced in critical_minerals_2025.csv: factor (t form per t element) and explanation;
#: None -> no stoichiometric conversion possible (gross-weight ore / industrial mineral)
CONTENT = {
    "aluminum": (1.0, "metal ingot: factor 1"), "antimony": (1.0, "metal: factor 1"), "bismuth": (1.0, "metal: factor 1"),
    "cobalt": (1.0, "cathode metal: factor 1"), "copper": (1.0, "cathode metal: factor 1"), "lead": (1.0, "metal: factor 1"),
    "nickel": (1.0, "metal: factor 1"), "tin": (1.0, "metal: factor 1"), "zinc": (1.0, "SHG metal: factor 1"),
    "magnesium": (1.0, "metal: factor 1"), "gallium": (1.0, "metal: factor 1"), "germanium": (1.0, "metal: factor 1"),
    "hafnium": (1.0, "unwrought metal: factor 1"), "indium": (1.0, "metal: factor 1"), "rhenium": (1.0, "metal pellets: factor 1"),
    "silver": (1.0, "bullion: factor 1"), "palladium": (1.0, "metal: factor 1"), "platinum": (1.0, "metal: factor 1"),
    "iridium": (1.0, "metal: factor 1"), "rhodium": (1.0, "metal: factor 1"), "ruthenium": (1.0, "metal: factor 1"),
    "beryllium": (1.0, "price already per kg contained Be: factor 1"), "silicon": (1.0, "price already per lb contained Si: factor 1"),
    "manganese": (1.0, "$/dmtu Mn is per 10 kg contained Mn: x100 -> USD/t Mn; factor 1"),
    "titanium": (1.0, "sponge metal: factor 1"),
    "lithium": (oxide_factor("Li", 2, 0) * 0 + (2 * ATOMIC["Li"] + ATOMIC["C"] + 3 * ATOMIC["O"]) / (2 * ATOMIC["Li"]), "Li2CO3 -> Li: x {f:.4f} t Li2CO3 per t Li"),
    "tungsten": (oxide_factor("W", 1, 3), "WO3 -> W: x {f:.4f} t WO3 per t W (1 mtu WO3 = 10 kg WO3)"),
    "vanadium": (oxide_factor("V", 2, 5), "V2O5 -> V: x {f:.4f} t V2O5 per t V"),
    "tantalum": (oxide_factor("Ta", 2, 5), "Ta2O5 -> Ta: x {f:.4f} t Ta2O5 per t Ta (tantalite priced per kg Ta2O5 content)"),
    "potash": (oxide_factor("K", 2, 1), "K2O -> K: x {f:.4f} t K2O per t K (model unit is t K2O equivalent)"),
    "barite": None, "fluorspar": None, "graphite": None, "zirconium": None, "chromium": None,
}


def price_targets(t: Table, prices: pd.DataFrame, cm: pd.DataFrame) -> None:
    p25 = prices[prices.year == "2025"]

    def content_row(m, usd_t_form, factor, how, src, base_note):
        t.add(m, "price_usd_per_t_content", usd_t_form * factor, "USD per t contained element",
              "contained element", src, "derived", f"{base_note}; {how}")

    # REE oxides (prices.csv, MCS 2026 REE / heavy-REE / yttrium chapters)
    for m, (el, n, no, formula) in REE_OXIDE.items():
        r = p25[p25.mineral == m]
        if m == "yttrium":
            r = r[r.basis.str.startswith("Y2O3")]
        if r.empty:
            continue
        r = r.iloc[0]
        t.add(m, "price", r.price, r.unit, f"oxide ({formula}); {r.basis}", r.source, conf(r.confidence),
              f"USGS 2025e annual average, {r.basis}")
        f = oxide_factor(el, n, no)
        content_row(m, r.price * 1000.0, f, f"{formula} -> {el}: {r.price} USD/kg oxide x 1000 x {f:.4f} t {formula} per t {el}", r.source,
                    "converted from the oxide price")
    # scandium oxide
    r = p25[(p25.mineral == "scandium") & p25.basis.str.startswith("Scandium oxide")].iloc[0]
    t.add("scandium", "price", r.price, r.unit, f"oxide (Sc2O3); {r.basis}", r.source, conf(r.confidence), "USGS 2025e; Sc metal 5,200 USD/kg also quoted")
    f = oxide_factor("Sc", 2, 3)
    content_row("scandium", r.price * 1000, f, f"Sc2O3 -> Sc: x {f:.4f} t Sc2O3 per t Sc (model unit is kg Sc2O3)", r.source, "converted from the oxide price")
    # niobium: ferroniobium gross weight + contained-Nb derived row of prices.csv
    r = p25[(p25.mineral == "niobium") & (p25.unit == "USD/kg")].iloc[0]
    t.add("niobium", "price", r.price, r.unit, "ferroniobium, GROSS WEIGHT (weighted average unit value of US trade)", r.source, conf(r.confidence),
          "USGS 2025e; per kg gross weight of ferroniobium, not contained Nb")
    d = p25[(p25.mineral == "niobium") & (p25.unit == "USD/kg Nb contained") & p25.basis.str.startswith("ferroniobium")].iloc[0]
    t.add("niobium", "price_usd_per_t_content", d.price * 1000, "USD per t contained element", "contained Nb (from ferroniobium gross weight)",
          d.source, "derived", f"prices.csv derived row: {d.note} x 1000 kg/t; not stoichiometric (0.65 Nb content of FeNb assumed by MCS); "
          "alternative: all-import average 52.5 USD/kg Nb")
    # cesium, rubidium: catalogue prices
    for m, basis_start in (("cesium", "1-gram ampoules of 99.8%"), ("rubidium", "1-gram ampoules of 99.75%")):
        r = p25[(p25.mineral == m) & p25.basis.fillna("").str.startswith(basis_start)].iloc[0]
        t.add(m, "price", r.price, r.unit, f"metal, {r.basis}", r.source, conf(r.confidence),
              "small-lot laboratory CATALOGUE price quoted by MCS (one company); NOT a bulk market price (bulk prices unpublished, far lower)")
        t.add(m, "price_usd_per_t_content", r.price * 1e6, "USD per t contained element", "contained element (metal, catalogue)",
              r.source, "derived", f"{r.price} USD/g x 1e6 g/t; factor 1 (metal); CATALOGUE price, NOT a bulk market price - do not use as a market target")
    # PGMs and indium from prices.csv (MCS 2026 salient tables)
    for m in ("iridium", "rhodium", "ruthenium", "palladium", "platinum", "indium"):
        r = p25[(p25.mineral == m) & (p25.confidence == "reported")].iloc[0]
        extra = "; Rotterdam 380 USD/kg; MCS text also gives 390 USD/kg and ~350,000 USD/t" if m == "indium" else ""
        t.add(m, "price", r.price, r.unit, r.basis, r.source, "reported", f"USGS 2025e annual average{extra}")
        content_row(m, r.price * UNIT_TO_USD_T[r.unit], 1.0, f"{r.unit} -> USD/t: x {UNIT_TO_USD_T[r.unit]:.4f}; factor 1 (metal)", r.source, "unit conversion")
    # everything else from critical_minerals_2025.csv
    done = {r["mineral"] for r in t.rows if r["indicator"] == "price"}
    for r in cm.itertuples():
        m = r.mineral
        if m in done or pd.isna(r.price):
            continue
        t.add(m, "price", r.price, r.price_unit, r.price_basis, r.source, "reported", f"USGS 2025e; {r.price_year}")
        spec = CONTENT.get(m)
        if m == "chromium":
            # contained-Cr price of ferrochromium quoted in the same basis text (1.60 $/lb Cr)
            t.add(m, "price_usd_per_t_content", 1.60 * LB_PER_T, "USD per t contained element", "contained Cr in ferrochromium",
                  r.source, "derived", "ferrochromium 1.60 $/lb contained Cr (2025e, in the price-basis text) x 2,204.62 lb/t; "
                  "chromite ore (the model's gross-weight unit) has no stoichiometric conversion")
            continue
        if spec is None:
            continue
        f, how = spec
        per_t = r.price * UNIT_TO_USD_T[r.price_unit]
        how = how.format(f=f)
        content_row(m, per_t, f, f"{r.price} {r.price_unit} -> {per_t:,.0f} USD/t of quoted form (x {UNIT_TO_USD_T[r.price_unit]:.4f}); {how}",
                    r.source, "converted")


# ---------------------------------------------------------------- regions

def current_country_region() -> dict:
    """COUNTRY_REGION of build_case.py, read as a literal (no import, no side effects)."""
    try:
        tree = ast.parse(BUILD_CASE.read_text())
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(getattr(x, "id", "") == "COUNTRY_REGION" for x in node.targets):
                return ast.literal_eval(node.value)
    except (OSError, SyntaxError, ValueError):
        pass
    return {}


def candidates(chosen: pd.DataFrame) -> pd.DataFrame:
    cmap = current_country_region()
    c = chosen[chosen.origin != "Other"].copy()
    rows = []
    for origin, g in c.groupby("origin"):
        once = g[~g.group_line]
        grp = g[g.group_line]
        rows.append(dict(
            origin=origin,
            share_sum_pct=g.share.sum(),
            n_minerals=g.mineral.nunique(),
            share_sum_ree_group_once_pct=once.share.sum() + (grp.share.iloc[0] if len(grp) else 0.0),
            n_minerals_ree_group_once=once.mineral.nunique() + (1 if len(grp) else 0),
            max_share_pct=g.share.max(),
            current_region=cmap.get(origin, "ROW") if cmap else "",
            minerals="; ".join(f"{r.mineral} {fmt(r.share)}" for r in g.sort_values("share", ascending=False).itertuples()),
        ))
    out = pd.DataFrame(rows).sort_values(["share_sum_pct", "n_minerals"], ascending=False)
    out["share_sum_pct"] = out.share_sum_pct.round(1)
    out["share_sum_ree_group_once_pct"] = out.share_sum_ree_group_once_pct.round(1)
    return out


# ---------------------------------------------------------------- main

def main() -> None:
    sec, imp, prices, cm, raw, iea, _stage = load()
    t = Table()
    nir_targets(t, sec)
    us_targets(t, sec, raw, _stage)
    derived_production(t)
    chosen = import_targets(t, imp)
    world_and_china(t, raw, iea)
    price_targets(t, prices, cm)
    df = t.frame()
    order = {m: i for i, m in enumerate(MINERALS + ["rare_earths", "rare_earths_heavy"])}
    ind_order = {k: i for i, k in enumerate([
        "us_nir_pct", "us_mine_production", "us_primary_production", "us_secondary_production", "us_secondary_old_scrap",
        "us_secondary_new_scrap", "us_apparent_consumption", "us_import_share_pct", "world_mine_production",
        "world_refinery_production", "china_mine_share_pct", "china_refinery_share_pct", "price", "price_usd_per_t_content"])}
    df["_m"] = df.mineral.map(order)
    df["_i"] = df.indicator.map(ind_order)
    df["_v"] = -pd.to_numeric(df.value, errors="coerce").where(df.indicator == "us_import_share_pct", 0).fillna(0)
    df["_o"] = (df.origin == "Other").astype(int)
    df = df.sort_values(["_m", "_i", "_o", "_v", "origin"], kind="stable").drop(columns=["_m", "_i", "_v", "_o"])
    df.to_csv(OUT_TARGETS, index=False)
    cand = candidates(chosen)
    cand.to_csv(OUT_CANDIDATES, index=False)
    # coverage summary (numeric value, minerals of the 54)
    num = df[(df.value != "") & df.mineral.isin(MINERALS)]
    cov = num.groupby("indicator").mineral.nunique().reindex(ind_order.keys()).fillna(0).astype(int)
    print(f"wrote {OUT_TARGETS.relative_to(HERE.parent.parent)} ({len(df)} rows) and {OUT_CANDIDATES.relative_to(HERE.parent.parent)} ({len(cand)} countries)")
    print("coverage (minerals of the 54 with a numeric target):")
    for k, v in cov.items():
        print(f"  {k:28s} {v:2d}")


if __name__ == "__main__":
    main()
