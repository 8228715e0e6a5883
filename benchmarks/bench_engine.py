"""The engine against fereg and pyfixest: the cases of the speed table and the rows curve, as
whole processes in one run.

Usage::

    python benchmarks/bench_engine.py [--reps 3] [--cases all] [--curve 160x40,275x40,500x40,500x120]

Cases (``--cases``, comma-separated, default all):

* ``g3``: gravity panel 200 x 40 (1.59 M rows), PPML, exporter-year + importer-year + pair,
  clustered by pair;
* ``g2``: the same panel, exporter-year + importer-year, clustered by pair;
* ``ring``: the sparse worker-firm ring, 1 M rows, PPML, worker + firm + year, clustered by worker;
* ``ringfe``: the same with migtrade's separation checks limited to fereg's default (``--separation
  fe``: groups whose outcome is all zero; migtrade's default adds the simplex and ReLU checks);
* ``logols``: log-OLS with the three gravity effects on the positive flows of the 200 x 40 panel;
* ``g3big``: gravity panel 500 x 40 (9.98 M rows), PPML, three effects.

Then the rows curve (``--curve``, countries x years, three-effect PPML; empty to skip) for
migtrade and fereg. pyfixest runs only on panels of at most ``--pyfixest-max-rows`` rows. Each
run is a fresh process: its wall time and peak resident memory are measured alone
(``bench_estimate.run_child``); seconds are medians over ``--reps``, memory the maximum.
Estimates are compared with pyfixest's, or fereg's where pyfixest did not run. The table is
printed and written with the raw results to ``out/engine_<timestamp>.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
from pathlib import Path
from typing import Any

import bench_estimate as BENCH

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"


TOOLS = ("migtrade", "fereg", "pyfixest")
GRAVITY3 = "trade ~ rta + log_migrant_stock | exporter^year + importer^year + pair_id"
GRAVITY2 = "trade ~ rta + log_migrant_stock + log_dist + cntg + lang | exporter^year + importer^year"
RING = "y ~ x1 + x2 | indiv + firm + year"
LOG_OLS = "ltrade ~ rta + log_migrant_stock | exporter^year + importer^year + pair_id"


# pyfixest 0.60 stops on the ring with "Demeaning failed after 10000 iterations" (after 354 s
# here), so it is not run there; fereg is the reference.
NO_PYFIXEST = {"ring", "ringfe"}
# migtrade's own options for a case.
EXTRA: dict[str, tuple[str, ...]] = {"ringfe": ("--separation", "fe")}


def command(tool: str, data: Path, formula: str, model: str, cluster: str,
            extra: tuple[str, ...] = ()) -> list[str]:
    """The whole-process command of one tool on one case (``extra``: migtrade's own options)."""
    if tool == "migtrade":
        return [str(Path(sys.executable).parent / "migtrade"), "estimate", formula, "--data",
                str(data), "--model", model, "--vcov", f"cluster:{cluster}", "--small-sample",
                "fixest", "--format", "json", *extra]
    return [sys.executable, str(BENCH.PEERS[tool]), str(data), formula, cluster, model]


def gravity(countries: int, years: int) -> tuple[Path, int]:
    """The cached gravity panel of that size and its row count."""
    path, meta = BENCH.ensure_panel(OUT, countries, years, 1, False)
    return path, int(meta["rows"])


def ring(rows: int) -> tuple[Path, int]:
    """The worker-firm ring panel of about ``rows`` rows (bench_hard.py's file)."""
    path = OUT / f"sparse_{rows}.parquet"
    if not path.exists():
        from migtrade.synthetic.sparse import ring_panel

        ring_panel(rows, seed=1).frame.to_parquet(path, index=False)
    import pyarrow.parquet as pq

    return path, pq.ParquetFile(path).metadata.num_rows


def positive() -> tuple[Path, int]:
    """The positive flows of the 200 x 40 panel with their logarithm (bench_hard.py's file)."""
    path = OUT / "panel_200x40_positive.parquet"
    if not path.exists():
        import numpy as np
        import pandas as pd

        frame = pd.read_parquet(gravity(200, 40)[0])
        frame = frame[frame["trade"] > 0].assign(ltrade=lambda d: np.log(d["trade"]))
        frame.to_parquet(path, index=False)
    import pyarrow.parquet as pq

    return path, pq.ParquetFile(path).metadata.num_rows


def cases(names: list[str]) -> list[dict[str, Any]]:
    """The selected cases of the speed table."""
    table = {
        "g3": ("gravity 200x40, PPML, 3 FE, clustered", lambda: gravity(200, 40), GRAVITY3,
               "ppml", "pair_id"),
        "g2": ("gravity 200x40, PPML, 2 FE, clustered", lambda: gravity(200, 40), GRAVITY2,
               "ppml", "pair_id"),
        "ring": ("sparse worker-firm ring 1 M, PPML, 3 FE", lambda: ring(1_000_000), RING, "ppml",
                 "indiv"),
        "ringfe": ("the same, separation checks as fereg (fe only)", lambda: ring(1_000_000),
                   RING, "ppml", "indiv"),
        "logols": ("log-OLS, 3 FE, positive flows of 200x40", positive, LOG_OLS, "ols", "pair_id"),
        "g3big": ("gravity 500x40, PPML, 3 FE, clustered", lambda: gravity(500, 40), GRAVITY3,
                  "ppml", "pair_id"),
    }
    out = []
    for name in names:
        label, make, formula, model, cluster = table[name]
        data, rows = make()
        out.append({"case": name, "label": label, "data": data, "rows": rows, "formula": formula,
                    "model": model, "cluster": cluster, "extra": EXTRA.get(name, ())})
    return out


def coefficients(result: dict[str, Any] | None) -> dict[str, float]:
    return {k: v["estimate"] for k, v in (result or {}).get("coefficients", {}).items()}


def run_case(case: dict[str, Any], tools: list[str], reps: int, timeout: float) -> dict[str, Any]:
    """Every tool on one case, alternating within each repetition, the order rotated from one
    repetition to the next: a process started just after another one ends runs at a different
    speed than one started after a pause (the other's freed memory, the cores' clocks), so each
    tool comes first, and after each other tool, equally often."""
    runs: dict[str, list[dict[str, Any]]] = {t: [] for t in tools}
    for rep in range(reps):
        for tool in tools[rep % len(tools):] + tools[:rep % len(tools)]:
            cmd = command(tool, case["data"], case["formula"], case["model"], case["cluster"],
                          case.get("extra", ()))
            code, seconds, rss, out, err, timed_out = BENCH.run_child(cmd, timeout)
            tail = [ln for ln in err.decode("utf-8", "replace").splitlines() if ln.strip()]
            result = BENCH._parse_json(out.decode("utf-8", "replace")) if code == 0 else None
            error = None if result else ("timed out" if timed_out else
                                         f"exit {code}: {tail[-1][:100] if tail else ''}")
            runs[tool].append({"seconds": seconds, "mib": rss / 1024, "result": result,
                               "error": error})
            print(f"  {case['case']} {tool}: {seconds:.2f} s, {rss / 1024:.0f} MiB"
                  f"{'' if error is None else ', ' + error}", file=sys.stderr, flush=True)
    summary: dict[str, Any] = {}
    for tool, mine in runs.items():
        good = [r for r in mine if r["error"] is None]
        summary[tool] = {
            "seconds": statistics.median(r["seconds"] for r in good) if good else None,
            "mib": max(r["mib"] for r in good) if good else None,
            "result": good[0]["result"] if good else None,
            "error": next((r["error"] for r in mine if r["error"]), None),
            "all_seconds": [r["seconds"] for r in mine],
        }
    reference = "pyfixest" if summary.get("pyfixest", {}).get("result") else "fereg"
    ref = coefficients(summary.get(reference, {}).get("result"))
    for tool, s in summary.items():
        mine_c = coefficients(s["result"])
        shared = ref.keys() & mine_c.keys()
        s["coef_rel_diff"] = (max(abs(mine_c[k] - ref[k]) / max(abs(ref[k]), 1e-12) for k in shared)
                              if shared and tool != reference else None)
    return {**{k: v for k, v in case.items() if k != "data"}, "data": str(case["data"]),
            "reference": reference, "tools": summary}


def _f(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def table_lines(results: list[dict[str, Any]]) -> list[str]:
    """One Markdown row per case: each tool's seconds and MiB, the ratios to fereg and pyfixest."""
    head = ("| case | rows | migtrade s | MiB | fereg s | MiB | pyfixest s | MiB | time ×fereg "
            "| mem ×fereg | time ×pyfixest | max rel Δ coef (vs) |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for res in results:
        t = res["tools"]
        mig, fer, pyf = (t.get(k, {}) for k in TOOLS)

        def ratio(a: dict[str, Any], b: dict[str, Any], key: str) -> str:
            if a.get(key) is None or not b.get(key):
                return "–"
            return f"{a[key] / b[key]:.2f}"

        cells = [res["label"], f"{res['rows']:,}",
                 _f(mig.get("seconds"), ".2f") if mig.get("result") else mig.get("error") or "–",
                 _f(mig.get("mib"), ".0f"),
                 _f(fer.get("seconds"), ".2f") if fer.get("result") else fer.get("error") or "–",
                 _f(fer.get("mib"), ".0f"),
                 _f(pyf.get("seconds"), ".2f") if pyf.get("result") else pyf.get("error") or "–",
                 _f(pyf.get("mib"), ".0f"),
                 ratio(mig, fer, "seconds"), ratio(mig, fer, "mib"), ratio(mig, pyf, "seconds"),
                 f"{_f(mig.get('coef_rel_diff'), '.1e')} ({res['reference']})"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main() -> int:
    """Run the cases and the curve, print and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="g3,g2,ring,ringfe,logols,g3big")
    parser.add_argument("--curve", default="160x40,275x40,500x40,500x120")
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--curve-reps", type=int, default=1)
    parser.add_argument("--pyfixest-max-rows", type=int, default=2_000_000)
    parser.add_argument("--timeout", type=float, default=1800.0)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    tools = [t for t in args.tools.split(",") if t]
    header = BENCH.header_lines(BENCH.machine_info())
    print("\n".join(header), flush=True)

    results = []
    for case in cases([c for c in args.cases.split(",") if c]):
        use = [t for t in tools if t != "pyfixest" or (case["rows"] <= args.pyfixest_max_rows
                                                       and case["case"] not in NO_PYFIXEST)]
        results.append(run_case(case, use, args.reps, args.timeout))
    curve = []
    for countries, years in BENCH.parse_sizes(args.curve) if args.curve else []:
        data, rows = gravity(countries, years)
        case = {"case": f"curve {countries}x{years}", "label": f"gravity {countries}x{years}, "
                "PPML, 3 FE", "data": data, "rows": rows, "formula": GRAVITY3, "model": "ppml",
                "cluster": "pair_id"}
        use = [t for t in tools if t != "pyfixest" or rows <= args.pyfixest_max_rows]
        curve.append(run_case(case, use, args.curve_reps, args.timeout))

    text = ["# migtrade, fereg and pyfixest: the engine's speed table", "", *header,
            f"- repetitions: {args.reps} (curve {args.curve_reps}); seconds: median, MiB: peak", "",
            *table_lines(results)]
    if curve:
        text += ["", "## Rows curve (three-effect PPML)", "", *table_lines(curve)]
    print("\n".join(text))
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    (OUT / f"engine_{stamp}.md").write_text("\n".join(text) + "\n")
    (OUT / f"engine_{stamp}.json").write_text(json.dumps({"cases": results, "curve": curve},
                                                         indent=2, default=str) + "\n")
    print(f"wrote {OUT / f'engine_{stamp}.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
