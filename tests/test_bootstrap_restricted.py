"""The PPML fit under r'beta = beta0 started from a fit already made (the restricted score
bootstrap's fits) against the engine's fit from scratch of the same restricted model.

Both stop at a relative change in deviance below 1e-10 here, so their fitted means agree to
about the square root of that (the deviance is flat at the optimum): 1e-6 relative. The
restricted coefficients and the regressors demeaned under the final weights follow from the
means, and are held to the same 1e-6.
"""

from __future__ import annotations

import numpy as np
import pytest

from migtrade.estimation.absorb import Absorber
from migtrade.estimation.bootstrap import path, restricted
from migtrade.estimation.bootstrap.restricted import (
    FitPoint,
    PoissonModel,
    RestrictedEstimate,
    RestrictedFits,
    path_start,
    restricted_fit,
)
from migtrade.estimation.ppml import PoissonFit, fit_ppml

TOL = 1e-10
OPTS = {"tol": TOL, "fe_tol": 1e-10, "maxiter": 100, "fe_maxiter": 10_000}


def _data(seed: int = 2, n: int = 3000) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    exporter, importer = rng.integers(0, 30, n), rng.integers(0, 25, n)
    X = np.column_stack([rng.normal(size=n), rng.normal(size=n), rng.normal(size=n)])
    eta = 0.4 * X[:, 0] - 0.2 * X[:, 1] + 0.1 * X[:, 2] + 0.05 * exporter % 1.1 + 0.03 * importer
    y = rng.poisson(np.exp(eta)).astype(float)
    offset = 0.1 * rng.normal(size=n)
    return y, X, [exporter, importer], offset


def _point(fit: PoissonFit) -> FitPoint:
    return FitPoint(beta=fit.beta, eta=fit.eta, x_tilde=fit.x_tilde, bread=fit.bread, mu=fit.mu,
                    irls_weights=fit.irls_weights, deviance=fit.deviance)


def _fitted(seed: int, with_fe: bool) -> tuple[np.ndarray, np.ndarray, Absorber | None,
                                               np.ndarray, PoissonFit, PoissonModel]:
    """The data of ``seed`` fitted by PPML, with its two fixed effects absorbed or, without
    them, a constant: y, the design, the absorber, the offset, the fit and the model."""
    y, X, codes, offset = _data(seed=seed)
    w = np.ones_like(y)
    absorber = Absorber(codes) if with_fe else None
    design = X if with_fe else np.column_stack([np.ones_like(y), X])
    names = [f"x{m}" for m in range(design.shape[1])]
    full = fit_ppml(y, np.asfortranarray(design), names, absorber, w, offset=offset, tol=TOL)
    return y, design, absorber, offset, full, PoissonModel(y=y, weights=w, absorber=absorber)


def _scratch(y: np.ndarray, X: np.ndarray, absorber: Absorber | None, offset: np.ndarray,
             r: np.ndarray, beta0: float) -> PoissonFit:
    """The engine's fit of the restricted model, reparametrised, from its own start."""
    pivot = int(np.flatnonzero(r)[0])
    others = [m for m in range(X.shape[1]) if m != pivot]
    xp = X[:, pivot] / r[pivot]
    design = np.asfortranarray(X[:, others] - np.outer(xp, r[others]))
    return fit_ppml(y, design, [f"x{m}" for m in others], absorber, np.ones_like(y),
                    offset=offset + beta0 * xp, tol=TOL)


@pytest.mark.parametrize(("r", "beta0"), [
    (np.array([1.0, 0.0, 0.0]), 0.0),  # a coefficient against zero
    (np.array([0.0, 1.0, 0.0]), 0.3),  # far from its estimate (-0.2): step-halving territory
    (np.array([1.0, 1.0, 0.0]), 0.0),  # a sum
    (np.array([0.0, 2.0, -1.0]), 0.1),  # a combination whose first term is not 1
])
def test_restricted_fit_from_the_estimate_equals_a_fit_from_scratch(r: np.ndarray, beta0: float) -> None:
    y, X, codes, offset = _data()
    w = np.ones_like(y)
    absorber = Absorber(codes)
    full = fit_ppml(y, np.asfortranarray(X), ["a", "b", "c"], absorber, w, offset=offset, tol=TOL)
    fit = restricted_fit(PoissonModel(y=y, weights=w, absorber=absorber), _point(full), r, beta0,
                         **OPTS)
    scratch = _scratch(y, X, absorber, offset, r, beta0)
    np.testing.assert_allclose(fit.mu, scratch.mu, rtol=1e-6)
    assert not np.allclose(fit.mu, full.mu, rtol=1e-3)  # the restriction binds
    assert float(r @ fit.point.beta) == pytest.approx(beta0, abs=1e-12)
    # The other coefficients: the scratch fit's, which are those of the restricted design.
    others = [m for m in range(3) if m != int(np.flatnonzero(r)[0])]
    np.testing.assert_allclose(fit.point.beta[others], scratch.beta, rtol=1e-6, atol=1e-8)
    # The regressors demeaned under the fit's own weights: an independent demeaning.
    expected = absorber.with_weights(w * fit.mu).demean(np.asfortranarray(X), tol=1e-12).resid
    np.testing.assert_allclose(fit.point.x_tilde, expected, atol=1e-7)


