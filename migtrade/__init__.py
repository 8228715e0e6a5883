"""migtrade: gravity models of trade and migration, from data to verdict.

``import migtrade as mt`` is cheap: the API's names (:mod:`migtrade.api`) are loaded on first
use (PEP 562), so that ``migtrade --help`` and a bare import start in a fraction of a second.

>>> import migtrade as mt
>>> fit = mt.ppml("trade ~ rta | exporter^year + importer^year + pair_id", "panel.csv",
...               vcov="cluster:pair_id")                       # doctest: +SKIP
>>> fit.params, fit.bse, fit.conf_int(), fit.tidy()            # doctest: +SKIP
>>> print(mt.etable([fit], "md"))                               # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from migtrade.version import __version__

# Public name -> the module that defines it.
_LAZY: dict[str, str] = {
    **dict.fromkeys(("estimate", "ppml", "ols", "Result", "read_result", "etable", "load_data",
                     "fetch", "build_panel", "test_substitution", "Substitution", "ge"),
                    "migtrade.api"),
    "EstimateOptions": "migtrade.estimation.options",
    **dict.fromkeys(("MigtradeError", "UsageError", "FormulaError", "DataError", "SourceError",
                     "EstimationError", "ConvergenceError", "CheckFailed"), "migtrade.errors"),
}

__all__ = [
    "CheckFailed",
    "ConvergenceError",
    "DataError",
    "EstimateOptions",
    "EstimationError",
    "FormulaError",
    "MigtradeError",
    "Result",
    "SourceError",
    "Substitution",
    "UsageError",
    "__version__",
    "build_panel",
    "estimate",
    "etable",
    "fetch",
    "ge",
    "load_data",
    "ols",
    "ppml",
    "read_result",
    "test_substitution",
]

if TYPE_CHECKING:
    from migtrade.api import (
        Result,
        Substitution,
        build_panel,
        estimate,
        etable,
        fetch,
        ge,
        load_data,
        ols,
        ppml,
        read_result,
        test_substitution,
    )
    from migtrade.errors import (
        CheckFailed,
        ConvergenceError,
        DataError,
        EstimationError,
        FormulaError,
        MigtradeError,
        SourceError,
        UsageError,
    )
    from migtrade.estimation.options import EstimateOptions


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'migtrade' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups bypass this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
