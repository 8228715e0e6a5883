"""``migtrade fetch SOURCE``: download or read a data source into the local store.

One sub-command per registered source, so that ``migtrade fetch --help`` lists the sources and
``migtrade fetch SOURCE --help`` shows the options that source takes.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from migtrade.sources.registry import SOURCES


class FormatChoice(StrEnum):
    rich = "rich"
    json = "json"


class _SourceGroup(TyperGroup):
    """Lists the known sources when asked for one that does not exist."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        # Typer ships its own copy of click, whose types differ from the installed click's.
        first = args[0] if args else ""
        if first and not first.startswith("-") and self.get_command(ctx, first) is None:
            from migtrade.errors import UsageError

            raise UsageError(f"unknown source '{first}'", f"Choose one of: {', '.join(SOURCES)}.")
        return super().resolve_command(ctx, args)


fetch_app = typer.Typer(
    cls=_SourceGroup,
    help="Download or read a data source into the local store, with provenance.",
    no_args_is_help=True,
    add_completion=False,
)

# Options shared by every source.
NAME = typer.Option(None, "--name", help="Dataset name in the store (default: the source's own).")
FILE = typer.Option(None, "--file", help="Read this downloaded copy instead of the network.")
BASE_URL = typer.Option(None, "--base-url", help="Fetch from this address (a mirror) instead of the default.")
YEARS = typer.Option(None, "--years", help="Keep these years, FIRST:LAST inclusive, e.g. 1990:2020.")
OFFLINE = typer.Option(False, "--offline", help="Use only the download cache; fail if the data are not in it.")
REFRESH = typer.Option(False, "--refresh", help="Ignore the download cache and download again.")
QUIET = typer.Option(False, "--quiet", "-q", help="No progress bars.")
STORE = typer.Option(None, "--store", help="Store folder (default: $MIGTRADE_STORE or the user data folder).")
FORMAT = typer.Option(FormatChoice.rich, "--format", "-f", help="Report on stdout: one line per dataset, or JSON.")
DATA_DIR = typer.Option(
    None, "--data-dir", metavar="DIR",
    help="Folder of local copies, searched by file name (subfolders too) before downloading; repeatable. "
         "Also $MIGTRADE_DATA_DIR.")


def _split(values: list[str] | None) -> tuple[str, ...]:
    """Repeated options that also accept comma-separated lists."""
    return tuple(v.strip() for value in values or [] for v in value.split(",") if v.strip())


def _run(source: str, *, name: str | None, store: Path | None, fmt: FormatChoice, offline: bool,
         refresh: bool, quiet: bool, years: str | None, data_dir: list[Path] | None = None,
         **options: Any) -> None:
    import json

    from migtrade.sources.base import FetchOptions, parse_years
    from migtrade.sources.http import HttpSettings
    from migtrade.sources.run import fetch_to_store
    from migtrade.sources.verified import data_dirs

    request = FetchOptions(years=parse_years(years), **options)
    settings = HttpSettings.from_env(offline=offline, refresh=refresh, quiet=quiet)
    written = fetch_to_store(source, request, name=name, store_root=store, settings=settings,
                             data_dirs=data_dirs(data_dir or ()))
    if fmt is FormatChoice.json:
        typer.echo(json.dumps([w.to_dict() for w in written], indent=2))
        return
    for w in written:
        typer.echo(f"{w.name}: {w.info.rows:,} rows, sha256 {w.provenance.sha256[:12]} "
                   f"({w.provenance.source}: {w.provenance.location})")


