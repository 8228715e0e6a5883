# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled conjugate gradients on the Schur complement left by eliminating one fixed effect.

:mod:`migtrade.estimation.kernels_schur` is the module to import and documents the method; the
arithmetic is compiled without fused multiply-add and each column is computed by one thread
alone, so results do not depend on the number of threads.
"""

from cython.parallel cimport prange
from libc.stdint cimport int32_t, int64_t
from libc.stdlib cimport calloc, free, malloc, qsort

import numpy as np

cdef struct Design:
    const int32_t* codes  # (n_dims, n) row-major, the absorber's codes (or a sorted copy)
    const int64_t* dims  # n_o rows of ``codes`` that are the other dimensions
    const int64_t* starts  # n_o: where each other dimension's levels start in the reduced system
    const int64_t* ptr  # n_groups + 1: the rows of each eliminated group (groups are runs)
    const int64_t* order  # the column's row behind each sorted row, or NULL (rows in place)
    const double* w
    const double* inv_a  # 1 / weight sum of each eliminated group (0 for an empty one)
    Py_ssize_t n
    Py_ssize_t n_o
    int64_t n_groups
    int64_t m  # levels of the reduced system


cdef inline int64_t _level(const Design* d, Py_ssize_t q, Py_ssize_t i) noexcept nogil:
    return d.starts[q] + d.codes[d.dims[q] * d.n + i]


cdef inline Py_ssize_t _row(const Design* d, Py_ssize_t i) noexcept nogil:
    return i if d.order == NULL else d.order[i]


cdef void _project_pair4(double* x, Py_ssize_t ldx, const int64_t* cols, Py_ssize_t k,
                         Py_ssize_t j0, Py_ssize_t kk, const Design* d, const double* a,
                         bint write, int64_t g_lo, int64_t g_hi, double* acc,
                         double* buf) noexcept nogil:
    """:func:`_project_chunk` for the columns j0 .. j0 + kk - 1 (kk <= 4) and two other
    dimensions: the columns' sums in registers."""
    cdef int64_t g
    cdef Py_ssize_t i, lo, hi, r, j
    cdef double wi, v, m0, m1, m2, m3, inv
    cdef double* b
    cdef const int64_t* ptr = d.ptr
    cdef const int64_t* order = d.order
    cdef const double* w = d.w
    cdef const double* inv_a = d.inv_a
    cdef const int32_t* c0 = d.codes + d.dims[0] * d.n
    cdef const int32_t* c1 = d.codes + d.dims[1] * d.n
    cdef const double* q0 = a + d.starts[0] * k + j0 if a != NULL else NULL
    cdef const double* q1 = a + d.starts[1] * k + j0 if a != NULL else NULL
    cdef double* a0 = acc + d.starts[0] * k + j0
    cdef double* a1 = acc + d.starts[1] * k + j0
    cdef double* xs[4]
    cdef const double* s0
    cdef const double* s1
    cdef double* t0
    cdef double* t1
    for j in range(4):
        xs[j] = x + cols[j0 + (j if j < kk else 0)] * ldx
    for g in range(g_lo, g_hi):
        lo = ptr[g]
        hi = ptr[g + 1]
        m0 = 0.0
        m1 = 0.0
        m2 = 0.0
        m3 = 0.0
        b = buf
        for i in range(lo, hi):
            r = i if order == NULL else order[i]
            wi = w[i]
            b[0] = xs[0][r]
            b[1] = xs[1][r]
            b[2] = xs[2][r]
            b[3] = xs[3][r]
            if q0 != NULL:
                s0 = q0 + c0[i] * k
                s1 = q1 + c1[i] * k
                b[0] = b[0] - s0[0] - s1[0]
                if kk > 1:
                    b[1] = b[1] - s0[1] - s1[1]
                    if kk > 2:
                        b[2] = b[2] - s0[2] - s1[2]
                        if kk > 3:
                            b[3] = b[3] - s0[3] - s1[3]
            m0 = m0 + wi * b[0]
            m1 = m1 + wi * b[1]
            m2 = m2 + wi * b[2]
            m3 = m3 + wi * b[3]
            b = b + 4
        inv = inv_a[g]
        m0 = m0 * inv
        m1 = m1 * inv
        m2 = m2 * inv
        m3 = m3 * inv
        b = buf
        for i in range(lo, hi):
            r = i if order == NULL else order[i]
            wi = w[i]
            b[0] = b[0] - m0
            b[1] = b[1] - m1
            b[2] = b[2] - m2
            b[3] = b[3] - m3
            if write:
                xs[0][r] = b[0]
                if kk > 1:
                    xs[1][r] = b[1]
                    if kk > 2:
                        xs[2][r] = b[2]
                        if kk > 3:
                            xs[3][r] = b[3]
            t0 = a0 + c0[i] * k
            t1 = a1 + c1[i] * k
            v = wi * b[0]
            t0[0] += v
            t1[0] += v
            if kk > 1:
                v = wi * b[1]
                t0[1] += v
                t1[1] += v
                if kk > 2:
                    v = wi * b[2]
                    t0[2] += v
                    t1[2] += v
                    if kk > 3:
                        v = wi * b[3]
                        t0[3] += v
                        t1[3] += v
            b = b + 4


