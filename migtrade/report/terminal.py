"""The rich terminal rendering of a regression table."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from migtrade.report.table import RegressionTable
from migtrade.results.result import EstimationResult


def rich_table(table: RegressionTable, results: Sequence[EstimationResult]) -> Table:
    """A rich Table with coefficients, fixed effects, statistics and notes."""
    out = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    out.add_column("")
    for title, dep in zip(table.titles, table.depvars, strict=True):
        out.add_column(f"{title}\n{dep}", justify="right")
    for term, row in zip(table.terms, table.cells, strict=True):
        out.add_row(term, *[f"{c.estimate}{c.stars}" if c else "" for c in row])
        out.add_row("", *[f"[dim]{c.below}[/dim]" if c else "" for c in row])
    if table.fixed_effects:
        out.add_section()
        for name, vals in table.fixed_effects:
            out.add_row(f"FE: {name}", *vals)
    out.add_section()
    for name, vals in table.statistics:
        out.add_row(name, *vals)
    return out


def footer_lines(table: RegressionTable) -> list[str]:
    """The legend and notes printed under the table (full width, not wrapped to the table)."""
    return [f"Standard errors in parentheses. {table.star_legend}.", *table.notes]
