"""Time ``migtrade fetch cepii --file`` on a CEPII-sized zip and measure its peak memory.

Usage::

    python benchmarks/bench_cepii_ingest.py                 # makes the zip first if missing
    python benchmarks/bench_cepii_ingest.py --years 1990:2020 --zip path/to/Gravity_csv_V202211.zip

The command runs as a subprocess of this script, exactly as a user would run it; ``os.wait4``
returns its resource usage, whose ``ru_maxrss`` is the peak resident memory of that process
alone. Results are printed and written as JSON to ``benchmarks/out/``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run_ingest(zip_path: Path, store: Path, years: str | None) -> dict[str, object]:
    """Run the ingest once; wall time, peak RSS and what it wrote."""
    exe = Path(sys.executable).with_name("migtrade")
    cmd = [str(exe), "fetch", "cepii", "--file", str(zip_path), "--store", str(store), "--quiet", "--format", "json"]
    if years:
        cmd += ["--years", years]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        raise SystemExit(f"ingest failed with exit {proc.returncode}: {stderr.strip()}")
    (written,) = json.loads(stdout)
    data_files = list((store / "data").glob("*.parquet")) if (store / "data").exists() else []
    return {
        "command": " ".join(cmd),
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),  # Linux reports KiB
        "rows_written": written["rows"],
        "columns_written": written["columns"],
        "parquet_mib": round(sum(f.stat().st_size for f in data_files) / 2**20, 1),
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zip", type=Path, default=HERE / "out" / "Gravity_csv_like.zip", help="zip to ingest")
    parser.add_argument("--years", default=None, help="pass --years FIRST:LAST to the ingest")
    parser.add_argument("--seed", type=int, default=1, help="seed, if the zip has to be made")
    parser.add_argument("--out-dir", type=Path, default=HERE / "out", help="folder of the JSON result")
    args = parser.parse_args(argv)
    if not args.zip.exists():
        sys.path.insert(0, str(HERE))
        from make_cepii_like import write_zip

        print(f"making {args.zip} ...", flush=True)
        write_zip(args.zip, countries=225, years=79, seed=args.seed)
    with zipfile.ZipFile(args.zip) as archive:
        member = max(archive.infolist(), key=lambda i: i.file_size)
        with archive.open(member) as fh:
            columns = len(fh.readline().split(b","))
    with tempfile.TemporaryDirectory(prefix="migtrade-bench-store-") as store:
        result = run_ingest(args.zip, Path(store), args.years)
    result.update({"zip": str(args.zip), "zip_gb": round(args.zip.stat().st_size / 1e9, 3),
                   "csv_gb": round(member.file_size / 1e9, 3), "csv_columns": columns,
                   "csv_mb_per_second": round(member.file_size / 1e6 / float(result["wall_seconds"]), 1),  # type: ignore[arg-type]
                   "cpus": os.cpu_count()})
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (args.out_dir / f"bench_cepii_{stamp}.json").write_text(json.dumps(result, indent=2))
    print(f"ingested {result['rows_written']:,} rows ({result['csv_gb']} GB of CSV, {columns} columns, "
          f"zip {result['zip_gb']} GB) in {result['wall_seconds']} s wall, {result['cpu_seconds']} s CPU; "
          f"peak RSS {result['peak_rss_mib']} MiB; Parquet {result['parquet_mib']} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
