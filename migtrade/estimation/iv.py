"""Instrumental variables with absorbed fixed effects: the shared first stage, and 2SLS.

Notes
-----
A tilde marks a column with the fixed effects projected out under the weights W (the
:class:`Absorber`). X are the included exogenous regressors, E the p endogenous ones, Z the L
excluded instruments, Q = [X, Z] the full instrument set and R = [X, E] the regressors.

**2SLS.** The fixed effects are among both the regressors and the instruments, so by
Frisch-Waugh-Lovell 2SLS with the dummies equals 2SLS on the demeaned data:

.. math::

    \\hat R = \\tilde Q (\\tilde Q'W\\tilde Q)^{-1} \\tilde Q'W \\tilde R = [\\tilde X, \\hat E], \\quad
    \\hat\\theta = (\\hat R'W\\hat R)^{-1} \\hat R'W \\tilde y, \\quad
    \\hat u = \\tilde y - \\tilde R \\hat\\theta.

The covariance is :func:`compute_vcov` with bread :math:`(\\hat R'W\\hat R)^{-1}` and scores
:math:`\\hat r_i w_i \\hat u_i` (residuals of the structural equation, with the actual E); iid uses
:math:`s^2 = \\sum w \\hat u^2/(N - K)`. The small-sample conventions are those of OLS.
Exogeneity is tested by the regression form of the Durbin-Wu-Hausman test: the Wald test of
ρ = 0 in the OLS of :math:`\\tilde y` on :math:`[\\tilde X, \\tilde E, \\hat V]`, with
:math:`\\hat V` the first-stage residuals.

The Poisson control function is in :mod:`migtrade.estimation.iv_poisson`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from migtrade.errors import EstimationError, FormulaError
from migtrade.estimation.absorb import DEFAULT_MAXITER, DEFAULT_TOL, Absorber
from migtrade.estimation.collinearity import Omission, select_columns
from migtrade.estimation.iv_diagnostics import (
    VcovContext,
    exogeneity_block,
    first_stage_diagnostics,
)
from migtrade.estimation.ols import solve_wls
from migtrade.estimation.ppml import PoissonFit
from migtrade.estimation.vcov import VcovResult


@dataclass(frozen=True)
class IVData:
    """The estimation sample of an IV model (rows already selected)."""

    y: np.ndarray
    X: np.ndarray
    names: tuple[str, ...]
    endog: np.ndarray
    endog_names: tuple[str, ...]
    instruments: np.ndarray
    instrument_names: tuple[str, ...]
    weights: np.ndarray
    offset: np.ndarray | None
    fe_codes: Sequence[np.ndarray]
    fe_names: tuple[str, ...]


@dataclass(frozen=True)
class IVFit:
    """A fitted IV model: structural coefficients, their covariance and the first-stage block."""

    terms: tuple[str, ...]
    params: np.ndarray
    vcov: VcovResult
    n_params: int  # estimated (second-stage) slope parameters, for degrees of freedom
    omitted: tuple[tuple[str, str], ...]
    notes: tuple[str, ...]
    first_stage: dict[str, Any]
    resid: np.ndarray | None = None  # 2SLS structural residuals
    y_tilde: np.ndarray | None = None
    poisson: PoissonFit | None = None
    iterations: int = 1
    sweeps: int = 0


@dataclass(frozen=True)
class FirstStage:
    """The first stage on the demeaned data, with the columns kept and their fitted values."""

    xt: np.ndarray  # kept exogenous regressors, demeaned
    et: np.ndarray  # kept endogenous regressors, demeaned
    zt: np.ndarray  # kept excluded instruments, demeaned
    yt: np.ndarray | None
    exog: tuple[int, ...]
    endog: tuple[int, ...]
    instruments: tuple[int, ...]
    fitted: np.ndarray  # Ê
    resid: np.ndarray  # V̂ (residuals of the first stage with its fixed effects)
    q_bread: np.ndarray  # (Q̃'WQ̃)^-1
    notes: tuple[str, ...]
    sweeps: int
    omitted: tuple[Omission, ...] = ()  # exogenous and endogenous regressors dropped


def check_order_condition(endog_names: Sequence[str], instrument_names: Sequence[str],
                          dropped: Sequence[str] = ()) -> None:
    """Raise :class:`FormulaError` when there are fewer instruments than endogenous regressors."""
    if len(instrument_names) >= len(endog_names):
        return
    why = f" after dropping {'; '.join(dropped)}" if dropped else ""
    raise FormulaError(
        f"the model is under-identified: {len(endog_names)} endogenous regressor(s) "
        f"({', '.join(endog_names)}) but {len(instrument_names)} excluded instrument(s)"
        f"{' (' + ', '.join(instrument_names) + ')' if instrument_names else ''}{why}",
        "Give at least as many instruments as endogenous regressors after the '~' of the third "
        "part of the formula, and none that the fixed effects absorb.",
    )


def first_stage(data: IVData, absorber: Absorber | None, y: np.ndarray | None,
                tol: float, maxiter: int) -> FirstStage:
    """Demean, drop absorbed or collinear columns, check identification, fit the first stage.

    ``y`` (the outcome, for 2SLS) is demeaned with the other columns when given.
    """
    w = data.weights
    kx, p = data.X.shape[1], data.endog.shape[1]
    cols = [data.X, data.endog, data.instruments] if y is None else [y[:, None], data.X,
                                                                      data.endog, data.instruments]
    both = np.column_stack(cols)
    sweeps = 0
    if absorber is not None:
        res = absorber.demean_or_raise(both, tol=tol, maxiter=maxiter)
        both, sweeps = res.resid, res.sweeps
    yt = None if y is None else both[:, 0].copy()
    both = both if y is None else both[:, 1:]
    xt_all, et_all, zt_all = both[:, :kx], both[:, kx:kx + p], both[:, kx + p:]
    sel = select_columns(np.column_stack([xt_all, et_all]), np.column_stack([data.X, data.endog]),
                         w, (*data.names, *data.endog_names), fe_codes=data.fe_codes,
                         fe_names=data.fe_names)
    exog = tuple(j for j in sel.keep if j < kx)
    endog = tuple(j - kx for j in sel.keep if j >= kx)
    notes = list(sel.notes)
    if not endog:
        raise EstimationError(
            "every endogenous regressor is absorbed by the fixed effects or collinear: "
            + "; ".join(notes), "Remove the fixed effects or regressors that absorb them.")
    xt = xt_all[:, list(exog)]
    sel_z = select_columns(np.column_stack([xt, zt_all]),
                           np.column_stack([data.X[:, list(exog)], data.instruments]), w,
                           (*(data.names[j] for j in exog), *data.instrument_names),
                           fe_codes=data.fe_codes, fe_names=data.fe_names)
    instr = [j - len(exog) for j in sel_z.keep if j >= len(exog)]
    z_notes = [f"instrument {nt}" for nt in sel_z.notes]
    notes.extend(z_notes)
    check_order_condition([data.endog_names[j] for j in endog],
                          [data.instrument_names[j] for j in instr], z_notes)
    et, zt = et_all[:, list(endog)], zt_all[:, instr]
    q = np.column_stack([xt, zt])
    coef, q_bread = solve_wls(q, et, w)
    fitted = q @ coef
    ident = select_columns(np.column_stack([xt, fitted]), np.column_stack([xt, fitted]), w,
                           [*(data.names[j] for j in exog), *(data.endog_names[j] for j in endog)])
    if len(ident.keep) < xt.shape[1] + len(endog):
        raise EstimationError(
            "the model is not identified: the excluded instruments do not move "
            + ", ".join(data.endog_names[j] for i, j in enumerate(endog)
                        if xt.shape[1] + i not in ident.keep)
            + " once the fixed effects and exogenous regressors are accounted for",
            "Use instruments that vary within the fixed effects and are correlated with the "
            "endogenous regressors.")
    return FirstStage(xt=xt, et=et, zt=zt, yt=yt, exog=exog, endog=endog, instruments=(*instr,),
                       fitted=fitted, resid=et - fitted, q_bread=q_bread, notes=(*notes,),
                       sweeps=sweeps, omitted=sel.omitted)


def diagnostics(fs: FirstStage, data: IVData, ctx: VcovContext) -> tuple[dict[str, Any], list[str]]:
    """The first-stage block, computed on E and Z with X and the fixed effects partialled out."""
    w = data.weights
    instr_names = [data.instrument_names[j] for j in fs.instruments]
    if fs.xt.shape[1]:
        coef, _ = solve_wls(fs.xt, np.column_stack([fs.et, fs.zt]), w)
        both = np.column_stack([fs.et, fs.zt]) - fs.xt @ coef
        ee, zz = both[:, :fs.et.shape[1]], both[:, fs.et.shape[1]:]
    else:
        ee, zz = fs.et, fs.zt
    return first_stage_diagnostics(ee, zz, w, [data.endog_names[j] for j in fs.endog],
                                   instr_names, ctx, fs.xt.shape[1])


def omitted(names: Sequence[str], kept: Sequence[str],
            dropped: Sequence[Omission]) -> tuple[tuple[str, str], ...]:
    """Each regressor of ``names`` not in ``kept``, with the reason it was dropped."""
    reasons = {o.term: o.reason for o in dropped}
    return tuple((nm, reasons.get(nm, "dropped")) for nm in names if nm not in kept)


def cf_name(endog: str) -> str:
    """Name of the control-function term (first-stage residual) of an endogenous regressor."""
    return f"resid({endog})"


def fit_2sls(data: IVData, absorber: Absorber | None, ctx: VcovContext, *,
             tol: float = DEFAULT_TOL, maxiter: int = DEFAULT_MAXITER) -> IVFit:
    """Two-stage least squares with the fixed effects of ``absorber`` partialled out.

    Parameters
    ----------
    data
        The estimation sample; its offset, if any, is subtracted from the outcome.
    absorber
        The fixed effects under the observation weights, or None without fixed effects.
    ctx
        Covariance type, clusters and absorbed parameters, shared by both stages.

    Returns
    -------
    IVFit
        The coefficients of the kept exogenous and endogenous regressors, their covariance, and
        the first-stage block with the Durbin-Wu-Hausman exogeneity test.

    Raises
    ------
    FormulaError
        When fewer instruments than endogenous regressors remain after dropping the absorbed or
        collinear ones.
    EstimationError
        When the instruments do not identify the endogenous regressors.
    """
    w = data.weights
    y = data.y if data.offset is None else data.y - data.offset
    fs = first_stage(data, absorber, y, tol, maxiter)
    assert fs.yt is not None
    xhat = np.column_stack([fs.xt, fs.fitted])
    reg = np.column_stack([fs.xt, fs.et])
    beta, bread = solve_wls(xhat, fs.yt, w)
    resid = fs.yt - reg @ beta
    k = reg.shape[1]
    vres = ctx.compute(model="ols", bread=bread, scores=xhat * (w * resid)[:, None], n_params=k,
                       rss=float(w @ resid**2))
    terms = (*(data.names[j] for j in fs.exog), *(data.endog_names[j] for j in fs.endog))
    block, notes = diagnostics(fs, data, ctx)

    # Durbin-Wu-Hausman in regression form: OLS with the first-stage residuals added.
    aug = np.column_stack([reg, fs.resid])
    b_aug, bread_aug = solve_wls(aug, fs.yt, w)
    e_aug = fs.yt - aug @ b_aug
    v_aug = ctx.compute(model="ols", bread=bread_aug, scores=aug * (w * e_aug)[:, None],
                        n_params=aug.shape[1], rss=float(w @ e_aug**2))
    cf = slice(k, aug.shape[1])
    block["method"] = "2sls"
    block["exogeneity_test"] = exogeneity_block(
        [cf_name(data.endog_names[j]) for j in fs.endog], b_aug[cf], v_aug.cov[cf, cf], v_aug,
        "Durbin-Wu-Hausman (regression form): first-stage residuals added to the OLS")
    all_notes = (*fs.notes, *notes, *vres.notes)
    return IVFit(terms=terms, params=beta, vcov=vres, n_params=k,
                 omitted=omitted((*data.names, *data.endog_names), terms, fs.omitted),
                 notes=all_notes, first_stage=block, resid=resid, y_tilde=fs.yt,
                 sweeps=fs.sweeps)
