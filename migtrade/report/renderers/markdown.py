"""GitHub-flavoured Markdown: a pipe table, then the legend and the notes as paragraphs."""

from __future__ import annotations

from collections.abc import Sequence

from migtrade.report.table import RegressionTable
from migtrade.results.result import EstimationResult

# Characters GitHub would read as markup inside a paragraph or a cell: emphasis (* _), code,
# strikethrough (~), math ($), HTML tags (<) and the cell separator. Significance stars and
# snake_case names must print as typed. Brackets stay bare: without a link target they do.
_SPECIAL = set("\\`*_~$<|")


def markdown_escape(text: str) -> str:
    """Backslash-escape the characters GitHub Markdown reads as markup."""
    return "".join(f"\\{ch}" if ch in _SPECIAL else ch for ch in text)


def render_markdown(table: RegressionTable, results: Sequence[EstimationResult]) -> str:
    """A GitHub-flavoured Markdown table with the legend and notes below it."""
    esc = markdown_escape

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(esc(c) for c in cells) + " |"

    head = ["", *(f"{t} {d}" for t, d in zip(table.titles, table.depvars, strict=True))]
    lines = [f"**{esc(table.title)}**", ""] if table.title else []
    lines += [line(head), "|:---|" + ":---:|" * len(table.titles)]
    lines += [line(r) for r in table.text_rows()]
    lines += [line([f"FE: {name}", *vals]) for name, vals in table.fixed_effects]
    lines += [line([name, *vals]) for name, vals in table.statistics]
    for paragraph in (table.legend, *table.notes):
        lines += ["", esc(paragraph)]
    return "\n".join(lines) + "\n"
