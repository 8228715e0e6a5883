"""The score bootstrap for Poisson pseudo-maximum likelihood with absorbed fixed effects.

Notes
-----
Kline & Santos (2012): instead of re-estimating the model on each bootstrap sample, perturb the
cluster sums of the scores with the auxiliary weights. For H0: r'beta = beta0 with the null
imposed, the model is fitted once under the restriction (one PPML fit), giving fitted means μ̃.
With X̃ the regressors demeaned on the fixed effects under the Hessian's weights w μ̃ (which
partials the fixed effects out), B = (X̃' diag(w μ̃) X̃)^{-1} and a = B r, the cluster sums of
the scores and the efficient score of r'beta are

    s_g = Σ_{i in g} x̃_i w_i (y_i - μ̃_i),        c_g = a' s_g.

A bootstrap draw v perturbs the scores to v_g s_g and takes one Newton step from the restricted
fit, beta* - β̃ = B Σ_h v_h s_h (no draw re-estimates anything). Its statistic is studentised
by the cluster-robust variance at that step, whose cluster terms are the perturbed scores less
what the step fits in the cluster:

    t*(v) = Σ_g v_g c_g / sqrt(Σ_g r_g(v)^2),
    r_g(v) = v_g c_g - q_g' Σ_h v_h s_h - Σ_h F_gh v_h,
    q_g = B H_g a,   H_g = Σ_{i in g} x̃_i w_i μ̃_i x̃_i',
    F_gh = Σ_{i in g} (x̃_i'a) w_i μ̃_i [P_D(u ∘ 1_h)]_i,   u = (y - μ̃) / μ̃,

P_D being the projection on the fixed effects under the weights w μ̃: F is the fixed effects'
part of the step, zero when every fixed effect is nested in a cluster. This is the restricted
wild cluster bootstrap (WCR) of the last IRLS regression, as
:mod:`migtrade.estimation.bootstrap.wild` computes it for least squares, and the sample's
statistic is t*(1). With F zero, a draw needs 2k + 1 sums over clusters (Σ v s, Σ v c q and
Σ v² c²; the variance is a quadratic in them), so B draws cost O(G k B) with no pass over the
data; Rademacher draws are read from packed bits by a compiled kernel. The s_g are the fit's,
common to every tested combination, so T combinations need k + T k linear forms, all summed in
one pass over the draws (:func:`joint_replications`). With F it is O(G² B),
so F is kept up to ``MAX_FE_TERM_CLUSTERS`` clusters (and the engine's cell limit) and left out
above, with a note; with many clusters its share of each cluster's variance term is small.

Weighting each cluster's re-centring by its Hessian H_g, not by its share of the observations,
is what brings the test's size to its level with 8 to 12 clusters of unequal size
(``benchmarks/bootstrap_size.py``).

Without the null imposed the same pieces come from the unrestricted fit (the scores then sum
to zero and F's row sums vanish), ``t = (b̂_j - beta0) / sqrt(Σ c_g²)`` and t*(v) as above.
Intervals then follow in closed form, ``b̂ ± q sqrt(Σ c_g²)``; with the null imposed they come
from test inversion: the search starts at the ends of the unrestricted interval and takes
secants (:func:`invert`). Its trial values lie within a few standard errors of the estimate,
where the restricted fits follow from the unrestricted one to the second order along the path
of restricted fits (:mod:`migtrade.estimation.bootstrap.expansion`): one pass over the rows and
one over the draws a combination, shared with the nulls' replications, and no fit. Where an end
lies beyond that expansion's reach (or it cannot be made, or the fixed-effect term F is kept)
each trial value is a restricted fit started from the nearest fit already made
(:class:`migtrade.estimation.bootstrap.restricted.RestrictedFits`), two or three a side; the
search stops after ``MAX_FITS`` evaluations on a side and the unrestricted interval is reported
instead, with a note.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from migtrade.errors import MigtradeError
from migtrade.estimation.bootstrap import kernels_rows
from migtrade.estimation.bootstrap.expansion import REACH, PathSums, PathTest
from migtrade.estimation.bootstrap.invert import (
    EvaluationBudget,
    critical_value,
    invert,
    p_value,
    rejection_gap,
)
from migtrade.estimation.bootstrap.options import BootstrapOptions, TermBootstrap
from migtrade.estimation.bootstrap.path import PathTerms
from migtrade.estimation.bootstrap.weights import DrawPlan
from migtrade.estimation.bootstrap.wild import group_sums

# PPML fits are dear: interval ends to a thousandth of a standard error, at most this many fits a side.
XTOL_SE = 1e-3
MAX_FITS = 24


# The fixed-effect term F costs O(G^2) a draw and G demeanings a fit: kept up to this many clusters.
MAX_FE_TERM_CLUSTERS = 400

Projection = Callable[[np.ndarray], np.ndarray]
"""Columns -> their weighted projection on the fixed effects (P_D, weights w mu)."""


@dataclass(frozen=True)
class PoissonScores:
    """What the score bootstrap needs from one Poisson fit (unrestricted or restricted).

    ``project`` is P_D under the fit's weights when the fixed-effect term F is computed (fixed
    effects not nested in the clusters, and not too many clusters), else None.
    """

    mu: np.ndarray
    x_tilde: np.ndarray  # all regressors demeaned under the weights w * mu
    bread: np.ndarray  # (X̃' W mu X̃)^{-1}
    project: Projection | None = None
    # The derivatives of the path of restricted fits at this (unrestricted) fit, by combination,
    # for the intervals of the null-imposed test; None: intervals from restricted fits.
    path_terms: Callable[[list[np.ndarray]], list[PathTerms]] | None = None


RestrictedFit = Callable[[np.ndarray, float], PoissonScores]
"""``(r, beta0) -> scores`` of the PPML fit under r'beta = beta0."""


