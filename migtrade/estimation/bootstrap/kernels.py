"""Compiled passes over the bootstrap draws: linear and quadratic forms of the weights.

The score bootstrap's statistic depends on each draw v only through a few sums over clusters,
``P @ v`` (a handful of linear forms) and ``d @ v**2``; these kernels compute them for a block of
draws straight from packed sign bits or from value codes, in parallel over draws, without ever
building the (draws x clusters) matrix of weights.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def forms_from_bits(bits: np.ndarray, P: np.ndarray, d: np.ndarray,
                    lin: np.ndarray, quad: np.ndarray) -> None:  # pragma: no cover - compiled
    """``lin[r] = P @ v_r`` and ``quad[r] = d @ v_r**2`` for Rademacher draws packed in bits."""
    rows = bits.shape[0]
    m, g = P.shape
    total = np.zeros(m)
    for k in range(m):
        for c in range(g):
            total[k] += P[k, c]
    dsum = 0.0
    for c in range(g):
        dsum += d[c]
    for r in prange(rows):
        acc = np.zeros(m)
        for c in range(g):
            if (bits[r, c >> 3] >> (c & 7)) & 1:
                for k in range(m):
                    acc[k] += P[k, c]
        for k in range(m):
            lin[r, k] = 2.0 * acc[k] - total[k]
        quad[r] = dsum  # v**2 = 1


@njit(cache=True, parallel=True)
def forms_from_codes(codes: np.ndarray, values: np.ndarray, P: np.ndarray, d: np.ndarray,
                     lin: np.ndarray, quad: np.ndarray) -> None:  # pragma: no cover - compiled
    """The same sums for draws given as indexes into ``values``."""
    rows = codes.shape[0]
    m, g = P.shape
    for r in prange(rows):
        acc = np.zeros(m)
        q = 0.0
        for c in range(g):
            v = values[codes[r, c]]
            for k in range(m):
                acc[k] += v * P[k, c]
            q += v * v * d[c]
        for k in range(m):
            lin[r, k] = acc[k]
        quad[r] = q
