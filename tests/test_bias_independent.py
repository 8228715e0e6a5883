"""The bias corrections against computations that share none of their code.

* The leverage-adjusted variance, three-way and two-way, from the dense hat matrix of the
  weighted fit with every fixed effect as an explicit dummy, on Poisson means fitted by
  a plain Newton iteration: ``u_g = (I - L_g)^{-1} e_g`` with ``L_g`` the transposed diagonal block of
  the hat matrix (less the pair-mean projection when there is a pair effect).
* The local approximation used on large panels against the exact leverage.
* The split-panel jackknife against its four sub-panel fits done by hand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from migtrade.errors import EstimationError
from migtrade.estimation import bias as bias_module
from migtrade.estimation import bias_variance
from migtrade.estimation.bias_panel import PairPanel
from migtrade.estimation.bias_variance import pair_hessians, pinv_psd
from migtrade.estimation.fit import FitOptions, estimate
from migtrade.estimation.vcov import VcovSpec
from migtrade.synthetic.three_way import three_way_panel

PAIR = VcovSpec.parse("cluster:exp^imp")
THREE = "y ~ x | exp^year + imp^year + exp^imp"
TWO = "y ~ x | exp^year + imp^year"


def _dummies(frame: pd.DataFrame, pair: bool) -> np.ndarray:
    cols = [pd.get_dummies(frame["exp"].astype(str) + "_" + frame["year"].astype(str)),
            pd.get_dummies(frame["imp"].astype(str) + "_" + frame["year"].astype(str))]
    if pair:
        cols.append(pd.get_dummies(frame["exp"].astype(str) + "_" + frame["imp"].astype(str)))
    return pd.concat(cols, axis=1).to_numpy(dtype=float)


def _dense_adjusted_se(frame: pd.DataFrame, pair: bool) -> tuple[float, float]:
    """(uncorrected, adjusted) pair-clustered SE of x from explicit dummies, by brute force."""
    d = _dummies(frame, pair)
    x = frame[["x"]].to_numpy()
    z = np.hstack([x, d])
    y = frame["y"].to_numpy()
    coef = np.zeros(z.shape[1])
    coef[1:] = np.log(y.mean()) / 2  # each row has two country-time dummies (and a pair one)
    for _ in range(100):  # Newton's method on the Poisson log-likelihood, pseudo-inverse steps
        mu = np.exp(z @ coef)
        step = pinv_psd(z.T @ (mu[:, None] * z)) @ (z.T @ (y - mu))
        coef += step
        if np.abs(step).max() < 1e-13:
            break
    mu = np.exp(z @ coef)
    e = frame["y"].to_numpy() - mu
    gram = pinv_psd(z.T @ (mu[:, None] * z))
    hat = z @ gram @ (z.T * mu)  # P = Z (Z'WZ)^+ Z'W
    xt = x - d @ pinv_psd(d.T @ (mu[:, None] * d)) @ (d.T @ (mu[:, None] * x))
    bread = gram[:1, :1]
    pairs = (frame["exp"].astype(str) + "_" + frame["imp"].astype(str)).to_numpy()
    plain = np.zeros((1, 1))
    adjusted = np.zeros((1, 1))
    for g in np.unique(pairs):
        rows = np.flatnonzero(pairs == g)
        lev = hat[np.ix_(rows, rows)]
        if pair:  # the pair effect's own projection is 1 theta'; it does not act on e_g
            lev = lev - np.outer(np.ones(len(rows)), mu[rows] / mu[rows].sum())
        u = np.linalg.solve(np.eye(len(rows)) - lev.T, e[rows])
        s = xt[rows].T @ e[rows]
        plain += np.outer(s, s)
        adjusted += np.outer(xt[rows].T @ u, s)
    g_count = len(np.unique(pairs))
    factor = g_count / (g_count - 1)
    return (float(np.sqrt(factor * bread @ plain @ bread)[0, 0]),
            float(np.sqrt(factor * bread @ (adjusted + adjusted.T) / 2 @ bread)[0, 0]))


@pytest.mark.parametrize(("formula", "pair"), [(THREE, True), (TWO, False)])
def test_adjusted_variance_equals_dense_hat_matrix(formula: str, pair: bool) -> None:
    frame = three_way_panel(7, 4, dgp=2, rng=3)
    tight = FitOptions(tol=1e-14, fe_tol=1e-12)
    got = estimate(formula, frame, vcov=PAIR, bias_correction="analytical", options=tight).result
    plain, adjusted = _dense_adjusted_se(frame, pair)
    # Both fits are taken to convergence far below the default tolerances.
    assert got.bias_correction["terms"]["x"]["uncorrected_std_error"] == pytest.approx(plain, rel=1e-8)
    assert got.std_errors[0] == pytest.approx(adjusted, rel=1e-8)
    assert got.std_errors[0] > plain  # the adjustment widens the interval


@pytest.mark.parametrize(("formula", "pair"), [(THREE, True), (TWO, False)])
def test_adjusted_variance_with_a_country_absent_in_a_period(formula: str, pair: bool) -> None:
    frame = three_way_panel(7, 4, dgp=2, rng=3)
    # Origin 0 has no flows in the last period: its origin-time effect is absent there.
    frame = frame[~((frame["exp"] == 0) & (frame["year"] == frame["year"].max()))]
    frame = frame.reset_index(drop=True)
    tight = FitOptions(tol=1e-14, fe_tol=1e-12)
    got = estimate(formula, frame, vcov=PAIR, bias_correction="analytical", options=tight).result
    plain, adjusted = _dense_adjusted_se(frame, pair)
    # As above: both fits far below the default tolerances.
    assert got.bias_correction["terms"]["x"]["uncorrected_std_error"] == pytest.approx(plain, rel=1e-8)
    assert got.std_errors[0] == pytest.approx(adjusted, rel=1e-8)


def test_local_leverage_close_to_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = three_way_panel(30, 5, dgp=2, rng=11)
    exact = estimate(THREE, frame, vcov=PAIR, bias_correction="analytical").result
    assert exact.bias_correction["variance"] == "exact"
    monkeypatch.setattr(bias_module, "EXACT_MAX_EFFECTS", 0)
    local = estimate(THREE, frame, vcov=PAIR, bias_correction="analytical").result
    assert local.bias_correction["variance"] == "local"
    assert local.params[0] == exact.params[0]  # only the variance differs
    se0 = exact.bias_correction["terms"]["x"]["uncorrected_std_error"]
    # The local leverage misses terms of order 1/N^2 against 1/N for the correction, so the
    # correction of the standard error (adjusted - uncorrected) is off by about 1/N = 3%
    # (measured 3.4% on this draw); 10% leaves room for other draws.
    assert local.std_errors[0] - se0 == pytest.approx(exact.std_errors[0] - se0, rel=0.10)


def test_leave_out_iteration_and_direct_solves_agree() -> None:
    frame = three_way_panel(9, 6, dgp=3, rng=5)
    panel = PairPanel.build(frame["exp"], frame["imp"], frame["year"], ["exp", "imp", "year"])
    rng = np.random.default_rng(0)
    lam = panel.grid(np.exp(rng.normal(size=len(frame))))
    r = rng.normal(size=(panel.n_pairs, panel.n_periods))
    r -= r.mean(axis=1, keepdims=True)  # orthogonal to the ones vector, as the residuals are
    hp = pair_hessians(lam)
    sides = panel.both_sides()  # origins, then destinations
    h_c = np.zeros((panel.n_origins + panel.n_destinations, panel.n_periods, panel.n_periods))
    for country in sides.country:
        np.add.at(h_c, country, hp)
    iterated, late = bias_variance._leave_out_iterate(
        sides, bias_variance.ones_ginverse(h_c), lam, r, np.zeros(panel.n_pairs, dtype=bool))
    assert not late.any()
    every = np.arange(panel.n_pairs)
    direct = bias_variance._leave_out_direct(
        h_c, np.concatenate(sides.country), lam, r, np.zeros((0, *r.shape)),
        np.concatenate([every, every]))[:, 0].reshape(2, panel.n_pairs, panel.n_periods)
    for side, country in enumerate(sides.country):
        reference = np.einsum("pst,pt->ps", pinv_psd(h_c[country] - hp), r)
        # The correction uses H_g w; w itself is determined only up to multiples of the ones
        # vector. The iteration stops when a step moves H_g w by less than 1e-8 of r; what is
        # left is that times s / (1 - s) for a pair with share s of its country's flows, here
        # up to about 0.9 (in use, pairs above 5% are solved directly). The direct solves are
        # exact to rounding.
        target = np.einsum("pst,pt->ps", hp, reference)
        scale = np.abs(target).max()
        np.testing.assert_allclose(np.einsum("pst,pt->ps", hp, iterated[side]), target,
                                   rtol=0, atol=1e-6 * scale)
        np.testing.assert_allclose(np.einsum("pst,pt->ps", hp, direct[side]), target, rtol=0,
                                   atol=1e-10 * scale)


def test_jackknife_is_twice_the_estimate_less_the_quarter_mean() -> None:
    frame = three_way_panel(12, 4, dgp=2, rng=7)
    got = estimate(THREE, frame, vcov=PAIR, bias_correction="jackknife").result
    full = estimate(THREE, frame, vcov=PAIR).result
    # Halves: alternate positions of the sorted codes (0, 2, 4, ... and 1, 3, 5, ...).
    quarters = []
    for a in (0, 1):
        for b in (0, 1):
            rows = frame[(frame["exp"] % 2 == a) & (frame["imp"] % 2 == b)]
            quarters.append(estimate(THREE, rows, vcov=PAIR).result.params[0])
    assert got.bias_correction["terms"]["x"]["subpanels"] == pytest.approx(quarters, rel=1e-10)
    assert got.params[0] == pytest.approx(2 * full.params[0] - np.mean(quarters), rel=1e-10)
    assert got.bias_correction["terms"]["x"]["bias"] == pytest.approx(
        np.mean(quarters) - full.params[0], rel=1e-10)
    np.testing.assert_array_equal(got.cov, full.cov)  # standard errors left as estimated


def test_jackknife_refuses_a_regressor_without_variation_in_a_quarter() -> None:
    frame = three_way_panel(8, 4, dgp=2, rng=1)
    # d varies within every fixed effect of the full panel but is all zero for odd origins.
    frame["d"] = ((frame["exp"] % 2 == 0) & (frame["imp"] % 2 == 0) & (frame["year"] > 2)).astype(float)
    with pytest.raises(EstimationError, match="jackknife sub-panel"):
        estimate("y ~ x + d | exp^year + imp^year + exp^imp", frame, vcov=PAIR,
                 bias_correction="jackknife")
