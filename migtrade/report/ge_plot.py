"""The welfare plot of a general-equilibrium counterfactual: real GDP change by country.

One horizontal bar per country, sorted from the largest gain at the top to the largest loss at
the bottom; countries in a pair whose trade costs the scenario changes are drawn in a colour of
their own, the others in grey; when draws were made, each bar carries its interval. The figure is
built like the other plots (:mod:`migtrade.report.plots`): no pyplot, reproducible bytes, the data
and the definition of the baseline in small print below.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from migtrade.report.ge_layout import (
    baseline_sentence,
    check_ge_document,
    finite_number,
    select_countries,
)
from migtrade.report.plots import PlotStyle, figure_with_notes, save_figure
from migtrade.report.sources import describe_data

CHANGED_COLOR = "#c0392b"
OTHER_COLOR = "#8c9bab"
INCH_PER_COUNTRY = 0.16
"""Height of a bar's row when the height is chosen for the number of countries."""
FIELD = "real_gdp_pct"


def auto_height(n_countries: int) -> float:
    """A figure height in inches that gives each of ``n_countries`` bars a readable row."""
    return min(50.0, max(3.0, 1.8 + INCH_PER_COUNTRY * n_countries))


def welfare_plot(doc: Mapping[str, Any], fmt: str, *, countries: Sequence[str] | None = None,
                 style: PlotStyle | None = None) -> bytes:
    """Real GDP change by country, sorted, changed countries highlighted, intervals when drawn.

    Parameters
    ----------
    doc
        The ``migtrade.ge/1`` document.
    fmt
        png, svg or pdf.
    countries
        ISO3 codes to draw; all by default.
    style
        Size and labels; without one, the height grows with the number of countries.

    Returns
    -------
    bytes
        The image file.

    Raises
    ------
    DataError
        When ``doc`` is not a GE document or no country has a real GDP change.
    UsageError
        On an unknown country.
    """
    from migtrade.errors import DataError

    doc = check_ge_document(dict(doc))
    data: Mapping[str, Mapping[str, Any]] = doc["countries"]
    codes = [c for c in select_countries(doc, countries) if finite_number(data[c].get(FIELD)) is not None]
    if not codes:
        raise DataError("no country has a real GDP change to plot",
                        "Check that the counterfactual converged ('converged' in the file).")
    codes.sort(key=lambda c: (-float(data[c][FIELD]), c))  # largest gain on top
    st = style or replace(PlotStyle(), height=auto_height(len(codes)))
    notes = [baseline_sentence(doc)]
    draws = doc.get("draws") if isinstance(doc.get("draws"), Mapping) else None
    if draws:
        failed = len(draws.get("failed") or ())
        notes.append(f"Intervals: {100 * float(draws.get('conf_level') or 0.95):g}% over "
                     f"{draws.get('succeeded')} of {draws.get('requested')} draws"
                     + (f"; {failed} failed draw{'s' if failed != 1 else ''} left out"
                        if failed else "") + ".")
    if not doc.get("converged"):
        notes.append(f"NOT converged after {doc['iterations']} iterations: the values are those "
                     "of the last iteration.")
    if doc.get("data"):
        notes.append(f"Data: {describe_data(doc['data'])}")
    fig, ax = figure_with_notes(st, notes)
    values = [float(data[c][FIELD]) for c in codes]
    changed = [bool(data[c].get("changed")) for c in codes]
    y = list(range(len(codes)))
    ax.barh(y, values, height=0.7, color=[CHANGED_COLOR if ch else OTHER_COLOR for ch in changed],
            zorder=2)
    bounds = [_interval(data[c]) for c in codes]
    if any(b is not None for b in bounds):
        rows = [(i, v, b) for i, (v, b) in enumerate(zip(values, bounds, strict=True))
                if b is not None]
        ax.errorbar([v for _, v, _ in rows], [i for i, _, _ in rows],
                    xerr=[[max(v - b[0], 0.0) for _, v, b in rows],
                          [max(b[1] - v, 0.0) for _, v, b in rows]],
                    fmt="none", ecolor="0.15", elinewidth=0.9, capsize=2.0, zorder=3)
    ax.axvline(0.0, color="0.3", linewidth=0.8, zorder=1)
    ax.set_yticks(y, codes, fontsize=_label_size(len(codes)))
    for label, ch in zip(ax.get_yticklabels(), changed, strict=True):
        if ch:
            label.set_color(CHANGED_COLOR)
            label.set_fontweight("bold")
    ax.set_ylim(len(codes) - 0.5, -0.5)
    ax.grid(axis="x", color="0.9", linewidth=0.6, zorder=0)
    ax.set_xlabel(st.xlabel or f"Real GDP, % change from the baseline ({doc['year']})")
    _legend(ax, any(changed), any(b is not None for b in bounds))
    fig.suptitle(st.title or f"Real GDP change by country, counterfactual in {doc['year']}",
                 x=0.01, ha="left", fontweight="bold")
    return save_figure(fig, fmt, st)


def _interval(country: Mapping[str, Any]) -> tuple[float, float] | None:
    pair = (country.get("intervals") or {}).get(FIELD)
    if isinstance(pair, list | tuple) and len(pair) == 2 \
            and all(finite_number(v) is not None for v in pair):
        return float(pair[0]), float(pair[1])
    return None


def _label_size(n: int) -> float:
    """Points: the default size for a few countries, smaller for many, never below 6."""
    return max(6.0, min(9.0, 11.0 - n / 12))


def _legend(ax: Any, changed: bool, intervals: bool) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Any] = []
    if changed:
        handles += [Patch(color=CHANGED_COLOR, label="in a pair the scenario changes"),
                    Patch(color=OTHER_COLOR, label="other countries")]
    if intervals:
        handles.append(Line2D([], [], color="0.15", linewidth=0.9, label="interval over draws"))
    if handles:
        # In a row just above the axes, where it can never hide a bar.
        ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.01),
                  ncols=len(handles), frameon=False, borderaxespad=0.0, fontsize="small")
