"""How long a whole process takes to start migtrade, beside its peers, in the same run.

Each case is a fresh interpreter (what a user waits for: ``import migtrade as mt`` in a notebook
kernel, ``migtrade --help`` in a shell, an estimate on a small file); the table gives the median
of ``--reps`` runs after one warm-up, and each case's ratio to ``import migtrade``. Peers:
importing pyfixest, statsmodels' formula API and linearmodels, the libraries a notebook would
otherwise load for the same models. ``bench_first_run.py`` runs the migtrade cases in a fresh
install as well.

    .venv/bin/python benchmarks/bench_startup.py --reps 11
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PYTHON = sys.executable
SCRIPT = str(Path(PYTHON).with_name("migtrade"))
SMALL_ROWS = 1000
# PPML with two fixed effects, clustered: the smallest estimate that loads the whole engine.
SMALL_ESTIMATE = ["estimate", "trade ~ log_dist + cntg + rta | exporter + importer", "--vcov",
                  "cluster:exporter", "--format", "json"]


def write_small_csv(folder: Path) -> Path:
    """A 1,000-row CSV of the seeded gravity panel (the same file as bench_hard.py's)."""
    from migtrade.synthetic.gravity import gravity_panel

    path = folder / "small_1000.csv"
    gravity_panel(32, 1, seed=1).frame.head(SMALL_ROWS).to_csv(path, index=False)
    return path


def migtrade_cases(bin_dir: Path, small_csv: Path) -> list[tuple[str, list[str]]]:
    """The start-up cases of the migtrade installed in ``bin_dir`` (a virtualenv's bin)."""
    python, script = str(bin_dir / "python"), str(bin_dir / "migtrade")
    return [
        ("import migtrade", [python, "-c", "import migtrade"]),
        ("migtrade --help", [script, "--help"]),
        ("migtrade estimate --help", [script, "estimate", "--help"]),
        ("import migtrade; mt.estimate (first use)", [python, "-c", "import migtrade as mt; mt.estimate"]),
        (f"migtrade estimate, {SMALL_ROWS:,}-row CSV", [script, *SMALL_ESTIMATE[:2], "--data",
                                                        str(small_csv), *SMALL_ESTIMATE[2:]]),
    ]


PEER_CASES: list[tuple[str, list[str], str | None]] = [
    # pyfixest loads its modules lazily too: a bare import measures nothing, first use does.
    ("import pyfixest", [PYTHON, "-c", "import pyfixest"], "pyfixest"),
    ("import pyfixest; pyfixest.fepois (first use)", [PYTHON, "-c", "import pyfixest; pyfixest.fepois"],
     "pyfixest"),
    ("import statsmodels.formula.api", [PYTHON, "-c", "import statsmodels.formula.api"], "statsmodels"),
    ("import linearmodels", [PYTHON, "-c", "import linearmodels"], "linearmodels"),
]


# Children may write and read compiled bytecode even where this process may not
# (PYTHONDONTWRITEBYTECODE): an installed package has its bytecode from the installation, and the
# warm-up run writes it for a package installed from a working tree.
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def seconds(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=CHILD_ENV)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7, help="Runs per case (median reported).")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="migtrade-startup-") as folder:
        small = write_small_csv(Path(folder))
        cases = [(label, command, None)
                 for label, command in migtrade_cases(Path(PYTHON).parent, small)]
        for label, command, module in cases + PEER_CASES:
            if module is not None and importlib.util.find_spec(module) is None:
                continue
            seconds(command)  # warm the file-system cache and the bytecode
            times = [seconds(command) for _ in range(args.reps)]
            rows.append((label, statistics.median(times), min(times), max(times)))
    base = rows[0][1]
    print(f"{'case':46} {'median s':>9} {'min':>7} {'max':>7} {'ratio':>7}")
    for label, median, low, high in rows:
        print(f"{label:46} {median:9.3f} {low:7.3f} {high:7.3f} {median / base:7.1f}")


if __name__ == "__main__":
    main()
