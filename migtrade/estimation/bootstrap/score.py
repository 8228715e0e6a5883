"""The score bootstrap for Poisson pseudo-maximum likelihood with absorbed fixed effects.

Notes
-----
Kline & Santos (2012): instead of re-estimating the model on each bootstrap sample, perturb the
cluster sums of the scores with the auxiliary weights. For H0: beta_j = beta0 with the null
imposed, the model is fitted once under the restriction (x_j moves to the offset with coefficient
beta0; one PPML fit), giving fitted means μ̃. With X̃ the regressors demeaned on the fixed
effects under the weights w μ̃ (the fixed effects are nuisance parameters; demeaning under the
Hessian's weights partials them out) and H = X̃' diag(w μ̃) X̃, the cluster contribution to the
efficient score of beta_j is

    c_g = e_j' H^{-1} Σ_{i in g} x̃_i w_i (y_i - μ̃_i),

a multiple of the score of beta_j with the other coefficients' scores partialled out. The
statistic and its replications follow boottest (Roodman et al. 2019): with S*(v) = Σ_g v_g c_g
and the perturbed scores re-centred by each cluster's share of the weight, π_g,

    t*(v) = S*(v) / sqrt(Σ_g (v_g c_g - π_g S*(v))^2),

the sample's statistic being t*(1). A draw needs three sums over clusters, Σ v_g c_g,
Σ π_g c_g v_g and Σ c_g² v_g², so B draws cost O(G B) with no pass over the data and no
re-estimation; Rademacher draws are read from packed bits by a compiled kernel.

Without the null imposed, c_g comes from the unrestricted fit (the scores then sum to zero),
``t = (b̂_j - beta0) / sqrt(Σ c_g²)`` and ``t* = S*(v) / sqrt(...)`` as above. Intervals then
follow in closed form, ``b̂ ± q sqrt(Σ c_g²)``; with the null imposed they come from test
inversion, one restricted fit per trial value (about 2 x 6 to 2 x 10 fits per coefficient; the
search stops after ``MAX_FITS`` fits on a side and the unrestricted interval is reported instead,
with a note).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from migtrade.errors import MigtradeError
from migtrade.estimation.bootstrap import kernels
from migtrade.estimation.bootstrap.invert import (
    EvaluationBudget,
    critical_value,
    invert,
    p_value,
    rejection_gap,
)
from migtrade.estimation.bootstrap.options import BootstrapOptions, TermBootstrap
from migtrade.estimation.bootstrap.weights import DrawPlan
from migtrade.estimation.bootstrap.wild import group_sums

# PPML fits are dear: interval ends to a thousandth of a standard error, at most this many fits a side.
XTOL_SE = 1e-3
MAX_FITS = 24


@dataclass(frozen=True)
class PoissonScores:
    """What the score bootstrap needs from one Poisson fit (unrestricted or restricted)."""

    mu: np.ndarray
    x_tilde: np.ndarray  # all regressors demeaned under the weights w * mu
    bread: np.ndarray  # (X̃' W mu X̃)^{-1}


RestrictedFit = Callable[[np.ndarray, float], PoissonScores]
"""``(r, beta0) -> scores`` of the PPML fit under r'beta = beta0."""


def replications(c: np.ndarray, share: np.ndarray, plan: DrawPlan) -> np.ndarray:
    """The B bootstrap statistics ``t*(v)`` for cluster scores ``c`` (see the module notes)."""
    forms = np.ascontiguousarray(np.vstack([c, share * c]))
    c2 = np.ascontiguousarray(c * c)
    share2 = float(share @ share)
    table, row_sums = kernels.nibble_table(forms), forms.sum(axis=1)  # for packed sign bits
    out = np.empty(plan.draws)
    start = 0
    for chunk in plan.chunks():
        lin = np.empty((chunk.rows, 2))
        quad = np.empty(chunk.rows)
        if chunk.bits is not None:
            kernels.forms_from_bits(chunk.bits, table, row_sums, float(c2.sum()), lin, quad)
        else:
            assert chunk.codes is not None
            kernels.forms_from_codes(chunk.codes, plan.table.values, forms, c2, lin, quad)
        total, cross = lin[:, 0], lin[:, 1]
        var = quad - 2.0 * total * cross + total * total * share2
        out[start:start + chunk.rows] = total / np.sqrt(np.maximum(var, 1e-300))
        start += chunk.rows
    return out


