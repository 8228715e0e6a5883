"""The user's own file (CSV, gzip CSV, Parquet, Stata, Excel), with columns renamed to standard names.

``--map origin=iso_o --map destination=iso_d --map trade=flow`` renames ``iso_o`` to ``origin`` and
so on; the other columns are kept as they are. Standard names are those the other sources write
(``origin``, ``destination``, ``year``, ``trade``, ``dist``...), so that a panel can join the
user's data with theirs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from migtrade.errors import DataError, UsageError
from migtrade.sources.base import (
    FetchContext,
    FetchOptions,
    Output,
    filter_years,
    make_provenance,
    utc_now,
)

PARSER_VERSION = "file/1"
STANDARD_NAMES = ("origin", "destination", "year", "trade", "flow", "stock", "dist", "contig", "comlang",
                  "colony", "rta", "wto_o", "wto_d", "iso3", "country", "indicator", "value",
                  "period_start", "period_end", "method")
"""Names the built-in sources write; ``--map`` may target these or any other plain name."""
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_mapping(entries: Iterable[str], map_json: str | None = None) -> dict[str, str]:
    """``{standard: column}`` from ``--map STANDARD=COLUMN`` entries and ``--map-json``.

    Parameters
    ----------
    entries
        ``--map`` values.
    map_json
        A JSON object ``{"origin": "iso_o", ...}``, or the path of a file holding one.

    Raises
    ------
    UsageError
        If an entry is not ``NAME=COLUMN``, the JSON is not an object of strings, or a standard
        name is given twice.
    """
    mapping: dict[str, str] = {}
    pairs: list[tuple[str, str]] = []
    if map_json:
        text = map_json
        if not map_json.lstrip().startswith("{"):
            path = Path(map_json).expanduser()
            if not path.is_file():
                raise UsageError(f"--map-json '{map_json}' is neither a JSON object nor a file")
            text = path.read_text(encoding="utf-8")
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"--map-json is not valid JSON ({exc.msg} at line {exc.lineno})") from None
        if not isinstance(loaded, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in loaded.items()):
            raise UsageError("--map-json must be an object of names, e.g. {\"origin\": \"iso_o\"}")
        pairs.extend(loaded.items())
    for entry in entries:
        target, sep, column = entry.partition("=")
        if not sep or not target.strip() or not column.strip():
            raise UsageError(f"cannot read --map '{entry}'", "Use STANDARD=COLUMN, e.g. --map origin=iso_o.")
        pairs.append((target.strip(), column.strip()))
    for target, column in pairs:
        if not _NAME.match(target):
            raise UsageError(f"--map target '{target}' is not a plain column name", "Use letters, digits and _.")
        if target in mapping and mapping[target] != column:
            raise UsageError(f"--map gives '{target}' twice ({mapping[target]}, {column})")
        mapping[target] = column
    return mapping


def read_any(path: Path) -> pd.DataFrame:
    """Read CSV, gzip CSV, Parquet or Stata (checked by content) or the first sheet of an Excel file."""
    if path.name.lower().endswith((".xlsx", ".xlsm", ".xls")):
        with path.open("rb") as fh:
            head = fh.read(8)
        if not head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
            raise DataError(f"'{path}' is named like an Excel file but is not one", "Re-download or rename it.")
        try:
            return pd.read_excel(path, sheet_name=0)
        except (ValueError, ImportError, OSError) as exc:
            raise DataError(f"cannot read '{path}': {str(exc).splitlines()[0]}") from None
    from migtrade.store.files import read_table

    return read_table(path)


def apply_mapping(frame: pd.DataFrame, mapping: dict[str, str], where: str) -> pd.DataFrame:
    """Rename ``mapping`` values to its keys, after checking every mapped column exists.

    Raises
    ------
    DataError
        If a mapped column is absent (the message lists the columns present), or a rename would
        give two columns the same name.
    """
    columns = [str(c) for c in frame.columns]
    missing = [col for col in mapping.values() if col not in columns]
    if missing:
        shown = ", ".join(columns[:40]) + (" ..." if len(columns) > 40 else "")
        raise DataError(f"'{where}' has no column {', '.join(repr(m) for m in missing)}",
                        f"Columns present: {shown}.")
    renames = {col: std for std, col in mapping.items()}
    result = [renames.get(c, c) for c in columns]
    clashes = sorted({c for c in result if result.count(c) > 1})
    if clashes:
        raise DataError(f"mapping '{where}' would give two columns the name {', '.join(clashes)}",
                        "Map the other column to another name too, or leave it out.")
    return frame.rename(columns=renames)


def fetch(options: FetchOptions, ctx: FetchContext) -> list[Output]:
    """Read ``--file``, rename mapped columns, keep ``--years`` if the data have a ``year`` column.

    With ``--url`` and ``--sha256`` the file is obtained and checked by
    :func:`migtrade.sources.verified.obtain` (``--file`` is then a local copy to use when present),
    and its provenance cites the first address.

    Returns
    -------
    list[Output]
        One dataset: every column of the file, mapped ones under their standard names.
    """
    if options.file is None and not options.urls:
        raise UsageError("file: no file given", "Pass --file PATH, or --url URL with --sha256 HEX.")
    location, retrieved_at, options_record = None, utc_now(), options.record()
    if options.urls or options.sha256 is not None:
        from migtrade.sources.verified import RemoteFile, mirror_addresses, obtain

        remote = RemoteFile(urls=options.urls, sha256=str(options.sha256), member=options.member,
                            local=str(options.file) if options.file else None)
        found = obtain(remote, ctx.client, beside=(Path.cwd(),), folders=ctx.data_dirs,
                       addresses=mirror_addresses(remote.urls, options.base_url))
        path, digest = found.path, found.sha256
        location = found.url or found.found_at
        retrieved_at = found.retrieved_at or retrieved_at
        options_record["obtained"] = found.describe()
    else:
        from migtrade.store.files import sha256_of

        path = Path(str(options.file)).expanduser()
        digest = sha256_of(path)
    frame = apply_mapping(read_any(path), options.mapping, str(path))
    if options.years is not None:
        if "year" not in frame.columns:
            raise UsageError("--years needs a 'year' column", "Map one with --map year=COLUMN.")
        frame = filter_years(frame, options.years)
    prov = make_provenance(source="file", location=location or str(path.resolve()),
                           retrieved_at=retrieved_at, sha256=digest, parser_version=PARSER_VERSION,
                           rows=len(frame), options=options_record)
    return [Output(provenance=prov, frame=frame.reset_index(drop=True))]
