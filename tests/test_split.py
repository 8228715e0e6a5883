"""Split runs in process: one model per level of a variable, each equal to its own estimate on
the level's rows; failures recorded; outputs; resume; bad input. (Dask: test_split_dask.py.)"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from split_panels import FORMULA, product_panel

import migtrade as mt
from migtrade.split.partition import partition_frame, partition_parquet, read_part

# Each sector is fitted on exactly the rows of frame[frame.product == level], in the same order,
# by the same code: the numbers agree to rounding (1e-10 leaves room for nothing else).
TOL = 1e-10
VCOV = "cluster:exporter"


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return product_panel(products=6, zero_products=(2,))


@pytest.fixture(scope="module")
def panel_file(panel: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("split") / "products.parquet"
    panel.to_parquet(path, index=False)
    return path


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIGTRADE_SPLIT_CACHE", str(tmp_path_factory.getbasetemp() / "split-cache"))


def _assert_same(a: dict, b: dict) -> None:
    assert list(a["coefficients"]) == list(b["coefficients"])
    for term, coef in a["coefficients"].items():
        for key in ("estimate", "std_error", "p_value"):
            assert coef[key] == pytest.approx(b["coefficients"][term][key], rel=TOL, abs=TOL), (term, key)
    np.testing.assert_allclose(np.array(a["cov"], float), np.array(b["cov"], float), rtol=TOL, atol=TOL)
    assert a["nobs"] == b["nobs"] and a["dropped"] == b["dropped"]


def test_each_sector_equals_its_own_estimate(cli, panel_file: Path, panel: pd.DataFrame) -> None:
    code, out, err = cli("estimate", FORMULA, "--data", str(panel_file), "--split", "product",
                         "--vcov", VCOV, "--format", "json")
    assert code == 7, err  # the product without trade fails; the others are estimated
    saved = json.loads(out)
    assert [e["split"]["product"] for e in saved] == sorted(panel["product"].unique())  # text kept
    for element in saved:
        level = element["split"]["product"]
        rows = panel[panel["product"] == level]
        if level == "030000":
            assert element["status"] == "failed"
            assert element["error"]["kind"] == "EstimationError" and element["error"]["exit_code"] == 4
            assert "zero in all" in element["error"]["message"]
            continue
        assert element["status"] == "ok" and element["schema"] == "migtrade.estimation/1"
        alone = mt.estimate(FORMULA, rows, vcov=VCOV)
        _assert_same(element, alone.to_dict())


def test_exit_codes_and_one_line(cli, panel_file: Path, tmp_path: Path) -> None:
    save = tmp_path / "r.json"
    code, _, err = cli("estimate", FORMULA, "--data", str(panel_file), "--split", "product",
                       "--vcov", VCOV, "--save", str(save), "--format", "csv")
    assert code == 7
    assert err.count("\n") == 1 and "1 of 6 sectors failed (first: product=030000" in err
    assert len(json.loads(save.read_text())) == 6  # the failure is saved with the others
    code, _, err = cli("estimate", FORMULA, "--data", str(panel_file), "--split", "product",
                       "--vcov", VCOV, "--strict", "--format", "json")
    assert code == 4 and "sector product=030000 failed" in err and err.count("\n") == 1


@pytest.mark.parametrize("args, words", [
    (["--split", "sector"], "split variable 'sector' not found"),
    (["--split", "product", "--workers", "0"], "--workers must be a whole number of at least 1"),
    (["--split", "product", "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "cannot be combined"),
    (["--workers", "2"], "--workers needs --split"),
    (["--split", "product", "--format", "md"], "--format md cannot show a split run"),
    (["--split", "product", "--resume"], "--resume needs --save"),
    (["--format", "parquet"], "--format parquet is the tidy table of a split run"),
])
def test_bad_input_is_one_line_exit_2(cli, panel_file: Path, args: list[str], words: str) -> None:
    code, _, err = cli("estimate", FORMULA, "--data", str(panel_file), *args)
    assert code == 2, err
    assert words in err and err.count("\n") == 1 and err.startswith("migtrade: error:")


def test_tidy_csv_and_parquet(cli, panel_file: Path, tmp_path: Path) -> None:
    code, out, _ = cli("estimate", FORMULA, "--data", str(panel_file), "--split", "product",
                       "--vcov", VCOV, "--format", "csv", "--model", "ppml,ols")
    assert code == 7
    frame = pd.read_csv(io.StringIO(out), dtype={"product": str})
    assert list(frame.columns) == ["product", "formula", "model", "term", "estimate", "std_error",
                                   "p_value", "nobs", "converged", "status", "error"]
    ok = frame[frame["status"] == "ok"]
    assert set(ok["term"]) == {"log_dist", "rta", "ln_tariff"}
    assert ok.groupby(["product", "model"]).size().eq(3).all()
    failed = frame[frame["status"] == "failed"]
    assert list(zip(failed["product"], failed["model"], strict=True)) == [("030000", "ppml")]


def test_api_split_result(panel: pd.DataFrame) -> None:
    found = mt.estimate(FORMULA, panel, split="product", vcov=VCOV)
    assert len(found) == 5 and found.levels[0] == "010000"
    assert [f["split"] for f in found.failed] == [{"product": "030000"}]
    tidy = found.to_frame()
    assert (tidy["status"] == "failed").sum() == 1 and len(tidy) == 5 * 3 + 1
    one = found.get("040000")[0]
    alone = mt.estimate(FORMULA, panel[panel["product"] == "040000"], vcov=VCOV)
    np.testing.assert_allclose(one.params, alone.params, rtol=TOL, atol=TOL)
    with pytest.raises(mt.UsageError, match="workers and scheduler run a split"):
        mt.estimate(FORMULA, panel, workers=2)


def test_resume_runs_only_what_is_missing(cli, panel_file: Path, tmp_path: Path) -> None:
    save = tmp_path / "r.json"
    base = ["estimate", FORMULA, "--data", str(panel_file), "--split", "product", "--vcov", VCOV,
            "--save", str(save), "--format", "json"]
    assert cli(*base)[0] == 7
    whole = json.loads(save.read_text())
    # An interrupted run: three sectors saved; the marker shows which were not fitted again.
    partial = whole[:3]
    partial[0]["notes"] = ["kept from the first run"]
    save.write_text(json.dumps(partial))
    assert cli(*base, "--resume")[0] == 7
    resumed = json.loads(save.read_text())
    assert resumed[0]["notes"] == ["kept from the first run"]
    resumed[0]["notes"] = whole[0]["notes"]
    assert resumed == whole
    # Another formula cannot continue this file.
    code, _, err = cli("estimate", "trade ~ log_dist | exporter^year + importer^year", "--data",
                       str(panel_file), "--split", "product", "--vcov", VCOV, "--save", str(save),
                       "--resume")
    assert code == 2 and "made by another split run" in err


def test_partitions_keep_the_input_order_and_are_reused(panel: pd.DataFrame, panel_file: Path,
                                                         tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    parts = partition_parquet(panel_file, "product", cache)
    assert [lv.value for lv in parts.levels] == sorted(panel["product"].unique())
    level = parts.levels[3]
    got = read_part([str(f) for f in parts.part_files(level.part)], ["trade", "exporter", "product"])
    want = panel.loc[panel["product"] == level.value, ["trade", "exporter", "product"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert level.rows == len(want)
    # Written once: a second run finds the complete copy; a staging folder left by a killed
    # run is never read as a copy.
    stamp = (parts.root / "manifest.json").stat().st_mtime_ns
    (cache / ".staging-left-by-a-killed-run").mkdir()
    assert partition_parquet(panel_file, "product", cache).root == parts.root
    assert (parts.root / "manifest.json").stat().st_mtime_ns == stamp
    from_frame = partition_frame(panel, "product", {"sha256": "x", "rows": len(panel)}, cache)
    bytes_back = read_part(from_frame.part_bytes(level.part), None)
    pd.testing.assert_frame_equal(bytes_back[want.columns], want, check_dtype=False)


def test_batches_are_consecutive_and_balanced() -> None:
    from migtrade.split.engine import batches

    rows = [10] * 300
    plan = batches(rows, slots=2, per_slot=8)
    assert [i for b in plan for i in b] == list(range(300))  # every level once, in order
    assert len(plan) == 16 and {len(b) for b in plan} <= {18, 19}
    # A level larger than the target is a batch of its own, never split.
    plan = batches([1000, 1, 1, 1, 1000, 1], slots=1, per_slot=3)
    assert [i for b in plan for i in b] == list(range(6)) and [0] in plan
    assert batches([5, 5], slots=4, per_slot=8) == [[0], [1]]


def test_tasks_per_worker_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from migtrade.split import SplitOptions

    monkeypatch.setenv("MIGTRADE_SPLIT_TASKS_PER_WORKER", "3")
    assert SplitOptions("product").tasks_per_worker == 3
    monkeypatch.setenv("MIGTRADE_SPLIT_TASKS_PER_WORKER", "0")
    with pytest.raises(mt.UsageError, match="at least 1"):
        SplitOptions("product")


def test_progress_bar_only_on_a_terminal() -> None:
    from migtrade.split.progress import Bar, Silent, progress_for

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert isinstance(progress_for(io.StringIO()), Silent)
    assert isinstance(progress_for(Terminal()), Bar)
    assert isinstance(progress_for(Terminal(), quiet=True), Silent)


def test_a_stored_dataset_is_partitioned_from_its_file(panel: pd.DataFrame, tmp_path: Path) -> None:
    import hashlib

    from migtrade.split.engine import _stored
    from migtrade.store.catalog import Store
    from migtrade.store.provenance import Provenance, utc_timestamp
    from migtrade.store.resolve import load_data

    root = tmp_path / "store"
    Store(root).write("products", panel, Provenance(
        source="file", location="/data/products.parquet", retrieved_at=utc_timestamp(),
        sha256=hashlib.sha256(b"products").hexdigest(), parser_version="1", rows=len(panel)))
    partition = _stored("products", root)
    assert partition is not None and _stored("no_such_data", root) is None
    parts = partition("product", tmp_path / "cache")
    # The results' data description is the one an unsplit estimate on the dataset records.
    assert parts.data_info == load_data("products", ["trade"], store=root)[1]
    level = parts.levels[0]
    got = read_part([str(f) for f in parts.part_files(level.part)], ["trade", "exporter"])
    want = panel.loc[panel["product"] == level.value, ["trade", "exporter"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)


def test_a_sectors_warnings_go_into_its_notes(panel: pd.DataFrame, monkeypatch: pytest.MonkeyPatch,
                                              recwarn: pytest.WarningsRecorder) -> None:
    import warnings

    import migtrade.estimation.fit as fit_module

    original = fit_module.fit

    def warning_fit(*args, **kwargs):  # type: ignore[no-untyped-def]
        warnings.warn("the separation check (ReLU) did not finish in 100 passes", RuntimeWarning,
                      stacklevel=2)
        return original(*args, **kwargs)

    monkeypatch.setattr(fit_module, "fit", warning_fit)
    found = mt.estimate(FORMULA, panel[panel["product"] == "010000"], split="product", vcov=VCOV)
    assert found[0].notes[-1] == "warning: the separation check (ReLU) did not finish in 100 passes"
    assert not [w for w in recwarn if "ReLU" in str(w.message)]
