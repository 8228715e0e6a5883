"""Tests of the synthetic structural gravity panel."""

from __future__ import annotations

import re
import time
import warnings

import numpy as np
import pandas as pd
import pytest

from migtrade.errors import UsageError
from migtrade.synthetic.gravity import (
    FIRST_YEAR,
    MAX_COUNTRIES,
    TRUE_COEFFICIENTS,
    SyntheticPanel,
    country_codes,
    gravity_panel,
)

COLUMNS = [
    "exporter",
    "importer",
    "year",
    "pair_id",
    "trade",
    "dist",
    "log_dist",
    "cntg",
    "lang",
    "rta",
    "log_migrant_stock",
]


@pytest.fixture(scope="module")
def panel() -> SyntheticPanel:
    return gravity_panel(25, 6, seed=11)


def _swapped(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with exporter and importer exchanged, aligned row by row with the original."""
    key = ["exporter", "importer", "year"]
    left = frame.assign(
        exporter=frame["exporter"].astype(str), importer=frame["importer"].astype(str)
    )
    right = left.rename(columns={"exporter": "importer", "importer": "exporter"})
    return left[key].merge(right, on=key, how="left", validate="one_to_one")


def test_same_seed_gives_identical_panel() -> None:
    a = gravity_panel(20, 5, seed=7)
    b = gravity_panel(20, 5, seed=7)
    pd.testing.assert_frame_equal(a.frame, b.frame)
    assert a.truth == b.truth
    assert a.description == b.description


def test_different_seeds_differ() -> None:
    a = gravity_panel(20, 5, seed=7).frame
    b = gravity_panel(20, 5, seed=8).frame
    assert list(a.columns) == list(b.columns)
    assert not np.array_equal(a["trade"].to_numpy(), b["trade"].to_numpy())
    assert not np.array_equal(a["dist"].to_numpy(), b["dist"].to_numpy())
    assert not np.array_equal(a["log_migrant_stock"].to_numpy(), b["log_migrant_stock"].to_numpy())


def test_shape_columns_and_dtypes(panel: SyntheticPanel) -> None:
    f = panel.frame
    n, t = 25, 6
    assert list(f.columns) == COLUMNS
    assert len(f) == n * (n - 1) * t
    assert not f.duplicated(["exporter", "importer", "year"]).any()
    assert (f["exporter"].astype(str) != f["importer"].astype(str)).all()
    assert sorted(f["year"].unique()) == list(range(FIRST_YEAR, FIRST_YEAR + t))
    assert isinstance(f["exporter"].dtype, pd.CategoricalDtype)
    assert isinstance(f["importer"].dtype, pd.CategoricalDtype)
    for col in ("year", "pair_id"):
        assert pd.api.types.is_integer_dtype(f[col])
    for col in ("cntg", "lang", "rta"):
        assert set(f[col].unique()) <= {0, 1}
    for col in ("trade", "dist", "log_dist", "log_migrant_stock"):
        assert f[col].dtype == np.float64
        assert np.isfinite(f[col]).all()
    assert (f["trade"] >= 0).all()
    assert (f["dist"] > 0).all()
    np.testing.assert_allclose(f["log_dist"], np.log(f["dist"]))
    assert panel.truth == TRUE_COEFFICIENTS
    assert set(panel.truth) <= set(f.columns)


def test_description_says_synthetic_seed_and_sizes(panel: SyntheticPanel) -> None:
    text = panel.description
    assert "\n" not in text
    assert "synthetic" in text.lower()
    assert "seed=11" in text
    assert "25 countries" in text and "6 years" in text


def test_country_codes_are_unique_three_letter_and_not_real() -> None:
    codes = country_codes(200)
    assert len(set(codes)) == 200
    assert codes == sorted(codes)
    # Only ISO 3166-1 user-assigned ranges: never a real country's code.
    user_assigned = re.compile(r"^(AA[A-Z]|Q[M-Z][A-Z]|X[A-Z]{2}|ZZ[A-Z])$")
    assert all(user_assigned.match(c) for c in codes)
    assert set(country_codes(40)) <= set(codes)
    assert len(country_codes(MAX_COUNTRIES)) == MAX_COUNTRIES


def test_pair_variables_are_symmetric(panel: SyntheticPanel) -> None:
    f = panel.frame
    back = _swapped(f)
    for col in ("pair_id", "dist", "cntg", "lang", "rta"):
        np.testing.assert_array_equal(f[col].to_numpy(), back[col].to_numpy(), err_msg=col)


def test_pair_id_identifies_the_unordered_pair(panel: SyntheticPanel) -> None:
    f = panel.frame
    a, b = f["exporter"].astype(str), f["importer"].astype(str)
    unordered = np.where(a < b, a + "-" + b, b + "-" + a)
    pairs = pd.DataFrame({"pair_id": f["pair_id"], "pair": unordered}).drop_duplicates()
    assert pairs["pair_id"].is_unique
    assert pairs["pair"].is_unique
    assert len(pairs) == 25 * 24 // 2


def test_pair_shares(panel: SyntheticPanel) -> None:
    pairs = panel.frame.drop_duplicates("pair_id")
    n_pairs = len(pairs)
    # The flags mark exactly the rounded share of international pairs.
    assert pairs["cntg"].sum() == round(0.05 * n_pairs)
    assert pairs["lang"].sum() == round(0.15 * n_pairs)
    ever = panel.frame.groupby("pair_id")["rta"].max()
    assert ever.sum() == round(0.35 * n_pairs)


def test_rta_once_in_stays_in(panel: SyntheticPanel) -> None:
    f = panel.frame.sort_values(["exporter", "importer", "year"])
    steps = f.groupby(["exporter", "importer"], observed=True)["rta"].diff().dropna()
    assert (steps >= 0).all()
    # Agreements are signed inside the sample, never in its first year, and some pairs switch.
    assert (f.loc[f["year"] == FIRST_YEAR, "rta"] == 0).all()
    assert (steps == 1).any()


def test_migrant_stock_moves_slowly_and_falls_with_distance(panel: SyntheticPanel) -> None:
    f = panel.frame.sort_values(["exporter", "importer", "year"])
    steps = f.groupby(["exporter", "importer"], observed=True)["log_migrant_stock"].diff().dropna()
    assert steps.abs().max() < 0.5
    assert steps.std() > 0
    first = f[f["year"] == FIRST_YEAR]
    assert np.corrcoef(first["log_dist"], first["log_migrant_stock"])[0, 1] < -0.2


@pytest.mark.parametrize("target", [0.2, 0.3, 0.4])
def test_zero_share_close_to_target(target: float) -> None:
    # The scale is solved so that the *expected* share of zeros equals the target to ~1e-10. The
    # realised share is a mean of independent Bernoulli draws given the means, so its standard
    # deviation is at most sqrt(0.25 / n) = 0.004 for the n = 15,600 rows here: a tolerance of 0.02
    # is five standard deviations, wide enough never to fail by chance and narrow enough to catch a
    # scale that is wrong.
    f = gravity_panel(40, 10, seed=3, zero_share=target).frame
    share = float((f["trade"] == 0).mean())
    assert abs(share - target) < 0.02


def test_zero_share_zero_means_no_zeros() -> None:
    f = gravity_panel(15, 3, seed=3, zero_share=0.0).frame
    assert (f["trade"] > 0).all()


def test_domestic_rows_are_added_and_international_rows_unchanged() -> None:
    n, t = 12, 4
    without = gravity_panel(n, t, seed=5).frame
    with_dom = gravity_panel(n, t, seed=5, include_domestic=True).frame
    assert len(with_dom) == n * n * t
    same = with_dom["exporter"].astype(str) == with_dom["importer"].astype(str)
    assert same.sum() == n * t
    domestic = with_dom[same]
    assert (domestic["dist"] > 0).all()
    assert (domestic["rta"] == 0).all()
    assert not set(domestic["pair_id"]) & set(without["pair_id"])
    assert domestic.groupby("exporter", observed=True)["pair_id"].nunique().eq(1).all()
    pd.testing.assert_frame_equal(with_dom[~same].reset_index(drop=True), without)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_countries": 1},
        {"n_countries": MAX_COUNTRIES + 1},
        {"n_years": 0},
        {"zero_share": 1.0},
        {"zero_share": -0.1},
    ],
)
def test_invalid_arguments_raise_usage_error(kwargs: dict[str, float]) -> None:
    with pytest.raises(UsageError):
        gravity_panel(**kwargs)  # type: ignore[arg-type]


def test_recovery_with_three_way_fixed_effects() -> None:
    pf = pytest.importorskip("pyfixest")
    f = gravity_panel(30, 6, seed=2016).frame
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = pf.fepois(
            "trade ~ rta + log_migrant_stock | exporter^year + importer^year + pair_id",
            f,
            vcov={"CRV1": "pair_id"},
            iwls_maxiter=100,
        )
    coef, se = fit.coef(), fit.se()
    # Three standard errors, not two: on panels this small, pair-clustered errors understate the
    # spread of PPML (a few large pairs dominate), see the module notes of migtrade.synthetic.
    for term in ("rta", "log_migrant_stock"):
        assert abs(coef[term] - TRUE_COEFFICIENTS[term]) < 3 * se[term], term


@pytest.mark.slow
def test_large_panel_is_fast_and_compact() -> None:
    start = time.perf_counter()
    f = gravity_panel(200, 40, seed=1).frame
    seconds = time.perf_counter() - start
    assert len(f) == 200 * 199 * 40
    # About one second on a laptop; the bound only catches an accidental loop over rows.
    assert seconds < 30
    assert f.memory_usage(deep=True).sum() < 120e6
