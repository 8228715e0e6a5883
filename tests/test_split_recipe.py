"""A recipe's [[models]] step with split: the JSON list, the manifest's numbers level by level,
the command that reproduces it, and the keys that do not go with it."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from conftest import cli as run_cli
from split_panels import FORMULA, product_panel

RECIPE = f"""\
[recipe]
name = "by-product"
description = "one PPML per product"

[[datasets]]
name = "products"
file = "products.parquet"

[[models]]
name = "by_product"
data = "products"
formula = "{FORMULA}"
vcov = "cluster:exporter"
split = "product"
"""


@pytest.fixture
def recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MIGTRADE_SPLIT_CACHE", str(tmp_path / "cache"))
    product_panel(products=4, zero_products=(1,)).to_parquet(tmp_path / "products.parquet", index=False)
    path = tmp_path / "split.toml"
    path.write_text(RECIPE)
    return path


def test_split_step_writes_the_list_and_numbers_by_level(recipe: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(recipe.parent)
    code, out, err = run_cli("run", recipe.name, "--out", "out")
    assert code == 0, err
    assert "split by product: 3 levels estimated, 1 failed" in out
    saved = json.loads(Path("out/models/by_product.json").read_text())
    assert [e["split"]["product"] for e in saved] == ["010000", "020000", "030000", "040000"]
    manifest = json.loads(Path("out/manifest.json").read_text())
    levels = manifest["results"]["models"]["by_product"]["levels"]
    assert "zero in all" in levels["020000"]["error"]
    for element in saved:
        if element["status"] == "ok":
            numbers = levels[element["split"]["product"]]["coefficients"]
            assert numbers == {t: {"estimate": c["estimate"], "std_error": c["std_error"]}
                               for t, c in element["coefficients"].items()}
    # The step's command gives the same list.
    command = next(s["command"] for s in manifest["steps"] if s["name"] == "by_product")
    words = shlex.split(command)
    assert "--split" in words
    words[words.index("--save") + 1] = "again.json"
    code, _, err = run_cli(*words[1:], "--format", "csv")
    assert code == 7, err  # the failing level, as in the recipe's list
    again = json.loads(Path("again.json").read_text())
    assert [e.get("coefficients") for e in again] == [e.get("coefficients") for e in saved]


@pytest.mark.parametrize(("old", "new", "words"), [
    ('split = "product"', 'split = "product"\nexpect = { rta = 0.4 }',
     "models[0].split: expect, expect_se and expect_nobs do not apply to a split model"),
    ('split = "product"', "workers = 2", "models[0].workers: workers runs a split model"),
    ('split = "product"', 'split = "product"\n\n[[tables]]\nname = "t"\nmodels = ["by_product"]\nformat = "md"',
     "tables[0].models[0]: model 'by_product' is split by a column"),
])
def test_keys_that_do_not_go_with_split(recipe: Path, old: str, new: str, words: str) -> None:
    recipe.write_text(recipe.read_text().replace(old, new))
    code, _, err = run_cli("run", recipe, "--out", recipe.parent / "out")
    assert code == 2 and words in err, err
