"""What the estimate path lets go of to lower its peak memory changes no number.

The table handed to the fit is emptied once the model's arrays are built (``release_data``,
which ``migtrade estimate`` passes for a single model), the design's arrays over every row are
dropped before the fit, the sample's codes are 32-bit and not copied when already dense. Each
is checked for the result being exactly the same, bit for bit, as without it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from migtrade.estimation.fit import _sample_codes, estimate
from migtrade.estimation.fixed_effects import compact
from migtrade.estimation.vcov import VcovSpec
from migtrade.store.files import let_go, read_table
from migtrade.synthetic.gravity import gravity_panel

FORMULA = "trade ~ log_dist + cntg + rta | exporter^year + importer^year"


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    frame = gravity_panel(12, 4, seed=3).frame
    # Rows that the sample drops (missing, and a country whose flows are all zero, which the
    # separation check drops), so that the fit's arrays are subsets of the design's.
    frame.loc[frame.index[:5], "log_dist"] = np.nan
    frame.loc[frame["exporter"] == frame["exporter"].iloc[0], "trade"] = 0.0
    return frame


def _as_dict(frame: pd.DataFrame, **kwargs: object) -> dict[str, object]:
    got = estimate(FORMULA, frame, vcov=VcovSpec.parse("cluster:exporter"), **kwargs)  # type: ignore[arg-type]
    data = got.result.to_dict()
    data.pop("versions", None)
    return data


@pytest.mark.parametrize("model", ["ppml", "ols"])
def test_released_table_gives_the_same_result(panel: pd.DataFrame, model: str) -> None:
    plain = _as_dict(panel.copy(), model=model)
    assert plain["dropped"]["missing"] == 5  # type: ignore[index]
    mine = panel.copy()
    calls: list[int] = []

    def release() -> None:
        calls.append(len(mine.columns))
        let_go(mine)

    released = _as_dict(mine, model=model, release_data=release)
    assert calls and calls[0] > 0 and len(mine.columns) == 0  # called, and the table emptied
    assert json.dumps(released, sort_keys=True) == json.dumps(plain, sort_keys=True)


def test_no_release_with_a_bias_correction(panel: pd.DataFrame) -> None:
    """The jackknife refits on the rows: the table is kept."""
    calls: list[int] = []
    frame = panel.copy()
    estimate(FORMULA, frame, vcov=VcovSpec.parse("cluster:exporter"), bias_correction="jackknife",
             release_data=lambda: calls.append(1))
    assert not calls and len(frame.columns) == len(panel.columns)


def test_let_go_empties_a_parquet_table(tmp_path: Path, panel: pd.DataFrame) -> None:
    path = tmp_path / "p.parquet"
    panel.to_parquet(path, index=False)
    frame = read_table(path, ["trade", "exporter"])
    let_go(frame)
    assert frame.shape == (len(panel), 0)


def test_sample_codes_are_int32_with_missing_as_zero() -> None:
    codes = np.array([3, -1, 0, 2, 3], dtype=np.int64)
    out = _sample_codes(codes)
    assert out.dtype == np.int32 and out.tolist() == [3, 0, 0, 2, 3]
    assert codes.tolist() == [3, -1, 0, 2, 3]  # the design's codes are not changed


def test_compact_keeps_dense_int32_codes_and_renumbers_others() -> None:
    dense = np.array([1, 0, 2, 1], dtype=np.int32)
    same, levels = compact(dense)
    assert same is dense and levels == 3
    gaps = np.array([4, 0, 4, 2], dtype=np.int32)
    renumbered, levels = compact(gaps)
    assert renumbered.tolist() == [2, 0, 2, 1] and levels == 3 and renumbered is not gaps
    wide, levels = compact(np.array([1, 0, 1], dtype=np.int64))
    assert wide.dtype == np.int32 and wide.tolist() == [1, 0, 1] and levels == 2
