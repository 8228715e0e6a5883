"""Compiled inner loops of the absorb core.

Everything here works on plain arrays so that numba can compile it once and cache the machine code.
The layout of the fixed effects is fixed: ``codes`` is a (Q, n) int32 array whose row q holds the
level of observation i in fixed-effect dimension q (0 .. G_q - 1), and the levels of all dimensions
are laid end to end in one vector indexed by ``offsets[q] + code``.

One *sweep* is a Gauss-Seidel pass over the Q dimensions: for each dimension in turn, subtract from
the residual its weighted group means. Subtracting the means of dimension q and accumulating the
sums for dimension q + 1 happen in the same pass over memory, so a sweep reads the data Q + 1 times
instead of 2Q times.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, nogil=True)
def _accumulate(r, code_row, w, acc, start, stop):
    for g in range(start, stop):
        acc[g] = 0.0
    for i in range(r.shape[0]):
        acc[start + code_row[i]] += w[i] * r[i]


@njit(cache=True, nogil=True)
def _sweep(r, codes, offsets, w, inv_wsum, acc):
    """One Gauss-Seidel sweep over all fixed-effect dimensions, in place on ``r``."""
    n_fe = codes.shape[0]
    n = r.shape[0]
    _accumulate(r, codes[0], w, acc, offsets[0], offsets[1])
    for q in range(n_fe):
        start = offsets[q]
        for g in range(start, offsets[q + 1]):
            acc[g] *= inv_wsum[g]
        row = codes[q]
        if q + 1 < n_fe:
            nxt = codes[q + 1]
            nstart = offsets[q + 1]
            for g in range(nstart, offsets[q + 2]):
                acc[g] = 0.0
            for i in range(n):
                v = r[i] - acc[start + row[i]]
                r[i] = v
                acc[nstart + nxt[i]] += w[i] * v
        else:
            for i in range(n):
                r[i] -= acc[start + row[i]]


@njit(cache=True, nogil=True)
def demean_column(r, codes, offsets, w, inv_wsum, tol, maxiter):
    """Project ``r`` (in place) off the span of the fixed effects; Irons-Tuck accelerated.

    Returns the number of sweeps used, or -1 when ``maxiter`` sweeps were not enough. The
    iteration stops when a full sweep changes no element by more than ``tol``.
    """
    n = r.shape[0]
    n_levels = offsets[offsets.shape[0] - 1]
    acc = np.empty(n_levels)
    if codes.shape[0] == 1:
        _sweep(r, codes, offsets, w, inv_wsum, acc)
        return 1
    gx = np.empty(n)
    ggx = np.empty(n)
    sweeps = 0
    while sweeps < maxiter:
        for i in range(n):
            gx[i] = r[i]
        _sweep(gx, codes, offsets, w, inv_wsum, acc)
        for i in range(n):
            ggx[i] = gx[i]
        _sweep(ggx, codes, offsets, w, inv_wsum, acc)
        sweeps += 2
        # Convergence is judged on the change made by the last plain sweep.
        change = 0.0
        vprod = 0.0
        ssq = 0.0
        for i in range(n):
            d_gx = ggx[i] - gx[i]
            a = abs(d_gx)
            if a > change:
                change = a
            d2 = d_gx - gx[i] + r[i]
            vprod += d_gx * d2
            ssq += d2 * d2
        if not (np.isfinite(vprod) and np.isfinite(ssq)):
            return -1  # the input or a sweep produced NaN or inf: report failure, never converge
        if change <= tol or ssq == 0.0:
            for i in range(n):
                r[i] = ggx[i]
            return sweeps
        coef = vprod / ssq
        for i in range(n):
            r[i] = ggx[i] - coef * (ggx[i] - gx[i])
    return -1


@njit(cache=True, parallel=True)
def demean_columns(x, codes, offsets, w, inv_wsum, tols, maxiter, sweeps_out):
    """Demean every column of the Fortran-ordered ``x`` in place, columns in parallel."""
    k = x.shape[1]
    for j in prange(k):
        sweeps_out[j] = demean_column(x[:, j], codes, offsets, w, inv_wsum, tols[j], maxiter)
