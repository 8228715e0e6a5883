"""Weidner-Zylkin bias corrections against ``ppml_fe_bias``'s published example output.

The numbers are what the Stata command prints on its own example (``examples/EXAMPLE DO FILE
(ppml_fe_bias).do`` on ``PPMLFEBIAS_EXAMPLE_DATA.dta``, category MANUF), as shown in the
package's README figures ``example output (3 way).png`` and ``example output (2way).png``. They
are printed with seven decimals, so every comparison allows half a unit in the seventh decimal:
agreement to every printed digit.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import shared_file

from migtrade.estimation.fit import estimate
from migtrade.estimation.vcov import VcovSpec
from migtrade.report.table import build_table
from migtrade.results.result import EstimationResult

PRINTED = 5e-8  # half a unit in the seventh decimal, the precision ppml_fe_bias prints
THREE_WAY = "trade ~ fta | isoimp^year + isoexp^year + isoimp^isoexp"
TWO_WAY = ("trade ~ ln_distw + contig + colony + comlang_off + comleg + fta "
           "| isoimp^year + isoexp^year")
PAIR = VcovSpec.parse("cluster:isoimp^isoexp")

# ppml_fe_bias, two-way example: term -> (original, original SE, adjusted SE)
TWO_WAY_PRINTED = {
    "ln_distw": (-0.5826890, 0.0372778, 0.0463104),
    "contig": (0.3690149, 0.0600966, 0.0734243),
    "colony": (-0.0874526, 0.0888010, 0.1115109),
    "comlang_off": (0.0535707, 0.0628885, 0.0765570),
    "comleg": (0.2485195, 0.0411242, 0.0490544),
    "fta": (0.8540740, 0.0748473, 0.0908957),
}


@pytest.fixture(scope="module")
def manuf() -> pd.DataFrame:
    frame = pd.read_csv(shared_file("ppml_fe_bias_example/ppmlfebias_example.csv.gz"))
    return frame[frame["category"] == "MANUF"].reset_index(drop=True)


@pytest.fixture(scope="module")
def three_way(manuf: pd.DataFrame) -> EstimationResult:
    return estimate(THREE_WAY, manuf, vcov=PAIR, bias_correction="analytical").result


@pytest.fixture(scope="module")
def two_way(manuf: pd.DataFrame) -> EstimationResult:
    return estimate(TWO_WAY, manuf, vcov=PAIR, bias_correction="analytical").result


def test_three_way_reproduces_ppml_fe_bias(three_way: EstimationResult) -> None:
    fta = three_way.bias_correction["terms"]["fta"]
    # original 0.1780290 (0.0350079), bias 0.0076568, adjusted SE 0.0419559, corrected 0.1703722
    assert fta["uncorrected"] == pytest.approx(0.1780290, abs=PRINTED)
    assert fta["uncorrected_std_error"] == pytest.approx(0.0350079, abs=PRINTED)
    assert fta["bias"] == pytest.approx(0.0076568, abs=PRINTED)
    # The command also echoes the raw numbers with ten digits: bias .0076567524, SE .0419558558.
    # Both fits stop at a relative change in deviance of 1e-8 (ppmlhdfe's and migtrade's
    # default), which leaves differences of order 1e-9 in what follows from the fitted means.
    assert fta["bias"] == pytest.approx(0.0076567524, abs=1e-9)
    assert three_way.params[0] == pytest.approx(0.1703722, abs=PRINTED)
    assert three_way.std_errors[0] == pytest.approx(0.0419559, abs=PRINTED)
    assert three_way.std_errors[0] == pytest.approx(0.0419558558, abs=1e-9)
    assert three_way.bias_correction["structure"] == "three-way"
    assert three_way.bias_correction["method"] == "weidner-zylkin-2021"
    assert three_way.bias_correction["variance"] == "exact"
    assert three_way.bias_correction["sizes"] == {"isoimp": 65, "isoexp": 65, "year": 5,
                                                  "pairs": 4120}


def test_two_way_reproduces_ppml_fe_bias(two_way: EstimationResult) -> None:
    terms = two_way.bias_correction["terms"]
    assert two_way.bias_correction["structure"] == "two-way"
    for k, (name, (original, se, adjusted)) in enumerate(TWO_WAY_PRINTED.items()):
        assert two_way.terms[k] == name
        assert terms[name]["uncorrected"] == pytest.approx(original, abs=PRINTED)
        assert terms[name]["uncorrected_std_error"] == pytest.approx(se, abs=PRINTED)
        assert terms[name]["bias"] == 0.0  # only the variance is biased in the two-way model
        assert two_way.params[k] == terms[name]["uncorrected"]
        assert two_way.std_errors[k] == pytest.approx(adjusted, abs=PRINTED)


def test_notes_name_the_structure(three_way: EstimationResult, two_way: EstimationResult) -> None:
    assert any("three-way: country-time effects isoimp^year and isoexp^year, pair effect "
               "isoimp^isoexp" in n for n in three_way.notes)
    assert any("two-way" in n and "estimates unchanged" in n for n in two_way.notes)


def test_json_round_trip(three_way: EstimationResult) -> None:
    obj = json.loads(three_way.to_json())
    block = obj["bias_correction"]
    assert set(block["terms"]["fta"]) == {"uncorrected", "uncorrected_std_error", "bias"}
    fta = obj["coefficients"]["fta"]
    assert fta["estimate"] == pytest.approx(block["terms"]["fta"]["uncorrected"]
                                            - block["terms"]["fta"]["bias"], rel=1e-14)
    again = EstimationResult.from_dict(obj)
    assert again.bias_correction == three_way.bias_correction
    assert again.to_dict() == obj


def test_uncorrected_results_have_no_block(manuf: pd.DataFrame) -> None:
    plain = estimate(THREE_WAY, manuf, vcov=PAIR).result
    assert "bias_correction" not in plain.to_dict()
    assert EstimationResult.from_dict(plain.to_dict()).bias_correction == {}


def test_table_marks_the_corrected_column(three_way: EstimationResult,
                                          two_way: EstimationResult) -> None:
    table = build_table([three_way, two_way])
    rows = dict(table.statistics)
    assert rows["Bias correction"] == ("Weidner-Zylkin (three-way)", "Weidner-Zylkin (two-way)")
    plain = EstimationResult.from_dict({**three_way.to_dict(), "bias_correction": None})
    assert "Bias correction" not in dict(build_table([plain]).statistics)
    mixed = dict(build_table([plain, three_way]).statistics)
    assert mixed["Bias correction"] == ("", "Weidner-Zylkin (three-way)")


def test_pair_fixed_effect_as_one_column(manuf: pd.DataFrame, three_way: EstimationResult) -> None:
    frame = manuf.assign(pair=manuf["isoexp"] + "-" + manuf["isoimp"])
    alt = estimate("trade ~ fta | isoexp^year + year^isoimp + pair", frame,
                   vcov=VcovSpec.parse("cluster:pair"), bias_correction="analytical").result
    # The same model with its effects in another order converges along another path; both stop
    # at a relative change in deviance of 1e-8.
    np.testing.assert_allclose(alt.params, three_way.params, rtol=1e-7)
    np.testing.assert_allclose(alt.std_errors, three_way.std_errors, rtol=1e-7)
