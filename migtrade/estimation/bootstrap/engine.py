"""From a fitted model to bootstrap inference on each coefficient: the engine's hook.

:func:`bootstrap_fit` is called by :func:`migtrade.estimation.fit.estimate` after the fit, with
the arrays of the estimation sample; :data:`RUNNERS` maps each bootstrap method to the function
that runs it on the fit of its model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from migtrade.errors import ConvergenceError, UsageError
from migtrade.estimation.absorb import Absorber
from migtrade.estimation.bootstrap import MAX_FE_CELLS, bootstrap_linear, bootstrap_poisson
from migtrade.estimation.bootstrap.fits import FitPoint, PoissonModel
from migtrade.estimation.bootstrap.options import BootstrapMethod, BootstrapOptions, TermBootstrap
from migtrade.estimation.bootstrap.restricted import RestrictedFits
from migtrade.estimation.bootstrap.score import MAX_FE_TERM_CLUSTERS, PoissonScores
from migtrade.estimation.bootstrap.wre import wre_bootstrap
from migtrade.estimation.fixed_effects import is_nested
from migtrade.estimation.ols import LinearFit, weighted_inverse
from migtrade.estimation.ppml import PoissonFit, fit_ppml

if TYPE_CHECKING:  # the IV machinery loads only for IV models
    from migtrade.estimation.iv import IVData


class Numerics(Protocol):
    """The engine's numerical options that the bootstrap reuses (those of
    :class:`migtrade.estimation.options.FitOptions`, named here so that this package does not
    depend on the options module, which builds its requests)."""

    @property
    def tol(self) -> float: ...
    @property
    def fe_tol(self) -> float: ...
    @property
    def maxiter(self) -> int: ...
    @property
    def fe_maxiter(self) -> int: ...
    @property
    def conf_level(self) -> float: ...

Runner = Callable[..., tuple[dict[str, TermBootstrap], list[str]]]


def _run_wild(options: BootstrapOptions, fitted: LinearFit, names: Sequence[str], *,
              w: np.ndarray, absorber: Absorber | None, fe_codes: Sequence[np.ndarray],
              cluster: np.ndarray, opts: Numerics, **_: Any) -> tuple[dict[str, TermBootstrap], list[str]]:
    nested = all(is_nested(f, cluster) for f in fe_codes)
    out = bootstrap_linear(
        names, x_tilde=fitted.x_tilde, resid=fitted.resid, weights=w, beta=fitted.beta,
        bread=fitted.bread, cluster=cluster, absorber=absorber, nested=nested,
        options=options, conf_level=opts.conf_level, fe_tol=opts.fe_tol, fe_maxiter=opts.fe_maxiter)
    return out, []


def _projection(absorber: Absorber | None, hess_w: np.ndarray,
                opts: Numerics) -> Callable[[np.ndarray], np.ndarray] | None:
    """P_D under the weights ``hess_w`` for the score bootstrap's fixed-effect term, or None."""
    if absorber is None:
        return None
    weighted = absorber.with_weights(hess_w)

    def project(cols: np.ndarray) -> np.ndarray:
        res = weighted.demean_or_raise(cols, tol=opts.fe_tol, maxiter=opts.fe_maxiter)
        return cols - res.resid

    return project


def _poisson_scores(mu: np.ndarray, X: np.ndarray, w: np.ndarray, absorber: Absorber | None,
                    opts: Numerics, fe_term: bool) -> PoissonScores:
    """Regressors demeaned under the weights ``w * mu``, the inverse Hessian, and with
    ``fe_term`` the projection on the fixed effects under those weights. ``X`` may be the
    regressors already demeaned under other weights (their demeaning is the same)."""
    hess_w = w * mu
    xt = X
    if absorber is not None and X.shape[1]:
        xt = absorber.with_weights(hess_w).demean_or_raise(
            np.array(X, order="F"), tol=opts.fe_tol, maxiter=opts.fe_maxiter).resid
    bread = weighted_inverse(xt, hess_w)
    return PoissonScores(mu=mu, x_tilde=xt, bread=bread,
                         project=_projection(absorber, hess_w, opts) if fe_term else None)


