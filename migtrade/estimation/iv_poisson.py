"""Poisson (PPML) with endogenous regressors by a control function, with two-step standard errors.

Notes
-----
Notation as in :mod:`migtrade.estimation.iv`.

Stage 1 is OLS of each endogenous regressor on Q and the fixed
effects, with residuals :math:`\\hat v_m`. Stage 2 is PPML of y on :math:`[X, E, \\hat V]` and the
fixed effects; with :math:`E[y | x, e, v] = \\exp(x'\\beta + e'\\gamma + v'\\rho + \\alpha)` it is
consistent for (β, γ), and ρ = 0 is exogeneity (Wooldridge 2014).

The second-stage covariance accounts for the estimated first stage (Murphy & Topel 1985; Newey &
McFadden 1994, section 6). Linearising both estimating equations, including the fixed effects of
both stages, gives :math:`\\hat\\phi - \\phi \\approx B \\sum_i s^*_i` with

.. math::

    s^*_i = w_i \\tilde x_i (y_i - \\mu_i) + \\sum_m w_i \\hat v_{im} f^{(m)}_i, \\qquad
    f^{(m)} = P_H c^{(m)}, \\qquad c^{(m)}_i = \\rho_m \\mu_i \\tilde x_i - e_{v_m} (y_i - \\mu_i),

where :math:`\\tilde x` are the second-stage regressors demeaned under the weights wμ,
:math:`B = (\\tilde X'W M \\tilde X)^{-1}`, :math:`e_{v_m}` the unit vector of :math:`\\hat v_m`
and :math:`P_H` the weighted least-squares fitted-values operator of the first stage (H = Q and
the fixed-effect dummies, applied by demeaning). Robust and clustered covariances are the sandwich
with :math:`s^*`; the iid one is :math:`B + B (\\sum_{mn} \\hat\\sigma_{mn} f^{(m)\\prime} W f^{(n)}) B`
with :math:`\\hat\\Sigma = \\hat V' W \\hat V/(N - K_1)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from migtrade.estimation.absorb import DEFAULT_MAXITER, DEFAULT_TOL, Absorber
from migtrade.estimation.fixed_effects import compact
from migtrade.estimation.iv import (
    FirstStage,
    IVData,
    IVFit,
    cf_name,
    diagnostics,
    first_stage,
    omitted,
)
from migtrade.estimation.iv_diagnostics import VcovContext, exogeneity_block
from migtrade.estimation.ppml import fit_ppml
from migtrade.estimation.sample import Sample, build_sample

CF_CORRECTION = ("standard errors account for the estimated first stage "
                 "(analytic two-step Murphy-Topel correction)")


def fit_control_function(
    data: IVData,
    absorber: Absorber | None,
    ctx: VcovContext,
    *,
    tol: float = 1e-8,
    fe_tol: float = DEFAULT_TOL,
    maxiter: int = 1000,
    fe_maxiter: int = DEFAULT_MAXITER,
) -> IVFit:
    """Poisson (PPML) with endogenous regressors by a control function.

    Parameters
    ----------
    data
        The estimation sample, separated observations already removed (see
        :func:`control_function_sample`).
    absorber
        The fixed effects under the observation weights (shared by both stages), or None.
    ctx
        Covariance type, clusters and absorbed parameters.

    Returns
    -------
    IVFit
        The structural coefficients (exogenous and endogenous regressors) with the two-step
        covariance; the coefficients of the first-stage residuals are in
        ``first_stage["exogeneity_test"]``, not among the structural ones.
    """
    w, y = data.weights, data.y
    n = y.shape[0]
    fs = first_stage(data, absorber, None, fe_tol, fe_maxiter)
    endog_names = [data.endog_names[j] for j in fs.endog]
    names2 = (*(data.names[j] for j in fs.exog), *endog_names, *(cf_name(e) for e in endog_names))
    x2 = np.column_stack([data.X[:, list(fs.exog)], data.endog[:, list(fs.endog)], fs.resid])
    pf = fit_ppml(y, x2, names2, absorber, w, offset=data.offset, fe_codes=data.fe_codes,
                  fe_names=data.fe_names, tol=tol, fe_tol=fe_tol, maxiter=maxiter,
                  fe_maxiter=fe_maxiter)
    keep, k2 = pf.keep, len(pf.keep)
    n_struct = len(fs.exog) + len(fs.endog)
    cf_pos = [pos for pos, j in enumerate(keep) if j >= n_struct]
    cf_eq = [keep[pos] - n_struct for pos in cf_pos]
    resid_y = y - pf.mu
    scores = pf.x_tilde * (w * resid_y)[:, None]
    bread = pf.bread
    if cf_pos:
        # c^(m) of the Notes, one (n, k2) block per first-stage residual, projected all at once.
        parts = []
        for pos in cf_pos:
            c = pf.beta[pos] * pf.mu[:, None] * pf.x_tilde
            c[:, pos] -= resid_y
            parts.append(c)
        proj = _first_stage_fitted(np.hstack(parts), absorber, fs, w, fe_tol, fe_maxiter)
        f = [proj[:, i * k2:(i + 1) * k2] for i in range(len(cf_pos))]
        v = fs.resid[:, cf_eq]
        if ctx.spec.kind == "iid":
            k1 = fs.xt.shape[1] + fs.zt.shape[1]
            sigma = (v * w[:, None]).T @ v / max(n - k1 - ctx.fe_params_iid, 1)
            extra = sum(sigma[a, b] * (f[a] * w[:, None]).T @ f[b]
                        for a in range(len(f)) for b in range(len(f)))
            bread = bread + bread @ extra @ bread
        else:
            scores = scores + sum((w * v[:, i])[:, None] * f[i] for i in range(len(f)))
    vres = ctx.compute(model="ppml", bread=bread, scores=scores, n_params=k2)
    struct = [pos for pos, j in enumerate(keep) if j < n_struct]
    terms = tuple(names2[keep[pos]] for pos in struct)
    block, notes = diagnostics(fs, data, ctx)
    block["method"] = "poisson control function"
    block["se_method"] = "analytic two-step (Murphy-Topel) correction"
    cf_names = [names2[keep[pos]] for pos in cf_pos]
    block["exogeneity_test"] = exogeneity_block(
        cf_names, pf.beta[cf_pos], vres.cov[np.ix_(cf_pos, cf_pos)], vres,
        "control function: Wald test that the first-stage residuals have no effect")
    all_notes = (*fs.notes, *pf.notes, *notes, CF_CORRECTION, *vres.notes)
    return IVFit(
        terms=terms, params=pf.beta[struct], vcov=replace(vres, cov=vres.cov[np.ix_(struct, struct)]),
        n_params=k2, omitted=omitted((*data.names, *data.endog_names), terms, (*fs.omitted, *pf.omitted)),
        notes=all_notes, first_stage=block, poisson=pf, iterations=pf.iterations,
        sweeps=fs.sweeps + pf.sweeps,
    )


def _first_stage_fitted(c: np.ndarray, absorber: Absorber | None, fs: FirstStage, w: np.ndarray,
                        tol: float, maxiter: int) -> np.ndarray:
    """Weighted least-squares fitted values of the columns of ``c`` on Q and the fixed effects."""
    ct = c if absorber is None else absorber.demean_or_raise(c, tol=tol, maxiter=maxiter).resid
    q = np.column_stack([fs.xt, fs.zt])
    resid = ct - q @ (fs.q_bread @ ((q * w[:, None]).T @ ct))
    return c - resid


def control_function_sample(
    sample: Sample,
    data: IVData,
    *,
    drop_singletons: bool,
    separation: Sequence[str],
    tol: float = DEFAULT_TOL,
    maxiter: int = DEFAULT_MAXITER,
) -> Sample:
    """Re-check separation with the second-stage regressors [X, E, V̂] of the control function.

    Parameters
    ----------
    sample
        The sample decided on [X, E] (missing values, singletons, separation).
    data
        Every row that ``sample`` describes, aligned with it.

    Returns
    -------
    Sample
        The same sample with the rows that V̂ separates (and the singletons that leaves) dropped.
        V̂ depends on the sample, so the first stage is re-estimated until nothing more drops.
    """
    status = sample.status.copy()
    used = sample.used.copy()
    while separation and used.any():
        idx = np.flatnonzero(used)
        if not np.any(data.y[idx] == 0):
            break  # only zero outcomes can be separated
        codes = [compact(np.asarray(c)[idx])[0] for c in data.fe_codes]
        sub = _rows(data, idx, codes)
        absorber = Absorber(codes, sub.weights) if codes else None
        fs = first_stage(sub, absorber, None, tol, maxiter)
        x2 = np.column_stack([sub.X, sub.endog, fs.resid])
        inner = build_sample(n_rows=len(idx), excluded=np.zeros(len(idx), dtype=bool),
                             missing=np.zeros(len(idx), dtype=bool), fe_codes=codes, y=sub.y,
                             X=x2, poisson=True, drop_singletons=drop_singletons,
                             separation=separation)
        if inner.used.all():
            break
        gone = idx[~inner.used]
        status[gone] = inner.status[~inner.used]
        used[gone] = False
    kept = np.flatnonzero(used)
    fe = tuple(compact(np.asarray(c)[kept])[0] for c in data.fe_codes)
    return Sample(status=status, used=used, fe_codes=fe)


def _rows(data: IVData, idx: np.ndarray, codes: list[np.ndarray]) -> IVData:
    return IVData(y=data.y[idx], X=data.X[idx], names=data.names, endog=data.endog[idx],
                  endog_names=data.endog_names, instruments=data.instruments[idx],
                  instrument_names=data.instrument_names, weights=data.weights[idx],
                  offset=None if data.offset is None else data.offset[idx], fe_codes=codes,
                  fe_names=data.fe_names)
