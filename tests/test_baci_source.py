"""CEPII BACI: the real layout on a hand-made zip, its refusals, and a fetch through a local server."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from pytest_httpserver import HTTPServer

from migtrade.errors import DataError, SourceError
from migtrade.sources import baci
from migtrade.sources.base import FetchContext, FetchOptions
from migtrade.sources.http import HttpClient, HttpSettings

COUNTRIES = (
    "country_code,country_name,country_iso2,country_iso3\n"
    '4,Afghanistan,AF,AFG\n251,France,FR,FRA\n276,Germany,DE,DEU\n490,"Other Asia, nes",,S19\n'
)
PRODUCTS = 'code,description\n010121,"Horses: live, pure-bred breeding animals"\n847130,Portable computers\n'
Y1995 = (
    "t,i,j,k,v,q\n"
    "1995,251,276,847130,1234.5,12.0\n"
    '1995,4,251,"010121",0.9,         NA\n'      # CEPII pads NA; k quoted with its leading zero
    "1995,276,251,010121,15.25,\n"               # q blank
    "1995,999,276,847130,7.0,1.5\n"              # 999 is not in the country file
)
Y1996 = "t,i,j,k,v,q\n1996,276,251,847130,2000.0,20.5\n1996,490,4,10121,3.0,0.25\n"  # k without its zero


def baci_zip(members: dict[str, str | None] | None = None, *, version: str = "202401b") -> bytes:
    """A BACI release in CEPII's 2024 layout, a few rows per file; ``members`` replaces or adds files."""
    files: dict[str, str | None] = {
        f"BACI_HS92_Y1995_V{version}.csv": Y1995,
        f"BACI_HS92_Y1996_V{version}.csv": Y1996,
        f"country_codes_V{version}.csv": COUNTRIES,
        f"product_codes_HS92_V{version}.csv": PRODUCTS,
        "Readme.txt": "BACI\n",
    }
    files.update(members or {})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            if text is not None:
                archive.writestr(name, text)
    return buf.getvalue()


@pytest.fixture()
def release(tmp_path: Path) -> Path:
    path = tmp_path / "BACI_HS92_V202401b.zip"
    path.write_bytes(baci_zip())
    return path


def _ingest(path: Path, tmp_path: Path, **kw: object) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    out, countries, products, record = baci.ingest_zip(path, work, **kw)  # type: ignore[arg-type]
    return pd.read_parquet(out), countries, products, record


def test_the_real_layout_is_read_sorted_by_product_with_iso3_and_missing_quantities(release: Path,
                                                                                   tmp_path: Path) -> None:
    frame, countries, products, record = _ingest(release, tmp_path)
    assert list(frame.columns) == ["k", "year", "origin", "destination", "i", "j", "v", "q"]
    assert len(frame) == 6 == record["rows"]
    # Sorted by k, year, i, j; k keeps (or gets back) its leading zero.
    assert frame["k"].tolist() == ["010121", "010121", "010121", "847130", "847130", "847130"]
    assert frame[["year", "i", "j"]].values.tolist()[:3] == [[1995, 4, 251], [1995, 276, 251], [1996, 490, 4]]
    assert frame["q"].isna().tolist() == [True, True, False, False, False, False]  # padded NA and blank
    first = frame.iloc[0]
    assert (first["origin"], first["destination"], first["v"]) == ("AFG", "FRA", 0.9) and pd.isna(first["q"])
    assert frame.loc[frame["i"] == 490, "origin"].item() == "S19"
    # An unknown code keeps its row, without an ISO3, and is reported.
    unknown = frame[frame["i"] == 999]
    assert len(unknown) == 1 and unknown["origin"].isna().all()
    assert record["unknown_country_codes"] == {"999": 1}
    assert record["release"] == "HS92 V202401b" and record["years_read"] == [1995, 1996]
    assert countries["iso3"].tolist() == ["AFG", "FRA", "DEU", "S19"] and countries["code"].dtype == "int32"
    assert products["code"].tolist() == ["010121", "847130"]
    assert str(pq.ParquetFile(tmp_path / "work" / "baci.parquet").schema_arrow.field("k").type) == "string"


def test_years_read_only_the_files_asked_for(release: Path, tmp_path: Path) -> None:
    frame, _, _, record = _ingest(release, tmp_path, years=(1996, 1996))
    assert set(frame["year"]) == {1996} and record["members"] == ["BACI_HS92_Y1996_V202401b.csv"]
    with pytest.raises(DataError, match="no year of"):
        _ingest(release, tmp_path, years=(2000, 2001))


def test_the_2023_country_layout_is_read(tmp_path: Path) -> None:
    old = ("country_code,country_name_abbreviation,country_name_full,iso_2digit_alpha,iso_3digit_alpha\n"
           "4,Afghanistan,Afghanistan,AF,AFG\n251,France,France,FR,FRA\n276,Germany,Germany,DE,DEU\n")
    path = tmp_path / "old.zip"
    path.write_bytes(baci_zip({"country_codes_V202401b.csv": old}))
    _, countries, _, record = _ingest(path, tmp_path)
    assert countries["iso3"].tolist() == ["AFG", "FRA", "DEU"]
    assert record["unknown_country_codes"] == {"490": 1, "999": 1}


