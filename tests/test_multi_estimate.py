"""Several models in one ``migtrade estimate`` call: repeated formulas, csw()/sw(), --model a,b.

The stepwise expansion is tested on strings alone; the command is tested end to end on a small
seeded panel, in process through the same entry point and error handler as the installed script.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from migtrade.errors import FormulaError
from migtrade.spec.formula import ModelSpec
from migtrade.spec.multi import MAX_FORMULAS, expand_formula, expand_formulas
from migtrade.synthetic.gravity import gravity_panel

FE2 = "exporter^year + importer^year"


# Expansion ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("formula", "expected"), [
    ("y ~ a + b | fe", ["y ~ a + b | fe"]),
    ("y ~ csw(a, b, c)", ["y ~ a", "y ~ a + b", "y ~ a + b + c"]),
    ("y ~ x + sw(a, b) | fe", ["y ~ x + a | fe", "y ~ x + b | fe"]),
    ("y ~ x | csw(e^t, i^t, p)", ["y ~ x | e^t", "y ~ x | e^t + i^t", "y ~ x | e^t + i^t + p"]),
    ("y ~ csw(a, b) | sw(f, g)", ["y ~ a | f", "y ~ a | g", "y ~ a + b | f", "y ~ a + b | g"]),
    ("log(y) ~ sw(log(d), i(year, log(d), ref=1990)) + c",
     ["log(y) ~ log(d) + c", "log(y) ~ i(year, log(d), ref=1990) + c"]),
    ("y ~ sw(`a b`, c:d)", ["y ~ `a b`", "y ~ c:d"]),
    ("y ~ csw(a)", ["y ~ a"]),
    ("y ~ sw + csw", ["y ~ sw + csw"]),  # columns named sw and csw are not calls
    ("y ~ `sw`(a)", ["y ~ `sw`(a)"]),
])
def test_expand(formula: str, expected: list[str]) -> None:
    assert expand_formula(formula) == expected


def test_expansions_parse_and_keep_term_spelling() -> None:
    for f in expand_formula("log(trade) ~ csw(log(dist), cntg + lang) | sw(exporter, exporter^year)"):
        spec = ModelSpec.parse(f)
        assert spec.depvar == "log(trade)"
    assert expand_formulas(["y ~ sw(a, b)", "z ~ c"]) == ["y ~ a", "y ~ b", "z ~ c"]


@pytest.mark.parametrize(("formula", "message"), [
    ("y ~ log(csw(a, b))", "inside another expression"),
    ("csw(y1, y2) ~ x", "in the outcome"),
    ("y ~ x | f | d ~ sw(z1, z2)", "in the instrument part"),
    ("y ~ csw(a, b):c", "not a whole term"),
    ("y ~ 2 * sw(a, b)", "not a whole term"),
    ("y ~ csw()", "empty argument"),
    ("y ~ sw(a, , b)", "empty argument"),
    ("y ~ csw(a, sw(b, c))", "nests a stepwise call"),
    ("y ~ csw(a, b", "never closed"),
])
def test_expand_errors_quote_the_call(formula: str, message: str) -> None:
    with pytest.raises(FormulaError) as err:
        expand_formula(formula)
    assert message in err.value.one_line() and formula in err.value.one_line()


def test_too_many_formulas() -> None:
    many = ", ".join(f"x{i}" for i in range(15))
    with pytest.raises(FormulaError, match="expands to 225 models"):
        expand_formula(f"y ~ sw({many}) | sw({many})")
    assert MAX_FORMULAS < 225


# The command -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def panel_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "panel.csv"
    gravity_panel(12, 3, seed=1).frame.to_csv(path, index=False)
    return path


Runner = Callable[..., tuple[int, str, str]]




def test_formulas_times_models_in_order(cli: Runner, panel_csv: Path, tmp_path: Path) -> None:
    save = tmp_path / "all.json"
    code, out, err = cli("estimate", f"trade ~ csw(log_dist, cntg) | {FE2}", f"trade ~ rta | {FE2} + pair_id",
                         "--data", str(panel_csv), "--model", "ols,ppml", "--format", "json", "--save", str(save))
    assert code == 0, err
    objs = json.loads(out)
    assert [(o["model"], o["formula"]) for o in objs] == [
        ("ols", f"trade ~ log_dist | {FE2}"), ("ppml", f"trade ~ log_dist | {FE2}"),
        ("ols", f"trade ~ log_dist + cntg | {FE2}"), ("ppml", f"trade ~ log_dist + cntg | {FE2}"),
        ("ols", f"trade ~ rta | {FE2} + pair_id"), ("ppml", f"trade ~ rta | {FE2} + pair_id"),
    ]
    assert json.loads(save.read_text()) == objs

    # The saved list is one table input; each column equals the model estimated alone.
    code, table, err = cli("table", str(save), "--format", "csv")
    assert code == 0, err
    assert {line.split(",")[0] for line in table.splitlines()[1:]} == {f"({i})" for i in range(1, 7)}
    code, alone, err = cli("estimate", f"trade ~ log_dist + cntg | {FE2}", "--data", str(panel_csv),
                           "--model", "ppml", "--format", "json")
    assert code == 0, err
    assert json.loads(alone)["coefficients"] == objs[3]["coefficients"]


def test_one_model_still_saves_one_object(cli: Runner, panel_csv: Path, tmp_path: Path) -> None:
    save = tmp_path / "one.json"
    code, _, err = cli("estimate", f"trade ~ rta | {FE2}", "--data", str(panel_csv), "--save", str(save),
                       "--format", "csv")
    assert code == 0, err
    assert json.loads(save.read_text())["schema"] == "migtrade.estimation/1"


def test_side_by_side_on_the_terminal(cli: Runner, panel_csv: Path) -> None:
    code, out, err = cli("estimate", f"trade ~ sw(log_dist, rta) | {FE2}", "--data", str(panel_csv),
                         "--format", "md")
    assert code == 0, err
    head = out.splitlines()[0]
    assert "(1) trade" in head and "(2) trade" in head and "(3)" not in head


@pytest.mark.parametrize(("args", "message"), [
    (["trade ~ rta", "--model", "ols,probit"], "unknown model 'probit'"),
    (["trade ~ rta", "--model", "ppml,ppml"], "names a model twice"),
    (["trade ~ sw(rta, cntg)", "--sample-out", "{tmp}/rows.csv"], "--sample-out needs a single model"),
    (["trade ~ rta", "trade ~ cntg", "--sample-out", "{tmp}/rows.csv"], "--sample-out needs a single model"),
    (["trade ~ log(csw(rta, cntg))"], "inside another expression"),
    (["trade ~ rta", "trade ~ nosuch"], "column 'nosuch' not found"),
])
def test_bad_input_one_line_nothing_written(cli: Runner, panel_csv: Path, tmp_path: Path,
                                            args: list[str], message: str) -> None:
    save = tmp_path / "keep.json"
    save.write_text("previous")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    code, _, err = cli("estimate", *argv, "--data", str(panel_csv), "--save", str(save))
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("migtrade: error: ") and message in lines[0]
    assert save.read_text() == "previous"
    assert not (tmp_path / "rows.csv").exists()


def test_main_returns_to_its_caller_after_an_estimate(cli: Runner, panel_csv: Path) -> None:
    """Only the console script ends the process at once after an estimate; ``main`` returns."""
    from migtrade.cli.output import may_exit_at_once

    code, out, _ = cli("estimate", "trade ~ log_dist + cntg | exporter + importer", "--data",
                       str(panel_csv), "--format", "json")
    assert code == 0 and json.loads(out)["nobs"] > 0
    assert may_exit_at_once()  # the estimate declared its outputs closed, and we are still here
