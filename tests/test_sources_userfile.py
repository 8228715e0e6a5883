"""The user's own file: formats, column mapping and the errors a wrong mapping gives."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from test_sources_recorded import shared

from migtrade.errors import DataError, UsageError
from migtrade.sources import userfile
from migtrade.sources.base import FetchContext, FetchOptions
from migtrade.sources.http import HttpClient, HttpSettings

GRAVITY = "r_gravity_pkg/gravity_zeros.csv.gz"


def run(tmp_path: Path, **options: object) -> pd.DataFrame:
    client = HttpClient(HttpSettings(offline=True, cache_dir=tmp_path, quiet=True))
    (out,) = userfile.fetch(FetchOptions(**options), FetchContext(client=client, workdir=tmp_path))  # type: ignore[arg-type]
    assert out.frame is not None and out.provenance.rows == len(out.frame)
    return out.frame


def test_gzip_csv_with_a_mapping(tmp_path: Path) -> None:
    frame = run(tmp_path, file=shared(GRAVITY), mapping={"origin": "iso_o", "destination": "iso_d", "trade": "flow"})
    assert {"origin", "destination", "trade", "distw", "contig"} <= set(frame.columns)
    assert "iso_o" not in frame.columns and len(frame) == 22_588


def test_stata_and_excel_files(tmp_path: Path) -> None:
    frame = run(tmp_path, file=shared("yotov2016_agtpa/Chapter1Application1.dta"),
                mapping={"origin": "exporter", "destination": "importer", "dist": "DIST"}, years=(2006, 2006))
    assert set(frame["year"]) == {2006} and "dist" in frame.columns
    excel = tmp_path / "mine.xlsx"
    frame.head(20).to_excel(excel, index=False)
    back = run(tmp_path, file=excel)
    assert len(back) == 20 and list(back.columns) == list(frame.columns)


def test_a_mapped_column_that_does_not_exist_lists_the_columns(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        run(tmp_path, file=shared(GRAVITY), mapping={"origin": "exporter"})
    line = err.value.one_line()
    assert "no column 'exporter'" in line and "iso_o, iso_d, distw" in line


def test_a_mapping_that_duplicates_a_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="two columns the name flow"):
        run(tmp_path, file=shared(GRAVITY), mapping={"flow": "distw"})


def test_years_need_a_year_column(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="year"):
        run(tmp_path, file=shared(GRAVITY), years=(2000, 2001))


def test_parse_mapping_from_options_and_json(tmp_path: Path) -> None:
    assert userfile.parse_mapping(["origin=iso_o", " trade = flow "]) == {"origin": "iso_o", "trade": "flow"}
    assert userfile.parse_mapping([], '{"origin": "iso_o"}') == {"origin": "iso_o"}
    path = tmp_path / "map.json"
    path.write_text('{"destination": "iso_d"}')
    assert userfile.parse_mapping(["origin=iso_o"], str(path)) == {"destination": "iso_d", "origin": "iso_o"}
    for bad in (["origin"], ["=x"], ["bad name=x"], ["origin=a", "origin=b"]):
        with pytest.raises(UsageError):
            userfile.parse_mapping(bad)
    with pytest.raises(UsageError, match="not valid JSON"):
        userfile.parse_mapping([], "{origin: iso_o}")
