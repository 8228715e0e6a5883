"""The one module of migtrade that talks HTTP.

Every download goes through :class:`HttpClient`, which

* sets connect and read timeouts on every request (a silent server never hangs a run);
* retries a bounded number of times with exponential backoff on connection errors, timeouts,
  cut-short bodies, HTTP 429 (waiting as long as ``Retry-After`` says, up to a cap) and HTTP 5xx,
  and never on other 4xx answers, which another attempt would not change;
* streams the body to a ``.part`` file and, after a cut, asks for the rest with an HTTP ``Range``
  request instead of starting again (large files take minutes to download);
* refuses a body shorter than its ``Content-Length`` and a body whose type contradicts what the
  source expects (typically an HTML error or login page in place of JSON or a zip);
* keeps every complete raw payload in a cache keyed by URL, so that ``--offline`` can rebuild a
  dataset without the network and provenance can cite the exact bytes parsed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from migtrade.errors import SourceError
from migtrade.sources.cache import Payload, PayloadCache, default_cache_dir
from migtrade.sources.progress import progress_bar
from migtrade.sources.settings import HttpSettings, url_env_var
from migtrade.version import __version__

_GENERIC_TYPES = frozenset({
    "", "application/octet-stream", "binary/octet-stream", "application/download",
    "application/x-download", "application/force-download", "text/plain",
})
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_CHUNK = 1 << 16


class HttpStatusError(SourceError):
    """An HTTP error answer that retrying would not change (a 4xx other than 429)."""

    def __init__(self, message: str, hint: str | None, *, status: int, url: str, body: bytes) -> None:
        super().__init__(message, hint)
        self.status = status
        self.url = url
        self.body = body


class _Retry(Exception):
    """A failure worth another attempt; ``wait`` is the server's ``Retry-After`` if it gave one."""

    def __init__(self, kind: str, detail: str, wait: float | None = None) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.wait = wait


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds asked by a ``Retry-After`` header (delta-seconds or HTTP date); ``None`` if absent."""
    if not value:
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _network_reason(exc: Exception) -> str:
    text = str(exc).lower()
    if "refused" in text:
        return "connection refused"
    if any(s in text for s in ("name or service not known", "nodename nor servname", "name resolution", "getaddrinfo")):
        return "host name not found"
    first = str(exc).splitlines()[0].strip() if str(exc).strip() else type(exc).__name__
    return first


def _type_problem(content_type: str, expect: tuple[str, ...]) -> str | None:
    """Why a ``Content-Type`` contradicts what the source expects, or ``None`` if it does not."""
    if not expect:
        return None
    media = content_type.split(";", 1)[0].strip().lower()
    if any(e in media for e in expect):
        return None
    if media in _HTML_TYPES:
        return "an HTML page"
    if media in _GENERIC_TYPES:
        return None
    return f"content of type {media}"


def _looks_like_html(head: bytes) -> bool:
    start = head.lstrip()[:15].lower()
    return start.startswith((b"<!doctype html", b"<html"))


class HttpClient:
    """Downloads with timeouts, bounded retries, resume and a raw-payload cache.

    Parameters
    ----------
    settings
        Timeouts, retries and cache behaviour; :meth:`HttpSettings.from_env` when ``None``.
    transport
        An httpx transport, for tests that need one; the default opens real connections.
    sleep
        Called with the seconds to wait between attempts.
    """

    def __init__(self, settings: HttpSettings | None = None, *,
                 transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings or HttpSettings.from_env()
        self._cache = PayloadCache(self.settings.cache_dir or default_cache_dir())
        self._sleep = sleep
        self._client: httpx.Client | None = None
        self._transport = transport
        # Hosts that could not be reached at all after every attempt: later requests to them
        # from this client fail at once (a run without network, many files on one host).
        self._unreachable: dict[str, SourceError] = {}

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        if self._client is not None:
            self._client.close()
            self._client = None

    @property
    def _http(self) -> httpx.Client:
        if self._client is None:
            s = self.settings
            self._client = httpx.Client(
                timeout=httpx.Timeout(s.read_timeout, connect=s.connect_timeout),
                follow_redirects=True,
                # The payload's bytes are hashed and resumed by offset: ask for them unencoded.
                headers={"User-Agent": f"migtrade/{__version__}", "Accept-Encoding": "identity"},
                transport=self._transport,
            )
        return self._client

    @property
    def cache(self) -> PayloadCache:
        """The raw-payload cache this client reads and fills."""
        return self._cache

    def forget(self, url: str) -> None:
        """Drop a cached payload, e.g. one that turned out not to parse."""
        self._cache.forget(url)

    def fetch(self, url: str, *, source: str, expect: tuple[str, ...] = (), label: str | None = None) -> Payload:
        """The complete payload at ``url``, from the cache or the network.

        Parameters
        ----------
        url
            Full address, query string included (it is also the cache key).
        source
            Registry name of the source, used in error messages.
        expect
            Substrings of acceptable media types, e.g. ``("json",)``; an HTML page or another
            specific type is refused. Empty to accept anything.
        label
            Text of the progress bar (default: the last part of the URL path).

        Raises
        ------
        SourceError
            Unreachable host, timeouts, HTTP errors, a cut-short body or unexpected content, after
            the retries allowed; in offline mode, a payload that is not cached.
        """
        s = self.settings
        self._cache.root.mkdir(parents=True, exist_ok=True)
        if not s.refresh:
            hit = self._cache.load(url)
            if hit is not None:
                return hit
        if s.offline:
            raise SourceError(
                f"{source}: offline, and {url} is not in the cache ({self._cache.root})",
                "Run once without --offline to fill the cache, or pass --file with a downloaded copy.",
            )
        host = urlsplit(url).netloc or url
        if host in self._unreachable:
            raise self._unreachable[host]
        _, _, part, part_meta = self._cache.paths(url)
        self._discard_stale_part(part, part_meta)
        failure: _Retry | None = None
        for attempt in range(1, s.attempts + 1):
            try:
                content_type = self._attempt(url, source, expect, label, part, part_meta)
            except _Retry as exc:
                failure = exc
                if attempt < s.attempts:
                    wait = exc.wait if exc.wait is not None else s.backoff * 2 ** (attempt - 1)
                    self._sleep(min(wait, s.max_wait))
                continue
            return self._cache.commit(url, content_type)
        assert failure is not None
        error = self._give_up(failure, source, host, url)
        if failure.kind == "network":
            self._unreachable[host] = error
        raise error

    def _discard_stale_part(self, part: Path, part_meta: Path) -> None:
        # A part left by an earlier run can only be resumed if the server can confirm, through an
        # ETag or Last-Modified validator, that the file has not changed since.
        if part.exists():
            try:
                validator = json.loads(part_meta.read_text(encoding="utf-8")).get("validator")
            except (OSError, ValueError):
                validator = None
            if not validator:
                part.unlink(missing_ok=True)
                part_meta.unlink(missing_ok=True)

    def _attempt(self, url: str, source: str, expect: tuple[str, ...], label: str | None,
                 part: Path, part_meta: Path) -> str:
        have = part.stat().st_size if part.exists() else 0
        headers: dict[str, str] = {}
        if have:
            headers["Range"] = f"bytes={have}-"
            try:
                validator = json.loads(part_meta.read_text(encoding="utf-8")).get("validator")
            except (OSError, ValueError):
                validator = None
            if validator:
                headers["If-Range"] = validator
        try:
            with self._http.stream("GET", url, headers=headers) as resp:
                self._check_status(resp, url, source, have, part)
                content_type = resp.headers.get("content-type", "")
                problem = _type_problem(content_type, expect)
                if problem:
                    raise SourceError(
                        f"{source}: {url} returned {problem}, not the expected {'/'.join(expect)}",
                        f"The address may lead to an error or login page; check --base-url and "
                        f"{url_env_var(source)}, or pass --file with a downloaded copy.",
                    )
                resumed = resp.status_code == 206 and have > 0 and self._range_start(resp) == have
                if resp.status_code == 206 and not resumed:
                    # A piece we cannot place: drop what we have and ask for the whole file.
                    part.unlink(missing_ok=True)
                    raise _Retry("status", "HTTP 206 with an unexpected Content-Range", wait=0.0)
                if not resumed:
                    have = 0
                    validator = resp.headers.get("etag") or resp.headers.get("last-modified") or ""
                    part_meta.write_text(json.dumps({"url": url, "validator": validator}), encoding="utf-8")
                length = resp.headers.get("content-length")
                expected = int(length) if length and length.isdigit() else None
                name = label or (urlsplit(url).path.rsplit("/", 1)[-1] or host_of(url))
                total = None if expected is None else have + expected
                with part.open("ab" if resumed else "wb") as fh, \
                        progress_bar(f"{source}: {name}", total, quiet=self.settings.quiet) as advance:
                    if resumed:
                        advance(have)
                    # Without a chunk size httpx hands over bytes as they arrive, so a cut
                    # connection still leaves on disk everything received before it.
                    for chunk in resp.iter_bytes():
                        fh.write(chunk)
                        advance(len(chunk))
                got = resp.num_bytes_downloaded
                if expected is not None and got < expected:
                    raise _Retry("truncated", f"got {have + got} of {have + expected} bytes")
        except httpx.TimeoutException as exc:
            raise _Retry("timeout", type(exc).__name__) from None
        except (httpx.ConnectError, httpx.NetworkError) as exc:
            kind = "network" if isinstance(exc, httpx.ConnectError) else "truncated"
            raise _Retry(kind, _network_reason(exc)) from None
        except httpx.RemoteProtocolError as exc:
            raise _Retry("truncated", _network_reason(exc)) from None
        with part.open("rb") as fh:
            head = fh.read(512)
        if expect and "html" not in expect and _looks_like_html(head):
            part.unlink(missing_ok=True)
            raise SourceError(
                f"{source}: {url} returned an HTML page, not the expected {'/'.join(expect)}",
                f"Check --base-url and {url_env_var(source)}, or pass --file with a downloaded copy.",
            )
        return content_type

    @staticmethod
    def _range_start(resp: httpx.Response) -> int | None:
        # Content-Range: bytes START-END/TOTAL
        value = resp.headers.get("content-range", "")
        try:
            return int(value.split()[1].split("-")[0])
        except (IndexError, ValueError):
            return None

    def _check_status(self, resp: httpx.Response, url: str, source: str, have: int, part: Path) -> None:
        status = resp.status_code
        if status < 400:
            return
        if status == 416 and have:
            # The part on disk does not fit the file any more: start from scratch on the next try.
            part.unlink(missing_ok=True)
            raise _Retry("status", "HTTP 416 Range Not Satisfiable", wait=0.0)
        if status == 429 or status >= 500:
            raise _Retry("status", f"HTTP {status} {resp.reason_phrase}".strip(),
                         wait=retry_after_seconds(resp.headers.get("retry-after")))
        body = b""
        for chunk in resp.iter_bytes(_CHUNK):
            body += chunk
            if len(body) >= 1 << 16:
                break
        raise HttpStatusError(
            f"{source}: HTTP {status} {resp.reason_phrase} from {url}".rstrip(),
            f"Check the address (--base-url, {url_env_var(source)}) or pass --file with a downloaded copy.",
            status=status, url=url, body=body,
        )

    def _give_up(self, failure: _Retry, source: str, host: str, url: str) -> SourceError:
        n = self.settings.attempts
        tries = f"{n} attempt{'s' if n > 1 else ''}"
        mirror = f"set {url_env_var(source)} to a mirror, or pass --file with a downloaded copy."
        if failure.kind == "network":
            return SourceError(f"{source}: cannot reach {host} ({failure.detail}; {tries})",
                               f"Check the network, {mirror}")
        if failure.kind == "timeout":
            return SourceError(
                f"{source}: {host} did not answer within {self.settings.read_timeout:g} s ({tries})",
                f"Check the network, raise MIGTRADE_HTTP_TIMEOUT, {mirror}")
        if failure.kind == "truncated":
            return SourceError(f"{source}: the download of {url} was cut short ({failure.detail}; {tries})",
                               f"Try again later, {mirror}")
        return SourceError(f"{source}: {host} answered {failure.detail} ({tries})",
                           f"The server is busy or failing; try again later, {mirror}")


def host_of(url: str) -> str:
    """The ``host[:port]`` part of a URL, for messages."""
    return urlsplit(url).netloc or url


def reachable(url: str, timeout: float = 3.0) -> bool:
    """Whether the host of ``url`` answers at all within ``timeout`` seconds (any HTTP status).

    Used to choose between real data and the offline demonstration before anything is printed;
    a fetch still reports its own errors in full.
    """
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            client.head(url)
    except httpx.HTTPError:
        return False
    return True
