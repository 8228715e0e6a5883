"""Payloads in each publisher's layout, built from the real files in ../shared/data, and checks
that they carry the real values.

No copy of a World Bank API answer, of the UN DESA workbook, of the Abel & Cohen publisher CSV or
of the CEPII Gravity zip is available offline; the test server serves these recordings instead.
Each is laid out as the publisher documents it and filled with published numbers, so a parser
that reads them correctly reads the real thing. Other test modules import the builders.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"

GDP = "NY.GDP.MKTP.CD"
GDP_NAME = "GDP (current US$)"
# Country-level part of the recordings: ISO3 -> (ISO2, region in the API's country list).
COUNTRIES = {"MEX": ("MX", "LCN"), "PHL": ("PH", "EAS"), "USA": ("US", "NAC"), "CAN": ("CA", "NAC"),
             "DEU": ("DE", "ECS"), "XKX": ("XK", "ECS")}
# Aggregates with the two-character ids the World Bank gives them.
AGGREGATES = {"WLD": "1W", "EUU": "EU", "HIC": "XD", "LMY": "XO"}


def shared(relative: str) -> Path:
    """A file of ../shared/data, or skip the test that needs it."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"../shared/data/{relative} is not available beside this checkout")
    return path


def wdi_gdp_long(codes: tuple[str, ...] = (*COUNTRIES, *AGGREGATES), years: tuple[int, int] = (1990, 2020)) -> pd.DataFrame:
    """Real WDI GDP (current US$) for ``codes`` and ``years``: Country Name, Country Code, Year, Value."""
    frame = pd.read_csv(shared("wdi_covariates/gdp_current_usd.csv.gz"))
    keep = frame["Country Code"].isin(codes) & frame["Year"].between(*years)
    return frame[keep].reset_index(drop=True)


