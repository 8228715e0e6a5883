"""The Python API (``import migtrade as mt``): the commands' engine, options and documents.

What the API returns is checked against what the commands print for the same model in the same
process (the JSON document, the tables), so the two cannot drift apart; the numbers themselves
are checked against the book in ``test_published_yotov.py`` and here once through ``mt.ppml``.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import cli, shared_file

import migtrade as mt
from migtrade.estimation.options import EstimateOptions
from migtrade.synthetic.gravity import gravity_panel

FORMULA = "trade ~ log_dist + cntg + rta | exporter^year + importer^year"


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return gravity_panel(15, 4, seed=5).frame


@pytest.fixture(scope="module")
def panel_csv(panel: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("api") / "panel.csv"
    panel.to_csv(path, index=False)
    return path


def test_import_is_lazy() -> None:
    """A bare import loads none of the heavy libraries (they load on first use of a name)."""
    code = ("import sys, migtrade; heavy = [m for m in ('numpy', 'pandas', 'scipy', 'typer', "
            "'migtrade.api') if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
    assert set(mt.__all__) - {"__version__"} <= set(dir(mt))
    with pytest.raises(AttributeError, match="no attribute 'nosuch'"):
        mt.nosuch  # noqa: B018


def test_yotov_table1_column4_through_ppml() -> None:
    """Yotov et al. (2016), Table 1 col. (4), as the README's API example runs it. Tolerance
    0.0005: half a unit in the last digit of the book's three-decimal table."""
    data = shared_file("yotov2016_agtpa/agtpa_applications.csv.gz")
    fit = mt.ppml("trade ~ log(dist) + cntg + lang + clny | exporter^year + importer^year", data,
                  where="exporter != importer and year in (1986, 1990, 1994, 1998, 2002, 2006)",
                  vcov="cluster:pair_id")
    assert isinstance(fit, mt.Result) and fit.nobs == 28_152
    book = pd.DataFrame({"estimate": [-0.841, 0.437, 0.247, -0.222], "se": [0.032, 0.083, 0.077, 0.116]},
                        index=["log(dist)", "cntg", "lang", "clny"])
    assert np.abs(fit.params - book["estimate"]).max() <= 0.0005
    assert np.abs(fit.bse - book["se"]).max() <= 0.0005


def test_result_pieces_agree_with_each_other(panel: pd.DataFrame) -> None:
    fit = mt.ppml(FORMULA, panel, vcov="cluster:pair_id")
    assert isinstance(fit, mt.Result)
    terms = ["log_dist", "cntg", "rta"]
    for series in (fit.params, fit.bse, fit.tvalues, fit.pvalues):
        assert isinstance(series, pd.Series) and list(series.index) == terms
    np.testing.assert_allclose(fit.tvalues, fit.params / fit.bse, rtol=1e-12)
    assert list(fit.vcov.index) == list(fit.vcov.columns) == terms
    np.testing.assert_allclose(np.sqrt(np.diag(fit.vcov)), fit.bse, rtol=1e-12)
    tidy = fit.tidy()
    assert list(tidy.columns) == ["term", "estimate", "std_error", "statistic", "p_value", "ci_low", "ci_high"]
    ci = fit.conf_int()
    np.testing.assert_allclose(ci["lower"], tidy["ci_low"], rtol=1e-12)
    np.testing.assert_allclose(ci["upper"], tidy["ci_high"], rtol=1e-12)
    wider = fit.conf_int(0.99)
    assert (wider["lower"] < ci["lower"]).all() and (wider["upper"] > ci["upper"]).all()
    assert fit.sample_status.value_counts()["used"] == fit.nobs
    assert "rta" in fit.summary() and "<table" in fit._repr_html_()
    assert fit.to_dict()["data"]["description"] == "pandas DataFrame"


def test_to_json_is_the_document_the_command_prints(panel_csv: Path) -> None:
    fit = mt.estimate(FORMULA, panel_csv, model="ols", vcov="cluster:pair_id,year",
                      small_sample="fixest", where="year >= 1991")
    code, out, err = cli("estimate", FORMULA, "--data", panel_csv, "--model", "ols",
                         "--vcov", "cluster:pair_id,year", "--small-sample", "fixest",
                         "--where", "year >= 1991", "--format", "json")
    assert code == 0, err
    assert json.loads(fit.to_json()) == json.loads(out)


