# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled loops of the absorb core, built by pip at install time.

:mod:`migtrade.estimation.kernels` is the module to import: it documents the layout of the fixed
effects, the order of the passes and what each function computes, and passes arrays of the types
these functions declare. The arithmetic is written in the same order as there (no fused
multiply-add, no reassociation: the extension is compiled with ``-ffp-contract=off``), so sweep
counts and results do not depend on the compiler.
"""

from cython.parallel cimport prange
from libc.math cimport INFINITY, fabs, isfinite, lgamma
from libc.stdint cimport int32_t, int64_t, uint8_t
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcpy

# Below this many cells (rows x columns) a call runs on the calling thread alone: waking an OpenMP
# team costs more than it saves on small models, and much more when other processes hold the
# cores (a 10,000-row PPML fit took 2.2 times as long on two threads as on one with the second
# core busy). Results do not depend on the branch: each column (or block) is computed alike.
cdef enum:
    PARALLEL_MIN_CELLS = 200_000

# What the last pass of a sweep does besides subtracting the means.
cdef enum:
    PLAIN = 0
    SUM_FIRST = 1
    STATS = 2

# Returned by a column whose scratch memory could not be allocated.
cdef enum:
    OUT_OF_MEMORY = -2


cdef struct Design:
    const int32_t* codes  # (n_fe, n) row-major
    const int64_t* offsets  # n_fe + 1
    const double* w
    const double* inv_wsum
    const uint8_t* runs  # n_fe flags: the rows of a group sit together
    Py_ssize_t n
    Py_ssize_t n_fe


cdef struct Stats:
    double change
    double vprod
    double ssq


cdef inline void _zero(double* acc, int64_t start, int64_t stop) noexcept nogil:
    cdef int64_t g
    for g in range(start, stop):
        acc[g] = 0.0


cdef void _extrapolate_sum_first(const double* ggx, const double* gx, double coef, double* r,
                                 const int32_t* code_row, const double* w, double* acc,
                                 int64_t start, int64_t stop, bint in_runs,
                                 Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    cdef int64_t cur, g
    cdef double run, v
    _zero(acc, start, stop)
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


cdef void _sweep(const double* src, double* dst, const Design* d, double* acc, int mode,
                 const double* x, const double* gx, Stats* out) noexcept nogil:
    cdef Py_ssize_t n = d.n
    cdef Py_ssize_t n_fe = d.n_fe
    cdef Py_ssize_t q, nq, i
    cdef int64_t start, nstart, g, cur
    cdef const int32_t* row
    cdef const int32_t* nxt
    cdef const double* inp
    cdef const double* w = d.w
    cdef bint last
    cdef double change = 0.0
    cdef double vprod = 0.0
    cdef double ssq = 0.0
    cdef double v, run, d_gx, a, d2
    for q in range(n_fe):
        start = d.offsets[q]
        for g in range(start, d.offsets[q + 1]):
            acc[g] *= d.inv_wsum[g]
        row = d.codes + q * n
        inp = src if q == 0 else dst
        last = q + 1 == n_fe
        if not last or mode == SUM_FIRST:
            nq = 0 if last else q + 1
            nxt = d.codes + nq * n
            nstart = d.offsets[nq]
            _zero(acc, nstart, d.offsets[nq + 1])
            if d.runs[nq] and n:
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
        elif mode == STATS:
            for i in range(n):
                v = inp[i] - acc[start + row[i]]
                dst[i] = v
                d_gx = v - gx[i]
                a = fabs(d_gx)
                if a > change:
                    change = a
                d2 = d_gx - gx[i] + x[i]
                vprod += d_gx * d2
                ssq += d2 * d2
        else:
            for i in range(n):
                dst[i] = inp[i] - acc[start + row[i]]
    out.change = change
    out.vprod = vprod
    out.ssq = ssq


cdef int64_t _demean_column(double* r, const Design* d, double tol,
                            int64_t maxiter) noexcept nogil:
    cdef Py_ssize_t n = d.n
    cdef int64_t n_levels = d.offsets[d.n_fe]
    cdef int64_t sweeps = 0
    cdef int64_t result = -1
    cdef double coef
    cdef Stats st
    cdef double* gx
    cdef double* ggx
    cdef double* acc
    if d.n_fe == 0:
        return 0
    acc = <double*> malloc((n_levels + 1) * sizeof(double))
    if acc == NULL:
        return OUT_OF_MEMORY
    _extrapolate_sum_first(r, r, 0.0, r, d.codes, d.w, acc, d.offsets[0], d.offsets[1],
                           d.runs[0], n)
    if d.n_fe == 1:
        _sweep(r, r, d, acc, PLAIN, r, r, &st)
        free(acc)
        return 1
    gx = <double*> malloc((n + 1) * sizeof(double))
    ggx = <double*> malloc((n + 1) * sizeof(double))
    if gx == NULL or ggx == NULL:
        result = OUT_OF_MEMORY
        sweeps = maxiter
    while sweeps < maxiter:
        _sweep(r, gx, d, acc, SUM_FIRST, r, r, &st)
        # Convergence is judged on the change made by the second, plain sweep.
        _sweep(gx, ggx, d, acc, STATS, r, gx, &st)
        sweeps += 2
        if not (isfinite(st.vprod) and isfinite(st.ssq)):
            break  # the input or a sweep produced NaN or inf: report failure, never converge
        if st.change <= tol or st.ssq == 0.0:
            if n:
                memcpy(r, ggx, n * sizeof(double))
            result = sweeps
            break
        coef = st.vprod / st.ssq
        _extrapolate_sum_first(ggx, gx, coef, r, d.codes, d.w, acc, d.offsets[0], d.offsets[1],
                               d.runs[0], n)
    free(acc)
    free(gx)
    free(ggx)
    return result


def demean_columns(double[::1, :] x, const int32_t[:, ::1] codes, const int64_t[::1] offsets,
                   const double[::1] w, const double[::1] inv_wsum, const double[::1] tols,
                   int64_t maxiter, int64_t[::1] sweeps_out, const uint8_t[::1] runs):
    """Demean every column of ``x`` in place, columns in parallel; sweeps (or -1) per column."""
    cdef Design d
    cdef Py_ssize_t j
    cdef Py_ssize_t k = x.shape[1]
    cdef Py_ssize_t ld = x.strides[1] // sizeof(double)
    cdef double* base = &x[0, 0]
    d.codes = &codes[0, 0]
    d.offsets = &offsets[0]
    d.w = &w[0]
    d.inv_wsum = &inv_wsum[0]
    d.runs = &runs[0]
    d.n = x.shape[0]
    d.n_fe = codes.shape[0]
    with nogil:
        if d.n * k < PARALLEL_MIN_CELLS:
            for j in range(k):
                sweeps_out[j] = _demean_column(base + j * ld, &d, tols[j], maxiter)
        else:
            for j in prange(k, schedule="dynamic", chunksize=1):
                sweeps_out[j] = _demean_column(base + j * ld, &d, tols[j], maxiter)
    for j in range(k):
        if sweeps_out[j] == OUT_OF_MEMORY:
            raise MemoryError("no memory for the scratch vectors of the fixed-effect sweeps")


cdef void _group_sums_column(const double* x, const Design* d, double* net, double* gross,
                             Py_ssize_t levels) noexcept nogil:
    cdef Py_ssize_t i, q
    cdef int64_t g
    cdef double v, a
    for g in range(levels):
        net[g] = 0.0
        gross[g] = 0.0
    for i in range(d.n):
        v = d.w[i] * x[i]
        a = fabs(v)
        for q in range(d.n_fe):
            g = d.offsets[q] + d.codes[q * d.n + i]
            net[g] += v
            gross[g] += a


def group_sums(const double[::1, :] x, const int32_t[:, ::1] codes, const int64_t[::1] offsets,
               const double[::1] w, double[::1, :] net, double[::1, :] gross):
    """Weighted sums (net) and sums of absolute values (gross) of every column by every level."""
    cdef Design d
    cdef Py_ssize_t j
    cdef Py_ssize_t k = x.shape[1]
    cdef Py_ssize_t levels = net.shape[0]
    cdef Py_ssize_t ldx = x.strides[1] // sizeof(double)
    cdef Py_ssize_t ldn = net.strides[1] // sizeof(double)
    cdef Py_ssize_t ldg = gross.strides[1] // sizeof(double)
    cdef const double* xb = &x[0, 0]
    cdef double* nb = &net[0, 0]
    cdef double* gb = &gross[0, 0]
    d.codes = &codes[0, 0]
    d.offsets = &offsets[0]
    d.w = &w[0]
    d.n = x.shape[0]
    d.n_fe = codes.shape[0]
    with nogil:
        if d.n * k < PARALLEL_MIN_CELLS:
            for j in range(k):
                _group_sums_column(xb + j * ldx, &d, nb + j * ldn, gb + j * ldg, levels)
        else:
            for j in prange(k, schedule="dynamic", chunksize=1):
                _group_sums_column(xb + j * ldx, &d, nb + j * ldn, gb + j * ldg, levels)


cdef void _gram_entries(const double** left, const double** right, Py_ssize_t count,
                        const double* w, Py_ssize_t lo, Py_ssize_t hi, double* out) noexcept nogil:
    """out[e] = sum over rows lo..hi-1, in row order, of (w_i left[e]_i) right[e]_i, for up to
    four entries at once: each entry's sum is its own chain held in a register, and the four
    chains run side by side (a sum read and written through memory every row took 20 cycles a
    row for the five entries of two regressors and one outcome). With fewer than four entries
    the spare chains repeat the first, at no cost in time (the loop waits on its additions'
    latency, not on their number), and are not stored."""
    cdef Py_ssize_t i, e
    cdef double wi
    cdef double s[4]
    cdef const double* a[4]
    cdef const double* b[4]
    cdef const double* a0
    cdef const double* a1
    cdef const double* a2
    cdef const double* a3
    cdef const double* b0
    cdef const double* b1
    cdef const double* b2
    cdef const double* b3
    cdef double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    for e in range(4):
        a[e] = left[e if e < count else 0]
        b[e] = right[e if e < count else 0]
    a0, a1, a2, a3 = a[0], a[1], a[2], a[3]
    b0, b1, b2, b3 = b[0], b[1], b[2], b[3]
    for i in range(lo, hi):
        wi = w[i]
        s0 += (wi * a0[i]) * b0[i]
        s1 += (wi * a1[i]) * b1[i]
        s2 += (wi * a2[i]) * b2[i]
        s3 += (wi * a3[i]) * b3[i]
    s[0] = s0
    s[1] = s1
    s[2] = s2
    s[3] = s3
    for e in range(count):
        out[e] = s[e]


cdef void _gram_rows(const double** left, const double** right, Py_ssize_t width,
                     const double* w, Py_ssize_t lo, Py_ssize_t hi, double* acc) noexcept nogil:
    """The partial sums of every entry over rows lo..hi-1, four entries a pass over the block."""
    cdef Py_ssize_t e
    for e in range(0, width, 4):
        _gram_entries(left + e, right + e, min(4, width - e), w, lo, hi, acc + e)


def weighted_gram(const double[::1, :] x, const double[::1] w, const double[::1, :] y,
                  Py_ssize_t chunks, double[:, ::1] gram, double[:, ::1] xty):
    """gram = X'WX, xty = X'WY, the rows in ``chunks`` blocks summed separately, then added.

    Entry (a, b) of the lower triangle (b <= a) and entry (a, j) of X'WY are each the sum, in row
    order within a block, of (w_i x_ia) x_ib and (w_i x_ia) y_ij."""
    cdef Py_ssize_t n = x.shape[0]
    cdef Py_ssize_t k = x.shape[1]
    cdef Py_ssize_t m = y.shape[1]
    cdef Py_ssize_t width = k * (k + 1) // 2 + k * m
    cdef Py_ssize_t ldx = x.strides[1] // sizeof(double)
    cdef Py_ssize_t ldy = y.strides[1] // sizeof(double)
    cdef const double* xb = &x[0, 0] if n and k else NULL
    cdef const double* yb = &y[0, 0] if n and m else NULL
    cdef Py_ssize_t c, a, b, j, e
    cdef double s
    cdef double* parts
    cdef const double** left
    cdef const double** right
    if chunks < 1:
        raise ValueError("weighted_gram needs at least one block of rows")
    parts = <double*> calloc(chunks * width + 1, sizeof(double))
    left = <const double**> malloc((width + 1) * sizeof(double*))
    right = <const double**> malloc((width + 1) * sizeof(double*))
    if parts == NULL or left == NULL or right == NULL:
        free(parts)
        free(left)
        free(right)
        raise MemoryError("no memory for the partial sums of the Gram matrix")
    e = 0
    for a in range(k):
        for b in range(a + 1):
            left[e] = xb + a * ldx
            right[e] = xb + b * ldx
            e += 1
    for a in range(k):
        for j in range(m):
            left[e] = xb + a * ldx
            right[e] = yb + j * ldy
            e += 1
    if n and width:
        with nogil:
            if n * (k + m) < PARALLEL_MIN_CELLS:
                for c in range(chunks):
                    _gram_rows(left, right, width, &w[0], n * c // chunks, n * (c + 1) // chunks,
                               parts + c * width)
            else:
                for c in prange(chunks, schedule="static"):
                    _gram_rows(left, right, width, &w[0], n * c // chunks,
                               n * (c + 1) // chunks, parts + c * width)
    e = 0
    for a in range(k):
        for b in range(a + 1):
            s = 0.0
            for c in range(chunks):
                s += parts[c * width + e]
            gram[a, b] = s
            gram[b, a] = s
            e += 1
    for a in range(k):
        for j in range(m):
            s = 0.0
            for c in range(chunks):
                s += parts[c * width + e]
            xty[a, j] = s
            e += 1
    free(parts)
    free(left)
    free(right)


def compact_codes(const int32_t[::1] codes, int32_t[::1] out):
    """Number the levels present in ``codes`` 0 .. G-1 in their order and write the renumbered
    codes to ``out``, unless every level 0 .. max is present (then ``out`` is left alone and the
    codes are already compact). Returns (G, whether every level is present); (-1, False) when a
    code is negative. Three passes (the largest code, the levels present, the renumbering)
    where NumPy's fancy indexing took three times as long."""
    cdef Py_ssize_t n = codes.shape[0]
    cdef Py_ssize_t i
    cdef int32_t c, top = -1, low = 0
    cdef int32_t count = 0
    cdef int32_t* rank
    with nogil:
        for i in range(n):
            c = codes[i]
            if c > top:
                top = c
            if c < low:
                low = c
    if low < 0:
        return -1, False
    rank = <int32_t*> calloc(<size_t> top + 2, sizeof(int32_t))
    if rank == NULL:
        raise MemoryError("no memory for the table of levels")
    with nogil:
        for i in range(n):
            rank[codes[i]] = 1
        for c in range(top + 1):
            if rank[c]:
                rank[c] = count
                count += 1
            else:
                rank[c] = -1
        if count != top + 1:
            for i in range(n):
                out[i] = rank[codes[i]]
    free(rank)
    return count, count == top + 1


