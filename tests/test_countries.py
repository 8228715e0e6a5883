"""Country names and codes to ISO 3166-1 alpha-3.

Three kinds of evidence: round trips over every ISO country (hypothesis varies case, spacing and
the form of the code), the hard cases economists meet (UN official names, World Bank names,
former states, non-ISO entities), and every distinct name in the real UN DESA and Abel-Cohen
files, where every country-like name must match and only regions may be set aside.
"""

from __future__ import annotations

import math
from typing import Any

import iso3166
import numpy as np
import pandas as pd
import pytest
from conftest import shared_file
from hypothesis import given
from hypothesis import strategies as st

from migtrade.errors import UsageError
from migtrade.panel import country_aliases as aliases
from migtrade.panel.countries import MISSING, CountryMatch, known_codes, normalize_name, to_iso3

ISO = list(iso3166.countries)


def one(value: Any, source: str | None = None) -> str | None:
    return to_iso3([value], source=source).codes[0]


def _vary_case(text: str, flips: list[bool]) -> str:
    return "".join(ch.upper() if flip else ch.lower()
                   for ch, flip in zip(text, flips + [False] * len(text), strict=False))


@given(country=st.sampled_from(ISO), flips=st.lists(st.booleans(), max_size=60),
       pad=st.sampled_from(["", " ", "  ", "\t"]))
def test_every_iso_code_round_trips(country: iso3166.Country, flips: list[bool], pad: str) -> None:
    expected = country.alpha3
    for value in (country.alpha2, country.alpha3, country.name, country.apolitical_name):
        assert one(pad + _vary_case(value, flips) + pad) == expected, value
    assert one(int(country.numeric)) == expected
    assert one(country.numeric) == expected  # zero-padded, e.g. "004"
    assert one(str(int(country.numeric))) == expected
    assert one(np.int64(int(country.numeric))) == expected


@given(country=st.sampled_from(ISO))
def test_names_survive_lost_accents_and_punctuation(country: iso3166.Country) -> None:
    plain = "".join(ch for ch in country.name if ch.isalnum() or ch == " ")
    assert one(plain.upper()) == country.alpha3
    assert one(f"  {country.name.replace(' ', '   ')} ") == country.alpha3


HARD_CASES = {
    "United States of America": "USA", "United States": "USA", "USA": "USA", "US": "USA",
    "Bolivia (Plurinational State of)": "BOL", "Iran (Islamic Republic of)": "IRN",
    "Venezuela (Bolivarian Republic of)": "VEN", "Republic of Korea": "KOR",
    "Dem. People's Republic of Korea": "PRK", "Korea, Dem. People's Rep.": "PRK",
    "China, Hong Kong SAR": "HKG", "Hong Kong SAR, China": "HKG", "China, Macao SAR": "MAC",
    "Côte d'Ivoire": "CIV", "Cote d'Ivoire": "CIV", "Côte d’Ivoire": "CIV", "COTE D IVOIRE": "CIV",
    "Türkiye": "TUR", "Turkiye": "TUR", "Turkey": "TUR", "Czechia": "CZE", "Czech Republic": "CZE",
    "Viet Nam": "VNM", "Vietnam": "VNM", "Lao People's Democratic Republic": "LAO", "Lao PDR": "LAO",
    "State of Palestine": "PSE", "West Bank and Gaza": "PSE", "Kosovo": "XKX", "XK": "XKX",
    "Channel Islands": "CHI", "Serbia and Montenegro": "SCG", "Serbia & Montenegro": "SCG",
    "Netherlands Antilles": "ANT", "Sudan (former)": "SDN", "Sudan*": "SDN", "Sudan": "SDN",
    "Micronesia (Fed. States of)": "FSM", "Micronesia, Fed. Sts.": "FSM", "FS Micronesia": "FSM",
    "Saint Helena": "SHN", "St. Helena": "SHN", "Curaçao": "CUW", "Curacao": "CUW",
    "Réunion": "REU", "Reunion": "REU", "Holy See": "VAT", "Vatican City": "VAT", "Sark": "GGY",
    "Egypt, Arab Rep.": "EGY", "Yemen, Rep.": "YEM", "Venezuela, RB": "VEN", "Bahamas, The": "BHS",
    "Gambia, The": "GMB", "Congo, Dem. Rep.": "COD", "Congo, Rep.": "COG", "Congo": "COG",
    "Democratic Republic of the Congo": "COD", "DR Congo": "COD", "Kyrgyz Republic": "KGZ",
    "Slovak Republic": "SVK", "St. Vincent & Grenadines": "VCT", "Saint Kitts and Nevis": "KNA",
    "St. Kitts & Nevis": "KNA", "United Kingdom": "GBR", "UK": "GBR", "Russia": "RUS",
    "Eswatini": "SWZ", "Swaziland": "SWZ", "North Macedonia": "MKD", "Cabo Verde": "CPV",
    "Cape Verde": "CPV", "Nauru": "NRU", "U.S. Virgin Islands": "VIR", "Virgin Islands (U.S.)": "VIR",
    "British Virgin Islands": "VGB", "Caribbean Netherlands": "BES", "Åland Islands": "ALA",
    "ROM": "ROU", "ZAR": "COD", "TMP": "TLS", "CHI": "CHI", "SCG": "SCG",
    "840": "USA", "004": "AFG", "830": "CHI", "891": "SCG", "736": "SDN", "530": "ANT",
}


