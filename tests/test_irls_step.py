"""The IRLS step shared by the PPML fit and the score bootstrap's restricted fits: step-halving
on overflow and on a rise in deviance, and ppmlhdfe's relative change in deviance."""

from __future__ import annotations

import numpy as np
import pytest

from migtrade.estimation.ppml import (
    DIVERGENCE_RTOL,
    ETA_CAP,
    MAX_HALVINGS,
    PoissonDeviance,
    irls_step,
    next_inner_tol,
)

RNG = np.random.default_rng(11)
Y = RNG.poisson(3.0, 200).astype(float)
W = np.ones_like(Y)
DEV = PoissonDeviance(Y, W)
BEST = np.full_like(Y, np.log(Y.mean()))  # the intercept-only fit


def test_first_step_is_taken_whole_with_an_infinite_change() -> None:
    eta_new = BEST + 0.3
    step = irls_step(DEV, BEST, eta_new, np.inf, 0.0)
    assert step is not None and step.halvings == 0 and step.change == np.inf
    np.testing.assert_array_equal(step.eta, eta_new)
    # One compiled pass sums in row blocks where NumPy's dot products sum otherwise: the same
    # deviance to rounding (200 terms of about 1).
    assert step.deviance == pytest.approx(DEV(eta_new, step.mu), rel=1e-14)
    np.testing.assert_allclose(step.mu, np.exp(eta_new), rtol=4.5e-16, atol=0)


def test_a_rise_in_deviance_is_halved_until_it_is_not() -> None:
    """From the best constant fit any move raises the deviance: the step is halved until the
    rise is within DIVERGENCE_RTOL of the last deviance, and the change is ppmlhdfe's."""
    dev_best = DEV(BEST, np.exp(BEST))
    step = irls_step(DEV, BEST, BEST + 1.0, dev_best, 0.0)
    assert step is not None and step.halvings > 0
    np.testing.assert_allclose(step.eta, BEST + 0.5 ** step.halvings)
    assert step.deviance <= dev_best * (1 + DIVERGENCE_RTOL)
    # One halving fewer would have risen beyond the rule.
    wider = BEST + 0.5 ** (step.halvings - 1)
    assert DEV(wider, np.exp(wider)) > dev_best * (1 + DIVERGENCE_RTOL)
    assert step.change == abs(step.deviance - dev_best) / max(min(step.deviance, dev_best), 0.1)


def test_overflow_is_halved_and_nan_gives_up() -> None:
    eta = np.zeros_like(Y)
    step = irls_step(DEV, eta, np.full_like(Y, 4 * ETA_CAP), np.inf, 0.0)
    assert step is not None and step.halvings == 3 and step.eta.max() < ETA_CAP
    assert irls_step(DEV, eta, np.full_like(Y, np.nan), np.inf, 0.0) is None
    assert MAX_HALVINGS >= 30


def test_inner_tolerance_follows_the_change_down_and_never_up() -> None:
    assert next_inner_tol(1e-3, 1e-4, 1e-8) == 1e-5
    assert next_inner_tol(1.0, 1e-4, 1e-8) == 1e-4
    assert next_inner_tol(1e-12, 1e-4, 1e-8) == 1e-8
    assert next_inner_tol(np.inf, 1e-4, 1e-8) == 1e-4
