"""Abel & Cohen flows: the real long files, the publisher's wide layout, and a fetch through a local server."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from pytest_httpserver import HTTPServer
from test_sources_recorded import abel_cohen_publisher_csv, shared

from migtrade.errors import DataError, UsageError
from migtrade.sources import abel_cohen
from migtrade.sources.base import FetchContext, FetchOptions
from migtrade.sources.http import HttpClient, HttpSettings

PB = "abel_cohen_flows/abel_cohen_flows_da_pb_closed_long.csv.gz"


def flow(frame: pd.DataFrame, origin: str, destination: str, start: int, method: str = "da_pb_closed") -> float:
    pick = frame[(frame["origin"] == origin) & (frame["destination"] == destination)
                 & (frame["period_start"] == start) & (frame["method"] == method)]
    return float(pick["flow"].item())


def test_real_long_file_takes_its_method_from_the_name() -> None:
    path = shared(PB)
    frame = abel_cohen.parse_payload(path.read_bytes(), path.name)
    assert list(frame.columns) == ["origin", "destination", "period_start", "period_end", "flow", "method"]
    assert len(frame) == 126_970 and set(frame["method"]) == {"da_pb_closed"}
    assert flow(frame, "Mexico", "United States", 1990) == 2_238_239
    assert flow(frame, "Mexico", "United States", 2015) == 1_635_815
    assert flow(frame, "United States", "Mexico", 1990) == 607_527
    assert (frame["period_end"] - frame["period_start"] == 5).all()


def test_long_file_with_an_unhelpful_name_needs_the_method() -> None:
    raw = shared(PB).read_bytes()
    with pytest.raises(UsageError):
        abel_cohen.parse_payload(raw, "flows.csv.gz")
    frame = abel_cohen.parse_payload(raw, "flows.csv.gz", ("da_pb_closed",))
    assert set(frame["method"]) == {"da_pb_closed"}


def test_publisher_layout_sums_sexes_and_types_per_method() -> None:
    frame = abel_cohen.parse_payload(abel_cohen_publisher_csv(), "bilat_mig_sex_type.csv")
    assert set(frame["method"]) == {"da_pb_closed", "da_min_closed"}
    assert flow(frame, "Mexico", "United States", 1990) == pytest.approx(2_238_239, abs=1e-6)
    assert frame.duplicated(["origin", "destination", "period_start", "method"]).sum() == 0


def test_method_filter_and_unknown_method() -> None:
    frame = abel_cohen.parse_payload(abel_cohen_publisher_csv(), "x.csv", ("da_min_closed",))
    assert set(frame["method"]) == {"da_min_closed"}
    with pytest.raises(UsageError, match="not in the data"):
        abel_cohen.parse_payload(abel_cohen_publisher_csv(), "x.csv", ("sd_rev_neg",))


def test_a_csv_without_the_needed_columns_lists_them() -> None:
    with pytest.raises(DataError) as err:
        abel_cohen.parse_payload(b"year0,orig,dest,sex\n1990,A,B,m\n", "x.csv")
    assert "no method column" in err.value.one_line()


def test_fetch_through_the_server_with_years(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request(f"/files/{abel_cohen.FILENAME}").respond_with_data(
        abel_cohen_publisher_csv(), content_type="text/csv")
    client = HttpClient(HttpSettings(attempts=1, cache_dir=tmp_path, quiet=True))
    opts = FetchOptions(base_url=httpserver.url_for("/files"), years=(1990, 1995), methods=("da_pb_closed",))
    (out,) = abel_cohen.fetch(opts, FetchContext(client=client, workdir=tmp_path))
    assert out.frame is not None and set(out.frame["period_start"]) == {1990, 1995}
    assert flow(out.frame, "Mexico", "United States", 1990) == pytest.approx(2_238_239)
    assert out.provenance.options["methods"] == ["da_pb_closed"]