def test_several_models_save_read_and_table_like_the_command(panel_csv: Path, tmp_path: Path) -> None:
    fits = mt.estimate(["trade ~ rta | exporter^year + importer^year + pair_id", FORMULA], panel_csv,
                       model=["ppml", "ols"])
    assert isinstance(fits, list) and [f.model for f in fits] == ["ppml", "ols", "ppml", "ols"]
    saved = fits[1].save(tmp_path / "one.json")
    back = mt.read_result(saved)
    assert isinstance(back, mt.Result)
    pd.testing.assert_series_equal(back.params, fits[1].params)
    code, _, err = cli("estimate", FORMULA, "--data", panel_csv, "--model", "ppml,ols",
                       "--save", tmp_path / "both.json")
    assert code == 0, err
    both = mt.read_result(tmp_path / "both.json")
    assert isinstance(both, list) and len(both) == 2
    pd.testing.assert_series_equal(both[1].params, fits[3].params, rtol=1e-12)
    for fmt in ("md", "latex", "csv", "json", "html", "text"):
        code, out, err = cli("table", tmp_path / "both.json", "--format", fmt, "--keep", "rta",
                             "--rename", "rta=RTA", "--digits", "4")
        assert code == 0, err
        assert mt.etable(tmp_path / "both.json", fmt, keep=["rta"], rename={"rta": "RTA"}, digits=4) == out
        assert mt.etable(both, fmt, keep=["rta"], rename={"rta": "RTA"}, digits=4) == out
    assert "RTA" in mt.etable(fits[2:], "rich", keep=["rta"], rename={"rta": "RTA"})
    assert mt.etable(fits[2:], "csv", keep="rta") == mt.etable(fits[2:], "csv", keep=["rta"])


def test_the_api_takes_every_option_of_the_command() -> None:
    """estimate() keywords = EstimateOptions fields = migtrade estimate's flags (snake_case),
    besides the command's output flags; a new flag that is not in the API fails here."""
    from typer.main import get_command

    from migtrade.cli.app import app

    # A split run's layout (split, workers, scheduler) is where the models run, not how.
    layout = {"split", "workers", "scheduler"}
    api = set(inspect.signature(mt.estimate).parameters) - {"formula", "data", "store", *layout}
    assert api == set(EstimateOptions.names())
    command = get_command(app).commands["estimate"]  # type: ignore[attr-defined]
    flags = {p.name for p in command.params} - {"formulas", "data", "store", "fmt", "save", "sample_out",
                                                *layout, "ship_data", "resume", "strict"}
    assert flags == api
    defaults = inspect.signature(mt.estimate).parameters
    # A recipe's [[models]] keys are options too, with the same defaults.
    import dataclasses

    from migtrade.recipes.schema import ModelStep

    for f in dataclasses.fields(ModelStep):
        if f.name in api:
            assert f.default == defaults[f.name].default, f.name
    for p in command.params:
        if p.name in api and p.name != "separation":
            assert defaults[p.name].default == (p.default.value if hasattr(p.default, "value") else p.default), p.name


@pytest.mark.parametrize(("call", "error", "words"), [
    (lambda d: mt.ppml(FORMULA, d, vcovv="robust"), mt.UsageError, "Did you mean 'vcov'"),
    (lambda d: mt.ppml(FORMULA, d, maxiter=0), mt.UsageError, "maxiter must be a whole number"),
    (lambda d: mt.ppml(FORMULA, d, tol=-1.0), mt.UsageError, "tol must be a positive number"),
    (lambda d: mt.ppml(FORMULA, d, fe_tol=float("nan")), mt.UsageError, "fe_tol must be a positive"),
    (lambda d: mt.ppml(FORMULA, d, conf_level=95), mt.UsageError, "conf_level must be between 0 and 1"),
    (lambda d: mt.ppml(FORMULA, d, separation="fe,mu"), mt.UsageError, "unknown separation check 'mu'"),
    (lambda d: mt.estimate(FORMULA, d, model="glm"), mt.UsageError, "unknown model"),
    (lambda d: mt.ppml(FORMULA, d, vcov="cluster:nosuch"), mt.DataError, "nosuch"),
    (lambda d: mt.ppml("trade ~ nosuch", d), mt.MigtradeError, "nosuch"),
    (lambda d: mt.ppml(FORMULA, d.values), mt.UsageError, "pandas DataFrame"),
    (lambda d: mt.ppml(FORMULA, "no/such/file.csv"), mt.DataError, "does not exist"),
    (lambda d: mt.ppml(FORMULA, d, weights=""), mt.UsageError, "weights must name a column"),
    (lambda d: mt.ppml(FORMULA, d, bootstrap="wild", vcov="cluster:pair_id"), mt.UsageError, "applies to OLS"),
    (lambda d: mt.ppml(FORMULA, d, bootstrap="score", bias_correction="analytical"), mt.UsageError,
     "cannot be combined"),
    (lambda d: mt.ppml(FORMULA, d).conf_int(1.5), mt.UsageError, "between 0 and 1"),
    (lambda d: mt.etable([], "md"), mt.UsageError, "no results"),
    (lambda d: mt.etable([mt.ppml(FORMULA, d)], "docx"), mt.UsageError, "unknown table format"),
])
def test_mistakes_raise_the_package_errors(panel: pd.DataFrame, call, error: type, words: str) -> None:
    with pytest.raises(error) as caught:
        call(panel)
    assert words in str(caught.value) + " " + (caught.value.hint or "")


