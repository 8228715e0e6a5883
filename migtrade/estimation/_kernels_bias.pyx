# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled loops of the bias corrections, built by pip at install time.

:mod:`migtrade.estimation.kernels_bias` is the module to import and documents them. Countries
run in parallel; each one's scratch arrays are allocated in its own iteration. Arrays are
C-ordered (the Python module makes them so), which lets the compiler see unit strides.
"""

from cython.parallel cimport prange
from libc.math cimport fabs, sqrt
from libc.stdint cimport int64_t, uint8_t
from libc.stdlib cimport calloc, free, malloc


def leave_out_iterate(const int64_t[::1] order, const int64_t[::1] bounds,
                      const double[:, ::1] lam, const double[:, ::1] r,
                      const double[:, :, ::1] ginv, const uint8_t[::1] skip, double tol,
                      int64_t max_iter, double[:, ::1] w, uint8_t[::1] late):
    """``w_g = (H_c - H_g)^+ r_g`` per pair by the iteration ``w <- G_c (r_g + H_g w)``;
    country c's pairs are ``order[bounds[c]:bounds[c + 1]]``."""
    cdef Py_ssize_t t = lam.shape[1]
    cdef Py_ssize_t n_countries = bounds.shape[0] - 1
    cdef Py_ssize_t c, i, p, s, a, it
    cdef double* v
    cdef double* step
    cdef double* hw
    cdef const double* lp
    cdef const double* rp
    cdef const double* g
    cdef const double* grow
    cdef double total, size, dot, change, new, va
    cdef bint done
    cdef uint8_t[::1] failed = bytearray(max(n_countries, 1))
    with nogil:
        for c in prange(n_countries, schedule="dynamic", chunksize=1):
            v = <double*> malloc((3 * t + 1) * sizeof(double))
            if v == NULL:
                failed[c] = 1
                continue
            step = v + t
            hw = v + 2 * t
            g = &ginv[c, 0, 0]
            for i in range(bounds[c], bounds[c + 1]):
                p = order[i]
                if skip[p]:
                    continue
                # Raw row pointers: the compiler sees unit strides and vectorises the updates.
                lp = &lam[p, 0]
                rp = &r[p, 0]
                total = 0.0
                size = 0.0
                for s in range(t):
                    total = total + lp[s]
                    if fabs(rp[s]) > size:
                        size = fabs(rp[s])
                    hw[s] = 0.0
                done = False
                for it in range(max_iter):
                    for s in range(t):
                        v[s] = rp[s] + hw[s]
                    for s in range(t):
                        step[s] = 0.0
                    for a in range(t):  # step = v @ G_c
                        va = v[a]
                        if va != 0.0:
                            grow = g + a * t
                            for s in range(t):
                                step[s] += va * grow[s]
                    dot = 0.0
                    for s in range(t):
                        dot = dot + lp[s] * step[s]
                    dot = dot / total
                    change = 0.0
                    for s in range(t):
                        new = lp[s] * (step[s] - dot)  # H_g step
                        if fabs(new - hw[s]) > change:
                            change = fabs(new - hw[s])
                        hw[s] = new
                    if change <= tol * size:
                        done = True
                        break
                for s in range(t):
                    w[p, s] = step[s]
                late[p] = not done
            free(v)
    for c in range(n_countries):
        if failed[c]:
            raise MemoryError("no memory for the leave-out iteration")


