"""Tables of a general-equilibrium counterfactual, built from its ``migtrade.ge/1`` document.

:func:`build_ge_table` lays the per-country results out once, format-neutrally: which countries
and in what order (countries in a changed pair first, then by the size of their real GDP change),
each number formatted with its interval below it when draws were made, the scenario and the
parameters above, and below the notes a reader needs to read the numbers: what the baseline is,
how a percent change is defined, convergence, and every failed draw. :func:`render_ge` renders
it as rich text, Markdown, LaTeX (booktabs) or CSV, or gives the document itself as JSON; each
renderer only decides how the table looks, with the escaping and number formatting of the
regression tables.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from migtrade.errors import DataError, UsageError
from migtrade.report.load import read_json_file
from migtrade.report.renderers.csv import full_precision
from migtrade.report.renderers.latex import latex_escape, latex_number
from migtrade.report.renderers.markdown import markdown_escape
from migtrade.report.sources import describe_data
from migtrade.report.table import format_number

GE_SCHEMA = "migtrade.ge/1"
CHANGED_MARK = "*"
_LOAD_HINT = "Pass a file written by 'migtrade ge --save'."
_MAX_WIDTH = 400  # characters: the widest rich table drawn (ten columns with intervals fit)


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
        value = _number(data[code].get("real_gdp_pct"))
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


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _row(code: str, data: Mapping[str, Any], intervals: bool) -> GERow:
    bounds: Mapping[str, Any] = data.get("intervals") or {}
    cells = []
    for f in COUNTRY_FIELDS:
        value = _number(data.get(f.key))
        interval: tuple[float | None, float | None] | None = None
        interval_text = ""
        pair = bounds.get(f.key)
        if isinstance(pair, list | tuple) and len(pair) == 2:
            interval = (_number(pair[0]), _number(pair[1]))
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
            se = _number(est.get("std_error")) if isinstance(est, Mapping) else None
            value = _number(est.get("estimate")) if isinstance(est, Mapping) else None
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
    number = _number(value)
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
    level = _number(draws.get("conf_level")) or 0.95
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


# Renderers ------------------------------------------------------------------------------------


def render_ge_markdown(table: GETable, doc: Mapping[str, Any]) -> str:
    """GitHub-flavoured Markdown: the caption, the header lines, a pipe table and the notes."""
    esc = markdown_escape

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(esc(c) for c in cells) + " |"

    lines = [f"**{esc(table.title)}**", ""]
    for text in table.header:
        lines += [esc(text), ""]
    lines += [line(table.headings), "|:---|" + "---:|" * len(table.fields)]
    lines += [line(r) for r in table.text_rows()]
    for note in table.notes:
        lines += ["", esc(note)]
    return "\n".join(lines) + "\n"


def render_ge_latex(table: GETable, doc: Mapping[str, Any]) -> str:
    """A booktabs table float (``\\usepackage{booktabs}``) with the caption and notes below."""
    span = len(table.fields) + 1

    def row(cells: Sequence[str]) -> str:
        return " & ".join(cells) + r" \\"

    lines = [r"\begin{table}[htbp]", r"\centering", rf"\caption{{{latex_escape(table.title)}}}",
             r"\begin{tabular}{l" + "r" * len(table.fields) + "}", r"\toprule",
             row([latex_escape(h) for h in table.headings]), r"\midrule"]
    for r in table.rows:
        lines.append(row([latex_escape(r.label), *(latex_number(c.text) for c in r.cells)]))
        if table.intervals:
            lines.append(row(["", *(latex_number(c.interval_text) for c in r.cells)]))
    lines.append(r"\bottomrule")
    width = _note_width(table)
    for note in (*table.header, *table.notes):
        lines.append(rf"\multicolumn{{{span}}}{{p{{{width:.1f}em}}}}{{\footnotesize "
                     rf"{latex_escape(note)}}} \\")
    lines += [r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def _note_width(table: GETable) -> float:
    """About the width of the table body in em, so that notes wrap within it, not widen it.

    Half an em per character of the widest text of each column and one em of padding per
    column, as for the regression tables.
    """
    columns = zip(table.headings, *table.text_rows(), strict=True)
    chars = sum(max(len(text) for text in column) for column in columns)
    return max(24.0, 0.5 * chars + 1.0 * len(table.headings))


def render_ge_csv(table: GETable, doc: Mapping[str, Any]) -> str:
    """One row per country at full precision: every field, its interval bounds, the baseline levels.

    ``changed`` is 1 for a country in a changed pair; interval columns (``FIELD_low``,
    ``FIELD_high``) are present only when draws were made. Missing values are empty.
    """
    keys = [f.key for f in table.fields]
    head = ["country", "changed", *keys, *BASELINE_FIELDS]
    if table.intervals:
        head += [f"{k}_{side}" for k in keys for side in ("low", "high")]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(head)
    data: Mapping[str, Mapping[str, Any]] = doc["countries"]
    for r in table.rows:
        values = [_cell_text(c.value) for c in r.cells]
        levels = [_cell_text(_number(data[r.country].get(k))) for k in BASELINE_FIELDS]
        bounds = [_cell_text(c.interval[i] if c.interval else None)
                  for c in r.cells for i in (0, 1)] if table.intervals else []
        w.writerow([r.country, int(r.changed), *values, *levels, *bounds])
    return buf.getvalue()


def _cell_text(value: float | None) -> str:
    return "" if value is None else full_precision(value)


def render_ge_json(table: GETable, doc: Mapping[str, Any]) -> str:
    """The document itself, whole (the country selection does not apply)."""
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"


def rich_ge_table(table: GETable) -> Any:
    """A rich Table: one row per country, intervals dimmed below, changed countries in bold."""
    from rich.table import Table
    from rich.text import Text

    out = Table(title=Text(table.title), header_style="bold", box=None, pad_edge=False)
    out.add_column("Country", no_wrap=True)
    for f in table.fields:
        out.add_column(Text(f.heading), justify="right", no_wrap=False)
    # Text objects, not strings: intervals such as [-0.9, 0.1] must never be read as markup.
    for r in table.rows:
        style = "bold" if r.changed else ""
        out.add_row(Text(r.label, style=style), *(Text(c.text, style=style) for c in r.cells))
        if table.intervals:
            out.add_row("", *(Text(c.interval_text, style="dim") for c in r.cells))
    return out


def render_ge_rich(table: GETable, doc: Mapping[str, Any], *, width: int | None = None,
                   color: bool = False) -> str:
    """The terminal rendering as text: header lines, the table, then the notes."""
    from rich.console import Console
    from rich.text import Text

    body = rich_ge_table(table)
    if width is None:
        # As wide as the table needs, so that no number or interval is ever wrapped or cut; a
        # narrower terminal folds the long lines itself.
        width = Console(width=_MAX_WIDTH).measure(body).maximum
    buf = io.StringIO()
    console = Console(file=buf, width=width, soft_wrap=False, force_terminal=color,
                      color_system="standard" if color else None)
    for line in table.header:
        console.print(Text(line), soft_wrap=True)
    console.print(body)
    for note in table.notes:
        console.print(Text(note), soft_wrap=True)
    return buf.getvalue()


GERenderer = Callable[[GETable, Mapping[str, Any]], str]

GE_RENDERERS: dict[str, GERenderer] = {
    "rich": render_ge_rich,
    "md": render_ge_markdown,
    "latex": render_ge_latex,
    "csv": render_ge_csv,
    "json": render_ge_json,
}
"""Renderers of a GE table by ``--format`` name."""

GE_FORMATS: tuple[str, ...] = tuple(GE_RENDERERS)


def render_ge(doc: Mapping[str, Any], fmt: str, *, countries: Sequence[str] | None = None,
              title: str | None = None) -> str:
    """A general-equilibrium document as text in ``fmt``.

    Parameters
    ----------
    doc
        The ``migtrade.ge/1`` document.
    fmt
        rich, md, latex, csv or json (the document itself).
    countries
        ISO3 codes to show (all formats but json); all by default.
    title
        The table's caption.

    Raises
    ------
    UsageError
        On an unknown format or country.
    DataError
        When ``doc`` is not a GE document.
    """
    if fmt not in GE_RENDERERS:
        raise UsageError(f"unknown format '{fmt}' for a general-equilibrium table",
                         f"Use one of: {', '.join(GE_FORMATS)}.")
    table = build_ge_table(doc, countries=countries, title=title)
    return GE_RENDERERS[fmt](table, doc)
