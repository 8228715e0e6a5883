"""Inputs of the panel: recognise a file's layout or a stored dataset and bring it to one shape.

Each input has a *kind* and, once standardised, fixed column names:

============  =============================================================================
kind          columns after :func:`standardise`
============  =============================================================================
trade         origin, destination, year, trade [, dist, contig, comlang, colony, rta]
stocks        origin, destination, year, stock
flows         origin, destination, period_start, period_end, flow [, method]
covariates    origin, destination [, year], and any of dist, contig, comlang, colony, rta
country_year  iso3 and/or country, year, indicator, value
============  =============================================================================

These are the layouts of migtrade's parsers (``migtrade.sources``), so stored datasets pass
through unchanged. Files in the layouts of the shared offline data are recognised by their
columns (see :data:`LAYOUTS`): the Yotov et al. (2016) panel (exporter, importer, cntg, lang,
clny), the UN DESA long and wide stock tables, the Abel-Cohen long flows, and World Bank
tables (long, "Country Name, Country Code, Year, Value", and the WDI bulk-download CSV).
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migtrade.errors import DataError, UsageError
from migtrade.panel.schema import DYADIC_COVARIATES, WDI_INDICATORS

if TYPE_CHECKING:
    import pandas as pd

KINDS: tuple[str, ...] = ("trade", "stocks", "flows", "covariates", "country_year")

_PAIR = {"exporter": "origin", "importer": "destination", "orig": "origin", "dest": "destination",
         "iso_o": "origin", "iso_d": "destination", "iso3_o": "origin", "iso3_d": "destination",
         "origin": "origin", "destination": "destination"}
_DYADIC = {"dist": "dist", "distw": "dist", "cntg": "contig", "contig": "contig", "lang": "comlang",
           "comlang": "comlang", "comlang_off": "comlang", "clny": "colony", "colony": "colony",
           "rta": "rta"}

COLUMN_ALIASES: dict[str, dict[str, str]] = {
    "trade": {**_PAIR, **_DYADIC, "year": "year", "trade": "trade", "flow": "trade"},
    "covariates": {**_PAIR, **_DYADIC, "year": "year"},
    "stocks": {**_PAIR, "year": "year", "stock": "stock", "migrant_stock": "stock"},
    "flows": {**_PAIR, "period_start": "period_start", "period_end": "period_end", "flow": "flow",
              "method": "method"},
    "country_year": {"iso3": "iso3", "country code": "iso3", "country": "country",
                     "country name": "country", "year": "year", "indicator": "indicator",
                     "indicator code": "indicator", "value": "value"},
}
"""Per kind: source column name (lower case) -> standard name."""

REQUIRED: dict[str, tuple[str, ...]] = {
    "trade": ("origin", "destination", "year", "trade"),
    "covariates": ("origin", "destination"),
    "stocks": ("origin", "destination", "year", "stock"),
    "flows": ("origin", "destination", "period_start", "flow"),
    "country_year": ("year", "indicator", "value"),
}

COUNTRY_SOURCE: dict[str, str | None] = {
    "trade": None, "covariates": None, "stocks": "undesa", "flows": "abel_cohen",
    "country_year": "worldbank",
}
"""The ``source`` given to :func:`~migtrade.panel.countries.to_iso3` for each kind's names."""


@dataclass(frozen=True)
class Layout:
    """A file layout migtrade recognises by its columns."""

    name: str
    kind: str
    columns: frozenset[str]
    units: dict[str, str] = field(default_factory=dict)


_WDI_UNITS = {"gdp_o": "current US$", "gdp_d": "current US$", "pop_o": "persons",
              "pop_d": "persons"}

LAYOUTS: tuple[Layout, ...] = (
    Layout("yotov2016", "trade", frozenset({"exporter", "importer", "year", "trade"}),
           {"trade": "current US$ millions (Yotov et al. 2016)",
            "dist": "km, population-weighted (CEPII GeoDist)"}),
    Layout("cepii_hmr", "trade", frozenset({"iso_o", "iso_d", "flow"}),
           {"trade": "US$ millions (Head, Mayer & Ries 2010)",
            "dist": "km, population-weighted (CEPII distw)"}),
    Layout("undesa_long", "stocks", frozenset({"year", "orig", "dest", "stock"}),
           {"migrant_stock": "persons, mid-year (UN DESA)",
            "migrant_stock_reverse": "persons, mid-year (UN DESA)"}),
    Layout("undesa_wide", "stocks", frozenset({"year", "dest"}),
           {"migrant_stock": "persons, mid-year (UN DESA)",
            "migrant_stock_reverse": "persons, mid-year (UN DESA)"}),
    Layout("abel_cohen_long", "flows", frozenset({"period_start", "period_end", "orig", "dest", "flow"}),
           {"migration_flow": "persons over the five-year period, by country of previous "
                              "residence (Abel & Cohen)"}),
    Layout("wdi_bulk", "country_year", frozenset({"country code", "indicator code"}), _WDI_UNITS),
    Layout("wdi_simple", "country_year", frozenset({"country code", "year", "value"}), _WDI_UNITS),
    Layout("wdi_long", "country_year", frozenset({"iso3", "year", "indicator", "value"}), _WDI_UNITS),
)
"""Recognised layouts, tried in order; a frame matching none is read as already standard."""

