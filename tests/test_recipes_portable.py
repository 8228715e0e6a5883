"""Recipes that run anywhere: datasets named by address and sha256, downloaded or found locally.

A local HTTP server stands in for the publishers: it serves the real files of ``../shared/data``
under the URL paths the shipped recipes name, and ``MIGTRADE_FILE_URL`` (the base-URL override of
files named by address) points every address at it. Where a shared file is a gzip copy of the
published bytes (the World Bank series), the server serves what the gzip holds; the tests check
that every served body has the sha256 the recipe states, so nothing here is made up. Each test
has its own download cache, so every download is real.

The trade-migration recipe names the migrant stocks and flows by the addresses of their JSON
matrices, which ``../shared/data`` does not hold: it keeps long-format conversions of them (the
same numbers, other bytes, other hashes). Tests that run that recipe on the shared data do so on
a temporary copy whose two dataset entries name the conversions instead (:func:`_on_conversions`);
the JSON layout itself is read from hand-made fixtures, here through a recipe of one's own and in
``test_sources_matrix_json.py``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shlex
import shutil
import socket
import tomllib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pytest_httpserver import HTTPServer
from test_recipes import run_cli
from werkzeug import Request, Response

from migtrade.recipes import load_recipe
from migtrade.recipes.manifest import numbers

REPO = Path(__file__).resolve().parents[1]
RECIPES = REPO / "recipes"
YOTOV = RECIPES / "yotov2016_ch1.toml"
TRADE_MIGRATION = RECIPES / "trade_migration_mex_phl.toml"
SHIPPED = sorted(RECIPES.glob("*.toml"))
CONVERSIONS = {
    "undesa_stock": ("undesa_ims2020_bilateral_stock_long.csv.gz",
                     "749bc32646da4aa1935c52751af3dd7c866394131b27dba1de24e573c5a4b57a"),
    "abel_cohen_flows": ("abel_cohen_flows_da_pb_closed_long.csv.gz",
                         "0b7baf7845f3e3072b028401917fb2ba97fd34f8af942fe5b9fa4ce5c55dba68"),
}
"""The long conversions in ../shared/data of the trade-migration recipe's JSON matrices (its
datasets of the same names), with their sha256 (../shared/data/MANIFEST.md, sections 5 and 6)."""
MATRIX_FIXTURES = Path(__file__).parent / "fixtures" / "matrix_json"
SHARED = REPO.parent / "shared" / "data"
CH2APP2 = SHARED / "yotov2016_agtpa" / "Chapter2Application2.dta"
CH1APP1 = SHARED / "yotov2016_agtpa" / "Chapter1Application1.dta"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _published_bytes(dataset: dict[str, object]) -> bytes | None:
    """The bytes a recipe dataset names, from their copy in ../shared/data (found by name); None
    for the JSON matrices, which it does not hold."""
    url = dataset["url"]
    first = url if isinstance(url, str) else next(iter(url))  # type: ignore[call-overload]
    names = [str(dataset.get("file") or ""), first.rsplit("/", 1)[-1]]
    for name in filter(None, names):
        for path in sorted(SHARED.rglob(name)):
            data = path.read_bytes()
            if data[:2] == b"\x1f\x8b" and not first.endswith(".gz"):
                data = gzip.decompress(data)
            if _sha(data) == dataset["sha256"]:
                return data
    if dataset["name"] in CONVERSIONS:
        return None
    pytest.skip(f"../shared/data holds no copy of {first}")


class Publisher:
    """Serves files by path, with HTTP Range requests, and faults on demand.

    Attributes
    ----------
    files
        URL path -> bytes.
    down
        Paths that answer 503 (a mirror that is down).
    cut
        Paths whose next full response stops after this many bytes (a dropped connection).
    log
        (path, Range header) of every request.
    """

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.down: set[str] = set()
        self.cut: dict[str, int] = {}
        self.log: list[tuple[str, str | None]] = []
        self.root = ""  # the server's address

    def serve(self, url: str, data: bytes) -> None:
        self.files[urlsplit(url).path] = data

    def __call__(self, request: Request) -> Response:
        path, wanted = request.path, request.headers.get("Range")
        self.log.append((path, wanted))
        if path in self.down:
            return Response("mirror down", status=503)
        body = self.files.get(path)
        if body is None:
            return Response("not here", status=404)
        headers = {"ETag": f'"{_sha(body)[:16]}"'}
        if wanted:
            start = int(wanted.split("=", 1)[1].split("-", 1)[0])
            headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
            return Response(body[start:], status=206, headers=headers,
                            content_type="application/octet-stream")
        if path in self.cut:
            # Claims the whole length but sends only the start: the client sees a cut connection.
            response = Response(body[:self.cut.pop(path)], headers=headers,
                                content_type="application/octet-stream")
            response.headers["Content-Length"] = str(len(body))
            response.automatically_set_content_length = False
            return response
        return Response(body, headers=headers, content_type="application/octet-stream")

    def paths(self) -> list[str]:
        return [p for p, _ in self.log]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh download cache, no data folder, quick retries; returns the cache folder."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("MIGTRADE_CACHE", str(cache))
    monkeypatch.delenv("MIGTRADE_DATA_DIR", raising=False)
    monkeypatch.delenv("MIGTRADE_FILE_URL", raising=False)
    monkeypatch.setenv("MIGTRADE_HTTP_ATTEMPTS", "3")
    monkeypatch.setenv("MIGTRADE_HTTP_BACKOFF", "0")
    monkeypatch.setenv("MIGTRADE_HTTP_TIMEOUT", "5")
    return cache


@pytest.fixture
def publisher(httpserver: HTTPServer, env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Publisher]:
    """The local server, serving every url dataset of the shipped recipes under its URL paths."""
    pub = Publisher()
    for recipe in SHIPPED:
        for dataset in tomllib.loads(recipe.read_text())["datasets"]:
            if "url" not in dataset:
                continue
            data = _published_bytes(dataset)
            if data is None:
                continue
            assert _sha(data) == dataset["sha256"]  # the server serves exactly the published bytes
            urls = [dataset["url"]] if isinstance(dataset["url"], str) else dataset["url"]
            for url in urls:
                pub.serve(url, data)
    httpserver.expect_request("").respond_with_handler(pub)  # every path goes to the handler
    pub.root = httpserver.url_for("/").rstrip("/")
    monkeypatch.setenv("MIGTRADE_FILE_URL", pub.root)
    yield pub


def _raw_path(recipe: Path, name: str, index: int = 0) -> str:
    dataset = next(d for d in tomllib.loads(recipe.read_text())["datasets"] if d["name"] == name)
    urls = [dataset["url"]] if isinstance(dataset["url"], str) else dataset["url"]
    return urlsplit(urls[index]).path


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the shipped recipes, downloaded from the stand-in publishers ----------------------------

def test_yotov_recipe_downloads_verifies_runs_and_rechecks_from_the_cache(
        publisher: Publisher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    code, stdout, err = run_cli("run", YOTOV, "--out", out)
    assert code == 0, err + stdout
    assert f"dataset agtpa: 99,981 rows, sha256 60ead74eb51d, downloaded from {publisher.root}" in stdout
    assert "expectations: 21 of 21 met" in stdout
    raw = _raw_path(YOTOV, "agtpa")
    assert publisher.paths() == [raw]  # the first address answered: no mirror was needed
    m = json.loads((out / "manifest.json").read_text())
    agtpa = m["datasets"]["agtpa"]
    assert agtpa["kind"] == "url" and agtpa["rows"] == 99_981
    assert agtpa["location"].startswith("https://raw.githubusercontent.com/pachadotdev/tradepolicy/")
    assert agtpa["sha256"] == "60ead74eb51db9c4d0406a4b7668e97cbedbeaccf324beba362123f7ae547547"
    assert agtpa["mirrors"][0].startswith("https://cdn.jsdelivr.net/gh/pachadotdev/tradepolicy@")
    step = next(s for s in m["steps"] if s["kind"] == "dataset")
    assert step["command"].startswith("migtrade fetch file --name agtpa --url https://raw.")
    assert "--map dist=DIST" in step["command"]
    saved = json.loads((out / "models" / "t1c4.json").read_text())
    assert saved["data"]["provenance"]["location"] == agtpa["location"]
    # The recorded commands redo the steps by hand: store the file, then estimate from it.
    monkeypatch.setenv("MIGTRADE_STORE", str(tmp_path / "store"))
    code, _, err = run_cli(*shlex.split(step["command"])[1:])
    assert code == 0, err
    model = next(s for s in m["steps"] if s["name"] == "t1c4")
    words = shlex.split(model["command"])
    words[words.index("--save") + 1] = str(tmp_path / "again.json")
    code, _, err = run_cli(*words[1:])
    assert code == 0, err
    again = json.loads((tmp_path / "again.json").read_text())
    assert again["coefficients"] == saved["coefficients"] and again["nobs"] == saved["nobs"]
    # Downloaded once: the check re-runs from the verified copy without a request.
    code, stdout, err = run_cli("run", YOTOV, "--check", out / "manifest.json")
    assert code == 0, err
    assert "verified earlier" in stdout
    assert f"no drift: {len(numbers(m))} numbers checked" in stdout
    assert publisher.paths() == [raw]


def _conversions_folder(tmp_path: Path) -> Path:
    """A data folder holding only the long conversions of the JSON matrices."""
    folder = tmp_path / "mine"
    folder.mkdir()
    for name, _ in CONVERSIONS.values():
        source = next(SHARED.rglob(name), None)
        if source is None:
            pytest.skip(f"../shared/data has no {name}")
        (folder / name).symlink_to(source)
    return folder


def _on_conversions(tmp_path: Path) -> Path:
    """A copy of the trade-migration recipe whose migrant stocks and flows are the long
    conversions in ../shared/data (``file`` + their own sha256, read as tables), every other
    line as shipped. The shipped entries name the JSON matrices by address and source."""
    text = TRADE_MIGRATION.read_text()
    for name, (file, sha256) in CONVERSIONS.items():
        head = f'[[datasets]]\nname = "{name}"\n'
        start = text.index(head)
        end = text.index("\n\n", start)
        shipped = tomllib.loads(text[start:end])["datasets"][0]
        assert shipped["source"] in ("undesa", "abel-cohen") and "url" in shipped
        text = text[:start] + head + f'file = "{file}"\nsha256 = "{sha256}"' + text[end:]
    copy = tmp_path / TRADE_MIGRATION.name
    copy.write_text(text)
    return copy


@pytest.mark.parametrize("recipe", SHIPPED, ids=[r.stem for r in SHIPPED])
def test_every_shipped_recipe_names_every_file_by_address_and_sha256(recipe: Path) -> None:
    loaded = load_recipe(recipe)
    for d in loaded.recipe.datasets:
        assert d.urls and d.sha256, d.name
        assert all(u.startswith("https://") for u in d.urls)
        if d.name in CONVERSIONS or len(d.urls) > 1:
            # A second address is jsDelivr's copy of the same commit of the same repository.
            assert d.urls[0].startswith("https://raw.githubusercontent.com/")
            owner, repo, commit, rest = d.urls[0].split("/", 6)[3:]
            assert len(commit) == 40
            assert d.urls[1] == f"https://cdn.jsdelivr.net/gh/{owner}/{repo}@{commit}/{rest}"


@pytest.mark.parametrize("recipe", SHIPPED, ids=[r.stem for r in SHIPPED])
def test_every_shipped_recipe_obtains_its_files_from_the_publishers(
        publisher: Publisher, tmp_path: Path, recipe: Path) -> None:
    from migtrade.recipes.acquire import acquire
    from migtrade.sources.http import HttpSettings

    if recipe == TRADE_MIGRATION:
        recipe = _on_conversions(tmp_path)
    loaded = load_recipe(recipe)
    located = acquire(loaded, folders=(_conversions_folder(tmp_path),),
                      settings=HttpSettings.from_env(quiet=True))
    assert set(located) == {d.name for d in loaded.recipe.datasets if d.source is None or d.urls}
    converted = {file for file, _ in CONVERSIONS.values()}
    for d in loaded.recipe.datasets:
        verified = located[d.name].verified
        assert verified is not None and verified.sha256 == d.sha256
        if d.urls:
            assert verified.origin == "downloaded" and verified.url == d.urls[0]
            assert _sha(verified.path.read_bytes()) == d.sha256
        else:
            assert verified.origin == "local copy" and Path(verified.found_at).name in converted
    assert len(publisher.log) == len({d.sha256 for d in loaded.recipe.datasets if d.urls})


@pytest.mark.slow
def test_trade_migration_recipe_downloads_and_matches_the_data_folder_run(
        publisher: Publisher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """About 30 s on an idle machine: the recipe twice, from downloads and then from the copies
    in ../shared/data with --check; both on the long conversions of the migration data."""
    folder = _conversions_folder(tmp_path)
    recipe = _on_conversions(tmp_path)
    out = tmp_path / "downloaded"
    code, stdout, err = run_cli("run", recipe, "--out", out, "--data-dir", folder)
    assert code == 0, err + stdout
    for name in ("agtpa", "wdi_gdp", "wdi_pop"):
        line = stdout.split(f"dataset {name}: ")[1].splitlines()[0]
        assert f"downloaded from {publisher.root}" in line
    assert "dataset undesa_stock: 75,600 rows, sha256 749bc32646da, local copy" in stdout
    assert len(publisher.log) == 3
    # The same recipe on ../shared/data alone (gzip copies of the World Bank files): same numbers.
    monkeypatch.setenv("MIGTRADE_DATA_DIR", str(SHARED))
    monkeypatch.setenv("MIGTRADE_CACHE", str(tmp_path / "other-cache"))
    code, stdout, err = run_cli("run", recipe, "--check", out / "manifest.json")
    assert code == 0, err + stdout
    assert "local copy " + str((SHARED / "wdi_covariates" / "gdp_current_usd.csv.gz").resolve()) in stdout
    assert "no drift" in stdout and "note:" not in stdout
    assert len(publisher.log) == 3


def test_a_mirror_that_is_down_gives_way_to_the_next(httpserver: HTTPServer, publisher: Publisher,
                                                     tmp_path: Path) -> None:
    raw, cdn = _raw_path(YOTOV, "agtpa", 0), _raw_path(YOTOV, "agtpa", 1)
    publisher.down.add(raw)
    code, stdout, err = run_cli("run", YOTOV, "--out", tmp_path / "out")
    assert code == 0, err
    assert f"downloaded from {httpserver.url_for(cdn)}" in stdout
    assert publisher.paths() == [raw, raw, raw, cdn]  # three attempts at the first, then the mirror


def test_a_cut_download_is_resumed_with_a_range_request(publisher: Publisher, tmp_path: Path) -> None:
    raw = _raw_path(YOTOV, "agtpa")
    publisher.cut[raw] = 1_000_000
    code, stdout, err = run_cli("run", YOTOV, "--out", tmp_path / "out")
    assert code == 0, err
    assert publisher.log == [(raw, None), (raw, "bytes=1000000-")]
    assert "expectations: 21 of 21 met" in stdout


def test_wrong_bytes_at_the_address_exit_3_naming_both_hashes(publisher: Publisher, tmp_path: Path) -> None:
    if not CH1APP1.is_file():
        pytest.skip("../shared/data has no Chapter1Application1.dta")
    other = CH1APP1.read_bytes()
    for index in (0, 1):
        publisher.serve("http://x" + _raw_path(YOTOV, "agtpa", index), other)
    out = tmp_path / "out"
    code, stdout, err = run_cli("run", YOTOV, "--out", out)
    assert code == 3 and stdout == "" and err.count("\n") == 1
    assert f"served a file with sha256 {_sha(other)}, not the expected " \
           "60ead74eb51db9c4d0406a4b7668e97cbedbeaccf324beba362123f7ae547547" in err
    assert "check both with the publisher" in err
    assert not out.exists()
    assert not list((tmp_path / "cache").rglob("*.bin"))  # the wrong bytes were not kept


# --- nothing at hand -----------------------------------------------------------------------

def test_fresh_clone_without_network_or_copies_fails_before_any_work(
        env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIGTRADE_FILE_URL", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("MIGTRADE_HTTP_ATTEMPTS", "1")
    out = tmp_path / "out"
    code, stdout, err = run_cli("run", TRADE_MIGRATION, "--out", out)
    assert code == 3 and stdout == "" and err.count("\n") == 1
    assert "cannot obtain 5 of 5 datasets: agtpa (Chapter2Application2.dta: http://127.0.0.1:" in err
    assert _raw_path(TRADE_MIGRATION, "agtpa") in err and "connection refused" in err
    assert "wdi_gdp (gdp.csv: " in err and "wdi_pop (population.csv: " in err
    # Every file has an address: with the network, a fresh clone runs as shipped.
    assert "undesa_stock (stock.json: http://127.0.0.1:" in err
    assert _raw_path(TRADE_MIGRATION, "undesa_stock") in err
    assert "abel_cohen_flows (flow_da_pb_closed.json: http://127.0.0.1:" in err
    assert "no address to download it from" not in err
    assert "--data-dir FOLDER (or set MIGTRADE_DATA_DIR)" in err
    assert not out.exists()


def test_offline_run_with_an_empty_cache_names_the_dataset(env: Path, tmp_path: Path) -> None:
    code, _, err = run_cli("run", YOTOV, "--offline", "--out", tmp_path / "out")
    assert code == 3
    assert "agtpa (Chapter2Application2.dta: offline, and https://raw.githubusercontent.com/" in err


# --- local copies ---------------------------------------------------------------------------

def _copy_dir(tmp_path: Path) -> Path:
    """A data folder holding the book's file two levels down, as a user might keep it."""
    if not CH2APP2.is_file():
        pytest.skip("../shared/data has no Chapter2Application2.dta")
    folder = tmp_path / "data"
    (folder / "books" / "yotov").mkdir(parents=True)
    shutil.copyfile(CH2APP2, folder / "books" / "yotov" / CH2APP2.name)
    return folder


