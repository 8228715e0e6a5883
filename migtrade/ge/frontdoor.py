"""``migtrade.ge(data, year=..., ...)``: a counterfactual from a DataFrame, a file or a dataset.

The Python API's door to :func:`migtrade.ge.run.run_counterfactual`, with the options of
``migtrade ge`` in snake_case. It lives in this package, which is callable (see its
``__init__``), so that ``mt.ge(...)`` works whether or not ``migtrade.ge`` was imported first.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from migtrade.errors import speaks_python

if TYPE_CHECKING:
    from migtrade.ge.result import GEResult
    from migtrade.store.resolve import Data


@speaks_python
def ge(data: Data, *, year: int, store: str | Path | None = None, **options: Any) -> GEResult:
    """Solve a counterfactual: trade, prices and real GDP before and after a change in costs.

    Parameters
    ----------
    data
        A panel of bilateral flows with domestic flows: a DataFrame, a file or a stored dataset.
    year
        The baseline year.
    store
        Where a dataset name in ``data`` is looked up.
    **options
        The options of ``migtrade ge`` in snake_case (:class:`migtrade.ge.options.GEOptions`):
        ``sigma`` or ``theta``; ``beta`` (a column of partial effects) or ``estimate`` with
        ``change``; ``reference``, ``fill_pairs``, ``where``, ``exporter``, ``importer``,
        ``trade``, ``imbalances``, ``method``, ``draws``, ``seed``, ``vcov``, ``tol``,
        ``maxiter``, ``max_rounds``, ``conf_level``.

    Returns
    -------
    GEResult
        ``country_table()`` per country; ``to_dict()``/``to_json()`` give the ``migtrade.ge/1``
        document that ``migtrade ge --save`` writes.
    """
    import dataclasses
    import difflib

    from migtrade.errors import UsageError
    from migtrade.ge.options import GEOptions
    from migtrade.ge.run import run_counterfactual
    from migtrade.store.resolve import resolve

    known = [f.name for f in dataclasses.fields(GEOptions) if f.init and f.name != "year"]
    for key in options:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            raise UsageError(f"ge() has no option '{key}'",
                             f"Did you mean '{close[0]}'?" if close else f"The options are: {', '.join(known)}.")
    settings = GEOptions(year=year, **options)
    frame, info = resolve(data, store=store)
    return run_counterfactual(frame, settings, data_info=info)
