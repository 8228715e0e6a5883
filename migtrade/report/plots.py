"""Coefficient and event-study plots of saved results, as PNG, SVG or PDF bytes.

matplotlib is imported only inside the plotting functions, so that commands which never plot
start fast. The figures are built with :class:`matplotlib.figure.Figure` and never through
pyplot: no window, no global figure registry, and the file is rendered by the non-interactive
backend of its format (Agg for PNG). Dates and software versions are left out of the files, so
the same results give the same bytes.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING

from migtrade.errors import UsageError
from migtrade.report.events import event_terms
from migtrade.report.sources import source_notes
from migtrade.report.table import select_terms
from migtrade.results.result import EstimationResult

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FORMATS: tuple[str, ...] = ("png", "svg", "pdf")
_NOTE_SIZE = 7.0  # points
_METADATA = {"png": {"Software": None}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}


@dataclass(frozen=True)
class PlotStyle:
    """Size and labels of a figure.

    Parameters
    ----------
    width, height
        Inches; the image is ``width * dpi`` by ``height * dpi`` pixels.
    dpi
        Dots per inch of PNG output (SVG and PDF are vector graphics).
    title
        Shown above the plot.
    xlabel
        Replaces the default label of the horizontal axis.
    """

    width: float = 7.0
    height: float = 4.5
    dpi: int = 150
    title: str | None = None
    xlabel: str | None = None

    def __post_init__(self) -> None:
        for name in ("width", "height"):
            value = getattr(self, name)
            if not 1 <= value <= 50:
                raise UsageError(f"--{name} {value:g} is outside 1 to 50 inches", "Use e.g. 7 by 4.5.")
        if not 50 <= self.dpi <= 1200:
            raise UsageError(f"--dpi {self.dpi} is outside 50 to 1200", "Use e.g. 150 (300 for print).")


def plot_format(path: Path) -> str:
    """The image format named by a file's extension: png, svg or pdf."""
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise UsageError(f"cannot tell the image format of '{path}'",
                         "End the file name in .png, .svg or .pdf.")
    return fmt


def coef_plot(
    results: Sequence[EstimationResult],
    fmt: str,
    *,
    keep: Sequence[str] = (),
    drop: Sequence[str] = (),
    titles: Sequence[str] | None = None,
    style: PlotStyle | None = None,
) -> bytes:
    """Estimates with confidence intervals, one row per coefficient, models side by side.

    Parameters
    ----------
    results
        One or more models; several are drawn at small vertical offsets with a legend.
    fmt
        png, svg or pdf.
    keep, drop
        Regular expressions selecting coefficients, as in ``migtrade table``.
    titles
        Legend labels of the models; ``(1) PPML: trade`` and so on by default.
    style
        Size, resolution and title.

    Returns
    -------
    bytes
        The image file.
    """
    st = style or PlotStyle()
    names = _column_titles(results, titles)
    all_terms: list[str] = []
    for r in results:
        all_terms.extend(t for t in r.terms if t not in all_terms)
    terms = select_terms(all_terms, keep, drop)
    if not terms:
        raise UsageError("no coefficient to plot", f"The coefficients are: {', '.join(all_terms) or 'none'}.")
    fig, ax = _figure(st, results, names)
    m = len(results)
    step = min(0.6 / m, 0.2) if m > 1 else 0.0
    for j, r in enumerate(results):
        rows = [(i, r.terms.index(t)) for i, t in enumerate(terms) if t in r.terms]
        ci = r.conf_int()
        y = [i + (j - (m - 1) / 2) * step for i, _ in rows]
        est = [float(r.params[k]) for _, k in rows]
        lo = [e - float(ci[k, 0]) for e, (_, k) in zip(est, rows, strict=True)]
        hi = [float(ci[k, 1]) - e for e, (_, k) in zip(est, rows, strict=True)]
        ax.errorbar(est, y, xerr=[lo, hi], fmt="o", markersize=4, capsize=2.5, linewidth=1.2,
                    label=f"{names[j]} {r.label}: {r.depvar}")
    ax.axvline(0.0, color="0.45", linewidth=0.8, linestyle="--", zorder=0)
    ax.set_yticks(range(len(terms)), terms)
    ax.set_ylim(len(terms) - 0.5, -0.5)  # the first coefficient on top, as in a table
    ax.set_xlabel(st.xlabel or f"Estimate with {_level_text(results)} confidence interval")
    ax.grid(axis="x", color="0.9", linewidth=0.6)
    if m > 1:
        _legend(ax)
    return save_figure(fig, fmt, st)


