"""What the Weidner-Zylkin bias correction costs on the 1.6 M-row gravity panel.

Two measurements on the seeded panel of ``make_panel.py`` (200 countries x 40 years):

1. Whole processes: ``migtrade estimate MODEL --format json`` without and with
   ``--bias-correction analytical``, alternating, ``--reps`` times each; medians of wall time.
2. Inside one process: the time of the correction itself (its first call, as a user pays it)
   against the time of one IRLS step of the same fit (the time in
   :func:`migtrade.estimation.ppml.fit_ppml` over its iterations, which also carries the start
   and the final demeaning of the regressors, so it overstates a bare step a little); then the
   same correction called again ("warm"), and the pages the first call touched for the first
   time (minor page faults: fresh memory is what made a first call slower than a warm one).
   Run ``--reps`` times; medians.

The panel's ``pair_id`` is symmetric (one id for both directions), which is not the directed
pair effect of the three-way model, so the models here are written with ``exporter^importer``:

- three-way: ``trade ~ rta + log_migrant_stock | exporter^year + importer^year + exporter^importer``
- two-way: ``trade ~ rta + log_migrant_stock + log_dist + cntg + lang | exporter^year + importer^year``

both clustered by ``exporter^importer``.

Usage::

    .venv/bin/python benchmarks/bias_timing.py                 # both models, 3 runs each
    .venv/bin/python benchmarks/bias_timing.py --fe 3 --reps 5
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench_estimate import ensure_panel, header_lines, machine_info

FORMULAS = {
    3: "trade ~ rta + log_migrant_stock | exporter^year + importer^year + exporter^importer",
    2: "trade ~ rta + log_migrant_stock + log_dist + cntg + lang | exporter^year + importer^year",
}
VCOV = "cluster:exporter^importer"
MIGTRADE = Path(sys.executable).with_name("migtrade")
OUT_DIR = Path(__file__).resolve().parent / "out"  # where bench_estimate.py keeps its panels


def inner(panel: Path, fe: int) -> dict[str, Any]:
    """In this process: the fit with the correction, timing IRLS and the correction."""
    import pandas as pd

    import migtrade.estimation.bias_correction as correction_module
    import migtrade.estimation.fit as fit_module
    import migtrade.estimation.models as models_module
    from migtrade.cli.app import _keep_freed_memory
    from migtrade.estimation.vcov import VcovSpec

    _keep_freed_memory()  # the allocator settings of the migtrade command
    frame = pd.read_parquet(panel)
    spent = {"irls": 0.0, "correction": 0.0}
    fit_ppml, correct = models_module.fit_ppml, correction_module.correct

    def timed_fit(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        out = fit_ppml(*args, **kwargs)
        spent["irls"] += time.perf_counter() - start
        return out

    calls: list[tuple[Any, ...]] = []

    def timed_correct(*args: Any) -> Any:
        calls.append(args)
        pages = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        start = time.perf_counter()
        out = correct(*args)
        spent["correction"] += time.perf_counter() - start
        spent["new_pages"] = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - pages
        return out

    models_module.fit_ppml = timed_fit  # the PPML estimator calls it from there
    correction_module.correct = timed_correct  # the estimate imports it when asked to correct
    if hasattr(fit_module, "correct"):  # a module-level import of it in fit.py
        fit_module.correct = timed_correct
    start = time.perf_counter()
    result = fit_module.estimate(FORMULAS[fe], frame, vcov=VcovSpec.parse(VCOV),
                                 bias_correction="analytical").result
    total = time.perf_counter() - start
    start = time.perf_counter()
    correct(*calls[0])  # the same correction again: what a warm process would pay
    warm = time.perf_counter() - start
    return {"irls": spent["irls"], "iterations": result.iterations,
            "warm": warm, "new_pages": spent["new_pages"],
            "irls_step": spent["irls"] / result.iterations, "correction": spent["correction"],
            "estimate": total, "variance": result.bias_correction["variance"],
            "bias": {t: v["bias"] for t, v in result.bias_correction["terms"].items()},
            "se_ratio": {t: float(se) / v["uncorrected_std_error"] for (t, v), se in
                         zip(result.bias_correction["terms"].items(), result.std_errors, strict=True)}}


def whole(panel: Path, fe: int, corrected: bool) -> float:
    """Wall time of one ``migtrade estimate`` process."""
    cmd = [str(MIGTRADE), "estimate", FORMULAS[fe], "--data", str(panel), "--vcov", VCOV,
           "--format", "json"]
    if corrected:
        cmd += ["--bias-correction", "analytical"]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fe", default="3,2", help="models: 3 (three-way), 2 (two-way)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--countries", type=int, default=200)
    parser.add_argument("--years", type=int, default=40)
    parser.add_argument("--inner", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    fes = [int(f) for f in args.fe.split(",")]
    if args.inner is not None:
        print(json.dumps(inner(args.inner, fes[0])))
        return 0
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    panel, meta = ensure_panel(OUT_DIR, args.countries, args.years, 1, False)
    print("\n".join(header_lines(machine_info())))
    print(f"- panel: {panel.name}, {meta.get('rows', '?'):,} rows\n")
    whole(panel, fes[0], False)  # warm-up: the page cache
    lines = ["| model | estimate s | with correction s | difference s | IRLS step s | "
             "correction s | correction / IRLS step | warm s | new pages | variance | SE ratio |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for fe in fes:
        plain, corrected, inside = [], [], []
        for _ in range(args.reps):
            plain.append(whole(panel, fe, False))
            corrected.append(whole(panel, fe, True))
            # One BLAS thread, as the migtrade command runs it (migtrade/cli/app.py).
            out = subprocess.run([sys.executable, __file__, "--fe", str(fe), "--inner", str(panel)],
                                 check=True, capture_output=True, text=True,
                                 env={**os.environ, "OPENBLAS_NUM_THREADS": "1"}).stdout
            inside.append(json.loads(out))
        step = statistics.median(r["irls_step"] for r in inside)
        corr = statistics.median(r["correction"] for r in inside)
        warm = statistics.median(r["warm"] for r in inside)
        pages = statistics.median(r["new_pages"] for r in inside)
        ratios = ", ".join(f"{t} {v:.3f}" for t, v in inside[-1]["se_ratio"].items())
        lines.append(
            f"| {'three' if fe == 3 else 'two'}-way | {statistics.median(plain):.2f} | "
            f"{statistics.median(corrected):.2f} | "
            f"{statistics.median(corrected) - statistics.median(plain):.2f} | {step:.3f} | "
            f"{corr:.3f} | {corr / step:.2f} | {warm:.3f} | {pages:,.0f} | "
            f"{inside[-1]['variance']} | {ratios} |")
        print(f"{fe}-way done: {inside[-1]}", file=sys.stderr, flush=True)
    print("\n".join(lines))
    print(f"\nMedians of {args.reps} runs; whole processes alternate without and with the "
          "correction.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
