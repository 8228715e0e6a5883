"""Auxiliary weights of the wild and score bootstraps, drawn per cluster from a seeded generator.

Notes
-----
Each bootstrap replication multiplies cluster g's residuals (or scores) by a draw v_g with mean 0
and variance 1:

* Rademacher: +1 or -1 with probability 1/2 each;
* Webb (six points): ±sqrt(1/2), ±1, ±sqrt(3/2) with probability 1/6 each, which has more
  distinct sign vectors than Rademacher when clusters are few (Webb 2023);
* Mammen: -(sqrt(5) - 1)/2 with probability (sqrt(5) + 1)/(2 sqrt(5)), (sqrt(5) + 1)/2
  otherwise (third moment 1).

With Rademacher weights and 2^G <= B there are only 2^G distinct sign vectors; all of them are
used once each instead of B random ones (full enumeration: the p-value has no simulation noise).

Draws are produced in chunks, the same chunks for the same seed whatever the caller does with
them, so that every null value tried while inverting a test sees the same draws. Rademacher
draws travel as packed bits (a byte holds eight clusters' signs), which the compiled kernels read
directly: on 19,900 clusters 9,999 draws are 25 MB instead of 1.6 GB of floats.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property

import numpy as np

from migtrade.estimation.bootstrap import kernels

SQRT5 = float(np.sqrt(5.0))
# Chunks hold about this many cluster draws (rows x clusters), a few MB as floats.
CHUNK_CELLS = 1 << 21
# Random sign bits up to this size are drawn once a plan and kept (9,999 draws of 19,900 clusters
# take 25 MB, and 30 ms to draw each time the interval search passes over them).
KEPT_BITS_BYTES = 64 << 20


class WeightKind(StrEnum):
    """Distribution of the auxiliary weights."""

    rademacher = "rademacher"
    webb = "webb"
    mammen = "mammen"


@dataclass(frozen=True)
class WeightTable:
    """A discrete distribution: the values and their probabilities."""

    values: np.ndarray
    probs: np.ndarray


WEIGHTS: dict[WeightKind, WeightTable] = {
    WeightKind.rademacher: WeightTable(np.array([-1.0, 1.0]), np.array([0.5, 0.5])),
    WeightKind.webb: WeightTable(
        np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)]),
        np.full(6, 1.0 / 6.0)),
    WeightKind.mammen: WeightTable(
        np.array([-(SQRT5 - 1) / 2, (SQRT5 + 1) / 2]),
        np.array([(SQRT5 + 1) / (2 * SQRT5), (SQRT5 - 1) / (2 * SQRT5)])),
}
"""Each weight distribution by name (mean 0, variance 1)."""


@dataclass(frozen=True)
class DrawChunk:
    """Draws of a block of replications: packed sign bits (Rademacher) or value codes."""

    rows: int
    bits: np.ndarray | None = None  # (rows, ceil(G / 8)) uint8, bit g % 8 of byte g // 8
    codes: np.ndarray | None = None  # (rows, G) uint8 indexes into the table's values

    def matrix(self, n_clusters: int, table: WeightTable, start: int = 0,
               stop: int | None = None) -> np.ndarray:
        """The draws of rows ``start:stop`` as a (rows, G) float array."""
        if self.bits is not None:
            signs = np.unpackbits(self.bits[start:stop], axis=1, count=n_clusters, bitorder="little")
            return signs.astype(np.float64) * 2.0 - 1.0
        assert self.codes is not None
        return table.values[self.codes[start:stop]]

    def blocks(self, n_clusters: int, table: WeightTable) -> Iterator[np.ndarray]:
        """The draws as float arrays of at most ``CHUNK_CELLS`` cells each."""
        step = max(1, CHUNK_CELLS // max(n_clusters, 1))
        for start in range(0, self.rows, step):
            yield self.matrix(n_clusters, table, start, start + step)


@dataclass(frozen=True)
class DrawPlan:
    """Which draws a bootstrap uses: B replications of G cluster weights, from one seed.

    Parameters
    ----------
    kind
        The weight distribution.
    reps
        Replications asked for.
    seed
        Seed of :func:`numpy.random.default_rng`.
    n_clusters
        G.
    """

    kind: WeightKind
    reps: int
    seed: int
    n_clusters: int

    @property
    def full_enumeration(self) -> bool:
        """Rademacher weights with 2^G <= B: every sign vector once."""
        return self.kind is WeightKind.rademacher and self.n_clusters < 63 and \
            2 ** self.n_clusters <= self.reps

    @property
    def draws(self) -> int:
        """Replications actually made (2^G under full enumeration)."""
        return 2 ** self.n_clusters if self.full_enumeration else self.reps

    @property
    def table(self) -> WeightTable:
        """Values and probabilities of the weights."""
        return WEIGHTS[self.kind]

    def chunks(self) -> Iterator[DrawChunk]:
        """The draws, block by block; the same blocks every time for the same plan.

        Packed bits take eight times as many rows per block as codes for the same memory.
        """
        g = self.n_clusters
        per_byte = 8 if self.kind is WeightKind.rademacher else 1
        rows = max(1, per_byte * CHUNK_CELLS // max(g, 1))
        n_bytes = (g + 7) // 8
        if self.full_enumeration:
            # Replication b takes the signs of the binary digits of b.
            for start in range(0, self.draws, rows):
                index = np.arange(start, min(start + rows, self.draws), dtype="<u8")
                packed = index.view(np.uint8).reshape(-1, 8)[:, :n_bytes]
                yield DrawChunk(rows=index.size, bits=np.ascontiguousarray(packed))
            return
        if self.kind is WeightKind.rademacher and self.draws * n_bytes <= KEPT_BITS_BYTES:
            yield from self._kept_bits  # drawn once: interval searches pass over them often
            return
        yield from self._generate(rows, n_bytes)

    def forms(self, P: np.ndarray, D: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(P @ v, D @ v**2)`` for every draw v, one pass over the draws: (draws, rows of P)
        and (draws, rows of D). Packed sign bits are read through :func:`kernels.lookup_table`
        (``v**2 = 1``: D's row sums), value codes directly."""
        P, D = np.ascontiguousarray(P, dtype=np.float64), np.ascontiguousarray(D, dtype=np.float64)
        lin, quad = np.empty((self.draws, P.shape[0])), np.empty((self.draws, D.shape[0]))
        table: np.ndarray | None = None
        row_sums, d_sums = P.sum(axis=1), np.ascontiguousarray(D.sum(axis=1))
        start = 0
        for chunk in self.chunks():
            stop = start + chunk.rows
            if chunk.bits is not None:
                table = kernels.lookup_table(P) if table is None else table
                kernels.forms_from_bits(chunk.bits, table, row_sums, d_sums, lin[start:stop],
                                        quad[start:stop])
            else:
                assert chunk.codes is not None
                kernels.forms_from_codes(chunk.codes, self.table.values, P, D, lin[start:stop],
                                         quad[start:stop])
            start = stop
        return lin, quad

    @cached_property
    def _kept_bits(self) -> tuple[DrawChunk, ...]:
        """The random sign bits of :meth:`chunks`, all blocks."""
        n_bytes = (self.n_clusters + 7) // 8
        return tuple(self._generate(max(1, 8 * CHUNK_CELLS // max(self.n_clusters, 1)), n_bytes))

    def _generate(self, rows: int, n_bytes: int) -> Iterator[DrawChunk]:
        """The random draws from the seed, ``rows`` replications a block."""
        g = self.n_clusters
        rng = np.random.default_rng(self.seed)
        for start in range(0, self.draws, rows):
            count = min(rows, self.draws - start)
            if self.kind is WeightKind.rademacher:
                yield DrawChunk(rows=count, bits=_random_bytes(rng, count * n_bytes).reshape(
                    count, n_bytes))
            elif self.kind is WeightKind.webb:
                yield DrawChunk(rows=count, codes=rng.integers(0, 6, size=(count, g), dtype=np.uint8))
            else:
                upper = rng.random(size=(count, g)) < self.table.probs[1]
                yield DrawChunk(rows=count, codes=upper.view(np.uint8))


def _random_bytes(rng: np.random.Generator, length: int) -> np.ndarray:
    """``rng.bytes(length)`` as a uint8 array: the same bytes (NumPy draws them as little-endian
    32-bit integers, at least one, and drops the last one's unused bytes), without its two
    copies of them (9,999 draws of 19,900 clusters: 30 -> 14 ms)."""
    words = rng.integers(0, 1 << 32, size=max(1, (length + 3) // 4), dtype=np.uint32)
    return words.astype("<u4", copy=False).view(np.uint8)[:length]