def wdi_api_pages(per_page: int, years: tuple[int, int] = (1990, 2020), *, missing: tuple[str, int] | None = ("XKX", 1990),
                  indicator: str = GDP, indicator_name: str = GDP_NAME) -> list[bytes]:
    """The answer of ``/v2/country/all/indicator/NY.GDP.MKTP.CD?format=json&date=...`` as pages.

    Records run by country, then by year from the latest, as the API orders them; a year the
    WDI has no value for comes as ``"value": null``, as the API sends it.
    """
    gdp = wdi_gdp_long(years=years)
    iso2 = {**{k: v[0] for k, v in COUNTRIES.items()}, **AGGREGATES}
    records: list[dict[str, Any]] = []
    for code in sorted(gdp["Country Code"].unique(), key=lambda c: (c not in AGGREGATES, c)):
        rows = gdp[gdp["Country Code"] == code].sort_values("Year", ascending=False)
        for _, row in rows.iterrows():
            records.append({"indicator": {"id": indicator, "value": indicator_name},
                            "country": {"id": iso2[code], "value": row["Country Name"]},
                            "countryiso3code": code, "date": str(row["Year"]), "value": float(row["Value"]),
                            "unit": "", "obs_status": "", "decimal": 0})
        if missing and code == missing[0] and missing[1] not in set(rows["Year"]):
            records.append({"indicator": {"id": indicator, "value": indicator_name},
                            "country": {"id": iso2[code], "value": rows["Country Name"].iloc[0]},
                            "countryiso3code": code, "date": str(missing[1]), "value": None,
                            "unit": "", "obs_status": "", "decimal": 0})
    pages = max(1, -(-len(records) // per_page))
    out = []
    for page in range(1, pages + 1):
        chunk = records[(page - 1) * per_page: page * per_page]
        header = {"page": page, "pages": pages, "per_page": per_page, "total": len(records),
                  "sourceid": "2", "lastupdated": "2024-06-28"}
        out.append(json.dumps([header, chunk]).encode())
    return out


def wdi_country_list() -> bytes:
    """``/v2/country/all?format=json``: the recorded economies, aggregates with region "Aggregates"."""
    gdp = wdi_gdp_long()
    names = dict(zip(gdp["Country Code"], gdp["Country Name"], strict=False))
    records = [{"id": code, "iso2Code": iso2, "name": names.get(code, code),
                "region": {"id": region, "iso2code": "", "value": "Region"},
                "incomeLevel": {"id": "HIC", "iso2code": "XD", "value": "High income"}}
               for code, (iso2, region) in COUNTRIES.items()]
    records += [{"id": code, "iso2Code": iso2, "name": names.get(code, code),
                 "region": {"id": "NA", "iso2code": "NA", "value": "Aggregates"},
                 "incomeLevel": {"id": "NA", "iso2code": "NA", "value": "Aggregates"}}
                for code, iso2 in AGGREGATES.items()]
    return json.dumps([{"page": 1, "pages": 1, "per_page": "20000", "total": len(records)}, records]).encode()


WDI_ERROR = json.dumps([{"message": [{"id": "120", "key": "Invalid value",
                                      "value": "The provided parameter value is not valid"}]}]).encode()

UNDESA_CODES = {"United States": 840, "Mexico": 484, "Philippines": 608, "Canada": 124, "India": 356,
                "China": 156, "Spain": 724}
UNDESA_YEARS = (1990, 1995, 2000, 2005, 2010, 2015, 2020)


def undesa_subset() -> pd.DataFrame:
    """Real 2020 stock among :data:`UNDESA_CODES` countries (long: year, orig, dest, stock)."""
    long = pd.read_csv(shared("undesa_migrant_stock/undesa_ims2020_bilateral_stock_long.csv.gz"))
    names = list(UNDESA_CODES)
    return long[long["orig"].isin(names) & long["dest"].isin(names)].reset_index(drop=True)


def _title_block(ws: Any, rows: int = 10) -> None:
    ws.append(["United Nations, Department of Economic and Social Affairs, Population Division (2020)."])
    ws.append(["International Migrant Stock 2020."])
    ws.append(["(POP/DB/MIG/Stock/Rev.2020)"])
    for _ in range(rows - 4):
        ws.append([])
    ws.append(["Table 1. International migrant stock at mid-year by sex and by region, country or area of "
               "destination and origin, 1990-2020"])


def undesa_workbook(layout: str = "pairs") -> bytes:
    """A workbook laid out like the publisher's, sheet "Table 1", filled from :func:`undesa_subset`.

    ``pairs`` is the 2020 edition (one row per destination-origin pair, years in three blocks:
    both sexes, males, females); ``matrix`` the 2019 one (one row per year and destination, one
    column per origin). Both include aggregate rows (codes 900 and up) that a parser must drop.
    """
    data = undesa_subset()
    cube = data.pivot_table(index=["dest", "orig"], columns="year", values="stock", aggfunc="sum").fillna(0)
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "Table 1"
    _title_block(ws)
    if layout == "pairs":
        ws.append(["Index", "Region, development group, country or area of destination", "Notes of destination",
                   "Location code of destination", "Type of data of destination",
                   "Region, development group, country or area of origin", "Location code of origin",
                   *UNDESA_YEARS, *UNDESA_YEARS, *UNDESA_YEARS])
        index = 1
        world = cube.groupby(level="orig").sum()
        for orig, row in world.iterrows():  # destination "WORLD": an aggregate row per origin
            ws.append([index, "WORLD", None, 900, None, orig, UNDESA_CODES[str(orig)],
                       *[int(row.get(y, 0)) for y in UNDESA_YEARS], *[0] * 14])
            index += 1
        for dest in sorted({d for d, _ in cube.index}):
            block = cube.loc[dest]
            total = block.sum()
            ws.append([index, f"  {dest}", None, UNDESA_CODES[dest], "B", "World", 900,
                       *[int(total.get(y, 0)) for y in UNDESA_YEARS], *[0] * 14])
            ws.append([index + 1, f"  {dest}", None, UNDESA_CODES[dest], "B", "Northern America", 918,
                       *[1] * 7, *[0] * 14])
            index += 2
            for orig, row in block.iterrows():
                values = [int(row.get(y, 0)) for y in UNDESA_YEARS]
                males = [v // 2 for v in values]
                ws.append([index, f"  {dest}", None, UNDESA_CODES[dest], "B", orig, UNDESA_CODES[orig],
                           *values, *males, *[v - m for v, m in zip(values, males, strict=True)]])
                index += 1
    else:
        origins = sorted({o for _, o in cube.index})
        ws.append(["Year", "Sort\norder", "Major area, region, country or area of destination", "Notes", "Code",
                   "Type of data (a)", "Total", "Other North", "Other South", *origins])
        for year in UNDESA_YEARS:
            ws.append([year, 1, "WORLD", None, 900, None, 1, 1, 1, *[1] * len(origins)])
            for dest in sorted({d for d, _ in cube.index}):
                block = cube.loc[dest]
                cells: list[int | str] = [int(block.loc[o, year]) if o in block.index and year in block.columns
                                         else ".." for o in origins]
                ws.append([year, 2, dest, None, UNDESA_CODES[dest], "B", 1, 0, 1, *cells])
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


ABEL_KEYS = ["period_start", "orig", "dest"]


def abel_cohen_publisher_csv() -> bytes:
    """The publisher's layout (``year0, sex, orig, dest, type, da_min_closed, da_pb_closed``),
    made from the real long files by splitting each flow into sexes and types of move that
    add up to it exactly."""
    pb = pd.read_csv(shared("abel_cohen_flows/abel_cohen_flows_da_pb_closed_long.csv.gz"))
    mn = pd.read_csv(shared("abel_cohen_flows/abel_cohen_flows_da_min_closed_long.csv.gz"))
    names = ["Mexico", "United States", "Philippines", "Canada", "Guatemala"]
    both = pb.merge(mn, on=[*ABEL_KEYS, "period_end"], how="outer", suffixes=("_pb", "_min"))
    both = both[both["orig"].isin(names) & both["dest"].isin(names)].fillna(0)
    rows = []
    for rec in both.itertuples(index=False):
        for sex, share in (("male", 0.55), ("female", 0.45)):
            for kind, part in (("outward", 0.7), ("return", 0.2), ("transit", 0.1)):
                rows.append({"year0": rec.period_start, "sex": sex, "orig": rec.orig, "dest": rec.dest, "type": kind,
                             "da_min_closed": float(rec.flow_min) * share * part,  # type: ignore[arg-type]
                             "da_pb_closed": float(rec.flow_pb) * share * part})  # type: ignore[arg-type]
    return pd.DataFrame(rows).to_csv(index=False).encode()


CEPII_EXTRA = ["country_id_o", "country_id_d", "iso3num_o", "iso3num_d", "gmt_offset_2020_o", "distcap",
               "pop_o", "pop_d", "gdp_o", "gdp_d", "tradeflow_baci", "manuf_tradeflow_baci"]


def cepii_like_zip(extra_members: dict[str, bytes] | None = None, years: tuple[int, ...] = (1990, 1994, 1998, 2002)) -> bytes:
    """A zip holding ``Gravity_V202211.csv`` in CEPII Gravity's columns, filled with the real
    Yotov et al. (2016) panel (trade in millions of US$, CEPII distances and dummies), plus rows
    for a country that did not exist (``country_exists_o`` = 0) that must be dropped."""
    panel = pd.read_csv(shared("yotov2016_agtpa/agtpa_applications.csv.gz"))
    panel = panel[panel["year"].isin(years)].reset_index(drop=True)
    grav = pd.DataFrame({
        "year": panel["year"], "country_id_o": panel["exporter"], "country_id_d": panel["importer"],
        "iso3_o": panel["exporter"], "iso3_d": panel["importer"], "iso3num_o": 1, "iso3num_d": 2,
        "country_exists_o": 1, "country_exists_d": 1, "gmt_offset_2020_o": 0.0,
        "distw_harmonic": panel["dist"], "distcap": panel["dist"], "contig": panel["cntg"],
        "comlang_off": panel["lang"], "col45": panel["clny"], "pop_o": "", "pop_d": "", "gdp_o": "", "gdp_d": "",
        "wto_o": "", "wto_d": "", "fta_wto": panel["rta"], "tradeflow_comtrade_o": "",
        "tradeflow_comtrade_d": panel["trade"], "tradeflow_baci": "", "manuf_tradeflow_baci": "",
    })
    ghost = grav.head(50).assign(iso3_o="YUG", country_exists_o=0)
    csv_bytes = pd.concat([grav, ghost], ignore_index=True).to_csv(index=False).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("Gravity_V202211.csv", csv_bytes)
        for name, data in (extra_members or {}).items():
            archive.writestr(name, data)
    return buf.getvalue()


# -- the recordings carry the published numbers ----------------------------------------------


def test_wdi_pages_carry_real_gdp_and_the_documented_header() -> None:
    pages = wdi_api_pages(per_page=50)
    docs = [json.loads(p) for p in pages]
    assert len(docs) == docs[0][0]["pages"] > 1
    assert sum(len(d[1]) for d in docs) == docs[0][0]["total"]
    records = [r for d in docs for r in d[1]]
    mex_2000 = next(r for r in records if r["countryiso3code"] == "MEX" and r["date"] == "2000")
    real = wdi_gdp_long()
    expected = real[(real["Country Code"] == "MEX") & (real["Year"] == 2000)]["Value"].item()
    assert mex_2000["value"] == expected
    assert mex_2000["country"] == {"id": "MX", "value": "Mexico"}


def test_undesa_workbook_has_the_sanity_values() -> None:
    book = openpyxl.load_workbook(io.BytesIO(undesa_workbook()), read_only=True)
    rows = list(book["Table 1"].iter_rows(values_only=True))
    hit = next(r for r in rows if r[1] == "  United States" and r[5] == "Mexico")
    assert hit[7] == 4_298_014 and hit[13] == 10_853_105


def test_abel_cohen_publisher_layout_sums_back_to_the_real_flow() -> None:
    table = pd.read_csv(io.BytesIO(abel_cohen_publisher_csv()))
    pick = table[(table["orig"] == "Mexico") & (table["dest"] == "United States") & (table["year0"] == 1990)]
    assert pick["da_pb_closed"].sum() == pytest.approx(2_238_239, abs=1e-6)
