"""UN DESA International Migrant Stock: bilateral stock of migrants by origin and destination.

The publisher's workbook ``undesa_pd_2020_ims_stock_by_sex_destination_and_origin.xlsx`` has,
in sheet "Table 1", a title block of about ten rows and then a header row: ``Index``, the
destination's name, notes, location code and type of data, the origin's name and location code,
then the years 1990, 1995, ..., 2020 three times (both sexes, males, females). Each row is one
(destination, origin) pair, and the rows include regional, development and income aggregates
(UN M49 location codes 900 and up) on either side, which are dropped here. Earlier editions
(2017, 2019) put one row per (year, destination) and one column per origin; both layouts are read.

``--file`` also takes two CSV layouts: long ``year, orig, dest, stock`` and the 2019 matrix
``Year, Dest, <origin>...``; and the JSON matrices of the 2020 edition published with a chord
diagram (:mod:`migtrade.sources.matrix_json`, e.g. ``stock.json`` of
github.com/X80110/migration-visualization), told apart by content. The output keeps the source's country names (``origin``,
``destination``), which the panel maps to ISO codes; the stock is in persons at mid-year, and
empty or zero cells are left out.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from migtrade.errors import DataError
from migtrade.sources import matrix_json
from migtrade.sources.base import (
    FetchContext,
    FetchOptions,
    Output,
    file_url,
    filter_years,
    make_provenance,
    utc_now,
)
from migtrade.sources.registry import SOURCES

PARSER_VERSION = "undesa/1"
FILENAME = "undesa_pd_2020_ims_stock_by_sex_destination_and_origin.xlsx"
COLUMNS = ("origin", "destination", "year", "stock")
AGGREGATE_CODE = 900
"""UN M49 codes from 900 up are the world, regions, development and income groups, not countries."""

_NOT_ORIGINS = {"total", "other north", "other south", "other", "world"}
_YEAR = re.compile(r"^(19|20)\d\d$")


def _clean_name(value: Any) -> str:
    # The workbook indents names with spaces to show the hierarchy and marks notes with '*'.
    return str(value).strip().rstrip("*").strip() if value is not None else ""


def _code(value: Any) -> int | None:
    try:
        return int(float(str(value).strip()))
    except (TypeError, ValueError):
        return None


def _number(value: Any) -> float:
    if value is None or (isinstance(value, str) and value.strip() in ("", "..", "-", "–")):
        return 0.0
    try:
        return float(str(value).replace(",", "").replace(" ", "")) if isinstance(value, str) else float(value)
    except ValueError:
        raise DataError(f"UN DESA workbook: cell value {value!r} is not a number") from None


def _year(value: Any) -> int | None:
    text = str(value).strip() if value is not None else ""
    if text.endswith(".0"):
        text = text[:-2]
    return int(text) if _YEAR.match(text) else None


def _find(header: Sequence[str], *needles: str, avoid: tuple[str, ...] = ()) -> int | None:
    for i, cell in enumerate(header):
        low = cell.lower()
        if all(n in low for n in needles) and not any(a in low for a in avoid):
            return i
    return None


def _finish(rows: list[tuple[str, str, int, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(COLUMNS)) if rows else pd.DataFrame({c: [] for c in COLUMNS})
    frame = frame[frame["stock"] > 0]
    frame = frame.astype({"origin": "string", "destination": "string", "year": "int64"})
    frame["stock"] = frame["stock"].round().astype("int64")
    return frame.sort_values(["year", "destination", "origin"]).reset_index(drop=True)


def parse_table(cells: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """Long ``origin, destination, year, stock`` from the rows of "Table 1" of a workbook.

    Parameters
    ----------
    cells
        The sheet's rows, each a sequence of cell values, title block included.

    Raises
    ------
    DataError
        If no header naming the destination is found, or the layout is neither of those known.
    """
    # The title block mentions "destination" too, but in one cell; the header row has many.
    at = next((i for i, row in enumerate(cells[:60])
               if sum(c is not None and str(c).strip() != "" for c in row) >= 4
               and any("destination" in str(c).lower() for c in row if c is not None)), None)
    if at is None:
        raise DataError("UN DESA workbook: no header row naming the destination in the first 60 rows",
                        "Give the 'by destination and origin' workbook, sheet 'Table 1'.")
    header = [str(c).strip() if c is not None else "" for c in cells[at]]
    body = cells[at + 1:]
    dest = _find(header, "destination", avoid=("code", "note", "type"))
    origin = _find(header, "origin", avoid=("code", "note", "type"))
    assert dest is not None
    if origin is not None:
        return _finish(list(_pairs_rows(header, body, dest, origin)))
    return _finish(list(_matrix_rows(header, body, dest)))


def _pairs_rows(header: list[str], body: Sequence[Sequence[Any]], dest: int,
                origin: int) -> Iterator[tuple[str, str, int, float]]:
    dest_code = _find(header, "code", "destination")
    origin_code = _find(header, "code", "origin")
    years: dict[int, int] = {}
    for i, cell in enumerate(header):
        y = _year(cell)
        if y is not None and y not in years:  # the first block of years is both sexes
            years[y] = i
    if not years:
        raise DataError("UN DESA workbook: no year columns (1990, 1995, ...) in the header row")
    for row in body:
        if len(row) <= max(dest, origin):
            continue
        d, o = _clean_name(row[dest]), _clean_name(row[origin])
        if not d or not o:
            continue
        codes = [_code(row[c]) for c in (dest_code, origin_code) if c is not None and c < len(row)]
        if any(c is not None and c >= AGGREGATE_CODE for c in codes):
            continue
        if origin_code is None and o.lower() in _NOT_ORIGINS:
            continue
        for y, col in years.items():
            if col < len(row):
                yield o, d, y, _number(row[col])


def _matrix_rows(header: list[str], body: Sequence[Sequence[Any]],
                 dest: int) -> Iterator[tuple[str, str, int, float]]:
    year_col = _find(header, "year")
    code_col = _find(header, "code")
    type_col = _find(header, "type")
    if year_col is None:
        raise DataError("UN DESA workbook: neither an origin column nor a Year column in the header row",
                        "Give the 'by destination and origin' workbook, sheet 'Table 1'.")
    first = max(c for c in (dest, year_col, code_col, type_col, _find(header, "note")) if c is not None) + 1
    origins = [(i, _clean_name(h)) for i, h in enumerate(header) if i >= first and h
               and _clean_name(h).lower() not in _NOT_ORIGINS]
    for row in body:
        if len(row) <= dest:
            continue
        d, y = _clean_name(row[dest]), _year(row[year_col])
        code = _code(row[code_col]) if code_col is not None else None
        if not d or y is None or (code is not None and code >= AGGREGATE_CODE):
            continue
        if code is None and type_col is not None and not _clean_name(row[type_col]):
            continue  # aggregates have no type of data
        for i, o in origins:
            if i < len(row):
                yield o, d, y, _number(row[i])


def read_workbook(data: bytes | Path, sheet: str = "Table 1") -> pd.DataFrame:
    """Parse the publisher's workbook (bytes or path) with openpyxl, streaming its rows."""
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data) if isinstance(data, bytes) else data,
                                      read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError and its own errors on damaged files
        raise DataError(f"UN DESA workbook cannot be opened: {exc.__class__.__name__}: {exc}",
                        "Check that the download is complete.") from None
    try:
        names = book.sheetnames
        chosen = sheet if sheet in names else next((n for n in names if n.strip().lower() == sheet.lower()), None)
        if chosen is None:
            raise DataError(f"UN DESA workbook has no sheet '{sheet}'", f"Sheets: {', '.join(names)}.")
        cells = [tuple(row) for row in book[chosen].iter_rows(values_only=True)]
    finally:
        book.close()
    return parse_table(cells)