def _centred_variance(c: np.ndarray, share: np.ndarray) -> float:
    r = c - share * c.sum()
    return float(r @ r)


class ScoreTest:
    """The score bootstrap test of H0: r'beta = beta0, on fixed draws (r = e_j for a
    coefficient; ``c_g = r' H^{-1} s_g`` for a combination)."""

    def __init__(self, label: str, r: np.ndarray, estimate: float, unrestricted: PoissonScores,
                 y: np.ndarray, weights: np.ndarray, cluster: np.ndarray, n_clusters: int,
                 restricted: RestrictedFit, options: BootstrapOptions, plan: DrawPlan) -> None:
        self.label, self.r, self.estimate, self.y, self.w = label, r, estimate, y, weights
        self.cluster, self.n_clusters = cluster, n_clusters
        self.restricted, self.options, self.plan = restricted, options, plan
        self.share = np.bincount(cluster, weights=weights, minlength=n_clusters) / float(weights.sum())
        self.c_hat = self.cluster_scores(unrestricted)
        self.tstar_hat = replications(self.c_hat, self.share, plan)
        self.se = float(np.sqrt(self.c_hat @ self.c_hat))
        self.fits = 0

    def cluster_scores(self, fit: PoissonScores) -> np.ndarray:
        """``c_g = r' H^{-1} Σ_{i in g} x̃_i w_i (y_i - mu_i)``."""
        g = group_sums(fit.x_tilde * (self.w * (self.y - fit.mu))[:, None], self.cluster, self.n_clusters)
        return g @ (fit.bread @ self.r)

    def imposed(self, beta0: float) -> tuple[float, np.ndarray]:
        """The sample's score statistic and its replications under r'beta = beta0."""
        self.fits += 1
        c = self.cluster_scores(self.restricted(self.r, beta0))
        return float(c.sum()) / np.sqrt(max(_centred_variance(c, self.share), 1e-300)), \
            replications(c, self.share, self.plan)

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
            t0, tstar0 = self.imposed(0.0)
            if self.options.invert_intervals:
                def gap(beta0: float) -> float:
                    t, ts = self.imposed(beta0)
                    return rejection_gap(t, ts, alpha)

                try:
                    lo, hi = invert(gap, self.estimate, rejection_gap(0.0, self.tstar_hat, alpha),
                                    half, xtol=XTOL_SE * self.se, max_evals=MAX_FITS)
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


def score_bootstrap(targets: Mapping[str, np.ndarray], beta: np.ndarray,
                    unrestricted: PoissonScores, y: np.ndarray, weights: np.ndarray,
                    cluster: np.ndarray, n_clusters: int, restricted: RestrictedFit,
                    options: BootstrapOptions,
                    conf_level: float) -> tuple[dict[str, TermBootstrap], list[str]]:
    """Score bootstrap p-values and intervals of each ``label: r`` in ``targets``."""
    plan = DrawPlan(options.weights, options.reps, options.seed, n_clusters)
    options.check_level(plan.draws, conf_level, n_clusters)
    out: dict[str, TermBootstrap] = {}
    notes: list[str] = []
    for label, r in targets.items():
        test = ScoreTest(label, r, float(r @ beta), unrestricted, y, weights, cluster, n_clusters,
                         restricted, options, plan)
        out[label], more = test.run(conf_level)
        notes.extend(more)
    return out, notes
