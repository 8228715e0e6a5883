"""The installed ``migtrade`` program in its own process, as scripts and CI run it.

Everything else about the commands is tested in process (``conftest.cli``), where the root
command's error handler runs too; these few check what only a whole process shows: the console
script, its fast exit after a successful estimate (outputs flushed and complete), and one line
on stderr with the exit code for a user mistake.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from migtrade.synthetic.gravity import gravity_panel

EXE = Path(sys.executable).with_name("migtrade")


def run(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EXE), *(str(a) for a in args)], capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def panel_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "panel.csv"
    gravity_panel(12, 3, seed=3).frame.to_csv(path, index=False)
    return path


def test_estimate_prints_and_saves_the_whole_result(panel_csv: Path, tmp_path: Path) -> None:
    save = tmp_path / "r.json"
    proc = run("estimate", "trade ~ log_dist + rta | exporter^year + importer^year", "--data",
               panel_csv, "--format", "json", "--save", save)
    assert proc.returncode == 0, proc.stderr
    printed, saved = json.loads(proc.stdout), json.loads(save.read_text())
    assert printed == saved and printed["schema"] == "migtrade.estimation/1"
    assert set(printed["coefficients"]) == {"log_dist", "rta"}


@pytest.mark.parametrize(("args", "code", "words"), [
    (["estimate", "trade ~ nosuch", "--data", "{csv}"], 2, "nosuch"),
    (["estimate", "trade ~ rta", "--data", "{csv}", "--maxiter", "0"], 2, "maxiter"),
    (["estimate", "--no-such-flag"], 2, "No such option"),
])
def test_a_mistake_is_one_line_and_its_exit_code(panel_csv: Path, args: list[str], code: int,
                                                 words: str) -> None:
    proc = run(*(a.replace("{csv}", str(panel_csv)) for a in args))
    assert proc.returncode == code
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("migtrade: error: ") and words in lines[0]
