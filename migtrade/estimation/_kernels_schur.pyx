# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled conjugate gradients on the Schur complement left by eliminating one fixed effect.

:mod:`migtrade.estimation.kernels_schur` is the module to import and documents the method; the
arithmetic is compiled without fused multiply-add and each column is solved by one thread alone,
so results do not depend on the number of threads.
"""

from cython.parallel cimport prange
from libc.math cimport fabs, isfinite
from libc.stdint cimport int32_t, int64_t
from libc.stdlib cimport free, malloc

# Returned by a column whose scratch memory could not be allocated.
cdef enum:
    OUT_OF_MEMORY = -2
    RESTARTS = 20


cdef struct Design:
    const int32_t* codes  # (n_dims, n) row-major, the absorber's codes (or a sorted copy)
    const int64_t* dims  # n_o rows of ``codes`` that are the other dimensions
    const int64_t* starts  # n_o: where each other dimension's levels start in the reduced system
    const int64_t* ptr  # n_groups + 1: the rows of each eliminated group (groups are runs)
    const double* w
    const double* inv_a  # 1 / weight sum of each eliminated group (0 for an empty one)
    const double* inv_b  # 1 / weight sum of each other level (0 for an empty one)
    const double* inv_s  # 1 / the diagonal of S (the preconditioner)
    Py_ssize_t n
    Py_ssize_t n_o
    int64_t n_groups
    int64_t m  # levels of the reduced system
    int64_t longest  # rows of the largest eliminated group


cdef inline int64_t _level(const Design* d, Py_ssize_t q, Py_ssize_t i) noexcept nogil:
    return d.starts[q] + d.codes[d.dims[q] * d.n + i]


cdef void _project(double* x, const Design* d, const double* a, double* acc) noexcept nogil:
    """x <- (I - P_e)(x - D_o a) (``a`` may be NULL) and acc = D_o' W x, one pass over the rows."""
    cdef int64_t g, l
    cdef Py_ssize_t i, q, lo, hi
    cdef double s, v, mean
    cdef const double* w = d.w
    for l in range(d.m):
        acc[l] = 0.0
    for g in range(d.n_groups):
        lo = d.ptr[g]
        hi = d.ptr[g + 1]
        s = 0.0
        for i in range(lo, hi):
            v = x[i]
            if a != NULL:
                for q in range(d.n_o):
                    v = v - a[_level(d, q, i)]
                x[i] = v
            s += w[i] * v
        mean = s * d.inv_a[g]
        for i in range(lo, hi):
            v = x[i] - mean
            x[i] = v
            v = w[i] * v
            for q in range(d.n_o):
                acc[_level(d, q, i)] += v


cdef void _apply_pair(const double* p, const Design* d, double* acc, double* buf) noexcept nogil:
    """:func:`_apply` for two other dimensions (three fixed effects), their codes held apart."""
    cdef const int32_t* c0 = d.codes + d.dims[0] * d.n
    cdef const int32_t* c1 = d.codes + d.dims[1] * d.n
    cdef const double* p0 = p + d.starts[0]
    cdef const double* p1 = p + d.starts[1]
    cdef double* acc0 = acc + d.starts[0]
    cdef double* acc1 = acc + d.starts[1]
    cdef const double* w = d.w
    cdef const int64_t* ptr = d.ptr
    cdef int64_t g
    cdef Py_ssize_t i, lo, hi
    cdef double s, t, mean, u
    for g in range(d.n_groups):
        lo = ptr[g]
        hi = ptr[g + 1]
        s = 0.0
        for i in range(lo, hi):
            t = p0[c0[i]] + p1[c1[i]]
            buf[i - lo] = t
            s += w[i] * t
        mean = s * d.inv_a[g]
        for i in range(lo, hi):
            u = w[i] * (buf[i - lo] - mean)
            acc0[c0[i]] += u
            acc1[c1[i]] += u


cdef void _apply(const double* p, const Design* d, double* acc, double* buf) noexcept nogil:
    """acc = S p = D_o' W (I - P_e) D_o p in one pass over the rows.

    A group's gathered values wait in ``buf`` (the longest group) while the group's weighted
    mean is formed, so its rows are read from memory once."""
    cdef int64_t g, l
    cdef Py_ssize_t i, q, lo, hi
    cdef double s, v, mean
    for l in range(d.m):
        acc[l] = 0.0
    if d.n_o == 2:
        _apply_pair(p, d, acc, buf)
        return
    for g in range(d.n_groups):
        lo = d.ptr[g]
        hi = d.ptr[g + 1]
        s = 0.0
        for i in range(lo, hi):
            v = 0.0
            for q in range(d.n_o):
                v += p[_level(d, q, i)]
            buf[i - lo] = v
            s += d.w[i] * v
        mean = s * d.inv_a[g]
        for i in range(lo, hi):
            v = d.w[i] * (buf[i - lo] - mean)
            for q in range(d.n_o):
                acc[_level(d, q, i)] += v


cdef double _worst_mean(const double* g, const Design* d) noexcept nogil:
    """The largest |weighted mean| of the residual over the other levels (NaN propagates)."""
    cdef int64_t l
    cdef double v
    cdef double worst = 0.0
    for l in range(d.m):
        v = fabs(g[l] * d.inv_b[l])
        if not (v <= worst):
            worst = v
    return worst


