"""Iterated singleton removal: the rows dropped are those of the plain rule (drop every row
alone in a group of some fixed effect, among the rows left, until none is), whatever the order
in which the dimensions are checked. Exact equality: the result is a set of rows."""

from __future__ import annotations

import numpy as np
import pytest

from migtrade.estimation.fixed_effects import singleton_mask


def _plain_rule(codes: list[np.ndarray], keep: np.ndarray) -> np.ndarray:
    """Every dimension counted again over the rows left, round after round."""
    alive = keep.copy()
    while True:
        before = alive.copy()
        for c in codes:
            counts = np.bincount(c[alive], minlength=int(c.max()) + 1)
            alive &= counts[c] != 1
        if np.array_equal(alive, before):
            return keep & ~alive


@pytest.mark.parametrize("seed", range(40))
def test_same_rows_as_the_plain_rule(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    dims = int(rng.integers(1, 4))
    # Sparse designs (many levels for few rows) make chains of singletons across dimensions.
    codes = [rng.integers(0, int(rng.integers(1, n + 2)), n).astype(np.int32) for _ in range(dims)]
    keep = rng.random(n) < (1.0 if seed % 3 == 0 else 0.85)
    got = singleton_mask(codes, keep)
    np.testing.assert_array_equal(got, _plain_rule(codes, keep))
    assert not np.any(got & ~keep)


def test_a_chain_unravels_across_dimensions() -> None:
    # Row 0 is alone in dimension 0; dropping it leaves row 1 alone in dimension 1, then row 2
    # alone in dimension 0 again, and so on: only the last two rows, which share both of their
    # groups, are left.
    first = np.array([0, 1, 1, 2, 2, 3, 3], dtype=np.int32)
    second = np.array([0, 0, 1, 1, 2, 2, 2], dtype=np.int32)
    keep = np.ones(7, dtype=bool)
    got = singleton_mask([first, second], keep)
    np.testing.assert_array_equal(got, _plain_rule([first, second], keep))
    assert got.tolist() == [True, True, True, True, True, False, False]


def test_nothing_kept_and_no_dimension() -> None:
    codes = [np.array([0, 0, 1], dtype=np.int32)]
    assert not singleton_mask(codes, np.zeros(3, dtype=bool)).any()
    assert not singleton_mask([], np.ones(3, dtype=bool)).any()
