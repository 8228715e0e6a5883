"""``migtrade estimate ... --split VAR``: one model per level of a variable, and its outputs.

The work is :func:`migtrade.split.run_split`; this module checks the split options of the
command, shows the progress, and prints the outcomes (a JSON list, a tidy CSV or Parquet table,
or a terminal table). The command's exit code is 0 when every sector was estimated and 7 when
some were not (their errors are in the outputs); ``--strict`` stops at the first failure with
that sector's own code.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migtrade.errors import UsageError

if TYPE_CHECKING:
    from migtrade.estimation.options import EstimateOptions
    from migtrade.split import SplitRun

SPLIT_FORMATS = ("rich", "json", "csv", "parquet")


def check_split_flags(split: str | None, fmt: str, *, workers: int | None, scheduler: str | None,
                      ship_data: bool, resume: bool, strict: bool, save: Path | None,
                      sample_out: Path | None) -> None:
    """Refuse split options without ``--split`` and outputs a split run cannot give."""
    if split is None:
        given = [flag for flag, on in (("--workers", workers is not None), ("--scheduler", scheduler),
                                       ("--ship-data", ship_data), ("--resume", resume),
                                       ("--strict", strict)) if on]
        if given:
            raise UsageError(f"{given[0]} needs --split VAR", "Give --split with the column whose levels "
                             "are the sectors, or drop the option.")
        if fmt == "parquet":
            raise UsageError("--format parquet is the tidy table of a split run",
                             "Give --split VAR, or use --format csv or json.")
        return
    if fmt not in SPLIT_FORMATS:
        raise UsageError(f"--format {fmt} cannot show a split run",
                         f"Use one of {', '.join(SPLIT_FORMATS)}, or 'migtrade table' on the saved file.")
    if sample_out is not None:
        raise UsageError("--sample-out cannot be combined with --split", "Estimate the sector whose sample "
                         "you want alone, with --where.")
    if resume and save is None:
        raise UsageError("--resume needs --save FILE", "Give the file the interrupted run saved to.")
    if fmt == "parquet" and sys.stdout.isatty():
        raise UsageError("--format parquet writes binary data", "Redirect the output to a file, "
                         "e.g. > results.parquet.")


def estimate_split(formulas: Sequence[str], models: Sequence[str], options: EstimateOptions,
                   data: str, split: str, fmt: str, *, store: Path | None, workers: int | None,
                   scheduler: str | None, ship_data: bool, resume: bool, strict: bool,
                   save: Path | None) -> None:
    """Run the split, print it in ``fmt``; raise :class:`SectorsFailed` when sectors failed."""
    from migtrade.split import SectorsFailed, SplitOptions, run_split
    from migtrade.split.cluster import SCHEDULER_ENV
    from migtrade.split.progress import progress_for

    if scheduler is None and workers is None:
        scheduler = os.environ.get(SCHEDULER_ENV) or None
    options_ = SplitOptions(split, workers=workers, scheduler=scheduler, ship_data=ship_data,
                            strict=strict)
    run = run_split(formulas, models, options, data, options_, store=store, save=save,
                    resume=resume, progress=progress_for())
    emit_split(run, fmt)
    failed = run.failed
    if failed:
        sectors = {o.describe() for o in failed}
        first = failed[0]
        raise SectorsFailed(
            f"{len(sectors)} of {len({o.describe() for o in run.outcomes})} sectors failed "
            f"(first: {first.describe()}: {str((first.error or {}).get('message', '')).rstrip('.')})",
            "The others are in the results; the failed ones have status 'failed' and their error.")


def emit_split(run: SplitRun, fmt: str) -> None:
    """Print a split run's outcomes on stdout."""
    if fmt == "json":
        sys.stdout.write(json.dumps(run.to_list(), indent=1, allow_nan=False) + "\n")
        return
    frame = run.to_frame()
    if fmt == "csv":
        sys.stdout.write(frame.to_csv(index=False))
        return
    if fmt == "parquet":
        import io

        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        sys.stdout.flush()
        sys.stdout.buffer.write(buffer.getvalue())
        sys.stdout.buffer.flush()
        return
    _rich(run, frame)


def _rich(run: SplitRun, frame: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(file=sys.stdout, soft_wrap=False)
    formulas = list(dict.fromkeys(frame["formula"]))
    many = len(formulas) > 1 or frame["model"].nunique() > 1
    table = Table(title=f"split by {run.var}: {len({o.describe() for o in run.outcomes})} sectors, "
                  f"{len({o.describe() for o in run.failed})} failed"
                  + ("" if many else f"\n{frame['model'].iloc[0]}  {formulas[0]}"))
    for name in [run.var, *(["model", "formula"] if many else []), "term", "estimate", "std_error",
                 "p_value", "nobs", "status"]:
        table.add_column(name, justify="right" if name in ("estimate", "std_error", "p_value", "nobs") else "left")
    for values in frame.to_dict("records"):
        ok = values["status"] == "ok"
        cells = [str(values[run.var]), *([str(values["model"]), str(values["formula"])] if many else []),
                 str(values["term"]) if ok else str(values["error"]),
                 *(f"{values[c]:.4f}" if ok else "" for c in ("estimate", "std_error", "p_value")),
                 f"{values['nobs']:,}" if ok else "", values["status"]]
        table.add_row(*cells)
    console.print(table)
