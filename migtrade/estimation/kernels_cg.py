"""Preconditioned conjugate gradients on the fixed-effect normal equations.

Alternating projections converge at a rate set by the worst angle between the fixed-effect
subspaces; on long, sparse graphs (workers moving along a chain of firms) that angle is tiny and
they need tens of thousands of sweeps. Conjugate gradients on ``D'WD a = D'W x`` with the
diagonal preconditioner ``diag(D'WD)`` (the group weight sums) need roughly the square root of
that, and each iteration reads the data once: for every row, gather the search direction over
its Q groups and scatter the weighted result back. The residual ``x - D a`` is formed once at the
end, so no n-vector is written inside the loop.

Convergence is declared when every group's weighted mean of the residual (the preconditioned
gradient) is below ``tol`` in absolute value: then the residual is orthogonal to every
fixed-effect dummy to that accuracy, which is the definition of the projection. The recursively
updated gradient drifts from the true one, so convergence is confirmed on the recomputed residual
and the solve restarts from there if needed (at most 20 times).

The loops are C (:mod:`migtrade.estimation._kernels_cg`, compiled by pip at install time).
"""

from __future__ import annotations

import numpy as np

from migtrade.estimation import (
    _env_openmp,  # noqa: F401  (before the first kernel loads)
    _kernels_cg,
)


def cg_columns(x: np.ndarray, codes: np.ndarray, offsets: np.ndarray, w: np.ndarray,
               inv_wsum: np.ndarray, tols: np.ndarray, maxiter: int, iters_out: np.ndarray) -> None:
    """CG-project every column of the Fortran-ordered float64 ``x`` in place, columns in
    parallel; ``iters_out[j]`` (int64) receives the iterations used (each one pass over the
    data), or -1 without convergence within ``maxiter``. ``codes`` (Q, n) int32 and ``offsets``
    int64 as in :mod:`migtrade.estimation.kernels`."""
    _kernels_cg.cg_columns(x, codes, offsets, w, inv_wsum, tols, maxiter, iters_out)
