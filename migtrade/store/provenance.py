"""Where a stored dataset came from, and what the store knows about it.

A :class:`Provenance` travels with every dataset from the source that produced it to the source
note of every table estimated on it, so it is a plain, JSON-serialisable value object that checks
itself when built. A :class:`DatasetInfo` is the catalog's record of one stored dataset.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

_HEX64 = re.compile(r"[0-9a-f]{64}")
_SOURCE = re.compile(r"[a-z0-9][a-z0-9_.-]*")

PROVENANCE_KEYS = ("source", "location", "retrieved_at", "sha256", "parser_version", "rows",
                   "options", "inputs")


def utc_timestamp() -> str:
    """The current time as an ISO 8601 UTC string with second precision, e.g. ``2024-05-01T12:00:00Z``."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _check_timestamp(what: str, value: str) -> None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be an ISO 8601 time, not {value!r}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{what} must carry a time zone (UTC), not {value!r}")


@dataclass(frozen=True)
class Provenance:
    """The origin of a dataset: enough to fetch it again and to check it is the same.

    Parameters
    ----------
    source
        Short lowercase name of the source: ``"worldbank"``, ``"undesa"``, ``"abel-cohen"``,
        ``"cepii"``, ``"file"`` for a user's file, ``"panel"`` for an assembled panel.
    location
        URL or file path the raw payload came from (``"store:a+b"`` for derived datasets).
    retrieved_at
        ISO 8601 time with a zone, normally :func:`utc_timestamp` at download time.
    sha256
        Lowercase hex sha256 of the raw payload, the bytes exactly as downloaded or read.
    parser_version
        Version of the parser that turned the payload into a table; a change in parsing
        changes the data even when the payload does not.
    rows
        Number of rows the parser produced.
    options
        What was asked for: indicator codes, years, column mapping... Must be JSON-serialisable.
    inputs
        For derived datasets, one mapping per input with at least ``name`` (a stored dataset;
        ``location`` for an outside file) and ``sha256`` (the stored file's sha256), in the
        order they were combined.

    Raises
    ------
    ValueError
        If a field is malformed; the message quotes the offending value.
    """

    source: str
    location: str
    retrieved_at: str
    sha256: str
    parser_version: str
    rows: int
    options: dict[str, Any] = field(default_factory=dict)
    inputs: tuple[dict[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.source, str) or not _SOURCE.fullmatch(self.source):
            raise ValueError(f"provenance source must be a short lowercase name, not {self.source!r}")
        if not isinstance(self.location, str) or not self.location:
            raise ValueError(f"provenance location must be a non-empty URL or path, not {self.location!r}")
        _check_timestamp("provenance retrieved_at", self.retrieved_at)
        if not isinstance(self.sha256, str) or not _HEX64.fullmatch(self.sha256):
            raise ValueError(f"provenance sha256 must be 64 lowercase hex digits, not {self.sha256!r}")
        if not isinstance(self.parser_version, str) or not self.parser_version:
            raise ValueError(f"provenance parser_version must be a non-empty string, not {self.parser_version!r}")
        if isinstance(self.rows, bool) or not isinstance(self.rows, int) or self.rows < 0:
            raise ValueError(f"provenance rows must be a non-negative integer, not {self.rows!r}")
        # Copies, so that a caller mutating its dict afterwards cannot change a frozen record.
        options = json.loads(_dumps(dict(self.options), "options"))
        inputs = tuple(json.loads(_dumps(dict(item), "inputs")) for item in self.inputs)
        for item in inputs:
            named = any(isinstance(item.get(k), str) and item[k] for k in ("name", "location"))
            if not named or not _HEX64.fullmatch(str(item.get("sha256"))):
                raise ValueError(f"each provenance input needs a name (or location) and a sha256, "
                                 f"not {item!r}")
        object.__setattr__(self, "options", options)
        object.__setattr__(self, "inputs", inputs)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping with every field; :meth:`from_dict` reverses it."""
        return {
            "source": self.source,
            "location": self.location,
            "retrieved_at": self.retrieved_at,
            "sha256": self.sha256,
            "parser_version": self.parser_version,
            "rows": self.rows,
            "options": json.loads(json.dumps(self.options)),
            "inputs": [dict(item) for item in self.inputs],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Provenance:
        """Rebuild a provenance from :meth:`to_dict` output; unknown keys are ignored.

        Raises
        ------
        ValueError
            If a required key is missing or a value is malformed.
        """
        missing = [k for k in PROVENANCE_KEYS[:6] if k not in data]
        if missing:
            raise ValueError(f"provenance lacks {', '.join(missing)}")
        return cls(
            source=data["source"],
            location=data["location"],
            retrieved_at=data["retrieved_at"],
            sha256=data["sha256"],
            parser_version=data["parser_version"],
            rows=data["rows"],
            options=dict(data.get("options") or {}),
            inputs=tuple(dict(item) for item in data.get("inputs") or ()),
        )

    @classmethod
    def derived(cls, source: str, inputs: Sequence[DatasetInfo], *, parser_version: str, rows: int,
                options: Mapping[str, Any] | None = None) -> Provenance:
        """The provenance of a dataset computed from stored datasets (e.g. an assembled panel).

        ``location`` is ``"store:"`` followed by the input names joined by ``+``, and ``sha256``
        fingerprints the inputs: the sha256 of their names and file checksums, one
        ``name:sha256`` line each in the order given. The same inputs give the same fingerprint.
        """
        if not inputs:
            raise ValueError("a derived provenance needs at least one input dataset")
        lines = "".join(f"{i.name}:{i.file_sha256}\n" for i in inputs)
        return cls(
            source=source,
            location="store:" + "+".join(i.name for i in inputs),
            retrieved_at=utc_timestamp(),
            sha256=hashlib.sha256(lines.encode()).hexdigest(),
            parser_version=parser_version,
            rows=rows,
            options=dict(options or {}),
            inputs=tuple({"name": i.name, "sha256": i.file_sha256, "version": i.version,
                          "source": i.provenance.source} for i in inputs),
        )


def _dumps(value: dict[str, Any], what: str) -> str:
    try:
        return json.dumps(value, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"provenance {what} must be JSON-serialisable: {exc}") from None


@dataclass(frozen=True)
class DatasetInfo:
    """The catalog's record of one stored dataset.

    Attributes
    ----------
    name
        Dataset name (lowercase letters, digits, ``_``, ``-``, ``.``).
    rows, columns
        Shape of the stored table; ``columns`` in stored order.
    provenance
        Where the data came from.
    file_sha256
        sha256 of the stored Parquet file, checked on every full read.
    written_at
        ISO 8601 UTC time this version was stored.
    version
        1 for the first write of a name, incremented by every overwrite.
    """

    name: str
    rows: int
    columns: tuple[str, ...]
    provenance: Provenance
    file_sha256: str
    written_at: str
    version: int

    def to_dict(self) -> dict[str, Any]:
        """The record as ``migtrade data list --format json`` prints it (see :mod:`migtrade.cli.data`)."""
        return {
            "name": self.name,
            "source": self.provenance.source,
            "rows": self.rows,
            "columns": list(self.columns),
            "version": self.version,
            "written_at": self.written_at,
            "file_sha256": self.file_sha256,
            "provenance": self.provenance.to_dict(),
        }
