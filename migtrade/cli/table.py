"""``migtrade table``: render saved results side by side, without estimating again."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from migtrade.report.table import TableOptions


class TableFormat(StrEnum):
    rich = "rich"
    md = "md"
    latex = "latex"
    html = "html"
    csv = "csv"
    json = "json"
    text = "text"


# The format a file name implies when --format is not given.
SUFFIX_FORMATS: dict[str, TableFormat] = {
    ".md": TableFormat.md, ".markdown": TableFormat.md, ".tex": TableFormat.latex,
    ".html": TableFormat.html, ".htm": TableFormat.html, ".csv": TableFormat.csv,
    ".json": TableFormat.json, ".txt": TableFormat.text,
}

_REGEX = "Regular expression searched in the coefficient names as estimated (before --rename); repeatable."


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command(name="table")(table_command)


def table_command(
    files: list[Path] = typer.Argument(
        ..., metavar="RESULT", help="Files written by 'migtrade estimate --save' (one result or a list each)."),
    fmt: TableFormat | None = typer.Option(
        None, "--format", "-f", help="Output format. Default: from the -o extension (.md .tex .html .csv "
        ".json .txt), else rich. csv and json keep full precision; json writes the results themselves."),
    keep: list[str] | None = typer.Option(None, "--keep", help=f"Show only matching coefficients. {_REGEX}"),
    drop: list[str] | None = typer.Option(None, "--drop", help=f"Hide matching coefficients. {_REGEX}"),
    order: list[str] | None = typer.Option(
        None, "--order", help=f"Put matching coefficients first, in the order of the patterns. {_REGEX}"),
    rename: list[str] | None = typer.Option(
        None, "--rename", help="OLD=NEW: show a coefficient, outcome or fixed effect under another name; "
        "coefficients renamed alike share a row. Repeatable."),
    se: bool = typer.Option(False, "--se", help="Standard errors in parentheses below the estimates (default)."),
    tstat: bool = typer.Option(False, "--tstat", help="t statistics in parentheses instead."),
    ci: bool = typer.Option(False, "--ci", help="Confidence intervals in brackets instead."),
    bootstrap_p: bool = typer.Option(
        False, "--bootstrap-p", help="Bootstrap p-values in braces instead, with stars from them "
        "(results of 'migtrade estimate --bootstrap')."),
    bootstrap_ci: bool = typer.Option(
        False, "--bootstrap-ci", help="Bootstrap confidence intervals (test inversion) in brackets "
        "instead, with stars from the bootstrap p-values."),
    stars: str = typer.Option("0.1,0.05,0.01", "--stars", help="Significance levels, comma-separated, or none."),
    digits: int = typer.Option(3, "--digits", help="Decimal places."),
    title: str | None = typer.Option(None, "--title", help="Caption of the table."),
    standalone: bool = typer.Option(
        False, "--standalone", help="latex: a document that compiles on its own; html: a complete page."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write to this file (atomically) instead of stdout; rich becomes text."),
) -> None:
    """Show saved estimation results side by side as a regression table.

    Rows: estimates with stars and standard errors, fixed effects, fit, clusters, drops, conventions.

    A file written by 'migtrade ge --save' is shown as its general-equilibrium table (rich, md, latex, csv, json).

    A note names each model's data: file or stored dataset, sha256 prefix and provenance.
    """
    import sys

    from migtrade.atomic import write_text
    from migtrade.cli.output import check_writable
    from migtrade.errors import UsageError
    from migtrade.report.load import load_results
    from migtrade.report.render import render_table
    from migtrade.report.table import TableOptions

    if sum((se, tstat, ci, bootstrap_p, bootstrap_ci)) > 1:
        raise UsageError("--se, --tstat, --ci, --bootstrap-p and --bootstrap-ci exclude each other",
                         "Choose one.")
    chosen = fmt or (SUFFIX_FORMATS.get(output.suffix.lower(), TableFormat.rich) if output else TableFormat.rich)
    if output is not None and chosen is TableFormat.rich:
        chosen = TableFormat.text
    if standalone and chosen not in (TableFormat.latex, TableFormat.html):
        raise UsageError(f"--standalone does not apply to {chosen.value}", "Use it with --format latex or html.")
    options = TableOptions(
        keep=tuple(keep or ()), drop=tuple(drop or ()), order=tuple(order or ()),
        rename=tuple(_pair(r) for r in rename or ()),
        statistic=("tstat" if tstat else "ci" if ci else "boot_p" if bootstrap_p
                   else "boot_ci" if bootstrap_ci else "se"),
        stars=_levels(stars), digits=digits, title=title,
    )
    if output is not None:
        check_writable(output)
    ge_doc = _ge_document(files)
    if ge_doc is not None:
        _write(_ge_text(ge_doc, chosen, title, standalone), output)
        return
    if _split_text(files, chosen, options, standalone, output):
        return
    results = load_results(files)
    if chosen is TableFormat.rich:
        from migtrade.report.table import build_table
        from migtrade.report.terminal import print_rich

        print_rich(build_table(results, options), results, sys.stdout)
        return
    text = render_table(results, chosen.value, options, standalone=standalone)
    if output is None:
        sys.stdout.write(text)
    else:
        write_text(output, text)


def _split_text(files: list[Path], fmt: TableFormat, options: TableOptions, standalone: bool,
                output: Path | None) -> bool:
    """Show a split run's file (``estimate --split --save``) in long form; False when it is not one."""
    import sys

    from migtrade.errors import UsageError
    from migtrade.report.split_render import print_split_rich, render_split
    from migtrade.report.split_table import load_split_file

    split = [load_split_file(f) for f in files]
    if all(s is None for s in split):
        return False
    if len(files) != 1:
        raise UsageError("a split run's results are shown one file at a time",
                         "Pass the one file that 'migtrade estimate --split' saved.")
    entries = split[0]
    assert entries is not None
    if fmt is TableFormat.rich:
        print_split_rich(entries, options, sys.stdout)
    else:
        _write(render_split(entries, fmt.value, options, standalone=standalone), output)
    return True