def _fits_of_first_coefficient() -> tuple[np.ndarray, np.ndarray, Absorber, np.ndarray, PoissonFit,
                                          float, RestrictedFits]:
    """The three-regressor panel of seed 5, its fit, the first coefficient's model standard
    error and the restricted fits of that coefficient (r = e_1)."""
    y, X, codes, offset = _data(seed=5)
    w = np.ones_like(y)
    absorber = Absorber(codes)
    full = fit_ppml(y, np.asfortranarray(X), ["a", "b", "c"], absorber, w, offset=offset, tol=TOL)
    se = float(np.sqrt(full.bread[0, 0]))
    fits = RestrictedFits(PoissonModel(y=y, weights=w, absorber=absorber), _point(full), **OPTS)
    return y, X, absorber, offset, full, se, fits


def test_the_path_start_needs_one_step() -> None:
    """From the unrestricted fit moved to the null along the path of restricted fits (to the
    third order: the Newton step predicts a relative rise in deviance of 1e-3 and more here),
    IRLS converges in one step for a null 2 to 6 standard errors away (a fit from scratch takes
    5 here; from the Newton start alone it took up to three); from a restricted fit at a value
    a thousandth of a standard error away, as in the interval search, in at most one from the
    Newton start (none where its predicted rise is negligible). Each is the fit from scratch."""
    y, X, absorber, offset, full, se, fits = _fits_of_first_coefficient()
    r = np.array([1.0, 0.0, 0.0])
    for distance, most_steps in ((-6.0, 1), (2.0, 1), (2.001, 1), (-6.001, 1)):
        beta0 = float(full.beta[0]) + distance * se
        fit = fits(r, beta0)
        assert fit.steps <= most_steps, (distance, fit.steps)
        scratch = _scratch(y, X, absorber, offset, r, beta0)
        assert scratch.iterations > 3
        np.testing.assert_allclose(fit.mu, scratch.mu, rtol=1e-6)
    assert fits.fits == 4


def test_a_start_with_a_negligible_rise_is_the_fit() -> None:
    """A null a hundred-thousandth of a standard error from a restricted fit (the interval
    search's later trial values): the Newton start predicts a rise in deviance below
    NEGLIGIBLE_RISE, is taken without an IRLS step, and is the fit from scratch, its regressors
    demeaned under its own weights; one a tenth of a standard error away still takes its step."""
    y, X, absorber, offset, full, se, fits = _fits_of_first_coefficient()
    r = np.array([1.0, 0.0, 0.0])
    fits(r, float(full.beta[0]) + 2.0 * se)
    for distance, steps in ((2.00001, 0), (2.1, 1)):
        beta0 = float(full.beta[0]) + distance * se
        fit = fits(r, beta0)
        assert fit.steps == steps, distance
        scratch = _scratch(y, X, absorber, offset, r, beta0)
        np.testing.assert_allclose(fit.mu, scratch.mu, rtol=1e-6)
        weighted = absorber.with_weights(fit.mu)  # unit weights
        expected = weighted.demean(np.asfortranarray(X), tol=1e-12).resid
        np.testing.assert_allclose(fit.point.x_tilde, expected, atol=1e-7)


def test_without_fixed_effects() -> None:
    y, X, _, offset = _data(seed=4)
    w = np.ones_like(y)
    Xc = np.column_stack([np.ones_like(y), X])
    full = fit_ppml(y, np.asfortranarray(Xc), ["one", "a", "b", "c"], None, w, offset=offset, tol=TOL)
    r = np.array([0.0, 1.0, 0.0, 0.0])
    fit = restricted_fit(PoissonModel(y=y, weights=w, absorber=None), _point(full), r, 0.0, **OPTS)
    scratch = fit_ppml(y, np.asfortranarray(Xc[:, [0, 2, 3]]), ["one", "b", "c"], None, w,
                       offset=offset, tol=TOL)
    np.testing.assert_allclose(fit.mu, scratch.mu, rtol=1e-6)


