"""Parquet encoding and checked decoding of stored datasets.

Writing converts the frame to Arrow in slices of about :data:`CHUNK_BYTES`, so that encoding needs
the frame plus one slice in memory rather than two copies of the frame; each slice becomes one
Parquet row group, which also lets a reader of a few columns skip the rest.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from migtrade.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

    from migtrade.store.catalog_db import Entry

CHUNK_BYTES = 64 << 20
MIN_CHUNK_ROWS = 4096
COMPRESSION = "zstd"

_INDEX_COLUMN = re.compile(r"__index_level_\d+__")
_READ_BLOCK = 1 << 20


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _check_frame(frame: pd.DataFrame, name: str) -> None:
    labels = list(frame.columns)
    bad = [c for c in labels if not isinstance(c, str) or not c]
    if bad:
        raise DataError(f"cannot store dataset '{name}': column names must be non-empty strings, "
                        f"not {bad[0]!r}", "Rename the columns first.")
    dupes = [c for c, n in Counter(labels).items() if n > 1]
    if dupes:
        raise DataError(f"cannot store dataset '{name}': column '{dupes[0]}' appears twice",
                        "Rename or drop the duplicate columns first.")
    if not labels:
        raise DataError(f"cannot store dataset '{name}': it has no columns")
    if any(level is not None for level in frame.index.names):
        raise DataError(f"cannot store dataset '{name}': its index is named "
                        f"({', '.join(str(n) for n in frame.index.names)}) and would be lost",
                        "Call frame.reset_index() first so the index becomes columns.")


def write_frame(frame: pd.DataFrame, path: Path, name: str) -> None:
    """Encode ``frame`` (without its index) as Parquet at ``path`` and sync it to disk.

    Raises
    ------
    DataError
        If a column has a type Parquet cannot hold (e.g. mixed Python objects) or the column
        names are not unique non-empty strings. ``path`` may then hold a partial file; the
        caller deletes it.
    """
    _check_frame(frame, name)
    try:
        schema = pa.Schema.from_pandas(frame, preserve_index=False)
        per_row = max(1, int(frame.memory_usage(index=False, deep=False).sum()) // max(1, len(frame)))
        step = max(MIN_CHUNK_ROWS, CHUNK_BYTES // per_row)
        with path.open("wb") as fh:
            with pq.ParquetWriter(fh, schema, compression=COMPRESSION) as writer:
                for start in range(0, max(len(frame), 1), step):
                    chunk = frame.iloc[start:start + step]
                    writer.write_table(pa.Table.from_pandas(chunk, schema=schema, preserve_index=False))
            fh.flush()
            os.fsync(fh.fileno())
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise DataError(f"cannot store dataset '{name}': {_first_line(exc)}",
                        "Convert the column to numbers, strings, booleans, dates or categories.") from None


def describe_parquet(path: Path) -> tuple[int, tuple[str, ...]]:
    """Rows and column names of a Parquet file, read from its footer only.

    Raises
    ------
    DataError
        If ``path`` is not a readable Parquet file.
    """
    try:
        meta = pq.ParquetFile(path).metadata
        names = meta.schema.to_arrow_schema().names
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"'{path}' is not a readable Parquet file: {_first_line(exc)}",
                        "Check that the file was completely written.") from None
    return meta.num_rows, tuple(n for n in names if not _INDEX_COLUMN.fullmatch(n))


def sha256_and_size(fh: IO[bytes]) -> tuple[str, int]:
    """sha256 and byte count of an open file from its start, read in blocks."""
    fh.seek(0)
    digest, size = hashlib.sha256(), 0
    while block := fh.read(_READ_BLOCK):
        digest.update(block)
        size += len(block)
    fh.seek(0)
    return digest.hexdigest(), size


def corrupted(entry: Entry, what: str = "checksum mismatch") -> DataError:
    """The error for a stored file that is not what the catalog recorded."""
    info = entry.info
    source = info.provenance.source
    again = ("rebuild it with `migtrade panel build`" if source == "panel"
             else f"fetch it again with `migtrade fetch {source}`")
    return DataError(f"dataset '{info.name}' is corrupted ({what}); {again}",
                     f"Or remove it with `migtrade data remove {info.name}`.")


def verify_quick(fh: IO[bytes], entry: Entry) -> None:
    """Check the size and the Parquet end marker: catches truncation without reading the file."""
    size = os.fstat(fh.fileno()).st_size
    if size != entry.file_size or size < 8:
        raise corrupted(entry)
    fh.seek(size - 4)
    tail = fh.read(4)
    fh.seek(0)
    if tail != b"PAR1":
        raise corrupted(entry)


def verify_full(fh: IO[bytes], entry: Entry) -> None:
    """Check size and marker, then the sha256 of every byte against the catalog."""
    verify_quick(fh, entry)
    digest, _ = sha256_and_size(fh)
    if digest != entry.info.file_sha256:
        raise corrupted(entry)


def read_frame(fh: IO[bytes], entry: Entry, columns: Sequence[str] | None = None,
               limit: int | None = None) -> pd.DataFrame:
    """Decode a verified stored file: only ``columns`` if given, only ``limit`` rows if given.

    Raises
    ------
    DataError
        If a requested column is not in the dataset.
    """
    wanted = None if columns is None else list(dict.fromkeys(columns))
    if wanted is not None:
        missing = [c for c in wanted if c not in entry.info.columns]
        if missing:
            raise DataError(f"dataset '{entry.info.name}' has no column "
                            + ", ".join(f"'{c}'" for c in missing),
                            f"Its columns are: {', '.join(entry.info.columns)}.")
    try:
        parquet = pq.ParquetFile(fh)
        if limit is None:
            table = parquet.read(columns=wanted, use_pandas_metadata=True)
        else:
            batches = []
            got = 0
            for batch in parquet.iter_batches(batch_size=max(1, min(limit, 65536)), columns=wanted,
                                              use_pandas_metadata=True):
                batches.append(batch)
                got += batch.num_rows
                if got >= limit:
                    break
            if batches:
                table = pa.Table.from_batches(batches).slice(0, limit)
            else:
                table = parquet.schema_arrow.empty_table()
                table = table if wanted is None else table.select(wanted)
        return table.to_pandas(split_blocks=True, self_destruct=True)
    except (pa.ArrowException, OSError) as exc:
        raise corrupted(entry, f"unreadable: {_first_line(exc)}") from None
