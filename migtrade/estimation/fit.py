"""From a formula and a table to an :class:`EstimationResult`: the one entry point of the engine."""

from __future__ import annotations

import math
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from migtrade.errors import ConvergenceError, DataError, EstimationError, UsageError
from migtrade.estimation.absorb import Absorber
from migtrade.estimation.fixed_effects import compact
from migtrade.estimation.models import MODELS, Estimator, ModelFit, ModelInputs, iv_data
from migtrade.estimation.no_separation import NotRuledOut
from migtrade.estimation.options import EstimateOptions, FitOptions
from migtrade.estimation.ppml import PoissonFit
from migtrade.estimation.sample import Sample, build_sample
from migtrade.estimation.vcov import VcovSpec
from migtrade.results.result import EstimationResult, VcovInfo
from migtrade.spec.design import build_design
from migtrade.spec.formula import ModelSpec
from migtrade.table import ColumnTable, TableView, combined_appearance, view_of
from migtrade.version import __version__

if TYPE_CHECKING:
    import pandas as pd

    from migtrade.estimation.bias_correction import BiasCorrection, RefitRows
    from migtrade.estimation.bootstrap import BootstrapOptions



@dataclass(frozen=True)
class Estimate:
    """A result and the sample it was estimated on (the sample is not part of the result)."""

    result: EstimationResult
    sample: Sample


def _versions() -> dict[str, str]:
    """The versions of what computed the result: the data libraries that were loaded (pandas
    for a DataFrame or a text file, Arrow alone for a Parquet file read into arrays)."""
    import sys

    found = {"migtrade": __version__, "python": platform.python_version(),
             "numpy": np.__version__}
    for name in ("pandas", "pyarrow"):
        module = sys.modules.get(name)
        if module is not None:
            found[name] = str(module.__version__)
    return found


def _column(table: TableView, name: str | None, role: str) -> np.ndarray | None:
    if name is None:
        return None
    if name not in table.names:
        raise DataError(f"{role} column '{name}' not found in the data", f"Check the name given to --{role}.")
    if not table.is_numeric(name):
        raise DataError(f"{role} column '{name}' is not numeric", f"Pass a numeric column to --{role}.")
    return table.numeric(name)


def _cluster_codes(table: TableView, names: Sequence[str]) -> list[np.ndarray]:
    """One code array per clustering dimension, numbered by first appearance; ``a^b`` numbers
    the observed combinations of ``a`` and ``b``. A row missing any of the columns gets -1."""
    codes = []
    for name in names:
        parts = name.split("^")
        for col in parts:
            if col not in table.names:
                raise DataError(
                    f"cluster variable '{col}' not found in the data",
                    "Check the name given to --vcov cluster:VAR (or VAR1^VAR2).",
                )
        if len(parts) == 1:
            codes.append(table.appearance_codes(name))
        else:
            codes.append(combined_appearance([table.appearance_codes(c) for c in parts]))
    return codes


def fit(formula: str | ModelSpec, frame: pd.DataFrame | ColumnTable, options: EstimateOptions, *,
        data_info: dict[str, Any] | None = None,
        release_data: Callable[[], None] | None = None) -> Estimate:
    """Estimate a gravity model under one checked :class:`EstimateOptions`, the object that
    ``migtrade estimate``, recipes and the Python API all build; see :func:`estimate`."""
    return estimate(formula, frame, model=options.model, vcov=options.vcov_spec,
                    where=options.where, weights=options.weights, offset=options.offset,
                    options=options.fit, data_info=data_info,
                    bootstrap=options.bootstrap_options, bias_correction=options.bias,
                    release_data=release_data)


