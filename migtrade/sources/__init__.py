"""Data sources of ``migtrade fetch``: a registry, one module per source, one HTTP door.

``SOURCES`` maps each source name to a :class:`Source`; ``fetch_to_store`` fetches one and
writes its datasets with provenance. Parsers are pure functions of bytes or paths, importable
and testable without the network.
"""

from __future__ import annotations

from migtrade.sources.base import FetchOptions, parse_years
from migtrade.sources.registry import SOURCES, Source, get_source
from migtrade.sources.settings import url_env_var

__all__ = ["SOURCES", "FetchOptions", "Source", "get_source", "parse_years", "url_env_var"]
