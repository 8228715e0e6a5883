"""The raw-payload cache: every complete download, kept by URL, with its hash and download time.

Provenance cites the exact bytes that were parsed, and ``--offline`` rebuilds a dataset from them
without the network. A download in progress lives beside them as ``.part`` until it is complete,
so the cache never holds a truncated payload under a final name.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from migtrade.atomic import write_atomically, write_text
from migtrade.sources.clock import utc_now


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Folder of the raw-payload cache: ``$MIGTRADE_CACHE/http`` or the user's cache folder."""
    env = os.environ if environ is None else environ
    root = env.get("MIGTRADE_CACHE")
    if not root:
        import platformdirs

        root = platformdirs.user_cache_dir("migtrade")
    return Path(root).expanduser() / "http"


@dataclass(frozen=True)
class Payload:
    """A complete raw payload, held in the cache.

    Attributes
    ----------
    url
        The address it was downloaded from.
    path
        The cached file; read it, never write it.
    sha256, size
        Hex digest and length of the bytes.
    retrieved_at
        UTC time of the download (for a cache hit, of the original download).
    content_type
        The server's ``Content-Type``.
    from_cache
        True when no request was made.
    """

    url: str
    path: Path
    sha256: str
    size: int
    retrieved_at: str
    content_type: str
    from_cache: bool

    def read_bytes(self) -> bytes:
        """The payload's bytes."""
        return self.path.read_bytes()


class PayloadCache:
    """Complete payloads as ``<key>.bin`` + ``<key>.json``, downloads in progress as ``<key>.part``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def paths(self, url: str) -> tuple[Path, Path, Path, Path]:
        key = hashlib.sha256(url.encode("utf-8")).hexdigest()[:40]
        base = self.root / key
        return (base.with_suffix(".bin"), base.with_suffix(".json"),
                base.with_suffix(".part"), base.with_suffix(".part.json"))

    def load(self, url: str) -> Payload | None:
        data, meta, _, _ = self.paths(url)
        try:
            info = json.loads(meta.read_text(encoding="utf-8"))
            size = data.stat().st_size
        except (OSError, ValueError):
            return None
        if info.get("url") != url or info.get("size") != size:
            return None
        return Payload(url=url, path=data, sha256=info["sha256"], size=size,
                       retrieved_at=info["retrieved_at"], content_type=info.get("content_type", ""),
                       from_cache=True)

    def commit(self, url: str, content_type: str) -> Payload:
        data, meta, part, part_meta = self.paths(url)
        digest = hashlib.sha256()
        with part.open("rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
        size = part.stat().st_size
        payload = Payload(url=url, path=data, sha256=digest.hexdigest(), size=size,
                          retrieved_at=utc_now(), content_type=content_type, from_cache=False)
        info = {"url": url, "sha256": payload.sha256, "size": size,
                "retrieved_at": payload.retrieved_at, "content_type": content_type}
        os.replace(part, data)
        write_text(meta, json.dumps(info))
        part_meta.unlink(missing_ok=True)
        return payload

    def forget(self, url: str) -> None:
        for path in self.paths(url):
            path.unlink(missing_ok=True)

    def verified_path(self, sha256: str, name: str) -> Path:
        """Where a file whose bytes were checked against ``sha256`` is kept under its own name.

        Readers decide a file's format by its name, so a verified download (or a member taken
        out of a verified archive) is kept as ``verified/<sha256>/<name>`` beside the payloads.
        """
        return self.root / "verified" / sha256 / name

    def keep_verified(self, target: Path, fill: Callable[[Path], None]) -> Path:
        """Write ``target`` (a :meth:`verified_path`) atomically: ``fill`` writes a temporary path.

        ``fill`` may hard-link, copy, decompress or extract; the file appears complete or not
        at all, so an interrupted run never leaves a partial file under a verified name.
        """
        target.parent.mkdir(parents=True, exist_ok=True)
        return write_atomically(target, fill)
