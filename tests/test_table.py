"""The format-neutral regression table: which rows, in which order, and what each cell says.

The fixtures in ``tests/fixtures/results`` are real engine results on a seeded synthetic panel
(see ``generate.py`` there): (1) PPML with exporter-year and importer-year effects, (2) PPML
adding pair effects, (3) OLS of log trade, saved with provenance and the fixest convention.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from migtrade.errors import DataError, UsageError
from migtrade.report.load import load_result_file, load_results
from migtrade.report.sources import describe_data, source_notes
from migtrade.report.table import TableOptions, build_table, format_number, select_terms
from migtrade.results.result import SCHEMA, EstimationResult

FIXTURES = Path(__file__).parent / "fixtures" / "results"


@pytest.fixture(scope="module")
def three() -> list[EstimationResult]:
    return load_results([FIXTURES / f"{n}.json" for n in ("ppml_2way", "ppml_3way", "ols_2way")])


def test_default_layout(three: list[EstimationResult]) -> None:
    t = build_table(three)
    assert t.titles == ("(1)", "(2)", "(3)")
    assert t.depvars == ("trade", "trade", "log(trade)")
    assert t.terms == ("log_dist", "cntg", "lang", "rta", "log_migrant_stock")
    assert [c is None for c in t.cells[0]] == [False, True, False]
    assert dict(t.fixed_effects)["pair_id"] == ("No", "Yes", "No")
    stats = dict(t.statistics)
    assert stats["Observations"] == ("396", "390", "277")
    assert stats["Small sample"] == ("stata", "stata", "fixest")
    assert stats["Separated dropped"] == ("0", "6", "0")
    assert stats["Pseudo R²"][2] == "" and stats["R²"][0] == ""
    assert t.legend == "Standard errors in parentheses. * p<0.1, ** p<0.05, *** p<0.01."


def test_cells_hold_full_precision_and_the_formatted_text(three: list[EstimationResult]) -> None:
    r = three[0]
    cell = build_table([r]).cells[r.terms.index("rta")][0]
    assert cell is not None and cell.value is not None
    i = r.terms.index("rta")
    assert cell.value.estimate == r.params[i] and cell.value.std_error == r.std_errors[i]
    assert cell.estimate == f"{r.params[i]:.3f}" and cell.below == f"({r.std_errors[i]:.3f})"
    assert cell.stars == "***" and cell.term == "rta"


def test_keep_drop_order_rename(three: list[EstimationResult]) -> None:
    opts = TableOptions(keep=("rta", "dist", "migrant"), drop=("stock",), order=("^rta$",),
                        rename=(("log_dist", "Distance"), ("exporter^year", "Exporter-year")))
    t = build_table(three, opts)
    assert t.terms == ("rta", "Distance")
    assert t.fixed_effects[0][0] == "Exporter-year"


def test_rename_merges_rows_across_models_but_not_within_one(three: list[EstimationResult]) -> None:
    t = build_table(three, TableOptions(rename=(("rta", "Agreement"), ("log_migrant_stock", "Agreement2"))))
    assert "Agreement" in t.terms
    merged = build_table([three[0], three[1]], TableOptions(
        keep=("lang", "migrant"), rename=(("lang", "X"), ("log_migrant_stock", "X"))))
    assert merged.terms == ("X",)
    assert [c.term if c else None for c in merged.cells[0]] == ["lang", "log_migrant_stock"]
    with pytest.raises(UsageError, match="same name 'X' in model \\(3\\)"):
        build_table(three, TableOptions(rename=(("lang", "X"), ("log_migrant_stock", "X"))))


@pytest.mark.parametrize(("statistic", "legend", "below"), [
    ("se", "Standard errors in parentheses.", r"^\(\d\.\d{3}\)$"),
    ("tstat", "t statistics in parentheses.", r"^\(\d\.\d{3}\)$"),
    ("ci", "95% confidence intervals in brackets.", r"^\[\d\.\d{3}, \d\.\d{3}\]$"),
])
def test_statistic_below(three: list[EstimationResult], statistic: str, legend: str, below: str) -> None:
    t = build_table(three[:1], TableOptions(statistic=statistic, keep=("rta",)))  # type: ignore[arg-type]
    assert t.legend.startswith(legend)
    cell = t.cells[0][0]
    assert cell is not None
    assert __import__("re").match(below, cell.below), cell.below
    if statistic == "tstat":
        assert cell.below == f"({cell.value.statistic:.3f})"  # type: ignore[union-attr]


def test_stars_levels_and_digits(three: list[EstimationResult]) -> None:
    t = build_table(three[:1], TableOptions(stars=(0.01, 0.001), digits=5, keep=("cntg",)))
    cell = t.cells[0][0]
    assert cell is not None and cell.value is not None
    assert cell.value.p_value > 0.01 and cell.stars == ""
    assert len(cell.estimate.split(".")[1]) == 5
    assert t.star_legend == "* p<0.01, ** p<0.001"
    none = build_table(three[:1], TableOptions(stars=()))
    assert none.legend == "Standard errors in parentheses." and all(c.stars == "" for c in none.cells[0] if c)


def test_old_keyword_arguments_still_work(three: list[EstimationResult]) -> None:
    t = build_table(three[:2], titles=["A", "B"], digits=2, stars=[0.05])
    assert t.titles == ("A", "B") and t.stars == (0.05,)
    assert t.cells[0][0] is not None and len(t.cells[0][0].estimate.split(".")[1]) == 2


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"keep": ("(",)}, "not a regular expression"),
    ({"digits": 20}, "digits"),
    ({"stars": (0.1, 1.5)}, "not between 0 and 1"),
    ({"stars": (0.1, 0.1)}, "repeat"),
    ({"statistic": "pvalue"}, "unknown statistic"),
])
def test_options_validate_themselves(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        TableOptions(**kwargs)  # type: ignore[arg-type]


def test_nothing_left_and_wrong_number_of_titles(three: list[EstimationResult]) -> None:
    with pytest.raises(UsageError, match="leave no coefficient"):
        build_table(three, TableOptions(keep=("nosuch",)))
    with pytest.raises(UsageError, match="2 column titles for 3 models"):
        build_table(three, TableOptions(titles=("a", "b")))


def test_select_terms() -> None:
    terms = ["log(dist)", "cntg", "year::1990:log(dist)"]
    assert select_terms(terms, keep=[r"^log\("]) == ["log(dist)"]
    assert select_terms(terms, drop=["::"]) == ["log(dist)", "cntg"]


@pytest.mark.parametrize(("x", "digits", "text"), [
    (-0.0004, 3, "0.000"), (-0.0006, 3, "-0.001"), (123456.7, 1, "123,456.7"), (float("nan"), 3, ""),
    (None, 3, ""), (2.5, 0, "2"),
])
def test_format_number(x: float | None, digits: int, text: str) -> None:
    assert format_number(x, digits) == text


def test_source_notes_and_provenance() -> None:
    data = {"path": "flows.csv", "sha256": "0123456789abcdef" * 4, "rows": 3,
            "provenance": [{"source": "worldbank", "url": "https://api.worldbank.org/x",
                            "retrieved_at": "2024-05-01T10:00:00Z", "sha256": "f" * 64}]}
    text = describe_data(data)
    assert text == ("flows.csv (sha256 0123456789ab); from worldbank https://api.worldbank.org/x, "
                    "retrieved 2024-05-01, sha256 ffffffffffff")
    assert describe_data({"dataset": "panel", "description": "Synthetic", "provenance": "a note"}) == \
        "panel: Synthetic; from a note"
    derived = {"dataset": "gravity_panel", "sha256": "a" * 64, "provenance": {
        "source": "panel", "location": "store:trade+migration", "retrieved_at": "2024-06-02T08:00:00Z",
        "sha256": "b" * 64, "parser_version": "2", "rows": 10, "options": {},
        "inputs": [{"name": "trade", "sha256": "c" * 64, "version": 1, "source": "comtrade"},
                   {"name": "migration", "sha256": "d" * 64, "version": 3, "source": "undesa"}]}}
    assert describe_data(derived) == (
        "gravity_panel (sha256 aaaaaaaaaaaa); from panel store:trade+migration, retrieved 2024-06-02, "
        "sha256 bbbbbbbbbbbb, parser 2 (inputs: trade sha256 cccccccccccc, migration sha256 dddddddddddd)")
    assert source_notes([data, data], ["(1)", "(2)"]) == [f"Data: {text}"]
    assert source_notes([data, {"path": "b.csv"}, {}], ["(1)", "(2)", "(3)"]) == [
        f"Data (1): {text}", "Data (2): b.csv"]


def test_model_notes_say_which_models(three: list[EstimationResult]) -> None:
    t = build_table(three)
    assert "(2): 6 separated observations dropped" in t.notes
    assert t.notes[-1].startswith("Data (3): ") and "retrieved 2024-01-15" in t.notes[-1]


# Reading result files -------------------------------------------------------------------------


def test_list_file_and_single_file_give_the_same_results() -> None:
    listed = load_result_file(FIXTURES / "list_2models.json")
    single = load_results([FIXTURES / "ppml_2way.json", FIXTURES / "ols_2way.json"])
    assert [r.formula for r in listed] == [r.formula for r in single]
    assert all(np.array_equal(a.params, b.params) for a, b in zip(listed, single, strict=True))


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(("content", "message"), [
    ('{"name": "package.json", "version": "1.0"}', "is not a migtrade estimation result"),
    (json.dumps({"schema": "migtrade.estimation/2"}), "newer migtrade"),
    (json.dumps({"schema": "migtrade.estimation/x"}), "unknown schema"),
    (json.dumps({"schema": SCHEMA, "model": "ols"}), "damaged result file"),
    ("[]", "empty list"),
    ("trade,dist\n1,2\n", "is not a JSON file"),
    ("[1, 2]", "item 1 of"),
])
def test_bad_result_files(tmp_path: Path, content: str, message: str) -> None:
    with pytest.raises(DataError) as err:
        load_results([_write(tmp_path, "r.json", content)])
    assert message in err.value.one_line() and "r.json" in err.value.one_line()


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_results([tmp_path / "nope.json"])
    with pytest.raises(DataError, match="is a folder"):
        load_results([tmp_path])


def test_binary_file_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    with pytest.raises(DataError, match="is not a JSON file"):
        load_results([path])


def test_results_are_unchanged_by_options(three: list[EstimationResult]) -> None:
    before = [r.to_json() for r in three]
    build_table(three, replace(TableOptions(), keep=("rta",), statistic="ci"))
    assert [r.to_json() for r in three] == before
