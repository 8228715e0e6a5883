"""The ``migtrade`` command: one Typer app, one error handler.

Heavy libraries (numpy, pandas, the engine's compiled kernels) are imported inside the commands
that need them, so that ``migtrade --help`` starts instantly.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

# The engine's compiled loops use every core; the linear algebra around them is on small
# matrices, where a second BLAS thread gains little and its busy-waiting slows those loops
# (measured: PPML with two fixed effects on 1.6 M rows, 1.45 s -> 1.2 s). Set before numpy
# loads; a value the user has set wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# NumPy asks the kernel for transparent huge pages on every array of 4 MB and more; where the
# kernel then compacts memory on the fault (Linux's default defrag=madvise), a process that
# starts just after another has freed gigabytes stalls on its first arrays: measured on the
# 2-core VM, touching 1 GiB took 0.11-2.1 s with the hint and 0.40 s without, and whole
# estimates on the 1.6 M / 3 M / 10 M-row gravity panels 1.38-2.08 / 2.67-3.61 / 9.0-11.4 s
# with it against 1.50-1.74 / 2.54-2.82 / 8.2 s without (2026-12-05). A short process gains
# little from huge pages and loses much to the stalls. A value the user has set wins.
os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")

import typer
from typer.core import TyperGroup

from migtrade.cli.coercion import PlainValues, install
from migtrade.version import __version__

if TYPE_CHECKING:
    app: typer.Typer  # built on first use by the module's __getattr__


def _keep_freed_memory() -> None:
    """Let glibc's malloc serve large arrays from its heap and keep what is freed.

    By default every array above a few MB is mapped fresh from the kernel and unmapped when
    freed, so each IRLS step pays the page faults of its temporaries again (one column of a
    1.6 M-row panel is 13 MB). Served from a heap that is never trimmed, they reuse pages
    already touched: measured on the 1.6 M-row gravity panel, 5% less time for 3% more peak
    memory. Nothing is done where the C library is not glibc.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_max = -1, -4
        libc.mallopt(m_mmap_max, 0)
        libc.mallopt(m_trim_threshold, 2**31 - 1)
    except (OSError, AttributeError):
        pass


class MigtradeGroup(PlainValues, TyperGroup):
    """The root command, with the one error handler of the program.

    User mistakes (:class:`~migtrade.errors.MigtradeError`) and command-line mistakes caught by
    click become one line on stderr and their exit code; anything else is a bug and keeps its
    traceback. Living in the command itself, the handler runs wherever the app runs: in the
    installed program and under ``typer.testing.CliRunner`` alike.
    """

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             windows_expand_args: bool = True, **extra: Any) -> Any:
        from migtrade.errors import MigtradeError

        install(self)  # plain option values converted without pydantic (cli.coercion)
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False,
                                  windows_expand_args=windows_expand_args, **extra)
        except MigtradeError as err:
            _fail(f"migtrade: error: {_in_flags(err)}", err.exit_code, standalone_mode)
        except typer.Abort:
            _fail("migtrade: aborted", 130, standalone_mode)
        except _click_exceptions() as exc:
            message = " ".join(str(exc.format_message()).split()).rstrip(".")  # type: ignore[attr-defined]
            # Empty when click already printed the help (no arguments given).
            end = "" if message.endswith(("?", "!")) else "."
            line = f"migtrade: error: {message}{end} Run with --help for usage." if message else None
            _fail(line, getattr(exc, "exit_code", 2), standalone_mode)
        # Without standalone mode click returns the code of a typer.Exit instead of raising it.
        if isinstance(result, int) and result and standalone_mode:
            sys.exit(result)
        return result


def _in_flags(err: Exception) -> str:
    """The error's line, an option named by its flag where the error names one (``maxiter``
    -> ``--maxiter``): the option objects speak in keywords, shared with the API and recipes."""
    import re

    text: str = err.one_line()  # type: ignore[attr-defined]
    option = getattr(err, "option", None)
    if not isinstance(option, str) or not option:
        return text
    flag = "--" + option.replace("_", "-")
    text = re.sub(rf"(?<![\w-]){re.escape(option)} = ", flag + " ", text)
    return re.sub(rf"^{re.escape(option)}(?![\w-])", flag, text)  # "maxiter must be ..."


def _fail(line: str | None, code: int, standalone_mode: bool) -> NoReturn:
    """Print ``line`` on stderr, then end with ``code`` (as SystemExit, or click's Exit when the
    caller asked for no standalone mode and handles exit codes itself)."""
    if line:
        sys.stderr.write(line + "\n")
    if standalone_mode:
        sys.exit(code)
    raise typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"migtrade {__version__}")
        raise typer.Exit()


def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Gravity models of trade and migration."""


# One module per command group, named as the command; each exposes register(app). Order is the
# order in --help.
COMMAND_MODULES = ("fetch", "data", "panel", "estimate", "test", "ge", "table", "plot", "run", "recipe", "quickstart")


def build_app(modules: Sequence[str] = COMMAND_MODULES) -> typer.Typer:
    """The root command with the commands of ``modules`` (by default every one)."""
    import importlib

    built = typer.Typer(
        cls=MigtradeGroup,
        name="migtrade",
        help="Gravity models of trade and migration: estimate OLS and PPML with high-dimensional "
        "fixed effects, and test whether trade substitutes for migration.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    built.callback()(_root)
    for name in modules:
        importlib.import_module(f"migtrade.cli.{name}").register(built)
    return built


_APPS: dict[tuple[str, ...], typer.Typer] = {}


def _app(modules: tuple[str, ...] = COMMAND_MODULES) -> typer.Typer:
    if modules not in _APPS:
        _APPS[modules] = build_app(modules)
    return _APPS[modules]


def _app_for(args: Sequence[str]) -> typer.Typer:
    """The app that runs ``args``: when they start with a command's name, the root with that
    command alone, which is what runs it (the other modules and their options are neither
    imported nor built: 0.06 s of every estimate); otherwise the whole app (the root's help,
    --version, a misspelt command)."""
    first = args[0] if args else None
    return _app((first,)) if first in COMMAND_MODULES else _app()


def __getattr__(name: str) -> Any:
    # ``app``, the whole command tree, is built on first use (tests and the Python API), not
    # at import: the console script builds only the command it runs.
    if name == "app":
        return _app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _click_exceptions() -> tuple[type[BaseException], ...]:
    """The click exception base classes in use (typer may vendor its own copy of click)."""
    found: list[type[BaseException]] = [
        c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
    ]
    try:
        import click

        found.append(click.exceptions.ClickException)
    except ImportError:  # typer without a separate click
        pass
    return tuple(found)


def main() -> None:
    """Entry point: run the app; its root command turns user errors into one line on stderr
    and an exit code (:class:`MigtradeGroup`)."""
    _keep_freed_memory()
    _app_for(sys.argv[1:])()


def entry() -> None:
    """The console script: :func:`main`, then, when the command succeeded and declared its
    outputs written and closed, the end of the process without the interpreter's teardown
    (unloading some 1,300 modules and freeing the arrays one by one takes 0.2 s after an
    estimate on 1.6 M rows). Code that calls :func:`main` itself keeps its process."""
    main()
    output = sys.modules.get("migtrade.cli.output")
    if output is not None and output.may_exit_at_once():
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except OSError:  # a closed pipe downstream (| head): nothing more can be written
            pass
        os._exit(0)
