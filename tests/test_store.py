"""The local store: round trips, names, provenance, corruption, failed writes, SQL and export.

Crash safety, concurrency and memory are in ``test_store_durability.py``.
"""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from migtrade.errors import DataError, UsageError
from migtrade.store.catalog import Store
from migtrade.store.layout import ENV_VAR
from migtrade.store.provenance import DatasetInfo, Provenance, utc_timestamp
from migtrade.synthetic.gravity import gravity_panel


def prov(rows: int = 3, source: str = "file", **options: object) -> Provenance:
    return Provenance(source=source, location="/data/raw.csv", retrieved_at=utc_timestamp(),
                      sha256=hashlib.sha256(b"raw payload").hexdigest(), parser_version="1",
                      rows=rows, options=dict(options))


def mixed_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "iso3": pd.array(["FRA", "DEU", None], dtype="str"),
        "year": np.array([1990, 1991, 1992], dtype=np.int32),
        "value": [1.5, np.nan, 3.0],
        "flag": [True, False, True],
        "count": pd.array([1, None, 3], dtype="Int64"),
        "when": pd.to_datetime(pd.Series(["2020-01-01", "2020-06-01", None])),
        "region": pd.Categorical(["EU", "EU", "AS"]),
    })


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


def data_files(store: Store) -> list[str]:
    return sorted(p.name for p in (store.root / "data").iterdir())


# -- round trips ---------------------------------------------------------------------------------

def test_round_trip_keeps_values_and_dtypes(store: Store) -> None:
    frame = mixed_frame()
    info = store.write("mixed", frame, prov(options_year=1990))
    got = store.read("mixed")
    pd.testing.assert_frame_equal(got, frame)
    assert info == store.info("mixed")
    assert info.rows == 3 and info.columns == tuple(frame.columns) and info.version == 1
    assert len(info.file_sha256) == 64
    assert info.provenance.options == {"options_year": 1990}


def test_gravity_panel_round_trip_and_column_subset(store: Store) -> None:
    frame = gravity_panel(10, 3).frame
    store.write("panel", frame, prov(len(frame)))
    pd.testing.assert_frame_equal(store.read("panel"), frame)
    part = store.read("panel", columns=["trade", "exporter"])
    assert list(part.columns) == ["trade", "exporter"]
    pd.testing.assert_frame_equal(part, frame[["trade", "exporter"]])
    with pytest.raises(DataError, match="has no column 'nosuch'"):
        store.read("panel", columns=["trade", "nosuch"])
    head = store.head("panel", 4)
    pd.testing.assert_frame_equal(head, frame.head(4))
    assert store.head("panel", 0).empty


def test_overwrite_increments_version_and_deletes_old_file(store: Store) -> None:
    store.write("x", pd.DataFrame({"a": [1]}), prov(1))
    first = data_files(store)
    info = store.write("x", pd.DataFrame({"a": [2, 3]}), prov(2))
    assert info.version == 2 and info.rows == 2
    assert store.read("x")["a"].tolist() == [2, 3]
    assert len(data_files(store)) == 1 and data_files(store) != first


def test_list_exists_remove(store: Store) -> None:
    assert store.list() == [] and not store.exists("a")
    assert not store.root.exists(), "reading a fresh store must create nothing"
    for name in ("b-2", "a.1", "c_3"):
        store.write(name, pd.DataFrame({"v": [1.0]}), prov(1))
    assert [i.name for i in store.list()] == ["a.1", "b-2", "c_3"]
    assert all(isinstance(i, DatasetInfo) for i in store.list())
    store.remove("b-2")
    assert not store.exists("b-2") and [i.name for i in store.list()] == ["a.1", "c_3"]
    assert len(data_files(store)) == 2
    with pytest.raises(DataError, match="no stored dataset named 'b-2'"):
        store.remove("b-2")


def test_empty_frame_and_zero_rows(store: Store) -> None:
    store.write("empty", pd.DataFrame({"a": pd.Series([], dtype="float64")}), prov(0))
    assert store.read("empty").shape == (0, 1)
    with pytest.raises(DataError, match="no columns"):
        store.write("nocols", pd.DataFrame(index=[0, 1]), prov(2))


