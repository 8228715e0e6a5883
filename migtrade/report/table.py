"""A format-neutral regression table built from results; renderers only decide appearance."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from migtrade.results.result import EstimationResult

DEFAULT_STARS = (0.10, 0.05, 0.01)


@dataclass(frozen=True)
class CoefCell:
    """One coefficient in one model column."""

    estimate: str
    below: str  # standard error in parentheses
    stars: str


@dataclass(frozen=True)
class RegressionTable:
    """Rows and columns of a regression table, already formatted as text."""

    titles: tuple[str, ...]
    depvars: tuple[str, ...]
    terms: tuple[str, ...]
    cells: tuple[tuple[CoefCell | None, ...], ...]  # [term][model]
    fixed_effects: tuple[tuple[str, tuple[str, ...]], ...]
    statistics: tuple[tuple[str, tuple[str, ...]], ...]
    notes: tuple[str, ...]
    stars: tuple[float, ...]

    @property
    def star_legend(self) -> str:
        """'* p<0.1, ** p<0.05, *** p<0.01'."""
        return ", ".join(f"{'*' * (i + 1)} p<{p:g}" for i, p in enumerate(sorted(self.stars, reverse=True)))


def _stars(p: float, levels: Sequence[float]) -> str:
    if not np.isfinite(p):
        return ""
    return "*" * sum(p < lvl for lvl in levels)


def _fmt(x: float | None, digits: int) -> str:
    if x is None or not np.isfinite(x):
        return ""
    return f"{x:,.{digits}f}" if abs(x) >= 1e5 else f"{x:.{digits}f}"


def build_table(
    results: Sequence[EstimationResult],
    *,
    titles: Sequence[str] | None = None,
    digits: int = 3,
    stars: Sequence[float] = DEFAULT_STARS,
) -> RegressionTable:
    """Lay out one or several results side by side."""
    terms: list[str] = []
    for r in results:
        terms.extend(t for t in r.terms if t not in terms)
    cells = []
    for t in terms:
        row: list[CoefCell | None] = []
        for r in results:
            if t in r.terms:
                i = r.terms.index(t)
                row.append(CoefCell(
                    estimate=_fmt(float(r.params[i]), digits),
                    below=f"({_fmt(float(r.std_errors[i]), digits)})",
                    stars=_stars(float(r.pvalues[i]), stars),
                ))
            else:
                row.append(None)
        cells.append(tuple(row))
    fe_names: list[str] = []
    for r in results:
        fe_names.extend(f for f in r.fixed_effects if f not in fe_names)
    fe_rows = tuple((f, tuple("Yes" if f in r.fixed_effects else "No" for r in results)) for f in fe_names)

    stat_rows: list[tuple[str, tuple[str, ...]]] = [
        ("Model", tuple(r.model.upper() for r in results)),
        ("Observations", tuple(f"{r.nobs:,}" for r in results)),
    ]
    if any(r.model == "ols" for r in results):
        stat_rows.append(("R²", tuple(_fmt(r.fit.get("r2"), digits) for r in results)))
        stat_rows.append(("Within R²", tuple(_fmt(r.fit.get("within_r2"), digits) for r in results)))
    if any(r.model == "ppml" for r in results):
        stat_rows.append(("Pseudo R²", tuple(_fmt(r.fit.get("pseudo_r2"), digits) for r in results)))
    stat_rows.append(("Std. errors", tuple(_vcov_label(r) for r in results)))
    if any(r.vcov.get("clusters") for r in results):
        stat_rows.append(("Clusters", tuple(
            ", ".join(f"{v:,}" for v in r.vcov.get("clusters", {}).values()) for r in results)))
    stat_rows.append(("Small sample", tuple(str(r.vcov.get("small_sample", "")) for r in results)))
    for key, label in (("singletons", "Singletons dropped"), ("separated", "Separated dropped")):
        if any(r.dropped.get(key) for r in results):
            stat_rows.append((label, tuple(f"{r.dropped.get(key, 0):,}" for r in results)))

    notes: list[str] = []
    for r in results:
        notes.extend(n for n in r.notes if n not in notes)
    sources = []
    for r in results:
        src = r.data.get("description") or r.data.get("dataset") or r.data.get("path")
        if src and src not in sources:
            sources.append(str(src))
    if sources:
        notes.append("Data: " + "; ".join(sources))
    return RegressionTable(
        titles=tuple(titles) if titles else tuple(f"({i + 1})" for i in range(len(results))),
        depvars=tuple(r.depvar for r in results),
        terms=tuple(terms),
        cells=tuple(cells),
        fixed_effects=fe_rows,
        statistics=tuple(stat_rows),
        notes=tuple(notes),
        stars=tuple(stars),
    )


def _vcov_label(r: EstimationResult) -> str:
    kind = r.vcov.get("type", "")
    if kind == "cluster":
        return "cluster: " + ", ".join(r.vcov.get("clusters", {}))
    return str(kind)
