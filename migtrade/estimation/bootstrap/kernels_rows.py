"""Compiled passes over the rows for the score bootstrap's restricted fits and the path of
restricted fits: each replaces several NumPy operations (each its own pass over the rows, most
on one core, and its own n-long temporary) by one parallel loop. Sums over clusters run in
fixed runs of rows added in order, so that they do not depend on the number of threads; the
other passes write each row's values alone. The loops are C
(:mod:`migtrade.estimation.bootstrap._kernels_rows`, compiled by pip at install time).
"""

from __future__ import annotations

import numpy as np

from migtrade.estimation.bootstrap import _kernels_rows

# The runs of rows of the sums over clusters (score_sums, path_sums), each with its own sums
# (added in order after): a number that does not depend on the threads, so that the sums do not
# either; fewer where their copies of the sums would take more than RUN_BYTES.
RUNS = 8
RUN_BYTES = 64 << 20


def _vec(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64)


def _runs(bytes_per_run: int, n: int) -> int:
    """How many runs of rows a pass over ``n`` rows sums in (RUNS, fewer past RUN_BYTES)."""
    return max(1, min(RUNS, RUN_BYTES // max(bytes_per_run, 1), n))


def _in_order(sums: np.ndarray) -> np.ndarray:
    """The runs' sums (leading axis) added in order, as a copy: a view would keep every run's
    sums alive (23 MB for the path sums of 19,900 clusters and two regressors), and the next
    pass could not reuse their pages."""
    for run in range(1, sums.shape[0]):
        sums[0] += sums[run]
    return sums[0].copy()


def score_sums(x_tilde: np.ndarray, y: np.ndarray, weights: np.ndarray, mu: np.ndarray,
               a: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """``out[g, j, 0]``: cluster g's score sum of regressor j, ``Σ x̃_ij w_i (y_i - mu_i)``, and
    ``out[g, j, 1 + t]`` its Hessian's row j times ``a[t]``, ``Σ x̃_ij (x̃_i'a_t) w_i mu_i``,
    from one parallel pass over the rows in ``RUNS`` runs (added in order: the same sums
    whatever the threads)."""
    k = x_tilde.shape[1]
    a2 = np.atleast_2d(_vec(a))
    runs = _runs(n_groups * k * (1 + a2.shape[0]) * 8, x_tilde.shape[0])
    out = np.zeros((runs, n_groups, k, 1 + a2.shape[0]))
    _kernels_rows.score_sums(np.asarray(x_tilde, dtype=np.float64), _vec(y), _vec(weights),
                             _vec(mu), a2, np.ascontiguousarray(codes, dtype=np.intp), out)
    return _in_order(out)


def path_sums(x_tilde: np.ndarray, basis: np.ndarray, of_basis: np.ndarray | None,
              e_of_x: np.ndarray, p_of_x: np.ndarray, y: np.ndarray, weights: np.ndarray,
              mu: np.ndarray, codes: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """The coefficients of Δ**0..2 of each cluster's scores, (G, 3, k), and Hessian,
    (G, 3, k, k), along the path of restricted fits, from one parallel pass over the rows
    (:mod:`migtrade.estimation.bootstrap.expansion`): the Newton direction is
    ``x_tilde @ e_of_x``, and ``basis @ of_basis`` (n, 1 + k) (``basis`` itself where
    ``of_basis`` is None) the residuals on the fixed effects of its square and of its products
    with the regressors, made row by row."""
    k = x_tilde.shape[1]
    runs = _runs(n_groups * 3 * (k + k * k) * 8, x_tilde.shape[0])
    s = np.zeros((runs, n_groups, 3, k))
    h = np.zeros((runs, n_groups, 3, k, k))
    mix = np.zeros((0, k + 1)) if of_basis is None else _vec(of_basis)
    _kernels_rows.path_sums(np.asarray(x_tilde, dtype=np.float64),
                            np.asarray(basis, dtype=np.float64), mix, _vec(e_of_x),
                            _vec(p_of_x), _vec(y), _vec(weights), _vec(mu),
                            np.ascontiguousarray(codes, dtype=np.intp), s, h)
    return _in_order(s), _in_order(h)


def start_rows(x_tilde: np.ndarray, eta0: np.ndarray, r: np.ndarray, a_shift: np.ndarray,
               eta: np.ndarray, block: np.ndarray,
               higher: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float, float]
               | None = None) -> None:
    """A restricted fit's start from a fit in one parallel pass over the rows
    (:func:`migtrade.estimation.bootstrap.restricted.path_start`): ``eta`` = ``eta0`` plus the
    Newton step ``x_tilde @ a_shift`` and, with ``higher`` = (basis, mix0, third, p2, c2, c3),
    less the second- and third-order terms ``(s² - c2 basis @ mix0 + x_tilde @ p2) / 2 + c3
    third``; ``block[:, 1:]`` the restricted regressors under ``r`` and x_p (the first nonzero
    term of r's regressor over it)."""
    n, k = x_tilde.shape
    pivot = int(np.flatnonzero(r)[0])
    others = np.array([m for m in range(k) if m != pivot], dtype=np.intp)
    if higher is None:
        basis, mix0, third, p2, c2, c3 = np.empty((n, 0)), np.empty(0), eta0, np.zeros(k), 0.0, 0.0
    else:
        basis, mix0, third, p2, c2, c3 = higher
    _kernels_rows.start_rows(np.asarray(x_tilde, dtype=np.float64), _vec(eta0),
                             np.asarray(basis, dtype=np.float64), _vec(mix0), _vec(third),
                             _vec(a_shift), _vec(p2), float(c2), float(c3), higher is not None,
                             pivot, float(r[pivot]), others, _vec(r[others]), eta, block)


def working_rows(mu: np.ndarray, weights: np.ndarray, y: np.ndarray, irls_w: np.ndarray,
                 u: np.ndarray, u_copy: np.ndarray) -> None:
    """``irls_w = weights mu`` and ``u = u_copy = y / mu - 1`` in one parallel pass."""
    _kernels_rows.working_rows(mu, weights, y, irls_w, u, u_copy)


def step_rows(design: np.ndarray, move: np.ndarray, ut: np.ndarray, u: np.ndarray,
              eta: np.ndarray, eta_new: np.ndarray) -> None:
    """``eta_new = eta + u - ut + design @ move`` in one parallel pass."""
    _kernels_rows.step_rows(np.asarray(design, dtype=np.float64), _vec(move), ut, u, eta,
                            eta_new)


def path_rows(x_tilde: np.ndarray, e_of_x: np.ndarray, p: np.ndarray, second: np.ndarray,
              cubic: np.ndarray, basis: np.ndarray | None = None,
              mix0: np.ndarray | None = None) -> None:
    """The path's second-order term P_Z(e²) (``second``) and the third's column
    ``e (e² - 3 P_Z(e²))`` (``cubic``) of one combination in one parallel pass, from the
    residuals ``basis @ mix0`` of e² and the regressors' coefficients ``p``; without ``basis``,
    ``cubic`` holding that column's residual and ``p`` its fit's coefficients, ``second``
    becomes the third term (:mod:`migtrade.estimation.bootstrap.path`)."""
    third = basis is None
    n = x_tilde.shape[0]
    _kernels_rows.path_rows(np.asarray(x_tilde, dtype=np.float64), _vec(e_of_x),
                            np.empty((n, 0)) if basis is None
                            else np.asarray(basis, dtype=np.float64),
                            np.empty(0) if mix0 is None else _vec(mix0), _vec(p), second, cubic,
                            third)
