"""LaTeX with booktabs rules: a tabular (in a table float when there is a title) or a document.

The fragment needs ``\\usepackage{booktabs}``; :func:`latex_document` wraps the table in a
``standalone`` document that compiles on its own with pdflatex.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from migtrade.report.table import CoefCell, RegressionTable
from migtrade.results.result import EstimationResult

_LATEX_ESCAPES = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
                  "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "\\": r"\textbackslash{}", "<": r"\textless{}", ">": r"\textgreater{}",
                  "|": r"\textbar{}", "²": r"$^2$"}


def latex_escape(text: str) -> str:
    """Escape LaTeX special characters (and write ² as a superscript)."""
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)


def latex_number(text: str) -> str:
    """A number as LaTeX text: minus signs typeset as such, braces (around bootstrap p-values)
    printed."""
    # A typeset minus sign, not a hyphen; numeric cells hold no other '-'.
    return text.replace("{", r"\{").replace("}", r"\}").replace("-", "$-$")


def _estimate(c: CoefCell | None) -> str:
    if c is None:
        return ""
    return latex_number(c.estimate) + (f"$^{{{c.stars}}}$" if c.stars else "")


def _row(first: str, cells: Sequence[str]) -> str:
    return " & ".join([first, *cells]) + r" \\"


def _note_width(table: RegressionTable) -> float:
    """About the width of the table body in em, so that notes wrap within it.

    A long note (a path, a provenance record) in an ``l`` column would stretch the whole table.
    The estimate takes half an em per character of the widest text in each column and one em of
    padding per column; erring narrow only wraps a note a little early.
    """
    rows = [["", *table.titles], ["", *table.depvars], *table.text_rows()]
    rows += [[f"FE: {n}", *v] for n, v in table.fixed_effects]
    rows += [[n, *v] for n, v in table.statistics]
    chars = sum(max(len(r[i]) for r in rows) for i in range(len(table.titles) + 1))
    return max(12.0, 0.5 * chars + 1.0 * (len(table.titles) + 1))


def latex_tabular(table: RegressionTable, *, title_row: bool = False) -> list[str]:
    """The lines of the booktabs tabular; ``title_row`` puts the title above the top rule."""
    k = len(table.titles)
    span = k + 1
    lines = [r"\begin{tabular}{l" + "c" * k + "}"]
    if title_row and table.title:
        lines.append(rf"\multicolumn{{{span}}}{{c}}{{{latex_escape(table.title)}}} \\[4pt]")
    lines.append(r"\toprule")
    lines.append(_row("", [latex_escape(t) for t in table.titles]))
    lines.append(_row("", [latex_escape(d) for d in table.depvars]))
    lines.append(r"\midrule")
    for term, row in zip(table.terms, table.cells, strict=True):
        lines.append(_row(latex_escape(term), [_estimate(c) for c in row]))
        lines.append(_row("", [latex_number(c.below) if c else "" for c in row]))
    if table.fixed_effects:
        lines.append(r"\midrule")
        lines += [_row(latex_escape(f"FE: {name}"), list(vals)) for name, vals in table.fixed_effects]
    lines.append(r"\midrule")
    lines += [_row(latex_escape(name), [latex_escape(v) for v in vals]) for name, vals in table.statistics]
    lines.append(r"\bottomrule")
    legend = re.sub(r"\*+", lambda m: f"$^{{{m.group()}}}$", latex_escape(table.legend))
    width = _note_width(table)
    for note in (legend, *(latex_escape(n) for n in table.notes)):
        lines.append(rf"\multicolumn{{{span}}}{{p{{{width:.1f}em}}}}{{\footnotesize {note}}} \\")
    lines.append(r"\end{tabular}")
    return lines


def render_latex(table: RegressionTable, results: Sequence[EstimationResult]) -> str:
    """A booktabs tabular (``\\usepackage{booktabs}``); with a title, inside a captioned table float."""
    body = latex_tabular(table)
    if table.title:
        body = [r"\begin{table}[htbp]", r"\centering", rf"\caption{{{latex_escape(table.title)}}}",
                *body, r"\end{table}"]
    return "\n".join(body) + "\n"


def latex_document(table: RegressionTable, results: Sequence[EstimationResult]) -> str:
    """A complete ``standalone`` document: ``pdflatex file.tex`` gives a PDF cropped to the table."""
    lines = [
        r"\documentclass[border=6pt]{standalone}",
        r"\usepackage[T1]{fontenc}",
        r"\usepackage[utf8]{inputenc}",
        r"\usepackage{booktabs}",
        r"\begin{document}",
        *latex_tabular(table, title_row=True),
        r"\end{document}",
    ]
    return "\n".join(lines) + "\n"