SIMPLE_WDI_FILES: dict[str, str] = {
    "gdp_current_usd": "NY.GDP.MKTP.CD",
    "population": "SP.POP.TOTL",
}
"""File-name stems of single-indicator WDI tables without an indicator column."""

_FLOW_METHOD = re.compile(r"(da_pb_closed|da_min_closed|da_pb_open|da_min_open|sd_drop_neg|"
                          r"sd_rev_neg|rd_[a-z]+|mig_rate)")


@dataclass(frozen=True)
class LoadedInput:
    """One input read and standardised, with what provenance needs to know about it.

    Attributes
    ----------
    kind
        One of :data:`KINDS`.
    frame
        The standardised table (see the module docstring).
    layout
        The recognised layout name, ``"store"`` for a stored dataset, or ``"standard"``.
    record
        ``name`` (path or dataset name), ``sha256``, ``kind``, ``layout`` and ``rows``: one
        entry of the panel's provenance inputs.
    units
        Units the input sets for panel columns.
    """

    kind: str
    frame: pd.DataFrame
    layout: str
    record: dict[str, Any]
    units: dict[str, str] = field(default_factory=dict)


def detect_layout(frame: pd.DataFrame) -> Layout | None:
    """The first layout of :data:`LAYOUTS` whose columns ``frame`` has, or None."""
    lower = {str(c).strip().lower() for c in frame.columns}
    for layout in LAYOUTS:
        if layout.columns <= lower:
            if layout.name == "undesa_wide" and ({"orig", "origin"} & lower or len(lower) < 10):
                continue
            return layout
    return None


def _melt_wide(frame: pd.DataFrame, id_cols: list[str], var_name: str) -> pd.DataFrame:
    import pandas as pd

    value_cols = [c for c in frame.columns if c not in id_cols]
    long = frame.melt(id_vars=id_cols, value_vars=value_cols, var_name=var_name)
    long["value"] = pd.to_numeric(long["value"], errors="coerce")  # ".." and "-" are not numbers
    return long.dropna(subset=["value"])


def _reshape(frame: pd.DataFrame, layout: Layout | None) -> pd.DataFrame:
    if layout is None:
        return frame
    if layout.name == "undesa_wide":
        ids = [c for c in frame.columns if str(c).strip().lower() in ("year", "dest")]
        long = _melt_wide(frame, ids, "orig")
        return long.rename(columns={"value": "stock"})
    if layout.name == "wdi_bulk":
        years = [c for c in frame.columns if re.fullmatch(r"\d{4}", str(c).strip())]
        ids = [c for c in frame.columns if str(c).strip().lower() in ("country name", "country code",
                                                                      "indicator code")]
        long = _melt_wide(frame[ids + years], ids, "year")
        long["year"] = long["year"].astype("int64")
        return long
    return frame


def standardise(frame: pd.DataFrame, kind: str, *, indicator: str | None = None) -> pd.DataFrame:
    """Rename a table's columns to the standard names of ``kind`` and drop the others.

    Parameters
    ----------
    frame
        An input in a recognised layout (:data:`LAYOUTS`) or already standard.
    kind
        One of :data:`KINDS`.
    indicator
        For a country-year table without an indicator column: its WDI indicator code.

    Returns
    -------
    pandas.DataFrame
        A new frame with the standard columns of ``kind``.

    Raises
    ------
    DataError
        If a required column is missing or two columns mean the same thing.
    """
    if kind not in KINDS:
        raise UsageError(f"unknown panel input kind '{kind}'", f"Use one of {', '.join(KINDS)}.")
    layout = detect_layout(frame)
    frame = _reshape(frame, layout)
    aliases = COLUMN_ALIASES[kind]
    renames: dict[Any, str] = {}
    for col in frame.columns:
        target = aliases.get(str(col).strip().lower())
        if target is None:
            continue
        clash = [c for c, t in renames.items() if t == target]
        if clash:
            raise DataError(f"{kind} input has two columns for '{target}': '{clash[0]}' and '{col}'",
                            "Drop one of them.")
        renames[col] = target
    out = frame[list(renames)].rename(columns=renames)
    if kind == "country_year" and "indicator" not in out.columns and indicator is not None:
        out = out.assign(indicator=indicator)
    needed = list(REQUIRED[kind])
    if kind == "country_year" and not {"iso3", "country"} & set(out.columns):
        needed.append("iso3")
    missing = [c for c in needed if c not in out.columns]
    if kind == "covariates" and not set(DYADIC_COVARIATES) & set(out.columns):
        missing.append(" or ".join(DYADIC_COVARIATES))
    if missing:
        hint = ("Name the indicator: --country-year NY.GDP.MKTP.CD=FILE."
                if missing == ["indicator"] else
                f"Expected the columns {', '.join(REQUIRED[kind])} or a layout migtrade knows.")
        raise DataError(f"{kind} input lacks {', '.join(missing)}; it has "
                        f"{', '.join(map(str, frame.columns[:12]))}", hint)
    return out


