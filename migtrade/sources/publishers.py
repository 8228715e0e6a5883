"""Published replication files by name: the Yotov et al. (2016) book data, Santos Silva & Tenreyro
(2006), and the examples of ``ppml_fe_bias`` and ``ge_gravity``.

Each publisher's files are pinned: an address at a fixed commit of the repository that holds them,
a second address serving the same bytes (jsDelivr's copy of that commit), and the sha256 of the
bytes. ``migtrade fetch yotov2016`` obtains the file through :func:`migtrade.sources.verified.obtain`
(a local copy in ``--data-dir`` first, then the download cache, then the addresses), refuses any
other bytes, and stores the table with its provenance. ``--base-url`` or
``MIGTRADE_<SOURCE>_URL`` replaces the repository address (a mirror holding the same paths).

The addresses and hashes were taken from the repositories at the commits named; where the
collection of shared test data holds the same files, their recorded sha256 agree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from migtrade.errors import UsageError
from migtrade.sources.base import FetchContext, FetchOptions, Output, make_provenance, utc_now

if TYPE_CHECKING:
    import pandas as pd

_JSDELIVR = "https://cdn.jsdelivr.net/gh"
_RAW = "https://raw.githubusercontent.com"


@dataclass(frozen=True)
class PublishedTable:
    """One file of a publisher.

    Attributes
    ----------
    name
        What ``--table`` takes (matched without regard to case).
    path
        The file's path below the publisher's base address.
    sha256
        Of the file's bytes.
    dataset
        Its default name in the store.
    description
        What it holds, one line.
    """

    name: str
    path: str
    sha256: str
    dataset: str
    description: str


@dataclass(frozen=True)
class Publisher:
    """A collection of replication files pinned at one commit of one repository.

    Attributes
    ----------
    source
        The registry name (``migtrade fetch SOURCE``).
    repository, commit, folder
        Where the files are on GitHub: ``owner/name``, the commit, the folder below the root.
    tables
        The files, the default first.
    origin
        The authors' or publisher's own page for the data.
    citation, licence
        What to cite, and the licence the holders state.
    lower_case
        Write column names in lower case (the book's application files spell them DIST, CNTG...;
        its text and formulas spell them dist, cntg...).
    """

    source: str
    repository: str
    commit: str
    folder: str
    tables: tuple[PublishedTable, ...]
    origin: str
    citation: str
    licence: str
    lower_case: bool = False

    @property
    def base_url(self) -> str:
        """The repository's raw files at the pinned commit: the default address."""
        return f"{_RAW}/{self.repository}/{self.commit}/{self.folder}"

    @property
    def mirror_url(self) -> str:
        """jsDelivr's copy of the same commit: the same bytes from another host."""
        return f"{_JSDELIVR}/{self.repository}@{self.commit}/{self.folder}"

    def table(self, name: str | None) -> PublishedTable:
        """The table called ``name`` (the default when None), or a usage error listing them."""
        if name is None:
            return self.tables[0]
        for table in self.tables:
            if table.name.lower() == name.strip().lower():
                return table
        raise UsageError(f"{self.source}: no table '{name}'",
                         f"Choose one of: {', '.join(t.name for t in self.tables)}.")


def _yotov(name: str, chapter: int, sha256: str, description: str) -> PublishedTable:
    dataset = "yotov2016" if name == "Chapter2Application2" else f"yotov2016_{name.lower()}"
    return PublishedTable(name, f"Chapter{chapter}/Datasets/{name}.dta", sha256, dataset, description)


