"""The output folder of a run: the rules for reusing one, and every write into it.

The functions that write files atomically belong to the command-line layer; a run receives them
as :class:`Writers`, so that this package never imports :mod:`migtrade.cli`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from migtrade.errors import UsageError

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Writers:
    """How files are written: each call writes one whole file atomically."""

    text: Callable[[Path, str], None]
    binary: Callable[[Path, bytes], None]


def prepare_output(root: Path, *, force: bool) -> None:
    """Create the output folder, or refuse to reuse one that holds anything.

    With ``force`` a non-empty folder is written into, files of the same names are replaced,
    and the old ``manifest.json`` is removed first, so that the folder never holds a manifest
    that does not describe it.

    Raises
    ------
    UsageError
        If ``root`` is a file, or a non-empty folder without ``force``.
    """
    if root.exists() and not root.is_dir():
        raise UsageError(f"output folder '{root}' is a file", "Give --out a folder.")
    if root.is_dir() and any(root.iterdir()):
        if not force:
            raise UsageError(f"output folder '{root}' is not empty",
                             "Pass --force to write into it, or choose another --out.")
        (root / MANIFEST).unlink(missing_ok=True)
    root.mkdir(parents=True, exist_ok=True)


class OutputFolder:
    """Writes files below one folder and remembers them, in order.

    Parameters
    ----------
    root
        The output folder (already prepared).
    writers
        The atomic writers to use.
    """

    def __init__(self, root: Path, writers: Writers) -> None:
        self.root = root
        self.writers = writers
        self.written: list[str] = []

    def path(self, relative: str) -> Path:
        """The path of ``relative`` in the folder, with its parent folders created."""
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def record(self, relative: str) -> None:
        """Count a file that a library call wrote itself at :meth:`path`."""
        self.written.append(relative)

    def text(self, relative: str, text: str) -> Path:
        """Write a text file."""
        target = self.path(relative)
        self.writers.text(target, text)
        self.record(relative)
        return target

    def binary(self, relative: str, data: bytes) -> Path:
        """Write a binary file (an image)."""
        target = self.path(relative)
        self.writers.binary(target, data)
        self.record(relative)
        return target
