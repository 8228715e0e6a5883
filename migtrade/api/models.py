"""``migtrade.estimate``, ``migtrade.ppml`` and ``migtrade.ols``: the engine of ``migtrade
estimate``, with the same options, for DataFrames in a notebook."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migtrade.errors import UsageError, speaks_python
from migtrade.estimation.options import (
    DEFAULT_FE_MAXITER,
    DEFAULT_FE_TOL,
    DEFAULT_MAXITER,
    DEFAULT_REPS,
    DEFAULT_SEED,
    DEFAULT_TOL,
    SEPARATION_METHODS,
    EstimateOptions,
    parse_models,
)

if TYPE_CHECKING:
    from migtrade.api.result import Result
    from migtrade.api.split_result import SplitResult
    from migtrade.store.resolve import Data


@speaks_python
def estimate(
    formula: str | Sequence[str],
    data: Data,
    *,
    model: str | Sequence[str] = "ppml",
    vcov: str = "robust",
    small_sample: str = "stata",
    where: str | None = None,
    weights: str | None = None,
    offset: str | None = None,
    separation: str | Sequence[str] | None = SEPARATION_METHODS,
    keep_singletons: bool = False,
    tol: float = DEFAULT_TOL,
    fe_tol: float = DEFAULT_FE_TOL,
    maxiter: int = DEFAULT_MAXITER,
    fe_maxiter: int = DEFAULT_FE_MAXITER,
    conf_level: float = 0.95,
    bootstrap: str | None = None,
    reps: int = DEFAULT_REPS,
    seed: int = DEFAULT_SEED,
    bootstrap_weights: str = "rademacher",
    impose_null: bool = True,
    bootstrap_intervals: bool = True,
    bootstrap_terms: str | Sequence[str] | None = None,
    bias_correction: str | bool | None = None,
    store: str | Path | None = None,
    split: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
) -> Result | list[Result] | SplitResult:
    """Estimate a gravity model (or several) by PPML or OLS with absorbed fixed effects.

    The options are those of ``migtrade estimate`` (its flags in snake_case) with the same
    defaults, checked by the same :class:`~migtrade.estimation.options.EstimateOptions`.

    Parameters
    ----------
    formula
        ``"trade ~ log(dist) + cntg | exporter^year + importer^year"`` (fixest style, with
        ``| endog ~ instruments`` for IV), or several; ``csw()``/``sw()`` expand to several.
    data
        A pandas DataFrame, a data file, or the name of a stored dataset.
    model
        ``"ppml"`` or ``"ols"``; several (``["ols", "ppml"]``) fit each formula with each.
    vcov
        ``"robust"``, ``"iid"``, ``"cluster:VAR"``, ``"cluster:VAR1,VAR2"`` or
        ``"cluster:VAR1^VAR2"``.
    small_sample
        ``"stata"`` or ``"fixest"``.
    where
        A row filter, e.g. ``"exporter != importer and year >= 1990"``.
    weights, offset
        Columns of weights and of an offset.
    separation
        PPML separation checks, any of ``fe``, ``simplex``, ``relu``; ``"none"`` for none.
    keep_singletons
        Keep observations alone in a fixed-effect group.
    tol, fe_tol, maxiter, fe_maxiter
        Convergence of PPML's IRLS and of the fixed-effect demeaning.
    conf_level
        Coverage of the confidence intervals.
    bootstrap, reps, seed, bootstrap_weights, impose_null, bootstrap_intervals
        Bootstrap inference (``"wild"`` for OLS, ``"score"`` for PPML), clustered by the
        ``vcov`` cluster variable; ``bootstrap_intervals=False`` skips the intervals by test
        inversion (p-values only); ``bootstrap_terms="rta,a+b"`` bootstraps only those terms
        (a sum as a sum).
    bias_correction
        PPML: ``"analytical"`` (Weidner & Zylkin 2021; True means the same) or ``"jackknife"``.
    store
        Where a dataset name in ``data`` is looked up.
    split
        A column: fit the models on each of its levels (as ``migtrade estimate --split``).
    workers, scheduler
        With ``split``: run on a local Dask cluster of ``workers`` processes, or on the running
        cluster whose scheduler is at ``scheduler`` (``tcp://HOST:PORT``); in process by default.

    Returns
    -------
    Result or list of Result or SplitResult
        One result, or a list (formula by formula, each with each model) when several models
        are fitted; with ``split``, a :class:`~migtrade.api.split_result.SplitResult` (the
        estimated levels as results, ``.failed``, ``.to_frame()``).

    Raises
    ------
    MigtradeError
        ``UsageError``/``DataError`` for an option or data that cannot be used (the message
        names it and what to do), ``EstimationError`` when nothing can be estimated,
        ``ConvergenceError`` when an iteration limit is reached.
    """
    from migtrade.api.result import Result
    from migtrade.estimation.fit import fit
    from migtrade.spec.formula import ModelSpec
    from migtrade.spec.multi import expand_formulas
    from migtrade.store.resolve import resolve

    texts = [formula] if isinstance(formula, str) else list(formula)
    if not texts or not all(isinstance(t, str) for t in texts):
        raise UsageError("formula must be text such as 'trade ~ rta | exporter^year + importer^year'",
                         "Pass a formula, or a list of formulas.")
    specs = [ModelSpec.parse(f) for f in expand_formulas(texts)]
    models = parse_models(model)
    options = EstimateOptions(
        model=models[0], vcov=vcov, small_sample=small_sample, where=where, weights=weights,
        offset=offset, separation=separation, keep_singletons=keep_singletons, tol=tol,
        fe_tol=fe_tol, maxiter=maxiter, fe_maxiter=fe_maxiter, conf_level=conf_level,
        bootstrap=bootstrap, reps=reps, seed=seed, bootstrap_weights=bootstrap_weights,
        impose_null=impose_null, bootstrap_intervals=bootstrap_intervals,
        bootstrap_terms=bootstrap_terms, bias_correction=bias_correction)
    if split is not None:
        from migtrade.api.split_result import SplitResult
        from migtrade.split import SplitOptions, run_split

        layout = SplitOptions(split, workers=workers, scheduler=scheduler)
        return SplitResult(run_split([s.formula for s in specs], models, options, data, layout,
                                     store=store))
    if workers is not None or scheduler is not None:
        raise UsageError("workers and scheduler run a split", "Give split= the column whose levels "
                         "are the sectors, or leave workers and scheduler out.")
    needed = None
    if where is None:
        needed = [c for s in specs for c in s.ordered_columns()]
        needed += [*options.vcov_spec.cluster_columns, *(v for v in (weights, offset) if v)]
    frame, info = resolve(data, needed, store=store)
    results = []
    for spec in specs:
        for name in models:
            done = fit(spec, frame, replace(options, model=name), data_info=info)
            results.append(Result(done.result, done.sample))
    return results[0] if len(results) == 1 else results


def _check_names(function: str, options: dict[str, Any]) -> None:
    """Refuse a keyword that :func:`estimate` does not take, naming the closest one."""
    import difflib
    import inspect

    known = [p for p in inspect.signature(estimate).parameters if p not in ("formula", "data", "model")]
    for key in options:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            raise UsageError(f"{function}() has no option '{key}'",
                             f"Did you mean '{close[0]}'?" if close else f"The options are: {', '.join(known)}.")


@speaks_python
def ppml(formula: str | Sequence[str], data: Data, **options: Any) -> Result | list[Result] | SplitResult:
    """:func:`estimate` with ``model="ppml"``: Poisson pseudo-maximum likelihood (zeros kept)."""
    _check_names("ppml", options)
    return estimate(formula, data, model="ppml", **options)


@speaks_python
def ols(formula: str | Sequence[str], data: Data, **options: Any) -> Result | list[Result] | SplitResult:
    """:func:`estimate` with ``model="ols"``: least squares on the outcome as written
    (e.g. ``log(trade)``)."""
    _check_names("ols", options)
    return estimate(formula, data, model="ols", **options)