PUBLISHERS: dict[str, Publisher] = {p.source: p for p in (
    Publisher(
        source="yotov2016",
        repository="pachadotdev/tradepolicy",
        commit="342a6553e67f53912212a35674e066f9344dd655",
        folder="00-application-files",
        tables=(
            _yotov("Chapter2Application2", 2, "60ead74eb51db9c4d0406a4b7668e97cbedbeaccf324beba362123f7ae547547",
                   "69 countries, 1986-2006, domestic flows included: trade, DIST, CNTG, LANG, CLNY, RTA, "
                   "pair_id; every variable of chapter 1's Tables 1 and 3 and of chapter 2's NAFTA application"),
            _yotov("Chapter1Application1", 1, "90f70f002e107cd91e4e2bed5e3dd9df535d555934c04fb86eec02995826eea6",
                   "chapter 1, traditional gravity: trade, DIST, CNTG, LANG, CLNY, pair_id"),
            _yotov("Chapter1Application2", 1, "2b2313c0d719cc95bbe1f9886f895d233114bc76e34b1cc306d7a88704b6c97c",
                   "chapter 1, the distance puzzle"),
            _yotov("Chapter1Exercise1", 1, "bc6bf01c885e4f50cecb9de8af2c622efc8b3a4b4c2f0a0f46edecb1ca8d89b2",
                   "chapter 1, exercise 1: WTO membership"),
            _yotov("Chapter1Exercise2", 1, "dad3bb71ccfb4c179b03d77ddb87d38641f723f94cf0b43de25a331153a379a2",
                   "chapter 1, exercise 2: unilateral (MFN) tariffs"),
            _yotov("Chapter2Application1", 2, "c0c0c0f52e627f95e95e9bd28044f33c51b13aca43c5c1fdfb72607b3c8830fd",
                   "chapter 2, application 1: trade without borders"),
            _yotov("Chapter2Exercise1", 2, "92fc599c32bcb36b15713b5136e146527307905e5e8b84e567e1317d41fc37ea",
                   "chapter 2, exercise 1"),
            _yotov("Chapter2Exercise2", 2, "3fcdb567b4abe7f21fda0c0c53adc81df55028059af5589e0a778a8a13110d27",
                   "chapter 2, exercise 2"),
        ),
        origin="https://vi.unctad.org/tpa (the book's site at the UNCTAD Virtual Institute: e-book, data "
               "and Stata code); the files as kept in the CRAN package tradepolicy's repository",
        citation="Yotov, Piermartini, Monteiro & Larch (2016), An Advanced Guide to Trade Policy "
                 "Analysis: The Structural Gravity Model, WTO and UNCTAD, ISBN 978-92-870-4367-2",
        licence="CC BY 4.0 (tradepolicy)",
        lower_case=True,
    ),
    Publisher(
        source="santos-silva-tenreyro",
        repository="bryangraham/short_courses",
        commit="527c4ed2180c7c9832a6c6068fbdab483e23bece",
        folder="St_Gallen/2024/Data",
        tables=(PublishedTable(
            "log-of-gravity", "Log of Gravity.dta",
            "a5382105ac7b19f4543828505208440df5e0cc1342a80c0fd2ab4a839c638bd5", "log_of_gravity",
            "136 countries, 1990, 18,360 directed pairs: trade (thousands of US$), ldist, border, "
            "comlang, colony, GDP and remoteness, bloc dummies"),),
        origin="http://personal.lse.ac.uk/tenreyro/LGW.html (the authors' data page)",
        citation="Santos Silva & Tenreyro (2006), The Log of Gravity, Review of Economics and "
                 "Statistics 88(4): 641-658",
        licence="not stated (academic replication data)",
    ),
    Publisher(
        source="ppml-fe-bias",
        repository="tomzylkin/ppml_fe_bias",
        commit="58f5f8d2ec59db69a8d3fd67d0cbb4bacbdcac51",
        folder="examples",
        tables=(PublishedTable(
            "example", "PPMLFEBIAS_EXAMPLE_DATA.dta",
            "5be70f792c03911a61dd29cb06f070e6f16d04b27ed9de255dc436a8139a4c22", "ppml_fe_bias_example",
            "65 countries, 1988-2004 every four years, three categories: trade, fta, ln_distw, "
            "contig, colony, comlang_off, comleg"),),
        origin="https://github.com/tomzylkin/ppml_fe_bias (the Stata package's own repository)",
        citation="Weidner & Zylkin (2021), Bias and consistency in three-way gravity models, "
                 "Journal of International Economics 132: 103513",
        licence="not stated (academic replication data)",
    ),
    Publisher(
        source="ge-gravity",
        repository="VKudlay/GEGravity",
        commit="a5c1db9ceeab57fdda00d79a6f3c484a8001ac1d",
        folder="Stata",
        tables=(PublishedTable(
            "example", "GE_gravity_example_data.dta",
            "7ee1449250cc98c2b508f2a346a6bbe1c528e68cb931b5857427afd708726a27", "ge_gravity_example",
            "44 economies (WIOD), 2000, 2005, 2010, 2014, domestic flows included: trade, "
            "eu_enlargement, other_fta, FTA"),),
        origin="the example of the Stata command ge_gravity (SSC), whose do-file reads this file "
               "from this repository",
        citation="Baier, Yotov & Zylkin (2019), On the widely differing effects of free trade "
                 "agreements, Journal of International Economics 116: 206-226",
        licence="GPL-3 (GEGravity)",
    ),
)}
"""Every publisher ``migtrade fetch`` knows by name."""


