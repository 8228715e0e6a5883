"""BACI-shaped releases: the generator's known elasticities, and the product-level panel built out of core."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import migtrade as mt
from migtrade.api.result import Result
from migtrade.store.catalog import Store
from migtrade.synthetic.baci import MEAN_ELASTICITIES, BaciRelease, write_baci_zip

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> BaciRelease:
    folder = tmp_path_factory.mktemp("baci")
    return write_baci_zip(folder / "BACI_HS92_V202401b.zip", products=6, countries=60, years=3, seed=3)


@pytest.fixture(scope="module")
def panel(release: BaciRelease, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    from conftest import cli

    store = tmp_path_factory.mktemp("store")
    code, _, err = cli("fetch", "baci", "--file", release.zip_path, "--store", store, "-q")
    assert code == 0, err
    code, out, err = cli("panel", "build", "--level", "product", "--name", "pp", "--trade", "baci",
                         "--covariates", release.covariates_path, "--stocks", release.stocks_path,
                         "--store", store, "--format", "json")
    assert code == 0, err
    return store, json.loads(out)


def test_the_release_is_shaped_like_cepii_and_zeros_are_absent(release: BaciRelease) -> None:
    with zipfile.ZipFile(release.zip_path) as archive:
        names = archive.namelist()
        assert names[:3] == [f"BACI_HS92_Y{y}_V202401b.csv" for y in (2018, 2019, 2020)]
        first = pd.read_csv(archive.open(names[0]), dtype={"k": str}, na_values=["         NA"])
    assert list(first.columns) == ["t", "i", "j", "k", "v", "q"]
    assert (first["v"] > 0).all() and first["k"].str.fullmatch(r"\d{6}").all()
    assert 0.01 < first["q"].isna().mean() < 0.1  # about 5% missing quantities
    # Only positive flows are written: about 35% of the cells are zeros, hence absent.
    assert 0.25 < 1 - release.rows / release.cells < 0.45
    assert len(release.truth) == 6 and set(MEAN_ELASTICITIES) <= set(release.truth.columns)


def test_the_product_panel_is_every_product_times_every_pair_year_with_zeros(
        release: BaciRelease, panel: tuple[Path, dict]) -> None:
    store, report = panel
    assert report["level"] == "product" and report["products"] == 6
    assert report["dyads"] == 60 * 59 * 3 and report["rows"] == 6 * 60 * 59 * 3 == release.cells
    assert report["positive"] == release.rows  # every BACI flow found its pair
    assert report["dropped"] == {"no_iso3": 0, "domestic": 0, "no_dyad": 0}
    frame = Store(store).read("pp")
    assert list(frame.columns[:6]) == ["k", "origin", "destination", "year", "trade", "quantity"]
    assert {"dist", "contig", "comlang", "migrant_stock"} <= set(frame.columns)
    assert "gdp_o" not in frame.columns  # columns no input gave are left out
    assert frame["k"].is_monotonic_increasing and frame["k"].str.fullmatch(r"\d{6}").all()
    assert int((frame["trade"] > 0).sum()) == release.rows
    assert frame.loc[frame["trade"] == 0, "quantity"].isna().all()
    # One flow, traced from the zip to the panel.
    with zipfile.ZipFile(release.zip_path) as archive:
        raw = pd.read_csv(archive.open("BACI_HS92_Y2019_V202401b.csv"), dtype={"k": str}, nrows=1)
        codes = pd.read_csv(archive.open("country_codes_V202401b.csv"))
    iso = dict(zip(codes["country_code"], codes["country_iso3"], strict=True))
    row = raw.iloc[0]
    hit = frame[(frame["k"] == row["k"]) & (frame["origin"] == iso[row["i"]])
                & (frame["destination"] == iso[row["j"]]) & (frame["year"] == 2019)]
    assert hit["trade"].item() == pytest.approx(row["v"])
    meta = pq.ParquetFile(next((store / "data").glob("pp~*.parquet"))).metadata
    assert meta.row_group(0).column(0).statistics.has_min_max  # a reader of one product skips the rest


def test_ppml_per_product_recovers_the_true_elasticities(release: BaciRelease, panel: tuple[Path, dict]) -> None:
    store, _ = panel
    frame = Store(store).read("pp")
    formula = ("trade ~ log(dist) + contig + comlang + log1p(migrant_stock) "
               "| origin^year + destination^year")
    z = []
    for k, part in frame.groupby("k"):
        fit = mt.ppml(formula, part.reset_index(drop=True), vcov="robust")
        assert isinstance(fit, Result)
        truth = release.truth.set_index("k").loc[k]
        for term in MEAN_ELASTICITIES:
            z.append((fit.params[term] - truth[term]) / fit.bse[term])
    z_all = np.asarray(z)
    # 24 estimates (6 products x 4 terms) against their truth. The cells are independent in
    # this DGP, so robust errors are the right ones; two-way PPML's errors are still biased
    # down at 60 countries (Weidner & Zylkin 2021), and the z-scores' spread is about 1.3
    # here rather than 1. Hence each within 4.5 standard errors and, for bias, their mean
    # within one (24 draws: a mean of 1 would be 3.7 of its standard errors under unbiasedness).
    assert np.abs(z_all).max() < 4.5
    assert abs(z_all.mean()) < 1.0


def test_product_level_mistakes_are_one_line_exit_2(cli: Cli, release: BaciRelease, panel: tuple[Path, dict],
                                                     tmp_path: Path) -> None:
    store, _ = panel
    cases = [
        (["--level", "product", "--name", "x", "--covariates", str(release.covariates_path)], "needs --trade"),
        (["--level", "product", "--name", "x", "--trade", "baci"], "needs dyadic inputs"),
        (["--level", "product", "--trade", "baci", "--covariates", str(release.covariates_path),
          "--out", str(tmp_path / "p.csv")], "Parquet only"),
        (["--level", "product", "--name", "x", "--trade", "baci_products", "--covariates",
          str(release.covariates_path)], "not product-level trade"),
        (["--level", "product", "--name", "x", "--trade", "baci", "--covariates", str(release.covariates_path),
          "--years", "1990"], "no year of --years"),
    ]
    for args, message in cases:
        code, _, err = cli("panel", "build", *args, "--store", str(store))
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (args, err)


def test_the_product_panel_can_be_written_to_a_file_and_limited_to_positive_flows(
        release: BaciRelease, panel: tuple[Path, dict], tmp_path: Path, cli: Cli) -> None:
    store, _ = panel
    out = tmp_path / "pp.parquet"
    code, text, err = cli("panel", "build", "--level", "product", "--trade", "baci", "--no-fill-zeros",
                          "--covariates", str(release.covariates_path), "--years", "2019",
                          "--out", str(out), "--store", str(store))
    assert code == 0, err
    assert "positive flows" in text
    frame = pd.read_parquet(out)
    assert (frame["trade"] > 0).all() and set(frame["year"]) == {2019}


@pytest.mark.slow
def test_a_killed_fetch_leaves_the_stored_version_as_it_was(tmp_path: Path) -> None:
    """SIGKILL while the release is streamed or sorted: the store keeps the earlier version, whole."""
    import os
    import signal
    import subprocess
    import sys
    import time

    small = write_baci_zip(tmp_path / "small.zip", products=3, countries=10, years=1, seed=1)
    big = write_baci_zip(tmp_path / "big.zip", products=400, countries=40, years=2, seed=2)
    command = [sys.executable, "-m", "migtrade", "fetch", "baci", "-q", "--file"]

    def env_for(store: Path) -> dict[str, str]:
        return {**os.environ, "MIGTRADE_STORE": str(store)}

    # The kills aim at a third and at two thirds of a whole fetch of the big release, timed on
    # this machine into a store of its own: while the zip is read, then while it is sorted, both
    # before the store is written at the end. A loaded machine times the whole fetch slower than
    # a later run goes, so a run that finishes before its kill is tried again, in a store of its
    # own (the finished run replaced the version), with half the delay.
    start = time.perf_counter()
    subprocess.run([*command, str(big.zip_path)], env=env_for(tmp_path / "timing"), check=True,
                   capture_output=True)
    whole = time.perf_counter() - start
    killed = 0
    for aim, delay in enumerate((whole / 3, 2 * whole / 3)):
        for attempt in range(4):
            store = tmp_path / f"store-{aim}-{attempt}"
            subprocess.run([*command, str(small.zip_path)], env=env_for(store), check=True,
                           capture_output=True)
            before = Store(store).info("baci")
            proc = subprocess.Popen([*command, str(big.zip_path)], env=env_for(store),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            after = Store(store).info("baci")
            if (after.version, after.file_sha256) == (before.version, before.file_sha256):
                assert proc.returncode == -signal.SIGKILL
                break
            # The run got as far as replacing the version (the kill may still have landed
            # before it exited): the new version is then whole. Aim earlier in a fresh store.
            assert len(Store(store).read("baci")) == big.rows
            delay /= 2
        else:
            continue
        killed += 1
        assert len(Store(store).read("baci")) == small.rows
        # The killed store takes the next fetch whole, with no orphans left by the kill.
        subprocess.run([*command, str(big.zip_path)], env=env_for(store), check=True,
                       capture_output=True)
        assert len(Store(store).read("baci")) == big.rows
        assert len(list((store / "data").iterdir())) == 3  # baci, its countries and products
    assert killed, "every fetch finished before its kill"


def test_the_split_run_on_the_product_panel_feeds_table_and_plot(
        cli: Cli, release: BaciRelease, panel: tuple[Path, dict], tmp_path: Path) -> None:
    """From the stored product panel through 'estimate --split k' to the long table: the same numbers."""
    store, _ = panel
    formula = "trade ~ log(dist) + contig + comlang + log1p(migrant_stock) | origin^year + destination^year"
    saved = tmp_path / "by_product.json"
    code, _, err = cli("estimate", formula, "--data", "pp", "--store", str(store), "--split", "k",
                       "--vcov", "cluster:origin", "--save", str(saved), "--format", "json")
    assert code == 0, err
    code, out, err = cli("table", str(saved), "--format", "csv")
    assert code == 0, err
    table = pd.read_csv(io.StringIO(out), dtype={"k": str})
    assert sorted(table["k"].unique()) == sorted(release.truth["k"]) and len(table) == 6 * 4
    frame = Store(store).read("pp")
    k = release.truth["k"].iloc[0]
    alone = mt.ppml(formula, frame[frame["k"] == k].reset_index(drop=True), vcov="cluster:origin")
    assert isinstance(alone, Result)
    mine = table[table["k"] == k].set_index("term")
    # The split run's sector is the same fit as the sector alone, and csv keeps every digit.
    for term in MEAN_ELASTICITIES:
        assert mine.loc[term, "estimate"] == pytest.approx(alone.params[term], rel=1e-10, abs=1e-12)
        assert mine.loc[term, "std_error"] == pytest.approx(alone.bse[term], rel=1e-10)
    code, _, err = cli("plot", "split", str(saved), "-o", str(tmp_path / "dist.png"), "--term", "log(dist)")
    assert code == 0, err
