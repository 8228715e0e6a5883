"""Tests of the safe row filter."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from migtrade.errors import DataError, MigtradeError, UsageError
from migtrade.spec.where import where_mask


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "exporter": ["MEX", "USA", "MEX", "CAN", "USA", None],
            "importer": ["USA", "USA", "CAN", "MEX", "MEX", "CAN"],
            "year": [1986, 1990, 1994, 1986, 1990, 2000],
            "trade": [5.0, 0.0, 3.0, np.nan, 7.0, 1.0],
            "dist": [1000.0, 1.0, 3000.0, 3500.0, 1000.0, 8000.0],
            "cntg": [1, 0, 0, 1, 1, 0],
            "rta": [True, False, True, False, True, False],
            "iso3": pd.array(["MEX", "USA", pd.NA, "CAN", "USA", "MEX"], dtype="string"),
            "trade value": [1, 2, 3, 4, 5, 6],
            "tariff": pd.array([1, None, 3, 4, None, 6], dtype="Int64"),
        },
        index=[10, 10, 11, 12, 13, 14],  # duplicated labels must not matter
    )


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("exporter != importer and year in (1986, 1990)", [1, 0, 0, 1, 1, 0]),
        ("trade > 0", [1, 0, 1, 0, 1, 1]),
        ("not (cntg == 1) or year >= 2000", [0, 1, 1, 0, 0, 1]),
        ('iso3 == "MEX"', [1, 0, 0, 0, 0, 1]),
        ("iso3 == 'MEX'", [1, 0, 0, 0, 0, 1]),
        ("log(dist) < 8", [1, 1, 0, 0, 1, 0]),
        ("isna(trade)", [0, 0, 0, 1, 0, 0]),
        ("notna(trade)", [1, 1, 1, 0, 1, 1]),
        ("isna(exporter) or isna(iso3)", [0, 0, 1, 0, 0, 1]),
        ("year in [1986]", [1, 0, 0, 1, 0, 0]),
        ("year not in (1986, 1990)", [0, 0, 1, 0, 0, 1]),
        ('exporter in ("MEX", "CAN")', [1, 0, 1, 1, 0, 0]),
        ('exporter not in ("MEX",)', [0, 1, 0, 1, 1, 0]),
        ("1986 < year <= 1994", [0, 1, 1, 0, 1, 0]),
        ("1986 <= year < 1994 != year", [1, 1, 0, 1, 1, 0]),
        ("trade / dist * 1000 >= 1", [1, 0, 1, 0, 1, 0]),
        ("trade - 1 > -1 + 0", [1, 0, 1, 0, 1, 1]),
        ("abs(trade - 5) < 2.5", [1, 0, 1, 0, 1, 0]),
        ("-trade < -4", [1, 0, 0, 0, 1, 0]),
        ("rta", [1, 0, 1, 0, 1, 0]),
        ("not rta and cntg == 0", [0, 1, 0, 0, 0, 1]),
        ("`trade value` > 4", [0, 0, 0, 0, 1, 1]),
        ("tariff >= 3", [0, 0, 1, 1, 0, 1]),
        ("True", [1, 1, 1, 1, 1, 1]),
        ("year > 1990 or False", [0, 0, 1, 0, 0, 1]),
        ("exporter < 'N'", [1, 0, 1, 1, 0, 0]),
        ("1 < 2", [1, 1, 1, 1, 1, 1]),
    ],
)
def test_filters(frame: pd.DataFrame, expression: str, expected: list[int]) -> None:
    mask = where_mask(frame, expression)
    assert mask.dtype == np.bool_
    assert mask.shape == (len(frame),)
    assert mask.tolist() == [bool(v) for v in expected]


def test_missing_values_compare_as_false(frame: pd.DataFrame) -> None:
    assert where_mask(frame, "trade != 5").tolist() == [False, True, True, False, True, True]
    assert where_mask(frame, "iso3 != 'MEX'").tolist() == [False, True, False, True, True, False]
    assert where_mask(frame, "tariff != 1").tolist() == [False, False, True, True, False, True]
    # ``not`` negates the two-valued result, so it keeps the rows with a missing value.
    assert where_mask(frame, "not (trade == 5)").tolist() == [False, True, True, True, True, True]
    assert not where_mask(frame, "exporter != importer")[5]
    assert not where_mask(frame, "trade not in (5.0,)")[3]


def test_empty_frame() -> None:
    empty = pd.DataFrame({"x": pd.Series([], dtype=float)})
    assert where_mask(empty, "x > 0").shape == (0,)


@pytest.mark.parametrize(
    ("expression", "error", "message"),
    [
        ("", UsageError, "the filter is empty"),
        ("x.isna()", UsageError, "attribute access ('x.isna') not allowed in filter 'x.isna()'"),
        ("year[0] > 1", UsageError, "subscripts ('year[0]') not allowed"),
        ("lambda: year", UsageError, "lambda ('lambda: year') not allowed"),
        ("[y for y in year]", UsageError, "comprehensions"),
        ("any(y for y in year)", UsageError, "comprehensions"),
        ("open('x')", UsageError, "function 'open' ('open('x')') not allowed"),
        ("sqrt(trade) > 1", UsageError, "function 'sqrt'"),
        ("log(trade, 2) > 1", UsageError, "log() with these arguments"),
        ("year if trade else cntg", UsageError, "conditional expressions"),
        ("(y := 1)", UsageError, "assignment expressions"),
        ("f'{year}' == '1'", UsageError, "f-strings"),
        ("trade & cntg", UsageError, "operator '&'"),
        ("trade > 0 | cntg", UsageError, "operator '|'"),
        ("~rta", UsageError, "operator '~'"),
        ("year % 2 == 0", UsageError, "this operator"),
        ("trade is None", UsageError, "'is'"),
        ("trade == None", UsageError, "this constant"),
        ("year = 1990", UsageError, "cannot parse filter 'year = 1990'"),
        ("trade >", UsageError, "cannot parse filter"),
        ("trade", UsageError, "'trade' in filter 'trade' is not a condition"),
        ("log(trade)", UsageError, "is not a condition"),
        ("year in 1990", UsageError, "'in' without a list"),
        ("year in (cntg, 1)", UsageError, "'in' with non-constant values"),
        ("year == (1986, 1990)", UsageError, "a list outside 'in'"),
        ("iso3 == 5", UsageError, "comparing text with a number ('iso3 == 5')"),
        ("year == '1990'", UsageError, "comparing text with a number"),
        ("iso3 in (1, 2)", UsageError, "comparing text with a number"),
        ("iso3 + 1 > 2", UsageError, "arithmetic on a non-number"),
        ("(trade > 1) + 1 > 0", UsageError, "is a condition, not a value"),
        ("``", UsageError, "empty backticks"),
        ("yeer > 1", DataError, "column 'yeer' not found in the data; available columns: year"),
        ("`trade valeu` > 1", DataError, "column 'trade valeu' not found"),
    ],
)
def test_errors(
    frame: pd.DataFrame, expression: str, error: type[MigtradeError], message: str
) -> None:
    with pytest.raises(error) as info:
        where_mask(frame, expression)
    assert message in info.value.message
    assert info.value.hint


def test_unknown_column_suggests_close_matches(frame: pd.DataFrame) -> None:
    with pytest.raises(DataError) as info:
        where_mask(frame, "exportr == 'MEX'")
    assert info.value.message.startswith(
        "column 'exportr' not found in the data; available columns: exporter, importer"
    )
    assert info.value.hint == "Did you mean 'exporter'?"


def test_long_column_lists_are_cut() -> None:
    wide = pd.DataFrame({f"col{i}": [1.0] for i in range(40)})
    with pytest.raises(DataError) as info:
        where_mask(wide, "zzz > 0")
    assert "col14, ... (25 more)" in info.value.message


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os').system('echo hi')",
        "__import__('os').system('touch pwned') == 0",
        "().__class__",
        "().__class__.__bases__[0].__subclasses__()",
        "open('pwned', 'w')",
        "open('pwned', 'w') == 1",
        "x.__dict__",
        "lambda: __import__('os').system('echo hi')",
        "eval('1') == 1",
        "exec('import os') == 1",
        "[__import__('os') for _ in (1,)]",
        "globals()",
        "year.__class__ == 1",
    ],
)
def test_code_is_never_executed(
    frame: pd.DataFrame, expression: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[object] = []
    monkeypatch.setattr(os, "system", lambda *args: calls.append(args))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError):
        where_mask(frame, expression)
    assert calls == []
    assert list(tmp_path.iterdir()) == []


def test_deep_nesting_is_refused(frame: pd.DataFrame) -> None:
    with pytest.raises(UsageError):
        where_mask(frame, " + ".join(["trade"] * 5000) + " > 0")
    with pytest.raises(UsageError):
        where_mask(frame, "(" * 300 + "trade > 0" + ")" * 300)


floats = hnp.arrays(
    np.float64,
    st.integers(0, 30),
    elements=st.one_of(st.floats(-1e6, 1e6), st.just(np.nan)),
)


@given(floats, st.floats(-1e6, 1e6))
def test_comparison_matches_numpy(values: np.ndarray, threshold: float) -> None:
    frame = pd.DataFrame({"x": values})
    with np.errstate(invalid="ignore"):
        expected = values > threshold
    assert np.array_equal(where_mask(frame, f"x > {threshold!r}"), expected)
    assert np.array_equal(where_mask(frame, f"not (x > {threshold!r})"), ~expected)
    assert np.array_equal(
        where_mask(frame, f"x != {threshold!r}"), ~np.isnan(values) & (values != threshold)
    )


@given(floats, st.floats(-10, 10), st.floats(-10, 10))
def test_boolean_operators_match_numpy(values: np.ndarray, low: float, high: float) -> None:
    frame = pd.DataFrame({"x": values})
    both = where_mask(frame, f"x >= {low!r} and x <= {high!r}")
    either = where_mask(frame, f"x < {low!r} or x > {high!r}")
    chained = where_mask(frame, f"{low!r} <= x <= {high!r}")
    assert np.array_equal(both, chained)
    assert np.array_equal(both | either, ~np.isnan(values))