@pytest.mark.parametrize(("name", "code"), HARD_CASES.items())
def test_hard_cases(name: str, code: str) -> None:
    assert one(name) == code


AGGREGATES = [
    "World", "WORLD", "Total", "Other North", "Other South", "Sub-Saharan Africa",
    "High-income countries", "High income", "Latin America and the Caribbean",
    "Latin America & Caribbean", "Europe", "Northern America", "Australia and New Zealand",
    "Least developed countries", "Less developed regions, excluding China", "Euro area",
    "European Union", "East Asia & Pacific (excluding high income)", "IDA & IBRD total",
    "Small Island Developing States (SIDS)", "Upper-middle-income countries", "Arab World",
    "WLD", "SSF", "HIC", "EUU", "1W", 900, "900", 1, "002", 419, 1503,
]


@pytest.mark.parametrize("value", AGGREGATES)
def test_aggregates_are_reported_and_get_no_code(value: str | int) -> None:
    match = to_iso3([value])
    assert match.codes == (None,)
    assert match.aggregates == {str(value)} and not match.unmatched


def test_unmatched_are_reported_in_place_never_dropped() -> None:
    values: list[Any] = ["Mexico", "Atlantis", "Narnia", "Mexico", "Atlantis", "XYZ", 999_999]
    match = to_iso3(values)
    assert isinstance(match, CountryMatch)
    assert len(match) == len(values)
    assert match.codes == ("MEX", None, None, "MEX", None, None, None)
    assert match.unmatched == {"Atlantis", "Narnia", "XYZ", "999999"}
    assert match.n_matched == 2
    assert match.mapping() == {"Mexico": "MEX"}
    assert "4 unmatched" in match.summary()


def test_missing_values_are_unmatched_not_skipped() -> None:
    match = to_iso3(["MEX", None, math.nan, "", "  ", pd.NA])  # type: ignore[list-item]
    assert match.codes == ("MEX", None, None, None, None, None)
    assert match.unmatched == {MISSING}


def test_numbers_as_floats_and_numpy() -> None:
    values: list[Any] = [484.0, np.float64(840), np.int32(608), 484.5]
    assert to_iso3(values).codes == ("MEX", "USA", "PHL", None)


def test_source_settles_micronesia() -> None:
    assert to_iso3(["Micronesia"]).unmatched == {"Micronesia"}  # ambiguous without a source
    undesa = to_iso3(["Micronesia", "Micronesia (Fed. States of)"], source="undesa")
    assert undesa.codes == (None, "FSM") and undesa.aggregates == {"Micronesia"}
    with pytest.raises(UsageError, match="unknown country source 'unesco'"):
        to_iso3(["Mexico"], source="unesco")


