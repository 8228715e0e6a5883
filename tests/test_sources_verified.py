"""Files named by address and sha256 (``migtrade.sources.verified``), piece by piece.

Small byte strings stand for files here: what is tested is where a file is looked for, which copy
is taken, and that only bytes with the stated hash are ever handed on.
"""

from __future__ import annotations

import gzip
import hashlib
import socket
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from migtrade.errors import SourceError, UsageError
from migtrade.sources.http import HttpClient, HttpSettings
from migtrade.sources.verified import (
    RemoteFile,
    data_dirs,
    mirror_addresses,
    obtain,
    url_file_name,
)

BODY = b"exporter,importer,year,trade\nMEX,USA,1994,1.5\n"
SHA = hashlib.sha256(BODY).hexdigest()


@pytest.fixture
def client(tmp_path: Path) -> HttpClient:
    settings = HttpSettings(connect_timeout=1.0, read_timeout=1.0, attempts=2, backoff=0.0,
                            cache_dir=tmp_path / "cache", quiet=True)
    return HttpClient(settings)


def _nowhere() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/files/trade.csv"


def test_a_mirror_root_keeps_each_path_and_query() -> None:
    urls = ("https://a.org/x/trade.csv?v=2", "https://b.org/gh/x@1/trade.csv")
    assert mirror_addresses(urls, environ={}) == urls
    assert mirror_addresses(urls, "http://127.0.0.1:5000/m/", environ={}) == (
        "http://127.0.0.1:5000/m/x/trade.csv?v=2", "http://127.0.0.1:5000/m/gh/x@1/trade.csv")
    assert mirror_addresses(urls[:1], environ={"MIGTRADE_FILE_URL": "http://h"}) == (
        "http://h/x/trade.csv?v=2",)
    with pytest.raises(UsageError, match="not an http"):
        mirror_addresses(urls, "ftp://h", environ={})


def test_data_folders_come_from_the_option_then_the_environment(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    env = {"MIGTRADE_DATA_DIR": f"{b}:{a}:"}
    assert data_dirs([a], env) == (a, b)
    assert data_dirs([], {}) == ()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"urls": ("https://h/f.csv",), "sha256": "abc"}, "is not a sha256"),
    ({"urls": ("file:///etc/passwd",), "sha256": SHA}, "is not an http(s) address"),
    ({"urls": (), "sha256": SHA}, "needs an address or a local copy"),
    ({"urls": ("https://h/",), "sha256": SHA}, "cannot tell a file name"),
    ({"urls": ("https://h/f.zip",), "sha256": SHA, "member": "dir/"}, "does not name a member"),
])
def test_a_remote_file_checks_itself(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        RemoteFile(**kwargs)  # type: ignore[arg-type]


def test_names_are_decoded_and_hashes_lower_cased() -> None:
    assert url_file_name("https://h/Data/Log%20of%20Gravity.dta") == "Log of Gravity.dta"
    assert RemoteFile(("https://h/a.csv",), SHA.upper()).sha256 == SHA


def test_a_copy_in_a_data_subfolder_is_used_without_a_request(tmp_path: Path, client: HttpClient) -> None:
    (tmp_path / "data" / "deep").mkdir(parents=True)
    (tmp_path / "data" / "deep" / "trade.csv").write_bytes(BODY)
    found = obtain(RemoteFile((_nowhere(),), SHA), client, folders=(tmp_path / "data",))
    assert found.origin == "local copy" and found.path == tmp_path / "data" / "deep" / "trade.csv"


def test_a_local_copy_under_another_name_and_gzipped_counts_by_its_content(
        tmp_path: Path, client: HttpClient) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "trade_copy.csv.gz").write_bytes(gzip.compress(BODY))
    remote = RemoteFile((_nowhere(),), SHA, local="trade_copy.csv.gz")
    found = obtain(remote, client, folders=(tmp_path / "data",))
    # Kept decompressed under the published name, so readers tell the format as the publisher's.
    assert found.path.name == "trade.csv" and found.path.read_bytes() == BODY
    assert found.found_at == str(tmp_path / "data" / "trade_copy.csv.gz")


def test_a_download_is_verified_kept_and_found_again_without_the_network(
        httpserver: HTTPServer, client: HttpClient) -> None:
    httpserver.expect_request("/files/trade.csv").respond_with_data(BODY)
    url = httpserver.url_for("/files/trade.csv")
    first = obtain(RemoteFile((url,), SHA), client)
    assert first.origin == "downloaded" and first.retrieved_at
    assert first.path.read_bytes() == BODY and first.path.parts[-3:-1] == ("verified", SHA)
    again = obtain(RemoteFile((_nowhere(),), SHA), client)
    assert again.origin == "verified earlier" and again.path == first.path
    assert len(httpserver.log) == 1


def test_a_cached_payload_of_another_version_is_fetched_again(
        httpserver: HTTPServer, client: HttpClient) -> None:
    new = BODY + b"CAN,USA,1994,2.5\n"
    httpserver.expect_ordered_request("/t.csv").respond_with_data(BODY)
    httpserver.expect_ordered_request("/t.csv").respond_with_data(new)
    url = httpserver.url_for("/t.csv")
    client.fetch(url, source="file")  # an earlier download, now in the cache
    found = obtain(RemoteFile((url,), hashlib.sha256(new).hexdigest()), client)
    assert found.path.read_bytes() == new


def test_a_tampered_verified_copy_is_not_trusted(httpserver: HTTPServer, client: HttpClient) -> None:
    httpserver.expect_request("/files/trade.csv").respond_with_data(BODY)
    url = httpserver.url_for("/files/trade.csv")
    first = obtain(RemoteFile((url,), SHA), client)
    first.path.unlink()
    first.path.write_bytes(b"changed")
    client.forget(url)
    again = obtain(RemoteFile((url,), SHA), client)
    assert again.origin == "downloaded" and again.path.read_bytes() == BODY


def test_every_address_failing_is_one_error_naming_each(client: HttpClient) -> None:
    a, b = _nowhere(), _nowhere().replace("trade.csv", "mirror/trade.csv")
    with pytest.raises(SourceError) as err:
        obtain(RemoteFile((a, b), SHA), client)
    line = err.value.one_line()
    assert line.startswith("cannot obtain trade.csv: ")
    assert a in line and b in line and line.count("connection refused") == 2
    assert "--data-dir" in line


def test_an_unreachable_host_is_not_tried_again_by_the_same_client(tmp_path: Path) -> None:
    """A run without network gives up on a host once, not once per file on it."""
    calls: list[float] = []
    settings = HttpSettings(attempts=3, backoff=0.5, cache_dir=tmp_path / "cache", quiet=True)
    base = _nowhere().rsplit("/", 2)[0]
    with HttpClient(settings, sleep=calls.append) as client:
        for name in ("a.csv", "b.csv"):
            with pytest.raises(SourceError, match="connection refused; 3 attempts"):
                client.fetch(f"{base}/{name}", source="file")
    assert calls == [0.5, 1.0]  # the waits of the first file only
