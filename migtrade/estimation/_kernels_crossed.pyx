# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled passes of the crossed-pair projection, built by pip at install time.

:mod:`migtrade.estimation.kernels_crossed` is the module to import and documents them.
"""

from cython.parallel cimport prange

# Below this many cells (rows x columns) a call runs on the calling thread alone: waking an OpenMP
# team costs more than it saves on small models, and much more when other processes hold the
# cores (a 10,000-row PPML fit took 2.2 times as long on two threads as on one with the second
# core busy). Results do not depend on the branch: each column (or block) is computed alike.
cdef enum:
    PARALLEL_MIN_CELLS = 200_000
from libc.stdint cimport int32_t, int64_t
from libc.stdlib cimport free, malloc


cdef void _sums(const double* src, const int64_t* i1, double* acc1, Py_ssize_t g1,
                const int64_t* i2, double* acc2, Py_ssize_t g2, const double* w,
                Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t g, i
    cdef double wv
    for g in range(g1):
        acc1[g] = 0.0
    for g in range(g2):
        acc2[g] = 0.0
    for i in range(n):
        wv = w[i] * src[i]
        acc1[i1[i]] += wv
        acc2[i2[i]] += wv


cdef void _sub_two_sum_two(const double* src, double* dst, const int64_t* i1, const double* m1,
                           const int64_t* i2, const double* m2, const double* w, double* acc1,
                           Py_ssize_t g1, double* acc2, Py_ssize_t g2,
                           Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t g, i
    cdef double v, wv
    for g in range(g1):
        acc1[g] = 0.0
    for g in range(g2):
        acc2[g] = 0.0
    for i in range(n):
        v = src[i] - m1[i1[i]] - m2[i2[i]]
        dst[i] = v
        wv = w[i] * v
        acc1[i1[i]] += wv
        acc2[i2[i]] += wv


cdef inline Py_ssize_t _ld(Py_ssize_t stride) noexcept nogil:
    return stride // sizeof(double)


def sum_two(const double[::1, :] src, const int64_t[::1] a1, double[::1, :] acc1,
            const int64_t[::1] a2, double[::1, :] acc2, const double[::1] w):
    """acc1, acc2 = weighted sums of every column by two groupings, columns in parallel."""
    cdef Py_ssize_t j
    cdef Py_ssize_t n = src.shape[0]
    cdef Py_ssize_t lds = _ld(src.strides[1])
    cdef Py_ssize_t ld1 = _ld(acc1.strides[1])
    cdef Py_ssize_t ld2 = _ld(acc2.strides[1])
    cdef const double* s = &src[0, 0]
    cdef double* b1 = &acc1[0, 0]
    cdef double* b2 = &acc2[0, 0]
    with nogil:
        if n * src.shape[1] < PARALLEL_MIN_CELLS:
            for j in range(src.shape[1]):
                _sums(s + j * lds, &a1[0], b1 + j * ld1, acc1.shape[0], &a2[0], b2 + j * ld2,
                      acc2.shape[0], &w[0], n)
        else:
            for j in prange(src.shape[1], schedule="static"):
                _sums(s + j * lds, &a1[0], b1 + j * ld1, acc1.shape[0], &a2[0], b2 + j * ld2,
                      acc2.shape[0], &w[0], n)


def pair_then_pair_sums(const double[::1, :] src, double[::1, :] dst, const int64_t[::1] i1,
                        const double[::1, :] m1, const int64_t[::1] i2, const double[::1, :] m2,
                        double[::1, :] acc1, double[::1, :] acc2, const double[::1] w):
    """dst = src - m1[i1] - m2[i2]; acc1, acc2 = its weighted sums by i1 and by i2."""
    cdef Py_ssize_t j
    cdef Py_ssize_t n = src.shape[0]
    cdef Py_ssize_t lds = _ld(src.strides[1])
    cdef Py_ssize_t ldd = _ld(dst.strides[1])
    cdef Py_ssize_t ldm1 = _ld(m1.strides[1])
    cdef Py_ssize_t ldm2 = _ld(m2.strides[1])
    cdef Py_ssize_t ld1 = _ld(acc1.strides[1])
    cdef Py_ssize_t ld2 = _ld(acc2.strides[1])
    cdef const double* s = &src[0, 0]
    cdef double* dd = &dst[0, 0]
    cdef const double* p1 = &m1[0, 0]
    cdef const double* p2 = &m2[0, 0]
    cdef double* b1 = &acc1[0, 0]
    cdef double* b2 = &acc2[0, 0]
    with nogil:
        if n * src.shape[1] < PARALLEL_MIN_CELLS:
            for j in range(src.shape[1]):
                _sub_two_sum_two(s + j * lds, dd + j * ldd, &i1[0], p1 + j * ldm1, &i2[0],
                                 p2 + j * ldm2, &w[0], b1 + j * ld1, acc1.shape[0],
                                 b2 + j * ld2, acc2.shape[0], n)
        else:
            for j in prange(src.shape[1], schedule="static"):
                _sub_two_sum_two(s + j * lds, dd + j * ldd, &i1[0], p1 + j * ldm1, &i2[0],
                                 p2 + j * ldm2, &w[0], b1 + j * ld1, acc1.shape[0],
                                 b2 + j * ld2, acc2.shape[0], n)


cdef inline int64_t _root(int64_t* parent, int64_t v) noexcept nogil:
    """The root of v's set, halving the path on the way."""
    while parent[v] != v:
        parent[v] = parent[parent[v]]
        v = parent[v]
    return v


def components(const int32_t[::1] ca, const int32_t[::1] cb, int64_t ga, int64_t gb,
               int64_t[::1] labels):
    """labels = the connected component of every level of the bipartite graph whose rows join
    level ca[i] of one dimension (0 .. ga - 1) to level cb[i] of the other (ga .. ga + gb - 1),
    components numbered in the order of their first level; returns their number."""
    cdef Py_ssize_t i
    cdef Py_ssize_t n = ca.shape[0]
    cdef int64_t v, ra, rb, count = 0
    cdef int64_t* parent = <int64_t*> malloc((ga + gb + 1) * sizeof(int64_t))
    if parent == NULL:
        raise MemoryError("no memory for the components of the fixed-effect graph")
    with nogil:
        for v in range(ga + gb):
            parent[v] = v
        for i in range(n):
            ra = _root(parent, ca[i])
            rb = _root(parent, ga + cb[i])
            if ra < rb:
                parent[rb] = ra
            elif rb < ra:
                parent[ra] = rb
        # Roots are the smallest level of their set (unions keep the smaller root), so a scan
        # in level order meets each root before the rest of its set.
        for v in range(ga + gb):
            if parent[v] == v:
                labels[v] = count
                count += 1
            else:
                labels[v] = labels[_root(parent, v)]
    free(parent)
    return count
