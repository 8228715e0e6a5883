"""migtrade's exceptions to ISO 3166-1: every name and code the standard does not cover.

The ``iso3166`` package supplies the standard itself (English short names, alpha-2, alpha-3,
numeric). Data sources spell countries differently (UN DESA's "Bolivia (Plurinational State of)",
the World Bank's "Egypt, Arab Rep.", a web app's "DR Congo"), use codes that are not in ISO
("CHI" for the Channel Islands, "XKX" for Kosovo), keep retired codes ("ROM" for Romania in the
Yotov et al. 2016 data), or mix countries with aggregates ("World", "High income", "Other South").
Everything migtrade knows beyond ISO is in the tables below, so that a reader can check a match
without reading code.

Keys are written as they appear in the sources; :func:`migtrade.panel.countries.normalize_name`
folds case, accents, punctuation and the word "the", so one entry covers "Côte d'Ivoire",
"Cote d’Ivoire" and "COTE D IVOIRE". Names that the normalisation already reduces to an ISO name
(e.g. "Iran (Islamic Republic of)" = ISO "Iran, Islamic Republic of") need no entry.

Tables
------
NON_ISO_ENTITIES
    Entities without an ISO 3166-1 code that sources report as countries, with the code the
    World Bank or ISO 3166-3 (formerly used codes) gives them.
NAME_ALIASES
    Other names of ISO countries and of the entities above.
CODE_ALIASES
    Retired or non-standard alpha-2/alpha-3 codes still found in data.
NUMERIC_ALIASES
    UN M49 numeric codes outside ISO 3166-1.
AMBIGUOUS_NAMES
    Names that mean different things in different sources; never matched without a ``source``.
SOURCES, SOURCE_AGGREGATES
    The sources migtrade knows, and names that are aggregates only in some of them.
AGGREGATE_NAMES, AGGREGATE_CODES, AGGREGATE_NUMERIC, AGGREGATE_WORDS
    Regions, income groups and totals: recognised, reported, never given a country code.
"""

from __future__ import annotations

from typing import NamedTuple


class Entity(NamedTuple):
    """A country-like entity outside ISO 3166-1, and why migtrade gives it a code."""

    name: str
    alpha2: str | None
    numeric: int | None
    why: str


NON_ISO_ENTITIES: dict[str, Entity] = {
    "XKX": Entity("Kosovo", "XK", None,
                  "user-assigned code used by the World Bank, the EU and the UN statistics; "
                  "only recent releases of the iso3166 package list it"),
    "CHI": Entity("Channel Islands", "JG", 830,
                  "World Bank code; UN DESA and the World Bank report Jersey and Guernsey together"),
    "SCG": Entity("Serbia and Montenegro", "CS", 891,
                  "former state (2003-2006), ISO 3166-3 CSXX; Abel-Cohen flows before 2010 use it"),
    "ANT": Entity("Netherlands Antilles", "AN", 530,
                  "dissolved in 2010, ISO 3166-3 ANHH; older trade data report it"),
    "YUG": Entity("Yugoslavia", "YU", 890, "former state, ISO 3166-3 YUCS"),
    "SUN": Entity("USSR", "SU", 810, "former state, ISO 3166-3 SUHH"),
    "CSK": Entity("Czechoslovakia", None, 200,
                  "former state, ISO 3166-3 CSHH (its alpha-2 CS was reused for SCG)"),
    "DDR": Entity("German Democratic Republic", "DD", 278, "former state, ISO 3166-3 DDDE"),
}

