"""The PPML fit under r'beta = beta0 started from the unrestricted fit (the restricted score
bootstrap's fits) against the engine's fit from scratch of the same restricted model.

Both stop at a relative change in deviance below 1e-10 here, so their fitted means agree to
about the square root of that (the deviance is flat at the optimum): 1e-6 relative.
"""

from __future__ import annotations

import numpy as np
import pytest

from migtrade.estimation.absorb import Absorber
from migtrade.estimation.bootstrap.restricted import UnrestrictedStart, restricted_means
from migtrade.estimation.ppml import fit_ppml

TOL = 1e-10


def _data(seed: int = 2, n: int = 3000) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    exporter, importer = rng.integers(0, 30, n), rng.integers(0, 25, n)
    X = np.column_stack([rng.normal(size=n), rng.normal(size=n), rng.normal(size=n)])
    eta = 0.4 * X[:, 0] - 0.2 * X[:, 1] + 0.1 * X[:, 2] + 0.05 * exporter % 1.1 + 0.03 * importer
    y = rng.poisson(np.exp(eta)).astype(float)
    offset = 0.1 * rng.normal(size=n)
    return y, X, [exporter, importer], offset


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
    names = ["a", "b", "c"]
    full = fit_ppml(y, np.asfortranarray(X), names, absorber, w, offset=offset, tol=TOL)
    start = UnrestrictedStart(y=y, X=X, x_tilde=full.x_tilde, weights=w, offset=offset,
                              beta=full.beta, eta=full.eta, absorber=absorber)
    mu = restricted_means(start, r, beta0, tol=TOL, fe_tol=1e-10, maxiter=100, fe_maxiter=10_000)
    pivot = int(np.flatnonzero(r)[0])
    others = [m for m in range(3) if m != pivot]
    xp = X[:, pivot] / r[pivot]
    design = np.asfortranarray(X[:, others] - np.outer(xp, r[others]))
    scratch = fit_ppml(y, design, [names[m] for m in others], absorber, w,
                       offset=offset + beta0 * xp, tol=TOL)
    np.testing.assert_allclose(mu, scratch.mu, rtol=1e-6)
    assert not np.allclose(mu, full.mu, rtol=1e-3)  # the restriction binds


def test_without_fixed_effects() -> None:
    y, X, _, offset = _data(seed=4)
    w = np.ones_like(y)
    Xc = np.column_stack([np.ones_like(y), X])
    full = fit_ppml(y, np.asfortranarray(Xc), ["one", "a", "b", "c"], None, w, offset=offset, tol=TOL)
    start = UnrestrictedStart(y=y, X=Xc, x_tilde=full.x_tilde, weights=w, offset=offset,
                              beta=full.beta, eta=full.eta, absorber=None)
    r = np.array([0.0, 1.0, 0.0, 0.0])
    mu = restricted_means(start, r, 0.0, tol=TOL, fe_tol=1e-10, maxiter=100, fe_maxiter=10_000)
    scratch = fit_ppml(y, np.asfortranarray(Xc[:, [0, 2, 3]]), ["one", "b", "c"], None, w,
                       offset=offset, tol=TOL)
    np.testing.assert_allclose(mu, scratch.mu, rtol=1e-6)
