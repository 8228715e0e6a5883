"""The wild cluster bootstrap for least squares with absorbed fixed effects (WCR and WCU).

Notes
-----
Let X̃ and ỹ be the regressors and outcome with the fixed effects partialled out (weights W),
B = (X̃'WX̃)^{-1}, a = e_j'B, and for the test of H0: beta_j = beta0 let u be the residuals
of the model the bootstrap data come from: restricted (WCR, ``u = ỹ - X̃ b̃`` with
``b̃ = b̂ - B e_j (b̂_j - beta0) / B_jj``) or unrestricted (WCU, ``u = û``). The bootstrap outcome
is ``y* = X b̃ + D α̃ + v_g u`` (v_g the weight of observation's cluster g). By Frisch-Waugh-Lovell
the bootstrap estimate is ``b* = b̃ + B Σ_h v_h s_h`` with ``s_h = X̃_h' W_h u_h``, and the
bootstrap residuals are ``M_[X,D] (u ∘ v)``. The cluster-robust variance of ``b*_j`` is
``Σ_g (a X̃_g' W_g û*_g)^2``, where (Roodman, MacKinnon, Nielsen & Webb 2019)

    a X̃_g' W_g û*_g = v_g c_g - q_g' Σ_h v_h s_h - Σ_h F_gh v_h,
    c_g = a s_g,   q_g = B X̃_g' W_g X̃_g a',   F_gh = a X̃_g' W_g [P_D (u ∘ 1_h)]_g,

P_D being the weighted projection on the fixed effects. When every fixed effect is nested in a
cluster, ``P_D(u ∘ 1_h) = 0`` (u sums to zero within each fixed-effect group) and F vanishes;
otherwise F takes one demeaning of G columns (u times each cluster's indicator) and makes a draw
cost O(G^2) instead of O(G k). Every quantity is a cluster-level sum, so B draws cost O(G k B)
plus O(G^2 B) for F, never O(N B). The bootstrap statistic is ``t* = Σ v_g c_g / sqrt(V*)``
under WCR (numerator ``b*_j - beta0``) and ``(b*_j - b̂_j) / sqrt(V*)`` under WCU; the same
formula with v = 1 gives the sample's t under WCR, and under WCU ``t = (b̂_j - beta0)/sqrt(V)``
with V the variance at v = 1. Small-sample factors multiply t and t* alike and are left out.
Under WCR every piece is linear in ``d = b̂_j - beta0``, so an interval by test inversion costs
one pass over the draws per trial value and no pass over the data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from migtrade.estimation.absorb import Absorber
from migtrade.estimation.bootstrap.invert import critical_value, invert, p_value, rejection_gap
from migtrade.estimation.bootstrap.options import BootstrapOptions, TermBootstrap
from migtrade.estimation.bootstrap.weights import DrawPlan

# Interval ends to this fraction of the standard error (a pass over the draws per evaluation).
XTOL_SE = 1e-6
MAX_EVALS = 100


def group_sums(values: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Column sums of ``values`` (n, m) within each group: (n_groups, m)."""
    out = np.empty((n_groups, values.shape[1]))
    for m in range(values.shape[1]):
        out[:, m] = np.bincount(codes, weights=values[:, m], minlength=n_groups)
    return out


@dataclass
class LinearPieces:
    """The parts of a linear model the bootstrap needs, computed once for every coefficient."""

    xt: np.ndarray  # demeaned kept regressors
    resid: np.ndarray  # unrestricted residuals
    weights: np.ndarray
    beta: np.ndarray
    bread: np.ndarray
    cluster: np.ndarray
    n_clusters: int
    absorber: Absorber | None
    nested: bool  # every fixed effect nested in a cluster
    fe_tol: float
    fe_maxiter: int

    def __post_init__(self) -> None:
        self.xw = self.xt * self.weights[:, None]
        k = self.xt.shape[1]
        gram = np.empty((self.n_clusters, k, k))
        for m in range(k):
            gram[:, :, m] = group_sums(self.xw * self.xt[:, [m]], self.cluster, self.n_clusters)
        self.cluster_gram = gram  # X̃_g' W_g X̃_g

    def fe_term(self, u: np.ndarray, a: np.ndarray) -> np.ndarray:
        """F (G x G): ``a X̃_g' W_g [P_D(u ∘ 1_h)]_g``; zero without fixed effects or nested ones."""
        g = self.n_clusters
        if self.absorber is None or self.nested:
            return np.zeros((g, g))
        cols = np.zeros((u.shape[0], g), order="F")
        cols[np.arange(u.shape[0]), self.cluster] = u
        res = self.absorber.demean_or_raise(cols, tol=self.fe_tol, maxiter=self.fe_maxiter)
        projected = cols - res.resid  # P_D(u ∘ 1_h), column h
        xa = (self.xw @ a)[:, None]
        return group_sums(xa * projected, self.cluster, g)


