"""The catalog: one DuckDB table with a row per stored dataset.

DuckDB gives the catalog transactions and a write-ahead log, so a process killed during a commit
leaves either the old row or the new one. Only one process may open a DuckDB file for writing, so
every connection is opened inside the store's file lock (shared for reading, exclusive for
writing) and closed before the lock is released.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from migtrade.errors import DataError
from migtrade.store.provenance import DatasetInfo, Provenance

SCHEMA_VERSION = 1

_COLUMNS = "name, version, file, file_size, file_sha256, rows, columns, provenance, written_at"

_CREATE = """
CREATE TABLE IF NOT EXISTS meta (key VARCHAR, value VARCHAR);
CREATE TABLE IF NOT EXISTS datasets (
    name VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    file VARCHAR NOT NULL,
    file_size BIGINT NOT NULL,
    file_sha256 VARCHAR NOT NULL,
    rows BIGINT NOT NULL,
    columns VARCHAR NOT NULL,
    provenance VARCHAR NOT NULL,
    written_at VARCHAR NOT NULL
);
"""


@dataclass(frozen=True)
class Entry:
    """A catalog row: the public record plus where its file is and how large it must be."""

    info: DatasetInfo
    file: str
    file_size: int


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class CatalogDB:
    """An open catalog connection; obtain one with :meth:`open` inside the store lock."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        self._con = con
        self._path = path

    @classmethod
    @contextmanager
    def open(cls, path: Path, *, writable: bool) -> Iterator[CatalogDB]:
        """Connect to the catalog at ``path``, creating its tables when ``writable``.

        Raises
        ------
        DataError
            If the file is not a readable DuckDB catalog or was written by a newer migtrade.
        """
        try:
            con = duckdb.connect(str(path), read_only=not writable)
        except duckdb.Error as exc:
            raise DataError(f"the store catalog '{path}' cannot be opened: {_first_line(exc)}",
                            "Move the store folder away or restore the file; the data files are "
                            "in its data/ folder.") from None
        try:
            db = cls(con, path)
            if writable:
                db._create()
            db._check_schema()
            yield db
        finally:
            con.close()

    def _create(self) -> None:
        self._con.execute(_CREATE)
        if not self._con.execute("SELECT 1 FROM meta WHERE key = 'schema'").fetchall():
            self._con.execute("INSERT INTO meta VALUES ('schema', ?)", [str(SCHEMA_VERSION)])

    def _has_tables(self) -> bool:
        found = self._con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name IN ('meta', 'datasets')").fetchone()
        return bool(found and found[0] == 2)

    def _check_schema(self) -> None:
        if not self._has_tables():
            return
        row = self._con.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if row is not None and int(row[0]) > SCHEMA_VERSION:
            raise DataError(f"the store catalog '{self._path}' was written by a newer migtrade "
                            f"(schema {row[0]}, this one reads {SCHEMA_VERSION})",
                            "Upgrade migtrade.")

    def _entry(self, row: tuple[Any, ...]) -> Entry:
        name, version, file, size, sha, rows, columns, provenance, written_at = row
        try:
            prov = Provenance.from_dict(json.loads(provenance))
            cols = tuple(str(c) for c in json.loads(columns))
        except (ValueError, TypeError) as exc:
            raise DataError(f"the catalog entry of dataset '{name}' is unreadable: {exc}",
                            f"Remove it with `migtrade data remove {name}` and fetch it again.") from None
        info = DatasetInfo(name=name, rows=int(rows), columns=cols, provenance=prov,
                           file_sha256=sha, written_at=written_at, version=int(version))
        return Entry(info=info, file=file, file_size=int(size))

    def entries(self) -> list[Entry]:
        """Every dataset, sorted by name."""
        if not self._has_tables():
            return []
        rows = self._con.execute(f"SELECT {_COLUMNS} FROM datasets ORDER BY name").fetchall()
        return [self._entry(r) for r in rows]

    def entry(self, name: str) -> Entry | None:
        """The dataset called ``name``, or None."""
        if not self._has_tables():
            return None
        row = self._con.execute(f"SELECT {_COLUMNS} FROM datasets WHERE name = ?", [name]).fetchone()
        return None if row is None else self._entry(row)

    def names(self) -> list[str]:
        """Every dataset name, sorted."""
        if not self._has_tables():
            return []
        return [r[0] for r in self._con.execute("SELECT name FROM datasets ORDER BY name").fetchall()]

    def files(self) -> list[str]:
        """Every data file the catalog points to."""
        if not self._has_tables():
            return []
        return [r[0] for r in self._con.execute("SELECT file FROM datasets").fetchall()]

    def put(self, entry: Entry, before_commit: Callable[[], None] = lambda: None) -> None:
        """Insert or replace the row of ``entry.info.name`` in one transaction."""
        info = entry.info
        values = [info.name, info.version, entry.file, entry.file_size, info.file_sha256, info.rows,
                  json.dumps(list(info.columns)),
                  json.dumps(info.provenance.to_dict(), sort_keys=True), info.written_at]
        self._con.execute("BEGIN TRANSACTION")
        try:
            self._con.execute("DELETE FROM datasets WHERE name = ?", [info.name])
            self._con.execute(f"INSERT INTO datasets ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                              values)
            before_commit()
            self._con.execute("COMMIT")
        except BaseException:
            self._con.execute("ROLLBACK")
            raise

    def delete(self, name: str) -> None:
        """Remove the row of ``name`` (one statement, so one transaction)."""
        self._con.execute("DELETE FROM datasets WHERE name = ?", [name])
