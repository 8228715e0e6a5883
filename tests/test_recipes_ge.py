"""The ``[[counterfactuals]]`` recipe step: schema, expectations, manifest numbers and ``--check``.

The step's validation goes through the engine's own :class:`~migtrade.ge.options.GEOptions`,
its ``expect`` keys name per-country numbers or partial effects, and every number of the
``migtrade.ge/1`` document a reader compares lands in the manifest, where ``--check`` guards it.
The run tests use the engine on a seeded synthetic panel with domestic flows (8 countries).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import cli as run_cli

from migtrade.recipes import load_recipe
from migtrade.recipes.counterfactuals import (
    GE_OPTION_FIELDS,
    check_counterfactual,
    manifest_numbers,
    parse_expect_key,
    reverse_percent,
    tolerance,
)
from migtrade.recipes.schema import CounterfactualStep
from migtrade.recipes.validate import RecipeError
from migtrade.synthetic.gravity import gravity_panel

FIXTURE = Path(__file__).parent / "fixtures" / "ge" / "nafta_small.json"

RECIPE = """\
[recipe]
name = "ge-small"

[[datasets]]
name = "panel"
file = "panel.csv"

[[counterfactuals]]
name = "cf"
data = "panel"
year = 1992
sigma = 5.0
beta = "beta"
plot = "welfare.png"
"""
LAST = 'plot = "welfare.png"'




@pytest.fixture(scope="module")
def panel_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic panel with domestic flows and a partial-effect column: the RTA's effect on
    the pairs of the first three countries, as if they signed an agreement in every year."""
    frame = gravity_panel(8, 4, seed=7, zero_share=0.0, include_domestic=True).frame
    frame["exporter"] = frame["exporter"].astype(str)
    frame["importer"] = frame["importer"].astype(str)
    codes = sorted(frame["exporter"].unique())[:3]
    bloc = frame["exporter"].isin(codes) & frame["importer"].isin(codes)
    frame["beta"] = 0.5 * (bloc & (frame["exporter"] != frame["importer"])).astype(float)
    path = tmp_path_factory.mktemp("ge-data") / "panel.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def engine() -> None:
    pytest.importorskip("migtrade.ge.run", reason="the general-equilibrium solver is not installed")


@pytest.fixture
def recipe(tmp_path: Path, panel_csv: Path) -> Path:
    (tmp_path / "panel.csv").write_bytes(panel_csv.read_bytes())
    path = tmp_path / "ge.toml"
    path.write_text(RECIPE)
    return path


def edit(recipe: Path, old: str, new: str) -> Path:
    text = recipe.read_text()
    assert old in text
    recipe.write_text(text.replace(old, new, 1))
    return recipe


@pytest.fixture
def doc() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text())


# The step's definition -----------------------------------------------------------------------


def test_step_fields_and_defaults_are_those_of_geoptions() -> None:
    from migtrade.ge.options import GEOptions

    ge = {f.name: f for f in dataclasses.fields(GEOptions)}
    step = {f.name: f for f in dataclasses.fields(CounterfactualStep)}
    assert tuple(ge) == GE_OPTION_FIELDS
    for name in GE_OPTION_FIELDS:
        assert step[name].default == ge[name].default, name


