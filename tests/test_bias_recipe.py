"""The shipped recipe ``recipes/weidner_zylkin2021.toml``: ppml_fe_bias's example re-run, with
every printed number of the Stata command as an expectation (to half a unit in the seventh
decimal), and a recipe key ``bias_correction`` that reaches the estimate and its command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_recipes import run_cli

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


@pytest.mark.slow
def test_weidner_zylkin_recipe_meets_every_printed_number(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    if not (SHARED / "ppml_fe_bias_example" / "PPMLFEBIAS_EXAMPLE_DATA.dta").is_file():
        pytest.skip("../shared/data/ppml_fe_bias_example is not available beside this checkout")
    monkeypatch.setenv("MIGTRADE_DATA_DIR", str(SHARED))
    monkeypatch.setenv("MIGTRADE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MIGTRADE_FILE_URL", "http://127.0.0.1:9")  # nothing listens there
    out = tmp_path / "out"
    code, stdout, err = run_cli("run", REPO / "recipes" / "weidner_zylkin2021.toml", "--out", out)
    assert code == 0, err + stdout
    assert "expectations: 18 of 18 met" in stdout + err
    manifest = json.loads((out / "manifest.json").read_text())
    commands = json.dumps(manifest)
    assert "--bias-correction analytical" in commands
    corrected = json.loads((out / "models" / "three_way_corrected.json").read_text())
    assert corrected["bias_correction"]["structure"] == "three-way"
