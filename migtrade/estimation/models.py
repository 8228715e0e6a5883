"""The estimators, by name: ``MODELS["ols"]`` and ``MODELS["ppml"]``, each with its IV form.

Every estimator takes the estimation sample as one :class:`ModelInputs` and returns one
:class:`ModelFit`: the kept terms, their estimates and covariance, the regressors it dropped
with the reason, the fit statistics and the iteration counts. :func:`migtrade.estimation.fit.estimate`
prepares the sample, looks the model up here and builds the result from the :class:`ModelFit`
in one place, whichever model ran. Adding an estimator is one :class:`Estimator` in
:data:`MODELS`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from migtrade.errors import EstimationError
from migtrade.estimation.absorb import Absorber
from migtrade.estimation.fixed_effects import absorbed_dof, fe_dof, is_nested
from migtrade.estimation.kernels import weighted_log_factorial_sum
from migtrade.estimation.ols import LinearFit, fit_ols
from migtrade.estimation.options import FitOptions
from migtrade.estimation.ppml import PoissonFit, fit_ppml
from migtrade.estimation.vcov import VcovResult, VcovSpec, compute_vcov
from migtrade.spec.design import Design

if TYPE_CHECKING:
    from migtrade.estimation.iv import IVData, IVFit


@dataclass(frozen=True)
class ModelInputs:
    """The estimation sample (rows already selected) and how to fit it."""

    y: np.ndarray
    X: np.ndarray
    names: tuple[str, ...]
    weights: np.ndarray
    offset: np.ndarray | None
    fe_codes: list[np.ndarray]
    fe_names: tuple[str, ...]
    clusters: list[np.ndarray]
    absorber: Absorber | None
    vcov: VcovSpec
    options: FitOptions
    design: Design  # IV models build their endogenous and instrument blocks from it
    used: np.ndarray  # the rows of ``design`` in the sample
    # PPML: the rectifier's separation check was left to the fit (fit_ppml's
    # ``prove_no_separation``).
    prove_no_separation: bool = False

    @cached_property
    def absorbed(self) -> tuple[int, int]:
        """:func:`absorbed_dof` of the fixed effects, counted once for the fit statistics and
        the small-sample factor (a graph search over every row)."""
        return absorbed_dof(self.fe_codes)


@dataclass(frozen=True)
class ModelFit:
    """What every estimator returns: enough to build the result and run the inference hooks."""

    terms: tuple[str, ...]
    params: np.ndarray
    vcov: VcovResult
    omitted: tuple[tuple[str, str], ...]
    notes: tuple[str, ...]
    fit: dict[str, float | None]
    iterations: int
    sweeps: int
    first_stage: dict[str, Any] = field(default_factory=dict)
    fitted: LinearFit | PoissonFit | None = None  # the bootstrap and bias corrections use it


@dataclass(frozen=True)
class Estimator:
    """One model: how to fit it plainly and with instruments, and what its outcome must be."""

    name: str
    poisson: bool  # zeros kept, separation checked, outcome >= 0
    fit: Callable[[ModelInputs], ModelFit]
    fit_iv: Callable[[ModelInputs], ModelFit]


def _require_regressors(names: Sequence[str], keep: Sequence[int], notes: Sequence[str]) -> None:
    if names and not keep:
        raise EstimationError(
            "every regressor is absorbed by the fixed effects or collinear: " + "; ".join(notes),
            "Remove fixed effects that absorb the regressors (e.g. a pair effect absorbs distance).",
        )


def _vcov(m: ModelInputs, model: str, bread: np.ndarray, scores: np.ndarray, n_params: int,
          rss: float | None) -> VcovResult:
    nested = [m.vcov.kind == "cluster" and any(is_nested(f, c) for c in m.clusters) for f in m.fe_codes]
    return compute_vcov(m.vcov, model=model, bread=bread, scores=scores, n_obs=len(m.y),
                        n_params=n_params, fe_params=fe_dof(m.fe_codes, nested, m.vcov.small_sample.value,
                                                                  m.absorbed),
                        cluster_codes=m.clusters, sigma2_rss=rss)


def _parameters(m: ModelInputs, slopes: int) -> int:
    """Regressors plus the absorbed fixed-effect levels that are identified."""
    total, redundant = m.absorbed
    return slopes + total - redundant


def _kept(m: ModelInputs, keep: Sequence[int]) -> tuple[str, ...]:
    return tuple(m.names[j] for j in keep)


def _ols(m: ModelInputs) -> ModelFit:
    opts = m.options
    y = m.y if m.offset is None else m.y - m.offset
    lin = fit_ols(y, m.X, m.names, m.absorber, m.weights, fe_codes=m.fe_codes,
                  fe_names=m.fe_names, tol=opts.fe_tol, maxiter=opts.fe_maxiter)
    _require_regressors(m.names, lin.keep, lin.notes)
    scores = lin.x_tilde * (m.weights * lin.resid)[:, None]
    vres = _vcov(m, "ols", lin.bread, scores, len(lin.keep), float(m.weights @ lin.resid**2))
    return ModelFit(
        terms=_kept(m, lin.keep), params=lin.beta, vcov=vres,
        omitted=tuple((o.term, o.reason) for o in lin.omitted), notes=(*lin.notes, *vres.notes),
        fit=ols_fit_statistics(m.y, m.weights, lin.resid, lin.y_tilde, _parameters(m, len(lin.keep))),
        iterations=1, sweeps=lin.sweeps, fitted=lin)


def _ppml(m: ModelInputs) -> ModelFit:
    opts = m.options
    pf = fit_ppml(m.y, m.X, m.names, m.absorber, m.weights, offset=m.offset, fe_codes=m.fe_codes,
                  fe_names=m.fe_names, tol=opts.tol, fe_tol=opts.fe_tol, maxiter=opts.maxiter,
                  fe_maxiter=opts.fe_maxiter, prove_no_separation=m.prove_no_separation)
    _require_regressors(m.names, pf.keep, pf.notes)
    resid = m.y - pf.mu
    resid *= m.weights
    scores = pf.x_tilde * resid[:, None]
    del resid
    vres = _vcov(m, "ppml", pf.bread, scores, len(pf.keep), None)
    return ModelFit(
        terms=_kept(m, pf.keep), params=pf.beta, vcov=vres,
        omitted=tuple((o.term, o.reason) for o in pf.omitted), notes=(*pf.notes, *vres.notes),
        fit=poisson_fit_statistics(m.y, m.weights, pf.mu, pf.deviance, _parameters(m, len(pf.keep))),
        iterations=pf.iterations, sweeps=pf.sweeps, fitted=pf)


def iv_data(design: Design, y: np.ndarray, w: np.ndarray | None, off: np.ndarray | None,
            fe_codes: Sequence[np.ndarray], rows: np.ndarray | None = None) -> IVData:
    """The arrays of an IV model; ``y``, ``w``, ``off`` and ``fe_codes`` are already on ``rows``."""
    from migtrade.estimation.iv import IVData

    sel = slice(None) if rows is None else rows
    return IVData(
        y=y, X=np.asfortranarray(design.X[sel]), names=design.names,
        endog=design.endog[sel], endog_names=design.endog_names,
        instruments=design.instruments[sel], instrument_names=design.instrument_names,
        weights=np.ones(len(y)) if w is None else w, offset=off,
        fe_codes=fe_codes, fe_names=design.fe_names,
    )


def _iv(m: ModelInputs, model: str) -> ModelFit:
    """2SLS (``ols``) or the Poisson control function (``ppml``); the IV machinery (and
    scipy.stats behind its diagnostics) loads only for IV models."""
    from migtrade.estimation.iv import fit_2sls
    from migtrade.estimation.iv_diagnostics import VcovContext
    from migtrade.estimation.iv_poisson import fit_control_function

    opts, vc = m.options, m.vcov
    data = iv_data(m.design, m.y, m.weights, m.offset, m.fe_codes, rows=m.used)
    nested = [vc.kind == "cluster" and any(is_nested(f, c) for c in m.clusters) for f in m.fe_codes]
    convention = vc.small_sample.value
    ctx = VcovContext(spec=vc, clusters=m.clusters, fe_params=fe_dof(m.fe_codes, nested, convention),
                      fe_params_iid=fe_dof(m.fe_codes, [False] * len(m.fe_codes), convention))
    ivf: IVFit
    if model == "ols":
        ivf = fit_2sls(data, m.absorber, ctx, tol=opts.fe_tol, maxiter=opts.fe_maxiter)
        assert ivf.resid is not None and ivf.y_tilde is not None  # 2SLS always sets them
        stats = ols_fit_statistics(m.y, m.weights, ivf.resid, ivf.y_tilde, _parameters(m, ivf.n_params))
    else:
        ivf = fit_control_function(data, m.absorber, ctx, tol=opts.tol, fe_tol=opts.fe_tol,
                                   maxiter=opts.maxiter, fe_maxiter=opts.fe_maxiter)
        assert ivf.poisson is not None  # the control function always has a Poisson stage
        stats = poisson_fit_statistics(m.y, m.weights, ivf.poisson.mu, ivf.poisson.deviance,
                                       _parameters(m, ivf.n_params))
    return ModelFit(terms=ivf.terms, params=ivf.params, vcov=ivf.vcov, omitted=ivf.omitted,
                    notes=ivf.notes, fit=stats, iterations=ivf.iterations, sweeps=ivf.sweeps,
                    first_stage=ivf.first_stage)


MODELS: dict[str, Estimator] = {
    "ols": Estimator("ols", poisson=False, fit=_ols, fit_iv=lambda m: _iv(m, "ols")),
    "ppml": Estimator("ppml", poisson=True, fit=_ppml, fit_iv=lambda m: _iv(m, "ppml")),
}
"""Each model's name to its :class:`Estimator` (``--model``, ``model=``)."""


