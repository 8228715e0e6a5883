"""``migtrade run``: the recipe schema, output folder rules, the manifest, expectations and --check.

Every test runs a small recipe on a seeded synthetic panel written to a temporary folder (about a
second each). The recipes shipped in ``recipes/`` are run on the shared data by
``test_recipes_shared.py``.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import sys
from pathlib import Path
from unittest import mock

import pytest
from conftest import cli as run_cli

from migtrade.recipes import SCHEMA, load_recipe
from migtrade.recipes.validate import RecipeError
from migtrade.synthetic.gravity import gravity_panel

SMALL = """\
[recipe]
name = "small"
description = "seeded synthetic gravity panel"

[[datasets]]
name = "panel"
file = "panel.csv"

[[models]]
name = "ppml"
data = "panel"
formula = "trade ~ log_dist + cntg + lang + rta | exporter^year + importer^year"
vcov = "cluster:pair_id"

[[models]]
name = "ols"
data = "panel"
formula = "log(trade) ~ log_dist + cntg + lang + rta | exporter^year + importer^year"
model = "ols"
where = "trade > 0"

[[tables]]
name = "table"
models = ["ppml", "ols"]
format = "md"

[[plots]]
kind = "coef"
models = ["ppml", "ols"]
file = "plots/coef.svg"
"""




@pytest.fixture(scope="module")
def panel_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("data")
    path = folder / "panel.csv"
    gravity_panel(8, 4, seed=7).frame.to_csv(path, index=False)
    return path


@pytest.fixture
def small(tmp_path: Path, panel_csv: Path) -> Path:
    """The small recipe beside a copy of its data, in an empty folder."""
    (tmp_path / "panel.csv").write_bytes(panel_csv.read_bytes())
    recipe = tmp_path / "small.toml"
    recipe.write_text(SMALL)
    return recipe


def with_text(recipe: Path, old: str, new: str) -> Path:
    text = recipe.read_text()
    assert old in text
    recipe.write_text(text.replace(old, new, 1))
    return recipe


# --- the schema -----------------------------------------------------------------------------

M0 = 'vcov = "cluster:pair_id"'  # the last line of the first model: keys added after it
FORMULA0 = 'formula = "trade ~ log_dist + cntg + lang + rta | exporter^year + importer^year"'


@pytest.mark.parametrize(("old", "new", "message"), [
    (M0, f'{M0}\nvcvo = "iid"', "small.toml: models[0].vcvo: unknown key"),
    (FORMULA0 + "\n", "", "small.toml: models[0].formula: missing"),
    ('model = "ols"', "model = 1", "small.toml: models[1].model: integer 1 is not one of 'ppml', 'ols'"),
    ('model = "ols"', 'model = "probit"', "models[1].model: string 'probit' is not one of"),
    ('where = "trade > 0"', "where = true", "models[1].where: expected a string, got boolean true"),
    ('models = ["ppml", "ols"]\nformat', 'models = "ppml"\nformat',
     "tables[0].models: expected an array, got string 'ppml'"),
    (M0, f'{M0}\nexpect_tol = "0.0005"', "models[0].expect_tol: expected a number, got string '0.0005'"),
    (M0, f'{M0}\nexpect = {{ rta = "big" }}', "models[0].expect.rta: expected a number"),
    (M0, f'{M0}\nexpect = {{ "log(x)" = true }}', 'models[0].expect."log(x)": expected a number, got boolean'),
    ('data = "panel"\nformula = "log', 'data = "panle"\nformula = "log',
     "models[1].data: no dataset or panel named 'panle' in the recipe"),
    ('models = ["ppml", "ols"]\nformat', 'models = ["ppml", "probit"]\nformat',
     "tables[0].models[1]: no model named 'probit'"),
    ('models = ["ppml", "ols"]\nfile', 'models = ["ppml", "ppml"]\nfile',
     "plots[0].models[1]: model 'ppml' is listed twice"),
    ('name = "ols"', 'name = "ppml"', "models[1].name: the name 'ppml' is used twice"),
    ('name = "ols"', 'name = "OLS model"', "models[1].name: invalid name 'OLS model'"),
    ('file = "panel.csv"', 'file = "panel.csv"\nsource = "worldbank"',
     "datasets[0]: 'source' does not go with 'url' or 'file'"),
    ('file = "panel.csv"', 'source = "nowhere"', "datasets[0].source: unknown source 'nowhere'"),
    ('file = "panel.csv"', 'source = "undesa"\noptions = { indicators = ["X"] }',
     "datasets[0].options.indicators: source 'undesa' does not take this option"),
    ('file = "plots/coef.svg"', 'file = "../coef.svg"', "plots[0].file: '../coef.svg' is not a path inside"),
    ('file = "plots/coef.svg"', 'file = "coef.gif"', "plots[0].file: cannot tell the image format"),
    ('format = "md"', 'format = "md"\nfile = "manifest.json"', "tables[0].file: 'manifest.json' is written by"),
    (M0, 'vcov = "sandwich"', "models[0].vcov: unknown vcov type 'sandwich'"),
    ('formula = "trade ~ log_dist', 'formula = "trade ~ ~ log_dist', "small.toml: models[0].formula:"),
    ("[[tables]]", "[[tabels]]", "small.toml: tabels: unknown key"),
    ("[recipe]\n", "[recipe]\nname = 1\n", "not a valid TOML file"),
])
def test_schema_errors_name_the_file_and_key_path(small: Path, old: str, new: str,
                                                  message: str) -> None:
    with pytest.raises(RecipeError) as info:
        load_recipe(with_text(small, old, new))
    assert message in str(info.value), str(info.value)
    assert "\n" not in info.value.one_line()


def test_schema_error_exits_2_with_one_line(small: Path) -> None:
    code, out, err = run_cli("run", with_text(small, "formula", "formular"),
                             "--out", small.parent / "out")
    assert code == 2
    assert out == ""
    assert err.startswith("migtrade: error: ") and err.count("\n") == 1
    assert "models[0].formular: unknown key" in err
    assert not (small.parent / "out").exists()


@pytest.mark.parametrize("code_like", [
    "__import__('os').system('touch PWNED')",
    "$(touch PWNED); `touch PWNED`",
    "{{ self.__class__ }} %(x)s {0.__class__}",
])
def test_code_like_strings_are_just_strings(small: Path, code_like: str) -> None:
    toml = json.dumps(code_like)  # a TOML basic string is a JSON string here
    with_text(small, 'description = "seeded synthetic gravity panel"', f"description = {toml}")
    with_text(small, 'format = "md"', f'format = "md"\ntitle = {toml}')
    with_text(small, 'format = "md"', f'format = "md"\ntitles = [{toml}, "b"]')
    out = small.parent / "out"
    code, _, err = run_cli("run", small, "--out", out)
    assert code == 0, err
    assert not list(small.parent.rglob("PWNED")) and not Path("PWNED").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["recipe"]["description"] == code_like


@pytest.mark.parametrize(("key", "value", "message"), [
    ("formula", "trade ~ __import__('os').system('touch PWNED')", "models[0].formula"),
    ("where", "__import__('os').system('touch PWNED') == 0", "models[0] (ppml)"),
    ("where", "trade.__class__ == 1", "models[0] (ppml)"),
])
def test_code_in_formulas_and_filters_is_refused(small: Path, key: str, value: str,
                                                 message: str) -> None:
    if key == "formula":
        with_text(small, FORMULA0, f"formula = {json.dumps(value)}")
    else:
        with_text(small, M0, f"{M0}\nwhere = {json.dumps(value)}")
    code, _, err = run_cli("run", small, "--out", small.parent / "out")
    assert code == 2
    assert message in err
    assert not list(small.parent.rglob("PWNED"))


# --- running, the output folder and the manifest -------------------------------------------

def test_small_recipe_writes_everything_and_a_complete_manifest(small: Path) -> None:
    out = small.parent / "out"
    code, stdout, err = run_cli("run", small, "--out", out)
    assert code == 0, err
    assert "model ppml: PPML N = " in stdout
    for relative in ("models/ppml.json", "models/ols.json", "table.md", "plots/coef.svg",
                     "manifest.json"):
        assert (out / relative).is_file(), relative
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    m = json.loads((out / "manifest.json").read_text())
    assert m["schema"] == SCHEMA
    assert set(m) >= {"recipe", "created_at", "versions", "datasets", "steps", "results",
                      "expectations"}
    assert m["recipe"]["name"] == "small"
    assert m["recipe"]["sha256"] == hashlib.sha256(small.read_bytes()).hexdigest()
    assert {"migtrade", "python", "numpy", "pandas", "scipy"} <= set(m["versions"])
    data = m["datasets"]["panel"]
    assert data["sha256"] == hashlib.sha256((small.parent / "panel.csv").read_bytes()).hexdigest()
    assert data["rows"] == 8 * 7 * 4
    assert [(s["kind"], s["name"]) for s in m["steps"]] == [
        ("dataset", "panel"), ("model", "ppml"), ("model", "ols"), ("table", "table"),
        ("plot", "coef")]
    assert all(s["command"].startswith("migtrade ") for s in m["steps"][1:])
    saved = json.loads((out / "models/ppml.json").read_text())
    numbers_ppml = m["results"]["models"]["ppml"]
    assert numbers_ppml["nobs"] == saved["nobs"]
    for term, coef in saved["coefficients"].items():
        assert numbers_ppml["coefficients"][term] == {"estimate": coef["estimate"],
                                                      "std_error": coef["std_error"]}
    assert m["expectations"] == {"checked": 0, "failed": []}


def test_command_equivalent_reproduces_the_model(small: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(small.parent)
    assert run_cli("run", small.name, "--out", "out")[0] == 0
    manifest = json.loads(Path("out/manifest.json").read_text())
    command = next(s["command"] for s in manifest["steps"] if s["name"] == "ols")
    words = shlex.split(command)
    words[words.index("--save") + 1] = "again.json"
    code, _, err = run_cli(*words[1:], "--format", "json")
    assert code == 0, err
    again = json.loads(Path("again.json").read_text())
    first = json.loads(Path("out/models/ols.json").read_text())
    assert again["coefficients"] == first["coefficients"] and again["nobs"] == first["nobs"]


def test_default_folder_and_refusal_to_reuse_it(small: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(small.parent)
    assert run_cli("run", small)[0] == 0
    out = small.parent / "migtrade-out" / "small"
    assert (out / "manifest.json").is_file()
    before = (out / "manifest.json").read_bytes()
    code, _, err = run_cli("run", small)
    assert code == 2 and "is not empty" in err and "--force" in err
    assert (out / "manifest.json").read_bytes() == before
    assert run_cli("run", small, "--force")[0] == 0
    file = small.parent / "a-file"
    file.write_text("x")
    code, _, err = run_cli("run", small, "--out", file)
    assert code == 2 and "is a file" in err


def test_unmet_expectations_exit_6_after_writing_everything(small: Path) -> None:
    with_text(small, M0, f"{M0}\nexpect = {{ rta = 9.0, nothere = 1.0 }}\nexpect_nobs = 1")
    out = small.parent / "out"
    code, stdout, err = run_cli("run", small, "--out", out)
    assert code == 6
    assert "expectations: 0 of 3 met" in stdout
    assert "models.ppml: rta estimate" in stdout and "no coefficient 'nothere'" in stdout
    assert "observations, expected 1" in stdout
    assert err.count("\n") == 1 and "3 of 3 expected values not met" in err
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["expectations"]["failed"]) == 3
    assert (out / "plots/coef.svg").is_file()


def test_check_rejects_another_manifest_schema_before_running(small: Path) -> None:
    other = small.parent / "other.json"
    other.write_text(json.dumps({"schema": "migtrade.manifest/2", "results": {}}))
    code, stdout, err = run_cli("run", small, "--check", other)
    assert code == 2 and "schema 'migtrade.manifest/2'" in err
    assert stdout == ""
    code, _, err = run_cli("run", small, "--check", small.parent / "missing.json")
    assert code == 2 and "does not exist" in err


def test_tests_step_without_the_battery_fails_in_one_line(small: Path) -> None:
    with_text(small, "[[tables]]", '[[tests]]\nname = "sub"\ndata = "panel"\n\n[[tables]]')
    with mock.patch.dict(sys.modules, {"migtrade.hypotheses.substitution": None}):
        code, _, err = run_cli("run", small, "--out", small.parent / "out")
    assert code == 2
    assert err.count("\n") == 1
    assert "tests[0] (sub): the substitution battery cannot be loaded" in err


def test_schema_reference_lists_every_key() -> None:
    import dataclasses

    from migtrade.recipes import schema

    code, out, _ = run_cli("run", "--schema")
    assert code == 0
    for cls in (schema.RecipeInfo, schema.DatasetStep, schema.SourceOptions, schema.PanelStep,
                schema.ModelStep, schema.TestStep, schema.TableStep, schema.PlotStep):
        for f in dataclasses.fields(cls):
            assert f"\n  {f.name} " in out, (cls.__name__, f.name)
    assert '"ppml" | "ols" = "ppml"' in out


def test_source_dataset_is_fetched_into_the_given_store(small: Path) -> None:
    with_text(small, 'file = "panel.csv"', 'source = "file"\noptions = { file = "panel.csv" }')
    out, store = small.parent / "out", small.parent / "store"
    code, stdout, err = run_cli("run", small, "--out", out, "--store", store)
    assert code == 0, err
    assert "dataset panel: 224 rows from file" in stdout
    m = json.loads((out / "manifest.json").read_text())
    assert m["datasets"]["panel"]["kind"] == "source"
    assert m["datasets"]["panel"]["sha256"] == hashlib.sha256(
        (small.parent / "panel.csv").read_bytes()).hexdigest()
    fetch = shlex.split(m["steps"][0]["command"])
    assert fetch[:5] == ["migtrade", "fetch", "file", "--name", "panel"]
    assert fetch[-2] == "--store"
    assert "--data" in (words := shlex.split(m["steps"][1]["command"]))
    assert words[words.index("--data") + 1] == "panel"
