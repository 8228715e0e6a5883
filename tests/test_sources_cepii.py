"""CEPII Gravity: streaming the zip to Parquet, column choice, unsafe zips, and a fetch through a server."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from pytest_httpserver import HTTPServer
from test_sources_recorded import cepii_like_zip, shared

from migtrade.errors import DataError, SourceError
from migtrade.sources import cepii
from migtrade.sources.base import FetchContext, FetchOptions
from migtrade.sources.http import HttpClient, HttpSettings


@pytest.fixture(scope="module")
def gravity_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cepii") / "Gravity_csv_V202211.zip"
    path.write_bytes(cepii_like_zip())
    return path


def test_default_columns_under_standard_names(gravity_zip: Path, tmp_path: Path) -> None:
    out = tmp_path / "g.parquet"
    rows, record = cepii.ingest_zip(gravity_zip, out)
    frame = pd.read_parquet(out)
    assert list(frame.columns) == ["origin", "destination", "year", "trade", "dist", "contig", "comlang",
                                   "colony", "rta", "wto_o", "wto_d"]
    assert rows == len(frame)
    assert "YUG" not in set(frame["origin"])  # rows of a country that did not exist are dropped
    assert record["columns"]["trade"] == "tradeflow_comtrade_d" and record["columns"]["dist"] == "distw_harmonic"
    real = pd.read_csv(shared("yotov2016_agtpa/agtpa_applications.csv.gz"))
    real = real[real["year"].isin([1990, 1994, 1998, 2002])]
    assert rows == len(real)
    pick = frame[(frame["origin"] == "MEX") & (frame["destination"] == "USA") & (frame["year"] == 1994)]
    truth = real[(real["exporter"] == "MEX") & (real["importer"] == "USA") & (real["year"] == 1994)]
    assert pick["trade"].item() == pytest.approx(truth["trade"].item())
    assert pick["dist"].item() == pytest.approx(truth["dist"].item())
    assert frame["wto_o"].isna().all()


def test_years_and_chosen_columns(gravity_zip: Path, tmp_path: Path) -> None:
    out = tmp_path / "g.parquet"
    _rows, record = cepii.ingest_zip(gravity_zip, out, columns=("trade", "distance=distcap"), years=(1994, 1998))
    frame = pd.read_parquet(out)
    assert list(frame.columns) == ["origin", "destination", "year", "trade", "distance"]
    assert set(frame["year"]) == {1994, 1998}
    assert record["columns"]["distance"] == "distcap"


def test_a_missing_column_lists_those_present(gravity_zip: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        cepii.ingest_zip(gravity_zip, tmp_path / "g.parquet", columns=("gdpcap_ppp_o",))
    assert "no column gdpcap_ppp_o" in err.value.one_line() and "iso3_o" in err.value.one_line()


def test_reading_is_in_blocks(gravity_zip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cepii, "_BLOCK", 1 << 16)
    out = tmp_path / "g.parquet"
    rows, _ = cepii.ingest_zip(gravity_zip, out)
    assert pq.ParquetFile(out).metadata.num_row_groups > 5
    assert rows == pq.ParquetFile(out).metadata.num_rows


@pytest.mark.parametrize("evil", ["../x.csv", "/etc/x.csv", "a/../../x.csv", "C:\\x.csv", "..\\x.csv"])
def test_a_zip_with_a_path_traversal_member_is_refused(evil: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.zip"
    path.write_bytes(cepii_like_zip({evil: b"year\n1990\n"}))
    with pytest.raises(DataError, match="path traversal"):
        cepii.ingest_zip(path, tmp_path / "g.parquet")


def test_not_a_zip_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "g.zip"
    path.write_bytes(b"year,iso3_o\n")
    with pytest.raises(DataError, match="not a readable zip"):
        cepii.ingest_zip(path, tmp_path / "g.parquet")


def test_fetch_streams_the_download(httpserver: HTTPServer, tmp_path: Path, gravity_zip: Path) -> None:
    httpserver.expect_request(f"/data/{cepii.FILENAME}").respond_with_data(gravity_zip.read_bytes(),
                                                                           content_type="application/zip")
    client = HttpClient(HttpSettings(attempts=1, cache_dir=tmp_path / "cache", quiet=True))
    (out,) = cepii.fetch(FetchOptions(base_url=httpserver.url_for("/data"), years=(2002, 2002)),
                         FetchContext(client=client, workdir=tmp_path))
    assert out.parquet is not None and out.frame is None
    frame = pd.read_parquet(out.parquet)
    assert set(frame["year"]) == {2002} and out.provenance.rows == len(frame)
    assert out.provenance.options["years"] == "2002:2002"


def test_a_downloaded_unsafe_zip_is_a_source_error_and_not_cached(httpserver: HTTPServer, tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("../../evil.csv", "year\n")
    httpserver.expect_request(f"/{cepii.FILENAME}").respond_with_data(buf.getvalue(), content_type="application/zip")
    client = HttpClient(HttpSettings(attempts=1, cache_dir=tmp_path / "cache", quiet=True))
    with pytest.raises(SourceError, match="path traversal"):
        cepii.fetch(FetchOptions(base_url=httpserver.url_for("")), FetchContext(client=client, workdir=tmp_path))
    assert not list((tmp_path / "cache").glob("*.bin"))
