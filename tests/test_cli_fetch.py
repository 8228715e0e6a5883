"""``migtrade fetch`` end to end: a local server in place of each publisher, a store in a temp folder.

Every failure must give one line on stderr, its documented exit code, and leave the store exactly
as it was.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from pytest_httpserver import HTTPServer
from test_sources_recorded import (
    AGGREGATES,
    COUNTRIES,
    GDP,
    WDI_ERROR,
    abel_cohen_publisher_csv,
    cepii_like_zip,
    shared,
    undesa_workbook,
    wdi_api_pages,
    wdi_country_list,
)
from typer.testing import CliRunner
from werkzeug import Response

from migtrade.cli.app import app, main
from migtrade.sources import SOURCES
from migtrade.store.catalog import Store
from migtrade.store.provenance import Provenance, utc_timestamp

INDICATOR_PATH = f"/v2/country/all/indicator/{GDP}"


@pytest.fixture(autouse=True)
def quick_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A private cache and store, few retries without waiting, short timeouts."""
    monkeypatch.setenv("MIGTRADE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MIGTRADE_STORE", str(tmp_path / "default-store"))
    monkeypatch.setenv("MIGTRADE_HTTP_ATTEMPTS", "2")
    monkeypatch.setenv("MIGTRADE_HTTP_BACKOFF", "0")
    monkeypatch.setenv("MIGTRADE_HTTP_TIMEOUT", "2")
    monkeypatch.delenv("MIGTRADE_WORLDBANK_URL", raising=False)


def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str, str]:
    """Run the entry point in this process, error handler included: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["migtrade", *args])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under the store with its size and modification time."""
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def serve_worldbank(httpserver: HTTPServer, per_page: int = 80) -> int:
    pages = wdi_api_pages(per_page=per_page)
    for number, body in enumerate(pages, start=1):
        httpserver.expect_request(INDICATOR_PATH, query_string={"format": "json", "date": "1990:2020",
                                                                "per_page": "20000", "page": str(number)}
                                  ).respond_with_data(body, content_type="application/json")
    httpserver.expect_request("/v2/country/all").respond_with_data(wdi_country_list(), content_type="application/json")
    return len(pages)


@pytest.fixture
def filled_store(tmp_path: Path) -> Path:
    """A store that already holds a dataset named like the one a fetch would write."""
    root = tmp_path / "store"
    frame = pd.DataFrame({"iso3": ["MEX"], "country": ["Mexico"], "year": [2000], "indicator": [GDP],
                          "value": [1.0]})
    Store(root).write("wdi", frame, Provenance(source="worldbank", location="earlier", retrieved_at=utc_timestamp(),
                                               sha256="0" * 64, parser_version="worldbank/1", rows=1))
    return root


def test_help_lists_every_source_with_its_description() -> None:
    result = CliRunner().invoke(app, ["fetch", "--help"], env={"COLUMNS": "250"})
    assert result.exit_code == 0
    for name, source in SOURCES.items():
        assert name in result.output
        assert source.description.split(":")[0] in result.output


