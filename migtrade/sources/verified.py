"""Files named by their public addresses and a sha256: found locally or downloaded, then checked.

Recipe datasets with ``url`` and ``sha256``, ``migtrade fetch file --url`` and the named publishers
(:mod:`migtrade.sources.publishers`) all obtain their files here. A file is looked for, in order,

1. as a local copy: the given ``file`` beside the recipe, then the file's name in each data folder
   (``--data-dir``, then ``MIGTRADE_DATA_DIR``), subfolders included;
2. among the files verified by earlier runs (``<cache>/verified/<sha256>/<name>``);
3. at each address in turn (mirrors), through the one HTTP door (:mod:`migtrade.sources.http`),
   which caches, resumes and retries.

Whatever is found must have the sha256 given, or it is refused with both hashes named: it is not
the file the analysis was written for. A gzip-compressed local copy counts by the bytes it holds
(data folders often keep CSV files compressed). For an archive the hash is that of the archive,
and the member named is taken out of it once it has been verified.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import os
import re
import shutil
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from migtrade.errors import DataError, SourceError, UsageError
from migtrade.sources.http import HttpClient
from migtrade.sources.settings import url_env_var

DATA_DIR_ENV = "MIGTRADE_DATA_DIR"
"""Folders of local copies, separated like PATH (``:`` on POSIX, ``;`` on Windows)."""
MIRROR_SOURCE = "file"
"""Files named by URL belong to the ``file`` source: ``MIGTRADE_FILE_URL`` is their mirror root."""

_HEX = re.compile(r"[0-9a-f]{64}")
_GZIP_MAGIC = b"\x1f\x8b"
_BLOCK = 1 << 20


def check_sha256(value: str) -> str:
    """A sha256 as 64 lower-case hexadecimal digits, or a :class:`UsageError` quoting it."""
    text = value.strip().lower()
    if not _HEX.fullmatch(text):
        raise UsageError(f"'{value}' is not a sha256 (64 hexadecimal digits)",
                         "Copy it from the publisher, or compute it from a copy with `sha256sum FILE`.")
    return text


def check_url(value: str) -> str:
    """An ``http://`` or ``https://`` address with a host, or a :class:`UsageError` quoting it."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"'{value}' is not an http(s) address", "Give e.g. https://host/path/file.csv.")
    return value.strip()


def url_file_name(url: str) -> str:
    """The file name at the end of a URL's path, %-escapes decoded (``Log%20of%20Gravity.dta``)."""
    return unquote(urlsplit(url).path.rsplit("/", 1)[-1])


def data_dirs(given: Sequence[Path | str] = (), environ: Mapping[str, str] | None = None) -> tuple[Path, ...]:
    """The data folders to search: ``--data-dir`` values first, then ``MIGTRADE_DATA_DIR``."""
    env = os.environ if environ is None else environ
    from_env = [p for p in env.get(DATA_DIR_ENV, "").split(os.pathsep) if p.strip()]
    return tuple(dict.fromkeys(Path(p).expanduser() for p in (*given, *from_env)))


