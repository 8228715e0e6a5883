"""The wild restricted efficient (WRE) bootstrap for 2SLS with absorbed fixed effects.

Notes
-----
Davidson & MacKinnon (2010), clustered as in Roodman, MacKinnon, Nielsen & Webb (2019, section
on instrumental variables). For one endogenous regressor e with instruments Z, included
exogenous regressors X and fixed effects D, write every column with X and D partialled out under
the weights W (M the annihilator of [X, D]): y, e, Z. The 2SLS estimate is
``b = a' A Z'Wy / a' A a`` with ``a = Z'We`` and ``A = (Z'WZ)^{-1}``; its cluster-robust t
is ``t = (b - beta0) a'Aa / sqrt(Σ_g s_g²)``, ``s_g = (A a)' Z_g' W_g (y - e b)_g`` (CR0; the
small-sample factor multiplies t and t* alike and is left out).

For H0: beta = beta0 the bootstrap data come from the restricted structural residuals and the
efficient reduced form:

    u = y - beta0 e,   e = Z π + δ u + error (OLS),   v = e - Z π,
    e* = Z π + M(w_g v),   y* = beta0 e* + M(w_g u),

w_g being the draw of observation's cluster g (the same for both equations). Everything the
2SLS t* of a draw needs is a cluster-level sum: with ``T_c[:, g, h] = Z_g' W_g [M(c ∘ 1_h)]_g``
(one demeaning of G columns for each of y, e and the columns of Z, once; linear in beta0 and π),
``S_c[:, h] = Z_h' W_h c_h`` and ``K_g = Z_g' W_g Z_g``,

    a* = A^{-1} π + S_v w,   b* - beta0 = (A a*)' S_u w / a*'A a*,
    s*_g = (A a*)' [T_u[:, g, :] w - (b* - beta0) (K_g π + T_v[:, g, :] w)],
    t* = (b* - beta0) a*'A a* / sqrt(Σ_g s*_g²),

so a draw costs O(L G²) and no pass over the data; at w = 1 the bootstrap data are the data and
t* is the sample's t. The p-value is the share of |t*| at least |t| (ties counted), intervals
invert the test over beta0 as for the other bootstraps, and with Rademacher weights and
2^G <= B all 2^G sign vectors are used. Only the endogenous regressor's coefficient is
bootstrapped, and only with one endogenous regressor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from migtrade.errors import UsageError
from migtrade.estimation.absorb import Absorber
from migtrade.estimation.bootstrap.invert import critical_value, invert, p_value, rejection_gap
from migtrade.estimation.bootstrap.options import BootstrapOptions, TermBootstrap
from migtrade.estimation.bootstrap.weights import DrawPlan
from migtrade.estimation.bootstrap.wild import group_sums
from migtrade.estimation.ols import solve_wls

# A draw costs O(L G^2) and the set-up G demeanings per column: a few-cluster method.
MAX_WRE_CLUSTERS = 1000
MAX_CELLS = 50_000_000
XTOL_SE = 1e-6
MAX_EVALS = 100


class PartialledIV:
    """The 2SLS data with the exogenous regressors and fixed effects partialled out, and the
    cluster-level sums of the notes, computed once for every null value."""

    def __init__(self, y: np.ndarray, e: np.ndarray, Z: np.ndarray, weights: np.ndarray,
                 cluster: np.ndarray, n_clusters: int, annihilate: Any) -> None:
        self.y, self.e, self.Z, self.w = y, e, Z, weights
        self.cluster, self.g = cluster, n_clusters
        self.A = np.linalg.inv(Z.T @ (weights[:, None] * Z))
        zw = Z * weights[:, None]
        self.zw = zw
        L = Z.shape[1]
        self.S_y, self.S_e = (group_sums(zw * c[:, None], cluster, n_clusters).T for c in (y, e))
        self.S_z = np.stack([group_sums(zw * Z[:, [m]], cluster, n_clusters).T for m in range(L)])
        self.K = self.S_z  # K_g = Z_g'W_g Z_g: S_z[m, :, g] is column m of K_g
        self.T_y, self.T_e = self._tensor(y, annihilate), self._tensor(e, annihilate)
        self.T_z = np.stack([self._tensor(Z[:, m], annihilate) for m in range(L)])

    def _tensor(self, c: np.ndarray, annihilate: Any) -> np.ndarray:
        """``T_c[:, g, h] = Z_g' W_g [M(c ∘ 1_h)]_g`` (L x G x G)."""
        n = c.shape[0]
        cols = np.zeros((n, self.g), order="F")
        cols[np.arange(n), self.cluster] = c
        partialled = annihilate(cols)
        out = np.empty((self.Z.shape[1], self.g, self.g))
        for m in range(self.Z.shape[1]):
            out[m] = group_sums(self.zw[:, [m]] * partialled, self.cluster, self.g)
        return out

    def statistic_pieces(self, beta0: float) -> dict[str, np.ndarray]:
        """The sums of the notes for the null ``beta = beta0``."""
        u = self.y - beta0 * self.e
        coef, _ = solve_wls(np.column_stack([self.Z, u]), self.e, self.w)
        pi = coef[:-1]
        return {
            "a0": np.linalg.solve(self.A, pi),
            "S_u": self.S_y - beta0 * self.S_e,
            "S_v": self.S_e - np.tensordot(pi, self.S_z, axes=1),
            "T_u": self.T_y - beta0 * self.T_e,
            "T_v": self.T_e - np.tensordot(pi, self.T_z, axes=1),
            "Kpi": np.einsum("mlg,m->lg", self.K, pi),
        }


