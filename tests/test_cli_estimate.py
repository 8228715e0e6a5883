"""``migtrade estimate`` from the command line: output formats, saved files, and bad input.

Every bad input must give one line on stderr that names the problem, a documented exit code,
no traceback, and no file written or overwritten.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import cli
from typer.testing import CliRunner

from migtrade.cli.app import app
from migtrade.synthetic.gravity import gravity_panel

runner = CliRunner()


@pytest.fixture(scope="module")
def panel_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "panel.csv"
    gravity_panel(15, 4, seed=5).frame.to_csv(path, index=False)
    return path


FORMULA = "trade ~ log_dist + cntg + rta | exporter^year + importer^year"


def run(*args: str) -> tuple[int, str, str]:
    """``migtrade ARGS`` in this process, error handler included."""
    return cli(*args)


def test_json_output_is_the_documented_object(panel_csv: Path) -> None:
    code, out, err = run("estimate", FORMULA, "--data", str(panel_csv), "--vcov", "cluster:pair_id",
                         "--format", "json")
    assert code == 0, err
    obj = json.loads(out)
    assert obj["schema"] == "migtrade.estimation/1"
    assert obj["model"] == "ppml"
    for key in ("formula", "nobs", "dropped", "coefficients", "fixed_effects", "vcov", "fit",
                "converged", "iterations", "data", "versions"):
        assert key in obj
    assert set(obj["dropped"]) >= {"missing", "singletons", "separated"}
    coef = obj["coefficients"]["rta"]
    assert set(coef) == {"estimate", "std_error", "statistic", "p_value", "ci_low", "ci_high"}
    assert obj["vcov"] == obj["vcov"] | {"type": "cluster", "small_sample": "stata"}
    assert obj["data"]["rows"] == len(pd.read_csv(panel_csv))
    assert len(obj["data"]["sha256"]) == 64
    assert obj["fixed_effects"] == {"exporter^year": 60, "importer^year": 60}


@pytest.mark.parametrize("fmt", ["rich", "md", "latex", "csv"])
def test_other_formats(panel_csv: Path, fmt: str) -> None:
    result = runner.invoke(app, ["estimate", FORMULA, "--data", str(panel_csv), "--format", fmt])
    assert result.exit_code == 0, result.output
    assert "rta" in result.output
    if fmt == "latex":
        assert "\\toprule" in result.output and "\\bottomrule" in result.output
    if fmt == "csv":
        rows = result.output.strip().splitlines()
        assert rows[0].startswith("model,term,estimate,std_error")
        assert len(rows) == 4


def test_save_and_sample_out(panel_csv: Path, tmp_path: Path) -> None:
    save, rows = tmp_path / "r.json", tmp_path / "rows.csv"
    code, out, err = run("estimate", "trade ~ rta | exporter^year + importer^year + pair_id",
                         "--data", str(panel_csv), "--where", "year >= 1991",
                         "--save", str(save), "--sample-out", str(rows), "--format", "json")
    assert code == 0, err
    saved = json.loads(save.read_text())
    assert saved == json.loads(out)
    status = pd.read_csv(rows)["sample_status"]
    assert len(status) == len(pd.read_csv(panel_csv))
    assert set(status) <= {"used", "excluded", "missing", "singleton", "separated"}
    assert (status == "used").sum() == saved["nobs"]
    assert (status == "excluded").sum() == saved["dropped"]["excluded"]


def test_parquet_and_stata_inputs_give_the_same_answer(panel_csv: Path, tmp_path: Path) -> None:
    frame = pd.read_csv(panel_csv)
    frame.to_parquet(tmp_path / "p.parquet")
    frame.to_stata(tmp_path / "p.dta", write_index=False)
    gz = tmp_path / "p.csv.gz"
    frame.to_csv(gz, index=False)
    estimates = []
    for f in (panel_csv, tmp_path / "p.parquet", tmp_path / "p.dta", gz):
        result = runner.invoke(app, ["estimate", FORMULA, "--data", str(f), "--format", "json"])
        assert result.exit_code == 0, result.output
        estimates.append(json.loads(result.output)["coefficients"]["rta"]["estimate"])
    assert np.allclose(estimates, estimates[0], rtol=1e-10)


BAD = [
    (["--data", "{csv}"], "trade ~ nosuch | exporter", 2, "column 'nosuch' not found"),
    (["--data", "{csv}"], "trade ~ log(dist", 2, "parenthes"),
    (["--data", "{csv}"], "trade ~ exporter | year", 2, "not numeric"),
    (["--data", "{csv}", "--model", "ppml"], "log(trade) ~ rta | exporter", 2, "PPML needs a finite outcome >= 0"),
    (["--data", "{csv}", "--model", "ppml"], "(trade - 1) ~ rta | exporter", 2, "negative values"),
    (["--data", "{csv}", "--where", "year > 3000"], "trade ~ rta | exporter", 4, "no observations left"),
    (["--data", "{csv}"], "trade ~ log_dist + cntg | pair_id", 4, "every regressor is absorbed"),
    (["--data", "{fake}"], "trade ~ rta", 2, "content is"),
    (["--data", "/no/such/file.csv"], "trade ~ rta", 2, "does not exist"),
    (["--data", "{csv}", "--vcov", "cluster:"], "trade ~ rta", 2, "cluster"),
    (["--data", "{csv}", "--where", "__import__('os').system('touch /tmp/pwned')"], "trade ~ rta", 2, ""),
]


@pytest.mark.parametrize(("opts", "formula", "code", "message"), BAD)
def test_bad_input_gives_one_line_and_exit_code(panel_csv: Path, tmp_path: Path, opts: list[str],
                                                formula: str, code: int, message: str) -> None:
    fake = tmp_path / "fake.parquet"
    fake.write_text("exporter,importer\nA,B\n")
    save = tmp_path / "keep.json"
    save.write_text("previous result")
    args = [o.format(csv=panel_csv, fake=fake) for o in opts]
    got, _, err = run("estimate", formula, *args, "--save", str(save))
    assert got == code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("migtrade: error: "), err
    assert "Traceback" not in err
    assert message.lower() in lines[0].lower()
    assert save.read_text() == "previous result"
    assert not Path("/tmp/pwned").exists()


def test_missing_output_folder_is_refused_before_estimating(panel_csv: Path) -> None:
    got, _, err = run("estimate", FORMULA, "--data", str(panel_csv), "--save", "/no/such/dir/r.json")
    assert got == 2 and "does not exist" in err


def test_help_lists_formats_and_models() -> None:
    result = runner.invoke(app, ["estimate", "--help"])
    assert result.exit_code == 0
    for word in ("ppml", "ols", "json", "latex", "cluster"):
        assert word in result.output


def test_infinite_outcome_for_ppml_is_refused(tmp_path: Path) -> None:
    frame = gravity_panel(10, 3, seed=2).frame
    frame.loc[0, "trade"] = np.inf
    path = tmp_path / "inf.csv"
    frame.to_csv(path, index=False)
    got, _, err = run("estimate", "trade ~ rta | exporter^year", "--data", str(path))
    assert got == 2 and "infinite" in err and len(err.strip().splitlines()) == 1


def test_quickstart_says_synthetic_first_and_last() -> None:
    got, out, err = run("quickstart", "--offline", "--countries", "20", "--years", "4")
    assert got == 0, err
    lines = err.strip().splitlines()
    assert lines[0].startswith("SYNTHETIC DATA") and lines[-1].startswith("SYNTHETIC DATA")
    assert "rta" in out and "PPML" in out


def test_version() -> None:
    got, out, _ = run("--version")
    assert got == 0 and out.startswith("migtrade ")


def test_non_convergence_has_its_own_exit_code_and_names_the_loop(panel_csv: Path) -> None:
    got, _, err = run("estimate", FORMULA, "--data", str(panel_csv), "--maxiter", "2")
    assert got == 5, err
    assert "IRLS" in err and "--maxiter" in err and len(err.strip().splitlines()) == 1
