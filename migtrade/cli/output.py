"""Printing and saving what commands produce; every file is written atomically."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from migtrade.atomic import write_atomically, write_text
from migtrade.errors import UsageError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    # Only named here: the results (and scipy's special functions behind them) are imported
    # by whoever builds them, while the data file is read (migtrade.cli.estimate).
    from migtrade.results.result import EstimationResult


# Set by a command whose every output is written and closed, so that the process may end
# without the interpreter's teardown (see :func:`migtrade.cli.app.main`).
_DONE = {"outputs_closed": False}


def outputs_closed() -> None:
    """Declare that the command has written and closed everything it produces."""
    _DONE["outputs_closed"] = True


def may_exit_at_once() -> bool:
    """Whether :func:`outputs_closed` was called."""
    return _DONE["outputs_closed"]


def check_writable(path: Path) -> None:
    """Fail before any work when an output file cannot be written."""
    parent = path.expanduser().resolve().parent
    if not parent.is_dir():
        raise UsageError(f"cannot write '{path}': folder '{parent}' does not exist", "Create the folder first.")
    if path.is_dir():
        raise UsageError(f"cannot write '{path}': it is a folder", "Give a file name.")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"cannot write '{path}': folder '{parent}' is not writable", "Choose another folder.")


def write_sample(frame: pd.DataFrame, labels: np.ndarray, path: Path) -> None:
    """Every input row plus its ``sample_status``, as CSV or Parquet (by extension)."""
    out = frame.assign(sample_status=labels)

    def fill(tmp: Path) -> None:
        if path.name.lower().endswith((".parquet", ".pq")):
            out.to_parquet(tmp, index=False)
        else:
            out.to_csv(tmp, index=False, compression="gzip" if path.name.endswith(".gz") else None)

    write_atomically(path, fill)


def emit_results(results: Sequence[EstimationResult], fmt: str, *, save: Path | None = None,
                 titles: Sequence[str] | None = None) -> None:
    """Print results in ``fmt`` on stdout and save them as JSON when asked."""
    from migtrade.report.render import RENDERERS
    from migtrade.report.table import build_table

    table = build_table(results, titles=titles)
    if save is not None:
        payload = RENDERERS["json"](table, results)
        write_text(save, payload)
    if fmt == "rich":
        from rich.console import Console

        from migtrade.report.terminal import footer_lines, rich_table

        console = Console(file=sys.stdout, soft_wrap=False)
        head = results[0]
        console.print(
            f"[bold]{head.label}[/bold]  {head.formula}\n"
            f"N = {head.nobs:,}   dropped: " + ", ".join(f"{k} {v:,}" for k, v in head.dropped.items())
            + f"   iterations: {head.iterations}, converged"
        )
        console.print(rich_table(table, results))
        for line in footer_lines(table):
            console.print(line, markup=False, highlight=False)
        return
    sys.stdout.write(RENDERERS[fmt](table, results))