def default_dataset(source: str, table: str | None) -> str:
    """The store name of a publisher's table when ``--name`` is not given."""
    return PUBLISHERS[source].table(table).dataset


def table_addresses(publisher: Publisher, table: PublishedTable, base: str | None = None) -> tuple[str, ...]:
    """The table's addresses: under ``base`` only when given, else the repository and its mirror."""
    path = quote(table.path)
    bases = (base,) if base else (publisher.base_url, publisher.mirror_url)
    return tuple(f"{b.rstrip('/')}/{path}" for b in bases)


def _tidy(frame: pd.DataFrame, publisher: Publisher) -> pd.DataFrame:
    """Lower-case names where the publisher's text does; whole-number floats (Stata's year and
    pair_id are stored as floats in the book's files) as integers."""
    import numpy as np

    if publisher.lower_case:
        frame = frame.rename(columns={c: str(c).lower() for c in frame.columns})
    for column in ("year", "pair_id"):
        if column in frame.columns and frame[column].dtype.kind == "f":
            values = frame[column].to_numpy()
            if np.isfinite(values).all() and (values == np.round(values)).all():
                frame[column] = values.astype("int64")
    return frame


def fetch_published(source: str, options: FetchOptions, ctx: FetchContext) -> list[Output]:
    """Obtain a publisher's table, verified by its sha256, and read it.

    Parameters
    ----------
    source
        A key of :data:`PUBLISHERS`.
    options
        ``table`` (the default when None), ``file`` (a local copy to use), ``base_url``.
    ctx
        The HTTP door and the data folders searched for local copies.

    Returns
    -------
    list[Output]
        One dataset: the table's columns (see :class:`Publisher` ``lower_case``).
    """
    from pathlib import Path

    from migtrade.sources.settings import url_env_var
    from migtrade.sources.verified import RemoteFile, obtain
    from migtrade.store.files import read_table

    publisher = PUBLISHERS[source]
    table = publisher.table(options.table)
    override = options.base_url or os.environ.get(url_env_var(source))
    remote = RemoteFile(urls=table_addresses(publisher, table), sha256=table.sha256,
                        local=str(options.file) if options.file else None)
    found = obtain(remote, ctx.client, beside=(Path.cwd(),), folders=ctx.data_dirs,
                   addresses=table_addresses(publisher, table, override) if override else None,
                   source=source)
    frame = _tidy(read_table(found.path), publisher)
    provenance = make_provenance(
        source=source, location=found.url or found.found_at,
        retrieved_at=found.retrieved_at or utc_now(), sha256=found.sha256,
        parser_version=f"{source}/1", rows=len(frame),
        options={**options.record(), "table": table.name, "obtained": found.describe(),
                 "citation": publisher.citation, "licence": publisher.licence})
    return [Output(provenance=provenance, frame=frame)]


def fetch_yotov2016(options: FetchOptions, ctx: FetchContext) -> list[Output]:
    """``migtrade fetch yotov2016``."""
    return fetch_published("yotov2016", options, ctx)


def fetch_santos_silva_tenreyro(options: FetchOptions, ctx: FetchContext) -> list[Output]:
    """``migtrade fetch santos-silva-tenreyro``."""
    return fetch_published("santos-silva-tenreyro", options, ctx)


def fetch_ppml_fe_bias(options: FetchOptions, ctx: FetchContext) -> list[Output]:
    """``migtrade fetch ppml-fe-bias``."""
    return fetch_published("ppml-fe-bias", options, ctx)


def fetch_ge_gravity(options: FetchOptions, ctx: FetchContext) -> list[Output]:
    """``migtrade fetch ge-gravity``."""
    return fetch_published("ge-gravity", options, ctx)