def mirror_addresses(urls: Sequence[str], base_url: str | None = None,
                     environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The addresses to try: ``urls``, or each URL's path under a mirror root.

    The root is ``base_url`` or else ``MIGTRADE_FILE_URL``; ``https://host/a/b.dta`` becomes
    ``ROOT/a/b.dta``. A mirror replaces the original hosts: they are not tried.
    """
    env = os.environ if environ is None else environ
    root = base_url or env.get(url_env_var(MIRROR_SOURCE))
    if not root:
        return tuple(urls)
    root = check_url(root).rstrip("/")
    moved = []
    for url in urls:
        parts = urlsplit(url)
        moved.append(root + parts.path + (f"?{parts.query}" if parts.query else ""))
    return tuple(dict.fromkeys(moved))


@dataclass(frozen=True)
class RemoteFile:
    """A file known by its addresses (mirrors of the same bytes) and their sha256.

    Attributes
    ----------
    urls
        Addresses serving the same bytes, tried in order; the first is the one cited.
    sha256
        Of the bytes served (of the archive, for a member).
    member
        For a zip archive: the member to read, as named in the archive.
    local
        The name, or a path relative to the recipe's folder, of a local copy to use when present
        (it may be a gzip-compressed copy); copies under the file's own name are looked for too.
    """

    urls: tuple[str, ...]
    sha256: str
    member: str | None = None
    local: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha256", check_sha256(self.sha256))
        object.__setattr__(self, "urls", tuple(check_url(u) for u in self.urls))
        if not self.urls and not self.local:
            raise UsageError("a checked file needs an address or a local copy", "Give url or file.")
        if not self.name:
            raise UsageError(f"cannot tell a file name from '{self.urls[0]}'",
                             "Give the name of the file as well (file = NAME).")
        if self.member is not None and (self.member.endswith("/") or not PurePosixPath(self.member).name):
            raise UsageError(f"'{self.member}' does not name a member of an archive",
                             "Give the member's path as the archive lists it, e.g. data/trade.csv.")

    @property
    def name(self) -> str:
        """The file's name: at the end of the first address, else of ``local``."""
        published = url_file_name(self.urls[0]) if self.urls else ""
        return published or (Path(self.local).name if self.local else "")

    @property
    def read_name(self) -> str:
        """The name of what is read: the member's file name, or the file's."""
        return PurePosixPath(self.member).name if self.member else self.name


@dataclass(frozen=True)
class VerifiedFile:
    """A file whose bytes have the expected sha256, ready to read.

    Attributes
    ----------
    path
        What to read (the member taken out of an archive, or a decompressed copy).
    sha256
        The verified hash (of the archive, for a member).
    url
        The address that is cited (the first), if the file has one.
    origin
        ``"local copy"``, ``"verified earlier"`` or ``"downloaded"``.
    found_at
        The local copy's path or the address the bytes came from.
    retrieved_at
        When the bytes were downloaded, for a download.
    member
        The archive member read, if any.
    """

    path: Path
    sha256: str
    url: str | None
    origin: str
    found_at: str
    retrieved_at: str | None = None
    member: str | None = None

    def describe(self) -> str:
        """``local copy /data/x.dta`` or ``downloaded from https://...``, for progress lines."""
        if self.origin == "downloaded":
            return f"downloaded from {self.found_at}"
        return f"{self.origin} {self.found_at}"

    def provenance(self) -> dict[str, Any]:
        """Where the bytes come from, for a result's data record and a table's source note."""
        record: dict[str, Any] = {"location": self.url or self.found_at, "sha256": self.sha256}
        if self.member:
            record["member"] = self.member
        if self.retrieved_at:
            record["retrieved_at"] = self.retrieved_at
        return record


def _digest(stream: IO[bytes] | gzip.GzipFile) -> str:
    h = hashlib.sha256()
    while block := stream.read(_BLOCK):
        h.update(block)
    return h.hexdigest()


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    with path.open("rb") as fh:
        return _digest(fh)


def _gzip_content_sha256(path: Path) -> str | None:
    """sha256 of what a gzip file holds, or None when it is not gzip or is damaged."""
    with path.open("rb") as fh:
        if fh.read(2) != _GZIP_MAGIC:
            return None
    try:
        with gzip.open(path, "rb") as fh:
            return _digest(fh)
    except (OSError, EOFError):
        return None


def find_copies(relative: str, beside: Sequence[Path], folders: Sequence[Path]) -> list[Path]:
    """Existing files at ``relative``, in the order they are tried.

    An absolute path is itself only. Otherwise: ``relative`` in each folder of ``beside`` (the
    recipe's), then in each data folder at the relative path, under its file name, and under
    that name in any subfolder.
    """
    wanted = Path(relative).expanduser()
    if wanted.is_absolute():
        tries: list[Path] = [wanted]
    else:
        tries = [folder / wanted for folder in beside]
        for folder in folders:
            tries += [folder / wanted, folder / wanted.name]
            if folder.is_dir():
                tries += sorted(folder.rglob(glob.escape(wanted.name)))
    seen: dict[Path, None] = {}
    for path in tries:
        if path.is_file():
            seen.setdefault(path.resolve(), None)
    return list(seen)


def local_candidates(remote: RemoteFile, beside: Sequence[Path], folders: Sequence[Path]) -> list[Path]:
    """Existing files that may be local copies of ``remote``: :func:`find_copies` of ``local``,
    then of the file's name (:attr:`RemoteFile.name`)."""
    found = find_copies(remote.local, beside, folders) if remote.local else []
    if not remote.local or Path(remote.local).name != remote.name:
        found += [p for p in find_copies(remote.name, beside, folders) if p not in found]
    return found


def obtain(remote: RemoteFile, client: HttpClient, *, beside: Sequence[Path] = (),
           folders: Sequence[Path] = (), addresses: Sequence[str] | None = None,
           source: str = MIRROR_SOURCE) -> VerifiedFile:
    """A verified copy of ``remote``: local, verified earlier, or downloaded.

    Parameters
    ----------
    remote
        The file.
    client
        The HTTP door; its cache also keeps the verified files.
    beside
        Folders where ``remote.local`` may be (the recipe's folder).
    folders
        Data folders searched by file name (:func:`data_dirs`).
    addresses
        The addresses to download from, if not ``remote.urls`` (a mirror: :func:`mirror_addresses`).
    source
        The source named in messages of the HTTP door.

    Returns
    -------
    VerifiedFile

    Raises
    ------
    SourceError
        When no copy with the right sha256 can be had: a local copy or a download with another
        hash (both hashes named), or no local copy and no address that answers.
    DataError
        When the archive lacks the member asked for.
    """
    mismatched: list[str] = []
    for path in local_candidates(remote, beside, folders):
        found = _verify_local(remote, path, client)
        if isinstance(found, VerifiedFile):
            return found
        mismatched.append(found)
    if mismatched:
        raise SourceError(f"local copy {mismatched[0]}",
                          "It is not the file the sha256 names: remove or replace it, or check the "
                          "sha256 with the publisher.")
    earlier = client.cache.verified_path(remote.sha256, remote.name)
    if earlier.is_file() and file_sha256(earlier) == remote.sha256:
        path = _extract(earlier, remote, client) if remote.member is not None else earlier
        return VerifiedFile(path, remote.sha256, _cited(remote), "verified earlier", str(earlier),
                            member=remote.member)
    return _download(remote, client, tuple(addresses if addresses is not None else remote.urls),
                     source)


def _cited(remote: RemoteFile) -> str | None:
    return remote.urls[0] if remote.urls else None


def _verify_local(remote: RemoteFile, path: Path, client: HttpClient) -> VerifiedFile | str:
    """The verified file, or the text of the mismatch: '<path> has sha256 X, not the expected Y'."""
    actual = file_sha256(path)
    cited = _cited(remote)
    if actual == remote.sha256:
        if remote.member is None:
            return VerifiedFile(path, actual, cited, "local copy", str(path))
        target = _extract(path, remote, client)
        return VerifiedFile(target, actual, cited, "local copy", str(path), member=remote.member)
    if not remote.name.lower().endswith(".gz") and _gzip_content_sha256(path) == remote.sha256:
        # Readers tell formats by name, so the content is kept under the file's own name.
        target = _keep(client, remote, partial(_gunzip, path))
        if remote.member is not None:
            target = _extract(target, remote, client)
        return VerifiedFile(target, remote.sha256, cited, "local copy", str(path), member=remote.member)
    return f"{path} has sha256 {actual}, not the expected {remote.sha256}"


def _gunzip(source: Path, target: Path) -> None:
    with gzip.open(source, "rb") as src, target.open("wb") as dst:
        shutil.copyfileobj(src, dst, _BLOCK)


def _link_or_copy(source: Path, target: Path) -> None:
    # A hard link costs no space; where the file system has none, a copy.
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _keep(client: HttpClient, remote: RemoteFile, fill: Callable[[Path], None]) -> Path:
    """The verified copy of ``remote`` under its own name, written by ``fill`` unless a copy with
    the right hash is already there (a damaged or altered one is replaced)."""
    target = client.cache.verified_path(remote.sha256, remote.name)
    if target.is_file() and file_sha256(target) == remote.sha256:
        return target
    return client.cache.keep_verified(target, fill)


def _extract(archive: Path, remote: RemoteFile, client: HttpClient) -> Path:
    """Take ``remote.member`` out of a verified zip archive into the verified files.

    The member is taken out again on every run: its bytes have no hash of their own to check a
    kept copy against, while the archive's have.
    """
    member = str(remote.member)
    target = client.cache.verified_path(remote.sha256, f"members/{remote.read_name}")
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile:
        raise DataError(f"{remote.name} is not a zip archive, so it has no member '{member}'",
                        "Leave out 'member', or give the address of the archive.") from None
    with zf:
        names = zf.namelist()
        if member not in names:
            shown = ", ".join(names[:15]) + (" ..." if len(names) > 15 else "")
            raise DataError(f"archive {remote.name} has no member '{member}'",
                            f"Its members: {shown}.")

        def fill(tmp: Path) -> None:
            with zf.open(member) as src, tmp.open("wb") as dst:
                shutil.copyfileobj(src, dst, _BLOCK)

        return client.cache.keep_verified(target, fill)


def _download(remote: RemoteFile, client: HttpClient, addresses: tuple[str, ...],
              source: str) -> VerifiedFile:
    if not addresses:
        raise SourceError(f"{remote.name}: no local copy beside the recipe or in a data folder, and "
                          "no address to download it from",
                          "Put a copy in a folder given to --data-dir (or MIGTRADE_DATA_DIR).")
    failures: list[str] = []
    wrong_hash = False
    for address in addresses:
        try:
            payload = client.fetch(address, source=source, label=remote.name)
            if payload.sha256 != remote.sha256 and payload.from_cache:
                # A payload cached before may be an older version: ask the server once more.
                client.forget(address)
                payload = client.fetch(address, source=source, label=remote.name)
        except SourceError as exc:
            detail = _without_source(exc.message, source)
            failures.append(detail if address in detail else f"{address}: {detail}")
            continue
        if payload.sha256 != remote.sha256:
            client.forget(address)
            wrong_hash = True
            failures.append(f"{address} served a file with sha256 {payload.sha256}, not the "
                            f"expected {remote.sha256}")
            continue
        target = _keep(client, remote, partial(_link_or_copy, payload.path))
        path = _extract(target, remote, client) if remote.member is not None else target
        return VerifiedFile(path, remote.sha256, _cited(remote), "downloaded", address,
                            retrieved_at=payload.retrieved_at, member=remote.member)
    hint = ("The address does not serve the file the sha256 names: check both with the publisher, or "
            "pass a folder holding the right copy with --data-dir." if wrong_hash else
            f"Put a copy of {remote.name} in a folder given to --data-dir (or MIGTRADE_DATA_DIR), or "
            "run where the network reaches the address.")
    raise SourceError(f"cannot obtain {remote.name}: " + "; ".join(failures), hint)


def _without_source(message: str, source: str) -> str:
    prefix = f"{source}: "
    return message[len(prefix):] if message.startswith(prefix) else message