# -- names ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["Panel", "my panel", "a/b", "", ".hidden", "-opt", "é", "x" * 65])
def test_bad_names_name_the_rule(store: Store, bad: str) -> None:
    with pytest.raises(UsageError, match="lowercase letters, digits"):
        store.write(bad, pd.DataFrame({"a": [1]}), prov(1))
    with pytest.raises(UsageError, match="invalid dataset name"):
        store.read(bad)


def test_unknown_name_lists_close_matches_first(store: Store) -> None:
    for name in ("zeta", "gravity_panel", "gdp", "gravity_pane1"):
        store.write(name, pd.DataFrame({"a": [1]}), prov(1))
    with pytest.raises(DataError) as err:
        store.read("gravity-panel")
    message = err.value.one_line()
    listed = message.split("stored: ", 1)[1]
    assert listed.index("gravity_panel") < listed.index("gdp")
    assert listed.index("gravity_pane1") < listed.index("zeta")
    with pytest.raises(DataError, match="is empty"):
        Store(store.root.parent / "other").info("x")


# -- provenance ----------------------------------------------------------------------------------

def test_provenance_round_trip_and_immutability() -> None:
    indicators = ["NY.GDP.MKTP.CD"]
    p = prov(5, source="worldbank", indicator=indicators, years=[1990, 2020])
    assert Provenance.from_dict(p.to_dict()) == p
    assert Provenance.from_dict({**p.to_dict(), "future_key": 1}) == p
    indicators.append("changed")
    assert p.options["indicator"] == ["NY.GDP.MKTP.CD"]
    d = p.to_dict()
    d["options"]["years"].append(1)
    assert p.options["years"] == [1990, 2020]


@pytest.mark.parametrize(("field", "value", "message"), [
    ("sha256", "abc", "64 lowercase hex"),
    ("retrieved_at", "yesterday", "ISO 8601"),
    ("retrieved_at", "2024-01-01T00:00:00", "time zone"),
    ("rows", -1, "non-negative"),
    ("source", "World Bank", "lowercase"),
    ("options", {"f": object()}, "JSON"),
    ("inputs", ({"name": "x"},), "sha256"),
])
def test_provenance_validates_itself(field: str, value: object, message: str) -> None:
    fields = prov().to_dict() | {field: value}
    with pytest.raises(ValueError, match=message):
        Provenance(**fields)


def test_derived_provenance_fingerprints_inputs(store: Store) -> None:
    a = store.write("trade", pd.DataFrame({"a": [1]}), prov(1, source="cepii"))
    b = store.write("migration", pd.DataFrame({"b": [2]}), prov(1, source="undesa"))
    p = Provenance.derived("panel", [a, b], parser_version="2", rows=1, options={"how": "inner"})
    assert p.location == "store:trade+migration"
    assert [i["name"] for i in p.inputs] == ["trade", "migration"]
    assert p.inputs[0]["sha256"] == a.file_sha256 and p.inputs[1]["source"] == "undesa"
    again = Provenance.derived("panel", [a, b], parser_version="2", rows=1)
    assert again.sha256 == p.sha256
    assert Provenance.derived("panel", [b, a], parser_version="2", rows=1).sha256 != p.sha256
    info = store.write("panel", pd.DataFrame({"a": [1]}), p)
    assert store.info("panel").provenance == p == info.provenance


# -- corruption ----------------------------------------------------------------------------------

def stored_file(store: Store, name: str) -> Path:
    (path,) = [p for p in (store.root / "data").iterdir() if p.name.startswith(f"{name}~")]
    return path


def test_truncated_file_is_detected(store: Store, tmp_path: Path) -> None:
    store.write("p", gravity_panel(10, 3).frame, prov(270, source="worldbank"))
    path = stored_file(store, "p")
    path.write_bytes(path.read_bytes()[:-100])
    for action in (lambda: store.read("p"), lambda: store.head("p"),
                   lambda: store.export("p", tmp_path / "out.csv"),
                   lambda: store.sql("SELECT count(*) FROM p")):
        with pytest.raises(DataError) as err:
            action()
        text = err.value.one_line()
        assert "dataset 'p' is corrupted (checksum mismatch)" in text
        assert "fetch it again with `migtrade fetch worldbank`" in text
    assert not (tmp_path / "out.csv").exists()
    store.write("fine", pd.DataFrame({"a": [1]}), prov(1))
    assert store.sql("SELECT a FROM fine")["a"].tolist() == [1], "other datasets stay queryable"


