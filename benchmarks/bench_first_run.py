"""The first estimate after a fresh install against a warm one, as whole processes.

What a CI job that reproduces a paper pays: it installs migtrade in a new environment and runs
its first estimate at once. For every case the script makes a new virtualenv in a temporary
folder, clones the repository into it (committed files only: no kernels built beforehand, no
bytecode, no caches), installs it as the README says (``python3 -m venv .venv && .venv/bin/pip
install -e .``; the dependencies come from pip's download cache when they are there, migtrade
itself is always built afresh), then times the first run of the case and ``--warm`` runs after
it. Cases: ``migtrade --help``, PPML with two fixed effects on a 1,000-row CSV, and PPML with
two and with three fixed effects on the seeded gravity panel (``--countries`` x ``--years``, the
models of ``bench_estimate.py``). Each case has its own fresh install, so no case warms another.

    .venv/bin/python benchmarks/bench_first_run.py --countries 100 --years 20
    .venv/bin/python benchmarks/bench_first_run.py --ref 670daf6   # an older commit, same table

The table gives the first run, the median of the warm runs and their ratio, and the install
time; the issue's target is a first estimate at most 1.5 times a warm one.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_estimate import CLUSTER, FORMULAS, header_lines, machine_info  # noqa: E402
from bench_startup import SMALL_ESTIMATE, seconds, write_small_csv  # noqa: E402

REPO = HERE.parent


def panel_estimate(fe: int, panel: Path) -> list[str]:
    """The arguments of ``migtrade`` for bench_estimate.py's model with ``fe`` fixed effects."""
    return ["estimate", FORMULAS[fe], "--data", str(panel), "--model", "ppml", "--vcov",
            f"cluster:{CLUSTER}", "--small-sample", "fixest", "--format", "json"]


def make_panel(folder: Path, countries: int, years: int) -> Path:
    """The seeded gravity panel, written by make_panel.py with this interpreter."""
    out = folder / f"panel_{countries}x{years}.parquet"
    subprocess.run([sys.executable, str(HERE / "make_panel.py"), "--countries", str(countries),
                    "--years", str(years), "--seed", "1", "--out", str(out)],
                   check=True, stdout=subprocess.DEVNULL)
    return out


def fresh_install(folder: Path, ref: str) -> tuple[Path, float]:
    """Clone the repository at ``ref`` into ``folder``, install it in a new virtualenv there as
    the README says; returns the virtualenv's bin folder and the seconds the install took."""
    checkout = folder / "migtrade"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(checkout)], check=True)
    subprocess.run(["git", "-C", str(checkout), "checkout", "--quiet", ref], check=True)
    start = time.perf_counter()
    subprocess.run(["python3", "-m", "venv", ".venv"], cwd=checkout, check=True)
    pip = subprocess.run([".venv/bin/pip", "install", "--quiet", "--disable-pip-version-check",
                          "-e", "."], cwd=checkout, capture_output=True, text=True)
    if pip.returncode:
        sys.exit(f"pip install failed:\n{pip.stderr[-4000:]}")
    return checkout / ".venv" / "bin", time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--countries", type=int, default=100)
    parser.add_argument("--years", type=int, default=20)
    parser.add_argument("--warm", type=int, default=3, help="warm runs after the first (median)")
    parser.add_argument("--ref", default="HEAD", help="the commit to install (default HEAD)")
    parser.add_argument("--cases", default="help,small,fe2,fe3",
                        help="comma-separated among help, small, fe2, fe3")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="migtrade-first-run-") as tmp:
        data = Path(tmp)
        small = write_small_csv(data)
        panel = make_panel(data, args.countries, args.years)
        cases = {
            "help": ("migtrade --help", ["--help"]),
            "small": ("estimate, 1,000-row CSV, PPML 2 FE",
                      [*SMALL_ESTIMATE[:2], "--data", str(small), *SMALL_ESTIMATE[2:]]),
            "fe2": (f"estimate, panel {args.countries}x{args.years}, PPML 2 FE",
                    panel_estimate(2, panel)),
            "fe3": (f"estimate, panel {args.countries}x{args.years}, PPML 3 FE",
                    panel_estimate(3, panel)),
        }
        for key in args.cases.split(","):
            label, arguments = cases[key]
            with tempfile.TemporaryDirectory(prefix="migtrade-venv-") as venv_folder:
                bin_dir, install = fresh_install(Path(venv_folder), args.ref)
                command = [str(bin_dir / "migtrade"), *arguments]
                first = seconds(command)
                warm = [seconds(command) for _ in range(args.warm)]
            rows.append((label, first, statistics.median(warm), install))
            print(f"  {label}: first {first:.2f} s, warm {warm}, install {install:.0f} s",
                  file=sys.stderr, flush=True)
    ref = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", args.ref],
                         capture_output=True, text=True, check=True).stdout.strip()
    # Date, machine and python; the packages are the fresh environments' own.
    print("\n".join(header_lines(machine_info())[:3]))
    print(f"- migtrade at {ref}, each case in its own fresh install; warm = median of {args.warm}")
    print()
    print("| case | first s | warm s | first / warm | install s |")
    print("|---|---|---|---|---|")
    for label, first, warm_median, install in rows:
        print(f"| {label} | {first:.2f} | {warm_median:.2f} | {first / warm_median:.2f} "
              f"| {install:.0f} |")


if __name__ == "__main__":
    main()
