# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled passes of the PPML IRLS step, built by pip at install time.

:mod:`migtrade.estimation.kernels_poisson` is the module to import. Each function is one pass over
the rows in place of the five to eight NumPy passes (and their fresh arrays) it replaces; sums are
taken in ``CHUNKS`` blocks of rows, each in row order, then added in block order, so they do not
depend on the number of threads.
"""

from cython.parallel cimport prange
from libc.math cimport exp, isfinite
from libc.stdint cimport int32_t, int64_t
from libc.stdlib cimport calloc, free

cdef enum:
    CHUNKS = 32
    # Below this many rows a pass runs on the calling thread alone (waking a team costs more).
    PARALLEL_MIN_ROWS = 100_000


cdef void _predict_rows(const double* z, const double* zt, const double* xt, Py_ssize_t ldx,
                        Py_ssize_t k, const double* beta, const double* off, bint has_off,
                        double* z_fe, double* eta, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef double fe, fit
    for i in range(lo, hi):
        fe = z[i] - zt[i]
        fit = 0.0
        for j in range(k):
            fit = fit + xt[i + j * ldx] * beta[j]
        z_fe[i] = fe
        if has_off:
            eta[i] = (fe + fit) + off[i]
        else:
            eta[i] = fe + fit


def predict(const double[::1] z, const double[::1] zt, const double[::1, :] xt,
            const double[::1] beta, const double[::1] off, double[::1] z_fe, double[::1] eta):
    """z_fe = z - zt (the fixed-effect part of the working variable) and the new linear predictor
    eta = z_fe + xt beta (+ off when ``off`` has a row for every row)."""
    cdef Py_ssize_t n = z.shape[0]
    cdef Py_ssize_t k = xt.shape[1]
    cdef Py_ssize_t ldx = xt.strides[1] // sizeof(double) if k else 0
    cdef bint has_off = off.shape[0] == n and n > 0
    cdef const double* xb = &xt[0, 0] if n and k else NULL
    cdef const double* ob = &off[0] if has_off else NULL
    cdef const double* bb = &beta[0] if k else NULL
    cdef Py_ssize_t c
    if not n:
        return
    with nogil:
        if n < PARALLEL_MIN_ROWS:
            _predict_rows(&z[0], &zt[0], xb, ldx, k, bb, ob, has_off, &z_fe[0], &eta[0], 0, n)
        else:
            for c in prange(CHUNKS, schedule="static"):
                _predict_rows(&z[0], &zt[0], xb, ldx, k, bb, ob, has_off, &z_fe[0], &eta[0],
                              n * c // CHUNKS, n * (c + 1) // CHUNKS)


cdef void _means_rows(const double* eta, const double* wy, const double* w, double cap,
                      double* mu, Py_ssize_t lo, Py_ssize_t hi, double* out) noexcept nogil:
    cdef Py_ssize_t i
    cdef double e, m
    cdef double s_eta = 0.0, s_mu = 0.0, bad = 0.0
    for i in range(lo, hi):
        e = eta[i]
        if not (isfinite(e) and e < cap):
            bad = 1.0
            mu[i] = 0.0
            continue
        m = exp(e)
        mu[i] = m
        s_eta = s_eta + wy[i] * e
        s_mu = s_mu + w[i] * m
    out[0] = s_eta
    out[1] = s_mu
    out[2] = bad


def means(const double[::1] eta, const double[::1] wy, const double[::1] w, double cap,
          double[::1] mu):
    """mu = exp(eta), and (ok, sum wy eta, sum w mu): ok is False when some eta is not finite
    or not below ``cap`` (the sums and those rows' means are then meaningless)."""
    cdef Py_ssize_t n = eta.shape[0]
    cdef double* parts = <double*> calloc(3 * CHUNKS, sizeof(double))
    cdef Py_ssize_t c
    cdef double s_eta = 0.0, s_mu = 0.0, bad = 0.0
    if parts == NULL:
        raise MemoryError("no memory for the partial sums of the Poisson means")
    if n:
        with nogil:
            if n < PARALLEL_MIN_ROWS:
                for c in range(CHUNKS):
                    _means_rows(&eta[0], &wy[0], &w[0], cap, &mu[0], n * c // CHUNKS,
                                n * (c + 1) // CHUNKS, parts + 3 * c)
            else:
                for c in prange(CHUNKS, schedule="static"):
                    _means_rows(&eta[0], &wy[0], &w[0], cap, &mu[0], n * c // CHUNKS,
                                n * (c + 1) // CHUNKS, parts + 3 * c)
    for c in range(CHUNKS):
        s_eta = s_eta + parts[3 * c]
        s_mu = s_mu + parts[3 * c + 1]
        bad = bad + parts[3 * c + 2]
    free(parts)
    return bad == 0.0, s_eta, s_mu


cdef void _working_rows(const double* eta, const double* mu, const double* y, const double* w,
                        const double* off, bint has_off, const double* z_fe, double* irls_w,
                        double* z, double* start, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef Py_ssize_t i
    cdef double m, zi
    for i in range(lo, hi):
        m = mu[i]
        irls_w[i] = w[i] * m
        if has_off:
            zi = (y[i] - m) / m + (eta[i] - off[i])
        else:
            zi = (y[i] - m) / m + eta[i]
        z[i] = zi
        start[i] = zi - z_fe[i]


def working(const double[::1] eta, const double[::1] mu, const double[::1] y,
            const double[::1] w, const double[::1] off, const double[::1] z_fe,
            double[::1] irls_w, double[::1] z, double[::1] start):
    """The next step's weights irls_w = w mu, working variable z = (y - mu) / mu + eta (- off)
    and warm start z - z_fe; ``z`` may be the array that held the last working variable."""
    cdef Py_ssize_t n = eta.shape[0]
    cdef bint has_off = off.shape[0] == n and n > 0
    cdef const double* ob = &off[0] if has_off else NULL
    cdef Py_ssize_t c
    if not n:
        return
    with nogil:
        if n < PARALLEL_MIN_ROWS:
            _working_rows(&eta[0], &mu[0], &y[0], &w[0], ob, has_off, &z_fe[0], &irls_w[0],
                          &z[0], &start[0], 0, n)
        else:
            for c in prange(CHUNKS, schedule="static"):
                _working_rows(&eta[0], &mu[0], &y[0], &w[0], ob, has_off, &z_fe[0],
                              &irls_w[0], &z[0], &start[0], n * c // CHUNKS,
                              n * (c + 1) // CHUNKS)


def start_means(const int32_t[:, ::1] codes, const int64_t[::1] n_levels, const double[::1] y,
                const double[::1] w, double ybar, double[::1] out):
    """The IRLS start ``(y + m) / 2``, with m one sweep of iterative proportional fitting of the
    fixed-effects-only Poisson model from ``ybar``, written into ``out``: each dimension in turn
    rescales every group's means to the group's observed total (a group with no positive
    outcome, or no fitted total, keeps its means). The sums run in row order, as np.bincount's."""
    cdef Py_ssize_t q_count = codes.shape[0]
    cdef Py_ssize_t n = out.shape[0]
    cdef Py_ssize_t i, q, g, widest = 1
    cdef int32_t level
    for q in range(q_count):
        if n_levels[q] > widest:
            widest = n_levels[q]
    cdef double* observed = <double*> calloc(widest, sizeof(double))
    cdef double* fitted = <double*> calloc(widest, sizeof(double))
    if observed == NULL or fitted == NULL:
        free(observed)
        free(fitted)
        raise MemoryError("no memory for the start values' group sums")
    with nogil:
        for i in range(n):
            out[i] = ybar
        for q in range(q_count):
            for g in range(n_levels[q]):
                observed[g] = 0.0
                fitted[g] = 0.0
            for i in range(n):
                level = codes[q, i]
                observed[level] += w[i] * y[i]
                fitted[level] += w[i] * out[i]
            for g in range(n_levels[q]):
                if observed[g] > 0 and fitted[g] > 0:
                    observed[g] = observed[g] / fitted[g]
                else:
                    observed[g] = 1.0
            for i in range(n):
                out[i] *= observed[codes[q, i]]
        for i in range(n):
            out[i] = 0.5 * (y[i] + out[i])
    free(observed)
    free(fitted)
