"""General-equilibrium counterfactuals of structural gravity: from data (or an estimated model)
and a change in trade costs to trade, prices and real GDP in the new equilibrium.

Imports only ``estimation``, ``spec``, ``results`` and ``errors``; never the command line or the
report layer.
"""

import sys
import types
from typing import Any

from migtrade.ge.options import GEOptions
from migtrade.ge.result import SCHEMA, GEResult

__all__ = ["SCHEMA", "GEOptions", "GEResult"]


class _CounterfactualPackage(types.ModuleType):
    """This package, callable as the API's ``migtrade.ge(data, year=..., ...)``.

    Importing ``migtrade.ge`` sets the attribute ``ge`` of the ``migtrade`` package to this
    package, hiding the API function of that name; calling the package runs that function, so
    ``mt.ge(...)`` works whichever was loaded first.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> GEResult:
        from migtrade.ge.frontdoor import ge

        return ge(*args, **kwargs)


sys.modules[__name__].__class__ = _CounterfactualPackage
