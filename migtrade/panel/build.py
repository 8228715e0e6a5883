"""Build a panel end to end: read the inputs, assemble, validate, store it with its provenance.

This is the one library call behind ``migtrade panel build``; the command only parses options
and renders the :class:`BuildReport`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migtrade.atomic import write_atomically
from migtrade.errors import UsageError

if TYPE_CHECKING:
    import pandas as pd

    from migtrade.panel.assemble import PanelResult
    from migtrade.store.provenance import DatasetInfo, Provenance

BUILDER_VERSION = "panel/1"
"""Recorded as the panel's ``parser_version``: a change in assembly rules changes the panel."""

_RANGE = re.compile(r"(\d{4}):(\d{4})(?::(\d+))?")


def parse_years(text: str | None) -> list[int] | None:
    """``"1990,1995"``, ``"1986:2006"`` or ``"1990:2020:5"`` (inclusive) -> sorted years.

    Raises
    ------
    UsageError
        If a part is neither a year nor a range.
    """
    if text is None or not text.strip():
        return None
    years: set[int] = set()
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if part.isdigit() and len(part) == 4:
            years.add(int(part))
        elif (m := _RANGE.fullmatch(part)) and int(m.group(1)) <= int(m.group(2)):
            years.update(range(int(m.group(1)), int(m.group(2)) + 1, int(m.group(3) or 1)))
        else:
            raise UsageError(f"cannot read '{part}' in --years as a year or a range",
                             "Use e.g. 1990,1995,2000 or 1986:2006 or 1990:2020:5.")
    return sorted(years)


def parse_countries(text: str | None) -> list[str] | None:
    """``"MEX,USA,PHL"`` -> ``["MEX", "USA", "PHL"]``; names and ``@KIND`` tokens pass through."""
    if text is None or not text.strip():
        return None
    return [p.strip() for p in text.split(",") if p.strip()]


def _expand_countries(countries: Sequence[str] | None,
                      frames: dict[str, pd.DataFrame]) -> list[str] | None:
    """Replace ``@trade`` (etc.) by the countries that input holds, on either side of a pair."""
    if countries is None:
        return None
    out: list[str] = []
    for item in countries:
        if not item.startswith("@"):
            out.append(item)
            continue
        kind = item[1:]
        if kind not in frames:
            raise UsageError(f"--countries {item}: no {kind} input was given",
                             f"Use @ with one of the inputs given: {', '.join(sorted(frames))}.")
        frame = frames[kind]
        out.extend(_distinct_text(frame, ["origin", "destination"]))
    return list(dict.fromkeys(out))


