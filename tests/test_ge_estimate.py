"""The estimate path: trade costs from an estimated PPML, the change, and filled pair costs.

The fitted baseline must be the estimated model's own fitted flows in the baseline year: with
exporter-year and importer-year effects PPML fits each year's output and expenditure exactly, so
scaling the estimated costs to those margins gives back the fit. That is checked against
pyfixest's PPML (an independent fit, run at 1e-12; migtrade's engine stops at a relative
change in deviance of 1e-8, so 1e-6 relative on the fitted flows leaves room only for that).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from ge_panels import YEAR, small_panel

from migtrade.errors import DataError, UsageError
from migtrade.ge import GEOptions
from migtrade.ge.baseline import prepare_baseline, resolve_columns
from migtrade.ge.change import apply_changes, parse_changes
from migtrade.ge.effects import fill_pair_costs
from migtrade.ge.run import run_counterfactual


def _peer_fitted(frame: pd.DataFrame, formula: str) -> pd.Series:
    """pyfixest's PPML fitted flows, indexed by (exporter, importer, year)."""
    pf = pytest.importorskip("pyfixest")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        fit = pf.fepois(formula, frame, fixef_tol=1e-12, iwls_tol=1e-12, iwls_maxiter=200)
    return pd.Series(np.asarray(fit.predict(type="response")),
                     index=pd.MultiIndex.from_frame(frame[["exporter", "importer", "year"]]))


