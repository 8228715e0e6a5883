"""The compiled sums over packed Rademacher draws (bootstrap.kernels.forms_from_bits) against
the matrix product they stand for, ``P @ v`` with v = +-1 from the bits (cluster c in bit c % 8
of byte c // 8), for tables of whole bytes and of half bytes, one form and the four- and
six-form cases of one and two coefficients, and row counts around the kernel's blocks of
draws. Tolerance: 1e-12 relative to the sum of |P| over the clusters (the kernel adds the same
numbers in another grouping)."""

from __future__ import annotations

import numpy as np
import pytest

from migtrade.estimation.bootstrap import kernels


@pytest.mark.parametrize("g", [5, 13, 600, 3001, 5001])
@pytest.mark.parametrize("m", [1, 4, 6, 8, 12, 19])
@pytest.mark.parametrize("rows", [1, 63, 64, 131])
def test_forms_from_bits_are_the_product_with_the_signs(g: int, m: int, rows: int) -> None:
    rng = np.random.default_rng(g * 100 + m * 10 + rows)
    P = rng.normal(size=(m, g))
    bits = rng.integers(0, 256, size=(rows, (g + 7) // 8), dtype=np.uint8)
    table = kernels.lookup_table(P)
    lin = np.empty((rows, m))
    quad = np.empty((rows, 2))
    dsum = np.array([3.5, -1.0])
    kernels.forms_from_bits(bits, table, P.sum(axis=1), dsum, lin, quad)
    v = 2.0 * np.unpackbits(bits, axis=1, bitorder="little")[:, :g] - 1.0
    scale = np.abs(P).sum(axis=1)
    np.testing.assert_allclose(lin, v @ P.T, rtol=0, atol=1e-12 * float(scale.max()))
    np.testing.assert_array_equal(quad, np.broadcast_to(dsum, (rows, 2)))


def test_half_byte_and_byte_tables_are_both_exercised() -> None:
    """The parameters above reach both table widths (256 entries a byte, 16 a half byte)."""
    assert kernels.lookup_table(np.ones((4, 13))).shape[2] == 256
    assert kernels.lookup_table(np.ones((4, 3001))).shape[2] == 16
    assert kernels.lookup_table(np.ones((1, 3001))).shape[2] == 256
    assert kernels.lookup_table(np.ones((6, 3001))).shape[2] == 16
    assert kernels.lookup_table(np.ones((1, 5001))).shape[2] == 16


@pytest.mark.parametrize(("m", "g"), [(1, 13), (3, 21), (6, 3001), (9, 41)])
def test_lookup_table_sums_each_subset_in_order(m: int, g: int) -> None:
    """Each entry of the table of subset sums is the sum of its clusters' forms added in
    increasing order of the clusters, to the last bit (the padding clusters and forms add
    zeros)."""
    rng = np.random.default_rng(m * 1000 + g)
    P = rng.normal(size=(m, g))
    table = kernels.lookup_table(P)
    n_groups, n_pos, subsets, gw = table.shape
    width = subsets.bit_length() - 1
    for _ in range(300):
        j, p, v = rng.integers(n_groups), rng.integers(n_pos), rng.integers(subsets)
        for i in range(gw):
            form = j * gw + i
            want = 0.0
            for c in range(width):
                cluster = p * width + c
                if v >> c & 1 and form < m and cluster < g:
                    want += P[form, cluster]
            assert table[j, p, v, i] == want


def test_random_bytes_are_numpys_bytes() -> None:
    """The draws' sign bits are the bytes ``Generator.bytes`` gives from the same seed, call
    after call (lengths that are and are not multiples of four), so seeds keep their draws."""
    from migtrade.estimation.bootstrap.weights import _random_bytes

    ours, numpys = np.random.default_rng(11), np.random.default_rng(11)
    for length in (0, 1, 7, 8, 2488 * 3, 19_901):
        assert _random_bytes(ours, length).tobytes() == numpys.bytes(length)
