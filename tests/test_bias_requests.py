"""Which models the bias corrections take, and one line with exit code 2 for the rest."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from migtrade.errors import DataError, UsageError
from migtrade.estimation.bias_structure import GravityKind, country_variables, detect_structure
from migtrade.estimation.fit import estimate
from migtrade.estimation.vcov import VcovSpec
from migtrade.spec.formula import ModelSpec
from migtrade.synthetic.three_way import three_way_panel

CliRun = Callable[..., tuple[int, str, str]]


def _effects(fe: str) -> ModelSpec:
    return ModelSpec.parse(f"y ~ x | {fe}")


@pytest.mark.parametrize(("fe", "kind", "countries"), [
    ("exp^year + imp^year + exp^imp", GravityKind.three_way, ("exp", "imp")),
    ("year^imp + exp^imp + exp^year", GravityKind.three_way, ("imp", "exp")),
    ("exp^year + imp^year + imp^exp", GravityKind.three_way, ("exp", "imp")),
    ("exp^year + imp^year + pair", GravityKind.three_way, ("exp", "imp")),
    ("imp^year + exp^year", GravityKind.two_way, ("imp", "exp")),
])
def test_structures_recognised(fe: str, kind: GravityKind, countries: tuple[str, str]) -> None:
    # Three effects a^b + b^c + a^c read alike whichever column is the period: the data decide
    # (the column with the fewest values is the period).
    found = detect_structure(_effects(fe).fixed_effects, {"exp": 60, "imp": 60, "year": 5})
    assert found.kind is kind
    assert (found.origin, found.destination, found.time) == (*countries, "year")
    assert found.pair_column == ("pair" if fe.endswith("pair") else None)


@pytest.mark.parametrize(("fe", "message"), [
    ("exp + imp", "needs origin-time and destination-time"),
    ("exp^year + imp", "needs origin-time and destination-time"),
    ("exp^year + imp^year + exp^imp + sector", "the model has"),
    ("exp^year + imp^year + exp^sector", "the model has"),
    ("exp^year + imp^year + year", "the model has"),
])
def test_other_structures_refused(fe: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        detect_structure(_effects(fe).fixed_effects)


def test_the_formula_order_decides_without_data() -> None:
    found = detect_structure(_effects("exp^year + imp^year + exp^imp").fixed_effects)
    assert (found.origin, found.destination, found.time) == ("exp", "imp", "year")


def test_jackknife_needs_only_the_countries() -> None:
    spec = _effects("exp^year + imp^year + exp^imp + sector")
    assert country_variables(spec.fixed_effects) == ("exp", "imp", "year")
    with pytest.raises(UsageError, match="no origin-time and destination-time fixed effects"):
        country_variables(_effects("exp + imp").fixed_effects)


@pytest.fixture(scope="module")
def panel_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frame = three_way_panel(8, 3, dgp=2, rng=2)
    frame["w"] = 1.0
    frame["one"] = 1
    frame["sympair"] = [f"{min(a, b)}-{max(a, b)}" for a, b in zip(frame["exp"], frame["imp"], strict=True)]
    frame["z"] = frame["x"] ** 2
    frame["v"] = frame["x"] * frame["year"]
    path = tmp_path_factory.mktemp("bias") / "panel.csv"
    frame.to_csv(path, index=False)
    return path


THREE = "y ~ x | exp^year + imp^year + exp^imp"
BAD = [
    (["--model", "ols"], "log(y) ~ x | exp^year + imp^year + exp^imp", "is for PPML, not OLS"),
    ([], "y ~ x | exp + imp", "needs origin-time and destination-time"),
    (["--weights", "w"], THREE, "unweighted PPML"),
    (["--vcov", "robust"], THREE, "clustered by pair, not 'robust'"),
    (["--vcov", "cluster:exp^imp,year"], THREE, "clustered by pair"),
    (["--vcov", "cluster:exp"], THREE, "the clusters of 'exp' are not the pairs"),
    (["--vcov", "cluster:one"], THREE, "only 1 cluster"),
    (["--vcov", "cluster:sympair"], "y ~ x | exp^year + imp^year + sympair",
     "is not the (exp, imp) pair"),
    (["--bootstrap", "score"], THREE, "cannot be combined"),
    ([], "y ~ v | exp^year + imp^year + exp^imp | x ~ z", "instrumental-variables"),
]


@pytest.mark.parametrize(("opts", "formula", "message"), BAD)
def test_bad_requests_give_one_line_and_exit_2(panel_csv: Path, tmp_path: Path, opts: list[str],
                                              formula: str, message: str,
                                              cli: CliRun) -> None:
    save = tmp_path / "out.json"
    args = ["estimate", formula, "--data", str(panel_csv), "--bias-correction", "analytical"]
    if "--vcov" not in opts:
        args += ["--vcov", "cluster:exp^imp"]
    code, _, err = cli(*args, *opts, "--save", str(save))
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("migtrade: error: ") and message in lines[0], err
    assert not save.exists()


def test_unknown_method_is_refused(panel_csv: Path, cli: CliRun) -> None:
    code, _, err = cli("estimate", THREE, "--data", str(panel_csv),
                        "--bias-correction", "magic")
    assert code == 2 and "magic" in err and "Traceback" not in err
    with pytest.raises(UsageError, match="unknown bias correction"):
        estimate(THREE, three_way_panel(4, 3, rng=1), bias_correction="magic")


def test_several_rows_per_pair_and_period_refused() -> None:
    frame = three_way_panel(6, 3, dgp=2, rng=4)
    doubled = pd.concat([frame.assign(sector=0), frame.assign(sector=1)], ignore_index=True)
    with pytest.raises(DataError, match="several rows in one year"):
        estimate("y ~ x | exp^year + imp^year + exp^imp", doubled,
                 vcov=VcovSpec.parse("cluster:exp^imp"), bias_correction="analytical")


def test_command_line_json_and_table(panel_csv: Path, tmp_path: Path,
                                     cli: CliRun) -> None:
    saved = tmp_path / "bc.json"
    code, out, err = cli("estimate", THREE, "--data", str(panel_csv),
                          "--vcov", "cluster:exp^imp", "--bias-correction", "analytical",
                          "--format", "json", "--save", str(saved))
    assert code == 0, err
    block = json.loads(out)["bias_correction"]
    assert block["method"] == "weidner-zylkin-2021" and block["structure"] == "three-way"
    assert set(block["terms"]["x"]) == {"uncorrected", "uncorrected_std_error", "bias"}
    code, out, err = cli("table", str(saved), "--format", "md")
    assert code == 0, err
    assert "Bias correction" in out and "Weidner-Zylkin (three-way)" in out
    code, out, err = cli("estimate", THREE, "--data", str(panel_csv),
                          "--vcov", "cluster:exp^imp", "--bias-correction", "jackknife",
                          "--format", "json")
    assert code == 0, err
    assert json.loads(out)["bias_correction"]["method"] == "split-panel-jackknife"


# --bias-correction alone is the analytical correction, wherever it stands on the line.
BARE = [
    ["estimate", THREE, "--data", "{data}", "--vcov", "cluster:exp^imp", "--bias-correction"],
    ["estimate", "--bias-correction", THREE, "--data", "{data}", "--vcov", "cluster:exp^imp"],
    ["estimate", THREE, "--bias-correction", "--data", "{data}", "--vcov", "cluster:exp^imp"],
]


@pytest.mark.parametrize("words", BARE)
def test_bare_flag_is_the_analytical_correction(panel_csv: Path, words: list[str],
                                                cli: CliRun) -> None:
    args = [str(panel_csv) if w == "{data}" else w for w in words]
    code, bare, err = cli(*args, "--format", "json")
    assert code == 0, err
    code, named, err = cli("estimate", THREE, "--data", str(panel_csv),
                            "--vcov", "cluster:exp^imp", "--bias-correction=analytical",
                            "--format", "json")
    assert code == 0, err
    assert json.loads(bare)["bias_correction"]["method"] == "weidner-zylkin-2021"
    assert json.loads(bare)["coefficients"] == json.loads(named)["coefficients"]


def test_bare_flag_rewriting_leaves_values_and_positionals_alone() -> None:
    from migtrade.cli.estimate import bare_flag_values

    assert bare_flag_values(["--bias-correction", "jackknife", "y ~ x"]) == [
        "--bias-correction", "jackknife", "y ~ x"]
    assert bare_flag_values(["--bias-correction", "magic"]) == ["--bias-correction", "magic"]
    assert bare_flag_values(["--", "--bias-correction"]) == ["--", "--bias-correction"]
    assert bare_flag_values(["--bias-correction", "-f", "json"])[0] == "--bias-correction=analytical"


def test_bad_value_after_the_flag_is_one_line(panel_csv: Path, cli: CliRun) -> None:
    code, _, err = cli("estimate", "--bias-correction", "analitical", THREE,
                        "--data", str(panel_csv), "--vcov", "cluster:exp^imp")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "analitical" in lines[0], err


def test_api_takes_true_for_analytical_and_false_for_none() -> None:
    from migtrade import api

    frame = three_way_panel(6, 3, dgp=2, rng=3)
    on = api.estimate(THREE, frame, vcov="cluster:exp^imp", bias_correction=True)
    named = api.estimate(THREE, frame, vcov="cluster:exp^imp", bias_correction="analytical")
    off = api.estimate(THREE, frame, vcov="cluster:exp^imp", bias_correction=False)
    assert on.to_dict()["bias_correction"]["method"] == "weidner-zylkin-2021"
    assert on.to_dict()["coefficients"] == named.to_dict()["coefficients"]
    assert "bias_correction" not in off.to_dict()
    with pytest.raises(UsageError, match="unknown bias correction 'yes'"):
        api.estimate(THREE, frame, vcov="cluster:exp^imp", bias_correction="yes")


@pytest.mark.parametrize(("value", "expected"), [
    (True, "analytical"), (False, None), ("analytical", "analytical"), ("jackknife", "jackknife")])
def test_recipe_key_spellings(value: object, expected: str | None) -> None:
    from migtrade.recipes.schema import ModelStep
    from migtrade.recipes.validate import build

    step = build(ModelStep, {"name": "m", "data": "d", "formula": THREE, "bias_correction": value},
                 "[[models]]", "recipe.toml")
    assert step.bias_correction == expected
    assert step.options().bias_correction == expected


def test_recipe_key_bad_value_is_refused() -> None:
    from migtrade.recipes.schema import ModelStep
    from migtrade.recipes.validate import RecipeError, build

    with pytest.raises(RecipeError, match="'magic'"):
        build(ModelStep, {"name": "m", "data": "d", "formula": THREE, "bias_correction": "magic"},
              "[[models]]", "recipe.toml")
