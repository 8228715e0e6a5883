"""Separation checks on data whose separated observations are known by construction."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import statsmodels.api as sm

from migtrade.estimation import separation as sep
from migtrade.estimation.separation import (
    detect_separation,
    fe_separated,
    relu_separated,
    simplex_separated,
)


def dummies(codes: list[np.ndarray], drop_first_after: int = 1) -> np.ndarray:
    """Explicit dummy matrix; every dimension after the first loses one level (no collinearity)."""
    cols = []
    for q, c in enumerate(codes):
        d = np.eye(int(c.max()) + 1)[c]
        cols.append(d[:, 1:] if q >= drop_first_after else d)
    return np.hstack(cols)


def exact_separated(y: np.ndarray, X: np.ndarray, codes: list[np.ndarray]) -> np.ndarray:
    """Reference answer: the linear programme over the regressors and all dummies, explicitly."""
    full = np.hstack([X, *(np.eye(int(c.max()) + 1)[c] for c in codes)]) if codes else X
    return simplex_separated(y, full)


def poisson_fit(y: np.ndarray, X: np.ndarray) -> sm.GLM:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sm.GLM(y, X, family=sm.families.Poisson()).fit(maxiter=200)


def gravity_panel(n_c: int, seed: int, mean: float = 1.0) -> tuple[np.ndarray, ...]:
    """Exporter x importer Poisson sample with a distance-like regressor."""
    rng = np.random.default_rng(seed)
    ex, im = np.meshgrid(np.arange(n_c), np.arange(n_c), indexing="ij")
    off = ex != im
    ex, im = ex[off], im[off]
    size = rng.normal(0, 0.5, n_c)
    dist = rng.uniform(0, 1, ex.size)
    y = rng.poisson(mean * np.exp(size[ex] + size[im] - dist)).astype(float)
    return y, dist, ex, im


# --- 1. a fixed-effect level with only zeros -------------------------------------------------


def test_exporter_with_no_trade_is_fe_separated() -> None:
    y, dist, ex, im = gravity_panel(8, seed=1, mean=20.0)
    y[ex == 3] = 0.0
    expected = ex == 3
    assert np.array_equal(fe_separated(y, [ex, im]), expected)
    report = detect_separation(y, dist[:, None], [ex, im])
    assert np.array_equal(report.mask, expected)
    assert (report.by_fe, report.by_simplex, report.by_relu) == (int(expected.sum()), 0, 0)


# --- 2. separation by the regressors alone -----------------------------------------------------


def test_dummy_that_is_one_only_on_zero_rows() -> None:
    y = np.array([0, 0, 0, 1, 2, 3.0])
    x = np.array([1, 1, 0, 0, 0, 0.0])
    X = np.column_stack([np.ones(6), x])
    expected = np.array([1, 1, 0, 0, 0, 0], dtype=bool)
    assert np.array_equal(simplex_separated(y, X), expected)
    assert np.array_equal(relu_separated(y, X, None), expected)
    report = detect_separation(y, X, [])
    assert np.array_equal(report.mask, expected)
    assert report.by_simplex == 2


def test_combination_of_two_regressors() -> None:
    # 2 x1 + x2 is 0 on every positive row and on rows 1-2, and 3 on row 0.
    y = np.array([0, 0, 0, 1, 2, 3.0])
    x1 = np.array([2, -1, 0, 0, 5, 6.0])
    x2 = np.array([-1, 2, 0, 0, -10, -12.0])
    X = np.column_stack([np.ones(6), x1, x2])
    expected = np.array([1, 0, 0, 0, 0, 0], dtype=bool)
    assert np.array_equal(simplex_separated(y, X), expected)
    assert np.array_equal(relu_separated(y, X, None), expected)


def difference_separated_sample(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x1 - x2 is 0 wherever y > 0 and positive on a known set of zero rows."""
    rng = np.random.default_rng(seed)
    n = 120
    x1 = rng.normal(size=n)
    y = rng.poisson(np.exp(0.3 + 0.5 * x1)).astype(float)
    zeros = np.flatnonzero(y == 0)
    chosen = rng.choice(zeros, size=6, replace=False)
    x2 = x1.copy()
    x2[chosen] -= rng.uniform(0.5, 2.0, chosen.size)
    expected = np.zeros(n, dtype=bool)
    expected[chosen] = True
    return y, np.column_stack([np.ones(n), x1, x2]), expected


