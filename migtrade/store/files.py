"""Read a user's data file (CSV, gzip CSV, Parquet, Stata) after checking it is what it claims.

The format is decided from the file's first bytes, not only from its name, so that a Parquet file
renamed ``.csv`` or an HTML error page saved as ``.dta`` gives a clear message instead of garbage.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np

from migtrade.errors import DataError
from migtrade.table import Coded, ColumnTable

if TYPE_CHECKING:
    import pandas as pd

FORMATS = ("csv", "csv.gz", "parquet", "dta")


def sha256_of(path: Path, chunk: int = 1 << 23) -> str:
    """Hex sha256 of a file, read in chunks of 8 MiB: each read and hash lets go of the
    interpreter's lock and takes it back after, which beside another thread's imports waits a
    switch interval; with 1 MiB chunks a 29 MB Parquet file's hash took 0.08-0.1 s beside the
    read instead of 0.023 s alone, and the log-OLS estimate on it 2-3% longer (whole processes,
    alternating, medians of 15)."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def start_sha256(path: Path) -> Callable[[], str]:
    """Hash ``path`` on a thread of its own; the returned function waits for the hex digest (or
    raises the hashing's error). hashlib and file reads let go of the interpreter's lock, so the
    hash runs beside a read of the same file (0.05-0.1 s each on a million rows)."""
    import threading

    outcome: list[str | BaseException] = []

    def run() -> None:
        try:
            outcome.append(sha256_of(path))
        except BaseException as exc:  # raised again on the caller's thread
            outcome.append(exc)

    thread = threading.Thread(target=run, name="migtrade-sha256", daemon=True)
    thread.start()

    def result() -> str:
        thread.join()
        if isinstance(outcome[0], BaseException):
            raise outcome[0]
        return outcome[0]

    return result


def _claimed(path: Path) -> str:
    name = path.name.lower()
    if name.endswith((".csv.gz", ".tsv.gz")):
        return "csv.gz"
    if name.endswith((".csv", ".tsv", ".txt")):
        return "csv"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith(".dta"):
        return "dta"
    raise DataError(
        f"cannot tell the format of '{path}' from its name",
        "Use a file ending in .csv, .csv.gz, .parquet or .dta.",
    )


def _sniff(head: bytes) -> str:
    if head.startswith(b"\x1f\x8b"):
        return "csv.gz"
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"<stata_dta>") or (head[:1] in (b"\x71", b"\x72", b"\x73") and head[1:2] in (b"\x01", b"\x02")):
        return "dta"
    if head.lstrip().lower().startswith((b"<!doctype html", b"<html")):
        return "html"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "csv"  # UTF-16 text with its byte-order mark (Excel's "Unicode text")
    if b"\x00" in head:
        return "binary"
    return "csv"


def _read_parquet(path: Path, columns: list[str] | None) -> pd.DataFrame:
    """A Parquet file as pandas reads it, with less memory held afterwards.

    One block per column, each Arrow buffer freed once converted: the columns are not copied
    again into a block per dtype, nor held twice (Arrow and pandas) at the peak. Arrow decodes
    through its own allocator, which keeps the pages it freed; NumPy cannot reuse them, so they
    are handed back at once (measured on 1.1 M rows, 30 MiB less resident for the fit after).
    """
    import pandas as pd
    import pyarrow as pa

    frame = pd.read_parquet(path, engine="pyarrow", columns=columns,
                            to_pandas_kwargs={"split_blocks": True, "self_destruct": True})
    pa.default_memory_pool().release_unused()
    return frame


# Arrow types read into a ColumnTable, and the pandas dtypes (from a file's pandas metadata) that
# read back as those arrays; anything else (dates, decimals, nullable integers, ...) goes
# through pandas.
_PLAIN_NUMPY = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                "float32", "float64", "bool"}


def _valid(chunk: Any) -> np.ndarray | None:
    """The rows of an Arrow array that are not null (None: all of them), from its bitmap."""
    bitmap = chunk.buffers()[0]
    if bitmap is None or not chunk.null_count:
        return None
    bits = np.unpackbits(np.frombuffer(bitmap, dtype=np.uint8), bitorder="little")
    return bits[chunk.offset:chunk.offset + len(chunk)].astype(bool)


def _values(chunk: Any, dtype: np.dtype) -> np.ndarray:
    """The values of a fixed-width Arrow array, read from its data buffer (a view).

    Arrow's own ``to_numpy`` imports pandas (for its type checks) even for a zero-copy view,
    which is what this module is written to avoid."""
    data = chunk.buffers()[1]
    if dtype == np.bool_:  # one bit a value
        bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
        return bits[chunk.offset:chunk.offset + len(chunk)].astype(bool)
    values = np.frombuffer(data, dtype=dtype, count=chunk.offset + len(chunk))
    return values[chunk.offset:]