cdef void _project_chunk(double* x, Py_ssize_t ldx, const int64_t* cols, Py_ssize_t k,
                         const Design* d, const double* a, bint write, int64_t g_lo,
                         int64_t g_hi, double* acc, double* buf, double* mean) noexcept nogil:
    """For the groups g_lo .. g_hi and every listed column: r = (I - P_e)(x - D_o a) (``a``
    (m, k) row-major, or NULL for none), written to x when ``write``; acc += D_o' W r, acc
    (m, k) row-major. A group's values of x - D_o a wait in ``buf`` while the mean is formed.
    (The design's fields are read into locals: the extensions are compiled without strict
    aliasing, so a store through ``acc`` would make the compiler read them again.)"""
    cdef int64_t g
    cdef Py_ssize_t i, q, j, lo, hi, r, l
    cdef double v, wv, wi
    cdef double* b
    cdef const int32_t* codes = d.codes
    cdef const int64_t* dims = d.dims
    cdef const int64_t* starts = d.starts
    cdef const int64_t* ptr = d.ptr
    cdef const int64_t* order = d.order
    cdef const double* w = d.w
    cdef const double* inv_a = d.inv_a
    cdef Py_ssize_t n = d.n, n_o = d.n_o
    if n_o == 2:
        for j in range(0, k, 4):
            _project_pair4(x, ldx, cols, k, j, min(4, k - j), d, a, write, g_lo, g_hi, acc, buf)
        return
    for g in range(g_lo, g_hi):
        lo = ptr[g]
        hi = ptr[g + 1]
        for j in range(k):
            mean[j] = 0.0
        for i in range(lo, hi):
            r = i if order == NULL else order[i]
            wi = w[i]
            b = buf + (i - lo) * k
            for j in range(k):
                b[j] = x[cols[j] * ldx + r]
            if a != NULL:
                for q in range(n_o):
                    l = (starts[q] + codes[dims[q] * n + i]) * k
                    for j in range(k):
                        b[j] = b[j] - a[l + j]
            for j in range(k):
                mean[j] += wi * b[j]
        for j in range(k):
            mean[j] = mean[j] * inv_a[g]
        for i in range(lo, hi):
            r = i if order == NULL else order[i]
            wi = w[i]
            b = buf + (i - lo) * k
            for j in range(k):
                b[j] = b[j] - mean[j]
            if write:
                for j in range(k):
                    x[cols[j] * ldx + r] = b[j]
            for q in range(n_o):
                l = (starts[q] + codes[dims[q] * n + i]) * k
                for j in range(k):
                    acc[l + j] += wi * b[j]


cdef void _apply_pair1(const double* p, Py_ssize_t k, Py_ssize_t j0, const Design* d,
                       int64_t g_lo, int64_t g_hi, double* acc, double* buf) noexcept nogil:
    """:func:`_apply_pair4` for one column alone (the tightest loop)."""
    cdef int64_t g
    cdef Py_ssize_t i, lo, hi
    cdef double t, s
    cdef const int64_t* ptr = d.ptr
    cdef const double* w = d.w
    cdef const double* inv_a = d.inv_a
    cdef const int32_t* c0 = d.codes + d.dims[0] * d.n
    cdef const int32_t* c1 = d.codes + d.dims[1] * d.n
    cdef const double* p0 = p + d.starts[0] * k + j0
    cdef const double* p1 = p + d.starts[1] * k + j0
    cdef double* a0 = acc + d.starts[0] * k + j0
    cdef double* a1 = acc + d.starts[1] * k + j0
    for g in range(g_lo, g_hi):
        lo = ptr[g]
        hi = ptr[g + 1]
        s = 0.0
        for i in range(lo, hi):
            t = p0[c0[i] * k] + p1[c1[i] * k]
            buf[i - lo] = t
            s = s + w[i] * t
        s = s * inv_a[g]
        for i in range(lo, hi):
            t = w[i] * (buf[i - lo] - s)
            a0[c0[i] * k] += t
            a1[c1[i] * k] += t