def _with_keys(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(exp_year=frame["exporter"] + "_" + frame["year"].astype(str),
                        imp_year=frame["importer"] + "_" + frame["year"].astype(str),
                        pair=frame["exporter"] + "_" + frame["importer"])


@pytest.mark.parametrize(("formula", "peer"), [
    ("trade ~ rta | exporter^year + importer^year + pair_id", "trade ~ rta | exp_year + imp_year + pair_id"),
    ("trade ~ rta | exporter^year + importer^year + exporter^importer", "trade ~ rta | exp_year + imp_year + pair"),
    ("trade ~ rta + log_dist + cntg + lang | exporter^year + importer^year",
     "trade ~ rta + log_dist + cntg + lang | exp_year + imp_year"),
])
def test_fitted_baseline_is_the_models_fit(formula: str, peer: str) -> None:
    frame = small_panel()
    result = run_counterfactual(frame, GEOptions(year=YEAR, sigma=5.0, estimate=formula, change="rta = 0"))
    expected = _peer_fitted(_with_keys(frame), peer)
    pairs = pd.DataFrame(list(result.pairs))
    keys = pd.MultiIndex.from_arrays([pairs["exporter"], pairs["importer"], np.full(len(pairs), YEAR)])
    assert np.allclose(pairs["trade_baseline"], expected.reindex(keys).to_numpy(), rtol=1e-6)
    # The partial effect of removing every RTA is minus the RTA coefficient on those pairs.
    rta = frame[frame["year"] == YEAR].set_index(["exporter", "importer"])["rta"]
    b = result.partial["rta"]["estimate"]
    want = -b * rta.reindex(pd.MultiIndex.from_frame(pairs[["exporter", "importer"]])).to_numpy()
    assert np.allclose(pairs["partial_effect"], want, atol=1e-12)
    assert result.baseline == "fitted" and result.converged
    assert result.extra["estimation"]["coefficients"]["rta"]["estimate"] == b


def test_pair_cluster_is_the_pair_effect_or_the_directed_pair() -> None:
    frame = small_panel()
    with_pair = run_counterfactual(frame, GEOptions(
        year=YEAR, sigma=5.0, estimate="trade ~ rta | exporter^year + importer^year + pair_id", change="rta = 0"))
    assert set(with_pair.extra["estimation"]["vcov"]["clusters"]) == {"pair_id"}
    without = run_counterfactual(frame, GEOptions(
        year=YEAR, sigma=5.0, estimate="trade ~ rta + log_dist | exporter^year + importer^year", change="rta = 0"))
    assert with_pair.extra["estimation"]["vcov"]["type"] == "cluster"
    assert without.extra["estimation"]["vcov"]["clusters"] == {"exporter^importer": 8 * 8}


def _never_trading(frame: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    gone = ((frame["exporter"] == a) & (frame["importer"] == b)) | ((frame["exporter"] == b) & (frame["importer"] == a))
    return frame.assign(trade=np.where(gone, 0.0, frame["trade"]))


def test_pairs_without_a_pair_effect_need_filling() -> None:
    frame = _never_trading(small_panel(), "XMY", "ZZT")
    options = dict(year=YEAR, sigma=5.0, estimate="trade ~ rta | exporter^year + importer^year + pair_id",
                   change="rta = 0")
    with pytest.raises(DataError, match=r"2 pairs have no estimated pair effect.*XMY -> ZZT") as err:
        run_counterfactual(frame, GEOptions(**options))  # type: ignore[arg-type]
    assert "--fill-pairs" in (err.value.hint or "")
    result = run_counterfactual(frame, GEOptions(**options, fill_pairs="log_dist + cntg + lang"))  # type: ignore[arg-type]
    assert any("2 pairs had no estimated pair effect" in n for n in result.notes)
    filled = [p for p in result.pairs if {p["exporter"], p["importer"]} == {"XMY", "ZZT"}]
    assert len(filled) == 2 and all(p["trade_baseline"] > 0 for p in filled)
    assert result.extra["fill_estimation"]["formula"].startswith("__pair_cost__ ~ log_dist + cntg + lang")


def test_filled_costs_are_the_gravity_prediction() -> None:
    frame = small_panel()
    options = GEOptions(year=YEAR, sigma=5.0, estimate="trade ~ rta", change="rta = 0")
    columns = resolve_columns(frame, options)
    baseline = prepare_baseline(frame, options, columns)
    rows = baseline.rows
    rng = np.random.default_rng(5)
    log_cost = -0.9 * rows["log_dist"].to_numpy() + 0.3 * rows["cntg"] + rng.normal(0, 0.2, len(rows))
    log_cost = np.where(rows["exporter"] == rows["importer"], 0.0, log_cost)
    holes = rows.index[(rows["exporter"] != rows["importer"])][[3, 17, 40]]
    log_cost[holes] = np.nan
    filled = fill_pair_costs(log_cost, baseline, "log_dist + cntg")
    # The same PPML by statsmodels on the international pairs that have a cost, then its prediction.
    known = (rows["exporter"] != rows["importer"]).to_numpy() & ~np.isnan(log_cost)
    dummies = pd.concat([pd.get_dummies(rows["exporter"], dtype=float),
                         pd.get_dummies(rows["importer"], dtype=float).iloc[:, 1:]], axis=1)
    X = pd.concat([rows[["log_dist", "cntg"]].astype(float), dummies], axis=1).to_numpy()
    glm = sm.GLM(np.exp(log_cost[known]), X[known], family=sm.families.Poisson()).fit(tol=1e-13, maxiter=200)
    assert np.allclose(filled.log_cost[holes], X[holes] @ glm.params, atol=1e-7)
    assert np.array_equal(filled.filled, np.isnan(log_cost))
    assert np.array_equal(filled.log_cost[~filled.filled], log_cost[~np.isnan(log_cost)])


def test_changes_parse_and_apply() -> None:
    changes = parse_changes("rta = 0 if exporter in ('A', 'B') and importer == 'if B' ; `my col` = 1.5")
    assert [c.column for c in changes] == ["rta", "my col"]
    assert changes[0].value == 0.0 and changes[0].condition == "exporter in ('A', 'B') and importer == 'if B'"
    assert changes[1].value == 1.5 and changes[1].condition is None
    frame = pd.DataFrame({"exporter": ["A", "A", "C"], "importer": ["if B", "C", "if B"],
                          "rta": [1, 1, 1], "my col": [0.0, 0.0, 1.5]})
    out, touched = apply_changes(frame, changes, ["rta", "my col"])
    assert out["rta"].tolist() == [0, 1, 1]
    assert out["my col"].tolist() == [1.5, 1.5, 1.5]
    assert touched.tolist() == [True, True, False]


@pytest.mark.parametrize(("text", "message"), [
    ("rta == 0", "cannot parse the change"),
    ("rta = zero", "is not a number"),
    ("rta = 0 if", "cannot parse|is not a number"),
    ("", "--change is empty"),
    ("= 0", "cannot parse the change"),
])
def test_bad_changes(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_changes(text)


@pytest.mark.parametrize(("estimate", "change", "error", "message"), [
    ("trade ~ rta | exporter^year + importer^year + pair_id", "rta = 0 if exporter == 'NOWHERE'",
     DataError, "touches no pair in 1992"),
    ("trade ~ rta | exporter^year + importer^year + pair_id", "cntg = 0", UsageError,
     "which no regressor of the formula reads"),
    ("trade ~ rta | exporter^year + importer^year + pair_id", "nosuch = 0", DataError, "column 'nosuch' not found"),
    ("trade ~ rta | exporter^year + importer^year + cntg^year", "rta = 0", UsageError,
     "neither an exporter"),
    ("trade ~ cntg | exporter^year + importer^year | rta ~ lang", "rta = 0", UsageError, "not an IV one"),
])
def test_estimate_path_errors(estimate: str, change: str, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        run_counterfactual(small_panel(), GEOptions(year=YEAR, sigma=5.0, estimate=estimate, change=change))


def test_fill_pairs_without_a_pair_effect_is_refused() -> None:
    with pytest.raises(UsageError, match="--fill-pairs fills pair effects"):
        run_counterfactual(small_panel(), GEOptions(year=YEAR, sigma=5.0, estimate="trade ~ rta + log_dist",
                                                    change="rta = 0", fill_pairs="log_dist"))
