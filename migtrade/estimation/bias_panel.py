"""Observations laid out as country pairs x periods, and sums over the pairs of each country.

The bias corrections work pair by pair on T x T blocks (T periods) and sum them over the pairs
of each origin and of each destination. :class:`PairPanel` numbers the pairs and periods of the
estimation sample and places any per-observation array on the (pairs, periods) grid, a missing
period being a zero (zero mean, zero score and zero regressor: it drops out of every sum, as in
``ppml_fe_bias``). :class:`CountryGroups` lists the pairs of each country in one contiguous run
and :class:`BothSides` the origins' and the destinations' runs together, for the compiled loops
that sum over a country's pairs (no pairs x T x T arrays).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from migtrade.errors import DataError, UsageError
from migtrade.estimation.fixed_effects import is_nested


def _compact(keys: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct keys in increasing order and each row's position among them."""
    present = np.zeros(n_keys, dtype=bool)
    present[keys] = True
    return np.flatnonzero(present), (np.cumsum(present) - 1)[keys]


def period_codes(time: pd.Series, used: np.ndarray | None = None) -> np.ndarray:
    """Each row's period (of the rows ``used`` when given), 0 .. T-1 in the sorted order of the
    values (as ``pd.factorize(sort=True)``); integer periods (years) by a table of the values
    present, one pass instead of hashing and sorting."""
    values = time.to_numpy()
    if values.dtype.kind in "iu" and values.size:
        if used is not None:
            values = values[used]
        low, high = int(values.min()), int(values.max())
        if high - low <= 4 * values.size + 1024:  # the difference fits the values' own type
            shifted = values - values.dtype.type(low)
            present = np.zeros(high - low + 1, dtype=bool)
            present[shifted] = True
            return (np.cumsum(present) - 1)[shifted]
    return pd.factorize(time if used is None else time[used], sort=True)[0].astype(np.int64)


def _periods(pair: np.ndarray, time: pd.Series, used: np.ndarray | None, n_pairs: int,
             names: Sequence[str]) -> tuple[np.ndarray, int, bool]:
    """Each row's period (as :func:`period_codes`), the number of periods, and whether the rows
    are the (pair, period) cells in order with none missing (the usual layout of a gravity
    panel: the grid is then the rows themselves, no scatter and no copy). Integer periods of a
    narrow range go through one compiled pass
    (:func:`migtrade.estimation.kernels_bias.period_cells`).

    Raises
    ------
    DataError
        When a pair has several rows in one period.
    """
    from migtrade.estimation.kernels_bias import period_cells

    values = time.to_numpy()
    if values.dtype.kind in "iu" and values.size:
        values = values if used is None else values[used]
        low, high = int(values.min()), int(values.max())
        if high - low <= 4 * values.size + 1024:
            period, n_t, increasing = period_cells(values, pair, low, high)
            if increasing and len(pair) == n_pairs * n_t:
                return period, n_t, True
            _no_repeated_cells(pair * n_t + period, names)
            return period, n_t, False
    period = period_codes(time, used)
    n_t = int(period.max()) + 1 if period.size else 0
    cell = pair * n_t + period
    if len(cell) == n_pairs * n_t and bool(np.all(cell[1:] > cell[:-1])):
        return period, n_t, True
    _no_repeated_cells(cell, names)
    return period, n_t, False


def _no_repeated_cells(cell: np.ndarray, names: Sequence[str]) -> None:
    if cell.size and np.bincount(cell).max() > 1:
        raise DataError(
            f"some ({names[0]}, {names[1]}) pairs have several rows in one {names[2]}",
            "The bias correction needs one row per pair and period; aggregate the data or "
            "add the dimension that tells the rows apart to the fixed effects.",
        )


def not_the_pair(names: Sequence[str]) -> UsageError:
    """The error for a pair column (``names[3]``) whose groups are not the (``names[0]``,
    ``names[1]``) pairs."""
    return UsageError(
        f"the fixed effect '{names[3]}' is not the ({names[0]}, {names[1]}) pair: its groups "
        "differ from the pairs of the sample (a symmetric pair id joins both directions)",
        f"Write the pair effect as {names[0]}^{names[1]}.",
    )


def same_groups(a: np.ndarray, b: np.ndarray) -> bool:
    """True when two code arrays split the rows into the same groups."""
    return is_nested(a, b) and is_nested(b, a)


@dataclass(frozen=True)
class CountryGroups:
    """The pairs of each country of one side, in contiguous runs.

    Attributes
    ----------
    order
        Pair indices sorted by country (stable).
    bounds
        ``order[bounds[c]:bounds[c + 1]]`` are the pairs of country c.
    """

    order: np.ndarray
    bounds: np.ndarray

    @classmethod
    def of(cls, country: np.ndarray, n_countries: int) -> CountryGroups:
        """Group pair indices by their country code (0 .. n_countries - 1)."""
        counts = np.bincount(country, minlength=n_countries)
        bounds = np.concatenate([[0], np.cumsum(counts)])
        if np.all(country[1:] >= country[:-1]):  # the origins: pairs are numbered by origin
            return cls(order=np.arange(len(country)), bounds=bounds)
        return cls(order=np.argsort(country, kind="stable"), bounds=bounds)

    @property
    def n(self) -> int:
        """Number of countries."""
        return len(self.bounds) - 1


