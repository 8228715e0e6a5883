"""Time migtrade's general equilibrium against gegravity on the same scenario, and the engine's
own solver and Monte Carlo draws.

Usage::

    python benchmarks/bench_ge.py [--reps 5] [--draws 1000] [--workers N] [--out-dir benchmarks/out]

1. Peer comparison, whole processes, tools alternating, medians over ``--reps``: the CAN-JPN
   trade agreement of gegravity's own example on its sample data (30 countries, 2006; the
   ``pta`` dummy set to one for CAN-JPN and JPN-CAN), sigma 5, DEU as reference, expenditure
   proportional to output. Output and expenditure are set to the flows' row and column sums
   (the sample's Y and E columns come from another source and do not add up to its flows, which
   a general equilibrium of those flows cannot use). The cost coefficients are migtrade's PPML of
   ``trade ~ lndist + contiguity + common_language + pta + international | exporter + importer``
   (the estimates printed in gegravity's documentation, to every digit); migtrade estimates them
   inside its timed process, gegravity is given them. gegravity's root finder needs a scale for
   the outward resistances: the one its ``check_omr_rescale`` finds solvable with the smallest
   residual is chosen before timing and reported. The conditional equilibrium (output and
   expenditure fixed) is the same model in both and agrees to rounding; the full equilibrium
   differs because gegravity's resistance equations keep the baseline output and expenditure
   shares while prices move (its counterfactual sales then miss output by up to 0.2%), where
   migtrade clears every market at the new prices.
2. In process: one fixed-point solve (and one GEPPML solve) on the 69-country 1994 data of the
   NAFTA application of Yotov et al. (2016), median of 20.
3. In process: ``--draws`` Monte Carlo draws of the NAFTA counterfactual on ``--workers``
   processes (default: every core), pool start-up included.

The table is printed and written with the raw numbers to ``bench_ge_<timestamp>.{md,json}``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = ROOT.parent / "shared" / "data"
PEER = HERE / "peers" / "gegravity_ge.py"
SAMPLE = SHARED / "gegravity_sample" / "sample_data_set.csv.gz"
AGTPA = SHARED / "yotov2016_agtpa" / "agtpa_applications.csv.gz"
FORMULA = "trade ~ lndist + contiguity + common_language + pta + international | exporter + importer"
PAIRS = [("CAN", "JPN"), ("JPN", "CAN")]
CHANGE = "pta = 1 if (exporter == 'CAN' and importer == 'JPN') or (exporter == 'JPN' and importer == 'CAN')"
COMPARED = ("exports_conditional_pct", "real_gdp_pct", "factory_gate_price_pct", "imr_pct", "exports_full_pct",
            "imports_full_pct", "domestic_full_pct")
NAFTA = dict(year=1994, sigma=7.0, reference="DEU", imbalances="multiplicative",
             estimate="trade ~ rta | exporter^year + importer^year + pair_id",
             where="year in (1986, 1990, 1994, 1998, 2002, 2006)",
             change="rta = 0 if exporter in ('CAN', 'MEX', 'USA') and importer in ('CAN', 'MEX', 'USA')",
             fill_pairs="log(dist) + cntg + lang + clny")


def prepare(out: Path) -> tuple[Path, Path]:
    """The peer scenario's data (margins as output and expenditure) and gegravity's spec."""
    from migtrade.estimation.fit import estimate

    data = pd.read_csv(SAMPLE)
    data["Y"] = data.groupby("exporter")["trade"].transform("sum")
    data["E"] = data.groupby("importer")["trade"].transform("sum")
    data_path = out / "ge_sample_margins.csv"
    data.to_csv(data_path, index=False)
    res = estimate(FORMULA, data).result
    spec = {"terms": list(res.terms), "params": res.params.tolist(), "std_errors": res.std_errors.tolist(),
            "year": 2006, "sigma": 5.0, "reference": "DEU", "column": "pta", "value": 1, "pairs": PAIRS}
    spec["omr_rescale"] = _omr_rescale(data, spec)
    spec_path = out / "ge_gegravity_spec.json"
    spec_path.write_text(json.dumps(spec, indent=2))
    return data_path, spec_path


def _omr_rescale(data: pd.DataFrame, spec: dict[str, Any]) -> float:
    import gegravity as ge

    estimates = pd.DataFrame({"var": spec["terms"], "beta": spec["params"], "stderr": spec["std_errors"]})
    model = ge.OneSectorGE(
        baseline=ge.BaselineData(data, imp_var_name="importer", exp_var_name="exporter", year_var_name="year",
                                 trade_var_name="trade", expend_var_name="E", output_var_name="Y"),
        cost_coeff_values=ge.CostCoeffs(estimates=estimates, identifier_col="var", coeff_col="beta",
                                        stderr_col="stderr"),
        cost_variables=spec["terms"], year="2006", reference_importer="DEU", sigma=5.0, quiet=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = model.check_omr_rescale(omr_rescale_range=4)
    solved = table[table["solved"]].sort_values("max_func_value")
    if solved.empty:
        raise SystemExit("gegravity solves the sample scenario at no OMR scale from 1e-4 to 1e4")
    return float(solved["omr_rescale"].iloc[0])


# Runs the command from a small interpreter and prints its wall seconds and peak resident KiB.
# Linux carries the parent's peak memory into a child it forks, and this script holds pandas and
# an estimate by the time it starts the peers; a child of the small launcher starts clean.
_LAUNCH = """
import os, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
print(time.perf_counter() - start, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def timed(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MiB) of ``command`` as its own process."""
    run = subprocess.run([sys.executable, "-S", "-c", _LAUNCH, *command], capture_output=True,
                         text=True, timeout=1800)
    seconds, kib, code = run.stdout.split()
    if run.returncode != 0 or int(code) != 0:
        raise SystemExit(f"{command[0]} failed ({code}): {run.stderr[-2000:]}")
    return float(seconds), int(kib) / 1024


def peers(data_path: Path, spec_path: Path, out: Path, reps: int) -> dict[str, Any]:
    migtrade = str(Path(sys.executable).with_name("migtrade"))
    ours_json, theirs_json = out / "ge_migtrade.json", out / "ge_gegravity.json"
    commands = {
        "migtrade": [migtrade, "ge", "--data", str(data_path), "--year", "2006", "--sigma", "5", "--reference",
                     "DEU", "--imbalances", "multiplicative", "--estimate", FORMULA, "--change", CHANGE,
                     "--format", "json", "--save", str(ours_json)],
        "gegravity": [sys.executable, str(PEER), str(data_path), str(spec_path), str(theirs_json)],
    }
    times: dict[str, list[float]] = {k: [] for k in commands}
    memory: dict[str, list[float]] = {k: [] for k in commands}
    for _ in range(reps):
        for tool, command in commands.items():
            seconds, mib = timed(command)
            times[tool].append(seconds)
            memory[tool].append(mib)
    ours = json.loads(ours_json.read_text())["countries"]
    theirs = json.loads(theirs_json.read_text())
    gaps = {f: max(abs(ours[c][f] - theirs[c][f]) for c in ours) for f in COMPARED}
    return {"times": times, "medians": {k: statistics.median(v) for k, v in times.items()},
            "peak_mib": {k: statistics.median(v) for k, v in memory.items()},
            "max_abs_difference_pp": gaps, "omr_rescale": json.loads(spec_path.read_text())["omr_rescale"],
            "real_gdp_pct": {c: (ours[c]["real_gdp_pct"], theirs[c]["real_gdp_pct"]) for c in ("CAN", "JPN", "USA")}}


def in_process(draws: int, workers: int | None) -> dict[str, Any]:
    from migtrade.ge import GEOptions
    from migtrade.ge.baseline import prepare_baseline, resolve_columns
    from migtrade.ge.costs import build_cost_model
    from migtrade.ge.draws import DrawContext, draw_coefficients, run_draws
    from migtrade.ge.geppml import solve_geppml
    from migtrade.ge.solve import Problem, biproportional, solve_fixed_point

    frame = pd.read_csv(AGTPA)
    options = GEOptions(**NAFTA)  # type: ignore[arg-type]
    columns = resolve_columns(frame, options)
    baseline = prepare_baseline(frame, options, columns)
    costs = build_cost_model(frame, options, columns, baseline)
    log_t, log_new = costs.log_costs()
    n = baseline.size
    y, e = baseline.flows.sum(axis=1), baseline.flows.sum(axis=0)
    problem = Problem(biproportional(np.exp(log_t).reshape(n, n), y, e, tol=1e-12),
                      np.exp(log_new - log_t).reshape(n, n), options.elasticity, "multiplicative",
                      baseline.reference)
    solve_geppml(problem)  # loads the engine's compiled loops once
    fixed, geppml = [], []
    for _ in range(20):
        start = time.perf_counter()
        eq = solve_fixed_point(problem)
        fixed.append(time.perf_counter() - start)
        start = time.perf_counter()
        eq_g = solve_geppml(problem)
        geppml.append(time.perf_counter() - start)
    context = DrawContext(pair_cost=costs.pair_cost, x_base=costs.x_base, x_new=costs.x_new, output=y,
                          expenditure=e, theta=options.elasticity, imbalances="multiplicative",
                          reference=baseline.reference, method="fixed-point", tol=1e-10, maxiter=10_000)
    coefficients, seed = draw_coefficients(costs.params, costs.cov, draws, 2016)
    start = time.perf_counter()
    outcome = run_draws(context, coefficients, seed, workers=workers)
    draw_seconds = time.perf_counter() - start
    return {"fixed_point_seconds": statistics.median(fixed), "fixed_point_iterations": eq.iterations,
            "geppml_seconds": statistics.median(geppml), "geppml_rounds": eq_g.iterations,
            "fixed_vs_geppml_max_rel_price": float(np.max(np.abs(eq.price / eq_g.price - 1))),
            "draws": draws, "draw_workers": workers or os.cpu_count(), "draw_seconds": draw_seconds,
            "draws_succeeded": outcome.succeeded}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--out-dir", type=Path, default=HERE / "out")
    args = parser.parse_args()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the migtrade command sets it
    args.out_dir.mkdir(parents=True, exist_ok=True)
    import gegravity

    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    data_path, spec_path = prepare(args.out_dir)
    peer = peers(data_path, spec_path, args.out_dir, args.reps)
    inside = in_process(args.draws, args.workers)
    med = peer["medians"]
    lines = [
        f"# migtrade ge vs gegravity {getattr(gegravity, '__version__', '0.3')} ({stamp}; {machine})", "",
        f"CAN-JPN agreement on gegravity's sample (30 countries, 2006), whole processes, median of {args.reps}:", "",
        "| tool | seconds | x gegravity | peak MiB |", "|---|---|---|---|",
        f"| migtrade ge (PPML estimate + GE) | {med['migtrade']:.2f} | {med['migtrade'] / med['gegravity']:.2f} "
        f"| {peer['peak_mib']['migtrade']:.0f} |",
        f"| gegravity (coefficients given, omr_rescale {peer['omr_rescale']:g}) | {med['gegravity']:.2f} | 1.00 "
        f"| {peer['peak_mib']['gegravity']:.0f} |", "",
        "Largest absolute difference (percentage points) over the 30 countries:", "",
        "| " + " | ".join(COMPARED) + " |", "|" + "---|" * len(COMPARED),
        "| " + " | ".join(f"{peer['max_abs_difference_pp'][f]:.2e}" for f in COMPARED) + " |", "",
        "Real GDP change, migtrade / gegravity: " + "; ".join(
            f"{c} {a:.6f} / {b:.6f}" for c, (a, b) in peer["real_gdp_pct"].items()), "",
        "NAFTA 1994 (69 countries), in process, median of 20:", "",
        f"- fixed point: {inside['fixed_point_seconds'] * 1000:.1f} ms ({inside['fixed_point_iterations']} iterations)",
        f"- GEPPML: {inside['geppml_seconds'] * 1000:.1f} ms ({inside['geppml_rounds']} rounds; prices agree "
        f"with the fixed point to {inside['fixed_vs_geppml_max_rel_price']:.1e})",
        f"- {inside['draws']} Monte Carlo draws on {inside['draw_workers']} processes: {inside['draw_seconds']:.1f} s "
        f"({inside['draws_succeeded']} succeeded)",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    (args.out_dir / f"bench_ge_{stamp}.md").write_text(text)
    (args.out_dir / f"bench_ge_{stamp}.json").write_text(json.dumps({"peer": peer, "in_process": inside}, indent=2))


if __name__ == "__main__":
    main()
