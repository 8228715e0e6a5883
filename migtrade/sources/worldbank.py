"""World Bank Indicators API v2: country-year covariates (GDP, population, remittances, openness).

A query ``{base}/v2/country/all/indicator/{code}?format=json&date=1990:2020&per_page=20000&page=N``
answers a two-element JSON list: a header ``{"page", "pages", "per_page", "total", ...}`` and the
records, each ``{"indicator": {"id", "value"}, "country": {"id", "value"}, "countryiso3code",
"date", "value", ...}``. An invalid query answers ``[{"message": [{"id", "key", "value"}]}]``.

The API mixes countries with regional and income aggregates (World, Euro area, High income...).
Aggregates are told apart with the API's own country list, where their region is "Aggregates";
when that list cannot be had, with the ISO 3166 alpha-3 codes plus Kosovo (XKX) and the Channel
Islands (CHI), which the World Bank lists as economies without ISO codes. Countries and aggregates
are written as two datasets, so a sum or a regression over countries never counts one twice.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd

from migtrade.errors import DataError, SourceError, UsageError
from migtrade.sources.base import (
    FetchContext,
    FetchOptions,
    Output,
    PayloadHash,
    filter_years,
    make_provenance,
    utc_now,
)
from migtrade.sources.http import HttpStatusError
from migtrade.sources.registry import SOURCES
from migtrade.sources.wdi_files import (
    COLUMNS,
    country_codes,
    frame_from_rows,
    mark_aggregates,
    read_wdi_csv,
)

PARSER_VERSION = "worldbank/1"

DEFAULT_INDICATORS: dict[str, str] = {
    "NY.GDP.MKTP.CD": "gdp",
    "NY.GDP.PCAP.PP.CD": "gdp_pc_ppp",
    "SP.POP.TOTL": "pop",
    "BX.TRF.PWKR.CD.DT": "remittances",
    "BX.TRF.PWKR.DT.GD.ZS": "remittances_gdp",
    "NE.TRD.GNFS.ZS": "trade_gdp",
}
"""Indicators fetched when none is named, with the short names the panel gives them.

Units: current US$ (gdp, remittances), current international $ at PPP (gdp_pc_ppp), persons
(pop), percent of GDP (remittances_gdp, trade_gdp)."""

DEFAULT_YEARS = (1990, 2020)
PER_PAGE = 20000
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._]*$")
# Message ids the API gives for an indicator code it does not have.
_UNKNOWN_INDICATOR_IDS = frozenset({"120", "175"})


class WorldBankFormatError(ValueError):
    """A payload that is not a World Bank API v2 JSON page."""


class ApiMessage(Exception):
    """The API's own error answer: ``[{"message": [{"id", "key", "value"}]}]``."""

    def __init__(self, ident: str, key: str, value: str) -> None:
        super().__init__(f"{ident} {key}: {value}")
        self.id, self.key, self.value = ident, key, value


