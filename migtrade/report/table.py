"""A format-neutral regression table built from results; renderers only decide appearance.

:func:`build_table` lays results out side by side under a small set of :class:`TableOptions`:
which coefficients (``keep``, ``drop``, ``order``, ``rename``), what goes below each estimate
(standard error, t statistic or confidence interval), the significance levels and the digits.
Every cell keeps its full-precision numbers, so machine-readable renderers lose nothing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from migtrade.errors import UsageError
from migtrade.report.sources import source_notes
from migtrade.results.result import Coefficient, EstimationResult

DEFAULT_STARS = (0.10, 0.05, 0.01)
Statistic = Literal["se", "tstat", "ci", "boot_p", "boot_ci"]
STATISTICS: tuple[str, ...] = ("se", "tstat", "ci", "boot_p", "boot_ci")
BOOTSTRAP_STATISTICS: tuple[str, ...] = ("boot_p", "boot_ci")
MAX_DIGITS = 12


@dataclass(frozen=True)
class TableOptions:
    """What a regression table shows; how it looks is left to the renderers.

    Parameters
    ----------
    keep, drop
        Regular expressions searched (``re.search``) in the coefficient names as estimated,
        before ``rename``: with ``keep`` only matching coefficients are shown, and any matching
        ``drop`` is hidden.
    order
        Regular expressions: coefficients matching the first come first, then those matching the
        second, and so on; the rest follow in their original order.
    rename
        ``(old, new)`` pairs applied to coefficient, outcome and fixed-effect names. Two
        coefficients of different models renamed alike share a row (``log(dist)`` and
        ``log_dist`` as "Distance").
    statistic
        What is printed below each estimate: ``se`` (standard error, in parentheses), ``tstat``
        (t or z statistic, in parentheses), ``ci`` (confidence interval, in brackets), or from a
        bootstrap (``estimate --bootstrap``) ``boot_p`` (p-value, in braces) or ``boot_ci``
        (interval by test inversion, in brackets); stars then follow the bootstrap p-values.
    stars
        Significance levels; a coefficient gets one star per level its p-value is below. Empty
        for no stars.
    digits
        Decimal places of estimates, their statistics and R².
    titles
        Column headings; ``(1)``, ``(2)``, ... by default.
    title
        A caption for the whole table.
    """

    keep: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    order: tuple[str, ...] = ()
    rename: tuple[tuple[str, str], ...] = ()
    statistic: Statistic = "se"
    stars: tuple[float, ...] = DEFAULT_STARS
    digits: int = 3
    titles: tuple[str, ...] | None = None
    title: str | None = None

    def __post_init__(self) -> None:
        for name in ("keep", "drop", "order", "stars"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "rename", tuple((str(a), str(b)) for a, b in self.rename))
        if self.titles is not None:
            object.__setattr__(self, "titles", tuple(self.titles))
        for option in ("keep", "drop", "order"):
            for pattern in getattr(self, option):
                _compile(pattern, option)
        if self.statistic not in STATISTICS:
            raise UsageError(f"unknown statistic '{self.statistic}'", f"Use {', '.join(STATISTICS)}.")
        if not 0 <= self.digits <= MAX_DIGITS:
            raise UsageError(f"digits must be between 0 and {MAX_DIGITS}, not {self.digits}", "Use e.g. 3.")
        for level in self.stars:
            if not 0 < level < 1:
                raise UsageError(f"significance level {level:g} is not between 0 and 1",
                                 "Give levels such as 0.1,0.05,0.01.")
        if len(set(self.stars)) != len(self.stars):
            raise UsageError("significance levels repeat", "Give each level once, e.g. 0.1,0.05,0.01.")
        object.__setattr__(self, "stars", tuple(sorted(self.stars, reverse=True)))


@dataclass(frozen=True)
class CoefCell:
    """One coefficient in one model column."""

    estimate: str
    below: str  # the standard error, t statistic or confidence interval, with its brackets
    stars: str
    value: Coefficient | None = None  # full precision, for machine-readable formats
    term: str = ""  # the name as estimated (before renaming)


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
    title: str | None = None
    statistic: Statistic = "se"
    conf_levels: tuple[float, ...] = ()

    @property
    def star_legend(self) -> str:
        """'* p<0.1, ** p<0.05, *** p<0.01' (empty without stars)."""
        return ", ".join(f"{'*' * (i + 1)} p<{p:g}" for i, p in enumerate(sorted(self.stars, reverse=True)))

    @property
    def legend(self) -> str:
        """What is below the estimates, and the stars: one sentence for the table's foot."""
        if self.statistic == "se":
            text = "Standard errors in parentheses."
        elif self.statistic == "tstat":
            text = "t statistics in parentheses."
        elif self.statistic == "boot_p":
            text = "Bootstrap p-values in braces; stars from them."
        else:
            levels = sorted(set(self.conf_levels)) or [0.95]
            pct = "/".join(f"{100 * lvl:g}%" for lvl in levels)
            what = "bootstrap confidence intervals (test inversion)" if self.statistic == "boot_ci" \
                else "confidence intervals"
            text = f"{pct} {what} in brackets." + (" Stars from bootstrap p-values."
                                                    if self.statistic == "boot_ci" else "")
        return f"{text} {self.star_legend}." if self.stars else text

    def text_rows(self) -> list[list[str]]:
        """Body rows as plain text: each term's estimates with stars, then what is below them."""
        out: list[list[str]] = []
        for term, row in zip(self.terms, self.cells, strict=True):
            out.append([term] + [f"{c.estimate}{c.stars}" if c else "" for c in row])
            out.append([""] + [c.below if c else "" for c in row])
        return out