def test_unknown_source_exits_2_with_the_list(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = cli(capsys, monkeypatch, "fetch", "imf")
    assert code == 2 and out == ""
    assert err.strip() == ("migtrade: error: unknown source 'imf'. Choose one of: worldbank, undesa, abel-cohen, "
                           "cepii, baci, file, yotov2016, santos-silva-tenreyro, ppml-fe-bias, ge-gravity.")


def test_worldbank_writes_countries_and_aggregates(httpserver: HTTPServer, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    serve_worldbank(httpserver)
    store = tmp_path / "store"
    code, out, err = cli(capsys, monkeypatch, "fetch", "worldbank", "--indicator", GDP, "--base-url",
                         httpserver.url_for(""), "--store", str(store))
    assert code == 0, err
    lines = out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["wdi", "wdi_aggregates"]
    wdi = Store(store).read("wdi")
    aggregates = Store(store).read("wdi_aggregates")
    assert set(wdi["iso3"]) == set(COUNTRIES) and set(aggregates["iso3"]) == set(AGGREGATES)
    info = Store(store).info("wdi")
    assert f"{info.rows:,} rows, sha256 {info.provenance.sha256[:12]}" in lines[0]
    assert info.provenance.options["indicators"] == [GDP]


def test_json_report_and_name_option(httpserver: HTTPServer, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    serve_worldbank(httpserver, per_page=20_000)
    monkeypatch.setenv("MIGTRADE_WORLDBANK_URL", httpserver.url_for("").rstrip("/"))
    code, out, err = cli(capsys, monkeypatch, "fetch", "worldbank", "-i", GDP, "--name", "gdp",
                         "--store", str(tmp_path / "s"), "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    assert [d["name"] for d in report] == ["gdp", "gdp_aggregates"]
    assert report[0]["provenance"]["location"].startswith(httpserver.url_for("").rstrip("/"))
    assert len(report[0]["sha256"]) == 64 and report[0]["rows"] > 0


def test_offline_uses_the_cache_and_a_miss_names_the_file_alternative(
        httpserver: HTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    serve_worldbank(httpserver)
    base = httpserver.url_for("")
    assert cli(capsys, monkeypatch, "fetch", "worldbank", "-i", GDP, "--base-url", base,
               "--store", str(tmp_path / "a"))[0] == 0
    requests = len(httpserver.log)
    code, _, err = cli(capsys, monkeypatch, "fetch", "worldbank", "-i", GDP, "--base-url", base,
                         "--store", str(tmp_path / "b"), "--offline")
    assert code == 0, err
    assert len(httpserver.log) == requests
    assert Store(tmp_path / "a").read("wdi").equals(Store(tmp_path / "b").read("wdi"))
    code, _out, err = cli(capsys, monkeypatch, "fetch", "worldbank", "-i", "SP.POP.TOTL", "--base-url", base,
                         "--store", str(tmp_path / "c"), "--offline")
    assert code == 3 and len(err.splitlines()) == 1
    assert "worldbank: offline" in err and "--file" in err
    assert not (tmp_path / "c").exists()


def test_unknown_indicator_is_one_line_and_leaves_the_store(
        httpserver: HTTPServer, filled_store: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    httpserver.expect_request("/v2/country/all").respond_with_data(wdi_country_list(), content_type="application/json")
    httpserver.expect_request("/v2/country/all/indicator/XX.FAKE").respond_with_data(WDI_ERROR,
                                                                                     content_type="application/json")
    before = snapshot(filled_store)
    code, out, err = cli(capsys, monkeypatch, "fetch", "worldbank", "-i", "XX.FAKE", "--base-url",
                         httpserver.url_for(""), "--store", str(filled_store))
    assert code == 2 and out == ""
    assert err.splitlines() == [err.strip()]
    assert "unknown indicator 'XX.FAKE'" in err
    assert snapshot(filled_store) == before


def test_unreachable_host_exits_3_and_leaves_the_store(
        filled_store: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("MIGTRADE_WORLDBANK_URL", f"http://127.0.0.1:{port}")
    before = snapshot(filled_store)
    code, _, err = cli(capsys, monkeypatch, "fetch", "worldbank", "--store", str(filled_store))
    assert code == 3
    assert err.strip() == (f"migtrade: error: worldbank: cannot reach 127.0.0.1:{port} (connection refused; "
                           "2 attempts). Check the network, set MIGTRADE_WORLDBANK_URL to a mirror, or pass "
                           "--file with a downloaded copy.")
    assert snapshot(filled_store) == before


@pytest.mark.parametrize("failure", ["404", "truncated", "html"])
def test_http_failures_exit_3_and_leave_the_store(
        failure: str, httpserver: HTTPServer, filled_store: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    route = httpserver.expect_request("/Gravity_csv_V202211.zip")
    if failure == "404":
        route.respond_with_data("not found", status=404)
    elif failure == "html":
        route.respond_with_data("<html>maintenance</html>", content_type="text/html")
    else:
        def cut(_request: object) -> Response:
            response = Response(b"PK\x03\x04" + b"0" * 100, content_type="application/zip")
            response.headers["Content-Length"] = "5000"
            response.automatically_set_content_length = False
            return response
        route.respond_with_handler(cut)
    before = snapshot(filled_store)
    code, out, err = cli(capsys, monkeypatch, "fetch", "cepii", "--base-url", httpserver.url_for(""),
                         "--store", str(filled_store))
    assert code == 3 and out == "" and len(err.splitlines()) == 1
    assert err.startswith("migtrade: error: cepii: ")
    assert snapshot(filled_store) == before


def test_undesa_workbook_through_the_server(httpserver: HTTPServer, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    httpserver.expect_request("/files/undesa_pd_2020_ims_stock_by_sex_destination_and_origin.xlsx").respond_with_data(
        undesa_workbook(), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    code, out, err = cli(capsys, monkeypatch, "fetch", "undesa", "--base-url", httpserver.url_for("/files"),
                         "--store", str(tmp_path / "s"))
    assert code == 0, err
    assert out.startswith("undesa_stock: ")
    frame = Store(tmp_path / "s").read("undesa_stock")
    pick = frame[(frame["origin"] == "Mexico") & (frame["destination"] == "United States")]
    assert pick.set_index("year")["stock"].loc[[1990, 2020]].tolist() == [4_298_014, 10_853_105]


def test_abel_cohen_publisher_csv_through_the_server(httpserver: HTTPServer, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    httpserver.expect_request("/files/53236079").respond_with_data(abel_cohen_publisher_csv(), content_type="text/csv")
    monkeypatch.setenv("MIGTRADE_ABEL_COHEN_URL", httpserver.url_for("/files"))
    code, _out, err = cli(capsys, monkeypatch, "fetch", "abel-cohen", "--method", "da_pb_closed",
                         "--store", str(tmp_path / "s"))
    assert code == 0, err
    frame = Store(tmp_path / "s").read("abel_cohen_flows")
    pick = frame[(frame["origin"] == "Mexico") & (frame["destination"] == "United States")
                 & (frame["period_start"] == 1990)]
    assert pick["flow"].item() == pytest.approx(2_238_239) and set(frame["method"]) == {"da_pb_closed"}


def test_cepii_zip_through_the_server_and_from_a_file(httpserver: HTTPServer, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    body = cepii_like_zip()
    httpserver.expect_request("/data/Gravity_csv_V202211.zip").respond_with_data(body, content_type="application/zip")
    code, _, err = cli(capsys, monkeypatch, "fetch", "cepii", "--base-url", httpserver.url_for("/data"),
                         "--years", "1994:1998", "--store", str(tmp_path / "s"))
    assert code == 0, err
    served = Store(tmp_path / "s").read("cepii_gravity")
    assert set(served["year"]) == {1994, 1998}
    local = tmp_path / "Gravity_csv_V202211.zip"
    local.write_bytes(body)
    code, _out, err = cli(capsys, monkeypatch, "fetch", "cepii", "--file", str(local), "--columns", "trade,dist",
                         "--years", "1994:1998", "--name", "gravity_small", "--store", str(tmp_path / "s"))
    assert code == 0, err
    small = Store(tmp_path / "s").read("gravity_small")
    assert list(small.columns) == ["origin", "destination", "year", "trade", "dist"]
    assert small["trade"].sum() == pytest.approx(served["trade"].sum())


def test_user_file_with_a_mapping_and_a_wrong_one(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    path = shared("r_gravity_pkg/gravity_zeros.csv.gz")
    store = tmp_path / "s"
    code, out, err = cli(capsys, monkeypatch, "fetch", "file", "--file", str(path), "--map", "origin=iso_o",
                         "--map", "destination=iso_d", "--map", "trade=flow", "--store", str(store))
    assert code == 0, err
    assert out.startswith("gravity_zeros: 22,588 rows")
    assert {"origin", "destination", "trade"} <= set(Store(store).read("gravity_zeros").columns)
    before = snapshot(store)
    code, out, err = cli(capsys, monkeypatch, "fetch", "file", "--file", str(path), "--map", "origin=exporter",
                         "--store", str(store))
    assert code == 2 and "no column 'exporter'" in err and "iso_o" in err
    assert snapshot(store) == before


def test_bad_years_and_missing_file_are_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = cli(capsys, monkeypatch, "fetch", "undesa", "--years", "2020:1990", "--store", str(tmp_path))
    assert code == 2 and "--years" in err
    code, _, err = cli(capsys, monkeypatch, "fetch", "undesa", "--file", str(tmp_path / "nope.xlsx"))
    assert code == 2 and "does not exist" in err


def test_installed_entry_point_fetches_a_real_file(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("migtrade")
    path = shared("abel_cohen_flows/abel_cohen_flows_da_pb_closed_long.csv.gz")
    proc = subprocess.run([str(exe), "fetch", "abel-cohen", "--file", str(path), "--store", str(tmp_path / "s")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("abel_cohen_flows: 126,970 rows, sha256 0b7baf7845f3")
