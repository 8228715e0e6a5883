"""The HTTP door against a real server on 127.0.0.1: retries, timeouts, resume, cache, refusals."""

from __future__ import annotations

import json
import socket
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from migtrade.errors import SourceError
from migtrade.sources.http import (
    HttpClient,
    HttpSettings,
    HttpStatusError,
    default_cache_dir,
    retry_after_seconds,
)

BODY = json.dumps([{"page": 1, "pages": 1, "per_page": 50, "total": 0}, []]).encode()


@pytest.fixture
def settings(tmp_path: Path) -> HttpSettings:
    """Short timeouts, few retries, no real waiting: each test stays well under a second."""
    return HttpSettings(connect_timeout=1.0, read_timeout=1.0, attempts=3, backoff=0.01, max_wait=0.05,
                        cache_dir=tmp_path / "cache", quiet=True)


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def test_download_is_cached_and_offline_reads_the_cache(httpserver: HTTPServer, settings: HttpSettings) -> None:
    httpserver.expect_request("/data.json").respond_with_data(BODY, content_type="application/json")
    url = httpserver.url_for("/data.json")
    with HttpClient(settings) as client:
        first = client.fetch(url, source="worldbank", expect=("json",))
    assert first.read_bytes() == BODY and not first.from_cache
    with HttpClient(HttpSettings(**{**settings.__dict__, "offline": True})) as client:
        again = client.fetch(url, source="worldbank")
    assert again.from_cache and again.sha256 == first.sha256 and again.retrieved_at == first.retrieved_at
    assert len(httpserver.log) == 1


def test_offline_miss_names_the_source_and_the_file_alternative(httpserver: HTTPServer, settings: HttpSettings) -> None:
    offline = HttpSettings(**{**settings.__dict__, "offline": True})
    with HttpClient(offline) as client, pytest.raises(SourceError) as err:
        client.fetch(httpserver.url_for("/never"), source="undesa")
    line = err.value.one_line()
    assert line.startswith("undesa: offline") and "--file" in line
    assert len(httpserver.log) == 0


def test_refresh_downloads_again(httpserver: HTTPServer, settings: HttpSettings) -> None:
    httpserver.expect_ordered_request("/v").respond_with_data(b"one", content_type="text/plain")
    httpserver.expect_ordered_request("/v").respond_with_data(b"two", content_type="text/plain")
    url = httpserver.url_for("/v")
    with HttpClient(settings) as client:
        assert client.fetch(url, source="cepii").read_bytes() == b"one"
        assert client.fetch(url, source="cepii").read_bytes() == b"one"  # cached
    with HttpClient(HttpSettings(**{**settings.__dict__, "refresh": True})) as client:
        assert client.fetch(url, source="cepii").read_bytes() == b"two"


def test_503_then_success_is_retried(httpserver: HTTPServer, settings: HttpSettings) -> None:
    httpserver.expect_ordered_request("/flaky").respond_with_data("busy", status=503)
    httpserver.expect_ordered_request("/flaky").respond_with_data(BODY, content_type="application/json")
    sleeps = Sleeps()
    with HttpClient(settings, sleep=sleeps) as client:
        payload = client.fetch(httpserver.url_for("/flaky"), source="worldbank", expect=("json",))
    assert payload.read_bytes() == BODY
    assert sleeps == [pytest.approx(0.01)]


def test_429_waits_as_long_as_retry_after_says_up_to_the_cap(httpserver: HTTPServer, settings: HttpSettings) -> None:
    httpserver.expect_ordered_request("/slow").respond_with_data("", status=429, headers={"Retry-After": "0.03"})
    httpserver.expect_ordered_request("/slow").respond_with_data("", status=429, headers={"Retry-After": "3600"})
    httpserver.expect_ordered_request("/slow").respond_with_data(b"ok", content_type="text/plain")
    sleeps = Sleeps()
    with HttpClient(settings, sleep=sleeps) as client:
        assert client.fetch(httpserver.url_for("/slow"), source="worldbank").read_bytes() == b"ok"
    assert sleeps == [pytest.approx(0.03), pytest.approx(0.05)]


def test_persistent_5xx_gives_up_after_the_attempts(httpserver: HTTPServer, settings: HttpSettings) -> None:
    httpserver.expect_request("/down").respond_with_data("oops", status=502)
    with HttpClient(settings, sleep=Sleeps()) as client, pytest.raises(SourceError) as err:
        client.fetch(httpserver.url_for("/down"), source="cepii")
    assert len(httpserver.log) == 3
    assert "HTTP 502" in err.value.one_line() and "MIGTRADE_CEPII_URL" in err.value.one_line()


def test_404_is_not_retried(httpserver: HTTPServer, settings: HttpSettings) -> None:
    httpserver.expect_request("/missing").respond_with_data("not here", status=404)
    with HttpClient(settings, sleep=Sleeps()) as client, pytest.raises(HttpStatusError) as err:
        client.fetch(httpserver.url_for("/missing"), source="undesa")
    assert err.value.status == 404 and err.value.body == b"not here"
    assert len(httpserver.log) == 1
    assert "HTTP 404" in err.value.one_line() and "--file" in err.value.one_line()


