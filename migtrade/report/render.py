"""Renderers of a :class:`RegressionTable`, one per format, in the ``RENDERERS`` registry."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence

from migtrade.report.table import RegressionTable
from migtrade.results.result import EstimationResult


def _rows(table: RegressionTable) -> list[list[str]]:
    """Body rows as plain text: estimate with stars, then the standard error below."""
    out: list[list[str]] = []
    for term, row in zip(table.terms, table.cells, strict=True):
        out.append([term] + [f"{c.estimate}{c.stars}" if c else "" for c in row])
        out.append([""] + [c.below if c else "" for c in row])
    return out


def render_markdown(table: RegressionTable, results: Sequence[EstimationResult]) -> str:
    """GitHub-flavoured Markdown."""
    head = ["", *(f"{t} {d}" for t, d in zip(table.titles, table.depvars, strict=True))]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in _rows(table)]
    for name, vals in table.fixed_effects:
        lines.append("| " + " | ".join([f"FE: {name}", *vals]) + " |")
    for name, vals in table.statistics:
        lines.append("| " + " | ".join([name, *vals]) + " |")
    lines.append("")
    lines.append(f"Standard errors in parentheses. {table.star_legend}.")
    lines += [f"Note: {n}" for n in table.notes]
    return "\n".join(lines) + "\n"


_LATEX_ESCAPES = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
                  "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}"}


def latex_escape(text: str) -> str:
    """Escape LaTeX special characters."""
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text).replace("²", r"$^2$")


def render_latex(table: RegressionTable, results: Sequence[EstimationResult]) -> str:
    """A booktabs tabular (``\\usepackage{booktabs}``)."""
    k = len(table.titles)
    lines = [r"\begin{tabular}{l" + "c" * k + "}", r"\toprule"]
    lines.append(" & " + " & ".join(latex_escape(t) for t in table.titles) + r" \\")
    lines.append(" & " + " & ".join(latex_escape(d) for d in table.depvars) + r" \\")
    lines.append(r"\midrule")
    for term, row in zip(table.terms, table.cells, strict=True):
        est = [f"{c.estimate}$^{{{c.stars}}}$" if c and c.stars else (c.estimate if c else "") for c in row]
        lines.append(latex_escape(term) + " & " + " & ".join(est) + r" \\")
        lines.append(" & " + " & ".join(c.below if c else "" for c in row) + r" \\")
    if table.fixed_effects:
        lines.append(r"\midrule")
        for name, vals in table.fixed_effects:
            lines.append(latex_escape(f"FE: {name}") + " & " + " & ".join(vals) + r" \\")
    lines.append(r"\midrule")
    for name, vals in table.statistics:
        lines.append(latex_escape(name) + " & " + " & ".join(latex_escape(v) for v in vals) + r" \\")
    lines.append(r"\bottomrule")
    lines.append(r"\multicolumn{" + str(k + 1) + r"}{l}{\footnotesize Standard errors in parentheses. "
                 + latex_escape(table.star_legend).replace("*", r"$^*$") + r".} \\")
    for n in table.notes:
        lines.append(r"\multicolumn{" + str(k + 1) + r"}{l}{\footnotesize " + latex_escape(n) + r"} \\")
    lines.append(r"\end{tabular}")
    return "\n".join(lines) + "\n"


def render_csv(table: RegressionTable, results: Sequence[EstimationResult]) -> str:
    """Long format at full precision: one row per model and term."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["model", "term", "estimate", "std_error", "statistic", "p_value", "ci_low", "ci_high", "nobs"])
    for i, r in enumerate(results):
        for term, c in r.coefficients().items():
            w.writerow([table.titles[i], term, repr(c.estimate), repr(c.std_error), repr(c.statistic),
                        repr(c.p_value), repr(c.ci_low), repr(c.ci_high), r.nobs])
    return buf.getvalue()


def render_json(table: RegressionTable, results: Sequence[EstimationResult]) -> str:
    """One result: its object; several: a list of them."""
    objs = [r.to_dict() for r in results]
    return json.dumps(objs[0] if len(objs) == 1 else objs, indent=2, allow_nan=False) + "\n"


def render_text(table: RegressionTable, results: Sequence[EstimationResult]) -> str:
    """Plain aligned text (what the terminal renderer prints when rich is not wanted)."""
    head = ["", *table.titles]
    rows = [head, ["", *table.depvars], *_rows(table)]
    rows += [[f"FE: {n}", *v] for n, v in table.fixed_effects]
    rows += [[n, *v] for n, v in table.statistics]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)) for r in rows]
    rule = "-" * len(lines[0])
    out = [rule, lines[0], lines[1], rule, *lines[2:], rule,
           f"Standard errors in parentheses. {table.star_legend}.", *(f"Note: {n}" for n in table.notes)]
    return "\n".join(out) + "\n"


Renderer = Callable[[RegressionTable, Sequence[EstimationResult]], str]

RENDERERS: dict[str, Renderer] = {
    "md": render_markdown,
    "latex": render_latex,
    "csv": render_csv,
    "json": render_json,
    "text": render_text,
}
