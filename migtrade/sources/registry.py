"""The registry of data sources: names, one-line descriptions, default addresses, dataset names.

This module imports nothing heavy, so that ``migtrade fetch --help`` can list the sources without
loading pandas; each source's code is imported only when that source is fetched.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from migtrade.errors import UsageError
from migtrade.sources.publishers import PUBLISHERS
from migtrade.sources.settings import url_env_var

if TYPE_CHECKING:
    from migtrade.sources.base import FetchContext, FetchOptions, Output

    Fetcher = Callable[[FetchOptions, FetchContext], list[Output]]


@dataclass(frozen=True)
class Source:
    """One data source that ``migtrade fetch`` knows.

    Attributes
    ----------
    name
        Registry key and sub-command name.
    description
        One line shown by ``migtrade fetch --help``.
    module
        Module holding ``fetch(options, context) -> list[Output]``; imported on first use.
    default_url
        Where the source lives on the internet; ``None`` for sources that only read local files.
    datasets
        Default names of the datasets written, main one first. Extra datasets are named
        ``<main>_<suffix>`` when the user chooses the main name with ``--name``.
    function
        The name of the fetch function in :attr:`module` (several sources may share a module).
    """

    name: str
    description: str
    module: str
    default_url: str | None
    datasets: tuple[str, ...]
    function: str = "fetch"

    def __post_init__(self) -> None:
        if not self.name or self.name != self.name.lower() or " " in self.name:
            raise ValueError(f"source name must be lower-case without spaces, not {self.name!r}")

    @property
    def env_var(self) -> str:
        """Environment variable that overrides :attr:`default_url`."""
        return url_env_var(self.name)

    def base_url(self, override: str | None = None, environ: Mapping[str, str] | None = None) -> str:
        """The address to fetch from: ``--base-url``, else the environment variable, else the default.

        Trailing slashes are removed so that paths can be appended with ``/``.
        """
        env = os.environ if environ is None else environ
        url = override or env.get(self.env_var) or self.default_url
        if not url:
            raise UsageError(f"{self.name}: this source reads local files only", "Pass --file PATH.")
        return url.rstrip("/")

    def dataset_names(self, name: str | None, file: Path | None = None) -> tuple[str, ...]:
        """Names of the datasets to write, honouring ``--name``.

        Parameters
        ----------
        name
            The user's ``--name``, or ``None`` for the defaults.
        file
            The ``--file`` given; names the dataset of sources without a default name.
        """
        if not self.datasets:
            if name:
                return (name,)
            if file is None:
                raise UsageError(f"{self.name}: no dataset name", "Pass --name NAME.")
            return (dataset_name_from_file(file),)
        if not name:
            return self.datasets
        main = self.datasets[0]
        extras = tuple(f"{name}_{extra[len(main) + 1:]}" for extra in self.datasets[1:])
        return (name, *extras)

    def fetcher(self) -> Fetcher:
        """The source's ``fetch`` function (imports its module)."""
        fetch: Fetcher = getattr(importlib.import_module(self.module), self.function)
        return fetch


def dataset_name_from_file(path: Path) -> str:
    """A store-friendly dataset name from a file name: ``My Trade-2020.csv.gz`` -> ``my_trade_2020``."""
    stem = path.name
    for suffix in (".gz", ".csv", ".tsv", ".txt", ".parquet", ".pq", ".dta", ".xlsx", ".xls"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    cleaned = "".join(ch if ch.isalnum() else "_" for ch in stem.lower()).strip("_")
    while "__" in cleaned:
        cleaned = cleaned.replace("__", "_")
    if not cleaned:
        return "data"
    return cleaned if not cleaned[0].isdigit() else f"d_{cleaned}"


_PUBLISHED = {
    "yotov2016": "Yotov et al. (2016) An Advanced Guide to Trade Policy Analysis: the book's application "
                 "files (pinned, sha256-checked), --table to choose.",
    "santos-silva-tenreyro": "Santos Silva & Tenreyro (2006) The Log of Gravity: the replication data "
                             "(pinned, sha256-checked).",
    "ppml-fe-bias": "Weidner & Zylkin (2021): the example data of the Stata package ppml_fe_bias "
                    "(pinned, sha256-checked).",
    "ge-gravity": "Baier, Yotov & Zylkin (2019): the example data of the Stata command ge_gravity "
                  "(pinned, sha256-checked).",
}

SOURCES: dict[str, Source] = {
    source.name: source
    for source in (
        Source(
            name="worldbank",
            description="World Bank Indicators API: GDP, GDP per capita PPP, population, remittances, trade/GDP by country and year.",
            module="migtrade.sources.worldbank",
            default_url="https://api.worldbank.org",
            datasets=("wdi", "wdi_aggregates"),
        ),
        Source(
            name="undesa",
            description="UN DESA International Migrant Stock 2020: bilateral migrant stock by origin and destination, 1990-2020.",
            module="migtrade.sources.undesa",
            default_url="https://www.un.org/development/desa/pd/sites/www.un.org.development.desa.pd/files",
            datasets=("undesa_stock",),
        ),
        Source(
            name="abel-cohen",
            description="Abel & Cohen bilateral migration flow estimates, five-year periods 1990-2020, by method.",
            module="migtrade.sources.abel_cohen",
            default_url="https://ndownloader.figshare.com/files",
            datasets=("abel_cohen_flows",),
        ),
        Source(
            name="cepii",
            description="CEPII Gravity database: distance, contiguity, language, colony, RTA, WTO and trade by pair and year.",
            module="migtrade.sources.cepii",
            default_url="https://www.cepii.fr/DATA_DOWNLOAD/gravity/data",
            datasets=("cepii_gravity",),
        ),
        Source(
            name="baci",
            description="CEPII BACI: bilateral trade by HS6 product and year (t, i, j, k, v, q), streamed from "
                        "its zip into a Parquet file sorted by product.",
            module="migtrade.sources.baci",
            default_url="https://www.cepii.fr/DATA_DOWNLOAD/baci/data",
            datasets=("baci", "baci_countries", "baci_products"),
        ),
        Source(
            name="file",
            description="Your own CSV, gzip CSV, Parquet, Stata or Excel file, or one given by --url and "
                        "--sha256, with columns mapped to standard names.",
            module="migtrade.sources.userfile",
            default_url=None,
            datasets=(),
        ),
        *(
            Source(
                name=publisher.source,
                description=_PUBLISHED[publisher.source],
                module="migtrade.sources.publishers",
                default_url=publisher.base_url,
                datasets=(publisher.tables[0].dataset,),
                function="fetch_" + publisher.source.replace("-", "_"),
            )
            for publisher in PUBLISHERS.values()
        ),
    )
}
"""Every source ``migtrade fetch`` knows, by name, in the order of ``--help``."""


def get_source(name: str) -> Source:
    """The registered source called ``name``, or a usage error listing the known ones."""
    try:
        return SOURCES[name]
    except KeyError:
        raise UsageError(
            f"unknown source '{name}'", f"Choose one of: {', '.join(SOURCES)}."
        ) from None