def test_a_server_slower_than_the_timeout_is_a_source_error(httpserver: HTTPServer, tmp_path: Path) -> None:
    def slow(request: Request) -> Response:
        time.sleep(0.4)
        return Response(b"late")

    httpserver.expect_request("/sleepy").respond_with_handler(slow)
    quick = HttpSettings(connect_timeout=0.1, read_timeout=0.1, attempts=2, backoff=0.0,
                         cache_dir=tmp_path, quiet=True)
    started = time.monotonic()
    with HttpClient(quick) as client, pytest.raises(SourceError) as err:
        client.fetch(httpserver.url_for("/sleepy"), source="worldbank")
    assert time.monotonic() - started < 2.0
    assert "did not answer within 0.1 s (2 attempts)" in err.value.one_line()


def test_connection_refused_message_is_one_actionable_line(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = HttpSettings(attempts=2, backoff=0.0, cache_dir=tmp_path, quiet=True)
    with HttpClient(settings) as client, pytest.raises(SourceError) as err:
        client.fetch(f"http://127.0.0.1:{port}/v2/x", source="worldbank")
    assert err.value.one_line() == (
        f"worldbank: cannot reach 127.0.0.1:{port} (connection refused; 2 attempts). Check the network, "
        "set MIGTRADE_WORLDBANK_URL to a mirror, or pass --file with a downloaded copy.")


def _truncated(body: bytes, claimed: int) -> Response:
    response = Response(body, content_type="application/zip")
    response.headers["Content-Length"] = str(claimed)
    response.automatically_set_content_length = False
    return response


def test_a_truncated_body_is_an_error_not_data(httpserver: HTTPServer, settings: HttpSettings) -> None:
    httpserver.expect_request("/cut.zip").respond_with_handler(lambda r: _truncated(b"x" * 100, 1000))
    with HttpClient(settings, sleep=Sleeps()) as client, pytest.raises(SourceError) as err:
        client.fetch(httpserver.url_for("/cut.zip"), source="cepii", expect=("zip",))
    assert "cut short" in err.value.one_line()
    assert not list((settings.cache_dir or Path()).glob("*.bin"))


def test_a_cut_download_resumes_with_a_range_request(httpserver: HTTPServer, settings: HttpSettings) -> None:
    full = bytes(range(256)) * 40
    seen: list[str | None] = []

    def serve(request: Request) -> Response:
        seen.append(request.headers.get("Range"))
        if request.headers.get("Range") == "bytes=1000-":
            part = Response(full[1000:], status=206, content_type="application/zip")
            part.headers["Content-Range"] = f"bytes 1000-{len(full) - 1}/{len(full)}"
            return part
        return _truncated(full[:1000], len(full))

    httpserver.expect_request("/big.zip").respond_with_handler(serve)
    with HttpClient(settings, sleep=Sleeps()) as client:
        payload = client.fetch(httpserver.url_for("/big.zip"), source="cepii", expect=("zip",))
    assert payload.read_bytes() == full
    assert seen == [None, "bytes=1000-"]


def test_an_html_page_in_place_of_json_is_refused(httpserver: HTTPServer, settings: HttpSettings) -> None:
    httpserver.expect_request("/api").respond_with_data("<html><body>Service unavailable</body></html>",
                                                        content_type="text/html; charset=utf-8")
    with HttpClient(settings) as client, pytest.raises(SourceError) as err:
        client.fetch(httpserver.url_for("/api"), source="worldbank", expect=("json",))
    assert "returned an HTML page, not the expected json" in err.value.one_line()


def test_an_html_body_behind_a_generic_type_is_refused(httpserver: HTTPServer, settings: HttpSettings) -> None:
    httpserver.expect_request("/f.zip").respond_with_data(b"<!DOCTYPE html><html>login</html>",
                                                          content_type="application/octet-stream")
    with HttpClient(settings) as client, pytest.raises(SourceError, match="HTML page"):
        client.fetch(httpserver.url_for("/f.zip"), source="cepii", expect=("zip",))


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    now = datetime(2024, 1, 1, tzinfo=UTC)
    assert retry_after_seconds("7", now) == 7.0
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30.0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None


def test_cache_folder_follows_migtrade_cache(tmp_path: Path) -> None:
    assert default_cache_dir({"MIGTRADE_CACHE": str(tmp_path)}) == tmp_path / "http"
    settings = HttpSettings.from_env({"MIGTRADE_CACHE": str(tmp_path), "MIGTRADE_HTTP_TIMEOUT": "0.5",
                                      "MIGTRADE_HTTP_ATTEMPTS": "2"})
    assert (settings.read_timeout, settings.connect_timeout, settings.attempts) == (0.5, 0.5, 2)
    assert settings.cache_dir == tmp_path / "http"


def test_offline_and_refresh_together_are_refused() -> None:
    with pytest.raises(SourceError, match="contradict"):
        HttpSettings(offline=True, refresh=True)
