"""The bias corrections do not depend on how the rows are laid out.

Rows in pair-then-period order with every cell present reach the compiled loops as views of the
fit's arrays (``PairPanel.aligned``); any other order, or missing cells, go through the scatter
onto the pairs x periods grid. Both must give the same numbers, and the panel numbered from the
clustering's codes must be the one numbered from the country columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from migtrade.estimation import bias as bias_module
from migtrade.estimation import bias_variance
from migtrade.estimation.bias_panel import PairPanel, period_codes
from migtrade.estimation.bias_structure import detect_structure
from migtrade.estimation.fit import FitOptions, estimate
from migtrade.estimation.kernels_bias import period_cells
from migtrade.estimation.vcov import VcovSpec
from migtrade.spec.formula import ModelSpec
from migtrade.synthetic.three_way import three_way_panel

PAIR = VcovSpec.parse("cluster:exp^imp")
TIGHT = FitOptions(tol=1e-14, fe_tol=1e-12)


def _sorted_panel() -> pd.DataFrame:
    frame = three_way_panel(14, 5, dgp=2, rng=21)
    frame["z"] = np.random.default_rng(2).normal(size=len(frame))
    return frame.sort_values(["exp", "imp", "year"], ignore_index=True)


def _corrected(formula: str, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    result = estimate(formula, frame, vcov=PAIR, bias_correction="analytical",
                      options=TIGHT).result
    bias = np.array([v["bias"] for v in result.bias_correction["terms"].values()])
    return np.asarray(result.params), np.asarray(result.std_errors), bias


@pytest.mark.parametrize("formula", ["y ~ x + z | exp^year + imp^year + exp^imp",
                                     "y ~ x + z | exp^year + imp^year"])
@pytest.mark.parametrize("drop", [False, True])
def test_shuffled_rows_give_the_same_correction(formula: str, drop: bool,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bias_module, "EXACT_MAX_EFFECTS", 0)  # the large-panel (local) path
    frame = _sorted_panel()
    if drop:  # missing cells: the grid has zeros where a pair lacks a period
        frame = frame.drop(index=np.arange(3, len(frame), 11)).reset_index(drop=True)
    shuffled = frame.sample(frac=1.0, random_state=5).reset_index(drop=True)
    in_order, reordered = _corrected(formula, frame), _corrected(formula, shuffled)
    # Both fits converge far below the default tolerances; the rows' order changes only the
    # order of floating-point sums.
    for a, b in zip(in_order, reordered, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-12)


def test_panel_from_the_clusters_codes_is_the_panel_of_the_columns() -> None:
    frame = _sorted_panel().drop(index=[4, 17, 30]).sample(frac=1.0, random_state=1)
    names = ["exp", "imp", "year"]
    built = PairPanel.build(frame["exp"], frame["imp"], frame["year"], names)
    codes = pd.factorize(frame["exp"].astype(str) + "|" + frame["imp"].astype(str))[0]
    of_codes = PairPanel.of_pairs(codes, frame["exp"], frame["imp"], frame["year"], names)
    assert not of_codes.aligned and not built.aligned
    np.testing.assert_array_equal(of_codes.period, built.period)
    # The same pairs, numbered differently: each row's two countries agree.
    np.testing.assert_array_equal(of_codes.origin[of_codes.pair], built.origin[built.pair])
    np.testing.assert_array_equal(of_codes.destination[of_codes.pair],
                                  built.destination[built.pair])
    values = np.arange(len(frame), dtype=float) + 1.0
    np.testing.assert_array_equal(of_codes.grid(values)[of_codes.pair, of_codes.period], values)


def test_rows_in_grid_order_are_used_in_place() -> None:
    frame = _sorted_panel()
    names = ["exp", "imp", "year"]
    panel = PairPanel.build(frame["exp"], frame["imp"], frame["year"], names)
    assert panel.aligned
    columns = np.asfortranarray(frame[["x", "z"]].to_numpy())
    planes = panel.planes(columns)
    assert np.shares_memory(planes, columns)
    np.testing.assert_array_equal(planes[1].ravel(), frame["z"].to_numpy())
    mu = frame["y"].to_numpy()
    assert np.shares_memory(panel.grid(mu), mu)


def test_the_clustering_decides_the_period_before_the_levels() -> None:
    effects = ModelSpec.parse("y ~ x | exp^year + imp^year + exp^imp").fixed_effects

    def never() -> dict[str, int]:
        raise AssertionError("the levels are not needed when the clustering names the countries")

    found = detect_structure(effects, never, countries=frozenset({"exp", "imp"}))
    assert (found.origin, found.destination, found.time) == ("exp", "imp", "year")
    # Clustered on another combination, the levels decide (the fewest values is the period).
    found = detect_structure(effects, lambda: {"exp": 60, "imp": 60, "year": 5},
                             countries=frozenset({"exp", "sector"}))
    assert found.time == "year"


def test_rows_dropped_by_the_fit_are_left_out_of_the_panel() -> None:
    # A pair that never trades is separated (its pair effect goes to minus infinity): the fit
    # drops its rows, and the correction reads the columns on the rows kept.
    frame = _sorted_panel()
    silent = (frame["exp"] == frame["exp"].iloc[0]) & (frame["imp"] == frame["imp"].iloc[0])
    frame.loc[silent, "y"] = 0.0
    formula = "y ~ x + z | exp^year + imp^year + exp^imp"
    dropped = estimate(formula, frame, vcov=PAIR, bias_correction="analytical",
                       options=TIGHT).result
    assert dropped.nobs == len(frame) - int(silent.sum())
    without = _corrected(formula, frame[~silent].reset_index(drop=True))
    bias = np.array([v["bias"] for v in dropped.bias_correction["terms"].values()])
    for a, b in zip((dropped.params, dropped.std_errors, bias), without, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("values", [np.array([2003, 1999, 2001, 1999, 2010], dtype=np.int32),
                                    np.array(["b", "a", "c", "a", "d"], dtype=object)])
def test_period_codes_are_the_sorted_factorisation(values: np.ndarray) -> None:
    time = pd.Series(values)
    used = np.array([True, True, False, True, True])
    np.testing.assert_array_equal(period_codes(time), pd.factorize(time, sort=True)[0])
    np.testing.assert_array_equal(period_codes(time, used),
                                  pd.factorize(time[used], sort=True)[0])
    if values.dtype.kind == "i":  # the compiled pass of the panel's construction
        pair = np.array([0, 0, 1, 1, 1])
        period, n_periods, increasing = period_cells(values, pair, 1999, 2010)
        np.testing.assert_array_equal(period, pd.factorize(time, sort=True)[0])
        assert n_periods == 4 and not increasing
        assert period_cells(np.array([1, 3, 1, 2, 3]), pair, 1, 3)[2]


@pytest.mark.parametrize(("n_dropped", "aligned"), [(3, False), (5, True)])
def test_panel_of_a_subset_of_rows_reads_the_columns_through_the_mask(n_dropped: int,
                                                                     aligned: bool) -> None:
    frame = _sorted_panel()
    used = np.ones(len(frame), dtype=bool)
    used[:n_dropped] = False  # of the first pair's 5 periods: some (cells missing), or all
    names = ["exp", "imp", "year"]
    kept = frame[used].reset_index(drop=True)
    codes = pd.factorize(kept["exp"] * 1000 + kept["imp"])[0]
    through = PairPanel.of_pairs(codes, frame["exp"], frame["imp"], frame["year"], names, used)
    direct = PairPanel.of_pairs(codes, kept["exp"], kept["imp"], kept["year"], names)
    for field in ("pair", "period", "origin", "destination"):
        np.testing.assert_array_equal(getattr(through, field), getattr(direct, field))
    assert through.aligned == direct.aligned == aligned


def test_two_way_leverage_period_batches_and_absent_countries(
        monkeypatch: pytest.MonkeyPatch) -> None:
    frame = _sorted_panel()
    # One origin trades in no pair in the last period: a zero row of that period's grid.
    absent = (frame["exp"] == frame["exp"].iloc[0]) & (frame["year"] == frame["year"].max())
    frame = frame[~absent].reset_index(drop=True)
    formula = "y ~ x + z | exp^year + imp^year"
    together = _corrected(formula, frame)
    monkeypatch.setattr(bias_variance, "PERIOD_BATCH_CELLS", 1)  # one period at a time
    one_by_one = _corrected(formula, frame)
    for a, b in zip(together, one_by_one, strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_blas_is_held_to_one_thread_only_inside_the_loops() -> None:
    import scipy.linalg  # noqa: F401  (loads the BLAS the loops call)
    from threadpoolctl import threadpool_info, threadpool_limits

    from migtrade.estimation import kernels_bias

    def blas_threads() -> list[int]:
        return [int(lib["num_threads"]) for lib in threadpool_info() if lib["user_api"] == "blas"]

    if not blas_threads():
        pytest.skip("no BLAS library is loaded in this process")
    with threadpool_limits(limits=2, user_api="blas"):
        with kernels_bias._blas_on_one_thread() as threads:
            assert set(blas_threads()) == {1}
            assert threads == kernels_bias._team_size()
        assert set(blas_threads()) == {2}