def parse_api_page(raw: bytes) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Split one API page into its header and its records.

    Raises
    ------
    ApiMessage
        If the page is the API's error answer.
    WorldBankFormatError
        If the payload is not JSON or not shaped like an API page.
    """
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        head = raw[:40].decode("utf-8", "replace").strip()
        raise WorldBankFormatError(f"not valid JSON ({exc.__class__.__name__}: {exc}; begins {head!r})") from None
    if isinstance(doc, list) and len(doc) == 1 and isinstance(doc[0], dict) and "message" in doc[0]:
        messages = doc[0]["message"] or [{}]
        first = messages[0] if isinstance(messages, list) else {}
        raise ApiMessage(str(first.get("id", "")), str(first.get("key", "")), str(first.get("value", "")))
    if not (isinstance(doc, list) and len(doc) == 2 and isinstance(doc[0], dict) and "pages" in doc[0]):
        raise WorldBankFormatError("not a two-element [header, records] list with a 'pages' header")
    records = doc[1] or []
    if not isinstance(records, list):
        raise WorldBankFormatError("the records part is not a list")
    return doc[0], records


def records_to_frame(records: list[dict[str, Any]], aggregates: frozenset[str] | None) -> pd.DataFrame:
    """Long frame ``iso3, country, year, indicator, value, is_aggregate`` from API records.

    Records without a value are dropped: in a long table a missing observation is an absent row.

    Parameters
    ----------
    records
        Records of one or more pages.
    aggregates
        Codes the API lists as aggregates; ``None`` to use the ISO 3166 country list instead.
    """
    countries = country_codes()
    rows = []
    for rec in records:
        if rec.get("value") is None:
            continue
        country = rec.get("country") or {}
        iso3 = (rec.get("countryiso3code") or "").strip()
        code = iso3 or str(country.get("id", ""))
        date = str(rec.get("date", ""))
        if not date.isdigit():
            raise WorldBankFormatError(f"date {date!r} is not a year; only annual indicators are supported")
        if aggregates is not None and code in aggregates:
            is_aggregate = True
        else:
            is_aggregate = not iso3 or iso3 not in countries
        rows.append((code, country.get("value", ""), int(date), (rec.get("indicator") or {}).get("id", ""),
                     float(rec["value"]), is_aggregate))
    return frame_from_rows(rows)


def parse_country_list(raw: bytes) -> tuple[dict[str, Any], frozenset[str]]:
    """Header and aggregate codes of one page of ``/v2/country``: those whose region is "Aggregates"."""
    header, records = parse_api_page(raw)
    codes = set()
    for rec in records:
        region = rec.get("region") or {}
        if str(region.get("id", "")).strip() == "NA" or str(region.get("value", "")).strip() == "Aggregates":
            codes.add(str(rec.get("id", "")))
    return header, frozenset(codes)


def page_url(base: str, code: str, years: tuple[int, int], page: int) -> str:
    """Address of one page of an indicator query."""
    return (f"{base}/v2/country/all/indicator/{quote(code, safe='.')}"
            f"?format=json&date={years[0]}:{years[1]}&per_page={PER_PAGE}&page={page}")


def country_list_url(base: str, page: int) -> str:
    """Address of one page of the API's list of countries and aggregates."""
    return f"{base}/v2/country/all?format=json&per_page={PER_PAGE}&page={page}"


def _pages(header: dict[str, Any]) -> int:
    try:
        return int(header.get("pages") or 0)
    except (TypeError, ValueError):
        raise WorldBankFormatError(f"header 'pages' is {header.get('pages')!r}") from None


def _indicator_error(code: str, msg: ApiMessage) -> Exception:
    detail = f"API message {msg.id}: {msg.key} - {msg.value}".strip()
    if msg.id in _UNKNOWN_INDICATOR_IDS:
        return UsageError(f"worldbank: unknown indicator '{code}' ({detail})",
                          "Check the code at https://data.worldbank.org/indicator.")
    return SourceError(f"worldbank: the API refused the query for '{code}' ({detail})")


def _get_page(ctx: FetchContext, url: str, what: str, hashes: PayloadHash) -> bytes:
    try:
        payload = ctx.client.fetch(url, source="worldbank", expect=("json",), label=what)
    except HttpStatusError as err:
        try:
            parse_api_page(err.body)
        except ApiMessage as msg:
            raise ApiMessage(msg.id, msg.key, msg.value) from None
        except WorldBankFormatError:
            pass
        raise
    raw = payload.read_bytes()
    hashes.add(url, raw, payload.retrieved_at)
    return raw


def _fetch_indicator(ctx: FetchContext, base: str, code: str, years: tuple[int, int],
                     aggregates: frozenset[str] | None, hashes: PayloadHash) -> pd.DataFrame:
    records: list[dict[str, Any]] = []
    page, pages, total = 1, 1, None
    while page <= pages:
        url = page_url(base, code, years, page)
        try:
            header, recs = parse_api_page(_get_page(ctx, url, f"{code} p{page}", hashes))
            pages = _pages(header)
        except ApiMessage as msg:
            ctx.client.forget(url)
            raise _indicator_error(code, msg) from None
        except WorldBankFormatError as exc:
            ctx.client.forget(url)
            raise SourceError(f"worldbank: the answer for '{code}' page {page} is unusable: {exc}",
                              "Retry later, or pass --file with a downloaded copy.") from None
        if total is None:
            total = header.get("total")
        records.extend(recs)
        page += 1
    if isinstance(total, int) and len(records) != total:
        raise SourceError(f"worldbank: '{code}' announced {total} records but its pages held {len(records)}",
                          "The data may have changed during the download; try again with --refresh.")
    return records_to_frame(records, aggregates)


