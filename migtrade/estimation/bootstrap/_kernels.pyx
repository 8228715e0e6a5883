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
