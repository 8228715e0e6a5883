"""The ``migtrade`` command: one Typer app, one error handler.

Heavy libraries (numpy, pandas, numba) are imported inside the commands that need them, so that
``migtrade --help`` starts instantly.
"""

from __future__ import annotations

import sys

import typer

from migtrade import __version__

app = typer.Typer(
    name="migtrade",
    help="Gravity models of trade and migration: estimate OLS and PPML with high-dimensional "
    "fixed effects, and test whether trade substitutes for migration.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"migtrade {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Gravity models of trade and migration."""


# One module per command group; each exposes register(app). Order is the order in --help.
COMMAND_MODULES = ("fetch", "data", "panel", "estimate", "table", "plot", "quickstart")


def _register() -> None:
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(f"migtrade.cli.{name}").register(app)


_register()


def main() -> None:
    """Entry point: run the app, turning user errors into one line on stderr and an exit code."""
    from migtrade.errors import MigtradeError

    try:
        app(standalone_mode=False)
    except MigtradeError as err:
        sys.stderr.write(f"migtrade: error: {err.one_line()}\n")
        sys.exit(err.exit_code)
    except typer.Exit as ex:
        sys.exit(ex.exit_code)
    except typer.Abort:
        sys.stderr.write("migtrade: aborted\n")
        sys.exit(130)
    except Exception as exc:
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