@pytest.mark.parametrize(("member", "text", "message"), [
    ("BACI_HS92_Y1996_V202401b.csv", "t,i,j,k,v,q\n1996,276,251,847130,abc,1\n", "cannot parse"),
    ("BACI_HS92_Y1996_V202401b.csv", "t,i,j,k,v,q\n1996,276,251,847130\n", "cannot parse"),
    ("BACI_HS92_Y1996_V202401b.csv", "t,i,j,k,v,q\n1996,276,251,84X130,1.0,1\n", "not an HS6 code"),
    ("BACI_HS92_Y1996_V202401b.csv", "t,i,j,k,v,q\n1997,276,251,847130,1.0,1\n", "years other than 1996"),
    ("BACI_HS92_Y1996_V202401b.csv", "t,i,j,k,v,q\n1996,276,251,847130,1.0,lots\n", "q that is not a number"),
    ("BACI_HS92_Y1996_V202401b.csv", "t,i,j,hs6,v,q\n1996,276,251,847130,1.0,1\n", "expected t,i,j,k,v,q"),
    ("country_codes_V202401b.csv", "code,iso3\n4,AFG\n", "country file"),
])
def test_a_malformed_file_is_one_clear_data_error(member: str, text: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.zip"
    path.write_bytes(baci_zip({member: text}))
    with pytest.raises(DataError, match=message) as err:
        _ingest(path, tmp_path)
    assert "\n" not in err.value.one_line()


def test_a_zip_without_the_release_files_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.zip"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("trade.csv", "t,i,j,k,v,q\n")
    path.write_bytes(buf.getvalue())
    with pytest.raises(DataError, match="no yearly trade file"):
        _ingest(path, tmp_path)
    no_countries = tmp_path / "nc.zip"
    no_countries.write_bytes(baci_zip({"country_codes_V202401b.csv": None}))
    with pytest.raises(DataError, match="no country file"):
        _ingest(no_countries, tmp_path)
    evil = tmp_path / "evil.zip"
    evil.write_bytes(baci_zip({"../BACI_HS92_Y1997_V202401b.csv": Y1996}))
    with pytest.raises(DataError, match="path traversal"):
        _ingest(evil, tmp_path)


def test_fetch_through_a_local_server_and_a_broken_download_is_a_source_error(
        httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request(f"/data/{baci.FILENAME}").respond_with_data(baci_zip(),
                                                                         content_type="application/zip")
    client = HttpClient(HttpSettings(attempts=1, cache_dir=tmp_path / "cache", quiet=True))
    work = tmp_path / "w"
    work.mkdir()
    trade, countries, products = baci.fetch(FetchOptions(base_url=httpserver.url_for("/data")),
                                            FetchContext(client=client, workdir=work))
    assert trade.parquet is not None and trade.provenance.rows == 6
    assert trade.provenance.location.endswith("/data/BACI_HS92_V202401b.zip")
    assert countries.frame is not None and products.frame is not None
    httpserver.expect_request("/broken/BACI_HS92_V202401b.zip").respond_with_data(
        b"PK\x03\x04 not really", content_type="application/zip")
    with pytest.raises(SourceError):
        baci.fetch(FetchOptions(base_url=httpserver.url_for("/broken")), FetchContext(client=client, workdir=work))


def test_fetch_baci_command_stores_three_datasets_and_refuses_a_bad_zip(
        cli: Callable[..., tuple[int, str, str]], release: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    code, out, err = cli("fetch", "baci", "--file", str(release), "--store", str(store), "--format", "json", "-q")
    assert code == 0, err
    written = {w["name"]: w for w in json.loads(out)}
    assert list(written) == ["baci", "baci_countries", "baci_products"]
    assert written["baci"]["rows"] == 6 and written["baci"]["provenance"]["parser_version"] == "baci/1"
    assert written["baci"]["provenance"]["options"]["unknown_country_codes"] == {"999": 1}
    bad = tmp_path / "bad.zip"
    bad.write_bytes(baci_zip({"BACI_HS92_Y1996_V202401b.csv": "t,i,j,hs6,v,q\n"}))
    code, out, err = cli("fetch", "baci", "--file", str(bad), "--store", str(store), "-q", "--name", "other")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "expected t,i,j,k,v,q" in err
    code, out, _ = cli("data", "list", "--store", str(store), "--format", "json")
    assert "other" not in out  # a refused fetch stores nothing


def test_columns_in_another_order_and_a_byte_order_mark_are_read(tmp_path: Path) -> None:
    path = tmp_path / "bom.zip"
    path.write_bytes(baci_zip({"BACI_HS92_Y1996_V202401b.csv": "\ufefft,k,i,j,v,q\n1996,847130,276,251,2000.0,20.5\n"}))
    frame, _, _, _ = _ingest(path, tmp_path)
    row = frame[frame["year"] == 1996].iloc[0]
    assert (row["k"], row["origin"], row["destination"], row["v"], row["q"]) == ("847130", "DEU", "FRA", 2000.0, 20.5)
