"""Rendering a regression table in any format: the ``RENDERERS`` registry and one entry point.

The renderers themselves live in :mod:`migtrade.report.renderers`, one module per format; their
names stay importable from here.
"""

from __future__ import annotations

from collections.abc import Sequence

from migtrade.errors import UsageError
from migtrade.report.renderers import (
    DOCUMENTS,
    RENDERERS,
    Renderer,
    html_document,
    latex_document,
    latex_escape,
    markdown_escape,
    render_csv,
    render_html,
    render_json,
    render_latex,
    render_markdown,
    render_text,
)
from migtrade.report.table import TableOptions, build_table
from migtrade.results.result import EstimationResult

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
    "render_table",
    "render_text",
]


def render_table(
    results: Sequence[EstimationResult],
    fmt: str,
    options: TableOptions | None = None,
    *,
    standalone: bool = False,
) -> str:
    """Build the table of ``results`` and render it as text in ``fmt``.

    Parameters
    ----------
    results
        The models, one column each.
    fmt
        A key of ``RENDERERS``: md, latex, html, csv, json or text.
    options
        What the table shows.
    standalone
        A complete document instead of a fragment (latex and html only).

    Raises
    ------
    UsageError
        For an unknown format, or ``standalone`` with a format that has no document form.
    """
    if fmt not in RENDERERS:
        raise UsageError(f"unknown table format '{fmt}'", f"Use one of: {', '.join(RENDERERS)}.")
    if standalone and fmt not in DOCUMENTS:
        raise UsageError(f"--standalone does not apply to {fmt}", f"Use it with {' or '.join(DOCUMENTS)}.")
    table = build_table(results, options)
    return (DOCUMENTS if standalone else RENDERERS)[fmt](table, results)
