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

from migtrade.estimation.bias_panel import CountryGroups, PairPanel
from migtrade.estimation.bias_structure import GravityKind
from migtrade.estimation.bias_variance import (
    apply_pair_hessian,
    pinv_psd,
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


def _country_hessians(groups: CountryGroups, lam: np.ndarray, scaled: np.ndarray) -> np.ndarray:
    """``H_c = sum_g H_g`` over the pairs of each country: diag(sum mu) - sum mu mu'/sum_t mu."""
    h = -groups.gram(scaled, scaled)
    t = lam.shape[1]
    h[:, np.arange(t), np.arange(t)] += groups.total(lam)
    return h


def _bias_terms(groups: CountryGroups, h_inverse: np.ndarray, lam: np.ndarray, e: np.ndarray,
                xt: np.ndarray, scaled: np.ndarray) -> np.ndarray:
    """``sum_c (-B1_c + B2_c / 2)`` for each regressor, over the countries of one side."""
    total = lam.sum(axis=1)
    root = np.sqrt(total)[:, None]
    s = groups.gram(e, e)
    # H+ S H+ is shared by every regressor: B2_c = tr(H+ G_c H+ S_c) = sum((H+ S H+) o G_c).
    hsh = h_inverse @ s @ h_inverse
    out = np.empty(xt.shape[2])
    t = lam.shape[1]
    for k in range(xt.shape[2]):
        x = xt[:, :, k]
        hx = apply_pair_hessian(lam, total, x)
        b1 = np.einsum("cst,cst->c", h_inverse, groups.gram(e, hx))
        cross = groups.gram(lam * x / root, scaled)
        g = cross + cross.transpose(0, 2, 1)
        g[:, np.arange(t), np.arange(t)] -= 2.0 * groups.total(lam * x)
        b2 = np.einsum("cst,cts->c", hsh, g)
        out[k] = float(-b1.sum() + 0.5 * b2.sum())
    return out


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
    lam = panel.grid(mu)
    e = panel.grid(y - mu)
    xt = panel.grid(x_tilde)
    total = lam.sum(axis=1)
    scaled = lam / np.sqrt(total)[:, None]
    by_origin, by_destination = panel.groups()
    scores = np.einsum("ptk,pt->pk", xt, e)

    if kind is GravityKind.two_way:
        u = two_way_exact(lam, e, xt, bread, panel)
        bias = np.zeros(xt.shape[2])
        method = "exact by period"
    else:
        h_i = _country_hessians(by_origin, lam, scaled)
        h_j = _country_hessians(by_destination, lam, scaled)
        inv_i, inv_j = pinv_psd(h_i), pinv_psd(h_j)
        n_i, n_j = panel.n_origins, panel.n_destinations
        terms = (n_i / (n_i - 1) * _bias_terms(by_origin, inv_i, lam, e, xt, scaled)
                 + n_j / (n_j - 1) * _bias_terms(by_destination, inv_j, lam, e, xt, scaled))
        bias = bread @ terms
        if (n_i + n_j) * panel.n_periods <= EXACT_MAX_EFFECTS:
            u = three_way_exact(lam, e, xt, bread, panel, h_i, h_j)
            method = "exact"
        else:
            u = three_way_local(lam, e, xt, bread, panel, h_i, h_j, inv_i, inv_j)
            method = "local"
    adjusted = np.einsum("ptk,pt->pk", xt, u)
    meat = adjusted.T @ scores
    meat = 0.5 * (meat + meat.T)
    cov = adjustment * bread @ meat @ bread
    cov_plain = adjustment * bread @ (scores.T @ scores) @ bread
    return AnalyticalCorrection(bias=bias, cov=cov, cov_uncorrected=cov_plain,
                                variance_method=method)
