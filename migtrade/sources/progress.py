"""Progress bars on stderr, shown only to a person watching a terminal.

Scripts and CI capture stderr; a bar redrawn there would bury the one-line error messages, so a
bar appears only when stderr is a terminal and the user did not ask for ``--quiet``.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any, Protocol


class Advance(Protocol):
    """Callable that moves a bar forward by some units (bytes, rows, pages)."""

    def __call__(self, amount: float) -> None: ...


def _noop(amount: float) -> None:
    del amount


def wanted(quiet: bool) -> bool:
    """Whether a bar should be drawn."""
    return not quiet and sys.stderr.isatty()


@contextmanager
def progress_bar(description: str, total: float | None, *, quiet: bool, unit: str = "bytes") -> Iterator[Advance]:
    """A context yielding ``advance(amount)``; draws a transient rich bar when :func:`wanted`.

    Parameters
    ----------
    description
        Text at the left of the bar.
    total
        Expected total, or ``None`` when unknown (the bar then only counts).
    quiet
        Never draw.
    unit
        ``"bytes"`` shows sizes and transfer speed; anything else shows a plain count.
    """
    if not wanted(quiet):
        yield _noop
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        [TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn()]
        if unit == "bytes"
        else [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)

        def advance(amount: float) -> None:
            bar.update(task, advance=amount)

        yield advance


class CountedStream(io.RawIOBase):
    """A read-only stream that reports how many bytes went through it, for a progress bar."""

    def __init__(self, inner: IO[bytes], advance: Advance) -> None:
        super().__init__()
        self._inner = inner
        self._advance = advance

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._inner.read(size)
        self._advance(len(data))
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