def _codes(chunk: Any) -> np.ndarray:
    """The integer codes of an Arrow array of indices, -1 where null."""
    codes = _values(chunk, np.dtype(chunk.type.to_pandas_dtype()))
    valid = _valid(chunk)
    return codes if valid is None else np.where(valid, codes, -1).astype(codes.dtype)


def _levels(dictionary: Any) -> np.ndarray:
    """An Arrow array of text as a NumPy array of str objects."""
    levels = np.empty(len(dictionary), dtype=object)
    levels[:] = dictionary.to_pylist()
    return levels


class _Column:
    """One column read row group by row group into the engine's array or codes (see
    :func:`read_parquet_columns`); :meth:`add` returns False where pandas would read the column
    as something else than plain numbers, text or categories (``_PLAIN_NUMPY``; the types are
    those of the file's pandas metadata, e.g. a nullable ``Int64`` column's numpy_type)."""

    def __init__(self, kind: Any, rows: int, pandas_type: str | None,
                 numpy_type: str | None) -> None:
        import pyarrow as pa

        self.pos = 0
        self.dtype: np.dtype | None = None
        self.values: np.ndarray | None = None
        self.text: list[Any] | None = None
        self.levels: list[object] = []
        self.index: dict[object, int] = {}
        self.mappings: list[tuple[Any, np.ndarray]] = []  # (a row group's dictionary, where to)
        self.ok = True
        if pa.types.is_dictionary(kind):
            self.ok = (pa.types.is_string(kind.value_type)
                       or pa.types.is_large_string(kind.value_type)) and \
                pandas_type in (None, "categorical")
            self.values = np.empty(rows, dtype=np.int32)  # codes into the unified levels
            self.categorical = True
        elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
            self.ok = pandas_type in (None, "unicode", "string", "str", "object")
            self.text = []
        elif pa.types.is_integer(kind) or pa.types.is_floating(kind) or \
                pa.types.is_boolean(kind):
            self.dtype = np.dtype(kind.to_pandas_dtype())
            self.ok = self.dtype.name in _PLAIN_NUMPY and numpy_type in (None, self.dtype.name)
            self.values = np.empty(rows, dtype=self.dtype)
        else:
            self.ok = False

    def _mapping(self, dictionary: Any) -> np.ndarray:
        """Where each entry of a row group's dictionary sits among the levels, which grow as
        Arrow unifies dictionaries (the first one's order, then values not yet seen, in order);
        -1 last, for null codes."""
        for seen, mapping in self.mappings:
            if seen.equals(dictionary):
                return mapping
        found = []
        for value in dictionary.to_pylist():
            if value not in self.index:
                self.index[value] = len(self.levels)
                self.levels.append(value)
            found.append(self.index[value])
        mapping = np.array([*found, -1], dtype=np.int32)
        self.mappings.append((dictionary, mapping))
        return mapping

    def add(self, chunk: Any) -> bool:
        """Copy one Arrow chunk in; False where the column must go through pandas."""
        size = len(chunk)
        if self.text is not None:
            self.text.append(chunk)
            return True
        assert self.values is not None
        part = self.values[self.pos:self.pos + size]
        self.pos += size
        if self.dtype is None:  # dictionary codes, renumbered into the unified levels
            np.take(self._mapping(chunk.dictionary), _codes(chunk.indices), out=part, mode="wrap")
            return True
        valid = _valid(chunk)
        if valid is not None and self.dtype.kind != "f":
            return False  # pandas reads integers or booleans with nulls as floats or objects
        part[...] = _values(chunk, self.dtype)
        if valid is not None:
            part[~valid] = np.nan  # as pandas reads floats' nulls
        return True

    def result(self) -> np.ndarray | Coded:
        """The column, once every row group is in."""
        if self.text is not None:
            import pyarrow as pa
            import pyarrow.compute as pc  # 0.03 s to import: only for a column of plain text

            whole = pa.chunked_array(self.text).combine_chunks() if self.text else None
            if whole is None:
                return Coded(codes=np.empty(0, dtype=np.int32), levels=np.empty(0, dtype=object),
                             categorical=False)
            encoded = pc.dictionary_encode(whole)  # codes by first appearance
            return Coded(codes=_codes(encoded.indices), levels=_levels(encoded.dictionary),
                         categorical=False)
        assert self.values is not None
        if self.dtype is None:
            levels = np.empty(len(self.levels), dtype=object)
            levels[:] = self.levels
            return Coded(codes=self.values, levels=levels, categorical=True)
        return self.values


