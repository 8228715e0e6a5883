"""First-stage diagnostics of instrumental-variables models: instrument strength and exogeneity.

Notes
-----
Everything is computed on the first stage with the fixed effects and the included exogenous
regressors partialled out (Frisch-Waugh-Lovell). That leaves the coefficients of the excluded
instruments, the first-stage residuals and every sandwich covariance (iid, robust, clustered)
exactly as in the full first-stage regression:

.. math:: \\ddot e_j = \\ddot Z \\pi_j + v_j, \\qquad j = 1, \\dots, p,

with :math:`\\ddot E` (n x p) the endogenous regressors and :math:`\\ddot Z` (n x L) the excluded
instruments after partialling, W the observation weights, N the observations and
:math:`K_1 = k_{exog} + L + ` absorbed fixed-effect parameters.

* Partial F of regressor j: :math:`F_j = \\hat\\pi_j' \\hat V(\\hat\\pi_j)^{-1} \\hat\\pi_j / L`,
  with :math:`\\hat V` from :func:`compute_vcov` under the covariance type of the second stage. With
  iid errors this is the classical partial F,
  :math:`[(RSS_r - RSS_u)/L] / [RSS_u/(N - K_1)]`; p-value from F(L, df), df = N - K_1 (G - 1
  under clustering).
* Partial R²: :math:`1 - \\hat v_j' W \\hat v_j / \\ddot e_j' W \\ddot e_j`.
* Cragg-Donald F (iid): :math:`(N - K_1)/L \\cdot \\lambda_{min}(\\hat\\Sigma^{-1} \\ddot E' W P_Z
  \\ddot E)` with :math:`\\hat\\Sigma = \\hat V' W \\hat V`; with p = 1 it is the iid partial F.
* Sanderson-Windmeijer F (p > 1): regress :math:`\\ddot e_j` on the other endogenous regressors by
  2SLS with instruments :math:`\\ddot Z`, then test the excluded instruments in the first stage of
  its residual; the Wald statistic is divided by L - p + 1.
* Kleibergen-Paap rk Wald F (robust or clustered): the rk statistic for rank(Π) = p - 1
  (Kleibergen & Paap 2006) with :math:`\\Theta = F_Z \\Pi G_E^{-1}`, where :math:`F_Z, G_E` are the
  upper Cholesky factors of :math:`\\ddot Z'W\\ddot Z` and :math:`\\ddot E'W\\ddot E`, divided by L.
  The covariance of vec(Π) carries the small-sample factor of the second stage, so that with p = 1
  the statistic is the robust partial F.

The weak-instrument flag follows the Staiger-Stock (1997) rule of thumb: a first-stage F (or,
with several endogenous regressors, a Sanderson-Windmeijer F) below 10.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg as sla
from scipy import stats

from migtrade.estimation.ols import solve_wls
from migtrade.estimation.vcov import VcovResult, VcovSpec, compute_vcov

WEAK_F = 10.0
WEAK_RULE = "Staiger-Stock rule of thumb: first-stage F below 10"


@dataclass(frozen=True)
class VcovContext:
    """What every covariance of one IV model shares: its type, clusters and absorbed parameters.

    ``fe_params`` is counted as :func:`compute_vcov` expects under ``spec`` (nested fixed effects
    left out when clustering); ``fe_params_iid`` counts every absorbed parameter, for the iid-based
    statistics that are reported whatever the covariance type.
    """

    spec: VcovSpec
    clusters: Sequence[np.ndarray]
    fe_params: int
    fe_params_iid: int

    def compute(self, *, model: str, bread: np.ndarray, scores: np.ndarray, n_params: int,
                rss: float | None = None) -> VcovResult:
        """:func:`compute_vcov` under this context."""
        return compute_vcov(self.spec, model=model, bread=bread, scores=scores,
                            n_obs=scores.shape[0], n_params=n_params, fe_params=self.fe_params,
                            cluster_codes=self.clusters, sigma2_rss=rss)


def num(value: float) -> float | None:
    """A JSON-safe float: None for NaN and infinities."""
    v = float(value)
    return v if np.isfinite(v) else None


def wald(params: np.ndarray, cov: np.ndarray) -> float:
    """``b' V^+ b``; the pseudo-inverse keeps a rank-deficient clustered V usable."""
    return float(params @ np.linalg.pinv(cov, hermitian=True) @ params)


