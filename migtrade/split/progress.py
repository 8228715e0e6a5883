"""The progress of a split run on stderr: sectors done, failed, and the time left."""

from __future__ import annotations

import sys
from typing import Any, Protocol


class Progress(Protocol):
    """What the engine reports as sectors finish."""

    def start(self, total: int, already: int) -> None: ...

    def advance(self, sectors: int, failed: int) -> None: ...

    def stop(self) -> None: ...


class Silent:
    """No progress shown (not a terminal, or asked to be quiet)."""

    def start(self, total: int, already: int) -> None:
        pass

    def advance(self, sectors: int, failed: int) -> None:
        pass

    def stop(self) -> None:
        pass


class Bar:
    """A rich progress bar on stderr."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        self._failed = 0
        self._bar = RichProgress(
            TextColumn("sectors"), BarColumn(), MofNCompleteColumn(),
            TextColumn("[red]{task.fields[failed]} failed"), TimeElapsedColumn(),
            TextColumn("·"), TimeRemainingColumn(), TextColumn("left"),
            console=Console(file=sys.stderr), transient=False)
        self._task: Any = None

    def start(self, total: int, already: int) -> None:
        self._bar.start()
        self._task = self._bar.add_task("split", total=total, completed=already, failed=0)

    def advance(self, sectors: int, failed: int) -> None:
        self._failed += failed
        self._bar.update(self._task, advance=sectors, failed=self._failed)

    def stop(self) -> None:
        self._bar.stop()


def progress_for(stream: Any = None, quiet: bool = False) -> Progress:
    """A bar when ``stream`` (stderr by default) is a terminal and not quiet, else nothing."""
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return Bar() if not quiet and callable(isatty) and isatty() else Silent()