cdef void _apply_pair4(const double* p, Py_ssize_t k, Py_ssize_t j0, Py_ssize_t kk,
                       const Design* d, int64_t g_lo, int64_t g_hi, double* acc,
                       double* buf) noexcept nogil:
    """acc += S p over the groups g_lo .. g_hi for the columns j0 .. j0 + kk - 1 (kk <= 4) of
    the row-major (m, k) ``p``, two other dimensions: the columns' sums in registers."""
    cdef int64_t g
    cdef Py_ssize_t i, lo, hi
    cdef double t, wi, m0, m1, m2, m3, inv
    cdef double* b
    cdef const int64_t* ptr = d.ptr
    cdef const double* w = d.w
    cdef const double* inv_a = d.inv_a
    cdef const int32_t* c0 = d.codes + d.dims[0] * d.n
    cdef const int32_t* c1 = d.codes + d.dims[1] * d.n
    cdef const double* p0 = p + d.starts[0] * k + j0
    cdef const double* p1 = p + d.starts[1] * k + j0
    cdef double* a0 = acc + d.starts[0] * k + j0
    cdef double* a1 = acc + d.starts[1] * k + j0
    cdef const double* s0
    cdef const double* s1
    cdef double* t0
    cdef double* t1
    for g in range(g_lo, g_hi):
        lo = ptr[g]
        hi = ptr[g + 1]
        m0 = 0.0
        m1 = 0.0
        m2 = 0.0
        m3 = 0.0
        b = buf
        for i in range(lo, hi):
            wi = w[i]
            s0 = p0 + c0[i] * k
            s1 = p1 + c1[i] * k
            t = s0[0] + s1[0]
            b[0] = t
            m0 = m0 + wi * t
            if kk > 1:
                t = s0[1] + s1[1]
                b[1] = t
                m1 = m1 + wi * t
                if kk > 2:
                    t = s0[2] + s1[2]
                    b[2] = t
                    m2 = m2 + wi * t
                    if kk > 3:
                        t = s0[3] + s1[3]
                        b[3] = t
                        m3 = m3 + wi * t
            b = b + 4
        inv = inv_a[g]
        m0 = m0 * inv
        m1 = m1 * inv
        m2 = m2 * inv
        m3 = m3 * inv
        b = buf
        for i in range(lo, hi):
            wi = w[i]
            t0 = a0 + c0[i] * k
            t1 = a1 + c1[i] * k
            t = wi * (b[0] - m0)
            t0[0] += t
            t1[0] += t
            if kk > 1:
                t = wi * (b[1] - m1)
                t0[1] += t
                t1[1] += t
                if kk > 2:
                    t = wi * (b[2] - m2)
                    t0[2] += t
                    t1[2] += t
                    if kk > 3:
                        t = wi * (b[3] - m3)
                        t0[3] += t
                        t1[3] += t
            b = b + 4


cdef void _apply_chunk(const double* p, Py_ssize_t k, const Design* d, int64_t g_lo,
                       int64_t g_hi, double* acc, double* buf, double* mean) noexcept nogil:
    """acc += S p over the groups g_lo .. g_hi for the k columns of the row-major (m, k) ``p``:
    per group, gather t_i = sum_q p[o_q(i)], take its weighted mean, and scatter
    w_i (t_i - mean) back. A group's gathered values wait in ``buf`` while the mean is formed,
    so its rows are read from memory once. (The design's fields are read into locals: the
    extensions are compiled without strict aliasing, so a store through ``acc`` would make the
    compiler read them again.)"""
    cdef int64_t g
    cdef Py_ssize_t i, q, j, lo, hi, l
    cdef double u, wi
    cdef double* b
    cdef const int32_t* codes = d.codes
    cdef const int64_t* dims = d.dims
    cdef const int64_t* starts = d.starts
    cdef const int64_t* ptr = d.ptr
    cdef const double* w = d.w
    cdef const double* inv_a = d.inv_a
    cdef Py_ssize_t n = d.n, n_o = d.n_o
    if n_o == 2:
        for j in range(0, k, 4):
            if k - j == 1:
                _apply_pair1(p, k, j, d, g_lo, g_hi, acc, buf)
            else:
                _apply_pair4(p, k, j, min(4, k - j), d, g_lo, g_hi, acc, buf)
        return
    for g in range(g_lo, g_hi):
        lo = ptr[g]
        hi = ptr[g + 1]
        for j in range(k):
            mean[j] = 0.0
        for i in range(lo, hi):
            wi = w[i]
            b = buf + (i - lo) * k
            for j in range(k):
                b[j] = 0.0
            for q in range(n_o):
                l = (starts[q] + codes[dims[q] * n + i]) * k
                for j in range(k):
                    b[j] = b[j] + p[l + j]
            for j in range(k):
                mean[j] += wi * b[j]
        for j in range(k):
            mean[j] = mean[j] * inv_a[g]
        for i in range(lo, hi):
            wi = w[i]
            b = buf + (i - lo) * k
            for j in range(k):
                b[j] = wi * (b[j] - mean[j])
            for q in range(n_o):
                l = (starts[q] + codes[dims[q] * n + i]) * k
                for j in range(k):
                    acc[l + j] += b[j]