def _t_stats(p: dict[str, np.ndarray], A: np.ndarray, w: np.ndarray) -> np.ndarray:
    """t* for a block of draws ``w`` (b x G); the sample's t at w = 1."""
    a = p["a0"][None, :] + w @ p["S_v"].T  # (b, L)
    c = a @ A  # A a*, A symmetric
    den = np.einsum("bl,bl->b", a, c)
    delta = np.einsum("bl,bl->b", c, w @ p["S_u"].T) / den
    tu = np.einsum("lgh,bh->blg", p["T_u"], w)
    tv = np.einsum("lgh,bh->blg", p["T_v"], w) + p["Kpi"][None, :, :]
    s = np.einsum("bl,blg->bg", c, tu) - delta[:, None] * np.einsum("bl,blg->bg", c, tv)
    return delta * den / np.sqrt(np.maximum(np.einsum("bg,bg->b", s, s), 1e-300))


class WRETest:
    """The WRE bootstrap test of beta = beta0 for every beta0, on fixed draws."""

    def __init__(self, data: PartialledIV, estimate: float, options: BootstrapOptions,
                 plan: DrawPlan) -> None:
        self.data, self.estimate, self.options, self.plan = data, estimate, options, plan

    def replications(self, beta0: float) -> tuple[float, np.ndarray]:
        """The sample's t and the B bootstrap t's under ``beta = beta0``."""
        p = self.data.statistic_pieces(beta0)
        t0 = float(_t_stats(p, self.data.A, np.ones((1, self.data.g)))[0])
        out = np.empty(self.plan.draws)
        start = 0
        for chunk in self.plan.chunks():
            for w in chunk.blocks(self.plan.n_clusters, self.plan.table):
                out[start:start + w.shape[0]] = _t_stats(p, self.data.A, w)
                start += w.shape[0]
        return t0, out

    def run(self, conf_level: float) -> TermBootstrap:
        """p-value of beta = 0 and the interval at ``conf_level`` by test inversion."""
        alpha = 1.0 - conf_level
        t0, tstar0 = self.replications(0.0)
        lo = hi = float("nan")
        how = "none"
        if self.options.invert_intervals:
            t_hat, tstar_hat = self.replications(self.estimate)
            t_zero = t0 if t0 != 0 else 1.0
            se = abs(self.estimate / t_zero) if self.estimate != 0 else 1.0

            def gap(beta0: float) -> float:
                t, ts = self.replications(beta0)
                return rejection_gap(t, ts, alpha)

            q_hat = critical_value(tstar_hat, alpha)
            lo, hi = invert(gap, self.estimate, rejection_gap(t_hat, tstar_hat, alpha), q_hat * se,
                            xtol=XTOL_SE * se, max_evals=MAX_EVALS)
            how = "test inversion"
        return TermBootstrap(
            method="wre", p_value=p_value(t0, tstar0), ci_low=lo, ci_high=hi,
            reps=self.plan.draws, weights=self.options.weights.value,
            full_enumeration=self.plan.full_enumeration, impose_null=True, seed=self.options.seed,
            clusters=self.plan.n_clusters, statistic=t0, interval=how)


def wre_bootstrap(options: BootstrapOptions, *, y: np.ndarray, exog: np.ndarray,
                  endog: np.ndarray, instruments: np.ndarray, weights: np.ndarray,
                  endog_name: str, terms: Sequence[str], estimate: float,
                  absorber: Absorber | None, cluster: np.ndarray, conf_level: float,
                  fe_tol: float, fe_maxiter: int) -> tuple[dict[str, TermBootstrap], list[str]]:
    """WRE bootstrap p-value and interval of the endogenous regressor's coefficient.

    ``y``, ``exog``, ``endog`` and ``instruments`` are the kept columns with the fixed effects
    already partialled out; ``estimate`` is the 2SLS coefficient of ``endog``.
    """
    if not options.impose_null:
        raise UsageError("the IV bootstrap is the WRE bootstrap, which imposes the null",
                         "Leave out --no-impose-null for an instrumental-variables model.")
    n_clusters = int(cluster.max()) + 1
    n = y.shape[0]
    if n_clusters > MAX_WRE_CLUSTERS or n * n_clusters > MAX_CELLS:
        raise UsageError(
            f"the WRE bootstrap of an IV model takes at most {MAX_WRE_CLUSTERS:,} clusters and "
            f"{MAX_CELLS:,} rows x clusters, not {n_clusters:,} clusters of {n:,} rows",
            "It is a few-cluster method: with this many clusters use the cluster-robust "
            "standard errors.")
    plan = DrawPlan(options.weights, options.reps, options.seed, n_clusters)
    options.check_level(plan.draws, conf_level, n_clusters)

    def partial_exog(cols: np.ndarray) -> np.ndarray:
        if not exog.shape[1]:
            return cols
        coef, _ = solve_wls(exog, cols, weights)
        return cols - exog @ coef

    def annihilate(cols: np.ndarray) -> np.ndarray:
        if absorber is not None:
            cols = absorber.demean_or_raise(cols, tol=fe_tol, maxiter=fe_maxiter).resid
        return partial_exog(cols)

    yv, ev = partial_exog(y[:, None])[:, 0], partial_exog(endog[:, None])[:, 0]
    Zv = partial_exog(instruments)
    data = PartialledIV(yv, ev, Zv, weights, cluster, n_clusters, annihilate)
    notes = []
    wanted = options.targets(terms)
    out: dict[str, TermBootstrap] = {}
    if endog_name in wanted:
        out[endog_name] = WRETest(data, estimate, options, plan).run(conf_level)
    others = [label for label in wanted if label != endog_name]
    if others:
        notes.append(f"no WRE bootstrap of {', '.join(others)}: it tests the endogenous "
                     f"regressor's coefficient ({endog_name})")
    return out, notes
