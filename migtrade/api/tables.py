"""Regression tables of several results, as ``migtrade table`` renders them."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from migtrade.errors import UsageError, speaks_python
from migtrade.results.result import EstimationResult

TableFormat = Literal["rich", "text", "md", "latex", "html", "csv", "json"]


@speaks_python
def etable(
    results: Any,
    format: TableFormat = "rich",
    *,
    keep: str | Sequence[str] = (),
    drop: str | Sequence[str] = (),
    order: str | Sequence[str] = (),
    rename: Mapping[str, str] | Sequence[tuple[str, str]] = (),
    statistic: Literal["se", "tstat", "ci", "boot_p", "boot_ci"] = "se",
    stars: Sequence[float] = (0.10, 0.05, 0.01),
    digits: int = 3,
    titles: Sequence[str] | None = None,
    title: str | None = None,
    standalone: bool = False,
) -> str:
    """The regression table of ``results`` side by side, as text in ``format``.

    The same table as ``migtrade table`` (whose options these are, in snake_case), built from
    results in memory or from files written by ``migtrade estimate --save``.

    Parameters
    ----------
    results
        A result of :func:`migtrade.estimate` (or the engine's
        :class:`~migtrade.results.result.EstimationResult`), the path of a saved result, or a
        sequence of them.
    format
        ``rich`` (the terminal table, as plain text), ``text``, ``md``, ``latex``, ``html``,
        ``csv`` or ``json``.
    keep, drop, order
        Regular expressions on the coefficient names: show only, hide, put first.
    rename
        ``{old: new}`` names of coefficients, outcomes and fixed effects.
    statistic
        Below each estimate: ``se``, ``tstat``, ``ci``, ``boot_p`` or ``boot_ci``.
    stars
        Significance levels (an empty sequence for no stars).
    digits
        Decimal places.
    titles, title
        Column headings and a caption.
    standalone
        A complete LaTeX document or HTML page.

    Returns
    -------
    str
        The table.
    """
    from migtrade.report.table import TableOptions

    engine = _engine_results(results)
    pairs = tuple(rename.items()) if isinstance(rename, Mapping) else tuple(rename)
    options = TableOptions(keep=_patterns(keep), drop=_patterns(drop), order=_patterns(order),
                           rename=pairs, statistic=statistic, stars=tuple(stars), digits=digits,
                           titles=_patterns(titles) if titles is not None else None, title=title)
    if format == "rich":
        if standalone:
            raise UsageError("a rich table has no standalone form", "Use format 'latex' or 'html'.")
        from migtrade.report.table import build_table
        from migtrade.report.terminal import print_rich

        buffer = io.StringIO()
        print_rich(build_table(engine, options), engine, buffer, width=120)
        return buffer.getvalue()
    from migtrade.report.render import render_table

    return render_table(engine, format, options, standalone=standalone)


def _patterns(value: str | Sequence[str]) -> tuple[str, ...]:
    """One pattern given as a string is one pattern, not one per character."""
    return (value,) if isinstance(value, str) else tuple(value)


def _engine_results(results: object) -> list[EstimationResult]:
    """The engine's results behind API results (their ``.result``), engine results, or files."""
    from migtrade.report.load import load_result_file

    items = [results] if isinstance(results, str | Path) or not isinstance(results, Sequence) \
        else list(results)
    out: list[EstimationResult] = []
    for item in items:
        if isinstance(item, str | Path):
            out.extend(load_result_file(item))
            continue
        engine = getattr(item, "result", item)  # an API Result wraps the engine's
        if not isinstance(engine, EstimationResult):
            raise UsageError(f"{type(item).__name__} is not an estimation result",
                             "Pass results of migtrade.estimate, or files they were saved to.")
        out.append(engine)
    if not out:
        raise UsageError("no results given", "Pass one or more estimation results.")
    return out
