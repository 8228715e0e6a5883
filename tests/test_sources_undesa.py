"""UN DESA migrant stock: the publisher's workbook layouts, the CSVs, and a fetch through a local server."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from pytest_httpserver import HTTPServer
from test_sources_recorded import UNDESA_CODES, shared, undesa_subset, undesa_workbook

from migtrade.errors import DataError, SourceError
from migtrade.sources import undesa
from migtrade.sources.base import FetchContext, FetchOptions
from migtrade.sources.http import HttpClient, HttpSettings

LONG = "undesa_migrant_stock/undesa_ims2020_bilateral_stock_long.csv.gz"
WIDE_2019 = "undesa_migrant_stock/UN_MigrantStockByOriginAndDestination_2019_clean.csv.gz"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def stock(frame: pd.DataFrame, origin: str, destination: str, year: int) -> int:
    pick = frame[(frame["origin"] == origin) & (frame["destination"] == destination) & (frame["year"] == year)]
    return int(pick["stock"].item())


def assert_sanity(frame: pd.DataFrame) -> None:
    """The values UN DESA publishes for the two corridors of the case studies."""
    assert stock(frame, "Mexico", "United States", 1990) == 4_298_014
    assert stock(frame, "Mexico", "United States", 2020) == 10_853_105
    assert stock(frame, "Philippines", "United States", 2020) == 2_061_178


def test_long_csv_of_the_2020_edition() -> None:
    frame = undesa.parse_payload(shared(LONG).read_bytes())
    assert list(frame.columns) == ["origin", "destination", "year", "stock"]
    assert len(frame) == 75_600
    assert_sanity(frame)


def test_2019_matrix_csv() -> None:
    frame = undesa.parse_payload(shared(WIDE_2019).read_bytes())
    assert stock(frame, "Mexico", "United States of America", 1990) == 4_298_014
    assert stock(frame, "Mexico", "United States of America", 2019) == 11_489_684
    assert not frame["origin"].isin(["Year", "Dest"]).any()
    assert (frame["stock"] > 0).all()


@pytest.mark.parametrize("layout", ["pairs", "matrix"])
def test_workbook_layouts_give_the_countries_only(layout: str) -> None:
    frame = undesa.read_workbook(undesa_workbook(layout))
    assert_sanity(frame)
    names = set(UNDESA_CODES)
    assert set(frame["origin"]) <= names and set(frame["destination"]) <= names
    expected = undesa_subset().rename(columns={"orig": "origin", "dest": "destination"})
    merged = expected.merge(frame, on=["origin", "destination", "year"], how="outer", suffixes=("_real", "_parsed"))
    assert (merged["stock_real"] == merged["stock_parsed"]).all()


def test_workbook_without_the_table_sheet_is_a_data_error() -> None:
    with pytest.raises(DataError, match="no sheet 'Table 2'"):
        undesa.read_workbook(undesa_workbook(), sheet="Table 2")


def test_unknown_csv_is_a_data_error_listing_columns() -> None:
    with pytest.raises(DataError) as err:
        undesa.parse_payload(b"a,b\n1,2\n")
    assert "found a, b" in err.value.one_line()


def test_fetch_downloads_the_workbook(httpserver: HTTPServer, tmp_path: Path) -> None:
    body = undesa_workbook()
    httpserver.expect_request(f"/files/{undesa.FILENAME}").respond_with_data(body, content_type=XLSX)
    client = HttpClient(HttpSettings(attempts=1, cache_dir=tmp_path, quiet=True))
    (out,) = undesa.fetch(FetchOptions(base_url=httpserver.url_for("/files"), years=(2000, 2020)),
                          FetchContext(client=client, workdir=tmp_path))
    assert out.frame is not None and out.frame["year"].min() == 2000
    assert stock(out.frame, "Mexico", "United States", 2020) == 10_853_105
    assert stock(out.frame, "Philippines", "United States", 2020) == 2_061_178
    assert out.provenance.location == httpserver.url_for(f"/files/{undesa.FILENAME}")
    assert out.provenance.rows == len(out.frame)


def test_fetch_refuses_an_html_error_page(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request(f"/{undesa.FILENAME}").respond_with_data("<html>moved</html>", content_type="text/html")
    client = HttpClient(HttpSettings(attempts=1, cache_dir=tmp_path, quiet=True))
    with pytest.raises(SourceError, match="HTML page"):
        undesa.fetch(FetchOptions(base_url=httpserver.url_for("")), FetchContext(client=client, workdir=tmp_path))


def test_file_option_reads_a_gzip_copy(tmp_path: Path) -> None:
    path = tmp_path / "stock.csv.gz"
    path.write_bytes(shared(LONG).read_bytes())
    client = HttpClient(HttpSettings(offline=True, cache_dir=tmp_path, quiet=True))
    (out,) = undesa.fetch(FetchOptions(file=path), FetchContext(client=client, workdir=tmp_path))
    assert out.frame is not None
    assert_sanity(out.frame)
    assert out.provenance.location == str(path)
