"""The results of a split run (one model per sector) read back, and their long table.

``migtrade estimate ... --split VAR --save FILE`` writes a JSON list: each estimated sector is
the usual ``migtrade.estimation/1`` object plus ``"split": {VAR: value}`` and ``"status": "ok"``;
a sector that could not be estimated is ``{"split", "status": "failed", "formula", "error"}``.
With hundreds of sectors a table of one column each is unreadable, so such a file is shown in
long form: one row per sector and term (and per formula and model when a run fitted several),
a failed sector as one row with its error. :func:`long_table` builds that table as data; the
renderers of :mod:`migtrade.report.split_render` only decide how it looks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from migtrade.errors import DataError, UsageError
from migtrade.report.load import read_json_file
from migtrade.report.table import select_terms
from migtrade.results.result import SCHEMA, EstimationResult

OK = "ok"
FAILED = "failed"
_HINT = "Pass a file written by 'migtrade estimate --split VAR --save FILE'."

LONG_COLUMNS = ("formula", "model", "term", "estimate", "std_error", "statistic", "p_value", "ci_low",
                "ci_high", "nobs", "converged", "status", "error")
"""The columns of the long table after the split variable(s)."""


@dataclass(frozen=True)
class SectorEntry:
    """One element of a split run's list: a sector's result, or why it has none.

    Attributes
    ----------
    split
        ``{VAR: level}``, the level as saved (text product codes keep their leading zeros).
    formula, model
        The model fitted (for a failed sector, as recorded with its error).
    result
        The estimation result; None for a failed sector.
    error
        The failed sector's message; None for an estimated one.
    """

    split: dict[str, Any]
    formula: str
    model: str
    result: EstimationResult | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.result is not None


def is_split_list(obj: Any) -> bool:
    """Whether a JSON value is a split run's list (every element carries ``split`` and ``status``)."""
    return (isinstance(obj, list) and bool(obj)
            and all(isinstance(e, dict) and isinstance(e.get("split"), dict) and "status" in e for e in obj))


def _entry(obj: Mapping[str, Any], where: str) -> SectorEntry:
    split = dict(obj["split"])
    status = obj.get("status")
    if status == FAILED:
        error = obj.get("error")
        message = error.get("message") if isinstance(error, dict) else None
        if not isinstance(message, str):
            raise DataError(f"{where} is a failed sector without an error message", _HINT)
        return SectorEntry(split, str(obj.get("formula", "")), str(obj.get("model", "")), None, message)
    if status != OK:
        raise DataError(f"{where} has status {status!r}; a split run's sectors are 'ok' or 'failed'", _HINT)
    if obj.get("schema") != SCHEMA:
        raise DataError(f"{where} is not a migtrade estimation result (no '{SCHEMA}' schema)", _HINT)
    body = {k: v for k, v in obj.items() if k not in ("split", "status", "split_run")}
    try:
        result = EstimationResult.from_dict(body)
    except (KeyError, TypeError, ValueError) as err:
        raise DataError(f"{where} is a damaged result ({type(err).__name__}: {err})", _HINT) from None
    return SectorEntry(split, result.formula, result.model, result, None)


def load_split_file(path: str | Path) -> list[SectorEntry] | None:
    """The sectors of a split run's file; None when the file is not one (a plain result or list).

    Raises
    ------
    DataError
        When the file cannot be read, or is a split list with a damaged element.
    """
    p = Path(path)
    obj = read_json_file(p, _HINT)
    if not is_split_list(obj):
        return None
    return [_entry(item, f"item {i + 1} of '{p}'") for i, item in enumerate(obj)]


def split_vars(entries: Sequence[SectorEntry]) -> list[str]:
    """The split variables, in the order they first appear."""
    return list(dict.fromkeys(var for e in entries for var in e.split))


def long_table(entries: Sequence[SectorEntry], *, keep: Sequence[str] = (), drop: Sequence[str] = (),
               rename: Mapping[str, str] | None = None, conf_level: float | None = None) -> list[dict[str, Any]]:
    """One row per sector and term (and formula and model), a failed sector as one row.

    Parameters
    ----------
    entries
        The sectors, in the file's order.
    keep, drop
        Regular expressions selecting terms, as in ``migtrade table``.
    rename
        Old term name -> shown name.
    conf_level
        Level of ``ci_low``/``ci_high``; each result's own by default.

    Returns
    -------
    list of dict
        Keys: the split variables, then :data:`LONG_COLUMNS`. Numbers are floats (NaN for a
        failed sector), ``nobs`` an int or None.

    Raises
    ------
    UsageError
        When ``keep`` and ``drop`` leave no term of any sector.
    """
    names = rename or {}
    variables = split_vars(entries)
    rows: list[dict[str, Any]] = []
    all_terms: list[str] = []
    for e in entries:
        base = {v: e.split.get(v) for v in variables}
        if e.result is None:
            rows.append({**base, "formula": e.formula, "model": e.model, "term": None,
                         **dict.fromkeys(("estimate", "std_error", "statistic", "p_value", "ci_low", "ci_high"),
                                         math.nan),
                         "nobs": None, "converged": None, "status": FAILED, "error": e.error})
            continue
        r = e.result
        all_terms.extend(t for t in r.terms if t not in all_terms)
        ci = r.conf_int(conf_level)
        se, tstat, pvalues = r.std_errors, r.tstats, r.pvalues
        for k in (r.terms.index(t) for t in select_terms(r.terms, keep, drop)):
            rows.append({**base, "formula": r.formula, "model": r.model, "term": names.get(r.terms[k], r.terms[k]),
                         "estimate": float(r.params[k]), "std_error": float(se[k]),
                         "statistic": float(tstat[k]), "p_value": float(pvalues[k]),
                         "ci_low": float(ci[k, 0]), "ci_high": float(ci[k, 1]), "nobs": int(r.nobs),
                         "converged": bool(r.converged), "status": OK, "error": None})
    if all_terms and not any(row["status"] == OK for row in rows):
        raise UsageError("--keep and --drop leave no coefficient to show",
                         f"The coefficients are: {', '.join(all_terms)}.")
    return rows


def conf_levels(entries: Sequence[SectorEntry]) -> list[float]:
    """The confidence levels of the estimated sectors, sorted."""
    return sorted({e.result.conf_level for e in entries if e.result is not None})
