"""The rectifier's projections: the same answers whatever the memory layout of the regressors,
and the same as an explicit weighted least squares on the regressors and every dummy.

The projector reads the regressors' norms and scales off its own Fortran-ordered copy and keeps
the last vector it projected as the next warm start without copying it; these tests pin the
numbers those shortcuts must not change.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from test_separation import three_way_panel

from migtrade.estimation import separation as sep
from migtrade.estimation.separation import relu_separated, simplex_separated


def explicit_residual(u: np.ndarray, X: np.ndarray, codes: list[np.ndarray],
                      w: np.ndarray) -> np.ndarray:
    """u - P u by a dense weighted least squares on [X, every dummy] (lstsq: rank-deficient)."""
    design = np.hstack([X, *(np.eye(int(c.max()) + 1)[c] for c in codes)])
    sw = np.sqrt(w)
    coef = np.linalg.lstsq(design * sw[:, None], u * sw, rcond=None)[0]
    return u - design @ coef


@pytest.mark.parametrize("fortran", [False, True])
@pytest.mark.parametrize("weight", [1.0, 1e2, 1e4])
def test_projector_matches_explicit_least_squares(fortran: bool, weight: float) -> None:
    y, X, codes = three_way_panel(seed=1)
    X = np.asfortranarray(X) if fortran else np.ascontiguousarray(X)
    zero = y == 0
    w = np.where(zero, 1.0, weight)
    u = zero.astype(np.float64)
    proj = sep._Projector(X, codes, w, first=u)
    # The first vector (demeaned with X) and a second one (warm-started from the first).
    second = np.where(zero, np.linspace(0.0, 1.0, y.size), 0.0)
    for vec in (u, second):
        got = proj.residual(vec)
        want = explicit_residual(vec, X, codes, w)
        # Inner demeaning to 1e-12 of the column's scale (1 here); the dense solve's own error
        # is about cond * eps. 1e-8 leaves room for both under weights up to 1e4.
        np.testing.assert_allclose(got, want, atol=1e-8)
    # The projector keeps the last vector as its warm start: it is the caller's array.
    assert proj._last is not None and proj._last[0] is second


def test_abs_max_is_the_largest_absolute_value() -> None:
    rng = np.random.default_rng(0)
    a = np.asfortranarray(rng.normal(size=(50, 3)) * [1.0, -5.0, 0.0])
    np.testing.assert_array_equal(sep._abs_max(a), np.abs(a).max(axis=0))
    assert sep._abs_max(np.empty((0, 2))).tolist() == [0.0, 0.0]


@pytest.mark.parametrize("seed", range(6))
def test_relu_same_rows_for_either_layout_and_the_exact_programme(seed: int) -> None:
    """Separation planted in a regressor (seeds 0, 3, 5 separate more rows through the fixed
    effects): the rows dropped equal the linear programme's over [X, all dummies] for C- and
    Fortran-ordered X alike."""
    y, X, codes = three_way_panel(seed)
    full = np.hstack([X, *(np.eye(int(c.max()) + 1)[c] for c in codes)])
    exact = simplex_separated(y, full)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got_c = relu_separated(y, np.ascontiguousarray(X), codes)
        got_f = relu_separated(y, np.asfortranarray(X), codes)
    assert np.array_equal(got_c, exact)
    assert np.array_equal(got_f, exact)


def test_fixed_effect_combination_planted_without_regressors() -> None:
    """A zero row separated by dummies alone (z = D_1 a - D_2 b), beside an unseparated panel."""
    y, X, codes = three_way_panel(seed=2)
    ex_year, im_year = codes[0], codes[1]
    # A new exporter-year, importer-year and pair level on three rows: one zero row with all
    # three, and two positive rows each with one of the new year levels and level 0 of the
    # other. z = D (e_new ex-year + e_new im-year - e_new pair) is 1 on the zero row and 0 on
    # every other row: the zero row is separated by fixed effects alone.
    extra = np.array([0.0, 2.0, 3.0])
    new_ex, new_im = int(ex_year.max()) + 1, int(im_year.max()) + 1
    y2 = np.concatenate([y, extra])
    c0 = np.concatenate([ex_year, [new_ex, new_ex, 0]])
    c1 = np.concatenate([im_year, [new_im, 0, new_im]])
    c2 = np.concatenate([codes[2], [int(codes[2].max()) + 1] * 3])
    X2 = np.vstack([X, np.zeros((3, X.shape[1]))])
    full = np.hstack([X2, *(np.eye(int(c.max()) + 1)[c] for c in (c0, c1, c2))])
    exact = simplex_separated(y2, full)
    got = relu_separated(y2, X2, [c0, c1, c2])
    assert np.array_equal(got, exact)
