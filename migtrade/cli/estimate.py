"""``migtrade estimate``: fit one or several gravity models and print or save the results."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperCommand

from migtrade.cli.coercion import PlainValues
from migtrade.estimation.options import SEPARATION_METHODS, Model


class FormatChoice(StrEnum):
    rich = "rich"
    json = "json"
    md = "md"
    latex = "latex"
    csv = "csv"
    parquet = "parquet"


class SmallSampleChoice(StrEnum):
    stata = "stata"
    fixest = "fixest"


class BootstrapChoice(StrEnum):
    wild = "wild"
    score = "score"


class BiasCorrectionChoice(StrEnum):
    """Mirrors migtrade.estimation.bias_correction.BiasCorrection (kept here so that --help
    does not import the engine)."""

    analytical = "analytical"
    jackknife = "jackknife"


class BootstrapWeightsChoice(StrEnum):
    rademacher = "rademacher"
    webb = "webb"
    mammen = "mammen"


BIAS_CORRECTION_FLAG = "--bias-correction"


def bare_flag_values(args: list[str]) -> list[str]:
    """``--bias-correction`` given alone becomes ``--bias-correction=analytical``.

    The option takes an optional value, which the command-line parser has no notion of: the
    word after the flag is its value unless there is none, it is another option, or it is a
    formula (it holds ``~``). A misspelt method is therefore still read as a value, and refused
    by name.
    """
    out: list[str] = []
    for i, word in enumerate(args):
        if word == "--":  # everything after is positional
            return out + args[i:]
        following = args[i + 1] if i + 1 < len(args) else None
        if word == BIAS_CORRECTION_FLAG and (following is None or following.startswith("-")
                                             or "~" in following):
            word = f"{BIAS_CORRECTION_FLAG}={BiasCorrectionChoice.analytical.value}"
        out.append(word)
    return out


class EstimateCommand(PlainValues, TyperCommand):
    """``migtrade estimate``, whose ``--bias-correction`` may be given without a method."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, bare_flag_values(list(args)))


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command(name="estimate", cls=EstimateCommand)(estimate_command)


