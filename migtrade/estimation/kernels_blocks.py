"""The block preconditioner of the ``schur`` strategy, compiled: every block's Schur complement
formed and factorised, and the preconditioner applied, blocks in parallel.

Where the two dimensions left after the elimination (exporter-year and importer-year) fall
apart into blocks (one per year), the preconditioner is the exact inverse, block by block, of
their own normal matrix ``[diag(a) X; X' diag(b)]``, X the block's cross table of weights
(:class:`migtrade.estimation.schur.CrossedBlocks`).

Notes
-----
Per block, with the first level of the s side and its padding held at 0,

.. math::

    S = \\operatorname{diag}(b) - X' \\operatorname{diag}(a)^{-1} X = L L', \\qquad
    z_s = S^{-1} (g_s - X' \\operatorname{diag}(a)^{-1} g_e), \\qquad
    z_e = \\operatorname{diag}(a)^{-1} (g_e - X z_s).

S is formed in 4 x 4 tiles of its lower triangle from packed panels of X and of
``diag(a)^-1 X`` (each tile a sum over the block's e levels in their order) and factorised by a
row-oriented Cholesky; a pivot that vanishes up to rounding (``floor`` times its diagonal) is
replaced by 1 with its row and column cleared, which keeps ``L L'`` positive definite. One
thread builds or applies each block, without fused multiply-add, so the results do not depend
on the number of threads. The loops are C (:mod:`migtrade.estimation._kernels_blocks`,
compiled by pip at install time); no BLAS call, so no BLAS threads compete with the blocks'.
"""

from __future__ import annotations

import numpy as np

from migtrade.estimation import (
    _env_openmp,  # noqa: F401  (before the first kernel loads)
    _kernels_blocks,
)

# A pivot this small next to its diagonal entry is a direction the block does not determine.
PIVOT_FLOOR = 1e-12
# Below this many entries of the blocks' cross tables (times columns, for a solve) the blocks run
# on the calling thread alone: waking an OpenMP team costs more than it saves on small models.
PARALLEL_MIN_ENTRIES = 200_000


def factor_blocks(cross: np.ndarray, held: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``1 / a`` (0 for an empty level) and the lower Cholesky factors of the held Schur
    complements of the C-ordered (blocks, m_e, m_s) cross tables ``cross``; ``held`` is the
    (blocks, m_s) uint8 mask of the levels held at 0."""
    n_blocks, m_e, m_s = cross.shape
    inv_a = np.empty((n_blocks, m_e))
    chol = np.empty((n_blocks, m_s, m_s))
    _kernels_blocks.factor_blocks(cross, held, inv_a, chol, PIVOT_FLOOR,
                                  cross.size >= PARALLEL_MIN_ENTRIES)
    return inv_a, chol


def solve_blocks(g: np.ndarray, cross: np.ndarray, held: np.ndarray, inv_a: np.ndarray,
                 chol: np.ndarray, e_of: np.ndarray, s_of: np.ndarray) -> np.ndarray:
    """``z = M g`` for the Fortran-ordered (m, k) ``g``: ``e_of`` / ``s_of`` ((blocks, m_e) and
    (blocks, m_s) int64) give the level of the reduced system behind each padded place of a
    block (-1 for padding); every level must be behind one place."""
    z = np.zeros_like(g, order="F")  # a block without memory for its solve stays at 0
    _kernels_blocks.solve_blocks(np.asfortranarray(g), z, cross, held, inv_a, chol, e_of, s_of,
                                 cross.size * g.shape[1] >= PARALLEL_MIN_ENTRIES)
    return z
