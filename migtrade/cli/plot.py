"""``migtrade plot``: coefficient and event-study plots of saved results."""

from __future__ import annotations

from pathlib import Path

import typer

plot_app = typer.Typer(
    name="plot",
    help="Plots of saved results as PNG, SVG or PDF (by the extension of -o).",
    no_args_is_help=True,
)

_FILES_HELP = "Files written by 'migtrade estimate --save' (one result or a list each)."
_OUTPUT_HELP = "Image file: .png, .svg or .pdf (written atomically)."

# The options every plot takes (typer builds each command's own parameter from these).
_TITLE = typer.Option(None, "--title", help="Title above the plot.")
_XLABEL = typer.Option(None, "--xlabel", help="Label of the horizontal axis.")
_WIDTH = typer.Option(7.0, "--width", help="Width in inches.")
_HEIGHT = typer.Option(4.5, "--height", help="Height in inches.")
_DPI = typer.Option(150, "--dpi", help="Resolution of PNG output (pixels = inches x dpi).")


def register(app: typer.Typer) -> None:
    """Add the command group to the app."""
    app.add_typer(plot_app, name="plot")


@plot_app.command("coef")
def coef_command(
    files: list[Path] = typer.Argument(..., metavar="RESULT", help=_FILES_HELP),
    output: Path = typer.Option(..., "--output", "-o", help=_OUTPUT_HELP),
    keep: list[str] | None = typer.Option(None, "--keep", help="Plot only matching coefficients (regex); repeatable."),
    drop: list[str] | None = typer.Option(None, "--drop", help="Leave out matching coefficients (regex); repeatable."),
    title: str | None = _TITLE,
    xlabel: str | None = _XLABEL,
    width: float = _WIDTH,
    height: float = _HEIGHT,
    dpi: int = _DPI,
) -> None:
    """Coefficients with confidence intervals; several models side by side with a legend."""
    from migtrade.atomic import write_bytes
    from migtrade.cli.output import check_writable
    from migtrade.report.load import load_results
    from migtrade.report.plots import PlotStyle, coef_plot, plot_format

    style = PlotStyle(width=width, height=height, dpi=dpi, title=title, xlabel=xlabel)
    fmt = plot_format(output)
    check_writable(output)
    image = coef_plot(load_results(files), fmt, keep=keep or (), drop=drop or (), style=style)
    write_bytes(output, image)


@plot_app.command("split")
def split_command(
    file: Path = typer.Argument(..., metavar="RESULTS", help="A file written by 'migtrade estimate --split VAR --save'."),
    output: Path = typer.Option(..., "--output", "-o", help=_OUTPUT_HELP),
    term: str | None = typer.Option(None, "--term", help="The coefficient to draw (needed when there are several)."),
    formula: str | None = typer.Option(None, "--formula", help="Which formula, when the run fitted several."),
    title: str | None = _TITLE,
    xlabel: str | None = _XLABEL,
    width: float = _WIDTH,
    height: float = _HEIGHT,
    dpi: int = _DPI,
) -> None:
    """One coefficient across the sectors of a split run: sorted estimates with confidence intervals."""
    from migtrade.atomic import write_bytes
    from migtrade.cli.output import check_writable
    from migtrade.errors import DataError
    from migtrade.report.plots import PlotStyle, plot_format
    from migtrade.report.split_plot import split_plot
    from migtrade.report.split_table import load_split_file

    style = PlotStyle(width=width, height=height, dpi=dpi, title=title, xlabel=xlabel)
    fmt = plot_format(output)
    entries = load_split_file(file)
    if entries is None:
        raise DataError(f"'{file}' is not the results of a split run",
                        "Pass a file written by 'migtrade estimate --split VAR --save FILE'; "
                        "plot other results with 'migtrade plot coef'.")
    check_writable(output)
    write_bytes(output, split_plot(entries, fmt, term=term, formula=formula, style=style))


