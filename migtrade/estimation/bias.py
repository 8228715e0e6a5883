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


@dataclass(frozen=True)
class _SideSums:
    """Per-country T x T sums, origins then destinations (countries of ``BothSides``).

    ``hessian`` is H_c; ``scores`` S_c = sum e e'; ``cross[k]`` C_c = sum e (H_g x~_k)';
    ``third[k]`` G_c (the third-derivative sum for regressor k).
    """

    hessian: np.ndarray
    scores: np.ndarray
    cross: np.ndarray
    third: np.ndarray


def _side_sums(sides: BothSides, lam: np.ndarray, e: np.ndarray, xt: np.ndarray) -> _SideSums:
    """Every per-country sum of both sides, in one compiled pass over the pairs of the grid
    arrays (:func:`migtrade.estimation.kernels_bias.side_sums`); ``xt`` is (k, pairs, T)."""
    from migtrade.estimation.kernels_bias import side_sums

    n, t, k = len(sides.bounds) - 1, lam.shape[1], xt.shape[0]
    sums = _SideSums(hessian=np.empty((n, t, t)), scores=np.empty((n, t, t)),
                     cross=np.empty((n, k, t, t)), third=np.empty((n, k, t, t)))
    side_sums(sides.order, sides.bounds, lam, e, xt, sums.hessian, sums.scores, sums.cross,
              sums.third)
    return sums


def _bias_terms(sums: _SideSums, h_inverse: np.ndarray, side: slice) -> np.ndarray:
    """``sum_c (-B1_c + B2_c / 2)`` for each regressor, over the countries ``side`` of ``sums``."""
    # B1_c = tr(H+ C_c); B2_c = tr(H+ G_c H+ S_c) = sum((H+ S H+) o G_c), H+ S H+ shared.
    h_inv = h_inverse[side]
    b1 = np.einsum("cst,ckst->k", h_inv, sums.cross[side])
    hsh = h_inv @ sums.scores[side] @ h_inv
    b2 = np.einsum("cst,ckts->k", hsh, sums.third[side])
    return -b1 + 0.5 * b2


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
        sides = panel.both_sides()
        sums = _side_sums(sides, lam, e, xt)  # origins, then destinations
        inverses = ones_ginverse(sums.hessian)
        n_i, n_j = panel.n_origins, panel.n_destinations
        origins, destinations = slice(0, n_i), slice(n_i, None)
        terms = (n_i / (n_i - 1) * _bias_terms(sums, inverses, origins)
                 + n_j / (n_j - 1) * _bias_terms(sums, inverses, destinations))
        bias = bread @ terms
        if (n_i + n_j) * panel.n_periods <= EXACT_MAX_EFFECTS:
            adjusted, scores = three_way_exact(lam, e, xt, bread, panel, sums.hessian[origins],
                                               sums.hessian[destinations])
            method = "exact"
        else:
            adjusted, scores = three_way_local(lam, e, xt, bread, sides, sums.hessian, inverses)
            method = "local"
    meat = adjusted.T @ scores
    meat = 0.5 * (meat + meat.T)
    cov = adjustment * bread @ meat @ bread
    cov_plain = adjustment * bread @ (scores.T @ scores) @ bread
    return AnalyticalCorrection(bias=bias, cov=cov, cov_uncorrected=cov_plain,
                                variance_method=method)
