"""One thread per fit during a split run.

The engine's compiled loops share a fit's columns among OpenMP threads. On the small models of a
split run (a sector of a few thousand rows) the threads cost more than they save, the more so
when other processes hold the cores: measured on one product of the 2.94 M-row panel
(9,800 rows, PPML with exporter-year and importer-year effects) on a busy 2-core machine, 0.57 s
per fit with two threads and 0.076 s with one. A split run therefore fits each sector on one
thread and uses more cores with more worker processes (``--workers``).

The OpenMP runtime is told through its own C function (``omp_set_num_threads``) on the thread
that runs the fits, and given back its previous setting afterwards; where no OpenMP runtime is
loaded nothing is done.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_RUNTIMES = ("libgomp.so.1", "libomp.so", "libiomp5.so", "libomp.dylib", "vcomp140.dll")


def _openmp() -> Any | None:
    import os

    mode = getattr(os, "RTLD_NOLOAD", 0)  # only a runtime that is already loaded
    for name in _RUNTIMES:
        try:
            lib = ctypes.CDLL(name, mode=mode)
        except OSError:
            continue
        if hasattr(lib, "omp_set_num_threads") and hasattr(lib, "omp_get_max_threads"):
            return lib
    return None


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the block's fits on one OpenMP thread (this thread's setting, restored after)."""
    lib = _openmp()
    if lib is None:
        yield
        return
    before = int(lib.omp_get_max_threads())
    lib.omp_set_num_threads(1)
    try:
        yield
    finally:
        lib.omp_set_num_threads(before)