@pytest.mark.parametrize(("old", "new", "message"), [
    (LAST, f'{LAST}\nsigam = 7', "ge.toml: counterfactuals[0].sigam: unknown key"),
    ('data = "panel"\nyear', 'data = "pnl"\nyear',
     "counterfactuals[0].data: no dataset or panel named 'pnl'"),
    ("sigma = 5.0", "sigma = 5.0\ntheta = 4.0", "counterfactuals[0]: give exactly one of --sigma"),
    ("sigma = 5.0", "sigma = 0.5", "counterfactuals[0]: --sigma must be greater than 1"),
    ('beta = "beta"', 'beta = "beta"\nchange = "rta = 0"', "--change goes with --estimate"),
    (LAST, f'{LAST}\nexpect = {{ "MEX.gdp" = 1.0 }}',
     "counterfactuals[0].expect.\"MEX.gdp\": cannot read the expectation 'MEX.gdp'"),
    (LAST, f'{LAST}\ncountries = ["mex"]', "counterfactuals[0].countries[0]: 'mex' is not an ISO3"),
    (LAST, 'plot = "welfare.gif"', "counterfactuals[0].plot: cannot tell the image format"),
    (LAST, 'plot = "counterfactuals/w.png"', "counterfactuals[0].plot: 'counterfactuals/w.png' is "
     "written by migtrade itself"),
    (LAST, 'plot = "../w.png"', "is not a path inside the output folder"),
    (LAST, f'{LAST}\nformat = "html"', "counterfactuals[0].format: string 'html' is not one of"),
    (LAST, f'{LAST}\nexpect_tol = 0', "counterfactuals[0].expect_tol: must be positive"),
    (LAST, f'{LAST}\nexpect_tol = {{ gdp = 0.1 }}',
     "counterfactuals[0].expect_tol.gdp: names neither an expected value nor a field"),
    (LAST, f'{LAST}\nexpect_tol = {{ real_gdp_pct = -1 }}',
     "counterfactuals[0].expect_tol.real_gdp_pct: must be positive"),
    (LAST, f'{LAST}\nexpect_reverse = {{ "MEX.welfare_ratio" = 1.0 }}',
     "counterfactuals[0].expect_reverse.\"MEX.welfare_ratio\": 'MEX.welfare_ratio' is not a "
     "country's percent change"),
])
def test_schema_errors_name_the_key_path(recipe: Path, old: str, new: str, message: str) -> None:
    edit(recipe, old, new)
    with pytest.raises(RecipeError) as err:
        load_recipe(recipe)
    assert message in err.value.one_line()


def test_schema_reference_lists_the_step() -> None:
    code, out, _ = run_cli("run", "--schema")
    assert code == 0 and "[[counterfactuals]]  # `migtrade ge`" in out
    for f in dataclasses.fields(CounterfactualStep):
        assert f"\n  {f.name} " in out, f.name


# Expectations and manifest numbers -----------------------------------------------------------


def test_expect_keys() -> None:
    assert parse_expect_key("MEX.real_gdp_pct").label == "MEX real_gdp_pct"
    assert parse_expect_key("partial.rta").label == "partial effect rta"
    for bad in ("mex.real_gdp_pct", "MEX", "MEX.welfare", "partial."):
        with pytest.raises(Exception, match="cannot read the expectation"):
            parse_expect_key(bad)


def test_check_counterfactual_reports_every_mismatch(doc: dict[str, Any]) -> None:
    step = CounterfactualStep(name="n", data="d", year=1994, sigma=7.0, beta="b", expect={
        "MEX.real_gdp_pct": -3.6704, "CAN.welfare_ratio": 0.96709, "USA.exports_full_pct": -13.0,
        "partial.rta": 0.5572, "partial.cntg": 0.1, "FRA.real_gdp_pct": 0.0})
    checked, failures = check_counterfactual(step, doc)
    assert checked == 6
    assert failures == [
        "counterfactuals.n: USA exports_full_pct -12.95 differs from the expected -13 by 0.05 "
        "(tolerance 0.0005)",
        "counterfactuals.n: no partial effect 'cntg' (estimated: rta)",
        "counterfactuals.n: no country FRA in the counterfactual",
    ]
    doc["countries"]["MEX"]["real_gdp_pct"] = None
    _, failures = check_counterfactual(step, doc)
    assert "counterfactuals.n: MEX real_gdp_pct is missing (not finite), expected -3.6704" in failures


def test_expect_reverse_reads_the_change_back_with_tolerances_by_key_and_field(
        doc: dict[str, Any]) -> None:
    # MEX real GDP -3.67% when the agreement is removed is a gain of 1/0.9633 - 1 = 3.80989% from
    # having it; exports -30.33% are a gain of 43.5319%.
    step = CounterfactualStep(
        name="n", data="d", year=1994, sigma=7.0, beta="b",
        expect_reverse={"MEX.real_gdp_pct": 3.810, "MEX.exports_full_pct": 43.53,
                        "CAN.exports_full_pct": 37.46},
        expect_tol={"real_gdp_pct": 0.0005, "MEX.exports_full_pct": 0.005})
    checked, failures = check_counterfactual(step, doc)
    assert checked == 3
    assert failures == ["counterfactuals.n: CAN exports_full_pct read back 37.457 differs from "
                        "the expected 37.46 by 0.003 (tolerance 0.0005)"]
    assert tolerance(step, "CAN.exports_full_pct") == 0.0005  # neither key nor field: default
    assert tolerance(step, "CAN.real_gdp_pct") == 0.0005
    assert tolerance(step, "MEX.exports_full_pct") == 0.005
    assert reverse_percent(-100 / 11) == pytest.approx(10.0) and reverse_percent(-100.0) is None


