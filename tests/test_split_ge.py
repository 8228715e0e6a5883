"""GE Monte Carlo draws on Dask (migtrade ge --draws N --workers K | --scheduler ADDRESS): the same
intervals as in this process, since the draws are made up front in the parent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import cli as run_cli
from ge_panels import YEAR, small_panel

pytestmark = pytest.mark.slow

ESTIMATE = ["--estimate", "trade ~ rta | exporter^year + importer^year + pair_id", "--change", "rta = 0"]


@pytest.fixture(scope="module")
def panel_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ge-dask") / "panel.csv"
    small_panel().to_csv(path, index=False)
    return path


def test_draws_on_a_local_cluster_equal_those_in_process(panel_file: Path) -> None:
    base = ["ge", "--data", panel_file, "--year", YEAR, "--sigma", 5, *ESTIMATE, "--draws", 12,
            "--seed", 7, "--format", "json"]
    code, out, err = run_cli(*base)
    assert code == 0, err
    here = json.loads(out)
    code, out, err = run_cli(*base, "--workers", 2)
    assert code == 0, err
    there = json.loads(out)
    # Each draw is solved from the same coefficients by the same code: identical intervals.
    assert here["countries"] == there["countries"] and here["draws"] == there["draws"]
    assert any("intervals" in c for c in there["countries"].values()) or there["draws"]["succeeded"] == 12


@pytest.mark.parametrize(("extra", "words"), [
    (["--workers", 2], "--workers and --scheduler run the Monte Carlo draws"),
    (["--draws", 4, "--workers", 2, "--scheduler", "tcp://127.0.0.1:9"], "cannot be combined"),
    (["--draws", 4, "--workers", 0], "--workers must be a whole number of at least 1"),
])
def test_bad_cluster_options_exit_2(panel_file: Path, extra: list, words: str) -> None:
    code, _, err = run_cli("ge", "--data", panel_file, "--year", YEAR, "--sigma", 5, *ESTIMATE, *extra)
    assert code == 2 and words in err and err.count("\n") == 1, err
