"""The recipes shipped in ``recipes/``, run on ``../shared/data`` (skipped where it is absent).

The recipes name their data by address and sha256; here ``MIGTRADE_DATA_DIR`` points at
``../shared/data``, where the files are found by name and checked, so nothing is downloaded.
The Yotov et al. (2016) recipe runs once end to end and must meet every published number it
states; ``--check`` against its own manifest runs through the command and leaves nothing behind,
and a tampered manifest must show its drift.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import cli
from test_recipes import run_cli

from migtrade.recipes import load_recipe
from migtrade.recipes.manifest import numbers

REPO = Path(__file__).resolve().parents[1]
YOTOV = REPO / "recipes" / "yotov2016_ch1.toml"
TRADE_MIGRATION = REPO / "recipes" / "trade_migration_mex_phl.toml"
SHARED = REPO.parent / "shared" / "data"


def test_trade_migration_recipe_is_valid() -> None:
    if not SHARED.is_dir():
        pytest.skip("../shared/data is not available beside this checkout")
    loaded = load_recipe(TRADE_MIGRATION)
    assert [p.name for p in loaded.recipe.panels] == ["gravity_migration"]
    assert [t.case for t in loaded.recipe.tests] == ["MEX-USA", "PHL"]
    assert {p.kind for p in loaded.recipe.plots} == {"event"}


@pytest.fixture(scope="module", autouse=True)
def shared_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every run of this module finds its files in ../shared/data; downloads are impossible."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MIGTRADE_DATA_DIR", str(SHARED))
        patch.setenv("MIGTRADE_CACHE", str(tmp_path_factory.mktemp("cache")))
        patch.setenv("MIGTRADE_FILE_URL", "http://127.0.0.1:9")  # nothing listens there
        patch.setenv("MIGTRADE_HTTP_ATTEMPTS", "1")
        yield


@pytest.fixture(scope="module")
def yotov(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The shipped Yotov recipe run once: (output folder, stdout)."""
    if not (SHARED / "yotov2016_agtpa" / "Chapter2Application2.dta").is_file():
        pytest.skip("../shared/data/yotov2016_agtpa is not available beside this checkout")
    out = tmp_path_factory.mktemp("yotov") / "out"
    code, stdout, err = run_cli("run", YOTOV, "--out", out)
    assert code == 0, err + stdout
    return out, stdout


def test_yotov_recipe_meets_the_published_numbers(yotov: tuple[Path, str]) -> None:
    out, stdout = yotov
    assert "expectations: 21 of 21 met" in stdout
    m = json.loads((out / "manifest.json").read_text())
    assert m["expectations"] == {"checked": 21, "failed": []}
    models = m["results"]["models"]
    assert {k: v["nobs"] for k, v in models.items()} == {"t1c3": 25_689, "t1c4": 28_152,
                                                           "t3c4": 28_482}
    assert abs(models["t1c4"]["coefficients"]["log(dist)"]["estimate"] + 0.841) <= 0.0005
    assert "$-$0.841" in (out / "yotov2016_ch1.tex").read_text()
    assert (out / "gravity_coefficients.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_yotov_check_against_its_own_manifest_through_the_command(
        yotov: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out, _ = yotov
    monkeypatch.chdir(tmp_path)
    code, stdout, err = cli("run", YOTOV, "--check", out / "manifest.json")
    assert code == 0, err
    n = len(numbers(json.loads((out / "manifest.json").read_text())))
    assert f"no drift: {n} numbers checked" in stdout
    assert "not kept" in stdout
    assert list(tmp_path.iterdir()) == []


def test_yotov_tampered_manifest_shows_the_drift(yotov: tuple[Path, str], tmp_path: Path) -> None:
    out, _ = yotov
    manifest = json.loads((out / "manifest.json").read_text())
    coef = manifest["results"]["models"]["t1c4"]["coefficients"]["log(dist)"]
    coef["estimate"] += 1e-3
    tampered = tmp_path / "manifest.json"
    tampered.write_text(json.dumps(manifest))
    code, stdout, err = run_cli("run", YOTOV, "--check", tampered, "--out", tmp_path / "rerun")
    assert code == 6
    assert "Drift: 1 of" in stdout
    assert "models.t1c4: log(dist) estimate" in stdout and "-0.001" in stdout
    assert err.count("\n") == 1 and "1 of" in err and "numbers drifted" in err
    assert (tmp_path / "rerun" / "manifest.json").is_file()


PANEL = """\
[recipe]
name = "panel"

[[datasets]]
name = "agtpa"
file = "{data}/yotov2016_agtpa/agtpa_applications.csv.gz"

[[datasets]]
name = "stocks"
file = "{data}/undesa_migrant_stock/undesa_ims2020_bilateral_stock_long.csv.gz"

[[panels]]
name = "gm"
trade = "agtpa"
stocks = "stocks"
years = "1990:2005:5"
countries = "@trade"

[[models]]
name = "network"
data = "gm"
formula = "trade ~ log(migrant_stock) + log(migrant_stock_reverse) | origin^year + destination^year"
where = "origin != destination"
"""


def test_panel_step_builds_into_the_output_folder(tmp_path: Path) -> None:
    if not (SHARED / "undesa_migrant_stock").is_dir():
        pytest.skip("../shared/data/undesa_migrant_stock is not available beside this checkout")
    recipe = tmp_path / "panel.toml"
    recipe.write_text(PANEL.format(data=SHARED))
    out = tmp_path / "out"
    code, stdout, err = run_cli("run", recipe, "--out", out)
    assert code == 0, err
    assert "panel gm: 19,044 rows, 69 countries" in stdout
    m = json.loads((out / "manifest.json").read_text())
    assert m["datasets"]["gm"]["rows"] == 19_044
    assert m["datasets"]["gm"]["location"] == "panels/gm.parquet"
    assert (out / "panels" / "gm.parquet").is_file()
    build = shlex.split(next(s["command"] for s in m["steps"] if s["kind"] == "panel"))
    assert build[:3] == ["migtrade", "panel", "build"]
    assert build[build.index("--countries") + 1] == "@trade"
    assert m["results"]["models"]["network"]["nobs"] > 0


@pytest.mark.slow
def test_nafta_recipe_rechecks_without_drift(tmp_path: Path) -> None:
    """The general-equilibrium recipe twice through the command (about 15 s): its numbers,
    Monte Carlo intervals included, are the same on the second run."""
    recipe = REPO / "recipes" / "yotov2016_ch2_nafta.toml"
    if not recipe.is_file() or not (SHARED / "yotov2016_agtpa" / "Chapter2Application2.dta").is_file():
        pytest.skip("the NAFTA recipe or its data are not available")
    code, out, err = cli("run", recipe, "--out", tmp_path / "first")
    assert code == 0, err
    assert "local copy " + str((SHARED / "yotov2016_agtpa" / "Chapter2Application2.dta").resolve()) in out
    code, out, err = cli("run", recipe, "--check", tmp_path / "first" / "manifest.json")
    assert code == 0, err
    assert "no drift: " in out
