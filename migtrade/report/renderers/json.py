"""JSON: the results themselves (schema ``migtrade.estimation/1``), the lossless format.

One result is written as its object, several as a list of objects in column order. Floats keep
full precision, and ``migtrade table`` reads either form back, so this is also how results are
saved. The table options do not apply: a result is never cut down to the coefficients shown.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from migtrade.report.table import RegressionTable
from migtrade.results.result import EstimationResult


def render_json(table: RegressionTable, results: Sequence[EstimationResult]) -> str:
    """One result: its object; several: a list of them."""
    objs = [r.to_dict() for r in results]
    return json.dumps(objs[0] if len(objs) == 1 else objs, indent=2, allow_nan=False) + "\n"
