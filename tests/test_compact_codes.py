"""Compacting fixed-effect codes (levels present numbered 0 .. G-1 in their order): the compiled
pass for int32 codes against NumPy's numbering, the codes returned as they are when already
compact, and other integer types through NumPy."""

from __future__ import annotations

import numpy as np
import pytest

from migtrade.estimation.fixed_effects import compact


def _numpy_compact(codes: np.ndarray) -> tuple[np.ndarray, int]:
    levels, inverse = np.unique(codes, return_inverse=True)
    return inverse.astype(np.int32), levels.size


@pytest.mark.parametrize("n, levels", [(1, 1), (7, 3), (1_000, 50), (200_000, 150_000),
                                       (300_000, 2_000)])
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_compact_numbers_the_levels_present_in_order(n: int, levels: int, dtype: type) -> None:
    codes = np.random.default_rng(n + levels).integers(0, levels, n).astype(dtype)
    got, count = compact(codes)
    want, want_count = _numpy_compact(codes)
    assert count == want_count
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, want)


def test_compact_codes_come_back_as_they_are() -> None:
    codes = np.tile(np.arange(500, dtype=np.int32), 3)
    got, count = compact(codes)
    assert got is codes and count == 500


def test_empty_codes() -> None:
    got, count = compact(np.empty(0, dtype=np.int32))
    assert got.size == 0 and count == 0
