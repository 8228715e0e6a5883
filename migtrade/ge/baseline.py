"""The baseline of a counterfactual: one year's square matrix of flows, checked.

A general equilibrium needs every country's sales to every destination, its own included, in
one year: the same countries as exporters and importers, each directed pair once, flows finite
and non-negative, and a positive domestic flow for every country (its output and expenditure
must be positive and its price index defined).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from migtrade.errors import DataError, UsageError
from migtrade.ge.options import GEOptions
from migtrade.spec.design import column_not_found
from migtrade.spec.where import where_mask

YEAR = "year"
_LISTED = 5


@dataclass(frozen=True)
class Columns:
    """The columns that identify a flow."""

    exporter: str
    importer: str
    trade: str
    year: str = YEAR


@dataclass(frozen=True)
class Baseline:
    """One year's flows as an N x N matrix (exporters in rows, importers in columns).

    ``rows`` are that year's rows of the data in the matrix's order (row-major), so that a
    column of ``rows`` reshaped to (N, N) lines up with ``flows``.
    """

    countries: tuple[str, ...]
    flows: np.ndarray
    rows: pd.DataFrame
    columns: Columns
    reference: int | None

    @property
    def size(self) -> int:
        """Number of countries."""
        return len(self.countries)

    def matrix(self, column: str | np.ndarray) -> np.ndarray:
        """A column of ``rows`` (or an array in their order) as an N x N matrix."""
        values = self.rows[column].to_numpy(dtype=float) if isinstance(column, str) else column
        return np.asarray(values, dtype=float).reshape(self.size, self.size)


def resolve_columns(frame: pd.DataFrame, options: GEOptions) -> Columns:
    """The exporter, importer and trade columns: as given, else exporter/importer when the data
    have them, else the panel schema's origin/destination; trade defaults to ``trade``."""
    have = set(frame.columns)
    pair = ("exporter", "importer") if {"exporter", "importer"} <= have else ("origin", "destination")
    exporter = options.exporter or pair[0]
    importer = options.importer or pair[1]
    trade = options.trade or "trade"
    for name, flag in ((exporter, "--exporter"), (importer, "--importer"), (trade, "--trade")):
        if name not in have:
            err = column_not_found(name, frame.columns)
            raise DataError(err.message, err.hint if getattr(options, flag[2:]) else
                            f"Name the column with {flag}.")
    if YEAR not in have:
        raise DataError(f"the data have no '{YEAR}' column",
                        "The general equilibrium is solved in one year of a panel; add a year column.")
    if exporter == importer:
        raise UsageError(f"the exporter and importer columns are the same ('{exporter}')",
                         "Give two different columns to --exporter and --importer.")
    return Columns(exporter=exporter, importer=importer, trade=trade)


def prepare_baseline(frame: pd.DataFrame, options: GEOptions, columns: Columns, *,
                     where: str | None = None) -> Baseline:
    """Select the baseline year (after ``where``) and check that it is a complete square.

    Raises
    ------
    DataError
        For a year without rows, duplicated or missing pairs, countries that only export or
        only import, missing, infinite or negative flows, countries without a positive domestic
        flow, and a reference country that is not in the data.
    """
    rows = frame if where is None else frame[where_mask(frame, where)]
    years = pd.to_numeric(rows[columns.year], errors="coerce")
    rows = rows[years == options.year]
    if rows.empty:
        raise DataError(f"no rows for year {options.year}{' after --where' if where else ''}",
                        f"The data have years {_year_span(years)}; pick one with --year.")
    exp = rows[columns.exporter].astype(str)
    imp = rows[columns.importer].astype(str)
    dup = pd.DataFrame({"e": exp, "i": imp}).duplicated()
    if dup.any():
        e, i = exp[dup].iloc[0], imp[dup].iloc[0]
        raise DataError(f"{int(dup.sum())} duplicated pairs in {options.year}, e.g. {e} -> {i}",
                        "Keep one row per exporter, importer and year (sum them if they are parts).")
    countries = tuple(sorted(set(exp) | set(imp)))
    _check_square(set(exp), set(imp), options.year)
    n = len(countries)
    if len(rows) != n * n:
        present = set(zip(exp, imp, strict=True))
        missing = [f"{a} -> {b}" for a in countries for b in countries if (a, b) not in present]
        raise DataError(
            f"{len(missing)} of the {n * n} pairs of the {n} countries are missing in "
            f"{options.year}, e.g. {', '.join(missing[:_LISTED])}",
            "The general equilibrium needs every pair, domestic ones included; add the missing "
            "pairs with their flows (0 where there is no trade).")
    order = np.lexsort((imp.to_numpy(), exp.to_numpy()))
    rows = rows.iloc[order].reset_index(drop=True)
    flows = _flows(rows, columns, countries, options.year)
    return Baseline(countries=countries, flows=flows, rows=rows, columns=columns,
                    reference=_reference(options.reference, countries))