cdef int64_t _solve(double* x, const Design* d, double tol, int64_t maxiter, double* g,
                    double* z, double* p, double* qv, double* a, double* buf) noexcept nogil:
    """Project ``x`` in place; passes over the rows used, -1 without convergence."""
    cdef int64_t m = d.m
    cdef int64_t iters = 1
    cdef int64_t l
    cdef int restart
    cdef double rz, rz_new, pq, alpha, beta, worst
    _project(x, d, NULL, g)  # the eliminated groups exactly; g = D_o' W x
    for restart in range(RESTARTS + 1):
        worst = _worst_mean(g, d)
        if not isfinite(worst):
            return -1
        if worst <= tol:
            return iters
        if iters >= maxiter or restart == RESTARTS:
            return -1
        rz = 0.0
        for l in range(m):
            a[l] = 0.0
            z[l] = g[l] * d.inv_s[l]
            p[l] = z[l]
            rz += g[l] * z[l]
        while iters < maxiter:
            _apply(p, d, qv, buf)
            iters += 1
            pq = 0.0
            for l in range(m):
                pq += p[l] * qv[l]
            if not (pq > 0.0 and isfinite(pq)):
                break
            alpha = rz / pq
            rz_new = 0.0
            worst = 0.0
            for l in range(m):
                a[l] += alpha * p[l]
                g[l] -= alpha * qv[l]
                z[l] = g[l] * d.inv_s[l]
                rz_new += g[l] * z[l]
                if fabs(g[l] * d.inv_b[l]) > worst:
                    worst = fabs(g[l] * d.inv_b[l])
            if worst <= 0.5 * tol or rz == 0.0:
                break
            beta = rz_new / rz
            rz = rz_new
            for l in range(m):
                p[l] = z[l] + beta * p[l]
        # x <- (I - P_e)(x - D_o a); g = D_o' W x afresh, checked above.
        _project(x, d, a, g)
        iters += 1
    return -1


cdef int64_t _solve_column(double* x, const Design* d, double tol, int64_t maxiter) noexcept nogil:
    cdef double* scratch = <double*> malloc((5 * d.m + d.longest + 1) * sizeof(double))
    cdef int64_t result
    if scratch == NULL:
        return OUT_OF_MEMORY
    result = _solve(x, d, tol, maxiter, scratch, scratch + d.m, scratch + 2 * d.m,
                    scratch + 3 * d.m, scratch + 4 * d.m, scratch + 5 * d.m)
    free(scratch)
    return result


def schur_columns(double[::1, :] x, const int32_t[:, ::1] codes, const int64_t[::1] dims,
                  const int64_t[::1] starts, const int64_t[::1] ptr, const double[::1] w,
                  const double[::1] inv_a, const double[::1] inv_b, const double[::1] inv_s,
                  const double[::1] tols, int64_t maxiter, int64_t longest, bint parallel,
                  int64_t[::1] iters_out):
    """Project every column of ``x`` in place (see kernels_schur), columns in parallel; passes
    used per column, or -1 without convergence within ``maxiter``."""
    cdef Design d
    cdef Py_ssize_t j
    cdef Py_ssize_t k = x.shape[1]
    cdef Py_ssize_t ld = x.strides[1] // sizeof(double)
    cdef double* base
    if k == 0:
        return
    base = &x[0, 0]
    d.codes = &codes[0, 0]
    d.dims = &dims[0]
    d.starts = &starts[0]
    d.ptr = &ptr[0]
    d.w = &w[0]
    d.inv_a = &inv_a[0]
    d.inv_b = &inv_b[0]
    d.inv_s = &inv_s[0]
    d.n = x.shape[0]
    d.n_o = dims.shape[0]
    d.n_groups = ptr.shape[0] - 1
    d.m = inv_b.shape[0]
    d.longest = longest
    with nogil:
        if parallel:
            for j in prange(k, schedule="dynamic", chunksize=1):
                iters_out[j] = _solve_column(base + j * ld, &d, tols[j], maxiter)
        else:
            for j in range(k):
                iters_out[j] = _solve_column(base + j * ld, &d, tols[j], maxiter)
    for j in range(k):
        if iters_out[j] == OUT_OF_MEMORY:
            raise MemoryError("no memory for the vectors of the reduced conjugate-gradient solve")


def schur_diagonal(const int32_t[:, ::1] codes, const int64_t[::1] dims,
                   const int64_t[::1] starts, const int64_t[::1] ptr, const double[::1] w,
                   const double[::1] inv_a, double[::1] b, double[::1] s):
    """b = the weight sum of every other level, s = the diagonal of S: b minus, over the
    eliminated groups, the square of the group's weight at the level over the group's weight."""
    cdef Design d
    cdef int64_t m = b.shape[0]
    cdef int64_t g, l
    cdef Py_ssize_t i, q, lo, hi
    cdef int64_t n_groups = ptr.shape[0] - 1
    cdef int64_t* stamp = <int64_t*> malloc((m + 1) * sizeof(int64_t))
    cdef double* cw = <double*> malloc((m + 1) * sizeof(double))
    if stamp == NULL or cw == NULL:
        free(stamp)
        free(cw)
        raise MemoryError("no memory for the diagonal of the reduced system")
    d.codes = &codes[0, 0]
    d.dims = &dims[0]
    d.starts = &starts[0]
    d.n = codes.shape[1]
    d.n_o = dims.shape[0]
    with nogil:
        for l in range(m):
            stamp[l] = -1
            b[l] = 0.0
            s[l] = 0.0
        for g in range(n_groups):
            lo = ptr[g]
            hi = ptr[g + 1]
            for q in range(d.n_o):
                for i in range(lo, hi):
                    l = _level(&d, q, i)
                    if stamp[l] != g:
                        stamp[l] = g
                        cw[l] = 0.0
                    cw[l] += w[i]
                    b[l] += w[i]
            for q in range(d.n_o):
                for i in range(lo, hi):
                    l = _level(&d, q, i)
                    if stamp[l] == g:
                        s[l] -= cw[l] * cw[l] * inv_a[g]
                        stamp[l] = -2  # counted once per group
        for l in range(m):
            s[l] += b[l]
    free(stamp)
    free(cw)
