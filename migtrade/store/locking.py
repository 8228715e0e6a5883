"""Advisory file locks that serialise catalog changes between processes.

Writers hold the exclusive lock only while they move a finished file into place and commit the
catalog (milliseconds), never while they encode Parquet. Readers hold the shared lock while they
look a dataset up and open its file; once open, the file stays readable even if a writer then
replaces and deletes it, because POSIX keeps an unlinked file alive while a descriptor is open.

``fcntl.flock`` locks are released by the kernel when the process dies, so a killed writer can
never leave the store locked.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from migtrade.errors import DataError, UsageError

LOCK_TIMEOUT_SECONDS = 300.0
"""How long to wait for another process before giving up; catalog changes take milliseconds, but
a long ``migtrade data sql`` query holds the shared lock for its whole run."""

_POLL_SECONDS = 0.02


@contextmanager
def file_lock(path: Path, *, exclusive: bool, timeout: float = LOCK_TIMEOUT_SECONDS) -> Iterator[None]:
    """Hold a shared or exclusive ``flock`` on ``path`` (created if absent) for the block.

    Raises
    ------
    DataError
        If the lock is not obtained within ``timeout`` seconds.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except PermissionError as exc:
        if exclusive:
            raise UsageError(f"cannot write to the store at '{path.parent}': {exc.strerror}",
                             "Point --store or $MIGTRADE_STORE at a writable folder.") from None
        # A store on a read-only mount can still be read; flock works on read-only descriptors.
        fd = os.open(path, os.O_RDONLY)
    try:
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise DataError(
                        f"the store at '{path.parent}' is busy: another migtrade process held its "
                        f"lock for more than {timeout:.0f} s",
                        "Wait for the other command to finish and try again.",
                    ) from None
                time.sleep(_POLL_SECONDS)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