@dataclass(frozen=True)
class ClusterPieces:
    """The cluster-level sums of one fit for one tested combination (see the module notes)."""

    a: np.ndarray  # B r
    s: np.ndarray  # (G, k): s_g
    c: np.ndarray  # (G,): c_g = a's_g
    q: np.ndarray  # (G, k): q_g = B H_g a
    f: np.ndarray | None  # (G, G): F, or None where it is zero or left out

    @classmethod
    def of(cls, fit: PoissonScores, r: np.ndarray, y: np.ndarray, weights: np.ndarray,
           cluster: np.ndarray, n_clusters: int) -> ClusterPieces:
        """The pieces of ``fit`` for the combination ``r``."""
        return cls.of_each(fit, [r], y, weights, cluster, n_clusters)[0]

    @classmethod
    def of_each(cls, fit: PoissonScores, rs: Sequence[np.ndarray], y: np.ndarray,
                weights: np.ndarray, cluster: np.ndarray, n_clusters: int) -> list[ClusterPieces]:
        """The pieces of ``fit`` for each combination in ``rs``; the scores' cluster sums s_g
        (one array, shared) and the fixed effects' projection are computed once for all."""
        # The scores' and every combination's Hessian sums in one pass over the rows.
        a_s = [fit.bread @ r for r in rs]
        sums = kernels_rows.score_sums(fit.x_tilde, y, weights, fit.mu, np.array(a_s), cluster,
                                       n_clusters)
        s = np.ascontiguousarray(sums[:, :, 0])
        projected = None
        if fit.project is not None:
            # The fixed effects' term F: each combination's rows c_i = (x̃_i'a) w_i mu_i times
            # the projection of the working residuals, cluster by cluster.
            row_w = np.empty((y.shape[0], 1 + len(rs)), order="F")
            hess_w = weights * fit.mu
            for j, a in enumerate(a_s, start=1):
                np.multiply(fit.x_tilde @ a, hess_w, out=row_w[:, j])
            u = np.divide(y - fit.mu, fit.mu, out=np.zeros_like(fit.mu), where=fit.mu > 0)
            cols = np.zeros((u.shape[0], n_clusters), order="F")
            cols[np.arange(u.shape[0]), cluster] = u
            projected = fit.project(cols)
        out = []
        for j, a in enumerate(a_s, start=1):
            q = sums[:, :, j] @ fit.bread
            f = None if projected is None else \
                group_sums(row_w[:, [j]] * projected, cluster, n_clusters)
            out.append(cls(a=a, s=s, c=s @ a, q=q, f=f))
        return out

    def statistic(self) -> float:
        """The sample's statistic, t*(1)."""
        resid = self.c - self.q @ self.s.sum(axis=0)
        if self.f is not None:
            resid = resid - self.f.sum(axis=1)
        return float(self.c.sum()) / np.sqrt(max(float(resid @ resid), 1e-300))

    def replications(self, plan: DrawPlan) -> np.ndarray:
        """The B bootstrap statistics t*(v)."""
        return self._dense(plan) if self.f is not None else joint_replications([self], plan)[0]

    def _dense(self, plan: DrawPlan) -> np.ndarray:
        assert self.f is not None
        out = np.empty(plan.draws)
        start = 0
        for chunk in plan.chunks():
            for v in chunk.blocks(plan.n_clusters, plan.table):
                resid = v * self.c - (v @ self.s) @ self.q.T - v @ self.f.T
                var = np.maximum(np.einsum("bg,bg->b", resid, resid), 1e-300)
                out[start:start + v.shape[0]] = (v @ self.c) / np.sqrt(var)
                start += v.shape[0]
        return out