def _year_span(years: pd.Series) -> str:
    found = sorted({int(y) for y in years.dropna().unique()})
    if not found:
        return "none"
    return ", ".join(map(str, found)) if len(found) <= 8 else f"{found[0]} to {found[-1]}"


def _check_square(exporters: set[str], importers: set[str], year: int) -> None:
    only_exp = sorted(exporters - importers)
    only_imp = sorted(importers - exporters)
    if only_exp or only_imp:
        parts = []
        if only_exp:
            parts.append(f"only as exporters: {', '.join(only_exp[:_LISTED])}")
        if only_imp:
            parts.append(f"only as importers: {', '.join(only_imp[:_LISTED])}")
        raise DataError(f"the countries of {year} are not the same on both sides ({'; '.join(parts)})",
                        "Every country must appear as exporter and as importer, with its domestic flow.")


def _flows(rows: pd.DataFrame, columns: Columns, countries: tuple[str, ...], year: int) -> np.ndarray:
    raw = rows[columns.trade]
    if not pd.api.types.is_numeric_dtype(raw):
        raise DataError(f"the trade column '{columns.trade}' is not numeric",
                        "Point --trade at the column of flow values.")
    values = raw.to_numpy(dtype=float, na_value=np.nan)
    n = len(countries)
    labels = rows[columns.exporter].astype(str) + " -> " + rows[columns.importer].astype(str)
    for bad, what, fix in (
        (np.isnan(values), "missing", "Fill them (0 where there is no trade) or pick another year."),
        (np.isinf(values), "infinite", "Fix those rows."),
        (values < 0, "negative", "Flows are values in levels, never below zero; fix those rows."),
    ):
        if bad.any():
            raise DataError(
                f"{int(bad.sum())} {what} flows in '{columns.trade}' in {year}, e.g. "
                f"{', '.join(labels[bad].iloc[:_LISTED])}", fix)
    flows = values.reshape(n, n)
    no_home = [countries[i] for i in np.flatnonzero(np.diag(flows) <= 0)]
    if no_home:
        raise DataError(
            f"{len(no_home)} countries have no positive domestic flow in {year}: "
            f"{', '.join(no_home[:_LISTED])}",
            "General equilibrium needs each country's sales to itself (exporter == importer); "
            "add them, e.g. output minus exports, or leave those countries out with --where.")
    return flows


def _reference(code: str | None, countries: tuple[str, ...]) -> int | None:
    if code is None:
        return None
    wanted = code.strip()
    if wanted in countries:
        return countries.index(wanted)
    upper = wanted.upper()
    if upper in countries:
        return countries.index(upper)
    close = difflib.get_close_matches(upper, countries, n=3, cutoff=0.5)
    hint = f"Did you mean {close[0]}?" if close else "Give the code of a country in the data, e.g. " \
        f"{countries[0]}."
    raise DataError(f"the reference country '{code}' is not in the data", hint)
