"""Abel & Cohen bilateral migration flow estimates (five-year periods, from UN DESA stocks).

The publisher's CSV on figshare (Abel & Cohen 2019, *Sci Data* 6:82; updated by sex in 2022, 9:173)
has one row per (period start ``year0``, ``orig``, ``dest``) and, where the edition splits them,
``sex`` and ``type`` of move, with one column per estimation method: ``sd_drop_neg``,
``sd_rev_neg``, ``mig_rate``, ``da_min_open``, ``da_min_closed``, ``da_pb_closed`` (the closed
demographic-accounting methods are those the authors recommend). Sexes and types of move are
disjoint parts of one flow, so they are summed, unless a both-sexes total is given.

``--file`` also takes long files ``period_start, period_end, orig, dest, flow`` of one method,
the method named in the file name (``..._da_pb_closed_...``) or by ``--method``; and the JSON
matrices published with a chord diagram (:mod:`migtrade.sources.matrix_json`, e.g.
``flow_da_pb_closed.json`` of github.com/X80110/migration-visualization: one matrix per period
start year, row = origin, column = destination), told apart by content, the method named alike.

Output: ``origin, destination, period_start, period_end, flow, method``, flows in persons over
the five years, names or codes as in the source.
"""

from __future__ import annotations

import gzip
import hashlib
import io
from pathlib import Path

import pandas as pd

from migtrade.errors import DataError, UsageError
from migtrade.sources import matrix_json
from migtrade.sources.base import (
    FetchContext,
    FetchOptions,
    Output,
    file_url,
    filter_years,
    make_provenance,
    require_columns,
    utc_now,
)
from migtrade.sources.registry import SOURCES

PARSER_VERSION = "abel-cohen/1"
FILENAME = "53236079"
"""figshare file id of ``bilat_mig_sex_type.csv`` (Abel & Cohen, flows by sex and type of move)."""
METHODS = ("da_pb_closed", "da_min_closed", "da_min_open", "sd_rev_neg", "sd_drop_neg", "mig_rate")
COLUMNS = ("origin", "destination", "period_start", "period_end", "flow", "method")
PERIOD_YEARS = 5
_TOTAL_SEX = ("b", "both", "total", "all", "persons")


def _finish(frame: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({
        "origin": frame["origin"].astype("string"),
        "destination": frame["destination"].astype("string"),
        "period_start": frame["period_start"].astype("int64"),
        "period_end": frame["period_end"].astype("int64"),
        "flow": frame["flow"].astype("float64"),
        "method": frame["method"].astype("string"),
    })
    return out.sort_values(["method", "period_start", "origin", "destination"]).reset_index(drop=True)


def parse_wide(table: pd.DataFrame, methods: tuple[str, ...] = ()) -> pd.DataFrame:
    """Long flows from the publisher's layout: one column per method.

    Parameters
    ----------
    table
        The CSV as read, with ``year0, orig, dest``, maybe ``sex`` and ``type``, and method columns.
    methods
        Methods to keep; all those present when empty.
    """
    require_columns(table.columns, ("year0", "orig", "dest"), "Abel & Cohen CSV")
    present = [m for m in METHODS if m in table.columns]
    if not present:
        raise DataError("Abel & Cohen CSV: no method column",
                        f"Expected some of {', '.join(METHODS)}; found {', '.join(map(str, table.columns))}.")
    wanted = _choose(methods, present)
    if "sex" in table.columns:
        sex = table["sex"].astype("string").str.strip().str.lower()
        total = sex.isin(_TOTAL_SEX)
        if total.any():
            table = table[total]
    keys = ["year0", "orig", "dest"]
    summed = table.groupby(keys, as_index=False, sort=False)[wanted].sum(min_count=1)
    long = summed.melt(id_vars=keys, value_vars=wanted, var_name="method", value_name="flow")
    long = long[long["flow"].notna()]
    return _finish(long.assign(origin=long["orig"], destination=long["dest"], period_start=long["year0"],
                               period_end=long["year0"] + PERIOD_YEARS))


def parse_long(table: pd.DataFrame, method: str) -> pd.DataFrame:
    """Flows from a long file of one method: ``period_start, period_end, orig, dest, flow``."""
    require_columns(table.columns, ("period_start", "period_end", "orig", "dest", "flow"), "Abel & Cohen long CSV")
    return _finish(table.assign(origin=table["orig"], destination=table["dest"], method=method))


def _choose(methods: tuple[str, ...], present: list[str]) -> list[str]:
    unknown = [m for m in methods if m not in present]
    if unknown:
        raise UsageError(f"abel-cohen: method {', '.join(unknown)} is not in the data",
                         f"Methods present: {', '.join(present)}.")
    return list(methods) if methods else present


def method_from_name(name: str) -> str | None:
    """The method a long file's name mentions, e.g. ``abel_cohen_flows_da_pb_closed_long.csv.gz``."""
    found = [m for m in METHODS if m in name]
    return found[0] if len(found) == 1 else None


def parse_payload(raw: bytes, name: str = "", methods: tuple[str, ...] = ()) -> pd.DataFrame:
    """Parse either layout, told apart by its columns.

    Parameters
    ----------
    raw
        CSV or gzip CSV bytes.
    name
        File name, which names the method of a long file.
    methods
        ``--method`` choices.
    """
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if matrix_json.looks_like_matrix_json(raw):
        return parse_matrix_json(raw, _one_method(name, methods))
    try:
        table = pd.read_csv(io.BytesIO(raw))
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"Abel & Cohen file cannot be read: {str(exc).splitlines()[0]}") from None
    if "year0" in table.columns:
        return parse_wide(table, methods)
    return parse_long(table, _one_method(name, methods))


