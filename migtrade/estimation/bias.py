"""Weidner & Zylkin's (2021) analytical bias corrections for PPML gravity models.

With exporter-time, importer-time and pair fixed effects ("three-way"), PPML is consistent for a
fixed number of periods T but its estimate has a bias of order 1/N (N countries), and the
cluster-robust (by pair) variance is biased downward at the same order; with exporter-time and
importer-time effects only ("two-way") only the variance is biased. :func:`weidner_zylkin`
returns both corrections, reproducing the Stata command ``ppml_fe_bias`` (tested on its example
to every printed digit).

Notes
-----
Write ``mu`` for the fitted means, ``e = y - mu`` for the score residuals, ``x~`` for the
regressors demeaned on all fixed effects with weights ``mu``, and, for pair g = (i, j) with its
T periods as vectors, ``theta_g = mu_g / sum_t mu_gt`` and

    H_g = diag(mu_g) - mu_g mu_g' / sum_t mu_gt                     (T x T, pair effect profiled out)
    G_g = -H_g o (x~_g 1' + 1 x~_g')                              (o: elementwise; one per regressor)
    H_i = sum_j H_ij,   S_i = sum_j e_ij e_ij',   G_i = sum_j G_ij  (and likewise over i for H_j ...)

The bias of the estimate is (``ppml_fe_bias``'s expressions, with its N/(N-1) factors)

    b = W^{-1} [ N_i/(N_i-1) sum_i ( -B1_i + B2_i / 2 ) + N_j/(N_j-1) sum_j ( -D1_j + D2_j / 2 ) ],
    B1_i = sum_j (H_ij x~_ij)' H_i^+ e_ij,      B2_i = tr( H_i^+ G_i H_i^+ S_i ),

with ``W = X~' diag(mu) X~`` and ``^+`` the Moore-Penrose inverse (``H_i`` is singular: the pair
effects absorb a country's constant); D1, D2 are the same sums over the origins of each
destination. The corrected estimate is ``beta - b``. The variance is the pair-clustered sandwich
with each pair's residuals replaced by leverage-adjusted ones (:mod:`bias_variance`), times the
small-sample factor of the uncorrected covariance (G/(G-1) under the Stata convention, as
``ppml_fe_bias`` prints). Only the variance is corrected in the two-way model.

Everything works on a pairs x periods grid (:class:`PairPanel`) and per-country T x T sums; the
fixed effects are never expanded into dummies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from migtrade.estimation.bias_panel import BothSides, PairPanel
from migtrade.estimation.bias_structure import GravityKind
from migtrade.estimation.bias_variance import (
    ones_ginverse,
    three_way_exact,
    three_way_local,
    two_way_exact,
)

# Up to this many country-time effects (N_i + N_j) T the three-way leverage is computed from the
# dense inverse of their Hessian (ppml_fe_bias's threshold for its exact method); above it, from
# each pair's own two effects (bias_variance.three_way_local).
EXACT_MAX_EFFECTS = 1500


@dataclass(frozen=True)
class AnalyticalCorrection:
    """The bias of each coefficient and the adjusted covariance.

    Attributes
    ----------
    bias
        To be subtracted from the estimates (zeros in the two-way model).
    cov
        The bias-corrected (leverage-adjusted) cluster-robust covariance.
    cov_uncorrected
        The same sandwich without the adjustment (equal to the ordinary pair-clustered one).
    variance_method
        ``"exact"``, ``"local"`` (three-way, beyond ``EXACT_MAX_EFFECTS``) or ``"exact by period"``
        (two-way).
    """

    bias: np.ndarray
    cov: np.ndarray
    cov_uncorrected: np.ndarray
    variance_method: str


def _bias_terms(sides: BothSides, lam: np.ndarray, e: np.ndarray, xt: np.ndarray,
                hessians: np.ndarray, scores: np.ndarray,
                inverses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``sum_c (-B1_c + B2_c / 2)`` for each regressor over the origins, and over the
    destinations (:func:`migtrade.estimation.kernels_bias.bias_traces`)."""
    from migtrade.estimation.kernels_bias import bias_traces

    # B1_c = tr(H+ C_c); B2_c = tr(H+ G_c H+ S_c) = sum((H+ S H+) o G_c'), H+ S H+ shared.
    hsh = inverses @ scores @ inverses
    b1, b2 = bias_traces(sides.order, sides.bounds, lam, e, xt, inverses,
                         hsh + hsh.transpose(0, 2, 1))
    per_country = -b1 + 0.5 * b2
    return per_country[:sides.n_first].sum(axis=0), per_country[sides.n_first:].sum(axis=0)


def weidner_zylkin(kind: GravityKind, panel: PairPanel, y: np.ndarray, mu: np.ndarray,
                   x_tilde: np.ndarray, bread: np.ndarray, adjustment: float) -> AnalyticalCorrection:
    """Bias of the estimates and bias-corrected covariance of a PPML gravity fit.

    Parameters
    ----------
    kind
        The fixed-effect structure (three-way or two-way).
    panel
        The estimation sample as pairs x periods.
    y, mu
        Outcome and fitted means of the sample's rows.
    x_tilde
        (n, k) regressors demeaned on all the fixed effects with weights ``mu``.
    bread
        ``(X~' diag(mu) X~)^{-1}``.
    adjustment
        The small-sample factor of the pair-clustered covariance.

    Notes
    -----
    See the module notes for the formulas.
    """
    lam = panel.grid(mu)  # views of the rows when the panel is aligned
    e = panel.grid(y - mu)
    xt = panel.planes(x_tilde)  # (k, pairs, T)

    if kind is GravityKind.two_way:
        adjusted, scores = two_way_exact(lam, e, xt, bread, panel)
        bias = np.zeros(xt.shape[0])
        method = "exact by period"
    else:
        from migtrade.estimation.kernels_bias import side_sums

        sides = panel.both_sides()
        # Per country, origins then destinations: H_c and S_c = sum e e'.
        hessians, score_sums = side_sums(sides.order, sides.bounds, lam, e)
        inverses = ones_ginverse(hessians)
        n_i, n_j = panel.n_origins, panel.n_destinations
        by_origin, by_destination = _bias_terms(sides, lam, e, xt, hessians, score_sums,
                                                inverses)
        bias = bread @ (n_i / (n_i - 1) * by_origin + n_j / (n_j - 1) * by_destination)
        if (n_i + n_j) * panel.n_periods <= EXACT_MAX_EFFECTS:
            adjusted, scores = three_way_exact(lam, e, xt, bread, panel, hessians[:n_i],
                                               hessians[n_i:])
            method = "exact"
        else:
            adjusted, scores = three_way_local(lam, e, xt, bread, sides, hessians, inverses)
            method = "local"
    meat = adjusted.T @ scores
    meat = 0.5 * (meat + meat.T)
    cov = adjustment * bread @ meat @ bread
    cov_plain = adjustment * bread @ (scores.T @ scores) @ bread
    return AnalyticalCorrection(bias=bias, cov=cov, cov_uncorrected=cov_plain,
                                variance_method=method)
