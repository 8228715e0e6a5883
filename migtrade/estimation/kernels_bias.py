"""Compiled loops of the bias corrections (:mod:`migtrade.estimation.bias`).

Per-pair arrays are (pairs, T) grids; the regressors come as planes (k, pairs, T), the layout
of a Fortran-ordered regressor matrix whose rows are already in pair and period order, so that
such data reach the loops without a copy.

:func:`side_sums` makes the per-country T x T sums of the Weidner-Zylkin bias as two matrix
products per block of each country's pairs (scipy's BLAS), countries in parallel.
:func:`pair_hessian_planes` applies every pair's Hessian block to vectors without temporaries.

:func:`leave_out_iterate`, for the local leverage correction
(:mod:`migtrade.estimation.bias_variance`): each pair g of country c solves ``(H_c - H_g) w = r_g``
by ``w <- G_c (r_g + H_g w)`` with ``G_c`` a generalized inverse of ``H_c``; the iteration
contracts at the rate of the pair's share in its country's flows, so most pairs stop after two
or three steps. Pairs are independent: one country's pairs run on one thread, its T x T matrix
staying in cache, countries in parallel. A pair stops when ``H_g w`` (what the correction uses)
moves by no more than ``tol`` times the largest element of ``r_g``; ``late`` marks pairs still
moving after ``max_iter`` steps, left to a direct solve. :func:`leave_out_direct` is that direct
solve, one Cholesky factorisation per pair, pairs in parallel. :func:`woodbury_scores` turns the
adjusted residuals into each pair's adjusted and plain scores in one pass.

The loops are C (:mod:`migtrade.estimation._kernels_bias`, compiled by pip at install time).
"""

from __future__ import annotations

import numpy as np

from migtrade.estimation import _kernels_bias


def leave_out_iterate(order: np.ndarray, bounds: np.ndarray, lam: np.ndarray, r: np.ndarray,
                      ginv: np.ndarray, skip: np.ndarray, tol: float, max_iter: int,
                      w: np.ndarray, late: np.ndarray) -> None:
    """Per pair p of country c (c's pairs are ``order[bounds[c]:bounds[c + 1]]``), not in the
    boolean ``skip``: ``w[p] += (H_c - H_p)^+ r[p]`` by the iteration of the module notes with
    ``ginv[c]`` = G_c; the boolean ``late[p]`` is set (and ``w[p]`` left as it was) where
    ``max_iter`` steps were not enough. Every per-pair array is in the pairs' own order (read
    through ``order``, no sorted copies). ``w`` and ``late`` are C-ordered."""
    _kernels_bias.leave_out_iterate(_index(order), _index(bounds), _c(lam), _c(r), _c(ginv),
                                    _as_bytes(np.ascontiguousarray(skip)), tol, max_iter, w,
                                    _as_bytes(late))


def side_sums(order: np.ndarray, bounds: np.ndarray, lam: np.ndarray, e: np.ndarray,
              xt: np.ndarray, hessian: np.ndarray, scores: np.ndarray, cross: np.ndarray,
              third: np.ndarray) -> None:
    """Per country c, over its pairs g (``order[bounds[c]:bounds[c + 1]]``, read in place):
    ``H_c = sum diag(mu) - mu mu'/sum mu``, ``S_c = sum e e'``, ``C_ck = sum e (H_g x~_k)'`` and
    the third-derivative sum ``G_ck = A + A' - 2 diag(sum mu x~_k)`` with
    ``A = sum (mu x~_k) mu' / sum mu``; ``xt`` is (k, pairs, T). The four outputs are
    C-ordered."""
    _kernels_bias.side_sums(_index(order), _index(bounds), _c(lam), _c(e), _c(xt), hessian,
                            scores, cross, third)


def pair_hessian_planes(lam: np.ndarray, v: np.ndarray, out: np.ndarray) -> None:
    """``out[r, p] = H_p v[r, p]`` with ``H_p = diag(mu_p) - mu_p mu_p' / sum(mu_p)``, for
    (R, pairs, T) ``v`` and C-ordered ``out`` (which may be ``v`` itself)."""
    _kernels_bias.pair_hessian_planes(_c(lam), _c(v), out)


def leave_out_direct(rows: np.ndarray, country: np.ndarray, h_country: np.ndarray,
                     lam: np.ndarray, e: np.ndarray, u: np.ndarray, rtol: float,
                     check: float) -> tuple[np.ndarray, np.ndarray]:
    """``(H_c - H_g)^+ [e_g, u_1g .. u_kg]`` for the pairs ``rows`` of countries ``country``:
    (len(rows), 1 + k, T), and the pairs whose matrix was not safely positive definite or whose
    solution did not reproduce its right-hand side to ``check`` (relative), to be redone."""
    out = np.empty((len(rows), 1 + u.shape[0], lam.shape[1]))
    failed = np.zeros(len(rows), dtype=np.uint8)
    _kernels_bias.leave_out_direct(_index(rows), _index(country), _c(h_country), _c(lam), _c(e),
                                   _c(u), rtol, check, out, failed)
    return out, failed.view(np.bool_)


def woodbury_scores(je: np.ndarray, ju: np.ndarray, xt: np.ndarray, e: np.ndarray,
                    bread: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each pair's adjusted scores ``X~_p' u_p`` with ``u_p = (J_p^-1 - U_p V X~_p')^{-1} e_p``
    given ``J e`` (pairs, T) and ``J U`` (k, pairs, T), and its plain scores ``X~_p' e_p``:
    two (pairs, k) arrays."""
    k = xt.shape[0]
    adjusted = np.empty((je.shape[0], k))
    scores = np.empty((je.shape[0], k))
    _kernels_bias.woodbury_scores(_c(je), _c(ju), _c(xt), _c(e), _c(bread), adjusted, scores)
    return adjusted, scores


def ones_ginverse(matrices: np.ndarray, rtol: float) -> tuple[np.ndarray, np.ndarray]:
    """``(H + s 1 1' / n)^{-1}`` over the periods with data of each symmetric (m, T, T) matrix
    (zero rows and columns elsewhere; ``s`` the mean of their diagonal entries, ``n`` their
    number) by a Cholesky factorisation (scipy's LAPACK), matrices in parallel; and which were
    safely positive definite (smallest pivot above ``rtol`` times the largest)."""
    out = np.empty(matrices.shape)
    good = np.zeros(matrices.shape[0], dtype=np.uint8)
    _kernels_bias.ones_ginverse(_c(matrices), rtol, out, good)
    return out, good.view(np.bool_)


def _c(a: np.ndarray) -> np.ndarray:
    """A C-ordered float64 array (no copy when it is one), the layout the loops read."""
    return np.ascontiguousarray(a, dtype=np.float64)


def _index(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.int64)


def _as_bytes(flags: np.ndarray) -> np.ndarray:
    """A boolean array seen as bytes (no copy), the type the compiled loops take."""
    return flags.view(np.uint8) if flags.dtype == np.bool_ else flags