def ols_fit_statistics(y: np.ndarray, w: np.ndarray, resid: np.ndarray, y_tilde: np.ndarray,
                       k: int) -> dict[str, float | None]:
    """R², adjusted and within R², RMSE and RSS; ``k`` counts regressors and absorbed levels.

    Notes
    -----
    With weights w, R² = 1 - Σwe²/Σw(y - ȳ)², adjusted R² = 1 - (1 - R²)(N - 1)/(N - k) and
    within R² = 1 - Σwe²/Σwỹ² (ỹ: the outcome with the fixed effects removed).
    """
    n = y.shape[0]
    wsum = float(w.sum())
    ybar = float(w @ y) / wsum
    # Weighted sums of squares without an n-long temporary each (their fresh pages cost more
    # than the sums); the deviations from the mean are the one array made.
    rss = float(np.einsum("i,i,i->", w, resid, resid))
    centred = y - ybar
    tss = float(np.einsum("i,i,i->", w, centred, centred))
    del centred
    tss_within = float(np.einsum("i,i,i->", w, y_tilde, y_tilde))
    r2 = 1 - rss / tss if tss > 0 else None
    return {
        "r2": r2,
        "adj_r2": None if r2 is None or n <= k else 1 - (1 - r2) * (n - 1) / (n - k),
        "within_r2": 1 - rss / tss_within if tss_within > 0 else None,
        "rmse": float(np.sqrt(rss / wsum)),
        "rss": rss,
        "df_resid": n - k,
    }


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    """The Pearson correlation of two vectors (NaN when either is constant), by centred dot
    products: ``np.corrcoef`` forms and copies a 2 x n stack first (0.03 s at 1.6 M rows)."""
    da = a - a.mean()
    db = b - b.mean()
    ss_a, ss_b = float(da @ da), float(db @ db)
    if not (ss_a > 0 and ss_b > 0):
        return np.nan
    return float(da @ db) / np.sqrt(ss_a * ss_b)


