"""The engine's loops are compiled when the package is installed, and nothing needs numba.

The numbers the kernels produce are tested where they are used (test_absorb.py's projections
against dense least squares and between strategies, the agreement with pyfixest and the
published Yotov tables); here only what the build itself promises.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
from importlib.machinery import EXTENSION_SUFFIXES

import numpy as np
import pytest

from migtrade.estimation import kernels

COMPILED = [
    "migtrade.estimation._kernels",
    "migtrade.estimation._kernels_cg",
    "migtrade.estimation._kernels_crossed",
    "migtrade.estimation._kernels_schur",
    "migtrade.estimation._kernels_blocks",
    "migtrade.estimation._kernels_bias",
    "migtrade.estimation._kernels_poisson",
    "migtrade.estimation.bootstrap._kernels",
]


@pytest.mark.parametrize("name", COMPILED)
def test_kernels_are_extension_modules(name: str) -> None:
    module = importlib.import_module(name)
    assert str(module.__file__).endswith(tuple(EXTENSION_SUFFIXES)), module.__file__


@pytest.mark.parametrize("given, want", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_openmp_threads_sleep_unless_the_user_chose(given: str | None, want: str) -> None:
    """Loading the kernels sets OpenMP's wait policy to passive before the runtime reads it,
    and keeps a policy the user set."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given is not None:
        env["OMP_WAIT_POLICY"] = given
    script = ("import os, migtrade.estimation.absorb as a; "
              "assert a.kernels._kernels.__file__; print(os.environ['OMP_WAIT_POLICY'])")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == want


def test_estimates_without_numba_installed() -> None:
    """A three-way PPML, a two-way one (crossed pair) and the separation checks in a process
    where importing numba fails: the runtime dependencies no longer include it."""
    script = textwrap.dedent("""
        import sys
        sys.modules["numba"] = None  # any import of numba raises ImportError
        import migtrade as mt
        from migtrade.synthetic.gravity import gravity_panel
        frame = gravity_panel(15, 4, seed=2).frame
        for fe in ("exporter^year + importer^year + exporter^importer",
                   "exporter^year + importer^year"):
            res = mt.estimate(f"trade ~ rta + log_dist | {fe}", data=frame)
            print(res.params["rta"])
        print(sorted(m for m in sys.modules if m == "numba" or m.startswith("numba.")))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[-1] == "['numba']"  # only the blocking placeholder
    assert all(np.isfinite(float(v)) for v in lines[:-1])


def test_sweeps_take_fortran_columns_only() -> None:
    """The loops walk columns in memory: a C-ordered (n, k) array is refused, not misread."""
    codes = np.zeros((1, 4), dtype=np.int32)
    offsets = np.array([0, 1], dtype=np.int64)
    x = np.ones((4, 2))  # C order
    with pytest.raises(ValueError, match="contiguous"):
        kernels.demean_columns(x, codes, offsets, np.ones(4), np.ones(1), np.ones(2), 10,
                               np.zeros(2, dtype=np.int64), np.zeros(1, dtype=bool))