def test_normalize_name() -> None:
    assert normalize_name("  Côte d’Ivoire ") == "cote divoire"
    assert normalize_name("St. Vincent & the Grenadines") == "saint vincent and grenadines"
    assert normalize_name("Bolivia (Plurinational State of)") == normalize_name(
        "Bolivia, Plurinational State of")


def test_exception_tables_are_consistent() -> None:
    codes = known_codes()
    iso3 = {c.alpha3 for c in ISO}
    assert iso3 <= codes and set(aliases.NON_ISO_ENTITIES) <= codes
    assert set(aliases.NAME_ALIASES.values()) <= codes
    assert set(aliases.CODE_ALIASES.values()) <= codes
    assert set(aliases.NUMERIC_ALIASES.values()) <= codes
    assert not aliases.AGGREGATE_CODES & iso3
    assert not {int(c.numeric) for c in ISO} & aliases.AGGREGATE_NUMERIC
    for name in aliases.AGGREGATE_NAMES:  # no region name is also a country name
        assert one(name) is None, name
    for name in aliases.AMBIGUOUS_NAMES:
        assert one(name) is None, name
    for code, entity in aliases.NON_ISO_ENTITIES.items():
        assert one(entity.name) == code
        if entity.numeric is not None:
            assert one(entity.numeric) == code


# -- every name in the real files -------------------------------------------------------------

def _report(values: set[str], source: str) -> CountryMatch:
    match = to_iso3(sorted(values), source=source)
    print(f"{source}: {match.summary()}; aggregates: {sorted(match.aggregates)}")
    assert not match.unmatched, f"unmatched {source} names: {sorted(match.unmatched)}"
    return match


def test_every_undesa_2020_name_matches() -> None:
    frame = pd.read_csv(shared_file("undesa_migrant_stock/undesa_ims2020_bilateral_stock_long.csv.gz"),
                        usecols=["orig", "dest"])
    names = set(frame["orig"]) | set(frame["dest"])
    match = _report(names, "undesa")
    assert match.n_matched == len(names) == 232 and not match.aggregates
    assert len(set(match.codes)) == 232  # no two names for one country


def test_every_undesa_2019_name_matches() -> None:
    frame = pd.read_csv(shared_file(
        "undesa_migrant_stock/UN_MigrantStockByOriginAndDestination_2019_clean.csv.gz"))
    names = set(frame.columns[2:]) | set(frame["Dest"])
    match = _report(names, "undesa")
    assert match.aggregates == {"Caribbean", "Melanesia", "Micronesia", "Polynesia", "South America"}
    assert match.n_matched == len(names) - 5 == 232


@pytest.mark.parametrize("method", ["da_pb_closed", "da_min_closed"])
def test_every_abel_cohen_name_matches(method: str) -> None:
    frame = pd.read_csv(shared_file(f"abel_cohen_flows/abel_cohen_flows_{method}_long.csv.gz"),
                        usecols=["orig", "dest"])
    names = set(frame["orig"]) | set(frame["dest"])
    match = _report(names, "abel_cohen")
    assert not match.aggregates
    assert match.mapping()["Sudan*"] == "SDN" and match.mapping()["Serbia & Montenegro"] == "SCG"


def test_every_world_bank_name_and_code_matches() -> None:
    frames = [pd.read_csv(shared_file(f"wdi_covariates/{f}"))
              for f in ("gdp_current_usd.csv.gz", "population.csv.gz")]
    both = pd.concat(frames)
    by_name = _report(set(both["Country Name"]), "worldbank")
    by_code = _report(set(both["Country Code"]), "worldbank")
    pairs = both[["Country Name", "Country Code"]].drop_duplicates()
    names, codes = by_name.mapping(), by_code.mapping()
    for name, code in pairs.itertuples(index=False):
        assert names.get(name) == codes.get(code), (name, code)  # names and codes agree
