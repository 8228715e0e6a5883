"""Size and power of the substitution verdict on synthetic panels whose truth is known.

For each scenario of :mod:`migtrade.synthetic.migration` (complements, substitutes, hump, none)
it draws panels with seeds 1..D, runs the battery and counts the verdicts. The right verdict for
``none`` is ``inconclusive``; any other verdict there is a false verdict, whose frequency is the
size of the procedure and should stay at or below alpha.

By default only the tests that vote are run (the verdict depends on nothing else, so it is the
same as the full command's); ``--full`` runs the whole battery, instrumental variables included,
which takes about ten times longer.

Usage::

    .venv/bin/python benchmarks/substitution_power.py               # 100 draws per scenario
    .venv/bin/python benchmarks/substitution_power.py --draws 20    # a quick look
    .venv/bin/python benchmarks/substitution_power.py --inference bootstrap   # score bootstrap
    .venv/bin/python benchmarks/substitution_power.py --out benchmarks/README_substitution.md
    .venv/bin/python benchmarks/substitution_power.py --workers 2   # a local Dask cluster
    .venv/bin/python benchmarks/substitution_power.py --scheduler tcp://HOST:8786   # a running one

With ``--workers`` above one or ``--scheduler``, the draws run on Dask through the engine of
split runs (:func:`migtrade.split.cluster.map_chunks`), in chunks, the verdicts in seed order.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import Counter
from pathlib import Path

from migtrade.hypotheses.battery import BOOTSTRAP_REPS, Inference, run_battery
from migtrade.hypotheses.jackknife import DEFAULT_GROUPS
from migtrade.hypotheses.specs import VOTING
from migtrade.hypotheses.verdict import VERDICTS
from migtrade.synthetic.migration import SCENARIOS, TRUTHS, migration_panel

SHORT = {"substitutes": "substitutes", "complements": "complements",
         "short-run-complements-long-run-substitutes": "hump", "inconclusive": "inconclusive"}


def one_draw(args: tuple[str, int, int, int, float, bool, int, str, int]) -> tuple[str, str]:
    """The verdict on one synthetic panel."""
    scenario, seed, countries, periods, alpha, full, groups, inference, reps = args
    panel = migration_panel(countries, periods, scenario=scenario, seed=seed)
    tests = None if full else [t for t in VOTING if not t.startswith("iv_")]
    report = run_battery(panel.frame, alpha=alpha, tests=tests, jackknife_groups=groups,
                         inference=inference, bootstrap_reps=reps)
    return scenario, report.verdict


def draw_chunk(_shared: None, jobs: list[tuple[str, int, int, int, float, bool, int, str, int]]) -> list[tuple[str, str]]:
    """A chunk of draws on a Dask worker."""
    return [one_draw(job) for job in jobs]


def table(counts: dict[str, Counter[str]], draws: int, alpha: float,
          scenarios: tuple[str, ...] = SCENARIOS) -> str:
    """Markdown table of verdict frequencies per true scenario."""
    head = ["truth", *(SHORT[v] for v in VERDICTS), "right", "false verdict"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for scenario in scenarios:
        c = counts[scenario]
        n = sum(c.values())
        truth = TRUTHS[scenario].verdict
        right = c[truth] / n
        false = sum(c[v] for v in VERDICTS if v not in (truth, "inconclusive")) / n
        if scenario == "none":
            false = 1 - right
        cells = [f"{c[v] / n:.0%}" for v in VERDICTS]
        lines.append("| " + " | ".join([scenario, *cells, f"{right:.0%}", f"{false:.0%}"]) + " |")
    se = math.sqrt(alpha * (1 - alpha) / draws)
    lines.append("")
    lines.append(f"{draws} draws per scenario; Monte Carlo standard error of a {alpha:.0%} "
                 f"frequency: {se:.1%}. 'false verdict' counts wrong verdicts other than "
                 "inconclusive (for 'none', any verdict but inconclusive).")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the study and print (and optionally write) the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--draws", type=int, default=100, help="draws per scenario")
    parser.add_argument("--countries", type=int, default=60)
    parser.add_argument("--periods", type=int, default=5)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--full", action="store_true", help="run every test, IV included")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help="comma-separated subset of the scenarios")
    parser.add_argument("--jackknife-groups", type=int, default=DEFAULT_GROUPS,
                        help="groups of the voting tests' jackknife; 0 for clustered errors")
    parser.add_argument("--inference", choices=[i.value for i in Inference], default="jackknife",
                        help="p-values of the voting tests: delete-a-group jackknife or score bootstrap")
    parser.add_argument("--reps", type=int, default=BOOTSTRAP_REPS,
                        help="replications of the score bootstrap (--inference bootstrap)")
    parser.add_argument("--workers", type=int, default=1,
                        help="worker processes of a local Dask cluster (the machine is shared)")
    parser.add_argument("--scheduler", help="address of a running Dask scheduler, tcp://HOST:PORT")
    parser.add_argument("--out", type=Path, help="also write the table (Markdown) here")
    opts = parser.parse_args(argv)
    scenarios = tuple(s.strip() for s in opts.scenarios.split(",") if s.strip())
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {unknown[0]!r}; use {', '.join(SCENARIOS)}")
    jobs = [(s, seed, opts.countries, opts.periods, opts.alpha, opts.full, opts.jackknife_groups,
             opts.inference, opts.reps) for s in scenarios for seed in range(1, opts.draws + 1)]
    counts: dict[str, Counter[str]] = {s: Counter() for s in scenarios}
    start = time.perf_counter()
    if opts.workers > 1 or opts.scheduler:
        from migtrade.split.cluster import client_for, map_chunks

        with client_for(None if opts.scheduler else opts.workers, opts.scheduler) as client:
            results = map_chunks(client, draw_chunk, None, jobs)
    else:
        results = [one_draw(j) for j in jobs]
    for scenario, verdict in results:
        counts[scenario][verdict] += 1
    seconds = time.perf_counter() - start
    text = table(counts, opts.draws, opts.alpha, scenarios)
    errors = (f"score bootstrap p-values ({opts.reps} replications, null imposed, clustered by pair)"
              if opts.inference == "bootstrap"
              else f"jackknife errors ({opts.jackknife_groups} groups)" if opts.jackknife_groups
              else "pair-clustered errors")
    setup = (f"Synthetic panels of {opts.countries} countries x {opts.periods} five-yearly "
             f"years, alpha = {opts.alpha:g}, "
             f"{'the full battery' if opts.full else 'the voting tests only'}, {errors}; "
             f"seeds 1..{opts.draws}; {seconds:.0f} s.")
    print(setup)
    print(text)
    if opts.out is not None:
        opts.out.write_text(f"{setup}\n\n{text}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
