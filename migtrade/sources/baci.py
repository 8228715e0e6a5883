"""CEPII BACI: bilateral trade by HS6 product, streamed from its zip into one Parquet file sorted by product.

Layout (CEPII, "BACI: description", releases 2023-2024): a zip per HS revision, e.g.
``BACI_HS92_V202401b.zip``, holding

``BACI_HS92_Y{year}_V{version}.csv``
    one per year, columns ``t`` (year), ``i`` (exporter) and ``j`` (importer) as numeric country
    codes, ``k`` (HS6 product code, text with its leading zeros), ``v`` (value, thousands of
    current US$) and ``q`` (quantity, metric tons; ``NA`` or blank where unknown). Only strictly
    positive flows are listed.
``country_codes_V{version}.csv``
    ``country_code, country_name, country_iso2, country_iso3`` (releases up to 202301:
    ``country_code, country_name_abbreviation, country_name_full, iso_2digit_alpha,
    iso_3digit_alpha``; both are read).
``product_codes_HS{rev}_V{version}.csv``
    ``code, description``.

Any other trade-file header (older releases named the product column ``hs6``) is refused with
the columns found and those expected.

What is written
---------------
``baci``: ``k`` (text, six digits), ``year``, ``origin`` and ``destination`` (ISO3 from the country
file; empty where a code is not in it), ``i``, ``j``, ``v``, ``q``, sorted by ``k``, ``year``,
``i``, ``j`` in row groups of :data:`ROW_GROUP_ROWS` rows. Sorted by product, the Parquet
statistics of ``k`` let a reader of one product (a split task) decode one or two row groups of
the file instead of all of it. ``baci_countries`` and ``baci_products`` hold the two code files.

How
---
Nothing is extracted and nothing is held whole in memory: each yearly CSV is inflated as a
stream and parsed by pyarrow in blocks of :data:`_BLOCK` bytes, checked, and appended to a
staging Parquet file; DuckDB then joins the ISO3 codes and sorts the staging file into the output
under a memory limit (:data:`SORT_MEMORY`), spilling to the fetch's scratch folder.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from migtrade.errors import DataError, MigtradeError, SourceError
from migtrade.sources.base import (
    FetchContext,
    FetchOptions,
    Output,
    make_provenance,
    zip_input,
)
from migtrade.sources.cepii import unsafe_member
from migtrade.sources.progress import CountedStream, progress_bar
from migtrade.sources.registry import SOURCES

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

PARSER_VERSION = "baci/1"
FILENAME = "BACI_HS92_V202401b.zip"
ROW_GROUP_ROWS = 1 << 20
"""Rows per row group of the stored file: about 500 products of a real release share one, so a
product's rows span one or two groups (see ``benchmarks/bench_baci.py``)."""
SORT_MEMORY = "1GB"
"""DuckDB's memory limit while sorting; beyond it the sort spills to the scratch folder."""
_BLOCK = 8 << 20

TRADE_COLUMNS = ("t", "i", "j", "k", "v", "q")
_TRADE = re.compile(r"BACI_HS(?P<rev>\d\d)_Y(?P<year>\d{4})_V(?P<version>\d{6}[a-z]?)\.csv")
_COUNTRIES = re.compile(r"country_codes_V(?P<version>\d{6}[a-z]?)\.csv")
_PRODUCTS = re.compile(r"product_codes_HS(?P<rev>\d\d)_V(?P<version>\d{6}[a-z]?)\.csv")
_HS6 = re.compile(r"^[0-9]{6}$")

COUNTRY_LAYOUTS: tuple[dict[str, str], ...] = (
    {"country_code": "code", "country_name": "name", "country_iso2": "iso2", "country_iso3": "iso3"},
    {"country_code": "code", "country_name_full": "name", "iso_2digit_alpha": "iso2",
     "iso_3digit_alpha": "iso3"},
)
"""Country-file headers CEPII has published (2024 and up to 2023), each column -> standard name."""


@dataclass(frozen=True)
class Members:
    """The files of one BACI release inside its zip."""

    trade: tuple[tuple[int, zipfile.ZipInfo], ...]
    countries: zipfile.ZipInfo
    products: zipfile.ZipInfo | None
    revision: str
    version: str


