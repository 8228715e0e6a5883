"""Compiled passes over the bootstrap draws: linear and quadratic forms of the weights.

The score bootstrap's statistics depend on each draw v only through a few sums over clusters,
``P @ v`` (a handful of linear forms, those of every tested coefficient stacked) and
``D @ v**2``; these kernels compute them for a block of draws straight from packed sign bits or
from value codes, in parallel over draws, without ever building the (draws x clusters) matrix of
weights. Packed bits are read four or eight clusters at a time through a table of partial sums
(:func:`lookup_table`), and one pass serves every form: 9,999 draws over 19,900 clusters take
about 0.03 s on two cores for up to eight forms, and 0.03-0.04 s more for each eight after. The
loops are C (:mod:`migtrade.estimation.bootstrap._kernels`, compiled by pip at install time),
with vector additions where the processor has AVX2 or AVX-512.
"""

from __future__ import annotations

import numpy as np

from migtrade.estimation.bootstrap import _kernels

# Largest table of byte sums (bytes), about a core's cache: a larger one is read from memory by
# every block of rows, slower than twice the lookups in a table of half-byte sums (a sixteenth
# of the size): 0.18 s against 0.11 s for 9,999 draws, 19,900 clusters and six forms.
BYTE_TABLE_BYTES = 1 << 20


def lookup_table(P: np.ndarray) -> np.ndarray:
    """Sums of ``P``'s rows over every subset of the clusters of one byte (or half byte).

    ``table[j, p, v, i]`` is the sum of ``P[j gw + i, w p + c]`` over the bits c set in v,
    w = 8 (v in 0..255, one group of every form: gw = m) or, when that table would exceed
    ``BYTE_TABLE_BYTES``, w = 4 (v in 0..15, the forms in groups of gw = 8, or 4 when m <= 4,
    the last padded with zero forms), so that the linear forms of a Rademacher draw are read
    with one lookup per w clusters instead of a test per cluster (G/4 x 16 x 8 floats: 5.1 MB
    for 20,000 clusters and up to eight forms). Each group's table is contiguous, so an
    entry's forms are one cache line, summed in registers.
    """
    m, g = P.shape
    width = 8 if (g + 7) // 8 * 256 * m * 8 <= BYTE_TABLE_BYTES else 4
    n_pos = (g + width - 1) // width
    group = m if width == 8 else (4 if m <= 4 else 8)
    rows = -(-m // group) * group
    padded = np.zeros((rows, n_pos * width))
    padded[:m, :g] = P
    # Written straight in the kernel's layout (groups, positions, subsets, forms), each subset
    # from a smaller one plus one cluster, positions in parallel: 32 forms of 19,900 clusters
    # (20 MB) in a few milliseconds, where NumPy's einsum of the subsets' bits took 27 ms.
    table = np.empty((rows // group, n_pos, 1 << width, group))
    _kernels.subset_table(padded, table)
    return table


# Rows of draws that walk the byte positions together (ROW_BLOCK in _kernels.pyx).
ROW_BLOCK = 64


def forms_from_bits(bits: np.ndarray, table: np.ndarray, total: np.ndarray, dsum: np.ndarray,
                    lin: np.ndarray, quad: np.ndarray) -> None:
    """``lin[r] = P @ v_r`` and ``quad[r] = D @ v_r**2`` for Rademacher draws packed in bits.

    ``table`` is :func:`lookup_table` of P and ``total`` its row sums (``lin`` has a column a
    row of P; a table's padding forms are not written): with S the sum over the
    clusters whose bit is set, ``P @ v = 2 S - total``; ``v**2 = 1`` so ``quad[r] = dsum``, the
    row sums of D. Blocks of ``ROW_BLOCK`` rows walk the byte positions together, so each
    position's entries of the table are read from memory once per block rather than once per
    draw, and every form is summed in the same pass. Within a block the rows are the inner loop:
    each row's sum is a chain of additions in byte order (the same sums whatever the blocking
    or the threads), and consecutive additions to different rows do not wait for one another
    (9,999 draws, 19,900 clusters, four forms: 89 -> 47-57 ms, the same bits); the forms go
    four or eight at a time (the table's groups) with their sums in registers, two rows at a
    time, or four with 256-bit additions (AVX2) and eight with 512-bit ones (AVX-512, groups of
    eight), each form's additions in the same order: the same sums to the last bit (28 forms:
    0.11 s, against 0.24 s for the loop over any number of forms). ``lin`` and ``quad`` are
    C-ordered.
    """
    _kernels.forms_from_bits(np.ascontiguousarray(bits), np.ascontiguousarray(table),
                             np.ascontiguousarray(total), np.ascontiguousarray(dsum), lin, quad)


def forms_from_codes(codes: np.ndarray, values: np.ndarray, P: np.ndarray, D: np.ndarray,
                     lin: np.ndarray, quad: np.ndarray) -> None:
    """The same sums for draws given as indexes into ``values`` (``lin`` and ``quad``
    C-ordered, as in :func:`forms_from_bits`)."""
    _kernels.forms_from_codes(np.ascontiguousarray(codes), np.ascontiguousarray(values),
                              np.ascontiguousarray(P), np.ascontiguousarray(D), lin, quad)
