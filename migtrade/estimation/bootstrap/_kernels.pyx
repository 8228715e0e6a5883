# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled passes over the bootstrap draws, built by pip at install time.

:mod:`migtrade.estimation.bootstrap.kernels` is the module to import and documents them.
"""

from cython.parallel cimport prange
from libc.stdint cimport uint8_t
from libc.stdlib cimport calloc, free

# Rows of draws that walk the byte positions together (kernels.ROW_BLOCK).
cdef enum:
    ROW_BLOCK = 64
    # Bytes of the table a band of byte positions takes: the band stays in the core's cache
    # while every row of the block reads it.
    BAND_BYTES = 1 << 17


cdef inline void _add4(double* acc, const double* entry) noexcept nogil:
    acc[0] = acc[0] + entry[0]
    acc[1] = acc[1] + entry[1]
    acc[2] = acc[2] + entry[2]
    acc[3] = acc[3] + entry[3]


cdef void _four_forms_two_rows(const uint8_t* bits_a, const uint8_t* bits_c, const double* table,
                               Py_ssize_t n_pos, Py_ssize_t b0, Py_ssize_t b1,
                               double* acc) noexcept nogil:
    """Add the half-byte table entries of the bytes b0 .. b1 - 1 of two rows of draws to their
    four sums (``acc[0:4]`` and ``acc[4:8]``), each row's in byte order, low half first. When
    both rows are the same (an odd row left over) only the first sums are written. The sums
    are local arrays of constant index, which the compiler keeps in registers."""
    cdef double a[4]
    cdef double c[4]
    cdef bint two = bits_a != bits_c
    cdef Py_ssize_t b, k, lo
    cdef uint8_t x, z
    for k in range(4):
        a[k] = acc[k]
        c[k] = acc[4 + k] if two else 0.0
    for b in range(b0, b1):
        x = bits_a[b]
        z = bits_c[b]
        lo = 2 * b
        _add4(a, table + (lo * 16 + (x & 15)) * 4)
        _add4(c, table + (lo * 16 + (z & 15)) * 4)
        if lo + 1 < n_pos:
            _add4(a, table + ((lo + 1) * 16 + (x >> 4)) * 4)
            _add4(c, table + ((lo + 1) * 16 + (z >> 4)) * 4)
    for k in range(4):
        acc[k] = a[k]
        if two:
            acc[4 + k] = c[k]


def forms_from_bits(const uint8_t[:, ::1] bits, const double[:, :, ::1] table,
                    const double[::1] total, const double[::1] dsum, double[:, ::1] lin,
                    double[:, ::1] quad):
    """``lin[r] = P @ v_r`` and ``quad[r, t] = dsum[t]`` for Rademacher draws packed in bits.

    ``table`` has 256 entries a byte position (one lookup a byte) or 16 a half byte (two).
    """
    cdef Py_ssize_t rows = bits.shape[0]
    cdef Py_ssize_t n_bytes = bits.shape[1]
    cdef Py_ssize_t n_pos = table.shape[0]
    cdef bint whole_bytes = table.shape[1] == 256
    cdef Py_ssize_t m = table.shape[2]
    cdef Py_ssize_t n_terms = dsum.shape[0]
    cdef Py_ssize_t n_blocks = (rows + ROW_BLOCK - 1) // ROW_BLOCK
    cdef Py_ssize_t band = BAND_BYTES // (8 * m * (256 if whole_bytes else 32))
    cdef Py_ssize_t blk, r0, r1, bi, b0, b1, b, lo, hi, r, k
    cdef uint8_t byte
    cdef double* acc
    cdef double* row_acc
    cdef const double* entry
    cdef uint8_t[::1] failed = bytearray(max(n_blocks, 1))
    if band < 1:
        band = 1
    cdef Py_ssize_t n_bands = (n_bytes + band - 1) // band
    with nogil:
        for blk in prange(n_blocks, schedule="static"):
            r0 = blk * ROW_BLOCK
            r1 = r0 + ROW_BLOCK
            if r1 > rows:
                r1 = rows
            acc = <double*> calloc((r1 - r0) * m + 1, sizeof(double))
            if acc == NULL:
                failed[blk] = 1
                continue
            # Each row adds its bytes' entries in byte order whatever the blocking, so the
            # sums do not depend on ROW_BLOCK or the band.
            for bi in range(n_bands):
                b0 = bi * band
                b1 = b0 + band
                if b1 > n_bytes:
                    b1 = n_bytes
                if m == 4 and not whole_bytes:
                    # One coefficient's four forms: two rows at a time walk the band with their
                    # sums in registers (the same additions in the same order).
                    r = r0
                    while r + 1 < r1:
                        _four_forms_two_rows(&bits[r, 0], &bits[r + 1, 0], &table[0, 0, 0],
                                             n_pos, b0, b1, acc + (r - r0) * 4)
                        r = r + 2
                    if r < r1:
                        _four_forms_two_rows(&bits[r, 0], &bits[r, 0], &table[0, 0, 0],
                                             n_pos, b0, b1, acc + (r - r0) * 4)
                    continue
                # Rows inner: consecutive additions go to different rows' sums, which do not
                # wait for each other (a row's own additions, in byte order, form a chain).
                for b in range(b0, b1):
                    if whole_bytes:
                        for r in range(r0, r1):
                            row_acc = acc + (r - r0) * m
                            entry = &table[b, bits[r, b], 0]
                            for k in range(m):
                                row_acc[k] += entry[k]
                    else:
                        lo = 2 * b
                        hi = lo + 1
                        for r in range(r0, r1):
                            row_acc = acc + (r - r0) * m
                            byte = bits[r, b]
                            entry = &table[lo, byte & 15, 0]
                            for k in range(m):
                                row_acc[k] += entry[k]
                            if hi < n_pos:
                                entry = &table[hi, byte >> 4, 0]
                                for k in range(m):
                                    row_acc[k] += entry[k]
            for r in range(r0, r1):
                for k in range(m):
                    lin[r, k] = 2.0 * acc[(r - r0) * m + k] - total[k]
                for k in range(n_terms):
                    quad[r, k] = dsum[k]
            free(acc)
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


def cluster_products(const double[:, :] x, const double[:, :] wts, const Py_ssize_t[::1] codes,
                     double[:, :, ::1] out):
    """``out[g, j, l] += sum of x[i, j] * wts[i, l]`` over the rows i of cluster g, one pass
    over the rows (``out`` zeroed by the caller)."""
    cdef Py_ssize_t n = x.shape[0]
    cdef Py_ssize_t k = x.shape[1]
    cdef Py_ssize_t m = wts.shape[1]
    cdef Py_ssize_t i, j, l, g
    cdef double xv
    with nogil:
        for i in range(n):
            g = codes[i]
            for j in range(k):
                xv = x[i, j]
                for l in range(m):
                    out[g, j, l] += xv * wts[i, l]
