"""Where a split run's tasks execute: a local Dask cluster this run starts, or a running one.

``distributed`` is imported here only, and only when a run asks for workers or a scheduler, so
an in-process split (and every other command) never pays for it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from itertools import pairwise
from typing import Any

from migtrade.errors import SourceError

SCHEDULER_ENV = "MIGTRADE_SCHEDULER"
TIMEOUT_ENV = "MIGTRADE_SCHEDULER_TIMEOUT"
DEFAULT_TIMEOUT = 10.0


def _timeout() -> float:
    raw = os.environ.get(TIMEOUT_ENV, "")
    try:
        return float(raw) if raw else DEFAULT_TIMEOUT
    except ValueError:
        return DEFAULT_TIMEOUT


@contextmanager
def local_client(workers: int) -> Iterator[Any]:
    """A client of a new local cluster: ``workers`` processes of one thread each, on 127.0.0.1.

    One thread per process because the engine's compiled loops and the GIL-bound parts of a fit
    do not share a process well; the cluster is closed when the block ends.
    """
    from distributed import Client, LocalCluster

    # Each worker runs one fit at a time: its compiled loops use one thread, so that N workers
    # use N cores instead of fighting over them.
    env = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    # The scheduler always serves HTTP (health, metrics): on a free port, not 8787.
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address=":0", silence_logs=logging.ERROR,
                           env=env)
    try:
        with Client(cluster) as client:
            yield client
    finally:
        cluster.close()


@contextmanager
def remote_client(address: str) -> Iterator[Any]:
    """A client of the running scheduler at ``address`` (``tcp://HOST:PORT``).

    Raises
    ------
    SourceError
        When the scheduler cannot be reached within ``$MIGTRADE_SCHEDULER_TIMEOUT`` seconds
        (10 by default).
    """
    from distributed import Client

    timeout = _timeout()
    try:
        client = Client(address, timeout=f"{timeout}s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise SourceError(f"cannot reach the Dask scheduler at '{address}' ({type(exc).__name__})",
                          "Check that it runs and listens there, or run without --scheduler.") from None
    try:
        yield client
    finally:
        client.close()


def workers_see(client: Any, path: str) -> bool:
    """Whether every worker of ``client`` can read the folder ``path`` (a shared file system)."""
    seen = client.run(os.path.isdir, path)
    return bool(seen) and all(seen.values())


@contextmanager
def client_for(workers: int | None = None, scheduler: str | None = None) -> Iterator[Any]:
    """A client of a new local cluster of ``workers`` processes, or of the one at ``scheduler``."""
    from migtrade.errors import UsageError

    if (workers is None) == (scheduler is None):
        raise UsageError("give one of --workers and --scheduler",
                         "--workers N starts a local cluster; --scheduler ADDRESS uses a running one.")
    if workers is not None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise UsageError(f"--workers must be a whole number of at least 1, not {workers!r}",
                             "Give e.g. --workers 2.")
        with local_client(workers) as client:
            yield client
    else:
        assert scheduler is not None
        with remote_client(scheduler) as client:
            yield client


def worker_threads(client: Any) -> int:
    """The threads of the cluster's workers (at least one)."""
    info = client.scheduler_info().get("workers", {})
    return max(1, sum(int(w.get("nthreads", 1)) for w in info.values()))


def map_chunks(client: Any, function: Callable[[Any, list[Any]], list[Any]], shared: Any,
               items: Sequence[Any], per_worker: int = 8) -> list[Any]:
    """``function(shared, chunk)`` over consecutive chunks of ``items`` on the cluster.

    About ``per_worker`` chunks per worker thread, so that a task's own cost stays small beside
    its work; a chunk whose worker is lost is run again by the scheduler. Returns the
    concatenated results in the order of ``items``.
    """
    if not items:
        return []
    count = min(len(items), worker_threads(client) * per_worker)
    bounds = [round(i * len(items) / count) for i in range(count + 1)]
    chunks = [list(items[a:b]) for a, b in pairwise(bounds) if b > a]
    futures = [client.submit(function, shared, chunk, pure=False, retries=2) for chunk in chunks]
    try:
        parts = client.gather(futures)
    finally:
        client.cancel(futures)
    return [r for part in parts for r in part]