@dataclass
class _Affine:
    """A quantity ``base + d * slope`` in the distance ``d = b̂_j - beta0``."""

    base: np.ndarray
    slope: np.ndarray

    def at(self, d: float) -> np.ndarray:
        return self.base + d * self.slope


class WildTest:
    """The bootstrap test of H0: r'beta = beta0 for every beta0, on fixed draws.

    ``r`` is e_j for a coefficient, or any linear combination (the notes' e_j becomes r and
    B_jj becomes r'Br).
    """

    def __init__(self, pieces: LinearPieces, r: np.ndarray, options: BootstrapOptions, plan: DrawPlan) -> None:
        self.pieces, self.r, self.options, self.plan = pieces, r, options, plan
        p = pieces
        a = r @ p.bread
        self.estimate = float(r @ p.beta)
        self.variance_scale = float(a @ r)
        q = np.einsum("gkl,l->gk", p.cluster_gram, a) @ p.bread
        self.q = q
        # Residuals of the data-generating process: û + d * X̃ B r / r'Br under WCR.
        slope_u = p.xt @ a / self.variance_scale if options.impose_null else np.zeros_like(p.resid)
        s0 = group_sums(p.xw * p.resid[:, None], p.cluster, p.n_clusters)
        s1 = group_sums(p.xw * slope_u[:, None], p.cluster, p.n_clusters)
        self.s = _Affine(s0, s1)
        self.c = _Affine(s0 @ a, s1 @ a)
        f0 = p.fe_term(p.resid, a)
        f1 = p.fe_term(slope_u, a) if options.impose_null else np.zeros_like(f0)
        self.f = _Affine(f0, f1)
        self.has_f = bool(np.any(f0) or np.any(f1))

    def replications(self, d: float) -> tuple[float, np.ndarray]:
        """The sample's t and the B bootstrap t's for the null ``beta0 = b̂_j - d``."""
        c, s, f = self.c.at(d), self.s.at(d), self.f.at(d)
        table = self.plan.table
        out = np.empty(self.plan.draws)
        start = 0
        for chunk in self.plan.chunks():
            for v in chunk.blocks(self.plan.n_clusters, table):
                resid = v * c - (v @ s) @ self.q.T
                if self.has_f:
                    resid -= v @ f.T
                var = np.maximum(np.einsum("bg,bg->b", resid, resid), 1e-300)
                out[start:start + v.shape[0]] = (v @ c) / np.sqrt(var)
                start += v.shape[0]
        ones_resid = c - self.q @ s.sum(axis=0) - f.sum(axis=1)
        var = float(ones_resid @ ones_resid)
        numer = float(c.sum()) if self.options.impose_null else d
        return numer / np.sqrt(max(var, 1e-300)), out

    def run(self, conf_level: float) -> TermBootstrap:
        """p-value of beta_j = 0 and the interval at ``conf_level``."""
        alpha = 1.0 - conf_level
        t0, tstar0 = self.replications(self.estimate)
        p = p_value(t0, tstar0)
        _, tstar_hat = self.replications(0.0)
        se = abs(self.estimate / t0) if t0 != 0 else float(np.sqrt(self.variance_scale))
        if self.options.impose_null and self.options.invert_intervals:
            def gap(beta0: float) -> float:
                t, ts = self.replications(self.estimate - beta0)
                return rejection_gap(t, ts, alpha)

            q_hat = critical_value(tstar_hat, alpha)
            lo, hi = invert(gap, self.estimate, rejection_gap(0.0, tstar_hat, alpha), q_hat * se,
                            xtol=XTOL_SE * se, max_evals=MAX_EVALS)
            how = "test inversion"
        elif self.options.impose_null:
            lo = hi = float("nan")
            how = "none"
        else:
            # WCU: the replications do not depend on beta0, so the interval is b̂ ± q se.
            half = critical_value(tstar_hat, alpha) * se
            lo, hi = self.estimate - half, self.estimate + half
            how = "bootstrap-t (unrestricted)"
        return TermBootstrap(
            method="wild", p_value=p, ci_low=lo, ci_high=hi, reps=self.plan.draws,
            weights=self.options.weights.value, full_enumeration=self.plan.full_enumeration,
            impose_null=self.options.impose_null, seed=self.options.seed,
            clusters=self.plan.n_clusters, statistic=t0, interval=how)


def wild_bootstrap(pieces: LinearPieces, targets: Mapping[str, np.ndarray], options: BootstrapOptions,
                   conf_level: float) -> dict[str, TermBootstrap]:
    """Wild cluster bootstrap p-values and intervals of each ``label: r`` in ``targets``."""
    plan = DrawPlan(options.weights, options.reps, options.seed, pieces.n_clusters)
    options.check_level(plan.draws, conf_level, pieces.n_clusters)
    return {label: WildTest(pieces, r, options, plan).run(conf_level) for label, r in targets.items()}
