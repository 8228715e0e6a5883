"""One PPML per product on a product-level panel: migtrade's split run beside fereg and pyfixest.

Usage::

    python benchmarks/make_products.py                       # 300 x 50 x 4 = 2.94 M rows
    flock /tmp/bigrun.lock python benchmarks/bench_split.py [--reps 1] [--no-pyfixest]
    python benchmarks/bench_split.py --batching              # tasks per worker, tiny sectors

Every tool runs as a whole process in the same run, imports and reading included, on the same
Parquet file: ``migtrade estimate ... --split product`` in process, with ``--workers 1`` and with
``--workers 2`` (a local Dask cluster, its start included); fereg's ``fepois(..., split=)`` and
pyfixest's ``pf.fepois(..., split=)`` (skipped with ``--no-pyfixest``, stopped after
``--peer-timeout`` seconds). The model is PPML of ``trade`` on ``log_dist + contig + rta +
ln_tariff`` with exporter-year and importer-year effects per product, clustered by exporter.

The table gives the median wall time, the ratio to fereg, the peak resident memory of the largest
process (the client or a worker), and the largest absolute difference of any product's
coefficient from (a) migtrade's own single fit of that product alone (``mt.ppml`` on the product's
rows, in this script) and (b) fereg's estimate. Results go to ``benchmarks/out/bench_split.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FORMULA = "trade ~ log_dist + contig + rta + ln_tariff | exporter^year + importer^year"
CLUSTER = "exporter"
HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent

# Runs a command from a small interpreter and prints its wall seconds, peak resident KiB (of the
# largest process of its tree that has ended) and exit code; a child of this small launcher does
# not inherit this script's memory.
_LAUNCH = """
import os, signal, subprocess, sys, time
limit = float(sys.argv[1])
start = time.perf_counter()
proc = subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL)
if limit > 0:
    signal.signal(signal.SIGALRM, lambda *_: proc.kill())
    signal.alarm(int(limit))
