"""Time migtrade, fereg and pyfixest on the same synthetic PPML problems, as whole processes.

Usage::

    python benchmarks/bench_estimate.py --sizes 50x10,100x20,200x40 --fe 2,3 --reps 3

For each size (countries x years) a synthetic gravity panel is written once to the output directory
(``panel_<n>x<t>_s<seed>.parquet``, reused on later runs). Each tool then fits the same model in a
fresh child process; the wall time of the child and its peak resident memory (``ru_maxrss`` from
``os.wait4``, which belongs to that child alone) are recorded. The comparison table is printed and
written, with the raw results, to ``bench_<timestamp>.md`` and ``.json`` in the output directory.

Models
------
``--fe 3``: ``trade ~ rta + log_migrant_stock | exporter^year + importer^year + pair_id``
``--fe 2``: ``trade ~ rta + log_migrant_stock + log_dist + cntg + lang | exporter^year + importer^year``

Both with standard errors clustered by ``pair_id``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import importlib.util
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MAKE_PANEL = HERE / "make_panel.py"
PYFIXEST_PEER = HERE / "peers" / "pyfixest_ppml.py"
FEREG_PEER = HERE / "peers" / "fereg_ppml.py"
REFERENCE = "pyfixest"
# The fastest peer: migtrade's time and memory are also shown as ratios to its.
FASTEST = "fereg"
TOOLS = ("migtrade", "fereg", "pyfixest")
PEERS = {"pyfixest": PYFIXEST_PEER, "fereg": FEREG_PEER}
CLUSTER = "pair_id"

FORMULAS: dict[int, str] = {
    3: "trade ~ rta + log_migrant_stock | exporter^year + importer^year + pair_id",
    2: "trade ~ rta + log_migrant_stock + log_dist + cntg + lang | exporter^year + importer^year",
}


@dataclass
class Run:
    """One child process: how it ended, how long it took, how much memory it held."""

    tool: str
    size: str
    fe: int
    rep: int
    command: list[str]
    exit_code: int
    seconds: float
    max_rss_kb: int
    timed_out: bool = False
    result: dict[str, Any] | None = None
    error: str | None = None
    stderr_tail: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the child exited cleanly and printed a usable result."""
        return self.error is None


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """Parse ``"50x10,100x20"`` into ``[(50, 10), (100, 20)]``.

    Parameters
    ----------
    text
        Comma-separated ``COUNTRIESxYEARS`` items.

    Returns
    -------
    list of tuple of int
        (countries, years) in the order given.
    """
    sizes = []
    for item in text.split(","):
        item = item.strip().lower()
        if not item:
            continue
        try:
            countries, years = (int(part) for part in item.split("x"))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"size {item!r} is not COUNTRIESxYEARS, e.g. 50x10"
            ) from None
        if countries < 2 or years < 1:
            raise argparse.ArgumentTypeError(f"size {item!r} needs >= 2 countries and >= 1 year")
        sizes.append((countries, years))
    if not sizes:
        raise argparse.ArgumentTypeError("no sizes given")
    return sizes


