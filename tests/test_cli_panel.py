"""``migtrade panel build`` from the command line, on the real shared files.

The documented command builds the 69-country panel (Yotov trade, UN DESA stocks, Abel-Cohen
flows, WDI GDP and population; 1990-2005) into a temporary store; bad input gives one line on
stderr and exit code 2, and writes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import cli, shared_file
from typer.testing import CliRunner

from migtrade.cli.app import app
from migtrade.store.catalog import Store
from migtrade.store.provenance import Provenance, utc_timestamp

runner = CliRunner()

# sha256 of the shared files, as printed in ../shared/data/MANIFEST.md
MANIFEST_SHA256 = {
    "agtpa_applications.csv.gz": "302fd7585683bf3e6045cb2b845347683103779593004dc9d3e3e26c9cf759bf",
    "undesa_ims2020_bilateral_stock_long.csv.gz":
        "749bc32646da4aa1935c52751af3dd7c866394131b27dba1de24e573c5a4b57a",
    "abel_cohen_flows_da_pb_closed_long.csv.gz":
        "0b7baf7845f3e3072b028401917fb2ba97fd34f8af942fe5b9fa4ce5c55dba68",
    "gdp_current_usd.csv.gz": "69167e6ea307e141fab46765d874c99e56b3a61e6a23e02ca47267e20d1c73fe",
    "population.csv.gz": "a5151b142ea171b5fd85f935354cdb1b7899ee16dfd7db559bef6e52a911ebc7",
}


def inputs() -> list[str]:
    """The input options of the documented command."""
    return [
        "--trade", str(shared_file("yotov2016_agtpa/agtpa_applications.csv.gz")),
        "--stocks", str(shared_file("undesa_migrant_stock/undesa_ims2020_bilateral_stock_long.csv.gz")),
        "--flows", str(shared_file("abel_cohen_flows/abel_cohen_flows_da_pb_closed_long.csv.gz")),
        "--country-year", str(shared_file("wdi_covariates/gdp_current_usd.csv.gz")),
        "--country-year", str(shared_file("wdi_covariates/population.csv.gz")),
    ]


OVERLAP = ["--years", "1990:2005:5", "--countries", "@trade"]


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """``migtrade ARGS`` in this process, error handler included."""
    return cli(*args, env=env)


def test_builds_the_69_country_panel_into_the_store(tmp_path: Path) -> None:
    result = runner.invoke(app, ["panel", "build", "--name", "gravity_migration", *inputs(),
                                 *OVERLAP, "--store", str(tmp_path), "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["schema"] == "migtrade.panel-build/1"
    assert report["rows"] == 19_044 and report["countries"] == 69
    assert report["years"] == [1990, 1995, 2000, 2005]
    assert report["coverage"]["1990"]["rows"] == 4761
    assert report["coverage"]["2005"]["trade"] == 1.0
    assert 0.5 < report["coverage"]["1990"]["migrant_stock"] < 1
    assert report["unmatched"] == {}
    assert "ROM->ROU" in " ".join(report["notes"])
    prov = report["provenance"]
    assert prov["source"] == "panel" and prov["rows"] == 19_044
    recorded = {Path(i["name"]).name: i["sha256"] for i in prov["inputs"]}
    assert recorded == MANIFEST_SHA256

    store = Store(tmp_path)
    info = store.info("gravity_migration")
    assert info.rows == 19_044 and info.provenance.source == "panel"
    assert "millions" in info.provenance.options["units"]["trade"]
    panel = store.read("gravity_migration")
    mex_usa = panel[(panel["origin"] == "MEX") & (panel["destination"] == "USA")].set_index("year")
    assert mex_usa.loc[1990, "migrant_stock"] == 4_298_014
    assert mex_usa.loc[1990, "migration_flow"] == 2_238_239
    assert mex_usa.loc[1990, "migration_period"] == "1990-1995"


def test_entry_point_with_store_from_environment_and_out_file(tmp_path: Path) -> None:
    out = tmp_path / "panel.csv.gz"
    code, stdout, err = run("panel", "build", "--name", "p", *inputs(), *OVERLAP,
                            "--out", str(out), env={"MIGTRADE_STORE": str(tmp_path / "store")})
    assert code == 0, err
    assert "Coverage" in stdout and "unmatched: none" in stdout and "19,044 rows" in stdout
    assert Store(tmp_path / "store").info("p").rows == 19_044
    written = pd.read_csv(out)
    assert len(written) == 19_044 and list(written.columns)[:3] == ["origin", "destination", "year"]


def test_only_out_file_without_store(tmp_path: Path) -> None:
    out = tmp_path / "p.parquet"
    result = runner.invoke(app, ["panel", "build", "--stocks", str(shared_file(
        "undesa_migrant_stock/undesa_ims2020_bilateral_stock_long.csv.gz")), "--years", "2020",
        "--out", str(out), "--store", str(tmp_path / "store"), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["name"] is None
    assert not (tmp_path / "store").exists()
    panel = pd.read_parquet(out)
    assert panel["year"].unique().tolist() == [2020]
    phl = panel[(panel["origin"] == "PHL") & (panel["destination"] == "USA")]
    assert phl["migrant_stock"].tolist() == [2_061_178]


def test_stored_dataset_and_wdi_bulk_csv_as_inputs(tmp_path: Path) -> None:
    stocks = pd.DataFrame({"origin": ["Mexico", "Philippines"],
                           "destination": ["United States of America", "United States of America"],
                           "year": [1990, 1990], "stock": [4_298_014.0, 912_546.0]})
    prov = Provenance(source="undesa", location="test", retrieved_at=utc_timestamp(),
                      sha256="0" * 64, parser_version="undesa/1", rows=2)
    info = Store(tmp_path).write("undesa_stock", stocks, prov)
    bulk = shared_file("wdi_covariates/API_BX.TRF.PWKR.DT.GD.ZS_DS2_en_csv_v2_3686014_extract_MEX_PHL_USA_WLD.csv")
    pop = shared_file("wdi_covariates/population.csv.gz")
    result = runner.invoke(app, ["panel", "build", "--name", "small", "--stocks", "undesa_stock",
                                 "--country-year", str(bulk), "--country-year", f"pop={pop}",
                                 "--store", str(tmp_path), "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["provenance"]["inputs"][0] == report["provenance"]["inputs"][0] | {
        "name": "undesa_stock", "sha256": info.file_sha256, "layout": "store"}
    assert "WLD" in report["aggregates"]["country_year"]
    panel = Store(tmp_path).read("small").set_index("origin")
    raw = pd.read_csv(bulk, skiprows=4).set_index("Country Code")["1990"].astype(float)
    remit_o, remit_d, pop_o = (panel[c].astype(float) for c in
                               ("remittances_gdp_o", "remittances_gdp_d", "pop_o"))
    assert remit_o["MEX"] == pytest.approx(raw["MEX"])
    assert remit_d["PHL"] == pytest.approx(raw["USA"])
    assert pop_o["PHL"] > 60e6


BAD = [
    (["--name", "x"], "no dyadic input"),
    (["--trade", "{stocks}"], "nowhere to write"),
    (["--name", "x", "--trade", "/no/such/file.csv"], "is not a file or a stored dataset name"),
    (["--name", "x", "--trade", "nothing_stored"], "no stored dataset named 'nothing_stored'"),
    (["--name", "x", "--trade", "{stocks}"], "looks like undesa_long (stocks)"),
    (["--name", "x", "--stocks", "{stocks}", "--years", "19x0"], "cannot read '19x0'"),
    (["--name", "x", "--stocks", "{stocks}", "--countries", "MEX,Atlantis"], "not a country: Atlantis"),
    (["--name", "x", "--stocks", "{stocks}", "--countries", "@trade"], "no trade input"),
    (["--name", "Bad Name", "--stocks", "{stocks}"], "invalid dataset name"),
    (["--name", "x", "--stocks", "{stocks}", "--out", "/no/such/dir/p.csv"], "does not exist"),
]


@pytest.mark.parametrize(("opts", "message"), BAD)
def test_bad_input_gives_one_line_and_exit_code_2(tmp_path: Path, opts: list[str], message: str) -> None:
    stocks = shared_file("undesa_migrant_stock/undesa_ims2020_bilateral_stock_long.csv.gz")
    args = [o.format(stocks=stocks) for o in opts]
    code, stdout, err = run("panel", "build", *args, "--store", str(tmp_path / "store"))
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("migtrade: error: "), err
    assert message in lines[0]
    assert "Traceback" not in err and not stdout
    assert not (tmp_path / "store" / "data").exists() or not any((tmp_path / "store" / "data").iterdir())


def test_help_names_the_options() -> None:
    result = runner.invoke(app, ["panel", "build", "--help"])
    assert result.exit_code == 0
    for option in ("--trade", "--stocks", "--flows", "--covariates", "--country-year", "--years",
                   "--countries", "--store", "--out", "--format"):
        assert option in result.output
