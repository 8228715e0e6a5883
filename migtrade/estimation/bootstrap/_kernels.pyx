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


def forms_from_bits(const uint8_t[:, ::1] bits, const double[:, :, ::1] table,
                    const double[::1] total, double dsum, double[:, ::1] lin, double[::1] quad):
    """``lin[r] = P @ v_r`` and ``quad[r] = d @ v_r**2`` for Rademacher draws packed in bits."""
    cdef Py_ssize_t rows = bits.shape[0]
    cdef Py_ssize_t n_bytes = bits.shape[1]
    cdef Py_ssize_t n_pos = table.shape[0]
    cdef Py_ssize_t m = table.shape[2]
    cdef Py_ssize_t n_blocks = (rows + ROW_BLOCK - 1) // ROW_BLOCK
    cdef Py_ssize_t blk, r0, r1, b, lo, hi, r, k
    cdef uint8_t byte
    cdef double* acc
    cdef uint8_t[::1] failed = bytearray(max(n_blocks, 1))
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
            for b in range(n_bytes):
                lo = 2 * b
                hi = lo + 1
                for r in range(r0, r1):
                    byte = bits[r, b]
                    for k in range(m):
                        acc[(r - r0) * m + k] += table[lo, byte & 15, k]
                    if hi < n_pos:
                        for k in range(m):
                            acc[(r - r0) * m + k] += table[hi, byte >> 4, k]
            for r in range(r0, r1):
                for k in range(m):
                    lin[r, k] = 2.0 * acc[(r - r0) * m + k] - total[k]
                quad[r] = dsum
            free(acc)
    for blk in range(n_blocks):
        if failed[blk]:
            raise MemoryError("no memory for the sums of the bootstrap draws")


def forms_from_codes(const uint8_t[:, ::1] codes, const double[::1] values, const double[:, ::1] P,
                     const double[::1] d, double[:, ::1] lin, double[::1] quad):
    """The same sums for draws given as indexes into ``values``."""
    cdef Py_ssize_t rows = codes.shape[0]
    cdef Py_ssize_t m = P.shape[0]
    cdef Py_ssize_t g = P.shape[1]
    cdef Py_ssize_t r, c, k
    cdef double v, q
    cdef double* acc
    cdef uint8_t[::1] failed = bytearray(max(rows, 1))
    with nogil:
        for r in prange(rows, schedule="static"):
            acc = <double*> calloc(m + 1, sizeof(double))
            if acc == NULL:
                failed[r] = 1
                continue
            q = 0.0
            for c in range(g):
                v = values[codes[r, c]]
                for k in range(m):
                    acc[k] += v * P[k, c]
                q = q + v * v * d[c]
            for k in range(m):
                lin[r, k] = acc[k]
            quad[r] = q
            free(acc)
    for r in range(rows):
        if failed[r]:
            raise MemoryError("no memory for the sums of the bootstrap draws")
