"""The passes over the rows that the crossed-pair projection is built from.

:mod:`migtrade.estimation.crossed` strings these passes together. Each reads (and writes) every
column of (n, k) Fortran-ordered arrays once, columns in parallel, and sums the result by the
pair's two groupings, int64 indices into (groups, k) arrays of sums or means. The loops are C
(:mod:`migtrade.estimation._kernels_crossed`, compiled by pip at install time).
"""

from __future__ import annotations

import numpy as np

from migtrade.estimation import (
    _env_openmp,  # noqa: F401  (before the first kernel loads)
    _kernels_crossed,
)


def sum_two(src: np.ndarray, a1: np.ndarray, acc1: np.ndarray, a2: np.ndarray, acc2: np.ndarray,
            w: np.ndarray) -> None:
    """acc1, acc2 = weighted sums of every column by two groupings."""
    _kernels_crossed.sum_two(src, a1, acc1, a2, acc2, w)


def pair_then_pair_sums(src: np.ndarray, dst: np.ndarray, i1: np.ndarray, m1: np.ndarray,
                        i2: np.ndarray, m2: np.ndarray, acc1: np.ndarray, acc2: np.ndarray,
                        w: np.ndarray) -> None:
    """dst = src - m1[i1] - m2[i2]; acc1, acc2 = its weighted sums by i1 and by i2 (``dst``
    may be ``src``)."""
    _kernels_crossed.pair_then_pair_sums(src, dst, i1, m1, i2, m2, acc1, acc2, w)


def empty_sums(groups: int, k: int) -> np.ndarray:
    """A (groups, k) Fortran-ordered array for the passes to sum into."""
    return np.empty((groups, k), order="F")


def components(ca: np.ndarray, cb: np.ndarray, ga: int, gb: int) -> tuple[int, np.ndarray]:
    """The connected components of the bipartite graph whose rows join level ``ca[i]`` of one
    dimension (``ga`` levels) to level ``cb[i]`` of the other (``gb``): their number and the
    component of every level, the first dimension's levels first, components numbered in the
    order of their first level. One pass over the rows (union-find with path halving)."""
    labels = np.empty(ga + gb, dtype=np.int64)
    count = _kernels_crossed.components(np.ascontiguousarray(ca, dtype=np.int32),
                                        np.ascontiguousarray(cb, dtype=np.int32), ga, gb, labels)
    return int(count), labels
