"""Tables of a :class:`SubstitutionReport`, built once and rendered as Markdown, LaTeX or rich.

:func:`report_blocks` lays the report out as format-neutral blocks (headings, paragraphs, tables,
lists); each renderer only decides how a block looks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from migtrade.hypotheses.report import SubstitutionReport


@dataclass(frozen=True)
class Block:
    """One piece of the output: ``kind`` is heading, paragraph, table or list."""

    kind: str
    title: str = ""
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    items: tuple[str, ...] = ()


def fmt(value: Any, digits: int = 3) -> str:
    """A number for a table: fixed decimals, p-values in 2 significant digits, '' for missing."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        if abs(value) >= 1e5 or (abs(value) >= 1000 and value.is_integer()):
            return f"{value:,.0f}"
        return f"{value:.{digits}f}"
    return str(value)


def _p(value: float) -> str:
    return "" if not math.isfinite(value) else f"{value:.2g}"


def report_blocks(report: SubstitutionReport) -> list[Block]:
    """The report as blocks, in reading order."""
    blocks = [Block("heading", f"Verdict: {report.verdict}"),
              Block("paragraph", "; ".join(report.reasons) + ".")]
    rows: list[tuple[str, ...]] = []
    for e in report.evidence:
        role = "" if e.role == "supporting" else e.role if e.counts else f"({e.role}, stand-in)"
        rows.append((e.test, e.short or e.quantity, role, fmt(e.estimate), fmt(e.std_error),
                     _p(e.p_value), e.reading))
    blocks.append(Block("table", "Evidence (role: how a row votes; blank = supporting, "
                                 "read at alpha)",
                        ("test", "quantity", "role", "estimate", "SE", "p", "reading"),
                        tuple(rows)))
    dyn = [t for t in report.tests if t.event_study]
    if dyn:
        rows = [(t.name, c.label, fmt(c.estimate), fmt(c.std_error), _p(c.p_value))
                for t in dyn for c in t.event_study]
        blocks.append(Block("table", "Event study: cumulative response to RTA entry "
                                     "(sum of coefficients, delta-method SE)",
                            ("test", "horizon", "estimate", "SE", "p"), tuple(rows)))
    iv = [t for t in report.tests if t.first_stage]
    if iv:
        rows = []
        for t in iv:
            fs = t.first_stage or {}
            for name, block in fs.items():
                if isinstance(block, dict) and "f_stat" in block:
                    rows.append((t.name, name, ", ".join(block.get("instruments", [])),
                                 fmt(block.get("f_stat"), 1), fmt(block.get("partial_r2")),
                                 fmt(fs.get("weak_instruments"))))
        blocks.append(Block("table", "First stage (weak if F < 10, Staiger-Stock)",
                            ("test", "endogenous", "instruments", "F", "partial R2", "weak"),
                            tuple(rows)))
    models = [(t.name, t.model.upper(), t.formula, fmt(t.result.nobs)) for t in report.tests]
    blocks.append(Block("table", "Models", ("test", "model", "formula", "N"), tuple(models)))
    if report.skipped:
        blocks.append(Block("list", "Skipped",
                            items=tuple(f"{n}: {r}" for n, r in report.skipped)))
    if report.case:
        blocks += case_blocks(report.case)
    blocks.append(Block("list", "Verdict rule", items=rule_items(report.rule)))
    notes = [n for t in report.tests for n in (f"{t.name}: {x}" for x in t.notes)]
    notes += list(report.notes)
    if report.data:
        where = report.data.get("path") or report.data.get("dataset") or ""
        notes.append(f"data: {where} ({fmt(report.data.get('rows'))} rows)")
    if notes:
        blocks.append(Block("list", "Notes", items=tuple(notes)))
    return blocks


def rule_items(rule: str) -> tuple[str, ...]:
    """The numbered steps of the rule, each on one line (renderers wrap them)."""
    items: list[str] = []
    for line in rule.splitlines():
        text = line.strip()
        if not text:
            continue
        if (text[0].isdigit() and text[1:3] == ". ") or not items:
            items.append(text)
        else:
            items[-1] += " " + text
    return tuple(items)