def f_p_value(f_stat: float, df1: int, vres: VcovResult) -> float:
    """P-value of ``f_stat`` (a Wald statistic over ``df1``) under the distribution of ``vres``."""
    if vres.distribution == "t" and vres.df:
        return float(stats.f.sf(f_stat, df1, vres.df))
    return float(stats.chi2.sf(f_stat * df1, df1))


def coefficient_table(names: Sequence[str], params: np.ndarray, cov: np.ndarray,
                      vres: VcovResult) -> dict[str, dict[str, float | None]]:
    """Estimate, standard error, statistic and two-sided p-value of each coefficient."""
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        tstat = np.where(se > 0, params / se, np.nan)
    if vres.distribution == "t" and vres.df:
        pv = 2 * stats.t.sf(np.abs(tstat), vres.df)
    else:
        pv = 2 * stats.norm.sf(np.abs(tstat))
    return {nm: {"estimate": num(b), "std_error": num(s), "statistic": num(t), "p_value": num(p)}
            for nm, b, s, t, p in zip(names, params, se, tstat, pv, strict=True)}


def _partial_f(z: np.ndarray, target: np.ndarray, w: np.ndarray, ctx: VcovContext, k1: int,
               df1: int) -> tuple[float, float, np.ndarray, np.ndarray, VcovResult]:
    """Wald F of all coefficients in the regression of ``target`` on ``z`` (both partialled)."""
    coef, bread = solve_wls(z, target, w)
    resid = target - z @ coef
    vres = ctx.compute(model="ols", bread=bread, scores=z * (w * resid)[:, None], n_params=k1,
                       rss=float(w @ resid**2))
    f = wald(coef, vres.cov) / df1
    return f, f_p_value(f, df1, vres), coef, resid, vres


def first_stage_diagnostics(
    ee: np.ndarray,
    zz: np.ndarray,
    w: np.ndarray,
    endog_names: Sequence[str],
    instrument_names: Sequence[str],
    ctx: VcovContext,
    n_exog: int,
) -> tuple[dict[str, Any], list[str]]:
    """Strength of the excluded instruments, per endogenous regressor and jointly.

    Parameters
    ----------
    ee, zz
        (n, p) endogenous regressors and (n, L) excluded instruments, both with the fixed effects
        and the included exogenous regressors partialled out under the weights ``w``.
    n_exog
        Number of included exogenous regressors (they count in the first-stage degrees of freedom).

    Returns
    -------
    dict, list of str
        The first-stage block (one entry per endogenous regressor, ``weak_instruments`` and
        ``identification``) and the notes to add to the result.
    """
    n, n_instr = zz.shape
    p = ee.shape[1]
    k1 = n_exog + n_instr
    block: dict[str, Any] = {}
    notes: list[str] = []
    weak = False
    resid = np.empty_like(ee)
    for j, name in enumerate(endog_names):
        f, pval, coef, resid[:, j], vres = _partial_f(zz, ee[:, j], w, ctx, k1, n_instr)
        tss = float(w @ ee[:, j] ** 2)
        block[name] = {
            "f_stat": num(f),
            "f_p_value": num(pval),
            "f_df": [n_instr, vres.df],
            "partial_r2": num(1.0 - float(w @ resid[:, j] ** 2) / tss) if tss > 0 else None,
            "instruments": list(instrument_names),
            "coefficients": coefficient_table(instrument_names, coef, vres.cov, vres),
        }
        if not f >= WEAK_F:
            weak = True
            notes.append(f"weak instruments: the first-stage F statistic of {name} is {f:.2f}, "
                         f"below 10 (Staiger-Stock rule of thumb)")
    fitted = ee - resid
    identification: dict[str, Any] = {
        "cragg_donald_f": num(_cragg_donald(fitted, resid, w, n - k1 - ctx.fe_params_iid, n_instr)),
    }
    if ctx.spec.kind != "iid":
        identification["kleibergen_paap_f"] = num(
            _kleibergen_paap(ee, zz, w, resid, ctx, k1) / n_instr)
    if p > 1:
        dof = n_instr - p + 1
        for j, name in enumerate(endog_names):
            others = [i for i in range(p) if i != j]
            delta, _ = solve_wls(fitted[:, others], ee[:, j], w)
            f, pval, *_ = _partial_f(zz, ee[:, j] - ee[:, others] @ delta, w, ctx, k1, dof)
            block[name]["sw_f_stat"] = num(f)
            block[name]["sw_f_p_value"] = num(pval)
            if not f >= WEAK_F:
                weak = True
                notes.append(f"weak instruments: the Sanderson-Windmeijer conditional F statistic "
                             f"of {name} is {f:.2f}, below 10 (Staiger-Stock rule of thumb)")
    block["weak_instruments"] = weak
    block["weak_instrument_rule"] = WEAK_RULE
    block["identification"] = identification
    return block, notes