def estimate(
    formula: str | ModelSpec,
    frame: pd.DataFrame | ColumnTable,
    *,
    model: str = "ppml",
    vcov: VcovSpec | None = None,
    where: str | None = None,
    weights: str | None = None,
    offset: str | None = None,
    options: FitOptions | None = None,
    data_info: dict[str, Any] | None = None,
    bootstrap: BootstrapOptions | None = None,
    bias_correction: str | BiasCorrection | None = None,
    release_data: Callable[[], None] | None = None,
) -> Estimate:
    """Estimate a gravity model.

    Parameters
    ----------
    formula
        ``"y ~ x1 + x2 | fe1 + fe2"`` (see :mod:`migtrade.spec.formula`) or a parsed spec.
    model
        ``"ols"`` (least squares on the outcome as written, e.g. ``log(trade)``) or ``"ppml"``.
    vcov
        Covariance type; clustered by the first fixed effect's variables is not assumed, the default
        is heteroskedasticity-robust.
    where
        A filter such as ``"exporter != importer and year in (1986, 1990)"``.
    bootstrap
        Bootstrap p-values and intervals for every coefficient, clustered by the ``vcov``
        cluster variable: the wild cluster bootstrap for OLS, the score bootstrap for PPML
        (:mod:`migtrade.estimation.bootstrap`); they go to ``result.bootstrap``.
    bias_correction
        PPML only: ``"analytical"`` (Weidner & Zylkin 2021, :mod:`migtrade.estimation.bias`)
        or ``"jackknife"`` (:mod:`migtrade.estimation.jackknife_bias`). The corrected estimates
        and covariance are reported; the rest goes to ``result.bias_correction``.
    release_data
        Called once every array of the model has been taken from ``frame`` (before the sample
        and the fit), for a caller that will not read ``frame`` again and may let its memory go;
        not called with a bias correction, whose jackknife refits on the rows.

    Notes
    -----
    A formula with a third part, ``y ~ x | fe | endog ~ instruments``, is estimated by 2SLS
    (``model="ols"``) or by a Poisson control function (``model="ppml"``); see
    :mod:`migtrade.estimation.iv`. The result then has a ``first_stage`` block.
    """
    opts = options or FitOptions()
    spec = formula if isinstance(formula, ModelSpec) else ModelSpec.parse(formula)
    if model not in MODELS:
        raise UsageError(f"unknown model '{model}'", f"Use one of: {', '.join(MODELS)}.")
    vc = vcov or VcovSpec.parse("robust")
    if bootstrap is not None:
        from migtrade.estimation.bootstrap import check_bootstrap

        check_bootstrap(bootstrap, model=model, is_iv=spec.is_iv, vcov_kind=vc.kind,
                        clusters=vc.clusters)
    bias = None
    if bias_correction is not None and bias_correction is not False:
        # The bias corrections (and the pandas panel code behind them) load only when asked for.
        from migtrade.estimation.bias_correction import check_request, parse_request

        bias = parse_request(bias_correction)
    if bias is not None:
        if bootstrap is not None:
            raise UsageError("--bootstrap and --bias-correction cannot be combined",
                             "The bootstrap is of the uncorrected estimate; ask for one of them.")
        check_request(bias, model=model, spec=spec, vcov=vc, weights=weights)
    n_rows = len(frame)
    if isinstance(frame, ColumnTable) and (where or bias is not None):
        frame = frame.to_pandas()  # the filter and the jackknife's refits work on pandas

    if where:
        from migtrade.spec.where import where_mask

        assert not isinstance(frame, ColumnTable)
        excluded = ~where_mask(frame, where)
    else:
        excluded = np.zeros(n_rows, dtype=bool)
    kept_idx = np.flatnonzero(~excluded)
    sub = frame.iloc[kept_idx] if where and not isinstance(frame, ColumnTable) else frame
    design = build_design(spec, sub)
    if spec.is_iv:
        # The IV machinery (and scipy.stats behind its diagnostics) loads only for IV models.
        from migtrade.estimation.iv import check_order_condition

        check_order_condition(design.endog_names, design.instrument_names)

    y_sub = design.y
    missing_sub = design.missing.copy()
    table = view_of(sub)
    w_all = _column(table, weights, "weights")
    off_all = _column(table, offset, "offset")
    if w_all is not None:
        if np.any(w_all[np.isfinite(w_all)] < 0):
            raise DataError(f"weights column '{weights}' has negative values", "Weights must be >= 0.")
        missing_sub |= ~np.isfinite(w_all) | (w_all == 0)
    if off_all is not None:
        missing_sub |= ~np.isfinite(off_all)
    clus = _cluster_codes(table, vc.clusters)
    del table
    for c in clus:
        missing_sub |= c < 0
    # The jackknife refits on these rows (a DataFrame: a table of arrays was converted above).
    bias_rows = sub if bias is not None and not isinstance(sub, ColumnTable) else None
    del sub
    if release_data is not None and bias_rows is None:
        release_data()  # every array is built: the caller's table may go (peak memory)
    if MODELS[model].poisson:
        finite = np.isfinite(y_sub)
        if np.any(design.outcome_infinite):
            raise DataError(
                f"the outcome '{spec.depvar}' has {int(design.outcome_infinite.sum())} infinite values",
                "PPML needs a finite outcome >= 0 in levels (trade, not log(trade)); "
                "fix those rows or leave them out with --where.",
            )
        if np.any(y_sub[finite] < 0):
            raise DataError(
                f"the outcome '{spec.depvar}' has negative values",
                "PPML needs an outcome >= 0 (trade or migration in levels, not in logs).",
            )
        usable = finite & ~missing_sub
        if usable.any() and not np.any(y_sub[usable] > 0):
            raise EstimationError(
                f"the outcome '{spec.depvar}' is zero in all {int(usable.sum()):,} rows with data",
                "PPML needs some positive values: check the column and the row filter.",
            )

    # Statuses are decided on the filtered rows, then mapped back to every input row.
    # The sample and the separation checks take the codes as 32-bit integers, the absorb
    # core's type, and the design's own 64-bit ones go at once (12 bytes a row and dimension
    # fewer held through the checks). The outcome is copied only to put 0 in its missing rows.
    fe_codes_sub = [_sample_codes(c) for c in design.fe_codes]
    if not spec.is_iv:  # IV models read the codes of the design again
        design = replace(design, fe_codes=())
    # PPML with fixed effects leaves the rectifier's check to the fit, whose steps near the
    # optimum prove that no zero row is separated at the cost of one pass over the rows
    # (:mod:`migtrade.estimation.no_separation`); where they do not, the check runs then.
    deferred = (MODELS[model].poisson and not spec.is_iv and bool(fe_codes_sub)
                and "relu" in opts.separation)
    sample_sub = build_sample(
        n_rows=len(y_sub),
        excluded=np.zeros(len(y_sub), dtype=bool),
        missing=missing_sub,
        fe_codes=fe_codes_sub,
        y=np.nan_to_num(y_sub) if np.isnan(y_sub).any() else y_sub,
        X=np.column_stack([design.X, design.endog]) if spec.is_iv else design.X,
        poisson=MODELS[model].poisson,
        drop_singletons=opts.drop_singletons,
        separation=tuple(m for m in opts.separation if not (deferred and m == "relu")),
    )
    if spec.is_iv and MODELS[model].poisson and sample_sub.used.any():
        # The control function's second stage also has the first-stage residuals as regressors.
        from migtrade.estimation.iv_poisson import control_function_sample

        sample_sub = control_function_sample(
            sample_sub, iv_data(design, y_sub, w_all, off_all, fe_codes_sub),
            drop_singletons=opts.drop_singletons, separation=opts.separation,
            tol=opts.fe_tol, maxiter=opts.fe_maxiter)
    # The codes on every filtered row are done with: the sample holds its own, renumbered. Let
    # them go before the fit (8 bytes a row and dimension, 38 MiB on the 1.6 M-row panel).
    design = replace(design, fe_codes=())
    del fe_codes_sub
    status = np.full(n_rows, 1, dtype=np.int8)
    status[kept_idx] = sample_sub.status
    sample = Sample(status=status, used=status == 0, fe_codes=sample_sub.fe_codes)
    dropped = sample.counts()

    used = sample_sub.used
    n = int(used.sum())
    if n == 0:
        raise EstimationError(
            "no observations left to estimate on "
            f"(excluded {dropped['excluded']}, missing {dropped['missing']}, "
            f"singletons {dropped['singleton']}, separated {dropped['separated']})",
            "Loosen --where or check the outcome and regressors for missing values.",
        )
    every = n == len(used)  # all rows kept: the arrays are used as they are, not copied

    def rows(a: np.ndarray) -> np.ndarray:
        return a if every else a[used]

    y = rows(y_sub)
    X = _fortran_rows(design.X, None if every else used)
    _check_magnitudes(spec.depvar, y, design.names, X)
    w = np.ones(n) if w_all is None else rows(w_all)
    off = None if off_all is None else rows(off_all)
    fe_codes = list(sample.fe_codes)
    clus_used = [compact(rows(c))[0].astype(np.int64) for c in clus]
    if not spec.is_iv:
        # From here on only the sample's rows are read (IV models go back to the design's
        # blocks): the arrays over every filtered row go before the fit (the outcome,
        # regressors and cluster codes: 32 MiB on the 1 M-row ring, some of whose rows are
        # separated).
        design = replace(design, y=design.y[:0].copy(), X=design.X[:0].copy(),
                         missing=design.missing[:0].copy(),
                         outcome_infinite=design.outcome_infinite[:0].copy())
        del y_sub, missing_sub, clus, w_all, off_all
    absorber = Absorber(fe_codes, w) if fe_codes else None
    estimator = MODELS[model]
    inputs = ModelInputs(y=y, X=X, names=design.names, weights=w, offset=off, fe_codes=fe_codes,
                         fe_names=design.fe_names, clusters=clus_used, absorber=absorber, vcov=vc,
                         options=opts, design=design, used=used, prove_no_separation=deferred)
    proved = True
    if deferred:
        maybe, proved = _fit_with_check_left(estimator, inputs)
    else:
        maybe = (estimator.fit_iv if spec.is_iv else estimator.fit)(inputs)
    if not proved:
        # The fit did not rule separation out: the rectifier runs on the sample (with the
        # singletons it may leave), and the model is fitted again on the rows it keeps.
        recheck = build_sample(n_rows=n, excluded=np.zeros(n, dtype=bool),
                               missing=np.zeros(n, dtype=bool), fe_codes=fe_codes, y=y, X=X,
                               poisson=True, drop_singletons=opts.drop_singletons,
                               separation=opts.separation)
        keep = recheck.used
        if not keep.all():
            gone = np.flatnonzero(used)[~keep]
            status[kept_idx[gone]] = recheck.status[~keep]
            used[gone] = False
            sample = Sample(status=status, used=status == 0, fe_codes=recheck.fe_codes)
            dropped = sample.counts()
            n, every = int(keep.sum()), False
            if n == 0:
                raise EstimationError(
                    f"no observations left to estimate on (separated {dropped['separated']}, "
                    f"singletons {dropped['singleton']})",
                    "Check the outcome and regressors: every row is separated.")
            y, X, w = y[keep], _fortran_rows(X, keep), w[keep]
            off = None if off is None else off[keep]
            fe_codes = list(recheck.fe_codes)
            clus_used = [compact(c[keep])[0].astype(np.int64) for c in clus_used]
            absorber = Absorber(fe_codes, w) if fe_codes else None
            maybe = None
        if maybe is None:
            maybe = estimator.fit(replace(
                inputs, y=y, X=X, weights=w, offset=off, fe_codes=fe_codes, clusters=clus_used,
                absorber=absorber, used=used, prove_no_separation=False))
    assert maybe is not None  # fitted above, or again after the check
    fitted = maybe
    params, cov, notes = fitted.params, fitted.vcov.cov, list(fitted.notes)

    # Inference hooks on the fitted model (for IV models only the WRE bootstrap of 2SLS).
    boot: dict[str, Any] = {}
    if bootstrap is not None and spec.is_iv:
        from migtrade.estimation.bootstrap.engine import bootstrap_iv

        boot, boot_notes = bootstrap_iv(
            bootstrap, iv_data(design, y, w, off, fe_codes, rows=used), fitted.terms, params,
            absorber=absorber, cluster=clus_used[0], opts=opts)
        notes.extend(boot_notes)
    elif bootstrap is not None:
        from migtrade.estimation.bootstrap.engine import bootstrap_fit

        assert fitted.fitted is not None  # every model but IV keeps its fit
        boot, boot_notes = bootstrap_fit(
            bootstrap, fitted.fitted, fitted.terms, y=y, X=X, w=w, off=off, absorber=absorber,
            fe_codes=fe_codes, fe_names=design.fe_names, cluster=clus_used[0], opts=opts)
        notes.extend(boot_notes)
    bias_record: dict[str, Any] = {}
    if bias is not None:
        from migtrade.estimation.bias_correction import FittedModel, correct

        pf = fitted.fitted
        assert isinstance(pf, PoissonFit)  # check_request admits PPML only
        assert bias_rows is not None  # kept whenever a correction is asked for
        fixed = correct(bias, FittedModel(
            spec=spec, vcov=vc, terms=fitted.terms, params=params, cov=cov, y=y, mu=pf.mu,
            x_tilde=pf.x_tilde, bread=pf.bread, rows=bias_rows, used=None if every else used,
            fe_codes=tuple(fe_codes), cluster_codes=tuple(clus_used),
            adjustment=fitted.vcov.adjustment, refit=_refit(spec, weights, offset, opts)))
        params, cov, bias_record = fixed.params, fixed.cov, fixed.record
        notes.extend(fixed.notes)
    for kind in ("singleton", "separated"):
        if dropped[kind]:
            notes.append(f"{dropped[kind]} {kind} observations dropped")

    result = EstimationResult(
        model=model,
        formula=spec.formula,
        depvar=spec.depvar,
        terms=fitted.terms,
        params=np.asarray(params, dtype=float),
        cov=np.asarray(cov, dtype=float),
        nobs=n,
        dropped={"missing": dropped["missing"], "singletons": dropped["singleton"],
                 "separated": dropped["separated"], "excluded": dropped["excluded"]},
        omitted=fitted.omitted,
        fixed_effects={nm: int(c.max()) + 1 for nm, c in zip(design.fe_names, fe_codes, strict=True)},
        vcov=VcovInfo(type=vc.kind, clusters=fitted.vcov.n_clusters, small_sample=vc.small_sample.value,
                      distribution="t" if fitted.vcov.distribution == "t" else "normal",
                      df=fitted.vcov.df, adjustment=fitted.vcov.adjustment),
        fit=fitted.fit,
        converged=True,
        iterations=fitted.iterations,
        fe_sweeps=fitted.sweeps,
        data=dict(data_info or {}),
        options={"where": where, "weights": weights, "offset": offset, "tol": opts.tol,
                 "fe_tol": opts.fe_tol, "separation": list(opts.separation) if estimator.poisson else []},
        notes=tuple(notes),
        versions=_versions(),
        conf_level=opts.conf_level,
        first_stage=fitted.first_stage,
        bootstrap={t: b.to_dict() for t, b in boot.items()},
        bias_correction=bias_record,
    )
    return Estimate(result=result, sample=sample)


