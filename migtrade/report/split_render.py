"""The long table of a split run in every format of ``migtrade table``, in the ``SPLIT_RENDERERS`` registry.

The table is the rows of :func:`~migtrade.report.split_table.long_table`. ``csv`` and ``json``
keep full precision (numbers as numbers); the others print ``digits`` decimals, stars after
the estimate, and a legend below. A failed sector shows its error in place of the numbers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from migtrade.report.renderers.latex import latex_escape
from migtrade.report.renderers.markdown import markdown_escape
from migtrade.report.split_table import (
    FAILED,
    LONG_COLUMNS,
    SectorEntry,
    conf_levels,
    long_table,
    split_vars,
)
from migtrade.report.table import TableOptions, format_number


@dataclass(frozen=True)
class SplitTable:
    """The long table as text cells, ready for a layout.

    Attributes
    ----------
    header
        Column names.
    rows
        One list of cells per row (estimates with stars, statistics formatted).
    numeric
        Which columns are right-aligned.
    notes
        The legend and the count of failed sectors.
    title
        The caption, if any.
    records
        The rows as data (full precision), for csv and json.
    """

    header: list[str]
    rows: list[list[str]]
    numeric: list[bool]
    notes: list[str]
    title: str | None
    records: list[dict[str, Any]]
    columns: list[str]


_STATISTIC = {"se": ("std_error", "std. error"), "tstat": ("statistic", "t/z"), "ci": ("ci", "conf. interval")}


def _stars(p: float, levels: Sequence[float]) -> str:
    return "" if not math.isfinite(p) else "*" * sum(p < lvl for lvl in levels)


def build_split_table(entries: Sequence[SectorEntry], options: TableOptions) -> SplitTable:
    """Select, rename and format the long table (what every renderer shows)."""
    from migtrade.errors import UsageError

    if options.statistic not in _STATISTIC:
        raise UsageError(f"a split run's table shows se, tstat or ci, not {options.statistic}",
                         "Use --se, --tstat or --ci.")
    records = long_table(entries, keep=options.keep, drop=options.drop, rename=dict(options.rename))
    variables = split_vars(entries)
    # A failed sector may not name its model (the contract keeps only its formula).
    several = (len({r["formula"] for r in records}) > 1
               or len({r["model"] for r in records if r["model"]}) > 1)
    key, label = _STATISTIC[options.statistic]
    header = [*variables, *(["model", "formula"] if several else []), "term", "estimate", label, "p-value",
              "N", "status"]
    digits = options.digits
    rows: list[list[str]] = []
    for r in records:
        front = [str(r[v]) for v in variables] + ([str(r["model"]), str(r["formula"])] if several else [])
        if r["status"] == FAILED:
            rows.append([*front, "", "", "", "", "", f"failed: {r['error']}"])
            continue
        if key == "ci":
            stat = f"[{format_number(r['ci_low'], digits)}, {format_number(r['ci_high'], digits)}]"
        else:
            stat = format_number(r[key], digits)
        rows.append([*front, str(r["term"]), format_number(r["estimate"], digits) + _stars(r["p_value"], options.stars),
                     stat, format_number(r["p_value"], digits), f"{r['nobs']:,}",
                     "ok" if r["converged"] else "not converged"])
    numeric = [False] * (len(header) - 5) + [True, True, True, True, False]
    notes = []
    if options.stars:
        notes.append(", ".join(f"{'*' * (i + 1)} p<{lvl:g}" for i, lvl in enumerate(sorted(options.stars, reverse=True)))
                     + ".")
    if options.statistic == "ci":
        notes.append("Confidence level " + "/".join(f"{100 * v:g}%" for v in conf_levels(entries)) + ".")
    sectors = {json.dumps(e.split, sort_keys=True, default=str) for e in entries}
    failed = {json.dumps(e.split, sort_keys=True, default=str) for e in entries if not e.ok}
    single = next((e for e in entries if e.ok), None) if not several else None
    if single is not None:
        notes.insert(0, f"{single.model.upper()}  {single.formula}")
    notes.append(f"{len(sectors):,} sectors, {len(failed):,} failed.")
    return SplitTable(header, rows, numeric, notes, options.title, records, [*variables, *LONG_COLUMNS])


def _text(table: SplitTable) -> str:
    widths = [max([len(h), *(len(r[i]) for r in table.rows)]) for i, h in enumerate(table.header)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if num else c.ljust(w)
                         for c, w, num in zip(cells, widths, table.numeric, strict=True)).rstrip()

    out = [table.title] if table.title else []
    out += [line(table.header), "  ".join("-" * w for w in widths), *(line(r) for r in table.rows), *table.notes]
    return "\n".join(out) + "\n"


def _markdown(table: SplitTable) -> str:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(markdown_escape(c) for c in cells) + " |"

    out = [f"**{markdown_escape(table.title)}**", ""] if table.title else []
    out += [line(table.header), "|" + "|".join("---:" if n else ":---" for n in table.numeric) + "|"]
    out += [line(r) for r in table.rows]
    out += ["", *(markdown_escape(n) for n in table.notes)]
    return "\n".join(out) + "\n"


def _latex(table: SplitTable) -> str:
    spec = "".join("r" if n else "l" for n in table.numeric)
    out = [r"\begin{table}[htbp]", r"\centering"]
    if table.title:
        out.append(rf"\caption{{{latex_escape(table.title)}}}")
    out += [rf"\begin{{tabular}}{{{spec}}}", r"\hline\hline",
            " & ".join(latex_escape(h) for h in table.header) + r" \\", r"\hline"]
    out += [" & ".join(latex_escape(c) for c in r) + r" \\" for r in table.rows]
    out += [r"\hline\hline", r"\end{tabular}"]
    out += [rf"\par\footnotesize {latex_escape(n)}" for n in table.notes]
    out.append(r"\end{table}")
    return "\n".join(out) + "\n"


def _latex_document(table: SplitTable) -> str:
    return ("\\documentclass{article}\n\\usepackage[margin=2cm]{geometry}\n\\usepackage{longtable}\n"
            "\\begin{document}\n" + _latex(table).replace(r"\begin{table}[htbp]", r"\begin{table}[p]")
            + "\\end{document}\n")


def _html(table: SplitTable) -> str:
    out = ['<table class="migtrade-table migtrade-split">']
    if table.title:
        out.append(f"<caption>{escape(table.title)}</caption>")
    out.append("<thead><tr>" + "".join(f'<th scope="col">{escape(h)}</th>' for h in table.header) + "</tr></thead>")
    out.append("<tbody>")
    out += ["<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in table.rows]
    out.append("</tbody>")
    out.append(f'<tfoot><tr><td colspan="{len(table.header)}">'
               + "<br>".join(escape(n) for n in table.notes) + "</td></tr></tfoot>")
    out.append("</table>")
    return "\n".join(out) + "\n"


def _html_document(table: SplitTable) -> str:
    title = escape(table.title or "Results by sector")
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{title}</title>\n'
            "<style>table.migtrade-split { border-collapse: collapse; font-family: Georgia, serif; }\n"
            "table.migtrade-split td, table.migtrade-split th { padding: 0.1em 0.8em; }</style>\n"
            f"</head>\n<body>\n{_html(table)}</body>\n</html>\n")


def _json_value(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _csv(table: SplitTable) -> str:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(table.columns)
    for r in table.records:
        writer.writerow(["" if (v := _json_value(r[c])) is None else (repr(v) if isinstance(v, float) else v)
                         for c in table.columns])
    return buf.getvalue()


def _json(table: SplitTable) -> str:
    rows = [{c: _json_value(r[c]) for c in table.columns} for r in table.records]
    return json.dumps({"schema": "migtrade.split-table/1", "columns": table.columns, "rows": rows},
                      indent=1, allow_nan=False) + "\n"


SplitRenderer = Callable[[SplitTable], str]

SPLIT_RENDERERS: dict[str, SplitRenderer] = {
    "text": _text, "md": _markdown, "latex": _latex, "html": _html, "csv": _csv, "json": _json,
}
SPLIT_DOCUMENTS: dict[str, SplitRenderer] = {"latex": _latex_document, "html": _html_document}


def render_split(entries: Sequence[SectorEntry], fmt: str, options: TableOptions, *,
                 standalone: bool = False) -> str:
    """The long table of a split run as text in ``fmt`` (a key of :data:`SPLIT_RENDERERS`)."""
    from migtrade.errors import UsageError

    table = build_split_table(entries, options)
    registry = SPLIT_DOCUMENTS if standalone else SPLIT_RENDERERS
    if fmt not in registry:
        raise UsageError(f"no {'standalone ' if standalone else ''}{fmt} table of a split run",
                         f"Use one of {', '.join(registry)}.")
    return registry[fmt](table)


def print_split_rich(entries: Sequence[SectorEntry], options: TableOptions, file: Any) -> None:
    """The long table on a terminal, with rich."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = build_split_table(entries, options)
    grid = Table(title=table.title, title_justify="left")
    for name, num in zip(table.header, table.numeric, strict=True):
        grid.add_column(name, justify="right" if num else "left")
    for row in table.rows:
        grid.add_row(*(Text(cell) for cell in row))  # cells are text, never markup
    console = Console(file=file, soft_wrap=False)
    console.print(grid, markup=False, highlight=False)
    for note in table.notes:
        console.print(note, markup=False, highlight=False)