def event_plot(
    results: Sequence[EstimationResult],
    fmt: str,
    *,
    pattern: str | None = None,
    periods: Sequence[float] | None = None,
    ref: float | None = -1.0,
    titles: Sequence[str] | None = None,
    style: PlotStyle | None = None,
) -> bytes:
    """Leads and lags with confidence bands, the reference period marked at zero.

    Parameters
    ----------
    results
        One or more models; every event-study series of every model is drawn.
    fmt
        png, svg or pdf.
    pattern, periods
        Which coefficients and at which periods; see :mod:`migtrade.report.events`.
    ref
        The omitted reference period, drawn as a hollow point at zero on a dashed line; None
        for none. It must not be an estimated period and must lie within one period of them.
    titles, style
        Legend labels of the models, and the figure's size and title.

    Returns
    -------
    bytes
        The image file.
    """
    st = style or PlotStyle()
    names = _column_titles(results, titles)
    series: list[tuple[str, list[tuple[float, float, float, float]]]] = []
    axes: set[str] = set()
    for j, r in enumerate(results):
        found, axis = event_terms(r.terms, pattern=pattern, periods=periods)
        axes.add(axis)
        ci = r.conf_int()
        groups: dict[str, list[tuple[float, float, float, float]]] = {}
        for e in found:
            k = r.terms.index(e.term)
            groups.setdefault(e.series, []).append(
                (e.period, float(r.params[k]), float(ci[k, 0]), float(ci[k, 1])))
        for name, pts in groups.items():
            label = f"{names[j]} {name}" if len(results) > 1 else name
            series.append((label, sorted(pts)))
    all_periods = sorted({p for _, pts in series for p, *_ in pts})
    spacing = min((b - a for a, b in pairwise(all_periods)), default=1.0)
    if ref is not None:
        _check_ref(ref, series, all_periods, spacing)
    fig, ax = _figure(st, results, names)
    width = 0.08 * spacing
    for s, (label, pts) in enumerate(series):
        if ref is not None:
            pts = sorted([*pts, (ref, 0.0, 0.0, 0.0)])
        shift = (s - (len(series) - 1) / 2) * width
        x = [p + shift for p, *_ in pts]
        line = ax.plot(x, [b for _, b, _, _ in pts], marker="o", markersize=4, linewidth=1.3, label=label)[0]
        ax.fill_between(x, [lo for *_, lo, _ in pts], [hi for *_, hi in pts],
                        color=line.get_color(), alpha=0.18, linewidth=0)
        if ref is not None:
            ax.plot([ref + shift], [0.0], marker="o", markersize=5, markerfacecolor="white",
                    markeredgecolor=line.get_color(), linestyle="none", zorder=3)
    ax.axhline(0.0, color="0.45", linewidth=0.8, zorder=0)
    if ref is not None:
        ax.axvline(ref, color="0.45", linewidth=0.8, linestyle="--", zorder=0,
                   label=f"reference period ({ref:g})".replace("-", "\u2212"))
    if all(float(p).is_integer() for p in all_periods):
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(st.xlabel or (axes.pop() if len(axes) == 1 else "Period"))
    ax.set_ylabel(f"Estimate with {_level_text(results)} confidence band")
    ax.grid(axis="y", color="0.9", linewidth=0.6)
    _legend(ax)
    return save_figure(fig, fmt, st)


def _check_ref(ref: float, series: Sequence[tuple[str, Sequence[tuple[float, ...]]]],
               periods: Sequence[float], spacing: float) -> None:
    for label, pts in series:
        if any(math.isclose(p[0], ref) for p in pts):
            raise UsageError(f"the reference period {ref:g} is estimated in '{label}'",
                             "Pass --ref with the period left out of the model.")
    if not periods[0] - spacing - 1e-9 <= ref <= periods[-1] + spacing + 1e-9:
        raise UsageError(
            f"the reference period {ref:g} is far from the estimated periods "
            f"({periods[0]:g} to {periods[-1]:g})",
            "Pass --ref with the period left out of the model.",
        )


def _column_titles(results: Sequence[EstimationResult], titles: Sequence[str] | None) -> list[str]:
    if not results:
        raise UsageError("no results to plot", "Pass one or more result files.")
    names = list(titles) if titles else [f"({i + 1})" for i in range(len(results))]
    if len(names) != len(results):
        raise UsageError(f"{len(names)} titles for {len(results)} models", "Give one title per model.")
    return names


def _level_text(results: Sequence[EstimationResult]) -> str:
    return "/".join(f"{100 * lvl:g}%" for lvl in sorted({r.conf_level for r in results}))


def _figure(st: PlotStyle, results: Sequence[EstimationResult], names: Sequence[str]) -> tuple[Figure, Axes]:
    """A figure with one axes, a title and the source note below, laid out to fit."""
    return figure_with_notes(st, source_notes([r.data for r in results], names))


def figure_with_notes(st: PlotStyle, notes: Sequence[str]) -> tuple[Figure, Axes]:
    """A figure with one axes, a title, and ``notes`` in small print below, laid out to fit."""
    from matplotlib.figure import Figure
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    fig = Figure(figsize=(st.width, st.height), dpi=st.dpi, layout="constrained")
    ax = fig.add_subplot()
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if st.title:
        fig.suptitle(st.title, x=0.01, ha="left", fontweight="bold")
    # An average character of the default sans-serif font is about 0.55 em wide; wrap a little
    # narrower so that the notes never run off the figure.
    chars = max(40, int(st.width * 72 / (_NOTE_SIZE * 0.62)))
    lines = [w for note in notes for w in textwrap.wrap(note, chars, break_on_hyphens=False)]
    if lines:
        fig.text(0.01, 0.01, "\n".join(lines), fontsize=_NOTE_SIZE, color="0.35", ha="left", va="bottom")
        bottom = min(0.4, (len(lines) * _NOTE_SIZE * 1.3 + 6) / (st.height * 72))
        engine = fig.get_layout_engine()
        if isinstance(engine, ConstrainedLayoutEngine):
            engine.set(rect=(0.0, bottom, 1.0, 1.0 - bottom))
    return fig, ax


def _legend(ax: Axes) -> None:
    """The legend in a row just above the axes, where it can never hide an estimate."""
    ncols = min(len(ax.get_legend_handles_labels()[1]), 3)
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.01), ncols=ncols, frameon=False,
              borderaxespad=0.0, fontsize="small")


def save_figure(fig: Figure, fmt: str, st: PlotStyle) -> bytes:
    """The figure as the bytes of a png, svg or pdf file, without dates or versions."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown image format '{fmt}'", "Use png, svg or pdf.")
    from matplotlib import rc_context

    buf = io.BytesIO()
    # A fixed salt makes the element ids of an SVG, and so the whole file, reproducible.
    with rc_context({"svg.hashsalt": "migtrade"}):
        fig.savefig(buf, format=fmt, dpi=st.dpi, metadata=_METADATA[fmt])
    return buf.getvalue()
