"""CSV in long format at full precision: one row per model and coefficient shown."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence

from migtrade.report.table import RegressionTable
from migtrade.results.result import EstimationResult

COLUMNS = ("model", "term", "estimate", "std_error", "statistic", "p_value", "ci_low", "ci_high", "nobs")


def full_precision(x: float) -> str:
    """The shortest text that reads back to the same float (repr); empty when not finite."""
    # Empty marks a missing value in every CSV reader, where 'nan' is understood by some and not
    # others.
    return repr(x) if math.isfinite(x) else ""


def render_csv(table: RegressionTable, results: Sequence[EstimationResult]) -> str:
    """Long format: model (column title), term (as shown), the inference at full precision, nobs.

    The rows follow the table: models in column order, coefficients in row order, after
    ``keep``, ``drop``, ``order`` and ``rename``.
    """
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for j, r in enumerate(results):
        for term, row in zip(table.terms, table.cells, strict=True):
            c = row[j]
            if c is None or c.value is None:
                continue
            v = c.value
            w.writerow([table.titles[j], term, *(full_precision(x) for x in (
                v.estimate, v.std_error, v.statistic, v.p_value, v.ci_low, v.ci_high)), r.nobs])
    return buf.getvalue()
