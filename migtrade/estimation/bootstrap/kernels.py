"""Compiled passes over the bootstrap draws (linear and quadratic forms of the weights) and over
the rows of the restricted fits and the path of restricted fits.

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


def score_sums(x_tilde: np.ndarray, y: np.ndarray, weights: np.ndarray, mu: np.ndarray,
               a: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """``out[g, j, 0]``: cluster g's score sum of regressor j, ``Σ x̃_ij w_i (y_i - mu_i)``, and
    ``out[g, j, 1 + t]`` its Hessian's row j times ``a[t]``, ``Σ x̃_ij (x̃_i'a_t) w_i mu_i``,
    from one parallel pass over the rows in ``PATH_RUNS`` runs (added in order: the same sums
    whatever the threads)."""

    def vec(v: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(v, dtype=np.float64)

    k = x_tilde.shape[1]
    a2 = np.atleast_2d(vec(a))
    per_run = n_groups * k * (1 + a2.shape[0]) * 8
    runs = max(1, min(PATH_RUNS, PATH_RUN_BYTES // max(per_run, 1), x_tilde.shape[0]))
    out = np.zeros((runs, n_groups, k, 1 + a2.shape[0]))
    _kernels.score_sums(np.asarray(x_tilde, dtype=np.float64), vec(y), vec(weights), vec(mu), a2,
                        np.ascontiguousarray(codes, dtype=np.intp), out)
    for run in range(1, runs):  # in order
        out[0] += out[run]
    return out[0].copy()


# The path sums' runs of rows, each with its own sums (added in order after): a number that does
# not depend on the threads, so that the sums do not either; fewer where their copies of the
# sums would take more than PATH_RUN_BYTES.
PATH_RUNS = 8
PATH_RUN_BYTES = 64 << 20


def path_sums(x_tilde: np.ndarray, basis: np.ndarray, of_basis: np.ndarray | None,
              e_of_x: np.ndarray, p_of_x: np.ndarray, y: np.ndarray, weights: np.ndarray,
              mu: np.ndarray, codes: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """The coefficients of Δ**0..2 of each cluster's scores, (G, 3, k), and Hessian,
    (G, 3, k, k), along the path of restricted fits, from one parallel pass over the rows
    (:mod:`migtrade.estimation.bootstrap.expansion`): the Newton direction is
    ``x_tilde @ e_of_x``, and ``basis @ of_basis`` (n, 1 + k) (``basis`` itself where
    ``of_basis`` is None) the residuals on the fixed effects of its square and of its products
    with the regressors, made row by row."""

    def vec(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(a, dtype=np.float64)

    k = x_tilde.shape[1]
    per_run = n_groups * 3 * (k + k * k) * 8
    runs = max(1, min(PATH_RUNS, PATH_RUN_BYTES // max(per_run, 1), x_tilde.shape[0]))
    s = np.zeros((runs, n_groups, 3, k))
    h = np.zeros((runs, n_groups, 3, k, k))
    mix = np.zeros((0, k + 1)) if of_basis is None else np.ascontiguousarray(of_basis,
                                                                             dtype=np.float64)
    _kernels.path_sums(np.asarray(x_tilde, dtype=np.float64), np.asarray(basis, dtype=np.float64),
                       mix, vec(e_of_x), vec(p_of_x), vec(y), vec(weights), vec(mu),
                       np.ascontiguousarray(codes, dtype=np.intp), s, h)
    for run in range(1, runs):  # in order
        s[0] += s[run]
        h[0] += h[run]
    # Copies: views would keep every run's sums alive (23 MB for 19,900 clusters and two
    # regressors), and the next call could not reuse their pages.
    return s[0].copy(), h[0].copy()


def start_rows(x_tilde: np.ndarray, eta0: np.ndarray, r: np.ndarray, a_shift: np.ndarray,
               eta: np.ndarray, block: np.ndarray,
               higher: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float, float]
               | None = None) -> None:
    """A restricted fit's start from a fit in one parallel pass over the rows
    (:func:`migtrade.estimation.bootstrap.restricted.path_start`): ``eta`` = ``eta0`` plus the
    Newton step ``x_tilde @ a_shift`` and, with ``higher`` = (basis, mix0, third, p2, c2, c3),
    less the second- and third-order terms ``(s² - c2 basis @ mix0 + x_tilde @ p2) / 2 + c3
    third``; ``block[:, 1:]`` the restricted regressors under ``r`` and x_p (the first nonzero
    term of r's regressor over it)."""
    n, k = x_tilde.shape
    pivot = int(np.flatnonzero(r)[0])
    others = np.array([m for m in range(k) if m != pivot], dtype=np.intp)
    if higher is None:
        basis, mix0, third, p2, c2, c3 = np.empty((n, 0)), np.empty(0), eta0, np.zeros(k), 0.0, 0.0
    else:
        basis, mix0, third, p2, c2, c3 = higher
    _kernels.start_rows(np.asarray(x_tilde, dtype=np.float64), np.ascontiguousarray(eta0),
                        np.asarray(basis, dtype=np.float64), np.ascontiguousarray(mix0, dtype=np.float64),
                        np.ascontiguousarray(third), np.ascontiguousarray(a_shift, dtype=np.float64),
                        np.ascontiguousarray(p2, dtype=np.float64), float(c2), float(c3),
                        higher is not None, pivot, float(r[pivot]), others,
                        np.ascontiguousarray(r[others], dtype=np.float64), eta, block)


def working_rows(mu: np.ndarray, weights: np.ndarray, y: np.ndarray, irls_w: np.ndarray,
                 u: np.ndarray, u_copy: np.ndarray) -> None:
    """``irls_w = weights mu`` and ``u = u_copy = y / mu - 1`` in one parallel pass."""
    _kernels.working_rows(mu, weights, y, irls_w, u, u_copy)


def step_rows(design: np.ndarray, move: np.ndarray, ut: np.ndarray, u: np.ndarray,
              eta: np.ndarray, eta_new: np.ndarray) -> None:
    """``eta_new = eta + u - ut + design @ move`` in one parallel pass."""
    _kernels.step_rows(np.asarray(design, dtype=np.float64),
                       np.ascontiguousarray(move, dtype=np.float64), ut, u, eta, eta_new)


def path_rows(x_tilde: np.ndarray, e_of_x: np.ndarray, p: np.ndarray, second: np.ndarray,
              cubic: np.ndarray, basis: np.ndarray | None = None,
              mix0: np.ndarray | None = None) -> None:
    """The path's second-order term P_Z(e²) (``second``) and the third's column
    ``e (e² - 3 P_Z(e²))`` (``cubic``) of one combination in one parallel pass, from the
    residuals ``basis @ mix0`` of e² and the regressors' coefficients ``p``; without ``basis``,
    ``cubic`` holding that column's residual and ``p`` its fit's coefficients, ``second``
    becomes the third term (:mod:`migtrade.estimation.bootstrap.path`)."""
    third = basis is None
    n = x_tilde.shape[0]
    _kernels.path_rows(np.asarray(x_tilde, dtype=np.float64),
                       np.ascontiguousarray(e_of_x, dtype=np.float64),
                       np.empty((n, 0)) if basis is None else np.asarray(basis, dtype=np.float64),
                       np.empty(0) if mix0 is None else np.ascontiguousarray(mix0, dtype=np.float64),
                       np.ascontiguousarray(p, dtype=np.float64), second, cubic, third)
