"""``migtrade ge``: a general-equilibrium counterfactual, from data to welfare."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path

import typer

# The formats of a counterfactual are those of an estimate: one choice, declared once.
from migtrade.cli.estimate import FormatChoice


class ImbalanceChoice(StrEnum):
    additive = "additive"
    multiplicative = "multiplicative"


class MethodChoice(StrEnum):
    fixed_point = "fixed-point"
    geppml = "geppml"


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command(name="ge")(ge_command)


def ge_command(
    data: str = typer.Option(..., "--data", "-d", help="Panel file or stored dataset with domestic flows."),
    year: int = typer.Option(..., "--year", help="Baseline year of the general equilibrium."),
    sigma: float | None = typer.Option(None, "--sigma", help="Elasticity of substitution (> 1)."),
    theta: float | None = typer.Option(None, "--theta", help="Trade elasticity (> 0); sigma = theta + 1."),
    reference: str | None = typer.Option(
        None, "--reference", help="ISO3 code whose inward multilateral resistance is the numeraire "
        "(default: world output held constant)."),
    beta: str | None = typer.Option(
        None, "--beta", help="Column of partial effects on each pair's log trade (as ge_gravity)."),
    estimate: str | None = typer.Option(
        None, "--estimate", help='PPML gravity model to estimate, e.g. "trade ~ rta | exporter^year '
        '+ importer^year + pair_id".'),
    change: str | None = typer.Option(
        None, "--change", help='"VAR = VALUE [if CONDITION]" (with --estimate); several separated by ";".'),
    fill_pairs: str | None = typer.Option(
        None, "--fill-pairs", help='Terms that predict the costs of pairs without a pair effect, e.g. '
        '"log(dist) + cntg + lang + clny".'),
    where: str | None = typer.Option(
        None, "--where", help="Estimation sample (with --estimate) or baseline rows (with --beta)."),
    exporter: str | None = typer.Option(None, "--exporter", help="Exporter column (default exporter or origin)."),
    importer: str | None = typer.Option(None, "--importer", help="Importer column (default importer or destination)."),
    trade: str | None = typer.Option(None, "--trade", help="Flow column (default trade)."),
    imbalances: ImbalanceChoice = typer.Option(
        ImbalanceChoice.additive, "--imbalances",
        help="Trade deficits held in value (additive) or as a share of output (multiplicative)."),
    method: MethodChoice = typer.Option(
        MethodChoice.fixed_point, "--method", help="Exact-hat fixed point or iterated constrained PPML."),
    draws: int = typer.Option(0, "--draws", help="Monte Carlo draws of the coefficients for intervals."),
    seed: int | None = typer.Option(None, "--seed", help="Seed of the draws (reported when not given)."),
    vcov: str = typer.Option("cluster:<pair>", "--vcov", help="Covariance of the estimate: cluster:<pair> "
                             "(the pair effect, or the directed pair), robust, or cluster:VAR."),
    tol: float = typer.Option(1e-10, "--tol", help="Tolerance on the change in log factory-gate prices."),
    maxiter: int = typer.Option(10_000, "--maxiter", help="Iterations (or GEPPML rounds) before giving up."),
    max_rounds: int | None = typer.Option(
        None, "--max-rounds", help="Run the published GEPPML loop of Yotov et al. (2016) for at most "
        "this many rounds with its own stopping rule (needs --method geppml and --reference)."),
    conf_level: float = typer.Option(0.95, "--conf-level", help="Coverage of the Monte Carlo intervals."),
    countries: str | None = typer.Option(None, "--countries", help="Show only these ISO3 codes, comma-separated."),
    fmt: FormatChoice = typer.Option(FormatChoice.rich, "--format", "-f", help="Output format on stdout."),
    save: Path | None = typer.Option(None, "--save", help="Write the migtrade.ge/1 document (JSON) here."),
    store: Path | None = typer.Option(None, "--store", help="Store folder where --data may name a dataset."),
    workers: int | None = typer.Option(
        None, "--workers", help="Run the --draws on a local Dask cluster of this many worker processes."),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Run the --draws on the Dask cluster whose scheduler is at this address."),
) -> None:
    """Solve a general-equilibrium counterfactual of structural gravity: trade, prices and real
    GDP before and after a change in trade costs, with Monte Carlo intervals on request."""
    from migtrade.atomic import write_text
    from migtrade.cli.output import check_writable, outputs_closed
    from migtrade.ge.options import GEOptions
    from migtrade.ge.run import run_counterfactual
    from migtrade.store.resolve import load_data

    options = GEOptions(
        year=year, sigma=sigma, theta=theta, reference=reference, beta=beta, estimate=estimate,
        change=change, fill_pairs=fill_pairs, where=where, exporter=exporter, importer=importer,
        trade=trade, imbalances=imbalances.value, method=method.value, draws=draws, seed=seed,
        vcov=vcov, tol=tol, maxiter=maxiter, max_rounds=max_rounds, conf_level=conf_level)
    if save is not None:
        check_writable(save)
    if (workers is not None or scheduler is not None) and not draws:
        from migtrade.errors import UsageError

        raise UsageError("--workers and --scheduler run the Monte Carlo draws", "Give --draws N, or drop them.")
    if workers is not None and scheduler is not None:
        from migtrade.errors import UsageError

        raise UsageError("--workers and --scheduler cannot be combined",
                         "Give --workers N for a local cluster or --scheduler ADDRESS for a running one.")
    frame, info = load_data(data, store=store)
    result = run_counterfactual(frame, options, data_info=info, workers=workers, scheduler=scheduler)
    if save is not None:
        write_text(save, result.to_json())
    shown = [c.strip() for c in countries.split(",") if c.strip()] if countries else None
    sys.stdout.write(_render(result.to_dict(), fmt.value, shown))
    outputs_closed()


def _render(doc: dict, fmt: str, countries: list[str] | None) -> str:
    """The document in ``fmt`` through the GE renderers, or as JSON where they are absent."""
    try:
        from migtrade.report.ge_table import render_ge
    except ImportError:
        import json

        return json.dumps(doc, indent=2, allow_nan=False) + "\n"
    text = render_ge(doc, fmt, countries=countries)
    return text if text.endswith("\n") else text + "\n"
