"""A Parquet file read into arrays without pandas gives the engine what pandas' reading gives it.

:class:`migtrade.table.ColumnTable` (``read_parquet_columns``) and :class:`FrameView` over
``pd.read_parquet`` of the same file must agree exactly (integers and codes equal, floats equal
bit for bit, NaN where missing): numbers, sorted levels and their codes, clusters numbered by first
appearance and combined clusters. Column types pandas would read as something else go through
pandas (``None``), and an estimate gives the same JSON either way.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from migtrade.estimation.fixed_effects import compact
from migtrade.store.files import read_parquet_columns, read_table
from migtrade.table import ColumnTable, FrameView, combined_appearance, first_appearance


def _mixed_table(n: int = 3000, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    names = np.array(["Ägypten", "zeta", "alpha", "Beta", "béta", "Zulu", "ümlaut", "ant"])
    text = rng.choice(names, n).astype(object)
    text[rng.random(n) < 0.05] = None
    floats = rng.normal(size=n)
    floats[rng.random(n) < 0.1] = np.nan
    return pa.table({
        "i32": pa.array(rng.integers(-20, 40, n).astype(np.int32)),
        "u8": pa.array(rng.integers(0, 5, n).astype(np.uint8)),
        "wide": pa.array(rng.integers(0, 10**12, n)),
        "f64": pa.array(floats, from_pandas=True),
        "f32": pa.array(rng.normal(size=n).astype(np.float32)),
        "flag": pa.array(rng.random(n) < 0.3),
        "text": pa.array(text, type=pa.string()),
        "cat": pa.array(rng.choice(names[:5], n)).dictionary_encode(),
        "round": pa.array(rng.integers(0, 4, n).astype(np.float64)),
    })


def _check_same(path: Path, columns: list[str]) -> None:
    table = read_parquet_columns(path, columns)
    assert isinstance(table, ColumnTable)
    frame = FrameView(pd.read_parquet(path, columns=columns))
    assert table.names == frame.names and len(table) == len(frame)
    for name in columns:
        assert table.is_numeric(name) == frame.is_numeric(name), name
        assert table.dtype_name(name) == frame.dtype_name(name), name
        np.testing.assert_array_equal(table.appearance_codes(name), frame.appearance_codes(name))
        codes, levels = table.sorted_codes(name)
        want_codes, want_levels = frame.sorted_codes(name)
        np.testing.assert_array_equal(codes, want_codes)
        assert levels == want_levels, name
        ints, want_ints = table.plain_integers(name), frame.plain_integers(name)
        assert (ints is None) == (want_ints is None), name
        if ints is not None:
            assert ints.dtype == want_ints.dtype
            np.testing.assert_array_equal(ints, want_ints)
        if table.is_numeric(name):
            got, want = table.numeric(name), frame.numeric(name)
            assert got.dtype == want.dtype == np.float64
            np.testing.assert_array_equal(got, want)  # NaN where NaN, other values bit for bit


def test_pyarrow_written_columns_match_pandas(tmp_path: Path) -> None:
    path = tmp_path / "mixed.parquet"
    pq.write_table(_mixed_table(), path, row_group_size=700)  # five row groups: five chunks
    _check_same(path, ["i32", "u8", "wide", "f64", "f32", "flag", "text", "cat", "round"])


def test_pandas_written_frame_matches_pandas(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n = 2500
    frame = pd.DataFrame({
        "exporter": pd.Categorical(rng.choice(["DEU", "USA", "CHN", "MEX"], n)),
        "ordered": pd.Categorical(rng.choice(["low", "mid", "high"], n),
                                  categories=["low", "mid", "high"], ordered=True),
        "year": rng.integers(1990, 2020, n),
        "trade": rng.gamma(1.0, size=n),
        "name": rng.choice(["a", "b", "c"], n),
    })
    path = tmp_path / "frame.parquet"
    frame.to_parquet(path, row_group_size=600)
    _check_same(path, list(frame.columns))
    # A categorical's levels sort in its categories' order, as pandas sorts them.
    assert read_parquet_columns(path, ["ordered"]).sorted_codes("ordered")[1] == \
        ["low", "mid", "high"]


def test_dictionaries_that_differ_between_row_groups(tmp_path: Path) -> None:
    schema = pa.schema([("c", pa.dictionary(pa.int8(), pa.string()))])
    batches = [pa.record_batch([pa.array(["b", "a", "b"]).dictionary_encode()], schema=schema),
               pa.record_batch([pa.array(["c", None, "a"]).dictionary_encode()], schema=schema)]
    path = tmp_path / "dicts.parquet"
    with pq.ParquetWriter(path, schema) as writer:
        for batch in batches:
            writer.write_table(pa.Table.from_batches([batch]))
    _check_same(path, ["c"])


@pytest.mark.parametrize("column", [
    pa.array([1, None, 3], type=pa.int64()),  # pandas makes floats of integers with nulls
    pa.array([True, None, False]),  # and objects of booleans with nulls
    pa.array([1.5, 2.5, 3.5], type=pa.float16()),
    pa.array([0, 1, 2], type=pa.timestamp("s")),
    pa.array([b"x", b"y", b"z"]),
    pa.array([[1], [2], [3]]),
])
def test_other_types_go_through_pandas(tmp_path: Path, column: pa.Array) -> None:
    path = tmp_path / "other.parquet"
    pq.write_table(pa.table({"x": column, "y": pa.array([1.0, 2.0, 3.0])}), path)
    assert read_parquet_columns(path, ["x", "y"]) is None
    assert isinstance(read_table(path, ["x", "y"], arrays=True), pd.DataFrame)
    assert isinstance(read_table(path, ["y"], arrays=True), ColumnTable)


def test_nullable_pandas_integers_go_through_pandas(tmp_path: Path) -> None:
    path = tmp_path / "nullable.parquet"
    pd.DataFrame({"x": pd.array([1, 2, 3], dtype="Int64"), "y": [1.0, 2.0, 3.0]}).to_parquet(path)
    assert read_parquet_columns(path, ["x"]) is None
    assert isinstance(read_parquet_columns(path, ["y"]), ColumnTable)


def test_repeated_names_and_missing_columns(tmp_path: Path) -> None:
    path = tmp_path / "repeated.parquet"
    pq.write_table(pa.Table.from_arrays([pa.array([1.0]), pa.array([2.0])], names=["a", "a"]),
                   path)
    assert read_parquet_columns(path, ["a"]) is None
    path2 = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"a": [1.0, 2.0]}), path2)
    table = read_parquet_columns(path2, ["a", "absent"])
    assert table is not None and table.names == ["a"]  # the caller reports what is absent


@pytest.mark.parametrize("seed", range(6))
def test_first_appearance_is_pandas_factorize(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 5000))
    for values in (rng.integers(-50, 50, n), rng.integers(0, 2**40, n).astype(np.uint64),
                   rng.integers(0, 3, n).astype(np.int8), rng.normal(size=n).round(1),
                   np.where(rng.random(n) < 0.2, np.nan, rng.integers(0, 9, n).astype(float))):
        np.testing.assert_array_equal(first_appearance(values), pd.factorize(values)[0])


@pytest.mark.parametrize("seed", range(4))
def test_combined_clusters_as_pandas_groupby(seed: int) -> None:
    """After the estimation sample's renumbering (``compact``), the same codes as the
    ``groupby(sort=False, dropna=False).ngroup()`` of the two columns."""
    rng = np.random.default_rng(seed)
    n = 4000
    frame = pd.DataFrame({"a": rng.choice(["x", "y", "z", None], n),
                          "b": np.where(rng.random(n) < 0.05, np.nan, rng.integers(0, 30, n))})
    want = frame.groupby(["a", "b"], sort=False, dropna=False).ngroup().to_numpy()
    want = np.where(frame.isna().any(axis=1), -1, want)
    view = FrameView(frame)
    got = combined_appearance([view.appearance_codes("a"), view.appearance_codes("b")])
    np.testing.assert_array_equal(got < 0, want < 0)
    np.testing.assert_array_equal(compact(got[got >= 0])[0], compact(want[want >= 0])[0])


def test_estimate_reads_parquet_without_pandas_and_matches_a_dataframe(tmp_path: Path) -> None:
    """The command line fits a Parquet file without importing pandas, and its JSON equals the
    Python API's on the DataFrame pandas reads from the same file (but for ``versions``)."""
    rng = np.random.default_rng(7)
    n = 4000
    frame = pd.DataFrame({
        "exporter": pd.Categorical(rng.choice([f"e{i}" for i in range(12)], n)),
        "importer": rng.choice([f"i{i}" for i in range(12)], n),
        "year": rng.integers(2000, 2005, n).astype(np.int32),
        "x": rng.normal(size=n),
    })
    frame["trade"] = rng.poisson(np.exp(0.3 * frame["x"]))
    path = tmp_path / "panel.parquet"
    frame.to_parquet(path)
    formula = "trade ~ x | exporter^year + importer"
    code = (
        "import json, sys\n"
        "from migtrade.cli.app import main\n"
        f"sys.argv = ['migtrade', 'estimate', {formula!r}, '--data', {str(path)!r}, "
        "'--vcov', 'cluster:exporter^importer', '--format', 'json']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(json.dumps({'pandas': 'pandas' in sys.modules}), file=sys.stderr)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=False)
    assert json.loads(run.stderr.strip().splitlines()[-1]) == {"pandas": False}, run.stderr
    cli = json.loads(run.stdout)
    import migtrade as mt

    api = mt.estimate(formula, data=pd.read_parquet(path), vcov="cluster:exporter^importer")
    doc = api.to_dict() if hasattr(api, "to_dict") else json.loads(api.to_json())
    for d in (cli, doc):
        d.pop("versions", None)
        d.pop("data", None)
    assert cli == doc


@pytest.mark.parametrize("model", ["ols", "ppml"])
def test_an_estimate_leaves_the_tables_arrays_as_they_were(model: str) -> None:
    """``ColumnTable.numeric`` hands out a float64 column itself (as a DataFrame's
    ``to_numpy`` does): an estimate on a table whose outcome, regressor and weights hold NaN
    and infinite values, under every path that replaces or masks them, leaves every array of
    the table as it was."""
    from migtrade.estimation.fit import estimate
    from migtrade.estimation.vcov import VcovSpec

    rng = np.random.default_rng(5)
    n = 600
    y = rng.poisson(2.0, n).astype(np.float64)
    x = rng.normal(size=n)
    w = rng.uniform(0.5, 2.0, n)
    y[:3] = [np.nan, np.inf, 0.0]
    x[5:7] = [np.nan, -np.inf]
    w[9] = np.nan
    fe = rng.integers(0, 12, n)
    cl = rng.integers(0, 30, n)
    columns = {"y": y, "x": x, "w": w, "fe": fe, "cl": cl}
    before = {k: v.copy() for k, v in columns.items()}
    table = ColumnTable(columns, n)
    assert table.numeric("x") is x  # no copy: the reason for this test
    formula = "y ~ x | fe" if model == "ppml" else "log(1 + y) ~ x | fe"
    if model == "ppml":
        y[1] = 5.0  # PPML refuses an infinite outcome; the rest stays
        before["y"] = y.copy()
    estimate(formula, table, model=model, weights="w", vcov=VcovSpec.parse("cluster:cl"))
    for name, values in before.items():
        np.testing.assert_array_equal(columns[name], values, err_msg=name)