def _distinct_text(frame: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """Distinct values of ``columns`` as text, in first-seen order."""
    seen: dict[str, None] = {}
    for col in columns:
        seen.update(dict.fromkeys(frame[col].dropna().astype(str).unique()))
    return list(seen)


@dataclass(frozen=True)
class BuildReport:
    """What :func:`build_panel` produced.

    Attributes
    ----------
    result
        The assembled panel with its coverage, unmatched names and notes.
    provenance
        The provenance written with the panel.
    dataset
        The catalog record, when the panel was stored.
    store_root
        The store folder written to, when stored.
    out
        The file written, when ``out`` was given.
    """

    result: PanelResult
    provenance: Provenance
    dataset: DatasetInfo | None
    store_root: Path | None
    out: Path | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (what ``--format json`` prints)."""
        frame, cov = self.result.frame, self.result.coverage
        coverage = {str(year): {k: (int(v) if k == "rows" else round(float(v), 6))
                                for k, v in row.items()}
                    for year, row in cov.to_dict(orient="index").items()}
        return {
            "schema": "migtrade.panel-build/1",
            "name": self.dataset.name if self.dataset else None,
            "version": self.dataset.version if self.dataset else None,
            "store": str(self.store_root) if self.store_root else None,
            "out": str(self.out) if self.out else None,
            "rows": len(frame),
            "columns": list(frame.columns),
            "years": sorted(int(y) for y in cov.index),
            "countries": len(self.result.countries()),
            "coverage": coverage,
            "unmatched": self.result.unmatched,
            "aggregates": self.result.aggregates,
            "notes": self.result.notes,
            "units": self.result.units,
            "provenance": self.provenance.to_dict(),
        }


def _write_file(frame: pd.DataFrame, path: Path) -> None:
    """CSV (optionally gzip) or Parquet by extension, written beside and renamed into place."""
    def fill(tmp: Path) -> None:
        if path.name.lower().endswith((".parquet", ".pq")):
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False, compression="gzip" if path.name.endswith(".gz") else None)

    write_atomically(path, fill)


def build_panel(*, name: str | None, trade: str | None = None, stocks: str | None = None,
                flows: str | None = None, covariates: str | None = None,
                country_year: Sequence[str] = (), years: Sequence[int] | None = None,
                countries: Sequence[str] | None = None, store_root: Path | None = None,
                out: Path | None = None) -> BuildReport:
    """Read the inputs, assemble and validate the panel, and write it.

    Parameters
    ----------
    name
        Store the panel under this dataset name; None to write only ``out``.
    trade, stocks, flows, covariates
        A file path or a stored dataset name for each input (see :mod:`migtrade.panel.inputs`).
    country_year
        Any number of country-year inputs (files or dataset names, optionally prefixed with
        the indicator: ``SP.POP.TOTL=pop.csv``); they are stacked.
    years, countries
        Restrict the panel (see :func:`~migtrade.panel.assemble.assemble_panel`).
    store_root
        The store folder; None for the default.
    out
        Also write the panel to this file (CSV, gzip CSV or Parquet).

    Returns
    -------
    BuildReport

    Raises
    ------
    UsageError
        If neither ``name`` nor ``out`` is given, or no dyadic input is.
    DataError
        If an input cannot be read or the panel fails validation.
    """
    import pandas as pd

    from migtrade.panel.assemble import assemble_panel
    from migtrade.panel.inputs import LoadedInput, load_input
    from migtrade.panel.schema import SCHEMA_VERSION, validate_panel
    from migtrade.store.names import check_name
    from migtrade.store.provenance import Provenance, utc_timestamp

    if name is None and out is None:
        raise UsageError("nowhere to write the panel", "Give --name (store) or --out (file), or both.")
    if name is not None:
        check_name(name)
    if not any((trade, stocks, flows, covariates)):
        raise UsageError("no dyadic input given",
                         "Give at least one of --trade, --stocks, --flows, --covariates.")
    loaded: dict[str, LoadedInput] = {}
    for kind, ref in (("trade", trade), ("stocks", stocks), ("flows", flows),
                      ("covariates", covariates)):
        if ref is not None:
            loaded[kind] = load_input(ref, kind, store_root)
    country_inputs = [load_input(ref, "country_year", store_root) for ref in country_year]
    chosen = _expand_countries(countries, {k: v.frame for k, v in loaded.items()})
    units: dict[str, str] = {}
    for item in [*loaded.values(), *country_inputs]:
        units.update(item.units)
    result = assemble_panel(
        trade=loaded["trade"].frame if "trade" in loaded else None,
        stocks=loaded["stocks"].frame if "stocks" in loaded else None,
        flows=loaded["flows"].frame if "flows" in loaded else None,
        covariates=loaded["covariates"].frame if "covariates" in loaded else None,
        country_year=(pd.concat([c.frame for c in country_inputs], ignore_index=True)
                      if country_inputs else None),
        years=years, countries=chosen, units=units)
    validate_panel(result.frame)
    countries_asked = (None if countries is None else
                       {"asked": list(countries),
                        "kept": result.countries()})
    records = tuple(item.record for item in [*loaded.values(), *country_inputs])
    fingerprint = hashlib.sha256("".join(f"{r['name']}:{r['sha256']}\n" for r in records).encode())
    provenance = Provenance(
        source="panel", location="+".join(str(r["name"]) for r in records),
        retrieved_at=utc_timestamp(), sha256=fingerprint.hexdigest(),
        parser_version=BUILDER_VERSION, rows=len(result.frame),
        options={"schema": SCHEMA_VERSION, "units": result.units,
                 "years": list(years) if years is not None else None,
                 "countries": countries_asked,
                 "unmatched": result.unmatched, "aggregates": result.aggregates,
                 "notes": result.notes},
        inputs=records)
    if out is not None:
        _write_file(result.frame, out)
    dataset, root = None, None
    if name is not None:
        from migtrade.store.catalog import Store

        store = Store(store_root)
        dataset, root = store.write(name, result.frame, provenance), store.root
    return BuildReport(result=result, provenance=provenance, dataset=dataset, store_root=root,
                       out=out)