def build_table(
    results: Sequence[EstimationResult],
    options: TableOptions | None = None,
    *,
    titles: Sequence[str] | None = None,
    digits: int | None = None,
    stars: Sequence[float] | None = None,
) -> RegressionTable:
    """Lay out one or several results side by side.

    Parameters
    ----------
    results
        The models, one column each, in order.
    options
        What to show (:class:`TableOptions`); the defaults show every coefficient with its
        standard error, three decimals and stars at 10%, 5% and 1%.
    titles, digits, stars
        Shortcuts that override the same fields of ``options``.

    Raises
    ------
    UsageError
        When ``rename`` gives two coefficients of one model the same name, or nothing is left
        to show after ``keep`` and ``drop``.
    """
    opts = options or TableOptions()
    overrides: dict[str, object] = {}
    if titles is not None:
        overrides["titles"] = tuple(titles)
    if digits is not None:
        overrides["digits"] = digits
    if stars is not None:
        overrides["stars"] = tuple(stars)
    if overrides:
        opts = replace(opts, **overrides)  # type: ignore[arg-type]
    col_titles = opts.titles or tuple(f"({i + 1})" for i in range(len(results)))
    if len(col_titles) != len(results):
        raise UsageError(f"{len(col_titles)} column titles for {len(results)} models", "Give one title per model.")
    if opts.statistic in BOOTSTRAP_STATISTICS and not any(r.bootstrap for r in results):
        raise UsageError("the results have no bootstrap inference to show",
                         "Estimate with --bootstrap wild|score and --vcov cluster:VAR, or show --se.")
    rename = dict(opts.rename)
    rows = _coefficient_rows(results, opts, col_titles)
    cells = tuple(
        tuple(_cell(r, mapping[j], opts) if j in mapping else None for j, r in enumerate(results))
        for _, mapping in rows
    )
    fe_names: list[str] = []
    for r in results:
        fe_names.extend(f for f in r.fixed_effects if f not in fe_names)
    fe_rows = tuple(
        (rename.get(f, f), tuple("Yes" if f in r.fixed_effects else "No" for r in results)) for f in fe_names
    )
    notes = _model_notes(results, col_titles)
    notes.extend(source_notes([r.data for r in results], col_titles))
    return RegressionTable(
        titles=tuple(col_titles),
        depvars=tuple(rename.get(r.depvar, r.depvar) for r in results),
        terms=tuple(label for label, _ in rows),
        cells=cells,
        fixed_effects=fe_rows,
        statistics=_statistic_rows(results, opts.digits),
        notes=tuple(notes),
        stars=opts.stars,
        title=opts.title,
        statistic=opts.statistic,
        conf_levels=tuple(r.conf_level for r in results),
    )


