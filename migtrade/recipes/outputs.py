"""The output folder of a run: the rules for reusing one, and every write into it.

Every file is written whole or not at all (:mod:`migtrade.atomic`).
"""

from __future__ import annotations

from pathlib import Path

from migtrade.atomic import write_bytes, write_text
from migtrade.errors import UsageError

MANIFEST = "manifest.json"


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
    """

    def __init__(self, root: Path) -> None:
        self.root = root
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
        write_text(target, text)
        self.record(relative)
        return target

    def binary(self, relative: str, data: bytes) -> Path:
        """Write a binary file (an image)."""
        target = self.path(relative)
        write_bytes(target, data)
        self.record(relative)
        return target
