# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled passes over the bootstrap draws, built by pip at install time.

:mod:`migtrade.estimation.bootstrap.kernels` is the module to import and documents them.
"""

from cython.parallel cimport prange
from libc.stdint cimport uint8_t
from libc.stdlib cimport calloc, free

# The portable loops: the half-byte table entries of the bytes b0 .. b1 - 1 of two rows of draws
# added to W of their sums (acc_a[0:W] and acc_c[0:W]; an entry's W forms start at ``table`` and
# the next entry W doubles on), each row's in byte order, low half first. When both rows are the
# same (an odd row left over) only the first sums are written. The sums are local arrays of
# constant size W, which the compiler keeps in registers: one definition made for W = 4 and 8.
cdef extern from *:
    """
    #define MT_FORMS_TWO_ROWS(NAME, W)                                                          \
    static void NAME(const unsigned char* bits_a, const unsigned char* bits_c,                  \
                     const double* table, Py_ssize_t n_pos, Py_ssize_t b0, Py_ssize_t b1,       \
                     double* acc_a, double* acc_c) {                                            \
        double a[W], c[W];                                                                      \
        int two = bits_a != bits_c, k;                                                          \
        Py_ssize_t b, lo;                                                                       \
        for (k = 0; k < W; k++) { a[k] = acc_a[k]; c[k] = two ? acc_c[k] : 0.0; }               \
        for (b = b0; b < b1; b++) {                                                             \
            unsigned char x = bits_a[b], z = bits_c[b];                                         \
            const double* ea = table + ((2 * b) * 16 + (x & 15)) * W;                           \
            const double* ec = table + ((2 * b) * 16 + (z & 15)) * W;                           \
            lo = 2 * b;                                                                         \
            for (k = 0; k < W; k++) { a[k] = a[k] + ea[k]; c[k] = c[k] + ec[k]; }               \
            if (lo + 1 < n_pos) {                                                               \
                ea = table + ((lo + 1) * 16 + (x >> 4)) * W;                                    \
                ec = table + ((lo + 1) * 16 + (z >> 4)) * W;                                    \
                for (k = 0; k < W; k++) { a[k] = a[k] + ea[k]; c[k] = c[k] + ec[k]; }           \
            }                                                                                   \
        }                                                                                       \
        for (k = 0; k < W; k++) { acc_a[k] = a[k]; if (two) acc_c[k] = c[k]; }                 \
    }
    MT_FORMS_TWO_ROWS(mt_four_forms_two_rows, 4)
    MT_FORMS_TWO_ROWS(mt_eight_forms_two_rows, 8)
    """
    void _four_forms_two_rows "mt_four_forms_two_rows"(
        const uint8_t* bits_a, const uint8_t* bits_c, const double* table, Py_ssize_t n_pos,
        Py_ssize_t b0, Py_ssize_t b1, double* acc_a, double* acc_c) noexcept nogil
    void _eight_forms_two_rows "mt_eight_forms_two_rows"(
        const uint8_t* bits_a, const uint8_t* bits_c, const double* table, Py_ssize_t n_pos,
        Py_ssize_t b0, Py_ssize_t b1, double* acc_a, double* acc_c) noexcept nogil

# Four rows of draws at a time with 256-bit vector additions, or eight forms of eight rows with
# 512-bit ones, where the processor has them (x86 with AVX2 or AVX-512, checked when the module
# loads): each form's sum takes the same additions in the same order as the portable loops
# below, so the sums are the same to the last bit, and four or eight rows' chains of additions
# run side by side instead of two.
cdef extern from *:
    """
    #if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    #include <immintrin.h>
    #define MT_LOAD4(p) _mm256_loadu_pd(p)
    __attribute__((target("avx2")))
    static void mt_forms_four_rows_avx2(const unsigned char* const* bits, const double* table,
                                        Py_ssize_t stride, Py_ssize_t width, Py_ssize_t n_pos,
                                        Py_ssize_t b0, Py_ssize_t b1, double* const* acc) {
        __m256d s[4][2];
        int r, h;
        Py_ssize_t b, lo;
        for (r = 0; r < 4; r++) {
            s[r][0] = MT_LOAD4(acc[r]);
            s[r][1] = width == 8 ? MT_LOAD4(acc[r] + 4) : _mm256_setzero_pd();
        }
        for (b = b0; b < b1; b++) {
            lo = 2 * b;
            for (h = 0; h < 2; h++) {
                if (lo + h >= n_pos) break;
                for (r = 0; r < 4; r++) {
                    unsigned char x = bits[r][b];
                    const double* e = table + ((lo + h) * 16 + (h ? (x >> 4) : (x & 15))) * stride;
                    s[r][0] = _mm256_add_pd(s[r][0], MT_LOAD4(e));
                    if (width == 8) s[r][1] = _mm256_add_pd(s[r][1], MT_LOAD4(e + 4));
                }
            }
        }
        for (r = 0; r < 4; r++) {
            _mm256_storeu_pd(acc[r], s[r][0]);
            if (width == 8) _mm256_storeu_pd(acc[r] + 4, s[r][1]);
        }
    }
    __attribute__((target("avx512f")))
    static void mt_eight_forms_eight_rows_avx512(const unsigned char* const* bits,
                                                 const double* table, Py_ssize_t n_pos,
                                                 Py_ssize_t b0, Py_ssize_t b1,
                                                 double* const* acc) {
        __m512d s[8];
        int r, h;
        Py_ssize_t b, lo;
        for (r = 0; r < 8; r++) s[r] = _mm512_loadu_pd(acc[r]);
        for (b = b0; b < b1; b++) {
            lo = 2 * b;
            for (h = 0; h < 2; h++) {
                if (lo + h >= n_pos) break;
                for (r = 0; r < 8; r++) {
                    unsigned char x = bits[r][b];
                    const double* e = table + ((lo + h) * 16 + (h ? (x >> 4) : (x & 15))) * 8;
                    s[r] = _mm512_add_pd(s[r], _mm512_loadu_pd(e));
                }
            }
        }
        for (r = 0; r < 8; r++) _mm512_storeu_pd(acc[r], s[r]);
    }
    static int mt_has_avx2(void) {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") != 0;
    }
    static int mt_has_avx512(void) {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") != 0;
    }
    #else
    static void mt_forms_four_rows_avx2(const unsigned char* const* bits, const double* table,
                                        Py_ssize_t stride, Py_ssize_t width, Py_ssize_t n_pos,
                                        Py_ssize_t b0, Py_ssize_t b1, double* const* acc) {}
    static void mt_eight_forms_eight_rows_avx512(const unsigned char* const* bits,
                                                 const double* table, Py_ssize_t n_pos,
                                                 Py_ssize_t b0, Py_ssize_t b1,
                                                 double* const* acc) {}
    static int mt_has_avx2(void) { return 0; }
    static int mt_has_avx512(void) { return 0; }
    #endif
    """
    void _forms_four_rows_avx2 "mt_forms_four_rows_avx2"(
        const uint8_t** bits, const double* table, Py_ssize_t stride, Py_ssize_t width,
        Py_ssize_t n_pos, Py_ssize_t b0, Py_ssize_t b1, double** acc) noexcept nogil
    void _eight_forms_eight_rows_avx512 "mt_eight_forms_eight_rows_avx512"(
        const uint8_t** bits, const double* table, Py_ssize_t n_pos, Py_ssize_t b0,
        Py_ssize_t b1, double** acc) noexcept nogil
    int _has_avx2 "mt_has_avx2"() noexcept nogil
    int _has_avx512 "mt_has_avx512"() noexcept nogil

cdef bint HAS_AVX2 = _has_avx2()
cdef bint HAS_AVX512 = _has_avx512()

# Rows of draws that walk the byte positions together (kernels.ROW_BLOCK).
cdef enum:
    ROW_BLOCK = 64
    # Bytes of the table a band of byte positions takes: the band stays in the core's cache
    # while every row of the block reads it.
    BAND_BYTES = 1 << 17


def forms_from_bits(const uint8_t[:, ::1] bits, const double[:, :, :, ::1] table,
                    const double[::1] total, const double[::1] dsum, double[:, ::1] lin,
                    double[:, ::1] quad):
    """``lin[r] = P @ v_r`` and ``quad[r, t] = dsum[t]`` for Rademacher draws packed in bits.

    ``table[j, p, e, i]`` is form ``j * gw + i``'s entry e of byte position p (or half byte),
    256 entries a byte (one lookup a byte, then one group of forms) or 16 a half byte (two, in
    groups of gw = 4 or 8 forms).
    """
    cdef Py_ssize_t rows = bits.shape[0]
    cdef Py_ssize_t n_bytes = bits.shape[1]
    cdef Py_ssize_t n_groups = table.shape[0]
    cdef Py_ssize_t n_pos = table.shape[1]
    cdef bint whole_bytes = table.shape[2] == 256
    cdef Py_ssize_t gw = table.shape[3]
    cdef Py_ssize_t m = n_groups * gw
    cdef bint in_registers = not whole_bytes and (gw == 4 or gw == 8)
    cdef Py_ssize_t n_terms = dsum.shape[0]
    # Every block of rows reads the whole table once: with several groups (a table larger
    # than the caches) blocks as many times longer.
    cdef Py_ssize_t block_rows = ROW_BLOCK * n_groups
    cdef Py_ssize_t n_blocks = (rows + block_rows - 1) // block_rows
    cdef Py_ssize_t band = BAND_BYTES // (8 * gw * (256 if whole_bytes else 32))
    cdef Py_ssize_t blk, r0, r1, bi, b0, b1, b, lo, hi, r, r2, k, j
    cdef Py_ssize_t m_out = lin.shape[1]
    cdef uint8_t byte
    cdef double* acc
    cdef double* row_acc
    cdef const double* entry
    cdef uint8_t[::1] failed = bytearray(max(n_blocks, 1))
    cdef const uint8_t** row_bits
    cdef double** row_sums
    if band < 1:
        band = 1
    if not in_registers and n_groups != 1:
        raise ValueError("a table of several groups of forms needs half bytes and 4 or 8 forms a group")
    cdef Py_ssize_t n_bands = (n_bytes + band - 1) // band
    with nogil:
        for blk in prange(n_blocks, schedule="static"):
            r0 = blk * block_rows
            r1 = r0 + block_rows
            if r1 > rows:
                r1 = rows
            acc = <double*> calloc((r1 - r0) * m + 1, sizeof(double))
            # Each thread's four rows' bits and sums, for the vector kernel.
            row_bits = <const uint8_t**> calloc(8, sizeof(uint8_t*))
            row_sums = <double**> calloc(8, sizeof(double*))
            if acc == NULL or row_bits == NULL or row_sums == NULL:
                failed[blk] = 1
                free(acc)
                free(row_bits)
                free(row_sums)
                continue
            # Each row adds its bytes' entries in byte order whatever the blocking, so the
            # sums do not depend on ROW_BLOCK, the band or the groups.
            for bi in range(n_bands):
                b0 = bi * band
                b1 = b0 + band
                if b1 > n_bytes:
                    b1 = n_bytes
                if in_registers:
                    # A group's forms, two rows at a time, walk the band with their sums in
                    # registers; each group's band of the table is contiguous.
                    for j in range(n_groups):
                        r = r0
                        if HAS_AVX512 and gw == 8:
                            while r + 7 < r1:
                                for k in range(8):
                                    row_bits[k] = &bits[r + k, 0]
                                    row_sums[k] = acc + (r + k - r0) * m + j * 8
                                _eight_forms_eight_rows_avx512(row_bits, &table[j, 0, 0, 0], n_pos,
                                                               b0, b1, row_sums)
                                r = r + 8
                        if HAS_AVX2:
                            while r + 3 < r1:
                                for k in range(4):
                                    row_bits[k] = &bits[r + k, 0]
                                    row_sums[k] = acc + (r + k - r0) * m + j * gw
                                _forms_four_rows_avx2(row_bits, &table[j, 0, 0, 0], gw, gw, n_pos,
                                                      b0, b1, row_sums)
                                r = r + 4
                        while r < r1:
                            r2 = r + 1 if r + 1 < r1 else r
                            if gw == 8:
                                _eight_forms_two_rows(&bits[r, 0], &bits[r2, 0], &table[j, 0, 0, 0],
                                                      n_pos, b0, b1, acc + (r - r0) * m + j * 8,
                                                      acc + (r2 - r0) * m + j * 8)
                            else:
                                _four_forms_two_rows(&bits[r, 0], &bits[r2, 0], &table[j, 0, 0, 0],
                                                     n_pos, b0, b1, acc + (r - r0) * m + j * 4,
                                                     acc + (r2 - r0) * m + j * 4)
                            r = r + 2
                    continue
                # Rows inner: consecutive additions go to different rows' sums, which do not
                # wait for each other (a row's own additions, in byte order, form a chain).
                for b in range(b0, b1):
                    if whole_bytes:
                        for r in range(r0, r1):
                            row_acc = acc + (r - r0) * m
                            entry = &table[0, b, bits[r, b], 0]
                            for k in range(m):
                                row_acc[k] += entry[k]
                    else:
                        lo = 2 * b
                        hi = lo + 1
                        for r in range(r0, r1):
                            row_acc = acc + (r - r0) * m
                            byte = bits[r, b]
                            entry = &table[0, lo, byte & 15, 0]
                            for k in range(m):
                                row_acc[k] += entry[k]
                            if hi < n_pos:
                                entry = &table[0, hi, byte >> 4, 0]
                                for k in range(m):
                                    row_acc[k] += entry[k]
            for r in range(r0, r1):
                for k in range(m_out):
                    lin[r, k] = 2.0 * acc[(r - r0) * m + k] - total[k]
                for k in range(n_terms):
                    quad[r, k] = dsum[k]
            free(acc)
            free(row_bits)
            free(row_sums)
    for blk in range(n_blocks):
        if failed[blk]:
            raise MemoryError("no memory for the sums of the bootstrap draws")


def forms_from_codes(const uint8_t[:, ::1] codes, const double[::1] values, const double[:, ::1] P,
                     const double[:, ::1] D, double[:, ::1] lin, double[:, ::1] quad):
    """The same sums for draws given as indexes into ``values``: ``quad[r] = D @ v_r**2``."""
    cdef Py_ssize_t rows = codes.shape[0]
    cdef Py_ssize_t m = P.shape[0]
    cdef Py_ssize_t g = P.shape[1]
    cdef Py_ssize_t n_terms = D.shape[0]
    cdef Py_ssize_t r, c, k
    cdef double v, v2
    cdef double* acc
    cdef uint8_t[::1] failed = bytearray(max(rows, 1))
    with nogil:
        for r in prange(rows, schedule="static"):
            acc = <double*> calloc(m + n_terms + 1, sizeof(double))
            if acc == NULL:
                failed[r] = 1
                continue
            for c in range(g):
                v = values[codes[r, c]]
                v2 = v * v
                for k in range(m):
                    acc[k] += v * P[k, c]
                for k in range(n_terms):
                    acc[m + k] += v2 * D[k, c]
            for k in range(m):
                lin[r, k] = acc[k]
            for k in range(n_terms):
                quad[r, k] = acc[m + k]
            free(acc)
    for r in range(rows):
        if failed[r]:
            raise MemoryError("no memory for the sums of the bootstrap draws")


def subset_table(const double[:, ::1] padded, double[:, :, :, ::1] table):
    """``table[j, p, v, i]``: the sum of ``padded[j * gw + i, p * w + c]`` over the bits c set in
    v (gw = ``table.shape[3]``, w the bits of ``table.shape[2]`` subsets), each subset's sums
    made from those of the subset less its highest bit, so that every sum adds its clusters in
    increasing order; positions in parallel."""
    cdef Py_ssize_t n_groups = table.shape[0]
    cdef Py_ssize_t n_pos = table.shape[1]
    cdef Py_ssize_t subsets = table.shape[2]
    cdef Py_ssize_t gw = table.shape[3]
    cdef Py_ssize_t width = 0
    cdef Py_ssize_t p, j, v, i, hi, col
    while (1 << width) < subsets:
        width += 1
    if (1 << width) != subsets or padded.shape[0] != n_groups * gw \
            or padded.shape[1] != n_pos * width:
        raise ValueError("subset_table: the table does not fit the padded forms")
    with nogil:
        for p in prange(n_pos, schedule="static"):
            for j in range(n_groups):
                for i in range(gw):
                    table[j, p, 0, i] = 0.0
                hi = 0
                for v in range(1, subsets):
                    if v >> (hi + 1):
                        hi = hi + 1
                    col = p * width + hi
                    for i in range(gw):
                        table[j, p, v, i] = table[j, p, v - (1 << hi), i] \
                            + padded[j * gw + i, col]


def start_rows(const double[:, :] xt, const double[::1] eta0, const double[:, :] basis,
               const double[::1] mix0, const double[::1] third, const double[::1] a_shift,
               const double[::1] p2, double c2, double c3, bint higher, Py_ssize_t pivot,
               double r_pivot, const Py_ssize_t[::1] others, const double[::1] r_others,
               double[::1] eta, double[:, :] block):
    """The start of a restricted fit from a fit along the path, row by row in parallel (the
    notes of :mod:`migtrade.estimation.bootstrap.restricted`): with the Newton step
    ``s = xt[i] @ a_shift``, ``eta = eta0 + s`` and, where ``higher``, less
    ``(s² - c2 basis[i] @ mix0 + xt[i] @ p2) / 2 + c3 third[i]`` (the second- and third-order
    terms, c2 = Δ², c3 = Δ³ / 6, p2 = p_of_x Δ²); ``block``'s columns 1 .. k - 1 receive the
    restricted regressors ``xt[:, others[j]] - r_others[j] x_p`` and column k
    ``x_p = xt[:, pivot] / r_pivot``."""
    cdef Py_ssize_t n = xt.shape[0]
    cdef Py_ssize_t k = xt.shape[1]
    cdef Py_ssize_t m = basis.shape[1]
    cdef Py_ssize_t i, j, b
    cdef double s, more, xp
    if eta0.shape[0] != n or eta.shape[0] != n or block.shape[0] != n \
            or block.shape[1] != k + 1 or others.shape[0] != k - 1:
        raise ValueError("start_rows: the arrays do not match")
    with nogil:
        for i in prange(n, schedule="static"):
            s = 0.0
            for j in range(k):
                s = s + xt[i, j] * a_shift[j]
            if higher:
                more = s * s
                for b in range(m):
                    more = more - c2 * basis[i, b] * mix0[b]
                for j in range(k):
                    more = more + xt[i, j] * p2[j]
                eta[i] = eta0[i] + s - 0.5 * more - c3 * third[i]
            else:
                eta[i] = eta0[i] + s
            xp = xt[i, pivot] / r_pivot
            block[i, k] = xp
            for j in range(k - 1):
                block[i, 1 + j] = xt[i, others[j]] - r_others[j] * xp


def working_rows(const double[::1] mu, const double[::1] w, const double[::1] y,
                 double[::1] irls_w, double[::1] u, double[::1] u_copy):
    """An IRLS step's weights ``w mu`` and working residuals ``y / mu - 1`` (also written to
    ``u_copy``, the column the step demeans), rows in parallel."""
    cdef Py_ssize_t n = mu.shape[0]
    cdef Py_ssize_t i
    cdef double ui
    if w.shape[0] != n or y.shape[0] != n or irls_w.shape[0] != n or u.shape[0] != n \
            or u_copy.shape[0] != n:
        raise ValueError("working_rows: the arrays do not match")
    with nogil:
        for i in prange(n, schedule="static"):
            irls_w[i] = w[i] * mu[i]
            ui = y[i] / mu[i] - 1.0
            u[i] = ui
            u_copy[i] = ui


def step_rows(const double[:, :] design, const double[::1] move, const double[::1] ut,
              const double[::1] u, const double[::1] eta, double[::1] eta_new):
    """The IRLS step's linear predictor ``eta + u - ut + design @ move`` (the working residual
    less its residual on the fixed effects and the restricted regressors), rows in parallel."""
    cdef Py_ssize_t n = eta.shape[0]
    cdef Py_ssize_t k = design.shape[1]
    cdef Py_ssize_t i, j
    cdef double fit
    if design.shape[0] != n or move.shape[0] != k or ut.shape[0] != n or u.shape[0] != n \
            or eta_new.shape[0] != n:
        raise ValueError("step_rows: the arrays do not match")
    with nogil:
        for i in prange(n, schedule="static"):
            fit = 0.0
            for j in range(k):
                fit = fit + design[i, j] * move[j]
            eta_new[i] = ((fit - ut[i]) + u[i]) + eta[i]


def path_rows(const double[:, :] xt, const double[::1] e_of_x, const double[:, :] basis,
              const double[::1] mix0, const double[::1] p, double[::1] second,
              double[::1] cubic, bint third):
    """The path's terms of one combination row by row, in parallel (the notes of
    :mod:`migtrade.estimation.bootstrap.path`), with ``e = xt[i] @ e_of_x``: without ``third``,
    ``second = e² - basis[i] @ mix0 + xt[i] @ p`` (P_Z(e²)) and ``cubic = e (e² - 3 second)``;
    with ``third``, ``cubic`` holding that column's residual on the fixed effects and ``p``
    its fit's coefficients on the regressors, ``second`` becomes
    ``e (e² - 3 second) - cubic + xt[i] @ p`` (P_Z of it)."""
    cdef Py_ssize_t n = xt.shape[0]
    cdef Py_ssize_t k = xt.shape[1]
    cdef Py_ssize_t m = basis.shape[1]
    cdef Py_ssize_t i, j, b
    cdef double e, fit, r0, v
    if second.shape[0] != n or cubic.shape[0] != n or e_of_x.shape[0] != k \
            or p.shape[0] != k or (not third and (basis.shape[0] != n or mix0.shape[0] != m)):
        raise ValueError("path_rows: the arrays do not match")
    with nogil:
        for i in prange(n, schedule="static"):
            e = 0.0
            fit = 0.0
            for j in range(k):
                e = e + xt[i, j] * e_of_x[j]
                fit = fit + xt[i, j] * p[j]
            if third:
                v = (second[i] * -3.0 + e * e) * e
                second[i] = (v - cubic[i]) + fit
            else:
                r0 = 0.0
                for b in range(m):
                    r0 = r0 + basis[i, b] * mix0[b]
                v = (e * e - r0) + fit
                second[i] = v
                cubic[i] = (v * -3.0 + e * e) * e


def score_sums(const double[:, :] xt, const double[::1] y, const double[::1] w,
               const double[::1] mu, const double[:, ::1] a, const Py_ssize_t[::1] codes,
               double[:, :, :, ::1] out):
    """``out[c, g, j, 0]``: the sum of ``xt[i, j] w_i (y_i - mu_i)`` and ``out[c, g, j, 1 + t]``
    that of ``xt[i, j] (xt[i] @ a[t]) w_i mu_i`` over the rows i of cluster g in the c-th of
    ``out.shape[0]`` equal runs of rows, added to ``out`` (zeroed by the caller); the runs in
    parallel."""
    cdef Py_ssize_t n = xt.shape[0]
    cdef Py_ssize_t k = xt.shape[1]
    cdef Py_ssize_t n_t = a.shape[0]
    cdef Py_ssize_t n_runs = out.shape[0]
    cdef Py_ssize_t run, start, stop, i, j, t, g
    cdef double u, hw, c, xj
    if y.shape[0] != n or w.shape[0] != n or mu.shape[0] != n or codes.shape[0] != n \
            or a.shape[1] != k or out.shape[2] != k or out.shape[3] != 1 + n_t:
        raise ValueError("score_sums: the arrays do not match")
    with nogil:
        for run in prange(n_runs, schedule="static"):
            start = run * n // n_runs
            stop = (run + 1) * n // n_runs
            for i in range(start, stop):
                g = codes[i]
                u = w[i] * (y[i] - mu[i])
                hw = w[i] * mu[i]
                for j in range(k):
                    out[run, g, j, 0] += xt[i, j] * u
                for t in range(n_t):
                    c = 0.0
                    for j in range(k):
                        c = c + xt[i, j] * a[t, j]
                    c = c * hw
                    for j in range(k):
                        out[run, g, j, 1 + t] += xt[i, j] * c


def path_sums(const double[:, :] xt, const double[:, :] basis, const double[:, ::1] of_basis,
              const double[::1] e_of_x, const double[::1] p_of_x, const double[::1] y,
              const double[::1] w, const double[::1] mu, const Py_ssize_t[::1] codes,
              double[:, :, :, ::1] s, double[:, :, :, :, ::1] h):
    """``s[c, g, d]`` and ``h[c, g, d]``: the coefficients of Δ**d (d = 0, 1, 2) of cluster g's
    scores and Hessian along the path of restricted fits over the c-th of ``s.shape[0]`` equal
    runs of rows, added to ``s`` and ``h`` (zeroed by the caller); the runs in parallel. Row i's
    Newton direction is ``e = xt[i] @ e_of_x``; its residuals on the fixed effects of e² and of
    e * xt[i, j] are ``resid[i] = basis[i] @ of_basis`` (``basis[i]`` itself when ``of_basis``
    has no rows), so that ``p = resid[i, 0] - e² - xt[i] @ p_of_x`` (the restricted regressors'
    part of the projection of e² being a combination of the regressors) and
    ``dxt_j = resid[i, 1 + j] - e xt[i, j]``. Along the path the means are
    ``mu (1 + Δ e + Δ² (e² + p) / 2)`` and the demeaned regressors ``xt + Δ dxt`` (the notes
    of :mod:`migtrade.estimation.bootstrap.expansion`)."""
    cdef Py_ssize_t n = xt.shape[0]
    cdef Py_ssize_t k = xt.shape[1]
    cdef Py_ssize_t m = of_basis.shape[0]
    cdef Py_ssize_t n_runs = s.shape[0]
    cdef Py_ssize_t run, start, stop, i, j, l, g, b
    cdef double h0, h1, h2, u0, e, p, xj, dj, xl, dl, cross, acc
    cdef double* dx
    cdef double* res
    cdef uint8_t[::1] failed = bytearray(max(n_runs, 1))
    if m == 0 and basis.shape[1] != k + 1 or m and (basis.shape[1] != m
                                                     or of_basis.shape[1] != k + 1):
        raise ValueError("path_sums: the basis does not give 1 + k residuals a row")
    with nogil:
        for run in prange(n_runs, schedule="static"):
            dx = <double*> calloc(2 * (k + 1), sizeof(double))
            if dx == NULL:
                failed[run] = 1
                continue
            res = dx + k + 1
            start = run * n // n_runs
            stop = (run + 1) * n // n_runs
            for i in range(start, stop):
                g = codes[i]
                if m:
                    for j in range(k + 1):
                        acc = 0.0
                        for b in range(m):
                            acc = acc + basis[i, b] * of_basis[b, j]
                        res[j] = acc
                else:
                    for j in range(k + 1):
                        res[j] = basis[i, j]
                e = 0.0
                p = res[0]
                for j in range(k):
                    e = e + xt[i, j] * e_of_x[j]
                    p = p - xt[i, j] * p_of_x[j]
                p = p - e * e
                for j in range(k):
                    dx[j] = res[1 + j] - e * xt[i, j]
                h0 = w[i] * mu[i]
                u0 = w[i] * y[i] - h0
                h1 = h0 * e
                h2 = 0.5 * h0 * (e * e + p)
                for j in range(k):
                    xj = xt[i, j]
                    dj = dx[j]
                    # The scores w (y - mu) move by -h1 Δ - h2 Δ².
                    s[run, g, 0, j] += xj * u0
                    s[run, g, 1, j] += dj * u0 - xj * h1
                    s[run, g, 2, j] += -xj * h2 - dj * h1
                    for l in range(k):
                        xl = xt[i, l]
                        dl = dx[l]
                        cross = xj * dl + dj * xl
                        h[run, g, 0, j, l] += xj * xl * h0
                        h[run, g, 1, j, l] += xj * xl * h1 + cross * h0
                        h[run, g, 2, j, l] += xj * xl * h2 + cross * h1 + dj * dl * h0
            free(dx)
    for run in range(n_runs):
        if failed[run]:
            raise MemoryError("no memory for the path sums")