def test_difference_of_regressors_separates() -> None:
    y, X, expected = difference_separated_sample()
    assert np.array_equal(simplex_separated(y, X), expected)
    assert np.array_equal(relu_separated(y, X, None), expected)


def test_collinear_and_constant_columns_are_harmless() -> None:
    y, X, expected = difference_separated_sample(seed=3)
    # A duplicated column, a rescaled one, a second constant and an all-zero column.
    wide = np.column_stack([X, X[:, 1], 1e6 * X[:, 2], 5 * np.ones(len(y)), np.zeros(len(y))])
    assert np.array_equal(simplex_separated(y, wide), expected)
    assert np.array_equal(relu_separated(y, wide, None), expected)


def test_edge_shapes() -> None:
    y = np.array([0, 1, 2, 0.0])
    assert not simplex_separated(y, np.empty((4, 0))).any()
    assert not relu_separated(y, np.empty((4, 0)), None).any()
    assert not relu_separated(np.ones(4), np.ones((4, 1)), None).any()
    assert not fe_separated(y, []).any()
    report = detect_separation(y, None, None)
    assert report.n_dropped == 0
    with pytest.raises(ValueError, match="unknown separation method"):
        detect_separation(y, None, None, methods=("fe", "mu"))


# --- 3. fixed effects and regressors together --------------------------------------------------


def test_fixed_effect_combination_without_regressors() -> None:
    # id1 = 2 plus id2 = 1, minus both levels' other uses: positive only on row 2.
    y = np.array([0, 1, 0, 0, 1.0])
    id1 = np.array([0, 0, 1, 1, 1])
    id2 = np.array([0, 0, 0, 1, 1])
    expected = np.array([0, 0, 1, 0, 0], dtype=bool)
    assert not fe_separated(y, [id1, id2]).any()
    assert np.array_equal(relu_separated(y, None, [id1, id2]), expected)
    assert np.array_equal(exact_separated(y, np.empty((5, 0)), [id1, id2]), expected)


def mixed_sample(seed: int = 2) -> tuple[np.ndarray, ...]:
    """x equals exporter 0's dummy plus bumps on some zero rows: z = x - D_0 separates them."""
    y, dist, ex, im = gravity_panel(7, seed=seed, mean=30.0)
    rng = np.random.default_rng(seed)
    candidates = np.flatnonzero(ex != 0)
    chosen = rng.choice(candidates, size=4, replace=False)
    y[chosen] = 0.0
    x = (ex == 0).astype(float)
    x[chosen] += rng.uniform(0.5, 2.0, chosen.size)
    expected = np.zeros(y.size, dtype=bool)
    expected[chosen] = True
    return y, np.column_stack([dist, x]), ex, im, expected


def test_regressor_plus_fixed_effect_needs_relu() -> None:
    y, X, ex, im, expected = mixed_sample()
    codes = [ex, im]
    assert not fe_separated(y, codes).any()
    assert not simplex_separated(y, X).any()
    assert np.array_equal(exact_separated(y, X, codes), expected)
    assert np.array_equal(relu_separated(y, X, codes), expected)
    report = detect_separation(y, X, codes)
    assert np.array_equal(report.mask, expected)
    assert (report.by_fe, report.by_simplex, report.by_relu) == (0, 0, int(expected.sum()))


def three_way_panel(seed: int) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """A seeded three-way panel (exporter-year, importer-year and pair effects) with many zeros
    and a dummy on some zero rows, the groups with no positive outcome dropped; with the fixed
    effects the dummy separates more rows than the ones it covers (seeds 0, 3, 5)."""
    rng = np.random.default_rng(seed)
    n_c, n_t = 7, 4
    ex, im, t = (a.ravel() for a in np.meshgrid(*map(np.arange, (n_c, n_c, n_t)), indexing="ij"))
    off = ex != im
    ex, im, t = ex[off], im[off], t[off]
    size = rng.normal(-0.5, 1.2, n_c)
    y = rng.poisson(np.exp(size[ex] + size[im] + rng.normal(0, 0.8, ex.size))).astype(float)
    X = np.column_stack([rng.uniform(size=ex.size), (rng.random(ex.size) < 0.3) & (y == 0)])
    codes = [ex * n_t + t, im * n_t + t, ex * n_c + im]
    keep = ~fe_separated(y, codes)
    codes = [np.unique(c[keep], return_inverse=True)[1] for c in codes]
    return y[keep], X[keep], codes


