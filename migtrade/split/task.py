"""The work of one task of a split run: fit every model on each of a batch of sectors.

This is the function the Dask workers run (and the in-process run calls directly), so it takes
and returns plain picklable values: the job's description, and per sector its level and either
its rows or its partition files (paths on a shared file system, or their bytes).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import pandas as pd

from migtrade.errors import MigtradeError
from migtrade.estimation.options import EstimateOptions
from migtrade.split.outcome import SectorOutcome


@dataclass(frozen=True)
class FitJob:
    """What every sector of a split run is asked: the models, their options and the data.

    Parameters
    ----------
    var
        The split variable.
    formulas
        The formulas, already expanded (``csw()``/``sw()``) and in their parsed spelling.
    models
        The estimators, each fitted with each formula.
    options
        :class:`EstimateOptions` as its keyword arguments (rebuilt and checked on the worker).
    columns
        The columns the models use (None: all, as a ``where`` filter may name any).
    data_info
        Where the whole data came from (the results' ``data``).
    """

    var: str
    formulas: tuple[str, ...]
    models: tuple[str, ...]
    options: dict[str, Any]
    columns: tuple[str, ...] | None
    data_info: dict[str, Any]

    @staticmethod
    def options_of(options: EstimateOptions) -> dict[str, Any]:
        """The keyword arguments that rebuild ``options``."""
        return {f.name: getattr(options, f.name) for f in fields(options) if f.init}


Sector = tuple[Any, "pd.DataFrame | Sequence[str | bytes]"]
"""A level and its rows: a DataFrame (in process) or the partition's files (paths or bytes)."""


def fit_sector(job: FitJob, value: Any, frame: pd.DataFrame) -> list[SectorOutcome]:
    """Every (formula, model) of ``job`` on one sector's rows; errors become failed outcomes."""
    from migtrade.estimation.fit import fit

    options = EstimateOptions(**job.options)
    split = {job.var: value}
    done: list[SectorOutcome] = []
    for formula in job.formulas:
        for model in job.models:
            # A warning (a separation check that ran out of passes, say) belongs to its sector:
            # it goes into that result's notes instead of hundreds of lines on stderr.
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    estimate = fit(formula, frame, replace(options, model=model), data_info=job.data_info)
                except MigtradeError as err:
                    done.append(SectorOutcome.failure(split, formula, model, err))
                    continue
            result = estimate.result.to_dict()
            said = [f"warning: {w.message}" for w in caught]
            result["notes"] = [*result.get("notes", []), *dict.fromkeys(said)]
            done.append(SectorOutcome(split, formula, model, result=result))
    return done


def run_batch(job: FitJob, sectors: Sequence[Sector]) -> list[SectorOutcome]:
    """Fit a batch of sectors one after the other (one sector's rows in memory at a time)."""
    from migtrade.estimation import kernels  # noqa: F401  (loads the OpenMP runtime first)
    from migtrade.split.partition import read_part
    from migtrade.split.threads import one_thread

    done: list[SectorOutcome] = []
    with one_thread():
        for value, rows in sectors:
            frame = rows if isinstance(rows, pd.DataFrame) else read_part(list(rows), job.columns)
            done.extend(fit_sector(job, value, frame))
    return done
