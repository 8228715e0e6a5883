"""Fetch a source and store what it produced: the one call behind ``migtrade fetch``."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from migtrade.errors import UsageError
from migtrade.sources.base import FetchContext, FetchOptions
from migtrade.sources.http import HttpClient, HttpSettings
from migtrade.sources.registry import get_source

if TYPE_CHECKING:
    from migtrade.store.provenance import DatasetInfo, Provenance


@dataclass(frozen=True)
class Written:
    """One dataset stored by a fetch."""

    name: str
    provenance: Provenance
    info: DatasetInfo

    def to_dict(self) -> dict[str, object]:
        """Name, rows, sha256 of the raw payload, and the full provenance, for ``--format json``."""
        return {"name": self.name, "rows": self.info.rows, "sha256": self.provenance.sha256,
                "version": self.info.version, "columns": list(self.info.columns),
                "provenance": self.provenance.to_dict()}


def fetch_to_store(source_name: str, options: FetchOptions, *, name: str | None = None,
                   store_root: str | Path | None = None, settings: HttpSettings | None = None,
                   data_dirs: tuple[Path, ...] = ()) -> list[Written]:
    """Fetch ``source_name`` and write its datasets to the store.

    Nothing is written until every dataset of the source has been fetched and parsed, so a
    failure leaves the store as it was.

    Parameters
    ----------
    source_name
        A key of :data:`migtrade.sources.SOURCES`.
    options
        What to fetch (file, base URL, years, indicators...).
    name
        ``--name`` of the main dataset; ``None`` for the source's default names.
    store_root
        Store folder; ``None`` for ``$MIGTRADE_STORE`` or the per-user default.
    settings
        HTTP settings; ``HttpSettings.from_env()`` when ``None``.
    data_dirs
        Folders searched by file name for local copies of files given by URL and sha256.

    Returns
    -------
    list[Written]
        The datasets written, main one first.
    """
    from migtrade.store.catalog import Store
    from migtrade.store.names import check_name

    source = get_source(source_name)
    if source.default_url is None and options.file is None and not options.urls:
        raise UsageError(f"{source.name}: no file given",
                         "Pass --file PATH, or --url URL with --sha256 HEX.")
    if source.default_url is None and options.base_url and not options.urls:
        raise UsageError(f"{source.name}: --base-url applies to files given by --url only")
    named_by = options.file
    if named_by is None and options.urls:
        from migtrade.sources.verified import url_file_name

        named_by = Path(url_file_name(options.urls[0]))
    names = source.dataset_names(name, named_by)
    for each in names:
        check_name(each)
    settings = settings or HttpSettings.from_env()
    with tempfile.TemporaryDirectory(prefix="migtrade-fetch-") as tmp, HttpClient(settings) as client:
        context = FetchContext(client=client, workdir=Path(tmp), quiet=settings.quiet,
                               data_dirs=data_dirs)
        outputs = source.fetcher()(options, context)
        if len(outputs) != len(names):
            raise RuntimeError(f"{source.name} produced {len(outputs)} datasets for {len(names)} names")
        store = Store(store_root)
        written = []
        for each, out in zip(names, outputs, strict=True):
            if out.frame is not None:
                info = store.write(each, out.frame, out.provenance)
            else:
                assert out.parquet is not None
                info = store.write_from_parquet(each, out.parquet, out.provenance)
            written.append(Written(name=each, provenance=out.provenance, info=info))
    return written
