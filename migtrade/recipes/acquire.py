"""Obtain the file of every ``url``/``file`` dataset of a recipe before anything runs.

A run first finds or downloads all of its files (:func:`migtrade.sources.verified.obtain`: a copy
beside the recipe or found by name in a ``--data-dir`` folder, a file verified by an earlier run,
or the addresses in turn) and checks each against its ``sha256``. Only when every one is at hand
does the output folder get created and the first step run; otherwise the run stops with one line
naming each dataset it could not obtain, its address, and the ``--data-dir`` option.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from migtrade.errors import SourceError
from migtrade.recipes.load import RecipeFile
from migtrade.recipes.schema import DatasetStep
from migtrade.sources.http import HttpClient, HttpSettings
from migtrade.sources.verified import (
    RemoteFile,
    VerifiedFile,
    find_copies,
    local_candidates,
    mirror_addresses,
    obtain,
)

_HINT = ("Put a copy of each file in a folder and pass --data-dir FOLDER (or set MIGTRADE_DATA_DIR), "
         "or run where the network reaches the addresses named.")


@dataclass(frozen=True)
class Located:
    """Where a dataset's file is, and how it was checked.

    Attributes
    ----------
    path
        The file to read.
    verified
        The check against the recipe's ``sha256``; None for a ``file`` given without one.
    """

    path: Path
    verified: VerifiedFile | None = None

    def manifest_entry(self, d: DatasetStep, sha256: str, rows: int) -> dict[str, Any]:
        """The manifest's record of the dataset: kind, location, sha256, rows, where it was found.

        ``sha256`` is that of the bytes the recipe names (of the archive, for a member), so the
        record is the same whether the file came from a data folder or a download.
        """
        v = self.verified
        entry: dict[str, Any] = {"kind": "url" if d.urls else "file",
                                 "location": d.urls[0] if d.urls else d.file,
                                 "sha256": v.sha256 if v else sha256, "rows": rows}
        if len(d.urls) > 1:
            entry["mirrors"] = list(d.urls[1:])
        if d.member:
            entry["member"] = d.member
        entry["obtained"] = v.describe() if v else f"local copy {self.path}"
        return entry

    def data_info(self, info: dict[str, Any]) -> dict[str, Any]:
        """A result's data record: the file's name and, for a verified file, where it comes from."""
        if self.verified is None:
            return info
        return {**info, "path": self.path.name, "sha256": self.verified.sha256,
                "provenance": self.verified.provenance()}

    def summary(self) -> str:
        """How the file was had, for the progress line."""
        return self.verified.describe() if self.verified else f"local copy {self.path}"


def acquire(loaded: RecipeFile, *, folders: Sequence[Path] = (), settings: HttpSettings,
            base_url: str | None = None) -> dict[str, Located]:
    """Find or download the file of every dataset given by ``url`` or ``file``.

    Parameters
    ----------
    loaded
        The checked recipe.
    folders
        Data folders searched by file name (``--data-dir``, ``MIGTRADE_DATA_DIR``).
    settings
        The HTTP door's settings (offline, cache folder, retries).
    base_url
        A mirror root for every address (``--base-url``, else ``MIGTRADE_FILE_URL``).

    Returns
    -------
    dict
        Dataset name to :class:`Located`, for every dataset with a file: not a ``source``, or
        a ``source`` reading a file named by ``url``.

    Raises
    ------
    SourceError
        Naming every dataset that could not be obtained (exit code 3).
    """
    wanted = [d for d in loaded.recipe.datasets if d.source is None or d.urls]
    found: dict[str, Located] = {}
    missing: list[str] = []
    if not wanted:
        return found
    with HttpClient(settings) as client:
        for d in wanted:
            try:
                found[d.name] = _locate(loaded, d, client, folders, base_url)
            except SourceError as exc:
                reason = exc.message.removeprefix("cannot obtain ")
                missing.append(f"{d.name} ({reason})")
    if missing:
        noun = "dataset" if len(wanted) == 1 else "datasets"
        hint = _HINT
        if any("not the expected" in m for m in missing):
            hint = ("A file with another sha256 is not the one the recipe names: check both with the "
                    "publisher, or replace the copy. " + hint)
        raise SourceError(f"{loaded.source}: cannot obtain {len(missing)} of {len(wanted)} {noun}: "
                          + "; ".join(missing), hint)
    return found


def _locate(loaded: RecipeFile, d: DatasetStep, client: HttpClient, folders: Sequence[Path],
            base_url: str | None) -> Located:
    beside = (loaded.folder,)
    if d.sha256 is None:
        assert d.file is not None  # the checker requires sha256 with url
        copies = find_copies(d.file, beside, folders)
        if not copies:
            raise SourceError(f"{d.file}: not beside the recipe ({loaded.resolve(d.file)}) nor in a "
                              "data folder, and no address to download it from")
        return Located(copies[0])
    remote = RemoteFile(urls=d.urls, sha256=d.sha256, member=d.member, local=d.file)
    if d.equivalent and not local_candidates(remote, beside, folders):
        equivalent = _equivalent_copy(d, client, beside, folders)
        if equivalent is not None:
            return equivalent
    verified = obtain(remote, client, beside=beside, folders=folders,
                      addresses=mirror_addresses(remote.urls, base_url))
    return Located(verified.path, verified)


def _equivalent_copy(d: DatasetStep, client: HttpClient, beside: Sequence[Path],
                     folders: Sequence[Path]) -> Located | None:
    """A local file listed in ``equivalent`` whose sha256 is the one given, or None.

    Only local copies count: an equivalent has no address, so nothing is downloaded for it.
    """
    for name, digest in d.equivalent.items():
        alternative = RemoteFile(urls=(), sha256=digest, local=name)
        if not local_candidates(alternative, beside, folders):
            continue
        verified = obtain(alternative, client, beside=beside, folders=folders, addresses=())
        return Located(verified.path, verified)
    return None
