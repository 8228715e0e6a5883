"""Yotov et al. (2016), chapter 2, application 2: the general-equilibrium effects of NAFTA.

The book estimates PPML with pair, exporter-year and importer-year effects on 1986, 1990, ...,
2006 with domestic flows (RTA 0.5572), fills the costs of the seven pairs that never trade from
a PPML on log distance, contiguity, language and colony in 1994, and solves the counterfactual
without NAFTA in 1994 with sigma = 7, DEU as reference and expenditure proportional to output
(the do-file's ``phi = E / Y``, i.e. multiplicative imbalances). It reports the effect of NAFTA,
``(with - without) / without``, in percent; migtrade's scenario removes NAFTA from the observed
world, so its change c is ``(without - with) / with`` and the book's number is
``(1 / (1 + c / 100) - 1) x 100``.

The published loop stopped after three rounds at a loose tolerance. Run the same way
(``max_rounds`` with GEPPML) migtrade reproduces every printed digit; fully converged, real GDP
moves by at most 0.04 percentage points and full-endowment exports by at most 0.75 (measured:
real GDP CAN 3.440, MEX 3.829, USA 0.334; exports CAN 36.71, MEX 42.87, USA 14.88).
"""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import shared_file

from migtrade.ge import GEOptions, GEResult
from migtrade.ge.run import run_counterfactual

NAFTA = ("CAN", "MEX", "USA")
SCENARIO = dict(
    year=1994, sigma=7.0, reference="DEU", imbalances="multiplicative",
    estimate="trade ~ rta | exporter^year + importer^year + pair_id",
    where="year in (1986, 1990, 1994, 1998, 2002, 2006)",
    change="rta = 0 if exporter in ('CAN', 'MEX', 'USA') and importer in ('CAN', 'MEX', 'USA')",
    fill_pairs="log(dist) + cntg + lang + clny",
)
# The book's Table (ch. 2, application 2), effects of NAFTA in percent.
BOOK = {
    "real_gdp_pct": {"CAN": 3.403, "MEX": 3.810, "USA": 0.335},
    "exports_full_pct": {"CAN": 37.46, "MEX": 43.51, "USA": 14.88},
    "exports_conditional_pct": {"CAN": 34.99, "MEX": 41.64, "USA": 14.48},
}
DECIMALS = {"real_gdp_pct": 3, "exports_full_pct": 2, "exports_conditional_pct": 2}


def book_effect(change_pct: float) -> float:
    """(with - without) / without x 100 from migtrade's (without - with) / with x 100."""
    return (1.0 / (1.0 + change_pct / 100.0) - 1.0) * 100.0


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return pd.read_csv(shared_file("yotov2016_agtpa/agtpa_applications.csv.gz"))


@pytest.fixture(scope="module")
def converged(data: pd.DataFrame) -> GEResult:
    return run_counterfactual(data, GEOptions(**SCENARIO))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def converged_geppml(data: pd.DataFrame) -> GEResult:
    return run_counterfactual(data, GEOptions(**SCENARIO, method="geppml"))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def published(data: pd.DataFrame) -> GEResult:
    return run_counterfactual(data, GEOptions(**SCENARIO, method="geppml", max_rounds=50))  # type: ignore[arg-type]


def test_conversion_of_the_printed_numbers() -> None:
    # A 10% rise is a 9.0909% fall the other way; zero stays zero.
    assert book_effect(-100 / 11) == pytest.approx(10.0)
    assert book_effect(0.0) == 0.0


def test_rta_coefficient_and_baseline(converged: GEResult) -> None:
    # The book prints 0.5572; its standard error (clustered by pair) 0.102.
    assert converged.partial["rta"]["estimate"] == pytest.approx(0.5572, abs=5e-5)
    assert converged.partial["rta"]["std_error"] == pytest.approx(0.102, abs=5e-4)
    assert converged.baseline == "fitted"
    assert any("fitted" in n and "baseline" in n for n in converged.notes)
    assert any("14 pairs had no estimated pair effect" in n for n in converged.notes)
    assert {c for c, row in converged.countries.items() if row["changed"]} == set(NAFTA)
    assert len(converged.pairs) == 69 * 69


def test_published_loop_reproduces_every_printed_digit(published: GEResult) -> None:
    # The do-file's stopping rule (sd and max of the change in price changes <= 0.01) ends the
    # loop after three rounds here, as in the book, although max_rounds allows 50.
    assert published.iterations == 3
    assert published.converged
    for field, printed in BOOK.items():
        for iso, value in printed.items():
            ours = book_effect(published.countries[iso][field])
            assert round(ours, DECIMALS[field]) == pytest.approx(value, abs=1e-9), (field, iso, ours)


def test_converged_solution_against_the_book(converged: GEResult) -> None:
    # The conditional equilibrium involves no loop: every printed digit.
    for iso, value in BOOK["exports_conditional_pct"].items():
        ours = book_effect(converged.countries[iso]["exports_conditional_pct"])
        assert round(ours, 2) == pytest.approx(value, abs=1e-9)
    # Full endowment, converged to 1e-10: within 0.04 points of the book's real GDP (measured
    # 0.037, 0.019, 0.001) and 0.75 of its exports (measured 0.75, 0.64, 0.004).
    for field, bound in (("real_gdp_pct", 0.04), ("exports_full_pct", 0.76)):
        for iso, value in BOOK[field].items():
            ours = book_effect(converged.countries[iso][field])
            assert abs(ours - value) < bound, (field, iso, ours)
    assert converged.converged and converged.iterations > 3


def test_fixed_point_and_geppml_agree(converged: GEResult, converged_geppml: GEResult) -> None:
    # Both solve to a change in log prices below 1e-10; their answers agree far inside 1e-6.
    for iso, row in converged.countries.items():
        for field in ("real_gdp_pct", "exports_full_pct", "imports_full_pct", "factory_gate_price_pct",
                      "imr_pct", "omr_pct", "welfare_ratio", "terms_of_trade_pct"):
            assert converged_geppml.countries[iso][field] == pytest.approx(row[field], rel=1e-6, abs=1e-6)
    for a, b in zip(converged.pairs, converged_geppml.pairs, strict=True):
        assert b["trade_full"] == pytest.approx(a["trade_full"], rel=1e-6)
