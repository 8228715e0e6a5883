"""How migtrade talks to the network: timeouts, retries, cache use; read from the environment.

``MIGTRADE_HTTP_TIMEOUT``, ``MIGTRADE_HTTP_ATTEMPTS``, ``MIGTRADE_HTTP_BACKOFF`` and
``MIGTRADE_HTTP_MAX_WAIT`` tune a run (a slow link, a flaky mirror, or a test that must not wait);
``MIGTRADE_CACHE`` moves the raw-payload cache.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from migtrade.errors import SourceError
from migtrade.sources.cache import default_cache_dir


def url_env_var(source: str) -> str:
    """Name of the environment variable that points a source at a mirror.

    Parameters
    ----------
    source
        Registry name of the source, e.g. ``"abel-cohen"``.

    Returns
    -------
    str
        ``MIGTRADE_<NAME>_URL`` with dashes turned into underscores, e.g. ``MIGTRADE_ABEL_COHEN_URL``.
    """
    return f"MIGTRADE_{source.upper().replace('-', '_')}_URL"


def _env_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise SourceError(f"environment variable {name}={raw!r} is not a number") from None


@dataclass(frozen=True)
class HttpSettings:
    """Timeouts, retry policy and cache behaviour of an :class:`HttpClient`.

    Attributes
    ----------
    connect_timeout, read_timeout
        Seconds to wait for a connection and between two received chunks.
    attempts
        Tries per request, the first included (4 means up to 3 retries).
    backoff
        Wait before the first retry, in seconds; doubled before each further retry.
    max_wait
        Cap on any wait, whether from ``backoff`` or from a server's ``Retry-After``.
    cache_dir
        Raw-payload cache folder; ``None`` for :func:`default_cache_dir`.
    offline
        Use only the cache; a payload not in it is an error.
    refresh
        Ignore cached payloads and download again (the cache is then updated).
    quiet
        Never draw progress bars.
    """

    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    attempts: int = 4
    backoff: float = 1.0
    max_wait: float = 60.0
    cache_dir: Path | None = None
    offline: bool = False
    refresh: bool = False
    quiet: bool = False

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, not {self.attempts}")
        if min(self.connect_timeout, self.read_timeout) <= 0 or min(self.backoff, self.max_wait) < 0:
            raise ValueError("timeouts must be positive and waits non-negative")
        if self.offline and self.refresh:
            raise SourceError("--offline and --refresh contradict each other", "Use one of them.")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> HttpSettings:
        """Settings with ``MIGTRADE_HTTP_TIMEOUT``, ``_ATTEMPTS``, ``_BACKOFF``, ``_MAX_WAIT`` applied.

        ``MIGTRADE_HTTP_TIMEOUT`` sets both timeouts. Keyword arguments win over the environment.
        """
        env = os.environ if environ is None else environ
        timeout = _env_float(env, "MIGTRADE_HTTP_TIMEOUT", 0.0)
        values: dict[str, Any] = {
            "backoff": _env_float(env, "MIGTRADE_HTTP_BACKOFF", cls.backoff),
            "max_wait": _env_float(env, "MIGTRADE_HTTP_MAX_WAIT", cls.max_wait),
            "attempts": int(_env_float(env, "MIGTRADE_HTTP_ATTEMPTS", cls.attempts)),
            "cache_dir": default_cache_dir(env),
        }
        if timeout > 0:
            values["connect_timeout"] = values["read_timeout"] = timeout
        values.update(overrides)
        return cls(**values)
