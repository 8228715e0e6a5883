"""The dyadic panel every analysis command reads: its columns, their units, and its checks.

One row per (origin, destination, year). Origin and destination are ISO 3166-1 alpha-3 codes
(plus the few non-ISO codes of :data:`~migtrade.panel.country_aliases.NON_ISO_ENTITIES`).
Directional variables run from origin to destination: ``trade`` is what origin exports to
destination, ``migrant_stock`` counts people born in origin living in destination. Country-year
covariates appear twice, suffixed ``_o`` (of the origin) and ``_d`` (of the destination).

Missing is missing: a value a source does not give is NaN, never 0. Sources that list only
non-zero cells (the UN DESA long file) therefore leave NaN where the source matrix held 0; the
panel's notes say so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from migtrade.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

SCHEMA_VERSION = "migtrade.panel/1"


@dataclass(frozen=True)
class Column:
    """One panel column: name, dtype, unit and meaning."""

    name: str
    dtype: str
    unit: str
    description: str


KEYS: tuple[str, ...] = ("origin", "destination", "year")

PANEL_SCHEMA: tuple[Column, ...] = (
    Column("origin", "str", "ISO 3166-1 alpha-3", "exporting / sending country"),
    Column("destination", "str", "ISO 3166-1 alpha-3", "importing / receiving country"),
    Column("year", "int64", "calendar year", "year of observation"),
    Column("trade", "float64", "as in the source (current US$ millions for Yotov et al. 2016)",
           "value of goods exported from origin to destination"),
    Column("migrant_stock", "float64", "persons, mid-year",
           "people born in origin living in destination"),
    Column("migrant_stock_reverse", "float64", "persons, mid-year",
           "people born in destination living in origin"),
    Column("migration_flow", "float64", "persons over the five-year period",
           "migrants from origin to destination over the period starting in year; "
           "only on period-start rows"),
    Column("migration_period", "str", "'YYYY-YYYY'", "the period of migration_flow, e.g. 1990-1995"),
    Column("dist", "float64", "km (as in the source; population-weighted for CEPII GeoDist)",
           "distance between origin and destination"),
    Column("contig", "float64", "0/1", "1 if origin and destination share a land border"),
    Column("comlang", "float64", "0/1", "1 if they share an official language"),
    Column("colony", "float64", "0/1", "1 if they were ever in a colonial relationship"),
    Column("rta", "float64", "0/1", "1 if a regional trade agreement is in force in year"),
    Column("gdp_o", "float64", "current US$", "GDP of origin (WDI NY.GDP.MKTP.CD)"),
    Column("gdp_d", "float64", "current US$", "GDP of destination"),
    Column("pop_o", "float64", "persons", "population of origin (WDI SP.POP.TOTL)"),
    Column("pop_d", "float64", "persons", "population of destination"),
    Column("remittances_o", "float64", "current US$",
           "personal remittances received by origin (WDI BX.TRF.PWKR.CD.DT)"),
    Column("remittances_d", "float64", "current US$", "personal remittances received by destination"),
    Column("remittances_gdp_o", "float64", "percent of GDP",
           "personal remittances received by origin (WDI BX.TRF.PWKR.DT.GD.ZS)"),
    Column("remittances_gdp_d", "float64", "percent of GDP",
           "personal remittances received by destination"),
)
"""Every panel column in order. A panel holds the keys and any subset of the other columns."""

COLUMNS: dict[str, Column] = {c.name: c for c in PANEL_SCHEMA}

DYADIC_COVARIATES: tuple[str, ...] = ("dist", "contig", "comlang", "colony", "rta")
COUNTRY_YEAR: tuple[str, ...] = ("gdp", "pop", "remittances", "remittances_gdp")
NON_NEGATIVE: tuple[str, ...] = (
    "trade", "migrant_stock", "migrant_stock_reverse", "migration_flow", "dist",
    *(f"{v}_{side}" for v in ("gdp", "pop", "remittances") for side in ("o", "d")),
)
BINARY: tuple[str, ...] = ("contig", "comlang", "colony", "rta")
TIME_INVARIANT: tuple[str, ...] = ("dist", "contig", "comlang", "colony")
"""Pair covariates that do not change over time; the assembly carries them across years."""

UNITS: dict[str, str] = {c.name: c.unit for c in PANEL_SCHEMA if c.name not in KEYS}
"""Default units; :func:`migtrade.panel.assemble.assemble_panel` replaces those its inputs set."""

_PERIOD = re.compile(r"\d{4}-\d{4}")


def _dtype_problem(frame: pd.DataFrame, col: Column) -> str | None:
    from pandas.api import types

    series = frame[col.name]
    if col.dtype == "str":
        if not (types.is_string_dtype(series.dtype) or types.is_object_dtype(series.dtype)):
            return f"column '{col.name}' should hold text, not {series.dtype}"
        return None
    if col.dtype == "int64":
        if not types.is_integer_dtype(series.dtype):
            return f"column '{col.name}' should be integer, not {series.dtype}"
        return None
    if not types.is_float_dtype(series.dtype):
        return f"column '{col.name}' should be float64 (NaN for missing), not {series.dtype}"
    return None


def _examples(values: pd.Series, limit: int = 5) -> str:
    shown = [str(v) for v in values.drop_duplicates().head(limit)]
    more = values.nunique() - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def panel_problems(frame: pd.DataFrame) -> list[str]:
    """Everything wrong with ``frame`` as a panel, one sentence each (empty when it is valid).

    Parameters
    ----------
    frame
        A candidate panel.

    Returns
    -------
    list of str
        Missing keys, unknown columns, wrong dtypes, duplicate (origin, destination, year),
        codes that are not ISO3, negative counts or values, dummies outside {0, 1}, and
        malformed migration periods.
    """
    from migtrade.panel.countries import known_codes

    problems: list[str] = []
    missing = [k for k in KEYS if k not in frame.columns]
    if missing:
        return [f"key column(s) {', '.join(missing)} missing"]
    unknown = [c for c in frame.columns if c not in COLUMNS]
    if unknown:
        problems.append(f"column(s) not in the panel schema: {', '.join(map(str, unknown))}")
    for name in frame.columns:
        if name in COLUMNS and (problem := _dtype_problem(frame, COLUMNS[name])):
            problems.append(problem)
    for key in KEYS:
        if frame[key].isna().any():
            problems.append(f"{int(frame[key].isna().sum())} row(s) with missing {key}")
    dup = frame.duplicated(list(KEYS), keep=False)
    if dup.any():
        first = frame.loc[dup, list(KEYS)].iloc[0]
        problems.append(f"{int(dup.sum())} rows share their (origin, destination, year), e.g. "
                        f"({first['origin']}, {first['destination']}, {first['year']})")
    codes = known_codes()
    for side in ("origin", "destination"):
        values = frame[side].dropna().astype(str)
        bad = values[~values.isin(codes)]
        if len(bad):
            problems.append(f"{side} holds codes that are not ISO 3166-1 alpha-3: {_examples(bad)}")
    for name in NON_NEGATIVE:
        if name in frame.columns and _dtype_problem(frame, COLUMNS[name]) is None:
            negative = frame[name] < 0
            if negative.any():
                problems.append(f"{int(negative.sum())} negative value(s) in '{name}'")
    for name in BINARY:
        if name in frame.columns and _dtype_problem(frame, COLUMNS[name]) is None:
            values = frame[name].dropna()
            if not values.isin([0.0, 1.0]).all():
                problems.append(f"'{name}' holds values other than 0 and 1: "
                                f"{_examples(values[~values.isin([0.0, 1.0])])}")
    if "migration_period" in frame.columns:
        periods = frame["migration_period"].dropna().astype(str)
        bad = periods[~periods.str.fullmatch(_PERIOD.pattern)]
        if len(bad):
            problems.append(f"migration_period not of the form 1990-1995: {_examples(bad)}")
        elif len(periods):
            starts = periods.str.slice(0, 4).astype("int64")
            off = starts != frame.loc[periods.index, "year"].astype("int64")
            if off.any():
                problems.append(f"{int(off.sum())} migration_period value(s) that do not start in "
                                f"the row's year, e.g. {periods[off].iloc[0]}")
    return problems


def validate_panel(frame: pd.DataFrame) -> None:
    """Check that ``frame`` follows :data:`PANEL_SCHEMA`.

    Parameters
    ----------
    frame
        A candidate panel.

    Raises
    ------
    DataError
        Naming every problem found (see :func:`panel_problems`).
    """
    problems = panel_problems(frame)
    if problems:
        raise DataError("not a valid panel: " + "; ".join(problems),
                        "See migtrade.panel.schema for the columns, dtypes and units.")

WDI_INDICATORS: dict[str, str] = {
    "NY.GDP.MKTP.CD": "gdp",
    "SP.POP.TOTL": "pop",
    "BX.TRF.PWKR.CD.DT": "remittances",
    "BX.TRF.PWKR.DT.GD.ZS": "remittances_gdp",
}
"""World Bank indicator codes read into the country-year covariates, and their panel names."""
