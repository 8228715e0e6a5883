"""Data for the Python API: a DataFrame, a file or a stored dataset, with where it came from.

Every analysis function of :mod:`migtrade.api` takes ``data`` as a pandas DataFrame, the path
of a CSV, gzip CSV, Parquet or Stata file, or the name of a dataset in the local store (as the
commands' ``--data``). A frame returned by :func:`load_data` or :func:`build_panel` carries its
description in ``frame.attrs["migtrade_data"]``, so results estimated on it name their source.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from migtrade.errors import UsageError, speaks_python
from migtrade.store.resolve import DATA_ATTR, resolve

Data = pd.DataFrame | str | Path
"""What every analysis function takes as ``data``."""

__all__ = ["DATA_ATTR", "Data", "build_panel", "fetch", "load_data", "resolve"]

@speaks_python
def load_data(data: str | Path, columns: Sequence[str] | None = None, *,
              store: str | Path | None = None) -> pd.DataFrame:
    """Read a data file or a stored dataset into a DataFrame.

    Parameters
    ----------
    data
        A CSV (any common delimiter, UTF-8 with or without BOM, or Latin-1), gzip CSV, Parquet
        or Stata file, or the name of a dataset in the store (``migtrade data list``).
    columns
        Read only these columns where the format allows.
    store
        The store folder; ``$MIGTRADE_STORE`` or the per-user data folder when None.

    Returns
    -------
    DataFrame
        With ``attrs["migtrade_data"]``: the path or dataset, its sha256, rows and provenance.
    """
    if isinstance(data, pd.DataFrame):
        raise UsageError("load_data reads a file or a stored dataset, and was given a DataFrame",
                         "Use the DataFrame directly.")
    frame, info = resolve(data, columns, store=store)
    frame.attrs[DATA_ATTR] = info
    return frame


@speaks_python
def fetch(source: str, *, name: str | None = None, store: str | Path | None = None,
          years: str | tuple[int, int] | None = None, offline: bool = False, refresh: bool = False,
          quiet: bool = True, data_dir: str | Path | Sequence[str | Path] = (),
          **options: Any) -> list[dict[str, Any]]:
    """Fetch a data source into the local store, as ``migtrade fetch SOURCE``.

    Parameters
    ----------
    source
        ``worldbank``, ``undesa``, ``abel-cohen``, ``cepii``, ``file`` or a named publisher
        such as ``yotov2016`` (``migtrade fetch --help`` lists them).
    name
        The stored dataset's name (default: the source's own).
    store
        The store folder.
    years
        ``"1990:2020"`` or ``(1990, 2020)``, inclusive.
    offline, refresh, quiet
        Use only the download cache; ignore it; no progress bars.
    data_dir
        Folders searched by file name for local copies of files given by address and sha256.
    **options
        The source's own options, as :class:`migtrade.sources.base.FetchOptions` names them:
        ``file``, ``base_url``, ``indicators``, ``columns``, ``methods``, ``mapping``, ``urls``,
        ``sha256``, ``member``, ``table``.

    Returns
    -------
    list of dict
        One entry per dataset written: name, rows, sha256, version, columns, provenance.
    """
    import dataclasses

    from migtrade.sources.base import FetchOptions, parse_years
    from migtrade.sources.http import HttpSettings
    from migtrade.sources.registry import SOURCES
    from migtrade.sources.run import fetch_to_store
    from migtrade.sources.verified import data_dirs

    if source not in SOURCES:
        raise UsageError(f"unknown source '{source}'", f"Choose one of: {', '.join(SOURCES)}.")
    known = {f.name for f in dataclasses.fields(FetchOptions)} - {"years"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise UsageError(f"unknown fetch option '{unknown[0]}'", f"The options are: {', '.join(sorted(known))}.")
    for key in ("indicators", "columns", "methods", "urls"):
        if isinstance(options.get(key), str):
            options[key] = (options[key],)
        elif key in options:
            options[key] = tuple(options[key])
    if "file" in options and options["file"] is not None:
        options["file"] = Path(options["file"])
    span = parse_years(years) if isinstance(years, str) or years is None else tuple(years)
    request = FetchOptions(years=span, **options)  # type: ignore[arg-type]
    settings = HttpSettings.from_env(offline=offline, refresh=refresh, quiet=quiet)
    written = fetch_to_store(source, request, name=name, store_root=store, settings=settings,
                             data_dirs=data_dirs([Path(data_dir)] if isinstance(data_dir, str | Path)
                                                 else [Path(d) for d in data_dir]))
    return [w.to_dict() for w in written]


@speaks_python
def build_panel(*, name: str | None = None, out: str | Path | None = None,
                trade: str | None = None, stocks: str | None = None, flows: str | None = None,
                covariates: str | None = None, country_year: str | Sequence[str] = (),
                years: str | Sequence[int] | None = None, countries: str | Sequence[str] | None = None,
                store: str | Path | None = None) -> pd.DataFrame:
    """Assemble the dyadic trade-migration panel, as ``migtrade panel build``.

    Parameters
    ----------
    name, out
        Store the panel under ``name``, write it to the file ``out``, or both (one is needed).
    trade, stocks, flows, covariates
        Dyadic inputs: files or stored dataset names.
    country_year
        Country-year inputs (``SP.POP.TOTL=pop.csv`` names the indicator).
    years
        ``"1990:2020:5"`` or a list of years.
    countries
        ``"MEX,USA"``, a list, or ``"@trade"`` for the countries of an input.
    store
        The store folder.

    Returns
    -------
    DataFrame
        The panel, with ``attrs["migtrade_data"]`` naming the stored dataset or file.
    """
    from migtrade.panel.build import build_panel as build
    from migtrade.panel.build import parse_countries, parse_years

    year_list = parse_years(years) if isinstance(years, str) or years is None else [int(y) for y in years]
    country_list = parse_countries(countries) if isinstance(countries, str) or countries is None \
        else list(countries)
    report = build(name=name, trade=trade, stocks=stocks, flows=flows, covariates=covariates,
                   country_year=(country_year,) if isinstance(country_year, str) else tuple(country_year), years=year_list, countries=country_list,
                   store_root=Path(store) if store is not None else None,
                   out=Path(out) if out is not None else None)
    frame = report.result.frame
    if report.dataset is not None:
        info: dict[str, Any] = {"dataset": report.dataset.name, "sha256": report.dataset.file_sha256,
                                "rows": report.dataset.rows, "provenance": report.provenance.to_dict()}
    else:
        from migtrade.store.files import sha256_of

        assert report.out is not None  # build refuses to run with neither name nor out
        info = {"path": str(report.out), "sha256": sha256_of(report.out), "rows": len(frame)}
    frame.attrs[DATA_ATTR] = info
    return frame
