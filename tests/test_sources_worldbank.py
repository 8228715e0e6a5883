"""World Bank: API pages and WDI files parsed offline, and fetches through a local server."""

from __future__ import annotations

import gzip
import json
import zipfile
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from test_sources_recorded import (
    AGGREGATES,
    COUNTRIES,
    GDP,
    WDI_ERROR,
    shared,
    wdi_api_pages,
    wdi_country_list,
    wdi_gdp_long,
)

from migtrade.errors import DataError, SourceError, UsageError
from migtrade.sources import worldbank
from migtrade.sources.base import FetchContext, FetchOptions
from migtrade.sources.http import HttpClient, HttpSettings
from migtrade.sources.wdi_files import country_codes, read_wdi_csv

BULK = "wdi_covariates/API_BX.TRF.PWKR.DT.GD.ZS_DS2_en_csv_v2_3686014_extract_MEX_PHL_USA_WLD.csv"
INDICATOR_PATH = f"/v2/country/all/indicator/{GDP}"


def page_query(page: int, years: str = "1990:2020") -> dict[str, str]:
    return {"format": "json", "date": years, "per_page": "20000", "page": str(page)}


def serve_gdp(httpserver: HTTPServer, per_page: int = 60, *, country_list: bool = True) -> list[bytes]:
    pages = wdi_api_pages(per_page=per_page)
    for number, body in enumerate(pages, start=1):
        httpserver.expect_request(INDICATOR_PATH, query_string=page_query(number)).respond_with_data(
            body, content_type="application/json;charset=utf-8")
    if country_list:
        httpserver.expect_request("/v2/country/all").respond_with_data(wdi_country_list(),
                                                                       content_type="application/json")
    else:
        httpserver.expect_request("/v2/country/all").respond_with_data("no such path", status=404)
    return pages


def context(tmp_path: Path, **settings: object) -> FetchContext:
    values = {"attempts": 2, "backoff": 0.0, "cache_dir": tmp_path / "cache", "quiet": True, **settings}
    return FetchContext(client=HttpClient(HttpSettings(**values)), workdir=tmp_path, quiet=True)  # type: ignore[arg-type]


# -- parsers ---------------------------------------------------------------------------------


def test_api_page_parses_into_the_long_layout() -> None:
    header, records = worldbank.parse_api_page(wdi_api_pages(per_page=10_000)[0])
    frame = worldbank.records_to_frame(records, frozenset(AGGREGATES))
    assert list(frame.columns) == ["iso3", "country", "year", "indicator", "value", "is_aggregate"]
    assert header["total"] == len(records) == len(frame) + 1  # the null value is left out
    mex = frame[(frame["iso3"] == "MEX") & (frame["year"] == 2000)]
    real = wdi_gdp_long()
    assert mex["value"].item() == real.loc[(real["Country Code"] == "MEX") & (real["Year"] == 2000), "Value"].item()
    assert set(frame.loc[frame["is_aggregate"], "iso3"]) == set(AGGREGATES)


def test_api_error_answer_is_recognised() -> None:
    with pytest.raises(worldbank.ApiMessage) as err:
        worldbank.parse_api_page(WDI_ERROR)
    assert err.value.id == "120"


def test_invalid_json_is_a_format_error() -> None:
    with pytest.raises(worldbank.WorldBankFormatError, match="not valid JSON"):
        worldbank.parse_api_page(b'[{"page": 1, "pages"')


def test_kosovo_and_channel_islands_count_as_countries_without_the_api_list() -> None:
    assert {"XKX", "CHI", "MEX"} <= country_codes()
    assert not {"WLD", "EUU", "HIC", "LMY"} & country_codes()


def test_bulk_csv_extract_is_read_with_world_apart() -> None:
    frame, sha256, _ = read_wdi_csv(shared(BULK))
    assert set(frame["iso3"]) == {"MEX", "PHL", "USA", "WLD"}
    assert frame.loc[frame["is_aggregate"], "iso3"].unique().tolist() == ["WLD"]
    assert set(frame["indicator"]) == {"BX.TRF.PWKR.DT.GD.ZS"}
    mex = frame[(frame["iso3"] == "MEX") & (frame["year"] == 1979)]
    assert mex["value"].item() == pytest.approx(0.131538461538462, rel=1e-15)
    assert len(sha256) == 64


