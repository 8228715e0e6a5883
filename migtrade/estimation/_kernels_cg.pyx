# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled conjugate gradients on the fixed-effect normal equations, built by pip at install time.

:mod:`migtrade.estimation.kernels_cg` is the module to import and documents the method; the
arithmetic here is in the same order as there, compiled without fused multiply-add.
"""

from cython.parallel cimport prange

# Below this many cells (rows x columns) a call runs on the calling thread alone: waking an OpenMP
# team costs more than it saves on small models, and much more when other processes hold the
# cores (a 10,000-row PPML fit took 2.2 times as long on two threads as on one with the second
# core busy). Results do not depend on the branch: each column (or block) is computed alike.
cdef enum:
    PARALLEL_MIN_CELLS = 200_000
from libc.math cimport fabs, isfinite
from libc.stdint cimport int32_t, int64_t
from libc.stdlib cimport free, malloc

# Returned by a column whose scratch memory could not be allocated.
cdef enum:
    OUT_OF_MEMORY = -2
    RESTARTS = 20


cdef struct Design:
    const int32_t* codes  # (n_fe, n) row-major
    const int64_t* offsets  # n_fe + 1
    const double* w
    const double* inv_wsum
    Py_ssize_t n
    Py_ssize_t n_fe


cdef void _gradient(const double* r, const Design* d, double* out, int64_t m) noexcept nogil:
    """out = D'W r (weighted group sums of r for every level of every dimension)."""
    cdef Py_ssize_t i, q
    cdef int64_t k
    cdef double v
    for k in range(m):
        out[k] = 0.0
    for i in range(d.n):
        v = d.w[i] * r[i]
        for q in range(d.n_fe):
            out[d.offsets[q] + d.codes[q * d.n + i]] += v


cdef void _apply(const double* p, const Design* d, double* out, int64_t m) noexcept nogil:
    """out = D'WD p in one pass over the rows."""
    cdef Py_ssize_t i, q
    cdef int64_t k
    cdef double t
    for k in range(m):
        out[k] = 0.0
    for i in range(d.n):
        t = 0.0
        for q in range(d.n_fe):
            t += p[d.offsets[q] + d.codes[q * d.n + i]]
        t *= d.w[i]
        for q in range(d.n_fe):
            out[d.offsets[q] + d.codes[q * d.n + i]] += t


cdef void _subtract_fe(double* r, const double* a, const Design* d) noexcept nogil:
    cdef Py_ssize_t i, q
    cdef double t
    for i in range(d.n):
        t = 0.0
        for q in range(d.n_fe):
            t += a[d.offsets[q] + d.codes[q * d.n + i]]
        r[i] -= t


cdef int64_t _cg_solve(double* r, const Design* d, double tol, int64_t maxiter, double* g,
                       double* z, double* p, double* qv, double* a) noexcept nogil:
    cdef int64_t m = d.offsets[d.n_fe]
    cdef const double* inv_wsum = d.inv_wsum
    cdef int64_t iters = 0
    cdef int64_t k
    cdef int restart
    cdef double worst, rz, rz_new, pq, alpha, beta, az
    for restart in range(RESTARTS):
        _gradient(r, d, g, m)
        worst = 0.0
        rz = 0.0
        for k in range(m):
            z[k] = g[k] * inv_wsum[k]
            az = fabs(z[k])
            if az > worst:
                worst = az
            rz += g[k] * z[k]
        if not isfinite(rz):
            return -1
        if worst <= tol:
            return iters
        for k in range(m):
            p[k] = z[k]
            a[k] = 0.0
        while iters < maxiter:
            _apply(p, d, qv, m)
            iters += 1
            pq = 0.0
            for k in range(m):
                pq += p[k] * qv[k]
            if pq <= 0.0 or not isfinite(pq):
                break
            alpha = rz / pq
            worst = 0.0
            rz_new = 0.0
            for k in range(m):
                a[k] += alpha * p[k]
                g[k] -= alpha * qv[k]
                z[k] = g[k] * inv_wsum[k]
                az = fabs(z[k])
                if az > worst:
                    worst = az
                rz_new += g[k] * z[k]
            if worst <= 0.5 * tol:
                break
            beta = rz_new / rz
            rz = rz_new
            for k in range(m):
                p[k] = z[k] + beta * p[k]
        _subtract_fe(r, a, d)
        if iters >= maxiter:
            break
    return -1


cdef int64_t _cg_column(double* r, const Design* d, double tol, int64_t maxiter) noexcept nogil:
    """Project ``r`` in place; iterations used, -1 without convergence."""
    cdef int64_t m = d.offsets[d.n_fe]
    cdef double* scratch = <double*> malloc((5 * m + 1) * sizeof(double))
    cdef int64_t result
    if scratch == NULL:
        return OUT_OF_MEMORY
    result = _cg_solve(r, d, tol, maxiter, scratch, scratch + m, scratch + 2 * m,
                       scratch + 3 * m, scratch + 4 * m)
    free(scratch)
    return result


def cg_columns(double[::1, :] x, const int32_t[:, ::1] codes, const int64_t[::1] offsets,
               const double[::1] w, const double[::1] inv_wsum, const double[::1] tols,
               int64_t maxiter, int64_t[::1] iters_out):
    """CG-project every column of ``x`` in place, columns in parallel; iterations (or -1)."""
    cdef Design d
    cdef Py_ssize_t j
    cdef Py_ssize_t k = x.shape[1]
    cdef Py_ssize_t ld = x.strides[1] // sizeof(double)
    cdef double* base = &x[0, 0]
    d.codes = &codes[0, 0]
    d.offsets = &offsets[0]
    d.w = &w[0]
    d.inv_wsum = &inv_wsum[0]
    d.n = x.shape[0]
    d.n_fe = codes.shape[0]
    with nogil:
        if d.n * k < PARALLEL_MIN_CELLS:
            for j in range(k):
                iters_out[j] = _cg_column(base + j * ld, &d, tols[j], maxiter)
        else:
            for j in prange(k, schedule="dynamic", chunksize=1):
                iters_out[j] = _cg_column(base + j * ld, &d, tols[j], maxiter)
    for j in range(k):
        if iters_out[j] == OUT_OF_MEMORY:
            raise MemoryError("no memory for the vectors of the conjugate-gradient solve")
