"""The Python API: the engine, options and outputs of the ``migtrade`` commands, for notebooks.

``import migtrade as mt`` gives these names lazily (nothing heavy loads until one is used):

* :func:`estimate`, :func:`ppml`, :func:`ols` -> :class:`Result` (``params``, ``bse``,
  ``tvalues``, ``pvalues`` as Series, ``conf_int()``, ``vcov``, ``tidy()``, ``summary()``,
  ``to_dict()``/``to_json()`` giving the ``migtrade.estimation/1`` document);
* :func:`read_result` (files of ``migtrade estimate --save``) and :func:`etable` (the table of
  ``migtrade table``);
* :func:`load_data`, :func:`fetch`, :func:`build_panel` (the data commands);
* :func:`test_substitution` (the battery and its verdict) and :func:`ge` (a counterfactual).

Errors are the package's own (:class:`migtrade.errors.MigtradeError` and its subclasses), each
naming the problem and what to do.
"""

from migtrade.api.data import build_panel, fetch, load_data
from migtrade.api.models import estimate, ols, ppml
from migtrade.api.result import Result, read_result
from migtrade.api.substitution import Substitution, test_substitution
from migtrade.api.tables import etable
from migtrade.ge.frontdoor import ge

__all__ = [
    "Result",
    "Substitution",
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