def side_sums(const int64_t[::1] order, const int64_t[::1] bounds, const double[:, ::1] lam,
              const double[:, ::1] e, const double[:, :, ::1] xt, double[:, :, ::1] hessian,
              double[:, :, ::1] scores, double[:, :, :, ::1] cross, double[:, :, :, ::1] third):
    """Per country: the Hessian, score, cross and third-derivative sums over its pairs
    ``order[bounds[c]:bounds[c + 1]]``."""
    cdef Py_ssize_t t = lam.shape[1]
    cdef Py_ssize_t k = xt.shape[2]
    cdef Py_ssize_t n_countries = bounds.shape[0] - 1
    cdef Py_ssize_t c, i, p, s, q, m, tt, kt, ktt
    cdef double* buf
    cdef double* h
    cdef double* s_
    cdef double* cr
    cdef double* a
    cdef double* dl
    cdef double* dlx
    cdef double* u
    cdef double* hx
    cdef double* ax
    cdef const double* lp
    cdef const double* ep
    cdef const double* xp
    cdef double total, root, proj, lx, us, es, axs
    cdef uint8_t[::1] failed = bytearray(max(n_countries, 1))
    tt = t * t
    kt = k * t
    ktt = k * t * t
    with nogil:
        for c in prange(n_countries, schedule="dynamic", chunksize=1):
            # h, s_ (T x T), cr, a (k x T x T), dl (T), dlx (k x T) start at zero; u, hx, ax
            # are overwritten before they are read.
            buf = <double*> calloc(2 * tt + 2 * ktt + t + kt + t + 2 * kt + 1, sizeof(double))
            if buf == NULL:
                failed[c] = 1
                continue
            h = buf
            s_ = h + tt
            cr = s_ + tt
            a = cr + ktt
            dl = a + ktt
            dlx = dl + t
            u = dlx + kt
            hx = u + t
            ax = hx + kt
            for i in range(bounds[c], bounds[c + 1]):
                p = order[i]
                lp = &lam[p, 0]
                ep = &e[p, 0]
                xp = &xt[p, 0, 0]
                total = 0.0
                for s in range(t):
                    total = total + lp[s]
                root = sqrt(total)
                for s in range(t):
                    u[s] = lp[s] / root
                    dl[s] += lp[s]
                for m in range(k):
                    proj = 0.0
                    for s in range(t):
                        proj = proj + lp[s] * xp[s * k + m]
                    proj = proj / total
                    for s in range(t):
                        lx = lp[s] * xp[s * k + m]
                        dlx[m * t + s] += lx
                        hx[m * t + s] = lx - lp[s] * proj
                        ax[m * t + s] = lx / root
                for s in range(t):
                    us = u[s]
                    es = ep[s]
                    for q in range(t):
                        h[s * t + q] += us * u[q]
                        s_[s * t + q] += es * ep[q]
                    for m in range(k):
                        axs = ax[m * t + s]
                        for q in range(t):
                            cr[m * tt + s * t + q] += es * hx[m * t + q]
                            a[m * tt + s * t + q] += axs * u[q]
            for s in range(t):
                for q in range(t):
                    hessian[c, s, q] = -h[s * t + q]
                    scores[c, s, q] = s_[s * t + q]
                    for m in range(k):
                        cross[c, m, s, q] = cr[m * tt + s * t + q]
                        third[c, m, s, q] = a[m * tt + s * t + q] + a[m * tt + q * t + s]
                hessian[c, s, s] += dl[s]
                for m in range(k):
                    third[c, m, s, s] -= 2.0 * dlx[m * t + s]
            free(buf)
    for c in range(n_countries):
        if failed[c]:
            raise MemoryError("no memory for the per-country sums of the bias correction")


def pair_hessian_times(const double[:, ::1] lam, const double[:, :, ::1] v, double[:, :, ::1] out):
    """``out[p, r] = H_p v[p, r]`` with ``H_p = diag(mu_p) - mu_p mu_p' / sum(mu_p)``."""
    cdef Py_ssize_t t = lam.shape[1]
    cdef Py_ssize_t p, r, s
    cdef const double* lp
    cdef const double* vp
    cdef double* op
    cdef double total, dot
    with nogil:
        for p in prange(lam.shape[0], schedule="static"):
            lp = &lam[p, 0]
            total = 0.0
            for s in range(t):
                total = total + lp[s]
            for r in range(v.shape[1]):
                vp = &v[p, r, 0]
                op = &out[p, r, 0]
                dot = 0.0
                for s in range(t):
                    dot = dot + lp[s] * vp[s]
                dot = dot / total
                for s in range(t):
                    op[s] = lp[s] * (vp[s] - dot)
