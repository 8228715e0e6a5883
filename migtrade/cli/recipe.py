"""``migtrade recipe init NAME``: write a commented starter recipe to edit."""

from __future__ import annotations

from pathlib import Path

import typer

recipe_app = typer.Typer(help="Start a recipe: a whole analysis that `migtrade run` executes and re-checks.",
                         no_args_is_help=True, add_completion=False)


@recipe_app.command("init")
def init_command(
    name: str = typer.Argument(..., help="The recipe's name (lowercase letters, digits, '_', '-', '.'); "
                               "it names the output folder."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Where to write it (default: NAME.toml here)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing file."),
) -> None:
    """Write a starter recipe that runs as written: a public data file by address and sha256,
    two gravity models with published values to hold them to, and a table, all commented."""
    from migtrade.atomic import write_text
    from migtrade.cli.output import check_writable
    from migtrade.errors import UsageError
    from migtrade.recipes.starter import starter_recipe

    text = starter_recipe(name)
    target = out or Path(f"{name}.toml")
    if target.exists() and not force:
        raise UsageError(f"'{target}' exists", "Pass --force to replace it, or choose another --out.")
    check_writable(target)
    write_text(target, text)
    typer.echo(f"wrote {target}: run it with `migtrade run {target}`")


def register(app: typer.Typer) -> None:
    """Add the command group to the app."""
    app.add_typer(recipe_app, name="recipe")
