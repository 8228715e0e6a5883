"""Tables and the welfare plot of a general-equilibrium counterfactual, from its JSON document.

The input is a hand-made ``migtrade.ge/1`` document (``tests/fixtures/ge/nafta_small.json``:
six countries of a NAFTA removal, three of them in changed pairs, with intervals from 20 draws of
which one failed). Every format is checked for its content (the numbers a reader looks up, the
row order, the notes that say what the baseline is, the failed draw) and for what makes it usable:
equal cell counts in Markdown, escaped LaTeX that compiles when pdflatex is installed, CSV that
gives back the exact floats, JSON that is the document itself.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import re
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from migtrade.errors import DataError, UsageError
from migtrade.report.ge_layout import COUNTRY_FIELDS, build_ge_table, load_ge_document
from migtrade.report.ge_plot import auto_height, welfare_plot
from migtrade.report.ge_table import GE_FORMATS, render_ge
from migtrade.report.plots import PlotStyle

FIXTURE = Path(__file__).parent / "fixtures" / "ge" / "nafta_small.json"
ORDER = ["MEX", "CAN", "USA", "JPN", "PHL", "DEU"]  # changed first, then by |real GDP change|
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def doc() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text())


def without_draws(doc: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    out["draws"] = None
    out["notes"] = [n for n in out["notes"] if not n.startswith("Intervals:")]
    for country in out["countries"].values():
        country.pop("intervals", None)
    return out


# The table model ------------------------------------------------------------------------------


def test_rows_changed_first_then_by_size_of_real_gdp_change(doc: dict[str, Any]) -> None:
    table = build_ge_table(doc)
    assert [r.country for r in table.rows] == ORDER
    assert [r.changed for r in table.rows] == [True, True, True, False, False, False]
    assert [r.label for r in table.rows][:2] == ["MEX *", "CAN *"]
    mex = table.rows[0]
    gdp = mex.cells[0]
    assert (gdp.text, gdp.value, gdp.interval) == ("-3.670", -3.67, (-4.5885, -2.5678))
    assert gdp.interval_text == "[-4.588, -2.568]"  # three decimals: -4.5885 rounds half to even
    assert table.intervals


def test_country_selection_keeps_the_order_and_refuses_unknown_codes(doc: dict[str, Any]) -> None:
    table = build_ge_table(doc, countries=["phl", "usa", " MEX", "USA"])
    assert [r.country for r in table.rows] == ["MEX", "USA", "PHL"]
    with pytest.raises(UsageError, match="no result for XYZ") as err:
        build_ge_table(doc, countries=["XYZ"])
    assert "CAN, DEU, JPN" in str(err.value.hint)


def test_missing_values_sort_last_and_print_empty(doc: dict[str, Any]) -> None:
    doc["countries"]["JPN"]["real_gdp_pct"] = None
    doc["countries"]["JPN"]["intervals"]["real_gdp_pct"] = [None, 0.1]
    table = build_ge_table(doc)
    assert [r.country for r in table.rows][-1] == "JPN"
    assert table.rows[-1].cells[0].text == "" and table.rows[-1].cells[0].interval_text == "[n/a, 0.100]"


def test_header_and_notes_say_scenario_parameters_baseline_and_draws(doc: dict[str, Any]) -> None:
    table = build_ge_table(doc)
    header = "\n".join(table.header)
    assert "partial effects estimated by trade ~ rta | exporter^year" in header
    assert "change: rta = 0 if exporter in (CAN, MEX, USA)" in header
    assert "Partial effects: rta 0.5572 (SE 0.1021)" in header
    assert ("year 1994, sigma 7, theta 6, reference DEU, method fixed-point, imbalances additive"
            in header)
    notes = list(table.notes)
    assert "Below each number: its 95% interval over the draws." in notes
    assert ("Failed draws (1, left out of the intervals): draw 7: the solver did not converge in "
            "1000 iterations.") in notes
    for sentence in doc["notes"]:  # the engine's own notes, each once: no second baseline line
        assert notes.count(sentence) == 1
    assert sum(n.startswith("Percent changes are") for n in notes) == 1
    assert sum(n.startswith("Converged") for n in notes) == 1
    assert notes[-1] == ("Data: ../shared/data/yotov2016_agtpa/agtpa_applications.csv.gz "
                         "(sha256 302fd7585683)")


def test_documents_without_engine_notes_get_the_tables_own(doc: dict[str, Any]) -> None:
    doc["notes"] = []
    notes = "\n".join(build_ge_table(doc).notes)
    assert ("Percent changes are (counterfactual - baseline) / baseline x 100, where the baseline "
            "is the trade flows as observed in 1994.") in notes
    assert "95% interval over 19 of 20 draws" in notes and "(seed 42)" in notes
    assert "Converged in 37 iterations (tolerance 1e-10)." in notes


def test_fitted_baseline_non_convergence_and_reference(doc: dict[str, Any]) -> None:
    doc.update(baseline="fitted", converged=False, iterations=1000, reference=None, notes=[])
    table = build_ge_table(doc)
    notes = "\n".join(table.notes)
    assert "the baseline is the trade flows fitted by the gravity model in 1994" in notes
    assert "NOT converged: stopped after 1000 iterations" in notes
    assert "reference none (world output held constant)" in table.header[-1]


def test_without_draws_no_interval_rows_or_draw_notes(doc: dict[str, Any]) -> None:
    table = build_ge_table(without_draws(doc))
    assert not table.intervals
    assert len(table.text_rows()) == len(ORDER)
    assert not any("draw" in n for n in table.notes)


def test_draws_that_all_failed_are_reported(doc: dict[str, Any]) -> None:
    bare = without_draws(doc)
    bare["draws"] = {"requested": 2, "succeeded": 0, "seed": 1, "conf_level": 0.9,
                     "failed": [{"draw": 0, "reason": "singular"}, {"draw": 1, "reason": "nan"}]}
    notes = build_ge_table(bare).notes
    assert "2 draws requested, 0 succeeded; no interval could be formed." in notes
    assert "Failed draws (2, left out of the intervals): draw 0: singular; draw 1: nan." in notes


@pytest.mark.parametrize(("change", "message"), [
    ({"schema": "migtrade.estimation/1"}, "not a migtrade general-equilibrium result"),
    ({"schema": "migtrade.ge/2"}, "has schema 'migtrade.ge/2'"),
    ({"countries": {}}, "holds no countries"),
])
def test_documents_that_are_not_ge_results_are_refused(doc: dict[str, Any], change: dict[str, Any],
                                                       message: str) -> None:
    doc.update(change)
    with pytest.raises(DataError, match=message):
        render_ge(doc, "md")


def test_missing_keys_are_named(doc: dict[str, Any]) -> None:
    del doc["year"], doc["converged"]
    with pytest.raises(DataError, match="missing year, converged"):
        build_ge_table(doc)


def test_unknown_format(doc: dict[str, Any]) -> None:
    with pytest.raises(UsageError, match="unknown format 'html'") as err:
        render_ge(doc, "html")
    assert err.value.hint == "Use one of: rich, md, latex, csv, json."
    assert GE_FORMATS == ("rich", "md", "latex", "csv", "json")


# Renderers ------------------------------------------------------------------------------------


def test_markdown_rows_numbers_and_notes(doc: dict[str, Any]) -> None:
    text = render_ge(doc, "md")
    lines = text.splitlines()
    table = [line for line in lines if line.startswith("|")]
    assert len({line.count("|") for line in table}) == 1  # same number of cells on every line
    assert table[0].startswith("| Country | Real GDP | Welfare ratio | Exports (cond.) |")
    body = [line.split(" | ")[0].strip("| ") for line in table[2::2]]
    assert body == ["MEX \\*", "CAN \\*", "USA \\*", "JPN", "PHL", "DEU"]
    assert "| MEX \\* | -3.670 | 0.96330 | -29.40 | -30.33 | -28.10 | 6.81 | -2.510 |" in text
    assert "|  | [-4.588, -2.568] | [0.95412, 0.97432] |" in text
    assert "where the baseline is the flows of 1994 as observed." in text
    assert "draw 7: the solver did not converge" in text
    assert "trade \\~ rta \\| exporter^year" in text  # markup characters escaped
    assert "pair\\_id" in text


def test_latex_booktabs_escaped_minus_signs(doc: dict[str, Any]) -> None:
    text = render_ge(doc, "latex")
    assert text.startswith("\\begin{table}[htbp]\n\\centering\n\\caption{General equilibrium")
    assert "\\begin{tabular}{lrrrrrrrrrr}" in text and "\\toprule" in text and "\\bottomrule" in text
    assert "MEX * & $-$3.670 & 0.96330 & $-$29.40 &" in text
    assert " & [$-$4.588, $-$2.568] & " in text
    assert "pair\\_id" in text and "\\textasciitilde{}" in text and "95\\% interval" in text
    assert text.count("{") == text.count("}")
    body = [line for line in text.splitlines() if line.endswith("\\\\") and "multicolumn" not in line]
    assert all(line.count(" & ") == len(COUNTRY_FIELDS) for line in body)


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed on this machine")
def test_latex_compiles(doc: dict[str, Any], tmp_path: Path) -> None:
    body = render_ge(doc, "latex")
    (tmp_path / "ge.tex").write_text("\\documentclass{article}\n\\usepackage[landscape]{geometry}\n"
                                     "\\usepackage{booktabs}\n\\begin{document}\n" + body
                                     + "\\end{document}\n")
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "ge.tex"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:]


def test_csv_full_precision_one_row_per_country(doc: dict[str, Any]) -> None:
    rows = list(csv.DictReader(io.StringIO(render_ge(doc, "csv"))))
    assert [r["country"] for r in rows] == ORDER
    for r in rows:
        source = doc["countries"][r["country"]]
        assert int(r["changed"]) == int(source["changed"])
        for f in COUNTRY_FIELDS:
            assert float(r[f.key]) == source[f.key]  # exact: repr round-trips
            low, high = source["intervals"][f.key]
            assert (float(r[f"{f.key}_low"]), float(r[f"{f.key}_high"])) == (low, high)
        assert float(r["output_baseline"]) == source["output_baseline"]
        assert float(r["expenditure_baseline"]) == source["expenditure_baseline"]
    bare = list(csv.reader(io.StringIO(render_ge(without_draws(doc), "csv"))))
    assert not any(h.endswith(("_low", "_high")) for h in bare[0]) and len(bare) == 7


def test_json_is_the_document(doc: dict[str, Any]) -> None:
    assert json.loads(render_ge(doc, "json", countries=["MEX"])) == doc


def test_rich_keeps_every_number_and_interval_on_one_line(doc: dict[str, Any]) -> None:
    text = render_ge(doc, "rich")
    lines = text.splitlines()
    mex = next(line for line in lines if line.startswith("MEX *"))
    assert mex.split() == ["MEX", "*", "-3.670", "0.96330", "-29.40", "-30.33", "-28.10", "6.81",
                           "-2.510", "1.210", "4.920", "-1.800"]
    below = lines[lines.index(mex) + 1]
    assert "[-4.588, -2.568]" in below and "[-2.251, -1.259]" in below
    assert lines[0].startswith("Scenario: ") and "where the baseline is the flows of 1994" in text
    assert "\x1b[" not in text  # no colour codes in text meant for files and pipes


# The welfare plot -----------------------------------------------------------------------------


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def svg_text(svg: bytes) -> list[str]:
    """The texts of an SVG drawn by matplotlib, which writes each one in a comment beside its glyphs."""
    return re.findall(r"<!-- (.*?) -->", svg.decode())


def test_plot_png_svg_pdf(doc: dict[str, Any]) -> None:
    png = welfare_plot(doc, "png", style=PlotStyle(width=6, height=4, dpi=100))
    assert png_size(png) == (600, 400)
    assert welfare_plot(doc, "png", style=PlotStyle(width=6, height=4, dpi=100)) == png  # same bytes
    svg = welfare_plot(doc, "svg")
    ET.fromstring(svg)  # well-formed
    text = svg_text(svg)
    for code in ORDER:
        assert code in text
    assert "Real GDP, % change from the baseline (1994)" in text
    assert "interval over draws" in text
    assert "Intervals: 95% over 19 of 20 draws; 1 failed draw left out." in text
    ticks = [t for t in text if t in ORDER]
    assert ticks == ["JPN", "PHL", "DEU", "USA", "CAN", "MEX"]  # drawn top to bottom: gains first
    assert welfare_plot(doc, "pdf").startswith(b"%PDF")


def test_plot_height_grows_with_countries(doc: dict[str, Any]) -> None:
    assert auto_height(6) == 3.0 and auto_height(69) == pytest.approx(12.84)
    tall = welfare_plot(doc, "png", style=PlotStyle(dpi=50, height=auto_height(69)))
    assert png_size(tall)[1] == round(12.84 * 50)
    two = welfare_plot(without_draws(doc), "svg", countries=["MEX", "PHL"])
    text = svg_text(two)
    assert "MEX" in text and "PHL" in text and "CAN" not in text
    assert not any("interval" in t.lower() for t in text)


def test_plot_without_any_number_is_refused(doc: dict[str, Any]) -> None:
    for country in doc["countries"].values():
        country["real_gdp_pct"] = None
    with pytest.raises(DataError, match="no country has a real GDP change"):
        welfare_plot(doc, "png")


# migtrade plot ge ---------------------------------------------------------------------------


Runner = Callable[..., tuple[int, str, str]]




def test_cli_plot_ge_writes_the_image(cli: Runner, tmp_path: Path) -> None:
    target = tmp_path / "welfare.png"
    code, _, err = cli("plot", "ge", str(FIXTURE), "-o", str(target), "--dpi", "60",
                       "--countries", "CAN,MEX,USA,PHL")
    assert code == 0, err
    width, height = png_size(target.read_bytes())
    assert (width, height) == (7 * 60, round(auto_height(4) * 60))


@pytest.mark.parametrize(("args", "message"), [
    (["missing.json"], "result file 'missing.json' does not exist"),
    ([str(Path(__file__).parent / "fixtures" / "results" / "ppml_2way.json")],
     "is not a migtrade general-equilibrium result"),
    ([str(FIXTURE), "--countries", "MEX,XYZ"], "no result for XYZ"),
    ([str(FIXTURE), "--dpi", "10"], "--dpi 10 is outside 50 to 1200"),
])
def test_cli_plot_ge_bad_input(cli: Runner, tmp_path: Path, args: list[str], message: str) -> None:
    target = tmp_path / "welfare.png"
    target.write_bytes(b"old")
    code, out, err = cli("plot", "ge", *args, "-o", str(target))
    assert code == 2 and out == ""
    assert err.startswith("migtrade: error: ") and message in err and len(err.splitlines()) == 1
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["welfare.png"]


def test_cli_plot_ge_bad_extension_and_folder(cli: Runner, tmp_path: Path) -> None:
    code, _, err = cli("plot", "ge", str(FIXTURE), "-o", str(tmp_path / "w.gif"))
    assert code == 2 and "End the file name in .png, .svg or .pdf" in err
    code, _, err = cli("plot", "ge", str(FIXTURE), "-o", str(tmp_path / "no" / "w.png"))
    assert code == 2 and "does not exist" in err
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, _, err = cli("plot", "ge", str(bad), "-o", str(tmp_path / "w.png"))
    assert code == 2 and "is not a JSON file" in err


def test_load_ge_document(tmp_path: Path, doc: dict[str, Any]) -> None:
    assert load_ge_document(FIXTURE) == doc
    with pytest.raises(DataError, match="is a folder"):
        load_ge_document(tmp_path)


def test_cli_table_renders_a_saved_ge_result(cli: Runner, tmp_path: Path) -> None:
    code, out, err = cli("table", str(FIXTURE), "--format", "md", "--title", "NAFTA")
    assert code == 0, err
    assert out.startswith("**NAFTA**") and "| MEX \\* | -3.670 |" in out
    target = tmp_path / "ge.tex"
    code, _, err = cli("table", str(FIXTURE), "-o", str(target))
    assert code == 0, err
    assert "\\begin{tabular}{lrrrrrrrrrr}" in target.read_text()
    code, out, err = cli("table", str(FIXTURE))
    assert code == 0 and "MEX *" in out and "\x1b[" not in out
    code, out, err = cli("table", str(FIXTURE), "--format", "html")
    assert code == 2 and out == ""
    assert "a general-equilibrium result has no html table. Use --format rich, md, latex" in err
