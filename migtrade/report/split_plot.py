"""One coefficient across the sectors of a split run: sorted estimates with their intervals.

With hundreds or thousands of sectors the useful picture is the distribution: each sector's
estimate as a point on its confidence interval, sectors sorted by the estimate along the
horizontal axis, the zero line, and the median estimate. Sector labels are written when they
fit (at most :data:`MAX_LABELS` sectors); failed sectors and sectors without the term are
counted in the note below.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from migtrade.errors import UsageError
from migtrade.report.plots import PlotStyle, figure_with_notes, save_figure
from migtrade.report.split_table import OK, SectorEntry, conf_levels, long_table, split_vars

MAX_LABELS = 40
"""Up to this many sectors, each is labelled on the axis; beyond, the axis counts sectors."""


def _choose(values: Sequence[str], given: str | None, what: str, flag: str) -> str:
    if given is not None:
        if given not in values:
            raise UsageError(f"no {what} '{given}' in the results", f"Choose one of: {', '.join(values)}.")
        return given
    if len(values) != 1:
        raise UsageError(f"the results hold several {what}s", f"Choose one with {flag}: {', '.join(values)}.")
    return values[0]


def split_plot(entries: Sequence[SectorEntry], fmt: str, *, term: str | None = None,
               formula: str | None = None, style: PlotStyle | None = None) -> bytes:
    """Sorted estimates of ``term`` across sectors, with confidence intervals, as image bytes.

    Parameters
    ----------
    entries
        The sectors of a split run (:func:`~migtrade.report.split_table.load_split_file`).
    fmt
        png, svg or pdf.
    term
        The coefficient; may be left out when the results hold one term only.
    formula
        Which formula, when the run fitted several.
    style
        Size, resolution, title and horizontal-axis label.

    Returns
    -------
    bytes
        The image file.

    Raises
    ------
    UsageError
        When the term or formula is missing or ambiguous, or no sector estimated the term.
    """
    st = style or PlotStyle()
    rows = long_table(entries)
    ok = [r for r in rows if r["status"] == OK]
    if not ok:
        raise UsageError("no sector was estimated: there is nothing to plot",
                         "Show the errors with 'migtrade table FILE'.")
    chosen_formula = _choose(list(dict.fromkeys(r["formula"] for r in ok)), formula, "formula", "--formula")
    ok = [r for r in ok if r["formula"] == chosen_formula]
    chosen = _choose(list(dict.fromkeys(r["term"] for r in ok)), term, "term", "--term")
    points = sorted(((r["estimate"], r["ci_low"], r["ci_high"], r) for r in ok
                     if r["term"] == chosen and math.isfinite(r["estimate"])), key=lambda p: p[0])
    variables = split_vars(entries)
    sectors = {tuple(str(e.split.get(v)) for v in variables) for e in entries}
    failed = {tuple(str(e.split.get(v)) for v in variables) for e in entries if not e.ok}
    missing = len(sectors) - len(failed) - len(points)
    level = "/".join(f"{100 * v:g}%" for v in conf_levels(entries))
    median = points[len(points) // 2][0] if len(points) % 2 else (
        (points[len(points) // 2 - 1][0] + points[len(points) // 2][0]) / 2)
    notes = [f"{chosen_formula}. {len(points):,} of {len(sectors):,} sectors estimated {chosen}"
             + (f"; {len(failed):,} failed" if failed else "")
             + (f"; {missing:,} without the term" if missing > 0 else "")
             + f". Bars: {level} confidence intervals."]
    fig, ax = figure_with_notes(st, notes)
    x = list(range(len(points)))
    est = [p[0] for p in points]
    lo = [p[0] - p[1] for p in points]
    hi = [p[2] - p[0] for p in points]
    many = len(points) > 200
    ax.errorbar(x, est, yerr=[lo, hi], fmt="o", markersize=1.5 if many else 3.5, capsize=0 if many else 2,
                linewidth=0.4 if many else 1.0, elinewidth=0.3 if many else 1.0, color="#1f4e79",
                ecolor="#9db7d5")
    ax.axhline(0.0, color="0.45", linewidth=0.8, linestyle="--", zorder=0)
    ax.axhline(median, color="#b03a2e", linewidth=1.0, zorder=3, label=f"median {median:.3g}")
    if len(points) <= MAX_LABELS:
        labels = [", ".join(str(p[3][v]) for v in variables) for p in points]
        ax.set_xticks(x, labels, rotation=90, fontsize="small")
        ax.set_xlabel(st.xlabel or ", ".join(variables))
    else:
        ax.set_xlabel(st.xlabel or f"{', '.join(variables)}: {len(points):,} sectors, sorted by the estimate")
    ax.set_ylabel(f"{chosen}")
    ax.grid(axis="y", color="0.9", linewidth=0.6)
    ax.legend(loc="best", frameon=False, fontsize="small")
    return save_figure(fig, fmt, st)
