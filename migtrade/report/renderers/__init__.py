"""One renderer per output format, in the ``RENDERERS`` registry.

A renderer turns a :class:`~migtrade.report.table.RegressionTable` (and the results it was built
from, which the lossless formats need) into text. ``DOCUMENTS`` holds the formats that can also
be written as a complete document that stands on its own (``--standalone``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from migtrade.report.renderers.csv import render_csv
from migtrade.report.renderers.html import html_document, render_html
from migtrade.report.renderers.json import render_json
from migtrade.report.renderers.latex import latex_document, latex_escape, render_latex
from migtrade.report.renderers.markdown import markdown_escape, render_markdown
from migtrade.report.renderers.text import render_text
from migtrade.report.table import RegressionTable
from migtrade.results.result import EstimationResult

Renderer = Callable[[RegressionTable, Sequence[EstimationResult]], str]

RENDERERS: dict[str, Renderer] = {
    "md": render_markdown,
    "latex": render_latex,
    "html": render_html,
    "csv": render_csv,
    "json": render_json,
    "text": render_text,
}

DOCUMENTS: dict[str, Renderer] = {
    "latex": latex_document,
    "html": html_document,
}

__all__ = [
    "DOCUMENTS",
    "RENDERERS",
    "Renderer",
    "html_document",
    "latex_document",
    "latex_escape",
    "markdown_escape",
    "render_csv",
    "render_html",
    "render_json",
    "render_latex",
    "render_markdown",
    "render_text",
]
