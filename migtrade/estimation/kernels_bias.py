"""Compiled loops of the bias corrections (:mod:`migtrade.estimation.bias`).

:func:`side_sums` makes the per-country T x T sums of the Weidner-Zylkin bias in one pass over
each country's pairs, countries in parallel; :func:`pair_hessian_times` applies every pair's
Hessian block to vectors without temporaries.

:func:`leave_out_iterate`, for the local leverage correction
(:mod:`migtrade.estimation.bias_variance`): each pair g of country c solves ``(H_c - H_g) w = r_g`` by ``w <- G_c (r_g + H_g w)`` with
``G_c`` a generalized inverse of ``H_c``; the iteration contracts at the rate of the pair's
share in its country's flows, so most pairs stop after two or three steps. Pairs are independent:
one country's pairs run on one thread, its T x T matrix staying in cache, countries in
parallel. A pair stops when ``H_g w`` (what the correction uses) moves by no more than ``tol``
times the largest element of ``r_g``; ``late`` marks pairs still moving after ``max_iter``
steps, left to a direct solve.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True, fastmath=True)
def leave_out_iterate(bounds, lam, r, ginv, skip, tol, max_iter, w, late):  # pragma: no cover
    t = lam.shape[1]
    for c in prange(bounds.shape[0] - 1):
        g = ginv[c]
        v = np.empty(t)
        step = np.empty(t)
        hw = np.empty(t)
        for p in range(bounds[c], bounds[c + 1]):
            if skip[p]:
                continue
            total = 0.0
            size = 0.0
            for s in range(t):
                total += lam[p, s]
                size = max(size, abs(r[p, s]))
                hw[s] = 0.0
            done = False
            for _ in range(max_iter):
                for s in range(t):
                    v[s] = r[p, s] + hw[s]
                for s in range(t):
                    step[s] = 0.0
                for a in range(t):  # step = v @ G_c
                    va = v[a]
                    if va != 0.0:
                        for s in range(t):
                            step[s] += va * g[a, s]
                dot = 0.0
                for s in range(t):
                    dot += lam[p, s] * step[s]
                dot /= total
                change = 0.0
                for s in range(t):
                    new = lam[p, s] * (step[s] - dot)  # H_g step
                    change = max(change, abs(new - hw[s]))
                    hw[s] = new
                if change <= tol * size:
                    done = True
                    break
            for s in range(t):
                w[p, s] = step[s]
            late[p] = not done


@njit(cache=True, parallel=True, fastmath=True)
def side_sums(bounds, lam, e, xt, hessian, scores, cross, third):  # pragma: no cover
    """Per country c, over its pairs g: ``H_c = sum diag(mu) - mu mu'/sum mu``,
    ``S_c = sum e e'``, ``C_ck = sum e (H_g x~_k)'`` and the third-derivative sum
    ``G_ck = A + A' - 2 diag(sum mu x~_k)`` with ``A = sum (mu x~_k) mu' / sum mu``; ``xt`` is
    (pairs, T, k). Countries in parallel, one pass over each pair."""
    t = lam.shape[1]
    k = xt.shape[2]
    for c in prange(bounds.shape[0] - 1):
        h = np.zeros((t, t))
        s_ = np.zeros((t, t))
        cr = np.zeros((k, t, t))
        a = np.zeros((k, t, t))
        dl = np.zeros(t)
        dlx = np.zeros((k, t))
        u = np.empty(t)
        hx = np.empty((k, t))
        ax = np.empty((k, t))
        for p in range(bounds[c], bounds[c + 1]):
            total = 0.0
            for s in range(t):
                total += lam[p, s]
            root = np.sqrt(total)
            for s in range(t):
                u[s] = lam[p, s] / root
                dl[s] += lam[p, s]
            for m in range(k):
                proj = 0.0
                for s in range(t):
                    proj += lam[p, s] * xt[p, s, m]
                proj /= total
                for s in range(t):
                    lx = lam[p, s] * xt[p, s, m]
                    dlx[m, s] += lx
                    hx[m, s] = lx - lam[p, s] * proj
                    ax[m, s] = lx / root
            for s in range(t):
                us = u[s]
                es = e[p, s]
                for q in range(t):
                    h[s, q] += us * u[q]
                    s_[s, q] += es * e[p, q]
                for m in range(k):
                    axs = ax[m, s]
                    for q in range(t):
                        cr[m, s, q] += es * hx[m, q]
                        a[m, s, q] += axs * u[q]
        for s in range(t):
            for q in range(t):
                hessian[c, s, q] = -h[s, q]
                scores[c, s, q] = s_[s, q]
                for m in range(k):
                    cross[c, m, s, q] = cr[m, s, q]
                    third[c, m, s, q] = a[m, s, q] + a[m, q, s]
            hessian[c, s, s] += dl[s]
            for m in range(k):
                third[c, m, s, s] -= 2.0 * dlx[m, s]


@njit(cache=True, parallel=True, fastmath=True)
def pair_hessian_times(lam, v, out):  # pragma: no cover
    """``out[p, r] = H_p v[p, r]`` with ``H_p = diag(mu_p) - mu_p mu_p' / sum(mu_p)``, for
    (pairs, R, T) ``v`` and ``out`` (which may be ``v`` itself)."""
    t = lam.shape[1]
    for p in prange(lam.shape[0]):
        total = 0.0
        for s in range(t):
            total += lam[p, s]
        for r in range(v.shape[1]):
            dot = 0.0
            for s in range(t):
                dot += lam[p, s] * v[p, r, s]
            dot /= total
            for s in range(t):
                out[p, r, s] = lam[p, s] * (v[p, r, s] - dot)
