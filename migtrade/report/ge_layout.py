"""The table of a general-equilibrium counterfactual, laid out from its ``migtrade.ge/1`` document.

:func:`build_ge_table` lays the per-country results out once, format-neutrally: which countries
and in what order (countries in a changed pair first, then by the size of their real GDP change),
each number formatted with its interval below it when draws were made, the scenario and the
parameters above, and below the notes a reader needs to read the numbers: what the baseline is,
how a percent change is defined, convergence, and every failed draw. The document is read as
data: this module never imports the engine. :mod:`migtrade.report.ge_table` renders the table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from migtrade.errors import DataError, UsageError
from migtrade.report.load import read_json_file
from migtrade.report.sources import describe_data
from migtrade.report.table import format_number

GE_SCHEMA = "migtrade.ge/1"
CHANGED_MARK = "*"
_LOAD_HINT = "Pass a file written by 'migtrade ge --save'."


@dataclass(frozen=True)
class GEField:
    """One per-country number of the document: its key, its column heading and its decimals."""

    key: str
    heading: str
    digits: int


COUNTRY_FIELDS: tuple[GEField, ...] = (
    GEField("real_gdp_pct", "Real GDP", 3),
    GEField("welfare_ratio", "Welfare ratio", 5),
    GEField("exports_conditional_pct", "Exports (cond.)", 2),
    GEField("exports_full_pct", "Exports (full)", 2),
    GEField("imports_full_pct", "Imports", 2),
    GEField("domestic_full_pct", "Domestic sales", 2),
    GEField("factory_gate_price_pct", "Factory-gate price", 3),
    GEField("imr_pct", "Inward MR (P)", 3),
    GEField("omr_pct", "Outward MR (Pi)", 3),
    GEField("terms_of_trade_pct", "Terms of trade", 3),
)
"""The columns of the table, in order; every field but the welfare ratio is a percent change."""

BASELINE_FIELDS = ("output_baseline", "expenditure_baseline")
"""Per-country levels of the baseline, in the CSV only."""

REQUIRED_KEYS = ("schema", "year", "sigma", "reference", "method", "baseline", "countries",
                 "converged", "iterations")

# Sentences the engine writes into a document's notes, by how they begin. A document without one
# (written by hand or by another version) gets the table's own sentence instead.
_ENGINE_SAYS: dict[str, tuple[str, ...]] = {
    "baseline": ("Percent changes are",),
    "convergence": ("Converged", "Solved", "NOT converged"),
    "draws": ("Intervals:",),
}

_BASELINE_TEXT = {
    "observed": "the trade flows as observed in {year}",
    "fitted": "the trade flows fitted by the gravity model in {year}",
}


@dataclass(frozen=True)
class GECell:
    """One number of one country: as shown, at full precision, and its interval when drawn."""

    text: str
    value: float | None
    interval: tuple[float | None, float | None] | None = None
    interval_text: str = ""


@dataclass(frozen=True)
class GERow:
    """One country: its ISO3 code, whether it is in a changed pair, and its cells in column order."""

    country: str
    changed: bool
    cells: tuple[GECell, ...]

    @property
    def label(self) -> str:
        """The country as shown: marked when it is in a pair whose costs the scenario changes."""
        return f"{self.country} {CHANGED_MARK}" if self.changed else self.country


@dataclass(frozen=True)
class GETable:
    """A general-equilibrium table, already formatted as text.

    Attributes
    ----------
    title
        A caption for the whole table.
    fields
        The columns after the country.
    rows
        One per country, in display order.
    header
        Lines printed above the table: the scenario and the parameters.
    notes
        Lines printed below it: definitions, convergence, draws, data.
    intervals
        Whether any cell has an interval (a second line under each country).
    """

    title: str
    fields: tuple[GEField, ...]
    rows: tuple[GERow, ...]
    header: tuple[str, ...]
    notes: tuple[str, ...]
    intervals: bool

    @property
    def headings(self) -> tuple[str, ...]:
        """The column headings, the country column first."""
        return ("Country", *(f.heading for f in self.fields))

    def text_rows(self) -> list[list[str]]:
        """Body rows as plain text: each country's numbers, then their intervals when drawn."""
        out: list[list[str]] = []
        for row in self.rows:
            out.append([row.label, *(c.text for c in row.cells)])
            if self.intervals:
                out.append(["", *(c.interval_text for c in row.cells)])
        return out


