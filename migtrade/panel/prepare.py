"""Bring each input of the panel to ISO3 codes, panel column names and float values.

One ``prepare_*`` function per input kind. Each standardises the columns
(:func:`migtrade.panel.inputs.standardise`), maps countries with
:func:`~migtrade.panel.countries.to_iso3` (rows whose country is an aggregate or unmatched are
dropped and reported), restricts to the years and countries asked for, and checks or merges rows
that share a key. Country columns come out categorical with one shared dtype, so that the joins
of :mod:`migtrade.panel.assemble` compare small integer codes instead of strings.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import pandas as pd

from migtrade.errors import DataError
from migtrade.panel.countries import known_codes, to_iso3
from migtrade.panel.inputs import COUNTRY_SOURCE, standardise
from migtrade.panel.schema import DYADIC_COVARIATES, KEYS, WDI_INDICATORS

PAIR = ["origin", "destination"]
_KEYS = list(KEYS)
_ALPHA3 = re.compile(r"[A-Z]{3}")


@lru_cache(maxsize=1)
def country_dtype() -> pd.CategoricalDtype:
    """The dtype of every country column during assembly: all known codes, sorted."""
    return pd.CategoricalDtype(sorted(known_codes()))


class Report:
    """Collects what the steps of the assembly have to say."""

    def __init__(self) -> None:
        self.unmatched: dict[str, list[str]] = {}
        self.aggregates: dict[str, list[str]] = {}
        self.notes: list[str] = []


def _with_codes(frame: pd.DataFrame, columns: Sequence[str], kind: str,
                report: Report) -> pd.DataFrame:
    """Replace the country columns by ISO3 codes and drop rows that got none (reported)."""
    values = pd.unique(pd.concat([frame[c] for c in columns], ignore_index=True))
    match = to_iso3(values.tolist(), source=COUNTRY_SOURCE[kind])
    if match.unmatched:
        report.unmatched[kind] = sorted(match.unmatched)
    if match.aggregates:
        report.aggregates[kind] = sorted(match.aggregates)
    recoded = sorted(f"{raw}->{code}" for raw, code in match.mapping().items()
                     if isinstance(raw, str) and _ALPHA3.fullmatch(raw) and raw != code)
    if recoded:
        report.notes.append(f"{kind}: retired or non-standard codes recoded: {', '.join(recoded)}")
    lookup = pd.Series(match.codes, index=pd.Index(match.inputs), dtype="str")
    # One categorical dtype for every country column: merges then compare small integer codes.
    out = frame.assign(**{c: frame[c].map(lookup).astype(country_dtype()) for c in columns})
    keep = out[list(columns)].notna().all(axis=1)
    dropped = int((~keep).sum())
    if dropped:
        report.notes.append(f"{kind}: {dropped:,} rows left out because a country is an aggregate "
                            "or unmatched (see the aggregates and unmatched lists)")
    return out.loc[keep]


def _restrict(frame: pd.DataFrame, years: set[int] | None, countries: set[str] | None,
              year_col: str = "year") -> pd.DataFrame:
    keep = pd.Series(True, index=frame.index)
    if years is not None and year_col in frame.columns:
        keep &= frame[year_col].isin(years)
    if countries is not None:
        keep &= frame["origin"].isin(countries) & frame["destination"].isin(countries)
    return frame.loc[keep]


def _sum_duplicates(frame: pd.DataFrame, keys: list[str], value: str, kind: str,
                    report: Report) -> pd.DataFrame:
    """Add up rows that share a key after coding (e.g. two names of one country)."""
    dup = frame.duplicated(keys, keep=False)
    if not dup.any():
        return frame
    pairs = frame.loc[dup, PAIR].drop_duplicates().head(5)
    shown = ", ".join(f"{o}->{d}" for o, d in pairs.itertuples(index=False))
    report.notes.append(f"{kind}: {int(dup.sum()):,} rows share a key after coding and were added "
                        f"up (e.g. {shown})")
    extra = [c for c in frame.columns if c not in (*keys, value)]
    summed = frame.groupby(keys, sort=False, observed=True)[value].sum(min_count=1).reset_index()
    if extra:
        summed = summed.merge(frame.drop_duplicates(keys)[keys + extra], on=keys, how="left")
    return summed


def _unique_or_fail(frame: pd.DataFrame, keys: list[str], kind: str) -> pd.DataFrame:
    frame = frame.drop_duplicates()
    dup = frame.duplicated(keys, keep=False)
    if dup.any():
        row = frame.loc[dup, keys].iloc[0].tolist()
        raise DataError(f"{kind} input has conflicting rows for the same key, e.g. {row}",
                        "Keep one row per key before building the panel.")
    return frame


def _as_float(frame: pd.DataFrame, columns: Sequence[str], kind: str) -> pd.DataFrame:
    out = frame.copy()
    for col in columns:
        converted = pd.to_numeric(out[col], errors="coerce")
        bad = converted.isna() & out[col].notna()
        if bad.any():
            raise DataError(f"{kind} column '{col}' holds non-numbers, e.g. "
                            f"{out.loc[bad, col].iloc[0]!r}")
        out[col] = converted.astype("float64")
    return out


def prepare_trade(trade: pd.DataFrame, years: set[int] | None, countries: set[str] | None,
                   report: Report) -> pd.DataFrame:
    frame = standardise(trade, "trade")
    frame = _with_codes(frame, PAIR, "trade", report)
    frame = _restrict(frame.assign(year=frame["year"].astype("int64")), years, countries)
    covs = [c for c in DYADIC_COVARIATES if c in frame.columns]
    frame = _as_float(frame, ["trade", *covs], "trade")
    domestic = int((frame["origin"] == frame["destination"]).sum())
    if domestic:
        report.notes.append(f"trade: {domestic:,} domestic rows (origin == destination) kept")
    return _sum_duplicates(frame, _KEYS, "trade", "trade", report)


def prepare_stocks(stocks: pd.DataFrame, years: set[int] | None, countries: set[str] | None,
                    report: Report) -> pd.DataFrame:
    frame = standardise(stocks, "stocks")
    frame = _with_codes(frame, PAIR, "stocks", report)
    frame = _restrict(frame.assign(year=frame["year"].astype("int64")), years, countries)
    frame = frame.loc[frame["origin"] != frame["destination"]]
    frame = _as_float(frame, ["stock"], "stocks").rename(columns={"stock": "migrant_stock"})
    if not (frame["migrant_stock"] == 0).any():
        report.notes.append("stocks: the input has no zero cells (UN DESA long files list non-zero "
                            "cells only), so a pair absent from it is NaN here, not 0")
    return _sum_duplicates(frame, _KEYS, "migrant_stock", "stocks", report)


def prepare_flows(flows: pd.DataFrame, years: set[int] | None, countries: set[str] | None,
                   report: Report) -> pd.DataFrame:
    frame = standardise(flows, "flows")
    if "method" in frame.columns:
        methods = sorted(frame["method"].dropna().astype(str).unique())
        if len(methods) > 1:
            raise DataError(f"flows input mixes estimation methods: {', '.join(methods)}",
                            "Keep one method (e.g. da_pb_closed) before building the panel.")
        if methods:
            report.notes.append(f"flows: Abel-Cohen method {methods[0]}")
    frame = _with_codes(frame, PAIR, "flows", report)
    start = frame["period_start"].astype("int64")
    end = (frame["period_end"].astype("int64") if "period_end" in frame.columns else start + 5)
    frame = pd.DataFrame({
        "origin": frame["origin"], "destination": frame["destination"], "year": start,
        "migration_flow": frame["flow"],
        "migration_period": start.astype("str") + "-" + end.astype("str"),
    })
    frame = _restrict(frame, years, countries)
    frame = frame.loc[frame["origin"] != frame["destination"]]
    frame = _as_float(frame, ["migration_flow"], "flows")
    return _sum_duplicates(frame, _KEYS, "migration_flow", "flows", report)


def prepare_covariates(covariates: pd.DataFrame, years: set[int] | None,
                        countries: set[str] | None, report: Report) -> pd.DataFrame:
    frame = standardise(covariates, "covariates")
    frame = _with_codes(frame, PAIR, "covariates", report)
    if "year" in frame.columns:
        frame = frame.assign(year=frame["year"].astype("int64"))
    frame = _restrict(frame, years, countries)
    covs = [c for c in DYADIC_COVARIATES if c in frame.columns]
    keys = _KEYS if "year" in frame.columns else PAIR
    if "year" not in frame.columns:
        report.notes.append(f"covariates: no year column; {', '.join(covs)} applied to every year")
    return _unique_or_fail(_as_float(frame, covs, "covariates"), keys, "covariates")


def prepare_country_year(country_year: pd.DataFrame, years: set[int] | None,
                          report: Report) -> pd.DataFrame:
    frame = standardise(country_year, "country_year")
    column = "iso3" if "iso3" in frame.columns else "country"
    frame = _with_codes(frame.rename(columns={column: "code"}), ["code"], "country_year", report)
    frame = frame.assign(year=frame["year"].astype("int64"), indicator=frame["indicator"].astype(str))
    if years is not None:
        frame = frame.loc[frame["year"].isin(years)]
    other = sorted(set(frame["indicator"]) - set(WDI_INDICATORS))
    if other:
        report.notes.append(f"country_year: indicators not in the panel ignored: {', '.join(other)}")
    frame = frame.loc[frame["indicator"].isin(WDI_INDICATORS)]
    frame = _unique_or_fail(_as_float(frame[["code", "year", "indicator", "value"]], ["value"],
                                      "country_year"), ["code", "year", "indicator"], "country_year")
    wide = frame.pivot(index=["code", "year"], columns="indicator", values="value")
    wide = wide.rename(columns=WDI_INDICATORS).reset_index()
    wide.columns.name = None
    return wide
