"""Which rows enter the estimation, and why the others do not.

Every input row ends with one status: ``used``, ``excluded`` (by the ``--where`` filter),
``missing`` (a value the model needs is missing or not finite), ``singleton`` (alone in a group of
some fixed effect) or ``separated`` (its Poisson outcome is zero and perfectly predicted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from migtrade.estimation.fixed_effects import compact, singleton_mask
from migtrade.estimation.separation import METHODS, detect_separation

STATUSES = ("used", "excluded", "missing", "singleton", "separated")
_CODE = {s: i for i, s in enumerate(STATUSES)}


@dataclass(frozen=True)
class Sample:
    """The estimation sample and the status of every input row."""

    status: np.ndarray  # int8 code into STATUSES, one per input row
    used: np.ndarray  # bool mask over input rows
    fe_codes: tuple[np.ndarray, ...]  # compacted codes on the used rows

    def counts(self) -> dict[str, int]:
        """Rows per status other than 'used'."""
        bins = np.bincount(self.status, minlength=len(STATUSES))
        return {s: int(bins[_CODE[s]]) for s in STATUSES if s != "used"}

    def labels(self) -> np.ndarray:
        """The status of every input row as text."""
        return np.asarray(STATUSES, dtype=object)[self.status]


def build_sample(
    *,
    n_rows: int,
    excluded: np.ndarray,
    missing: np.ndarray,
    fe_codes: Sequence[np.ndarray],
    y: np.ndarray,
    X: np.ndarray,
    poisson: bool,
    drop_singletons: bool = True,
    separation: Sequence[str] = METHODS,
) -> Sample:
    """Decide the estimation sample.

    Singletons and separated rows interact (dropping one can create the other), so the two
    checks alternate until neither drops anything more.
    """
    status = np.zeros(n_rows, dtype=np.int8)
    status[excluded] = _CODE["excluded"]
    status[~excluded & missing] = _CODE["missing"]
    alive = status == _CODE["used"]
    methods = tuple(separation) if poisson else ()
    # Both checks iterate internally until stable: each runs again only when the other changed
    # the sample after its last run.
    separation_stale = singletons_stale = True
    # The separation checks' codes on every row, when they ran on every row: the sample's own
    # codes if nothing was dropped after all (the same renumbering, not made twice).
    all_rows_codes: list[np.ndarray] | None = None
    while True:
        changed = False
        if drop_singletons and fe_codes and singletons_stale:
            single = singleton_mask(list(fe_codes), alive)
            singletons_stale = False
            if single.any():
                status[single] = _CODE["singleton"]
                alive &= ~single
                separation_stale = True
        if separation_stale and methods and alive.any() and np.any(y[alive] == 0):
            idx = np.flatnonzero(alive)
            every = idx.size == n_rows  # then the arrays are passed as they are, not copied
            codes_alive = [compact(c if every else c[idx])[0] for c in fe_codes]
            if every:
                all_rows_codes = codes_alive
            report = detect_separation(y if every else y[idx], X if every else X[idx],
                                       codes_alive, methods=methods)
            separation_stale = False
            if report.mask.any():
                sep = idx[report.mask]
                status[sep] = _CODE["separated"]
                alive[sep] = False
                changed = singletons_stale = True
        if not changed:
            break
    idx = np.flatnonzero(alive)
    if all_rows_codes is not None and idx.size == n_rows:
        codes = tuple(all_rows_codes)
    else:
        codes = tuple(compact(c if idx.size == n_rows else c[idx])[0] for c in fe_codes)
    return Sample(status=status, used=alive, fe_codes=codes)
