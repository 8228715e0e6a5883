"""Compiled loops of the bias corrections (:mod:`migtrade.estimation.bias`).

Per-pair arrays are (pairs, T) grids; the regressors come as planes (k, pairs, T), the layout
of a Fortran-ordered regressor matrix whose rows are already in pair and period order, so that
such data reach the loops without a copy.

:func:`side_sums` makes the per-country T x T sums of the Weidner-Zylkin bias (Hessian and
scores) as symmetric products per block of each country's pairs (scipy's BLAS), countries in
parallel; :func:`bias_traces` then the traces of the bias terms, a second pass that never forms
the per-regressor T x T sums.

:func:`leave_out_iterate`, for the local leverage correction
(:mod:`migtrade.estimation.bias_variance`): each pair g of country c solves ``(H_c - H_g) w = r_g``
by ``w <- G_c (r_g + H_g w)`` with ``G_c`` a generalized inverse of ``H_c``; the iteration
contracts at the rate of the pair's share in its country's flows, so most pairs stop after two
or three steps. A country's pairs are iterated together, a block at a time (one BLAS product with
``G_c`` a step), countries in parallel. A pair stops when ``H_g w`` (what the correction uses)
moves by no more than ``tol`` times the largest element of ``r_g``; ``late`` marks pairs still
moving after ``max_iter`` steps, left to a direct solve. :func:`leave_out_direct` is that direct
solve, one Cholesky factorisation per pair, pairs in parallel. :func:`adjusted_scores` turns the
leave-out solutions (or the two-way leverage) into each pair's adjusted and plain scores in one
pass.

The loops are C (:mod:`migtrade.estimation._kernels_bias`, compiled by pip at install time).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator

import numpy as np

from migtrade.estimation import _kernels_bias


def leave_out_iterate(order: np.ndarray, bounds: np.ndarray, n_first: int, lam: np.ndarray,
                      r: np.ndarray, ginv: np.ndarray, skip: np.ndarray, tol: float,
                      max_iter: int, w: np.ndarray, late: np.ndarray) -> None:
    """Per pair p of country c (c's pairs are ``order[bounds[c]:bounds[c + 1]]``; side 0 for the
    countries below ``n_first``, 1 for the others), not in the boolean ``skip``:
    ``w[side, p] += (H_c - H_p)^+ r[p]`` by the iteration of the module notes with
    ``ginv[c]`` = G_c; the boolean ``late[side, p]`` is set (and ``w[side, p]`` left as it was)
    where ``max_iter`` steps were not enough. Every per-pair array is in the pairs' own order
    (read through ``order``, no sorted copies). ``w`` (2, pairs, T) and ``late`` (2, pairs) are
    C-ordered."""
    with _blas_on_one_thread() as threads:
        _kernels_bias.leave_out_iterate(threads, _index(order), _index(bounds), n_first,
                                        _c(lam), _c(r), _c(ginv),
                                        _as_bytes(np.ascontiguousarray(skip)), tol, max_iter, w,
                                        _as_bytes(late))


def side_sums(order: np.ndarray, bounds: np.ndarray, lam: np.ndarray,
              e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per country c, over its pairs g (``order[bounds[c]:bounds[c + 1]]``, read in place):
    ``H_c = sum diag(mu) - mu mu'/sum mu`` and ``S_c = sum e e'``, two (countries, T, T)
    arrays."""
    n, t = len(bounds) - 1, lam.shape[1]
    hessian, scores = np.empty((n, t, t)), np.empty((n, t, t))
    with _blas_on_one_thread() as threads:
        _kernels_bias.side_sums(threads, _index(order), _index(bounds), _c(lam), _c(e), hessian,
                                scores)
    return hessian, scores