def poisson_fit_statistics(y: np.ndarray, w: np.ndarray, mu: np.ndarray, deviance: float,
                           k: int) -> dict[str, float | None]:
    """Deviance, log-likelihood, constant-only log-likelihood, pseudo-R² and corr(y, mu)².

    Notes
    -----
    ℓ = Σw(y log μ - μ - log y!), ℓ₀ the same with μ = ȳ, pseudo-R² = 1 - ℓ/ℓ₀.
    """
    n = y.shape[0]
    ybar = float(w @ y) / float(w.sum())
    # log(y!) is 0 where y = 0, often a third of a trade panel: skipped in the compiled pass.
    log_fact = weighted_log_factorial_sum(y, w)
    # y log(mu) is 0 where y = 0, also where mu underflowed to 0 there.
    log_mu = np.log(mu, out=np.zeros_like(mu), where=y > 0)
    ll = -float(w @ mu) - log_fact + float(np.einsum("i,i,i->", w, y, log_mu))
    ll0 = -ybar * float(w.sum()) - log_fact + float(w @ y) * float(np.log(ybar))
    corr = _correlation(y, mu) if n > 1 else np.nan
    return {
        "deviance": deviance,
        "loglik": ll,
        "loglik_null": ll0,
        "pseudo_r2": 1 - ll / ll0 if ll0 != 0 else None,
        "r2_corr": float(corr**2) if np.isfinite(corr) else None,
        "df_resid": n - k,
    }
