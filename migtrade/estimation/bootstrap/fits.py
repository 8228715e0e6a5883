"""A Poisson model and a converged fit of it: where the restricted fits start
(:mod:`migtrade.estimation.bootstrap.restricted`) and where the path of restricted fits is
differentiated (:mod:`migtrade.estimation.bootstrap.path`), with the in-place demeaning both
use."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from migtrade.estimation.absorb import Absorber
from migtrade.estimation.ppml import PoissonDeviance


@dataclass(frozen=True)
class PoissonModel:
    """What a restricted fit needs of the model besides a fit to start from (whose linear
    predictor carries the regressors and the offset: every step moves it by demeaned columns)."""

    y: np.ndarray
    weights: np.ndarray
    absorber: Absorber | None
    # The deviance as a function of eta where the model's fit made it (of these y and weights).
    measure: PoissonDeviance | None = None

    @cached_property
    def deviance(self) -> PoissonDeviance:
        """The model's deviance as a function of eta (its constant part computed once)."""
        return self.measure if self.measure is not None else PoissonDeviance(self.y, self.weights)


@dataclass(frozen=True)
class FitPoint:
    """A converged PPML fit (unrestricted, or under a restriction) as a starting point."""

    beta: np.ndarray  # every kept coefficient
    eta: np.ndarray
    x_tilde: np.ndarray  # kept regressors demeaned under the fit's weights w * mu
    bread: np.ndarray  # (X̃' W mu X̃)^{-1}
    mu: np.ndarray  # exp(eta)
    irls_weights: np.ndarray  # w * mu, under which x_tilde is demeaned
    deviance: float
    # The absorber under those weights, kept where the fit made it (its strategy's state for
    # those weights, e.g. a preconditioner, serves the next fit's start).
    weighted: Absorber | None = None


def demean_in_place(absorber: Absorber | None, weights: np.ndarray | None, cols: np.ndarray,
                    tol: float, scale: np.ndarray, maxiter: int) -> int:
    """Demean the Fortran-ordered ``cols`` in place to ``tol`` times ``scale`` under ``weights``
    (None: the absorber's own); the sweeps."""
    if absorber is None:
        return 0
    weighted = absorber if weights is None else absorber.with_weights(weights)
    res = weighted.demean_or_raise(cols, tol=tol, scale=scale, maxiter=maxiter, overwrite=True)
    if res.resid is not cols:  # strategies that project into a new array
        cols[...] = res.resid
    return res.sweeps


def weighted_at(model: PoissonModel, origin: FitPoint) -> Absorber | None:
    """The model's absorber under ``origin``'s weights (the fit's own where it kept it)."""
    if origin.weighted is None and model.absorber is not None:
        return model.absorber.with_weights(origin.irls_weights)
    return origin.weighted
