"""``migtrade data`` and ``migtrade estimate --data NAME`` from the command line.

Every test points the store at a temporary folder (``MIGTRADE_STORE`` or ``--store``), never at
the user's real one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import cli
from typer.testing import CliRunner

from migtrade.cli.app import app
from migtrade.store.catalog import Store
from migtrade.store.provenance import Provenance, utc_timestamp
from migtrade.synthetic.gravity import gravity_panel

runner = CliRunner()

def run(*args: str, store: Path | None = None) -> tuple[int, str, str]:
    """``migtrade ARGS`` in this process with the store in ``store``."""
    return cli(*args, env={"MIGTRADE_STORE": str(store)} if store is not None else None)


def provenance(rows: int, source: str = "worldbank") -> Provenance:
    return Provenance(source=source, location="https://example.org/api", retrieved_at=utc_timestamp(),
                      sha256=hashlib.sha256(b"payload").hexdigest(), parser_version="3", rows=rows,
                      options={"indicator": "NY.GDP.MKTP.CD", "years": [1990, 1992]})


@pytest.fixture
def store_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "store"
    monkeypatch.setenv("MIGTRADE_STORE", str(root))
    return root


@pytest.fixture
def filled(store_dir: Path) -> Store:
    store = Store(store_dir)
    panel = gravity_panel(10, 3).frame
    store.write("panel", panel, provenance(len(panel), source="file"))
    store.write("wdi-gdp", pd.DataFrame({"iso3": ["QQB", "XEG"], "gdp": [1.5, 2.5]}), provenance(2))
    return store


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("migtrade: error: "), err
    assert "Traceback" not in err
    return lines[0]


# -- list ----------------------------------------------------------------------------------------

LIST_KEYS = {"name", "source", "rows", "columns", "version", "written_at", "file_sha256", "provenance"}
PROVENANCE_KEYS = {"source", "location", "retrieved_at", "sha256", "parser_version", "rows", "options",
                   "inputs"}


def test_list_json_schema(filled: Store) -> None:
    filled.write("wdi-gdp", pd.DataFrame({"iso3": ["QQB"], "gdp": [1.0]}), provenance(1))
    result = runner.invoke(app, ["data", "list", "--format", "json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert isinstance(listed, list) and [d["name"] for d in listed] == ["panel", "wdi-gdp"]
    for item in listed:
        assert set(item) == LIST_KEYS
        assert set(item["provenance"]) == PROVENANCE_KEYS
        assert isinstance(item["rows"], int) and isinstance(item["version"], int)
        assert all(isinstance(c, str) for c in item["columns"])
        assert len(item["file_sha256"]) == 64 and len(item["provenance"]["sha256"]) == 64
        assert item["source"] == item["provenance"]["source"]
        assert item["written_at"].endswith("Z")
        assert isinstance(item["provenance"]["options"], dict)
        assert isinstance(item["provenance"]["inputs"], list)
    gdp = listed[1]
    assert gdp["version"] == 2 and gdp["rows"] == 1 and gdp["columns"] == ["iso3", "gdp"]
    assert gdp["provenance"]["options"] == {"indicator": "NY.GDP.MKTP.CD", "years": [1990, 1992]}
    assert gdp["provenance"]["location"] == "https://example.org/api"


def test_list_rich_csv_and_empty(filled: Store, tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "list"])
    assert result.exit_code == 0 and "panel" in result.stdout and "wdi-gdp" in result.stdout
    result = runner.invoke(app, ["data", "list", "--format", "csv"])
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "name,source,rows,n_columns,version,written_at,location"
    assert lines[1].startswith("panel,file,270,11,1,")
    empty = tmp_path / "empty"
    result = runner.invoke(app, ["data", "list", "--store", str(empty), "--format", "json"])
    assert result.exit_code == 0 and json.loads(result.stdout) == []
    result = runner.invoke(app, ["data", "list", "--store", str(empty)])
    assert "No datasets" in result.stdout and not empty.exists()


# -- show ----------------------------------------------------------------------------------------

def test_show_prints_provenance_and_first_rows(filled: Store) -> None:
    result = runner.invoke(app, ["data", "show", "wdi-gdp"])
    assert result.exit_code == 0, result.output
    for text in ("worldbank", "https://example.org/api", "NY.GDP.MKTP.CD", "QQB", "1.5"):
        assert text in result.stdout
    result = runner.invoke(app, ["data", "show", "panel", "--format", "json", "--rows", "3"])
    shown = json.loads(result.stdout)
    assert set(shown) == {"dataset", "head"} and set(shown["dataset"]) == LIST_KEYS
    assert len(shown["head"]) == 3 and shown["head"][0]["exporter"] == "QQB"
    result = runner.invoke(app, ["data", "show", "panel", "--format", "csv", "-n", "2"])
    assert len(result.stdout.strip().splitlines()) == 3


# -- sql -----------------------------------------------------------------------------------------

def test_sql_formats(filled: Store) -> None:
    query = "SELECT year, count(*) AS n FROM panel GROUP BY year ORDER BY year"
    result = runner.invoke(app, ["data", "sql", query, "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["year,n", "1990,90", "1991,90", "1992,90"]
    result = runner.invoke(app, ["data", "sql", 'SELECT * FROM "wdi-gdp" ORDER BY iso3', "--format", "json"])
    assert json.loads(result.stdout) == [{"iso3": "QQB", "gdp": 1.5}, {"iso3": "XEG", "gdp": 2.5}]
    result = runner.invoke(app, ["data", "sql", "SELECT * FROM panel"])
    assert result.exit_code == 0 and "170 more rows" in result.stdout


@pytest.mark.parametrize(("query", "message"), [
    ("DELETE FROM panel", "only read-only queries are allowed"),
    ("SELECT nosuch FROM panel", "SQL error: Binder Error"),
])
def test_sql_errors_are_one_line(filled: Store, query: str, message: str) -> None:
    code, _, err = run("data", "sql", query, store=filled.root)
    assert code == 2
    assert message in one_error_line(err)


# -- export and remove ---------------------------------------------------------------------------

def test_export_refuses_overwrite_without_force(filled: Store, tmp_path: Path) -> None:
    out = tmp_path / "gdp.csv"
    result = runner.invoke(app, ["data", "export", "wdi-gdp", "--to", str(out)])
    assert result.exit_code == 0, result.output
    assert pd.read_csv(out)["gdp"].tolist() == [1.5, 2.5]
    out.write_text("keep me")
    code, _, err = run("data", "export", "wdi-gdp", "--to", str(out), store=filled.root)
    assert code == 2 and "already exists" in one_error_line(err) and "--force" in err
    assert out.read_text() == "keep me"
    code, _, err = run("data", "export", "wdi-gdp", "--to", str(out), "--force", store=filled.root)
    assert code == 0, err
    assert pd.read_csv(out)["iso3"].tolist() == ["QQB", "XEG"]
    parquet = tmp_path / "panel.parquet"
    assert runner.invoke(app, ["data", "export", "panel", "--to", str(parquet)]).exit_code == 0
    pd.testing.assert_frame_equal(pd.read_parquet(parquet), filled.read("panel"))


def test_remove(filled: Store) -> None:
    code, out, err = run("data", "remove", "wdi-gdp", store=filled.root)
    assert code == 0 and "removed dataset 'wdi-gdp'" in err and out == ""
    assert [i.name for i in filled.list()] == ["panel"]
    code, _, err = run("data", "remove", "wdi-gdp", store=filled.root)
    assert code == 2 and "no stored dataset named 'wdi-gdp'; stored: panel" in one_error_line(err)


@pytest.mark.parametrize("args", [["show", "Bad Name"], ["remove", "a/b"], ["export", "UP", "--to", "x.csv"]])
def test_bad_names_exit_2_with_the_rule(filled: Store, args: list[str]) -> None:
    code, _, err = run("data", *args, store=filled.root)
    assert code == 2 and "lowercase letters, digits" in one_error_line(err)


def test_corrupted_dataset_exit_2(filled: Store) -> None:
    (path,) = (filled.root / "data").glob("wdi-gdp~*.parquet")
    path.write_bytes(path.read_bytes()[:-10])
    code, _, err = run("data", "export", "wdi-gdp", "--to", str(filled.root.parent / "x.csv"),
                       store=filled.root)
    line = one_error_line(err)
    assert code == 2 and "dataset 'wdi-gdp' is corrupted (checksum mismatch)" in line
    assert "migtrade fetch worldbank" in line


# -- through the installed entry point -----------------------------------------------------------

def test_entry_point_store_option_wins_over_environment(filled: Store, tmp_path: Path) -> None:
    code, out, err = run("data", "list", "--format", "json", "--store", str(filled.root),
                         store=tmp_path / "elsewhere")
    assert code == 0, err
    assert [d["name"] for d in json.loads(out)] == ["panel", "wdi-gdp"]
    assert not (tmp_path / "elsewhere").exists()
    code, out, _ = run("data", "--help")
    assert code == 0 and all(c in out for c in ("list", "show", "export", "sql", "remove"))


FORMULA = "trade ~ log_dist + cntg + rta | exporter^year + importer^year"


def test_estimate_reads_a_stored_dataset(filled: Store, tmp_path: Path) -> None:
    info = filled.info("panel")
    code, out, err = run("estimate", FORMULA, "--data", "panel", "--store", str(filled.root),
                         "--format", "json", store=tmp_path / "elsewhere")
    assert code == 0, err
    data = json.loads(out)["data"]
    assert data["dataset"] == "panel" and data["sha256"] == info.file_sha256
    assert data["rows"] == 270 and data["provenance"] == info.provenance.to_dict()

    csv = tmp_path / "panel.csv"
    filled.read("panel").to_csv(csv, index=False)
    code, out, err = run("estimate", FORMULA, "--data", str(csv), "--format", "json")
    assert code == 0, err
    from_file = json.loads(out)
    code, out, _ = run("estimate", FORMULA, "--data", "panel", "--format", "json", store=filled.root)
    from_store = json.loads(out)
    assert from_store["coefficients"]["rta"]["estimate"] == pytest.approx(
        from_file["coefficients"]["rta"]["estimate"], rel=1e-10)


def test_estimate_unknown_dataset_mentions_file_and_store(filled: Store) -> None:
    code, _, err = run("estimate", FORMULA, "--data", "panl", store=filled.root)
    line = one_error_line(err)
    assert code == 2 and "no file or stored dataset named 'panl'" in line
    assert "panel" in line and "path of a CSV" in line
    code, _, err = run("estimate", FORMULA, "--data", "missing.csv", store=filled.root)
    assert code == 2 and "data file 'missing.csv' does not exist" in one_error_line(err)
