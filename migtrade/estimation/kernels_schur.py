"""The passes over the rows of conjugate gradients on the system left by eliminating one fixed
effect exactly (:mod:`migtrade.estimation.schur` strings them together).

For a design whose largest dimension e (the pair effect of a gravity panel, the worker of a
worker-firm panel) has small groups, write the normal equations of the projection as
``[A C'; C B] [a_e; a_o] = [D_e'Wx; D_o'Wx]`` with ``A = D_e'WD_e`` diagonal. Eliminating
``a_e`` leaves the Schur complement system

``S a_o = D_o' W (I - P_e) x``,   ``S = D_o' W (I - P_e) D_o``,

where ``P_e`` takes weighted group means within e, and the residual is
``r = (I - P_e)(x - D_o a_o)``. S is never formed: ``S p`` is one pass over the rows, which come
in runs of one e-group each (the panel sorted by e, or a sorted copy of the codes): for each run,
gather ``t_i = sum_q p[o_q(i)]``, take its weighted mean over the run while the run sits in
cache, and scatter ``w_i (t_i - mean)`` back to the run's other levels. Forming the residual and
the right-hand side ``D_o' W r`` is one more pass. Each pass reads the codes and weights once for
all columns (a level's values of every column side by side, row-major), the rows split into a
fixed number of runs of groups summed in parallel into copies of the result that are added in
order (the same answer whatever the threads).

The loops are C (:mod:`migtrade.estimation._kernels_schur`, compiled by pip at install time).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from migtrade.estimation import (
    _env_openmp,  # noqa: F401  (before the first kernel loads)
    _kernels_schur,
)

if TYPE_CHECKING:
    import scipy.sparse as sp


def schur_project(x: np.ndarray, cols: np.ndarray, a: np.ndarray, out: np.ndarray,
                  codes: np.ndarray, dims: np.ndarray, starts: np.ndarray, ptr: np.ndarray,
                  order: np.ndarray, w: np.ndarray, inv_a: np.ndarray, longest: int,
                  chunks: np.ndarray, write: bool, parallel: bool) -> None:
    """For the j-th listed column c of the Fortran-ordered float64 ``x``:
    ``r = (I - P_e)(x[:, c] - D_o a[:, j])`` (no subtraction when ``a`` has no rows), written
    to ``x[:, c]`` when ``write``, and ``out[:, j] = D_o' W r``; every column in one pass.

    ``codes`` (Q', n) int32 holds levels in the order of the e-groups' runs; ``dims`` its rows
    that are the other dimensions and ``starts`` where their levels start in the reduced system;
    ``ptr`` the first row of each e-group (plus n), ``longest`` the largest group; ``order``
    the row of ``x`` behind each of those rows (empty: the same rows); ``w`` the weights and
    ``inv_a`` the inverse weight sums of the e-groups, in the same order. ``a`` and ``out`` are
    row-major (m, k): a level's values for every column side by side. The groups are split at
    ``chunks`` into runs summed in parallel, each into its own copy of ``out``, the copies
    added in order (the same sums whatever the threads).
    """
    _kernels_schur.schur_project(x, cols, a, out, codes, dims, starts, ptr, order, w, inv_a,
                                 longest, chunks, write, parallel)


def schur_apply(p: np.ndarray, out: np.ndarray, codes: np.ndarray, dims: np.ndarray,
                starts: np.ndarray, ptr: np.ndarray, w: np.ndarray, inv_a: np.ndarray,
                longest: int, chunks: np.ndarray, parallel: bool) -> None:
    """``out = S p`` for the row-major (m, k) ``p``, every column in one pass over the rows
    (arguments as in :func:`schur_project`)."""
    _kernels_schur.schur_apply(p, out, codes, dims, starts, ptr, w, inv_a, longest, chunks,
                               parallel)


def schur_diagonal(codes: np.ndarray, dims: np.ndarray, starts: np.ndarray, ptr: np.ndarray,
                   weights: np.ndarray, order: np.ndarray, m: int, chunks: np.ndarray,
                   diagonal: bool, parallel: bool
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """In one pass over the rows: the weights in the groups' row order (``weights[order]``, or
    ``weights`` themselves when ``order`` is empty), the inverse weight sums of the groups (0 for
    none), the other levels' weight sums B and, when ``diagonal``, the diagonal of S (None
    otherwise: only the diagonal preconditioner needs it). The groups are split at ``chunks``
    (the same sums whatever the threads), in parallel when ``parallel``."""
    n = weights.shape[0]
    # Rows already in groups: the weights are written onto themselves (no copy).
    w = weights if order.size == 0 and weights.flags.writeable else np.empty(n)
    inv_a = np.empty(ptr.shape[0] - 1)
    b = np.empty(m)
    s = np.empty(m if diagonal else 0)
    _kernels_schur.schur_diagonal(codes, dims, starts, ptr, weights, order, w, inv_a, b, s,
                                  chunks, diagonal, parallel)
    return w, inv_a, b, s if diagonal else None


def sparse_product_on(c: sp.csr_matrix, t: sp.csr_matrix, pattern: tuple[np.ndarray, np.ndarray],
                      blocks: int) -> np.ndarray:
    """The entries of the product of the CSR matrices ``c`` and ``t`` on ``pattern`` (int32
    column indices, int64 row pointers), which must hold every entry of the product: one
    compiled pass, rows in ``blocks`` blocks of about equal entries of ``c``, in parallel."""
    indices, indptr = pattern
    out = np.empty(indices.size)
    _kernels_schur.sparse_product_on(
        c.indptr.astype(np.int64, copy=False), c.indices.astype(np.int32, copy=False),
        c.data.astype(np.float64, copy=False), t.indptr.astype(np.int64, copy=False),
        t.indices.astype(np.int32, copy=False), t.data.astype(np.float64, copy=False),
        indptr, indices, out, int(t.shape[1]), blocks)
    return out


def sparse_pattern(c: sp.csr_matrix, t: sp.csr_matrix, blocks: int) -> tuple[np.ndarray, np.ndarray]:
    """The CSR pattern of the product of the CSR matrices ``c`` and ``t`` (int64 row pointers,
    sorted int32 column indices), from their patterns alone: two compiled passes over the rows
    (count, then fill and sort), rows in ``blocks`` blocks of about equal entries of ``c``, in
    parallel."""
    return _kernels_schur.sparse_pattern(
        c.indptr.astype(np.int64, copy=False), c.indices.astype(np.int32, copy=False),
        t.indptr.astype(np.int64, copy=False), t.indices.astype(np.int32, copy=False),
        int(t.shape[1]), blocks)


def entry_pattern(rows: np.ndarray, cols: np.ndarray,
                  shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The CSR pattern (columns sorted within rows, no duplicates) of a matrix of ``shape`` with
    entries at (rows, cols): where each entry lands in the pattern's data (entries at the same
    place land together), the int32 column indices and the int64 row pointers. A counting sort
    by row and a stamp per column: linear in the entries, where sorting the keys is not."""
    n = rows.size
    where = np.empty(n, dtype=np.int64)
    indices = np.empty(n, dtype=np.int32)
    indptr = np.empty(shape[0] + 1, dtype=np.int64)
    total = _kernels_schur.entry_pattern(
        np.ascontiguousarray(rows, dtype=np.int64), np.ascontiguousarray(cols, dtype=np.int64),
        shape[0], shape[1], where, indices, indptr)
    return where, indices[:total].copy(), indptr


