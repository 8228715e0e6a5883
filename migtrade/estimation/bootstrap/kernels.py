"""Compiled passes over the bootstrap draws: linear and quadratic forms of the weights.

The score bootstrap's statistics depend on each draw v only through a few sums over clusters,
``P @ v`` (a handful of linear forms, those of every tested coefficient stacked) and
``D @ v**2``; these kernels compute them for a block of draws straight from packed sign bits or
from value codes, in parallel over draws, without ever building the (draws x clusters) matrix of
weights. Packed bits are read four or eight clusters at a time through a table of partial sums
(:func:`lookup_table`), and one pass serves every form: 9,999 draws over 19,900 clusters take
about 0.03 s on two cores for the four forms of one coefficient and 0.05 s for six. The loops are C
(:mod:`migtrade.estimation.bootstrap._kernels`, compiled by pip at install time).
"""

from __future__ import annotations

import numpy as np

from migtrade.estimation.bootstrap import _kernels

# Largest table of byte sums (bytes), about a core's cache: a larger one is read from memory by
# every block of rows, slower than twice the lookups in a table of half-byte sums (a sixteenth
# of the size): 0.18 s against 0.11 s for 9,999 draws, 19,900 clusters and six forms.
BYTE_TABLE_BYTES = 1 << 20


def lookup_table(P: np.ndarray) -> np.ndarray:
    """Sums of ``P``'s columns over every subset of the clusters of one byte (or half byte).

    ``table[p, v, m]`` is the sum of ``P[m, w p + i]`` over the bits i set in v, w = 8 (v in
    0..255) or, when that table would exceed ``BYTE_TABLE_BYTES``, w = 4 (v in 0..15), so that
    the linear forms of a Rademacher draw are read with one lookup per w clusters instead of a
    test per cluster (G/4 x 16 x m floats: 3.8 MB for 20,000 clusters and m = 6).
    """
    m, g = P.shape
    width = 8 if (g + 7) // 8 * 256 * m * 8 <= BYTE_TABLE_BYTES else 4
    n_pos = (g + width - 1) // width
    padded = np.zeros((m, n_pos * width))
    padded[:, :g] = P
    subsets = 1 << width
    bits = ((np.arange(subsets)[:, None] >> np.arange(width)[None, :]) & 1).astype(np.float64)
    return np.ascontiguousarray(np.einsum("vi,mpi->pvm", bits, padded.reshape(m, n_pos, width)))


# Rows of draws that walk the byte positions together (ROW_BLOCK in _kernels.pyx).
ROW_BLOCK = 64


def forms_from_bits(bits: np.ndarray, table: np.ndarray, total: np.ndarray, dsum: np.ndarray,
                    lin: np.ndarray, quad: np.ndarray) -> None:
    """``lin[r] = P @ v_r`` and ``quad[r] = D @ v_r**2`` for Rademacher draws packed in bits.

    ``table`` is :func:`lookup_table` of P and ``total`` its row sums: with S the sum over the
    clusters whose bit is set, ``P @ v = 2 S - total``; ``v**2 = 1`` so ``quad[r] = dsum``, the
    row sums of D. Blocks of ``ROW_BLOCK`` rows walk the byte positions together, so each
    position's entries of the table are read from memory once per block rather than once per
    draw, and every form is summed in the same pass. Within a block the rows are the inner loop:
    each row's sum is a chain of additions in byte order (the same sums whatever the blocking
    or the threads), and consecutive additions to different rows do not wait for one another
    (9,999 draws, 19,900 clusters, four forms: 89 -> 47-57 ms, the same bits); the four forms
    of one coefficient, the case of every restricted fit, go two rows at a time with their sums
    in registers (28-32 ms, the same bits). ``lin`` and ``quad`` are C-ordered.
    """
    _kernels.forms_from_bits(np.ascontiguousarray(bits), np.ascontiguousarray(table),
                             np.ascontiguousarray(total), np.ascontiguousarray(dsum), lin, quad)


def forms_from_codes(codes: np.ndarray, values: np.ndarray, P: np.ndarray, D: np.ndarray,
                     lin: np.ndarray, quad: np.ndarray) -> None:
    """The same sums for draws given as indexes into ``values`` (``lin`` and ``quad``
    C-ordered, as in :func:`forms_from_bits`)."""
    _kernels.forms_from_codes(np.ascontiguousarray(codes), np.ascontiguousarray(values),
                              np.ascontiguousarray(P), np.ascontiguousarray(D), lin, quad)


def cluster_products(x: np.ndarray, wts: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """``out[g, j, l]``: the sum of ``x[i, j] * wts[i, l]`` over the rows i of cluster g, for
    (n, k) ``x`` and (n,) or (n, m) ``wts`` (out (G, k) or (G, k, m)), in one pass over the rows
    without the n x k products a weighted ``bincount`` needs."""
    one = wts.ndim == 1
    w2 = wts.reshape(-1, 1) if one else wts
    out = np.zeros((n_groups, x.shape[1], w2.shape[1]))
    _kernels.cluster_products(np.asarray(x, dtype=np.float64), np.asarray(w2, dtype=np.float64),
                              np.ascontiguousarray(codes, dtype=np.intp), out)
    return out[:, :, 0] if one else out