def estimate_command(
    formulas: list[str] = typer.Argument(
        ..., metavar="FORMULA",
        help='Model, e.g. "trade ~ log(dist) + cntg | exporter^year + importer^year". Repeat it for '
        'several models; csw(a, b) (a; a + b) and sw(a, b) (a; b) among the regressors or fixed '
        'effects expand to several models.'),
    data: str = typer.Option(..., "--data", "-d", help="CSV, gzip CSV, Parquet or Stata file."),
    store: Path | None = typer.Option(
        None, "--store", help="Store folder where --data may instead name a stored dataset "
        "(default: $MIGTRADE_STORE or the per-user data folder)."),
    model: str = typer.Option(
        Model.ppml.value, "--model", "-m",
        help="Estimator: ppml or ols; several comma-separated (ols,ppml) fit each formula with each, "
        "formula by formula."),
    vcov: str = typer.Option(
        "robust", "--vcov", help="iid, robust, or cluster:VAR[,VAR2]; VAR1^VAR2 clusters on their "
        "combinations."),
    small_sample: SmallSampleChoice = typer.Option(
        SmallSampleChoice.stata, "--small-sample", help="Small-sample convention of the standard errors."),
    where: str | None = typer.Option(None, "--where", help='Row filter, e.g. "exporter != importer and year >= 1990".'),
    weights: str | None = typer.Option(None, "--weights", help="Column of observation weights."),
    offset: str | None = typer.Option(None, "--offset", help="Column added to the linear predictor with coefficient 1."),
    fmt: FormatChoice = typer.Option(FormatChoice.rich, "--format", "-f",
                                     help="Output format on stdout: rich, json, md, latex or csv."),
    save: Path | None = typer.Option(
        None, "--save", help="Write the result (JSON) to this file; with several models, one file "
        "holding a JSON list of the results in column order ('migtrade table' reads either)."),
    sample_out: Path | None = typer.Option(
        None, "--sample-out", help="Write every input row with its sample_status (CSV or Parquet)."),
    separation: str = typer.Option(",".join(SEPARATION_METHODS), "--separation",
                                   help=f"PPML separation checks: any of {','.join(SEPARATION_METHODS)}, or none."),
    keep_singletons: bool = typer.Option(False, "--keep-singletons", help="Do not drop singleton observations."),
    tol: float = typer.Option(1e-8, "--tol", help="PPML convergence tolerance (relative change in deviance)."),
    fe_tol: float = typer.Option(1e-8, "--fe-tol", help="Tolerance of the fixed-effect demeaning."),
    maxiter: int = typer.Option(1000, "--maxiter", help="Maximum IRLS iterations (PPML)."),
    fe_maxiter: int = typer.Option(100_000, "--fe-maxiter", help="Maximum demeaning sweeps."),
    conf_level: float = typer.Option(0.95, "--conf-level", help="Confidence level of the intervals."),
    bootstrap: BootstrapChoice | None = typer.Option(
        None, "--bootstrap", help="Bootstrap p-values and intervals for every coefficient, clustered "
        "by the --vcov cluster variable: wild (wild cluster bootstrap, OLS; for 2SLS the WRE "
        "bootstrap of the endogenous coefficient) or score (score bootstrap, PPML). With "
        "Rademacher weights and 2^G <= --reps every sign vector is used."),
    reps: int = typer.Option(9999, "--reps", help="Bootstrap replications."),
    seed: int = typer.Option(20_240_601, "--seed", help="Seed of the bootstrap weights."),
    bootstrap_weights: BootstrapWeightsChoice = typer.Option(
        BootstrapWeightsChoice.rademacher, "--bootstrap-weights", help="Distribution of the bootstrap weights."),
    impose_null: bool = typer.Option(
        True, "--impose-null/--no-impose-null", help="Impose the null on the bootstrap (WCR; "
        "restricted score bootstrap) or not (WCU)."),
    bootstrap_intervals: bool = typer.Option(
        True, "--bootstrap-intervals/--no-bootstrap-intervals", help="With the null imposed, "
        "bootstrap intervals by test inversion (score: one restricted PPML fit per trial value), "
        "or p-values only (score: the unrestricted bootstrap-t interval)."),
    bootstrap_terms: str | None = typer.Option(
        None, "--bootstrap-terms", help="Bootstrap only these terms, comma-separated (a+b tests "
        "the sum); with the null imposed the score bootstrap fits the model once per term."),
    bias_correction: BiasCorrectionChoice | None = typer.Option(
        None, BIAS_CORRECTION_FLAG, help="PPML gravity models: analytical, also the flag alone "
        "(Weidner & Zylkin 2021: "
        "the estimates and pair-clustered standard errors of exp^year + imp^year [+ exp^imp] "
        "models; with --vcov cluster:exp^imp) or jackknife (split-panel, over halves of the "
        "countries; standard errors unchanged)."),
    split: str | None = typer.Option(
        None, "--split", help="Fit the models on each level of this column (a product, a sector): "
        "one result per level and model, in a JSON list (--save, --format json) or a tidy table "
        "(--format csv or parquet). Exit code 7 when some levels fail; the others are kept."),
    workers: int | None = typer.Option(
        None, "--workers", help="With --split: run on a local Dask cluster of this many worker "
        "processes (default: in this process)."),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="With --split: run on the Dask cluster whose scheduler is at "
        "this address, e.g. tcp://10.0.0.5:8786 (default: $MIGTRADE_SCHEDULER when set)."),
    ship_data: bool = typer.Option(
        False, "--ship-data", help="With --scheduler: send each task its sectors' data, for "
        "workers that cannot read this machine's files (otherwise the workers are asked)."),
    resume: bool = typer.Option(
        False, "--resume", help="With --split and --save: fit only the levels missing from the "
        "saved file of an interrupted run of the same command."),
    strict: bool = typer.Option(
        False, "--strict", help="With --split: stop at the first level that fails, with its exit code."),
) -> None:
    """Estimate gravity models by OLS or PPML with any number of absorbed fixed effects.

    Several models are shown side by side: each formula (after csw()/sw()) with each --model.
    """
    from dataclasses import replace

    from migtrade.cli.split_run import check_split_flags, estimate_split
    from migtrade.errors import UsageError
    from migtrade.estimation.options import EstimateOptions, parse_models
    from migtrade.spec.formula import ModelSpec
    from migtrade.spec.multi import expand_formulas
    from migtrade.store.resolve import load_data, start_loading
    from migtrade.table import ColumnTable

    check_split_flags(split, fmt.value, workers=workers, scheduler=scheduler, ship_data=ship_data,
                      resume=resume, strict=strict, save=save, sample_out=sample_out)
    specs = [ModelSpec.parse(f) for f in expand_formulas(formulas)]
    models = parse_models(model)
    if sample_out is not None and len(specs) * len(models) > 1:
        raise UsageError("--sample-out needs a single model", "Estimate the model whose sample you want alone.")
    options = EstimateOptions(
        model=models[0], vcov=vcov, small_sample=small_sample.value, where=where, weights=weights,
        offset=offset, separation=separation, keep_singletons=keep_singletons, tol=tol,
        fe_tol=fe_tol, maxiter=maxiter, fe_maxiter=fe_maxiter, conf_level=conf_level,
        bootstrap=bootstrap.value if bootstrap else None, reps=reps, seed=seed,
        bootstrap_weights=bootstrap_weights.value, impose_null=impose_null,
        bootstrap_intervals=bootstrap_intervals, bootstrap_terms=bootstrap_terms,
        bias_correction=bias_correction.value if bias_correction else None)
    for target in (save, sample_out):
        if target is not None:
            from migtrade.cli.output import check_writable

            check_writable(target)
    if split is not None:
        from migtrade.cli.output import outputs_closed

        estimate_split([s.formula for s in specs], models, options, data, split, fmt.value,
                       store=store, workers=workers, scheduler=scheduler, ship_data=ship_data,
                       resume=resume, strict=strict, save=save)
        outputs_closed()
        return

    # Read only the columns the models use, unless a filter or the sample file needs the rest.
    # The file is read and hashed on a second thread while the fit's modules are imported on
    # this one; its errors are raised here.
    # When a column is missing the whole file is read again, so that the error lists what is there.
    # A Parquet file is then read into arrays without pandas (its import costs 0.25-0.3 s),
    # unless the bias correction's jackknife will refit on the rows of a DataFrame.
    needed: list[str] | None = None
    if where is None and sample_out is None:
        needed = [c for s in specs for c in s.ordered_columns()]
        needed += [*options.vcov_spec.cluster_columns, *(v for v in (weights, offset) if v)]
    loading = start_loading(data, needed, store=store,
                            arrays=needed is not None and options.bias is None)
    # While the file is read, this thread imports what runs after it: the fit, the output (the
    # renderers) and, with fixed effects, the absorb core's compiled strategies, whose loading
    # otherwise falls after the data is in hand (log-OLS on 1.1 M rows: 0.63 -> 0.58 s, whole
    # processes, alternating both ways, medians of 15).
    from migtrade.cli.output import emit_results, outputs_closed, write_sample
    from migtrade.estimation.fit import fit
    from migtrade.report import render  # noqa: F401

    if any(s.fixed_effects for s in specs):
        from migtrade.estimation import crossed, direct, schur  # noqa: F401

    frame, info = loading.result()
    if needed is not None and not set(needed) <= set(frame.columns):
        frame, info = load_data(data, store=store)
    # One model and no sample file: nothing reads the table after the model's arrays are built,
    # so the fit lets it go then (its columns held through the fit: 48 MiB on the 1 M-row ring).
    release = None
    if len(specs) * len(models) == 1 and sample_out is None:
        from migtrade.store.files import let_go

        def release() -> None:
            let_go(frame)

    fits = [fit(spec, frame, replace(options, model=m), data_info=info, release_data=release)
            for spec in specs for m in models]
    if sample_out is not None:
        assert not isinstance(frame, ColumnTable)  # the sample file reads every column: pandas
        write_sample(frame, fits[0].sample.labels(), sample_out)
    emit_results([f.result for f in fits], fmt.value, save=save)
    outputs_closed()
