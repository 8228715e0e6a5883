"""The rich terminal rendering of a regression table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from rich.table import Table
from rich.text import Text

from migtrade.report.table import RegressionTable
from migtrade.results.result import EstimationResult


def rich_table(table: RegressionTable, results: Sequence[EstimationResult]) -> Table:
    """A rich Table with coefficients, fixed effects, statistics and notes."""
    out = Table(title=Text(table.title) if table.title else None, show_header=True, header_style="bold", box=None, pad_edge=False)
    out.add_column("")
    for title, dep in zip(table.titles, table.depvars, strict=True):
        out.add_column(Text(f"{title}\n{dep}"), justify="right")
    # Text objects, not strings: names and intervals like [-0.9, 0.1] must never read as markup.
    for term, row in zip(table.terms, table.cells, strict=True):
        out.add_row(Text(term), *[Text(f"{c.estimate}{c.stars}" if c else "") for c in row])
        out.add_row("", *[Text(c.below if c else "", style="dim") for c in row])
    if table.fixed_effects:
        out.add_section()
        for name, vals in table.fixed_effects:
            out.add_row(Text(f"FE: {name}"), *map(Text, vals))
    out.add_section()
    for name, vals in table.statistics:
        out.add_row(Text(name), *map(Text, vals))
    return out


def footer_lines(table: RegressionTable) -> list[str]:
    """The legend and notes printed under the table (full width, not wrapped to the table)."""
    return [table.legend, *table.notes]


def print_rich(table: RegressionTable, results: Sequence[EstimationResult], file: TextIO,
               width: int | None = None) -> None:
    """Print the table and its foot on ``file`` (colours only when it is a terminal)."""
    from rich.console import Console

    console = Console(file=file, soft_wrap=False, width=width)
    console.print(rich_table(table, results))
    for line in footer_lines(table):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