@plot_app.command("event")
def event_command(
    files: list[Path] = typer.Argument(..., metavar="RESULT", help=_FILES_HELP),
    output: Path = typer.Option(..., "--output", "-o", help=_OUTPUT_HELP),
    pattern: str | None = typer.Option(
        None, "--pattern", help="Regex selecting the event-study coefficients; a (?P<period>...) group gives "
        "the period. Default: names like rta_lead2 (-2), rta_lag1 (+1), rel::-2 or year::1994:rta."),
    periods: str | None = typer.Option(
        None, "--periods", help="Comma-separated period of each selected coefficient, in order, e.g. -3,-2,0,1."),
    ref: str = typer.Option(
        "-1", "--ref", help="Reference (omitted) period, drawn as a point at zero on a dashed line; or none."),
    title: str | None = _TITLE,
    xlabel: str | None = _XLABEL,
    width: float = _WIDTH,
    height: float = _HEIGHT,
    dpi: int = _DPI,
) -> None:
    """Event study: leads and lags with confidence bands around the reference period."""
    from migtrade.atomic import write_bytes
    from migtrade.cli.output import check_writable
    from migtrade.report.load import load_results
    from migtrade.report.plots import PlotStyle, event_plot, plot_format

    style = PlotStyle(width=width, height=height, dpi=dpi, title=title, xlabel=xlabel)
    fmt = plot_format(output)
    ref_period = None if ref.strip().lower() == "none" else _number(ref, "--ref")
    period_list = None if periods is None else [_number(p, "--periods") for p in periods.split(",")]
    check_writable(output)
    image = event_plot(load_results(files), fmt, pattern=pattern, periods=period_list, ref=ref_period,
                       style=style)
    write_bytes(output, image)


@plot_app.command("ge")
def ge_command(
    file: Path = typer.Argument(..., metavar="RESULT", help="A file written by 'migtrade ge --save'."),
    output: Path = typer.Option(..., "--output", "-o", help=_OUTPUT_HELP),
    countries: str | None = typer.Option(
        None, "--countries", help="Comma-separated ISO3 codes to draw, e.g. CAN,MEX,USA,PHL (default: all)."),
    title: str | None = _TITLE,
    xlabel: str | None = _XLABEL,
    width: float = _WIDTH,
    height: float | None = typer.Option(
        None, "--height", help="Height in inches (default: grows with the number of countries)."),
    dpi: int = _DPI,
) -> None:
    """Welfare: real GDP change by country, sorted, changed countries highlighted, intervals when drawn."""
    from migtrade.atomic import write_bytes
    from migtrade.cli.output import check_writable
    from migtrade.report.ge_layout import load_ge_document, select_countries
    from migtrade.report.ge_plot import auto_height, welfare_plot
    from migtrade.report.plots import PlotStyle, plot_format

    fmt = plot_format(output)
    selection = [c for c in countries.split(",") if c.strip()] if countries else None
    doc = load_ge_document(file)
    rows = height if height is not None else auto_height(len(select_countries(doc, selection)))
    style = PlotStyle(width=width, height=rows, dpi=dpi, title=title, xlabel=xlabel)
    check_writable(output)
    write_bytes(output, welfare_plot(doc, fmt, countries=selection, style=style))


@plot_app.command("panel")
def panel_command(
    data: str = typer.Argument(..., metavar="PANEL", help="A stored panel name or a file in the panel schema."),
    pair: str = typer.Option(..., "--pair", help="ORIGIN-DESTINATION in ISO3, e.g. MEX-USA."),
    variables: str = typer.Option("trade,migrant_stock", "--vars", help="Comma-separated panel columns."),
    output: Path = typer.Option(..., "--output", "-o", help=_OUTPUT_HELP),
    store: Path | None = typer.Option(None, "--store", help="Store folder where PANEL may be a dataset name."),
    title: str | None = _TITLE,
    width: float = _WIDTH,
    height: float = _HEIGHT,
    dpi: int = _DPI,
) -> None:
    """A dyad's trade and migration (or any panel columns) over time, one panel per variable."""
    from migtrade.atomic import write_bytes
    from migtrade.cli.output import check_writable
    from migtrade.report.plots import PlotStyle, plot_format
    from migtrade.report.series import panel_plot, parse_pair
    from migtrade.store.resolve import load_data

    style = PlotStyle(width=width, height=height, dpi=dpi, title=title)
    fmt = plot_format(output)
    dyad = parse_pair(pair)
    names = [v.strip() for v in variables.split(",") if v.strip()]
    check_writable(output)
    frame, info = load_data(data, store=store)
    write_bytes(output, panel_plot(frame, dyad, names, fmt, data=info, style=style))


def _number(text: str, option: str) -> float:
    from migtrade.errors import UsageError

    try:
        return float(text)
    except ValueError:
        raise UsageError(f"{option} '{text}' is not a number", f"Write e.g. {option} -1.") from None
