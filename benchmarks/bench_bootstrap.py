"""What the score bootstrap adds to a PPML estimate on the 1.6 M-row gravity panel.

Whole processes, alternating, medians over ``--repeat`` rounds (the machine is shared):

* ``estimate``: ``migtrade estimate`` PPML with exporter-year, importer-year and pair effects,
  clustered by pair (the model of ``bench_estimate.py --fe 3``);
* ``score-unrestricted``: the same with ``--bootstrap score --no-impose-null --reps 9999``:
  the cluster scores of the fit perturbed 9,999 times, no re-estimation at all;
* ``score-imposed-p``: the null imposed, p-values only (``--no-bootstrap-intervals``): one
  restricted PPML fit per coefficient;
* ``score-imposed-p-rta``: the same for one coefficient (``--bootstrap-terms rta``);
* ``score-imposed``: ``--bootstrap score --reps 9999``: one restricted PPML fit per
  coefficient for the p-value, plus the restricted fits of the interval search.

"Added within rounds" is the median over rounds of a case less the estimate of the same round,
which a drift of the machine's speed over the run moves less than the difference of the medians.

In process, it also times the 9,999 draws alone (the packed-bit kernel over the panel's pair
clusters) for both coefficients, and the estimate alone and with each case's bootstrap in
wall-clock and CPU seconds (CPU time is what a loaded machine distorts least);
for the null-imposed cases it counts the restricted PPML fits and their IRLS steps (one run:
they do not vary).

Usage::

    .venv/bin/python benchmarks/make_panel.py --countries 200 --years 40 --seed 1 \\
        --out benchmarks/out/panel_200x40.parquet
    .venv/bin/python benchmarks/bench_bootstrap.py --panel benchmarks/out/panel_200x40.parquet
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from bench_estimate import CLUSTER, FORMULAS, run_child

from migtrade.estimation.bootstrap.score import ClusterPieces, joint_replications
from migtrade.estimation.bootstrap.weights import DrawPlan, WeightKind

CASES: dict[str, list[str]] = {
    "estimate": [],
    "score-unrestricted": ["--bootstrap", "score", "--no-impose-null"],
    "score-imposed-p": ["--bootstrap", "score", "--no-bootstrap-intervals"],
    "score-imposed-p-rta": ["--bootstrap", "score", "--no-bootstrap-intervals",
                            "--bootstrap-terms", "rta"],
    "score-imposed": ["--bootstrap", "score"],
}


def draws_alone(panel: Path, reps: int, repeat: int) -> tuple[int, float]:
    """Clusters of the panel and the median seconds of ``reps`` draws for both coefficients
    (one pass over the draws)."""
    codes = pd.factorize(pd.read_parquet(panel, columns=[CLUSTER])[CLUSTER])[0]
    g = int(codes.max()) + 1
    rng = np.random.default_rng(0)
    # Two regressors, as the model: scores, their Newton-step shares, no fixed-effect term
    # (the clusters are too many for it).
    s = rng.normal(size=(g, 2))
    pieces = [ClusterPieces(a=a, s=s, c=s @ a, q=rng.normal(size=(g, 2)) / g, f=None)
              for a in np.eye(2)]
    plan = DrawPlan(WeightKind.rademacher, reps, 1, g)
    joint_replications(pieces, plan)  # warm up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        joint_replications(pieces, plan)
        times.append(time.perf_counter() - start)
    return g, statistics.median(times)


# The bootstrap of each case, for the runs in one process (BootstrapOptions' fields).
IN_PROCESS: dict[str, dict[str, object]] = {
    "score-unrestricted": {"impose_null": False},
    "score-imposed-p-rta": {"invert_intervals": False, "hypotheses": (("rta",),)},
    "score-imposed-p": {"invert_intervals": False},
    "score-imposed": {},
}


def estimate_in_process(panel: Path, reps: int, repeat: int,
                        cases: list[str]) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) seconds of the estimate alone and with the bootstrap of each of
    ``cases``, in one warm process, cases alternating."""
    from migtrade.estimation.bootstrap import BootstrapOptions
    from migtrade.estimation.fit import estimate
    from migtrade.estimation.vcov import VcovSpec

    frame = pd.read_parquet(panel)
    vc = VcovSpec.parse(f"cluster:{CLUSTER}")
    variants: dict[str, BootstrapOptions | None] = {"estimate": None}
    for case in cases:
        if case in IN_PROCESS:
            variants[case] = BootstrapOptions(method="score", reps=reps,  # type: ignore[arg-type]
                                              **IN_PROCESS[case])  # type: ignore[arg-type]
    for options in variants.values():
        estimate(FORMULAS[3], frame, vcov=vc, bootstrap=options)  # compile and warm up
    out: dict[str, list[tuple[float, float]]] = {k: [] for k in variants}
    for _ in range(repeat):
        for name, options in variants.items():
            wall, cpu = time.perf_counter(), time.process_time()
            estimate(FORMULAS[3], frame, vcov=vc, bootstrap=options)
            out[name].append((time.perf_counter() - wall, time.process_time() - cpu))
    return {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
            for k, v in out.items()}


def restricted_module() -> object:
    """The module of the restricted fits (older versions, measured for comparison, differ)."""
    from migtrade.estimation.bootstrap import restricted

    return restricted