def read_parquet_columns(path: Path, columns: list[str]) -> ColumnTable | None:
    """The named columns of a Parquet file as a :class:`~migtrade.table.ColumnTable`, without
    pandas (those the file lacks are skipped); None when a column would not read as plain
    numbers, text or categories, or the file repeats a name: pandas then reads the file.

    Row group by row group, each copied into the final arrays and let go: Arrow's pool reuses
    one row group's pages for the next, where reading the whole table first touched twice the
    memory (on this kind of virtual machine a page's first touch costs more than the copy).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    # ParquetFile, not pq.read_table: the latter imports pandas for the file's metadata.
    source = pq.ParquetFile(path)
    schema = source.schema_arrow
    if len(set(schema.names)) != len(schema.names):
        return None
    meta = schema.pandas_metadata or {}
    types = {c.get("name"): (c.get("pandas_type"), c.get("numpy_type"))
             for c in meta.get("columns", [])}
    indexed = {i for i in meta.get("index_columns", []) if isinstance(i, str)}
    wanted = [c for c in dict.fromkeys(columns) if c in schema.names]
    if indexed & set(wanted):
        return None
    rows = source.metadata.num_rows
    cols = {name: _Column(schema.field(name).type, rows, *types.get(name, (None, None)))
            for name in wanted}
    if not all(c.ok for c in cols.values()):
        return None
    for group in range(source.num_row_groups):
        table = source.read_row_group(group, columns=wanted, use_pandas_metadata=False)
        for name in wanted:
            if not all(cols[name].add(chunk) for chunk in table.column(name).chunks):
                return None
        del table
    out = {name: col.result() for name, col in cols.items()}
    pa.default_memory_pool().release_unused()
    return ColumnTable(out, rows)


def let_go(frame: pd.DataFrame | ColumnTable) -> None:
    """Empty ``frame`` in place once nothing more will be read from it, and hand back the pages
    Arrow decoded its columns into (they are not NumPy's to reuse): what a caller does when the
    arrays it needs are built and the table itself is done with (peak memory of the fit after)."""
    if isinstance(frame, ColumnTable):
        frame.clear()
    else:
        for name in list(dict.fromkeys(frame.columns)):
            del frame[name]
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


@overload
def read_table(path: str | Path, columns: list[str] | None = None, *,
               arrays: Literal[False] = False) -> pd.DataFrame: ...


@overload
def read_table(path: str | Path, columns: list[str] | None = None, *,
               arrays: bool) -> pd.DataFrame | ColumnTable: ...


def read_table(path: str | Path, columns: list[str] | None = None, *,
               arrays: bool = False) -> pd.DataFrame | ColumnTable:
    """Read a data file into a DataFrame, checking that its content matches its extension.

    Parameters
    ----------
    columns
        Read only these columns where the format allows it (Parquet, Stata), saving memory.
    arrays
        With ``columns``, read a Parquet file into a :class:`~migtrade.table.ColumnTable`
        where its columns allow (:func:`read_parquet_columns`), without pandas.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"data file '{p}' does not exist", "Check the path given to --data.")
    if p.is_dir():
        raise DataError(f"'{p}' is a folder, not a data file", "Give the path of a file to --data.")
    claimed = _claimed(p)
    with p.open("rb") as fh:
        head = fh.read(16)
    actual = _sniff(head)
    if actual != claimed:
        what = {"html": "an HTML page", "binary": "a binary file of unknown type",
                "csv": "a text file", "csv.gz": "a gzip file", "parquet": "a Parquet file",
                "dta": "a Stata file"}[actual]
        raise DataError(
            f"'{p}' is named like a {claimed} file but its content is {what}",
            "Rename it to the right extension or re-download it.",
        )
    try:
        if claimed in ("csv", "csv.gz"):
            from migtrade.store.text_tables import read_delimited

            return read_delimited(p, compressed=claimed == "csv.gz")
        if claimed == "parquet":
            if columns is not None and arrays:
                table = read_parquet_columns(p, columns)
                if table is not None:
                    return table
            if columns is not None:
                import pyarrow.parquet as pq

                present = set(pq.read_schema(p).names)
                # Ask only for what exists; the caller reports the missing ones by name.
                columns = [c for c in dict.fromkeys(columns) if c in present]
            return _read_parquet(p, columns)
        import pandas as pd

        return pd.read_stata(p, convert_categoricals=False)
    except (ValueError, OSError, UnicodeDecodeError, EOFError, KeyError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"cannot read '{p}': {first}", "Check that the file is complete and not corrupted.") from None
    except Exception as exc:  # pyarrow raises its own error classes for malformed files
        if type(exc).__module__.startswith("pyarrow"):
            first = str(exc).splitlines()[0]
            raise DataError(f"cannot read '{p}': {first}", "Check that the file is complete and not corrupted.") from None
        raise
