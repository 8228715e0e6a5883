"""The harder benchmarks: the sparse worker-firm design, log-OLS with three fixed effects, and
start-up time; migtrade, fereg and pyfixest as whole processes in the same run.

Usage::

    python benchmarks/bench_hard.py [--sparse 500000,1000000] [--timeout 300] [--reps 1]

Prints a Markdown table (seconds, peak MiB, ratios to pyfixest and to fereg, estimates against the
truth or against pyfixest) and writes it to ``benchmarks/out/hard_<date>.md``. A tool that fails or runs
out of time is shown as such, with its last line of stderr.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import bench_estimate as BENCH
from bench_engine import command

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
BIN = Path(sys.executable).parent




def run(command: list[str], timeout: float) -> dict[str, Any]:
    """One whole-process run: exit code, seconds, peak MiB, parsed JSON (if any)."""
    code, seconds, rss_kib, out, err, timed_out = BENCH.run_child(command, timeout)
    parsed = None
    try:
        parsed = json.loads(out.decode()) if code == 0 and out.strip() else None
    except json.JSONDecodeError:
        parsed = None
    last = [ln for ln in err.decode("utf-8", "replace").splitlines() if ln.strip()]
    return {"code": code, "seconds": seconds, "mib": rss_kib / 1024, "json": parsed,
            "timed_out": timed_out, "last": last[-1][:120] if last else ""}


def status(r: dict[str, Any]) -> str:
    if r["timed_out"]:
        return "timed out"
    return "ok" if r["code"] == 0 else f"failed (exit {r['code']}): {r['last']}"


def coefs(r: dict[str, Any]) -> dict[str, float]:
    js = r["json"] or {}
    return {k: v["estimate"] for k, v in js.get("coefficients", {}).items()}


def main() -> int:
    """Generate the panels, run every case, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sparse", default="500000,1000000")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--reps", type=int, default=1)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)

    import numpy as np

    from migtrade.synthetic.gravity import gravity_panel
    from migtrade.synthetic.sparse import ring_panel

    rows: list[list[str]] = []
    cases: list[tuple[str, Path, str, str, str, dict[str, float] | None]] = []
    for n in [int(v) for v in args.sparse.split(",") if v]:
        path = OUT / f"sparse_{n}.parquet"
        if not path.exists():
            ring_panel(n, seed=1).frame.to_parquet(path, index=False)
        cases.append((f"sparse {n:,} rows, 3 FE, PPML", path, "y ~ x1 + x2 | indiv + firm + year",
                      "ppml", "indiv", {"x1": 0.5, "x2": -0.3}))
    pos = OUT / "panel_200x40_positive.parquet"
    if not pos.exists():
        frame = gravity_panel(200, 40, seed=1).frame
        frame = frame[frame["trade"] > 0].assign(ltrade=lambda d: np.log(d["trade"]))
        frame.to_parquet(pos, index=False)
    cases.append(("gravity 200x40 positive flows, 3 FE, log-OLS", pos,
                  "ltrade ~ rta + log_migrant_stock | exporter^year + importer^year + pair_id",
                  "ols", "pair_id", None))

    for label, path, formula, model, cluster, truth in cases:
        results = {}
        for tool in ("migtrade", "fereg", "pyfixest"):
            runs = [run(command(tool, path, formula, model, cluster), args.timeout) for _ in range(args.reps)]
            ok = [r for r in runs if r["code"] == 0]
            best = ok[0] if ok else runs[0]
            best["seconds"] = statistics.median(r["seconds"] for r in (ok or runs))
            results[tool] = best
            print(f"  {label} {tool}: {status(best)} {best['seconds']:.2f} s {best['mib']:.0f} MiB", flush=True)
        ref, fast = results["pyfixest"], results["fereg"]
        for tool, r in results.items():
            est = coefs(r)
            if truth:
                detail = "; ".join(f"{k} {truth[k]:g} → {est[k]:.4f}" for k in truth if k in est)
            elif tool != "pyfixest" and coefs(ref):
                diffs = [abs(est[k] - v) / max(abs(v), 1e-12) for k, v in coefs(ref).items() if k in est]
                detail = f"max rel Δ coef vs pyfixest {max(diffs):.1e}" if diffs else ""
            else:
                detail = "; ".join(f"{k} {v:.4f}" for k, v in est.items())
            ratio = (f"{r['seconds'] / ref['seconds']:.2f}" if ref["code"] == 0 and r["code"] == 0 else "–")
            to_fast = (f"{r['seconds'] / fast['seconds']:.2f}" if fast["code"] == 0 and r["code"] == 0 else "–")
            rows.append([label, tool, status(r), f"{r['seconds']:.2f}", f"{r['mib']:.0f}", ratio, to_fast, detail])

    small = OUT / "small_1000.csv"
    gravity_panel(32, 1, seed=1).frame.head(1000).to_csv(small, index=False)
    startup = [
        ("migtrade --help", [str(BIN / "migtrade"), "--help"]),
        ("migtrade estimate, 1,000-row CSV", [str(BIN / "migtrade"), "estimate",
         "trade ~ log_dist + cntg + rta | exporter + importer", "--data", str(small),
         "--vcov", "cluster:exporter", "--format", "json"]),
        # pyfixest imports its modules lazily: touching fepois loads what an estimate needs.
        ("python -c 'import pyfixest; pyfixest.fepois'",
         [sys.executable, "-c", "import pyfixest; pyfixest.fepois"]),
        ("pyfixest fepois, 1,000-row CSV (peer script)",
         command("pyfixest", small, "trade ~ log_dist + cntg + rta | exporter + importer", "ppml", "exporter")),
    ]
    for label, cmd in startup:
        times = [run(cmd, 60)["seconds"] for _ in range(5)]
        rows.append([label, "", "ok", f"{statistics.median(times):.2f}", "", "", "", "median of 5"])

    head = ["case", "tool", "status", "seconds", "peak MiB", "time ×pyfixest", "time ×fereg", "estimates"]
    lines = [f"date: {time.strftime('%Y-%m-%d %H:%M')}; " + "; ".join(BENCH.header_lines(BENCH.machine_info())[1:3]),
             "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    (OUT / f"hard_{time.strftime('%Y%m%d-%H%M%S')}.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