@pytest.mark.parametrize("seed", range(6))
def test_relu_matches_the_exact_programme_on_sparse_panels(seed: int) -> None:
    """Three-way panels with many zeros and a dummy on some zero rows (:func:`three_way_panel`)."""
    y, X, codes = three_way_panel(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = relu_separated(y, X, codes)
    assert np.array_equal(got, exact_separated(y, X, codes))


# --- 4. nothing to find ----------------------------------------------------------------------


def count_passes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    original = sep._Projector.residual

    def counted(self: sep._Projector, u: np.ndarray) -> np.ndarray:
        calls[0] += 1
        return original(self, u)

    monkeypatch.setattr(sep._Projector, "residual", counted)
    return calls


def test_no_separation_with_fixed_effects(monkeypatch: pytest.MonkeyPatch) -> None:
    y, dist, ex, im = gravity_panel(25, seed=4, mean=2.0)
    assert (y == 0).mean() > 0.1
    calls = count_passes(monkeypatch)
    report = detect_separation(y, dist[:, None], [ex, im])
    assert report.n_dropped == 0
    # The usual case must stay cheap: one projection proves that no certificate exists.
    assert calls[0] <= 2


def test_no_separation_without_fixed_effects(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    n = 400
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.random(n) < 0.5])
    y = rng.poisson(np.exp(-0.5 + 0.4 * X[:, 1] + 0.3 * X[:, 2])).astype(float)
    calls = count_passes(monkeypatch)
    assert not simplex_separated(y, X).any()
    assert not relu_separated(y, X, None).any()
    assert calls[0] <= 2


# --- 5. why the rows must go: the MLE exists only without them -------------------------------


def test_poisson_diverges_on_full_sample_and_converges_after_dropping() -> None:
    y = np.array([0, 0, 0, 1, 2, 3.0])
    X = np.column_stack([np.ones(6), [1, 1, 0, 0, 0, 0]])
    mask = detect_separation(y, X, []).mask
    full = poisson_fit(y, X)
    assert full.params[1] < -10  # heading for minus infinity
    # On the kept rows the regressor is constant 0; the caller drops it as collinear.
    kept = poisson_fit(y[~mask], X[~mask][:, :1])
    assert kept.converged
    assert kept.params[0] == pytest.approx(np.log(1.5))
    assert full.params[0] == pytest.approx(kept.params[0], abs=1e-6)


def test_poisson_with_regressor_difference() -> None:
    y, X, expected = difference_separated_sample()
    mask = detect_separation(y, X, []).mask
    assert np.array_equal(mask, expected)
    full = poisson_fit(y, X)
    assert max(abs(full.params[1]), abs(full.params[2])) > 10
    # Without the separated rows x1 == x2; keep one of them.
    kept = poisson_fit(y[~mask], X[~mask][:, :2])
    assert kept.converged
    assert np.all(np.abs(kept.params) < 5)
    assert np.allclose(full.fittedvalues[~mask], kept.fittedvalues, rtol=1e-5, atol=1e-8)


def test_poisson_with_fixed_effects_and_regressor() -> None:
    y, X, ex, im, expected = mixed_sample()
    report = detect_separation(y, X, [ex, im])
    mask = report.mask
    assert np.array_equal(mask, expected)
    D = dummies([ex, im])
    full = poisson_fit(y, np.column_stack([X, D]))
    assert full.params[1] < -10
    assert full.fittedvalues[mask].max() < 1e-4
    # On the kept rows x is exporter 0's dummy exactly, so it goes as collinear.
    assert np.array_equal(X[~mask, 1], (ex[~mask] == 0).astype(float))
    kept = poisson_fit(y[~mask], np.column_stack([X[~mask, :1], D[~mask]]))
    assert kept.converged
    assert np.all(np.isfinite(kept.params)) and np.all(np.abs(kept.params) < 10)
    # The full-sample fit tends to the same model on the rows that stay.
    assert full.params[0] == pytest.approx(kept.params[0], abs=1e-5)
    assert np.allclose(full.fittedvalues[~mask], kept.fittedvalues, rtol=1e-5)
