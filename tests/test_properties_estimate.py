"""Property tests: random small panels and random option values, through the API and the command.

Two properties: nothing ends in a traceback (every failure is one of the package's errors, and
the command turns it into one line and a documented exit code), and an estimate that succeeds
equals statsmodels on the same data with the fixed effects as explicit dummies.

Tolerances: OLS coefficients 1e-6 (the demeaning stops at a relative 1e-8 on panels of a few
dozen rows, so the error left is far below); PPML coefficients 1e-4 (the IRLS loop stops on a
relative change in deviance of ``tol``, at most 1e-8 here, which leaves about the square root
of that in the coefficients); standard errors 1e-4 relative under the conventions that coincide
with statsmodels' (iid: OLS s²(X'X)⁻¹ and PPML's inverse Hessian; robust: HC1 for OLS and
N/(N-1)·HC0 for PPML, the "stata" column of the README's table).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from conftest import cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import migtrade as mt

FIXED_EFFECTS = ["", "exporter", "exporter + importer", "exporter + importer + year"]

# Each option's values that migtrade estimate accepts, then the ones it must refuse.
VALID = {
    "model": ["ppml", "ols"],
    "vcov": ["iid", "robust", "cluster:pair", "cluster:exporter,importer"],
    "small_sample": ["stata", "fixest"],
    "maxiter": [1000, 50],
    "fe_maxiter": [100_000],
    "tol": [1e-8, 1e-10],
    "conf_level": [0.95, 0.9],
    "separation": ["fe,simplex,relu", "fe", "none", "relu,fe"],
    "keep_singletons": [False, True],
}
INVALID = {
    "vcov": ["cluster:nosuch", "hac"],
    "maxiter": [3, 1, 0, -2],
    "fe_maxiter": [5, 0],
    "tol": [1e-3, 0.0, -1e-8, math.nan],
    "conf_level": [0.0, 1.0, 1.5],
    "separation": ["mu"],
}
# Half the examples use valid options only, so that many estimates reach the comparison.
OPTIONS = st.one_of(
    st.fixed_dictionaries({k: st.sampled_from(v) for k, v in VALID.items()}),
    st.fixed_dictionaries({k: st.sampled_from(v + INVALID.get(k, [])) for k, v in VALID.items()}),
)
OUTCOMES = ["counts", "zeros"]
DEGENERATE = ["all_zero", "constant", "negative", "huge", "missing"]


@st.composite
def panels(draw: st.DrawFn) -> pd.DataFrame:
    """A small dyadic panel: 3-5 countries, 2-3 years, two regressors, an outcome that may be
    zero in places, negative, constant or enormous."""
    n = draw(st.integers(3, 5))
    years = draw(st.integers(2, 3))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    rows = [(i, j, t) for i in range(n) for j in range(n) if i != j for t in range(years)]
    frame = pd.DataFrame(rows, columns=["exporter", "importer", "year"])
    frame["exporter"] = "c" + frame["exporter"].astype(str)
    frame["importer"] = "c" + frame["importer"].astype(str)
    frame["pair"] = frame[["exporter", "importer"]].min(axis=1) + frame[["exporter", "importer"]].max(axis=1)
    frame["x1"] = rng.normal(size=len(frame))
    frame["x2"] = rng.normal(size=len(frame)) + 0.5 * frame["year"]
    mu = np.exp(1.0 + 0.5 * frame["x1"] - 0.3 * frame["x2"])
    kind = draw(st.one_of(st.sampled_from(OUTCOMES), st.sampled_from(OUTCOMES + DEGENERATE)))
    y = rng.poisson(mu).astype(float)
    if kind == "zeros":
        y[rng.random(len(y)) < 0.4] = 0.0
    elif kind == "all_zero":
        y[:] = 0.0
    elif kind == "constant":
        y[:] = 3.0
    elif kind == "negative":
        y = y - 2.0
    elif kind == "huge":
        y = y * 1e200
    elif kind == "missing":
        y[rng.random(len(y)) < 0.3] = np.nan
    frame["y"] = y
    return frame


def _formula(fe: str) -> str:
    return "y ~ x1 + x2" + (f" | {fe}" if fe else "")


def _dummies(frame: pd.DataFrame, fe: str) -> pd.DataFrame:
    X = frame[["x1", "x2"]].astype(float)
    parts = [X, pd.Series(1.0, index=frame.index, name="const")]
    for name in (f.strip() for f in fe.split("+") if f.strip()):
        parts.append(pd.get_dummies(frame[name], prefix=name, drop_first=True, dtype=float))
    return pd.concat(parts, axis=1)


def _statsmodels(frame: pd.DataFrame, fe: str, model: str, vcov: str) -> tuple[np.ndarray, np.ndarray]:
    X = _dummies(frame, fe)
    y = frame["y"].to_numpy(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if model == "ols":
            fit = sm.OLS(y, X).fit(cov_type="HC1" if vcov == "robust" else "nonrobust")
            cov = fit.cov_params().to_numpy()
        else:
            fit = sm.GLM(y, X, family=sm.families.Poisson()).fit(
                tol=1e-12, maxiter=200, cov_type="HC0" if vcov == "robust" else "nonrobust")
            n = len(y)
            cov = fit.cov_params().to_numpy() * (n / (n - 1) if vcov == "robust" else 1.0)
    return np.asarray(fit.params)[:2], np.sqrt(np.diag(cov))[:2]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=panels(), fe=st.sampled_from(FIXED_EFFECTS), options=OPTIONS)
def test_never_a_traceback_and_a_success_matches_statsmodels(frame: pd.DataFrame, fe: str,
                                                             options: dict) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the engine's own warnings are not under test here
        try:
            fit = mt.estimate(_formula(fe), frame, **options)
        except mt.MigtradeError as err:
            assert err.message and err.exit_code in (2, 4, 5)
            return
    assert isinstance(fit, mt.Result)
    assert np.all(np.isfinite(fit.params))
    clean = (not any(fit.dropped.values()) and not fit.omitted and fit.converged
             and options["tol"] <= 1e-8)
    if clean and options["model"] == "ppml" and options["separation"] != "fe,simplex,relu":
        # With checks turned off the data may be separated, and then no estimate exists to agree
        # with: compare only where the full checks drop nothing either.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                checked = mt.estimate(_formula(fe), frame, **{**options, "separation": "fe,simplex,relu"})
            except mt.MigtradeError:
                return
        clean = not any(checked.dropped.values())
    if not clean:
        return
    params, se = _statsmodels(frame, fe, options["model"], options["vcov"])
    atol = 1e-6 if options["model"] == "ols" else 1e-4
    np.testing.assert_allclose(fit.params[["x1", "x2"]].to_numpy(), params, rtol=atol, atol=atol)
    if options["vcov"] in ("iid", "robust") and options["small_sample"] == "stata":
        np.testing.assert_allclose(fit.bse[["x1", "x2"]].to_numpy(), se, rtol=1e-4, atol=1e-8)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(frame=panels(), fe=st.sampled_from(FIXED_EFFECTS), options=OPTIONS)
def test_the_command_answers_in_one_line(tmp_path_factory: pytest.TempPathFactory, frame: pd.DataFrame,
                                         fe: str, options: dict) -> None:
    path = tmp_path_factory.mktemp("prop") / "panel.csv"
    frame.to_csv(path, index=False)
    flags: list[object] = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            if value:
                flags.append(flag)
        else:
            flags += [flag, value]
    code, out, err = cli("estimate", _formula(fe), "--data", path, "--format", "json", *flags)
    if code == 0:
        assert out.startswith("{")
    else:
        assert code in (2, 4, 5) and out == ""
        lines = [line for line in err.splitlines() if line.startswith("migtrade: error: ")]
        assert len(lines) == 1, err
