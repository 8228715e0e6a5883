"""The data of a split run written once as Parquet partitioned by the split variable.

Each task of a distributed run reads only its sectors' partitions and only the columns its
models use, so a worker holds one sector at a time, never the panel. The partitions live in a
cache folder named after the data's identity and the split variable: a Parquet file by its
resolved path, size and modification time (it is streamed by DuckDB, out of core, never whole in
pandas); any other input (CSV, Stata, a stored dataset, a DataFrame) by the sha256 of its
content. A partitioned copy is written into a staging folder and renamed into place when
complete, so a run killed while writing leaves nothing that a later run would trust.

Layout of ``<cache>/<key>/``: ``manifest.json`` (the split variable, its levels in order with
their partition number and row count, the columns, where the data came from) and
``parts/__migtrade_level=<k>/*.parquet``. Every row keeps its position in the input
(``__migtrade_row``), so a sector is read back in the order of the input, the order in which
``frame[frame[VAR] == level]`` would give it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from migtrade.errors import DataError
from migtrade.split.outcome import plain

LEVEL_COLUMN = "__migtrade_level"
ROW_COLUMN = "__migtrade_row"
LAYOUT_VERSION = 1
CACHE_ENV = "MIGTRADE_SPLIT_CACHE"
MEMORY_LIMIT = "1GB"
"""DuckDB's memory while partitioning (it spills to the cache folder beyond it): without a limit
it takes up to 80% of the machine, 9.4 GB for a 63 M-row panel of 2,000 products."""


def default_cache_dir() -> Path:
    """``$MIGTRADE_SPLIT_CACHE``, else ``split/`` in the per-user cache folder."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("migtrade")) / "split"


@dataclass(frozen=True)
class Level:
    """One level of the split variable: its value, partition number and number of rows."""

    value: Any
    part: int
    rows: int


@dataclass(frozen=True)
class Partitioned:
    """A partitioned copy of the data: where it is, its levels and columns."""

    root: Path
    var: str
    levels: tuple[Level, ...]
    columns: tuple[str, ...]
    data_info: dict[str, Any]

    def part_dir(self, part: int) -> Path:
        return self.root / "parts" / f"{LEVEL_COLUMN}={part}"

    def part_files(self, part: int) -> list[Path]:
        return sorted(self.part_dir(part).glob("*.parquet"))

    def part_bytes(self, part: int) -> list[bytes]:
        """The partition's files as bytes, for workers that cannot see this folder."""
        return [f.read_bytes() for f in self.part_files(part)]


