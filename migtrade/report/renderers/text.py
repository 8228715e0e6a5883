"""Plain aligned text, for terminals without rich and for files."""

from __future__ import annotations

from collections.abc import Sequence

from migtrade.report.table import RegressionTable
from migtrade.results.result import EstimationResult


def render_text(table: RegressionTable, results: Sequence[EstimationResult]) -> str:
    """Plain aligned text: names left, numbers right, rules between the sections."""
    head = ["", *table.titles]
    rows = [head, ["", *table.depvars], *table.text_rows()]
    rows += [[f"FE: {n}", *v] for n, v in table.fixed_effects]
    rows += [[n, *v] for n, v in table.statistics]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = [
        "  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)).rstrip()
        for r in rows
    ]
    rule = "-" * max(len(line) for line in lines)
    top = [table.title] if table.title else []
    out = [*top, rule, lines[0], lines[1], rule, *lines[2:], rule, table.legend, *table.notes]
    return "\n".join(out) + "\n"
