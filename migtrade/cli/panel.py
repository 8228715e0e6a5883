"""``migtrade panel build``: assemble the dyadic trade-migration panel.

Inputs are stored datasets (by name) or files. Files in the layouts of the shared offline data
are recognised by their columns: the Yotov et al. (2016) panel, the UN DESA long (and 2019 wide)
stock tables, the Abel-Cohen long flows and World Bank tables. The panel is validated against
:mod:`migtrade.panel.schema`, stored with provenance ``source="panel"`` (every input's name and
sha256), and its coverage (share of rows with each variable, by year) and everything that could
not be matched are printed.

The 69-country panel of the shared data (Yotov trade and RTAs, UN DESA stocks, Abel-Cohen flows,
WDI GDP and population), in the four years all sources share, run from the checkout folder with
the shared data beside it::

    D=../shared/data
    migtrade panel build --name gravity_migration \\
        --trade $D/yotov2016_agtpa/agtpa_applications.csv.gz \\
        --stocks $D/undesa_migrant_stock/undesa_ims2020_bilateral_stock_long.csv.gz \\
        --flows $D/abel_cohen_flows/abel_cohen_flows_da_pb_closed_long.csv.gz \\
        --country-year $D/wdi_covariates/gdp_current_usd.csv.gz \\
        --country-year $D/wdi_covariates/population.csv.gz \\
        --years 1990:2005:5 --countries @trade

``--countries @trade`` keeps the countries of the trade input (the 69 of the Yotov data; its
retired code ROM is read as ROU), ``--years 1990:2005:5`` is 1990, 1995, 2000, 2005. The result
has 69 x 69 x 4 = 19,044 rows. Drop ``--years`` and ``--countries`` to keep every year and
country of every input (224,797 rows, 233 countries, 1986-2020). A WDI bulk-download CSV (such
as the remittances extract in ``wdi_covariates/``) can be added with one more ``--country-year``.

``--format json`` prints one object (keys stable; new keys may be added): ``schema``
("migtrade.panel-build/1"), ``name``, ``version``, ``store``, ``out``, ``rows``, ``columns``,
``years``, ``countries`` (how many), ``coverage`` ({year: {"rows": n, variable: share}}),
``unmatched`` and ``aggregates`` ({input kind: [names]}), ``notes``, ``units`` and
``provenance``.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from migtrade.panel.build import BuildReport


class OutputFormat(StrEnum):
    rich = "rich"
    json = "json"


class Level(StrEnum):
    """What one row of the panel is: a country pair and year, or a product, pair and year."""

    pair = "pair"
    product = "product"


WIDE_YEARS = 12
"""With more years than this, the coverage table has one row per year instead of per variable."""


def register(app: typer.Typer) -> None:
    """Add the command group to the app."""
    group = typer.Typer(name="panel", help="Assemble the dyadic trade-migration panel.",
                        no_args_is_help=True)
    group.command(name="build")(build_command)
    app.add_typer(group, name="panel")


def build_command(
    name: str | None = typer.Option(None, "--name", "-n", help="Store the panel under this dataset name."),
    trade: str | None = typer.Option(None, "--trade", help="Bilateral trade: dataset name or file (Yotov, CEPII)."),
    stocks: str | None = typer.Option(None, "--stocks", help="Migrant stocks: dataset name or file (UN DESA)."),
    flows: str | None = typer.Option(None, "--flows", help="Five-year migration flows: dataset name or file (Abel-Cohen)."),
    covariates: str | None = typer.Option(
        None, "--covariates", help="Dyadic covariates (dist, contig, comlang, colony, rta): dataset name or file."),
    country_year: list[str] | None = typer.Option(
        None, "--country-year",
        help="World Bank country-year data, repeatable; prefix INDICATOR= when the file has no indicator column."),
    years: str | None = typer.Option(None, "--years", help="Years to keep: 1990,1995 or 1986:2006 or 1990:2020:5."),
    countries: str | None = typer.Option(
        None, "--countries", help="Countries to keep: MEX,USA,PHL,... or @trade for those of the trade input."),
    store: Path | None = typer.Option(
        None, "--store", help="Store folder (default: $MIGTRADE_STORE, else the per-user data folder)."),
    out: Path | None = typer.Option(None, "--out", help="Also write the panel to this file (.csv, .csv.gz, .parquet)."),
    fmt: OutputFormat = typer.Option(OutputFormat.rich, "--format", "-f", help="Output format on stdout."),
    level: Level = typer.Option(
        Level.pair, "--level",
        help="pair: one row per pair and year; product: one per HS6 product, pair and year, with --trade a "
             "dataset of `migtrade fetch baci`, joined out of core."),
    fill_zeros: bool = typer.Option(
        True, "--fill-zeros/--no-fill-zeros",
        help="With --level product: every product gets every reporting pair, trade 0 where BACI lists no flow."),
) -> None:
    """Build the panel from trade, stocks, flows and covariates, and store it."""
    from migtrade.panel.build import build_panel, parse_countries, parse_years

    if out is not None:
        from migtrade.cli.output import check_writable

        check_writable(out)
    if level is Level.product:
        _build_products(name=name, trade=trade, stocks=stocks, flows=flows, covariates=covariates,
                        country_year=tuple(country_year or ()), years=parse_years(years),
                        countries=parse_countries(countries), store=store, out=out, fmt=fmt,
                        fill_zeros=fill_zeros)
        return
    report = build_panel(name=name, trade=trade, stocks=stocks, flows=flows, covariates=covariates,
                         country_year=tuple(country_year or ()), years=parse_years(years),
                         countries=parse_countries(countries), store_root=store, out=out)
    if fmt == OutputFormat.json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
        return
    _render(report)


def _build_products(*, name: str | None, trade: str | None, stocks: str | None, flows: str | None,
                    covariates: str | None, country_year: tuple[str, ...], years: list[int] | None,
                    countries: list[str] | None, store: Path | None, out: Path | None, fmt: OutputFormat,
                    fill_zeros: bool) -> None:
    from migtrade.errors import UsageError
    from migtrade.panel.product import build_product_panel

    if trade is None:
        raise UsageError("--level product needs --trade", "Give the dataset written by `migtrade fetch baci`.")
    if flows is not None:
        raise UsageError("--flows has no product-level panel", "Drop --flows, or build --level pair.")
    report = build_product_panel(name=name, trade=trade, stocks=stocks, covariates=covariates,
                                 country_year=country_year, years=years, countries=countries,
                                 fill_zeros=fill_zeros, store_root=store, out=out)
    if fmt == OutputFormat.json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
        return
    where = " and ".join(
        ([f"dataset '{report.dataset.name}' (version {report.dataset.version}) in {report.store_root}"]
         if report.dataset is not None else []) + ([f"file {report.out}"] if report.out is not None else []))
    years_text = f"{report.years[0]}-{report.years[-1]}" if report.years else "none"
    typer.echo(f"Product panel {report.rows:,} rows: {report.products:,} products x {report.dyads:,} pair-years "
               f"({years_text}), {report.positive:,} positive flows -> {where}")
    typer.echo("columns: " + ", ".join(report.columns))
    dropped = ", ".join(f"{why} {n:,}" for why, n in report.dropped.items() if n)
    typer.echo(f"BACI rows left out: {dropped or 'none'}")
    for kind, names in report.unmatched.items():
        typer.echo(f"unmatched in {kind} ({len(names)}): {', '.join(names)}")


def _render(report: BuildReport) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(file=sys.stdout, soft_wrap=False)
    result, frame = report.result, report.result.frame
    where = []
    if report.dataset is not None:
        where.append(f"dataset '{report.dataset.name}' (version {report.dataset.version}) "
                     f"in {report.store_root}")
    if report.out is not None:
        where.append(f"file {report.out}")
    n_countries = len(result.countries())
    console.print(f"[bold]Panel[/bold] {len(frame):,} rows, {n_countries} countries, "
                  f"{frame['year'].nunique()} years -> " + " and ".join(where), highlight=False)
    coverage = result.coverage
    variables = [c for c in coverage.columns if c != "rows"]
    table = Table(title="Coverage: share of rows with a value", title_justify="left")
    if len(coverage) <= WIDE_YEARS:
        table.add_column("variable")
        for year in coverage.index:
            table.add_column(str(year), justify="right")
        table.add_row("rows", *(f"{n:,}" for n in coverage["rows"]))
        for var in variables:
            table.add_row(var, *(f"{v:.0%}" for v in coverage[var]))
    else:
        table.add_column("year")
        table.add_column("rows", justify="right")
        for var in variables:
            table.add_column(var, justify="right")
        for year, row in coverage.iterrows():
            table.add_row(str(year), f"{int(row['rows']):,}", *(f"{row[v]:.0%}" for v in variables))
    console.print(table)
    for kind, names in result.unmatched.items():
        console.print(f"unmatched in {kind} ({len(names)}): {', '.join(names)}", markup=False,
                      highlight=False)
    if not result.unmatched:
        console.print("unmatched: none", highlight=False)
    for kind, names in result.aggregates.items():
        console.print(f"aggregates left out of {kind} ({len(names)}): {', '.join(names)}",
                      markup=False, highlight=False)
    for note in result.notes:
        console.print(f"note: {note}", markup=False, highlight=False)
