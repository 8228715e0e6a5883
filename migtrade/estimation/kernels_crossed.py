"""The passes over the rows that the crossed-pair projection is built from.

:mod:`migtrade.estimation.crossed` strings these passes together. Each reads and writes every
column of (n, k) Fortran-ordered arrays once, columns in parallel: it subtracts gathered means
(of the pair, or of one dimension) or extrapolates, and sums the result by one or two groupings,
or gathers the Irons-Tuck statistics of the step that produced it. Every grouping is an int64
index into a (groups, k) array of sums or means.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, nogil=True)
def _sub_two_sum_one(src, dst, i1, m1, i2, m2, a_idx, acc, w):
    for g in range(acc.shape[0]):
        acc[g] = 0.0
    n = src.shape[0]
    if n == 0:
        return
    # Sorted panels put a group's rows next to each other: summing a run in a register avoids
    # a chain of loads and stores to the same address.
    cur = a_idx[0]
    run = 0.0
    for i in range(n):
        v = src[i] - m1[i1[i]] - m2[i2[i]]
        dst[i] = v
        g = a_idx[i]
        if g != cur:
            acc[cur] += run
            run = 0.0
            cur = g
        run += w[i] * v
    acc[cur] += run


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


@njit(cache=True, nogil=True)
def _sub_one_sum_one(src, dst, i1, m1, a_idx, acc, w):
    for g in range(acc.shape[0]):
        acc[g] = 0.0
    for i in range(src.shape[0]):
        v = src[i] - m1[i1[i]]
        dst[i] = v
        acc[a_idx[i]] += w[i] * v


@njit(cache=True, nogil=True)
def _sub_one_sum_two(src, dst, i1, m1, a1, acc1, a2, acc2, w):
    for g in range(acc1.shape[0]):
        acc1[g] = 0.0
    for g in range(acc2.shape[0]):
        acc2[g] = 0.0
    for i in range(src.shape[0]):
        v = src[i] - m1[i1[i]]
        dst[i] = v
        wv = w[i] * v
        acc1[a1[i]] += wv
        acc2[a2[i]] += wv


@njit(cache=True, nogil=True)
def _sub_one_stats(src, dst, i1, m1, x, gx, out):
    change = 0.0
    vprod = 0.0
    ssq = 0.0
    for i in range(src.shape[0]):
        v = src[i] - m1[i1[i]]
        dst[i] = v
        d_gx = v - gx[i]
        a = abs(d_gx)
        if a > change:
            change = a
        d2 = d_gx - gx[i] + x[i]
        vprod += d_gx * d2
        ssq += d2 * d2
    out[0] = change
    out[1] = vprod
    out[2] = ssq


@njit(cache=True, nogil=True)
def _extrapolate_sum_two(ggx, gx, coef, dst, a1, acc1, a2, acc2, w):
    for g in range(acc1.shape[0]):
        acc1[g] = 0.0
    for g in range(acc2.shape[0]):
        acc2[g] = 0.0
    for i in range(ggx.shape[0]):
        v = ggx[i] - coef * (ggx[i] - gx[i])
        dst[i] = v
        wv = w[i] * v
        acc1[a1[i]] += wv
        acc2[a2[i]] += wv


@njit(cache=True, parallel=True)
def sum_two(src, a1, acc1, a2, acc2, w):
    """acc1, acc2 = weighted sums of every column by two groupings."""
    for j in prange(src.shape[1]):
        _extrapolate_sum_two(src[:, j], src[:, j], 0.0, src[:, j], a1, acc1[:, j], a2,
                             acc2[:, j], w)


@njit(cache=True, parallel=True)
def pair_then_sum(src, dst, i1, m1, i2, m2, a_idx, acc, w):
    """dst = src - m1[i1] - m2[i2]; acc = its weighted sums by a_idx."""
    for j in prange(src.shape[1]):
        _sub_two_sum_one(src[:, j], dst[:, j], i1, m1[:, j], i2, m2[:, j], a_idx, acc[:, j], w)


@njit(cache=True, parallel=True)
def pair_then_pair_sums(src, dst, i1, m1, i2, m2, acc1, acc2, w):
    """dst = src - m1[i1] - m2[i2]; acc1, acc2 = its weighted sums by i1 and by i2."""
    for j in prange(src.shape[1]):
        _sub_two_sum_two(src[:, j], dst[:, j], i1, m1[:, j], i2, m2[:, j], w, acc1[:, j],
                         acc2[:, j])


@njit(cache=True, parallel=True)
def one_then_sum(src, dst, i1, m1, a_idx, acc, w):
    """dst = src - m1[i1]; acc = its weighted sums by a_idx."""
    for j in prange(src.shape[1]):
        _sub_one_sum_one(src[:, j], dst[:, j], i1, m1[:, j], a_idx, acc[:, j], w)


@njit(cache=True, parallel=True)
def one_then_sum_two(src, dst, i1, m1, a1, acc1, a2, acc2, w):
    """dst = src - m1[i1]; acc1, acc2 = its weighted sums by a1 and by a2."""
    for j in prange(src.shape[1]):
        _sub_one_sum_two(src[:, j], dst[:, j], i1, m1[:, j], a1, acc1[:, j], a2, acc2[:, j], w)


@njit(cache=True, parallel=True)
def one_then_stats(src, dst, i1, m1, x, gx, stats):
    """dst = src - m1[i1]; stats[:, j] = (largest |dst - gx|, <d, d2>, |d2|^2) with
    d = dst - gx and d2 = d - gx + x: the Irons-Tuck quantities of the step x -> gx -> dst."""
    for j in prange(src.shape[1]):
        _sub_one_stats(src[:, j], dst[:, j], i1, m1[:, j], x[:, j], gx[:, j], stats[:, j])


@njit(cache=True, parallel=True)
def extrapolate_then_sum_two(ggx, gx, coef, dst, a1, acc1, a2, acc2, w):
    """dst = ggx - coef (ggx - gx), column by column; acc1, acc2 = its sums by a1 and a2."""
    for j in prange(ggx.shape[1]):
        _extrapolate_sum_two(ggx[:, j], gx[:, j], coef[j], dst[:, j], a1, acc1[:, j], a2,
                             acc2[:, j], w)


def empty_sums(groups: int, k: int) -> np.ndarray:
    """A (groups, k) Fortran-ordered array for the passes to sum into."""
    return np.empty((groups, k), order="F")