@pytest.mark.parametrize("with_fe", [True, False])
def test_the_path_start_is_exact_to_the_third_order(with_fe: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The start's error against the converged restricted fit, as the null moves away from the
    estimate: doubling the distance multiplies it by 4 from the Newton start (error of order
    Δ²) and by 16 from the third-order one (order Δ⁴), which the derivatives of the path in the
    module notes promise; a wrong sign or factor in a term leaves an error of order Δ² or Δ³
    (ratio 4 or 8). The terms' demeanings are made exact here (their loose tolerance would put
    a floor under the smallest errors); the bounds leave room for the next order's share."""
    monkeypatch.setattr(restricted, "START_INNER_TOL", 1e-13)
    y, X, codes, offset = _data(seed=5)
    w = np.ones_like(y)
    if with_fe:
        absorber: Absorber | None = Absorber(codes)
        design, names = X, ["a", "b", "c"]
    else:
        absorber, design = None, np.column_stack([np.ones_like(y), X])
        names = ["one", "a", "b", "c"]
    full = fit_ppml(y, np.asfortranarray(design), names, absorber, w, offset=offset, tol=TOL)
    model = PoissonModel(y=y, weights=w, absorber=absorber)
    r = np.zeros(design.shape[1])
    r[-3] = 1.0
    se = float(np.sqrt(r @ full.bread @ r))
    errors: dict[int, list[float]] = {1: [], 3: []}
    for distance in (2.0, 4.0, 8.0):
        beta0 = float(r @ full.beta) + distance * se
        exact = np.log(_scratch(y, design, absorber, offset, r, beta0).mu)
        for order, errs in errors.items():
            start = path_start(model, _point(full), r, beta0, fe_maxiter=10_000, order=order)
            errs.append(float(np.max(np.abs(start.eta - exact))))
    for near, far in zip(errors[1][:-1], errors[1][1:], strict=True):
        assert 3.5 < far / near < 4.5
    for near, far in zip(errors[3][:-1], errors[3][1:], strict=True):
        assert 12.0 < far / near < 20.0
    assert all(e3 < e1 / 100 for e1, e3 in zip(errors[1], errors[3], strict=True))