def _fit_with_check_left(estimator: Estimator, inputs: ModelInputs) -> tuple[ModelFit | None, bool]:
    """The PPML fit with the rectifier's check left to it (None where it stopped or failed
    without ruling separation out), and whether it proved that no zero row is separated."""
    try:
        fitted = estimator.fit(inputs)
    except (NotRuledOut, ConvergenceError):
        return None, False  # fitted again after the check (and fails again if nothing is dropped)
    pf = fitted.fitted
    assert isinstance(pf, PoissonFit)
    return fitted, bool(pf.no_separation)


def _sample_codes(codes: np.ndarray) -> np.ndarray:
    """A fixed effect's codes as 32-bit integers where they fit, 0 standing in for a missing
    level (-1), whose row is missing already."""
    fits = not codes.size or int(codes.max()) < np.iinfo(np.int32).max
    out = codes.astype(np.int32) if fits else codes.copy()
    if out.size and out.min() < 0:
        np.maximum(out, 0, out=out)
    return out


def _fortran_rows(X: np.ndarray, used: np.ndarray | None) -> np.ndarray:
    """The rows ``used`` of ``X`` (all of them when None) as a Fortran-ordered array, gathered
    column by column into it (a boolean index of the rows returns them C-ordered, which the
    fit would copy again)."""
    if used is None:
        return np.asfortranarray(X)
    out = np.empty((int(np.count_nonzero(used)), X.shape[1]), order="F")
    for j in range(X.shape[1]):
        out[:, j] = X[:, j][used]
    return out


