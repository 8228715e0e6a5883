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
