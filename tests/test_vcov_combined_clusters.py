"""``--vcov cluster:a^b``: clustering on the observed combinations of several columns.

The reference is the same model clustered on a column built beforehand from the combination
(what a user of a package without ``a^b`` does): the two must agree to rounding, since the
cluster partition is the same.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from migtrade.errors import DataError, UsageError
from migtrade.estimation.fit import estimate
from migtrade.estimation.vcov import VcovSpec
from migtrade.synthetic.gravity import gravity_panel

FORMULA = "trade ~ log_dist + cntg + rta | exporter^year + importer^year"

CliRun = Callable[..., tuple[int, str, str]]


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    frame = gravity_panel(15, 4, seed=5).frame.copy()
    frame["exp_imp"] = frame["exporter"].astype(str) + "|" + frame["importer"].astype(str)
    return frame


@pytest.mark.parametrize("model", ["ppml", "ols"])
def test_combination_equals_a_prebuilt_column(panel: pd.DataFrame, model: str) -> None:
    formula = FORMULA if model == "ppml" else FORMULA.replace("trade ~", "log(trade) ~")
    frame = panel if model == "ppml" else panel[panel["trade"] > 0]
    combined = estimate(formula, frame, model=model, vcov=VcovSpec.parse("cluster:exporter^importer")).result
    prebuilt = estimate(formula, frame, model=model, vcov=VcovSpec.parse("cluster:exp_imp")).result
    # Same partition into clusters, same arithmetic: equal to rounding.
    np.testing.assert_allclose(combined.cov, prebuilt.cov, rtol=1e-12, atol=0)
    assert combined.vcov["clusters"] == {"exporter^importer": prebuilt.vcov["clusters"]["exp_imp"]}
    assert combined.vcov["df"] == prebuilt.vcov["df"]


def test_combination_in_multiway_clustering(panel: pd.DataFrame) -> None:
    combined = estimate(FORMULA, panel, vcov=VcovSpec.parse("cluster:exporter^importer,year")).result
    prebuilt = estimate(FORMULA, panel, vcov=VcovSpec.parse("cluster:exp_imp,year")).result
    np.testing.assert_allclose(combined.cov, prebuilt.cov, rtol=1e-12, atol=0)
    assert list(combined.vcov["clusters"]) == ["exporter^importer", "year"]


def test_rows_missing_a_part_leave_the_sample(panel: pd.DataFrame) -> None:
    frame = panel.copy()
    frame["imp2"] = frame["importer"].astype(object)
    frame.loc[frame.index[:7], "imp2"] = None
    frame["exp_imp2"] = frame["exp_imp"].where(frame["imp2"].notna())
    combined = estimate(FORMULA, frame, vcov=VcovSpec.parse("cluster:exporter^imp2")).result
    prebuilt = estimate(FORMULA, frame, vcov=VcovSpec.parse("cluster:exp_imp2")).result
    assert combined.nobs == prebuilt.nobs == len(frame) - 7
    assert combined.dropped["missing"] == 7
    np.testing.assert_allclose(combined.cov, prebuilt.cov, rtol=1e-12, atol=0)


def test_the_spec_names_its_columns() -> None:
    spec = VcovSpec.parse("cluster: exporter ^ importer , year")
    assert spec.clusters == ("exporter^importer", "year")
    assert spec.cluster_columns == ("exporter", "importer", "year")
    assert spec.label() == "cluster: exporter^importer, year"


@pytest.mark.parametrize("text", ["cluster:a^", "cluster:^b", "cluster:a^a", "cluster:a,a"])
def test_malformed_combinations_are_refused(text: str) -> None:
    with pytest.raises(UsageError):
        VcovSpec.parse(text)


def test_unknown_part_is_named(panel: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="cluster variable 'nosuch' not found"):
        estimate(FORMULA, panel, vcov=VcovSpec.parse("cluster:exporter^nosuch"))


def test_command_line(panel: pd.DataFrame, tmp_path: Path, cli: CliRun) -> None:
    csv = tmp_path / "panel.csv"
    panel.to_csv(csv, index=False)
    code, out, err = cli("estimate", FORMULA, "--data", str(csv), "--vcov",
                          "cluster:exporter^importer", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["vcov"]["clusters"] == {"exporter^importer": 210}
    for bad, message in (("cluster:exporter^nosuch", "'nosuch' not found"),
                         ("cluster:exporter^", "combination")):
        code, _, err = cli("estimate", FORMULA, "--data", str(csv),
                            "--vcov", bad)
        assert code == 2
        lines = err.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], err
