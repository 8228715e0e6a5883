"""A published file's ``equivalent``: the same data in another layout, accepted only as a local
copy with its own sha256, never downloaded.

The trade-migration recipe names the migrant stocks and flows by the addresses of their JSON
matrices and lists the long conversions kept in ``../shared/data`` as equivalents, so the recipe
runs from a fresh clone (downloads) and from that folder alone (``MIGTRADE_DATA_DIR``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from test_recipes import run_cli

from migtrade.errors import SourceError
from migtrade.recipes import load_recipe
from migtrade.recipes.acquire import acquire
from migtrade.sources.http import HttpSettings

REPO = Path(__file__).resolve().parents[1]
TRADE_MIGRATION = REPO / "recipes" / "trade_migration_mex_phl.toml"
SHARED = REPO.parent / "shared" / "data"
# ../shared/data/MANIFEST.md, sections 5 and 6: the long conversions and their sha256.
CONVERSIONS = {
    "undesa_stock": ("undesa_ims2020_bilateral_stock_long.csv.gz",
                     "749bc32646da4aa1935c52751af3dd7c866394131b27dba1de24e573c5a4b57a"),
    "abel_cohen_flows": ("abel_cohen_flows_da_pb_closed_long.csv.gz",
                         "0b7baf7845f3e3072b028401917fb2ba97fd34f8af942fe5b9fa4ce5c55dba68"),
}
RECIPE = """[recipe]
name = "own"

[[datasets]]
name = "table"
url = "https://example.org/data/table.csv"
sha256 = "{published}"
{extra}
"""


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> HttpSettings:
    """No network, no data folder from the environment, an empty cache."""
    monkeypatch.setenv("MIGTRADE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MIGTRADE_DATA_DIR", raising=False)
    monkeypatch.delenv("MIGTRADE_FILE_URL", raising=False)
    return HttpSettings.from_env(quiet=True, offline=True)


def _own(tmp_path: Path, extra: str, published: str = "0" * 64) -> Path:
    recipe = tmp_path / "own.toml"
    recipe.write_text(RECIPE.format(published=published, extra=extra))
    return recipe


def test_the_shipped_recipe_lists_the_shared_conversions_as_equivalents() -> None:
    datasets = {d.name: d for d in load_recipe(TRADE_MIGRATION).recipe.datasets}
    for name, (file, sha256) in CONVERSIONS.items():
        assert datasets[name].urls and datasets[name].equivalent == {file: sha256}


def test_the_shipped_recipe_reads_the_equivalents_from_the_shared_folder(
        offline: HttpSettings) -> None:
    for file, _ in CONVERSIONS.values():
        if not next(SHARED.rglob(file), None):
            pytest.skip(f"../shared/data/{file} is not available beside this checkout")
    located = acquire(load_recipe(TRADE_MIGRATION), folders=(SHARED,), settings=offline)
    for name, (file, sha256) in CONVERSIONS.items():
        verified = located[name].verified
        assert verified is not None and verified.origin == "local copy"
        assert Path(verified.found_at).name == file and verified.sha256 == sha256
        assert hashlib.sha256(verified.path.read_bytes()).hexdigest() == sha256


def test_an_equivalent_is_used_only_when_the_published_file_is_not_at_hand(
        tmp_path: Path, offline: HttpSettings) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "table.csv").write_text("a,b\n1,2\n")
    (folder / "table_long.csv").write_text("a,b\n1,2\n3,4\n")
    published = hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    other = hashlib.sha256(b"a,b\n1,2\n3,4\n").hexdigest()
    recipe = _own(tmp_path, f'equivalent = {{ "table_long.csv" = "{other}" }}', published)
    found = acquire(load_recipe(recipe), folders=(folder,), settings=offline)["table"]
    assert found.path.name == "table.csv"  # the published file wins
    (folder / "table.csv").unlink()
    found = acquire(load_recipe(recipe), folders=(folder,), settings=offline)["table"]
    assert found.path.name == "table_long.csv" and found.verified is not None
    assert found.verified.sha256 == other


def test_an_equivalent_with_another_hash_is_refused_naming_both(
        tmp_path: Path, offline: HttpSettings) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "table_long.csv").write_text("a,b\n9,9\n")
    actual = hashlib.sha256(b"a,b\n9,9\n").hexdigest()
    recipe = _own(tmp_path, f'equivalent = {{ "table_long.csv" = "{"1" * 64}" }}')
    with pytest.raises(SourceError) as info:
        acquire(load_recipe(recipe), folders=(folder,), settings=offline)
    assert actual in info.value.one_line() and "1" * 64 in info.value.one_line()
    code, stdout, err = run_cli("run", recipe, "--data-dir", folder, "--out", tmp_path / "out")
    assert code == 3 and stdout == "" and not (tmp_path / "out").exists()
    assert err.count("\n") == 1 and actual in err


@pytest.mark.parametrize(("extra", "message"), [
    ('equivalent = { "sub/table.csv" = "' + "1" * 64 + '" }', "not a file name"),
    ('equivalent = { "t.csv" = "xyz" }', """datasets[0].equivalent."t.csv": 'xyz' is not a sha256"""),
])
def test_equivalents_are_checked_when_the_recipe_loads(tmp_path: Path, extra: str,
                                                       message: str) -> None:
    from migtrade.recipes.validate import RecipeError

    with pytest.raises(RecipeError) as info:
        load_recipe(_own(tmp_path, extra))
    assert message in info.value.one_line()


def test_only_a_published_file_has_equivalents(tmp_path: Path) -> None:
    from migtrade.recipes.validate import RecipeError

    recipe = tmp_path / "own.toml"
    recipe.write_text('[recipe]\nname = "own"\n\n[[datasets]]\nname = "t"\nfile = "t.csv"\n'
                      'equivalent = { "u.csv" = "' + "1" * 64 + '" }\n')
    with pytest.raises(RecipeError, match="only a file named by 'url' has equivalents"):
        load_recipe(recipe)