def _write(text: str, output: Path | None) -> None:
    import sys

    from migtrade.atomic import write_text

    if output is None:
        sys.stdout.write(text)
    else:
        write_text(output, text)


def _ge_document(files: list[Path]) -> dict | None:
    """The document when the one file given is a general-equilibrium result (``migtrade ge --save``)."""
    import json

    if len(files) != 1:
        return None
    try:
        obj = json.loads(files[0].read_bytes())
    except (OSError, ValueError):
        return None  # reported by the loader of estimation results
    schema = obj.get("schema") if isinstance(obj, dict) else None
    return obj if isinstance(schema, str) and schema.startswith("migtrade.ge/") else None


def _ge_text(doc: dict, fmt: TableFormat, title: str | None, standalone: bool) -> str:
    """A GE result in the formats of its own table (the regression options do not apply)."""
    from migtrade.errors import UsageError
    from migtrade.report.ge_table import GE_FORMATS, render_ge

    name = "rich" if fmt is TableFormat.text else fmt.value  # plain text is rich without colour
    if name not in GE_FORMATS or standalone:
        raise UsageError(f"a general-equilibrium result has no {fmt.value}"
                         + (" standalone" if standalone else "") + " table",
                         f"Use --format {', '.join(GE_FORMATS)}.")
    return render_ge(doc, name, title=title)


def _pair(text: str) -> tuple[str, str]:
    from migtrade.errors import UsageError

    old, sep, new = text.partition("=")
    if not sep or not old.strip() or not new.strip():
        raise UsageError(f"--rename '{text}' is not OLD=NEW", "Write e.g. --rename 'log(dist)=Distance'.")
    return old.strip(), new.strip()


def _levels(text: str) -> tuple[float, ...]:
    from migtrade.errors import UsageError

    if text.strip().lower() in ("none", ""):
        return ()
    try:
        return tuple(float(p) for p in text.split(","))
    except ValueError:
        raise UsageError(f"--stars '{text}' is not a list of numbers", "Write e.g. 0.1,0.05,0.01 or none.") from None
