"""The WRE bootstrap of 2SLS (Davidson & MacKinnon 2010) against a brute-force implementation.

The brute force builds every bootstrap sample of the WRE data-generating process in the
original space, with the fixed effects as dummies, re-estimates 2SLS on it and takes its CR0 t;
under full enumeration its p-value is a count over the same 2^G sign vectors, so migtrade's
(fixed effects absorbed, every draw from cluster-level sums) must equal it up to rounding
(1e-12; the statistics to 1e-8 relative).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd
import pytest

from migtrade.errors import UsageError
from migtrade.estimation.bootstrap import BootstrapOptions
from migtrade.estimation.bootstrap.invert import TIE_RTOL
from migtrade.estimation.fit import estimate
from migtrade.estimation.vcov import VcovSpec
from migtrade.results.result import EstimationResult

G = 8


def _panel(seed: int = 3, n: int = 240, clusters: int = G) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cl = rng.integers(0, clusters, n)
    year = rng.integers(0, 4, n)
    z1, z2, x1 = rng.normal(size=n), rng.normal(size=n), rng.normal(size=n)
    shock = rng.normal(size=clusters)[cl]
    common = rng.normal(size=n)
    e = 0.6 * z1 + 0.3 * z2 + 0.2 * x1 + 0.3 * year + 0.5 * shock + common
    y = 0.4 * e + 0.5 * x1 + 0.2 * year + shock * (0.5 + np.abs(z1)) + 0.7 * common + rng.normal(size=n)
    return pd.DataFrame({"y": y, "e": e, "z1": z1, "z2": z2, "x1": x1, "cl": cl, "year": year})


def _ols(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.linalg.lstsq(X, y, rcond=None)[0]


def _tsls_t(y: np.ndarray, R: np.ndarray, Q: np.ndarray, cl: np.ndarray, beta0: float) -> float:
    """2SLS of y on R (column 0 tested) with instruments Q; CR0 t of beta_0 = beta0."""
    Rhat = Q @ _ols(Q, R)
    b = _ols(Rhat, y)
    u = y - R @ b
    bread = np.linalg.inv(Rhat.T @ Rhat)
    scores = np.array([Rhat[cl == g].T @ u[cl == g] for g in range(int(cl.max()) + 1)])
    var = bread @ (scores.T @ scores) @ bread
    return float((b[0] - beta0) / np.sqrt(var[0, 0]))


def _brute_force_p(frame: pd.DataFrame, beta0: float) -> tuple[float, float]:
    """(p-value, sample t) of the WRE bootstrap, every sample built and re-estimated."""
    y, e, cl = frame["y"].to_numpy(), frame["e"].to_numpy(), frame["cl"].to_numpy()
    dummies = pd.get_dummies(frame["year"]).to_numpy(float)  # the year effects, intercept included
    exog = np.column_stack([frame["x1"], dummies])
    Q = np.column_stack([frame["z1"], frame["z2"], exog])
    u = y - beta0 * e - exog @ _ols(exog, y - beta0 * e)  # restricted structural residuals
    coef = _ols(np.column_stack([Q, u]), e)  # the efficient reduced form
    e_fit, v = Q @ coef[:-1], e - Q @ coef[:-1]
    y_fit = y - u - beta0 * e  # the restricted model's exogenous part
    t0 = _tsls_t(y, np.column_stack([e, exog]), Q, cl, beta0)
    stats = []
    for signs in itertools.product([-1.0, 1.0], repeat=int(cl.max()) + 1):
        w = np.asarray(signs)[cl]
        e_star = e_fit + w * v
        y_star = beta0 * e_star + y_fit + w * u
        stats.append(_tsls_t(y_star, np.column_stack([e_star, exog]), Q, cl, beta0))
    tstar = np.abs(np.asarray(stats))
    return float(np.mean(tstar >= abs(t0) * (1 - TIE_RTOL))), t0


def _wre(formula: str, frame: pd.DataFrame, **kw: Any) -> EstimationResult:
    opts = BootstrapOptions(method="wild", reps=kw.pop("reps", 999), **kw)  # type: ignore[arg-type]
    return estimate(formula, frame, model="ols", vcov=VcovSpec.parse("cluster:cl"), bootstrap=opts).result


def test_wre_equals_brute_force_under_full_enumeration() -> None:
    frame = _panel()
    res = _wre("y ~ x1 | year | e ~ z1 + z2", frame, invert_intervals=False)
    boot = res.bootstrap["e"]
    assert boot["method"] == "wre" and boot["full_enumeration"] and boot["reps"] == 2 ** G
    expected_p, expected_t = _brute_force_p(frame, 0.0)
    assert boot["statistic"] == pytest.approx(expected_t, rel=1e-8)
    assert boot["p_value"] == pytest.approx(expected_p, abs=1e-12)
    assert "x1" not in res.bootstrap
    assert any("no WRE bootstrap of x1" in n for n in res.notes)


def test_wre_at_another_null_equals_brute_force() -> None:
    """y - 0.3 e has coefficient b - 0.3 on e: the test of 0 there is the test of 0.3 here."""
    frame = _panel(seed=8)
    shifted = frame.assign(y=frame["y"] - 0.3 * frame["e"])
    res = _wre("y ~ x1 | year | e ~ z1 + z2", shifted, invert_intervals=False)
    expected_p, expected_t = _brute_force_p(frame, 0.3)
    assert res.bootstrap["e"]["statistic"] == pytest.approx(expected_t, rel=1e-8)
    assert res.bootstrap["e"]["p_value"] == pytest.approx(expected_p, abs=1e-12)


def test_wre_statistic_is_the_engines_clustered_t() -> None:
    """The sample's statistic is the CR0 t: the engine's t (CR1) times the square root of its
    small-sample factor."""
    res = _wre("y ~ x1 | year | e ~ z1 + z2", _panel(), invert_intervals=False)
    j = res.terms.index("e")
    assert res.bootstrap["e"]["statistic"] == pytest.approx(
        res.tstats[j] * np.sqrt(res.vcov.adjustment), rel=1e-8)


@pytest.mark.parametrize("weights", ["webb", "rademacher"])
def test_wre_absorbed_equals_dummies(weights: str) -> None:
    frame = _panel(seed=5, clusters=12)
    dummies = pd.get_dummies(frame["year"], prefix="yr", drop_first=True).astype(float)
    wide = pd.concat([frame, dummies], axis=1)
    absorbed = _wre("y ~ x1 | year | e ~ z1 + z2", wide, weights=weights)
    explicit = _wre(f"y ~ x1 + {' + '.join(dummies.columns)} | e ~ z1 + z2", wide, weights=weights)
    a, e = absorbed.bootstrap["e"], explicit.bootstrap["e"]
    assert not a["full_enumeration"] and a["reps"] == 999
    assert a["p_value"] == e["p_value"]
    assert a["statistic"] == pytest.approx(e["statistic"], rel=1e-8)
    se = absorbed.std_errors[absorbed.terms.index("e")]
    assert a["interval"] == "test inversion"
    assert a["ci_low"] == pytest.approx(e["ci_low"], abs=1e-5 * se)
    assert a["ci_high"] == pytest.approx(e["ci_high"], abs=1e-5 * se)
    assert a["ci_low"] < absorbed.params[absorbed.terms.index("e")] < a["ci_high"]


def test_wre_interval_ends_are_where_the_test_starts_to_reject() -> None:
    frame = _panel(seed=11, clusters=12)
    res = _wre("y ~ x1 | year | e ~ z1 + z2", frame, reps=1999)
    b = res.bootstrap["e"]
    se = res.std_errors[res.terms.index("e")]
    for end, inward in ((b["ci_low"], 1.0), (b["ci_high"], -1.0)):
        def at(beta0: float) -> float:
            shifted = frame.assign(y=frame["y"] - beta0 * frame["e"])
            return _wre("y ~ x1 | year | e ~ z1 + z2", shifted, reps=1999,
                        invert_intervals=False).bootstrap["e"]["p_value"]

        assert at(end + inward * 1e-3 * se) > 0.05 >= at(end - inward * 1e-3 * se)


@pytest.mark.parametrize(("formula", "model", "kw", "message"), [
    ("y ~ x1 | year | e ~ z1 + z2", "ppml", {"method": "score"}, "not available for instrumental"),
    ("y ~ 1 | year | e + x1 ~ z1 + z2", "ols", {}, "one endogenous regressor"),
    ("y ~ x1 | year | e ~ z1 + z2", "ols", {"impose_null": False}, "imposes the null"),
])
def test_wre_refusals(formula: str, model: str, kw: dict, message: str) -> None:
    frame = _panel()
    frame["y"] = np.abs(frame["y"]) if model == "ppml" else frame["y"]
    opts = BootstrapOptions(method=kw.pop("method", "wild"), reps=999, **kw)
    with pytest.raises(UsageError, match=message):
        estimate(formula, frame, model=model, vcov=VcovSpec.parse("cluster:cl"), bootstrap=opts)