@pytest.mark.parametrize("how", ["option", "environment"])
def test_data_dir_finds_a_copy_by_file_name_in_a_subfolder(
        env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    folder = _copy_dir(tmp_path)
    monkeypatch.setenv("MIGTRADE_FILE_URL", f"http://127.0.0.1:{_closed_port()}")  # no network
    args: list[object] = ["run", YOTOV, "--out", tmp_path / "out"]
    if how == "option":
        args += ["--data-dir", tmp_path / "empty", "--data-dir", folder]
    else:
        monkeypatch.setenv("MIGTRADE_DATA_DIR", os.pathsep.join([str(tmp_path / "empty"), str(folder)]))
    code, stdout, err = run_cli(*args)
    assert code == 0, err
    assert f"local copy {folder / 'books' / 'yotov' / CH2APP2.name}" in stdout
    assert "expectations: 21 of 21 met" in stdout


def test_a_local_copy_with_another_hash_is_refused(env: Path, tmp_path: Path) -> None:
    folder = _copy_dir(tmp_path)
    copy = folder / "books" / "yotov" / CH2APP2.name
    data = bytearray(copy.read_bytes())
    data[-1] ^= 1  # one bit of one value
    copy.write_bytes(bytes(data))
    code, stdout, err = run_cli("run", YOTOV, "--data-dir", folder, "--out", tmp_path / "out")
    assert code == 3 and stdout == ""
    assert f"local copy {copy} has sha256 {_sha(bytes(data))}, not the expected 60ead74eb51d" in err


# --- a recipe of one's own: url + sha256 + member, and the schema's rules -----------------

OWN = """\
[recipe]
name = "own"

[[datasets]]
name = "book"
url = {url}
sha256 = "{sha256}"
{extra}

[[models]]
name = "rta"
data = "book"
formula = "trade ~ RTA | exporter^year + importer^year + pair_id"
where = "year in (1986, 1990, 1994, 1998, 2002, 2006)"
vcov = "cluster:pair_id"
expect = {{ RTA = 0.557 }}
expect_se = {{ RTA = 0.102 }}
expect_nobs = 28482
"""


def _own(tmp_path: Path, url: object, sha256: str, extra: str = "") -> Path:
    recipe = tmp_path / "own.toml"
    recipe.write_text(OWN.format(url=json.dumps(url), sha256=sha256, extra=extra))
    return recipe


def test_a_zip_member_is_read_after_the_archive_is_verified(
        httpserver: HTTPServer, env: Path, tmp_path: Path) -> None:
    """The archive is made here around the real file; its hash is the archive's."""
    import zipfile

    if not CH2APP2.is_file():
        pytest.skip("../shared/data has no Chapter2Application2.dta")
    archive = tmp_path / "book.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.write(CH2APP2, "Datasets/Chapter2Application2.dta")
        zf.writestr("readme.txt", "the book's application files")
    body = archive.read_bytes()
    httpserver.expect_request("/files/book.zip").respond_with_data(body, content_type="application/zip")
    url = httpserver.url_for("/files/book.zip")
    recipe = _own(tmp_path, url, _sha(body), 'member = "Datasets/Chapter2Application2.dta"')
    code, stdout, err = run_cli("run", recipe, "--out", tmp_path / "out")
    assert code == 0, err
    assert "expectations: 3 of 3 met" in stdout
    m = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert m["datasets"]["book"]["member"] == "Datasets/Chapter2Application2.dta"
    assert m["datasets"]["book"]["sha256"] == _sha(body)
    recipe.write_text(recipe.read_text().replace("Datasets/Chapter2Application2.dta", "nothere.dta"))
    code, _, err = run_cli("run", recipe, "--out", tmp_path / "again")
    assert code == 2 and "archive book.zip has no member 'nothere.dta'" in err
    assert "Datasets/Chapter2Application2.dta, readme.txt" in err


@pytest.mark.parametrize(("old", "new", "message"), [
    ('sha256 = "', 'sha256x = "', "own.toml: datasets[0].sha256x: unknown key"),
    ("sha256 = ", "# sha256 = ", "datasets[0].sha256: missing: a file named by its address needs"),
    ('sha256 = "6', 'sha256 = "z', "datasets[0].sha256: 'z0ead7"),
    ("url = ", 'url = "ftp://host/x.dta"\n# ', "datasets[0].url: 'ftp://host/x.dta' is not an http(s)"),
    ("url = ", "url = []\n# ", "datasets[0].url: names no address"),
    ("url = ", 'source = "file"\nurl = ', "datasets[0]: 'source' does not go with 'url' or 'file'"),
    ('[[models]]', 'rename = { DIST = "d", CNTG = "d" }\n[[models]]', "'d' is the new name of two columns"),
])
def test_url_datasets_are_checked_before_anything_runs(tmp_path: Path, old: str, new: str,
                                                       message: str) -> None:
    from migtrade.recipes.validate import RecipeError

    recipe = _own(tmp_path, "https://example.org/data/Chapter2Application2.dta",
                  "60ead74eb51db9c4d0406a4b7668e97cbedbeaccf324beba362123f7ae547547")
    text = recipe.read_text()
    assert old in text
    recipe.write_text(text.replace(old, new, 1))
    with pytest.raises(RecipeError) as info:
        load_recipe(recipe)
    assert message in info.value.one_line()


def test_a_renamed_dataset_is_not_a_panel_input(tmp_path: Path) -> None:
    from migtrade.recipes.validate import RecipeError

    recipe = _own(tmp_path, "https://example.org/Chapter2Application2.dta",
                  "60ead74eb51db9c4d0406a4b7668e97cbedbeaccf324beba362123f7ae547547",
                  'rename = { DIST = "dist" }\n\n[[panels]]\nname = "p"\ntrade = "book"')
    with pytest.raises(RecipeError, match=r"panels\[0\].trade: dataset 'book' renames columns"):
        load_recipe(recipe)


def test_a_missing_local_file_is_reported_when_the_run_starts(env: Path, tmp_path: Path) -> None:
    recipe = tmp_path / "r.toml"
    recipe.write_text('[recipe]\nname = "r"\n\n[[datasets]]\nname = "p"\nfile = "nowhere.csv"\n')
    load_recipe(recipe)  # valid: the file may be in a data folder given when it runs
    code, stdout, err = run_cli("run", recipe, "--out", tmp_path / "out")
    assert code == 3 and stdout == ""
    assert "r.toml: cannot obtain 1 of 1 dataset: p (nowhere.csv: not beside the recipe (" in err
    assert "--data-dir" in err and not (tmp_path / "out").exists()


# --- migtrade fetch file --url / the named publishers --------------------------------------

def test_fetch_file_by_address_stores_the_verified_file_with_its_origin(
        publisher: Publisher, tmp_path: Path) -> None:
    url = "https://raw.githubusercontent.com" + _raw_path(YOTOV, "agtpa")
    store = tmp_path / "store"
    code, stdout, err = run_cli("fetch", "file", "--url", url, "--sha256",
                                "60ead74eb51db9c4d0406a4b7668e97cbedbeaccf324beba362123f7ae547547",
                                "--map", "dist=DIST", "--store", store, "--format", "json")
    assert code == 0, err
    written = json.loads(stdout)[0]
    assert written["name"] == "chapter2application2" and written["rows"] == 99_981
    assert "dist" in written["columns"] and "DIST" not in written["columns"]
    prov = written["provenance"]
    assert prov["location"] == url
    assert prov["options"]["obtained"].startswith(f"downloaded from {publisher.root}")
    code, _, err = run_cli("fetch", "file", "--url", url, "--sha256", "0" * 64, "--store", store)
    assert code == 3 and "not the expected 0000" in err
    code, _, err = run_cli("fetch", "file", "--url", url, "--store", store)
    assert code == 2 and "needs its --sha256" in err


def test_fetch_yotov2016_reads_the_books_file_with_the_books_names(
        httpserver: HTTPServer, publisher: Publisher, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from migtrade.store.catalog import Store

    monkeypatch.delenv("MIGTRADE_FILE_URL")
    mirror = httpserver.url_for("/pachadotdev/tradepolicy/342a6553e67f53912212a35674e066f9344dd655/"
                                "00-application-files")
    store = tmp_path / "store"
    code, stdout, err = run_cli("fetch", "yotov2016", "--base-url", mirror, "--store", store)
    assert code == 0, err
    assert stdout.startswith("yotov2016: 99,981 rows, sha256 60ead74eb51d (yotov2016: https://raw.")
    frame = Store(store).read("yotov2016")
    assert {"dist", "cntg", "lang", "clny", "rta", "pair_id"} <= set(frame.columns)
    assert frame["year"].dtype.kind == "i" and frame["pair_id"].dtype.kind == "i"
    code, stdout, err = run_cli(
        "estimate", "trade ~ log(dist) + cntg + lang + clny | exporter^year + importer^year",
        "--data", "yotov2016", "--store", store, "--vcov", "cluster:pair_id", "--format", "json",
        "--where", "exporter != importer and year in (1986, 1990, 1994, 1998, 2002, 2006)")
    assert code == 0, err
    result = json.loads(stdout)
    # Table 1, column (4) of the book, printed to three decimals: half a unit in the last place.
    assert result["nobs"] == 28_152
    assert abs(result["coefficients"]["log(dist)"]["estimate"] + 0.841) <= 0.0005
    assert abs(result["coefficients"]["log(dist)"]["std_error"] - 0.032) <= 0.0005


def test_fetch_publisher_from_a_data_folder_and_unknown_table(env: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    if not (SHARED / "ppml_fe_bias_example" / "PPMLFEBIAS_EXAMPLE_DATA.dta").is_file():
        pytest.skip("../shared/data has no ppml_fe_bias example")
    code, stdout, err = run_cli("fetch", "ppml-fe-bias", "--data-dir", SHARED, "--store", store,
                                "--offline")
    assert code == 0, err
    assert stdout.startswith("ppml_fe_bias_example: 62,400 rows, sha256 5be70f792c03")
    code, _, err = run_cli("fetch", "yotov2016", "--table", "Chapter9", "--store", store)
    assert code == 2 and "no table 'Chapter9'. Choose one of: Chapter2Application2," in err


# --- migtrade recipe init --------------------------------------------------------------------

def test_recipe_init_writes_a_valid_recipe_that_runs(env: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, stdout, err = run_cli("recipe", "init", "my-analysis")
    assert code == 0, err
    text = (tmp_path / "my-analysis.toml").read_text()
    assert text.startswith("# my-analysis: ") and "migtrade run --schema" in text
    loaded = load_recipe(tmp_path / "my-analysis.toml")
    assert loaded.recipe.recipe.name == "my-analysis"
    assert loaded.recipe.datasets[0].sha256 == \
        "60ead74eb51db9c4d0406a4b7668e97cbedbeaccf324beba362123f7ae547547"
    code, _, err = run_cli("recipe", "init", "my-analysis")
    assert code == 2 and "exists" in err and "--force" in err
    code, _, err = run_cli("recipe", "init", "My Analysis")
    assert code == 2 and "invalid recipe name 'My Analysis'" in err
    if not CH2APP2.is_file():
        pytest.skip("../shared/data has no Chapter2Application2.dta")
    code, stdout, err = run_cli("run", "my-analysis.toml", "--data-dir", SHARED)
    assert code == 0, err
    assert "expectations: 5 of 5 met" in stdout
    assert (tmp_path / "migtrade-out" / "my-analysis" / "gravity.md").is_file()


# --- a source reading a published file: the JSON matrices of the migrant stocks and flows ---

MATRICES = """\
[recipe]
name = "matrices"

[[datasets]]
name = "stocks"
source = "undesa"
url = ["{stock}", "{stock_mirror}"]
sha256 = "{stock_sha}"

[[datasets]]
name = "flows"
source = "abel-cohen"
url = "{flow}"
sha256 = "{flow_sha}"
options = {{ years = "1990:1990" }}
"""


def _matrices(httpserver: HTTPServer, tmp_path: Path, stock_sha: str | None = None) -> Path:
    stock = (MATRIX_FIXTURES / "stock.json").read_bytes()
    flow = (MATRIX_FIXTURES / "flow_da_pb_closed.json").read_bytes()
    httpserver.expect_request("/v/json/stock.json").respond_with_data(stock)
    httpserver.expect_request("/v/json/flow_da_pb_closed.json").respond_with_data(flow)
    recipe = tmp_path / "matrices.toml"
    recipe.write_text(MATRICES.format(
        stock=httpserver.url_for("/v/json/stock.json"),
        stock_mirror=httpserver.url_for("/mirror/json/stock.json"),
        stock_sha=stock_sha or _sha(stock), flow=httpserver.url_for("/v/json/flow_da_pb_closed.json"),
        flow_sha=_sha(flow)))
    return recipe


def test_a_source_reads_the_published_file_it_is_given_by_address(
        httpserver: HTTPServer, env: Path, tmp_path: Path) -> None:
    recipe = _matrices(httpserver, tmp_path)
    out = tmp_path / "out"
    code, stdout, err = run_cli("run", recipe, "--out", out)
    assert code == 0, err + stdout
    # 16 country pairs with a stock in 1990 and 2020, regions set apart; 5 flows in 1990-95.
    assert "dataset stocks: 16 rows from undesa, sha256 " in stdout
    assert "dataset flows: 5 rows from abel-cohen, sha256 " in stdout
    assert stdout.count("downloaded from http://localhost:") == 2
    m = json.loads((out / "manifest.json").read_text())
    stocks = m["datasets"]["stocks"]
    assert stocks["kind"] == "url" and stocks["source"] == "undesa" and stocks["rows"] == 16
    assert stocks["location"].endswith("/v/json/stock.json")
    assert stocks["mirrors"][0].endswith("/mirror/json/stock.json")
    assert stocks["sha256"] == _sha((MATRIX_FIXTURES / "stock.json").read_bytes())
    commands = [shlex.split(s["command"]) for s in m["steps"] if s["kind"] == "dataset"]
    assert commands[0][:5] == ["migtrade", "fetch", "undesa", "--name", "stocks"]
    assert commands[1][commands[1].index("--file") + 1].endswith("flow_da_pb_closed.json")
    assert commands[1][commands[1].index("--years") + 1] == "1990:1990"


def test_a_source_refuses_a_published_file_with_another_hash(
        httpserver: HTTPServer, env: Path, tmp_path: Path) -> None:
    recipe = _matrices(httpserver, tmp_path, stock_sha="0" * 64)
    code, stdout, err = run_cli("run", recipe, "--out", tmp_path / "out")
    assert code == 3 and stdout == "" and err.count("\n") == 1
    assert "stocks (stock.json: " in err and "served a file with sha256 " in err
    assert "not the expected 0000" in err


@pytest.mark.parametrize(("old", "new", "message"), [
    ('source = "undesa"', 'source = "worldbank"', "datasets[0]: 'source' does not go with 'url'"),
    ('options = {', 'options = { file = "x.json", ', "datasets[1].options.file: source "
                                                    "'abel-cohen' does not take this option"),
    ('source = "undesa"', 'source = "undesa"\nrename = { a = "b" }', "datasets[0].rename: does "
                                                                       "not apply to a 'source'"),
    ('sha256 = "', '# sha256 = "', "datasets[0].sha256: missing: a file named by its address"),
])
def test_a_source_with_an_address_is_checked_before_anything_runs(
        httpserver: HTTPServer, env: Path, tmp_path: Path, old: str, new: str, message: str) -> None:
    from migtrade.recipes.validate import RecipeError

    recipe = _matrices(httpserver, tmp_path)
    text = recipe.read_text()
    assert old in text
    recipe.write_text(text.replace(old, new, 1))
    with pytest.raises(RecipeError) as info:
        load_recipe(recipe)
    assert message in info.value.one_line()
