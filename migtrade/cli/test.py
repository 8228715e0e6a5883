"""``migtrade test substitution``: does trade substitute for migration or complement it?"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from migtrade.hypotheses.report import SubstitutionReport


class CaseChoice(StrEnum):
    mex_usa = "MEX-USA"
    phl = "PHL"


class FormatChoice(StrEnum):
    rich = "rich"
    json = "json"
    md = "md"
    latex = "latex"


class InferenceChoice(StrEnum):
    jackknife = "jackknife"
    bootstrap = "bootstrap"


class VerdictChoice(StrEnum):
    substitutes = "substitutes"
    complements = "complements"
    hump = "short-run-complements-long-run-substitutes"
    inconclusive = "inconclusive"


_PIPE_WIDTH = 150


def register(app: typer.Typer) -> None:
    """Add the ``test`` command group to the app."""
    group = typer.Typer(name="test", help="Test hypotheses about trade and migration.",
                        no_args_is_help=True)
    group.command(name="substitution")(substitution_command)
    app.add_typer(group, name="test")


def substitution_command(
    data: str = typer.Option(..., "--data", "-d",
                             help="The dyadic panel: a stored dataset name or a file."),
    case: CaseChoice | None = typer.Option(
        None, "--case", help="MEX-USA: NAFTA event study of the Mexico -> United States "
        "corridor; PHL: the Philippines, with the battery on Philippine dyads."),
    alpha: float = typer.Option(0.05, "--alpha", help="Significance level of the verdict."),
    fmt: FormatChoice = typer.Option(FormatChoice.rich, "--format", "-f",
                                     help="Output format on stdout."),
    expect: VerdictChoice | None = typer.Option(
        None, "--expect", help="Exit with code 6 when the verdict differs from this."),
    instrument: list[str] | None = typer.Option(
        None, "--instrument", help="TARGET=TERMS replacing the default instruments, repeatable: "
        "trade=... (log trade in the migration equations; default rta) or stock=... (the lagged "
        "migrant stock in the trade equations; default ln_stock_lag2). Derived instruments: "
        "gravity_ln_trade, gravity_ln_stock (predicted from geography)."),
    store: Path | None = typer.Option(
        None, "--store", help="Store folder where --data may name a stored dataset "
        "(default: $MIGTRADE_STORE or the per-user data folder)."),
    save: Path | None = typer.Option(None, "--save", help="Also write the report (JSON) here."),
    no_iv: bool = typer.Option(False, "--no-iv", help="Skip the instrumental-variables tests."),
    inference: InferenceChoice = typer.Option(
        InferenceChoice.jackknife, "--inference", help="p-values of the three voting tests: "
        "delete-a-group jackknife over country pairs, or the score bootstrap clustered by pair "
        "with the null imposed."),
    reps: int = typer.Option(999, "--reps", help="Replications of the bootstrap (--inference bootstrap)."),
) -> None:
    """Run the trade-migration battery and give the verdict.

    The verdict is one of the four listed under --expect; the rule is printed with the result.
    """
    from migtrade.atomic import write_text
    from migtrade.cli.output import check_writable
    from migtrade.errors import CheckFailed, UsageError
    from migtrade.hypotheses.battery import parse_instruments
    from migtrade.hypotheses.substitution import substitution_test
    from migtrade.store.resolve import load_data

    if not 0 < alpha < 1:
        raise UsageError(f"--alpha must be between 0 and 1, not {alpha}", "Use e.g. 0.05.")
    instruments = parse_instruments(instrument or [])
    if save is not None:
        check_writable(save)
    frame, info = load_data(data, store=store)
    report = substitution_test(frame, case=case.value if case else None, alpha=alpha,
                               instruments=instruments, include_iv=not no_iv, data_info=info,
                               inference=inference.value, bootstrap_reps=reps)
    if save is not None:
        write_text(save, report.to_json() + "\n")
    _emit(report, fmt.value)
    if expect is not None and report.verdict != expect.value:
        raise CheckFailed(f"the verdict is '{report.verdict}', expected '{expect.value}'",
                          "See the evidence table for why.")


def _emit(report: SubstitutionReport, fmt: str) -> None:
    from migtrade.hypotheses.render import RENDERERS, print_rich, report_blocks

    if fmt == "json":
        sys.stdout.write(report.to_json() + "\n")
        return
    blocks = report_blocks(report)
    if fmt == "rich":
        from rich.console import Console

        console = Console(file=sys.stdout, soft_wrap=False)
        if not console.is_terminal:
            # Piped or redirected output has no width to follow; keep table rows on one line.
            console = Console(file=sys.stdout, soft_wrap=False, width=_PIPE_WIDTH)
        print_rich(blocks, console.print)
        return
    sys.stdout.write(RENDERERS[fmt](blocks))
