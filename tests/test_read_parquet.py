"""The Parquet path of ``read_table`` (one block per column, Arrow buffers freed as converted)
gives the frame pandas' own reader gives, and the same estimation sample and fixed-effect codes.

Exact equality throughout: the reader only changes how the columns are laid out in memory, not a
single value, dtype or level.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from migtrade.errors import DataError
from migtrade.estimation.fit import estimate
from migtrade.estimation.vcov import VcovSpec
from migtrade.spec.design import build_design
from migtrade.spec.formula import ModelSpec
from migtrade.store.files import read_table
from migtrade.store.resolve import load_data, start_loading


def _frame(n: int = 400, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    exporter = rng.choice(["AUT", "BEL", "CAN", "DEU", "ESP", "FRA"], n)
    importer = rng.choice(["USA", "JPN", "KOR", "MEX", "NLD"], n)
    year = rng.integers(2000, 2006, n)
    trade = np.where(rng.random(n) < 0.3, 0.0, rng.exponential(50.0, n))
    frame = pd.DataFrame({
        "exporter": exporter,                                   # text
        "importer": pd.Categorical(importer),                   # categorical (dictionary)
        "year": year.astype(np.int32),                          # plain integers
        "sector": pd.array(rng.integers(1, 4, n), dtype="Int64"),  # nullable integers
        "trade": trade,
        "dist": rng.uniform(100.0, 9000.0, n),
        "rta": rng.integers(0, 2, n).astype(np.int8),
    })
    # Missing values in text, categorical, nullable-integer and float columns.
    frame.loc[rng.choice(n, 12, replace=False), "exporter"] = None
    frame.loc[rng.choice(n, 9, replace=False), "importer"] = np.nan
    frame.loc[rng.choice(n, 7, replace=False), "sector"] = pd.NA
    frame.loc[rng.choice(n, 5, replace=False), "dist"] = np.nan
    return frame


@pytest.fixture(name="parquet")
def parquet_file(tmp_path: Path) -> Path:
    path = tmp_path / "panel.parquet"
    _frame().to_parquet(path, index=False)
    return path


@pytest.mark.parametrize("columns", [None, ["trade", "exporter", "importer", "sector", "dist"]])
def test_same_frame_as_pandas_reader(parquet: Path, columns: list[str] | None) -> None:
    got = read_table(parquet, columns=columns)
    want = pd.read_parquet(parquet, columns=columns)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert list(got.dtypes) == list(want.dtypes)


def test_same_codes_and_sample_as_pandas_reader(parquet: Path) -> None:
    spec = ModelSpec.parse("trade ~ log(dist) + rta | exporter^year + importer + sector")
    got, want = read_table(parquet), pd.read_parquet(parquet)
    d_got, d_want = build_design(spec, got), build_design(spec, want)
    for a, b in zip(d_got.fe_codes, d_want.fe_codes, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(d_got.missing, d_want.missing)
    vcov = VcovSpec.parse("cluster:exporter")
    fit_got = estimate(spec, got, model="ppml", vcov=vcov)
    fit_want = estimate(spec, want, model="ppml", vcov=vcov)
    np.testing.assert_array_equal(fit_got.sample.status, fit_want.sample.status)
    np.testing.assert_array_equal(fit_got.result.params, fit_want.result.params)
    np.testing.assert_array_equal(fit_got.result.cov, fit_want.result.cov)


def test_loading_on_a_thread_gives_what_load_data_gives(parquet: Path, tmp_path: Path) -> None:
    # The CLI reads the file on a second thread while it imports the fit's modules: the frame and
    # the description (sha256, rows) are those of load_data itself, and its errors arrive as they
    # are, on the caller's thread, when the result is asked for.
    columns = ["trade", "exporter", "year"]
    frame, info = start_loading(str(parquet), columns).result()
    want_frame, want_info = load_data(str(parquet), columns)
    pd.testing.assert_frame_equal(frame, want_frame, check_exact=True)
    assert info == want_info
    missing = start_loading(str(tmp_path / "absent.parquet"))
    with pytest.raises(DataError, match="does not exist"):
        missing.result()
