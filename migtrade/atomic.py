"""Whole files or nothing: the one way migtrade writes a file a person or a script will read.

A file is filled under a hidden temporary name beside its destination and renamed into place
only when complete, so an interrupted write never leaves a half-written file under the real
name, and a failed command leaves an existing file as it was. Every file gets the permissions
the user's umask gives a newly created file (``mkstemp``'s owner-only mode would otherwise
survive the rename). This module imports nothing else of migtrade, so every layer can use it.
"""

from __future__ import annotations

import errno
import os
import secrets
from collections.abc import Callable
from pathlib import Path


class DestinationExists(FileExistsError):
    """Raised by :func:`write_atomically` with ``overwrite=False`` when the destination exists."""


def temporary_path(path: Path) -> Path:
    """A hidden name beside ``path``, unique to this process and call (nothing is created)."""
    return path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"


def _umask() -> int:
    # os.umask can only be read by setting it; set it straight back.
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomically(path: str | Path, fill: Callable[[Path], object], *, overwrite: bool = True,
                     durable: bool = False) -> Path:
    """Write ``path`` whole or not at all; ``fill`` writes the content to the path it is given.

    Parameters
    ----------
    path
        The destination. Its folder must exist.
    fill
        Called once with a temporary path in the destination's folder; it creates that file
        (with ``open``, pandas, pyarrow, a hard link, ...).
    overwrite
        When False an existing destination is never replaced, not even one created while
        ``fill`` ran: :class:`DestinationExists` is raised instead.
    durable
        Flush the file to disk before it takes the real name (for files that must survive a
        power cut, such as exports).

    Returns
    -------
    Path
        The destination, with ``~`` expanded.
    """
    target = Path(path).expanduser()
    tmp = temporary_path(target.resolve())
    try:
        fill(tmp)
        if os.stat(tmp).st_nlink == 1:
            # A hard link made by ``fill`` keeps the mode of the file it links to.
            os.chmod(tmp, 0o666 & ~_umask())
        if durable:
            with tmp.open("rb") as done:
                os.fsync(done.fileno())
        _place(tmp, target, overwrite)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _place(tmp: Path, target: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, target)
        return
    try:
        # link() fails when the name exists, so a file created meanwhile is never clobbered.
        os.link(tmp, target)
    except FileExistsError:
        raise DestinationExists(str(target)) from None
    except OSError as exc:
        # File systems without hard links: check, then rename (a narrow race is accepted there).
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        if target.exists():
            raise DestinationExists(str(target)) from None
        os.replace(tmp, target)


def write_text(path: str | Path, text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically."""
    return write_atomically(path, lambda tmp: tmp.write_text(text, encoding=encoding))


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return write_atomically(path, lambda tmp: tmp.write_bytes(data))
