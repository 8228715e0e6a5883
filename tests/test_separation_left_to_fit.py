"""The rectifier's separation check left to the PPML fit (migtrade.estimation.no_separation).

With fixed effects, ``estimate`` runs the fe and simplex checks first and lets the fit's own
steps prove that no zero row is separated; only where they do not does the rectifier run, on the
sample, before the model is fitted again. Whatever the path, the estimate must be the one on the
right sample: on data without separation the rectifier never runs and the estimate equals the
one without any rectifier check; on data the rectifier (or the exact programme) separates, the
estimate equals the one on the data with those rows removed by hand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import migtrade.estimation.fit as fit_module
from migtrade.estimation import no_separation, separation
from migtrade.estimation.absorb import Absorber
from migtrade.estimation.fit import FitOptions, estimate
from migtrade.estimation.no_separation import residual_proves_no_separation
from migtrade.estimation.ols import solve_wls
from migtrade.estimation.separation import fe_separated, simplex_separated
from migtrade.estimation.vcov import VcovSpec


def exact_separated(y: np.ndarray, X: np.ndarray, codes: list[np.ndarray]) -> np.ndarray:
    """Reference answer: the linear programme over the regressors and every dummy, explicitly."""
    return simplex_separated(y, np.hstack([X, *(np.eye(int(c.max()) + 1)[c] for c in codes)]))


def panel(seed: int, zeros: float = 0.35) -> pd.DataFrame:
    """A three-way gravity panel (exporter-year, importer-year, pair) with many zeros and no
    group whose outcome is all zero."""
    rng = np.random.default_rng(seed)
    n_c, n_t = 9, 5
    ex, im, t = (a.ravel() for a in np.meshgrid(*map(np.arange, (n_c, n_c, n_t)), indexing="ij"))
    off = ex != im
    ex, im, t = ex[off], im[off], t[off]
    size = rng.normal(0.0, 0.8, n_c)
    x = rng.normal(size=ex.size)
    y = rng.poisson(np.exp(1.0 + size[ex] + size[im] + 0.3 * x)).astype(float)
    y[rng.random(ex.size) < zeros] = 0.0
    d = pd.DataFrame({"y": y, "x": x, "et": ex * n_t + t, "it": im * n_t + t, "p": ex * n_c + im})
    keep = ~fe_separated(d["y"].to_numpy(), [d[c].to_numpy() for c in ("et", "it", "p")])
    return d[keep].reset_index(drop=True)


FORMULA = "y ~ x | et + it + p"


def same(a, b) -> None:
    assert a.terms == b.terms and a.nobs == b.nobs
    np.testing.assert_allclose(a.params, b.params, rtol=1e-8)
    np.testing.assert_allclose(a.std_errors, b.std_errors, rtol=1e-6)


@pytest.mark.parametrize("seed", range(4))
def test_unseparated_panel_is_proved_by_the_fit_without_the_rectifier(
        seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    d = panel(seed)
    assert (d["y"] == 0).mean() > 0.2
    without = estimate(FORMULA, d, vcov=VcovSpec.parse("cluster:p"),
                       options=FitOptions(separation=("fe", "simplex"))).result

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the rectifier ran although the fit proved no separation")

    monkeypatch.setattr(separation, "relu_separated", refuse)
    got = estimate(FORMULA, d, vcov=VcovSpec.parse("cluster:p")).result
    assert got.dropped["separated"] == 0
    assert got.options["separation"] == ["fe", "simplex", "relu"]
    same(got, without)


def separated_panel(seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """:func:`panel` with a regressor s equal to one exporter-year's dummy plus bumps on a few
    zero rows elsewhere: s less that dummy separates them, which neither the regressors alone
    (simplex) nor the fixed effects alone (fe) show. The exact linear programme over the
    regressors and every dummy says which rows are separated."""
    d = panel(seed, zeros=0.5)
    rng = np.random.default_rng(100 + seed)
    level = d["et"].iloc[0]
    s = (d["et"] == level).to_numpy(dtype=float)
    chosen = rng.choice(np.flatnonzero((d["et"] != level).to_numpy() & (d["y"] == 0).to_numpy()),
                        size=4, replace=False)
    s[chosen] += rng.uniform(0.5, 2.0, chosen.size)
    d["s"] = s
    X = d[["x", "s"]].to_numpy()
    codes = [pd.factorize(d[c])[0] for c in ("et", "it", "p")]
    return d, exact_separated(d["y"].to_numpy(), X, codes)


@pytest.mark.parametrize("seed", range(4))
def test_separated_panel_falls_back_to_the_rectifier(seed: int,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    d, expected = separated_panel(seed)
    assert expected.any()
    calls = []
    fitted_first = fit_module._fit_with_check_left

    def spy(*args: object) -> object:
        out = fitted_first(*args)  # type: ignore[arg-type]
        calls.append(out[1])
        return out

    monkeypatch.setattr(fit_module, "_fit_with_check_left", spy)
    got = estimate("y ~ x + s | et + it + p", d).result
    assert calls == [False]  # the fit did not prove it, so the rectifier ran
    right = estimate("y ~ x + s | et + it + p", d[~expected]).result
    assert got.dropped["separated"] == int(expected.sum())
    assert got.dropped["separated"] + got.dropped["singletons"] + got.nobs == len(d)
    assert got.terms == right.terms
    np.testing.assert_allclose(got.params, right.params, rtol=1e-8)
    assert calls[1] is True  # without the separated rows the fit proves it


def test_a_fit_that_gives_up_is_fitted_again_after_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    d = panel(0)
    normal = estimate(FORMULA, d, vcov=VcovSpec.parse("cluster:p")).result
    monkeypatch.setattr(no_separation, "PROOF_WITHIN_STEPS", 1)
    import migtrade.estimation.ppml as ppml

    monkeypatch.setattr(ppml, "PROOF_WITHIN_STEPS", 1)
    again = estimate(FORMULA, d, vcov=VcovSpec.parse("cluster:p")).result
    same(again, normal)
    assert again.iterations == normal.iterations


def test_a_fit_that_fails_still_fails_with_its_own_message() -> None:
    from migtrade.errors import ConvergenceError

    d = panel(1)
    with pytest.raises(ConvergenceError, match="did not converge in 2 iterations"):
        estimate(FORMULA, d, options=FitOptions(maxiter=2))


# --- the proof itself ----------------------------------------------------------------------------


def residual(y: np.ndarray, X: np.ndarray, codes: list[np.ndarray], w: np.ndarray,
             z: np.ndarray) -> tuple[np.ndarray, Absorber]:
    """The residual of the weighted least-squares fit of ``z`` on X and the fixed effects."""
    ab = Absorber(codes, w)
    block = np.asfortranarray(np.column_stack([z, X]))
    out = ab.demean(block, tol=1e-13, maxiter=100_000).resid
    zt, xt = out[:, 0], out[:, 1:]
    beta, _ = solve_wls(np.asfortranarray(xt), zt, w)
    return zt - xt @ beta, ab


def test_no_residual_proves_it_on_separated_data() -> None:
    d, expected = separated_panel(0)
    assert expected.any()
    y, X = d["y"].to_numpy(), d[["x", "s"]].to_numpy()
    codes = [pd.factorize(d[c])[0].astype(np.int32) for c in ("et", "it", "p")]
    zero = y == 0
    rng = np.random.default_rng(0)
    # z = -1 on the zero rows (the working outcome's value there at a fit's optimum), then any
    # outcome under any weights: a separating direction is orthogonal to no residual that is
    # negative on every zero row.
    outcomes = [np.where(zero, -1.0, np.log(np.maximum(y, 1.0)))]
    outcomes += [rng.normal(size=y.size) - 3.0 * zero for _ in range(10)]
    for z in outcomes:
        w = rng.uniform(0.1, 10.0, y.size)
        e, ab = residual(y, X, codes, w, z)
        assert residual_proves_no_separation(e, w, np.flatnonzero(zero), ab) is not True


def test_the_fit_proves_it_on_unseparated_data() -> None:
    from migtrade.estimation.ppml import fit_ppml

    d = panel(3)
    y, X = d["y"].to_numpy(), np.asfortranarray(d[["x"]].to_numpy())
    codes = [pd.factorize(d[c])[0].astype(np.int32) for c in ("et", "it", "p")]
    w = np.ones(y.size)
    got = fit_ppml(y, X, ("x",), Absorber(codes, w), w, prove_no_separation=True)
    assert got.no_separation is True
    assert fit_ppml(y, X, ("x",), Absorber(codes, w), w).no_separation is None


def test_the_proof_refuses_an_unbalanced_residual() -> None:
    from migtrade.estimation.ppml import fit_ppml

    d = panel(2)
    y, X = d["y"].to_numpy(), d[["x"]].to_numpy()
    codes = [pd.factorize(d[c])[0].astype(np.int32) for c in ("et", "it", "p")]
    zero = y == 0
    ones = np.ones(y.size)
    fitted = fit_ppml(y, np.asfortranarray(X), ("x",), Absorber(codes, ones), ones)
    # One more Newton step from the optimum: its residual is about -1 on every zero row.
    z = fitted.eta + (y - fitted.mu) / fitted.mu
    e, ab = residual(y, X, codes, fitted.mu, z)
    assert residual_proves_no_separation(e, fitted.mu, np.flatnonzero(zero), ab) is True
    # Still negative on every zero row but no longer orthogonal to the fixed effects (as after
    # a demeaning stopped early): no proof yet.
    assert residual_proves_no_separation(e - 0.5 * zero, fitted.mu, np.flatnonzero(zero), ab) is None
    # Not negative on one zero row (a step lowering it by 1, as along a separating direction).
    bad = e.copy()
    bad[np.flatnonzero(zero)[0]] = 0.0
    assert residual_proves_no_separation(bad, fitted.mu, np.flatnonzero(zero), ab) is False