def case_blocks(case: dict[str, Any]) -> list[Block]:
    """Blocks of a case study."""
    out = [Block("heading", f"Case: {case.get('title', case.get('name', ''))}")]
    for table in case.get("tables", []):
        rows = tuple(tuple(fmt(v) for v in row) for row in table["rows"])
        out.append(Block("table", table["title"], tuple(str(c) for c in table["columns"]), rows))
    skipped = case.get("skipped") or {}
    if skipped:
        out.append(Block("list", "Case pieces skipped",
                         items=tuple(f"{k}: {v}" for k, v in skipped.items())))
    if case.get("notes"):
        out.append(Block("list", "Case notes", items=tuple(case["notes"])))
    return out


def _md_escape(text: str) -> str:
    return text.replace("|", r"\|")


def render_markdown(blocks: Sequence[Block]) -> str:
    """GitHub-flavoured Markdown."""
    lines: list[str] = []
    for b in blocks:
        if b.kind == "heading":
            lines += [f"## {b.title}", ""]
        elif b.kind == "paragraph":
            lines += [b.title, ""]
        elif b.kind == "table":
            lines += [f"**{b.title}**", "", "| " + " | ".join(b.columns) + " |",
                      "|" + "---|" * len(b.columns)]
            lines += ["| " + " | ".join(_md_escape(c) for c in r) + " |" for r in b.rows]
            lines.append("")
        else:
            lines += [f"**{b.title}**", ""]
            lines += ["\n".join(("- " if i == 0 else "  ") + line
                                for i, line in enumerate(item.splitlines())) for item in b.items]
            lines.append("")
    return "\n".join(lines)


_LATEX = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
          "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}",
          ">": r"\textgreater{}", "<": r"\textless{}"}


def latex_escape(text: str) -> str:
    """Escape LaTeX special characters."""
    return "".join(_LATEX.get(ch, ch) for ch in text)


def render_latex(blocks: Sequence[Block]) -> str:
    """LaTeX fragments: booktabs tables and itemised lists (``\\usepackage{booktabs}``)."""
    out: list[str] = []
    for b in blocks:
        if b.kind == "heading":
            out.append(r"\subsection*{" + latex_escape(b.title) + "}")
        elif b.kind == "paragraph":
            out.append(latex_escape(b.title) + "\n")
        elif b.kind == "table":
            out += [r"\paragraph{" + latex_escape(b.title) + "}",
                    r"\begin{tabular}{" + "l" * len(b.columns) + "}", r"\toprule",
                    " & ".join(latex_escape(c) for c in b.columns) + r" \\", r"\midrule"]
            out += [" & ".join(latex_escape(c) for c in r) + r" \\" for r in b.rows]
            out += [r"\bottomrule", r"\end{tabular}", ""]
        else:
            out += [r"\paragraph{" + latex_escape(b.title) + "}", r"\begin{itemize}"]
            out += [r"\item " + latex_escape(i) for i in b.items]
            out += [r"\end{itemize}", ""]
    return "\n".join(out) + "\n"


_NUMERIC = {"estimate", "SE", "p", "F", "partial R2", "N", "clustered SE"}


def print_rich(blocks: Sequence[Block], write: Callable[[Any], None]) -> None:
    """Print the blocks with rich; ``write`` is a console's ``print``."""
    from rich.table import Table
    from rich.text import Text

    for b in blocks:
        if b.kind == "heading":
            write(Text(b.title, style="bold"))
        elif b.kind == "paragraph":
            write(Text(b.title))
        elif b.kind == "table":
            table = Table(title=b.title, title_justify="left")
            for i, col in enumerate(b.columns):
                numeric = col in _NUMERIC or col.startswith(("effect", "placebo", "19", "20")) \
                    or col.endswith(("%", "ratio"))
                table.add_column(col, justify="right" if numeric else "left", no_wrap=i == 0)
            for r in b.rows:
                table.add_row(*(Text(c) for c in r))
            write(table)
        else:
            write(Text(b.title, style="bold"))
            for item in b.items:
                write(Text(item))


RENDERERS: dict[str, Callable[[Sequence[Block]], str]] = {
    "md": render_markdown,
    "latex": render_latex,
}
"""Text renderers by ``--format`` name (``rich`` prints, ``json`` is the report's own)."""
