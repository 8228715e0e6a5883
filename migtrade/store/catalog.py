"""The local store: datasets as Parquet files, a DuckDB catalog, and provenance for each.

The store needs no server. It lives in one folder (see :mod:`migtrade.store.layout`): by default
the per-user data folder of migtrade, else ``$MIGTRADE_STORE``, else the ``root`` given.

Guarantees
----------
Atomic writes
    A write encodes the Parquet file under ``tmp/`` and syncs it, then, under the exclusive lock,
    renames it to a new versioned name in ``data/``, replaces the catalog row in one DuckDB
    transaction, and only then deletes the previous version's file. A process killed at any
    moment leaves the previous version readable and the catalog consistent; what it leaves
    behind is deleted by the next write or removal.
Concurrent processes
    Catalog changes hold an exclusive ``flock``; reads hold a shared one while they look a
    dataset up and open its file, so no reader sees a half-written or deleted file.
Corruption is detected
    Full reads and exports check the stored file's sha256 recorded at write time; previews
    and SQL check its size and Parquet end marker.
"""

from __future__ import annotations

import builtins
import errno
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, TYPE_CHECKING

from migtrade.errors import DataError
from migtrade.store.catalog_db import CatalogDB, Entry
from migtrade.store.faults import crash_point
from migtrade.store.layout import Layout, default_root, fsync_dir
from migtrade.store.locking import file_lock
from migtrade.store.names import check_name, unknown_dataset
from migtrade.store.provenance import DatasetInfo, Provenance, utc_timestamp

if TYPE_CHECKING:
    import pandas as pd


def _check_provenance(provenance: object) -> None:
    if not isinstance(provenance, Provenance):
        raise TypeError(f"provenance must be a Provenance, not {type(provenance).__name__}")


