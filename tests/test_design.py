"""Tests of the design-matrix builder."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from migtrade.errors import DataError, FormulaError
from migtrade.spec.design import INTERCEPT, Design, build_design
from migtrade.spec.formula import ModelSpec

PUZZLE = "log(trade) ~ i(year, log(dist)) + cntg + lang + clny | exporter^year + importer^year"


def design(formula: str, frame: pd.DataFrame) -> Design:
    return build_design(ModelSpec.parse(formula), frame)


@pytest.fixture
def gravity() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "exporter": ["USA", "MEX", "USA", "CAN", "MEX", None, "CAN", "USA"],
            "importer": ["MEX", "USA", "CAN", "USA", "CAN", "USA", "MEX", "MEX"],
            "year": [1990, 1986, 1986, 1994, 1990, 1994, 1986, 1994],
            "trade": [10.0, 0.0, 30.0, 40.0, np.nan, 60.0, 70.0, 80.0],
            "dist": [3000.0, 3000.0, 700.0, 700.0, 3500.0, 700.0, 3500.0, 3000.0],
            "cntg": [1, 1, 1, 1, 0, 1, 0, 1],
            "lang": [0, 0, 1, 1, 0, 1, 0, 0],
            "clny": [True, True, False, False, False, False, False, True],
            "iso3": ["USA", "MEX", "USA", "CAN", "MEX", "USA", "CAN", "USA"],
        }
    )


def test_distance_puzzle_design(gravity: pd.DataFrame) -> None:
    d = design(PUZZLE, gravity)
    assert d.names == (
        "year::1986:log(dist)",
        "year::1990:log(dist)",
        "year::1994:log(dist)",
        "cntg",
        "lang",
        "clny",
    )
    assert d.X.shape == (8, 6) and d.X.dtype == np.float64 and d.X.flags.f_contiguous
    logd = np.log(gravity["dist"].to_numpy())
    for j, year in enumerate([1986, 1990, 1994]):
        expected = np.where(gravity["year"].to_numpy() == year, logd, 0.0)
        np.testing.assert_allclose(d.X[:, j], expected)
    np.testing.assert_array_equal(d.X[:, 5], gravity["clny"].astype(float).to_numpy())
    with np.errstate(divide="ignore"):
        expected_y = np.log(gravity["trade"].to_numpy())
    expected_y[~np.isfinite(expected_y)] = np.nan
    np.testing.assert_array_equal(d.y, expected_y)
    assert np.isnan(d.y[1])  # log(0)
    assert d.fe_names == ("exporter^year", "importer^year")
    assert d.missing.tolist() == [False, True, False, False, True, True, False, False]
    assert d.endog.shape == (8, 0) and d.instruments.shape == (8, 0)
    assert d.endog_names == () and d.instrument_names == ()


def test_combined_fixed_effect_codes_are_sorted_combinations(gravity: pd.DataFrame) -> None:
    d = design(PUZZLE, gravity)
    exp_year = d.fe_codes[0]
    assert exp_year.dtype == np.int64
    reference = gravity.groupby(["exporter", "year"], sort=True, dropna=True).ngroup()
    np.testing.assert_array_equal(exp_year, reference.fillna(-1).astype(np.int64).to_numpy())
    assert exp_year[5] == -1
    assert set(exp_year[exp_year >= 0]) == set(range(exp_year.max() + 1))
    imp = d.fe_codes[1]
    ref_imp = gravity.groupby(["importer", "year"], sort=True).ngroup().to_numpy()
    np.testing.assert_array_equal(imp, ref_imp)


def test_intercept_only_with_two_fixed_effects(gravity: pd.DataFrame) -> None:
    d = design("trade ~ 1 | exporter + iso3", gravity)
    assert d.X.shape == (8, 0) and d.names == ()
    assert d.fe_codes[0].tolist() == [2, 1, 2, 0, 1, -1, 0, 2]
    assert d.fe_codes[1].tolist() == [2, 1, 2, 0, 1, 2, 0, 2]
    assert d.missing.tolist() == [False, False, False, False, True, True, False, False]


def test_intercept_column_comes_first(gravity: pd.DataFrame) -> None:
    d = design("trade ~ cntg + lang:dist", gravity)
    assert d.names == (INTERCEPT, "cntg", "lang:dist")
    assert INTERCEPT == "(Intercept)"
    np.testing.assert_array_equal(d.X[:, 0], np.ones(8))
    np.testing.assert_array_equal(d.X[:, 2], (gravity["lang"] * gravity["dist"]).to_numpy())
    assert design("trade ~ 0 + cntg", gravity).names == ("cntg",)


def test_factor_dummies_drop_the_first_level(gravity: pd.DataFrame) -> None:
    d = design("trade ~ i(iso3) + i(year)", gravity)
    assert d.names == (INTERCEPT, "iso3::MEX", "iso3::USA", "year::1990", "year::1994")
    np.testing.assert_array_equal(d.X[:, 1], (gravity["iso3"] == "MEX").astype(float).to_numpy())
    np.testing.assert_array_equal(d.X[:, 4], (gravity["year"] == 1994).astype(float).to_numpy())


@pytest.mark.parametrize(
    ("term", "names"),
    [
        ("i(year, ref=1990)", ("year::1986", "year::1994")),
        ("i(year, ref=[1986, 1990])", ("year::1994",)),
        ("i(year, cntg)", ("year::1986:cntg", "year::1990:cntg", "year::1994:cntg")),
        ("i(year, cntg, ref=1994)", ("year::1986:cntg", "year::1990:cntg")),
        ('i(iso3, dist, ref="USA")', ("iso3::CAN:dist", "iso3::MEX:dist")),
        ("i(year, (dist / 100))", tuple(f"year::{y}:(dist / 100)" for y in (1986, 1990, 1994))),
    ],
)
def test_factor_term_names(gravity: pd.DataFrame, term: str, names: tuple[str, ...]) -> None:
    assert design(f"trade ~ {term} | exporter", gravity).names == names


def test_factor_by_variable_values_and_missing(gravity: pd.DataFrame) -> None:
    frame = gravity.assign(x=[1.0, 2.0, np.nan, 4.0, 5.0, 6.0, 7.0, 8.0])
    d = design("trade ~ i(year, x, ref=1986) | iso3", frame)
    assert d.names == ("year::1990:x", "year::1994:x")
    # Row 2 is in the reference year, yet its missing x still removes it.
    assert np.isnan(d.X[2]).all()
    assert d.X[0].tolist() == [1.0, 0.0]
    assert d.X[3].tolist() == [0.0, 4.0]
    assert d.missing[2]


def test_float_levels_print_without_trailing_zero() -> None:
    frame = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0], "year": [1990.0, 1995.0, 2000.5, np.nan]})
    d = design("y ~ i(year, ref=1990)", frame)
    assert d.names == (INTERCEPT, "year::1995", "year::2000.5")
    assert np.isnan(d.X[3, 1:]).all() and d.missing.tolist() == [False, False, False, True]


def test_missing_and_non_finite_values_become_nan() -> None:
    frame = pd.DataFrame(
        {
            "y": [1.0, 2.0, 3.0, 4.0, 5.0],
            "a": pd.array([1, None, 3, 4, 5], dtype="Int64"),
            "b": [1.0, 2.0, 0.0, -1.0, 2.0],
            "flag": pd.array([True, False, None, True, False], dtype="boolean"),
        }
    )
    d = design("y ~ a + log(b) + (1 / b) + flag", frame)
    assert d.names == (INTERCEPT, "a", "log(b)", "(1 / b)", "flag")
    assert np.isnan(d.X[1, 1])
    assert np.isnan(d.X[2, 2]) and np.isnan(d.X[2, 3])  # log(0) and 1/0
    assert np.isnan(d.X[3, 2])  # log(-1)
    assert np.isnan(d.X[2, 4])
    assert np.isfinite(d.X[~np.isnan(d.X)]).all()
    assert d.missing.tolist() == [False, True, True, True, False]


def test_instrumental_variables_blocks(gravity: pd.DataFrame) -> None:
    d = design("trade ~ cntg | exporter | log(dist) + lang ~ clny + i(year)", gravity)
    assert d.names == ("cntg",)
    assert d.endog_names == ("log(dist)", "lang")
    assert d.instrument_names == ("clny", "year::1990", "year::1994")
    assert d.endog.shape == (8, 2) and d.endog.flags.f_contiguous
    np.testing.assert_allclose(d.endog[:, 0], np.log(gravity["dist"].to_numpy()))
    assert d.instruments.shape == (8, 3)


def test_string_fixed_effects_and_integer_fixed_effects_mix(gravity: pd.DataFrame) -> None:
    d = design("trade ~ cntg | iso3^year + year", gravity)
    expected = gravity.groupby(["iso3", "year"], sort=True).ngroup().to_numpy()
    np.testing.assert_array_equal(d.fe_codes[0], expected)
    assert d.fe_codes[1].tolist() == [1, 0, 0, 2, 1, 2, 0, 2]


def test_does_not_modify_the_frame(gravity: pd.DataFrame) -> None:
    before = gravity.copy()
    design(PUZZLE, gravity)
    pd.testing.assert_frame_equal(gravity, before)


def test_missing_column_lists_close_matches_first(gravity: pd.DataFrame) -> None:
    with pytest.raises(DataError) as info:
        design("trade ~ dsit", gravity)
    assert info.value.message.startswith(
        "column 'dsit' not found in the data; available columns: dist, exporter"
    )
    assert info.value.hint == "Did you mean 'dist'?"


def test_missing_column_list_is_bounded() -> None:
    frame = pd.DataFrame({f"v{i}": [1.0] for i in range(30)})
    with pytest.raises(DataError, match=r"v14, \.\.\. \(15 more\)$"):
        design("v0 ~ nothing_like_it", frame)


@pytest.mark.parametrize(
    ("formula", "message", "hint"),
    [
        (
            "trade ~ iso3",
            "column 'iso3' is not numeric (dtype str) and cannot be a regressor",
            "i(iso3)",
        ),
        ("trade ~ log(iso3)", "column 'iso3' is not numeric", "| iso3"),
        ("iso3 ~ trade", "cannot be the outcome", "Convert it to numbers"),
        ("trade ~ x | d ~ iso3", "cannot be an instrument", "i(iso3)"),
        ("trade ~ cat", "column 'cat' is not numeric (dtype category)", "i(cat)"),
        ("trade ~ obj", "column 'obj' is not numeric (dtype object)", "i(obj)"),
        (
            "trade ~ i(year, ref=1991)",
            "reference level '1991' of i(year, ref=1991) is not a level of column 'year' in the "
            "data: 1986, 1990, 1994",
            "observed levels",
        ),
    ],
)
def test_data_errors(gravity: pd.DataFrame, formula: str, message: str, hint: str) -> None:
    frame = gravity.assign(
        x=1.0,
        d=2.0,
        cat=gravity["iso3"].astype("category"),
        obj=pd.Series([1, 2, 3, 4, 5, 6, 7, 8], dtype=object),
    )
    with pytest.raises(DataError) as info:
        design(formula, frame)
    assert message in info.value.message
    assert hint in (info.value.hint or "")


def test_duplicate_coefficient_names_are_refused(gravity: pd.DataFrame) -> None:
    with pytest.raises(FormulaError, match="coefficient 'year::1994' appears twice"):
        design("trade ~ i(year) + i(year, ref=1990)", gravity)


def test_duplicate_data_columns_are_refused() -> None:
    frame = pd.DataFrame([[1.0, 2.0, 3.0]], columns=["y", "x", "x"])
    with pytest.raises(DataError, match="column 'x' appears more than once"):
        design("y ~ x", frame)


def test_empty_frame(gravity: pd.DataFrame) -> None:
    d = design(PUZZLE, gravity.iloc[:0])
    assert d.X.shape == (0, 3) and d.y.shape == (0,) and d.missing.shape == (0,)
    assert [c.shape for c in d.fe_codes] == [(0,), (0,)]


@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.integers(0, 5)),
            st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d"])),
        ),
        min_size=1,
        max_size=60,
    )
)
def test_combined_codes_match_groupby(rows: list[tuple[int | None, str | None]]) -> None:
    frame = pd.DataFrame(rows, columns=["g", "h"]).assign(y=1.0)
    frame["g"] = frame["g"].astype("Int64")
    codes = design("y ~ 1 | g^h", frame).fe_codes[0]
    expected = frame.groupby(["g", "h"], sort=True, dropna=True).ngroup()
    np.testing.assert_array_equal(codes, expected.fillna(-1).astype(np.int64).to_numpy())


@pytest.mark.slow
def test_two_million_rows_are_fast() -> None:
    rng = np.random.default_rng(1)
    n = 2_000_000
    iso = np.array([f"C{i:03d}" for i in range(200)])
    frame = pd.DataFrame(
        {
            "exporter": iso[rng.integers(0, 200, n)],
            "importer": iso[rng.integers(0, 200, n)],
            "year": rng.integers(1986, 2007, n),
            "trade": rng.exponential(1.0, n),
            "dist": rng.uniform(100, 20_000, n),
            "cntg": rng.integers(0, 2, n),
            "lang": rng.integers(0, 2, n),
            "clny": rng.integers(0, 2, n),
        }
    )
    start = time.perf_counter()
    d = design(PUZZLE, frame)
    elapsed = time.perf_counter() - start
    assert d.X.shape == (n, 24)
    assert d.fe_codes[0].max() + 1 == len(frame.groupby(["exporter", "year"]))
    assert elapsed < 10.0


def test_select_drops_rows_and_renumbers_fixed_effects(gravity: pd.DataFrame) -> None:
    full = design(PUZZLE, gravity)
    kept = full.select(~full.missing)
    assert kept.X.shape == (5, 6) and kept.X.flags.f_contiguous
    assert not kept.missing.any() and not np.isnan(kept.X).any()
    np.testing.assert_array_equal(kept.y, full.y[~full.missing])
    for before, after in zip(full.fe_codes, kept.fe_codes, strict=True):
        assert set(after) == set(range(after.max() + 1))
        # Renumbering keeps the sorted order of the levels that remain.
        order = np.argsort(before[~full.missing], kind="stable")
        assert np.all(np.diff(after[order]) >= 0)
    assert kept.names == full.names and kept.fe_names == full.fe_names
    by_position = full.select(np.flatnonzero(~full.missing))
    np.testing.assert_array_equal(by_position.X, kept.X)


def test_dense_integer_codes_are_the_sorted_factorisation() -> None:
    """The counting path for integer columns numbers levels exactly as pd.factorize(sort=True)."""
    from migtrade.spec.design import _dense_codes

    rng = np.random.default_rng(3)
    values = rng.choice(np.array([-7, 0, 3, 4, 1_000, 2_500], dtype=np.int32), 5_000)
    got = _dense_codes(values)
    assert got is not None
    codes, levels = pd.factorize(values, sort=True)
    np.testing.assert_array_equal(got[0], codes)
    np.testing.assert_array_equal(got[1], levels)
    assert _dense_codes(np.array([0, 10**12])) is None  # too wide a range: hashing is cheaper
    small = np.array([-100, 100, 5, -100], dtype=np.int8)  # a shift that would overflow int8
    got = _dense_codes(small)
    assert got is not None
    np.testing.assert_array_equal(got[0], [0, 2, 1, 0])
    np.testing.assert_array_equal(got[1], [-100, 5, 100])
