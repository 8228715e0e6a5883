"""What every source shares: the options of a fetch, its context, its outputs and their provenance."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migtrade.errors import DataError, MigtradeError, SourceError, UsageError
from migtrade.sources.clock import utc_now

if TYPE_CHECKING:
    import pandas as pd

    from migtrade.sources.http import HttpClient
    from migtrade.store.provenance import Provenance


def parse_years(text: str | None) -> tuple[int, int] | None:
    """Parse ``--years``: ``"1990:2020"`` (inclusive), ``"2000"`` or ``None``.

    Raises
    ------
    UsageError
        If the text is not one or two four-digit years in order.
    """
    if text is None or not text.strip():
        return None
    parts = text.strip().split(":")
    try:
        if len(parts) == 1:
            first = last = int(parts[0])
        elif len(parts) == 2:
            first, last = int(parts[0]), int(parts[1])
        else:
            raise ValueError(text)
    except ValueError:
        raise UsageError(f"cannot read --years '{text}'", "Use FIRST:LAST, e.g. 1990:2020, or one year.") from None
    if not (1000 <= first <= 9999 and 1000 <= last <= 9999) or first > last:
        raise UsageError(f"--years '{text}' is not a range of years in order", "Use FIRST:LAST, e.g. 1990:2020.")
    return first, last


@dataclass(frozen=True)
class FetchOptions:
    """What the user asked of a fetch; recorded in the provenance of every dataset written.

    Attributes
    ----------
    file
        A copy downloaded by hand: read it instead of the network.
    base_url
        ``--base-url``: overrides the source's default address and its environment variable.
    years
        Inclusive ``(first, last)`` years to keep, or ``None`` for the source's default.
    indicators
        World Bank indicator codes.
    columns
        CEPII columns, each ``NAME`` or ``STANDARD=NAME``.
    methods
        Abel & Cohen estimation methods to keep (all when empty).
    mapping
        User-file column renames, ``{standard name: column in the file}``.
    urls
        Addresses of the file (mirrors of the same bytes), with ``sha256``; ``file`` is then a
        local copy to use when present.
    sha256
        The file's sha256: any copy with another hash is refused.
    member
        The member of a zip archive to read.
    table
        Which file of a named publisher (``yotov2016 --table Chapter1Application1``).
    """

    file: Path | None = None
    base_url: str | None = None
    years: tuple[int, int] | None = None
    indicators: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    mapping: dict[str, str] = field(default_factory=dict)
    urls: tuple[str, ...] = ()
    sha256: str | None = None
    member: str | None = None
    table: str | None = None

    def __post_init__(self) -> None:
        if self.urls and self.sha256 is None:
            raise UsageError("a file given by --url needs its --sha256",
                             "Take it from the publisher, or compute it from a copy with `sha256sum FILE`.")
        if self.file is not None and not self.urls and not Path(self.file).expanduser().is_file():
            where = Path(self.file).expanduser()
            what = "is a folder" if where.is_dir() else "does not exist"
            raise DataError(f"--file '{self.file}' {what}", "Give the path of a downloaded file.")

    def record(self) -> dict[str, Any]:
        """The options as plain JSON values, leaving out those not set."""
        out: dict[str, Any] = {}
        if self.file is not None:
            out["file"] = str(self.file)
        if self.base_url:
            out["base_url"] = self.base_url
        if self.years is not None:
            out["years"] = f"{self.years[0]}:{self.years[1]}"
        for key in ("indicators", "columns", "methods"):
            value = getattr(self, key)
            if value:
                out[key] = list(value)
        if self.mapping:
            out["mapping"] = dict(self.mapping)
        if self.urls:
            out["urls"] = list(self.urls)
        for key in ("sha256", "member", "table"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        return out


@dataclass(frozen=True)
class FetchContext:
    """What a source may use besides its options: the HTTP door, a scratch folder, the verbosity,
    and the data folders searched for local copies of files named by URL and sha256."""

    client: HttpClient
    workdir: Path
    quiet: bool = False
    data_dirs: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Output:
    """One dataset produced by a fetch: either a frame in memory or a Parquet file on disk."""

    provenance: Provenance
    frame: pd.DataFrame | None = None
    parquet: Path | None = None

    def __post_init__(self) -> None:
        if (self.frame is None) == (self.parquet is None):
            raise ValueError("an Output holds exactly one of frame or parquet")


class PayloadHash:
    """sha256 over one or more raw payloads in the order they were received.

    A dataset built from several responses (the pages of an API query) records the hash of their
    concatenation, plus each payload's own address and hash.
    """

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.parts: list[dict[str, Any]] = []

    def add(self, location: str, data: bytes, retrieved_at: str | None = None) -> None:
        """Add one payload, downloaded at ``retrieved_at`` (now when not given)."""
        self._hash.update(data)
        self.parts.append({"location": location, "sha256": hashlib.sha256(data).hexdigest(),
                           "bytes": len(data), "retrieved_at": retrieved_at or utc_now()})

    def hexdigest(self) -> str:
        """Hex digest of everything added so far."""
        return self._hash.hexdigest()

    def retrieved_at(self) -> str:
        """When the oldest payload was downloaded (cached payloads keep their first download time)."""
        return min((p["retrieved_at"] for p in self.parts), default=utc_now())


def make_provenance(
    *,
    source: str,
    location: str,
    retrieved_at: str,
    sha256: str,
    parser_version: str,
    rows: int,
    options: dict[str, Any] | None = None,
    inputs: Iterable[dict[str, Any]] = (),
) -> Provenance:
    """Build the store's provenance record (imported late: the store is optional for parsing)."""
    from migtrade.store.provenance import Provenance

    return Provenance(
        source=source,
        location=location,
        retrieved_at=retrieved_at,
        sha256=sha256,
        parser_version=parser_version,
        rows=int(rows),
        options=dict(options or {}),
        inputs=tuple(inputs),
    )