def find_members(archive: zipfile.ZipFile, where: str, error: type[MigtradeError] = DataError) -> Members:
    """The yearly trade files, the country file and the product file of the release in ``archive``.

    Raises
    ------
    DataError or SourceError (``error``)
        If a member points outside the archive, no yearly trade file or no country file is
        found, or the trade files belong to more than one HS revision or release.
    """
    trade: list[tuple[int, zipfile.ZipInfo]] = []
    releases: set[tuple[str, str]] = set()
    countries: list[zipfile.ZipInfo] = []
    products: list[zipfile.ZipInfo] = []
    for info in archive.infolist():
        if unsafe_member(info.filename):
            raise error(f"baci: refusing '{where}': member '{info.filename}' points outside the archive "
                        "(path traversal)", "Download the file again from CEPII.")
        base = PurePosixPath(info.filename.replace("\\", "/")).name
        if m := _TRADE.fullmatch(base):
            trade.append((int(m["year"]), info))
            releases.add((m["rev"], m["version"]))
        elif _COUNTRIES.fullmatch(base):
            countries.append(info)
        elif _PRODUCTS.fullmatch(base):
            products.append(info)
    hint = "Give a BACI zip from CEPII (BACI_HS92_V202401b.zip or another revision and release)."
    if not trade:
        shown = ", ".join(i.filename for i in archive.infolist()[:8]) or "nothing"
        raise error(f"baci: '{where}' holds no yearly trade file BACI_HS??_Y????_V??????.csv (it holds {shown})",
                    hint)
    if len(releases) > 1:
        raise error(f"baci: '{where}' mixes releases {', '.join(f'HS{r} V{v}' for r, v in sorted(releases))}",
                    "Give one release per fetch.")
    if len(countries) != 1:
        what = "no country file country_codes_V*.csv" if not countries else "several country files"
        raise error(f"baci: '{where}' holds {what}", hint)
    (revision, version), = releases
    trade.sort(key=lambda pair: pair[0])
    return Members(trade=tuple(trade), countries=countries[0], products=products[0] if products else None,
                   revision=revision, version=version)


