"""Inputs a new user may well give: each ends in one line and its exit code, or in the answer.

Degenerate outcomes, degenerate numeric options, CSV files as spreadsheets save them, headers
that repeat or omit names, a recipe with a bad option, and the data listing at 80 columns.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import cli

from migtrade.synthetic.gravity import gravity_panel

FORMULA = "trade ~ log_dist + rta | exporter^year + importer^year"


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    frame = gravity_panel(8, 3, seed=1).frame
    return frame.assign(exporter=frame["exporter"].astype(str), importer=frame["importer"].astype(str))


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bad")


def _file(folder: Path, name: str, frame: pd.DataFrame, **to_csv: object) -> Path:
    path = folder / name
    frame.to_csv(path, index=False, **to_csv)  # type: ignore[call-overload]
    return path


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("migtrade: error: "), err
    return lines[0]


def _estimates(path: Path, *args: str) -> dict:
    code, out, err = cli("estimate", FORMULA, "--data", path, "--format", "json", *args)
    assert code == 0, err
    return json.loads(out)["coefficients"]


@pytest.mark.parametrize(("name", "to_csv"), [
    ("semicolon.csv", {"sep": ";"}),
    ("tab.tsv", {"sep": "\t"}),
    ("tab_named_csv.csv", {"sep": "\t"}),
    ("bar.txt", {"sep": "|"}),
    ("bom.csv", {"encoding": "utf-8-sig"}),
    ("excel_unicode.txt", {"sep": "\t", "encoding": "utf-16"}),
    ("windows.csv", {"sep": ";", "encoding": "cp1252"}),
    ("gzip_semicolon.csv.gz", {"sep": ";", "compression": "gzip"}),
])
def test_csv_dialects_give_the_same_estimates(panel: pd.DataFrame, folder: Path, name: str,
                                              to_csv: dict) -> None:
    # Country names with accents, so that a wrong encoding would show in the fixed effects.
    accented = panel.assign(exporter=panel["exporter"] + "é", importer=panel["importer"] + "ü")
    reference = _estimates(_file(folder, "reference.csv", accented))
    got = _estimates(_file(folder, name, accented, **to_csv))
    assert got == reference  # the same numbers read from the same values: exactly equal


def test_the_dialect_is_read_with_its_accents(panel: pd.DataFrame, folder: Path) -> None:
    from migtrade.store.files import read_table

    accented = panel.assign(exporter=panel["exporter"] + "é")
    frame = read_table(_file(folder, "latin.csv", accented, sep=";", encoding="latin-1"))
    assert list(frame.columns) == list(panel.columns)
    assert frame["exporter"].iloc[0].endswith("é")


@pytest.mark.parametrize(("header", "words"), [
    (lambda cols: ["trade" if c == "dist" else c for c in cols], "repeated column names: trade"),
    (lambda cols: ["" if c == "cntg" else c for c in cols], "columns without a name in its header (column 8"),
])
def test_headers_with_repeated_or_empty_names_are_refused(panel: pd.DataFrame, folder: Path,
                                                          header, words: str) -> None:
    path = folder / "header.csv"
    lines = panel.to_csv(index=False).splitlines()
    lines[0] = ",".join(header(lines[0].split(",")))
    path.write_text("\n".join(lines) + "\n")
    code, out, err = cli("estimate", "trade ~ rta | exporter", "--data", path)
    assert code == 2 and out == ""
    assert words in _one_line(err)


def test_a_frame_written_with_its_index_is_explained(panel: pd.DataFrame, folder: Path) -> None:
    path = folder / "indexed.csv"
    panel.to_csv(path)  # pandas' default: an unnamed index column first
    code, _, err = cli("estimate", FORMULA, "--data", path)
    assert code == 2 and "index=False" in _one_line(err)


@pytest.mark.parametrize(("outcome", "model", "code", "words"), [
    (0.0, "ppml", 4, "is zero in all 168 rows with data"),
    (1e300, "ppml", 2, "too large to estimate with"),
    (1e300, "ols", 2, "too large to estimate with"),
    (np.inf, "ols", 0, None),  # infinite log outcomes are missing values in OLS, as before
])
def test_degenerate_outcomes(panel: pd.DataFrame, folder: Path, outcome: float, model: str,
                             code: int, words: str | None) -> None:
    frame = panel.assign(trade=outcome, y=np.where(panel.index % 3 == 0, outcome, 1.0))
    path = _file(folder, f"outcome_{model}.csv", frame)
    formula = "y ~ log_dist + rta | exporter^year + importer^year" if code == 0 else FORMULA
    got, _, err = cli("estimate", formula, "--data", path, "--model", model)
    assert got == code, err
    if words:
        assert words in _one_line(err)


@pytest.mark.parametrize("model", ["ppml", "ols"])
def test_a_constant_outcome_has_zero_effects(panel: pd.DataFrame, folder: Path, model: str) -> None:
    """A constant is fitted exactly by the fixed effects: every coefficient is 0 (to rounding)."""
    path = _file(folder, "constant.csv", panel.assign(trade=5.0))
    coefficients = _estimates(path, "--model", model)
    assert all(abs(c["estimate"]) < 1e-9 for c in coefficients.values())


@pytest.mark.parametrize(("option", "value", "name"), [
    ("--maxiter", "0", "maxiter"), ("--maxiter", "-3", "maxiter"), ("--fe-maxiter", "0", "fe_maxiter"),
    ("--tol", "0", "tol"), ("--tol", "-1e-8", "tol"), ("--tol", "nan", "tol"), ("--tol", "inf", "tol"),
    ("--fe-tol", "0", "fe_tol"), ("--conf-level", "0", "conf_level"), ("--conf-level", "1", "conf_level"),
    ("--conf-level", "95", "conf_level"), ("--conf-level", "nan", "conf_level"),
    ("--reps", "0", "reps"), ("--seed", "-1", "seed"), ("--separation", "fe,mu", "separation"),
])
def test_degenerate_numeric_options(panel: pd.DataFrame, folder: Path, option: str, value: str,
                                    name: str) -> None:
    code, out, err = cli("estimate", FORMULA, "--data", _file(folder, "ok.csv", panel), option, value)
    assert code == 2 and out == ""
    line = _one_line(err)
    if name == "separation":  # "unknown separation check 'mu'": the word, not the option
        assert "separation check 'mu'" in line
    else:  # the command names its flag, not the keyword of the API and recipes
        assert line.startswith(f"migtrade: error: {option} ") and f" {name} " not in line, line


def test_one_iteration_is_a_convergence_failure_not_a_crash(panel: pd.DataFrame, folder: Path) -> None:
    code, _, err = cli("estimate", FORMULA, "--data", _file(folder, "ok.csv", panel), "--maxiter", "1")
    assert code == 5 and "--maxiter" in _one_line(err)


def test_a_recipe_option_is_checked_by_the_same_rules(panel: pd.DataFrame, folder: Path) -> None:
    data = _file(folder, "ok.csv", panel)
    recipe = folder / "bad.toml"
    recipe.write_text(f'[recipe]\nname = "bad"\n\n[[datasets]]\nname = "d"\nfile = "{data.name}"\n\n'
                      f'[[models]]\nname = "m"\ndata = "d"\nformula = "{FORMULA}"\nmaxiter = 0\n')
    code, _, err = cli("run", recipe, "--out", folder / "out")
    assert code == 2
    line = _one_line(err)
    assert "models[0].maxiter" in line and "whole number of at least 1" in line


def test_data_list_and_show_fit_80_columns(panel: pd.DataFrame, folder: Path) -> None:
    """A panel built from three long paths: one line per dataset, its name in full."""
    store = folder / "store"
    deep = folder / ("a_rather_long_folder_name_" * 3) / "and_another_one_below_it"
    deep.mkdir(parents=True, exist_ok=True)
    paths = [_file(deep, f"gravity_panel_with_a_long_file_name_{i}.csv", panel) for i in range(3)]
    for i, path in enumerate(paths):
        code, _, err = cli("fetch", "file", "--file", path, "--name", f"part{i}", "--store", store, "-q")
        assert code == 0, err
    env = {"COLUMNS": "80"}
    code, out, err = cli("data", "list", "--store", store, env=env)
    assert code == 0, err
    lines = out.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80
    for i in range(3):
        # Name, rows, date and the start of the file name on the dataset's first line.
        row = next(line for line in lines if line.lstrip().startswith(f"part{i} "))
        assert " 168 " in row and " file " in row and "gravity_panel_with_a_long" in row
    assert "a_rather_long_folder_name" not in out  # folders are for data show and --format json
    code, out, err = cli("data", "show", "part0", "--store", store, env=env)
    assert code == 0, err
    # Field names start at the second character; continuation lines start further right.
    fields = [line.split()[0] for line in out.splitlines() if line[:2].strip() and line[1:2] != " "]
    first = fields[fields.index("name"):]
    assert first[:4] == ["name", "rows", "columns", "source"]
