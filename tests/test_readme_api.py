"""The README's "Python API" section runs as written and prints what it shows.

Its code blocks are taken from README.md itself and run in one namespace, in a fresh folder
with a fresh store; ``MIGTRADE_DATA_DIR`` points at ../shared/data, so ``mt.fetch("yotov2016")``
finds the book's file there by name and checks its sha256 instead of downloading it. The first
block's output must equal the text block that follows it, line for line (the table's foot,
which names the retrieval date, is left out of the README).
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
from conftest import SHARED, shared_file

README = Path(__file__).resolve().parents[1] / "README.md"


def _section(text: str, title: str) -> str:
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def _blocks(section: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.DOTALL)


def test_python_api_section_runs_and_prints_what_it_shows(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    shared_file("yotov2016_agtpa/Chapter2Application2.dta")
    section = _section(README.read_text(encoding="utf-8"), "Python API")
    code, expected = _blocks(section, "python"), _blocks(section, "text")
    assert len(code) == 2 and len(expected) == 1
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MIGTRADE_DATA_DIR", str(SHARED))
    monkeypatch.setenv("MIGTRADE_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("MIGTRADE_CACHE", str(tmp_path / "cache"))
    namespace: dict[str, object] = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code[0], "README.md (Python API, block 1)", "exec"), namespace)
    want = expected[0].rstrip("\n").splitlines()
    assert printed.getvalue().splitlines()[:len(want)] == want
    exec(compile(code[1], "README.md (Python API, block 2)", "exec"), namespace)
    assert (tmp_path / "t1c4.json").is_file()
    assert "Distance" in str(namespace["latex"])
