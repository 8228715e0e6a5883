"""Yotov, Piermartini, Monteiro & Larch (2016), *An Advanced Guide to Trade Policy Analysis*, ch. 1.

The book prints three decimals; we require every printed digit: |ours - published| <= 0.0005
(half a unit in the last printed place), with standard errors clustered by pair under the Stata
convention the book used (reghdfe for OLS, ppmlhdfe for PPML).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from migtrade.estimation.fit import estimate
from migtrade.estimation.vcov import VcovSpec

HALF_DIGIT = 0.0005 + 1e-9
CLUSTER = VcovSpec.parse("cluster:pair_id", "stata")


def _check(result, expected: dict[str, tuple[float, float]]) -> None:
    coefs = result.coefficients()
    for term, (b, se) in expected.items():
        assert abs(coefs[term].estimate - b) <= HALF_DIGIT, (term, coefs[term].estimate, b)
        assert abs(coefs[term].std_error - se) <= HALF_DIGIT, (term, coefs[term].std_error, se)


def test_table1_col4_ppml(agtpa: pd.DataFrame) -> None:
    est = estimate(
        "trade ~ log(dist) + cntg + lang + clny | exporter^year + importer^year",
        agtpa, model="ppml", vcov=CLUSTER, where="exporter != importer",
    ).result
    assert est.nobs == 28_152
    _check(est, {"log(dist)": (-0.841, 0.032), "cntg": (0.437, 0.083),
                 "lang": (0.247, 0.077), "clny": (-0.222, 0.116)})
    assert est.converged


def test_table1_col3_ols(agtpa: pd.DataFrame) -> None:
    est = estimate(
        "log(trade) ~ log(dist) + cntg + lang + clny | exporter^year + importer^year",
        agtpa, model="ols", vcov=CLUSTER, where="exporter != importer and trade > 0",
    ).result
    assert est.nobs == 25_689
    _check(est, {"log(dist)": (-1.216, 0.038), "cntg": (0.223, 0.203),
                 "lang": (0.661, 0.082), "clny": (0.670, 0.149)})


def test_table3_col4_ppml_pair_fe(agtpa: pd.DataFrame) -> None:
    est = estimate(
        "trade ~ rta | exporter^year + importer^year + pair_id",
        agtpa, model="ppml", vcov=CLUSTER,
    ).result
    assert est.nobs == 28_482
    _check(est, {"rta": (0.557, 0.102)})
    # Pairs whose trade is zero in every year are separated by the pair effect.
    assert est.dropped["separated"] == len(agtpa) - 28_482 - est.dropped["singletons"] - est.dropped["missing"]


def test_distance_absorbed_by_pair_fe_is_dropped_with_a_note(agtpa: pd.DataFrame) -> None:
    est = estimate(
        "trade ~ rta + log(dist) + cntg + lang | exporter^year + importer^year + pair_id",
        agtpa, model="ppml", vcov=CLUSTER,
    ).result
    assert est.terms == ("rta",)
    assert {t for t, _ in est.omitted} == {"log(dist)", "cntg", "lang"}
    assert all("absorbed by the fixed effect" in reason for _, reason in est.omitted)
    assert np.isclose(est.params[0], 0.557, atol=HALF_DIGIT)