def read_csv_layout(raw: bytes) -> pd.DataFrame:
    """Parse the long CSV (``year, orig, dest, stock``) or the 2019 matrix CSV (``Year, Dest, ...``)."""
    table = pd.read_csv(io.BytesIO(raw))
    lower = {str(c).strip().lower(): c for c in table.columns}
    if {"year", "stock"} <= set(lower) and ({"orig", "dest"} <= set(lower) or {"origin", "destination"} <= set(lower)):
        o = lower.get("orig", lower.get("origin"))
        d = lower.get("dest", lower.get("destination"))
        rows = table[[o, d, lower["year"], lower["stock"]]].fillna({lower["stock"]: 0})
        return _finish(list(rows.itertuples(index=False, name=None)))
    if {"year", "dest"} <= set(lower):
        keys = [lower["year"], lower["dest"]]
        origins = [c for c in table.columns if c not in keys and str(c).strip().lower() not in _NOT_ORIGINS]
        long = table.melt(id_vars=keys, value_vars=origins, var_name="origin", value_name="stock")
        long = long.rename(columns={keys[0]: "year", keys[1]: "destination"})
        long["stock"] = pd.to_numeric(long["stock"], errors="coerce").fillna(0)
        return _finish(list(long[list(COLUMNS)].itertuples(index=False, name=None)))
    raise DataError("not a UN DESA migrant stock CSV",
                    f"Expected columns year, orig, dest, stock or Year, Dest, <origins>; found "
                    f"{', '.join(map(str, table.columns[:10]))}.")


def read_matrix_json(raw: bytes) -> pd.DataFrame:
    """Parse the JSON matrices (one per year, row = origin, column = destination), regions set apart."""
    long = matrix_json.parse(raw, "UN DESA stock JSON").long("stock", "year")
    return _finish(list(long[list(COLUMNS)].itertuples(index=False, name=None)))


def parse_payload(raw: bytes) -> pd.DataFrame:
    """Parse any accepted layout, told apart by content: workbook (zip), JSON matrices, gzip CSV
    or CSV."""
    if raw[:4] == b"PK\x03\x04":
        return read_workbook(raw)
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if matrix_json.looks_like_matrix_json(raw):
        return read_matrix_json(raw)
    try:
        return read_csv_layout(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"UN DESA file cannot be read: {str(exc).splitlines()[0]}") from None


def fetch(options: FetchOptions, ctx: FetchContext) -> list[Output]:
    """Download (or read ``--file``) the migrant stock and parse it.

    Returns
    -------
    list[Output]
        One dataset: ``origin, destination, year, stock`` (persons), countries only.
    """
    if options.file is not None:
        raw, location, retrieved_at = options.file.read_bytes(), str(options.file), utc_now()
    else:
        url = file_url(SOURCES["undesa"].base_url(options.base_url), FILENAME, (".xlsx", ".csv", ".gz"))
        payload = ctx.client.fetch(url, source="undesa", expect=("spreadsheet", "excel", "zip", "csv"))
        raw, location, retrieved_at = payload.read_bytes(), url, payload.retrieved_at
    try:
        frame = filter_years(parse_payload(raw), options.years)
    except DataError:
        if options.file is None:
            ctx.client.forget(location)
        raise
    prov = make_provenance(source="undesa", location=location, retrieved_at=retrieved_at,
                           sha256=hashlib.sha256(raw).hexdigest(), parser_version=PARSER_VERSION,
                           rows=len(frame), options=options.record())
    return [Output(provenance=prov, frame=frame)]