def group_rows(e: np.ndarray, n_groups: int, codes: np.ndarray,
               others: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows sorted by their level of ``e`` (0 .. n_groups - 1, a stable counting sort in
    one compiled pass to count and one to place): the row behind each sorted row, the
    ``others`` rows of the (Q, n) int32 ``codes`` in that order, and where each group's rows
    start (plus n)."""
    n = e.shape[0]
    order = np.empty(n, dtype=np.int64)
    sorted_codes = np.empty((len(others), n), dtype=np.int32)
    ptr = np.empty(n_groups + 1, dtype=np.int64)
    _kernels_schur.group_rows(np.ascontiguousarray(e, dtype=np.int32), n_groups, codes,
                              np.asarray(others, dtype=np.int64), order, sorted_codes, ptr)
    return order, sorted_codes, ptr


def transpose_pattern(indices: np.ndarray, indptr: np.ndarray,
                      width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The CSR pattern of the transpose of the CSR pattern (int32 ``indices`` sorted within
    rows, no duplicates, int64 ``indptr``; ``width`` columns): where each entry lands in the
    transpose's data, its int32 indices (sorted within rows) and int64 row pointers. One
    counting sort by column, linear in the entries."""
    nnz = int(indptr[-1])
    where = np.empty(nnz, dtype=np.int64)
    t_indices = np.empty(nnz, dtype=np.int32)
    t_indptr = np.empty(width + 1, dtype=np.int64)
    _kernels_schur.transpose_pattern(np.ascontiguousarray(indices, dtype=np.int32),
                                     np.ascontiguousarray(indptr, dtype=np.int64), width, where,
                                     t_indices, t_indptr)
    return where, t_indices, t_indptr