def _run_score(options: BootstrapOptions, fitted: PoissonFit, names: Sequence[str], *,
               y: np.ndarray, X: np.ndarray, w: np.ndarray, off: np.ndarray | None,
               absorber: Absorber | None, fe_codes: Sequence[np.ndarray], fe_names: Sequence[str],
               cluster: np.ndarray, opts: Numerics, **_: Any) -> tuple[dict[str, TermBootstrap], list[str]]:
    # The restricted fits demean many times under weights near the fit's and one another's.
    absorber = None if absorber is None else absorber.for_repeated_solves()
    # The fixed effects' part of each draw's Newton step (F in the notes of
    # migtrade.estimation.bootstrap.score) vanishes when they are nested in the clusters; else it
    # costs G demeanings a fit and O(G^2) a draw, and is left out beyond a size.
    n_clusters = int(cluster.max()) + 1
    crossed = absorber is not None and not all(is_nested(f, cluster) for f in fe_codes)
    fe_term = crossed and n_clusters <= MAX_FE_TERM_CLUSTERS \
        and y.shape[0] * n_clusters <= MAX_FE_CELLS
    notes = [] if fe_term or not crossed else [
        f"score bootstrap: the fixed effects are not nested in the {n_clusters:,} clusters; "
        "the bootstrap variance leaves out their part of each draw's Newton step (kept up to "
        f"{MAX_FE_TERM_CLUSTERS} clusters)"]

    fits = RestrictedFits(
        PoissonModel(y=y, weights=w, absorber=absorber, measure=fitted.measure),
        FitPoint(beta=fitted.beta, eta=fitted.eta, x_tilde=fitted.x_tilde, bread=fitted.bread,
                 mu=fitted.mu, irls_weights=fitted.irls_weights, deviance=fitted.deviance,
                 weighted=None if absorber is None else absorber.with_weights(fitted.irls_weights)),
        tol=opts.tol, fe_tol=opts.fe_tol, maxiter=opts.maxiter, fe_maxiter=opts.fe_maxiter)

    def restricted(r: np.ndarray, beta0: float) -> PoissonScores:
        try:
            fit = fits(r, beta0)
        except ConvergenceError:  # far from the estimate: the engine's fit from scratch
            return restricted_from_scratch(r, beta0)
        return PoissonScores(mu=fit.mu, x_tilde=fit.point.x_tilde, bread=fit.point.bread,
                             project=_projection(absorber, w * fit.mu, opts) if fe_term else None)

    def restricted_from_scratch(r: np.ndarray, beta0: float) -> PoissonScores:
        # Under r'beta = beta0, with p the first term of r: beta_p = (beta0 - sum_m r_m beta_m) / r_p,
        # so x_p beta0 / r_p moves into the offset and every other x_m becomes x_m - x_p r_m / r_p.
        # (The kept regressors are copied here, not beforehand: this is the fallback, and n x k
        # numbers held through the bootstrap cost their pages in every run.)
        kept = np.asfortranarray(X[:, list(fitted.keep)])
        pivot = int(np.flatnonzero(r)[0])
        others = [m for m in range(kept.shape[1]) if m != pivot]
        xp = kept[:, pivot] / r[pivot]
        design = np.asfortranarray(kept[:, others] - np.outer(xp, r[others]))
        offset = beta0 * xp if off is None else off + beta0 * xp
        fit = fit_ppml(y, design, [names[m] for m in others], absorber, w,
                       offset=offset, fe_codes=fe_codes, fe_names=fe_names,
                       tol=opts.tol, fe_tol=opts.fe_tol, maxiter=opts.maxiter,
                       fe_maxiter=opts.fe_maxiter)
        return _poisson_scores(fit.mu, kept, w, absorber, opts, fe_term)

    unrestricted = PoissonScores(
        mu=fitted.mu, x_tilde=fitted.x_tilde, bread=fitted.bread,
        project=_projection(absorber, w * fitted.mu, opts) if fe_term else None,
        path_terms=fits.path_terms)
    out, more = bootstrap_poisson(names, beta=fitted.beta, unrestricted=unrestricted, y=y,
                                  weights=w, cluster=cluster, restricted=restricted,
                                  options=options, conf_level=opts.conf_level)
    return out, notes + more


RUNNERS: dict[BootstrapMethod, Runner] = {
    BootstrapMethod.wild: _run_wild,
    BootstrapMethod.score: _run_score,
}
"""Each bootstrap method and the function that runs it on a fit of its model."""


def bootstrap_iv(options: BootstrapOptions, data: IVData, terms: Sequence[str],
                 params: np.ndarray, *, absorber: Absorber | None, cluster: np.ndarray,
                 opts: Numerics) -> tuple[dict[str, TermBootstrap], list[str]]:
    """The WRE bootstrap of a 2SLS fit's endogenous coefficient, and notes for the result."""
    from migtrade.estimation.iv import first_stage

    y = data.y if data.offset is None else data.y - data.offset
    fs = first_stage(data, absorber, y, opts.fe_tol, opts.fe_maxiter)
    assert fs.yt is not None
    if fs.et.shape[1] != 1:
        raise UsageError(f"the WRE bootstrap takes one endogenous regressor, not {fs.et.shape[1]}",
                         "Bootstrap a model with one endogenous regressor, or drop --bootstrap.")
    name = data.endog_names[fs.endog[0]]
    out, notes = wre_bootstrap(
        options, y=fs.yt, exog=fs.xt, endog=fs.et[:, 0], instruments=fs.zt, weights=data.weights,
        endog_name=name, terms=terms, estimate=float(params[list(terms).index(name)]),
        absorber=absorber, cluster=cluster, conf_level=opts.conf_level, fe_tol=opts.fe_tol,
        fe_maxiter=opts.fe_maxiter)
    first = out.get(name)
    if first is not None:
        draws = (f"all {first.reps:,} sign vectors of the {first.clusters} clusters (full enumeration)"
                 if first.full_enumeration else f"{first.reps:,} draws, seed {first.seed}")
        notes.insert(0, f"bootstrap p-values and intervals: wild restricted efficient bootstrap "
                        f"(WRE, {options.weights.value} weights), {draws}")
    return out, notes


def bootstrap_fit(options: BootstrapOptions, fitted: LinearFit | PoissonFit, names: Sequence[str],
                  **arrays: Any) -> tuple[dict[str, TermBootstrap], list[str]]:
    """Bootstrap inference on every kept coefficient of ``fitted``, and notes for the result."""
    out, notes = RUNNERS[options.method](options, fitted, names, **arrays)
    for terms in options.hypotheses or ():
        if " + ".join(terms) not in out:
            notes.append(f"no bootstrap of {' + '.join(terms)}: a term was not estimated")
    first = next(iter(out.values()), None)
    if first is not None:
        draws = (f"all {first.reps:,} sign vectors of the {first.clusters} clusters (full enumeration)"
                 if first.full_enumeration else f"{first.reps:,} draws, seed {first.seed}")
        notes.insert(0, f"bootstrap p-values and intervals: {options.describe()}, {draws}")
    return out, notes
