"""Compiled loop of the local leverage correction (:mod:`migtrade.estimation.bias_variance`).

Each pair g of country c solves ``(H_c - H_g) w = r_g`` by ``w <- G_c (r_g + H_g w)`` with
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


@njit(cache=True, parallel=True)
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
