"""``recipes/yotov2016_ch2_nafta.toml`` on ``../shared/data``: the NAFTA table of Yotov et al. (2016).

``MIGTRADE_DATA_DIR`` points at ``../shared/data``, where the book's application file is found by
name and checked by sha256; nothing is downloaded. The recipe states every printed number of the
book's NAFTA table (real GDP and exports, full and conditional, for Canada, Mexico and the United
States) and the RTA coefficient; the run must meet all of them, by the published loop to the
printed digit and converged within the bounds its comment measures.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_recipes import run_cli

from migtrade.report.ge_layout import load_ge_document

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "recipes" / "yotov2016_ch2_nafta.toml"
SHARED = REPO.parent / "shared" / "data"


@pytest.fixture(scope="module")
def nafta(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """The recipe run once: (output folder, stdout)."""
    if not (SHARED / "yotov2016_agtpa" / "Chapter2Application2.dta").is_file():
        pytest.skip("../shared/data/yotov2016_agtpa is not available beside this checkout")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MIGTRADE_DATA_DIR", str(SHARED))
        patch.setenv("MIGTRADE_CACHE", str(tmp_path_factory.mktemp("cache")))
        patch.setenv("MIGTRADE_HTTP_ATTEMPTS", "1")
        out = tmp_path_factory.mktemp("nafta") / "out"
        code, stdout, err = run_cli("run", RECIPE, "--out", out)
        assert code == 0, err + stdout
        yield out, stdout


@pytest.mark.slow
def test_nafta_recipe_meets_every_published_number(nafta: tuple[Path, str]) -> None:
    out, stdout = nafta
    assert "expectations: 19 of 19 met" in stdout
    assert "nafta_published: 69 countries, stopped by the published rule after 3 rounds" in stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["expectations"] == {"checked": 19, "failed": []}
    results = manifest["results"]["counterfactuals"]
    assert set(results) == {"nafta_published", "nafta"}
    assert len(results["nafta"]["countries"]) == 69
    assert results["nafta"]["draws"] == {"requested": 200, "succeeded": 200, "failed": 0}
    mex = results["nafta"]["countries"]["MEX"]
    low, high = mex["intervals"]["real_gdp_pct"]
    assert low < mex["real_gdp_pct"] < high < 0  # NAFTA's removal costs Mexico, surely
    doc = load_ge_document(out / "counterfactuals" / "nafta.json")
    assert doc["baseline"] == "fitted" and doc["converged"]
    table = (out / "counterfactuals" / "nafta.md").read_text()
    assert "| MEX \\* | -3.688 |" in table and "where the baseline is the flows of 1994 fitted" in table
    assert (out / "nafta_welfare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    step = next(s for s in manifest["steps"] if s["name"] == "nafta")
    assert step["command"].startswith("migtrade ge --data ")
    assert "--imbalances multiplicative" in step["command"] and "--draws 200" in step["command"]
