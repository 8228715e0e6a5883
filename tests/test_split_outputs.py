"""``migtrade table`` and ``migtrade plot split`` on the results of a split run (a JSON list by sector)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import migtrade as mt
from migtrade.api.result import Result
from migtrade.synthetic.gravity import gravity_panel

Runner = Callable[..., tuple[int, str, str]]
FORMULA = "trade ~ log_dist + cntg + rta | exporter^year + importer^year"
SECTORS = ("010121", "020110", "847130")
FAILED = {"split": {"k": "999999"}, "status": "failed", "formula": FORMULA,
          "error": {"kind": "EstimationError", "message": "nothing left after separation <all zeros>",
                    "exit_code": 4}}


@pytest.fixture(scope="module")
def fits() -> dict[str, Result]:
    out = {}
    for seed, sector in enumerate(SECTORS):
        fit = mt.ppml(FORMULA, gravity_panel(12, 3, seed=seed + 1).frame, vcov="cluster:exporter")
        assert isinstance(fit, Result)
        out[sector] = fit
    return out


def split_list(fits: dict[str, Result], *, sectors: int | None = None) -> list[dict[str, Any]]:
    """What 'estimate --split k --save' writes: each result plus split and status, then a failed sector."""
    items = []
    names = list(fits)
    count = sectors or len(names)
    for n in range(count):
        sector = names[n % len(names)] if sectors is None else f"{n:06d}"
        items.append({**fits[names[n % len(names)]].to_dict(), "split": {"k": sector}, "status": "ok"})
    return [*items, FAILED]


@pytest.fixture()
def saved(fits: dict[str, Result], tmp_path: Path) -> Path:
    path = tmp_path / "split.json"
    path.write_text(json.dumps(split_list(fits)))
    return path


def test_rich_long_form_one_row_per_sector_and_term(cli: Runner, saved: Path) -> None:
    code, out, err = cli("table", str(saved))
    assert code == 0, err
    assert "010121" in out and "847130" in out  # leading zeros kept
    assert out.count("│ log_dist") == 3 and out.count("│ rta ") == 3
    assert "failed: nothing" in out and "<all" in out  # the error, wrapped to the terminal's width
    assert "4 sectors, 1 failed" in out


def test_csv_keeps_full_precision_and_the_failed_sector(cli: Runner, saved: Path, fits: dict[str, Result]) -> None:
    code, out, err = cli("table", str(saved), "--format", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == ["k", "formula", "model", "term", "estimate", "std_error", "statistic", "p_value",
                             "ci_low", "ci_high", "nobs", "converged", "status", "error"]
    assert len(rows) == 3 * 3 + 1
    fit = fits["020110"]
    row = next(r for r in rows if r["k"] == "020110" and r["term"] == "rta")
    # Full precision: the printed number reads back to the very same double.
    assert float(row["estimate"]) == float(fit.params["rta"]) and float(row["std_error"]) == float(fit.bse["rta"])
    assert int(row["nobs"]) == fit.nobs
    failed = rows[-1]
    assert failed["k"] == "999999" and failed["status"] == "failed" and failed["estimate"] == ""
    assert failed["error"].startswith("nothing left")


def test_json_long_form(cli: Runner, saved: Path, fits: dict[str, Result]) -> None:
    code, out, _ = cli("table", str(saved), "--format", "json", "--keep", "rta")
    assert code == 0
    doc = json.loads(out)
    assert doc["schema"] == "migtrade.split-table/1"
    ok = [r for r in doc["rows"] if r["status"] == "ok"]
    assert [r["k"] for r in ok] == list(SECTORS) and {r["term"] for r in ok} == {"rta"}
    assert ok[0]["ci_low"] == pytest.approx(fits["010121"].conf_int().loc["rta"].to_numpy()[0], rel=1e-12)
    assert doc["rows"][-1]["estimate"] is None


@pytest.mark.parametrize(("fmt", "marks"), [
    ("md", ["| k | term | estimate |", "|:---|:---|---:|", "\\<all zeros>"]),
    ("latex", ["\\begin{tabular}", "847130 & rta", "\\textless{}all zeros\\textgreater{}"]),
    ("html", ["<table class=\"migtrade-table migtrade-split\">", "&lt;all zeros&gt;", "<td>010121</td>"]),
    ("text", ["k       term", "failed: nothing left"]),
])
def test_every_renderer(cli: Runner, saved: Path, fmt: str, marks: list[str]) -> None:
    code, out, err = cli("table", str(saved), "--format", fmt)
    assert code == 0, err
    for mark in marks:
        assert mark in out, (fmt, mark, out[:600])
    assert "<all zeros>" not in out or fmt in ("text", "md")  # md escapes the bracket with a backslash


def test_statistics_digits_title_and_standalone(cli: Runner, saved: Path, tmp_path: Path) -> None:
    code, out, _ = cli("table", str(saved), "--format", "md", "--ci", "--digits", "2", "--title", "By product")
    assert code == 0 and "**By product**" in out and "conf. interval" in out and "Confidence level 95%" in out
    assert any(line.count("[") == 1 and ", " in line for line in out.splitlines() if "rta" in line)
    target = tmp_path / "t.html"
    code, _, err = cli("table", str(saved), "-o", str(target), "--standalone")
    assert code == 0, err
    assert target.read_text().startswith("<!DOCTYPE html>")
    code, _, err = cli("table", str(saved), "--bootstrap-p")
    assert code == 2 and "se, tstat or ci" in err


@pytest.mark.parametrize(("content", "message"), [
    ([{"split": {"k": "01"}, "status": "done"}], "status 'done'"),
    ([{"split": {"k": "01"}, "status": "failed", "formula": "y ~ x"}], "without an error message"),
    ([{"split": {"k": "01"}, "status": "ok", "schema": "migtrade.estimation/1"}], "damaged result"),
    ([{"split": {"k": "01"}, "status": "ok"}], "not a migtrade estimation result"),
])
def test_bad_split_files_are_one_line_exit_2(cli: Runner, tmp_path: Path, content: object, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(content))
    for args in (["table", str(path)], ["plot", "split", str(path), "-o", str(tmp_path / "p.png")]):
        code, _, err = cli(*args)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (args, err)
    assert not (tmp_path / "p.png").exists()


def test_two_split_files_at_once_are_refused(cli: Runner, saved: Path) -> None:
    code, _, err = cli("table", str(saved), str(saved))
    assert code == 2 and "one file at a time" in err


def test_plot_split_draws_the_sorted_estimates(cli: Runner, saved: Path, tmp_path: Path) -> None:
    out = tmp_path / "rta.png"
    code, _, err = cli("plot", "split", str(saved), "-o", str(out), "--term", "rta")
    assert code == 0, err
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = tmp_path / "rta.svg"
    assert cli("plot", "split", str(saved), "-o", str(svg), "--term", "rta")[0] == 0
    text = svg.read_text()
    assert "010121" in text and "3 of 4 sectors estimated rta; 1 failed" in text
    # The same results give the same bytes.
    again = tmp_path / "again.svg"
    cli("plot", "split", str(saved), "-o", str(again), "--term", "rta")
    assert again.read_bytes() == svg.read_bytes()


def test_plot_split_of_many_sectors_counts_them(cli: Runner, fits: dict[str, Result], tmp_path: Path) -> None:
    path = tmp_path / "many.json"
    path.write_text(json.dumps(split_list(fits, sectors=300)))
    out = tmp_path / "many.svg"
    code, _, err = cli("plot", "split", str(path), "-o", str(out), "--term", "log_dist")
    assert code == 0, err
    assert "300 sectors, sorted by the estimate" in out.read_text()


def test_plot_split_mistakes(cli: Runner, saved: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.png"
    cases = [
        (["plot", "split", str(saved), "-o", str(out)], "several terms"),
        (["plot", "split", str(saved), "-o", str(out), "--term", "gdp"], "no term 'gdp'"),
        (["plot", "split", str(saved), "-o", str(out), "--term", "rta", "--formula", "y ~ x"], "no formula"),
        (["plot", "split", str(saved), "-o", str(tmp_path / "p.gif"), "--term", "rta"], "image format"),
        (["plot", "split", str(Path(__file__).parent / "fixtures" / "results" / "ppml_2way.json"), "-o", str(out)],
         "not the results of a split run"),
    ]
    for args, message in cases:
        code, _, err = cli(*args)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (args, err)
    only_failed = tmp_path / "failed.json"
    only_failed.write_text(json.dumps([FAILED]))
    code, _, err = cli("plot", "split", str(only_failed), "-o", str(out))
    assert code == 2 and "no sector was estimated" in err
    assert not out.exists()
