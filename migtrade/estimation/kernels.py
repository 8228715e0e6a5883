"""Compiled inner loops of the absorb core.

Everything here works on plain arrays so that numba can compile it once and cache the machine code.
The layout of the fixed effects is fixed: ``codes`` is a (Q, n) int32 array whose row q holds the
level of observation i in fixed-effect dimension q (0 .. G_q - 1), and the levels of all dimensions
are laid end to end in one vector indexed by ``offsets[q] + code``.

One *sweep* G is a Gauss-Seidel pass over the Q dimensions: for each dimension in turn, subtract
from the residual its weighted group means. The loops are arranged so that memory is read as few
times as possible, which is what their speed depends on:

* subtracting the means of dimension q and summing for dimension q + 1 share one pass;
* a sweep reads its input and writes its output (no copies), and its last pass already sums the
  output for the first dimension of the next sweep;
* the last pass of the second sweep of an Irons-Tuck step also gathers the step's statistics, and
  the extrapolation sums for the next step's first dimension as it writes.

An Irons-Tuck step (two sweeps and the extrapolation) thus reads the data 2Q + 1 times.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# What the last pass of a sweep does besides subtracting the means.
_PLAIN, _SUM_FIRST, _STATS = 0, 1, 2


@njit(cache=True, nogil=True)
def _zero(acc, start, stop):
    for g in range(start, stop):
        acc[g] = 0.0


@njit(cache=True, nogil=True)
def _extrapolate_sum_first(ggx, gx, coef, r, code_row, w, acc, start, stop, in_runs):
    """r = ggx - coef (ggx - gx), and acc[start:stop] = its weighted sums on the first dimension
    (with ``gx`` = ``ggx`` this just sums ``ggx`` into ``acc``)."""
    _zero(acc, start, stop)
    n = r.shape[0]
    if in_runs and n:
        cur = code_row[0]
        run = 0.0
        for i in range(n):
            v = ggx[i] - coef * (ggx[i] - gx[i])
            r[i] = v
            g = code_row[i]
            if g != cur:
                acc[start + cur] += run
                run = 0.0
                cur = g
            run += w[i] * v
        acc[start + cur] += run
    else:
        for i in range(n):
            v = ggx[i] - coef * (ggx[i] - gx[i])
            r[i] = v
            acc[start + code_row[i]] += w[i] * v


@njit(cache=True, nogil=True)
def _sweep(src, dst, codes, offsets, w, inv_wsum, acc, mode, x, gx, runs):
    """dst = G(src). On entry acc holds the first dimension's group sums of ``src``.

    ``mode`` _SUM_FIRST leaves in acc the first dimension's sums of ``dst``; _STATS returns the
    Irons-Tuck statistics of the step x -> gx -> dst (largest change, <d, d2>, |d2|^2).
    """
    n_fe = codes.shape[0]
    n = dst.shape[0]
    change = 0.0
    vprod = 0.0
    ssq = 0.0
    for q in range(n_fe):
        start = offsets[q]
        for g in range(start, offsets[q + 1]):
            acc[g] *= inv_wsum[g]
        row = codes[q]
        inp = src if q == 0 else dst
        last = q + 1 == n_fe
        if not last or mode == _SUM_FIRST:
            nq = 0 if last else q + 1
            nxt = codes[nq]
            nstart = offsets[nq]
            _zero(acc, nstart, offsets[nq + 1])
            if runs[nq] and n:
                # The rows of a group sit together (a panel sorted by it): summing each run in a
                # register avoids a chain of loads and stores to one address.
                cur = nstart + nxt[0]
                run = 0.0
                for i in range(n):
                    v = inp[i] - acc[start + row[i]]
                    dst[i] = v
                    g = nstart + nxt[i]
                    if g != cur:
                        acc[cur] += run
                        run = 0.0
                        cur = g
                    run += w[i] * v
                acc[cur] += run
            else:
                for i in range(n):
                    v = inp[i] - acc[start + row[i]]
                    dst[i] = v
                    acc[nstart + nxt[i]] += w[i] * v
        elif mode == _STATS:
            for i in range(n):
                v = inp[i] - acc[start + row[i]]
                dst[i] = v
                d_gx = v - gx[i]
                a = abs(d_gx)
                if a > change:
                    change = a
                d2 = d_gx - gx[i] + x[i]
                vprod += d_gx * d2
                ssq += d2 * d2
        else:
            for i in range(n):
                dst[i] = inp[i] - acc[start + row[i]]
    return change, vprod, ssq


@njit(cache=True, nogil=True)
def demean_column(r, codes, offsets, w, inv_wsum, tol, maxiter, runs):
    """Project ``r`` (in place) off the span of the fixed effects; Irons-Tuck accelerated.

    Returns the number of sweeps used, or -1 when ``maxiter`` sweeps were not enough. The
    iteration stops when a full sweep changes no element by more than ``tol``.
    """
    n = r.shape[0]
    n_levels = offsets[offsets.shape[0] - 1]
    acc = np.empty(n_levels)
    first = codes[0]
    _extrapolate_sum_first(r, r, 0.0, r, first, w, acc, offsets[0], offsets[1], runs[0])
    if codes.shape[0] == 1:
        _sweep(r, r, codes, offsets, w, inv_wsum, acc, _PLAIN, r, r, runs)
        return 1
    gx = np.empty(n)
    ggx = np.empty(n)
    sweeps = 0
    while sweeps < maxiter:
        _sweep(r, gx, codes, offsets, w, inv_wsum, acc, _SUM_FIRST, r, r, runs)
        # Convergence is judged on the change made by the second, plain sweep.
        change, vprod, ssq = _sweep(gx, ggx, codes, offsets, w, inv_wsum, acc, _STATS, r, gx, runs)
        sweeps += 2
        if not (np.isfinite(vprod) and np.isfinite(ssq)):
            return -1  # the input or a sweep produced NaN or inf: report failure, never converge
        if change <= tol or ssq == 0.0:
            for i in range(n):
                r[i] = ggx[i]
            return sweeps
        coef = vprod / ssq
        _extrapolate_sum_first(ggx, gx, coef, r, first, w, acc, offsets[0], offsets[1], runs[0])
    return -1


@njit(cache=True, parallel=True)
def demean_columns(x, codes, offsets, w, inv_wsum, tols, maxiter, sweeps_out, runs):
    """Demean every column of the Fortran-ordered ``x`` in place, columns in parallel.

    ``runs[q]`` says that the rows of each group of dimension q mostly sit next to each other.
    """
    k = x.shape[1]
    for j in prange(k):
        sweeps_out[j] = demean_column(x[:, j], codes, offsets, w, inv_wsum, tols[j], maxiter, runs)


def grouped_in_runs(code_row: np.ndarray) -> bool:
    """Whether most rows have the same level as the row before (a panel sorted by this)."""
    return bool(code_row.size > 1 and np.count_nonzero(code_row[1:] == code_row[:-1]) * 2 > code_row.size)


@njit(cache=True, parallel=True)
def group_sums(x, codes, offsets, w, net, gross):
    """net[:, j] = weighted sums of column j by every level of every dimension (levels laid end
    to end as in ``offsets``), gross[:, j] = the same sums of absolute values; one pass each."""
    n_fe = codes.shape[0]
    for j in prange(x.shape[1]):
        net[:, j] = 0.0
        gross[:, j] = 0.0
        for i in range(x.shape[0]):
            v = w[i] * x[i, j]
            a = abs(v)
            for q in range(n_fe):
                g = offsets[q] + codes[q, i]
                net[g, j] += v
                gross[g, j] += a


@njit(cache=True, parallel=True)
def weighted_gram(x, w, y, chunks, gram, xty):
    """gram = X'WX and xty = X'WY (Y with m columns) in one pass over the rows of the
    Fortran-ordered ``x`` and ``y``, the rows split in ``chunks`` blocks summed separately (then
    added), without an n x k temporary."""
    n, k = x.shape
    m = y.shape[1]
    width = k * k + k * m
    parts = np.zeros((chunks, width))
    for c in prange(chunks):
        lo = n * c // chunks
        hi = n * (c + 1) // chunks
        acc = parts[c]
        for i in range(lo, hi):
            wi = w[i]
            for a in range(k):
                v = wi * x[i, a]
                for b in range(a + 1):
                    acc[a * k + b] += v * x[i, b]
                for j in range(m):
                    acc[k * k + a * m + j] += v * y[i, j]
    for a in range(k):
        for b in range(a + 1):
            s = 0.0
            for c in range(chunks):
                s += parts[c, a * k + b]
            gram[a, b] = s
            gram[b, a] = s
        for j in range(m):
            s = 0.0
            for c in range(chunks):
                s += parts[c, k * k + a * m + j]
            xty[a, j] = s


# Row blocks summed separately in the Gram matrix: more blocks, smaller rounding error.
GRAM_CHUNKS = 32


def weighted_cross(x: np.ndarray, w: np.ndarray, y: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """X'WX and X'Wy in one compiled pass, without an n x k temporary; ``y`` is (n,) or (n, m)
    and X'Wy has its shape after the first axis (empty without ``y``)."""
    n, k = x.shape
    yy = np.zeros((n, 0)) if y is None else np.asfortranarray(
        np.asarray(y, dtype=np.float64).reshape(n, -1))
    gram, xty = np.empty((k, k)), np.empty((k, yy.shape[1]))
    weighted_gram(np.asfortranarray(x, dtype=np.float64), np.ascontiguousarray(w, dtype=np.float64),
                  yy, GRAM_CHUNKS, gram, xty)
    if y is None:
        return gram, np.zeros(0)
    return gram, xty.reshape((k, *np.shape(y)[1:]))


@njit(cache=True, nogil=True)
def spread_within(x, codes, n_levels):
    """The largest spread (max - min) of ``x`` within any group of ``codes``, in one pass."""
    lo = np.full(n_levels, np.inf)
    hi = np.full(n_levels, -np.inf)
    for i in range(x.shape[0]):
        g = codes[i]
        v = x[i]
        if v < lo[g]:
            lo[g] = v
        if v > hi[g]:
            hi[g] = v
    worst = 0.0
    for g in range(n_levels):
        if hi[g] >= lo[g] and hi[g] - lo[g] > worst:
            worst = hi[g] - lo[g]
    return worst