def select_terms(terms: Sequence[str], keep: Sequence[str] = (), drop: Sequence[str] = ()) -> list[str]:
    """The terms that match a ``keep`` pattern (all when there is none) and no ``drop`` pattern."""
    keep_re = [_compile(p, "keep") for p in keep]
    drop_re = [_compile(p, "drop") for p in drop]
    return [
        t for t in terms
        if (not keep_re or any(k.search(t) for k in keep_re)) and not any(d.search(t) for d in drop_re)
    ]


def _coefficient_rows(
    results: Sequence[EstimationResult], opts: TableOptions, titles: Sequence[str]
) -> list[tuple[str, dict[int, str]]]:
    """Row labels in display order, each with the term it shows in each model (by index)."""
    all_terms: list[str] = []
    for r in results:
        all_terms.extend(t for t in r.terms if t not in all_terms)
    shown = select_terms(all_terms, opts.keep, opts.drop)
    if not shown and all_terms:
        raise UsageError("--keep and --drop leave no coefficient to show",
                         f"The coefficients are: {', '.join(all_terms)}.")
    rename = dict(opts.rename)
    rows: dict[str, dict[int, str]] = {}
    for term in shown:
        label = rename.get(term, term)
        mapping = rows.setdefault(label, {})
        for j, r in enumerate(results):
            if term in r.terms:
                if j in mapping:
                    raise UsageError(
                        f"--rename gives '{mapping[j]}' and '{term}' the same name '{label}' in model {titles[j]}",
                        "Rename them to different names.",
                    )
                mapping[j] = term
    order_re = [_compile(p, "order") for p in opts.order]

    def rank(item: tuple[str, dict[int, str]]) -> int:
        names = (item[0], *item[1].values())
        return next((i for i, rx in enumerate(order_re) if any(rx.search(n) for n in names)), len(order_re))

    return sorted(rows.items(), key=rank)  # stable: unmatched rows keep their order


def _cell(r: EstimationResult, term: str, opts: TableOptions) -> CoefCell:
    i = r.terms.index(term)
    est = float(r.params[i])
    se = float(r.std_errors[i])
    tstat = float(r.tstats[i])
    lo, hi = (float(v) for v in r.conf_int()[i])
    p = float(r.pvalues[i])
    d = opts.digits
    star_p = p
    if opts.statistic in BOOTSTRAP_STATISTICS:
        below, star_p = _bootstrap_below(r.bootstrap.get(term), opts.statistic, d)
    elif opts.statistic == "ci":
        below = f"[{format_number(lo, d)}, {format_number(hi, d)}]" if math.isfinite(se) else "[n/a]"
    else:
        shown = se if opts.statistic == "se" else tstat
        below = f"({format_number(shown, d)})" if math.isfinite(shown) else "(n/a)"
    return CoefCell(
        estimate=format_number(est, d),
        below=below,
        stars=_stars(star_p, opts.stars),
        value=Coefficient(est, se, tstat, p, lo, hi),
        term=term,
    )


def _bootstrap_below(boot: dict[str, Any] | None, statistic: str, digits: int) -> tuple[str, float]:
    """The bootstrap p-value in braces or interval in brackets, and the p-value for the stars."""
    if not boot:
        return ("{n/a}" if statistic == "boot_p" else "[n/a]"), math.nan
    p = boot.get("p_value")
    p = math.nan if p is None else float(p)
    if statistic == "boot_p":
        return (f"{{{format_number(p, digits)}}}" if math.isfinite(p) else "{n/a}"), p
    lo, hi = (math.nan if boot.get(k) is None else float(boot[k]) for k in ("ci_low", "ci_high"))
    ends = [format_number(v, digits) if math.isfinite(v) else ("-inf" if v < 0 else "inf") for v in (lo, hi)]
    return f"[{ends[0]}, {ends[1]}]", p


