# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled conjugate gradients on the Schur complement left by eliminating one fixed effect.

:mod:`migtrade.estimation.kernels_schur` is the module to import and documents the method; the
arithmetic is compiled without fused multiply-add and each column is computed by one thread
alone, so results do not depend on the number of threads.
"""

from cython.parallel cimport prange
from libc.stdint cimport int32_t, int64_t
from libc.stdlib cimport calloc, free, malloc

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


cdef void _project(double* x, const Design* d, const double* a, double* acc) noexcept nogil:
    """x <- (I - P_e)(x - D_o a) (``a`` may be NULL) and acc = D_o' W x, one pass over the rows."""
    cdef int64_t g, l
    cdef Py_ssize_t i, q, lo, hi, r
    cdef double s, v, mean
    cdef const double* w = d.w
    for l in range(d.m):
        acc[l] = 0.0
    for g in range(d.n_groups):
        lo = d.ptr[g]
        hi = d.ptr[g + 1]
        s = 0.0
        for i in range(lo, hi):
            r = _row(d, i)
            v = x[r]
            if a != NULL:
                for q in range(d.n_o):
                    v = v - a[_level(d, q, i)]
                x[r] = v
            s += w[i] * v
        mean = s * d.inv_a[g]
        for i in range(lo, hi):
            r = _row(d, i)
            v = x[r] - mean
            x[r] = v
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


def schur_project(double[::1, :] x, const int64_t[::1] cols, const double[::1, :] a,
                  double[::1, :] out, const int32_t[:, ::1] codes, const int64_t[::1] dims,
                  const int64_t[::1] starts, const int64_t[::1] ptr, const int64_t[::1] order,
                  const double[::1] w, const double[::1] inv_a, bint parallel):
    """For each listed column c (the j-th): x[:, c] <- (I - P_e)(x[:, c] - D_o a[:, j]) (no
    subtraction when ``a`` has no columns) and out[:, j] = D_o' W x[:, c]; columns in parallel."""
    cdef Design d
    cdef Py_ssize_t j
    cdef Py_ssize_t k = cols.shape[0]
    cdef Py_ssize_t ldx = x.strides[1] // sizeof(double)
    cdef Py_ssize_t lda = a.strides[1] // sizeof(double)
    cdef Py_ssize_t ldo = out.strides[1] // sizeof(double)
    cdef bint with_a = a.shape[1] > 0
    cdef double* xb
    cdef const double* ab = &a[0, 0]
    cdef double* ob
    if k == 0 or x.shape[0] == 0:
        return
    _design(&d, codes, dims, starts, ptr, order, w, inv_a, out.shape[0])
    xb = &x[0, 0]
    ob = &out[0, 0]
    with nogil:
        if parallel:
            for j in prange(k, schedule="dynamic", chunksize=1):
                _project(xb + cols[j] * ldx, &d, ab + j * lda if with_a else NULL, ob + j * ldo)
        else:
            for j in range(k):
                _project(xb + cols[j] * ldx, &d, ab + j * lda if with_a else NULL, ob + j * ldo)


def schur_apply(const double[::1, :] p, double[::1, :] out, const int32_t[:, ::1] codes,
                const int64_t[::1] dims, const int64_t[::1] starts, const int64_t[::1] ptr,
                const double[::1] w, const double[::1] inv_a, int64_t longest, bint parallel):
    """out[:, j] = S p[:, j] for every column, columns in parallel."""
    cdef Design d
    cdef Py_ssize_t j
    cdef Py_ssize_t k = p.shape[1]
    cdef Py_ssize_t ldp = p.strides[1] // sizeof(double)
    cdef Py_ssize_t ldo = out.strides[1] // sizeof(double)
    cdef const int64_t[::1] no_order = ptr[:0]
    cdef const double* pb
    cdef double* ob
    cdef double* bufs
    if k == 0 or codes.shape[1] == 0:
        return
    _design(&d, codes, dims, starts, ptr, no_order, w, inv_a, out.shape[0])
    pb = &p[0, 0]
    ob = &out[0, 0]
    bufs = <double*> malloc((longest + 1) * k * sizeof(double))
    if bufs == NULL:
        raise MemoryError("no memory for the reduced conjugate-gradient solve")
    with nogil:
        if parallel:
            for j in prange(k, schedule="dynamic", chunksize=1):
                _apply(pb + j * ldp, &d, ob + j * ldo, bufs + j * (longest + 1))
        else:
            for j in range(k):
                _apply(pb + j * ldp, &d, ob + j * ldo, bufs + j * (longest + 1))
    free(bufs)


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
                          rows * b // blocks, rows * (b + 1) // blocks, spa + b * (width + 1))
    free(spa)
