"""Preconditioned conjugate gradients on the fixed-effect normal equations.

Alternating projections converge at a rate set by the worst angle between the fixed-effect
subspaces; on long, sparse graphs (workers moving along a chain of firms) that angle is tiny and
they need tens of thousands of sweeps. Conjugate gradients on ``D'WD a = D'W x`` with the
diagonal preconditioner ``diag(D'WD)`` (the group weight sums) need roughly the square root of
that, and each iteration reads the data once: for every row, gather the search direction over
its Q groups and scatter the weighted result back. The residual ``x - D a`` is formed once at the
end, so no n-vector is written inside the loop.

Convergence is declared when every group's weighted mean of the residual (the preconditioned
gradient) is below ``tol`` in absolute value: then the residual is orthogonal to every
fixed-effect dummy to that accuracy, which is the definition of the projection. The recursively
updated gradient drifts from the true one, so convergence is confirmed on the recomputed residual
and the solve restarts from there if needed.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, nogil=True)
def _gradient(r, codes, offsets, w, out):
    """out = D'W r (weighted group sums of r for every level of every dimension)."""
    out[:] = 0.0
    n_fe = codes.shape[0]
    for i in range(r.shape[0]):
        v = w[i] * r[i]
        for q in range(n_fe):
            out[offsets[q] + codes[q, i]] += v


@njit(cache=True, nogil=True)
def _apply(p, codes, offsets, w, out):
    """out = D'WD p in one pass over the rows."""
    out[:] = 0.0
    n_fe = codes.shape[0]
    n = codes.shape[1]
    for i in range(n):
        t = 0.0
        for q in range(n_fe):
            t += p[offsets[q] + codes[q, i]]
        t *= w[i]
        for q in range(n_fe):
            out[offsets[q] + codes[q, i]] += t


@njit(cache=True, nogil=True)
def _subtract_fe(r, a, codes, offsets):
    n_fe = codes.shape[0]
    for i in range(r.shape[0]):
        t = 0.0
        for q in range(n_fe):
            t += a[offsets[q] + codes[q, i]]
        r[i] -= t


@njit(cache=True, nogil=True)
def cg_column(r, codes, offsets, w, inv_wsum, tol, maxiter):
    """Project ``r`` in place off the fixed effects by Jacobi-preconditioned CG.

    Returns the number of iterations (each one pass over the data), or -1 without convergence.
    """
    m = offsets[offsets.shape[0] - 1]
    g = np.empty(m)
    z = np.empty(m)
    p = np.empty(m)
    q = np.empty(m)
    a = np.zeros(m)
    iters = 0
    for _restart in range(20):
        _gradient(r, codes, offsets, w, g)
        worst = 0.0
        rz = 0.0
        for k in range(m):
            z[k] = g[k] * inv_wsum[k]
            worst = max(worst, abs(z[k]))
            rz += g[k] * z[k]
        if not np.isfinite(rz):
            return -1
        if worst <= tol:
            return iters
        for k in range(m):
            p[k] = z[k]
            a[k] = 0.0
        while iters < maxiter:
            _apply(p, codes, offsets, w, q)
            iters += 1
            pq = 0.0
            for k in range(m):
                pq += p[k] * q[k]
            if pq <= 0.0 or not np.isfinite(pq):
                break
            alpha = rz / pq
            worst = 0.0
            rz_new = 0.0
            for k in range(m):
                a[k] += alpha * p[k]
                g[k] -= alpha * q[k]
                z[k] = g[k] * inv_wsum[k]
                worst = max(worst, abs(z[k]))
                rz_new += g[k] * z[k]
            if worst <= 0.5 * tol:
                break
            beta = rz_new / rz
            rz = rz_new
            for k in range(m):
                p[k] = z[k] + beta * p[k]
        _subtract_fe(r, a, codes, offsets)
        if iters >= maxiter:
            break
    return -1


@njit(cache=True, parallel=True)
def cg_columns(x, codes, offsets, w, inv_wsum, tols, maxiter, iters_out):
    """CG-project every column of the Fortran-ordered ``x`` in place, columns in parallel."""
    for j in prange(x.shape[1]):
        iters_out[j] = cg_column(x[:, j], codes, offsets, w, inv_wsum, tols[j], maxiter)
