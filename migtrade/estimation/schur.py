"""The ``schur`` strategy: eliminate the largest fixed effect exactly, then conjugate gradients.

The dimension with the most levels (the pair effect of a gravity panel, the worker of a
worker-firm panel) is projected out exactly by group means within its groups; the system left on
the other dimensions' levels (exporter-year and importer-year) is solved by conjugate gradients
preconditioned by its diagonal, matrix-free, every column at once (method and stop rule in
:mod:`migtrade.estimation.kernels_schur`). Each iteration is one pass over the codes and weights,
where a sweep of alternating projections reads and writes every column once per dimension.

The rows must come in runs of one group of the eliminated dimension; a panel sorted by pair (or
worker) already does, otherwise the plan keeps the row order that sorts it and the columns are
permuted in and out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from migtrade.estimation import kernels_schur
from migtrade.estimation.last_plan import LastPlan

# Below this many cells (rows x columns) the columns run on the calling thread alone, as the other
# kernels do: waking an OpenMP team costs more than it saves on small models.
PARALLEL_MIN_CELLS = 200_000
# A level whose diagonal of S is this small next to its weight sum is (up to rounding) outside
# the range of S; it is preconditioned by its weight sum instead.
DIAGONAL_FLOOR = 1e-12


@dataclass(frozen=True)
class SchurPlan:
    """Where the eliminated groups' rows sit, from the codes alone.

    ``order`` sorts the rows by eliminated group (None when they already come in runs);
    ``codes`` then holds the other dimensions' codes in that order (None: the absorber's own).
    """

    q_e: int
    order: np.ndarray | None
    codes: np.ndarray | None
    dims: np.ndarray
    starts: np.ndarray
    m: int
    ptr: np.ndarray
    longest: int

    @classmethod
    def build(cls, codes: np.ndarray, n_levels: Sequence[int]) -> SchurPlan:
        """The plan for the (Q, n) ``codes``, the last one kept for absorbers on the same rows."""
        return _LAST_PLAN.get(codes, lambda: cls._build(codes, n_levels))

    @classmethod
    def _build(cls, codes: np.ndarray, n_levels: Sequence[int]) -> SchurPlan:
        n = codes.shape[1]
        q_e = int(np.argmax(n_levels))
        others = [q for q in range(len(n_levels)) if q != q_e]
        starts = np.concatenate([[0], np.cumsum([n_levels[q] for q in others])]).astype(np.int64)
        e = codes[q_e]
        breaks = np.flatnonzero(e[1:] != e[:-1]) + 1
        order: np.ndarray | None = None
        sorted_codes: np.ndarray | None = None
        dims = np.array(others, dtype=np.int64)
        if breaks.size + 1 != n_levels[q_e]:  # some group is split over several runs
            order = np.argsort(e, kind="stable")
            sorted_codes = np.ascontiguousarray(codes[others][:, order])
            dims = np.arange(len(others), dtype=np.int64)
            e_sorted = e[order]
            breaks = np.flatnonzero(e_sorted[1:] != e_sorted[:-1]) + 1
        ptr = np.concatenate([[0], breaks, [n]]).astype(np.int64)
        return cls(q_e=q_e, order=order, codes=sorted_codes, dims=dims, starts=starts[:-1].copy(),
                   m=int(starts[-1]), ptr=ptr,
                   longest=int(np.diff(ptr).max(initial=0)))


_LAST_PLAN: LastPlan[SchurPlan] = LastPlan()


class SchurProjector:
    """The weighted projection off several fixed effects by exact elimination of the largest
    one and preconditioned conjugate gradients on the rest, under fixed weights."""

    def __init__(self, codes: np.ndarray, n_levels: Sequence[int], weights: np.ndarray) -> None:
        plan = SchurPlan.build(codes, n_levels)
        self.plan = plan
        self.codes = codes if plan.codes is None else plan.codes
        w = np.ascontiguousarray(weights, dtype=np.float64)
        self.w = w if plan.order is None else np.ascontiguousarray(w[plan.order])
        a = np.add.reduceat(self.w, plan.ptr[:-1]) if self.w.size else np.zeros(0)
        self.inv_a = np.where(a > 0, 1.0 / np.where(a > 0, a, 1.0), 0.0)
        b, s = kernels_schur.schur_diagonal(self.codes, plan.dims, plan.starts, plan.ptr, self.w,
                                            self.inv_a, plan.m)
        self.inv_b = np.where(b > 0, 1.0 / np.where(b > 0, b, 1.0), 0.0)
        usable = s > DIAGONAL_FLOOR * b
        self.inv_s = np.where(usable, 1.0 / np.where(usable, s, 1.0), self.inv_b)

    def project(self, x: np.ndarray, tols: np.ndarray, maxiter: int) -> np.ndarray:
        """Residuals of the projection of the columns of the Fortran-ordered float64 (n, k)
        ``x``, in place; the passes over the rows used per column (-1: not converged)."""
        plan = self.plan
        iters = np.zeros(x.shape[1], dtype=np.int64)
        work = x if plan.order is None else np.asfortranarray(x[plan.order])
        parallel = x.shape[0] * x.shape[1] >= PARALLEL_MIN_CELLS
        kernels_schur.schur_columns(work, self.codes, plan.dims, plan.starts, plan.ptr,
                                    self.w, self.inv_a, self.inv_b, self.inv_s,
                                    np.ascontiguousarray(tols, dtype=np.float64), maxiter,
                                    plan.longest, parallel, iters)
        if plan.order is not None:
            x[plan.order] = work
        return iters