class Store:
    """A folder of datasets with a catalog.

    Parameters
    ----------
    root
        The store folder; None means ``$MIGTRADE_STORE`` if set, else
        ``platformdirs.user_data_dir("migtrade")``. Nothing is created until the first write.

    Examples
    --------
    A data source stores what it parsed with its provenance::

        store = Store()
        info = store.write("wdi-gdp", frame, Provenance(source="worldbank", location=url,
                           retrieved_at=utc_timestamp(), sha256=payload_sha256,
                           parser_version="1", rows=len(frame), options={"indicator": code}))

    A streaming ingest writes Parquet itself and hands the finished file over::

        path = store.staging_path()
        write_parquet_in_chunks(path)          # e.g. with pyarrow.parquet.ParquetWriter
        store.write_from_parquet("comtrade-2020", path, provenance)
    """

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_root()
        self._layout = Layout(self.root)

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    # -- reading -------------------------------------------------------------------------------

    @contextmanager
    def _catalog(self, *, writable: bool) -> Iterator[CatalogDB | None]:
        """The catalog under the matching lock; None for a store never written to."""
        if writable:
            self._layout.ensure()
        elif not self._layout.initialised():
            yield None
            return
        with file_lock(self._layout.lock, exclusive=writable), \
                CatalogDB.open(self._layout.catalog, writable=writable) as db:
            yield db

    def _require(self, db: CatalogDB | None, name: str) -> Entry:
        entry = db.entry(name) if db is not None else None
        if entry is None:
            raise unknown_dataset(name, db.names() if db is not None else [], self.root)
        return entry

    @contextmanager
    def _open(self, name: str) -> Iterator[tuple[Entry, IO[bytes]]]:
        """A dataset's catalog entry and its file, opened while the shared lock is held."""
        check_name(name)
        with self._catalog(writable=False) as db:
            entry = self._require(db, name)
            try:
                fh = (self._layout.data_dir / entry.file).open("rb")
            except FileNotFoundError:
                from migtrade.store.parquet_io import corrupted

                raise corrupted(entry, "its data file is missing") from None
        with fh:
            yield entry, fh

    @contextmanager
    def parquet_files(self, names: Sequence[str]) -> Iterator[dict[str, tuple[Path, DatasetInfo]]]:
        """The stored Parquet file and catalog record of each of ``names``, for readers that scan files.

        Out-of-core readers (DuckDB, pyarrow datasets) read the files themselves instead of
        through :meth:`read`. Each file's size and end marker are checked; the shared lock is
        held while the context is open, so no write replaces or deletes a file being read.
        Do not write to this store inside the context: the write would wait for the lock.
        """
        from migtrade.store.parquet_io import corrupted, verify_quick

        for name in names:
            check_name(name)
        with self._catalog(writable=False) as db:
            found: dict[str, tuple[Path, DatasetInfo]] = {}
            for name in names:
                entry = self._require(db, name)
                path = self._layout.data_dir / entry.file
                try:
                    with path.open("rb") as fh:
                        verify_quick(fh, entry)
                except FileNotFoundError:
                    raise corrupted(entry, "its data file is missing") from None
                found[name] = (path, entry.info)
            yield found

    def info(self, name: str) -> DatasetInfo:
        """The catalog record of ``name`` (DataError listing the stored names if absent)."""
        check_name(name)
        with self._catalog(writable=False) as db:
            return self._require(db, name).info

    def exists(self, name: str) -> bool:
        """Whether a dataset called ``name`` is stored."""
        check_name(name)
        with self._catalog(writable=False) as db:
            return db is not None and db.entry(name) is not None

    def list(self) -> builtins.list[DatasetInfo]:
        """Every stored dataset, sorted by name."""
        with self._catalog(writable=False) as db:
            return [] if db is None else [e.info for e in db.entries()]

    def read_with_info(self, name: str, columns: Sequence[str] | None = None
                       ) -> tuple[pd.DataFrame, DatasetInfo]:
        """Read a dataset and the catalog record of exactly the version read.

        The file's sha256 is checked first (one extra sequential read of the file), so a
        truncated or altered file raises :class:`DataError` instead of returning wrong data.
        ``columns`` limits decoding, and memory, to those columns.
        """
        from migtrade.store.parquet_io import read_frame, verify_full

        with self._open(name) as (entry, fh):
            verify_full(fh, entry)
            return read_frame(fh, entry, columns), entry.info

    def read(self, name: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Read a stored dataset, checked against its recorded sha256 (see :meth:`read_with_info`)."""
        return self.read_with_info(name, columns)[0]

    def head(self, name: str, n: int = 10) -> pd.DataFrame:
        """The first ``n`` rows, decoding only what they need; checks size and end marker only."""
        from migtrade.store.parquet_io import read_frame, verify_quick

        with self._open(name) as (entry, fh):
            verify_quick(fh, entry)
            return read_frame(fh, entry, limit=max(0, n))

    def sql(self, query: str) -> pd.DataFrame:
        """Run a read-only query (SELECT, WITH, DESCRIBE, SHOW) over views named after the datasets.

        The shared lock is held for the whole query so that no dataset file is replaced under it.
        Each file's size and Parquet end marker are checked; a damaged dataset fails only the
        queries that use it, with the same :class:`DataError` as :meth:`read`.
        """
        from migtrade.store.parquet_io import corrupted, verify_quick
        from migtrade.store.query import check_read_only, run_query

        check_read_only(query)
        with self._catalog(writable=False) as db:
            files: dict[str, Path] = {}
            broken: dict[str, DataError] = {}
            for entry in [] if db is None else db.entries():
                path = self._layout.data_dir / entry.file
                try:
                    with path.open("rb") as fh:
                        verify_quick(fh, entry)
                    files[entry.info.name] = path
                except FileNotFoundError:
                    broken[entry.info.name] = corrupted(entry, "its data file is missing")
                except DataError as exc:
                    broken[entry.info.name] = exc
            return run_query(query, files, self._layout.data_dir, broken)

    def export(self, name: str, path: Path, *, overwrite: bool = False) -> None:
        """Write a dataset to ``path`` as .csv, .csv.gz, .parquet or .dta (by extension).

        The file is checked against its sha256 first and written atomically; an existing
        ``path`` is refused (:class:`UsageError`) unless ``overwrite``.
        """
        from migtrade.store.export import check_destination, export_file, export_format
        from migtrade.store.parquet_io import verify_full

        path = Path(path).expanduser()
        export_format(path)
        check_destination(path, overwrite=overwrite)
        with self._open(name) as (entry, fh):
            verify_full(fh, entry)
            export_file(fh, entry, path, overwrite=overwrite)

    # -- writing -------------------------------------------------------------------------------

    def write(self, name: str, frame: pd.DataFrame, provenance: Provenance) -> DatasetInfo:
        """Store ``frame`` (its columns, not its index) as ``name``, replacing any previous version.

        Raises
        ------
        UsageError
            If ``name`` breaks the naming rule.
        DataError
            If a column cannot be stored; nothing is written then.
        """
        import pandas as pd

        from migtrade.store.parquet_io import write_frame

        check_name(name)
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"frame must be a pandas DataFrame, not {type(frame).__name__}")
        _check_provenance(provenance)
        self._layout.ensure()
        tmp = self._layout.new_temp(".parquet")
        try:
            write_frame(frame, tmp, name)
            return self._commit(name, tmp, len(frame), tuple(str(c) for c in frame.columns),
                                provenance)
        finally:
            tmp.unlink(missing_ok=True)

    def write_from_parquet(self, name: str, parquet_path: str | Path,
                           provenance: Provenance) -> DatasetInfo:
        """Move an already written Parquet file into the store as ``name``, without decoding it.

        For ingests that stream a large payload straight to Parquet. The file is renamed into
        the store when it is on the same file system (write it to :meth:`staging_path` to make
        sure), else copied and the original deleted once stored. Rows and columns are read from
        the Parquet footer. If the move fails, the original file is left where it was.
        """
        from migtrade.store.parquet_io import describe_parquet

        check_name(name)
        _check_provenance(provenance)
        source = Path(parquet_path).expanduser()
        if not source.is_file():
            raise DataError(f"Parquet file '{source}' does not exist")
        rows, columns = describe_parquet(source)
        self._layout.ensure()
        tmp = self._layout.new_temp(".parquet")
        try:
            try:
                os.rename(source, tmp)
                moved = True
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise DataError(f"cannot move '{source}' into the store: {exc.strerror}") from None
                import shutil

                shutil.copyfile(source, tmp)
                moved = False
            with tmp.open("rb") as fh:
                os.fsync(fh.fileno())
            try:
                info = self._commit(name, tmp, rows, columns, provenance)
            except BaseException:
                if moved and not source.exists():
                    with suppress(OSError):
                        os.rename(tmp, source)
                raise
            if not moved:
                source.unlink(missing_ok=True)
            return info
        finally:
            tmp.unlink(missing_ok=True)

    def staging_path(self, suffix: str = ".parquet") -> Path:
        """A fresh path inside the store for a file about to be given to :meth:`write_from_parquet`.

        It lies on the store's file system, so the move is a rename; if the process dies
        before storing it, the next write deletes it. Delete it yourself if you give up.
        """
        self._layout.ensure()
        return self._layout.new_temp(suffix)

    def _commit(self, name: str, tmp: Path, rows: int, columns: tuple[str, ...],
                provenance: Provenance) -> DatasetInfo:
        from migtrade.store.parquet_io import sha256_and_size

        with tmp.open("rb") as fh:
            digest, size = sha256_and_size(fh)
        crash_point("staged")
        with self._catalog(writable=True) as db:
            assert db is not None
            self._layout.sweep(db.files())
            old = db.entry(name)
            version = old.info.version + 1 if old is not None else 1
            file = self._layout.data_file_name(name, version)
            target = self._layout.data_dir / file
            os.replace(tmp, target)
            fsync_dir(self._layout.data_dir)
            crash_point("placed")
            info = DatasetInfo(name=name, rows=rows, columns=columns, provenance=provenance,
                               file_sha256=digest, written_at=utc_timestamp(), version=version)
            try:
                db.put(Entry(info=info, file=file, file_size=size),
                       before_commit=lambda: crash_point("uncommitted"))
            except BaseException:
                # Back to tmp/, where the caller's cleanup (or restore of a moved file) finds it.
                with suppress(OSError):
                    os.replace(target, tmp)
                raise
            crash_point("committed")
            if old is not None and old.file != file:
                (self._layout.data_dir / old.file).unlink(missing_ok=True)
                fsync_dir(self._layout.data_dir)
        return info

    def remove(self, name: str) -> None:
        """Delete a dataset and its file (DataError listing the stored names if absent)."""
        check_name(name)
        if not self._layout.initialised():
            raise unknown_dataset(name, [], self.root)
        with self._catalog(writable=True) as db:
            assert db is not None
            self._require(db, name)
            db.delete(name)
            self._layout.sweep(db.files())
            fsync_dir(self._layout.data_dir)