def _header(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> list[str]:
    with archive.open(info) as fh:
        row = next(csv.reader(io.TextIOWrapper(fh, encoding="utf-8-sig", newline="")), [])
    return [c.strip() for c in row]


def read_countries(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> pd.DataFrame:
    """The country file as ``code`` (int), ``name``, ``iso2``, ``iso3``, in either published layout."""
    import pandas as pd

    header = _header(archive, info)
    layout = next((lay for lay in COUNTRY_LAYOUTS if set(lay) <= set(header)), None)
    if layout is None:
        raise DataError(f"baci: country file '{info.filename}' has columns {', '.join(header)}",
                        "Expected country_code, country_name, country_iso2, country_iso3 (CEPII's layout).")
    with archive.open(info) as fh:
        frame = pd.read_csv(fh, usecols=list(layout), dtype=str, keep_default_na=False, encoding="utf-8-sig")
    frame = frame.rename(columns=layout)[["code", "name", "iso2", "iso3"]]
    codes = pd.to_numeric(frame["code"].str.strip(), errors="coerce")
    if codes.isna().any():
        bad = frame.loc[codes.isna(), "code"].iloc[0]
        raise DataError(f"baci: country file '{info.filename}' has a country_code that is not a number: {bad!r}")
    frame["code"] = codes.astype("int32")
    for col in ("name", "iso2", "iso3"):
        frame[col] = frame[col].str.strip().replace("", None)
    return frame


def read_products(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> pd.DataFrame:
    """The product file as ``code`` (six-digit text) and ``description``."""
    import pandas as pd

    header = _header(archive, info)
    if not {"code", "description"} <= set(header):
        raise DataError(f"baci: product file '{info.filename}' has columns {', '.join(header)}",
                        "Expected code, description (CEPII's layout).")
    with archive.open(info) as fh:
        frame = pd.read_csv(fh, usecols=["code", "description"], dtype=str, keep_default_na=False,
                            encoding="utf-8-sig")
    frame["code"] = frame["code"].str.strip().str.zfill(6)
    return frame


STAGE_SCHEMA_FIELDS = (("t", "int32"), ("i", "int32"), ("j", "int32"), ("k", "string"),
                       ("v", "float64"), ("q", "float64"))


def _clean_batch(batch: pa.RecordBatch, member: str, year: int) -> pa.RecordBatch:
    """Check one parsed block and bring ``k`` to six digits and ``q`` to numbers.

    ``k`` keeps its leading zeros and is padded where a file lost them (HS6 codes have six
    digits); ``q`` is read as text because CEPII pads ``NA`` with spaces.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    k = pc.utf8_lpad(pc.utf8_trim_whitespace(batch.column("k")), width=6, padding="0")
    good = pc.match_substring_regex(k, _HS6.pattern)
    if not pc.all(good).as_py():
        bad = k.filter(pc.invert(good))[0].as_py()
        raise DataError(f"baci: '{member}' has a product code k that is not an HS6 code: {bad!r}",
                        "Check that the file is an unaltered BACI release.")
    t = batch.column("t")
    if pc.any(pc.not_equal(t, year)).as_py():
        raise DataError(f"baci: '{member}' holds years other than {year} in column t",
                        "Check that the file is an unaltered BACI release.")
    for col in ("t", "i", "j", "v"):
        if batch.column(col).null_count:
            raise DataError(f"baci: '{member}' has an empty {col}", "Only q may be missing in BACI.")
    q_text = pc.utf8_trim_whitespace(batch.column("q"))
    q_text = pc.if_else(pc.is_in(q_text, pa.array(["", "NA", "na", "NaN"])), pa.scalar(None, pa.string()), q_text)
    try:
        q = pc.cast(q_text, pa.float64())
    except pa.ArrowInvalid:
        raise DataError(f"baci: '{member}' has a quantity q that is not a number",
                        "Check that the file is an unaltered BACI release.") from None
    return pa.RecordBatch.from_arrays([t, batch.column("i"), batch.column("j"), k, batch.column("v"), q],
                                      names=list(TRADE_COLUMNS))


def _stage(archive: zipfile.ZipFile, members: Members, stage: Path, years: tuple[int, int] | None,
           quiet: bool, path: Path, error: type[MigtradeError]) -> tuple[int, list[int]]:
    """Stream every yearly file within ``years`` into the staging Parquet file ``stage``."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    chosen = [(y, info) for y, info in members.trade if years is None or years[0] <= y <= years[1]]
    if not chosen:
        found = ", ".join(str(y) for y, _ in members.trade)
        raise DataError(f"baci: no year of '{path.name}' lies in --years (it holds {found})")
    schema = pa.schema([(name, pa.type_for_alias(kind)) for name, kind in STAGE_SCHEMA_FIELDS])
    types = {"t": pa.int32(), "i": pa.int32(), "j": pa.int32(), "k": pa.string(), "v": pa.float64(),
             "q": pa.string()}
    rows = 0
    total = sum(info.file_size for _, info in chosen)
    with progress_bar(f"baci: {path.name}", total, quiet=quiet) as advance, \
            pq.ParquetWriter(stage, schema, compression="lz4") as writer:
        for year, info in chosen:
            header = _header(archive, info)
            if sorted(header) != sorted(TRADE_COLUMNS):
                raise DataError(f"baci: '{info.filename}' has columns {','.join(header)}; expected "
                                f"{','.join(TRADE_COLUMNS)} (CEPII's layout since 2021)",
                                "Give a BACI release from 2021 on, or convert the file first.")
            with archive.open(info) as raw:
                try:
                    reader = pacsv.open_csv(
                        io.BufferedReader(CountedStream(raw, advance), buffer_size=1 << 20),
                        read_options=pacsv.ReadOptions(block_size=_BLOCK, encoding="utf-8"),
                        convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=False,
                                                             null_values=[""], quoted_strings_can_be_null=False),
                    )
                    for batch in reader:
                        clean = _clean_batch(batch, info.filename, year)
                        writer.write_batch(clean.cast(schema) if clean.schema != schema else clean)
                        rows += clean.num_rows
                except (pa.ArrowInvalid, zipfile.BadZipFile, EOFError, UnicodeDecodeError) as exc:
                    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    raise error(f"baci: cannot parse '{info.filename}' in '{path}': {first}",
                                "Check that the download is complete and unaltered.") from None
    return rows, [y for y, _ in chosen]


def _sort_into(stage: Path, countries: pd.DataFrame, out: Path, scratch: Path) -> dict[str, int]:
    """Join ISO3 codes and write ``out`` sorted by product; returns rows per unknown country code."""
    import duckdb

    con = duckdb.connect(config={"temp_directory": str(scratch), "memory_limit": SORT_MEMORY,
                                 "preserve_insertion_order": True})
    try:
        codes = countries[["code", "iso3"]].copy()
        con.register("countries", codes)
        src = "read_parquet(" + _literal(str(stage)) + ")"
        con.execute(
            f"COPY (SELECT b.k, b.t AS year, co.iso3 AS origin, cd.iso3 AS destination, b.i, b.j, b.v, b.q "
            f"FROM {src} b LEFT JOIN countries co ON b.i = co.code LEFT JOIN countries cd ON b.j = cd.code "
            f"ORDER BY b.k, b.t, b.i, b.j) TO {_literal(str(out))} "
            f"(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP_ROWS})")
        unknown = con.execute(
            f"SELECT code, count(*) FROM (SELECT i AS code FROM {src} UNION ALL SELECT j FROM {src}) "
            "WHERE code NOT IN (SELECT code FROM countries) GROUP BY code ORDER BY code").fetchall()
    finally:
        con.close()
    return {str(code): int(n) for code, n in unknown}


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def ingest_zip(path: Path, workdir: Path, *, years: tuple[int, int] | None = None, quiet: bool = True,
               error: type[MigtradeError] = DataError) -> tuple[Path, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Stream a BACI zip to a Parquet file sorted by product, plus its two code tables.

    Parameters
    ----------
    path
        The release's zip.
    workdir
        Scratch folder: the staging file, DuckDB's spill files and the output go here.
    years
        Inclusive range of years to keep (files of other years are not read).
    error
        The error class for an unreadable archive: :class:`DataError` for ``--file``,
        :class:`SourceError` for a download.

    Returns
    -------
    tuple
        The trade Parquet file, the countries and products (empty frame when the zip has no
        product file), and a record for the provenance (members, release, rows, unknown codes).
    """
    import pandas as pd

    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise error(f"baci: '{path}' is not a readable zip ({exc})", "Download the file again.") from None
    with archive:
        members = find_members(archive, str(path), error)
        countries = read_countries(archive, members.countries)
        products = (read_products(archive, members.products) if members.products is not None
                    else pd.DataFrame({"code": pd.Series(dtype=str), "description": pd.Series(dtype=str)}))
        stage = workdir / "baci_stage.parquet"
        rows, kept = _stage(archive, members, stage, years, quiet, path, error)
    out = workdir / "baci.parquet"
    spill = workdir / "spill"
    spill.mkdir(exist_ok=True)
    unknown = _sort_into(stage, countries, out, spill)
    stage.unlink(missing_ok=True)
    record = {"release": f"HS{members.revision} V{members.version}",
              "members": [info.filename for year, info in members.trade if year in kept],
              "country_file": members.countries.filename,
              "product_file": members.products.filename if members.products else None,
              "years_read": kept, "rows": rows, "unknown_country_codes": unknown,
              "sorted_by": ["k", "year", "i", "j"], "row_group_rows": ROW_GROUP_ROWS}
    return out, countries, products, record


def fetch(options: FetchOptions, ctx: FetchContext) -> list[Output]:
    """Read ``--file`` (or download the release) and write ``baci``, ``baci_countries``, ``baci_products``.

    Returns
    -------
    list[Output]
        The product-level trade as a Parquet file, then the country and product tables.
    """
    zipped = zip_input("baci", options.file, SOURCES["baci"].base_url(options.base_url), FILENAME, ctx)
    path, location, retrieved_at, sha256, error = (zipped.path, zipped.location, zipped.retrieved_at,
                                                   zipped.sha256, zipped.error)
    try:
        out, countries, products, record = ingest_zip(path, ctx.workdir, years=options.years, quiet=ctx.quiet,
                                                      error=error)
    except SourceError:
        if zipped.downloaded:
            ctx.client.forget(location)
        raise
    def provenance(rows: int, extra: dict[str, Any]) -> Any:
        return make_provenance(source="baci", location=location, retrieved_at=retrieved_at, sha256=sha256,
                               parser_version=PARSER_VERSION, rows=rows, options=extra)

    return [
        Output(provenance=provenance(record["rows"], {**options.record(), **record}), parquet=out),
        Output(provenance=provenance(len(countries), {"member": record["country_file"]}), frame=countries),
        Output(provenance=provenance(len(products), {"member": record["product_file"]}), frame=products),
    ]
