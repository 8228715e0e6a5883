"""General-equilibrium counterfactuals of structural gravity: from data (or an estimated model)
and a change in trade costs to trade, prices and real GDP in the new equilibrium.

Imports only ``estimation``, ``spec``, ``results`` and ``errors``; never the command line or the
report layer.
"""

from migtrade.ge.options import GEOptions
from migtrade.ge.result import SCHEMA, GEResult

__all__ = ["SCHEMA", "GEOptions", "GEResult"]