def test_long_gdp_and_population_files_need_the_indicator_named() -> None:
    with pytest.raises(UsageError) as err:
        read_wdi_csv(shared("wdi_covariates/gdp_current_usd.csv.gz"))
    assert "--indicator" in err.value.one_line()
    gdp, _, _ = read_wdi_csv(shared("wdi_covariates/gdp_current_usd.csv.gz"), (GDP,))
    pop, _, _ = read_wdi_csv(shared("wdi_covariates/population.csv.gz"), ("SP.POP.TOTL",))
    assert len(gdp) == 13_979 and len(pop) == 17_195
    for frame in (gdp, pop):
        aggregates = set(frame.loc[frame["is_aggregate"], "iso3"])
        assert {"WLD", "EUU", "HIC", "LMY", "EMU"} <= aggregates
        assert not aggregates & {"MEX", "USA", "PHL", "XKX"}
    assert gdp.loc[gdp["iso3"] == "EMU", "country"].iloc[0] == "Euro area"


def test_bulk_zip_uses_its_country_metadata(tmp_path: Path) -> None:
    meta = "Country Code,Region,IncomeGroup\nMEX,Latin America & Caribbean,Upper middle income\n" \
           "PHL,East Asia & Pacific,Lower middle income\nUSA,North America,High income\nWLD,,\n"
    path = tmp_path / "API_BX.TRF.PWKR.DT.GD.ZS_DS2_en_csv_v2_3686014.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("API_BX.TRF.PWKR.DT.GD.ZS_DS2_en_csv_v2_3686014.csv", shared(BULK).read_bytes())
        archive.writestr("Metadata_Country_API_BX.TRF.PWKR.DT.GD.ZS_DS2_en_csv_v2_3686014.csv", meta)
    frame, _, _ = read_wdi_csv(path)
    assert frame.groupby("iso3")["is_aggregate"].first().to_dict() == {"MEX": False, "PHL": False,
                                                                        "USA": False, "WLD": True}


def test_a_file_of_another_indicator_is_refused() -> None:
    with pytest.raises(DataError, match=r"holds BX\.TRF\.PWKR\.DT\.GD\.ZS, not SP\.POP\.TOTL"):
        read_wdi_csv(shared(BULK), ("SP.POP.TOTL",))


# -- fetches through the local server --------------------------------------------------------


def test_fetch_paginates_and_splits_countries_from_aggregates(httpserver: HTTPServer, tmp_path: Path) -> None:
    pages = serve_gdp(httpserver, per_page=60)
    assert len(pages) >= 3
    opts = FetchOptions(base_url=httpserver.url_for(""), indicators=(GDP,))
    countries, aggregates = worldbank.fetch(opts, context(tmp_path))
    assert countries.frame is not None and aggregates.frame is not None
    assert set(countries.frame["iso3"]) == set(COUNTRIES)
    assert set(aggregates.frame["iso3"]) == set(AGGREGATES)
    assert list(countries.frame.columns) == ["iso3", "country", "year", "indicator", "value"]
    real = wdi_gdp_long()
    assert len(countries.frame) + len(aggregates.frame) == len(real)
    usa = countries.frame[(countries.frame["iso3"] == "USA") & (countries.frame["year"] == 2020)]
    assert usa["value"].item() == real.loc[(real["Country Code"] == "USA") & (real["Year"] == 2020), "Value"].item()
    prov = countries.provenance
    assert prov.source == "worldbank" and prov.rows == len(countries.frame)
    assert prov.options["aggregates_from"] == "API country list"
    assert [p["location"].rsplit("page=", 1)[-1] for p in prov.options["payloads"][1:]] == \
        [str(i) for i in range(1, len(pages) + 1)]
    assert prov.sha256 == aggregates.provenance.sha256