def _cragg_donald(fitted: np.ndarray, resid: np.ndarray, w: np.ndarray, df_resid: int,
                  n_instr: int) -> float:
    """Minimum-eigenvalue statistic in its F form, ``(N - K1)/L λmin(Σ^-1 Ê'WÊ)``."""
    sigma = (resid * w[:, None]).T @ resid
    explained = (fitted * w[:, None]).T @ fitted
    try:
        lam = float(sla.eigh(explained, sigma, eigvals_only=True).min())
    except np.linalg.LinAlgError:
        return float("nan")
    return lam * df_resid / n_instr


def _kleibergen_paap(ee: np.ndarray, zz: np.ndarray, w: np.ndarray, resid: np.ndarray,
                     ctx: VcovContext, k1: int) -> float:
    """Kleibergen-Paap rk Wald statistic of rank(Π) = p - 1 (a chi2 with L - p + 1 df)."""
    p = ee.shape[1]
    coef, bread = solve_wls(zz, ee, w)
    # The covariance of vec(Π), columns stacked, from the scores of all p first stages at once.
    scores = np.hstack([zz * (w * resid[:, j])[:, None] for j in range(p)])
    vres = ctx.compute(model="ols", bread=np.kron(np.eye(p), bread), scores=scores, n_params=k1)
    return rk_statistic(coef, vres.cov, ee, zz, w)


def rk_statistic(coef: np.ndarray, cov: np.ndarray, ee: np.ndarray, zz: np.ndarray,
                 w: np.ndarray) -> float:
    """The rk Wald statistic of rank(Π) = p - 1 given Π (L x p) and the covariance of vec(Π)."""
    p = coef.shape[1]
    try:
        fz = sla.cholesky((zz * w[:, None]).T @ zz, lower=False)
        ge = sla.cholesky((ee * w[:, None]).T @ ee, lower=False)
    except np.linalg.LinAlgError:
        return float("nan")
    ge_inv = sla.solve_triangular(ge, np.eye(p), lower=False)
    theta = fz @ coef @ ge_inv
    # vec(F Π G^-1) = (G^-T ⊗ F) vec(Π)
    transform = np.kron(ge_inv.T, fz)
    v_theta = transform @ cov @ transform.T
    u, _, vt = np.linalg.svd(theta, full_matrices=True)
    q = p - 1
    u22 = u[q:, q:]
    a_perp = u[:, q:] @ np.linalg.solve(u22, np.real(sla.sqrtm(u22 @ u22.T)))
    v_col = vt[q:, :]  # the right singular vector of the smallest singular value, as a row
    v22 = v_col[:, q:]
    b_perp = np.real(sla.sqrtm(v22 @ v22.T)) @ np.linalg.solve(v22.T, v_col)
    lam = (a_perp.T @ theta @ b_perp.T).reshape(-1, order="F")
    kron = np.kron(b_perp, a_perp.T)
    omega = kron @ v_theta @ kron.T
    return wald(lam, omega)


def exogeneity_block(names: Sequence[str], params: np.ndarray, cov: np.ndarray,
                      vres: VcovResult, method: str) -> dict[str, Any]:
    """Joint Wald test and coefficient table of the control-function terms (ρ = 0: exogeneity)."""
    p = len(names)
    if p == 0:
        return {"method": method, "note": "not available: every first-stage residual was dropped"}
    stat = wald(params, cov)
    return {
        "method": method,
        "wald": num(stat),
        "df": p,
        "p_value": num(f_p_value(stat / p, p, vres)),
        "distribution": f"F({p}, {vres.df})" if vres.distribution == "t" else f"chi2({p})",
        "terms": coefficient_table(names, params, cov, vres),
    }