def check_ge_document(doc: Any, where: str = "the document") -> dict[str, Any]:
    """The document itself when it is a ``migtrade.ge/1`` object with the keys a table needs.

    Raises
    ------
    DataError
        When it is not a GE document, is of another schema version, or lacks a key; the message
        says what ``where`` is.
    """
    hint = _LOAD_HINT
    schema = doc.get("schema") if isinstance(doc, dict) else None
    if not isinstance(schema, str) or not schema.startswith("migtrade.ge/"):
        raise DataError(f"{where} is not a migtrade general-equilibrium result (no "
                        f"'{GE_SCHEMA}' schema)", hint)
    if schema != GE_SCHEMA:
        raise DataError(f"{where} has schema '{schema}'; this migtrade reads '{GE_SCHEMA}'",
                        "It was written by another migtrade version: use that version or re-run "
                        "'migtrade ge'.")
    missing = [k for k in REQUIRED_KEYS if k not in doc]
    if missing:
        raise DataError(f"{where} is a damaged general-equilibrium result (missing "
                        f"{', '.join(missing)})", hint)
    if not isinstance(doc["countries"], dict) or not doc["countries"]:
        raise DataError(f"{where} holds no countries", hint)
    return doc


def load_ge_document(path: str | Path) -> dict[str, Any]:
    """The ``migtrade.ge/1`` document saved in ``path`` (by ``migtrade ge --save``).

    Raises
    ------
    DataError
        When the file is missing, unreadable, not JSON or not a GE document; the message names
        the file.
    """
    p = Path(path)
    return check_ge_document(read_json_file(p, _LOAD_HINT), f"'{p}'")


def select_countries(doc: Mapping[str, Any], countries: Sequence[str] | None = None) -> list[str]:
    """ISO3 codes in display order: changed countries first, then by real GDP change.

    Within each group the largest change in absolute value comes first, countries without a
    number last, ties by code. With ``countries``, only those, in the same order.

    Raises
    ------
    UsageError
        When a requested country is not in the document.
    """
    data: Mapping[str, Mapping[str, Any]] = doc["countries"]
    chosen = list(data)
    if countries:
        wanted = [c.strip().upper() for c in countries if c.strip()]
        unknown = [c for c in wanted if c not in data]
        if unknown:
            raise UsageError(f"no result for {', '.join(unknown)} in this counterfactual",
                             f"The countries are: {', '.join(sorted(data))}.")
        chosen = list(dict.fromkeys(wanted))

    def rank(code: str) -> tuple[bool, float, str]:
        value = finite_number(data[code].get("real_gdp_pct"))
        size = -abs(value) if value is not None else math.inf
        return (not bool(data[code].get("changed")), size, code)

    return sorted(chosen, key=rank)


def build_ge_table(doc: Mapping[str, Any], *, countries: Sequence[str] | None = None,
                   title: str | None = None) -> GETable:
    """Lay a general-equilibrium document out as a table.

    Parameters
    ----------
    doc
        The ``migtrade.ge/1`` document (:func:`check_ge_document` is applied).
    countries
        ISO3 codes to show; all by default.
    title
        The caption; by default it names the year and the method.

    Returns
    -------
    GETable
    """
    doc = check_ge_document(dict(doc))
    codes = select_countries(doc, countries)
    intervals = any(doc["countries"][c].get("intervals") for c in codes)
    rows = tuple(_row(code, doc["countries"][code], intervals) for code in codes)
    caption = title or (f"General equilibrium counterfactual, {doc['year']} "
                        f"({_method_text(doc)})")
    return GETable(title=caption, fields=COUNTRY_FIELDS, rows=rows, header=tuple(_header(doc)),
                   notes=tuple(_notes(doc, intervals)), intervals=intervals)