_, status, usage = os.wait4(proc.pid, 0)
print(time.perf_counter() - start, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def timed(command: list[str], timeout: float = 0) -> tuple[float, float, int]:
    """Wall seconds, peak resident MiB and exit code of ``command`` as its own process."""
    run = subprocess.run([sys.executable, "-S", "-c", _LAUNCH, str(timeout), *command],
                         capture_output=True, text=True)
    seconds, kib, code = run.stdout.split()
    return float(seconds), int(kib) / 1024, int(code)


# -- the peers, each run as this script in its own process -------------------------------------

def peer(tool: str, panel: Path, out: Path) -> None:
    """Fit every product with ``tool``'s split and write {product: {term: estimate}}."""
    import warnings

    import pandas as pd

    warnings.simplefilter("ignore")
    data = pd.read_parquet(panel)
    if tool == "fereg":
        import fereg

        fit = fereg.fepois(FORMULA, data, vcov={"CRV1": CLUSTER}, split="product")
    else:
        import pyfixest as pf

        fit = pf.fepois(FORMULA, data, vcov={"CRV1": CLUSTER}, split="product")
    found: dict[str, dict[str, float]] = {}
    for model in fit.all_fitted_models.values():
        value = str(model._sample_split_value)
        found[value] = {str(k): float(v) for k, v in model.coef().items()}
    out.write_text(json.dumps(found))


# -- the run ------------------------------------------------------------------------------------

def migtrade_estimates(saved: Path) -> dict[str, dict[str, float]]:
    found = {}
    for element in json.loads(saved.read_text()):
        if element["status"] == "ok":
            found[element["split"]["product"]] = {t: c["estimate"] for t, c in element["coefficients"].items()}
    return found


def largest_difference(a: dict[str, dict[str, float]], b: dict[str, dict[str, float]]) -> float:
    """max |a - b| over the products and terms of ``a`` (inf when ``b`` lacks one)."""
    worst = 0.0
    for product, terms in a.items():
        for term, value in terms.items():
            other = b.get(product, {}).get(term)
            worst = max(worst, float("inf") if other is None else abs(value - other))
    return worst


def single_fits(panel: Path) -> dict[str, dict[str, float]]:
    """Each product fitted alone by migtrade, on that product's rows."""
    import pandas as pd

    import migtrade as mt

    data = pd.read_parquet(panel)
    found = {}
    for product, rows in data.groupby("product", sort=True):
        try:
            fit = mt.ppml(FORMULA, rows, vcov=f"cluster:{CLUSTER}")
        except mt.MigtradeError:
            continue
        found[str(product)] = {str(k): float(v) for k, v in fit.params.items()}  # type: ignore[union-attr]
    return found


def batching(reps: int) -> None:
    """``--workers 2`` on 300 tiny products (8 countries, 2 years) with 1 to 300 tasks per worker."""
    sys.path.insert(0, str(HERE))
    from make_products import product_panel

    work = Path(tempfile.mkdtemp(prefix="bench_split_batching-"))
    panel = work / "tiny.parquet"
    product_panel(300, 8, 2, seed=3)[0].to_parquet(panel, index=False)
    command = [str(BIN / "migtrade"), "estimate", FORMULA, "--data", str(panel), "--split", "product",
               "--vcov", f"cluster:{CLUSTER}", "--format", "csv", "--workers", "2"]
    env = {**os.environ, "MIGTRADE_SPLIT_CACHE": str(work / "cache")}
    subprocess.run(command, env=env, stdout=subprocess.DEVNULL, check=False)  # the partitioned copy
    print("| tasks per worker | tasks | seconds |\n|---|---|---|")
    for per_worker in (1, 2, 8, 32, 150):
        os.environ.update(env, MIGTRADE_SPLIT_TASKS_PER_WORKER=str(per_worker))
        seconds = statistics.median(timed(command)[0] for _ in range(reps))
        print(f"| {per_worker} | {min(300, 2 * per_worker)} | {seconds:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--panel", type=Path, default=HERE / "out" / "products_300x50x4.parquet")
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--no-pyfixest", action="store_true")
    parser.add_argument("--peer-timeout", type=float, default=900.0)
    parser.add_argument("--peer", nargs=2, metavar=("TOOL", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--batching", action="store_true", help="Time tasks per worker instead.")
    args = parser.parse_args()
    if args.batching:
        batching(args.reps)
        return
    if args.peer:
        peer(args.peer[0], args.panel, Path(args.peer[1]))
        return
    if not args.panel.exists():
        raise SystemExit(f"{args.panel} is missing: run benchmarks/make_products.py first")
    work = Path(tempfile.mkdtemp(prefix="bench_split-"))
    os.environ["MIGTRADE_SPLIT_CACHE"] = str(work / "cache")
    split = [str(BIN / "migtrade"), "estimate", FORMULA, "--data", str(args.panel), "--split", "product",
             "--vcov", f"cluster:{CLUSTER}", "--format", "csv"]
    runs: dict[str, tuple[list[str], Path]] = {
        "migtrade, in process": (split, work / "inproc.json"),
        "migtrade --workers 1": ([*split, "--workers", "1"], work / "w1.json"),
        "migtrade --workers 2": ([*split, "--workers", "2"], work / "w2.json"),
        "fereg split=": ([sys.executable, __file__, "--panel", str(args.panel), "--peer", "fereg"],
                         work / "fereg.json"),
    }
    if not args.no_pyfixest:
        runs["pyfixest split="] = ([sys.executable, __file__, "--panel", str(args.panel), "--peer",
                                    "pyfixest"], work / "pyfixest.json")
    # The partitioned copy is written once per data file; the first worker run pays for it, so
    # it is written here first and every run (each rep alike) reads it.
    subprocess.run([*split, "--workers", "1", "--save", str(work / "warm.json")], check=False,
                   stdout=subprocess.DEVNULL)
    times: dict[str, list[float]] = {k: [] for k in runs}
    memory: dict[str, list[float]] = {k: [] for k in runs}
    status: dict[str, str] = {}
    for _ in range(args.reps):
        for name, (command, out) in runs.items():
            is_peer = "--peer" in command
            full = [*command, str(out)] if is_peer else [*command, "--save", str(out)]
            seconds, mib, code = timed(full, args.peer_timeout if name.startswith("pyfixest") else 0)
            if code == -9:
                status[name] = f"stopped after {args.peer_timeout:.0f} s"
                continue
            if code not in (0, 7):
                raise SystemExit(f"{name} failed with exit code {code}")
            times[name].append(seconds)
            memory[name].append(mib)
            print(f"{name}: {seconds:.1f} s, {mib:.0f} MiB", file=sys.stderr)
    start = time.perf_counter()
    alone = single_fits(args.panel)
    alone_seconds = time.perf_counter() - start
    fereg_est = json.loads((work / "fereg.json").read_text())
    base = statistics.median(times["fereg split="])
    rows = []
    for name, (_, out) in runs.items():
        if not times[name]:
            rows.append({"tool": name, "status": status.get(name, "did not run")})
            continue
        found = json.loads(out.read_text()) if "--peer" in runs[name][0] else migtrade_estimates(out)
        seconds = statistics.median(times[name])
        rows.append({"tool": name, "seconds": seconds, "x_fereg": seconds / base,
                     "peak_mib": statistics.median(memory[name]), "products": len(found),
                     "max_diff_single_fit": largest_difference(alone, found),
                     "max_diff_fereg": largest_difference(found, fereg_est)})
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}"
    report = {"panel": str(args.panel), "formula": FORMULA, "vcov": f"cluster:{CLUSTER}",
              "reps": args.reps, "date": time.strftime("%Y-%m-%d"), "machine": machine,
              "single_fits_seconds_in_one_process": alone_seconds, "rows": rows}
    (HERE / "out").mkdir(exist_ok=True)
    (HERE / "out" / "bench_split.json").write_text(json.dumps(report, indent=1))
    print("| tool | seconds | x fereg | peak MiB | products | max Δ vs own single fit | max Δ vs fereg |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        if "seconds" not in r:
            print(f"| {r['tool']} | {r['status']} | | | | | |")
            continue
        print(f"| {r['tool']} | {r['seconds']:.1f} | {r['x_fereg']:.2f} | {r['peak_mib']:.0f} | "
              f"{r['products']} | {r['max_diff_single_fit']:.1e} | {r['max_diff_fereg']:.1e} |")


if __name__ == "__main__":
    main()