NAME_ALIASES: dict[str, str] = {
    # United Nations (UN DESA, M49) official forms that differ from the ISO short name
    "United States of America": "USA", "United Kingdom": "GBR",
    "Republic of Korea": "KOR", "Dem. People's Republic of Korea": "PRK",
    "Democratic People's Republic of Korea": "PRK",
    "China, Hong Kong SAR": "HKG", "China, Hong Kong Special Administrative Region": "HKG",
    "China, Macao SAR": "MAC", "China, Macao Special Administrative Region": "MAC",
    "Micronesia (Fed. States of)": "FSM", "Republic of Moldova": "MDA",
    "United Republic of Tanzania": "TZA", "State of Palestine": "PSE",
    "Democratic Republic of the Congo": "COD", "Republic of the Congo": "COG",
    "Wallis and Futuna Islands": "WLF", "United States Virgin Islands": "VIR",
    "British Virgin Islands": "VGB", "Saint Helena": "SHN", "Sudan (former)": "SDN",
    "Svalbard and Jan Mayen Islands": "SJM", "Holy See (Vatican City State)": "VAT",
    "China, Taiwan Province of China": "TWN", "Nauru": "NRU",
    "The former Yugoslav Republic of Macedonia": "MKD", "TFYR Macedonia": "MKD",
    "Kosovo (under UNSC res. 1244)": "XKX",
    "Kosovo (in accordance with Security Council resolution 1244 (1999))": "XKX",
    # Sark: a dependency of Guernsey with its own UN M49 code (680) but no ISO code
    "Sark": "GGY",
    # World Bank (WDI) names
    "Egypt, Arab Rep.": "EGY", "Yemen, Rep.": "YEM", "Venezuela, RB": "VEN",
    "Iran, Islamic Rep.": "IRN", "Korea, Rep.": "KOR", "Korea, Dem. People's Rep.": "PRK",
    "Korea, Dem. Rep.": "PRK", "Congo, Rep.": "COG", "Congo, Dem. Rep.": "COD",
    "Kyrgyz Republic": "KGZ", "Slovak Republic": "SVK", "Lao PDR": "LAO",
    "Micronesia, Fed. Sts.": "FSM", "Hong Kong SAR, China": "HKG", "Macao SAR, China": "MAC",
    "Somalia, Fed. Rep.": "SOM", "Puerto Rico (US)": "PRI", "West Bank and Gaza": "PSE",
    "Virgin Islands (U.S.)": "VIR", "Bahamas, The": "BHS", "Gambia, The": "GMB",
    "Turkiye": "TUR", "St. Martin (French part)": "MAF",
    # Short and common English names (web apps such as the UN DESA/Abel-Cohen visualisation)
    "United States": "USA", "U.S.": "USA", "UK": "GBR", "Great Britain": "GBR",
    "Britain": "GBR", "South Korea": "KOR", "Korea, South": "KOR", "North Korea": "PRK",
    "Korea, North": "PRK", "DPR Korea": "PRK", "Hong Kong SAR": "HKG", "Hong Kong, China": "HKG",
    "Macau": "MAC", "Macao SAR": "MAC", "Macau SAR": "MAC", "Macao, China": "MAC",
    "Bolivia": "BOL", "Iran": "IRN", "Venezuela": "VEN", "Tanzania": "TZA", "Moldova": "MDA",
    "Russia": "RUS", "Syria": "SYR", "Laos": "LAO", "Vietnam": "VNM", "Brunei": "BRN",
    "Cape Verde": "CPV", "Ivory Coast": "CIV", "Turkey": "TUR", "Czech Republic": "CZE",
    "Swaziland": "SWZ", "Macedonia": "MKD", "Burma": "MMR", "East Timor": "TLS",
    "Palestine": "PSE", "Occupied Palestinian Territory": "PSE", "Palestinian Territories": "PSE",
    "DR Congo": "COD", "Congo (Kinshasa)": "COD", "Congo (Brazzaville)": "COG",
    "Congo-Kinshasa": "COD", "Congo-Brazzaville": "COG", "FS Micronesia": "FSM",
    "Federated States of Micronesia": "FSM", "Caribbean Netherlands": "BES",
    "Falkland Islands": "FLK", "Sint Maarten": "SXM", "Saint Martin": "MAF",
    "US Virgin Islands": "VIR", "Vatican City": "VAT", "Vatican": "VAT",
    "Vatican City State": "VAT", "Wallis and Futuna": "WLF", "Chinese Taipei": "TWN",
    "Reunion Island": "REU", "Former Sudan": "SDN",
    # Entities outside ISO 3166-1
    "Kosovo": "XKX", "Channel Islands": "CHI", "Serbia and Montenegro": "SCG",
    "Netherlands Antilles": "ANT", "Yugoslavia": "YUG", "Former Yugoslavia": "YUG",
    "USSR": "SUN", "Soviet Union": "SUN", "Czechoslovakia": "CSK",
    "German Democratic Republic": "DDR", "East Germany": "DDR",
}

CODE_ALIASES: dict[str, str] = {
    "ROM": "ROU",  # Romania before 2002 (Yotov et al. 2016 still use it)
    "ZAR": "COD",  # Zaire
    "TMP": "TLS",  # East Timor before 2002
    "BUR": "MMR",  # Burma
    "KSV": "XKX", "KOS": "XKX",  # Kosovo in IMF and other data
    "WBG": "PSE",  # West Bank and Gaza, old World Bank code
    "UK": "GBR",   # reserved alpha-2 used by the EU and the UK itself
    "EL": "GRC",   # Greece in Eurostat data
}

NUMERIC_ALIASES: dict[int, str] = {
    736: "SDN",  # Sudan before the secession of South Sudan (2011); ISO kept the alpha-3
    680: "GGY",  # Sark
}