def finite_number(value: Any) -> float | None:
    """A JSON value as a float, or None when it is missing, not a number or not finite."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _row(code: str, data: Mapping[str, Any], intervals: bool) -> GERow:
    bounds: Mapping[str, Any] = data.get("intervals") or {}
    cells = []
    for f in COUNTRY_FIELDS:
        value = finite_number(data.get(f.key))
        interval: tuple[float | None, float | None] | None = None
        interval_text = ""
        pair = bounds.get(f.key)
        if isinstance(pair, list | tuple) and len(pair) == 2:
            interval = (finite_number(pair[0]), finite_number(pair[1]))
            lo, hi = (format_number(v, f.digits) or "n/a" for v in interval)
            interval_text = f"[{lo}, {hi}]"
        cells.append(GECell(text=format_number(value, f.digits), value=value, interval=interval,
                            interval_text=interval_text))
    return GERow(country=code, changed=bool(data.get("changed")), cells=tuple(cells))


def _method_text(doc: Mapping[str, Any]) -> str:
    return f"{doc['method']}, {doc.get('imbalances', 'additive')} imbalances"


def _header(doc: Mapping[str, Any]) -> list[str]:
    """The scenario and the parameters, one line each."""
    scenario: Mapping[str, Any] = doc.get("scenario") or {}
    parts = []
    if scenario.get("beta"):
        parts.append(f"partial effects from column {scenario['beta']}")
    if scenario.get("estimate"):
        parts.append(f"partial effects estimated by {scenario['estimate']}")
    if scenario.get("change"):
        parts.append(f"change: {scenario['change']}")
    if scenario.get("fill_pairs"):
        parts.append(f"costs of unobserved pairs filled on {scenario['fill_pairs']}")
    if scenario.get("where"):
        parts.append(f"estimation sample: {scenario['where']}")
    lines = ["Scenario: " + "; ".join(parts)] if parts else []
    partial: Mapping[str, Any] = doc.get("partial") or {}
    if partial:
        terms = []
        for term, est in partial.items():
            se = finite_number(est.get("std_error")) if isinstance(est, Mapping) else None
            value = finite_number(est.get("estimate")) if isinstance(est, Mapping) else None
            text = f"{term} {format_number(value, 4) or 'n/a'}"
            terms.append(text + (f" (SE {format_number(se, 4)})" if se is not None else ""))
        lines.append("Partial effects: " + ", ".join(terms))
    params = [f"year {doc['year']}", f"sigma {_g(doc['sigma'])}"]
    if doc.get("theta") is not None:
        params.append(f"theta {_g(doc['theta'])}")
    reference = doc["reference"] or "none (world output held constant)"
    params += [f"reference {reference}", f"method {doc['method']}",
               f"imbalances {doc.get('imbalances', 'additive')}"]
    lines.append("Parameters: " + ", ".join(params))
    return lines


def _g(value: Any) -> str:
    number = finite_number(value)
    return f"{number:g}" if number is not None else str(value)


def baseline_sentence(doc: Mapping[str, Any]) -> str:
    """What the percent changes are measured from, and how, in one sentence."""
    kind = str(doc.get("baseline", "observed"))
    what = _BASELINE_TEXT.get(kind, "the baseline flows ({kind})").format(year=doc["year"],
                                                                          kind=kind)
    return (f"Percent changes are (counterfactual - baseline) / baseline x 100, where the "
            f"baseline is {what}.")


def _notes(doc: Mapping[str, Any], intervals: bool) -> list[str]:
    engine = [str(n) for n in doc.get("notes") or ()]

    def said(kind: str) -> bool:
        return any(n.startswith(_ENGINE_SAYS[kind]) for n in engine)

    # What the percent changes are measured from comes first, the engine's sentence if it wrote one.
    first = [n for n in engine if n.startswith(_ENGINE_SAYS["baseline"])] or [baseline_sentence(doc)]
    engine = [n for n in engine if n not in first]
    notes = list(first)
    notes += [
        "Every column is a percent change except the welfare ratio, new over old welfare as "
        "ge_gravity reports it (real expenditure with additive imbalances, real GDP with "
        "multiplicative ones); real GDP is output deflated by the inward multilateral "
        "resistance P.",
        "Exports (cond.): conditional general equilibrium, factory-gate prices, output and "
        "expenditure fixed; every other column: full endowment general equilibrium. P and Pi are "
        "the multilateral resistances themselves, not their powers 1 - sigma.",
        f"{CHANGED_MARK} the country is in a pair whose trade costs the scenario changes.",
    ]
    draws = doc.get("draws")
    if isinstance(draws, Mapping):
        notes.extend(_draw_notes(draws, intervals, detailed=not said("draws")))
    if not doc.get("converged"):
        notes.append(f"NOT converged: stopped after {doc['iterations']} iterations (tolerance "
                     f"{_g(doc.get('tolerance'))}); the numbers are those of the last iteration.")
    elif not said("convergence"):
        notes.append(f"Converged in {doc['iterations']} iterations (tolerance "
                     f"{_g(doc.get('tolerance'))}).")
    notes += engine
    if doc.get("data"):
        notes.append(f"Data: {describe_data(doc['data'])}")
    return notes


def _draw_notes(draws: Mapping[str, Any], intervals: bool, *, detailed: bool) -> list[str]:
    level = finite_number(draws.get("conf_level")) or 0.95
    requested, succeeded = draws.get("requested", 0), draws.get("succeeded", 0)
    seed = draws.get("seed")
    if not intervals:
        notes = [f"{requested} draws requested, {succeeded} succeeded; no interval could be "
                 "formed."]
    elif detailed:
        notes = [f"Below each number: its {100 * level:g}% interval over {succeeded} of "
                 f"{requested} draws of the partial effects from their estimated distribution"
                 + (f" (seed {seed})." if seed is not None else ".")]
    else:  # the engine's own note on the draws follows
        notes = [f"Below each number: its {100 * level:g}% interval over the draws."]
    failed = list(draws.get("failed") or ())
    if failed:
        listed = "; ".join(f"draw {f.get('draw')}: {f.get('reason')}" if isinstance(f, Mapping)
                           else str(f) for f in failed)
        notes.append(f"Failed draws ({len(failed)}, left out of the intervals): {listed}.")
    return notes