def _check_magnitudes(depvar: str, y: np.ndarray, names: Sequence[str], X: np.ndarray) -> None:
    """Refuse columns whose sums of squares overflow double precision (values beyond ~1e150):
    every estimator and covariance squares them, and would return inf or nan."""
    # Values no larger than sqrt(max double / n) cannot overflow: two reductions settle nearly
    # every column, and only a larger one (or one with inf or nan, whose max is not below the
    # bound) pays the dot product, a BLAS call (ms on the 2-core machine, 1 M rows).
    bound = math.sqrt(np.finfo(np.float64).max / max(y.shape[0], 1))
    with np.errstate(over="ignore", invalid="ignore"):
        columns = [(depvar, y), *((name, X[:, j]) for j, name in enumerate(names))]
        for name, values in columns:
            if values.size and max(values.max(), -values.min()) < bound:
                continue
            if not np.isfinite(values @ values):
                largest = float(np.max(np.abs(values)))
                raise DataError(f"the values of '{name}' are too large to estimate with "
                                f"(up to {largest:.3g}; their squares overflow)",
                                "Rescale the column, e.g. to millions, or take its logarithm.")


def _refit(spec: ModelSpec, weights: str | None, offset: str | None,
           opts: FitOptions) -> RefitRows:
    """The same PPML model re-estimated on other rows (for the jackknife's sub-panels)."""
    def refit(rows: pd.DataFrame) -> tuple[tuple[str, ...], np.ndarray]:
        got = estimate(spec, rows, model="ppml", vcov=VcovSpec.parse("iid"), weights=weights,
                       offset=offset, options=opts).result
        return got.terms, got.params

    return refit