@pytest.mark.parametrize(("columns", "words"), [
    (["trade", "trade", "rta"], "repeated column names: trade"),
    (["trade", "", "rta"], "columns without a name"),
    (["trade", 0, "rta"], "column names that are not text: 0"),
])
def test_frames_with_unusable_column_names_are_refused(columns: list[str], words: str) -> None:
    frame = pd.DataFrame(np.ones((4, 3)), columns=columns)
    with pytest.raises(mt.DataError, match=words):
        mt.ppml("trade ~ rta", frame)


def test_fetch_load_data_and_estimate_from_the_store(panel_csv: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    written = mt.fetch("file", file=panel_csv, name="gravity", store=store)
    assert [w["name"] for w in written] == ["gravity"]
    frame = mt.load_data("gravity", store=store)
    assert frame.attrs["migtrade_data"]["dataset"] == "gravity"
    fit = mt.ppml(FORMULA, frame)
    by_name = mt.ppml(FORMULA, "gravity", store=store)
    assert fit.to_dict()["data"] == by_name.to_dict()["data"]
    assert fit.to_dict()["data"]["provenance"]["source"] == "file"
    with pytest.raises(mt.UsageError, match="unknown source"):
        mt.fetch("nosuch")
    with pytest.raises(mt.UsageError, match="unknown fetch option 'indicator'"):
        mt.fetch("worldbank", indicator="NY.GDP.MKTP.CD")
    with pytest.raises(mt.UsageError, match="reads a file or a stored dataset"):
        mt.load_data(frame)  # type: ignore[arg-type]


def test_build_panel_returns_the_panel_it_wrote(tmp_path: Path) -> None:
    trade = shared_file("yotov2016_agtpa/agtpa_applications.csv.gz")
    stocks = shared_file("undesa_migrant_stock/undesa_ims2020_bilateral_stock_long.csv.gz")
    out = tmp_path / "panel.parquet"
    frame = mt.build_panel(out=out, trade=str(trade), stocks=str(stocks), years="1990:2005:5",
                           countries="MEX,USA,CAN")
    assert frame.attrs["migtrade_data"]["path"] == str(out)
    pd.testing.assert_frame_equal(pd.read_parquet(out), frame.reset_index(drop=True), check_dtype=False)


def test_substitution_report_has_a_verdict_and_its_evidence() -> None:
    from migtrade.synthetic.migration import migration_panel

    generated = migration_panel(20, 4, scenario="complements", seed=2)  # small: the wiring is tested
    report = mt.test_substitution(generated.frame, no_iv=True)
    assert report.verdict == generated.truth.verdict == "complements"
    evidence = report.evidence
    assert list(evidence.columns[:3]) == ["test", "quantity", "role"] and len(evidence) > 0
    assert json.loads(report.to_json())["verdict"] == "complements"
    with pytest.raises(mt.UsageError, match="alpha"):
        mt.test_substitution(generated.frame, alpha=5)


def test_ge_gives_the_document_of_the_command(tmp_path: Path) -> None:
    from ge_panels import YEAR, small_panel

    frame = small_panel()
    path = tmp_path / "panel.csv"
    frame.to_csv(path, index=False)
    result = mt.ge(path, year=YEAR, theta=4, beta="beta")
    code, out, err = cli("ge", "--data", path, "--year", YEAR, "--theta", 4, "--beta", "beta",
                         "--format", "json")
    assert code == 0, err
    mine, theirs = json.loads(result.to_json()), json.loads(out)
    mine.pop("timing", None), theirs.pop("timing", None)
    assert mine["countries"] == theirs["countries"]
    with pytest.raises(mt.UsageError, match="no option 'sigmaa'") as caught:
        mt.ge(path, year=YEAR, sigmaa=5)
    assert caught.value.hint == "Did you mean 'sigma'?"


def test_api_errors_name_keywords_not_flags(panel: pd.DataFrame) -> None:
    """The engine's hints name command-line flags; through the API they name the keyword."""
    with pytest.raises(mt.ConvergenceError) as caught:
        mt.ppml(FORMULA, panel, maxiter=1)
    assert caught.value.exit_code == 5
    assert "Raise maxiter" in caught.value.one_line() and "--" not in caught.value.one_line()
    with pytest.raises(mt.EstimationError) as absorbed:
        mt.ols("trade ~ log_dist | pair_id", panel, where="year > 3000")
    assert "--where" not in absorbed.value.one_line()