def joint_replications(pieces: Sequence[ClusterPieces], plan: DrawPlan) -> list[np.ndarray]:
    """The B bootstrap statistics t*(v) of each of ``pieces`` (of one fit or of several, all
    without the fixed-effect term), from one pass over the draws.

    Σ_g r_g^2 = Σ v_g^2 c_g^2 - 2 S'L + S'QS with S = Σ v_g s_g, L = Σ v_g c_g q_g and
    Q = Σ q_g q_g': S is common to the pieces of one fit, so T tested combinations of F fits need
    F k + T k linear forms and T quadratic forms of v, summed together by one pass of the kernel
    over the packed draws (on the gravity panel eight forms cost a fifth more than four, against
    twice as much for two passes).
    """
    return replications_with(pieces, plan, [])[0]


def replications_with(pieces: Sequence[ClusterPieces], plan: DrawPlan,
                      blocks: Sequence[tuple[np.ndarray, np.ndarray]],
                      ) -> tuple[list[np.ndarray], list[tuple[np.ndarray, np.ndarray]]]:
    """:func:`joint_replications` of ``pieces``, and ``(P v, D v²)`` of every draw v for each
    ``(P, D)`` of ``blocks``, from the same pass over the draws."""
    assert all(p.f is None for p in pieces)
    rows: list[np.ndarray] = [P for P, _ in blocks]
    squares: list[np.ndarray] = [D for _, D in blocks]
    at: dict[int, int] = {}  # each fit's S: the first of its rows in the forms
    for p in pieces:
        if id(p.s) not in at:
            at[id(p.s)] = sum(len(block) for block in rows)
            rows.append(p.s.T)
    cross_at = []
    for p in pieces:
        cross_at.append(sum(len(block) for block in rows))
        rows.append((p.c[:, None] * p.q).T)
    square_at = sum(len(block) for block in squares)
    squares.extend(p.c[None, :] * p.c for p in pieces)
    lin, quad = plan.forms(np.vstack(rows), np.vstack(squares))
    out = []
    for t, p in enumerate(pieces):
        k = p.s.shape[1]
        total = lin[:, at[id(p.s)]:at[id(p.s)] + k]
        cross = lin[:, cross_at[t]:cross_at[t] + k]
        var = quad[:, square_at + t] - 2.0 * np.einsum("bk,bk->b", total, cross) \
            + np.einsum("bk,kl,bl->b", total, p.q.T @ p.q, total)
        out.append((total @ p.a) / np.sqrt(np.maximum(var, 1e-300)))
    drawn, lin_at, quad_at = [], 0, 0
    for P, D in blocks:
        drawn.append((lin[:, lin_at:lin_at + len(P)], quad[:, quad_at:quad_at + len(D)]))
        lin_at, quad_at = lin_at + len(P), quad_at + len(D)
    return out, drawn


