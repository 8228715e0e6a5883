"""Copy a stored dataset out to a CSV, gzip CSV, Parquet or Stata file, atomically.

The output is written to a hidden temporary file beside the destination and moved into place only
when complete, so an interrupted export never leaves a half-written file under the real name.
CSV and Parquet are streamed row group by row group; Stata files are built in memory (the format
is read whole by Stata anyway).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from migtrade.atomic import DestinationExists, write_atomically
from migtrade.errors import DataError, UsageError
from migtrade.store.parquet_io import read_frame

if TYPE_CHECKING:
    from migtrade.store.catalog_db import Entry

EXPORT_FORMATS = (".csv", ".csv.gz", ".parquet", ".dta")


def export_format(path: Path) -> str:
    """The export format named by ``path``'s extension, or :class:`UsageError`."""
    name = path.name.lower()
    for ext in sorted(EXPORT_FORMATS, key=len, reverse=True):
        if name.endswith(ext):
            return ext
    raise UsageError(f"cannot tell the export format of '{path}' from its name",
                     f"Use a file ending in {', '.join(EXPORT_FORMATS)}.")


def check_destination(path: Path, *, overwrite: bool) -> None:
    """Refuse, before any work, a destination that exists (unless ``overwrite``) or cannot be made."""
    if path.is_dir():
        raise UsageError(f"cannot export to '{path}': it is a folder", "Give a file name.")
    if not path.parent.is_dir():
        raise UsageError(f"cannot export to '{path}': folder '{path.parent}' does not exist",
                         "Create the folder first.")
    if path.exists() and not overwrite:
        raise UsageError(f"'{path}' already exists", "Use --force to overwrite it.")


def _csv(fh: IO[bytes], entry: Entry, tmp: Path, gzip: bool) -> None:
    parquet = pq.ParquetFile(fh)
    options = pacsv.WriteOptions(include_header=True, quoting_style="needed")
    sink = pa.CompressedOutputStream(str(tmp), "gzip") if gzip else pa.OSFile(str(tmp), "wb")
    with sink, pacsv.CSVWriter(sink, parquet.schema_arrow, write_options=options) as writer:
        for batch in parquet.iter_batches(batch_size=65536):
            writer.write_batch(batch)


def _parquet(fh: IO[bytes], entry: Entry, tmp: Path) -> None:
    with tmp.open("wb") as out:
        shutil.copyfileobj(fh, out, 1 << 20)


def _stata(fh: IO[bytes], entry: Entry, tmp: Path) -> None:
    frame = read_frame(fh, entry)
    try:
        frame.to_stata(tmp, write_index=False, version=118)
    except (ValueError, TypeError, NotImplementedError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"cannot export dataset '{entry.info.name}' to Stata: {first}",
                        "Export to .csv or .parquet instead.") from None


_WRITERS: dict[str, Callable[[IO[bytes], Entry, Path], None]] = {
    ".csv": lambda fh, entry, tmp: _csv(fh, entry, tmp, gzip=False),
    ".csv.gz": lambda fh, entry, tmp: _csv(fh, entry, tmp, gzip=True),
    ".parquet": _parquet,
    ".dta": _stata,
}


def export_file(fh: IO[bytes], entry: Entry, path: Path, *, overwrite: bool) -> None:
    """Write the verified, open stored file ``fh`` to ``path`` in the format of its extension."""
    fmt = export_format(path)
    check_destination(path, overwrite=overwrite)

    def fill(tmp: Path) -> None:
        try:
            _WRITERS[fmt](fh, entry, tmp)
        except pa.ArrowException as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DataError(f"cannot export dataset '{entry.info.name}' as {fmt}: {first}",
                            "Export to .parquet instead.") from None

    try:
        write_atomically(path, fill, overwrite=overwrite, durable=True)
    except DestinationExists:
        raise UsageError(f"'{path}' already exists", "Use --force to overwrite it.") from None
