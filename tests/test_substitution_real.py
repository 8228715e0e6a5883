"""The substitution battery on the real 69-country panel of ../shared/data.

Yotov et al. (2016) trade and RTAs, UN DESA bilateral stocks and Abel-Cohen flows overlap for the
69 countries of the Yotov file in 1990, 1995, 2000 and 2005. The panel is built with
``migtrade.panel.build`` when it is available, otherwise assembled here with pandas merges.

Published range of the network elasticities. Head & Ries (1998, Canada): about 0.1 for exports
to immigrants' home countries and 0.3 for imports from them; Genc et al. (2012), a meta-analysis of
48 studies: about 0.15 for trade. The check accepts 0.05 to 0.35 for each direction: from half
the smallest of these to a little above the largest.

What the data give (printed by the tests; recorded in benchmarks/README_substitution.md):
without pair effects, 0.108 (SE 0.020) for the importer's immigrants from the exporter and 0.072
(0.019) for the exporter's immigrants from the importer; both inside the range, the import side
above the export side as Head & Ries found, but each at the low end. With pair effects both are
about zero (Parsons 2012: pair effects absorb the network effect in short panels).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from migtrade.hypotheses.battery import run_battery
from migtrade.hypotheses.verdict import VERDICTS

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FILES = {
    "trade": "yotov2016_agtpa/agtpa_applications.csv.gz",
    "stocks": "undesa_migrant_stock/undesa_ims2020_bilateral_stock_long.csv.gz",
    "flows": "abel_cohen_flows/abel_cohen_flows_da_pb_closed_long.csv.gz",
    "gdp": "wdi_covariates/gdp_current_usd.csv.gz",
    "pop": "wdi_covariates/population.csv.gz",
}
YEARS = [1990, 1995, 2000, 2005]
PUBLISHED = (0.05, 0.35)


def _paths() -> dict[str, Path]:
    paths = {k: SHARED / v for k, v in FILES.items()}
    absent = [str(p) for p in paths.values() if not p.exists()]
    if absent:
        pytest.skip(f"the shared data are not beside this checkout ({absent[0]} is missing)")
    return paths


def _with_builder(paths: dict[str, Path], countries: list[str], out: Path) -> pd.DataFrame:
    from migtrade.panel.build import build_panel

    report = build_panel(name=None, out=out, trade=str(paths["trade"]),
                         stocks=str(paths["stocks"]), flows=str(paths["flows"]),
                         country_year=(str(paths["gdp"]), str(paths["pop"])), years=YEARS,
                         countries=countries)
    return report.result.frame


def _with_merges(paths: dict[str, Path]) -> pd.DataFrame:
    """The same panel by hand: Yotov keys, UN DESA stocks both ways, Abel-Cohen flows."""
    try:
        from migtrade.panel.countries import to_iso3
    except ImportError:
        pytest.skip("neither migtrade.panel.build nor migtrade.panel.countries is available")
    yotov = pd.read_csv(paths["trade"])
    yotov = yotov[yotov["year"].isin(YEARS)].replace({"exporter": {"ROM": "ROU"},
                                                      "importer": {"ROM": "ROU"}})
    panel = yotov.rename(columns={"exporter": "origin", "importer": "destination",
                                  "cntg": "contig", "lang": "comlang", "clny": "colony"})
    panel = panel[["origin", "destination", "year", "trade", "dist", "contig", "comlang",
                   "colony", "rta"]]

    def coded(frame: pd.DataFrame) -> pd.DataFrame:
        names = pd.unique(pd.concat([frame["orig"], frame["dest"]]))
        table = to_iso3(list(names)).mapping()
        return frame.assign(origin=frame["orig"].map(table), destination=frame["dest"].map(table))

    stocks = coded(pd.read_csv(paths["stocks"]))
    stocks = stocks.groupby(["origin", "destination", "year"])["stock"].sum().reset_index()
    panel = panel.merge(stocks.rename(columns={"stock": "migrant_stock"}), how="left",
                        on=["origin", "destination", "year"])
    reverse = stocks.rename(columns={"origin": "destination", "destination": "origin",
                                     "stock": "migrant_stock_reverse"})
    panel = panel.merge(reverse, how="left", on=["origin", "destination", "year"])
    flows = coded(pd.read_csv(paths["flows"])).rename(columns={"period_start": "year",
                                                               "flow": "migration_flow"})
    flows = flows.groupby(["origin", "destination", "year"])["migration_flow"].sum().reset_index()
    return panel.merge(flows, how="left", on=["origin", "destination", "year"])


@pytest.fixture(scope="module")
def real_panel(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    paths = _paths()
    countries = sorted(pd.read_csv(paths["trade"], usecols=["exporter"])["exporter"].unique())
    try:
        frame = _with_builder(paths, countries, tmp_path_factory.mktemp("real") / "p.parquet")
    except ImportError:
        frame = _with_merges(paths)
    assert frame["origin"].nunique() == 69
    assert sorted(frame["year"].unique().tolist()) == YEARS
    return frame


def test_panel_has_the_expected_corridors(real_panel: pd.DataFrame) -> None:
    mex_usa = real_panel[(real_panel["origin"] == "MEX") & (real_panel["destination"] == "USA")]
    row = mex_usa.set_index("year")
    # MANIFEST sanity values: Mexico -> United States stock 1990 and flow 1990-95.
    assert row.loc[1990, "migrant_stock"] == 4_298_014
    assert row.loc[1990, "migration_flow"] == 2_238_239


def test_network_elasticities_land_in_the_published_range(
        real_panel: pd.DataFrame, record_property: Callable[[str, object], None]) -> None:
    report = run_battery(real_panel, tests=["network_trade", "network_trade_pair"],
                         jackknife_groups=0)
    found = {(e.test, e.short): (e.estimate, e.std_error) for e in report.evidence}
    imports, exports = found[("network_trade", "network: imports")], \
        found[("network_trade", "network: exports")]
    pair = found[("network_trade_pair", "network: sum")]
    text = (f"network elasticities, no pair FE: imports {imports[0]:.3f} ({imports[1]:.3f}), "
            f"exports {exports[0]:.3f} ({exports[1]:.3f}); pair FE sum {pair[0]:.3f} "
            f"({pair[1]:.3f})")
    print(text)
    record_property("network_elasticities", text)
    lo, hi = PUBLISHED
    assert lo <= imports[0] <= hi and lo <= exports[0] <= hi
    assert imports[0] > exports[0]  # as in Head & Ries: imports respond more
    assert abs(pair[0]) < 2 * pair[1]  # pair effects absorb the cross-sectional effect


@pytest.mark.slow
def test_full_battery_on_real_data(real_panel: pd.DataFrame,
                                   record_property: Callable[[str, object], None]) -> None:
    report = run_battery(real_panel)
    assert report.verdict in VERDICTS
    assert len(report.tests) + len(report.skipped) == 16
    rows = [f"{e.test} {e.short}: {e.estimate:.3f} ({e.std_error:.3f}) p={e.p_value:.2g}"
            for e in report.evidence]
    print(f"verdict: {report.verdict}", *rows, sep="\n")
    record_property("verdict", report.verdict)
    fs = report.test("iv_network_trade_2sls").first_stage or {}
    assert np.isfinite(fs["ln_stock_lag"]["f_stat"])