cdef void _design(Design* d, const int32_t[:, ::1] codes, const int64_t[::1] dims,
                  const int64_t[::1] starts, const int64_t[::1] ptr, const int64_t[::1] order,
                  const double[::1] w, const double[::1] inv_a, int64_t m):
    d.codes = &codes[0, 0]
    d.dims = &dims[0]
    d.starts = &starts[0]
    d.ptr = &ptr[0]
    d.order = &order[0] if order.shape[0] else NULL
    d.w = &w[0]
    d.inv_a = &inv_a[0]
    d.n = codes.shape[1]
    d.n_o = dims.shape[0]
    d.n_groups = ptr.shape[0] - 1
    d.m = m


cdef void _reduce(double* out, const double* parts, Py_ssize_t size, Py_ssize_t chunks) noexcept nogil:
    """out (the first chunk's sums) += the other chunks' partial sums, in chunk order."""
    cdef Py_ssize_t l, c
    cdef double v
    if chunks < 2:
        return
    for l in range(size):
        v = out[l]
        for c in range(chunks - 1):
            v = v + parts[c * size + l]
        out[l] = v


cdef double* _partials(double* out, Py_ssize_t size, Py_ssize_t chunks) noexcept nogil:
    """Zero ``out`` (the first chunk sums into it) and allocate zeroed sums for the others."""
    cdef Py_ssize_t l
    for l in range(size):
        out[l] = 0.0
    return <double*> calloc(max(chunks - 1, 1) * size, sizeof(double))


cdef inline double* _part(double* out, double* parts, Py_ssize_t c, Py_ssize_t size) noexcept nogil:
    return out if c == 0 else parts + (c - 1) * size


def schur_project(double[::1, :] x, const int64_t[::1] cols, const double[:, ::1] a,
                  double[:, ::1] out, const int32_t[:, ::1] codes, const int64_t[::1] dims,
                  const int64_t[::1] starts, const int64_t[::1] ptr, const int64_t[::1] order,
                  const double[::1] w, const double[::1] inv_a, int64_t longest,
                  const int64_t[::1] chunks, bint write, bint parallel):
    """For the listed columns c_j of x: r_j = (I - P_e)(x[:, c_j] - D_o a[:, j]) (no
    subtraction when ``a`` has no rows), written to x when ``write``, and out[:, j] =
    D_o' W r_j (``a`` and ``out`` row-major (m, k)). The groups are split at ``chunks`` (a
    fixed split: the same sums whatever the threads), chunks in parallel, their sums added in
    chunk order."""
    cdef Design d
    cdef Py_ssize_t c
    cdef Py_ssize_t k = cols.shape[0]
    cdef Py_ssize_t n_chunks = chunks.shape[0] - 1
    cdef Py_ssize_t size = out.shape[0] * k
    cdef Py_ssize_t ldx = x.strides[1] // sizeof(double)
    cdef const double* ab = &a[0, 0] if a.shape[0] > 0 else NULL
    cdef Py_ssize_t width = max(k, 4)  # the rows of a group's buffer: four columns at least
    cdef double* xb
    cdef double* parts
    cdef double* bufs
    cdef double* means
    if k == 0 or x.shape[0] == 0:
        return
    _design(&d, codes, dims, starts, ptr, order, w, inv_a, out.shape[0])
    xb = &x[0, 0]
    parts = _partials(&out[0, 0], size, n_chunks)
    bufs = <double*> malloc(n_chunks * (longest + 1) * width * sizeof(double))
    means = <double*> malloc(n_chunks * k * sizeof(double))
    if parts == NULL or bufs == NULL or means == NULL:
        free(parts)
        free(bufs)
        free(means)
        raise MemoryError("no memory for the reduced conjugate-gradient solve")
    with nogil:
        if parallel:
            for c in prange(n_chunks, schedule="dynamic", chunksize=1):
                _project_chunk(xb, ldx, &cols[0], k, &d, ab, write, chunks[c], chunks[c + 1],
                               _part(&out[0, 0], parts, c, size),
                               bufs + c * (longest + 1) * width, means + c * k)
        else:
            for c in range(n_chunks):
                _project_chunk(xb, ldx, &cols[0], k, &d, ab, write, chunks[c], chunks[c + 1],
                               _part(&out[0, 0], parts, c, size),
                               bufs + c * (longest + 1) * width, means + c * k)
        _reduce(&out[0, 0], parts, size, n_chunks)
    free(parts)
    free(bufs)
    free(means)