def file_url(base: str, filename: str, extensions: tuple[str, ...]) -> str:
    """Address of a single-file source: ``base`` is a folder, unless it already names a file.

    Parameters
    ----------
    base
        The source's base URL (default, environment variable or ``--base-url``).
    filename
        The publisher's file name, appended to a folder address.
    extensions
        Endings that mark ``base`` as the address of the file itself.
    """
    path = base.split("?", 1)[0].lower()
    if path.endswith(extensions):
        return base
    return f"{base.rstrip('/')}/{filename}"


@dataclass(frozen=True)
class ZipInput:
    """Where the bytes of a source published as one zip come from: the user's file or a download.

    ``error`` is the error class for what the zip turns out to hold: a data error (exit 2) for the
    user's own file, a source error (exit 3) for a download.
    """

    path: Path
    location: str
    retrieved_at: str
    sha256: str
    error: type[MigtradeError]
    downloaded: bool


def zip_input(source: str, file: Path | None, base_url: str, filename: str,
              ctx: FetchContext) -> ZipInput:
    """The zip of ``--file``, or the one at ``base_url`` (a folder, or the zip's own address)."""
    if file is not None:
        from migtrade.store.files import sha256_of

        return ZipInput(path=file, location=str(file), retrieved_at=utc_now(), sha256=sha256_of(file),
                        error=DataError, downloaded=False)
    url = file_url(base_url, filename, (".zip",))
    payload = ctx.client.fetch(url, source=source, expect=("zip",))
    return ZipInput(path=payload.path, location=url, retrieved_at=payload.retrieved_at,
                    sha256=payload.sha256, error=SourceError, downloaded=True)


def filter_years(frame: pd.DataFrame, years: tuple[int, int] | None, column: str = "year") -> pd.DataFrame:
    """Rows whose ``column`` lies within the inclusive range, all rows when ``years`` is ``None``."""
    if years is None:
        return frame
    keep = frame[column].between(years[0], years[1])
    return frame.loc[keep].reset_index(drop=True)


def require_columns(present: Iterable[str], needed: Iterable[str], what: str) -> None:
    """Raise a :class:`DataError` naming the missing columns and listing those present."""
    have = list(present)
    missing = [c for c in needed if c not in have]
    if missing:
        shown = ", ".join(have[:40]) + (" ..." if len(have) > 40 else "")
        raise DataError(
            f"{what}: missing column(s) {', '.join(missing)}",
            f"Columns present: {shown}.",
        )