def parse_fe(text: str) -> list[int]:
    """Parse ``"2,3"`` into ``[2, 3]``, accepting only the fixed-effect counts with a model.

    Parameters
    ----------
    text
        Comma-separated counts.

    Returns
    -------
    list of int
        Counts in the order given.
    """
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--fe must be a list like 2,3, got {text!r}") from None
    bad = [c for c in counts if c not in FORMULAS]
    if bad or not counts:
        raise argparse.ArgumentTypeError(f"--fe takes {sorted(FORMULAS)}, got {text!r}")
    return counts


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def machine_info() -> dict[str, Any]:
    """CPU, memory, Python and package versions, and the date, for the report header."""
    cpu = "unknown"
    for line in _read_text("/proc/cpuinfo").splitlines():
        if line.lower().startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_gb: float | None = None
    for line in _read_text("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            mem_gb = round(int(line.split()[1]) / 1024**2, 1)
            break
    usable: int | None
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    packages: dict[str, str | None] = {}
    for name in ("migtrade", "fereg", "pyfixest", "numpy", "pandas", "numba", "pyarrow"):
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = None
    threads = {
        key: os.environ[key]
        for key in (
            "NUMBA_NUM_THREADS",
            "OMP_NUM_THREADS",
            "MKL_NUM_THREADS",
            "OPENBLAS_NUM_THREADS",
        )
        if key in os.environ
    }
    return {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "nproc": usable,
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gb": mem_gb,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": packages,
        "thread_env": threads,
    }


def header_lines(machine: dict[str, Any]) -> list[str]:
    """The machine description as Markdown lines."""
    pkgs = ", ".join(f"{k} {v}" for k, v in machine["packages"].items() if v)
    lines = [
        f"- date: {machine['date']}",
        f"- machine: {machine['nproc']} usable of {machine['cpu_count']} CPUs, "
        f"{machine['cpu_model']}, {machine['memory_gb']} GB RAM",
        f"- python: {machine['python']} on {machine['platform']}",
        f"- packages: {pkgs}",
    ]
    if machine["thread_env"]:
        env = ", ".join(f"{k}={v}" for k, v in machine["thread_env"].items())
        lines.append(f"- thread settings: {env}")
    return lines


def generator_fingerprint() -> str | None:
    """Hash of the generator's source, computed as ``make_panel.py`` does, without importing it."""
    spec = importlib.util.find_spec("migtrade.synthetic.gravity")
    if spec is None or spec.origin is None:
        return None
    return hashlib.sha256(Path(spec.origin).read_bytes()).hexdigest()[:16]


def ensure_panel(
    out_dir: Path, countries: int, years: int, seed: int, regenerate: bool
) -> tuple[Path, dict[str, Any]]:
    """Path and metadata of the panel for one size, generating it if it is not cached.

    The panel is written by ``make_panel.py`` in its own process so that the benchmark driver
    stays small and never competes with the children for memory. A cached panel is rewritten when
    the generator's source has changed since it was made.
    """
    path = out_dir / f"panel_{countries}x{years}_s{seed}.parquet"
    meta_path = path.with_suffix(".json")
    stale = True
    if path.exists() and meta_path.exists():
        try:
            cached = json.loads(meta_path.read_text())
        except ValueError:
            cached = {}
        stale = cached.get("generator_fingerprint") != generator_fingerprint()
    if regenerate or stale:
        cmd = [
            sys.executable,
            str(MAKE_PANEL),
            "--countries",
            str(countries),
            "--years",
            str(years),
            "--seed",
            str(seed),
            "--out",
            str(path),
        ]
        print(f"generating {path.name} ...", file=sys.stderr, flush=True)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return path, json.loads(meta_path.read_text())


def tool_command(tool: str, panel: Path, formula: str) -> list[str]:
    """The command line that makes ``tool`` fit ``formula`` on ``panel`` and print JSON."""
    if tool == "migtrade":
        # The console script sits next to the interpreter of the virtualenv; sys.executable is not
        # resolved, since resolving a venv's python symlink would leave the venv.
        exe = Path(sys.executable).parent / "migtrade"
        return [
            str(exe),
            "estimate",
            formula,
            "--data",
            str(panel),
            "--model",
            "ppml",
            "--vcov",
            f"cluster:{CLUSTER}",
            # pyfixest follows fixest's small-sample factors; use them so standard errors compare.
            "--small-sample",
            "fixest",
            "--format",
            "json",
        ]
    if tool in PEERS:
        return [sys.executable, str(PEERS[tool]), str(panel), formula, CLUSTER]
    raise ValueError(f"unknown tool {tool!r}")


def _last_lines(data: bytes, keep: int = 20) -> list[str]:
    lines = [ln.strip() for ln in data.decode("utf-8", "replace").splitlines() if ln.strip()]
    return lines[-keep:]


def _parse_json(text: str) -> dict[str, Any] | None:
    """The JSON object on stdout: the whole text, or failing that its last non-empty line."""
    candidates = [text.strip()]
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if lines:
        candidates.append(lines[-1].strip())
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def run_child(command: list[str], timeout: float) -> tuple[int, float, int, bytes, bytes, bool]:
    """Run ``command`` to completion and measure it alone.

    Returns
    -------
    tuple
        (exit code, wall seconds, peak RSS in KiB, stdout, stderr, timed out). The exit code is
        negative for a signal and 127 when the program cannot be started.

    Notes
    -----
    ``getrusage(RUSAGE_CHILDREN)`` reports the maximum over all children ever reaped, so it cannot
    isolate one child. ``os.wait4`` returns the rusage of exactly the child it reaps. The child is
    first waited for without being reaped (``waitid`` with ``WNOWAIT``), so the timeout watchdog
    can never signal a process id that the kernel has already reused.

    The child may write and read compiled bytecode even where this process was told not to
    (``PYTHONDONTWRITEBYTECODE``): an installed package has its bytecode from the installation,
    and without it a tool installed from a working tree would compile its own modules again in
    every run (0.06 s for migtrade's estimate path).
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        try:
            proc = subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                    env=env)
        except OSError as exc:
            return 127, 0.0, 0, b"", f"cannot start {command[0]}: {exc}".encode(), False

        lock = threading.Lock()
        state = {"finished": False, "timed_out": False}

        def watchdog() -> None:
            with lock:
                if not state["finished"]:
                    state["timed_out"] = True
                    os.kill(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, watchdog)
        timer.daemon = True
        timer.start()
        try:
            os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
            with lock:
                state["finished"] = True
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        seconds = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        # Popen must not try to reap the child again.
        proc.returncode = code
        out.seek(0)
        err.seek(0)
        return code, seconds, int(usage.ru_maxrss), out.read(), err.read(), state["timed_out"]


def measure(tool: str, size: str, fe: int, rep: int, panel: Path, timeout: float) -> Run:
    """Run one tool once on one panel and classify the outcome."""
    command = tool_command(tool, panel, FORMULAS[fe])
    code, seconds, rss, stdout, stderr, timed_out = run_child(command, timeout)
    tail = _last_lines(stderr)
    run = Run(tool, size, fe, rep, command, code, seconds, rss, timed_out, stderr_tail=tail)
    last = tail[-1] if tail else ""
    if timed_out:
        run.error = f"timed out after {timeout:g} s"
    elif code != 0:
        run.error = f"failed (exit {code}): {last}" if last else f"failed (exit {code})"
    else:
        run.result = _parse_json(stdout.decode("utf-8", "replace"))
        if run.result is None or not isinstance(run.result.get("coefficients"), dict):
            shown = stdout.decode("utf-8", "replace").strip().splitlines()
            run.error = "failed (no JSON result): " + (shown[-1][:120] if shown else "empty stdout")
    return run


def _coef_table(result: dict[str, Any]) -> dict[str, tuple[float | None, float | None]]:
    table = {}
    for term, entry in result.get("coefficients", {}).items():
        if isinstance(entry, dict):
            table[term] = (entry.get("estimate"), entry.get("std_error"))
        else:
            table[term] = (entry, None)
    return table


def max_rel_diff(
    result: dict[str, Any], reference: dict[str, Any], index: int
) -> tuple[float | None, list[str]]:
    """Largest |a - b| / |b| over the terms both results share, and the terms not shared.

    Parameters
    ----------
    result, reference
        Parsed JSON results.
    index
        0 compares estimates, 1 standard errors.

    Returns
    -------
    tuple
        The largest relative difference (None if nothing is comparable) and the sorted terms that
        appear in only one of the two results.
    """
    mine, ref = _coef_table(result), _coef_table(reference)
    worst = None
    for term in mine.keys() & ref.keys():
        a, b = mine[term][index], ref[term][index]
        if a is None or b is None:
            continue
        rel = abs(a - b) / max(abs(b), 1e-12)
        worst = rel if worst is None else max(worst, rel)
    return worst, sorted(mine.keys() ^ ref.keys())


def _fmt(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def summarise(
    runs: list[Run], panels: dict[str, dict[str, Any]], tools: list[str]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Aggregate the runs into one row per (size, FE count, tool), as dicts and as Markdown."""
    keys: list[tuple[str, int]] = []
    for run in runs:
        if (run.size, run.fe) not in keys:
            keys.append((run.size, run.fe))

    rows: list[dict[str, Any]] = []
    for size, fe in keys:
        stats: dict[str, dict[str, Any]] = {}
        for tool in tools:
            mine = [r for r in runs if (r.size, r.fe, r.tool) == (size, fe, tool)]
            good = [r for r in mine if r.ok]
            failed = [r for r in mine if not r.ok]
            stats[tool] = {
                "seconds": statistics.median(r.seconds for r in good) if good else None,
                "peak_mib": max(r.max_rss_kb for r in good) / 1024 if good else None,
                "result": good[0].result if good else None,
                "error": failed[0].error if failed else None,
                "reps_ok": len(good),
                "reps": len(mine),
            }
        reference = REFERENCE if REFERENCE in tools else FASTEST
        ref = stats.get(reference, {})
        fast = stats.get(FASTEST, {})
        truth = panels[size]["truth"]
        for tool in tools:
            s = stats[tool]
            result = s["result"]
            row: dict[str, Any] = {
                "size": size,
                "fe": fe,
                "tool": tool,
                "rows": panels[size]["rows"],
                "nobs": result.get("nobs") if result else None,
                "seconds": s["seconds"],
                "fit_seconds": result.get("seconds") if result else None,
                "peak_mib": s["peak_mib"],
                "time_ratio": None,
                "mem_ratio": None,
                "time_ratio_fastest": None,
                "mem_ratio_fastest": None,
                "coef_rel_diff": None,
                "se_rel_diff": None,
                "terms_not_shared": [],
                "estimates": {},
                "truth": {},
            }
            if s["error"] is None:
                row["status"] = "ok"
                if result and result.get("converged") is False:
                    row["status"] = "ok (not converged)"
            elif s["reps_ok"]:
                row["status"] = f"{s['reps'] - s['reps_ok']}/{s['reps']} reps {s['error']}"
            else:
                row["status"] = s["error"]
            if result:
                table = _coef_table(result)
                row["estimates"] = {t: table[t][0] for t in truth if t in table}
                row["truth"] = {t: truth[t] for t in truth if t in table}
            if result and ref.get("result") and tool != reference:
                row["coef_rel_diff"], row["terms_not_shared"] = max_rel_diff(
                    result, ref["result"], 0
                )
                row["se_rel_diff"], _ = max_rel_diff(result, ref["result"], 1)
            if s["seconds"] is not None and ref.get("seconds"):
                row["time_ratio"] = s["seconds"] / ref["seconds"]
            if s["peak_mib"] is not None and ref.get("peak_mib"):
                row["mem_ratio"] = s["peak_mib"] / ref["peak_mib"]
            if s["seconds"] is not None and fast.get("seconds"):
                row["time_ratio_fastest"] = s["seconds"] / fast["seconds"]
            if s["peak_mib"] is not None and fast.get("peak_mib"):
                row["mem_ratio_fastest"] = s["peak_mib"] / fast["peak_mib"]
            rows.append(row)

    head = (
        "| size | FE | tool | rows | nobs | status | seconds | fit s | peak MiB "
        f"| time ×{REFERENCE} | mem ×{REFERENCE} | time ×{FASTEST} | mem ×{FASTEST} "
        "| max rel Δ coef | max rel Δ se "
        "| truth → estimate |"
    )
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for row in rows:
        recovery = "; ".join(
            f"{t} {row['truth'][t]:g} → {_fmt(est, '.4f')}" for t, est in row["estimates"].items()
        )
        diff = _fmt(row["coef_rel_diff"], ".1e")
        if row["terms_not_shared"]:
            diff += " (not shared: " + ", ".join(row["terms_not_shared"]) + ")"
        cells = [
            row["size"],
            str(row["fe"]),
            row["tool"],
            f"{row['rows']:,}",
            f"{row['nobs']:,}" if isinstance(row["nobs"], int) else "–",
            row["status"],
            _fmt(row["seconds"], ".2f"),
            _fmt(row["fit_seconds"], ".2f"),
            _fmt(row["peak_mib"], ".0f"),
            _fmt(row["time_ratio"], ".2f"),
            _fmt(row["mem_ratio"], ".2f"),
            _fmt(row["time_ratio_fastest"], ".2f"),
            _fmt(row["mem_ratio_fastest"], ".2f"),
            diff if row["tool"] != reference else "(reference)",
            _fmt(row["se_rel_diff"], ".1e") if row["tool"] != reference else "(reference)",
            recovery or "–",
        ]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return rows, lines


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default="50x10,100x20,200x40",
        help="comma-separated COUNTRIESxYEARS",
    )
    parser.add_argument(
        "--fe", type=parse_fe, default="3", help="fixed-effect counts to fit: 2 and/or 3"
    )
    parser.add_argument("--reps", type=int, default=1, help="repetitions of every run")
    parser.add_argument("--seed", type=int, default=1, help="seed of the synthetic panels")
    parser.add_argument(
        "--tools", default=",".join(TOOLS), help=f"comma-separated tools among {', '.join(TOOLS)}"
    )
    parser.add_argument(
        "--out-dir", type=Path, default=HERE / "out", help="where panels, tables and raw results go"
    )
    parser.add_argument(
        "--timeout", type=float, default=3600.0, help="seconds before a run is killed"
    )
    parser.add_argument(
        "--no-warmup", action="store_true", help="skip the unmeasured first run of each tool"
    )
    parser.add_argument(
        "--regenerate", action="store_true", help="rewrite the panels even if they exist"
    )
    args = parser.parse_args(argv)

    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = [t for t in tools if t not in TOOLS]
    if unknown or not tools:
        parser.error(f"--tools takes {', '.join(TOOLS)}, got {args.tools!r}")
    if args.reps < 1:
        parser.error("--reps must be at least 1")
    args.out_dir.mkdir(parents=True, exist_ok=True)

    machine = machine_info()
    header = header_lines(machine)
    print("\n".join(header), flush=True)

    panels: dict[str, dict[str, Any]] = {}
    paths: dict[str, Path] = {}
    for countries, years in args.sizes:
        size = f"{countries}x{years}"
        paths[size], panels[size] = ensure_panel(
            args.out_dir, countries, years, args.seed, args.regenerate
        )
        print(f"- panel {size}: {panels[size]['description']}", flush=True)

    first_size = next(iter(paths))
    if not args.no_warmup:
        # The first run of a tool on a machine pays for compiling and caching its numba kernels
        # and for reading its modules from disk; neither belongs in the steady-state timing.
        for tool in tools:
            warm = measure(tool, first_size, args.fe[0], 0, paths[first_size], args.timeout)
            note = "ok" if warm.ok else warm.error
            print(f"- warm-up {tool}: {warm.seconds:.2f} s, {note}", file=sys.stderr, flush=True)

    runs: list[Run] = []
    for size, panel in paths.items():
        for fe in args.fe:
            for rep in range(1, args.reps + 1):
                # Tools alternate within a repetition so that slow drifts of the machine (thermal
                # throttling, a neighbour's load) hit every tool alike.
                for tool in tools:
                    run = measure(tool, size, fe, rep, panel, args.timeout)
                    runs.append(run)
                    note = "ok" if run.ok else run.error
                    print(
                        f"  {size} fe={fe} rep={rep} {tool}: {run.seconds:.2f} s, "
                        f"{run.max_rss_kb / 1024:.0f} MiB, {note}",
                        file=sys.stderr,
                        flush=True,
                    )

    rows, table = summarise(runs, panels, tools)
    print()
    print("\n".join(table))

    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    md_path = args.out_dir / f"bench_{stamp}.md"
    json_path = args.out_dir / f"bench_{stamp}.json"
    formulas = "\n".join(f"- FE {fe}: `{FORMULAS[fe]}`, vcov cluster:{CLUSTER}" for fe in args.fe)
    panel_lines = "\n".join(f"- {size}: {meta['description']}" for size, meta in panels.items())
    md_path.write_text(
        "# migtrade vs fereg and pyfixest: PPML on synthetic gravity panels\n\n"
        + "\n".join(header)
        + f"\n- repetitions: {args.reps} (seconds: median; peak MiB: max)\n\n"
        + f"## Models\n\n{formulas}\n\n## Panels\n\n{panel_lines}\n\n## Results\n\n"
        + "\n".join(table)
        + "\n"
    )
    json_path.write_text(
        json.dumps(
            {
                "machine": machine,
                "arguments": {
                    "sizes": [f"{c}x{t}" for c, t in args.sizes],
                    "fe": args.fe,
                    "reps": args.reps,
                    "seed": args.seed,
                    "tools": tools,
                    "timeout": args.timeout,
                    "warmup": not args.no_warmup,
                },
                "formulas": {str(fe): FORMULAS[fe] for fe in args.fe},
                "panels": {
                    size: {**meta, "path": str(paths[size])} for size, meta in panels.items()
                },
                "rows": rows,
                "runs": [asdict(run) for run in runs],
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nwrote {md_path} and {json_path.name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