def restricted_work(panel: Path, reps: int, intervals: bool) -> tuple[int, int, int, float]:
    """Restricted fits, their IRLS steps, fits from scratch (the fallback) and the wall seconds
    of the null-imposed score bootstrap (the estimate with it less the estimate alone), in one
    warm process."""
    from migtrade.estimation.bootstrap import BootstrapOptions, engine, restricted
    from migtrade.estimation.fit import estimate
    from migtrade.estimation.vcov import VcovSpec

    frame = pd.read_parquet(panel)
    vc = VcovSpec.parse(f"cluster:{CLUSTER}")
    counts = {"fits": 0, "steps": 0, "scratch": 0}
    fit, scratch = restricted.restricted_fit, engine.fit_ppml

    def counted_fit(*args: object, **kwargs: object) -> restricted.RestrictedEstimate:
        out = fit(*args, **kwargs)  # type: ignore[arg-type]
        counts["fits"] += 1
        counts["steps"] += out.steps
        return out

    def counted_scratch(*args: object, **kwargs: object) -> object:
        counts["scratch"] += 1
        return scratch(*args, **kwargs)  # type: ignore[arg-type]

    boot = BootstrapOptions(method="score", reps=reps, invert_intervals=intervals)  # type: ignore[arg-type]
    estimate(FORMULAS[3], frame, vcov=vc, bootstrap=boot)  # warm up, the bootstrap's modules too
    start = time.perf_counter()
    estimate(FORMULAS[3], frame, vcov=vc)
    alone = time.perf_counter() - start
    restricted.restricted_fit, engine.fit_ppml = counted_fit, counted_scratch  # type: ignore[assignment]
    try:
        start = time.perf_counter()
        estimate(FORMULAS[3], frame, vcov=vc, bootstrap=boot)
        added = time.perf_counter() - start - alone
    finally:
        restricted.restricted_fit, engine.fit_ppml = fit, scratch
    return counts["fits"], counts["steps"], counts["scratch"], added


def main(argv: list[str] | None = None) -> int:
    """Time the cases and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--panel", type=Path, required=True, help="made by benchmarks/make_panel.py")
    parser.add_argument("--reps", type=int, default=9999)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated subset")
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--out", type=Path, help="also write the table (Markdown) here")
    opts = parser.parse_args(argv)
    cases = [c.strip() for c in opts.cases.split(",")]
    exe = Path(sys.executable).with_name("migtrade")
    base = [str(exe), "estimate", FORMULAS[3], "--data", str(opts.panel), "--vcov",
            f"cluster:{CLUSTER}", "--format", "json"]
    seconds: dict[str, list[float]] = {c: [] for c in cases}
    for _ in range(opts.repeat):
        for case in cases:
            extra = CASES[case] + (["--reps", str(opts.reps)] if CASES[case] else [])
            code, secs, _, _, err, timed_out = run_child([*base, *extra], opts.timeout)
            if code != 0 or timed_out:
                print(f"{case}: failed ({code}): {err.decode()[-500:]}", file=sys.stderr)
                return 1
            seconds[case].append(secs)
    g, draw_secs = draws_alone(opts.panel, opts.reps, 5)
    inproc = estimate_in_process(opts.panel, opts.reps, opts.repeat, cases)
    reference = statistics.median(seconds["estimate"]) if "estimate" in seconds else float("nan")
    # Added within rounds: the median over rounds of the case less the estimate of the same
    # round (run minutes apart at most), which a drift of the machine's speed over the whole
    # run moves less than the difference of the two medians.
    lines = ["| case | median s | runs | added to the estimate s | added within rounds s |",
             "|---|---|---|---|---|"]
    for case in cases:
        med = statistics.median(seconds[case])
        runs = ", ".join(f"{s:.2f}" for s in seconds[case])
        added = paired = ""
        if case != "estimate":
            added = f"{med - reference:+.2f}"
            if "estimate" in seconds:
                paired = f"{statistics.median(np.subtract(seconds[case], seconds['estimate'])):+.2f}"
        lines.append(f"| {case} | {med:.2f} | {runs} | {added} | {paired} |")
    lines.append(f"| {opts.reps:,} draws alone, two coefficients, {g:,} clusters (in process) | "
                 f"{draw_secs:.3f} | median of 5 | | |")
    base_wall, base_cpu = inproc["estimate"]
    lines.append(f"| in process: estimate alone (wall s; CPU s) | {base_wall:.2f}; {base_cpu:.2f} | "
                 f"median of {opts.repeat} | | |")
    for case, (wall, cpu) in inproc.items():
        if case != "estimate":
            lines.append(f"| in process: + {case} (wall s; CPU s) | {wall:.2f}; {cpu:.2f} | "
                         f"median of {opts.repeat} | {wall - base_wall:+.2f} wall, "
                         f"{cpu - base_cpu:+.2f} CPU | |")
    for case, intervals in (("score-imposed-p", False), ("score-imposed", True)):  # both terms
        if case in cases and hasattr(restricted_module(), "restricted_fit"):
            fits, steps, scratch, boot_s = restricted_work(opts.panel, opts.reps, intervals)
            lines.append(f"| in process, {case}: restricted fits (IRLS steps; from scratch) | "
                         f"{fits} ({steps}; {scratch}) | one run | {boot_s:+.2f} wall | |")
    setup = (f"`{FORMULAS[3]}`, clustered by {CLUSTER}, on {opts.panel.name}; "
             f"{opts.reps:,} bootstrap replications (Rademacher); whole processes, "
             f"{opts.repeat} rounds, cases alternating.")
    text = "\n".join([setup, "", *lines])
    print(text)
    if opts.out is not None:
        opts.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
