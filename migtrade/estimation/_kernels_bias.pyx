# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled loops of the bias corrections, built by pip at install time.

:mod:`migtrade.estimation.kernels_bias` is the module to import and documents them. Countries
(or blocks of pairs) run in parallel; each one's scratch arrays are allocated in its own
iteration. Arrays are C-ordered (the Python module makes them so), which lets the compiler see
unit strides. Regressors come as planes ``xt[m, p, s]`` (regressor, pair, period).

The per-country sums are matrix products, done by the BLAS ``dgemm`` that scipy exports
(``scipy.linalg.cython_blas``); its address is read from scipy's capsule when this module is
imported, so building the module needs no scipy headers.
"""

from cpython.pycapsule cimport PyCapsule_GetName, PyCapsule_GetPointer
from cython.parallel cimport prange, threadid
from libc.math cimport fabs, sqrt
from libc.stdint cimport int64_t, uint8_t
from libc.stdlib cimport calloc, free, malloc

ctypedef void (*dgemm_t)(char* transa, char* transb, int* m, int* n, int* k, double* alpha,
                         double* a, int* lda, double* b, int* ldb, double* beta, double* c,
                         int* ldc) noexcept nogil

ctypedef void (*dsyrk_t)(char* uplo, char* trans, int* n, int* k, double* alpha, double* a,
                         int* lda, double* beta, double* c, int* ldc) noexcept nogil
ctypedef void (*dpotr_t)(char* uplo, int* n, double* a, int* lda, int* info) noexcept nogil
ctypedef void (*dpotrs_t)(char* uplo, int* n, int* nrhs, double* a, int* lda, double* b,
                          int* ldb, int* info) noexcept nogil

cdef dgemm_t _dgemm = NULL
cdef dsyrk_t _dsyrk = NULL
cdef dpotr_t _dpotrf = NULL
cdef dpotr_t _dpotri = NULL
cdef dpotrs_t _dpotrs = NULL


def _load_blas():
    global _dgemm, _dsyrk, _dpotrf, _dpotri, _dpotrs
    from scipy.linalg import cython_blas, cython_lapack

    capsule = cython_blas.__pyx_capi__["dgemm"]
    _dgemm = <dgemm_t> PyCapsule_GetPointer(capsule, PyCapsule_GetName(capsule))
    capsule = cython_blas.__pyx_capi__["dsyrk"]
    _dsyrk = <dsyrk_t> PyCapsule_GetPointer(capsule, PyCapsule_GetName(capsule))
    capsule = cython_lapack.__pyx_capi__["dpotrf"]
    _dpotrf = <dpotr_t> PyCapsule_GetPointer(capsule, PyCapsule_GetName(capsule))
    capsule = cython_lapack.__pyx_capi__["dpotri"]
    _dpotri = <dpotr_t> PyCapsule_GetPointer(capsule, PyCapsule_GetName(capsule))
    capsule = cython_lapack.__pyx_capi__["dpotrs"]
    _dpotrs = <dpotrs_t> PyCapsule_GetPointer(capsule, PyCapsule_GetName(capsule))


_load_blas()


def team_size():
    """The number of threads a parallel loop runs on by default (1 in a build without
    OpenMP), found by running one: each of 256 iterations marks the thread that ran it."""
    cdef int i
    cdef uint8_t[::1] seen = bytearray(256)
    with nogil:
        for i in prange(256, schedule="static", chunksize=1):
            seen[threadid() % 256] = 1
    return max(sum(seen), 1)

# Pairs of one country multiplied at once: bounds the scratch of a thread whatever the
# country's size (3 k T doubles a pair), large enough for dgemm to run at full speed.
cdef enum:
    CHUNK = 256


cdef inline double _pair_total(const double* lp, Py_ssize_t t) noexcept nogil:
    """The sum of a pair's T fitted means (1 / its root scales the pair's normalised weights)."""
    cdef double total = 0.0
    cdef Py_ssize_t s
    for s in range(t):
        total = total + lp[s]
    return total


cdef inline void _load_block(const int64_t* pairs, Py_ssize_t nb, const double* lam,
                             const double* e, Py_ssize_t t, double* ub, double* eb,
                             double* dl) noexcept nogil:
    """A block of ``nb`` pairs (rows ``pairs[i]`` of the (pairs, t) grids lam and e) copied
    into the T x nb column-major blocks the BLAS products read: ``ub`` the pairs' fitted means
    over the root of their totals, ``eb`` their residuals; ``dl`` (unless NULL) adds up the
    fitted means by period."""
    cdef Py_ssize_t i, s
    cdef const double* lp
    cdef const double* ep
    cdef double root
    for i in range(nb):
        lp = lam + pairs[i] * t
        ep = e + pairs[i] * t
        root = 1.0 / sqrt(_pair_total(lp, t))
        for s in range(t):
            ub[i * t + s] = lp[s] * root
            eb[i * t + s] = ep[s]
        if dl != NULL:
            for s in range(t):
                dl[s] += lp[s]


def leave_out_iterate(int threads, const int64_t[::1] order, const int64_t[::1] bounds,
                      int64_t n_first,
                      const double[:, ::1] lam, const double[:, ::1] r,
                      const double[:, :, ::1] ginv, const uint8_t[::1] skip, double tol,
                      int64_t max_iter, double[:, :, ::1] w, uint8_t[:, ::1] late):
    """``w[side, g] += (H_c - H_g)^+ r_g`` per pair by the iteration ``w <- G_c (r_g + H_g w)``;
    country c's pairs are ``order[bounds[c]:bounds[c + 1]]``, side 0 for c below ``n_first`` and
    1 above, iterated together in blocks (one matrix product with G_c a step), a pair leaving
    its block when it has converged; pairs that do not converge are marked late on that side
    and left untouched."""
    cdef Py_ssize_t t = lam.shape[1]
    cdef Py_ssize_t n_countries = bounds.shape[0] - 1
    cdef Py_ssize_t c, i, p, s, it, start, stop, n_active, kept, a, side
    cdef double* buf
    cdef double* v
    cdef double* step
    cdef double* hw
    cdef double* size
    cdef double* total
    cdef int64_t* pairs
    cdef const double* lp
    cdef const double* rp
    cdef double* hp
    cdef double* sp
    cdef double dot, change, new, tot, big
    cdef double one = 1.0
    cdef double zero = 0.0
    cdef int nn, mm, ld
    cdef char no = b"N"
    cdef uint8_t[::1] failed = bytearray(max(n_countries, 1))
    with nogil:
        for c in prange(n_countries, schedule="dynamic", chunksize=1, num_threads=threads):
            # v, step and hw hold one row of T per pair of the block; size and total one number.
            buf = <double*> malloc((CHUNK * (3 * t + 3) + 1) * sizeof(double))
            if buf == NULL:
                failed[c] = 1
                continue
            v = buf
            step = v + CHUNK * t
            hw = step + CHUNK * t
            size = hw + CHUNK * t
            total = size + CHUNK
            pairs = <int64_t*> (total + CHUNK)
            side = 1 if c >= n_first else 0
            start = bounds[c]
            stop = bounds[c + 1]
            while start < stop:
                n_active = 0
                while start < stop and n_active < CHUNK:
                    p = order[start]
                    start = start + 1
                    if skip[p]:
                        continue
                    lp = &lam[p, 0]
                    rp = &r[p, 0]
                    tot = 0.0
                    big = 0.0
                    for s in range(t):
                        tot = tot + lp[s]
                        if fabs(rp[s]) > big:
                            big = fabs(rp[s])
                        hw[n_active * t + s] = 0.0
                    pairs[n_active] = p
                    total[n_active] = tot
                    size[n_active] = big
                    n_active = n_active + 1
                for it in range(max_iter):
                    if n_active == 0:
                        break
                    for a in range(n_active):
                        rp = &r[pairs[a], 0]
                        for s in range(t):
                            v[a * t + s] = rp[s] + hw[a * t + s]
                    # step = v G_c, rows of v and step being pairs (column-major: G' v').
                    mm = <int> t
                    nn = <int> n_active
                    ld = <int> t
                    _dgemm(&no, &no, &mm, &nn, &mm, &one, <double*> &ginv[c, 0, 0], &ld, v, &ld,
                           &zero, step, &ld)
                    kept = 0
                    for a in range(n_active):
                        p = pairs[a]
                        lp = &lam[p, 0]
                        sp = step + a * t
                        hp = hw + a * t
                        dot = 0.0
                        for s in range(t):
                            dot = dot + lp[s] * sp[s]
                        dot = dot / total[a]
                        change = 0.0
                        for s in range(t):
                            new = lp[s] * (sp[s] - dot)  # H_g step
                            if fabs(new - hp[s]) > change:
                                change = fabs(new - hp[s])
                            hp[s] = new
                        if change <= tol * size[a]:
                            for s in range(t):
                                w[side, p, s] += sp[s]
                        else:  # still moving: kept in the block, moved up over the done ones
                            if kept != a:
                                for s in range(t):
                                    hw[kept * t + s] = hp[s]
                                pairs[kept] = p
                                total[kept] = total[a]
                                size[kept] = size[a]
                            kept = kept + 1
                    n_active = kept
                for a in range(n_active):
                    late[side, pairs[a]] = 1
            free(buf)
    for c in range(n_countries):
        if failed[c]:
            raise MemoryError("no memory for the leave-out iteration")


def side_sums(int threads, const int64_t[::1] order, const int64_t[::1] bounds,
              const double[:, ::1] lam,
              const double[:, ::1] e, double[:, :, ::1] hessian, double[:, :, ::1] scores):
    """Per country: the Hessian ``sum diag(mu) - u u'`` (``u = mu / sqrt(sum mu)``) and the
    score sum ``sum e e'`` over its pairs ``order[bounds[c]:bounds[c + 1]]``, as symmetric
    rank-k updates (BLAS dsyrk) over blocks of pairs."""
    cdef Py_ssize_t t = lam.shape[1]
    cdef Py_ssize_t n_countries = bounds.shape[0] - 1
    cdef Py_ssize_t c, s, q, start, stop, nb
    cdef double* buf
    cdef double* ub
    cdef double* eb
    cdef double* gu
    cdef double* ge
    cdef double* dl
    cdef double one = 1.0
    cdef double beta
    cdef int nn, kk
    cdef char lower = b"L"
    cdef char no = b"N"
    cdef uint8_t[::1] failed = bytearray(max(n_countries, 1))
    with nogil:
        for c in prange(n_countries, schedule="dynamic", chunksize=1, num_threads=threads):
            buf = <double*> calloc(2 * CHUNK * t + 2 * t * t + t + 1, sizeof(double))
            if buf == NULL:
                failed[c] = 1
                continue
            ub = buf
            eb = ub + CHUNK * t
            gu = eb + CHUNK * t
            ge = gu + t * t
            dl = ge + t * t
            beta = 0.0
            start = bounds[c]
            stop = bounds[c + 1]
            while start < stop:
                nb = stop - start
                if nb > CHUNK:
                    nb = CHUNK
                _load_block(&order[start], nb, &lam[0, 0], &e[0, 0], t, ub, eb, dl)
                # Column-major: the blocks are T x nb, and g = block block' (lower triangle).
                nn = <int> t
                kk = <int> nb
                _dsyrk(&lower, &no, &nn, &kk, &one, ub, &nn, &beta, gu, &nn)
                _dsyrk(&lower, &no, &nn, &kk, &one, eb, &nn, &beta, ge, &nn)
                beta = 1.0
                start = start + nb
            for s in range(t):
                for q in range(s, t):  # column-major lower = row-major upper: q >= s
                    hessian[c, s, q] = -gu[s * t + q]
                    hessian[c, q, s] = -gu[s * t + q]
                    scores[c, s, q] = ge[s * t + q]
                    scores[c, q, s] = ge[s * t + q]
                hessian[c, s, s] += dl[s]
            free(buf)
    for c in range(n_countries):
        if failed[c]:
            raise MemoryError("no memory for the per-country sums of the bias correction")


def bias_traces(int threads, const int64_t[::1] order, const int64_t[::1] bounds,
                const double[:, ::1] lam,
                const double[:, ::1] e, const double[:, :, ::1] xt,
                const double[:, :, ::1] hinv, const double[:, :, ::1] msm,
                double[:, ::1] b1, double[:, ::1] b2):
    """Per country c and regressor m, over its pairs: ``b1 = sum e' H+ (H_g x~_m)`` and
    ``b2 = sum (mu x~_m)' M u / sqrt(sum mu) - sum_s M_ss sum mu_s x~_ms`` with ``M = msm[c]``
    (``H+ S H+`` plus its transpose) and ``u = mu / sqrt(sum mu)``; the products with H+ and M
    are BLAS products over blocks of pairs."""
    cdef Py_ssize_t t = lam.shape[1]
    cdef Py_ssize_t k = xt.shape[0]
    cdef Py_ssize_t n_countries = bounds.shape[0] - 1
    cdef Py_ssize_t c, i, p, s, m, start, stop, nb
    cdef double* buf
    cdef double* ub
    cdef double* eb
    cdef double* yb
    cdef double* zb
    cdef double* dlx
    cdef const double* lp
    cdef const double* xp
    cdef double total, root, proj, lx, acc1, acc2
    cdef double one = 1.0
    cdef double zero = 0.0
    cdef int nn, kk
    cdef char no = b"N"
    cdef uint8_t[::1] failed = bytearray(max(n_countries, 1))
    with nogil:
        for c in prange(n_countries, schedule="dynamic", chunksize=1, num_threads=threads):
            buf = <double*> calloc(4 * CHUNK * t + k * t + 1, sizeof(double))
            if buf == NULL:
                failed[c] = 1
                continue
            ub = buf
            eb = ub + CHUNK * t
            yb = eb + CHUNK * t
            zb = yb + CHUNK * t
            dlx = zb + CHUNK * t
            for m in range(k):
                b1[c, m] = 0.0
                b2[c, m] = 0.0
            start = bounds[c]
            stop = bounds[c + 1]
            while start < stop:
                nb = stop - start
                if nb > CHUNK:
                    nb = CHUNK
                _load_block(&order[start], nb, &lam[0, 0], &e[0, 0], t, ub, eb, NULL)
                # Y = E H+, Z = U M (rows: pairs); column-major: Y' = H+ E', both symmetric.
                nn = <int> t
                kk = <int> nb
                _dgemm(&no, &no, &nn, &kk, &nn, &one, <double*> &hinv[c, 0, 0], &nn, eb, &nn,
                       &zero, yb, &nn)
                _dgemm(&no, &no, &nn, &kk, &nn, &one, <double*> &msm[c, 0, 0], &nn, ub, &nn,
                       &zero, zb, &nn)
                for i in range(nb):
                    p = order[start + i]
                    lp = &lam[p, 0]
                    total = _pair_total(lp, t)
                    root = 1.0 / sqrt(total)
                    for m in range(k):
                        xp = &xt[m, p, 0]
                        proj = 0.0
                        for s in range(t):
                            proj = proj + lp[s] * xp[s]
                        proj = proj / total
                        acc1 = 0.0
                        acc2 = 0.0
                        for s in range(t):
                            lx = lp[s] * xp[s]
                            dlx[m * t + s] += lx
                            acc1 = acc1 + yb[i * t + s] * (lx - lp[s] * proj)
                            acc2 = acc2 + zb[i * t + s] * lx
                        b1[c, m] += acc1
                        b2[c, m] += root * acc2
                start = start + nb
            for m in range(k):
                acc1 = 0.0
                for s in range(t):
                    acc1 = acc1 + msm[c, s, s] * dlx[m * t + s]
                b2[c, m] -= acc1
            free(buf)
    for c in range(n_countries):
        if failed[c]:
            raise MemoryError("no memory for the bias terms")


def leave_out_direct(int threads, const int64_t[::1] rows, const int64_t[::1] country,
                     const double[:, :, ::1] h_country, const double[:, ::1] lam,
                     const double[:, ::1] e, const double[:, :, ::1] xt, double rtol,
                     double check, double[:, :, ::1] out, uint8_t[::1] failed):
    """``out[i] = (H_c - H_g)^+ [e_g, H_g x~_1g .. H_g x~_kg]`` for pair g = rows[i] of country
    c = country[i], by a Cholesky factorisation of ``H_c - H_g + s 1 1' / n`` over the periods
    with data (identity on the others); ``failed[i]`` where the matrix is not safely positive
    definite or a solution does not reproduce its right-hand side to ``check``."""
    cdef Py_ssize_t t = lam.shape[1]
    cdef Py_ssize_t k = xt.shape[0]
    cdef Py_ssize_t n = rows.shape[0]
    cdef Py_ssize_t i, p, c, s, q, j, a
    cdef double* buf
    cdef double* mat
    cdef double* chol
    cdef double* x
    cdef double* rhs
    cdef uint8_t* active
    cdef const double* lp
    cdef const double* hc
    cdef double total, scale, n_active, d, pmin, pmax, size, worst, acc, proj
    cdef bint bad
    cdef int nn, nrhs, info
    cdef char lower = b"L"
    cdef uint8_t[::1] no_memory = bytearray(max(n, 1))
    with nogil:
        for i in prange(n, schedule="dynamic", chunksize=8, num_threads=threads):
            buf = <double*> malloc((2 * t * t + (k + 1) * t + t) * sizeof(double))
            if buf == NULL:
                no_memory[i] = 1
                continue
            mat = buf
            chol = mat + t * t
            rhs = chol + t * t
            active = <uint8_t*> (rhs + (k + 1) * t)
            p = rows[i]
            c = country[i]
            lp = &lam[p, 0]
            hc = &h_country[c, 0, 0]
            total = 0.0
            for s in range(t):
                total = total + lp[s]
            n_active = 0.0
            scale = 0.0
            for s in range(t):
                for q in range(t):
                    mat[s * t + q] = hc[s * t + q] + lp[s] * lp[q] / total
                mat[s * t + s] -= lp[s]
                active[s] = mat[s * t + s] > 0.0
                if active[s]:
                    n_active = n_active + 1.0
                    scale = scale + mat[s * t + s]
            if n_active < 1.0:
                n_active = 1.0
            scale = scale / n_active / n_active
            for s in range(t):
                for q in range(t):
                    chol[s * t + q] = mat[s * t + q]
                    if active[s] and active[q]:
                        chol[s * t + q] += scale
                if not active[s]:
                    chol[s * t + s] += 1.0
            # Cholesky and solves by LAPACK; symmetric, so the row-major array is its own
            # column-major layout.
            nn = <int> t
            nrhs = <int> (k + 1)
            _dpotrf(&lower, &nn, chol, &nn, &info)
            bad = info != 0
            if not bad:
                pmin = chol[0] * chol[0]
                pmax = pmin
                for s in range(t):
                    d = chol[s * t + s] * chol[s * t + s]
                    if d < pmin:
                        pmin = d
                    if d > pmax:
                        pmax = d
                bad = pmin <= rtol * pmax
            size = 0.0
            worst = 0.0
            if not bad:
                x = &out[i, 0, 0]  # (k + 1) right-hand sides of T, solved in place
                for j in range(k + 1):
                    proj = 0.0
                    if j > 0:
                        for s in range(t):
                            proj = proj + lp[s] * xt[j - 1, p, s]
                        proj = proj / total
                    for s in range(t):
                        rhs[j * t + s] = e[p, s] if j == 0 else lp[s] * (xt[j - 1, p, s] - proj)
                        x[j * t + s] = rhs[j * t + s]
                        if fabs(rhs[j * t + s]) > size:
                            size = fabs(rhs[j * t + s])
                _dpotrs(&lower, &nn, &nrhs, chol, &nn, x, &nn, &info)
                bad = info != 0
                for j in range(k + 1):
                    for s in range(t):
                        acc = -rhs[j * t + s]
                        for q in range(t):
                            acc = acc + mat[s * t + q] * x[j * t + q]
                        if fabs(acc) > worst:
                            worst = fabs(acc)
                if size < 1e-300:
                    size = 1e-300
                if worst > check * size:
                    bad = True
            failed[i] = bad
            free(buf)
    for i in range(n):
        if no_memory[i]:
            raise MemoryError("no memory for the leave-one-pair-out solves")


def adjusted_scores(int mode, const double[:, ::1] lam, const double[:, ::1] e,
                    const double[:, ::1] aux, const double[:, :, ::1] xt,
                    const int64_t[::1] corr_index, const double[:, :, ::1] corr,
                    const double[:, ::1] bread, double[:, ::1] adjusted, double[:, ::1] scores):
    """Per pair p: ``scores[p] = X~_p' e_p`` and ``adjusted[p] = X~_p' u_p`` with
    ``u_p = je_p + JU_p coef``, ``coef = (I - V X~_p' JU_p)^{-1} V X~_p' je_p``, where
    mode 0 (pair effects): ``je = e + H_p aux_p``, ``JU_m = H_p (x~_m + corr[corr_index[p], m])``
    (the correction only where ``corr_index[p] >= 0``); mode 1 (no pair effects):
    ``j = 1 / (1 - mu aux)``, ``je = j e``, ``JU_m = mu j x~_m``."""
    cdef Py_ssize_t t = e.shape[1]
    cdef Py_ssize_t k = xt.shape[0]
    cdef Py_ssize_t n_pairs = e.shape[0]
    cdef Py_ssize_t n_blocks = (n_pairs + 1023) // 1024
    cdef Py_ssize_t b, p, s, l, m, a, piv, ci
    cdef double* buf
    cdef double* mx
    cdef double* lhs
    cdef double* v
    cdef double* rhs
    cdef double* jp
    cdef double* jus
    cdef double* um
    cdef const double* xl
    cdef const double* ep
    cdef const double* lp
    cdef const double* ap
    cdef double acc, acc2, best, tmp, f, total, dot, jj
    cdef uint8_t[::1] failed = bytearray(max(n_blocks, 1))
    with nogil:
        for b in prange(n_blocks, schedule="dynamic", chunksize=1):
            buf = <double*> malloc((2 * k * k + 2 * k + t + k * t + 1) * sizeof(double))
            if buf == NULL:
                failed[b] = 1
                continue
            mx = buf
            lhs = mx + k * k
            v = lhs + k * k
            rhs = v + k
            jp = rhs + k
            jus = jp + t
            for p in range(b * 1024, min((b + 1) * 1024, n_pairs)):
                ep = &e[p, 0]
                lp = &lam[p, 0]
                ap = &aux[p, 0]
                if mode == 0:
                    total = 0.0
                    dot = 0.0
                    for s in range(t):
                        total = total + lp[s]
                        dot = dot + lp[s] * ap[s]
                    dot = dot / total
                    for s in range(t):
                        jp[s] = ep[s] + lp[s] * (ap[s] - dot)
                    ci = corr_index[p]
                    for m in range(k):
                        um = jus + m * t
                        xl = &xt[m, p, 0]
                        for s in range(t):
                            um[s] = xl[s]
                        if ci >= 0:
                            for s in range(t):
                                um[s] += corr[ci, m, s]
                        dot = 0.0
                        for s in range(t):
                            dot = dot + lp[s] * um[s]
                        dot = dot / total
                        for s in range(t):
                            um[s] = lp[s] * (um[s] - dot)
                else:
                    um = jus + (k - 1) * t  # scratch for mu j until the last plane is written
                    for s in range(t):
                        jj = 1.0 / (1.0 - lp[s] * ap[s])
                        jp[s] = jj * ep[s]
                        um[s] = lp[s] * jj
                    for m in range(k):  # the last plane last: it overwrites mu j
                        xl = &xt[m, p, 0]
                        for s in range(t):
                            jus[m * t + s] = um[s] * xl[s]
                for l in range(k):
                    xl = &xt[l, p, 0]
                    acc = 0.0
                    acc2 = 0.0
                    for s in range(t):
                        acc = acc + xl[s] * jp[s]
                        acc2 = acc2 + xl[s] * ep[s]
                    v[l] = acc
                    scores[p, l] = acc2
                    for m in range(k):
                        um = jus + m * t
                        acc = 0.0
                        for s in range(t):
                            acc = acc + xl[s] * um[s]
                        mx[l * k + m] = acc
                # lhs = I - V mx, rhs = V v
                for l in range(k):
                    acc = 0.0
                    for a in range(k):
                        acc = acc + bread[l, a] * v[a]
                    rhs[l] = acc
                    for m in range(k):
                        acc = 0.0
                        for a in range(k):
                            acc = acc + bread[l, a] * mx[a * k + m]
                        lhs[l * k + m] = (1.0 if l == m else 0.0) - acc
                # Gaussian elimination with partial pivoting (k is small).
                for a in range(k):
                    piv = a
                    best = fabs(lhs[a * k + a])
                    for l in range(a + 1, k):
                        if fabs(lhs[l * k + a]) > best:
                            best = fabs(lhs[l * k + a])
                            piv = l
                    if piv != a:
                        for m in range(k):
                            tmp = lhs[a * k + m]
                            lhs[a * k + m] = lhs[piv * k + m]
                            lhs[piv * k + m] = tmp
                        tmp = rhs[a]
                        rhs[a] = rhs[piv]
                        rhs[piv] = tmp
                    for l in range(a + 1, k):
                        f = lhs[l * k + a] / lhs[a * k + a]
                        for m in range(a, k):
                            lhs[l * k + m] -= f * lhs[a * k + m]
                        rhs[l] -= f * rhs[a]
                for a in range(k - 1, -1, -1):
                    acc = rhs[a]
                    for m in range(a + 1, k):
                        acc = acc - lhs[a * k + m] * rhs[m]
                    rhs[a] = acc / lhs[a * k + a]
                for l in range(k):  # X~' u = X~' je + (X~' JU) coef
                    acc = v[l]
                    for m in range(k):
                        acc = acc + mx[l * k + m] * rhs[m]
                    adjusted[p, l] = acc
            free(buf)
    for b in range(n_blocks):
        if failed[b]:
            raise MemoryError("no memory for the adjusted scores")


def ones_ginverse(int threads, const double[:, :, ::1] matrices, double rtol,
                  double[:, :, ::1] out,
                  uint8_t[::1] good):
    """``out[m] = (H + s 1 1' / n)^{-1}`` over the periods with data (zero rows and columns
    elsewhere), ``s`` the mean of those diagonal entries and ``n`` their number, by a Cholesky
    factorisation; ``good[m]`` is 0 where it finds the matrix not safely positive definite."""
    cdef Py_ssize_t t = matrices.shape[1]
    cdef Py_ssize_t n = matrices.shape[0]
    cdef Py_ssize_t i, s, q
    cdef double* a
    cdef const double* h
    cdef double scale, n_active, d, pmin, pmax
    cdef int nn, info
    cdef char lower = b"L"
    cdef uint8_t[::1] active_all = bytearray(max(n * t, 1))
    cdef uint8_t* active
    with nogil:
        for i in prange(n, schedule="dynamic", chunksize=1, num_threads=threads):
            h = &matrices[i, 0, 0]
            a = &out[i, 0, 0]
            active = &active_all[i * t]
            n_active = 0.0
            scale = 0.0
            for s in range(t):
                active[s] = h[s * t + s] > 0.0
                if active[s]:
                    n_active = n_active + 1.0
                    scale = scale + h[s * t + s]
            if n_active < 1.0:
                n_active = 1.0
            scale = scale / n_active / n_active
            for s in range(t):
                for q in range(t):
                    a[s * t + q] = h[s * t + q] + (scale if active[s] and active[q] else 0.0)
                if not active[s]:
                    a[s * t + s] += 1.0
            # Symmetric: the row-major upper triangle is LAPACK's column-major lower one.
            nn = <int> t
            _dpotrf(&lower, &nn, a, &nn, &info)
            if info != 0:
                good[i] = 0
                continue
            pmin = a[0] * a[0]
            pmax = pmin
            for s in range(t):
                d = a[s * t + s] * a[s * t + s]
                if d < pmin:
                    pmin = d
                if d > pmax:
                    pmax = d
            if pmin <= rtol * pmax:
                good[i] = 0
                continue
            _dpotri(&lower, &nn, a, &nn, &info)
            if info != 0:
                good[i] = 0
                continue
            good[i] = 1
            for s in range(t):
                for q in range(s + 1):
                    if active[s] and active[q]:
                        a[s * t + q] = a[q * t + s]
                    else:
                        a[s * t + q] = 0.0
                        a[q * t + s] = 0.0


def period_cells(const int64_t[::1] values, const int64_t[::1] pair, int64_t low,
                 int64_t high, int64_t[::1] period):
    """Each row's period (the rank of its value among the values present, which lie in
    ``low .. high``) into ``period``; returns the number of periods and whether the cells
    ``pair * T + period`` strictly increase down the rows."""
    cdef Py_ssize_t n = values.shape[0]
    cdef Py_ssize_t width = high - low + 1
    cdef Py_ssize_t r, v
    cdef int64_t n_periods = 0
    cdef int64_t cell, previous = -1
    cdef bint increasing = True
    cdef int64_t* rank = <int64_t*> calloc(width, sizeof(int64_t))
    if rank == NULL:
        raise MemoryError("no memory for the table of periods")
    with nogil:
        for r in range(n):
            rank[values[r] - low] = 1
        for v in range(width):
            if rank[v]:
                rank[v] = n_periods
                n_periods += 1
        for r in range(n):
            period[r] = rank[values[r] - low]
            cell = pair[r] * n_periods + period[r]
            if cell <= previous:
                increasing = False
            previous = cell
    free(rank)
    return n_periods, increasing



cdef void _period_grid(const double[:, ::1] lam, const int64_t[::1] origin,
                       const int64_t[::1] destination, Py_ssize_t period, Py_ssize_t n_j,
                       double* grid) noexcept nogil:
    """The (origins x destinations) means of one period into a zeroed ``grid`` (zero where a
    pair is missing)."""
    cdef Py_ssize_t p
    for p in range(lam.shape[0]):
        grid[origin[p] * n_j + destination[p]] = lam[p, period]


def period_schur(int threads, const double[:, ::1] lam, const int64_t[::1] origin,
                 const int64_t[::1] destination, Py_ssize_t first, double[:, ::1] inv_rows,
                 double[:, :, ::1] schur):
    """Per period first + t, with the (origins x destinations) means Lambda, row sums r and
    column sums c: ``inv_rows[t] = 1 / r`` (0 for an origin without flows) and the Schur
    complement on the destinations ``schur[t] = diag(c) - Lambda' D_r^-1 Lambda`` (one BLAS
    dsyrk), periods in parallel."""
    cdef Py_ssize_t n_t = schur.shape[0]
    cdef Py_ssize_t n_i = inv_rows.shape[1]
    cdef Py_ssize_t n_j = schur.shape[1]
    cdef Py_ssize_t t, i, j, q
    cdef double* grid
    cdef double* cols
    cdef double* out
    cdef double total, root, v
    cdef double one = 1.0
    cdef double zero = 0.0
    cdef int nn, kk
    cdef char lower = b"L"
    cdef char no = b"N"
    cdef uint8_t[::1] failed = bytearray(max(n_t, 1))
    with nogil:
        for t in prange(n_t, schedule="dynamic", chunksize=1, num_threads=threads):
            grid = <double*> calloc(n_i * n_j + n_j + 1, sizeof(double))
            if grid == NULL:
                failed[t] = 1
                continue
            cols = grid + n_i * n_j
            out = &schur[t, 0, 0]
            _period_grid(lam, origin, destination, first + t, n_j, grid)
            for i in range(n_i):
                total = 0.0
                for j in range(n_j):
                    total = total + grid[i * n_j + j]
                    cols[j] += grid[i * n_j + j]
                inv_rows[t, i] = 1.0 / total if total > 0.0 else 0.0
                root = sqrt(inv_rows[t, i])
                for j in range(n_j):
                    grid[i * n_j + j] *= root
            # Column-major the scaled grid is destinations x origins, G, and G G' is
            # Lambda' D_r^-1 Lambda; its lower triangle is the row-major upper one.
            nn = <int> n_j
            kk = <int> n_i
            _dsyrk(&lower, &no, &nn, &kk, &one, grid, &nn, &zero, out, &nn)
            for j in range(n_j):
                for q in range(j + 1, n_j):
                    v = -out[j * n_j + q]
                    out[j * n_j + q] = v
                    out[q * n_j + j] = v
                out[j * n_j + j] = cols[j] - out[j * n_j + j]
            free(grid)
    for t in range(n_t):
        if failed[t]:
            raise MemoryError("no memory for the period grids of the two-way leverage")


def period_leverage(int threads, const double[:, ::1] lam, const int64_t[::1] origin,
                    const int64_t[::1] destination, Py_ssize_t first,
                    const double[:, ::1] inv_rows, const double[:, :, ::1] s_inv,
                    double[:, ::1] h):
    """Per period first + t and pair p = (i, j): the leverage weight of its origin-time and
    destination-time effects ``h[first + t, p] = 1/r_i + (R S+ R')_ii + S+_jj - 2 (R S+)_ij``
    (``h`` is periods x pairs) with ``R = D_r^-1 Lambda``, ``1/r = inv_rows[t]`` and
    ``S+ = s_inv[t]``; ``R S+`` is one BLAS product a period, periods in parallel."""
    cdef Py_ssize_t n_t = s_inv.shape[0]
    cdef Py_ssize_t n_i = inv_rows.shape[1]
    cdef Py_ssize_t n_j = s_inv.shape[1]
    cdef Py_ssize_t t, i, j, p
    cdef double* grid
    cdef double* rs
    cdef double* own
    cdef const double* sp
    cdef double acc
    cdef double one = 1.0
    cdef double zero = 0.0
    cdef int nn, mm
    cdef char no = b"N"
    cdef uint8_t[::1] failed = bytearray(max(n_t, 1))
    with nogil:
        for t in prange(n_t, schedule="dynamic", chunksize=1, num_threads=threads):
            grid = <double*> calloc(2 * n_i * n_j + n_i + 1, sizeof(double))
            if grid == NULL:
                failed[t] = 1
                continue
            rs = grid + n_i * n_j
            own = rs + n_i * n_j
            sp = &s_inv[t, 0, 0]
            _period_grid(lam, origin, destination, first + t, n_j, grid)
            for i in range(n_i):
                for j in range(n_j):
                    grid[i * n_j + j] *= inv_rows[t, i]  # R
            # Row-major rs = R S+; column-major rs' = S+ R' (S+ symmetric).
            nn = <int> n_j
            mm = <int> n_i
            _dgemm(&no, &no, &nn, &mm, &nn, &one, <double*> sp, &nn, grid, &nn, &zero, rs, &nn)
            for i in range(n_i):
                acc = 0.0
                for j in range(n_j):
                    acc = acc + rs[i * n_j + j] * grid[i * n_j + j]
                own[i] = inv_rows[t, i] + acc
            for p in range(lam.shape[0]):
                i = origin[p]
                j = destination[p]
                h[first + t, p] = own[i] + sp[j * n_j + j] - 2.0 * rs[i * n_j + j]
            free(grid)
    for t in range(n_t):
        if failed[t]:
            raise MemoryError("no memory for the period grids of the two-way leverage")
