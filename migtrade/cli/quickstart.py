"""``migtrade quickstart``: the end-to-end demonstration that runs on any machine."""

from __future__ import annotations

from pathlib import Path

import typer

from migtrade.cli.estimate import FormatChoice


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command(name="quickstart")(quickstart_command)


def quickstart_command(
    offline: bool = typer.Option(False, "--offline", help="Skip the network: run on the synthetic panel."),
    store: Path | None = typer.Option(None, "--store", help="Store folder for the fetched data."),
    countries: int = typer.Option(60, "--countries", help="Countries in the synthetic panel."),
    years: int = typer.Option(12, "--years", help="Years in the synthetic panel."),
    seed: int = typer.Option(2016, "--seed", help="Seed of the synthetic panel."),
    fmt: FormatChoice = typer.Option(FormatChoice.rich, "--format", "-f", help="Output format."),
) -> None:
    """Fetch the data, build the trade-migration panel and estimate the gravity models, end to end.

    With a network: the World Bank indicators, UN DESA bilateral stocks, Abel-Cohen flows and the
    CEPII gravity data go into the store, the panel is built, and the trade gravity models with
    migrant networks are estimated. Without one (or with --offline) everything runs on migtrade's
    seeded synthetic panel with known true coefficients, and the first and last lines say so.
    """
    import sys

    from migtrade.sources.http import reachable
    from migtrade.sources.registry import get_source

    url = get_source("worldbank").base_url(None)
    if offline or not reachable(url):
        why = "--offline" if offline else f"no network ({url} is not reachable)"
        _synthetic(countries, years, seed, fmt.value, why)
        return
    sys.stderr.write("migtrade quickstart: real data from the World Bank, UN DESA, Abel-Cohen and CEPII\n")
    _real(store, fmt.value)


def _synthetic(countries: int, years: int, seed: int, fmt: str, why: str) -> None:
    import sys

    from migtrade.cli.output import emit_results
    from migtrade.estimation.fit import estimate
    from migtrade.estimation.vcov import VcovSpec
    from migtrade.synthetic.gravity import gravity_panel

    panel = gravity_panel(countries, years, seed=seed)
    sys.stderr.write(f"SYNTHETIC DATA ({why}): {panel.description}\n")
    info = {"dataset": "synthetic", "description": panel.description, "rows": len(panel.frame)}
    vc = VcovSpec.parse("cluster:pair_id")
    results = [estimate(f, panel.frame, model=m, vcov=vc, data_info=info).result for m, f in SYNTHETIC_MODELS]
    emit_results(results, fmt)
    truth = ", ".join(f"{k} {v:g}" for k, v in panel.truth.items())
    verdict = _synthetic_verdict(seed)
    sys.stderr.write(f"SYNTHETIC DATA: true coefficients {truth}; {verdict}\n")


def _synthetic_verdict(seed: int) -> str:
    """The substitution battery on a synthetic trade-migration panel generated as complements."""
    from migtrade.hypotheses.substitution import substitution_test
    from migtrade.synthetic.migration import migration_panel

    panel = migration_panel(40, 5, scenario="complements", seed=seed)
    report = substitution_test(panel.frame, include_iv=False,
                               data_info={"dataset": "synthetic", "description": panel.description})
    return f"substitution battery verdict {report.verdict} (generated as {panel.truth.verdict})"


SYNTHETIC_MODELS = (
    ("ppml", "trade ~ log_dist + cntg + lang + rta + log_migrant_stock | exporter^year + importer^year"),
    ("ppml", "trade ~ rta + log_migrant_stock | exporter^year + importer^year + pair_id"),
    ("ols", "log(trade) ~ log_dist + cntg + lang + rta + log_migrant_stock | exporter^year + importer^year"),
)

# The migration-gravity variables of the panel schema (see migtrade.panel.schema).
REAL_MODELS = (
    ("ppml", "trade ~ log1p(migrant_stock) + log1p(migrant_stock_reverse) + log(dist) + contig + comlang"
             " + colony + rta | origin^year + destination^year"),
    ("ppml", "trade ~ log1p(migrant_stock) + log1p(migrant_stock_reverse) + rta"
             " | origin^year + destination^year + origin^destination"),
    ("ppml", "migrant_stock ~ log1p(trade) + log(dist) + contig + comlang + colony + rta"
             " | origin^year + destination^year"),
)


def _real(store: Path | None, fmt: str) -> None:
    import sys

    from migtrade.cli.output import emit_results
    from migtrade.estimation.fit import estimate
    from migtrade.estimation.vcov import VcovSpec
    from migtrade.panel.build import build_panel
    from migtrade.sources.base import FetchOptions
    from migtrade.sources.run import fetch_to_store
    from migtrade.store.resolve import load_data

    steps = [
        ("worldbank", FetchOptions(years=(1990, 2020)), "qs_wdi"),
        ("undesa", FetchOptions(), "qs_undesa_stock"),
        ("abel-cohen", FetchOptions(methods=("da_pb_closed",)), "qs_abel_cohen_flows"),
        ("cepii", FetchOptions(years=(1990, 2020)), "qs_cepii_gravity"),
    ]
    for source, options, name in steps:
        for written in fetch_to_store(source, options, name=name, store_root=store):
            sys.stderr.write(f"  stored {written.name}: {written.info.rows:,} rows\n")
    report = build_panel(name="qs_panel", trade="qs_cepii_gravity", stocks="qs_undesa_stock",
                         flows="qs_abel_cohen_flows", country_year=("qs_wdi",),
                         years=list(range(1990, 2021, 5)), store_root=store)
    sys.stderr.write(f"  built qs_panel: {report.to_dict().get('rows', '?')} rows\n")
    frame, info = load_data("qs_panel", store=store)
    vc = VcovSpec.parse("cluster:origin,destination")
    results = [estimate(f, frame, model=m, vcov=vc, data_info=info).result for m, f in REAL_MODELS]
    emit_results(results, fmt)
    from migtrade.hypotheses.substitution import substitution_test

    battery = substitution_test(frame, data_info=info)
    sys.stderr.write(f"migtrade quickstart: done (real data; substitution battery verdict {battery.verdict}; "
                     "'migtrade test substitution --data qs_panel' shows the evidence)\n")
