"""The engine against identities and other packages on the same data.

Tolerances: absorbed fixed effects and explicit dummies solve the same least-squares problem, so
coefficients agree to 1e-6 relative (the demeaning stops at 1e-8 per sweep, which bounds the error
well below that); PPML against statsmodels' GLM is limited by the two IRLS stopping rules (1e-8
relative deviance here, statsmodels' 1e-8 on the deviance), hence 1e-6 relative.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from migtrade.estimation.fit import estimate
from migtrade.estimation.vcov import VcovSpec


def small_panel(seed: int = 7, n_exp: int = 12, n_imp: int = 10, n_years: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    idx = pd.MultiIndex.from_product([range(n_exp), range(n_imp), range(n_years)],
                                     names=["exp", "imp", "year"]).to_frame(index=False)
    n = len(idx)
    a = rng.normal(size=n_exp)[idx["exp"]]
    b = rng.normal(size=n_imp)[idx["imp"]]
    c = rng.normal(scale=0.3, size=n_years)[idx["year"]]
    x1 = rng.normal(size=n) + 0.5 * a
    x2 = rng.uniform(0, 1, size=n) + 0.3 * b
    mu = np.exp(0.5 + a + b + c + 0.4 * x1 - 0.7 * x2)
    y = rng.poisson(mu).astype(float)
    return idx.assign(x1=x1, x2=x2, y=y, ly=np.log1p(y) + rng.normal(scale=0.1, size=n),
                      w=rng.uniform(0.5, 2.0, n), off=rng.normal(scale=0.2, size=n),
                      cl=idx["exp"] * 100 + idx["imp"])


def dummies(frame: pd.DataFrame, cols: list[str]) -> np.ndarray:
    mats = [pd.get_dummies(frame[c], prefix=c, drop_first=i > 0).to_numpy(float) for i, c in enumerate(cols)]
    return np.hstack(mats)


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return small_panel()


def test_ols_absorbed_equals_explicit_dummies(panel: pd.DataFrame) -> None:
    res = estimate("ly ~ x1 + x2 | exp + imp + year", panel, model="ols",
                   vcov=VcovSpec.parse("iid")).result
    X = np.column_stack([panel[["x1", "x2"]].to_numpy(), dummies(panel, ["exp", "imp", "year"])])
    ols = sm.OLS(panel["ly"].to_numpy(), X).fit()
    np.testing.assert_allclose(res.params, ols.params[:2], rtol=1e-6)
    # iid standard errors: s² with N - K degrees of freedom, K counting every dummy.
    np.testing.assert_allclose(res.std_errors, ols.bse[:2], rtol=1e-6)


def test_ppml_absorbed_equals_glm_poisson_with_dummies(panel: pd.DataFrame) -> None:
    res = estimate("y ~ x1 + x2 | exp + imp + year", panel, model="ppml",
                   vcov=VcovSpec.parse("iid")).result
    X = np.column_stack([panel[["x1", "x2"]].to_numpy(), dummies(panel, ["exp", "imp", "year"])])
    glm = sm.GLM(panel["y"].to_numpy(), X, family=sm.families.Poisson()).fit(tol=1e-12)
    np.testing.assert_allclose(res.params, glm.params[:2], rtol=1e-6)
    np.testing.assert_allclose(res.std_errors, glm.bse[:2], rtol=1e-5)


def test_ppml_weights_and_offset_equal_glm(panel: pd.DataFrame) -> None:
    res = estimate("y ~ x1 + x2 | exp + imp", panel, model="ppml", weights="w", offset="off",
                   vcov=VcovSpec.parse("iid")).result
    X = np.column_stack([panel[["x1", "x2"]].to_numpy(), dummies(panel, ["exp", "imp"])])
    glm = sm.GLM(panel["y"].to_numpy(), X, family=sm.families.Poisson(), offset=panel["off"].to_numpy(),
                 var_weights=panel["w"].to_numpy()).fit(tol=1e-12)
    np.testing.assert_allclose(res.params, glm.params[:2], rtol=1e-6)


def test_ppml_without_fixed_effects_equals_glm(panel: pd.DataFrame) -> None:
    res = estimate("y ~ x1 + x2", panel, model="ppml", vcov=VcovSpec.parse("robust", "stata")).result
    X = sm.add_constant(panel[["x1", "x2"]].to_numpy())
    glm = sm.GLM(panel["y"].to_numpy(), X, family=sm.families.Poisson()).fit(tol=1e-12, cov_type="HC0")
    np.testing.assert_allclose(res.params, glm.params, rtol=1e-6)
    n = len(panel)
    # Stata's robust ML convention: HC0 times N/(N-1).
    np.testing.assert_allclose(res.std_errors, glm.bse * np.sqrt(n / (n - 1)), rtol=1e-5)


def test_ols_equals_linearmodels_absorbing_ls(panel: pd.DataFrame) -> None:
    from linearmodels.iv.absorbing import AbsorbingLS

    res = estimate("ly ~ x1 + x2 | exp + imp", panel, model="ols", weights="w",
                   vcov=VcovSpec.parse("robust")).result
    absorb = pd.DataFrame({"exp": pd.Categorical(panel["exp"]), "imp": pd.Categorical(panel["imp"])})
    lm = AbsorbingLS(panel["ly"], panel[["x1", "x2"]], absorb=absorb, weights=panel["w"]).fit(
        cov_type="robust")
    np.testing.assert_allclose(res.params, lm.params.to_numpy(), rtol=1e-6)
    # linearmodels' robust covariance has no small-sample factor (debiased=False); reghdfe's,
    # ours, is N/(N-K) with K = 2 regressors + 12 + 10 levels - 1 redundant.
    n, k = len(panel), 2 + 12 + 10 - 1
    np.testing.assert_allclose(res.std_errors, lm.std_errors.to_numpy() * np.sqrt(n / (n - k)), rtol=1e-6)


def test_two_way_clustering_is_inclusion_exclusion(panel: pd.DataFrame) -> None:
    one = estimate("ly ~ x1 + x2 | exp", panel, model="ols", vcov=VcovSpec.parse("cluster:imp")).result
    two = estimate("ly ~ x1 + x2 | exp", panel, model="ols", vcov=VcovSpec.parse("cluster:imp,year")).result
    assert two.vcov["clusters"] == {"imp": 10, "year": 5}
    assert not np.allclose(one.std_errors, two.std_errors)
    assert np.all(np.isfinite(two.std_errors))


def test_intercept_only_with_fixed_effects(panel: pd.DataFrame) -> None:
    res = estimate("y ~ 1 | exp + imp", panel, model="ppml").result
    assert res.terms == ()
    assert res.nobs == len(panel)
    assert res.fit["deviance"] is not None


def test_collinear_regressor_is_dropped_deterministically(panel: pd.DataFrame) -> None:
    p = panel.assign(x3=2 * panel["x1"] - panel["x2"])
    runs = [estimate("y ~ x1 + x2 + x3 | exp + imp", p, model="ppml").result for _ in range(3)]
    for r in runs:
        assert r.terms == ("x1", "x2")
        assert r.omitted[0][0] == "x3" and "collinear" in r.omitted[0][1]
    base = estimate("y ~ x1 + x2 | exp + imp", panel, model="ppml").result
    np.testing.assert_allclose(runs[0].params, base.params, rtol=1e-10)


def test_regressor_absorbed_by_a_combination_of_effects_is_dropped(panel: pd.DataFrame) -> None:
    # Constant within neither effect alone, but a sum of an exporter and an importer term.
    rng = np.random.default_rng(3)
    p = panel.assign(x3=rng.normal(size=12)[panel["exp"]] + rng.normal(size=10)[panel["imp"]])
    res = estimate("y ~ x1 + x3 + x2 | exp + imp", p, model="ppml").result
    assert res.terms == ("x1", "x2")
    assert res.omitted == (("x3", "absorbed by the fixed effects"),)


def test_nearly_collinear_regressor_passes_the_screen_as_before(
        panel: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    """PPML decides collinearity on its first, loose demeaning only when every regressor clears
    a wide screen; a regressor close to, but not in, the span of the others is looked at again
    on X demeaned to the target tolerance, and kept, with the estimates of that precise path."""
    from migtrade.estimation import ppml

    rng = np.random.default_rng(4)
    p = panel.assign(x4=panel["x1"] + 0.01 * rng.normal(size=len(panel)))
    formula = "y ~ x1 + x2 + x4 | exp + imp"
    screened = estimate(formula, p, model="ppml").result
    monkeypatch.setattr(ppml, "START_INNER_TOL", 1e-8)  # first demeaning already precise
    precise = estimate(formula, p, model="ppml").result
    assert screened.terms == precise.terms == ("x1", "x2", "x4")
    np.testing.assert_allclose(screened.params, precise.params, rtol=1e-6)


def test_ppml_start_means_match_every_group_total_after_one_sweep() -> None:
    """IRLS starts from one sweep of iterative proportional fitting: after it the means add up
    to the observed totals of the last dimension swept, and of the first where it is nested;
    a group with no positive outcome (kept when separation checks are off) keeps a positive
    mean."""
    from migtrade.estimation.absorb import Absorber
    from migtrade.estimation.ppml import _start_means

    y = np.array([0.0, 0.0, 2.0, 4.0, 1.0, 0.0, 0.0])
    big = np.array([0, 0, 1, 1, 2, 2, 2])  # three levels: swept first
    small = np.array([0, 1, 0, 1, 0, 1, 0])
    w = np.ones(7)
    # _start_means returns the IRLS start (y + m) / 2; m is the sweep's result.
    got = 2.0 * _start_means(y, w, Absorber([small, big], w)) - y
    # First sweep (big): group means 1 (overall, as group 0 has no positive outcome), 3, 1/3.
    first = np.array([1.0, 1.0, 3.0, 3.0, 1 / 3, 1 / 3, 1 / 3])
    # Then small: observed totals 3 and 4, fitted totals 1 + 3 + 2/3 and 1 + 3 + 1/3.
    ratio = np.array([3 / (1 + 3 + 2 / 3), 4 / (1 + 3 + 1 / 3)])
    np.testing.assert_allclose(got, first * ratio[small])
    np.testing.assert_allclose(np.bincount(small, weights=got), [3.0, 4.0])
    assert np.all(got > 0)
    np.testing.assert_allclose(_start_means(y, w, None), 0.5 * (y + 1.0))


def test_ppml_estimates_do_not_depend_on_the_start(panel: pd.DataFrame,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Proportional-fitting start and overall-mean start (ppmlhdfe's) reach the same estimates."""
    from migtrade.estimation import ppml

    formula = "y ~ x1 + x2 | exp + imp"
    grouped = estimate(formula, panel, model="ppml").result
    monkeypatch.setattr(ppml, "_start_means",
                        lambda y, w, ab: 0.5 * (y + float(w @ y) / float(w.sum())))
    overall = estimate(formula, panel, model="ppml").result
    np.testing.assert_allclose(grouped.params, overall.params, rtol=1e-7)
    np.testing.assert_allclose(grouped.cov, overall.cov, rtol=1e-6)
