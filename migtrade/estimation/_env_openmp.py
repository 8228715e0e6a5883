"""How the compiled kernels' OpenMP threads wait, set before the first of them is loaded.

The kernels run many short parallel regions (a pass over the rows each) between numpy and BLAS
calls. Threads that spin while they wait (libgomp's default) take the cores from the BLAS
threads, the main thread and other processes; threads that sleep cost a wake-up of some
microseconds per region. Measured on the 2-core machine shared with other work (load about 2,
2026-12-05): whole estimates 15-25% faster with sleeping threads (worker-firm ring 1 M rows
3.0-3.5 s -> 2.6 s, three-way gravity 1.6 M rows 4.0 s -> 3.1 s). A value the user set is kept.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
