"""World Development Indicators files downloaded by hand, and the country list that separates
countries from aggregates.

Three layouts are read:

* the bulk-download CSV ``API_<indicator>_DS2_<lang>_csv_v2_<n>.csv``: a few lines of title
  ("Data Source", "Last Updated Date"), then a wide table ``Country Name, Country Code,
  Indicator Name, Indicator Code, 1960, 1961, ...`` with a trailing empty column;
* the zip of that download, whose ``Metadata_Country_*.csv`` member leaves ``Region`` empty for
  aggregates (this list is used when present);
* a long CSV ``Country Name, Country Code, Year, Value`` (as republished by data mirrors), which
  does not say its indicator: the user names it with ``--indicator``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import zipfile
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import pandas as pd

from migtrade.errors import DataError, UsageError
from migtrade.sources.base import require_columns, utc_now

COLUMNS = ("iso3", "country", "year", "indicator", "value")
"""Columns of the World Bank datasets, in order."""

EXTRA_COUNTRIES: dict[str, str] = {"XKX": "Kosovo", "CHI": "Channel Islands"}
"""Economies the World Bank lists as countries although ISO 3166 gives them no alpha-3 code."""


@cache
def country_codes() -> frozenset[str]:
    """ISO 3166 alpha-3 codes plus :data:`EXTRA_COUNTRIES`: the codes that are not aggregates."""
    import iso3166

    return frozenset(iso3166.countries_by_alpha3) | frozenset(EXTRA_COUNTRIES)


def frame_from_rows(rows: Iterable[tuple[str, str, int, str, float, bool]]) -> pd.DataFrame:
    """Typed long frame ``iso3, country, year, indicator, value, is_aggregate`` from tuples."""
    data = list(rows)
    columns = (*COLUMNS, "is_aggregate")
    frame = pd.DataFrame(data, columns=list(columns)) if data else pd.DataFrame({c: [] for c in columns})
    return frame.astype({"iso3": "string", "country": "string", "year": "int64", "indicator": "string",
                         "value": "float64", "is_aggregate": "bool"})


def mark_aggregates(frame: pd.DataFrame, aggregates: frozenset[str] | None) -> pd.DataFrame:
    """Add ``is_aggregate``: listed in ``aggregates`` when given, else not an ISO 3166 country."""
    if aggregates is not None:
        flag = frame["iso3"].isin(aggregates)
    else:
        flag = ~frame["iso3"].isin(country_codes())
    return frame.assign(is_aggregate=flag.astype(bool))


def _text(raw: bytes) -> str:
    return raw.decode("utf-8-sig", errors="replace")


def parse_bulk_csv(raw: bytes) -> pd.DataFrame:
    """Long frame from a WDI bulk-download CSV (title lines, then one column per year).

    Returns
    -------
    pandas.DataFrame
        ``iso3, country, year, indicator, value`` without ``is_aggregate``; empty cells dropped.
    """
    lines = _text(raw).splitlines()
    start = next((i for i, line in enumerate(lines) if line.lstrip('"').startswith("Country Name")), None)
    if start is None:
        raise DataError("not a WDI bulk CSV: no 'Country Name' header line")
    wide = pd.read_csv(io.StringIO("\n".join(lines[start:])), dtype=str, keep_default_na=False)
    require_columns(wide.columns, ("Country Name", "Country Code", "Indicator Code"), "WDI bulk CSV")
    years = [c for c in wide.columns if str(c).strip().isdigit()]
    long = wide.melt(id_vars=["Country Code", "Country Name", "Indicator Code"], value_vars=years,
                     var_name="year", value_name="value")
    long = long[long["value"].str.strip() != ""]
    return pd.DataFrame({
        "iso3": long["Country Code"].astype("string"),
        "country": long["Country Name"].astype("string"),
        "year": long["year"].astype("int64"),
        "indicator": long["Indicator Code"].astype("string"),
        "value": pd.to_numeric(long["value"], errors="raise").astype("float64"),
    }).reset_index(drop=True)


def parse_long_csv(raw: bytes, indicator: str) -> pd.DataFrame:
    """Long frame from ``Country Name, Country Code, Year, Value`` rows of one indicator."""
    table = pd.read_csv(io.BytesIO(raw))
    require_columns(table.columns, ("Country Name", "Country Code", "Year", "Value"), "WDI long CSV")
    table = table[table["Value"].notna()]
    return pd.DataFrame({
        "iso3": table["Country Code"].astype("string"),
        "country": table["Country Name"].astype("string"),
        "year": table["Year"].astype("int64"),
        "indicator": pd.Series(indicator, index=table.index, dtype="string"),
        "value": table["Value"].astype("float64"),
    }).reset_index(drop=True)


def parse_country_metadata(raw: bytes) -> frozenset[str]:
    """Aggregate codes from a bulk download's ``Metadata_Country`` CSV: rows without a region."""
    table = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False)
    require_columns(table.columns, ("Country Code", "Region"), "WDI country metadata")
    return frozenset(table.loc[table["Region"].str.strip() == "", "Country Code"])


