"""Monte Carlo of the bias corrections of three-way PPML in Weidner & Zylkin's design.

For each number of countries N it draws panels from :mod:`migtrade.synthetic.three_way` (true
beta = 1, T periods, every ordered pair), fits ``y ~ x | exp^year + imp^year + exp^imp`` by PPML
with standard errors clustered by pair, and records four estimators:

* ``uncorrected``: the PPML estimate and its pair-clustered standard error;
* ``analytical``: the Weidner-Zylkin corrected estimate and leverage-adjusted standard error
  (``--bias-correction analytical``);
* ``analytical, cluster SE``: the corrected estimate with the ordinary clustered error (what
  the estimate's correction alone does);
* ``jackknife``: the split-panel jackknife estimate with the ordinary clustered error.

For each it reports the mean bias (estimate - 1) with its Monte Carlo standard error, the
standard deviation over draws, the mean standard error over that standard deviation, and the
coverage of nominal 95% intervals with its Monte Carlo standard error sqrt(p (1 - p) / R).
Draw r of size N uses seed ``seed + 1000 N + r``; draws run in ``--workers`` processes, each on
one thread.

Usage::

    .venv/bin/python benchmarks/bias_montecarlo.py                       # the README's table
    .venv/bin/python benchmarks/bias_montecarlo.py --sizes 20 --reps 50  # a quick look
    .venv/bin/python benchmarks/bias_montecarlo.py --out benchmarks/out/bias_montecarlo.json
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

FORMULA = "y ~ x | exp^year + imp^year + exp^imp"
ESTIMATORS = ("uncorrected", "analytical", "analytical, cluster SE", "jackknife")
Z95 = 1.959963984540054


def _one_thread() -> None:
    """Each worker computes on one thread: the draws, not the threads, use the cores."""
    for name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"


def one_draw(args: tuple[int, int, int, int]) -> dict[str, tuple[float, float]]:
    """(estimate, standard error) of each estimator on one draw."""
    countries, periods, dgp, seed = args
    from migtrade.estimation.fit import estimate
    from migtrade.estimation.vcov import VcovSpec
    from migtrade.synthetic.three_way import three_way_panel

    frame = three_way_panel(countries, periods, dgp=dgp, rng=seed)
    pair = VcovSpec.parse("cluster:exp^imp")
    wz = estimate(FORMULA, frame, vcov=pair, bias_correction="analytical").result
    jk = estimate(FORMULA, frame, vcov=pair, bias_correction="jackknife").result
    plain = wz.bias_correction["terms"]["x"]
    return {
        "uncorrected": (plain["uncorrected"], plain["uncorrected_std_error"]),
        "analytical": (float(wz.params[0]), float(wz.std_errors[0])),
        "analytical, cluster SE": (float(wz.params[0]), plain["uncorrected_std_error"]),
        "jackknife": (float(jk.params[0]), float(jk.std_errors[0])),
    }


def summarise(draws: list[dict[str, tuple[float, float]]], truth: float = 1.0) -> dict[str, dict[str, float]]:
    """Bias, its MC error, SD, mean SE / SD and 95% coverage with its MC error, per estimator."""
    out = {}
    for name in ESTIMATORS:
        est = np.array([d[name][0] for d in draws])
        se = np.array([d[name][1] for d in draws])
        reps = len(est)
        sd = float(est.std(ddof=1))
        cover = float(np.mean(np.abs(est - truth) <= Z95 * se))
        out[name] = {
            "bias": float(est.mean() - truth), "bias_mcse": sd / math.sqrt(reps), "sd": sd,
            "se_over_sd": float(se.mean()) / sd, "coverage": cover,
            "coverage_mcse": math.sqrt(cover * (1 - cover) / reps), "reps": reps,
        }
    return out


def markdown(results: dict[int, dict[str, dict[str, float]]], periods: int, dgp: int) -> str:
    """The README table: one row per N and estimator."""
    lines = ["| N | estimator | bias (MC s.e.) | SD | SE/SD | coverage 95% (MC s.e.) | draws |",
             "|---|---|---|---|---|---|---|"]
    for n, table in results.items():
        for name, r in table.items():
            lines.append(
                f"| {n} | {name} | {r['bias']:.4f} ({r['bias_mcse']:.4f}) | {r['sd']:.4f} | "
                f"{r['se_over_sd']:.3f} | {100 * r['coverage']:.1f}% ({100 * r['coverage_mcse']:.1f}) "
                f"| {r['reps']:,} |")
    return "\n".join(lines) + f"\n\nT = {periods}, variance design {dgp}, true beta = 1.\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="20,50,100", help="numbers of countries N")
    parser.add_argument("--reps", default="1000,400,150",
                        help="draws per size (one number for all, or one per size)")
    parser.add_argument("--periods", type=int, default=5)
    parser.add_argument("--dgp", type=int, default=1, choices=(1, 2, 3, 4),
                        help="variance design of migtrade.synthetic.three_way")
    parser.add_argument("--seed", type=int, default=20_210_601)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, help="also write every number as JSON here")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    reps = [int(r) for r in args.reps.split(",")]
    if len(reps) == 1:
        reps = reps * len(sizes)
    if len(reps) != len(sizes):
        parser.error("--reps needs one number, or one per size")
    _one_thread()
    print(f"# bias_montecarlo {time.strftime('%Y-%m-%d %H:%M')}  {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}, workers {args.workers}",
          flush=True)
    results: dict[int, dict[str, dict[str, float]]] = {}
    timings: dict[int, float] = {}
    # spawn, not fork: the compiled loops' OpenMP runtime does not survive a fork.
    with ProcessPoolExecutor(max_workers=args.workers,
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        for n, r in zip(sizes, reps, strict=True):
            start = time.perf_counter()
            jobs = [(n, args.periods, args.dgp, args.seed + 1000 * n + k) for k in range(r)]
            draws = list(pool.map(one_draw, jobs, chunksize=max(1, r // (8 * args.workers))))
            timings[n] = time.perf_counter() - start
            results[n] = summarise(draws)
            print(f"N = {n}: {r} draws in {timings[n]:.0f} s", file=sys.stderr, flush=True)
    print(markdown(results, args.periods, args.dgp))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"periods": args.periods, "dgp": args.dgp, "seed": args.seed,
                                        "seconds": timings, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