def bias_traces(order: np.ndarray, bounds: np.ndarray, lam: np.ndarray, e: np.ndarray,
                xt: np.ndarray, hinv: np.ndarray, msm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per country c and regressor k, over its pairs g: ``B1 = tr(H+_c C_ck)``, with
    ``C_ck = sum e (H_g x~_k)'``, and ``B2 = tr(H+ G_ck H+ S_c)``, with the third-derivative sum
    ``G_ck = A + A' - 2 diag(sum mu x~_k)``, ``A = sum (mu x~_k) mu' / sum mu``, from
    ``hinv`` (H+) and ``msm`` (``H+ S H+`` plus its transpose), without forming C or G: each
    is one BLAS product with the block of the country's pairs and a dot product per pair.
    ``xt`` is (k, pairs, T). Two (countries, k) arrays."""
    n, k = len(bounds) - 1, xt.shape[0]
    b1, b2 = np.empty((n, k)), np.empty((n, k))
    with _blas_on_one_thread() as threads:
        _kernels_bias.bias_traces(threads, _index(order), _index(bounds), _c(lam), _c(e), _c(xt),
                                  _c(hinv), _c(msm), b1, b2)
    return b1, b2


def leave_out_direct(rows: np.ndarray, country: np.ndarray, h_country: np.ndarray,
                     lam: np.ndarray, e: np.ndarray, xt: np.ndarray, rtol: float,
                     check: float) -> tuple[np.ndarray, np.ndarray]:
    """``(H_c - H_g)^+ [e_g, H_g x~_1g .. H_g x~_kg]`` for the pairs ``rows`` of countries
    ``country`` (``xt``: (k, pairs, T)):
    (len(rows), 1 + k, T), and the pairs whose matrix was not safely positive definite or whose
    solution did not reproduce its right-hand side to ``check`` (relative), to be redone."""
    out = np.empty((len(rows), 1 + xt.shape[0], lam.shape[1]))
    failed = np.zeros(len(rows), dtype=np.uint8)
    with _blas_on_one_thread() as threads:
        _kernels_bias.leave_out_direct(threads, _index(rows), _index(country), _c(h_country),
                                       _c(lam), _c(e), _c(xt), rtol, check, out, failed)
    return out, failed.view(np.bool_)


def adjusted_scores(lam: np.ndarray, e: np.ndarray, xt: np.ndarray, bread: np.ndarray, *,
                    pair_solution: np.ndarray | None = None, corr_index: np.ndarray | None = None,
                    corr: np.ndarray | None = None,
                    leverage: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each pair's adjusted scores ``X~_p' u_p``, ``u_p = (J_p^-1 - U_p V X~_p')^{-1} e_p``, and
    its plain scores ``X~_p' e_p``: two (pairs, k) arrays, made pair by pair without a
    (k, pairs, T) temporary.

    With pair effects, ``J e = e + H_p w_p`` from ``pair_solution`` w and
    ``J U = H_p (x~_p + corr[corr_index[p]])``, the correction only for pairs whose
    ``corr_index`` is not negative. Without them, ``J = (I - diag(mu h))^{-1}`` from the
    ``leverage`` weights h and ``U = diag(mu) x~``.
    """
    k, n_pairs = xt.shape[0], e.shape[0]
    adjusted = np.empty((n_pairs, k))
    scores = np.empty((n_pairs, k))
    if leverage is not None:
        mode, aux = 1, leverage
        corr_index = np.full(1, -1, dtype=np.int64)
        corr = np.zeros((1, k, e.shape[1]))
    else:
        assert pair_solution is not None and corr_index is not None and corr is not None
        mode, aux = 0, pair_solution
        if len(corr) == 0:
            corr = np.zeros((1, k, e.shape[1]))
    _kernels_bias.adjusted_scores(mode, _c(lam), _c(e), _c(aux), _c(xt), _index(corr_index),
                                  _c(corr), _c(bread), adjusted, scores)
    return adjusted, scores


def ones_ginverse(matrices: np.ndarray, rtol: float) -> tuple[np.ndarray, np.ndarray]:
    """``(H + s 1 1' / n)^{-1}`` over the periods with data of each symmetric (m, T, T) matrix
    (zero rows and columns elsewhere; ``s`` the mean of their diagonal entries, ``n`` their
    number) by a Cholesky factorisation (scipy's LAPACK), matrices in parallel; and which were
    safely positive definite (smallest pivot above ``rtol`` times the largest)."""
    out = np.empty(matrices.shape)
    good = np.zeros(matrices.shape[0], dtype=np.uint8)
    with _blas_on_one_thread() as threads:
        _kernels_bias.ones_ginverse(threads, _c(matrices), rtol, out, good)
    return out, good.view(np.bool_)


def period_cells(values: np.ndarray, pair: np.ndarray, low: int,
                 high: int) -> tuple[np.ndarray, int, bool]:
    """Each row's period from integer ``values`` between ``low`` and ``high`` (their rank among
    the values present, by a table of high - low + 1 entries), the number of periods, and
    whether the cells ``pair * T + period`` strictly increase down the rows; one pass for the
    table, one for the rest."""
    values = _index(values)
    period = np.empty(len(values), dtype=np.int64)
    n_periods, increasing = _kernels_bias.period_cells(values, _index(pair), low, high, period)
    return period, int(n_periods), bool(increasing)


def period_leverage(lam: np.ndarray, origin: np.ndarray, destination: np.ndarray,
                    n_origins: int, n_destinations: int, first: int, stop: int,
                    ginverse: Callable[[np.ndarray], np.ndarray], h: np.ndarray) -> None:
    """The two-way leverage weights ``h[t, p]`` (periods x pairs, C-ordered) of periods
    ``first .. stop - 1``: per period
    the Schur complement on the destinations (:func:`_kernels_bias.period_schur`), its
    generalized inverse by ``ginverse``, then each pair's weight from one more product
    (:func:`_kernels_bias.period_leverage`); the (origins x destinations) grid of a period
    lives in one thread's scratch, periods in parallel."""
    n = stop - first
    inv_rows = np.empty((n, n_origins))
    schur = np.empty((n, n_destinations, n_destinations))
    lam, origin, destination = _c(lam), _index(origin), _index(destination)
    with _blas_on_one_thread() as threads:
        _kernels_bias.period_schur(threads, lam, origin, destination, first, inv_rows, schur)
    s_inv = ginverse(schur)
    with _blas_on_one_thread() as threads:
        _kernels_bias.period_leverage(threads, lam, origin, destination, first, inv_rows, s_inv,
                                      h)


@contextlib.contextmanager
def _blas_on_one_thread() -> Iterator[int]:
    """The BLAS behind scipy on one thread while a compiled loop calls it from every thread of
    the OpenMP team; yields the number of team threads to use.

    A multi-threaded BLAS called from each thread of the team oversubscribes the cores, and a
    single-threaded team calling it pays a wake-up of the BLAS's threads for every small product
    (on the 1.6 M-row panel with the second core busy the three-way correction took 1.5 s and
    10 s, against 0.2 s). threadpoolctl finds the BLAS libraries loaded in the process (OpenBLAS,
    MKL or BLIS, bundled or not), sets them to one thread and restores them after.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield _team_size()


@functools.cache
def _team_size() -> int:
    return int(_kernels_bias.team_size())


def _c(a: np.ndarray) -> np.ndarray:
    """A C-ordered float64 array (no copy when it is one), the layout the loops read."""
    return np.ascontiguousarray(a, dtype=np.float64)


def _index(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.int64)


def _as_bytes(flags: np.ndarray) -> np.ndarray:
    """A boolean array seen as bytes (no copy), the type the compiled loops take."""
    return flags.view(np.uint8) if flags.dtype == np.bool_ else flags