def _first_line(path: Path) -> str:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", errors="replace") as fh:
            return fh.readline()
    except (OSError, EOFError):
        return ""


def read_file(path: Path) -> pd.DataFrame:
    """Read a data file, skipping the four title lines of a WDI bulk-download CSV."""
    import pandas as pd

    from migtrade.store.files import read_table

    if _first_line(path).lstrip().strip('"').startswith("Data Source"):
        try:
            return pd.read_csv(path, skiprows=4)
        except (ValueError, OSError) as exc:
            raise DataError(f"cannot read '{path}': {str(exc).splitlines()[0]}") from None
    return read_table(path)


def _split_indicator(ref: str) -> tuple[str | None, str]:
    """``"SP.POP.TOTL=pop.csv"`` or ``"pop=pop.csv"`` -> (indicator code, path)."""
    head, sep, tail = ref.partition("=")
    if not sep:
        return None, ref
    by_name = {v: k for k, v in WDI_INDICATORS.items()}
    code = head.strip().upper() if head.strip().upper() in WDI_INDICATORS else by_name.get(head.strip())
    return (code, tail) if code is not None else (None, ref)


def _check_kind(layout: Layout | None, kind: str, where: str) -> None:
    if layout is None or layout.kind == kind:
        return
    if kind == "covariates" and layout.kind == "trade":
        return
    raise DataError(f"'{where}' looks like {layout.name} ({layout.kind}) data but was given as "
                    f"{kind}", f"Pass it with --{layout.kind.replace('_', '-')}.")


def load_input(ref: str, kind: str, store_root: Path | None = None) -> LoadedInput:
    """Read one input from a file or from the store and standardise it.

    Parameters
    ----------
    ref
        A file path, or the name of a stored dataset. For a country-year table without an
        indicator column, prefix the indicator: ``NY.GDP.MKTP.CD=gdp.csv`` or ``gdp=gdp.csv``.
    kind
        One of :data:`KINDS`.
    store_root
        The store folder; None for the default (``$MIGTRADE_STORE`` or the user data folder).

    Returns
    -------
    LoadedInput

    Raises
    ------
    DataError
        If the file or dataset does not exist or is not an input of ``kind``.
    """
    from migtrade.store.files import sha256_of
    from migtrade.store.names import is_valid_name

    indicator, target = _split_indicator(ref) if kind == "country_year" else (None, ref)
    path = Path(target).expanduser()
    if path.is_file():
        frame = read_file(path)
        layout = detect_layout(frame)
        _check_kind(layout, kind, str(path))
        stem = path.name.lower().split(".")[0]
        if indicator is None and kind == "country_year":
            indicator = SIMPLE_WDI_FILES.get(stem)
        standard = standardise(frame, kind, indicator=indicator)
        if kind == "flows" and "method" not in standard.columns:
            found = _FLOW_METHOD.search(path.name.lower())
            if found:
                standard = standard.assign(method=found.group(1))
        name = layout.name if layout else "standard"
        record = {"name": str(path), "sha256": sha256_of(path), "kind": kind, "layout": name,
                  "rows": len(frame)}
        return LoadedInput(kind, standard, name, record, dict(layout.units) if layout else {})
    if path.exists() or not is_valid_name(target):
        raise DataError(f"{kind} input '{target}' is not a file or a stored dataset name",
                        "Give the path of a data file or the name of a stored dataset.")
    from migtrade.store.catalog import Store

    store = Store(store_root)
    info = store.info(target)
    frame = store.read(target)
    units = info.provenance.options.get("units") or {}
    record = {"name": target, "sha256": info.file_sha256, "kind": kind, "layout": "store",
              "rows": info.rows, "version": info.version, "source": info.provenance.source}
    return LoadedInput(kind, standardise(frame, kind, indicator=indicator), "store", record,
                       {str(k): str(v) for k, v in dict(units).items()})
