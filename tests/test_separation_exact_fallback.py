"""A rectifier that runs out of passes undecided on a small design hands the rows left to the
exact linear programme on the regressors and every dummy, instead of warning and keeping
separated rows (found by the property test against statsmodels: a 12-row panel with exporter,
importer and year effects, whose fit 'converged' to a zero deviance with x1 = 87.6)."""

from __future__ import annotations

import warnings

import numpy as np

from migtrade.estimation.fixed_effects import compact
from migtrade.estimation.separation import relu_separated, simplex_separated

ROWS = """0 1 0 -0.651791 0.316645 2.0
0 1 1 -0.174717 1.010547 0.0
0 2 0 1.663724 -1.493117 14.0
0 2 1 0.659148 2.752729 0.0
1 0 0 -1.641397 -1.915646 3.0
1 0 1 -0.005203 1.601802 1.0
1 2 0 -0.623464 -0.329904 4.0
1 2 1 0.148632 -0.380647 0.0
2 0 0 -1.608188 -0.656285 0.0
2 0 1 0.241772 -0.172015 0.0
2 1 0 0.235381 0.380189 0.0
2 1 1 1.575626 0.389941 4.0"""


def _panel() -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    data = np.array([line.split() for line in ROWS.splitlines()], dtype=float)
    codes = [compact(data[:, j].astype(np.int32))[0] for j in range(3)]
    return data[:, 5], np.ascontiguousarray(data[:, 3:5]), codes


def _dummies(X: np.ndarray, codes: list[np.ndarray]) -> np.ndarray:
    return np.column_stack([X, *(np.eye(int(c.max()) + 1)[c] for c in codes)])


def test_an_undecided_rectifier_ends_with_the_exact_programme() -> None:
    y, X, codes = _panel()
    exact = simplex_separated(y, _dummies(X, codes))
    assert exact.sum() == 6 and not exact[y > 0].any()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "did not finish" warning any more
        found = relu_separated(y, X, codes, maxiter=100)
    np.testing.assert_array_equal(found, exact)


def test_with_a_tiny_budget_the_programme_still_decides() -> None:
    y, X, codes = _panel()
    found = relu_separated(y, X, codes, maxiter=1)
    np.testing.assert_array_equal(found, simplex_separated(y, _dummies(X, codes)))