def schur_apply(const double[:, ::1] p, double[:, ::1] out, const int32_t[:, ::1] codes,
                const int64_t[::1] dims, const int64_t[::1] starts, const int64_t[::1] ptr,
                const double[::1] w, const double[::1] inv_a, int64_t longest,
                const int64_t[::1] chunks, bint parallel):
    """out = S p for the row-major (m, k) ``p``, every column in one pass over the rows; the
    groups split at ``chunks`` as in :func:`schur_project`."""
    cdef Design d
    cdef Py_ssize_t c
    cdef Py_ssize_t k = p.shape[1]
    cdef Py_ssize_t n_chunks = chunks.shape[0] - 1
    cdef Py_ssize_t size = out.shape[0] * k
    cdef const int64_t[::1] no_order = ptr[:0]
    cdef Py_ssize_t width = max(k, 4)  # the rows of a group's buffer: four columns at least
    cdef const double* pb
    cdef double* parts
    cdef double* bufs
    cdef double* means
    if k == 0 or codes.shape[1] == 0 or out.shape[0] == 0:
        return
    _design(&d, codes, dims, starts, ptr, no_order, w, inv_a, out.shape[0])
    pb = &p[0, 0]
    parts = _partials(&out[0, 0], size, n_chunks)
    bufs = <double*> malloc(n_chunks * (longest + 1) * width * sizeof(double))
    means = <double*> malloc(n_chunks * k * sizeof(double))
    if parts == NULL or bufs == NULL or means == NULL:
        free(parts)
        free(bufs)
        free(means)
        raise MemoryError("no memory for the reduced conjugate-gradient solve")
    with nogil:
        if parallel:
            for c in prange(n_chunks, schedule="dynamic", chunksize=1):
                _apply_chunk(pb, k, &d, chunks[c], chunks[c + 1],
                             _part(&out[0, 0], parts, c, size),
                             bufs + c * (longest + 1) * width, means + c * k)
        else:
            for c in range(n_chunks):
                _apply_chunk(pb, k, &d, chunks[c], chunks[c + 1],
                             _part(&out[0, 0], parts, c, size),
                             bufs + c * (longest + 1) * width, means + c * k)
        _reduce(&out[0, 0], parts, size, n_chunks)
    free(parts)
    free(bufs)
    free(means)


cdef void _diagonal_chunk(const Design* d, const double* w_in, double* w, double* inv_a,
                          double* b, double* s, int64_t* stamp, double* cw, int64_t g0,
                          int64_t g1, bint diagonal) noexcept nogil:
    """The groups g0 .. g1 - 1 of :func:`schur_diagonal`: their rows' weights in order, their
    inverse weights, and their part of b (and of s - b when ``diagonal``)."""
    cdef int64_t g, l
    cdef Py_ssize_t i, q, lo, hi
    cdef double a, wv
    for g in range(g0, g1):
        lo = d.ptr[g]
        hi = d.ptr[g + 1]
        a = 0.0
        for i in range(lo, hi):
            wv = w_in[_row(d, i)]
            w[i] = wv
            a = a + wv
        inv_a[g] = 1.0 / a if a > 0.0 else 0.0
        if not diagonal:
            for q in range(d.n_o):
                for i in range(lo, hi):
                    b[_level(d, q, i)] += w[i]
            continue
        for q in range(d.n_o):
            for i in range(lo, hi):
                l = _level(d, q, i)
                if stamp[l] != g:
                    stamp[l] = g
                    cw[l] = 0.0
                cw[l] += w[i]
                b[l] += w[i]
        for q in range(d.n_o):
            for i in range(lo, hi):
                l = _level(d, q, i)
                if stamp[l] == g:
                    s[l] -= cw[l] * cw[l] * inv_a[g]
                    stamp[l] = -2  # counted once per group