def _from_zip(path: Path) -> tuple[pd.DataFrame, frozenset[str] | None]:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        data = [n for n in names if Path(n).name.startswith("API_") and n.lower().endswith(".csv")]
        meta = [n for n in names if Path(n).name.startswith("Metadata_Country") and n.lower().endswith(".csv")]
        if len(data) != 1:
            raise DataError(f"'{path}' holds {len(data)} API_*.csv files, not one",
                            "Pass the zip of a single indicator, or the CSV itself.")
        frame = parse_bulk_csv(archive.read(data[0]))
        aggregates = parse_country_metadata(archive.read(meta[0])) if meta else None
    return frame, aggregates


def read_wdi_csv(path: Path, indicators: tuple[str, ...] = ()) -> tuple[pd.DataFrame, str, str]:
    """Read a WDI file downloaded by hand: bulk CSV (plain, gzip or zip) or long CSV.

    Parameters
    ----------
    path
        The file.
    indicators
        ``--indicator`` codes: names the indicator of a long CSV, filters a bulk one.

    Returns
    -------
    tuple
        The long frame with ``is_aggregate``, the sha256 of the file, and the time it was read.
    """
    raw = path.read_bytes()
    sha256 = hashlib.sha256(raw).hexdigest()
    aggregates = None
    try:
        if raw[:4] == b"PK\x03\x04":
            frame, aggregates = _from_zip(path)
        else:
            text = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
            head = _text(text[:20000])
            first_line = head.lstrip().split("\n", 1)[0]
            if first_line.lstrip('"').startswith(("Data Source", "Country Name")) and "Indicator Code" in head:
                frame = parse_bulk_csv(text)
            elif "Country Code" in first_line and "Value" in first_line:
                if len(indicators) != 1:
                    raise UsageError(f"'{path}' does not say which indicator it holds",
                                     "Name it with one --indicator CODE.")
                frame = parse_long_csv(text, indicators[0])
            else:
                raise DataError(f"'{path}' is not a World Bank file this reader knows",
                                "Give a WDI bulk-download CSV or zip, an API JSON page, or a "
                                "'Country Name, Country Code, Year, Value' CSV.")
    except (ValueError, zipfile.BadZipFile, EOFError, OSError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"cannot read '{path}': {reason}", "Check that the file is complete.") from None
    if indicators:
        held = sorted(set(frame["indicator"].dropna()))
        frame = frame[frame["indicator"].isin(indicators)].reset_index(drop=True)
        if frame.empty:
            raise DataError(f"'{path}' holds {', '.join(held) or 'no data'}, not {', '.join(indicators)}",
                            "Name the indicators the file holds with --indicator, or none.")
    return mark_aggregates(frame, aggregates), sha256, utc_now()