def test_manifest_numbers_hold_every_country_number_and_interval(doc: dict[str, Any]) -> None:
    numbers = manifest_numbers(doc)
    assert numbers["converged"] is True and numbers["iterations"] == 37
    assert numbers["partial"] == {"rta": {"estimate": 0.5572, "std_error": 0.1021}}
    assert numbers["draws"] == {"requested": 20, "succeeded": 19, "failed": 1}
    mex = numbers["countries"]["MEX"]
    for key, value in doc["countries"]["MEX"].items():
        assert mex[key] == value, key  # every field, intervals as [low, high]
    bare = copy.deepcopy(doc)
    bare["draws"] = None
    for c in bare["countries"].values():
        del c["intervals"]
    assert "intervals" not in manifest_numbers(bare)["countries"]["MEX"]


# A run through the engine --------------------------------------------------------------------


def test_run_writes_result_table_plot_and_manifest(recipe: Path, engine: None) -> None:
    out = recipe.parent / "out"
    code, stdout, err = run_cli("run", recipe, "--out", out)
    assert code == 0, err
    doc = json.loads((out / "counterfactuals" / "cf.json").read_text())
    assert doc["schema"] == "migtrade.ge/1" and doc["converged"] and doc["year"] == 1992
    table = (out / "counterfactuals" / "cf.md").read_text()
    assert "where the baseline is the flows of 1992 as observed" in table
    assert (out / "welfare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    manifest = json.loads((out / "manifest.json").read_text())
    numbers = manifest["results"]["counterfactuals"]["cf"]
    assert numbers == manifest_numbers(doc)
    step = next(s for s in manifest["steps"] if s["kind"] == "counterfactual")
    assert step["outputs"] == ["counterfactuals/cf.json", "counterfactuals/cf.md", "welfare.png"]
    assert step["command"].startswith("migtrade ge --data ")
    assert "--year 1992 --sigma 5 --beta beta --format md --save " in step["command"]
    assert " > " in step["command"] and "&& migtrade plot ge " in step["command"]
    assert "counterfactual cf: 8 countries, converged in " in stdout


def test_check_detects_a_changed_number(recipe: Path, engine: None) -> None:
    first = recipe.parent / "first"
    code, _, err = run_cli("run", recipe, "--out", first)
    assert code == 0, err
    code, out, err = run_cli("run", recipe, "--check", first / "manifest.json")
    assert code == 0, err
    assert "no drift" in out
    manifest = json.loads((first / "manifest.json").read_text())
    code_country = sorted(manifest["results"]["counterfactuals"]["cf"]["countries"])[0]
    entry = manifest["results"]["counterfactuals"]["cf"]["countries"][code_country]
    entry["real_gdp_pct"] += 1e-3
    (first / "manifest.json").write_text(json.dumps(manifest))
    code, out, err = run_cli("run", recipe, "--check", first / "manifest.json")
    assert code == 6
    assert f"counterfactuals.cf: {code_country} real_gdp_pct" in out
    assert "1 of " in err and "numbers drifted" in err


def test_unmet_expectation_exits_6(recipe: Path, engine: None) -> None:
    edit(recipe, LAST, f'{LAST}\nexpect = {{ "QQB.real_gdp_pct" = 100.0, "ABC.omr_pct" = 0.0 }}')
    code, out, err = run_cli("run", recipe, "--out", recipe.parent / "o")
    assert code == 6
    assert "expectations: 0 of 2 met" in out
    assert "not met: counterfactuals.cf: QQB real_gdp_pct " in out
    assert "not met: counterfactuals.cf: no country ABC in the counterfactual" in out
    assert err.startswith("migtrade: error: 2 of 2 expected values not met")
    assert (recipe.parent / "o" / "manifest.json").exists()  # written before the check fails