@fetch_app.command("worldbank", help=SOURCES["worldbank"].description)
def worldbank_command(
    indicator: list[str] | None = typer.Option(
        None, "--indicator", "-i",
        help="Indicator code, repeatable or comma-separated (default: GDP, GDP per capita PPP, population, "
             "remittances in US$ and % of GDP, trade % of GDP)."),
    years: str | None = typer.Option(None, "--years", help="Years FIRST:LAST inclusive (default 1990:2020)."),
    name: str | None = NAME, file: Path | None = FILE, base_url: str | None = BASE_URL,
    offline: bool = OFFLINE, refresh: bool = REFRESH, quiet: bool = QUIET,
    store: Path | None = STORE, fmt: FormatChoice = FORMAT,
) -> None:
    """Countries go to dataset wdi, regional and income aggregates to wdi_aggregates."""
    _run("worldbank", name=name, store=store, fmt=fmt, offline=offline, refresh=refresh, quiet=quiet,
         years=years, file=file, base_url=base_url, indicators=_split(indicator))


@fetch_app.command("undesa", help=SOURCES["undesa"].description)
def undesa_command(
    years: str | None = YEARS, name: str | None = NAME, file: Path | None = FILE,
    base_url: str | None = BASE_URL, offline: bool = OFFLINE, refresh: bool = REFRESH,
    quiet: bool = QUIET, store: Path | None = STORE, fmt: FormatChoice = FORMAT,
) -> None:
    """Writes dataset undesa_stock: origin, destination, year, stock (persons)."""
    _run("undesa", name=name, store=store, fmt=fmt, offline=offline, refresh=refresh, quiet=quiet,
         years=years, file=file, base_url=base_url)


@fetch_app.command("abel-cohen", help=SOURCES["abel-cohen"].description)
def abel_cohen_command(
    method: list[str] | None = typer.Option(
        None, "--method", help="Estimation method(s) to keep, e.g. da_pb_closed (default: all in the file)."),
    years: str | None = typer.Option(None, "--years", help="Period start years FIRST:LAST inclusive."),
    name: str | None = NAME, file: Path | None = FILE, base_url: str | None = BASE_URL,
    offline: bool = OFFLINE, refresh: bool = REFRESH, quiet: bool = QUIET,
    store: Path | None = STORE, fmt: FormatChoice = FORMAT,
) -> None:
    """Writes dataset abel_cohen_flows: origin, destination, period_start, period_end, flow, method."""
    _run("abel-cohen", name=name, store=store, fmt=fmt, offline=offline, refresh=refresh, quiet=quiet,
         years=years, file=file, base_url=base_url, methods=_split(method))


@fetch_app.command("cepii", help=SOURCES["cepii"].description)
def cepii_command(
    columns: list[str] | None = typer.Option(
        None, "--columns",
        help="Columns besides origin, destination, year: NAME or STANDARD=NAME, repeatable or "
             "comma-separated (default: trade, dist, contig, comlang, colony, rta, wto_o, wto_d)."),
    years: str | None = YEARS, name: str | None = NAME, file: Path | None = FILE,
    base_url: str | None = BASE_URL, offline: bool = OFFLINE, refresh: bool = REFRESH,
    quiet: bool = QUIET, store: Path | None = STORE, fmt: FormatChoice = FORMAT,
) -> None:
    """Streams the Gravity zip to dataset cepii_gravity without extracting it."""
    _run("cepii", name=name, store=store, fmt=fmt, offline=offline, refresh=refresh, quiet=quiet,
         years=years, file=file, base_url=base_url, columns=_split(columns))


@fetch_app.command("baci", help=SOURCES["baci"].description)
def baci_command(
    years: str | None = typer.Option(None, "--years", help="Years to read FIRST:LAST inclusive (default: all)."),
    name: str | None = NAME,
    file: Path | None = typer.Option(None, "--file", help="A downloaded release, e.g. BACI_HS92_V202401b.zip."),
    base_url: str | None = typer.Option(
        None, "--base-url", help="A mirror folder, or the address of the release's zip itself "
        "(also $MIGTRADE_BACI_URL)."),
    offline: bool = OFFLINE, refresh: bool = REFRESH,
    quiet: bool = QUIET, store: Path | None = STORE, fmt: FormatChoice = FORMAT,
) -> None:
    """Writes baci (k, year, origin, destination, i, j, v, q; sorted by k), baci_countries, baci_products."""
    _run("baci", name=name, store=store, fmt=fmt, offline=offline, refresh=refresh, quiet=quiet,
         years=years, file=file, base_url=base_url)