def schur_diagonal(const int32_t[:, ::1] codes, const int64_t[::1] dims,
                   const int64_t[::1] starts, const int64_t[::1] ptr, const double[::1] w_in,
                   const int64_t[::1] order, double[::1] w, double[::1] inv_a, double[::1] b,
                   double[::1] s, const int64_t[::1] chunks, bint diagonal, bint parallel):
    """In one pass over the groups: w = the weights in the groups' row order (w_in[order], or
    w_in when ``order`` is empty), inv_a = 1 / each group's weight (0 for none), b = the weight
    sum of every other level and, when ``diagonal``, s = the diagonal of S: b minus, over the
    eliminated groups, the square of the group's weight at the level over the group's weight
    (``s`` is left alone otherwise). The groups are split at ``chunks`` as in
    :func:`schur_project`, the chunks' sums added in chunk order."""
    cdef Design d
    cdef int64_t m = b.shape[0]
    cdef int64_t l
    cdef Py_ssize_t c
    cdef Py_ssize_t n_chunks = chunks.shape[0] - 1
    cdef double* parts_b
    cdef double* parts_s = NULL
    cdef int64_t* stamps = NULL
    cdef double* cws = NULL
    cdef double* sb = &s[0] if diagonal and m else NULL
    cdef int64_t g
    if n_chunks < 1 or m == 0:  # no rows, or no other level
        for l in range(m):
            b[l] = 0.0
            if diagonal:
                s[l] = 0.0
        for g in range(ptr.shape[0] - 1):
            inv_a[g] = 0.0
        return
    parts_b = _partials(&b[0], m, n_chunks)
    if diagonal:
        parts_s = _partials(sb, m, n_chunks)
        stamps = <int64_t*> malloc(n_chunks * (m + 1) * sizeof(int64_t))
        cws = <double*> malloc(n_chunks * (m + 1) * sizeof(double))
    if parts_b == NULL or (diagonal and (parts_s == NULL or stamps == NULL or cws == NULL)):
        free(parts_b)
        free(parts_s)
        free(stamps)
        free(cws)
        raise MemoryError("no memory for the diagonal of the reduced system")
    d.codes = &codes[0, 0]
    d.dims = &dims[0]
    d.starts = &starts[0]
    d.ptr = &ptr[0]
    d.order = &order[0] if order.shape[0] > 0 else NULL
    d.n = codes.shape[1]
    d.n_o = dims.shape[0]
    with nogil:
        if diagonal:
            for l in range(n_chunks * (m + 1)):
                stamps[l] = -1
        if parallel:
            for c in prange(n_chunks, schedule="dynamic", chunksize=1):
                _diagonal_chunk(&d, &w_in[0], &w[0], &inv_a[0], _part(&b[0], parts_b, c, m),
                                _part(sb, parts_s, c, m) if diagonal else NULL,
                                stamps + c * (m + 1) if diagonal else NULL,
                                cws + c * (m + 1) if diagonal else NULL,
                                chunks[c], chunks[c + 1], diagonal)
        else:
            for c in range(n_chunks):
                _diagonal_chunk(&d, &w_in[0], &w[0], &inv_a[0], _part(&b[0], parts_b, c, m),
                                _part(sb, parts_s, c, m) if diagonal else NULL,
                                stamps + c * (m + 1) if diagonal else NULL,
                                cws + c * (m + 1) if diagonal else NULL,
                                chunks[c], chunks[c + 1], diagonal)
        _reduce(&b[0], parts_b, m, n_chunks)
        if diagonal:
            _reduce(sb, parts_s, m, n_chunks)
            for l in range(m):
                sb[l] += b[l]
    free(parts_b)
    free(parts_s)
    free(stamps)
    free(cws)


cdef Py_ssize_t _block_start(const int64_t* indptr, Py_ssize_t rows, Py_ssize_t b,
                             Py_ssize_t blocks) noexcept nogil:
    """The first row of block b of ``blocks`` blocks of rows holding about equal entries of C
    (the rows of a dimension with few levels, years, hold as many as thousands of others)."""
    cdef int64_t target
    cdef Py_ssize_t lo = 0, hi = rows, mid
    if b >= blocks:
        return rows
    target = <int64_t> ((<double> indptr[rows]) * b / blocks)
    while lo < hi:
        mid = (lo + hi) // 2
        if indptr[mid] < target:
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef void _product_rows(const int64_t* c_indptr, const int32_t* c_indices,
                        const double* c_data, const int64_t* t_indptr,
                        const int32_t* t_indices, const double* t_data,
                        const int64_t* s_indptr, const int32_t* s_indices,
                        double* s_data, Py_ssize_t lo, Py_ssize_t hi,
                        double* spa) noexcept nogil:
    cdef Py_ssize_t row, p, q
    cdef int32_t g
    cdef double v
    for row in range(lo, hi):
        for p in range(c_indptr[row], c_indptr[row + 1]):
            v = c_data[p]
            g = c_indices[p]
            for q in range(t_indptr[g], t_indptr[g + 1]):
                spa[t_indices[q]] += v * t_data[q]
        for q in range(s_indptr[row], s_indptr[row + 1]):
            s_data[q] = spa[s_indices[q]]
            spa[s_indices[q]] = 0.0


def sparse_product_on(const int64_t[::1] c_indptr, const int32_t[::1] c_indices,
                      const double[::1] c_data, const int64_t[::1] t_indptr,
                      const int32_t[::1] t_indices, const double[::1] t_data,
                      const int64_t[::1] s_indptr, const int32_t[::1] s_indices,
                      double[::1] s_data, Py_ssize_t width, Py_ssize_t blocks):
    """s_data = the entries of the CSR product C T on the CSR pattern of S (which holds every
    entry of the product), rows in ``blocks`` blocks in parallel, each row summed by one thread
    in the order of C's and T's entries."""
    cdef Py_ssize_t rows = s_indptr.shape[0] - 1
    cdef Py_ssize_t b
    cdef double* spa
    if rows == 0 or c_data.shape[0] == 0 or t_data.shape[0] == 0 or s_data.shape[0] == 0:
        for b in range(s_data.shape[0]):
            s_data[b] = 0.0
        return
    spa = <double*> calloc(blocks * (width + 1), sizeof(double))
    if spa == NULL:
        raise MemoryError("no memory for the rows of the sparse product")
    with nogil:
        for b in prange(blocks, schedule="dynamic", chunksize=1):
            _product_rows(&c_indptr[0], &c_indices[0], &c_data[0], &t_indptr[0], &t_indices[0],
                          &t_data[0], &s_indptr[0], &s_indices[0], &s_data[0],
                          _block_start(&c_indptr[0], rows, b, blocks),
                          _block_start(&c_indptr[0], rows, b + 1, blocks), spa + b * (width + 1))
    free(spa)


