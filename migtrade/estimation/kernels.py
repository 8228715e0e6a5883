"""Compiled inner loops of the absorb core.

The loops themselves are C, compiled by pip when the package is installed
(:mod:`migtrade.estimation._kernels`, from ``_kernels.pyx``); this module gives them their Python
signatures and the arrays of the types they take.

The layout of the fixed effects is fixed: ``codes`` is a (Q, n) int32 array whose row q holds the
level of observation i in fixed-effect dimension q (0 .. G_q - 1), and the levels of all dimensions
are laid end to end in one vector indexed by ``offsets[q] + code``.

One *sweep* G is a Gauss-Seidel pass over the Q dimensions: for each dimension in turn, subtract
from the residual its weighted group means. The loops are arranged so that memory is read as few
times as possible, which is what their speed depends on:

* subtracting the means of dimension q and summing for dimension q + 1 share one pass;
* a sweep reads its input and writes its output (no copies), and its last pass already sums the
  output for the first dimension of the next sweep;
* the last pass of the second sweep of an Irons-Tuck step also gathers the step's statistics, and
  the extrapolation sums for the next step's first dimension as it writes.

An Irons-Tuck step (two sweeps and the extrapolation) thus reads the data 2Q + 1 times.
"""

from __future__ import annotations

import numpy as np

from migtrade.estimation import (
    _env_openmp,  # noqa: F401  (before the first kernel loads)
    _kernels,
)


def demean_columns(x: np.ndarray, codes: np.ndarray, offsets: np.ndarray, w: np.ndarray,
                   inv_wsum: np.ndarray, tols: np.ndarray, maxiter: int, sweeps_out: np.ndarray,
                   runs: np.ndarray) -> None:
    """Demean every column of the Fortran-ordered float64 ``x`` in place, columns in parallel.

    Each column is projected off the span of the fixed effects by sweeps with Irons-Tuck
    extrapolation; it stops when a full sweep changes no element by more than ``tols[j]``.
    ``sweeps_out[j]`` (int64) receives the number of sweeps used, or -1 when ``maxiter`` sweeps
    were not enough or the column holds NaN or inf. ``codes`` is the (Q, n) int32 array of
    levels, ``offsets`` (int64) where each dimension's levels start, and ``runs[q]`` says that
    the rows of each group of dimension q mostly sit next to each other.
    """
    _kernels.demean_columns(x, codes, offsets, w, inv_wsum, tols, maxiter, sweeps_out,
                            np.asarray(runs, dtype=np.uint8))


def grouped_in_runs(code_row: np.ndarray) -> bool:
    """Whether most rows have the same level as the row before (a panel sorted by this)."""
    return bool(code_row.size > 1 and np.count_nonzero(code_row[1:] == code_row[:-1]) * 2 > code_row.size)


def group_sums(x: np.ndarray, codes: np.ndarray, offsets: np.ndarray, w: np.ndarray,
               net: np.ndarray, gross: np.ndarray) -> None:
    """net[:, j] = weighted sums of column j by every level of every dimension (levels laid end
    to end as in ``offsets``), gross[:, j] = the same sums of absolute values; one pass each,
    columns in parallel. ``x``, ``net`` and ``gross`` are Fortran-ordered float64."""
    _kernels.group_sums(x, codes, offsets, w, net, gross)


def weighted_gram(x: np.ndarray, w: np.ndarray, y: np.ndarray, chunks: int, gram: np.ndarray,
                  xty: np.ndarray) -> None:
    """gram = X'WX and xty = X'WY (Y with m columns) in one pass over the rows of the
    Fortran-ordered ``x`` and ``y``, the rows split in ``chunks`` blocks summed separately (then
    added), without an n x k temporary."""
    _kernels.weighted_gram(x, w, y, chunks, gram, xty)


# Row blocks summed separately in the Gram matrix: more blocks, smaller rounding error.
GRAM_CHUNKS = 32


def weighted_cross(x: np.ndarray, w: np.ndarray, y: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """X'WX and X'Wy in one compiled pass, without an n x k temporary; ``y`` is (n,) or (n, m)
    and X'Wy has its shape after the first axis (empty without ``y``)."""
    n, k = x.shape
    yy = np.zeros((n, 0)) if y is None else np.asfortranarray(
        np.asarray(y, dtype=np.float64).reshape(n, -1))
    gram, xty = np.empty((k, k)), np.empty((k, yy.shape[1]))
    weighted_gram(np.asfortranarray(x, dtype=np.float64), np.ascontiguousarray(w, dtype=np.float64),
                  yy, GRAM_CHUNKS, gram, xty)
    if y is None:
        return gram, np.zeros(0)
    return gram, xty.reshape((k, *np.shape(y)[1:]))


def compact_codes(codes: np.ndarray) -> tuple[np.ndarray, int] | None:
    """int32 ``codes`` renumbered 0 .. G-1 in their order (the array itself when every level
    0 .. max is present), and G; None when a code is negative."""
    codes = np.ascontiguousarray(codes)
    out = np.empty_like(codes)  # untouched (no pages) unless the codes need renumbering
    count, every = _kernels.compact_codes(codes, out)
    if count < 0:
        return None
    return (codes if every else out), int(count)


def spread_within(x: np.ndarray, codes: np.ndarray, n_levels: int) -> float:
    """The largest spread (max - min) of ``x`` within any group of ``codes``, in one pass."""
    return float(_kernels.spread_within(np.ascontiguousarray(x, dtype=np.float64),
                                        np.ascontiguousarray(codes, dtype=np.int64), n_levels))


def weighted_log_factorial_sum(y: np.ndarray, w: np.ndarray) -> float:
    """sum_i w_i log(y_i!) = sum_i w_i log Gamma(y_i + 1) over the rows with y_i > 0, in one pass
    without copies (y need not be integer); the sum is compensated, so n = 10 M rows lose
    nothing to rounding."""
    return float(_kernels.weighted_log_factorial_sum(np.ascontiguousarray(y, dtype=np.float64),
                                                     np.ascontiguousarray(w, dtype=np.float64)))