@fetch_app.command("file", help=SOURCES["file"].description)
def file_command(
    file: Path | None = typer.Option(
        None, "--file", help="CSV, gzip CSV, Parquet, Stata or Excel file; with --url, a local copy used "
        "when present."),
    url: list[str] | None = typer.Option(
        None, "--url", help="Address of the file; repeat for mirrors of the same bytes, tried in order."),
    sha256: str | None = typer.Option(
        None, "--sha256", help="The file's sha256 (required with --url): any other bytes are refused."),
    member: str | None = typer.Option(None, "--member", help="The member of a zip archive to read."),
    mapping: list[str] | None = typer.Option(
        None, "--map", help="Rename a column to a standard name: STANDARD=COLUMN, e.g. origin=iso_o; repeatable."),
    map_json: str | None = typer.Option(
        None, "--map-json", help='The mapping as a JSON object (or a file holding one): {"origin": "iso_o"}.'),
    base_url: str | None = typer.Option(
        None, "--base-url", help="A mirror root: each --url's path is fetched from here instead "
        "(also $MIGTRADE_FILE_URL)."),
    years: str | None = YEARS, name: str | None = NAME, data_dir: list[Path] | None = DATA_DIR,
    offline: bool = OFFLINE, refresh: bool = REFRESH, quiet: bool = QUIET,
    store: Path | None = STORE, fmt: FormatChoice = FORMAT,
) -> None:
    """Stores the file's columns, mapped ones renamed; the dataset is named after the file unless --name."""
    from migtrade.sources.userfile import parse_mapping

    _run("file", name=name, store=store, fmt=fmt, offline=offline, refresh=refresh, quiet=quiet,
         years=years, file=file, mapping=parse_mapping(mapping or [], map_json), urls=tuple(url or ()),
         sha256=sha256, member=member, base_url=base_url, data_dir=data_dir)


def _publisher_command(source: str) -> None:
    """Register ``migtrade fetch SOURCE`` for a named publisher of replication files."""
    from migtrade.sources.publishers import PUBLISHERS

    publisher = PUBLISHERS[source]
    tables = ", ".join(t.name for t in publisher.tables)

    def command(
        table: str | None = typer.Option(
            None, "--table", help=f"Which file: {tables} (default: {publisher.tables[0].name})."),
        name: str | None = typer.Option(
            None, "--name", help="Dataset name in the store (default: the table's own, "
            f"{publisher.tables[0].dataset} for the default)."),
        file: Path | None = typer.Option(
            None, "--file", help="A downloaded copy to read instead of the network (its sha256 is checked)."),
        base_url: str | None = BASE_URL, data_dir: list[Path] | None = DATA_DIR,
        offline: bool = OFFLINE, refresh: bool = REFRESH, quiet: bool = QUIET,
        store: Path | None = STORE, fmt: FormatChoice = FORMAT,
    ) -> None:
        from migtrade.sources.publishers import default_dataset

        _run(source, name=name or default_dataset(source, table), store=store, fmt=fmt,
             offline=offline, refresh=refresh, quiet=quiet, years=None, file=file, base_url=base_url,
             table=table, data_dir=data_dir)

    about = f"From {publisher.origin}. Cite {publisher.citation}. Licence: {publisher.licence}."
    fetch_app.command(source, help=f"{SOURCES[source].description}\n\n{about}",
                      short_help=SOURCES[source].description)(command)


for _source in ("yotov2016", "santos-silva-tenreyro", "ppml-fe-bias", "ge-gravity"):
    _publisher_command(_source)


def register(app: typer.Typer) -> None:
    """Add the command (group) to the app."""
    app.add_typer(fetch_app, name="fetch")
