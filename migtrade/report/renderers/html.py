"""HTML: one ``<table>`` with a ``<caption>``, every text escaped, no scripts or external assets.

The fragment carries class names (``migtrade-table``, ``se``, ``fe``, ``stats``) for the page's
own style sheet; :func:`html_document` wraps it in a complete page with a small embedded style.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from migtrade.report.table import RegressionTable
from migtrade.results.result import EstimationResult

DEFAULT_CAPTION = "Regression results"

# Booktabs-like rules, so the standalone page looks like a printed table.
_STYLE = """\
table.migtrade-table { border-collapse: collapse; font-family: Georgia, serif; margin: 1em auto; }
table.migtrade-table caption { font-weight: bold; padding-bottom: 0.5em; }
table.migtrade-table th, table.migtrade-table td { padding: 0.1em 0.8em; text-align: center; }
table.migtrade-table th[scope=row] { text-align: left; font-weight: normal; }
table.migtrade-table thead { border-top: 2px solid; border-bottom: 1px solid; }
table.migtrade-table tbody + tbody { border-top: 1px solid; }
table.migtrade-table tfoot { border-top: 2px solid; font-size: 0.85em; }
table.migtrade-table tfoot td { text-align: left; }
table.migtrade-table tr.se td { color: #555; }"""


def _tr(head: str, cells: Sequence[str], cls: str | None = None) -> str:
    """A body row: the escaped name as a row header, then cells that are already HTML."""
    attr = f' class="{cls}"' if cls else ""
    return f'<tr{attr}><th scope="row">{escape(head)}</th>' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def render_html(table: RegressionTable, results: Sequence[EstimationResult]) -> str:
    """A self-contained ``<table>`` element."""
    k = len(table.titles)
    lines = ['<table class="migtrade-table">', f"<caption>{escape(table.title or DEFAULT_CAPTION)}</caption>",
             "<thead>",
             "<tr><th></th>" + "".join(f"<th>{escape(t)}</th>" for t in table.titles) + "</tr>",
             "<tr><th></th>" + "".join(f"<th>{escape(d)}</th>" for d in table.depvars) + "</tr>",
             "</thead>", "<tbody>"]
    for term, row in zip(table.terms, table.cells, strict=True):
        lines.append(_tr(term, [escape(c.estimate) + (f"<sup>{escape(c.stars)}</sup>" if c.stars else "")
                                if c else "" for c in row]))
        lines.append(_tr("", [escape(c.below) if c else "" for c in row], cls="se"))
    lines.append("</tbody>")
    if table.fixed_effects:
        lines.append('<tbody class="fe">')
        lines += [_tr(f"FE: {name}", [escape(v) for v in vals]) for name, vals in table.fixed_effects]
        lines.append("</tbody>")
    lines.append('<tbody class="stats">')
    lines += [_tr(name, [escape(v) for v in vals]) for name, vals in table.statistics]
    lines.append("</tbody>")
    lines.append("<tfoot>")
    lines += [f'<tr><td colspan="{k + 1}">{escape(n)}</td></tr>' for n in (table.legend, *table.notes)]
    lines.append("</tfoot>")
    lines.append("</table>")
    return "\n".join(lines) + "\n"


def html_document(table: RegressionTable, results: Sequence[EstimationResult]) -> str:
    """A complete HTML page holding the table, with its style embedded."""
    title = escape(table.title or DEFAULT_CAPTION)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n'
        "<head>\n"
        '<meta charset="utf-8">\n'
        f"<title>{title}</title>\n"
        f"<style>\n{_STYLE}\n</style>\n"
        "</head>\n"
        "<body>\n"
        + render_html(table, results)
        + "</body>\n"
        "</html>\n"
    )
