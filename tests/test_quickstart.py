"""``migtrade quickstart`` end to end: offline on the synthetic panel, and with a local server
standing in for the World Bank, UN DESA, Abel-Cohen and CEPII (recorded from the real files)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import cli
from pytest_httpserver import HTTPServer
from test_sources_recorded import (
    abel_cohen_publisher_csv,
    cepii_like_zip,
    undesa_workbook,
    wdi_api_pages,
    wdi_country_list,
)

from migtrade.sources.worldbank import DEFAULT_INDICATORS

EXE = Path(sys.executable).with_name("migtrade")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed program in its own process: the README's main job, as a user runs it."""
    return subprocess.run([str(EXE), *args], capture_output=True, text=True, timeout=600)


def test_offline_says_synthetic_in_first_and_last_line() -> None:
    proc = run("quickstart", "--offline", "--countries", "20", "--years", "4")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("SYNTHETIC DATA (--offline)") and lines[-1].startswith("SYNTHETIC DATA")
    assert "verdict complements (generated as complements)" in lines[-1]


def test_unreachable_network_falls_back_to_synthetic() -> None:
    code, _, err = cli("quickstart", "--countries", "20", "--years", "4",
                       env={"MIGTRADE_WORLDBANK_URL": "http://127.0.0.1:9"})
    assert code == 0, err
    assert err.startswith("SYNTHETIC DATA (no network")


def test_real_path_through_a_local_server(httpserver: HTTPServer, tmp_path: Path) -> None:
    for code in DEFAULT_INDICATORS:
        pages = wdi_api_pages(per_page=400, indicator=code, indicator_name=code)
        for number, body in enumerate(pages, start=1):
            httpserver.expect_request(f"/v2/country/all/indicator/{code}", query_string={
                "format": "json", "date": "1990:2020", "per_page": "20000", "page": str(number)},
            ).respond_with_data(body, content_type="application/json")
    httpserver.expect_request("/v2/country/all").respond_with_data(wdi_country_list(), content_type="application/json")
    httpserver.expect_request("/files/undesa_pd_2020_ims_stock_by_sex_destination_and_origin.xlsx").respond_with_data(
        undesa_workbook(), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    httpserver.expect_request("/files/53236079").respond_with_data(abel_cohen_publisher_csv(), content_type="text/csv")
    httpserver.expect_request("/data/Gravity_csv_V202211.zip").respond_with_data(
        cepii_like_zip(years=(1990, 1995, 2000, 2005)), content_type="application/zip")
    base = httpserver.url_for("").rstrip("/")
    env = {"MIGTRADE_WORLDBANK_URL": base, "MIGTRADE_UNDESA_URL": f"{base}/files",
           "MIGTRADE_ABEL_COHEN_URL": f"{base}/files", "MIGTRADE_CEPII_URL": f"{base}/data"}
    env |= {"MIGTRADE_CACHE": str(tmp_path / "cache"), "MIGTRADE_HTTP_ATTEMPTS": "1"}
    code, out, err = cli("quickstart", "--store", tmp_path / "store", "--format", "json", env=env)
    assert code == 0, err
    assert err.startswith("migtrade quickstart: real data")
    assert "SYNTHETIC" not in err
    assert "substitution battery verdict" in err.strip().splitlines()[-1]
    assert '"migrant_stock' in out or "log1p(migrant_stock)" in out


pytest.importorskip("pytest_httpserver")
