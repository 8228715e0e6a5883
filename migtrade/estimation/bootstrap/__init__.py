"""Bootstrap inference for few clusters: the wild cluster bootstrap (OLS) and the score
bootstrap (PPML), with fixed effects absorbed.

:func:`bootstrap_linear` and :func:`bootstrap_poisson` take what the engine already has after a
fit (demeaned regressors, residuals or fitted means, the bread, the cluster codes) and return, for
every coefficient, the bootstrap p-value of ``beta = 0`` and a confidence interval by test
inversion (:class:`TermBootstrap`). The registry :data:`BOOTSTRAPS` maps each method to the model
it applies to; :func:`check_bootstrap` refuses what cannot be bootstrapped before any work is done.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from migtrade.errors import UsageError
from migtrade.estimation.absorb import Absorber
from migtrade.estimation.bootstrap.options import (
    DEFAULT_REPS,
    DEFAULT_SEED,
    METHOD_MODELS,
    BootstrapMethod,
    BootstrapOptions,
    TermBootstrap,
)
from migtrade.estimation.bootstrap.score import PoissonScores, RestrictedFit, score_bootstrap
from migtrade.estimation.bootstrap.weights import WeightKind
from migtrade.estimation.bootstrap.wild import LinearPieces, wild_bootstrap

__all__ = [
    "DEFAULT_REPS", "DEFAULT_SEED", "BootstrapMethod", "BootstrapOptions", "LinearPieces",
    "PoissonScores", "RestrictedFit", "TermBootstrap", "WeightKind", "bootstrap_linear",
    "bootstrap_poisson", "check_bootstrap",
]

# The wild bootstrap with fixed effects not nested in the clusters demeans one column per
# cluster (u times the cluster's indicator); beyond this many cells that is refused.
MAX_FE_CELLS = 50_000_000


def check_bootstrap(options: BootstrapOptions, *, model: str, is_iv: bool, vcov_kind: str,
                    clusters: Sequence[str]) -> None:
    """Refuse a bootstrap that does not fit the model or its covariance, before estimating.

    Raises
    ------
    UsageError
        For a bootstrap without clusters, with multi-way clusters, of the wrong kind for the
        model, or a score bootstrap of an instrumental-variables model (2SLS takes the wild
        bootstrap, as WRE).
    """
    method = options.method
    if vcov_kind != "cluster" or not clusters:
        raise UsageError(f"the {method.value} bootstrap needs clusters",
                         "Add --vcov cluster:VAR (the bootstrap draws one weight per cluster).")
    if len(clusters) > 1:
        raise UsageError(f"the bootstrap takes one cluster variable, not {len(clusters)} "
                         f"({', '.join(clusters)})",
                         "Cluster on one variable (or on their intersection) with --vcov cluster:VAR.")
    if is_iv and method is not BootstrapMethod.wild:
        raise UsageError("the score bootstrap is not available for instrumental-variables models",
                         "Estimate the model by 2SLS (--model ols) with --bootstrap wild (the WRE "
                         "bootstrap), or drop --bootstrap.")
    wanted = METHOD_MODELS[method]
    if model != wanted:
        other = next(m for m, mdl in METHOD_MODELS.items() if mdl == model)
        raise UsageError(f"the {method.value} bootstrap applies to {wanted.upper()}, not {model.upper()}",
                         f"Use --bootstrap {other.value} with --model {model}.")


def bootstrap_linear(names: Sequence[str], *, x_tilde: np.ndarray, resid: np.ndarray,
                     weights: np.ndarray, beta: np.ndarray, bread: np.ndarray,
                     cluster: np.ndarray, absorber: Absorber | None, nested: bool,
                     options: BootstrapOptions, conf_level: float, fe_tol: float,
                     fe_maxiter: int) -> dict[str, TermBootstrap]:
    """Wild cluster bootstrap (WCR or WCU) of every coefficient of a least-squares fit.

    Parameters
    ----------
    names
        The kept terms, in the order of the columns of ``x_tilde``.
    x_tilde, resid
        Regressors with the fixed effects partialled out, and the residuals of the full model.
    nested
        True when every fixed effect is nested in a cluster (see
        :mod:`migtrade.estimation.bootstrap.wild`).
    """
    n_clusters = int(cluster.max()) + 1
    if absorber is not None and not nested and resid.shape[0] * n_clusters > MAX_FE_CELLS:
        raise UsageError(
            f"the wild bootstrap with fixed effects that are not nested in the {n_clusters:,} "
            f"clusters needs {n_clusters:,} demeanings of {resid.shape[0]:,} rows",
            "Cluster on a variable that nests the fixed effects, or use fewer clusters.")
    pieces = LinearPieces(xt=x_tilde, resid=resid, weights=weights, beta=beta, bread=bread,
                          cluster=cluster, n_clusters=n_clusters, absorber=absorber,
                          nested=nested, fe_tol=fe_tol, fe_maxiter=fe_maxiter)
    return wild_bootstrap(pieces, options.targets(names), options, conf_level)


def bootstrap_poisson(names: Sequence[str], *, beta: np.ndarray, unrestricted: PoissonScores,
                      y: np.ndarray, weights: np.ndarray, cluster: np.ndarray,
                      restricted: RestrictedFit, options: BootstrapOptions,
                      conf_level: float) -> tuple[dict[str, TermBootstrap], list[str]]:
    """Score bootstrap of every coefficient of a PPML fit (see
    :mod:`migtrade.estimation.bootstrap.score`)."""
    n_clusters = int(cluster.max()) + 1
    return score_bootstrap(options.targets(names), beta, unrestricted, y, weights, cluster,
                           n_clusters, restricted, options, conf_level)
