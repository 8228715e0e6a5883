"""Fit a PPML or OLS model with a library of pyfixest's API and print one JSON object.

pyfixest and fereg take the same formulas and arguments (``fepois``, ``feols``, ``vcov``,
``iwls_maxiter``, ``coef()``, ``se()``), so one script serves both; ``pyfixest_ppml.py`` and
``fereg_ppml.py`` name the library. It is imported only after the script starts, so a process
times and holds only the library it runs.

``PANEL`` is a ``.parquet`` or ``.csv`` file, ``FORMULA`` a pyfixest formula such as
``"trade ~ rta + log_migrant_stock | exporter^year + importer^year + pair_id"`` and
``VCOV_CLUSTER`` the column to cluster on (CRV1). The JSON printed on stdout has the shape of
``migtrade estimate --format json``: ``coefficients`` (``{term: {estimate, std_error}}``), ``nobs``,
``iterations`` (null: neither library exposes it), ``converged``, plus ``seconds`` spent fitting,
``read_seconds`` spent reading the file and ``notes`` (warnings such as the number of
observations dropped for separation).
"""

from __future__ import annotations

import importlib
import json
import math
import sys
import time
import warnings
from importlib.metadata import version
from pathlib import Path

import pandas as pd

# pyfixest (and fereg, which follows its API) stops IRLS silently after this many iterations; the
# default of 25 can be too few for large panels with many zeros, and a reference must be converged.
IWLS_MAXITER = 100


def _number(value: float) -> float | None:
    """A JSON-safe float: NaN and infinities become null."""
    value = float(value)
    return value if math.isfinite(value) else None


def main(argv: list[str], tool: str, usage: str, converged_unknown: bool) -> int:
    """Read the panel, fit with ``tool`` (a module name), print JSON; returns the exit code.

    ``converged_unknown`` is what to report when the fit has no ``convergence`` attribute.
    """
    if len(argv) not in (3, 4):
        print(usage, file=sys.stderr)
        return 2
    pf = importlib.import_module(tool)
    panel, formula, cluster = Path(argv[0]), argv[1], argv[2]
    model = argv[3] if len(argv) == 4 else "ppml"

    start = time.perf_counter()
    data = pd.read_parquet(panel) if panel.suffix.lower() == ".parquet" else pd.read_csv(panel)
    read_seconds = time.perf_counter() - start

    with warnings.catch_warnings(record=True) as caught:
        # Separation and singleton notices are reported in the JSON, not on stderr, so that stderr
        # holds only real failures; deprecation chatter from dependencies is dropped.
        warnings.simplefilter("always")
        start = time.perf_counter()
        if model == "ols":
            fit = pf.feols(formula, data, vcov={"CRV1": cluster})
        else:
            fit = pf.fepois(formula, data, vcov={"CRV1": cluster}, iwls_maxiter=IWLS_MAXITER)
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
        "tool": tool,
        "version": version(tool),
        "formula": formula,
        "vcov": f"CRV1:{cluster}",
        "coefficients": {
            str(term): {"estimate": _number(coef[term]), "std_error": _number(se[term])}
            for term in coef.index
        },
        "nobs": int(fit._N),
        "iterations": None,
        "converged": bool(getattr(fit, "convergence", converged_unknown)),
        "seconds": seconds,
        "read_seconds": read_seconds,
        "notes": notes,
    }
    print(json.dumps(result))
    return 0
