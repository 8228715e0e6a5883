"""Rendering a general-equilibrium table: rich text, Markdown, LaTeX (booktabs), CSV, or JSON.

:func:`render_ge` builds the table (:func:`~migtrade.report.ge_layout.build_ge_table`) and hands it
to the renderer of the format in ``GE_RENDERERS``; each renderer only decides how the table looks,
with the escaping and number formatting of the regression tables. JSON is the document itself.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from migtrade.errors import UsageError
from migtrade.report.ge_layout import BASELINE_FIELDS, GETable, build_ge_table, finite_number
from migtrade.report.renderers.csv import full_precision
from migtrade.report.renderers.latex import latex_escape, latex_number
from migtrade.report.renderers.markdown import markdown_escape

_MAX_WIDTH = 400  # characters: the widest rich table drawn (ten columns with intervals fit)


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
        levels = [_cell_text(finite_number(data[r.country].get(k))) for k in BASELINE_FIELDS]
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
