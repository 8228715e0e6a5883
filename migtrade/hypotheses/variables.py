"""Variables the substitution battery derives from the dyadic panel.

Every derived column is computed from the panel's own columns (see
:mod:`migtrade.panel.schema`); the input frame is never changed.

Lags follow the panel's calendar. :func:`panel_step` finds the spacing of its years (five for the
UN DESA and Abel-Cohen years 1990, 1995, ...; one for annual data), and a lag of one step is the
value in ``year - step`` for the same origin and destination, found by a merge on the keys, never
by shifting rows (a missing year must give a missing lag, not the previous row's value).

Zeros in migrant stocks. The network regressors are ``log(1 + stock)`` with the stock in persons.
For any stock that carries a network (hundreds of people or more) it differs from ``log(stock)``
by under 1%, so its coefficient reads as an elasticity; pairs without migrants stay in the sample
at 0 instead of being dropped, because dropping them would keep only the pairs that already
have networks and bias the elasticity. A missing stock (NaN) stays missing and its rows are left
out of the models that need it.

RTA timing. Agreements are taken as never revoked, which lets lags and leads be filled where the
panel does not reach: a pair without an agreement in year t had none before t, and one with an
agreement in year t still has it later. Two cases remain unknown: the lags of a pair whose
agreement was already in force in the first panel year (its entry date is unknown; those rows are
missing) and the lead of a pair without an agreement in the last panel year, which is taken as
zero (no entry right after the panel ends) and said so in the notes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from migtrade.errors import DataError

KEYS: tuple[str, ...] = ("origin", "destination", "year")
GEOGRAPHY: tuple[str, ...] = ("dist", "contig", "comlang", "colony")
RTA_LAGS: tuple[int, ...] = (1, 2)
"""Distributed lags of the RTA, in panel steps (5 and 10 years in five-yearly data)."""

DERIVED: dict[str, str] = {
    "dyad": "unordered pair 'AAA-BBB' (the same for both directions); the cluster variable",
    "ln_stock_lag": "log(1 + migrant_stock) one step before",
    "ln_stock_reverse_lag": "log(1 + migrant_stock_reverse) one step before",
    "ln_stock_lag2": "log(1 + migrant_stock) two steps before (an instrument)",
    "ln_trade_total": "log of trade in both directions (origin->destination plus the reverse)",
    "rta_lead1": "RTA in force one step later",
    "rta_lag1": "RTA in force one step before",
    "rta_lag2": "RTA in force two steps before",
    "rta_entry": "1 in the first panel year an agreement is in force, after a year without one",
    "rta_event": "panel steps since the agreement entered (missing when the entry is not seen)",
    "gravity_ln_trade": "log total trade predicted from geography, year by year (an instrument)",
    "gravity_ln_stock": "log(1 + migrant stock) predicted from geography, year by year "
                        "(an instrument)",
}
"""Every derived column and what it holds."""


@dataclass(frozen=True)
class DerivedPanel:
    """The panel with the derived columns added.

    Attributes
    ----------
    frame
        A copy of the input, international rows only, with the columns of :data:`DERIVED` that
        its variables allow.
    step
        Years between consecutive panel years.
    notes
        What was assumed or left out, one sentence each.
    """

    frame: pd.DataFrame
    step: int
    notes: tuple[str, ...]


def panel_step(years: pd.Series | np.ndarray) -> int:
    """The spacing of the panel's years: the most common gap between consecutive distinct years.

    Parameters
    ----------
    years
        The ``year`` column.

    Returns
    -------
    int
        1 for annual data, 5 for 1990, 1995, ...; 1 when there is a single year.
    """
    distinct = np.unique(np.asarray(years, dtype=np.int64))
    if distinct.size < 2:
        return 1
    gaps, counts = np.unique(np.diff(distinct), return_counts=True)
    return int(gaps[np.argmax(counts)])


def shifted(frame: pd.DataFrame, column: str, years: int) -> pd.Series:
    """``column`` of the same origin and destination ``years`` earlier (negative: later).

    Parameters
    ----------
    frame
        Must hold origin, destination, year and ``column``, with unique keys.
    column
        The variable to shift.
    years
        Offset in calendar years.

    Returns
    -------
    pandas.Series
        Aligned with ``frame``; NaN where that year is not in the panel.
    """
    src = frame[[*KEYS, column]].copy()
    src["year"] = src["year"] + years
    merged = frame[list(KEYS)].merge(src, on=list(KEYS), how="left", validate="many_to_one")
    return pd.Series(merged[column].to_numpy(dtype=float), index=frame.index, name=column)


def _rta_at(frame: pd.DataFrame, offset: int, bounds: pd.DataFrame) -> pd.Series:
    """RTA status ``offset`` years from each row (see the module notes for the assumptions)."""
    direct = shifted(frame, "rta", -offset)
    target = frame["year"] + offset
    inferred = pd.Series(np.nan, index=frame.index)
    inside = (target >= bounds["first_year"]) & (target <= bounds["last_year"])
    inferred[inside & (target >= bounds["first_one"])] = 1.0
    inferred[inside & (target <= bounds["last_zero"])] = 0.0
    after = target > bounds["last_year"]
    inferred[after] = bounds.loc[after, "rta_last"]
    before = (target < bounds["first_year"]) & (bounds["rta_first"] == 0)
    inferred[before] = 0.0
    return direct.fillna(inferred)


def _rta_history(frame: pd.DataFrame, step: int) -> tuple[pd.DataFrame, list[str]]:
    """Leads, lags, entry dummy and event time of the RTA."""
    notes: list[str] = []
    by = [frame["origin"], frame["destination"]]
    year = frame["year"]
    ordered = frame.sort_values("year")
    first_rta = ordered.groupby(["origin", "destination"], sort=False)["rta"]
    bounds = pd.DataFrame({
        "first_year": year.groupby(by).transform("min"),
        "last_year": year.groupby(by).transform("max"),
        "first_one": year.where(frame["rta"] == 1).groupby(by).transform("min"),
        "last_zero": year.where(frame["rta"] == 0).groupby(by).transform("max"),
        "rta_first": first_rta.transform("first").reindex(frame.index),
        "rta_last": first_rta.transform("last").reindex(frame.index),
    })
    first_one, last_zero = bounds["first_one"], bounds["last_zero"]
    if bool(((last_zero > first_one) & first_one.notna()).any()):
        notes.append("some pairs leave an RTA in the data; their leads and lags follow the "
                     "recorded years where they exist")
    out = pd.DataFrame(index=frame.index)
    out["rta_lead1"] = _rta_at(frame, step, bounds)
    for lag in RTA_LAGS:
        out[f"rta_lag{lag}"] = _rta_at(frame, -lag * step, bounds)
    entry = first_one.where(last_zero.notna() & (last_zero < first_one))
    out["rta_event"] = (year - entry) / step
    out["rta_entry"] = (out["rta_event"] == 0).astype(float).where(frame["rta"].notna())
    if bool((frame["rta"] == 0).any()):
        notes.append("the RTA lead assumes no agreement enters right after the last panel year")
    lags = out[[f"rta_lag{lag}" for lag in RTA_LAGS]]
    unknown = int((lags.isna().any(axis=1) & frame["rta"].notna()).sum())
    if unknown > 0:
        notes.append(f"{unknown} rows of pairs whose RTA predates the panel have unknown lags "
                     "and are left out of the dynamic models")
    return out, notes


def _gravity_prediction(frame: pd.DataFrame, outcome: pd.Series) -> pd.Series:
    """Fitted values of a year-by-year OLS of ``outcome`` on geography (log distance and dummies)."""
    geo = frame[list(GEOGRAPHY)].astype(float).copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        geo["dist"] = np.log(geo["dist"].where(geo["dist"] > 0))
    fitted = pd.Series(np.nan, index=frame.index)
    for _, rows in frame.groupby("year").groups.items():
        x = np.column_stack([np.ones(len(rows)), geo.loc[rows].to_numpy()])
        y = outcome.loc[rows].to_numpy(dtype=float)
        ok = np.isfinite(y) & np.isfinite(x).all(axis=1)
        if ok.sum() <= x.shape[1]:
            continue
        beta, *_ = np.linalg.lstsq(x[ok], y[ok], rcond=None)
        good = np.isfinite(x).all(axis=1)
        values = np.full(len(rows), np.nan)
        values[good] = x[good] @ beta
        fitted.loc[rows] = values
    return fitted


def add_battery_variables(frame: pd.DataFrame, *, step: int | None = None) -> DerivedPanel:
    """Add the derived variables of :data:`DERIVED` that the panel's columns allow.

    Parameters
    ----------
    frame
        A dyadic panel with at least origin, destination and year.
    step
        Years between panel years; detected with :func:`panel_step` when None.

    Returns
    -------
    DerivedPanel
        International rows (origin != destination) only: the battery is about flows between
        countries, and domestic trade has no migration counterpart.

    Raises
    ------
    DataError
        If a key column is missing or a key appears twice.
    """
    missing = [k for k in KEYS if k not in frame.columns]
    if missing:
        raise DataError(f"the data have no {', '.join(missing)} column",
                        "The battery reads a dyadic panel with origin, destination and year; "
                        "build one with `migtrade panel build`.")
    data = frame.loc[frame["origin"].astype(str) != frame["destination"].astype(str)].copy()
    data["origin"] = data["origin"].astype(str)
    data["destination"] = data["destination"].astype(str)
    data["year"] = pd.to_numeric(data["year"], errors="raise").astype(np.int64)
    if data.duplicated(list(KEYS)).any():
        dup = data.loc[data.duplicated(list(KEYS)), list(KEYS)].iloc[0].tolist()
        raise DataError(f"the key (origin, destination, year) = {tuple(dup)} appears twice",
                        "Give one row per origin, destination and year.")
    data = data.reset_index(drop=True)
    stp = step or panel_step(data["year"])
    notes: list[str] = []
    lo = np.minimum(data["origin"].to_numpy(), data["destination"].to_numpy())
    hi = np.maximum(data["origin"].to_numpy(), data["destination"].to_numpy())
    data["dyad"] = pd.Series(lo, dtype=object) + "-" + pd.Series(hi, dtype=object)

    if "migrant_stock" in data.columns:
        data["ln_stock_lag"] = np.log1p(shifted(data, "migrant_stock", stp))
        data["ln_stock_lag2"] = np.log1p(shifted(data, "migrant_stock", 2 * stp))
    if "migrant_stock_reverse" in data.columns:
        data["ln_stock_reverse_lag"] = np.log1p(shifted(data, "migrant_stock_reverse", stp))
    if "trade" in data.columns:
        reverse = data[[*KEYS, "trade"]].rename(
            columns={"origin": "destination", "destination": "origin", "trade": "trade_rev"})
        both = data[list(KEYS)].merge(reverse, on=list(KEYS), how="left")
        total = data["trade"].to_numpy(dtype=float) + both["trade_rev"].to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            data["ln_trade_total"] = np.where(total > 0, np.log(total), np.nan)
        if bool((total == 0).any()):
            notes.append(f"{int((total == 0).sum())} rows with no trade in either direction have "
                         "no log trade and are left out of the models on trade intensity")
    if "rta" in data.columns:
        history, rta_notes = _rta_history(data, stp)
        for col in history.columns:
            data[col] = history[col]
        notes += rta_notes
    if all(g in data.columns for g in GEOGRAPHY):
        if "ln_trade_total" in data.columns:
            data["gravity_ln_trade"] = _gravity_prediction(data, data["ln_trade_total"])
        if "migrant_stock" in data.columns:
            data["gravity_ln_stock"] = _gravity_prediction(data, np.log1p(data["migrant_stock"]))
    return DerivedPanel(frame=data, step=stp, notes=tuple(notes))
