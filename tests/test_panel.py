"""The dyadic panel: assembly from the real shared data, the schema checks, and the rules.

Published sanity values (MANIFEST.md of the shared data): UN DESA 2020 Mexico -> United States
4,298,014 (1990) and 10,853,105 (2020), Philippines -> United States 2,061,178 (2020);
Abel-Cohen da_pb_closed Mexico -> United States 1990-95 = 2,238,239.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import shared_file

from migtrade.errors import DataError, UsageError
from migtrade.panel.assemble import PanelResult, assemble_panel
from migtrade.panel.schema import KEYS, PANEL_SCHEMA, panel_problems, validate_panel

OVERLAP_YEARS = [1990, 1995, 2000, 2005]


@pytest.fixture(scope="module")
def trade() -> pd.DataFrame:
    return pd.read_csv(shared_file("yotov2016_agtpa/agtpa_applications.csv.gz"))


@pytest.fixture(scope="module")
def stocks() -> pd.DataFrame:
    return pd.read_csv(shared_file("undesa_migrant_stock/undesa_ims2020_bilateral_stock_long.csv.gz"))


@pytest.fixture(scope="module")
def flows() -> pd.DataFrame:
    return pd.read_csv(shared_file("abel_cohen_flows/abel_cohen_flows_da_pb_closed_long.csv.gz"))


@pytest.fixture(scope="module")
def wdi() -> pd.DataFrame:
    gdp = pd.read_csv(shared_file("wdi_covariates/gdp_current_usd.csv.gz"))
    pop = pd.read_csv(shared_file("wdi_covariates/population.csv.gz"))
    return pd.concat([gdp.assign(indicator="NY.GDP.MKTP.CD"), pop.assign(indicator="SP.POP.TOTL")])


@pytest.fixture(scope="module")
def full(trade: pd.DataFrame, stocks: pd.DataFrame, flows: pd.DataFrame,
         wdi: pd.DataFrame) -> PanelResult:
    """Everything in the shared data: all years, all countries."""
    return assemble_panel(trade=trade, stocks=stocks, flows=flows, country_year=wdi)


@pytest.fixture(scope="module")
def overlap(trade: pd.DataFrame, stocks: pd.DataFrame, flows: pd.DataFrame,
            wdi: pd.DataFrame) -> PanelResult:
    """The 69 countries of the Yotov data in the four years all sources share."""
    countries = sorted(set(trade["exporter"]))
    return assemble_panel(trade=trade, stocks=stocks, flows=flows, country_year=wdi,
                          years=OVERLAP_YEARS, countries=countries)


def row(panel: pd.DataFrame, origin: str, destination: str, year: int) -> pd.Series:
    hit = panel[(panel["origin"] == origin) & (panel["destination"] == destination)
                & (panel["year"] == year)]
    assert len(hit) == 1, (origin, destination, year)
    return hit.iloc[0]


# -- the published numbers --------------------------------------------------------------------

def test_migrant_stocks_match_the_published_values(full: PanelResult) -> None:
    panel = full.frame
    assert row(panel, "MEX", "USA", 1990)["migrant_stock"] == 4_298_014
    assert row(panel, "MEX", "USA", 2020)["migrant_stock"] == 10_853_105
    assert row(panel, "PHL", "USA", 2020)["migrant_stock"] == 2_061_178


def test_reverse_stock_is_the_stock_of_the_mirror_pair(full: PanelResult) -> None:
    panel = full.frame
    assert row(panel, "USA", "MEX", 1990)["migrant_stock_reverse"] == 4_298_014
    assert row(panel, "MEX", "USA", 1990)["migrant_stock_reverse"] == row(
        panel, "USA", "MEX", 1990)["migrant_stock"]
    mirror = panel[["origin", "destination", "year", "migrant_stock"]].rename(
        columns={"origin": "destination", "destination": "origin", "migrant_stock": "mirror"})
    both = panel.merge(mirror, on=list(KEYS))
    assert np.array_equal(both["migrant_stock_reverse"].to_numpy(), both["mirror"].to_numpy(),
                          equal_nan=True)


def test_flow_sits_on_the_period_start_row(full: PanelResult) -> None:
    panel = full.frame
    first = row(panel, "MEX", "USA", 1990)
    assert first["migration_flow"] == 2_238_239 and first["migration_period"] == "1990-1995"
    assert row(panel, "MEX", "USA", 2015)["migration_flow"] == 1_635_815
    assert row(panel, "USA", "MEX", 1990)["migration_flow"] == 607_527
    between = row(panel, "MEX", "USA", 1991)
    assert np.isnan(between["migration_flow"]) and pd.isna(between["migration_period"])
    assert set(panel["migration_period"].dropna().str.slice(0, 4).astype(int)) == {
        1990, 1995, 2000, 2005, 2010, 2015}


def test_trade_matches_the_yotov_source(full: PanelResult, trade: pd.DataFrame) -> None:
    source = trade[(trade["exporter"] == "MEX") & (trade["importer"] == "USA")].sort_values("year")
    panel = full.frame
    mine = panel[(panel["origin"] == "MEX") & (panel["destination"] == "USA")
                 & panel["year"].between(1986, 2006)].sort_values("year")
    assert mine["year"].tolist() == source["year"].tolist() == list(range(1986, 2007))
    assert np.array_equal(mine["trade"].to_numpy(), source["trade"].to_numpy())
    assert np.array_equal(mine["rta"].to_numpy(), source["rta"].to_numpy(dtype=float))
    assert mine["contig"].eq(1).all() and mine["dist"].nunique() == 1


def test_every_yotov_row_is_in_the_panel_with_its_values(full: PanelResult, trade: pd.DataFrame) -> None:
    source = trade.assign(exporter=trade["exporter"].replace("ROM", "ROU"),
                          importer=trade["importer"].replace("ROM", "ROU"))
    both = source.merge(full.frame, left_on=["exporter", "importer", "year"],
                        right_on=list(KEYS), how="left", validate="one_to_one",
                        suffixes=("_yotov", ""))
    assert len(both) == len(trade) == 99_981
    for theirs, mine in (("trade_yotov", "trade"), ("dist_yotov", "dist"), ("cntg", "contig"),
                         ("lang", "comlang"), ("clny", "colony"), ("rta_yotov", "rta")):
        assert np.array_equal(both[theirs].to_numpy(float), both[mine].to_numpy(float)), theirs
    assert "trade: retired or non-standard codes recoded: ROM->ROU" in full.notes


def test_country_year_covariates_on_both_sides(full: PanelResult, wdi: pd.DataFrame) -> None:
    r = row(full.frame, "MEX", "USA", 2000)
    gdp = wdi[wdi["indicator"] == "NY.GDP.MKTP.CD"].set_index(["Country Code", "Year"])["Value"]
    pop = wdi[wdi["indicator"] == "SP.POP.TOTL"].set_index(["Country Code", "Year"])["Value"]
    assert r["gdp_o"] == gdp[("MEX", 2000)] and r["gdp_d"] == gdp[("USA", 2000)]
    assert r["pop_o"] == pop[("MEX", 2000)] and r["pop_d"] == pop[("USA", 2000)]
    assert np.isnan(r["remittances_o"])  # no such input: missing, not 0
    assert "WLD" in full.aggregates["country_year"]


# -- shape, keys and the overlap panel -----------------------------------------------------------

def test_full_panel_is_valid_and_follows_the_schema(full: PanelResult) -> None:
    validate_panel(full.frame)
    assert list(full.frame.columns) == [c.name for c in PANEL_SCHEMA]
    assert not full.unmatched
    assert full.frame["year"].dtype == np.int64


def test_overlap_panel_has_69_countries_and_every_pair(overlap: PanelResult) -> None:
    panel = overlap.frame
    validate_panel(panel)
    assert len(overlap.countries()) == 69
    assert len(panel) == 69 * 69 * 4 == 19_044
    assert sorted(panel["year"].unique()) == OVERLAP_YEARS
    assert overlap.coverage["rows"].tolist() == [4761] * 4
    assert (overlap.coverage["trade"] == 1.0).all()
    assert (overlap.coverage["gdp_o"] == 1.0).all()
    assert overlap.coverage["remittances_o"].eq(0).all()
    assert 0.5 < overlap.coverage["migrant_stock"].astype(float)[1990] < 1
    assert row(panel, "MEX", "USA", 1990)["migrant_stock"] == 4_298_014


def test_domestic_pairs_only_from_trade(full: PanelResult, trade: pd.DataFrame) -> None:
    panel = full.frame
    domestic = panel[panel["origin"] == panel["destination"]]
    assert len(domestic) == int((trade["exporter"] == trade["importer"]).sum()) == 1449
    assert domestic["migrant_stock"].isna().all() and domestic["trade"].notna().all()
    no_trade = assemble_panel(stocks=pd.DataFrame({
        "origin": ["Mexico", "Mexico"], "destination": ["Mexico", "Chile"], "year": [1990, 1990],
        "stock": [5.0, 7.0]}))
    assert no_trade.frame[["origin", "destination"]].values.tolist() == [["MEX", "CHL"]]


def test_missing_is_never_zero(full: PanelResult, stocks: pd.DataFrame, trade: pd.DataFrame) -> None:
    panel = full.frame
    assert int((panel["migrant_stock"] == 0).sum()) == int((stocks["stock"] == 0).sum()) == 0
    in_trade_years = panel["year"].between(1986, 2006)
    assert int((panel.loc[in_trade_years, "trade"] == 0).sum()) == int((trade["trade"] == 0).sum())
    assert panel.loc[panel["year"] >= 2010, "trade"].isna().all()
    assert panel.loc[panel["year"] >= 2010, "rta"].isna().all()  # RTAs change: not carried
    assert any("NaN here, not 0" in note for note in full.notes)


def test_time_invariant_geography_is_carried_to_migration_years(full: PanelResult) -> None:
    assert row(full.frame, "MEX", "USA", 2020)["dist"] == row(full.frame, "MEX", "USA", 1990)["dist"]
    assert row(full.frame, "MEX", "USA", 2020)["contig"] == 1


# -- rules on small frames -------------------------------------------------------------------------

def small_trade() -> pd.DataFrame:
    return pd.DataFrame({"exporter": ["MEX", "MEX", "USA", "USA"],
                         "importer": ["USA", "USA", "MEX", "USA"], "year": [1990, 1991, 1990, 1990],
                         "trade": [10.0, 0.0, 4.0, 99.0], "dist": [2000.0, 2000.0, 2000.0, 10.0],
                         "cntg": [1, 1, 1, 0]})


def test_coverage_table_contents() -> None:
    stocks = pd.DataFrame({"orig": ["Mexico", "Atlantis", "World"],
                           "dest": ["United States of America", "Mexico", "Mexico"],
                           "year": [1990, 1990, 1990], "stock": [5.0, 1.0, 9.0]})
    result = assemble_panel(trade=small_trade(), stocks=stocks)
    cov = result.coverage
    assert cov["rows"].to_dict() == {1990: 3, 1991: 1}
    assert cov.loc[1990, "trade"] == 1.0 and cov.loc[1991, "trade"] == 1.0
    assert cov.loc[1990, "migrant_stock"] == pytest.approx(1 / 3)
    assert cov.loc[1990, "migrant_stock_reverse"] == pytest.approx(1 / 3)
    assert cov.loc[1991, "migrant_stock"] == 0.0
    assert cov.loc[1990, "gdp_o"] == 0.0
    assert result.unmatched == {"stocks": ["Atlantis"]}
    assert result.aggregates == {"stocks": ["World"]}
    assert row(result.frame, "MEX", "USA", 1991)["trade"] == 0.0  # a real zero stays zero


def test_years_and_countries_restrict_and_check() -> None:
    result = assemble_panel(trade=small_trade(), years=[1991], countries=["Mexico", "US"])
    assert result.frame[list(KEYS)].values.tolist() == [["MEX", "USA", 1991]]
    with pytest.raises(UsageError, match="not a country: Atlantis"):
        assemble_panel(trade=small_trade(), countries=["MEX", "Atlantis"])


def test_covariates_without_year_apply_to_every_year_and_win() -> None:
    cov = pd.DataFrame({"iso_o": ["MEX"], "iso_d": ["USA"], "distw": [1500.0], "comlang_off": [1]})
    result = assemble_panel(trade=small_trade(), covariates=cov)
    panel = result.frame
    assert panel.loc[panel["origin"] == "MEX", "dist"].tolist() == [1500.0, 1500.0]
    assert row(panel, "USA", "MEX", 1990)["dist"] == 2000.0
    assert np.isnan(row(panel, "USA", "MEX", 1990)["comlang"])


def test_two_names_for_one_country_are_added_up_with_a_note() -> None:
    stocks = pd.DataFrame({"origin": ["Sudan", "Sudan (former)"], "destination": ["Egypt", "Egypt"],
                           "year": [2000, 2000], "stock": [3.0, 4.0]})
    result = assemble_panel(stocks=stocks)
    assert row(result.frame, "SDN", "EGY", 2000)["migrant_stock"] == 7.0
    assert any("added up" in note for note in result.notes)


def test_flows_must_hold_one_method() -> None:
    flows = pd.DataFrame({"origin": ["MEX", "MEX"], "destination": ["USA", "USA"],
                          "period_start": [1990, 1990], "period_end": [1995, 1995],
                          "flow": [1.0, 2.0], "method": ["da_pb_closed", "da_min_closed"]})
    with pytest.raises(DataError, match="mixes estimation methods"):
        assemble_panel(flows=flows)


def test_inputs_lacking_columns_are_named() -> None:
    with pytest.raises(DataError, match="stocks input lacks stock"):
        assemble_panel(stocks=pd.DataFrame({"orig": ["MEX"], "dest": ["USA"], "year": [1990]}))
    with pytest.raises(DataError, match="no dyadic input"):
        assemble_panel(country_year=pd.DataFrame({"iso3": ["MEX"], "year": [1990],
                                                  "indicator": ["SP.POP.TOTL"], "value": [1.0]}))


# -- validate_panel ----------------------------------------------------------------------------------

@pytest.fixture
def valid() -> pd.DataFrame:
    return assemble_panel(trade=small_trade()).frame


BROKEN = [
    (lambda f: f.drop(columns="year"), "key column(s) year missing"),
    (lambda f: pd.concat([f, f.head(1)], ignore_index=True), "share their (origin, destination, year)"),
    (lambda f: f.assign(origin=f["origin"].replace("MEX", "MEXICO")), "not ISO 3166-1 alpha-3: MEXICO"),
    (lambda f: f.assign(destination=f["destination"].replace("USA", "XXX")), "destination holds codes"),
    (lambda f: f.assign(trade=-f["trade"] - 1), "negative value(s) in 'trade'"),
    (lambda f: f.assign(migrant_stock=-1.0), "negative value(s) in 'migrant_stock'"),
    (lambda f: f.assign(contig=2.0), "'contig' holds values other than 0 and 1"),
    (lambda f: f.assign(year=f["year"].astype(float)), "'year' should be integer"),
    (lambda f: f.assign(trade=f["trade"].astype(str)), "'trade' should be float64"),
    (lambda f: f.assign(migration_period="1990/95"), "migration_period not of the form"),
    (lambda f: f.assign(migration_period="1985-1990"), "do not start in the row's year"),
    (lambda f: f.assign(extra=1.0), "not in the panel schema: extra"),
]


@pytest.mark.parametrize(("breaker", "message"), BROKEN)
def test_validate_panel_names_what_is_wrong(valid: pd.DataFrame, breaker, message: str) -> None:
    assert panel_problems(valid) == []
    with pytest.raises(DataError) as info:
        validate_panel(breaker(valid))
    assert message in str(info.value)


def test_validate_panel_lists_every_problem(valid: pd.DataFrame) -> None:
    problems = panel_problems(valid.assign(trade=-1.0, rta=3.0))
    assert len(problems) == 2
