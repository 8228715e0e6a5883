"""Split runs on Dask: a local cluster of worker processes, a scheduler and workers started as
separate processes, a worker killed mid-run, a client killed and resumed. Every way of running
gives the numbers of the in-process run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from split_panels import FORMULA, product_panel

import migtrade as mt

pytestmark = pytest.mark.slow

# The same rows in the same order go through the same code wherever they run; 1e-10 leaves
# room for nothing but rounding.
TOL = 1e-10
VCOV = "cluster:exporter"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return product_panel(products=24, countries=10, years=3, zero_products=(5,))


@pytest.fixture(scope="module")
def panel_file(panel: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("split-dask") / "products.parquet"
    panel.to_parquet(path, index=False)
    return path


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("split-cache")


@pytest.fixture(autouse=True)
def _cache(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIGTRADE_SPLIT_CACHE", str(cache))


@pytest.fixture(scope="module")
def in_process(panel: pd.DataFrame) -> pd.DataFrame:
    return mt.estimate(FORMULA, panel, split="product", vcov=VCOV).to_frame()


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a["product"]) == list(b["product"]) and list(a["term"]) == list(b["term"])
    assert list(a["status"]) == list(b["status"])
    for col in ("estimate", "std_error", "p_value"):
        np.testing.assert_allclose(a[col], b[col], rtol=TOL, atol=TOL, equal_nan=True)
    assert a["nobs"].equals(b["nobs"])


def _tidy_of(saved: list[dict]) -> pd.DataFrame:
    from migtrade.split.outcome import SectorOutcome, tidy_frame

    return tidy_frame([SectorOutcome.from_dict(e) for e in saved], ["product"])


def test_local_cluster_gives_the_in_process_numbers(cli, panel: pd.DataFrame, panel_file: Path,
                                                    in_process: pd.DataFrame) -> None:
    found = mt.estimate(FORMULA, panel, split="product", vcov=VCOV, workers=2)
    _same(found.to_frame(), in_process)
    code, out, err = cli("estimate", FORMULA, "--data", str(panel_file), "--split", "product",
                         "--vcov", VCOV, "--workers", "2", "--format", "json")
    assert code == 7, err
    _same(_tidy_of(json.loads(out)), in_process)


# -- a scheduler and workers as separate processes --------------------------------------------

def _wait_for(check, seconds: float, what: str):  # type: ignore[no-untyped-def]
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``dask scheduler`` and ``dask worker`` (two processes of one thread) on 127.0.0.1."""
    folder = tmp_path_factory.mktemp("dask")
    file = folder / "scheduler.json"
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env,
             "start_new_session": True}
    scheduler = subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
                                  "--no-dashboard", "--scheduler-file", str(file)], **quiet)  # type: ignore[call-overload]
    workers = None
    try:
        _wait_for(file.exists, 30, "the scheduler file")
        address = _wait_for(lambda: json.loads(file.read_text() or "{}").get("address"), 10,
                            "the scheduler address")
        workers = subprocess.Popen([str(BIN / "dask"), "worker", "--scheduler-file", str(file),
                                    "--nworkers", "2", "--nthreads", "1", "--host", "127.0.0.1",
                                    "--no-dashboard"], cwd=folder, **quiet)  # type: ignore[call-overload]
        from distributed import Client

        with Client(address, timeout="20s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for proc in (workers, scheduler):
            if proc is not None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in (workers, scheduler):
            if proc is not None:
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)


def test_a_running_cluster_gives_the_in_process_numbers(cli, dask_cluster: str, panel_file: Path,
                                                        in_process: pd.DataFrame,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    base = ["estimate", FORMULA, "--data", str(panel_file), "--split", "product", "--vcov", VCOV,
            "--format", "json"]
    code, out, err = cli(*base, "--scheduler", dask_cluster)
    assert code == 7, err
    _same(_tidy_of(json.loads(out)), in_process)
    # Each task carrying its sectors' bytes, for workers without this machine's files.
    code, out, err = cli(*base, "--scheduler", dask_cluster, "--ship-data")
    assert code == 7, err
    _same(_tidy_of(json.loads(out)), in_process)
    monkeypatch.setenv("MIGTRADE_SCHEDULER", dask_cluster)
    code, out, err = cli(*base)
    assert code == 7, err
    _same(_tidy_of(json.loads(out)), in_process)


def test_an_unreachable_scheduler_is_one_line_exit_3(cli, panel_file: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIGTRADE_SCHEDULER_TIMEOUT", "1")
    code, _, err = cli("estimate", FORMULA, "--data", str(panel_file), "--split", "product",
                       "--scheduler", "tcp://127.0.0.1:9")
    assert code == 3 and "cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'" in err
    assert err.count("\n") == 1


def _split_run(panel_file: Path, save: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(BIN / "migtrade"), "estimate", FORMULA, "--data", str(panel_file), "--split", "product",
         "--vcov", VCOV, "--save", str(save), "--format", "csv", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ})


def _saved(save: Path) -> list[dict]:
    try:
        return json.loads(save.read_text()) if save.exists() else []
    except json.JSONDecodeError:  # never: the file is replaced whole; fail loudly if it were not
        raise AssertionError(f"{save} was seen half-written") from None


def test_a_worker_killed_mid_run_loses_nothing(dask_cluster: str, tmp_path: Path) -> None:
    from distributed import Client

    bigger = product_panel(products=40, countries=14, years=3, zero_products=(5,))
    path = tmp_path / "bigger.parquet"
    bigger.to_parquet(path, index=False)
    save = tmp_path / "run.json"
    with Client(dask_cluster, timeout="20s") as client:
        pids = client.run(os.getpid)
        run = _split_run(path, save, "--scheduler", dask_cluster)
        _wait_for(lambda: _saved(save) or run.poll() is not None, 120, "the first sectors")
        assert run.poll() is None, "the run ended before a worker could be killed"
        before = len(_saved(save))
        os.kill(next(iter(pids.values())), signal.SIGKILL)
        assert run.wait(180) == 7, run.stderr.read() if run.stderr else ""
        client.wait_for_workers(2, timeout=60)  # the nanny restarts it, for the next tests
    assert before < 40
    saved = _saved(save)
    levels = [e["split"]["product"] for e in saved]
    assert levels == sorted(bigger["product"].unique())  # every sector once, none twice
    expected = mt.estimate(FORMULA, bigger, split="product", vcov=VCOV).to_frame()
    _same(_tidy_of(saved), expected)


def test_a_killed_client_resumes_to_the_same_results(cli, tmp_path: Path) -> None:
    bigger = product_panel(products=40, countries=14, years=3, zero_products=(5,))
    path = tmp_path / "bigger.parquet"
    bigger.to_parquet(path, index=False)
    save = tmp_path / "killed.json"
    run = _split_run(path, save)
    _wait_for(lambda: _saved(save) or run.poll() is not None, 120, "the first sectors")
    run.send_signal(signal.SIGKILL)
    run.wait(30)
    partial = _saved(save)
    assert 0 < len(partial) < 40, "the run was not interrupted mid-way"
    code, _, err = cli("estimate", FORMULA, "--data", str(path), "--split", "product", "--vcov", VCOV,
                       "--save", str(save), "--resume", "--format", "csv")
    assert code == 7, err
    resumed = _saved(save)
    assert resumed[: len(partial)] == partial  # the saved sectors were kept, not fitted again
    whole = tmp_path / "whole.json"
    code, _, err = cli("estimate", FORMULA, "--data", str(path), "--split", "product", "--vcov", VCOV,
                       "--save", str(whole), "--format", "csv")
    assert code == 7, err
    assert resumed == _saved(whole)
