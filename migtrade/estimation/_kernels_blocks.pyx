# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled block preconditioner of the ``schur`` strategy: every block's Schur complement formed
and factorised, and the preconditioner applied, blocks in parallel.

:mod:`migtrade.estimation.kernels_blocks` is the module to import and documents the method. Each
block is computed by one thread alone and without fused multiply-add, so the factors and the
preconditioned vectors do not depend on the number of threads.
"""

from cython.parallel cimport prange
from libc.math cimport sqrt
from libc.stdint cimport int64_t, uint8_t
from libc.stdlib cimport calloc, free, malloc

cdef enum:
    TILE = 4


cdef struct Blocks:
    const double* cross  # (n_blocks, m_e, m_s) cross tables of weights
    const uint8_t* held  # (n_blocks, m_s) levels held at 0 (the first and the padding)
    double* inv_a  # (n_blocks, m_e) 1 / row sums (0 for an empty row)
    double* chol  # (n_blocks, m_s, m_s) lower Cholesky factors, row-major
    Py_ssize_t n_blocks
    Py_ssize_t m_e
    Py_ssize_t m_s
    double floor  # relative size below which a pivot is taken as 0


cdef void _tile(const double* left, const double* right, Py_ssize_t rows, double* acc) noexcept nogil:
    """acc[r * TILE + c] = sum_i left[i * TILE + r] * right[i * TILE + c] over ``rows`` packed
    rows: one 4 x 4 tile of a product of two packed panels, summed in row order."""
    cdef double a00 = 0.0, a01 = 0.0, a02 = 0.0, a03 = 0.0
    cdef double a10 = 0.0, a11 = 0.0, a12 = 0.0, a13 = 0.0
    cdef double a20 = 0.0, a21 = 0.0, a22 = 0.0, a23 = 0.0
    cdef double a30 = 0.0, a31 = 0.0, a32 = 0.0, a33 = 0.0
    cdef double l0, l1, l2, l3, r0, r1, r2, r3
    cdef Py_ssize_t i
    for i in range(rows):
        l0 = left[0]
        l1 = left[1]
        l2 = left[2]
        l3 = left[3]
        r0 = right[0]
        r1 = right[1]
        r2 = right[2]
        r3 = right[3]
        a00 += l0 * r0
        a01 += l0 * r1
        a02 += l0 * r2
        a03 += l0 * r3
        a10 += l1 * r0
        a11 += l1 * r1
        a12 += l1 * r2
        a13 += l1 * r3
        a20 += l2 * r0
        a21 += l2 * r1
        a22 += l2 * r2
        a23 += l2 * r3
        a30 += l3 * r0
        a31 += l3 * r1
        a32 += l3 * r2
        a33 += l3 * r3
        left += TILE
        right += TILE
    acc[0] = a00
    acc[1] = a01
    acc[2] = a02
    acc[3] = a03
    acc[4] = a10
    acc[5] = a11
    acc[6] = a12
    acc[7] = a13
    acc[8] = a20
    acc[9] = a21
    acc[10] = a22
    acc[11] = a23
    acc[12] = a30
    acc[13] = a31
    acc[14] = a32
    acc[15] = a33


cdef void _cholesky(double* s, Py_ssize_t m, double floor, uint8_t* dead) noexcept nogil:
    """The lower Cholesky factor of the symmetric (m, m) row-major ``s`` in its lower triangle,
    row by row. A pivot at or below ``floor`` times its diagonal entry (a direction the block
    does not determine, up to rounding) is replaced by 1 with its row and column cleared, which
    keeps the factor that of a positive definite matrix."""
    cdef Py_ssize_t i, j, k
    cdef double t0, t1, t2, t3, v
    cdef double* ri
    cdef double* rj
    for i in range(m):
        dead[i] = 0
    for i in range(m):
        ri = s + i * m
        for j in range(i + 1):
            rj = s + j * m
            if dead[j] and j < i:
                ri[j] = 0.0
                continue
            t0 = 0.0
            t1 = 0.0
            t2 = 0.0
            t3 = 0.0
            k = 0
            while k + 4 <= j:
                t0 = t0 + ri[k] * rj[k]
                t1 = t1 + ri[k + 1] * rj[k + 1]
                t2 = t2 + ri[k + 2] * rj[k + 2]
                t3 = t3 + ri[k + 3] * rj[k + 3]
                k = k + 4
            while k < j:
                t0 = t0 + ri[k] * rj[k]
                k = k + 1
            v = ri[j] - ((t0 + t1) + (t2 + t3))
            if j < i:
                ri[j] = v / rj[j]
            elif v > floor * ri[i] and v > 0.0:
                ri[i] = sqrt(v)
            else:
                dead[i] = 1
                for k in range(i):
                    ri[k] = 0.0
                ri[i] = 1.0


cdef void _factor_block(const Blocks* b, Py_ssize_t blk) noexcept nogil:
    """The held Schur complement diag(col sums) - X' diag(1 / row sums) X of one block, factorised."""
    cdef Py_ssize_t m_e = b.m_e, m_s = b.m_s
    cdef Py_ssize_t tiles = (m_s + TILE - 1) // TILE
    cdef Py_ssize_t padded = tiles * TILE
    cdef const double* x = b.cross + blk * m_e * m_s
    cdef const uint8_t* held = b.held + blk * m_s
    cdef double* inv_a = b.inv_a + blk * m_e
    cdef double* s = b.chol + blk * m_s * m_s
    cdef double* plain = <double*> calloc(m_e * padded, sizeof(double))
    cdef double* scaled = <double*> calloc(m_e * padded, sizeof(double))
    cdef double* colsum = <double*> calloc(padded, sizeof(double))
    cdef uint8_t* dead = <uint8_t*> malloc(m_s + 1)
    cdef double acc[16]
    cdef Py_ssize_t i, k, j, kt, jt, r, c, row, col
    cdef double a, v
    if plain == NULL or scaled == NULL or colsum == NULL or dead == NULL:
        free(plain)
        free(scaled)
        free(colsum)
        free(dead)
        for k in range(m_s * m_s):
            s[k] = 0.0
        for k in range(m_s):
            s[k * m_s + k] = 1.0  # no memory: the identity, a valid (weak) preconditioner
        return
    # Pack X and X scaled by 1 / row sums panel by panel: the four columns of a tile of each
    # row side by side, so a tile's product reads two contiguous streams.
    for i in range(m_e):
        a = 0.0
        for k in range(m_s):
            a += x[i * m_s + k]
        inv_a[i] = 1.0 / a if a > 0.0 else 0.0
        for k in range(m_s):
            v = x[i * m_s + k]
            colsum[k] += v
            plain[(k // TILE) * m_e * TILE + i * TILE + k % TILE] = v
            scaled[(k // TILE) * m_e * TILE + i * TILE + k % TILE] = v * inv_a[i]
    for kt in range(tiles):
        for jt in range(kt + 1):
            _tile(scaled + kt * m_e * TILE, plain + jt * m_e * TILE, m_e, acc)
            for r in range(TILE):
                row = kt * TILE + r
                if row >= m_s:
                    break
                for c in range(TILE):
                    col = jt * TILE + c
                    if col > row:
                        break
                    s[row * m_s + col] = -acc[r * TILE + c]
    for k in range(m_s):
        s[k * m_s + k] += colsum[k]
    # Held levels: their rows and columns those of the identity.
    for k in range(m_s):
        for j in range(k + 1):
            if held[k] or held[j]:
                s[k * m_s + j] = 1.0 if j == k else 0.0
    # The upper triangle is not read by the factorisation; keep it zero for a clean factor.
    for k in range(m_s):
        for j in range(k + 1, m_s):
            s[k * m_s + j] = 0.0
    _cholesky(s, m_s, b.floor, dead)
    free(plain)
    free(scaled)
    free(colsum)
    free(dead)


cdef inline double _dot2(const double* a, const double* b, Py_ssize_t n) noexcept nogil:
    """a[0:n] . b[0:n] with two running sums (pairs of terms, then the odd one)."""
    cdef double t0 = 0.0
    cdef double t1 = 0.0
    cdef Py_ssize_t q = 0
    while q + 2 <= n:
        t0 = t0 + a[q] * b[q]
        t1 = t1 + a[q + 1] * b[q + 1]
        q = q + 2
    if q < n:
        t0 = t0 + a[q] * b[q]
    return t0 + t1


cdef void _solve_block(const Blocks* b, Py_ssize_t blk, const double* g, Py_ssize_t ldg,
                       double* z, Py_ssize_t ldz, Py_ssize_t k, const int64_t* e_of,
                       const int64_t* s_of) noexcept nogil:
    """z = M g on one block's levels for the k columns of g: the exact solve with the block's
    normal matrix [diag(a) X; X' diag(b)], its held levels at 0."""
    cdef Py_ssize_t m_e = b.m_e, m_s = b.m_s
    cdef const double* x = b.cross + blk * m_e * m_s
    cdef const uint8_t* held = b.held + blk * m_s
    cdef const double* inv_a = b.inv_a + blk * m_e
    cdef const double* lo = b.chol + blk * m_s * m_s
    cdef const int64_t* eo = e_of + blk * m_e
    cdef const int64_t* so = s_of + blk * m_s
    cdef double* ge = <double*> malloc((m_e + 1) * sizeof(double))
    cdef double* zs = <double*> malloc((m_s + 1) * sizeof(double))
    cdef Py_ssize_t col, i, r, q
    cdef const double* gc
    cdef double* zc
    cdef const double* row
    cdef double t
    if ge == NULL or zs == NULL:
        free(ge)
        free(zs)
        return  # left as the caller's zeros: no memory for this block's solve
    for col in range(k):
        gc = g + col * ldg
        zc = z + col * ldz
        for i in range(m_e):
            ge[i] = gc[eo[i]] if eo[i] >= 0 else 0.0
        for r in range(m_s):
            zs[r] = gc[so[r]] if so[r] >= 0 else 0.0
        # The right-hand side on the s side: g_s - X' diag(1/a) g_e, held levels at 0.
        for i in range(m_e):
            t = ge[i] * inv_a[i]
            if t != 0.0:
                row = x + i * m_s
                for r in range(m_s):
                    zs[r] = zs[r] - row[r] * t
        for r in range(m_s):
            if held[r]:
                zs[r] = 0.0
        # L y = rhs, then L' zs = y, in place.
        for r in range(m_s):
            row = lo + r * m_s
            zs[r] = (zs[r] - _dot2(row, zs, r)) / row[r]
        for r in range(m_s - 1, -1, -1):
            row = lo + r * m_s
            zs[r] = zs[r] / row[r]
            t = zs[r]
            if t != 0.0:
                for q in range(r):
                    zs[q] = zs[q] - row[q] * t
        # The e side: diag(1/a) (g_e - X z_s).
        for i in range(m_e):
            if eo[i] < 0:
                continue
            row = x + i * m_s
            zc[eo[i]] = inv_a[i] * (ge[i] - _dot2(row, zs, m_s))
        for r in range(m_s):
            if so[r] >= 0:
                zc[so[r]] = zs[r]
    free(ge)
    free(zs)


cdef void _blocks(Blocks* b, const double* cross, const uint8_t* held, double* inv_a,
                  double* chol, Py_ssize_t n_blocks, Py_ssize_t m_e, Py_ssize_t m_s,
                  double floor) noexcept nogil:
    b.cross = cross
    b.held = held
    b.inv_a = inv_a
    b.chol = chol
    b.n_blocks = n_blocks
    b.m_e = m_e
    b.m_s = m_s
    b.floor = floor


def factor_blocks(const double[:, :, ::1] cross, const uint8_t[:, ::1] held,
                  double[:, ::1] inv_a, double[:, :, ::1] chol, double floor, bint parallel):
    """inv_a = 1 / the row sums of every block's cross table X (0 for an empty row), chol =
    the lower Cholesky factor of its held Schur complement diag(b) - X' diag(inv_a) X; blocks
    in parallel."""
    cdef Blocks b
    cdef Py_ssize_t blk
    if cross.shape[0] == 0 or cross.shape[1] == 0 or cross.shape[2] == 0:
        return
    _blocks(&b, &cross[0, 0, 0], &held[0, 0], &inv_a[0, 0], &chol[0, 0, 0], cross.shape[0],
            cross.shape[1], cross.shape[2], floor)
    with nogil:
        if parallel:
            for blk in prange(b.n_blocks, schedule="dynamic", chunksize=1):
                _factor_block(&b, blk)
        else:
            for blk in range(b.n_blocks):
                _factor_block(&b, blk)


def solve_blocks(const double[::1, :] g, double[::1, :] z, const double[:, :, ::1] cross,
                 const uint8_t[:, ::1] held, const double[:, ::1] inv_a,
                 const double[:, :, ::1] chol, const int64_t[:, ::1] e_of,
                 const int64_t[:, ::1] s_of, bint parallel):
    """z = M g for every column of g (the reduced system's levels; ``e_of`` / ``s_of`` the level
    behind each padded place of a block, -1 for padding); blocks in parallel."""
    cdef Blocks b
    cdef Py_ssize_t blk
    cdef Py_ssize_t k = g.shape[1]
    cdef Py_ssize_t ldg, ldz
    if k == 0 or g.shape[0] == 0 or cross.shape[0] == 0:
        return
    # The solve only reads the factors (the struct's pointers are writable for the build).
    _blocks(&b, &cross[0, 0, 0], &held[0, 0], <double*> &inv_a[0, 0], <double*> &chol[0, 0, 0],
            cross.shape[0], cross.shape[1], cross.shape[2], 0.0)
    ldg = g.strides[1] // sizeof(double)
    ldz = z.strides[1] // sizeof(double)
    with nogil:
        if parallel:
            for blk in prange(b.n_blocks, schedule="dynamic", chunksize=1):
                _solve_block(&b, blk, &g[0, 0], ldg, &z[0, 0], ldz, k, &e_of[0, 0], &s_of[0, 0])
        else:
            for blk in range(b.n_blocks):
                _solve_block(&b, blk, &g[0, 0], ldg, &z[0, 0], ldz, k, &e_of[0, 0], &s_of[0, 0])
