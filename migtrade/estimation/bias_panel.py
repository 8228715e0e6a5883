"""Observations laid out as country pairs x periods, and sums over the pairs of each country.

The bias corrections work pair by pair on T x T blocks (T periods) and sum them over the pairs
of each origin and of each destination. :class:`PairPanel` numbers the pairs and periods of the
estimation sample and places any per-observation array on the (pairs, periods) grid, a missing
period being a zero (zero mean, zero score and zero regressor: it drops out of every sum, as in
``ppml_fe_bias``). :class:`CountryGroups` holds the pairs of each country in one contiguous run,
so that sums over a country's pairs and products with a per-country T x T matrix are one matrix
product per country (no pairs x T x T arrays).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from migtrade.errors import DataError, UsageError


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
        order = np.argsort(country, kind="stable")
        counts = np.bincount(country, minlength=n_countries)
        return cls(order=order, bounds=np.concatenate([[0], np.cumsum(counts)]))

    @property
    def n(self) -> int:
        """Number of countries."""
        return len(self.bounds) - 1

    def slices(self) -> list[slice]:
        """Positions of each country's pairs in ``order``."""
        return [slice(int(s), int(e)) for s, e in zip(self.bounds[:-1], self.bounds[1:], strict=True)]

    def gram(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """Per country, the sum over its pairs p of ``left[p]' right[p]``: (countries, T, T)
        from two (pairs, T) arrays."""
        lo, ro = left[self.order], right[self.order]
        t = left.shape[1]
        out = np.zeros((self.n, t, t))
        for c, s in enumerate(self.slices()):
            out[c] = lo[s].T @ ro[s]
        return out

    def total(self, values: np.ndarray) -> np.ndarray:
        """Per country, the sum over its pairs of ``values[p]`` (any trailing shape)."""
        out = np.zeros((self.n, *values.shape[1:]))
        np.add.at(out, self._country_of_pair(), values)
        return out

    def times(self, rows: np.ndarray, matrices: np.ndarray) -> np.ndarray:
        """``rows[p, ..., :] @ matrices[country of p]`` for every pair: rows of shape
        (pairs, ..., T) times (countries, T, T) matrices, one matrix product per country."""
        ordered = rows[self.order]
        out = np.empty_like(rows)
        t = rows.shape[-1]
        for c, s in enumerate(self.slices()):
            block = ordered[s]
            out[self.order[s]] = (block.reshape(-1, t) @ matrices[c]).reshape(block.shape)
        return out

    def _country_of_pair(self) -> np.ndarray:
        country = np.empty(len(self.order), dtype=np.int64)
        country[self.order] = np.repeat(np.arange(self.n), np.diff(self.bounds))
        return country


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
    """

    pair: np.ndarray
    period: np.ndarray
    origin: np.ndarray
    destination: np.ndarray
    n_origins: int
    n_destinations: int
    n_periods: int

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
        t = pd.factorize(time, sort=True)[0].astype(np.int64)
        n_i, n_j, n_t = int(i.max()) + 1, int(j.max()) + 1, int(t.max()) + 1
        keys, pair = np.unique(i * n_j + j, return_inverse=True)
        pair = pair.ravel().astype(np.int64)
        n_pairs = len(keys)
        if pair_codes is not None:
            joint = np.unique(pair * (int(pair_codes.max()) + 1) + pair_codes).size
            if not n_pairs == joint == int(np.unique(pair_codes).size):
                raise UsageError(
                    f"the fixed effect '{names[3]}' is not the ({names[0]}, {names[1]}) pair: its "
                    "groups differ from the pairs of the sample (a symmetric pair id joins both "
                    "directions)",
                    f"Write the pair effect as {names[0]}^{names[1]}.",
                )
        cells = pair * n_t + t
        if np.unique(cells).size != cells.size:
            raise DataError(
                f"some ({names[0]}, {names[1]}) pairs have several rows in one {names[2]}",
                "The bias correction needs one row per pair and period; aggregate the data or "
                "add the dimension that tells the rows apart to the fixed effects.",
            )
        return cls(pair=pair, period=t, origin=keys // n_j, destination=keys % n_j,
                   n_origins=n_i, n_destinations=n_j, n_periods=n_t)

    @property
    def n_pairs(self) -> int:
        """P, the number of pairs."""
        return len(self.origin)

    def grid(self, values: np.ndarray) -> np.ndarray:
        """Per-observation values on the (pairs, periods[, columns]) grid, zero where missing."""
        out = np.zeros((self.n_pairs, self.n_periods, *values.shape[1:]))
        out[self.pair, self.period] = values
        return out

    def groups(self) -> tuple[CountryGroups, CountryGroups]:
        """The pairs of each origin and of each destination."""
        return (CountryGroups.of(self.origin, self.n_origins),
                CountryGroups.of(self.destination, self.n_destinations))
