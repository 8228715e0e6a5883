"""The trade side of NAFTA in general equilibrium, read beside the migration event study.

The ``MEX-USA`` case asks how the Mexico -> United States migration corridor moved around NAFTA.
This piece asks what NAFTA was worth in real GDP for Mexico, the United States, Canada and a
country outside it, the Philippines, by the structural gravity counterfactual of Yotov et al.
(2016, ch. 2): the RTA's partial effect is estimated on the panel by PPML with exporter-year,
importer-year and pair fixed effects, NAFTA is removed in the first panel year it is in force,
and the new equilibrium is solved (sigma 7, Germany's inward multilateral resistance the
numeraire, as in the book). The gain from NAFTA is reported as the book reports it,
(with - without) / without x 100, that is ``100 (1 / welfare_ratio - 1)`` of the removal (with
expenditure proportional to output, as in the book, the welfare ratio is real GDP's).

A general equilibrium needs what the migration battery does not: domestic trade flows
(origin == destination), from which output and expenditure are summed, and an RTA column. When
the panel lacks them, the piece says so, and which data provide them, instead of failing the
battery.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from migtrade.errors import MigtradeError

NAFTA = ("CAN", "MEX", "USA")
NAFTA_YEAR = 1994
SHOWN = ("MEX", "USA", "CAN", "PHL")
SIGMA = 7.0  # Yotov et al. (2016), ch. 2
REFERENCE = "DEU"
FILL_TERMS = ("log(dist)", "contig", "comlang", "colony")
BOOK = {"CAN": 3.403, "MEX": 3.810, "USA": 0.335}
"""Yotov et al. (2016), ch. 2: real GDP gain from NAFTA in 1994, percent."""

_TRADE_INPUT = ("build the panel with a trade input that has them, such as Yotov et al. (2016): "
                "`migtrade panel build --trade ../shared/data/yotov2016_agtpa/"
                "agtpa_applications.csv.gz ...`")


@dataclass(frozen=True)
class NaftaGE:
    """The outcome: a case table and notes, or the reason it is not available."""

    table: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    notes: tuple[str, ...] = ()
    unavailable: str | None = None


def _ge_year(frame: pd.DataFrame) -> tuple[int | None, str | None]:
    """The first panel year from NAFTA on with the agreement in force and domestic flows."""
    missing = [c for c in ("origin", "destination", "year", "trade", "rta") if c not in frame.columns]
    if missing:
        return None, (f"not available: the panel has no {', '.join(missing)} column; "
                      f"{_TRADE_INPUT}")
    domestic = frame[(frame["origin"] == frame["destination"]) & (frame["trade"] > 0)]
    if domestic.empty:
        return None, ("not available: the panel has no domestic trade flows (origin == "
                      "destination), from which general equilibrium sums output and expenditure; "
                      + _TRADE_INPUT)
    nafta = frame[frame["origin"].isin(NAFTA) & frame["destination"].isin(NAFTA)
                  & (frame["origin"] != frame["destination"])]
    for year in sorted(int(y) for y in frame["year"].unique() if int(y) >= NAFTA_YEAR):
        in_force = nafta.loc[nafta["year"] == year, "rta"]
        members = set(domestic.loc[domestic["year"] == year, "origin"])
        if len(in_force) and bool((in_force == 1).all()) and set(NAFTA) <= members:
            return year, None
    return None, (f"not available: no panel year from {NAFTA_YEAR} on has NAFTA in force (rta = 1 "
                  "among CAN, MEX and USA) with the domestic flows of all three; include such a "
                  "year, e.g. `migtrade panel build --years 1990:2005:5 ...`")


def nafta_general_equilibrium(frame: pd.DataFrame, *, shown: Sequence[str] = SHOWN) -> NaftaGE:
    """Solve the NAFTA counterfactual on a dyadic panel with domestic flows.

    Parameters
    ----------
    frame
        The panel as given to the battery, domestic rows included.
    shown
        The countries of the table.

    Returns
    -------
    NaftaGE
        The table, a summary for the JSON report and notes; or, when the panel cannot support a
        general equilibrium or the engine fails, ``unavailable`` with the reason and the remedy.

    Notes
    -----
    The gain from NAFTA is ``(X_with - X_without) / X_without x 100``; the counterfactual solved
    is the removal, whose welfare ratio is ``W = real GDP without / real GDP with``, so the gain
    is ``100 (1 / W - 1)``, and likewise for exports ``100 (1 / (1 + x / 100) - 1)``.
    """
    year, reason = _ge_year(frame)
    if year is None:
        return NaftaGE(unavailable=reason)
    try:
        from migtrade.ge.options import GEOptions
        from migtrade.ge.run import run_counterfactual
    except ImportError as exc:
        return NaftaGE(unavailable=f"not available: the general-equilibrium engine cannot be "
                       f"loaded ({exc})")
    members = ", ".join(f'"{c}"' for c in NAFTA)
    fill = [t for t in FILL_TERMS if t.replace("log(", "").rstrip(")") in frame.columns]
    options = GEOptions(
        year=year, sigma=SIGMA,
        reference=REFERENCE if REFERENCE in set(frame["origin"]) else None,
        estimate="trade ~ rta | origin^year + destination^year + origin^destination",
        change=f"rta = 0 if origin in ({members}) and destination in ({members})",
        fill_pairs=" + ".join(fill) if fill else None,
        exporter="origin", importer="destination", trade="trade",
        imbalances="multiplicative",  # the book's phi = E / Y: the welfare ratio is real GDP's
    )
    try:
        doc = run_counterfactual(frame, options).to_dict()
    except MigtradeError as err:
        return NaftaGE(unavailable=f"could not be computed: {err.one_line()}")
    return _piece(doc, year, [c for c in shown if c in doc["countries"]])


def _gain(pct: Any) -> float | None:
    """The gain from having the agreement, from the percent change of removing it."""
    if not isinstance(pct, int | float) or not math.isfinite(pct) or pct <= -100:
        return None
    return 100.0 * (1.0 / (1.0 + pct / 100.0) - 1.0)


def _piece(doc: Mapping[str, Any], year: int, codes: Sequence[str]) -> NaftaGE:
    countries = doc["countries"]
    rows = []
    summary: dict[str, Any] = {}
    for code in codes:
        c = countries[code]
        gdp, exports = _gain(c.get("real_gdp_pct")), _gain(c.get("exports_full_pct"))
        rows.append([code, gdp, exports, c.get("real_gdp_pct"), c.get("welfare_ratio"),
                     BOOK.get(code)])
        summary[code] = {"real_gdp_gain_pct": gdp, "exports_gain_pct": exports,
                         "real_gdp_pct": c.get("real_gdp_pct"),
                         "welfare_ratio": c.get("welfare_ratio")}
    rta = (doc.get("partial") or {}).get("rta") or {}
    state = "converged" if doc.get("converged") else "NOT converged"
    table = {
        "title": f"NAFTA in general equilibrium ({year}): real GDP and exports, with NAFTA "
                 "against without it",
        "columns": ["country", "real GDP gain %", "exports gain %", "removal: real GDP %",
                    "removal: welfare ratio", "book, 1994: real GDP gain %"],
        "rows": rows,
    }
    baseline = ("fitted from the estimated trade costs, as in the book" if doc.get("baseline") ==
                "fitted" else "as observed")
    notes = (
        f"General equilibrium: NAFTA removed in {year} from the panel's flows of that year "
        f"({baseline}; domestic flows included), RTA partial effect "
        f"{_fmt(rta.get('estimate'))} (SE "
        f"{_fmt(rta.get('std_error'))}) from PPML with origin-year, destination-year and pair "
        f"effects on every panel year, sigma {SIGMA:g}, reference {doc.get('reference')}, "
        f"expenditure proportional to output; {state} in {doc.get('iterations')} iterations.",
        "Gain % = (with NAFTA - without) / without x 100, as Yotov et al. (2016) report it; the "
        "removal columns are (without - with) / with x 100 and the welfare ratio without / with. "
        "The book's numbers use the 1994 data and every fourth year from 1986; the panel's years "
        "differ, so the two agree in sign and size, not digit for digit.",
    )
    summary = {"year": year, "sigma": SIGMA, "reference": doc.get("reference"),
               "partial": dict(doc.get("partial") or {}), "converged": doc.get("converged"),
               "iterations": doc.get("iterations"), "countries": summary}
    return NaftaGE(table=table, summary=summary, notes=notes)


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) and math.isfinite(value) else "n/a"


def _signed(value: Any) -> str:
    return f"{value:+.3f}" if isinstance(value, int | float) and math.isfinite(value) else "n/a"


def read_together(case: Mapping[str, Any], piece: NaftaGE) -> str | None:
    """One sentence joining the trade side (GE real GDP) and the migration side (event study)."""
    if piece.summary is None:
        return None
    gains = piece.summary["countries"]
    flows = next((t for t in case.get("tables", []) if "(migration_flow)" in t["title"]), None)
    after, placebo_p = None, None
    if flows is not None and "placebo p" in flows["columns"]:
        after = next((r for r in flows["rows"] if r[0] >= NAFTA_YEAR and r[1] is not None), None)
        placebo_p = flows["columns"].index("placebo p")
    parts = [f"{_signed(gains[code]['real_gdp_gain_pct'])}% in {code}"
             for code in ("MEX", "USA", "PHL") if code in gains]
    listed = ", ".join(parts[:-1]) + f" and {parts[-1]}" if len(parts) > 1 else "".join(parts)
    text = f"Read together: NAFTA changed real GDP by {listed} (general equilibrium)"
    if after is not None and placebo_p is not None:
        text += (f", while the Mexico -> United States migration flow of the period from "
                 f"{after[0]} deviated {_fmt(after[1])} log points from its reference year "
                 f"(placebo p {_fmt(after[placebo_p])})")
    return text + "."


def with_nafta_ge(case: Mapping[str, Any], frame: pd.DataFrame) -> dict[str, Any]:
    """The ``MEX-USA`` case with the NAFTA general equilibrium added, or its absence explained.

    The table goes after the event study's, the summary under ``general_equilibrium``, and a
    sentence reading both sides together into the notes; when the panel cannot support the
    counterfactual, one line under ``skipped`` says why and which data provide what it needs.
    """
    piece = nafta_general_equilibrium(frame)
    out = dict(case)
    if piece.unavailable is not None:
        out["skipped"] = {**dict(case.get("skipped") or {}),
                          "NAFTA general equilibrium": piece.unavailable}
        out["general_equilibrium"] = None
        return out
    together = read_together(case, piece)
    out["tables"] = [*case.get("tables", []), piece.table]
    out["notes"] = [*case.get("notes", []), *piece.notes, *([together] if together else [])]
    out["general_equilibrium"] = piece.summary
    return out