class ScoreTest:
    """The score bootstrap test of H0: r'beta = beta0, on fixed draws (r = e_j for a
    coefficient; ``c_g = r' H^{-1} s_g`` for a combination)."""

    def __init__(self, label: str, r: np.ndarray, estimate: float,
                 unrestricted: tuple[ClusterPieces, np.ndarray], y: np.ndarray,
                 weights: np.ndarray, cluster: np.ndarray, n_clusters: int,
                 restricted: RestrictedFit, options: BootstrapOptions, plan: DrawPlan,
                 at_null: tuple[float, np.ndarray] | None = None,
                 path: PathTest | None = None) -> None:
        """``unrestricted``: the unrestricted fit's pieces for ``r`` and their replications;
        ``at_null``: the statistic and replications under r'beta = 0, when already computed;
        ``path``: the test near the estimate from the path of restricted fits, which the
        interval search then uses (restricted fits where it reaches too far)."""
        self.label, self.r, self.estimate, self.y, self.w = label, r, estimate, y, weights
        self.cluster, self.n_clusters = cluster, n_clusters
        self.restricted, self.options, self.plan = restricted, options, plan
        self.c_hat = unrestricted[0].c
        self.tstar_hat = unrestricted[1]
        self.se = float(np.sqrt(self.c_hat @ self.c_hat))
        self.fits = 0
        self.at_null = at_null
        self.path = path

    def pieces(self, fit: PoissonScores) -> ClusterPieces:
        """The cluster sums of ``fit`` for this test."""
        return ClusterPieces.of(fit, self.r, self.y, self.w, self.cluster, self.n_clusters)

    def imposed(self, beta0: float) -> tuple[float, np.ndarray]:
        """The sample's score statistic and its replications under r'beta = beta0."""
        self.fits += 1
        pieces = self.pieces(self.restricted(self.r, beta0))
        return pieces.statistic(), pieces.replications(self.plan)

    def _invert(self, gap: Callable[[float], float], alpha: float,
                half: float) -> tuple[float, float]:
        """The interval where ``gap`` (the rejection gap as a function of the null value) is
        not positive, searched from the ends of the unrestricted interval (:func:`invert`)."""
        return invert(gap, self.estimate, rejection_gap(0.0, self.tstar_hat, alpha), half,
                      xtol=XTOL_SE * self.se, max_evals=MAX_FITS)

    def _path_interval(self, alpha: float, half: float) -> tuple[float, float] | None:
        """The interval by inverting the path expansion's test (no fit), or None where an end
        lies beyond its reach (:data:`expansion.REACH`) or the search fails."""
        path = self.path
        if path is None:
            return None

        def gap(beta0: float) -> float:
            t, ts = path.statistics(beta0 - self.estimate)
            return rejection_gap(t, ts, alpha)

        try:
            lo, hi = self._invert(gap, alpha, half)
        except (EvaluationBudget, np.linalg.LinAlgError):
            return None
        reach = max(path.reach(lo - self.estimate), path.reach(hi - self.estimate))
        return (lo, hi) if np.isfinite(reach) and reach <= REACH else None

    def run(self, conf_level: float) -> tuple[TermBootstrap, list[str]]:
        """p-value of r'beta = 0 and the interval at ``conf_level``."""
        alpha = 1.0 - conf_level
        notes: list[str] = []
        half = critical_value(self.tstar_hat, alpha) * self.se
        lo, hi = self.estimate - half, self.estimate + half
        how = "bootstrap-t (unrestricted)"
        if not self.options.impose_null:
            t0 = self.estimate / self.se if self.se > 0 else 0.0
            tstar0 = self.tstar_hat
        else:
            t0, tstar0 = self.at_null if self.at_null is not None else self.imposed(0.0)
            if self.options.invert_intervals:
                def gap(beta0: float) -> float:
                    t, ts = self.imposed(beta0)
                    return rejection_gap(t, ts, alpha)

                try:
                    ends = self._path_interval(alpha, half)
                    lo, hi = ends if ends is not None else self._invert(gap, alpha, half)
                    how = "test inversion"
                except (EvaluationBudget, MigtradeError) as err:
                    reason = ("the search needed too many fits" if isinstance(err, EvaluationBudget)
                              else err.one_line())
                    notes.append(f"score bootstrap interval of {self.label} from the unrestricted "
                                 f"bootstrap: inverting the restricted test failed ({reason})")
        return TermBootstrap(
            method="score", p_value=p_value(t0, tstar0), ci_low=lo, ci_high=hi,
            reps=self.plan.draws, weights=self.options.weights.value,
            full_enumeration=self.plan.full_enumeration, impose_null=self.options.impose_null,
            seed=self.options.seed, clusters=self.n_clusters, statistic=t0, interval=how), notes