@dataclass(frozen=True)
class BothSides:
    """The pairs of every origin, then of every destination, as one list of country groups.

    The compiled per-country loops take both sides in one pass (one parallel team), reading the
    (pairs, T) grid arrays in place through ``order``.

    Attributes
    ----------
    order, bounds
        Group c's pairs are ``order[bounds[c]:bounds[c + 1]]``; the origins are groups
        0 .. n_first - 1, the destinations the others.
    n_first
        The number of origins.
    country
        (2, pairs): each pair's group on each side (destinations counted from ``n_first``).
    """

    order: np.ndarray
    bounds: np.ndarray
    n_first: int
    country: np.ndarray


@dataclass(frozen=True)
class PairPanel:
    """The estimation sample as pairs x periods.

    Attributes
    ----------
    pair, period
        Per observation: its pair (0 .. P-1) and period (0 .. T-1).
    origin, destination
        Per pair: its two countries (0 .. N_i - 1 and 0 .. N_j - 1).
    n_origins, n_destinations, n_periods
        N_i, N_j and T.
    aligned
        The rows are the grid's cells in order (pair by pair, periods in order, none missing).
    """

    pair: np.ndarray
    period: np.ndarray
    origin: np.ndarray
    destination: np.ndarray
    n_origins: int
    n_destinations: int
    n_periods: int
    aligned: bool = False

    @classmethod
    def build(cls, origin: pd.Series, destination: pd.Series, time: pd.Series,
              names: Sequence[str], pair_codes: np.ndarray | None = None) -> PairPanel:
        """Number the pairs and periods of the sample.

        Parameters
        ----------
        origin, destination, time
            The columns on the estimation sample's rows.
        names
            The three column names, for messages.
        pair_codes
            The codes of a pair fixed effect given as one column: checked to have exactly the
            groups of the (origin, destination) pairs.

        Raises
        ------
        UsageError
            When the pair column does not coincide with the pairs.
        DataError
            When a pair has several rows in one period.
        """
        i = pd.factorize(origin, sort=True)[0].astype(np.int64)
        j = pd.factorize(destination, sort=True)[0].astype(np.int64)
        n_i, n_j = int(i.max()) + 1, int(j.max()) + 1
        keys, pair = _compact(i * n_j + j, n_i * n_j)
        if pair_codes is not None and not same_groups(pair, pair_codes):
            raise not_the_pair(names)
        period, n_t, aligned = _periods(pair, time, None, len(keys), names)
        return cls(pair=pair, period=period, origin=keys // n_j, destination=keys % n_j,
                   n_origins=n_i, n_destinations=n_j, n_periods=n_t, aligned=aligned)

    @classmethod
    def of_pairs(cls, pair: np.ndarray, origin: pd.Series, destination: pd.Series,
                 time: pd.Series, names: Sequence[str], used: np.ndarray | None = None) -> PairPanel:
        """The panel of a sample whose pairs are numbered already (``pair``: codes 0 .. P-1
        whose groups are the (origin, destination) pairs, such as the codes of a fixed effect or
        a clustering written ``origin^destination``): the countries are read on one row of each
        pair, so no column but the period is read on all rows. The columns may hold more rows
        than the sample: ``used`` marks the sample's.

        Raises
        ------
        DataError
            When a pair has several rows in one period.
        """
        n_pairs = int(pair.max()) + 1 if pair.size else 0
        pair = pair.astype(np.int64, copy=False)
        period, n_t, aligned = _periods(pair, time, used, n_pairs, names)
        if aligned:
            one_row = np.arange(n_pairs) * n_t  # the first row of each pair
        else:
            one_row = np.empty(n_pairs, dtype=np.int64)
            one_row[pair] = np.arange(len(pair))  # any row of a pair carries its two countries
        if used is not None:
            one_row = np.flatnonzero(used)[one_row]
        i, origins = pd.factorize(origin.iloc[one_row], sort=True)
        j, destinations = pd.factorize(destination.iloc[one_row], sort=True)
        return cls(pair=pair, period=period, origin=i.astype(np.int64),
                   destination=j.astype(np.int64), n_origins=len(origins),
                   n_destinations=len(destinations), n_periods=n_t, aligned=aligned)

    @property
    def n_pairs(self) -> int:
        """P, the number of pairs."""
        return len(self.origin)

    def grid(self, values: np.ndarray) -> np.ndarray:
        """Per-observation values on the (pairs, periods[, columns]) grid, zero where missing
        (a view of ``values`` when the panel is aligned)."""
        shape = (self.n_pairs, self.n_periods, *values.shape[1:])
        if self.aligned:
            return values.reshape(shape)
        out = np.zeros(shape)
        out[self.pair, self.period] = values
        return out

    def planes(self, columns: np.ndarray) -> np.ndarray:
        """(rows, k) values as k (pairs, periods) planes, zero where missing: a view of a
        Fortran-ordered ``columns`` when the panel is aligned."""
        k = columns.shape[1]
        if self.aligned:
            return np.ascontiguousarray(columns.T).reshape(k, self.n_pairs, self.n_periods)
        out = np.zeros((k, self.n_pairs, self.n_periods))
        for m in range(k):  # one regressor at a time: no (rows, k) temporaries
            out[m, self.pair, self.period] = columns[:, m]
        return out

    def both_sides(self) -> BothSides:
        """The origins' and the destinations' groups of pairs, one after the other."""
        origins, destinations = self.groups()
        return BothSides(order=np.concatenate([origins.order, destinations.order]),
                         bounds=np.concatenate([origins.bounds,
                                                destinations.bounds[1:] + origins.bounds[-1]]),
                         n_first=self.n_origins,
                         country=np.stack([self.origin, self.destination + self.n_origins]))

    def groups(self) -> tuple[CountryGroups, CountryGroups]:
        """The pairs of each origin and of each destination."""
        return (CountryGroups.of(self.origin, self.n_origins),
                CountryGroups.of(self.destination, self.n_destinations))
