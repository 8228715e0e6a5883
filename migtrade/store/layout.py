"""Where the store lives and how its folder is laid out.

::

    ROOT/
      catalog.duckdb     the catalog (one row per dataset)
      .lock              the file locked around catalog changes
      data/              one Parquet file per dataset version, named NAME~vVERSION~TOKEN.parquet
      tmp/               files being written, named HOST-PID-TOKEN.SUFFIX

A file in ``data/`` that the catalog does not name, or a file in ``tmp/`` whose process is gone,
was left by a process killed half-way; :func:`sweep` deletes them under the exclusive lock.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from migtrade.errors import UsageError

ENV_VAR = "MIGTRADE_STORE"

_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
_TEMP = re.compile(r"(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-[0-9a-f]+")


def default_root() -> Path:
    """``$MIGTRADE_STORE`` if set and non-empty, else the per-user data folder of migtrade."""
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("migtrade"))


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink in ``path`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class Layout:
    """The paths inside one store folder."""

    root: Path

    @property
    def catalog(self) -> Path:
        return self.root / "catalog.duckdb"

    @property
    def lock(self) -> Path:
        return self.root / ".lock"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def tmp_dir(self) -> Path:
        return self.root / "tmp"

    def initialised(self) -> bool:
        """Whether anything was ever written here (reads of a fresh store create nothing)."""
        return self.catalog.exists()

    def ensure(self) -> None:
        """Create the folders, refusing a root that is a file or cannot be created."""
        if self.root.exists() and not self.root.is_dir():
            raise UsageError(f"the store '{self.root}' is a file, not a folder",
                             f"Point --store or ${ENV_VAR} at a folder.")
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self.tmp_dir.mkdir(exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot create the store folder '{self.root}': {exc.strerror}",
                             f"Point --store or ${ENV_VAR} at a writable folder.") from None

    def new_temp(self, suffix: str) -> Path:
        """A fresh path in ``tmp/`` that :func:`sweep` leaves alone while this process lives."""
        return self.tmp_dir / f"{_HOST}-{os.getpid()}-{secrets.token_hex(6)}{suffix}"

    def data_file_name(self, name: str, version: int) -> str:
        """A new file name for a dataset version; the token keeps a retried version distinct."""
        return f"{name}~v{version}~{secrets.token_hex(4)}.parquet"

    def sweep(self, referenced: Iterable[str]) -> None:
        """Delete what killed processes left behind. Call only under the exclusive lock.

        Parameters
        ----------
        referenced
            File names (in ``data/``) that the catalog points to; every other file there is an
            orphan from a write that died between moving its file and committing.
        """
        keep = set(referenced)
        if self.data_dir.is_dir():
            for path in self.data_dir.iterdir():
                if path.name not in keep and path.is_file():
                    path.unlink(missing_ok=True)
        if self.tmp_dir.is_dir():
            for path in self.tmp_dir.iterdir():
                match = _TEMP.match(path.name)
                # Another machine's process (a store on a shared drive) cannot be checked: keep.
                if (match and match["host"] == _HOST and path.is_file()
                        and not _alive(int(match["pid"]))):
                    path.unlink(missing_ok=True)
