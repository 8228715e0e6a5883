"""The absorbed degrees of freedom count the components of the two first fixed effects' graph
by a compiled union-find; scipy's graph search is the reference. The collinearity check's small
triangular solves by forward substitution; scipy's solver is the reference."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import solve_triangular
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from migtrade.estimation.collinearity import SMALL_SOLVE, _solve_lower
from migtrade.estimation.fixed_effects import absorbed_dof, compact


def _scipy_components(first: np.ndarray, second: np.ndarray) -> int:
    g1, g2 = int(first.max()) + 1, int(second.max()) + 1
    graph = coo_matrix((np.ones(first.size), (first, second + g1)), shape=(g1 + g2, g1 + g2))
    return int(connected_components(graph, directed=False)[0])


def _codes(rng: np.random.Generator, n: int, levels: int) -> np.ndarray:
    return compact(rng.integers(0, levels, n))[0]


@pytest.mark.parametrize("seed", range(40))
def test_components_equal_scipys_on_random_graphs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    # Few rows over many levels: many components; many rows over few: one.
    first = _codes(rng, n, int(rng.integers(1, 150)))
    second = _codes(rng, n, int(rng.integers(1, 150)))
    third = _codes(rng, n, 7)
    total, redundant = absorbed_dof([first, second, third])
    assert total == int(first.max()) + int(second.max()) + int(third.max()) + 3
    assert redundant == _scipy_components(first, second) + 1


def test_components_of_a_long_chain_and_of_separate_blocks() -> None:
    # A chain worker 0 - firm 0 - worker 1 - firm 1 - ...: one component however long.
    workers = np.repeat(np.arange(50_000), 2)
    firms = np.concatenate([[0], np.repeat(np.arange(1, 50_000), 2), [0]])
    firms = compact(firms)[0]
    assert absorbed_dof([compact(workers)[0], firms])[1] == 1
    # Ten blocks that share no level: ten components, whatever the order of the rows.
    rng = np.random.default_rng(1)
    block = np.repeat(np.arange(10), 30)
    a = compact(block * 5 + rng.integers(0, 5, block.size))[0]
    b = compact(block * 4 + rng.integers(0, 4, block.size))[0]
    order = rng.permutation(block.size)
    assert absorbed_dof([a[order], b[order]])[1] == _scipy_components(a, b) == 10


@pytest.mark.parametrize("m", [1, 2, 5, 17, SMALL_SOLVE, SMALL_SOLVE + 3])
def test_forward_substitution_equals_scipys_solve(m: int) -> None:
    rng = np.random.default_rng(m)
    a = rng.standard_normal((3 * m, m))
    lower = np.linalg.cholesky(a.T @ a)
    b = rng.standard_normal(m)
    expected = solve_triangular(lower, b, lower=True)
    # Rounding only: the collinearity check compares pivots at a 1e-9 relative tolerance.
    np.testing.assert_allclose(_solve_lower(lower, b), expected, rtol=1e-12, atol=1e-12)


def test_nesting_equals_its_definition() -> None:
    """A fixed effect is nested in a cluster variable when each of its levels meets one cluster
    only; the early answer (fewer levels than clusters) agrees with the definition."""
    from migtrade.estimation.fixed_effects import is_nested

    rng = np.random.default_rng(5)
    for trial in range(500):
        n = int(rng.integers(1, 60))
        fe = compact(rng.integers(0, int(rng.integers(1, 12)), n))[0]
        cluster = (compact(rng.integers(0, int(rng.integers(1, 12)), n))[0] if trial % 2
                   else compact((fe * 7) % int(rng.integers(1, 6)))[0])  # nested by construction
        meets = [set(cluster[fe == level].tolist()) for level in range(int(fe.max()) + 1)]
        assert is_nested(fe, cluster) == all(len(m) == 1 for m in meets)
