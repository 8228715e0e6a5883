"""BACI at scale: a BACI-shaped release through the store to one PPML per product, timed, with peak memory.

Usage::

    python benchmarks/bench_baci.py [--products 2000 --countries 80 --years 5] [--workers 2]
        [--out-dir benchmarks/out/baci] [--stages make,fetch,panel,split,table]

Every stage is the installed ``migtrade`` command (or ``benchmarks/make_baci.py``) run as a
whole process, one after the other, in one store under ``--out-dir``:

1. ``make``: a release of products x countries x (countries - 1) x years cells (2,000 x 80 x 79
   x 5 = 63.2 M; about 64% positive flows written, the rest zeros absent as in BACI).
2. ``fetch``: ``migtrade fetch baci --file ZIP``: stream, check, join ISO3 codes, sort by product.
3. ``panel``: ``migtrade panel build --level product``: every product x every pair-year with its
   zeros (63.2 M rows), the covariates and migrant stocks joined out of core.
4. ``split``: ``migtrade estimate FORMULA --data PANEL --split k --workers N --save R.json``: PPML
   with exporter-year and importer-year effects per product, errors clustered by exporter.
5. ``table``: ``migtrade table R.json -f csv`` (the long form) and ``migtrade plot split``.

Memory is sampled every 0.1 s over the process tree of each stage (psutil): the peak resident
set of the client (the command's own process) and of each other process (the Dask nanny and
worker processes of ``--workers``), reported as the largest per worker. The read of one product
from the stored, product-sorted BACI file (row groups touched, seconds) is measured beside. The
table is printed and written with the raw numbers to ``bench_baci_<timestamp>.{md,json}``;
the estimates are compared with the generator's true elasticities. ``--compare-unsorted`` also
times that read on a copy in the order of BACI's own files (year, exporter, importer), where
every row group holds every product.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MIGTRADE = [sys.executable, "-m", "migtrade"]
FORMULA = "trade ~ log(dist) + contig + comlang + log1p(migrant_stock) | origin^year + destination^year"
STAGES = ("make", "fetch", "panel", "split", "table")


def run_measured(cmd: list[str], env: dict[str, str], log: Path) -> dict[str, Any]:
    """Run ``cmd``; wall time, exit code and peak RSS of the root process and of every descendant."""
    import psutil

    start = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    root = psutil.Process(proc.pid)
    peaks: dict[int, tuple[int, str]] = {}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
            except psutil.Error:
                tree = []
            for p in tree:
                try:
                    rss = p.memory_info().rss
                    name = " ".join(p.cmdline()[:6])
                except psutil.Error:
                    continue
                if rss > peaks.get(p.pid, (0, ""))[0]:
                    peaks[p.pid] = (rss, name)
            done.wait(0.1)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    code = proc.wait()
    done.set()
    thread.join()
    seconds = time.perf_counter() - start
    client = peaks.get(proc.pid, (0, ""))[0]
    others = {pid: v for pid, v in peaks.items() if pid != proc.pid}
    workers = [rss for rss, name in others.values() if "spawn" in name or "forkserver" in name
               or "distributed" in name or "multiprocessing" in name]
    return {"cmd": cmd, "exit_code": code, "seconds": round(seconds, 2), "client_mb": round(client / 2**20),
            "worker_peak_mb": round(max(workers, default=0) / 2**20), "processes": len(peaks),
            "worker_processes": len(workers), "tree_peaks_mb": sorted(round(v[0] / 2**20) for v in others.values())}


def read_one_product(store: Path, compare: bool) -> dict[str, Any]:
    """Read one product from the stored BACI file: row groups touched and seconds (median of 5)."""
    import statistics

    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    from migtrade.store.catalog import Store

    with Store(store).parquet_files(["baci"]) as files:
        path, info = files["baci"]
        meta = pq.ParquetFile(path).metadata
        stats = [meta.row_group(g).column(0).statistics for g in range(meta.num_row_groups)]
        code = str(stats[len(stats) // 2].min)
        touched = sum(1 for s in stats if s.min <= code <= s.max)
        times = []
        for _ in range(5):
            start = time.perf_counter()
            table = ds.dataset(path).to_table(filter=ds.field("k") == code)
            times.append(time.perf_counter() - start)
        start = time.perf_counter()
        whole = pq.read_table(path, columns=["k", "v"])
        full = time.perf_counter() - start
        del whole
        unsorted = _unsorted_read(path, code) if compare else None
    return {"product": code, "rows": table.num_rows, "row_groups": meta.num_row_groups, "touched": touched,
            "seconds": round(statistics.median(times), 4), "full_scan_seconds": round(full, 2),
            "file_rows": info.rows, "unsorted": unsorted}


def _unsorted_read(path: Path, code: str) -> dict[str, Any]:
    """The same read from a copy in the order of BACI's files (year, exporter, importer, product)."""
    import statistics
    import tempfile

    import duckdb
    import pyarrow.dataset as ds

    with tempfile.TemporaryDirectory(dir=path.parent.parent / "tmp") as tmp:
        copy = Path(tmp) / "by_year.parquet"
        with duckdb.connect(config={"memory_limit": "1GB", "temp_directory": tmp}) as con:
            con.execute(f"COPY (SELECT * FROM read_parquet('{path}') ORDER BY year, i, j, k) TO '{copy}' "
                        "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 1048576)")
        times = []
        for _ in range(5):
            start = time.perf_counter()
            ds.dataset(copy).to_table(filter=ds.field("k") == code)
            times.append(time.perf_counter() - start)
    return {"seconds": round(statistics.median(times), 4)}


