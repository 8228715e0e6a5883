"""X'WX and X'WY by the compiled pass, against the same sums formed one by one in NumPy: each
entry the sum, in row order within each block of rows, of (w_i x_ia) x_ib, then the blocks' sums
added in order. The kernel keeps four such sums in registers at a time; the bits must not move."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from migtrade.estimation import kernels


def _reference(x: np.ndarray, w: np.ndarray, y: np.ndarray, chunks: int) -> tuple[np.ndarray,
                                                                               np.ndarray]:
    n, k = x.shape
    m = y.shape[1]
    bounds = [n * c // chunks for c in range(chunks + 1)]

    def entry(a: np.ndarray, b: np.ndarray) -> float:
        total = 0.0
        for lo, hi in itertools.pairwise(bounds):
            part = np.cumsum((w[lo:hi] * a[lo:hi]) * b[lo:hi])[-1] if hi > lo else 0.0
            total += float(part)
        return total

    gram = np.empty((k, k))
    for i in range(k):
        for j in range(i + 1):
            gram[i, j] = gram[j, i] = entry(x[:, i], x[:, j])
    xty = np.array([[entry(x[:, i], y[:, j]) for j in range(m)] for i in range(k)]).reshape(k, m)
    return gram, xty


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 7])
@pytest.mark.parametrize("m", [0, 1, 2])
@pytest.mark.parametrize("n, chunks", [(1, 1), (50, 32), (1_003, 7), (120_000, 32)])
def test_gram_sums_are_the_row_ordered_block_sums(k: int, m: int, n: int, chunks: int) -> None:
    rng = np.random.default_rng(k * 100 + m * 10 + chunks)
    x = np.asfortranarray(rng.normal(size=(n, k)) * rng.lognormal(size=k))
    w = rng.uniform(0.1, 3.0, n)
    y = np.asfortranarray(rng.normal(size=(n, m)))
    gram, xty = np.empty((k, k)), np.empty((k, m))
    kernels.weighted_gram(x, w, y, chunks, gram, xty)
    want_gram, want_xty = _reference(x, w, y, chunks)
    np.testing.assert_array_equal(gram, want_gram)
    np.testing.assert_array_equal(xty, want_xty)
