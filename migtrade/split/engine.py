"""One model per level of a variable: the split run, in process or on a Dask cluster.

The run (1) reads the data, in process as a table grouped by the split variable, or for
workers as Parquet partitioned by it (:mod:`migtrade.split.partition`); (2) groups the sectors
still to do into batches of similar size, so that the cost of a task does not dominate many
small fits; (3) runs the batches (:func:`migtrade.split.task.run_batch`) and takes the results
as they finish, keyed by sector so that a batch re-run after a lost worker is never counted
twice; (4) rewrites the ``--save`` file as they come. A sector that cannot be estimated is
recorded with its error and the others go on, unless the run is strict.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migtrade.errors import DataError, UsageError
from migtrade.estimation.options import EstimateOptions
from migtrade.spec.formula import ModelSpec
from migtrade.split.outcome import SectorError, SectorOutcome, plain, sector_key, tidy_frame
from migtrade.split.progress import Progress, Silent
from migtrade.split.saved import SaveFile, read_saved, run_identity
from migtrade.split.task import FitJob, Sector, run_batch

if TYPE_CHECKING:
    import pandas as pd

    from migtrade.store.resolve import Data

TASKS_PER_WORKER = 8
"""Batches per worker: enough for the workers to balance their load and for the progress to
move, few enough that a task's own cost (a few milliseconds) stays small beside its fits
(``$MIGTRADE_SPLIT_TASKS_PER_WORKER`` overrides it; benchmarks/bench_split.py --batching)."""
TASKS_ENV = "MIGTRADE_SPLIT_TASKS_PER_WORKER"
AHEAD_PER_WORKER = 4
"""Batches in flight per worker thread: enough that a worker always has the next one."""


def _tasks_per_worker() -> int:
    raw = os.environ.get(TASKS_ENV, "")
    if not raw:
        return TASKS_PER_WORKER
    if not raw.isdigit() or int(raw) < 1:
        raise UsageError(f"${TASKS_ENV} must be a whole number of at least 1, not {raw!r}",
                         f"Unset it, or set e.g. {TASKS_ENV}={TASKS_PER_WORKER}.")
    return int(raw)


@dataclass(frozen=True)
class SplitOptions:
    """How a split run is laid out and where it runs.

    Parameters
    ----------
    var
        The column whose levels are the sectors.
    workers
        Start a local Dask cluster of this many worker processes (None: in process).
    scheduler
        Use the running Dask scheduler at this address (``tcp://HOST:PORT``).
    ship_data
        Send each task its sectors' bytes instead of a path (workers without the cache folder).
        With ``scheduler`` and no ``ship_data``, the workers are asked whether they see it.
    strict
        Stop at the first failing sector, with its error.
    cache
        Where partitioned copies of the data are kept (default :func:`default_cache_dir`).
    tasks_per_worker
        Batches per worker thread (default ``$MIGTRADE_SPLIT_TASKS_PER_WORKER`` or
        :data:`TASKS_PER_WORKER`).
    """

    var: str
    workers: int | None = None
    scheduler: str | None = None
    ship_data: bool = False
    strict: bool = False
    cache: Path | None = None
    tasks_per_worker: int = field(default_factory=_tasks_per_worker)

    def __post_init__(self) -> None:
        if not isinstance(self.var, str) or not self.var.strip():
            raise UsageError(f"--split needs a column name, not {self.var!r}", "Give e.g. --split product.")
        if self.workers is not None and self.scheduler is not None:
            raise UsageError("--workers and --scheduler cannot be combined",
                             "Give --workers N for a local cluster or --scheduler ADDRESS for a running one.")
        if self.workers is not None and (isinstance(self.workers, bool) or not isinstance(self.workers, int)
                                         or self.workers < 1):
            raise UsageError(f"--workers must be a whole number of at least 1, not {self.workers!r}",
                             "Give e.g. --workers 2, or leave it out to run in process.")
        if self.scheduler is not None and (not isinstance(self.scheduler, str) or not self.scheduler.strip()):
            raise UsageError(f"--scheduler needs an address such as tcp://127.0.0.1:8786, not {self.scheduler!r}",
                             "Give the address the Dask scheduler prints.")

    @property
    def distributed(self) -> bool:
        return self.workers is not None or self.scheduler is not None


@dataclass(frozen=True)
class SplitRun:
    """The outcomes of a split run, in the order of the levels, then formulas, then models."""

    var: str
    outcomes: tuple[SectorOutcome, ...]
    run_id: str

    @property
    def failed(self) -> tuple[SectorOutcome, ...]:
        return tuple(o for o in self.outcomes if not o.ok)

    def to_list(self) -> list[dict[str, Any]]:
        """The JSON list that ``--save`` and ``--format json`` write."""
        return [o.to_dict(self.run_id) for o in self.outcomes]

    def to_frame(self) -> pd.DataFrame:
        """The tidy table: one row per sector, model and term."""
        return tidy_frame(self.outcomes, [self.var])


# -- the sectors ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Sectors:
    """The levels to fit, their sizes, and how to hand a level's rows to a task."""

    values: list[Any]
    rows: list[int]
    payload: Callable[[int], Any]  # index of a level -> its rows or partition files
    data_info: dict[str, Any]


def _in_memory(frame: pd.DataFrame, var: str, info: dict[str, Any]) -> _Sectors:
    if var not in frame.columns:
        raise DataError(f"split variable '{var}' not found in the data",
                        f"Split by one of: {', '.join(map(str, list(frame.columns)[:20]))}.")
    groups = frame.groupby(var, sort=True, dropna=True, observed=True).indices
    if not groups:
        raise DataError(f"the split variable '{var}' has no values", "Split by a column with values.")
    values = [plain(v) for v in groups]
    positions = list(groups.values())
    return _Sectors(values, [len(p) for p in positions],
                    lambda i: frame.iloc[positions[i]], info)


def _partitioned(data: Data, var: str, store: str | Path | None, cache: Path | None,
                 ship: Callable[[Path], bool]) -> _Sectors:
    from migtrade.split.partition import partition_frame, partition_parquet
    from migtrade.store.resolve import resolve

    path = Path(data).expanduser() if isinstance(data, str | Path) else None
    if path is not None and path.is_file() and path.name.lower().endswith((".parquet", ".pq")):
        parts = partition_parquet(path, var, cache)
    elif (stored := _stored(data, store)) is not None:
        parts = stored(var, cache)
    else:
        frame, info = resolve(data, None, store=store)
        parts = partition_frame(frame, var, info, cache)
    by_value = {lv.value: lv for lv in parts.levels}
    values = sorted(by_value)
    levels = [by_value[v] for v in values]
    shipped = ship(parts.root)

    def payload(i: int) -> list[str | bytes]:
        part = levels[i].part
        return list(parts.part_bytes(part)) if shipped else [str(f) for f in parts.part_files(part)]

    return _Sectors(values, [lv.rows for lv in levels], payload, parts.data_info)


def _stored(data: Data, store: str | Path | None) -> Callable[[str, Path | None], Any] | None:
    """For a stored dataset's name: partition its Parquet file out of core, as a file's."""
    if not isinstance(data, str) or Path(data).expanduser().exists():
        return None
    from migtrade.split.partition import partition_parquet
    from migtrade.store.catalog import Store
    from migtrade.store.names import is_valid_name

    if not is_valid_name(data):
        return None
    st = Store(store)
    if not any(i.name == data for i in st.list()):
        return None

    def partition(var: str, cache: Path | None) -> Any:
        with st.parquet_files([data]) as found:
            path, info = found[data]
            described = {"dataset": info.name, "sha256": info.file_sha256, "rows": info.rows,
                         "provenance": info.provenance.to_dict()}
            return partition_parquet(path, var, cache, described)

    return partition


def batches(rows: Sequence[int], slots: int, per_slot: int = TASKS_PER_WORKER) -> list[list[int]]:
    """Consecutive groups of levels with similar row counts, about ``per_slot`` per slot.

    A level is never split; a level larger than the target is a batch of its own.
    """
    count = min(len(rows), max(1, slots * per_slot))
    total = sum(rows) or 1
    out: list[list[int]] = []
    last = -1
    done = 0
    for i, n in enumerate(rows):
        # The batch whose share of the rows holds the middle of this level.
        batch = min(count - 1, int((done + n / 2) * count / total))
        if batch != last:
            out.append([])
            last = batch
        out[-1].append(i)
        done += n
    return out


# -- running ---------------------------------------------------------------------------------------

def _columns(specs: Sequence[ModelSpec], options: EstimateOptions, var: str) -> list[str] | None:
    if options.where is not None:
        return None  # a filter may name any column
    needed = [c for s in specs for c in s.ordered_columns()]
    needed += [*options.vcov_spec.cluster_columns, *(v for v in (options.weights, options.offset) if v)]
    return [*dict.fromkeys([*needed, var])]


def _in_process(job: FitJob, work: Iterator[list[Sector]]) -> Iterator[list[SectorOutcome]]:
    for batch in work:
        yield run_batch(job, batch)


def _on_cluster(client: Any, job: FitJob, work: Iterator[list[Sector]]) -> Iterator[list[SectorOutcome]]:
    """Batches submitted a few ahead of the workers, results taken as they finish.

    Only :data:`AHEAD_PER_WORKER` batches per worker thread are in flight, so that sectors
    shipped as bytes (``--ship-data``) are read and sent as the workers need them, not all at
    once.
    """
    from itertools import islice

    from distributed import as_completed

    def submit(batch: list[Sector]) -> Any:
        # pure=False: a batch is submitted once per run. The scheduler re-runs a batch whose
        # worker is lost, and its result reaches us once; retries cover a batch that raised
        # (a file system's hiccup; the package's own errors never leave run_batch).
        return client.submit(run_batch, job, batch, pure=False, retries=2)

    live = {submit(batch) for batch in islice(work, AHEAD_PER_WORKER * _slots(client))}
    running = as_completed(live)
    try:
        for future in running:
            live.discard(future)
            # The next batch goes out before this one's results are saved and shown, so that
            # no worker waits on the client.
            following = next(work, None)
            if following is not None:
                added = submit(following)
                live.add(added)
                running.add(added)
            yield future.result()
    finally:
        client.cancel(list(live))


def run_split(formulas: Sequence[str], models: Sequence[str], options: EstimateOptions,
              data: Data, split: SplitOptions, *, store: str | Path | None = None,
              save: Path | None = None, resume: bool = False,
              progress: Progress | None = None) -> SplitRun:
    """Fit every formula with every model on each level of ``split.var``.

    Parameters
    ----------
    formulas
        Formulas, ``csw()``/``sw()`` already expanded.
    models
        Estimators (``ppml``, ``ols``).
    options
        The estimate's options (the ``model`` field is replaced by each of ``models``).
    data
        A file, a stored dataset's name, or a DataFrame.
    split
        The split variable and where the run executes.
    store
        Where a dataset name is looked up.
    save
        Rewritten atomically with every outcome so far as sectors finish (at most once a
        second, and at the end).
    resume
        Read ``save`` first and fit only the sectors missing from it.
    progress
        Told of every batch that finishes (default: silent).

    Returns
    -------
    SplitRun
        Every (sector, formula, model) outcome, estimated or failed, in level order.

    Raises
    ------
    SectorError
        With ``split.strict``, the first failing sector's error and exit code (what was done
        is saved first).

    Notes
    -----
    Each sector's estimate is that of :func:`migtrade.estimation.fit.fit` on the rows whose
    ``var`` equals the level, in the input's order; the rows where ``var`` is missing belong to
    no sector. The numbers do not depend on where the run executes.
    """
    specs = [ModelSpec.parse(f) for f in formulas]
    texts = tuple(s.formula for s in specs)
    columns = _columns(specs, options, split.var)
    progress = progress or Silent()
    client_cm: AbstractContextManager[Any] = nullcontext()
    if split.distributed:
        from migtrade.split.cluster import client_for

        client_cm = client_for(split.workers, split.scheduler)
    with client_cm as client:
        if split.distributed:
            from migtrade.split.cluster import workers_see

            def ship(root: Path) -> bool:
                # A local cluster shares this machine's folders; a running one is asked.
                return split.ship_data or (split.scheduler is not None
                                           and not workers_see(client, str(root)))

            sectors = _partitioned(data, split.var, store, split.cache, ship)
        else:
            from migtrade.store.resolve import resolve

            frame, info = resolve(data, columns, store=store)
            sectors = _in_memory(frame, split.var, info)
        job = FitJob(split.var, texts, tuple(models), FitJob.options_of(options),
                     None if columns is None else tuple(columns), sectors.data_info)
        run_id = run_identity(split.var, texts, models, job.options, sectors.data_info.get("sha256"))
        return _execute(job, sectors, client, run_id, split, save, resume, progress)


def _execute(job: FitJob, sectors: _Sectors, client: Any, run_id: str, split: SplitOptions,
             save: Path | None, resume: bool, progress: Progress) -> SplitRun:
    keys_of = [[sector_key({job.var: v}, f, m) for f in job.formulas for m in job.models]
               for v in sectors.values]
    found: dict[str, SectorOutcome] = {}
    if resume and save is not None:
        found = {o.key: o for o in read_saved(save, run_id)}
    todo = [i for i, keys in enumerate(keys_of) if not all(k in found for k in keys)]
    # In process a task costs nothing, so each sector is its own (the progress moves by one).
    plan = ([[j] for j in range(len(todo))] if client is None
            else batches([sectors.rows[i] for i in todo], _slots(client), split.tasks_per_worker))
    # Built as they are handed out: in process a sector's rows are copied only when it is
    # fitted, on a cluster its bytes are read only when its batch is sent.
    work: Iterator[list[Sector]] = iter(
        [(sectors.values[todo[j]], sectors.payload(todo[j])) for j in b] for b in plan)
    saver = SaveFile(save, run_id)
    order = {k: n for n, k in enumerate(k for keys in keys_of for k in keys)}

    def ordered() -> list[SectorOutcome]:
        return sorted(found.values(), key=lambda o: order.get(o.key, len(order)))

    per_sector = max(1, len(job.formulas) * len(job.models))
    progress.start(len(sectors.values), len(sectors.values) - len(todo))
    stopped: SectorOutcome | None = None
    try:
        stream = _in_process(job, work) if client is None else _on_cluster(client, job, work)
        for outcomes in stream:
            for o in outcomes:
                found[o.key] = o  # keyed: a batch that ran twice counts once
            failed = [o for o in outcomes if not o.ok]
            progress.advance(len(outcomes) // per_sector, len({o.describe() for o in failed}))
            saver.write(ordered())
            if split.strict and failed:
                stopped = failed[0]
                break
    finally:
        progress.stop()
        saver.write(ordered(), force=True)
    if stopped is not None:
        error = stopped.error or {}
        raise SectorError(f"sector {stopped.describe()} failed: {error.get('message', '')}",
                          "Drop --strict to record failing sectors and go on.",
                          int(error.get("exit_code", 4)))
    return SplitRun(job.var, tuple(ordered()), run_id)


def _slots(client: Any) -> int:
    """Worker threads to spread the batches over (one in process)."""
    if client is None:
        return 1
    from migtrade.split.cluster import worker_threads

    return worker_threads(client)
