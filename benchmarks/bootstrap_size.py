"""Size of the cluster-robust t-test and of the bootstrap with few clusters, simulated under the null.

For each number of clusters G (8, 10, 12, 16, 20 by default) and each model (OLS with the wild
cluster bootstrap, PPML with the score bootstrap) it draws R data sets in which the tested
coefficient is zero and counts how often each test rejects at 5%:

* the cluster-robust t-test as migtrade reports it (CR1 with G/(G-1); t(G-1) for OLS, normal for
  PPML, the Stata conventions of reghdfe and ppmlhdfe);
* the bootstrap (``--bootstrap wild`` / ``score``, null imposed, Rademacher weights, B
  replications; all 2^G sign vectors when 2^G <= B).

The design makes the sandwich's trouble visible: clusters of very unequal size (10 to 150
observations), a regressor that is mostly a cluster-level variable, errors (or Poisson
heterogeneity) with a cluster component, and a fixed effect (period) that cuts across clusters.
The Monte Carlo standard error of a rejection rate p over R draws is sqrt(p (1 - p) / R).

Usage::

    .venv/bin/python benchmarks/bootstrap_size.py --draws 1000 --workers 2 --out out.md
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

# The data sets have a few hundred rows: compiled kernels run on one thread (OpenMP reads this
# when the kernels first load), and --workers processes own the cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pandas as pd

from migtrade.estimation.bootstrap import BootstrapOptions
from migtrade.estimation.fit import estimate
from migtrade.estimation.vcov import VcovSpec

CLUSTERS = (8, 10, 12, 16, 20)
METHODS = {"ols": "wild", "ppml": "score"}
FORMULAS = {"ols": "y ~ x + z | period", "ppml": "y ~ x + z | period"}
ALPHA = 0.05


def simulate(model: str, clusters: int, seed: int) -> pd.DataFrame:
    """One data set with G clusters in which the coefficient of x is zero."""
    rng = np.random.default_rng([seed, clusters, 0 if model == "ols" else 1])
    sizes = np.round(10 * np.exp(rng.uniform(0, np.log(15), clusters))).astype(int)  # 10..150
    cl = np.repeat(np.arange(clusters), sizes)
    n = cl.size
    period = rng.integers(0, 4, n)
    x = rng.normal(size=clusters)[cl] + 0.5 * rng.normal(size=n)
    z = rng.normal(size=n)
    shock = rng.normal(size=clusters)[cl]
    if model == "ols":
        # Error variance grows with the cluster's |x|: the sandwich's weak spot with few clusters.
        y = 0.5 * z + 0.3 * period + shock * (0.5 + np.abs(x)) + rng.normal(size=n)
    else:
        mu = np.exp(0.5 + 0.3 * z + 0.2 * period + 0.6 * shock + 0.4 * rng.normal(size=n))
        y = rng.poisson(mu).astype(float)
    return pd.DataFrame({"y": y, "x": x, "z": z, "period": period, "cl": cl})


def one_draw(args: tuple[str, int, int, int, str]) -> tuple[str, int, bool, bool, int]:
    """Whether the CR t-test and the bootstrap reject H0: beta_x = 0 on one data set."""
    model, clusters, seed, reps, weights = args
    frame = simulate(model, clusters, seed)
    boot = BootstrapOptions(method=METHODS[model], reps=reps, hypotheses=(("x",),),  # type: ignore[arg-type]
                            weights=weights, invert_intervals=False)  # type: ignore[arg-type]
    res = estimate(FORMULAS[model], frame, model=model, vcov=VcovSpec.parse("cluster:cl"),
                   bootstrap=boot).result
    j = res.terms.index("x")
    b = res.bootstrap["x"]
    return model, clusters, bool(res.pvalues[j] < ALPHA), bool(b["p_value"] <= ALPHA), int(b["reps"])


def main(argv: list[str] | None = None) -> int:
    """Run the study and print (and optionally write) the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--draws", type=int, default=1000, help="data sets per model and G")
    parser.add_argument("--reps", type=int, default=399, help="bootstrap replications")
    parser.add_argument("--clusters", default=",".join(map(str, CLUSTERS)))
    parser.add_argument("--models", default="ols,ppml")
    parser.add_argument("--weights", default="rademacher", help="rademacher, webb or mammen")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", type=Path, help="also write the table (Markdown) here")
    opts = parser.parse_args(argv)
    clusters = [int(g) for g in opts.clusters.split(",")]
    models = [m.strip() for m in opts.models.split(",")]
    jobs = [(m, g, seed, opts.reps, opts.weights) for m in models for g in clusters
            for seed in range(opts.draws)]
    start = time.perf_counter()
    if opts.workers > 1:
        # spawn, not fork: the compiled loops' OpenMP runtime does not survive a fork.
        with ProcessPoolExecutor(opts.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            results = list(pool.map(one_draw, jobs, chunksize=16))
    else:
        results = [one_draw(j) for j in jobs]
    seconds = time.perf_counter() - start
    lines = ["| model | bootstrap | G | data sets | CR t-test rejects | bootstrap rejects | bootstrap draws |",
             "|---|---|---|---|---|---|---|"]
    for m in models:
        for g in clusters:
            rows = [r for r in results if r[0] == m and r[1] == g]
            n = len(rows)
            cr = sum(r[2] for r in rows) / n
            bs = sum(r[3] for r in rows) / n
            draws = rows[0][4]
            draws_text = f"{draws} (all 2^{g})" if draws == 2 ** g else str(draws)
            lines.append(f"| {m.upper()} | {METHODS[m]} | {g} | {n} | {100 * cr:.1f}% "
                         f"({100 * math.sqrt(cr * (1 - cr) / n):.1f}) | {100 * bs:.1f}% "
                         f"({100 * math.sqrt(bs * (1 - bs) / n):.1f}) | {draws_text} |")
    setup = (f"Rejection rates at 5% under the null (Monte Carlo standard errors in parentheses); "
             f"{opts.draws} data sets per row, {opts.reps} bootstrap replications, {opts.weights} "
             f"weights, null imposed; {seconds:.0f} s with {opts.workers} worker(s).")
    text = "\n".join([setup, "", *lines])
    print(text)
    if opts.out is not None:
        opts.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
