"""Delimited text files as people save them: the encoding and the delimiter are found, not assumed.

Spreadsheets and statistical packages write CSV with commas, semicolons (where the comma is the
decimal mark), tabs or bars; in UTF-8 with or without a byte-order mark, in UTF-16 (Excel's
"Unicode text") or in a Windows code page. :func:`detect` looks at the first block of the file
and :func:`read_delimited` reads it accordingly; a header whose names repeat or are empty is
refused, because a formula could not name such columns safely.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from migtrade.errors import DataError

DELIMITERS = (",", ";", "\t", "|")
_SAMPLE = 1 << 16
_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "bar"}


@dataclass(frozen=True)
class Dialect:
    """How a delimited text file is written."""

    encoding: str  # a Python codec name
    delimiter: str

    def describe(self) -> str:
        return f"{_NAMES[self.delimiter]}-separated, {self.encoding}"


def _head(path: Path, compressed: bool) -> bytes:
    with (gzip.open(path, "rb") if compressed else path.open("rb")) as fh:
        return fh.read(_SAMPLE)


def _encoding(head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        # The block may end inside a multi-byte character: judge all but its last bytes.
        head[:-4].decode("utf-8") if len(head) == _SAMPLE else head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        head.decode("cp1252")
        return "cp1252"  # Windows Western European, a superset of Latin-1's printable characters
    except UnicodeDecodeError:
        return "latin-1"  # decodes any byte


def _header_line(text: str) -> str:
    return text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""


def _delimiter(header: str) -> str:
    """The candidate that splits the header into the most fields (quotes respected); a comma
    when none splits it (a single column)."""
    best, fields = ",", 1
    for candidate in DELIMITERS:
        n = len(next(csv.reader([header], delimiter=candidate), []))
        if n > fields:
            best, fields = candidate, n
    return best


def detect(path: Path, *, compressed: bool) -> Dialect:
    """The encoding and delimiter of a CSV (or gzip CSV) file, from its first 64 KB."""
    head = _head(path, compressed)
    encoding = _encoding(head)
    text = head.decode(encoding, errors="ignore")
    return Dialect(encoding=encoding, delimiter=_delimiter(_header_line(text)))


def _check_header(path: Path, dialect: Dialect) -> None:
    head = _head(path, path.name.lower().endswith(".gz")).decode(dialect.encoding, errors="ignore")
    header = _header_line(head)
    if not header:
        return  # an empty file: the reader says so
    names = [n.strip() for n in next(csv.reader([header], delimiter=dialect.delimiter), [])]
    empty = [str(i + 1) for i, n in enumerate(names) if not n]
    if empty:
        raise DataError(
            f"'{path}' has columns without a name in its header (column {', '.join(empty[:5])}; "
            f"read as {dialect.describe()})",
            "Give every column a name in the first line (a file saved by pandas with its index "
            "has an unnamed first column: save it with index=False).")
    seen: set[str] = set()
    repeated = [n for n in names if n in seen or seen.add(n)]  # type: ignore[func-returns-value]
    if repeated:
        raise DataError(f"'{path}' has repeated column names: {', '.join(dict.fromkeys(repeated))}",
                        "Rename the columns in the first line so that each name is used once.")


def read_delimited(path: Path, *, compressed: bool) -> pd.DataFrame:
    """Read a delimited text file in its own encoding and delimiter.

    Raises
    ------
    DataError
        For a header with empty or repeated names (the dialect found is named).
    """
    dialect = detect(path, compressed=compressed)
    _check_header(path, dialect)
    if dialect.encoding in ("utf-8", "utf-8-sig"):
        # pyarrow's reader is several times faster on large files, and handles the BOM.
        return pd.read_csv(path, sep=dialect.delimiter, engine="pyarrow")
    with (gzip.open(path, "rb") if compressed else path.open("rb")) as fh:
        text = io.TextIOWrapper(fh, encoding=dialect.encoding, newline="")
        return pd.read_csv(text, sep=dialect.delimiter, engine="c")