AMBIGUOUS_NAMES: dict[str, str] = {
    "Micronesia": "a UN M49 region in UN DESA data, the Federated States of Micronesia elsewhere",
    "Korea": "the Republic of Korea or the Democratic People's Republic of Korea",
    "Virgin Islands": "the British or the United States Virgin Islands",
    "America": "the Americas or the United States of America",
}

SOURCES: tuple[str, ...] = ("undesa", "abel_cohen", "worldbank", "cepii", "yotov")
"""Values accepted for ``source``: where a list of names comes from."""

SOURCE_AGGREGATES: dict[str, frozenset[str]] = {
    "undesa": frozenset({"Micronesia"}),
    "abel_cohen": frozenset({"Micronesia"}),
}
"""Per-source names that are aggregates there and something else elsewhere."""

AGGREGATE_NAMES: frozenset[str] = frozenset({
    "World", "Total", "Other", "Other North", "Other South", "Unknown",
    # continents and UN M49 regions
    "Africa", "Asia", "Europe", "Oceania", "Americas", "America", "North America",
    "Northern America", "Latin America", "Latin America and the Caribbean", "Caribbean",
    "Central America", "South America", "Eastern Africa", "Middle Africa", "Northern Africa",
    "Southern Africa", "Western Africa", "Sub-Saharan Africa", "Central Asia", "Eastern Asia",
    "South-Eastern Asia", "Southern Asia", "Western Asia", "Eastern Europe", "Northern Europe",
    "Southern Europe", "Western Europe", "Australia and New Zealand", "Melanesia", "Polynesia",
    "Micronesia (region)", "Northern Africa and Western Asia", "Central and Southern Asia",
    "Eastern and South-Eastern Asia", "Europe and Northern America",
    "Oceania (excluding Australia and New Zealand)", "Middle East", "Western Asia and Northern Africa",
    # World Bank regions and groups
    "Arab World", "East Asia & Pacific", "Europe & Central Asia", "Middle East & North Africa",
    "Middle East, North Africa, Afghanistan & Pakistan", "South Asia", "Euro area",
    "European Union", "Central Europe and the Baltics", "Africa Eastern and Southern",
    "Africa Western and Central", "Latin America & Caribbean", "Low & middle income",
    "High income", "Low income", "Lower middle income", "Upper middle income", "Middle income",
    "IDA only", "IDA blend", "IDA total", "IBRD only", "Fragile and conflict affected situations",
})
"""Aggregate names matched whole; :data:`AGGREGATE_WORDS` catches the longer variants."""

AGGREGATE_CODES: frozenset[str] = frozenset({
    # World Bank aggregate codes (none is an ISO 3166-1 alpha-3)
    "AFE", "AFW", "ARB", "CEB", "CSS", "EAP", "EAR", "EAS", "ECA", "ECS", "EMU", "EUU", "FCS",
    "HIC", "HPC", "IBD", "IBT", "IDA", "IDB", "IDX", "INX", "LAC", "LCN", "LDC", "LIC", "LMC",
    "LMY", "LTE", "MEA", "MIC", "MNA", "NAC", "OED", "OSS", "PRE", "PSS", "PST", "SAS", "SSA",
    "SSF", "SST", "TEA", "TEC", "TLA", "TMN", "TSA", "TSS", "UMC", "WLD",
    # two-letter World Bank/Eurostat aggregates
    "1W", "EU", "EA", "XC", "ZG", "ZJ", "ZQ", "Z4", "Z7", "8S", "XD", "XM", "XN", "XP", "XT",
})

AGGREGATE_NUMERIC: frozenset[int] = frozenset({
    # UN M49 regions and sub-regions
    1, 2, 5, 9, 11, 13, 14, 15, 17, 18, 19, 21, 29, 30, 34, 35, 39, 53, 54, 57, 61, 142, 143,
    145, 150, 151, 154, 155, 202, 419,
})
"""UN M49 region codes. Codes from 900 to 1999 that are not ISO are UN DESA groupings too
(world, development groups, income groups, SDG regions)."""

AGGREGATE_WORDS: frozenset[str] = frozenset({
    "income", "countries", "economies", "regions", "region", "developed", "developing",
    "excluding", "total", "world", "ida", "ibrd", "hipc", "oecd", "sdg", "lldc", "sids", "ldc",
    "dividend", "members", "small", "situations", "area", "nes", "unspecified", "classified",
})
"""Words no country name contains and most aggregate names do (after normalisation)."""

AGGREGATE_FIRST_WORDS: frozenset[str] = frozenset({"other", "rest"})
"""Leading words of residual categories: "Other North", "Rest of World"."""