def test_without_the_country_list_the_iso_list_decides(httpserver: HTTPServer, tmp_path: Path) -> None:
    serve_gdp(httpserver, per_page=20_000, country_list=False)
    opts = FetchOptions(base_url=httpserver.url_for(""), indicators=(GDP,))
    countries, aggregates = worldbank.fetch(opts, context(tmp_path))
    assert countries.frame is not None and aggregates.frame is not None
    assert set(aggregates.frame["iso3"]) == set(AGGREGATES)
    assert "XKX" in set(countries.frame["iso3"])
    assert countries.provenance.options["aggregates_from"].startswith("ISO 3166")


def test_environment_variable_points_at_a_mirror(httpserver: HTTPServer, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    serve_gdp(httpserver, per_page=20_000)
    monkeypatch.setenv("MIGTRADE_WORLDBANK_URL", httpserver.url_for("/").rstrip("/"))
    countries, _ = worldbank.fetch(FetchOptions(indicators=(GDP,)), context(tmp_path))
    assert countries.provenance.location.startswith(httpserver.url_for("/").rstrip("/"))


def test_unknown_indicator_is_one_usage_error_naming_it(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request("/v2/country/all").respond_with_data(wdi_country_list(), content_type="application/json")
    httpserver.expect_request("/v2/country/all/indicator/NOT.A.CODE").respond_with_data(
        WDI_ERROR, content_type="application/json")
    ctx = context(tmp_path)
    with pytest.raises(UsageError) as err:
        worldbank.fetch(FetchOptions(base_url=httpserver.url_for(""), indicators=("NOT.A.CODE",)), ctx)
    assert err.value.one_line().startswith("worldbank: unknown indicator 'NOT.A.CODE' (API message 120")
    # The error answer is not kept as if it were data.
    assert not ctx.client._cache.load(worldbank.page_url(httpserver.url_for("").rstrip("/"), "NOT.A.CODE",
                                                         (1990, 2020), 1))


def test_invalid_json_from_the_server_is_a_source_error(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request("/v2/country/all").respond_with_data(wdi_country_list(), content_type="application/json")
    httpserver.expect_request(INDICATOR_PATH).respond_with_data(b'[{"page": 1, "pa', content_type="application/json")
    with pytest.raises(SourceError, match="not valid JSON"):
        worldbank.fetch(FetchOptions(base_url=httpserver.url_for(""), indicators=(GDP,)), context(tmp_path))


def test_pages_that_do_not_add_up_to_the_total_are_refused(httpserver: HTTPServer, tmp_path: Path) -> None:
    header, records = json.loads(wdi_api_pages(per_page=20_000)[0])
    body = json.dumps([header, records[:-5]]).encode()
    httpserver.expect_request("/v2/country/all").respond_with_data(wdi_country_list(), content_type="application/json")
    httpserver.expect_request(INDICATOR_PATH).respond_with_data(body, content_type="application/json")
    with pytest.raises(SourceError, match="announced"):
        worldbank.fetch(FetchOptions(base_url=httpserver.url_for(""), indicators=(GDP,)), context(tmp_path))


def test_saved_api_page_and_gzip_file_are_accepted(tmp_path: Path) -> None:
    saved = tmp_path / "gdp.json"
    saved.write_bytes(wdi_api_pages(per_page=20_000)[0])
    countries, aggregates = worldbank.fetch(FetchOptions(file=saved, indicators=(GDP,)), context(tmp_path))
    assert countries.frame is not None and set(countries.frame["iso3"]) == set(COUNTRIES)
    zipped = tmp_path / "bulk.csv.gz"
    zipped.write_bytes(gzip.compress(shared(BULK).read_bytes()))
    countries, aggregates = worldbank.fetch(FetchOptions(file=zipped, years=(2000, 2010)), context(tmp_path))
    assert countries.frame is not None and countries.frame["year"].between(2000, 2010).all()
    assert aggregates.frame is not None and set(aggregates.frame["iso3"]) == {"WLD"}


def test_bad_indicator_syntax_is_refused_before_any_request() -> None:
    with pytest.raises(UsageError, match="not an indicator code"):
        worldbank.check_indicators(("GDP; DROP",))
    assert worldbank.check_indicators(()) == tuple(worldbank.DEFAULT_INDICATORS)