def read_part(files: Sequence[str | bytes], columns: Sequence[str] | None) -> pd.DataFrame:
    """A sector's rows, in the input's order, from its partition files (paths or bytes).

    Parameters
    ----------
    files
        The partition's Parquet files, as paths or as their bytes.
    columns
        The columns to read; None for all.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    wanted = None if columns is None else [*dict.fromkeys([*columns, ROW_COLUMN])]
    tables = [pq.read_table(pa.BufferReader(f) if isinstance(f, bytes) else f, columns=wanted)
              for f in files]
    table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    frame = table.to_pandas()
    frame = frame.sort_values(ROW_COLUMN, kind="stable").drop(columns=ROW_COLUMN)
    if LEVEL_COLUMN in frame.columns:
        frame = frame.drop(columns=LEVEL_COLUMN)
    return frame.reset_index(drop=True)


def _key(parts: Sequence[Any]) -> str:
    return hashlib.sha256(json.dumps([LAYOUT_VERSION, *parts], default=str).encode()).hexdigest()[:32]


def _load_manifest(root: Path) -> Partitioned | None:
    manifest = root / "manifest.json"
    if not manifest.is_file():
        return None
    obj = json.loads(manifest.read_text())
    levels = tuple(Level(v, int(p), int(n)) for v, p, n in obj["levels"])
    return Partitioned(root, obj["var"], levels, tuple(obj["columns"]), dict(obj["data_info"]))


@contextmanager
def _connect(cache: Path) -> Iterator[Any]:
    """A DuckDB connection that stays within :data:`MEMORY_LIMIT`, spilling into a folder of
    its own in ``cache`` (removed after)."""
    import duckdb

    spill = cache / f".duckdb-spill-{os.getpid()}-{secrets.token_hex(4)}"
    spill.mkdir(parents=True)
    # Rows keep their input position in a column, so DuckDB need not keep their order (which
    # costs memory across thousands of open partitions).
    con = duckdb.connect(config={"memory_limit": MEMORY_LIMIT, "temp_directory": str(spill),
                                 "preserve_insertion_order": False})
    try:
        yield con
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)


def _sql_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _write(con: Any, source_sql: str, var: str, cache: Path, key: str,
           data_info: dict[str, Any]) -> Partitioned:
    """Partition ``source_sql`` (which has ``__migtrade_row``) by ``var`` under ``cache/key``."""
    final = cache / key
    cache.mkdir(parents=True, exist_ok=True)
    staging = cache / f".staging-{key}-{os.getpid()}-{secrets.token_hex(4)}"
    staging.mkdir()
    try:
        col = _sql_name(var)
        # Partition numbers in DuckDB's order of the levels; the manifest lists them sorted
        # as Python sorts them, the order of the in-process run and of the output.
        con.execute(f"CREATE TEMP TABLE split_parts AS SELECT {col} AS v, count(*) AS n, "
                    f"row_number() OVER (ORDER BY {col}) - 1 AS p "
                    f"FROM ({source_sql}) WHERE {col} IS NOT NULL GROUP BY {col}")
        found = con.execute("SELECT v, p, n FROM split_parts").fetchall()
        if not found:
            raise DataError(f"the split variable '{var}' has no values", "Split by a column with values.")
        ordered = sorted(((plain(v), int(p), int(n)) for v, p, n in found), key=lambda t: t[0])
        columns = [d[0] for d in con.execute(f"SELECT * FROM ({source_sql}) LIMIT 0").description]
        target = str(staging / "parts").replace("'", "''")
        con.execute(
            f"COPY (SELECT s.*, p.p AS {LEVEL_COLUMN} FROM ({source_sql}) s "
            f"JOIN split_parts p ON s.{col} = p.v) TO '{target}' "
            f"(FORMAT parquet, PARTITION_BY ({LEVEL_COLUMN}))")
        manifest = {"var": var, "levels": [list(t) for t in ordered],
                    "columns": [c for c in columns if c != ROW_COLUMN], "data_info": data_info,
                    "layout": LAYOUT_VERSION}
        (staging / "manifest.json").write_text(json.dumps(manifest, default=str))
        try:
            os.rename(staging, final)
        except OSError:
            if not (final / "manifest.json").is_file():  # not another run's complete copy
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    done = _load_manifest(final)
    assert done is not None
    return done


def _check_var(var: str, columns: Sequence[str]) -> None:
    if var not in columns:
        raise DataError(f"split variable '{var}' not found in the data",
                        f"Split by one of: {', '.join(list(columns)[:20])}.")


def partition_parquet(path: Path, var: str, cache: Path | None = None,
                      data_info: dict[str, Any] | None = None) -> Partitioned:
    """Partition a Parquet file by ``var``, streaming it through DuckDB (out of core).

    The copy is keyed by the file's resolved path, size and modification time and by ``var``;
    an existing complete copy is reused. ``data_info`` (path, sha256, rows) is computed once and
    kept in the manifest.
    """
    import pyarrow.parquet as pq

    from migtrade.store.files import sha256_of

    stat = path.stat()
    key = _key(["parquet", str(path.resolve()), stat.st_size, stat.st_mtime_ns, var])
    cache = cache or default_cache_dir()
    found = _load_manifest(cache / key)
    if found is not None:
        return found
    meta = pq.ParquetFile(path)
    _check_var(var, meta.schema_arrow.names)
    info = data_info or {"path": str(path), "sha256": sha256_of(path), "rows": meta.metadata.num_rows}
    literal = str(path.resolve()).replace("'", "''")
    source = (f"SELECT * EXCLUDE (file_row_number), file_row_number AS {ROW_COLUMN} "
              f"FROM read_parquet('{literal}', file_row_number = true)")
    with _connect(cache) as con:
        return _write(con, source, var, cache, key, info)


def partition_frame(frame: pd.DataFrame, var: str, data_info: dict[str, Any],
                    cache: Path | None = None) -> Partitioned:
    """Partition an in-memory table by ``var``; keyed by its content's sha256 and ``var``."""
    _check_var(var, [str(c) for c in frame.columns])
    key = _key(["frame", data_info.get("sha256"), list(map(str, frame.columns)), len(frame), var])
    cache = cache or default_cache_dir()
    found = _load_manifest(cache / key)
    if found is not None:
        return found
    source_frame = frame.reset_index(drop=True).assign(**{ROW_COLUMN: range(len(frame))})
    with _connect(cache) as con:
        con.register("split_source", source_frame)
        return _write(con, "SELECT * FROM split_source", var, cache, key, data_info)


def frame_bytes(frame: pd.DataFrame) -> bytes:
    """A table as Parquet bytes (a sector shipped to a worker without the shared folder)."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()