def spread_within(const double[::1] x, const int64_t[::1] codes, Py_ssize_t n_levels):
    """The largest spread (max - min) of ``x`` within any group of ``codes``, in one pass."""
    cdef double* lo = <double*> malloc((n_levels + 1) * sizeof(double))
    cdef double* hi = <double*> malloc((n_levels + 1) * sizeof(double))
    cdef Py_ssize_t i
    cdef int64_t g
    cdef double v
    cdef double worst = 0.0
    if lo == NULL or hi == NULL:
        free(lo)
        free(hi)
        raise MemoryError("no memory for the spreads within groups")
    with nogil:
        for g in range(n_levels):
            lo[g] = INFINITY
            hi[g] = -INFINITY
        for i in range(x.shape[0]):
            g = codes[i]
            v = x[i]
            if v < lo[g]:
                lo[g] = v
            if v > hi[g]:
                hi[g] = v
        for g in range(n_levels):
            if hi[g] >= lo[g] and hi[g] - lo[g] > worst:
                worst = hi[g] - lo[g]
    free(lo)
    free(hi)
    return worst


def weighted_log_factorial_sum(const double[::1] y, const double[::1] w):
    """sum of w[i] log Gamma(y[i] + 1) over the rows with y[i] > 0, compensated (Neumaier)."""
    cdef Py_ssize_t i
    cdef double term, total = 0.0, carry = 0.0, after
    with nogil:
        for i in range(y.shape[0]):
            if y[i] > 0.0:
                term = w[i] * lgamma(y[i] + 1.0)
                after = total + term
                if fabs(total) >= fabs(term):
                    carry += (total - after) + term
                else:
                    carry += (term - after) + total
                total = after
    return total + carry
