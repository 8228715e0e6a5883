"""Read-only SQL over the stored datasets, run by DuckDB directly on their Parquet files.

Each dataset is a view named after it (quote names with ``-`` or ``.``: ``"wdi-gdp"``). The query
runs in a fresh in-memory DuckDB that can read only the store's ``data/`` folder, so the SQL
cannot touch the catalog, other files, or the network; DuckDB streams the Parquet files and
spills to a private temporary folder, so queries larger than memory work.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from migtrade.errors import DataError, UsageError

if TYPE_CHECKING:
    import pandas as pd

ALLOWED_KEYWORDS = ("SELECT", "WITH", "DESCRIBE", "SHOW")

_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def quote_identifier(name: str) -> str:
    """``name`` as a double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def check_read_only(query: str) -> None:
    """Accept exactly one SELECT, WITH, DESCRIBE or SHOW statement; raise :class:`UsageError` otherwise.

    The first keyword is checked, and so is the statement type DuckDB's parser assigns, because
    a ``WITH`` may lead into an ``INSERT``.
    """
    words = _COMMENTS.sub(" ", query).lstrip(" \t\r\n(").split(None, 1)
    keyword = words[0].upper().rstrip(";") if words else ""
    if keyword not in ALLOWED_KEYWORDS:
        raise UsageError(f"only read-only queries are allowed, not {keyword or 'an empty query'}",
                         f"Start the query with {', '.join(ALLOWED_KEYWORDS)}.")
    try:
        statements = duckdb.connect().extract_statements(query)
    except duckdb.Error as exc:
        raise UsageError(f"SQL error: {_first_line(exc)}") from None
    if len(statements) != 1:
        raise UsageError(f"give one SQL statement, not {len(statements)}", "Remove the extra ';'.")
    if statements[0].type != duckdb.StatementType.SELECT:
        raise UsageError(f"only read-only queries are allowed, not {statements[0].type.name}",
                         f"Start the query with {', '.join(ALLOWED_KEYWORDS)}.")


def run_query(query: str, files: Mapping[str, Path], data_dir: Path,
              broken: Mapping[str, DataError] | None = None) -> pd.DataFrame:
    """Run a checked read-only ``query`` with one view per entry of ``files`` (name -> Parquet path).

    Parameters
    ----------
    broken
        Datasets whose file is damaged, with the error to raise if the query uses one. Their
        views raise that error inside DuckDB, so queries on the other datasets still run.

    Raises
    ------
    UsageError
        If the query is not read-only or DuckDB rejects it (with DuckDB's first line).
    DataError
        If the query reads a damaged dataset.
    """
    check_read_only(query)
    broken = dict(broken or {})
    with tempfile.TemporaryDirectory(prefix="migtrade-sql-") as spill:
        con = duckdb.connect(config={"temp_directory": spill})
        try:
            allowed = str(data_dir.resolve()).rstrip("/") + "/"
            con.execute(f"SET allowed_directories = [{_quote_literal(allowed)}]")
            con.execute("SET enable_external_access = false")
            for name, path in files.items():
                con.execute(f"CREATE VIEW {quote_identifier(name)} AS "
                            f"SELECT * FROM read_parquet({_quote_literal(str(path.resolve()))})")
            for name, error in broken.items():
                # A filter, not a projection, so that even count(*) has to evaluate it.
                con.execute(f"CREATE VIEW {quote_identifier(name)} AS SELECT NULL AS unreadable "
                            f"FROM range(1) WHERE error({_quote_literal(error.message)}) IS NULL")
            con.execute("SET lock_configuration = true")
            try:
                return con.execute(query).df()
            except duckdb.Error as exc:
                for error in broken.values():
                    if error.message in str(exc):
                        raise error from None
                raise UsageError(f"SQL error: {_first_line(exc)}") from None
        finally:
            con.close()