def parse_matrix_json(raw: bytes, method: str) -> pd.DataFrame:
    """Flows from the JSON matrices of one method: one matrix per period start year, row =
    origin, column = destination; region rows and columns set apart, zero cells left out."""
    long = matrix_json.parse(raw, "Abel & Cohen flow JSON").long("flow", "period_start")
    return _finish(long.assign(period_end=long["period_start"] + PERIOD_YEARS, method=method))


def _one_method(name: str, methods: tuple[str, ...]) -> str:
    """The method of a file of one method: named in its file name, else the one ``--method``."""
    method = method_from_name(name)
    if method is None:
        if len(methods) != 1:
            raise UsageError("abel-cohen: the file does not say which method its flows come from",
                             f"Name it with one --method ({', '.join(METHODS)}).")
        method = methods[0]
    elif methods and method not in methods:
        raise UsageError(f"abel-cohen: the file holds method {method}, not {', '.join(methods)}")
    return method


def fetch(options: FetchOptions, ctx: FetchContext) -> list[Output]:
    """Download (or read ``--file``) the flow estimates and parse them.

    Returns
    -------
    list[Output]
        One dataset: ``origin, destination, period_start, period_end, flow, method``.
    """
    bad = [m for m in options.methods if m not in METHODS]
    if bad:
        raise UsageError(f"abel-cohen: unknown method {', '.join(bad)}", f"Choose among {', '.join(METHODS)}.")
    if options.file is not None:
        path = Path(options.file)
        raw, location, retrieved_at, name = path.read_bytes(), str(path), utc_now(), path.name
    else:
        url = file_url(SOURCES["abel-cohen"].base_url(options.base_url), FILENAME, (".csv", ".gz"))
        payload = ctx.client.fetch(url, source="abel-cohen", expect=("csv",), label="bilat_mig.csv")
        raw, location, retrieved_at, name = payload.read_bytes(), url, payload.retrieved_at, url
    try:
        frame = filter_years(parse_payload(raw, name, options.methods), options.years, "period_start")
    except DataError:
        if options.file is None:
            ctx.client.forget(location)
        raise
    prov = make_provenance(source="abel-cohen", location=location, retrieved_at=retrieved_at,
                           sha256=hashlib.sha256(raw).hexdigest(), parser_version=PARSER_VERSION,
                           rows=len(frame), options=options.record())
    return [Output(provenance=prov, frame=frame)]
