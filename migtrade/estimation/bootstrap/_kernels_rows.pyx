# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled passes over the rows for the score bootstrap's restricted fits and the path of
restricted fits, built by pip at install time.

:mod:`migtrade.estimation.bootstrap.kernels_rows` is the module to import and documents them.
"""

from cython.parallel cimport prange
from libc.stdint cimport uint8_t
from libc.stdlib cimport calloc, free


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
