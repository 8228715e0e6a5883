"""Least squares with absorbed fixed effects (the within estimator, by Frisch-Waugh-Lovell)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from migtrade.estimation.absorb import DEFAULT_MAXITER, DEFAULT_TOL, Absorber
from migtrade.estimation.collinearity import Omission, select_columns
from migtrade.estimation.kernels import weighted_cross


@dataclass(frozen=True)
class LinearFit:
    """What the covariance and the result need from a (weighted) least-squares fit."""

    beta: np.ndarray
    keep: tuple[int, ...]
    notes: tuple[str, ...]
    x_tilde: np.ndarray  # demeaned regressors that were kept
    resid: np.ndarray  # residuals of the full model (fixed effects included)
    y_tilde: np.ndarray
    bread: np.ndarray
    weights: np.ndarray
    sweeps: int
    converged: bool
    omitted: tuple[Omission, ...] = ()  # the regressors dropped, with the reason


def solve_wls(xt: np.ndarray, yt: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients and ``(X'WX)^{-1}`` of a weighted regression on full-rank columns."""
    if xt.shape[1] == 0:
        return np.zeros(0), np.zeros((0, 0))
    gram, xty = weighted_cross(xt, w, yt)
    inv = _scaled_inverse(gram)
    return inv @ xty, inv


def weighted_inverse(xt: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``(X'WX)^{-1}`` of full-rank columns (the bread), without a regression."""
    if xt.shape[1] == 0:
        return np.zeros((0, 0))
    gram, _ = weighted_cross(xt, w)
    return _scaled_inverse(gram)


def _scaled_inverse(gram: np.ndarray) -> np.ndarray:
    # Scale to unit diagonal before inverting: regressors in different units (km, dummies,
    # dollars) otherwise make the Gram matrix badly conditioned for no reason.
    d = 1.0 / np.sqrt(np.diag(gram))
    return np.linalg.inv(gram * np.outer(d, d)) * np.outer(d, d)



def fit_ols(
    y: np.ndarray,
    X: np.ndarray,
    names: Sequence[str],
    absorber: Absorber | None,
    weights: np.ndarray,
    *,
    fe_codes: Sequence[np.ndarray] = (),
    fe_names: Sequence[str] = (),
    tol: float = DEFAULT_TOL,
    maxiter: int = DEFAULT_MAXITER,
) -> LinearFit:
    """Weighted least squares of ``y`` on ``X`` with the fixed effects of ``absorber`` partialled out."""
    if absorber is not None:
        # One Fortran-ordered block, demeaned in place: no second copy on the way in.
        both = np.empty((y.shape[0], 1 + X.shape[1]), order="F")
        both[:, 0] = y
        both[:, 1:] = X
        res = absorber.demean_or_raise(both, tol=tol, maxiter=maxiter, overwrite=True)
        yt, xt_all, sweeps = res.resid[:, 0].copy(), res.resid[:, 1:], res.sweeps
    else:
        yt, xt_all, sweeps = y, X, 0
    selection = select_columns(
        xt_all, X, weights, names, fe_codes=fe_codes, fe_names=fe_names
    )
    every = len(selection.keep) == xt_all.shape[1]  # all kept: a view, not a copy
    xt = np.asfortranarray(xt_all if every else xt_all[:, list(selection.keep)])
    beta, bread = solve_wls(xt, yt, weights)
    resid = yt - xt @ beta
    return LinearFit(
        beta=beta,
        keep=selection.keep,
        notes=selection.notes,
        omitted=selection.omitted,
        x_tilde=xt,
        resid=resid,
        y_tilde=yt,
        bread=bread,
        weights=weights,
        sweeps=sweeps,
        converged=True,
    )
