"""The PPML fit under a linear restriction, started from the unrestricted fit.

Notes
-----
The restricted score bootstrap needs the model fitted under H0: r'beta = beta0 (one fit per
tested coefficient, and one per trial value when an interval is found by test inversion). With
p the first term of r, ``beta_p = (beta0 - Σ_{m≠p} r_m beta_m) / r_p``: x_p beta0 / r_p moves into
the offset and every other regressor becomes ``x_m - x_p r_m / r_p``. Keeping the other
coefficients and the fixed effects of the unrestricted fit gives a point that satisfies the
restriction,

    η⁰ = η̂ - x_p (r'b̂ - beta0) / r_p,

and IRLS on the restricted design starts there: with the null near the estimate (the p-value of a
coefficient whose estimate is small in standard errors, the ends of an interval) it converges in
a few steps instead of the dozen of a fit from scratch. Each step demeans the working outcome less
the fixed-effect part of the current linear predictor, and the restricted regressors as last
demeaned (both differ from their raw forms by fixed-effect terms only, so the demeaning starts
close to its answer), to a tolerance that starts loose and follows the change in deviance
down to ``fe_tol``. Steps that raise the deviance are halved, as in
:mod:`migtrade.estimation.ppml`, and the stopping rule is the engine's: a relative change in
deviance below ``tol`` at the full demeaning tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from migtrade.errors import ConvergenceError
from migtrade.estimation.absorb import Absorber
from migtrade.estimation.ols import solve_wls

MAX_HALVINGS = 30
# The demeaning tolerance starts loose and follows the IRLS change down to --fe-tol, as in
# migtrade.estimation.ppml: early steps need no more precision than the step they take.
START_INNER_TOL = 1e-4
INNER_TOL_FACTOR = 0.01
DIVERGENCE_RTOL = 1e-6
ETA_CAP = 700.0  # exp(700) is still finite in float64


@dataclass(frozen=True)
class UnrestrictedStart:
    """The unrestricted fit on its kept regressors: where every restricted fit starts."""

    y: np.ndarray
    X: np.ndarray  # kept regressors, raw
    x_tilde: np.ndarray  # kept regressors, demeaned under the fit's final weights
    weights: np.ndarray
    offset: np.ndarray
    beta: np.ndarray
    eta: np.ndarray
    absorber: Absorber | None


class _Deviance:
    """The Poisson deviance 2 Σ w (y log(y / mu) - (y - mu)) as a function of eta."""

    def __init__(self, y: np.ndarray, w: np.ndarray) -> None:
        ylogy = np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0)), 0.0)
        self.const = float(w @ (ylogy - y))
        self.y, self.w, self.wy = y, w, w * y

    def __call__(self, eta: np.ndarray, mu: np.ndarray) -> float:
        return 2.0 * (self.const - float(self.wy @ eta) + float(self.w @ mu))


def restricted_means(start: UnrestrictedStart, r: np.ndarray, beta0: float, *, tol: float,
                     fe_tol: float, maxiter: int, fe_maxiter: int) -> np.ndarray:
    """Fitted means of the PPML fit under ``r'beta = beta0``, by IRLS from the unrestricted fit.

    Raises
    ------
    ConvergenceError
        When a step cannot be made to lower the deviance, or ``maxiter`` steps do not converge.
    """
    pivot = int(np.flatnonzero(r)[0])
    others = [m for m in range(start.X.shape[1]) if m != pivot]
    xp = start.X[:, pivot] / r[pivot]
    design = start.X[:, others] - np.outer(xp, r[others])
    # The restricted regressors demeaned under the unrestricted weights: a warm start.
    design_t = start.x_tilde[:, others] - np.outer(start.x_tilde[:, pivot] / r[pivot], r[others])
    off = start.offset + beta0 * xp
    eta = start.eta - xp * (float(r @ start.beta) - beta0)
    coef = start.beta[others]
    fe_part = eta - off - design @ coef  # the fixed effects' part of the linear predictor
    y, w = start.y, start.weights
    deviance = _Deviance(y, w)
    mu = np.exp(eta)
    dev_old = deviance(eta, mu)
    floor = 1e-10 * max(float(w @ y), 1.0)
    inner_tol = max(START_INNER_TOL, fe_tol)
    for _ in range(maxiter):
        irls_w = w * mu
        z = eta - off + (y - mu) / mu
        if start.absorber is not None:
            block = np.asfortranarray(np.column_stack([z - fe_part, design_t]))
            res = start.absorber.with_weights(irls_w).demean_or_raise(block, tol=inner_tol,
                                                                      maxiter=fe_maxiter)
            zt, design_t = res.resid[:, 0], np.asfortranarray(res.resid[:, 1:])
        else:
            zt, design_t = z, design
        coef_new, _ = solve_wls(design_t, zt, irls_w)
        eta_new = z - (zt - design_t @ coef_new) + off
        halved = False
        for _ in range(MAX_HALVINGS):
            if np.all(np.isfinite(eta_new)) and eta_new.max() < ETA_CAP:
                mu_new = np.exp(eta_new)
                dev = deviance(eta_new, mu_new)
                if dev <= dev_old + DIVERGENCE_RTOL * abs(dev_old) + floor:
                    break
            # Halve the coefficients with the linear predictor, so that the fixed-effect part
            # below stays a combination of fixed effects.
            eta_new, coef_new = 0.5 * (eta + eta_new), 0.5 * (coef + coef_new)
            halved = True
        else:
            raise ConvergenceError("PPML under the bootstrap's null: step-halving failed",
                                   "Check the data for separation, or use --no-impose-null.")
        change = abs(dev - dev_old) / max(min(abs(dev), abs(dev_old)), 0.1)
        eta, mu, dev_old, coef = eta_new, mu_new, dev, coef_new
        fe_part = eta - off - design @ coef
        if change < tol and not halved and inner_tol <= fe_tol:
            return mu
        inner_tol = max(min(INNER_TOL_FACTOR * change, inner_tol), fe_tol)
    raise ConvergenceError(f"PPML under the bootstrap's null did not converge in {maxiter} steps",
                           "Raise --maxiter, or use --no-impose-null.")
