"""``migtrade run RECIPE.toml``: run a whole analysis from a recipe, or re-check an earlier run."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from migtrade.recipes.manifest import Comparison
    from migtrade.recipes.runner import StepRecord

DEFAULT_ROOT = Path("migtrade-out")
_PIPE_WIDTH = 150


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command(name="run")(run_command)


def _schema(value: bool) -> None:
    if value:
        from migtrade.recipes.reference import schema_text

        typer.echo(schema_text().lstrip("\n"), nl=False)
        raise typer.Exit()


def run_command(
    recipe: Path = typer.Argument(..., metavar="RECIPE.toml", help="The recipe file."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Output folder (default: migtrade-out/<recipe name>/; with "
        "--check, a temporary folder that is removed afterwards)."),
    force: bool = typer.Option(False, "--force", help="Write into a non-empty output folder."),
    check: Path | None = typer.Option(
        None, "--check", metavar="MANIFEST", help="Compare every number with this manifest.json "
        "of an earlier run; exit 6 on any drift."),
    rtol: float = typer.Option(1e-6, "--rtol", help="Relative tolerance of --check."),
    atol: float = typer.Option(1e-10, "--atol", help="Absolute tolerance of --check."),
    store: Path | None = typer.Option(
        None, "--store", help="Store folder for fetched datasets (default: $MIGTRADE_STORE or the "
        "per-user data folder)."),
    offline: bool = typer.Option(False, "--offline", help="Fetch only from the download cache."),
    data_dir: list[Path] | None = typer.Option(
        None, "--data-dir", metavar="DIR",
        help="Folder of local copies of the recipe's files, searched by file name (subfolders too) "
        "before any download; repeatable. Also $MIGTRADE_DATA_DIR."),
    base_url: str | None = typer.Option(
        None, "--base-url", metavar="URL",
        help="A mirror root: the path of each dataset's url is fetched from here instead (also "
        "$MIGTRADE_FILE_URL)."),
    schema: bool = typer.Option(False, "--schema", callback=_schema, is_eager=True,
                                help="Print every key a recipe may use, with types and defaults, "
                                "and exit."),
) -> None:
    """Run a recipe: datasets, panels, models, tests, counterfactuals, tables and plots, then manifest.json.

    A recipe is a TOML file whose tables take the options of the matching commands; nothing in it runs as code.

    Results go to models/NAME.json, tests/NAME.json and counterfactuals/NAME.json. The manifest records the sha256 of the recipe and of every dataset, the versions, each step's equivalent command and every number.

    Values under expect are checked once everything is written; a mismatch exits with code 6. See --schema for every key.

    Datasets given by url and sha256 are found in --data-dir folders or downloaded once into the download cache, and checked before any step runs; a file that cannot be had, or has another sha256, stops the run with exit code 3.
    """
    import tempfile

    from migtrade.errors import UsageError
    from migtrade.recipes import load_recipe, run_recipe
    from migtrade.sources.verified import data_dirs

    for name, value in (("--rtol", rtol), ("--atol", atol)):
        if not value >= 0:
            raise UsageError(f"{name} must not be negative, not {value}", "Use e.g. 1e-6.")
    loaded = load_recipe(recipe)
    with tempfile.TemporaryDirectory(prefix="migtrade-run-") as scratch:
        target = out or (Path(scratch) if check is not None else DEFAULT_ROOT / loaded.recipe.recipe.name)
        report = run_recipe(loaded, target, force=force, store=store,
                            offline=offline, check=check, rtol=rtol, atol=atol, on_step=_print_step,
                            data_dirs=data_dirs(data_dir or ()), base_url=base_url)
        kept = out is not None or check is None
        files = sum(len(s["outputs"]) for s in report.manifest["steps"])
        noun = "file" if files == 1 else "files"
        where = f"{files} {noun} and manifest.json in {target}" if kept else \
            f"{files} {noun} (not kept: pass --out to keep them)"
        typer.echo(f"wrote {where} in {report.manifest['seconds']:.1f} s")
    _finish(report.checked, report.failures, report.comparison, check)


def _print_step(record: StepRecord) -> None:
    typer.echo(f"{record.kind} {record.name}: {record.summary} ({record.seconds:.1f} s)")


def _finish(checked: int, failures: tuple[str, ...], comparison: Comparison | None,
            check: Path | None) -> None:
    from migtrade.errors import CheckFailed

    problems: list[str] = []
    if checked:
        typer.echo(f"expectations: {checked - len(failures)} of {checked} met")
        for line in failures:
            typer.echo(f"  not met: {line}")
        if failures:
            problems.append(f"{len(failures)} of {checked} expected values not met: "
                            + "; ".join(failures))
    if comparison is not None:
        for note in comparison.notes:
            typer.echo(f"note: {note}")
        if comparison.drift:
            _print_drift(comparison)
            problems.append(f"{len(comparison.drift)} of {comparison.checked} numbers drifted "
                            f"from {check}")
        else:
            typer.echo(f"no drift: {comparison.checked} numbers checked")
    if problems:
        raise CheckFailed(". ".join(problems), "See the output above.")


def _print_drift(comparison: Comparison) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(file=sys.stdout, soft_wrap=False)
    if not console.is_terminal:
        # Piped output has no width to follow; keep each number on one line.
        console = Console(file=sys.stdout, soft_wrap=False, width=_PIPE_WIDTH)
    table = Table(title=f"Drift: {len(comparison.drift)} of {comparison.checked} numbers",
                  title_justify="left")
    for column in ("number", "previous", "now", "difference"):
        table.add_column(column, justify="left" if column == "number" else "right")
    for d in comparison.drift:
        diff = d.difference
        table.add_row(d.label, _cell(d.previous, d.missing == "before"),
                      _cell(d.current, d.missing == "now"),
                      "" if diff is None else f"{diff:+.3g}")
    console.print(table, markup=False, highlight=False)


def _cell(value: object, absent: bool) -> str:
    if absent:
        return "(absent)"
    if isinstance(value, float):
        return f"{value:.10g}"
    return "null" if value is None else str(value)