def compare_with_truth(results: Path, truth: Path) -> dict[str, Any]:
    """Per term: correlation of estimated and true elasticities across products, mean error, coverage."""
    import numpy as np
    import pandas as pd

    from migtrade.report.split_table import load_split_file, long_table

    entries = load_split_file(results)
    assert entries is not None
    frame = pd.DataFrame(long_table(entries))
    ok = frame[frame["status"] == "ok"]
    true = pd.read_csv(truth, dtype={"k": str}).set_index("k")
    out: dict[str, Any] = {"sectors": int(frame["k"].nunique()), "failed": int((frame["status"] != "ok").sum())}
    for term, part in ok.groupby("term"):
        t = true.loc[part["k"], str(term)].to_numpy()
        e = part["estimate"].to_numpy()
        cover = (part["ci_low"].to_numpy() <= t) & (t <= part["ci_high"].to_numpy())
        out[str(term)] = {"corr": round(float(np.corrcoef(e, t)[0, 1]), 3),
                          "mean_error": round(float(np.mean(e - t)), 4),
                          "coverage_95": round(float(cover.mean()), 3)}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--countries", type=int, default=80)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out-dir", type=Path, default=HERE / "out" / "baci")
    parser.add_argument("--stages", default=",".join(STAGES))
    parser.add_argument("--data", choices=("name", "file"), default="name",
                        help="Give the split run the stored panel by name, or its Parquet file by path.")
    parser.add_argument("--compare-unsorted", action="store_true",
                        help="Also time the read of one product from a copy in BACI's file order (year, i, j).")
    args = parser.parse_args(argv)
    stages = [s for s in args.stages.split(",") if s]
    out = args.out_dir.resolve()
    out.mkdir(parents=True, exist_ok=True)
    zip_path = out / "BACI_HS92_V202401b.zip"
    store = out / "store"
    results = out / "split_results.json"
    env = {**os.environ, "MIGTRADE_STORE": str(store), "MIGTRADE_SPLIT_CACHE": str(out / "split-cache")}
    plan = {
        "make": [sys.executable, str(HERE / "make_baci.py"), "--products", str(args.products), "--countries",
                 str(args.countries), "--years", str(args.years), "--out", str(zip_path)],
        "fetch": [*MIGTRADE, "fetch", "baci", "--file", str(zip_path), "-q"],
        "panel": [*MIGTRADE, "panel", "build", "--level", "product", "--name", "baci_panel", "--trade", "baci",
                  "--covariates", str(out / "BACI_HS92_V202401b_covariates.csv.gz"),
                  "--stocks", str(out / "BACI_HS92_V202401b_stocks.csv.gz")],
        "table": [*MIGTRADE, "table", str(results), "-f", "csv", "-o", str(out / "split_table.csv")],
    }
    rows: dict[str, Any] = {}
    for stage in stages:
        if stage == "split":
            data = "baci_panel"
            if args.data == "file":
                from migtrade.store.catalog import Store

                with Store(store).parquet_files(["baci_panel"]) as files:
                    data = str(files["baci_panel"][0])
            cmd = [*MIGTRADE, "estimate", FORMULA, "--data", data, "--split", "k", "--workers", str(args.workers),
                   "--vcov", "cluster:origin", "--save", str(results), "--format", "csv"]
        else:
            cmd = plan[stage]
        rows[stage] = run_measured(cmd, env, out / f"{stage}.log")
        print(f"{stage:6s} exit {rows[stage]['exit_code']}  {rows[stage]['seconds']:8.1f} s  client "
              f"{rows[stage]['client_mb']:6,} MB  worker peak {rows[stage]['worker_peak_mb']:6,} MB", flush=True)
        if stage == "table" and rows[stage]["exit_code"] == 0:
            rows["plot"] = run_measured([*MIGTRADE, "plot", "split", str(results), "-o", str(out / "split_dist.png"),
                                         "--term", "log(dist)"], env, out / "plot.log")
        if rows[stage]["exit_code"] not in (0, 7):  # 7: some sectors failed, the others are saved
            print(f"{stage} failed; see {out / (stage + '.log')}", file=sys.stderr)
            break
    extra: dict[str, Any] = {}
    if (store / "catalog.duckdb").exists():
        extra["read_one_product"] = read_one_product(store, args.compare_unsorted)
    truth = out / "BACI_HS92_V202401b_truth.csv"
    if results.exists() and truth.exists():
        extra["truth"] = compare_with_truth(results, truth)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    meta = {"date": stamp, "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
            "python": platform.python_version(), "size": vars(args) | {"out_dir": str(args.out_dir)},
            "formula": FORMULA}
    lines = [f"BACI at scale, {stamp}, {meta['machine']}", "",
             "| stage | seconds | client peak MB | worker peak MB | exit |", "|:---|---:|---:|---:|---:|"]
    lines += [f"| {k} | {v['seconds']:.1f} | {v['client_mb']:,} | {v['worker_peak_mb']:,} | {v['exit_code']} |"
              for k, v in rows.items()]
    lines += ["", "```", json.dumps(extra, indent=1), "```"]
    (out / f"bench_baci_{stamp}.md").write_text("\n".join(lines) + "\n")
    (out / f"bench_baci_{stamp}.json").write_text(json.dumps({"meta": meta, "stages": rows, **extra}, indent=1))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