def test_flipped_bytes_are_detected(store: Store) -> None:
    store.write("p", gravity_panel(10, 3).frame, prov(270))
    path = stored_file(store, "p")
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"corrupted \(checksum mismatch\)"):
        store.read("p", columns=["trade"])


def test_missing_file_is_reported(store: Store) -> None:
    store.write("p", pd.DataFrame({"a": [1]}), prov(1, source="panel"))
    stored_file(store, "p").unlink()
    with pytest.raises(DataError, match=r"missing.*rebuild it with `migtrade panel build`"):
        store.read("p")


# -- failed writes leave nothing -----------------------------------------------------------------

@pytest.mark.parametrize("frame", [
    pd.DataFrame({"ok": [1, 2], "bad": [{"a": 1}, 3]}),
    pd.DataFrame([[1, 2]], columns=["a", "a"]),
    pd.DataFrame({0: [1]}),
    pd.DataFrame({"a": [1]}, index=pd.Index([5], name="year")),
], ids=["mixed-objects", "duplicate-columns", "int-column-name", "named-index"])
def test_failing_write_leaves_no_entry_and_no_file(store: Store, frame: pd.DataFrame) -> None:
    store.write("keep", pd.DataFrame({"a": [1]}), prov(1))
    with pytest.raises(DataError, match="cannot store dataset"):
        store.write("new", frame, prov(1))
    with pytest.raises(DataError, match="cannot store dataset"):
        store.write("keep", frame, prov(1))
    assert [i.name for i in store.list()] == ["keep"]
    assert store.read("keep")["a"].tolist() == [1] and store.info("keep").version == 1
    assert len(data_files(store)) == 1
    assert list((store.root / "tmp").iterdir()) == []


# -- write_from_parquet --------------------------------------------------------------------------

def test_write_from_parquet_moves_file_without_pandas(store: Store, tmp_path: Path) -> None:
    frame = gravity_panel(10, 3).frame
    staged = store.staging_path()
    frame.to_parquet(staged, index=False)
    info = store.write_from_parquet("panel", staged, prov(len(frame)))
    assert not staged.exists()
    assert info.rows == len(frame) and info.columns == tuple(frame.columns)
    pd.testing.assert_frame_equal(store.read("panel"), frame)

    outside = tmp_path / "outside.parquet"
    frame.head(5).to_parquet(outside)  # with a RangeIndex in the pandas metadata only
    info = store.write_from_parquet("panel", outside, prov(5))
    assert info.version == 2 and info.columns == tuple(frame.columns) and not outside.exists()
    assert len(store.read("panel")) == 5


def test_write_from_parquet_copies_across_file_systems(store: Store, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "other-disk.parquet"
    pd.DataFrame({"a": [1, 2, 3]}).to_parquet(source, index=False)
    real_rename = os.rename

    def cross_device(src: object, dst: object) -> None:
        if Path(str(src)) == source:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_rename(str(src), str(dst))

    monkeypatch.setattr(os, "rename", cross_device)
    info = store.write_from_parquet("a", source, prov(3))
    assert info.rows == 3 and not source.exists()
    assert store.read("a")["a"].tolist() == [1, 2, 3]


def test_write_from_parquet_refuses_other_files(store: Store, tmp_path: Path) -> None:
    fake = tmp_path / "fake.parquet"
    fake.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="not a readable Parquet file"):
        store.write_from_parquet("x", fake, prov(1))
    assert fake.exists() and not store.exists("x")
    with pytest.raises(DataError, match="does not exist"):
        store.write_from_parquet("x", tmp_path / "none.parquet", prov(1))


# -- SQL -----------------------------------------------------------------------------------------

def test_sql_over_views(store: Store) -> None:
    frame = gravity_panel(10, 3).frame
    store.write("panel", frame, prov(len(frame)))
    store.write("wdi-gdp", pd.DataFrame({"iso3": ["QQB"], "gdp": [5.0]}), prov(1))
    got = store.sql("SELECT year, count(*) AS n FROM panel GROUP BY year ORDER BY year")
    assert got["n"].tolist() == frame.groupby("year").size().tolist()
    joined = store.sql('WITH g AS (SELECT * FROM "wdi-gdp") '
                       "SELECT count(*) AS n FROM panel p JOIN g ON p.exporter = g.iso3")
    assert int(joined["n"].iloc[0]) == int((frame["exporter"] == "QQB").sum())
    assert set(store.sql("SHOW TABLES")["name"]) == {"panel", "wdi-gdp"}
    assert "trade" in store.sql("DESCRIBE panel")["column_name"].tolist()
    assert store.sql("  -- a comment\n(SELECT 1 AS one)")["one"].tolist() == [1]


