"""Every table format, byte for byte, against the golden files in ``tests/golden``.

The inputs are the saved results in ``tests/fixtures/results`` (engine output on a seeded
synthetic panel), so the expected text changes only when a renderer, the table layout or the
fixtures change. After an intended change, regenerate the golden files and review the diff:

    MIGTRADE_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_renderers_golden.py

Beyond equality, each format is checked for what makes it usable: the LaTeX document compiles
(when pdflatex is installed), the HTML is well-formed and escaped, the Markdown table has the
same number of cells on every line, and CSV and JSON give back the exact floats.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from migtrade.report.render import DOCUMENTS, RENDERERS, render_table
from migtrade.report.table import TableOptions, build_table
from migtrade.report.terminal import print_rich
from migtrade.results.result import EstimationResult

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures" / "results"
GOLDEN = HERE / "golden"
UPDATE = os.environ.get("MIGTRADE_UPDATE_GOLDEN") == "1"
EXTENSIONS = {"md": "md", "latex": "tex", "html": "html", "csv": "csv", "json": "json", "text": "txt"}

# Options that exercise selection, renaming, intervals, other stars and characters that every
# format must escape.
OPTIONS = TableOptions(
    keep=("rta", "dist", "migrant"), order=("^rta$",),
    rename=(("log_dist", "Distance (log)"), ("log_migrant_stock", "Migrants_stock <log>")),
    statistic="ci", stars=(0.05, 0.01), digits=2, title="Gravity & RTAs: 50% <of> $trade ~ x^2",
)
CASES = {"default": TableOptions(), "options": OPTIONS}


@pytest.fixture(scope="module")
def results() -> list[EstimationResult]:
    return [EstimationResult.load(FIXTURES / f"{n}.json") for n in ("ppml_2way", "ppml_3way", "ols_2way")]


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"missing golden file {path}; create it with MIGTRADE_UPDATE_GOLDEN=1")
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"{name} differs from its golden file; see the module docstring to update"


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("fmt", list(RENDERERS))
def test_fragment(results: list[EstimationResult], fmt: str, case: str) -> None:
    check_golden(f"{case}.{EXTENSIONS[fmt]}", render_table(results, fmt, CASES[case]))


@pytest.mark.parametrize("fmt", list(DOCUMENTS))
def test_standalone_document(results: list[EstimationResult], fmt: str) -> None:
    check_golden(f"standalone.{EXTENSIONS[fmt]}", render_table(results, fmt, OPTIONS, standalone=True))


def test_rich(results: list[EstimationResult]) -> None:
    buf = io.StringIO()
    print_rich(build_table(results, OPTIONS), results, buf, width=100)
    check_golden("options.rich.txt", buf.getvalue())


def test_renderers_stay_importable_from_render() -> None:
    from migtrade.report.render import (  # noqa: F401
        latex_escape,
        render_csv,
        render_json,
        render_latex,
        render_markdown,
        render_text,
    )

    assert set(RENDERERS) == {"md", "latex", "html", "csv", "json", "text"}


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed on this machine")
def test_standalone_latex_compiles(results: list[EstimationResult], tmp_path: Path) -> None:
    (tmp_path / "table.tex").write_text(render_table(results, "latex", OPTIONS, standalone=True))
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "table.tex"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert (tmp_path / "table.pdf").read_bytes().startswith(b"%PDF")


def test_html_is_well_formed_and_escaped(results: list[EstimationResult]) -> None:
    fragment = render_table(results, "html", OPTIONS)
    root = ET.fromstring(fragment)  # a fragment without void elements parses as XML
    assert root.tag == "table"
    assert root.findtext("caption") == OPTIONS.title
    assert "<of>" not in fragment and "&lt;of&gt;" in fragment
    assert "<script" not in fragment and "http" not in fragment

    class Balance(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.stack: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag not in ("meta",):
                self.stack.append(tag)

        def handle_endtag(self, tag: str) -> None:
            assert self.stack.pop() == tag

    parser = Balance()
    parser.feed(render_table(results, "html", OPTIONS, standalone=True))
    assert parser.stack == []


def test_markdown_rows_have_equal_cells(results: list[EstimationResult]) -> None:
    text = render_table(results, "md", OPTIONS)
    rows = [line for line in text.splitlines() if line.startswith("|")]
    counts = {line.replace("\\|", "").count("|") for line in rows}
    assert counts == {len(results) + 2}


def test_csv_and_json_keep_full_precision(results: list[EstimationResult]) -> None:
    rows = list(csv.DictReader(io.StringIO(render_table(results, "csv"))))
    by_key = {(row["model"], row["term"]): row for row in rows}
    for j, r in enumerate(results):
        for i, term in enumerate(r.terms):
            assert float(by_key[(f"({j + 1})", term)]["estimate"]) == r.params[i]
            assert float(by_key[(f"({j + 1})", term)]["std_error"]) == r.std_errors[i]
    back = [EstimationResult.from_dict(o) for o in json.loads(render_table(results, "json"))]
    assert [b.to_dict() for b in back] == [r.to_dict() for r in results]