def test_score_intervals_do_not_depend_on_the_negligible_rise_shortcut(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The score bootstrap's intervals by test inversion with the later trial values taken at
    their Newton starts (NEGLIGIBLE_RISE) equal those with an IRLS step at every trial value,
    to a millionth of a standard error (the search's own precision is a thousandth), and the
    shortcut was taken."""
    from test_bootstrap import _panel

    from migtrade.estimation.bootstrap import BootstrapOptions
    from migtrade.estimation.fit import estimate
    from migtrade.estimation.vcov import VcovSpec

    taken: list[int] = []
    real_converged = restricted._converged

    def counted(*args: object, **kwargs: object) -> RestrictedEstimate:
        out = real_converged(*args, **kwargs)  # type: ignore[arg-type]
        taken.append(out.steps)
        return out

    monkeypatch.setattr(restricted, "_converged", counted)

    def intervals() -> dict[str, tuple[float, float, float]]:
        opts = BootstrapOptions(method="score", reps=1999)  # type: ignore[arg-type]
        res = estimate("flow ~ x1 + x2 | year", _panel(seed=11, clusters=12), model="ppml",
                       vcov=VcovSpec.parse("cluster:cl"), bootstrap=opts).result
        return {t: (b["ci_low"], b["ci_high"], res.std_errors[res.terms.index(t)])
                for t, b in res.bootstrap.items()}

    with_shortcut = intervals()
    assert 0 in taken  # some trial value was its Newton start
    monkeypatch.setattr(restricted, "NEGLIGIBLE_RISE", 0.0)
    taken.clear()
    every_step = intervals()
    assert 0 not in taken
    for term, (lo, hi, se) in with_shortcut.items():
        assert abs(lo - every_step[term][0]) <= 1e-6 * se
        assert abs(hi - every_step[term][1]) <= 1e-6 * se


@pytest.mark.parametrize("with_fe", [True, False])
def test_the_third_order_start_from_path_terms_equals_its_own(with_fe: bool) -> None:
    """The third-order start taken from the path's derivatives made once for several
    combinations (path_terms, which the score bootstrap shares with its interval expansion)
    equals the one that demeans its own terms: the same derivatives, demeaned together instead
    of one by one, to loose tolerances (PATH_TERMS_TOL, 1e-3 of each column's scale, against
    START_INNER_TOL, 1e-4), so the starts agree to well within the distance the first IRLS step
    then covers (measured: 3.5e-7 of the linear predictor, against a start 7e-6 from the
    converged fit 8 standard errors out; the bound 1e-6)."""
    y, design, absorber, offset, full, model = _fitted(5, with_fe)
    k = design.shape[1]
    rs = [np.eye(k)[k - 3], np.eye(k)[k - 1] + np.eye(k)[k - 2]]
    terms = path.path_terms(model, _point(full), rs, fe_maxiter=10_000)
    for r, each in zip(rs, terms, strict=True):
        se = float(np.sqrt(r @ full.bread @ r))
        beta0 = float(r @ full.beta) + 8.0 * se
        own = path_start(model, _point(full), r, beta0, fe_maxiter=10_000, order=3)
        shared = path_start(model, _point(full), r, beta0, fe_maxiter=10_000, order=3, terms=each)
        exact = np.log(_scratch(y, design, absorber, offset, r, beta0).mu)
        assert np.max(np.abs(shared.eta - own.eta)) < 1e-6
        assert np.max(np.abs(shared.coef - own.coef)) < 1e-6
        assert np.max(np.abs(shared.eta - exact)) < 2.0 * np.max(np.abs(own.eta - exact)) + 1e-9


@pytest.mark.parametrize("with_offset", [False, True])
def test_score_bootstrap_falls_back_to_the_fit_from_scratch(
        monkeypatch: pytest.MonkeyPatch, with_offset: bool) -> None:
    """Where a restricted fit from the estimate fails (ConvergenceError), the score bootstrap
    fits the restricted model from scratch with the engine (the null moved into the offset,
    added to the model's own): the same p-values, and the nulls' statistics within 1e-6
    (relative; both fits stop at the engine's tolerance)."""
    from test_bootstrap import _panel

    from migtrade.errors import ConvergenceError
    from migtrade.estimation.bootstrap import BootstrapOptions
    from migtrade.estimation.fit import estimate
    from migtrade.estimation.vcov import VcovSpec

    frame = _panel(seed=13, clusters=15)
    frame["exposure"] = np.random.default_rng(2).normal(scale=0.3, size=len(frame))

    def run() -> dict[str, dict[str, float]]:
        opts = BootstrapOptions(method="score", reps=999,  # type: ignore[arg-type]
                                invert_intervals=False)
        res = estimate("flow ~ x1 + x2 | year", frame, model="ppml",
                       offset="exposure" if with_offset else None,
                       vcov=VcovSpec.parse("cluster:cl"), bootstrap=opts).result
        return res.bootstrap

    usual = run()

    def fails(*args: object, **kwargs: object) -> RestrictedEstimate:
        raise ConvergenceError("no fit", "none")

    monkeypatch.setattr(restricted, "restricted_fit", fails)
    scratch = run()
    assert usual.keys() == scratch.keys() == {"x1", "x2"}
    for term, boot in usual.items():
        assert scratch[term]["p_value"] == boot["p_value"]
        assert abs(scratch[term]["statistic"] / boot["statistic"] - 1.0) < 1e-6


@pytest.mark.parametrize("with_fe", [True, False])
def test_path_terms_from_shared_products_equal_each_combinations_own(
        monkeypatch: pytest.MonkeyPatch, with_fe: bool) -> None:
    """The path's derivatives made from the regressors' products x̃_i x̃_j demeaned once for
    every combination equal those made from each combination's own columns e² and e ∘ x̃_j
    (the same residuals combined before or after the demeaning, both to PATH_TERMS_TOL, 1e-3
    of each column's scale): residuals, projections and third terms within 1e-3 of their scale,
    the restricted regressors' coefficients within 1e-3."""
    y, _, _, _, full, model = _fitted(7, with_fe)
    k = full.beta.size
    rs = [np.eye(k)[k - 1], np.eye(k)[k - 2] - np.eye(k)[k - 3], np.eye(k)[0]]
    shared = path.path_terms(model, _point(full), rs, fe_maxiter=10_000)
    monkeypatch.setattr(path, "SHARED_MAX_K", 0)
    own = path.path_terms(model, _point(full), rs, fe_maxiter=10_000)
    assert all(t.of_basis is not None for t in shared) and all(t.of_basis is None for t in own)
    n = y.shape[0]
    for a, b in zip(shared, own, strict=True):
        for column in range(k + 1):
            got, want = a.resid(column, np.empty(n)), b.resid(column, np.empty(n))
            assert np.max(np.abs(got - want)) < 1e-3 * max(1.0, float(np.std(want)))
        assert np.max(np.abs(a.third - b.third)) < 1e-3 * max(1.0, float(np.std(b.third)))
        np.testing.assert_allclose(a.p_of_x, b.p_of_x, atol=1e-3)
        np.testing.assert_allclose(a.second_coef, b.second_coef, atol=1e-3)
        np.testing.assert_allclose(a.third_coef, b.third_coef, atol=1e-3)
        assert a.e_max == b.e_max
