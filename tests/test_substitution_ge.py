"""The NAFTA general equilibrium beside the ``MEX-USA`` event study of ``migtrade test substitution``.

Where the panel cannot carry a general equilibrium (no domestic flows, no RTA column, no year
with NAFTA in force) the case names what is missing and which data provide it, and the battery
runs on. Where it can, the real GDP gains are those of the engine's counterfactual, turned into
the book's (with - without) / without; on the shared data they land where Yotov et al. (2016)
put them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from migtrade.hypotheses.nafta_ge import (
    NAFTA,
    nafta_general_equilibrium,
    with_nafta_ge,
)
from migtrade.hypotheses.render import case_blocks
from migtrade.synthetic.gravity import gravity_panel

NAMES = ("MEX", "USA", "CAN", "PHL", "DEU", "JPN", "FRA", "BRA")


def nafta_panel(*, domestic: bool = True, first_year: int = 1990, n_years: int = 4,
                step: int = 5) -> pd.DataFrame:
    """A synthetic gravity panel in the panel schema, its countries renamed to real codes,
    with NAFTA (rta = 1 among CAN, MEX, USA) from 1994 on."""
    frame = gravity_panel(8, n_years, seed=11, zero_share=0.0, include_domestic=domestic).frame
    codes = sorted(frame["exporter"].astype(str).unique())
    rename = dict(zip(codes, NAMES, strict=True))
    frame = frame.assign(origin=frame["exporter"].astype(str).map(rename),
                         destination=frame["importer"].astype(str).map(rename))
    frame["year"] = first_year + (frame["year"] - 1990) * step
    nafta = frame["origin"].isin(NAFTA) & frame["destination"].isin(NAFTA) \
        & (frame["origin"] != frame["destination"])
    frame["rta"] = np.where(nafta, (frame["year"] >= 1994).astype(float), 0.0)
    return frame.rename(columns={"cntg": "contig", "lang": "comlang"})[
        ["origin", "destination", "year", "trade", "dist", "contig", "comlang", "rta"]]


CASE: dict[str, Any] = {"name": "MEX-USA", "title": "NAFTA (1994): Mexico -> United States",
                        "tables": [{"title": "x", "columns": ["year"], "rows": [[1990]]}],
                        "notes": ["event study note"], "skipped": {}}


@pytest.mark.parametrize(("frame", "words"), [
    (nafta_panel(domestic=False), "no domestic trade flows (origin == destination)"),
    (nafta_panel().drop(columns="rta"), "has no rta column"),
    (nafta_panel(first_year=1980, step=3), "no panel year from 1994 on has NAFTA in force"),
])
def test_unavailable_says_why_and_what_provides_it(frame: pd.DataFrame, words: str) -> None:
    piece = nafta_general_equilibrium(frame)
    assert piece.table is None and piece.unavailable is not None
    assert piece.unavailable.startswith("not available: ") and words in piece.unavailable
    assert "migtrade panel build" in piece.unavailable


def test_case_keeps_the_event_study_and_lists_the_missing_piece() -> None:
    out = with_nafta_ge(CASE, nafta_panel(domestic=False))
    assert out["tables"] == CASE["tables"] and out["notes"] == CASE["notes"]
    assert out["general_equilibrium"] is None
    assert out["skipped"]["NAFTA general equilibrium"].startswith(
        "not available: the panel has no domestic trade flows")
    blocks = case_blocks(out)
    skipped = next(b for b in blocks if b.title == "Case pieces skipped")
    assert skipped.items[0].startswith("NAFTA general equilibrium: not available")


def test_gains_are_the_engines_removal_read_back() -> None:
    from migtrade.ge import GEOptions
    from migtrade.ge.run import run_counterfactual

    frame = nafta_panel()
    piece = nafta_general_equilibrium(frame)
    assert piece.unavailable is None and piece.table is not None and piece.summary is not None
    assert [r[0] for r in piece.table["rows"]] == ["MEX", "USA", "CAN", "PHL"]
    assert piece.summary["year"] == 1995  # the first panel year with NAFTA in force
    # The same counterfactual through the engine's entry point: the gains are its welfare ratios
    # read the other way, to rounding.
    doc = run_counterfactual(frame, GEOptions(
        year=1995, sigma=7.0, reference="DEU", imbalances="multiplicative",
        estimate="trade ~ rta | origin^year + destination^year + origin^destination",
        change='rta = 0 if origin in ("CAN", "MEX", "USA") and destination in ("CAN", "MEX", "USA")',
        fill_pairs="log(dist) + contig + comlang")).to_dict()
    for code, gain, exports, removal, ratio, book in piece.table["rows"]:
        row = doc["countries"][code]
        assert ratio == row["welfare_ratio"] and removal == row["real_gdp_pct"]
        assert gain == pytest.approx(100 * (1 / row["welfare_ratio"] - 1), rel=1e-12)
        assert exports == pytest.approx(100 * (1 / (1 + row["exports_full_pct"] / 100) - 1), rel=1e-12)
        assert book == {"MEX": 3.810, "USA": 0.335, "CAN": 3.403}.get(code)
    assert piece.summary["partial"]["rta"]["estimate"] == doc["partial"]["rta"]["estimate"]


EVENT_COLUMNS = ["year", "effect (log points)", "effect (proportion)", "clustered SE",
                 "placebo 5%", "placebo 95%", "placebo p"]


@pytest.mark.parametrize("bootstrap", [False, True])
def test_read_together_joins_both_sides(bootstrap: bool) -> None:
    # With --inference bootstrap the table gains a last column; the sentence still quotes the
    # placebo p-value, found by its column's name.
    extra = ["score bootstrap p"] if bootstrap else []
    rows = [[1990, 0.0, 0.0, None, None, None, None], [1995, 0.127, 0.135, 0.144, -0.3, 0.3, 0.71]]
    case = dict(CASE, tables=[{"title": "NAFTA event study: migration flow, five years from the "
                                        "year shown (migration_flow); 8 placebo corridors",
                               "columns": EVENT_COLUMNS + extra,
                               "rows": [r + ([0.479] if bootstrap else []) for r in rows]}])
    out = with_nafta_ge(case, nafta_panel())
    assert out["skipped"] == {} and out["general_equilibrium"]["year"] == 1995
    assert out["tables"][0] == case["tables"][0] and out["tables"][-1]["title"].startswith(
        "NAFTA in general equilibrium (1995)")
    together = out["notes"][-1]
    gains = out["general_equilibrium"]["countries"]
    assert together.startswith(f"Read together: NAFTA changed real GDP by "
                               f"{gains['MEX']['real_gdp_gain_pct']:+.3f}% in MEX, ")
    assert f"and {gains['PHL']['real_gdp_gain_pct']:+.3f}% in PHL (general equilibrium)" in together
    assert together.endswith("the Mexico -> United States migration flow of the period from 1995 "
                             "deviated 0.127 log points from its reference year (placebo p 0.710).")


def test_real_panel_years_give_the_books_effects_in_sign_and_size() -> None:
    """The trade side of the 69-country panel (Yotov et al. 2016 flows in 1990, 1995, 2000,
    2005, domestic flows included): NAFTA in 1995 against the book's 1994 numbers. The year, the
    estimation years and so the RTA coefficient (0.52 here, 0.557 in the book) differ, so each
    gain must be within one percentage point of the book's and keep its order."""
    from conftest import shared_file

    raw = pd.read_csv(shared_file("yotov2016_agtpa/agtpa_applications.csv.gz"))
    frame = raw[raw["year"].isin([1990, 1995, 2000, 2005])].rename(columns={
        "exporter": "origin", "importer": "destination", "cntg": "contig", "lang": "comlang",
        "clny": "colony"})
    piece = nafta_general_equilibrium(frame)
    assert piece.summary is not None, piece.unavailable
    gains = {c: v["real_gdp_gain_pct"] for c, v in piece.summary["countries"].items()}
    for code, book in {"MEX": 3.810, "CAN": 3.403, "USA": 0.335}.items():
        assert abs(gains[code] - book) < 1.0, (code, gains[code])
    assert gains["MEX"] > gains["CAN"] > gains["USA"] > 0 > gains["PHL"] > -0.1
    assert piece.summary["converged"]
