"""The passes over the rows that the crossed-pair projection is built from.

:mod:`migtrade.estimation.crossed` strings these passes together. Each reads (and writes) every
column of (n, k) Fortran-ordered arrays once, columns in parallel, and sums the result by the
pair's two groupings, int64 indices into (groups, k) arrays of sums or means.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, nogil=True)
def _sums(src, i1, acc1, i2, acc2, w):
    for g in range(acc1.shape[0]):
        acc1[g] = 0.0
    for g in range(acc2.shape[0]):
        acc2[g] = 0.0
    for i in range(src.shape[0]):
        wv = w[i] * src[i]
        acc1[i1[i]] += wv
        acc2[i2[i]] += wv


@njit(cache=True, nogil=True)
def _sub_two_sum_two(src, dst, i1, m1, i2, m2, w, acc1, acc2):
    """Subtract the pair's fit and sum the result by the pair's own two groupings."""
    for g in range(acc1.shape[0]):
        acc1[g] = 0.0
    for g in range(acc2.shape[0]):
        acc2[g] = 0.0
    for i in range(src.shape[0]):
        v = src[i] - m1[i1[i]] - m2[i2[i]]
        dst[i] = v
        wv = w[i] * v
        acc1[i1[i]] += wv
        acc2[i2[i]] += wv


@njit(cache=True, parallel=True)
def sum_two(src, a1, acc1, a2, acc2, w):
    """acc1, acc2 = weighted sums of every column by two groupings."""
    for j in prange(src.shape[1]):
        _sums(src[:, j], a1, acc1[:, j], a2, acc2[:, j], w)


@njit(cache=True, parallel=True)
def pair_then_pair_sums(src, dst, i1, m1, i2, m2, acc1, acc2, w):
    """dst = src - m1[i1] - m2[i2]; acc1, acc2 = its weighted sums by i1 and by i2."""
    for j in prange(src.shape[1]):
        _sub_two_sum_two(src[:, j], dst[:, j], i1, m1[:, j], i2, m2[:, j], w, acc1[:, j],
                         acc2[:, j])


def empty_sums(groups: int, k: int) -> np.ndarray:
    """A (groups, k) Fortran-ordered array for the passes to sum into."""
    return np.empty((groups, k), order="F")
