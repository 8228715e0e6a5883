"""Row-parallel demeaning: one column at a time, its rows split across the cores.

Splitting rows rather than columns keeps every core busy whatever the number of columns (a
single working variable in the separation checks, three columns in a typical PPML step on two
cores). Each chunk of rows accumulates its own group sums, which are added up before the group
means are subtracted, so the result equals the serial kernel's up to rounding.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True)
def _chunk_bounds(n, n_chunks):
    bounds = np.empty(n_chunks + 1, dtype=np.int64)
    for t in range(n_chunks + 1):
        bounds[t] = (n * t) // n_chunks
    return bounds


@njit(cache=True, parallel=True)
def demean_column_parallel(r, codes, offsets, w, inv_wsum, tol, maxiter, n_chunks):
    """Project ``r`` in place off the fixed effects (Irons-Tuck accelerated); sweeps or -1."""
    n = r.shape[0]
    n_fe = codes.shape[0]
    n_levels = offsets[n_fe]
    bounds = _chunk_bounds(n, n_chunks)
    acc = np.zeros((n_chunks, n_levels))
    mean = np.zeros(n_levels)
    gx = np.empty(n)
    ggx = np.empty(n)
    part = np.zeros((n_chunks, 3))
    sweeps = 0
    while sweeps < maxiter:
        for step in range(2):
            src = r if step == 0 else gx
            dst = gx if step == 0 else ggx
            # First pass: copy and accumulate the sums of dimension 0.
            s0, e0 = offsets[0], offsets[1]
            for t in prange(n_chunks):
                for g in range(s0, e0):
                    acc[t, g] = 0.0
                row0 = codes[0]
                for i in range(bounds[t], bounds[t + 1]):
                    v = src[i]
                    dst[i] = v
                    acc[t, s0 + row0[i]] += w[i] * v
            for q in range(n_fe):
                start, stop = offsets[q], offsets[q + 1]
                for g in range(start, stop):
                    tot = 0.0
                    for t in range(n_chunks):
                        tot += acc[t, g]
                    mean[g] = tot * inv_wsum[g]
                row = codes[q]
                if q + 1 < n_fe:
                    nxt = codes[q + 1]
                    ns, ne = offsets[q + 1], offsets[q + 2]
                    for t in prange(n_chunks):
                        for g in range(ns, ne):
                            acc[t, g] = 0.0
                        for i in range(bounds[t], bounds[t + 1]):
                            v = dst[i] - mean[start + row[i]]
                            dst[i] = v
                            acc[t, ns + nxt[i]] += w[i] * v
                else:
                    for t in prange(n_chunks):
                        for i in range(bounds[t], bounds[t + 1]):
                            dst[i] -= mean[start + row[i]]
            sweeps += 1
        for t in prange(n_chunks):
            change = 0.0
            vprod = 0.0
            ssq = 0.0
            for i in range(bounds[t], bounds[t + 1]):
                d_gx = ggx[i] - gx[i]
                a = abs(d_gx)
                if a > change:
                    change = a
                d2 = d_gx - gx[i] + r[i]
                vprod += d_gx * d2
                ssq += d2 * d2
            part[t, 0] = change
            part[t, 1] = vprod
            part[t, 2] = ssq
        change = 0.0
        vprod = 0.0
        ssq = 0.0
        for t in range(n_chunks):
            change = max(change, part[t, 0])
            vprod += part[t, 1]
            ssq += part[t, 2]
        if not (np.isfinite(vprod) and np.isfinite(ssq)):
            return -1
        if change <= tol or ssq == 0.0:
            for t in prange(n_chunks):
                for i in range(bounds[t], bounds[t + 1]):
                    r[i] = ggx[i]
            return sweeps
        coef = vprod / ssq
        for t in prange(n_chunks):
            for i in range(bounds[t], bounds[t + 1]):
                r[i] = ggx[i] - coef * (ggx[i] - gx[i])
    return -1