cdef int _compare_int32(const void* a, const void* b) noexcept nogil:
    cdef int32_t x = (<const int32_t*> a)[0]
    cdef int32_t y = (<const int32_t*> b)[0]
    return (x > y) - (x < y)


cdef void _pattern_rows(const int64_t* c_indptr, const int32_t* c_indices,
                        const int64_t* t_indptr, const int32_t* t_indices, int64_t* counts,
                        int32_t* out, const int64_t* out_ptr, Py_ssize_t lo, Py_ssize_t hi,
                        int64_t* stamp) noexcept nogil:
    """For the rows lo .. hi of C T: their numbers of distinct columns (``out`` NULL), or
    their columns written at ``out_ptr`` and sorted."""
    cdef Py_ssize_t row, p, q
    cdef int32_t col, g
    cdef int64_t count, at
    for row in range(lo, hi):
        count = 0
        at = out_ptr[row] if out != NULL else 0
        for p in range(c_indptr[row], c_indptr[row + 1]):
            g = c_indices[p]
            for q in range(t_indptr[g], t_indptr[g + 1]):
                col = t_indices[q]
                if stamp[col] != row:
                    stamp[col] = row
                    if out != NULL:
                        out[at + count] = col
                    count += 1
        if out == NULL:
            counts[row] = count
        elif count > 1:
            qsort(out + at, count, sizeof(int32_t), _compare_int32)


def sparse_pattern(const int64_t[::1] c_indptr, const int32_t[::1] c_indices,
                   const int64_t[::1] t_indptr, const int32_t[::1] t_indices, Py_ssize_t width,
                   Py_ssize_t blocks):
    """The CSR pattern (row pointers, sorted column indices) of the product C T of two CSR
    patterns, T with ``width`` columns: two passes over the rows (count, then fill and sort),
    rows in ``blocks`` blocks in parallel."""
    cdef Py_ssize_t rows = c_indptr.shape[0] - 1
    cdef Py_ssize_t b, l
    cdef int64_t* stamps
    cdef int64_t[::1] counts = np.zeros(rows + 1, dtype=np.int64)
    cdef int64_t[::1] indptr
    cdef int32_t[::1] indices
    stamps = <int64_t*> malloc(blocks * (width + 1) * sizeof(int64_t))
    if stamps == NULL:
        raise MemoryError("no memory for the pattern of the sparse product")
    with nogil:
        for l in range(blocks * (width + 1)):
            stamps[l] = -1
        for b in prange(blocks, schedule="dynamic", chunksize=1):
            _pattern_rows(&c_indptr[0], &c_indices[0], &t_indptr[0], &t_indices[0],
                          &counts[0], NULL, NULL, _block_start(&c_indptr[0], rows, b, blocks),
                          _block_start(&c_indptr[0], rows, b + 1, blocks),
                          stamps + b * (width + 1))
    indptr = np.concatenate([[0], np.cumsum(counts[:rows])]).astype(np.int64)
    indices = np.empty(indptr[rows], dtype=np.int32)
    with nogil:
        for l in range(blocks * (width + 1)):
            stamps[l] = -1
        for b in prange(blocks, schedule="dynamic", chunksize=1):
            _pattern_rows(&c_indptr[0], &c_indices[0], &t_indptr[0], &t_indices[0],
                          &counts[0], &indices[0] if indices.shape[0] else NULL, &indptr[0],
                          _block_start(&c_indptr[0], rows, b, blocks),
                          _block_start(&c_indptr[0], rows, b + 1, blocks),
                          stamps + b * (width + 1))
    free(stamps)
    return np.asarray(indptr), np.asarray(indices)


def group_rows(const int32_t[::1] e, int64_t n_groups, const int32_t[:, ::1] codes,
               const int64_t[::1] others, int64_t[::1] order, int32_t[:, ::1] sorted_codes,
               int64_t[::1] ptr):
    """A stable counting sort of the rows by their level of ``e`` (0 .. n_groups - 1): ptr =
    where each group's rows start (plus n), order = the row behind each sorted row, and
    sorted_codes[k] = codes[others[k]] in that order; one pass to count, one to place."""
    cdef Py_ssize_t i, k, n = e.shape[0]
    cdef Py_ssize_t n_o = others.shape[0]
    cdef int64_t g, at
    cdef int64_t* pos = <int64_t*> malloc((n_groups + 1) * sizeof(int64_t))
    if pos == NULL:
        raise MemoryError("no memory to sort the rows by group")
    with nogil:
        for g in range(n_groups + 1):
            ptr[g] = 0
        for i in range(n):
            ptr[e[i] + 1] += 1
        for g in range(n_groups):
            ptr[g + 1] += ptr[g]
        for g in range(n_groups):
            pos[g] = ptr[g]
        for i in range(n):
            at = pos[e[i]]
            pos[e[i]] = at + 1
            order[at] = i
            for k in range(n_o):
                sorted_codes[k, at] = codes[others[k], i]
    free(pos)


