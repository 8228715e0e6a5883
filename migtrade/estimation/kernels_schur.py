"""Conjugate gradients on the system left after eliminating one fixed effect exactly.

For a design whose largest dimension e (the pair effect of a gravity panel, the worker of a
worker-firm panel) has small groups, write the normal equations of the projection as
``[A C'; C B] [a_e; a_o] = [D_e'Wx; D_o'Wx]`` with ``A = D_e'WD_e`` diagonal. Eliminating
``a_e`` leaves the Schur complement system

``S a_o = D_o' W (I - P_e) x``,   ``S = D_o' W (I - P_e) D_o``,

where ``P_e`` takes weighted group means within e. S is never formed: ``S p`` is one pass over
the rows, which come in runs of one e-group each (the panel sorted by e, or a sorted copy): for
each run, gather ``t_i = sum_q p[o_q(i)]``, take its weighted mean over the run while the run
sits in cache, and scatter ``w_i (t_i - mean)`` back to the run's other levels. Columns are
solved in parallel, each by one thread from start to end (no synchronisation between passes,
which matters on a machine whose cores are shared, and the same answer whatever the threads).

The preconditioner is the diagonal of S, ``B_l - sum_g C_lg^2 / A_g``. The residual is
``r = (I - P_e)(x - D_o a_o)``: its e-group means are zero by construction and its other
groups' weighted means are the CG residual scaled by the group weight sums. The iterations stop
when every such mean is below half the tolerance; the residual is then formed (one pass, which
also recomputes the right-hand side from it) and the stop rule of the absorb core (every group's
weighted mean of the residual below the tolerance) is checked on it; CG restarts from there when
the recursively updated residual has drifted (at most 20 times).

The loops are C (:mod:`migtrade.estimation._kernels_schur`, compiled by pip at install time).
"""

from __future__ import annotations

import numpy as np

from migtrade.estimation import _kernels_schur


def schur_columns(x: np.ndarray, codes: np.ndarray, dims: np.ndarray, starts: np.ndarray,
                  ptr: np.ndarray, w: np.ndarray, inv_a: np.ndarray,
                  inv_b: np.ndarray, inv_s: np.ndarray, tols: np.ndarray, maxiter: int,
                  longest: int, parallel: bool, iters_out: np.ndarray) -> None:
    """Project every column of the Fortran-ordered float64 ``x`` (rows in e-group runs) in place.

    ``codes`` (Q, n) int32 holds the levels of every dimension; ``dims`` the rows of the other
    dimensions and ``starts`` where their levels start in the reduced system; ``ptr`` the first
    row of each e-group (plus n); ``inv_a``, ``inv_b``, ``inv_s`` the inverses of the e-groups'
    weight sums, of the other levels' weight sums and of the diagonal of S; ``longest`` the
    largest e-group. ``iters_out[j]`` receives the passes over the rows used (int64), or -1.
    """
    _kernels_schur.schur_columns(x, codes, dims, starts, ptr, w, inv_a, inv_b, inv_s,
                                 tols, maxiter, longest, parallel, iters_out)


def schur_diagonal(codes: np.ndarray, dims: np.ndarray, starts: np.ndarray, ptr: np.ndarray,
                   w: np.ndarray, inv_a: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """The other levels' weight sums B and the diagonal of S, in one pass over the rows."""
    b = np.empty(m)
    s = np.empty(m)
    _kernels_schur.schur_diagonal(codes, dims, starts, ptr, w, inv_a, b, s)
    return b, s