def _path_tests(rs: Sequence[np.ndarray], fit: PoissonScores, y: np.ndarray, weights: np.ndarray,
                cluster: np.ndarray, n_clusters: int) -> list[PathTest]:
    """Each combination's test from the path expansion of ``fit`` (its draws not yet attached),
    or none where ``fit`` has no path terms or they cannot be made (a demeaning does not
    converge)."""
    if fit.path_terms is None:
        return []
    try:
        terms = fit.path_terms(list(rs))
        return [PathTest(PathSums.from_terms(r, each, fit.x_tilde, fit.mu, y, weights, cluster,
                                             n_clusters)) for r, each in zip(rs, terms, strict=True)]
    except (MigtradeError, np.linalg.LinAlgError):
        return []


def score_bootstrap(targets: Mapping[str, np.ndarray], beta: np.ndarray,
                    unrestricted: PoissonScores, y: np.ndarray, weights: np.ndarray,
                    cluster: np.ndarray, n_clusters: int, restricted: RestrictedFit,
                    options: BootstrapOptions,
                    conf_level: float) -> tuple[dict[str, TermBootstrap], list[str]]:
    """Score bootstrap p-values and intervals of each ``label: r`` in ``targets``."""
    plan = DrawPlan(options.weights, options.reps, options.seed, n_clusters)
    options.check_level(plan.draws, conf_level, n_clusters)
    rs = list(targets.values())
    dense = unrestricted.project is not None  # the fixed-effect term F is kept
    at_null: list[tuple[float, np.ndarray] | None] = [None] * len(rs)
    paths: list[PathTest] = []
    if options.impose_null and options.invert_intervals and not dense and rs:
        paths = _path_tests(rs, unrestricted, y, weights, cluster, n_clusters)
    # The unrestricted fit's pieces: the paths' at Δ = 0, else one pass over the rows.
    pieces = [ClusterPieces(*path.at_estimate, f=None) for path in paths] if paths else \
        ClusterPieces.of_each(unrestricted, rs, y, weights, cluster, n_clusters)
    if dense or not pieces:
        tstars = [p.replications(plan) for p in pieces]
    elif options.impose_null and not options.invert_intervals:
        # p-values alone: each restricted fit first, then the unrestricted and restricted
        # replications of every combination from one pass over the draws. (An interval search
        # fits one combination at a time from its fits at 0, so it keeps the order below.)
        nulls = [ClusterPieces.of(restricted(r, 0.0), r, y, weights, cluster, n_clusters)
                 for r in rs]
        both = joint_replications([*pieces, *nulls], plan)
        tstars = both[:len(rs)]
        at_null = [(p.statistic(), ts) for p, ts in zip(nulls, both[len(rs):], strict=True)]
    elif paths:
        # Intervals near the estimate from the path of restricted fits, whose forms at Δ = 0
        # also give the unrestricted replications: each null's restricted fit first, then one
        # pass over the draws for the nulls and the paths of every combination.
        nulls = [ClusterPieces.of(restricted(r, 0.0), r, y, weights, cluster, n_clusters)
                 for r in rs]
        null_tstars, drawn = replications_with(nulls, plan, [path.forms for path in paths])
        for path, (lin, quad) in zip(paths, drawn, strict=True):
            path.attach(lin, quad)
        tstars = [path.statistics(0.0)[1] for path in paths]
        at_null = [(p.statistic(), ts) for p, ts in zip(nulls, null_tstars, strict=True)]
    else:
        # The unrestricted replications of every combination from one pass over the draws.
        tstars = joint_replications(pieces, plan)
    out: dict[str, TermBootstrap] = {}
    notes: list[str] = []
    for t, ((label, r), piece, tstar, null) in enumerate(zip(targets.items(), pieces, tstars,
                                                            at_null, strict=True)):
        test = ScoreTest(label, r, float(r @ beta), (piece, tstar), y, weights, cluster,
                         n_clusters, restricted, options, plan, at_null=null,
                         path=paths[t] if paths else None)
        out[label], more = test.run(conf_level)
        notes.extend(more)
    return out, notes