def _aggregate_codes(ctx: FetchContext, base: str, hashes: PayloadHash) -> frozenset[str] | None:
    codes: set[str] = set()
    page, pages = 1, 1
    while page <= pages:
        url = country_list_url(base, page)
        try:
            header, found = parse_country_list(_get_page(ctx, url, f"countries p{page}", hashes))
        except (SourceError, ApiMessage, WorldBankFormatError) as exc:
            # A mirror may serve indicators only, and an offline cache filled from one lacks the
            # list too; the ISO list then decides what is a country. Other failures are real.
            if isinstance(exc, SourceError) and not (isinstance(exc, HttpStatusError) or ctx.client.settings.offline):
                raise
            ctx.client.forget(url)
            return None
        pages = _pages(header)
        codes |= found
        page += 1
    return frozenset(codes) if codes else None


def read_wdi_file(path: Path, indicators: tuple[str, ...] = ()) -> tuple[pd.DataFrame, str, str]:
    """Read a World Bank file downloaded by hand: a saved API JSON page, or a WDI CSV or zip.

    Returns
    -------
    tuple
        Long frame with ``is_aggregate``, sha256 of the file, time read.
    """
    raw = path.read_bytes()
    if raw.lstrip()[:1] != b"[":
        return read_wdi_csv(path, indicators)
    try:
        _, records = parse_api_page(raw)
    except ApiMessage as msg:
        raise DataError(f"'{path}' is a World Bank error answer ({msg})", "Download the data again.") from None
    except WorldBankFormatError as exc:
        raise DataError(f"'{path}' is not a World Bank API page: {exc}") from None
    frame = records_to_frame(records, None).drop(columns="is_aggregate")
    if indicators:
        frame = frame[frame["indicator"].isin(indicators)].reset_index(drop=True)
    return mark_aggregates(frame, None), hashlib.sha256(raw).hexdigest(), utc_now()


def check_indicators(codes: tuple[str, ...]) -> tuple[str, ...]:
    """The codes to fetch (the defaults when none), each checked for characters an API code has."""
    chosen = codes or tuple(DEFAULT_INDICATORS)
    for code in chosen:
        if not _CODE.match(code):
            raise UsageError(f"worldbank: '{code}' is not an indicator code", "Use codes like NY.GDP.MKTP.CD.")
    return tuple(dict.fromkeys(chosen))


def fetch(options: FetchOptions, ctx: FetchContext) -> list[Output]:
    """Fetch indicators (or read ``--file``) into a country dataset and an aggregates dataset.

    Returns
    -------
    list[Output]
        Countries first, then aggregates; both with columns ``iso3, country, year, indicator,
        value`` (value in the indicator's own unit).
    """
    source = SOURCES["worldbank"]
    indicators = check_indicators(options.indicators)
    years = options.years or DEFAULT_YEARS
    record = {**options.record(), "indicators": list(indicators), "years": f"{years[0]}:{years[1]}"}
    if options.file is not None:
        frame, sha256, retrieved_at = read_wdi_file(options.file, options.indicators)
        frame = filter_years(frame, years)
        record["indicators"] = sorted(frame["indicator"].dropna().unique().tolist())
        location, payloads, how = str(options.file), [], "the file's country metadata, else ISO 3166 + XKX, CHI"
    else:
        base = source.base_url(options.base_url)
        hashes = PayloadHash()
        aggregates = _aggregate_codes(ctx, base, hashes)
        how = "API country list" if aggregates is not None else "ISO 3166 alpha-3 + XKX, CHI"
        pieces = [_fetch_indicator(ctx, base, code, years, aggregates, hashes) for code in indicators]
        frame = pd.concat(pieces, ignore_index=True) if pieces else frame_from_rows([])
        sha256, location, payloads = hashes.hexdigest(), f"{base}/v2/country/all/indicator", hashes.parts
        retrieved_at = hashes.retrieved_at()
    record["aggregates_from"] = how
    if payloads:
        # The dataset's sha256 covers these responses, concatenated in this order.
        record["payloads"] = payloads
    outputs = []
    for part, mask in (("countries", ~frame["is_aggregate"]), ("aggregates", frame["is_aggregate"])):
        subset = frame.loc[mask, list(COLUMNS)].sort_values(["indicator", "iso3", "year"]).reset_index(drop=True)
        prov = make_provenance(source="worldbank", location=location, retrieved_at=retrieved_at, sha256=sha256,
                               parser_version=PARSER_VERSION, rows=len(subset),
                               options={**record, "part": part})
        outputs.append(Output(provenance=prov, frame=subset))
    return outputs
