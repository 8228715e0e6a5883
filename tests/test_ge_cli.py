"""``migtrade ge`` on the command line: the document, the saved file, and one line with exit
code 2 for every bad input the issue lists (5 when the solver does not converge)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import cli as run_cli
from ge_panels import YEAR, small_panel

from migtrade.ge import GEResult

ESTIMATE = ["--estimate", "trade ~ rta | exporter^year + importer^year + pair_id", "--change", "rta = 0"]




@pytest.fixture(scope="module")
def panel_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ge") / "panel.csv"
    small_panel().to_csv(path, index=False)
    return path


def _variant(tmp_path: Path, change) -> Path:
    frame = change(small_panel())
    path = tmp_path / "variant.csv"
    frame.to_csv(path, index=False)
    return path


def test_beta_scenario_as_json_and_saved(panel_file: Path, tmp_path: Path) -> None:
    save = tmp_path / "ge.json"
    code, out, err = run_cli("ge", "--data", panel_file, "--year", YEAR, "--theta", 4, "--beta", "beta",
                             "--reference", "XEG", "--format", "json", "--save", save)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["schema"] == "migtrade.ge/1" and doc["baseline"] == "observed"
    assert doc["reference"] == "XEG" and doc["countries"]["XEG"]["imr_pct"] == pytest.approx(0, abs=1e-9)
    saved = GEResult.load(save)
    assert saved.to_dict() == doc
    assert GEResult.from_dict(saved.to_dict()).to_dict() == doc


def test_estimate_scenario_renders_a_table(panel_file: Path) -> None:
    code, out, err = run_cli("ge", "--data", panel_file, "--year", YEAR, "--sigma", 5, *ESTIMATE,
                             "--format", "md", "--countries", "XEG,XIH")
    assert code == 0, err
    assert "XEG" in out and "XIH" in out and "QQB" not in out
    assert "baseline" in out


@pytest.mark.parametrize(("args", "change", "message"), [
    (["--year", 1980], None, "no rows for year 1980"),
    ([], lambda f: f[~((f["exporter"] == "XEG") & (f["importer"] == "XEG"))], "pairs of the 8 countries are missing"),
    ([], lambda f: f.assign(trade=np.where((f["exporter"] == f["importer"]) & (f["exporter"] == "XIH"), 0.0, f["trade"])),
     "1 countries have no positive domestic flow in 1992: XIH"),
    ([], lambda f: f.assign(trade=np.where(np.arange(len(f)) == 5, -1.0, f["trade"])), "negative flows"),
    ([], lambda f: f.assign(trade=np.where(np.arange(len(f)) == 9, np.nan, f["trade"])), "missing flows"),
    ([], lambda f: pd.concat([f, f.iloc[[2]]]), "duplicated pairs"),
    (["--reference", "FRA"], None, "the reference country 'FRA' is not in the data"),
    (["--sigma", 1.0], None, "--sigma must be greater than 1"),
    (["--theta", -2], None, "--theta must be greater than 0"),
    (["--sigma", 5, "--theta", 4], None, "give exactly one of --sigma"),
    (["--beta", "beta"], None, "give exactly one scenario"),
])
def test_bad_input_exits_2_with_one_line(panel_file: Path, tmp_path: Path, args: list, change, message: str) -> None:
    # Each variant spoils the baseline year only; the other years keep the estimation possible.
    data = panel_file if change is None else _variant(
        tmp_path, lambda f: pd.concat([f[f["year"] != YEAR], change(f[f["year"] == YEAR])]))
    base = {"--year": YEAR, "--sigma": 5}
    for flag in ("--year", "--sigma"):
        if flag in args:
            base.pop(flag)
    if "--theta" in args:
        base.pop("--sigma", None)
    flat = [x for kv in base.items() for x in kv]
    code, out, err = run_cli("ge", "--data", data, *flat, *ESTIMATE, *args)
    assert code == 2, (out, err)
    assert err.startswith("migtrade: error: ") and err.count("\n") == 1 and message in err, err
    assert out == ""


def test_change_that_touches_no_pair_exits_2(panel_file: Path) -> None:
    code, _, err = run_cli("ge", "--data", panel_file, "--year", YEAR, "--sigma", 5, "--estimate",
                           "trade ~ rta | exporter^year + importer^year + pair_id",
                           "--change", "rta = 0 if exporter == 'NOWHERE'")
    assert code == 2 and "touches no pair in 1992" in err and err.count("\n") == 1


def test_zero_partial_effects_exit_2(panel_file: Path, tmp_path: Path) -> None:
    data = _variant(tmp_path, lambda f: f.assign(beta=0.0))
    code, _, err = run_cli("ge", "--data", data, "--year", YEAR, "--theta", 4, "--beta", "beta")
    assert code == 2 and "touches no pair" in err


def test_no_convergence_exits_5_naming_solver_change_and_option(panel_file: Path) -> None:
    code, _, err = run_cli("ge", "--data", panel_file, "--year", YEAR, "--theta", 4, "--beta", "beta",
                           "--maxiter", 2)
    assert code == 5
    assert "fixed-point solver did not converge in 2 iterations" in err and "last change" in err
    assert "--maxiter" in err and err.count("\n") == 1


def test_unwritable_save_fails_before_any_work(panel_file: Path, tmp_path: Path) -> None:
    code, _, err = run_cli("ge", "--data", panel_file, "--year", YEAR, "--theta", 4, "--beta", "beta",
                           "--save", tmp_path / "no" / "such" / "ge.json")
    assert code == 2 and "does not exist" in err


def test_installed_entry_point(panel_file: Path) -> None:
    exe = Path(sys.executable).with_name("migtrade")
    run = subprocess.run([str(exe), "ge", "--data", str(panel_file), "--year", str(YEAR), "--theta", "4",
                          "--beta", "beta", "--format", "csv"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "XEG" in run.stdout
    bad = subprocess.run([str(exe), "ge", "--data", str(panel_file), "--year", str(YEAR), "--sigma", "0.5",
                          "--beta", "beta"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("migtrade: error: --sigma must be greater than 1")
