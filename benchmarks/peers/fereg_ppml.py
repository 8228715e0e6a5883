"""Fit a PPML or OLS model with fereg and print the result as one JSON object.

Usage::

    python benchmarks/peers/fereg_ppml.py PANEL FORMULA VCOV_CLUSTER [ppml|ols]

The arguments and the JSON printed on stdout are those of ``pyfixest_ppml.py`` (fereg takes
pyfixest's formulas and arguments): ``coefficients`` (``{term: {estimate, std_error}}``), ``nobs``,
``iterations`` (null), ``converged``, ``seconds`` spent fitting, ``read_seconds`` spent reading the
file and ``notes`` (warnings such as observations dropped for separation). The whole process, import
and read included, is what the benchmarks time.
"""

from __future__ import annotations

import json
import math
import sys
import time
import warnings
from importlib.metadata import version
from pathlib import Path

import fereg
import pandas as pd

# The same IRLS cap as the pyfixest peer: a benchmark reference must be converged.
IWLS_MAXITER = 100


def _number(value: float) -> float | None:
    """A JSON-safe float: NaN and infinities become null."""
    value = float(value)
    return value if math.isfinite(value) else None


def main(argv: list[str]) -> int:
    """Read the panel, fit, print JSON; returns the exit code."""
    if len(argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    panel, formula, cluster = Path(argv[0]), argv[1], argv[2]
    model = argv[3] if len(argv) == 4 else "ppml"

    start = time.perf_counter()
    data = pd.read_parquet(panel) if panel.suffix.lower() == ".parquet" else pd.read_csv(panel)
    read_seconds = time.perf_counter() - start

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        if model == "ols":
            fit = fereg.feols(formula, data, vcov={"CRV1": cluster})
        else:
            fit = fereg.fepois(formula, data, vcov={"CRV1": cluster}, iwls_maxiter=IWLS_MAXITER)
        seconds = time.perf_counter() - start
    notes = sorted(
        {
            str(w.message)
            for w in caught
            if not issubclass(
                w.category, DeprecationWarning | FutureWarning | PendingDeprecationWarning
            )
        }
    )
    coef = fit.coef()
    se = fit.se()
    result = {
        "tool": "fereg",
        "version": version("fereg"),
        "formula": formula,
        "vcov": f"CRV1:{cluster}",
        "coefficients": {
            str(term): {"estimate": _number(coef[term]), "std_error": _number(se[term])}
            for term in coef.index
        },
        "nobs": int(fit._N),
        "iterations": None,
        "converged": bool(getattr(fit, "convergence", True)),
        "seconds": seconds,
        "read_seconds": read_seconds,
        "notes": notes,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