# Rows with at most this many distinct columns are sorted by insertion (a worker's few firms
# and years), without qsort's call per comparison.
cdef enum:
    SMALL_SORT = 32


cdef inline void _insertion_sort(int32_t* a, Py_ssize_t count) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef int32_t v
    for i in range(1, count):
        v = a[i]
        j = i - 1
        while j >= 0 and a[j] > v:
            a[j + 1] = a[j]
            j -= 1
        a[j + 1] = v


def entry_pattern(const int64_t[::1] rows, const int64_t[::1] cols, int64_t n_rows,
                  int64_t width, int64_t[::1] where, int32_t[::1] indices, int64_t[::1] indptr):
    """The CSR pattern of entries at (rows, cols) (0 <= rows < n_rows, 0 <= cols < width):
    ``indptr`` (n_rows + 1) and the row-sorted distinct columns written to the front of
    ``indices`` (as long as the entries), and where each entry lands. A counting sort of the
    entries by row, then each row's distinct columns found by stamps, sorted and numbered;
    returns the number of distinct entries."""
    cdef Py_ssize_t n = rows.shape[0]
    cdef Py_ssize_t i, p, count
    cdef int64_t r, c, at, total = 0
    cdef int64_t* pos = <int64_t*> malloc((n_rows + 1) * sizeof(int64_t))
    cdef int64_t* sorted_ids = <int64_t*> malloc((n + 1) * sizeof(int64_t))
    cdef int64_t* stamp = <int64_t*> malloc((width + 1) * sizeof(int64_t))
    cdef int64_t* slot = <int64_t*> malloc((width + 1) * sizeof(int64_t))
    if pos == NULL or sorted_ids == NULL or stamp == NULL or slot == NULL:
        free(pos)
        free(sorted_ids)
        free(stamp)
        free(slot)
        raise MemoryError("no memory for the pattern of the entries")
    with nogil:
        for r in range(n_rows + 1):
            pos[r] = 0
        for i in range(n):
            pos[rows[i] + 1] += 1
        for r in range(n_rows):
            pos[r + 1] += pos[r]
        for i in range(n):
            at = pos[rows[i]]
            pos[rows[i]] = at + 1
            sorted_ids[at] = i
        for c in range(width + 1):
            stamp[c] = -1
        # pos[r] is now where row r + 1's entries start; row r's run is pos[r - 1] .. pos[r].
        indptr[0] = 0
        at = 0
        for r in range(n_rows):
            count = 0
            for p in range(at, pos[r]):
                c = cols[sorted_ids[p]]
                if stamp[c] != r:
                    stamp[c] = r
                    indices[total + count] = <int32_t> c
                    count += 1
            if count > SMALL_SORT:
                qsort(&indices[total], count, sizeof(int32_t), _compare_int32)
            elif count > 1:
                _insertion_sort(&indices[total], count)
            for p in range(count):
                slot[indices[total + p]] = total + p
            for p in range(at, pos[r]):
                where[sorted_ids[p]] = slot[cols[sorted_ids[p]]]
            total += count
            indptr[r + 1] = total
            at = pos[r]
    free(pos)
    free(sorted_ids)
    free(stamp)
    free(slot)
    return total


def transpose_pattern(const int32_t[::1] indices, const int64_t[::1] indptr, int64_t width,
                      int64_t[::1] where, int32_t[::1] t_indices, int64_t[::1] t_indptr):
    """The CSR pattern of the transpose of a CSR pattern (``indices`` sorted within rows, no
    duplicates; ``width`` columns): ``t_indptr`` (width + 1), ``t_indices`` (the rows, sorted
    within each column, since the rows are read in order) and where each entry lands in the
    transpose. A counting sort by column, linear in the entries."""
    cdef Py_ssize_t n_rows = indptr.shape[0] - 1
    cdef Py_ssize_t r, p
    cdef int64_t c, at
    with nogil:
        for c in range(width + 1):
            t_indptr[c] = 0
        for p in range(indptr[n_rows]):
            t_indptr[indices[p] + 1] += 1
        for c in range(width):
            t_indptr[c + 1] += t_indptr[c]
        # t_indptr[c] is used as the next free place of column c, then restored.
        for r in range(n_rows):
            for p in range(indptr[r], indptr[r + 1]):
                c = indices[p]
                at = t_indptr[c]
                t_indptr[c] = at + 1
                t_indices[at] = <int32_t> r
                where[p] = at
        for c in range(width, 0, -1):
            t_indptr[c] = t_indptr[c - 1]
        t_indptr[0] = 0
