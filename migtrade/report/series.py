"""A dyad's variables over time: ``migtrade plot panel``."""

from __future__ import annotations

import io
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from migtrade.errors import DataError, UsageError
from migtrade.report.plots import PlotStyle
from migtrade.report.sources import source_notes

# Units of the panel schema's main variables, for the axis labels.
_UNITS = {
    "trade": "exports, as in the source",
    "migrant_stock": "persons",
    "migrant_stock_reverse": "persons",
    "migration_flow": "persons per 5 years",
    "remittances_gdp_o": "% of GDP",
    "remittances_gdp_d": "% of GDP",
    "gdp_o": "current US$",
    "gdp_d": "current US$",
    "pop_o": "persons",
    "pop_d": "persons",
}


def parse_pair(text: str) -> tuple[str, str]:
    """``MEX-USA`` -> ("MEX", "USA")."""
    parts = [p.strip().upper() for p in text.split("-")]
    if len(parts) != 2 or not all(len(p) == 3 and p.isalpha() for p in parts):
        raise UsageError(f"cannot read the pair '{text}'", "Write ORIGIN-DESTINATION in ISO3, e.g. MEX-USA.")
    return parts[0], parts[1]


def panel_plot(frame: pd.DataFrame, pair: tuple[str, str], variables: Sequence[str], fmt: str,
               *, data: Mapping[str, Any], style: PlotStyle | None = None) -> bytes:
    """One panel per variable of the dyad ``pair`` over the years, sharing the time axis."""
    from matplotlib.figure import Figure

    st = style or PlotStyle()
    needed = ["origin", "destination", "year", *variables]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise DataError(f"the panel has no column {', '.join(repr(m) for m in missing)}",
                        "Build it with 'migtrade panel build' or pass a file in the panel schema.")
    rows = frame[(frame["origin"] == pair[0]) & (frame["destination"] == pair[1])].sort_values("year")
    if rows.empty:
        raise DataError(f"the panel has no rows for {pair[0]} -> {pair[1]}",
                        "Check the ISO3 codes and the countries kept when the panel was built.")
    fig = Figure(figsize=(st.width, st.height), dpi=st.dpi, layout="constrained")
    axes = fig.subplots(len(variables), 1, sharex=True, squeeze=False)[:, 0]
    for ax, var in zip(axes, variables, strict=True):
        values = pd.to_numeric(rows[var], errors="coerce").to_numpy(dtype=float)
        years = rows["year"].to_numpy()
        ok = np.isfinite(values)
        ax.plot(years[ok], values[ok], marker="o", linewidth=1.5)
        ax.set_ylabel(f"{var}\n({_UNITS.get(var, 'as in the data')})", fontsize="small")
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.grid(axis="y", color="0.9")
    axes[-1].set_xlabel(st.xlabel or "year")
    fig.suptitle(st.title or f"{pair[0]} \N{RIGHTWARDS ARROW} {pair[1]}", x=0.01, ha="left", fontweight="bold")
    notes = source_notes([dict(data)], [""])
    if notes:
        text = "\n".join(textwrap.wrap(" ".join(notes), max(40, int(st.width * 11))))
        fig.text(0.01, 0.005, text, fontsize=7, color="0.35", ha="left", va="bottom")
        from matplotlib.layout_engine import ConstrainedLayoutEngine

        engine = fig.get_layout_engine()
        bottom = min(0.3, (text.count("\n") + 1) * 10 / (st.height * 72) + 0.02)
        if isinstance(engine, ConstrainedLayoutEngine):
            engine.set(rect=(0.0, bottom, 1.0, 1.0 - bottom))
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=st.dpi)
    return buf.getvalue()
