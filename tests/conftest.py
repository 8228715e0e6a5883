"""Shared fixtures: the offline datasets in ../shared/data, skipped cleanly where absent."""

from __future__ import annotations

import os

# The installed program runs BLAS on one thread (migtrade/cli/app.py) because the compiled loops
# own the cores; commands run in this process must do the same, and numpy reads this when it is
# first imported, before any test module loads migtrade.cli. Measured: the trade-migration recipe
# in process took 168-195 s with the default threads on this loaded 2-core machine, 27-90 s with one.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_file(relative: str) -> Path:
    """Path of a file in ../shared/data, or skip the test with the reason."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"../shared/data/{relative} is not available beside this checkout")
    return path


@pytest.fixture(scope="session")
def agtpa() -> pd.DataFrame:
    """Yotov et al. (2016) chapter 1 panel, years 1986, 1990, ..., 2006 as in the book."""
    frame = pd.read_csv(shared_file("yotov2016_agtpa/agtpa_applications.csv.gz"))
    return frame[frame["year"].isin([1986, 1990, 1994, 1998, 2002, 2006])].reset_index(drop=True)


@pytest.fixture(scope="session")
def agtpa_path() -> Path:
    """The gzip CSV itself, for command-line tests."""
    return shared_file("yotov2016_agtpa/agtpa_applications.csv.gz")


def cli(*args: object, env: Mapping[str, str] | None = None,
        input: str | None = None) -> tuple[int, str, str]:
    """``migtrade ARGS`` in this process, error handler included: (exit code, stdout, stderr).

    The root command holds the one error handler, so exit codes and the one-line messages are
    those of the installed program; ``tests/test_installed_program.py`` runs that program itself.
    """
    from typer.testing import CliRunner

    from migtrade.cli.app import app

    result = CliRunner().invoke(app, [str(a) for a in args], env=dict(env or {}), input=input)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a bug: keep its traceback in the test report
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(name="cli")
def main_runner(capsys: pytest.CaptureFixture[str],
                monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple[int, str, str]]:
    """The fixture ``cli``: run ``migtrade ARGS`` through the entry point ``main`` in this process,
    its error handler included: (exit code, stdout, stderr). (The function :func:`cli` above does
    the same through Typer's runner, for tests that call it directly.)"""
    import sys

    from migtrade.cli.app import main

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["migtrade", *args])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out = capsys.readouterr()
        return code, out.out, out.err

    return run
