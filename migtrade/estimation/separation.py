"""Separation in Poisson models: zero outcomes that the model can fit exactly at infinity.

An observation i with y_i = 0 is *separated* when some combination z = X g + D a of the
regressors and fixed-effect dummies is 0 on every y > 0 row, >= 0 on every y = 0 row and > 0 at i.
Moving the coefficients along (g, a) towards minus infinity then raises the likelihood without bound
while only the fitted means of the z > 0 rows move (to 0), so the maximum likelihood estimate does
not exist. Dropping the separated rows restores it for the remaining parameters; the directions
(g, a) become collinearities of the smaller sample, which the caller removes.

Three checks, in the spirit of Correia, Guimarães & Zylkin (2019, 2020):

``fe``
    A fixed-effect level whose outcomes are all zero (its dummy is a certificate z).
``simplex``
    Regressors only: the null space of X on the positive rows, then a linear programme on the zero
    rows for the combination that is positive on as many of them as possible.
``relu``
    The iterated rectifier, which also finds certificates mixing regressors and fixed effects.

Notes
-----
The rectifier iterates u <- max(P u, 0) on the zero rows, where P is the weighted least-squares
projection on [X, D] with a large weight K on the positive rows and u stays 0 there. For any
certificate z, z'u never decreases while the weighted norm of u never increases, and a fixed point
other than 0 is itself a certificate; so the limit is 0 exactly when there is no separation.
K only sets the speed. It is kept moderate because alternating projections slow down in
proportion to the weight ratio along the very directions that separate (combinations that are 0
on the positive rows), and stop early there with a wrong answer when K is very large.

Every weighted residual e = u - P u is orthogonal to [X, D], so their running sum is too. If that
sum is positive on every zero row, no certificate can exist (Stiemke's lemma): a z >= 0 on the
zero rows and 0 on the positive rows would have a positive inner product with it. This stops the
common, unseparated case after one or two passes.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from migtrade.estimation.absorb import Absorber

# Weight of the positive rows in the rectifier's regressions (see the module notes).
POSITIVE_WEIGHT = 1e4
# Singular values (of columns scaled to unit norm) below this count as exact collinearity.
RANK_RTOL = 1e-9
# Accuracy of the inner demeaning; the rectifier reads values down to ``tol`` off its output.
INNER_TOL = 1e-12
METHODS = ("fe", "simplex", "relu")


def _positive(y: np.ndarray) -> np.ndarray:
    return np.asarray(y, dtype=np.float64).reshape(-1) > 0


def _as_matrix(X: np.ndarray | None, n: int) -> np.ndarray:
    if X is None:
        return np.empty((n, 0))
    return np.asarray(X, dtype=np.float64).reshape(n, -1)


def _dense_codes(codes: Sequence[np.ndarray], keep: np.ndarray) -> list[np.ndarray]:
    """Codes restricted to ``keep``, renumbered so that every level is present."""
    return [np.unique(np.asarray(c)[keep], return_inverse=True)[1] for c in codes]


def _unit_columns(X: np.ndarray, norms: np.ndarray) -> np.ndarray:
    return X / np.where(norms > 0, norms, 1.0)


def fe_separated(y: np.ndarray, codes: Sequence[np.ndarray]) -> np.ndarray:
    """Observations in a fixed-effect level whose outcomes are all zero.

    Parameters
    ----------
    y
        Outcome, length n (non-negative).
    codes
        One integer code array per fixed-effect dimension.

    Returns
    -------
    numpy.ndarray
        Boolean mask, True for observations to drop.
    """
    pos = _positive(y)
    mask = np.zeros(pos.shape[0], dtype=bool)
    for c in codes:
        c = np.asarray(c, dtype=np.int64)
        if c.size == 0:
            continue
        n_pos = np.bincount(c[pos], minlength=int(c.max()) + 1)
        mask |= n_pos[c] == 0
    return mask


def _null_space(A: np.ndarray, rtol: float) -> np.ndarray:
    """Orthonormal basis (k, m) of the right null space of ``A`` with unit-norm columns.

    The QR step reduces the tall matrix to k x k before the SVD, so the cost is one pass over A.
    """
    k = A.shape[1]
    if A.shape[0] == 0:
        return np.eye(k)
    R = np.linalg.qr(A, mode="r")
    _, s, vt = np.linalg.svd(R, full_matrices=True)
    rank = int(np.sum(s > rtol * max(1.0, s[0]))) if s.size else 0
    return vt[rank:].T


def _max_support(Z: np.ndarray) -> np.ndarray:
    """Rows i where some Z g is > 0, subject to Z g >= 0 on every row (one LP).

    Maximise sum(t) subject to 0 <= t <= 1 and t <= Z g. Certificates add up, so there is one
    largest support; any optimum puts t = 1 on all of it (scale g up until Z g >= 1 there).
    """
    n0, m = Z.shape
    a_ub = sp.hstack([sp.csr_matrix(-Z), sp.identity(n0, format="csr")], format="csr")
    cost = np.concatenate([np.zeros(m), -np.ones(n0)])
    bounds = [(None, None)] * m + [(0.0, 1.0)] * n0
    res = linprog(cost, A_ub=a_ub, b_ub=np.zeros(n0), bounds=bounds, method="highs")
    if res.status != 0 or res.x is None:
        raise RuntimeError(f"separation LP failed: {res.message}")
    return np.asarray(res.x[m:] > 0.5)


def simplex_separated(y: np.ndarray, X: np.ndarray, *, rtol: float = RANK_RTOL) -> np.ndarray:
    """Separation caused by the regressors alone (no fixed effects).

    Parameters
    ----------
    y
        Outcome, length n.
    X
        (n, k) regressors, including the constant if the model has one; k may be 0.
    rtol
        Relative singular-value tolerance for the null space of X on the positive rows, after
        scaling every column to unit norm.

    Returns
    -------
    numpy.ndarray
        Boolean mask of separated observations.

    Notes
    -----
    Any certificate is X g with g in the null space N of X on the positive rows, so the search
    runs over the m = dim(N) coordinates of Z = X_0 N, with X_0 the zero rows. When N is empty
    (full column rank on the positive rows, the usual case) there is nothing more to do.
    """
    pos = _positive(y)
    n = pos.shape[0]
    X = _as_matrix(X, n)
    mask = np.zeros(n, dtype=bool)
    zero_idx = np.flatnonzero(~pos)
    if X.shape[1] == 0 or zero_idx.size == 0:
        return mask
    Xu = _unit_columns(X, np.linalg.norm(X, axis=0))
    null = _null_space(Xu[pos], rtol)
    if null.shape[1] == 0:
        return mask
    Z = Xu[zero_idx] @ null
    # Rows where every certificate is 0 neither constrain the LP nor can be separated.
    active = np.max(np.abs(Z), axis=1) > rtol
    zero_idx, Z = zero_idx[active], Z[active]
    while zero_idx.size:
        found = _max_support(Z)
        if not found.any():
            break
        mask[zero_idx[found]] = True
        zero_idx, Z = zero_idx[~found], Z[~found]
    return mask


class _Projector:
    """Weighted least-squares residuals on [X, D] for fixed weights, reused across calls."""

    def __init__(
        self, X: np.ndarray, codes: Sequence[np.ndarray], w: np.ndarray, inner_tol: float
    ) -> None:
        self.sw = np.sqrt(w)
        self.inner_tol = inner_tol
        self.absorber = Absorber(codes, w) if codes else None
        self.basis = np.empty((w.shape[0], 0))
        if X.shape[1]:
            Xw = X * self.sw[:, None]
            # Scale by the norms before demeaning: a column the fixed effects absorb then shows a
            # tiny singular value rather than a unit one.
            norms = np.linalg.norm(Xw, axis=0)
            Xt = self._demean(X)
            Q, R = np.linalg.qr(_unit_columns(Xt * self.sw[:, None], norms))
            U, s, _ = np.linalg.svd(R)
            self.basis = Q @ U[:, : int(np.sum(s > RANK_RTOL))]
        self._last_in: np.ndarray | None = None
        self._last_out: np.ndarray | None = None

    def _demean(
        self, x: np.ndarray, start: np.ndarray | None = None, scale: np.ndarray | None = None
    ) -> np.ndarray:
        if self.absorber is None:
            return np.array(x, dtype=np.float64)
        res = self.absorber.demean_or_raise(x, tol=self.inner_tol, start=start, scale=scale)
        return res.resid

    def residual(self, u: np.ndarray) -> np.ndarray:
        """e = u - P u, with P the W-orthogonal projection on [X, D]."""
        start = None
        if self._last_in is not None and self._last_out is not None:
            # Any u - D a is a valid start; the previous answer shifted by the change in u is one.
            start = self._last_out + (u - self._last_in)
        ut = self._demean(u, start, np.array([max(float(np.abs(u).max()), 1e-300)]))
        self._last_in, self._last_out = u.copy(), ut.copy()
        v = ut * self.sw
        if self.basis.shape[1]:
            v -= self.basis @ (self.basis.T @ v)
        return v / self.sw


def relu_separated(
    y: np.ndarray,
    X: np.ndarray,
    codes: Sequence[np.ndarray] | None,
    *,
    tol: float = 1e-5,
    maxiter: int = 100,
) -> np.ndarray:
    """Separation by the iterated rectifier, with or without fixed effects.

    Parameters
    ----------
    y
        Outcome, length n.
    X
        (n, k) regressors (k may be 0); include the constant when there are no fixed effects.
    codes
        Fixed-effect code arrays (levels 0..G-1, all present), or None / empty for none.
    tol
        Fitted values within ``tol`` of zero count as zero; separated rows are the zero rows
        whose converged fitted value exceeds ``tol``.
    maxiter
        Maximum number of rectifier passes; on reaching it a warning is issued and no
        observation is reported.

    Returns
    -------
    numpy.ndarray
        Boolean mask of separated observations.
    """
    pos = _positive(y)
    n = pos.shape[0]
    X = _as_matrix(X, n)
    codes = list(codes) if codes is not None else []
    mask = np.zeros(n, dtype=bool)
    zero = ~pos
    if not zero.any() or (X.shape[1] == 0 and not codes):
        return mask
    proj = _Projector(X, codes, np.where(pos, POSITIVE_WEIGHT, 1.0), INNER_TOL)
    u = zero.astype(np.float64)
    cum = np.zeros(int(zero.sum()))
    for it in range(maxiter):
        global LAST_IT
        LAST_IT = it
        e = proj.residual(u)
        fit = u - e
        cum += e[zero]
        if cum.min() > tol:
            return mask
        f0 = fit[zero]
        if f0.min() >= -0.1 * tol and np.abs(fit[pos]).max(initial=0.0) <= tol:
            mask[zero] = f0 > tol
            return mask
        u[zero] = np.maximum(f0, 0.0)
    warnings.warn(
        f"the separation check (ReLU) did not converge in {maxiter} passes; "
        "no observation was dropped by it",
        RuntimeWarning,
        stacklevel=2,
    )
    return mask
