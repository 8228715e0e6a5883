"""The PPML fit under r'beta = beta0 started from a fit already made (the restricted score
bootstrap's fits) against the engine's fit from scratch of the same restricted model.

Both stop at a relative change in deviance below 1e-10 here, so their fitted means agree to
about the square root of that (the deviance is flat at the optimum): 1e-6 relative. The
restricted coefficients and the regressors demeaned under the final weights follow from the
means, and are held to the same 1e-6.
"""

from __future__ import annotations

import numpy as np
import pytest

from migtrade.estimation.absorb import Absorber
from migtrade.estimation.bootstrap.restricted import (
    FitPoint,
    PoissonModel,
    RestrictedFits,
    restricted_fit,
)
from migtrade.estimation.ppml import PoissonFit, fit_ppml

TOL = 1e-10
OPTS = {"tol": TOL, "fe_tol": 1e-10, "maxiter": 100, "fe_maxiter": 10_000}


def _data(seed: int = 2, n: int = 3000) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    exporter, importer = rng.integers(0, 30, n), rng.integers(0, 25, n)
    X = np.column_stack([rng.normal(size=n), rng.normal(size=n), rng.normal(size=n)])
    eta = 0.4 * X[:, 0] - 0.2 * X[:, 1] + 0.1 * X[:, 2] + 0.05 * exporter % 1.1 + 0.03 * importer
    y = rng.poisson(np.exp(eta)).astype(float)
    offset = 0.1 * rng.normal(size=n)
    return y, X, [exporter, importer], offset


def _point(fit: PoissonFit) -> FitPoint:
    return FitPoint(beta=fit.beta, eta=fit.eta, x_tilde=fit.x_tilde, bread=fit.bread)


def _scratch(y: np.ndarray, X: np.ndarray, absorber: Absorber | None, offset: np.ndarray,
             r: np.ndarray, beta0: float) -> PoissonFit:
    """The engine's fit of the restricted model, reparametrised, from its own start."""
    pivot = int(np.flatnonzero(r)[0])
    others = [m for m in range(X.shape[1]) if m != pivot]
    xp = X[:, pivot] / r[pivot]
    design = np.asfortranarray(X[:, others] - np.outer(xp, r[others]))
    return fit_ppml(y, design, [f"x{m}" for m in others], absorber, np.ones_like(y),
                    offset=offset + beta0 * xp, tol=TOL)


@pytest.mark.parametrize(("r", "beta0"), [
    (np.array([1.0, 0.0, 0.0]), 0.0),  # a coefficient against zero
    (np.array([0.0, 1.0, 0.0]), 0.3),  # far from its estimate (-0.2): step-halving territory
    (np.array([1.0, 1.0, 0.0]), 0.0),  # a sum
    (np.array([0.0, 2.0, -1.0]), 0.1),  # a combination whose first term is not 1
])
def test_restricted_fit_from_the_estimate_equals_a_fit_from_scratch(r: np.ndarray, beta0: float) -> None:
    y, X, codes, offset = _data()
    w = np.ones_like(y)
    absorber = Absorber(codes)
    full = fit_ppml(y, np.asfortranarray(X), ["a", "b", "c"], absorber, w, offset=offset, tol=TOL)
    fit = restricted_fit(PoissonModel(y=y, weights=w, absorber=absorber), _point(full), r, beta0,
                         **OPTS)
    scratch = _scratch(y, X, absorber, offset, r, beta0)
    np.testing.assert_allclose(fit.mu, scratch.mu, rtol=1e-6)
    assert not np.allclose(fit.mu, full.mu, rtol=1e-3)  # the restriction binds
    assert float(r @ fit.point.beta) == pytest.approx(beta0, abs=1e-12)
    # The other coefficients: the scratch fit's, which are those of the restricted design.
    others = [m for m in range(3) if m != int(np.flatnonzero(r)[0])]
    np.testing.assert_allclose(fit.point.beta[others], scratch.beta, rtol=1e-6, atol=1e-8)
    # The regressors demeaned under the fit's own weights: an independent demeaning.
    expected = absorber.with_weights(w * fit.mu).demean(np.asfortranarray(X), tol=1e-12).resid
    np.testing.assert_allclose(fit.point.x_tilde, expected, atol=1e-7)


def test_the_newton_start_needs_few_steps_and_a_near_fit_one() -> None:
    """From the unrestricted fit moved to the null by the first-order step of the other
    parameters, IRLS converges in at most three steps for a null 2 to 6 standard errors away
    (a fit from scratch takes 5 here); from a restricted fit at a value a thousandth of a
    standard error away, as in the interval search, in one. Each is the fit from scratch."""
    y, X, codes, offset = _data(seed=5)
    w = np.ones_like(y)
    absorber = Absorber(codes)
    full = fit_ppml(y, np.asfortranarray(X), ["a", "b", "c"], absorber, w, offset=offset, tol=TOL)
    se = float(np.sqrt(full.bread[0, 0]))
    fits = RestrictedFits(PoissonModel(y=y, weights=w, absorber=absorber), _point(full), **OPTS)
    r = np.array([1.0, 0.0, 0.0])
    for distance, most_steps in ((-6.0, 3), (2.0, 3), (2.001, 1), (-6.001, 1)):
        beta0 = float(full.beta[0]) + distance * se
        fit = fits(r, beta0)
        assert fit.steps <= most_steps, (distance, fit.steps)
        scratch = _scratch(y, X, absorber, offset, r, beta0)
        assert scratch.iterations > 3
        np.testing.assert_allclose(fit.mu, scratch.mu, rtol=1e-6)
    assert fits.fits == 4


def test_without_fixed_effects() -> None:
    y, X, _, offset = _data(seed=4)
    w = np.ones_like(y)
    Xc = np.column_stack([np.ones_like(y), X])
    full = fit_ppml(y, np.asfortranarray(Xc), ["one", "a", "b", "c"], None, w, offset=offset, tol=TOL)
    r = np.array([0.0, 1.0, 0.0, 0.0])
    fit = restricted_fit(PoissonModel(y=y, weights=w, absorber=None), _point(full), r, 0.0, **OPTS)
    scratch = fit_ppml(y, np.asfortranarray(Xc[:, [0, 2, 3]]), ["one", "b", "c"], None, w,
                       offset=offset, tol=TOL)
    np.testing.assert_allclose(fit.mu, scratch.mu, rtol=1e-6)
