"""Join trade, migration and covariates into one dyadic panel on (origin, destination, year).

The panel follows :mod:`migtrade.panel.schema`. Its rows are every (origin, destination, year)
present in any dyadic input (trade, stocks, flows, yearly covariates), restricted to the years and
countries asked for. Pairs of a country with itself are kept only where the trade input has them
(intra-national trade, as in Yotov et al. 2016); migration sources have none.

Every input is brought to ISO 3166-1 alpha-3 (see :mod:`migtrade.panel.prepare`).
Rows whose country is an aggregate or matches nothing are left out of the panel and listed in
:attr:`PanelResult.unmatched` / :attr:`PanelResult.aggregates`; nothing disappears unreported.
All joins are vectorised merges on the distinct codes, so the whole shared data assemble in
about a second.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from migtrade.errors import DataError, UsageError
from migtrade.panel.countries import to_iso3
from migtrade.panel.prepare import (
    PAIR,
    Report,
    prepare_country_year,
    prepare_covariates,
    prepare_flows,
    prepare_stocks,
    prepare_trade,
)
from migtrade.panel.schema import (
    COUNTRY_YEAR,
    DYADIC_COVARIATES,
    KEYS,
    PANEL_SCHEMA,
    TIME_INVARIANT,
    UNITS,
)

_KEYS = list(KEYS)


@dataclass(frozen=True)
class PanelResult:
    """An assembled panel and the report on how it was built.

    Attributes
    ----------
    frame
        The panel, with every column of :data:`~migtrade.panel.schema.PANEL_SCHEMA` (NaN where
        no input gives a value), sorted by origin, destination and year.
    coverage
        Share of rows with a non-missing value of each variable, by year (index ``year``; the
        column ``rows`` counts the rows of that year).
    unmatched
        Per input kind, the names or codes that matched no country, sorted.
    notes
        What a reader of the panel should know: methods, units, omissions, merged duplicates.
    aggregates
        Per input kind, the aggregates (regions, income groups, totals) that were left out.
    units
        Unit of each non-key column, as set by the inputs.
    """

    frame: pd.DataFrame
    coverage: pd.DataFrame
    unmatched: dict[str, list[str]]
    notes: list[str] = field(default_factory=list)
    aggregates: dict[str, list[str]] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)

    def countries(self) -> list[str]:
        """The codes that appear as origin or destination, sorted."""
        both = pd.concat([self.frame["origin"], self.frame["destination"]], ignore_index=True)
        return sorted(both.dropna().unique().tolist())


def _keys(frames: Sequence[pd.DataFrame | None]) -> pd.DataFrame:
    parts = [f[_KEYS] for f in frames if f is not None and "year" in f.columns]
    if not parts:
        raise DataError("no dyadic input with years: the panel needs trade, stocks, flows or "
                        "yearly covariates", "Pass at least one of them.")
    return pd.concat(parts, ignore_index=True).drop_duplicates()


def _attach(panel: pd.DataFrame, frame: pd.DataFrame, on: list[str],
            columns: Sequence[str]) -> pd.DataFrame:
    return panel.merge(frame[[*on, *columns]], on=on, how="left", validate="many_to_one")


def _carry_invariants(panel: pd.DataFrame, sources: Sequence[pd.DataFrame | None],
                      report: Report) -> pd.DataFrame:
    """Give each pair's constant geography (distance, border, language, colony) to all its years.

    Distances and historical ties do not change with the year, but a trade input covering
    1986-2006 leaves them empty on the 2010-2020 migration rows. A value is carried only where
    the inputs give the pair one value; a pair with differing values keeps its gaps.
    """
    present = [v for v in TIME_INVARIANT if v in panel.columns and panel[v].isna().any()
               and any(f is not None and v in f.columns for f in sources)]
    if not present:
        return panel
    parts = [f[[*PAIR, *(v for v in present if v in f.columns)]] for f in sources
             if f is not None and any(v in f.columns for v in present)]
    grouped = pd.concat(parts, ignore_index=True).groupby(PAIR, observed=True)[present]
    low, high = grouped.min(), grouped.max()
    constant = low.where(low == high).dropna(how="all").reset_index()
    lookup = panel[PAIR].merge(constant, on=PAIR, how="left")
    carried: list[str] = []
    for var in present:
        values = lookup[var].to_numpy()
        gaps = panel[var].isna().to_numpy() & ~np.isnan(values)
        if gaps.any():
            panel.loc[gaps, var] = values[gaps]
            carried.append(f"{var} ({int(gaps.sum()):,} rows)")
    if carried:
        report.notes.append("time-invariant pair covariates carried to the pair's other years: "
                            + ", ".join(carried))
    return panel


def _coverage(panel: pd.DataFrame, variables: Sequence[str]) -> pd.DataFrame:
    grouped = panel.groupby("year", sort=True)
    counts = grouped[list(variables)].count()
    rows = grouped.size()
    coverage = counts.div(rows, axis=0)
    coverage.insert(0, "rows", rows.astype("int64"))
    return coverage


def _as_text(column: pd.Series) -> pd.Series:
    """Categorical codes back to text without a detour through Python objects."""
    if not isinstance(column.dtype, pd.CategoricalDtype):
        return column.astype("str")
    labels = column.cat.categories.astype("str").array
    return pd.Series(labels.take(column.cat.codes.to_numpy(), allow_fill=True), index=column.index)


def _order(panel: pd.DataFrame) -> pd.DataFrame:
    for col in PANEL_SCHEMA:
        if col.name not in panel.columns:
            panel[col.name] = pd.Series(pd.NA if col.dtype == "str" else float("nan"),
                                        index=panel.index, dtype=col.dtype)
    panel = panel[[c.name for c in PANEL_SCHEMA]].sort_values(_KEYS, ignore_index=True)
    for col in PANEL_SCHEMA:
        if col.name in PAIR:
            panel[col.name] = _as_text(panel[col.name])
        elif str(panel[col.name].dtype) != col.dtype:
            panel[col.name] = panel[col.name].astype(col.dtype)  # type: ignore[call-overload]
    return panel


def _country_codes(countries: Sequence[str] | None) -> set[str] | None:
    if countries is None:
        return None
    match = to_iso3(list(countries))
    if match.unmatched or match.aggregates:
        bad = sorted(match.unmatched | match.aggregates)
        raise UsageError(f"not a country: {', '.join(bad)}", "Give ISO3 codes such as MEX,USA,PHL.")
    return {c for c in match.codes if c is not None}


def assemble_panel(*, trade: pd.DataFrame | None = None, stocks: pd.DataFrame | None = None,
                   flows: pd.DataFrame | None = None, covariates: pd.DataFrame | None = None,
                   country_year: pd.DataFrame | None = None, years: Sequence[int] | None = None,
                   countries: Sequence[str] | None = None,
                   units: Mapping[str, str] | None = None) -> PanelResult:
    """Assemble the dyadic trade-migration panel.

    Parameters
    ----------
    trade
        Bilateral trade by year: migtrade's CEPII parser output or the Yotov et al. (2016)
        layout (exporter, importer, year, trade, dist, cntg, lang, clny, rta). Its distance,
        contiguity, language, colony and RTA columns are used when present.
    stocks
        Bilateral migrant stocks by year (UN DESA; names or codes), origin = country of birth.
    flows
        Five-year bilateral flows (Abel-Cohen): origin, destination, period_start, period_end,
        flow and optionally method (one method only).
    covariates
        Dyadic covariates (dist, contig, comlang, colony, rta), by year or constant over years.
        Where both this input and ``trade`` give a covariate, this input's value is used.
    country_year
        World Bank long table (iso3 or country, year, indicator, value); the indicators of
        :data:`~migtrade.panel.schema.WDI_INDICATORS` become ``gdp``, ``pop``, ``remittances``
        and ``remittances_gdp`` with suffixes ``_o`` and ``_d``.
    years
        Keep only these years (for flows: periods starting in these years).
    countries
        Keep only pairs of these countries (codes or names).
    units
        Units set by the inputs for panel columns, overriding the schema defaults.

    Returns
    -------
    PanelResult

    Raises
    ------
    DataError
        If no dyadic input is given, an input lacks required columns, flows mix methods, or
        covariates conflict for one key.
    UsageError
        If ``countries`` holds something that is not a country.
    """
    report = Report()
    year_set = {int(y) for y in years} if years is not None else None
    country_set = _country_codes(countries)
    t = prepare_trade(trade, year_set, country_set, report) if trade is not None else None
    s = prepare_stocks(stocks, year_set, country_set, report) if stocks is not None else None
    f = prepare_flows(flows, year_set, country_set, report) if flows is not None else None
    c = (prepare_covariates(covariates, year_set, country_set, report)
         if covariates is not None else None)
    non_domestic = [x.loc[x["origin"] != x["destination"]] if x is not None else None
                    for x in (s, f, c)]
    panel = _keys([t, *non_domestic])
    if t is not None:
        trade_cols = ["trade", *(v for v in DYADIC_COVARIATES if v in t.columns)]
        panel = _attach(panel, t, _KEYS, trade_cols)
    if c is not None:
        on = _KEYS if "year" in c.columns else PAIR
        covs = [v for v in DYADIC_COVARIATES if v in c.columns]
        panel = _attach(panel, c.rename(columns={v: f"{v}__cov" for v in covs}), on,
                        [f"{v}__cov" for v in covs])
        for v in covs:
            own = panel[v] if v in panel.columns else pd.Series(float("nan"), index=panel.index)
            panel[v] = panel.pop(f"{v}__cov").combine_first(own)
    panel = _carry_invariants(panel, [t, c], report)
    if s is not None:
        panel = _attach(panel, s, _KEYS, ["migrant_stock"])
        reverse = s.rename(columns={"origin": "destination", "destination": "origin",
                                    "migrant_stock": "migrant_stock_reverse"})
        panel = _attach(panel, reverse, _KEYS, ["migrant_stock_reverse"])
    if f is not None:
        panel = _attach(panel, f, _KEYS, ["migration_flow", "migration_period"])
    if country_year is not None:
        cy = prepare_country_year(country_year, year_set, report)
        values = [v for v in COUNTRY_YEAR if v in cy.columns]
        for side, col in (("o", "origin"), ("d", "destination")):
            renamed = cy.rename(columns={"code": col, **{v: f"{v}_{side}" for v in values}})
            panel = _attach(panel, renamed, [col, "year"], [f"{v}_{side}" for v in values])
    panel = _order(panel)
    variables = [col.name for col in PANEL_SCHEMA if col.name not in KEYS]
    merged_units = {**UNITS, **dict(units or {})}
    return PanelResult(frame=panel, coverage=_coverage(panel, variables),
                       unmatched=report.unmatched, notes=report.notes,
                       aggregates=report.aggregates, units=merged_units)