@pytest.mark.parametrize(("query", "message"), [
    ("DROP VIEW panel", "only read-only queries"),
    ("COPY (SELECT 1) TO 'x.csv'", "only read-only queries"),
    ("SELECT 1; DROP VIEW panel", "one SQL statement"),
    ("WITH a AS (SELECT 1) INSERT INTO panel SELECT * FROM a", "not INSERT"),
    ("ATTACH 'other.duckdb'", "only read-only queries"),
    ("SELECT * FROM read_csv('/etc/passwd')", "SQL error"),
    ("SELECT * FROM nosuch", "SQL error: Catalog Error"),
    ("SELEC 1", "only read-only queries"),
    ("SELECT FROM WHERE", "SQL error"),
])
def test_sql_rejects_writes_and_reports_duckdb_errors(store: Store, query: str, message: str) -> None:
    store.write("panel", pd.DataFrame({"a": [1]}), prov(1))
    with pytest.raises(UsageError, match=message) as err:
        store.sql(query)
    assert "\n" not in err.value.one_line()
    assert store.read("panel")["a"].tolist() == [1]


# -- export --------------------------------------------------------------------------------------

@pytest.mark.parametrize("ext", [".csv", ".csv.gz", ".parquet", ".dta"])
def test_export_formats_round_trip(store: Store, tmp_path: Path, ext: str) -> None:
    frame = gravity_panel(10, 3).frame
    store.write("panel", frame, prov(len(frame)))
    out = tmp_path / f"panel{ext}"
    store.export("panel", out)
    readers: dict[str, Callable[[Path], pd.DataFrame]] = {
        ".csv": pd.read_csv, ".csv.gz": pd.read_csv, ".parquet": pd.read_parquet, ".dta": pd.read_stata}
    back = readers[ext](out)
    assert len(back) == len(frame) and list(back.columns) == list(frame.columns)
    np.testing.assert_allclose(back["trade"].to_numpy(), frame["trade"].to_numpy(), rtol=1e-12)
    assert back["exporter"].astype(str).tolist() == frame["exporter"].astype(str).tolist()
    if ext == ".parquet":
        assert pq.read_metadata(out).num_rows == len(frame)
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name, "store"], "no temporary file left"


def test_export_refuses_to_overwrite_unless_asked(store: Store, tmp_path: Path) -> None:
    store.write("x", pd.DataFrame({"a": [1, 2]}), prov(2))
    out = tmp_path / "x.csv"
    out.write_text("precious")
    with pytest.raises(UsageError, match="already exists"):
        store.export("x", out)
    assert out.read_text() == "precious"
    store.export("x", out, overwrite=True)
    assert pd.read_csv(out)["a"].tolist() == [1, 2]
    with pytest.raises(UsageError, match="export format"):
        store.export("x", tmp_path / "x.xlsx")
    with pytest.raises(UsageError, match="does not exist"):
        store.export("x", tmp_path / "no" / "x.csv")


# -- location ------------------------------------------------------------------------------------

def test_root_from_environment_and_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env-store"))
    assert Store().root == tmp_path / "env-store"
    assert Store(tmp_path / "explicit").root == tmp_path / "explicit"
    monkeypatch.setenv(ENV_VAR, "")
    import platformdirs

    assert Store().root == Path(platformdirs.user_data_dir("migtrade"))


def test_store_root_that_is_a_file(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("")
    with pytest.raises(UsageError, match="is a file"):
        Store(path).write("x", pd.DataFrame({"a": [1]}), prov(1))


def test_unreadable_catalog_is_a_data_error(store: Store) -> None:
    store.write("x", pd.DataFrame({"a": [1]}), prov(1))
    (store.root / "catalog.duckdb").write_bytes(b"not a database" * 100)
    wal = store.root / "catalog.duckdb.wal"
    if wal.exists():
        os.unlink(wal)
    with pytest.raises(DataError, match=r"catalog .* cannot be opened"):
        store.list()