def _stars(p: float, levels: Sequence[float]) -> str:
    if not math.isfinite(p):
        return ""
    return "*" * sum(p < lvl for lvl in levels)


def format_number(x: float | None, digits: int) -> str:
    """Fixed decimals, thousands separated from 100,000 on; empty when missing or not finite.

    A value that rounds to zero prints without a minus sign.
    """
    if x is None or not math.isfinite(x):
        return ""
    text = f"{x:,.{digits}f}" if abs(x) >= 1e5 else f"{x:.{digits}f}"
    if text.startswith("-") and not any(ch in "123456789" for ch in text):
        text = text[1:]
    return text


def _model_notes(results: Sequence[EstimationResult], titles: Sequence[str]) -> list[str]:
    """Each result's notes once; a note that not every model has names the models it belongs to."""
    owners: dict[str, list[str]] = {}
    for r, title in zip(results, titles, strict=True):
        for note in r.notes:
            cols = owners.setdefault(note, [])
            if title not in cols:
                cols.append(title)
    return [note if len(cols) == len(results) else f"{', '.join(cols)}: {note}" for note, cols in owners.items()]


def _statistic_rows(results: Sequence[EstimationResult], digits: int) -> tuple[tuple[str, tuple[str, ...]], ...]:
    rows: list[tuple[str, tuple[str, ...]]] = [
        ("Model", tuple(r.label for r in results)),
        ("Observations", tuple(f"{r.nobs:,}" for r in results)),
    ]
    if any(r.model == "ols" for r in results):
        rows.append(("R²", tuple(format_number(r.fit.get("r2"), digits) for r in results)))
        rows.append(("Within R²", tuple(format_number(r.fit.get("within_r2"), digits) for r in results)))
    if any(r.model == "ppml" for r in results):
        rows.append(("Pseudo R²", tuple(format_number(r.fit.get("pseudo_r2"), digits) for r in results)))
    rows.append(("Std. errors", tuple(_vcov_label(r) for r in results)))
    if any(r.vcov.clusters for r in results):
        rows.append(("Clusters", tuple(
            ", ".join(f"{v:,}" for v in r.vcov.clusters.values()) for r in results)))
    rows.append(("Small sample", tuple(r.vcov.small_sample for r in results)))
    if any(r.bias_correction for r in results):
        rows.append(("Bias correction", tuple(_bias_label(r) for r in results)))
    for key, label in (("singletons", "Singletons dropped"), ("separated", "Separated dropped")):
        if any(r.dropped.get(key) for r in results):
            rows.append((label, tuple(f"{r.dropped.get(key, 0):,}" for r in results)))
    return tuple(rows)


# How a bias-corrected column is marked (the result's note says what was corrected).
BIAS_LABELS = {"weidner-zylkin-2021": "Weidner-Zylkin", "split-panel-jackknife": "jackknife"}


def _bias_label(r: EstimationResult) -> str:
    """'Weidner-Zylkin (three-way)', 'jackknife', or empty for an uncorrected column."""
    if not r.bias_correction:
        return ""
    method = str(r.bias_correction.get("method", ""))
    label = BIAS_LABELS.get(method, method)
    structure = r.bias_correction.get("structure")
    return f"{label} ({structure})" if structure and method == "weidner-zylkin-2021" else label


def _vcov_label(r: EstimationResult) -> str:
    kind = r.vcov.type
    if kind == "cluster":
        return "cluster: " + ", ".join(r.vcov.clusters)
    return str(kind)


def _compile(pattern: str, option: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as err:
        raise UsageError(f"--{option} '{pattern}' is not a regular expression ({err})",
                         "Escape special characters, e.g. 'log\\(dist\\)'.") from None
