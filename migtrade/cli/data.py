"""``migtrade data``: list, show, export, query and remove stored datasets.

Every subcommand takes ``--store PATH`` (default: ``$MIGTRADE_STORE``, else the per-user data
folder). Tables go to stdout; confirmations of ``export`` and ``remove`` go to stderr, so that
stdout stays clean for scripts.

``migtrade data list --format json`` prints a JSON list, one object per dataset, sorted by name.
The keys are stable; scripts may rely on them::

    [
      {
        "name": "wdi-gdp",                 # dataset name
        "source": "worldbank",             # = provenance.source
        "rows": 8778,                      # rows stored
        "columns": ["iso3", "year", ...],  # in stored order
        "version": 2,                      # 1 at first write, +1 per overwrite
        "written_at": "2024-05-01T12:00:00Z",
        "file_sha256": "…",                # of the stored Parquet file
        "provenance": {
          "source": "worldbank",
          "location": "https://…",         # URL or path of the raw payload
          "retrieved_at": "2024-05-01T11:59:58Z",
          "sha256": "…",                   # of the raw payload
          "parser_version": "1",
          "rows": 8778,
          "options": {...},                # what was asked for
          "inputs": [{"name": ..., "sha256": ...}, ...]   # derived datasets; else []
        }
      }
    ]

New keys may be added; none will be removed or change meaning without a new major version.
``--format csv`` prints one line per dataset with the header
``name,source,rows,n_columns,version,written_at,location``.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    import pandas as pd

    from migtrade.store.catalog import Store

RICH_MAX_ROWS = 100
"""Rows a rich table shows; the CSV and JSON formats print every row."""


class OutputFormat(StrEnum):
    rich = "rich"
    json = "json"
    csv = "csv"


STORE_HELP = "Store folder (default: $MIGTRADE_STORE, else the per-user data folder)."
FORMAT_HELP = "Output format on stdout."


def register(app: typer.Typer) -> None:
    """Add the command group to the app."""
    group = typer.Typer(name="data", help="List, show, export, query and remove stored datasets.",
                        no_args_is_help=True)
    group.command(name="list")(list_command)
    group.command(name="show")(show_command)
    group.command(name="export")(export_command)
    group.command(name="sql")(sql_command)
    group.command(name="remove")(remove_command)
    app.add_typer(group, name="data")


def _store(path: Path | None) -> Store:
    from migtrade.store.catalog import Store

    return Store(path)


def list_command(
    fmt: OutputFormat = typer.Option(OutputFormat.rich, "--format", "-f", help=FORMAT_HELP),
    store: Path | None = typer.Option(None, "--store", help=STORE_HELP),
) -> None:
    """List the stored datasets with their source, size and version."""
    st = _store(store)
    infos = st.list()
    if fmt == OutputFormat.json:
        import json

        sys.stdout.write(json.dumps([i.to_dict() for i in infos], indent=2) + "\n")
        return
    if fmt == OutputFormat.csv:
        rows = [[i.name, i.provenance.source, str(i.rows), str(len(i.columns)), str(i.version),
                 i.written_at, i.provenance.location] for i in infos]
        _write_csv(["name", "source", "rows", "n_columns", "version", "written_at", "location"], rows)
        return
    if not infos:
        sys.stdout.write(f"No datasets in the store at {st.root}.\n")
        return
    # What a person needs first, on one line per dataset at any width: the name, size, source
    # and date in full, where it came from by file name (every path: data show or --format json).
    rows = [[i.name, f"{i.rows:,}", str(len(i.columns)), i.provenance.source,
             i.written_at[:10], str(i.version), _short_location(i.provenance.location)] for i in infos]
    _print_rich(["name", "rows", "cols", "source", "written", "v", "from"], rows,
                title=f"Datasets in {st.root}", folding=("from",))


def show_command(
    name: str = typer.Argument(..., help="Dataset name."),
    rows: int = typer.Option(10, "--rows", "-n", min=0, help="How many first rows to show."),
    fmt: OutputFormat = typer.Option(OutputFormat.rich, "--format", "-f", help=FORMAT_HELP),
    store: Path | None = typer.Option(None, "--store", help=STORE_HELP),
) -> None:
    """Show a dataset's provenance and its first rows.

    ``--format json`` prints ``{"dataset": <as in data list>, "head": [<row objects>]}``;
    ``--format csv`` prints only the first rows.
    """
    st = _store(store)
    info = st.info(name)
    head = st.head(name, rows)
    if fmt == OutputFormat.json:
        import json

        payload = {"dataset": info.to_dict(), "head": _records(head)}
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    if fmt == OutputFormat.csv:
        head.to_csv(sys.stdout, index=False)
        return
    import json

    prov = info.provenance
    # What a person needs first comes first; every location on a line of its own; the long
    # options record last.
    facts = [
        ("name", info.name), ("rows", f"{info.rows:,}"),
        ("columns", f"{len(info.columns)}: " + ", ".join(info.columns)), ("source", prov.source),
        *(("from", part) for part in _locations(prov.location)),
        ("written_at", f"{info.written_at} (version {info.version})"),
        ("retrieved_at", prov.retrieved_at), ("file sha256", info.file_sha256),
        ("payload sha256", prov.sha256), ("parser", f"{prov.parser_version}, {prov.rows:,} rows parsed"),
    ]
    for item in prov.inputs:
        facts.append(("input", " ".join(f"{k}={v}" for k, v in item.items())))
    if prov.options:
        facts.append(("options", json.dumps(prov.options, sort_keys=True)))
    _print_rich(["field", "value"], [list(f) for f in facts], title=f"Dataset {info.name}")
    _print_frame(head, title=f"First {len(head)} of {info.rows:,} rows")


def export_command(
    name: str = typer.Argument(..., help="Dataset name."),
    to: Path = typer.Option(..., "--to", help="Output file: .csv, .csv.gz, .parquet or .dta."),
    force: bool = typer.Option(False, "--force", help="Overwrite the output file if it exists."),
    store: Path | None = typer.Option(None, "--store", help=STORE_HELP),
) -> None:
    """Write a dataset to a file, checked against its recorded sha256 and written atomically."""
    st = _store(store)
    st.export(name, to, overwrite=force)
    sys.stderr.write(f"exported dataset '{name}' to {to}\n")


def sql_command(
    query: str = typer.Argument(..., help='Read-only SQL, e.g. "SELECT year, count(*) FROM gdp GROUP BY year".'),
    fmt: OutputFormat = typer.Option(OutputFormat.rich, "--format", "-f", help=FORMAT_HELP),
    store: Path | None = typer.Option(None, "--store", help=STORE_HELP),
) -> None:
    """Query the stored datasets with DuckDB SQL; each dataset is a view named after it.

    Only SELECT, WITH, DESCRIBE and SHOW are accepted. Quote names with '-' or '.' in double
    quotes: SELECT * FROM "wdi-gdp". ``--format json`` prints a list of row objects.
    """
    frame = _store(store).sql(query)
    if fmt == OutputFormat.json:
        import json

        sys.stdout.write(json.dumps(_records(frame), indent=2) + "\n")
    elif fmt == OutputFormat.csv:
        frame.to_csv(sys.stdout, index=False)
    else:
        _print_frame(frame, title=None)


def remove_command(
    name: str = typer.Argument(..., help="Dataset name."),
    store: Path | None = typer.Option(None, "--store", help=STORE_HELP),
) -> None:
    """Delete a stored dataset (no confirmation; an error if it does not exist)."""
    _store(store).remove(name)
    sys.stderr.write(f"removed dataset '{name}'\n")


# -- rendering ---------------------------------------------------------------------------------

def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    import json

    records: list[dict[str, Any]] = json.loads(frame.to_json(orient="records", date_format="iso"))
    return records


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    text = str(value)
    return "" if text in ("<NA>", "NaT", "nan") else text


def _print_frame(frame: pd.DataFrame, title: str | None) -> None:
    shown = frame.head(RICH_MAX_ROWS)
    rows = [[_cell(v) for v in row] for row in shown.itertuples(index=False, name=None)]
    _print_rich([str(c) for c in frame.columns], rows, title=title)
    if len(frame) > len(shown):
        sys.stdout.write(f"... {len(frame) - len(shown):,} more rows (use --format csv for all)\n")


def _locations(location: str) -> list[str]:
    """The paths or addresses of a location; a derived dataset's are joined by '+'."""
    return [p for p in location.split("+") if p] or [location]


def _short_location(location: str) -> str:
    """``agtpa.csv.gz +2 more`` for a location of three paths: file names only."""
    parts = _locations(location)
    first = parts[0].rstrip("/").rsplit("/", 1)[-1] or parts[0]
    return first if len(parts) == 1 else f"{first} +{len(parts) - 1} more"


def _print_rich(head: list[str], rows: list[list[str]], title: str | None,
                folding: tuple[str, ...] | None = None) -> None:
    """A table; columns not in ``folding`` (all when None) are never wrapped (cut with '…')."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # Text() keeps data such as "[x]" from being read as rich markup.
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in head:
        if folding is None or column in folding:
            table.add_column(Text(column), overflow="fold")
        else:
            table.add_column(Text(column), no_wrap=True)
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    Console(file=sys.stdout, soft_wrap=False, highlight=False).print(table)


def _write_csv(head: list[str], rows: list[list[str]]) -> None:
    import csv

    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(head)
    writer.writerows(rows)
