"""Case studies: NAFTA and Mexico-United States migration, and the Philippines.

A case is a JSON-ready dict: ``name``, ``title``, ``tables`` (each ``{"title", "columns",
"rows"}``), ``notes`` and ``skipped`` (piece -> reason). Numbers that are missing are None.

``MEX-USA``: an event study of the Mexico -> United States corridor around NAFTA (in force from
1 January 1994). For each outcome (migration flows, migrant stocks, exports), PPML with
origin-year, destination-year and pair effects gives the corridor's deviation in each year from
the last pre-NAFTA panel year; the origin-year and destination-year effects make every other
origin's corridor to the United States, and every other destination of Mexican migrants, the
comparison. With one treated pair, clustered standard errors mean little, so inference is by
placebo: the same deviations for the comparison corridors into the United States (the largest
ones in the reference year), and the share of them at least as large as Mexico's.

``PHL``: the Philippines' emigration by destination, remittances in % of GDP and an index of
trade openness over time; the battery itself is run on Philippine dyads by the caller
(:func:`migtrade.hypotheses.battery.run_battery` with ``focus=("PHL",)``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from migtrade.errors import DataError, MigtradeError
from migtrade.estimation.bootstrap import BootstrapOptions
from migtrade.estimation.fit import FitOptions, estimate
from migtrade.estimation.vcov import VcovSpec
from migtrade.hypotheses.battery import missing_reason
from migtrade.hypotheses.specs import CLUSTER, FE_PAIR
from migtrade.hypotheses.variables import DerivedPanel

CASES: tuple[str, ...] = ("MEX-USA", "PHL")
NAFTA_YEAR = 1994
NAFTA = ("CAN", "MEX", "USA")
OUTCOMES: dict[str, str] = {
    "migration_flow": "migration flow, five years from the year shown",
    "migrant_stock": "Mexican-born living in the United States",
    "trade": "exports of Mexico to the United States",
}


def _num(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
    return {"title": title, "columns": list(columns),
            "rows": [[_num(v) for v in row] for row in rows]}


def _corridor_dummies(data: pd.DataFrame, pairs: Sequence[tuple[str, str]], years: Sequence[int],
                      ref: int) -> tuple[pd.DataFrame, list[str]]:
    """One column per corridor and non-reference year: 1 on that corridor's row of that year."""
    cols: dict[str, np.ndarray] = {}
    names: list[str] = []
    for k, (o, d) in enumerate(pairs):
        on_pair = ((data["origin"] == o) & (data["destination"] == d)).to_numpy()
        for y in years:
            if y == ref:
                continue
            name = f"case{k}_{y}"
            cols[name] = (on_pair & (data["year"] == y).to_numpy()).astype(float)
            names.append(name)
    return data.assign(**cols), names


def _placebos(data: pd.DataFrame, outcome: str, years: Sequence[int], ref: int,
              limit: int) -> list[tuple[str, str]]:
    """The largest corridors into the United States with a positive outcome every year."""
    into = data[(data["destination"] == "USA") & ~data["origin"].isin(NAFTA)]
    wide = into.pivot_table(index="origin", columns="year", values=outcome, aggfunc="first")
    wide = wide.reindex(columns=list(years))
    complete = wide[(wide > 0).all(axis=1)]
    top = complete[ref].sort_values(ascending=False).index[:limit]
    return [(str(o), "USA") for o in top]


def case_mex_usa(derived: DerivedPanel, *, n_placebos: int = 20,
                 options: FitOptions | None = None,
                 bootstrap: BootstrapOptions | None = None) -> dict[str, Any]:
    """The NAFTA event study of the Mexico -> United States corridor.

    Parameters
    ----------
    derived
        The panel with the battery's variables.
    n_placebos
        Most comparison corridors used for the placebo distribution.
    options
        Numerical options of the engine.
    bootstrap
        When given, each year's effect also gets a score bootstrap p-value (clustered by pair,
        null imposed), in a column of its own.

    Returns
    -------
    dict
        The case (see the module docstring).

    Raises
    ------
    DataError
        If the data have no Mexico -> United States rows or no year before NAFTA.
    """
    data = derived.frame
    mex_usa = (data["origin"] == "MEX") & (data["destination"] == "USA")
    if not bool(mex_usa.any()):
        raise DataError("the data have no Mexico -> United States rows (origin MEX, destination "
                        "USA)", "Build the panel with both countries, e.g. "
                        "`migtrade panel build --countries MEX,USA,...`.")
    years = sorted(int(y) for y in data.loc[mex_usa, "year"].unique())
    before = [y for y in years if y < NAFTA_YEAR]
    if not before:
        raise DataError(f"the data have no year before NAFTA ({NAFTA_YEAR})",
                        "Include 1990 (or an earlier year) in the panel.")
    ref = before[-1]
    tables: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    notes = [
        f"NAFTA entered into force in {NAFTA_YEAR}; effects are log-point deviations of the "
        f"corridor from {ref}, net of origin-year, destination-year and pair effects.",
        "One treated corridor: the placebo p-value is the share of comparison corridors into "
        "the United States with a deviation at least as large in absolute value (plus one, over "
        "their number plus one).",
        "Mexico's 1994-95 peso crisis fell in the same period, so the corridor's deviation after "
        "1994 is NAFTA and the crisis together, not NAFTA alone.",
    ]
    raw = [[y, *(float(data.loc[mex_usa & (data["year"] == y), v].iloc[0])
                 if v in data.columns else None for v in OUTCOMES)] for y in years]
    tables.append(_table("Mexico -> United States, as in the data", ["year", *OUTCOMES], raw))
    vc = VcovSpec.parse(f"cluster:{CLUSTER}")
    for outcome, label in OUTCOMES.items():
        if outcome not in data.columns or not bool(data.loc[mex_usa, outcome].notna().any()):
            skipped[outcome] = missing_reason(outcome)
            continue
        placebo = _placebos(data, outcome, years, ref, n_placebos)
        pairs = [("MEX", "USA"), *placebo]
        frame, names = _corridor_dummies(data, pairs, years, ref)
        case_rows = np.zeros(len(frame), dtype=bool)
        for o, d in pairs:
            case_rows |= ((frame["origin"] == o) & (frame["destination"] == d)).to_numpy()
        controls = []
        if "rta" in frame.columns:
            frame = frame.assign(rta_control=frame["rta"].where(~case_rows, 0.0))
            controls = ["rta_control"]
        formula = f"{outcome} ~ {' + '.join(names + controls)} | {' + '.join(FE_PAIR)}"
        boot = None if bootstrap is None else replace(
            bootstrap, hypotheses=tuple((f"case0_{y}",) for y in years if y != ref),
            invert_intervals=False)
        try:
            res = estimate(formula, frame, model="ppml", vcov=vc, options=options,
                           bootstrap=boot).result
        except MigtradeError as err:
            skipped[outcome] = f"could not be estimated: {err.one_line()}"
            continue
        coef = dict(zip(res.terms, res.params, strict=True))
        se = dict(zip(res.terms, res.std_errors, strict=True))
        rows = []
        for y in years:
            if y == ref:
                rows.append([y, 0.0, 0.0, None, None, None, None, *([None] if boot else [])])
                continue
            own = coef.get(f"case0_{y}", float("nan"))
            others = np.array([coef[f"case{k}_{y}"] for k in range(1, len(pairs))
                               if f"case{k}_{y}" in coef], dtype=float)
            p = ((1 + np.sum(np.abs(others) >= abs(own))) / (1 + others.size)
                 if others.size and math.isfinite(own) else None)
            lo, hi = (np.quantile(others, [0.05, 0.95]) if others.size else (None, None))
            rows.append([y, own, math.expm1(own) if math.isfinite(own) else None,
                         se.get(f"case0_{y}"), lo, hi, p,
                         *([res.bootstrap.get(f"case0_{y}", {}).get("p_value")] if boot else [])])
        tables.append(_table(
            f"NAFTA event study: {label} ({outcome}); {len(placebo)} placebo corridors",
            ["year", "effect (log points)", "effect (proportion)", "clustered SE",
             "placebo 5%", "placebo 95%", "placebo p", *(["score bootstrap p"] if boot else [])],
            rows))
    return {"name": "MEX-USA", "title": "NAFTA (1994): Mexico -> United States",
            "reference_year": ref, "tables": tables, "notes": notes, "skipped": skipped}


def _country_year(data: pd.DataFrame, code: str, column: str) -> pd.Series:
    rows = data.loc[data["origin"] == code, ["year", column]].dropna()
    return rows.groupby("year")[column].first()


def case_phl(derived: DerivedPanel, *, top: int = 10) -> dict[str, Any]:
    """The Philippines: emigration by destination, remittances and trade openness over time.

    Parameters
    ----------
    derived
        The panel with the battery's variables.
    top
        Number of destinations listed (the largest in the last year).

    Returns
    -------
    dict
        The case (see the module docstring).

    Raises
    ------
    DataError
        If the data have no Philippine dyads.
    """
    data = derived.frame
    out_rows = data[data["origin"] == "PHL"]
    in_rows = data[data["destination"] == "PHL"]
    if out_rows.empty and in_rows.empty:
        raise DataError("the data have no Philippine dyads (origin or destination PHL)",
                        "Build the panel with the Philippines, e.g. "
                        "`migtrade panel build --countries PHL,...`.")
    years = sorted(int(y) for y in pd.concat([out_rows["year"], in_rows["year"]]).unique())
    tables: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    notes = ["Totals are over the partners in the panel, not the whole world."]
    for var, what in (("migrant_stock", "Philippine-born living abroad"),
                      ("migration_flow", "Emigration over the five years from the year shown")):
        if var not in data.columns or not bool(out_rows[var].notna().any()):
            skipped[f"emigration ({var})"] = missing_reason(var)
            continue
        wide = out_rows.pivot_table(index="destination", columns="year", values=var,
                                    aggfunc="first").reindex(columns=years)
        last = wide.columns[wide.notna().any()].max()
        order = wide[last].sort_values(ascending=False).index[:top]
        rows = [[d, *wide.loc[d].tolist()] for d in order]
        rows.append(["all partners", *wide.sum(min_count=1).tolist()])
        tables.append(_table(f"{what}, by destination ({var})",
                             ["destination", *map(str, years)], rows))
    if "remittances_gdp_o" in data.columns and bool(out_rows["remittances_gdp_o"].notna().any()):
        remit = _country_year(data, "PHL", "remittances_gdp_o").reindex(years)
        tables.append(_table("Personal remittances received, % of GDP (remittances_gdp_o)",
                             ["year", "% of GDP"], [[y, remit[y]] for y in years]))
    else:
        skipped["remittances"] = missing_reason("remittances_gdp_o")
    if "trade" in data.columns:
        exports = out_rows.groupby("year")["trade"].sum(min_count=1).reindex(years)
        imports = in_rows.groupby("year")["trade"].sum(min_count=1).reindex(years)
        total = exports + imports
        base = total.dropna().iloc[0] if total.notna().any() else float("nan")
        columns = ["year", "exports", "imports", "index (first year = 100)"]
        gdp = (_country_year(data, "PHL", "gdp_o").reindex(years)
               if "gdp_o" in data.columns else None)
        share = None
        if gdp is not None and gdp.notna().any():
            ratio = total / gdp
            share = 100 * ratio / ratio.dropna().iloc[0] if ratio.notna().any() else None
            columns.append("trade/GDP index (first year = 100)")
        else:
            skipped["trade openness relative to GDP"] = missing_reason("gdp_o")
        rows = [[y, exports[y], imports[y], 100 * total[y] / base,
                 *([share[y]] if share is not None else [])] for y in years]
        tables.append(_table("Trade with panel partners (panel units) and openness", columns,
                             rows))
        notes.append("Openness is an index so that the panel's trade unit does not matter.")
    else:
        skipped["trade openness"] = missing_reason("trade")
    notes.append("The battery's evidence rows are the coefficients of the Philippine dyads, with "
                 "the fixed effects estimated on every dyad.")
    if "rta" in data.columns:
        phl = data[(data["origin"] == "PHL") | (data["destination"] == "PHL")]
        moving = phl.groupby("dyad")["rta"].nunique()
        changed = sorted(d.replace("PHL", "").strip("-") for d in moving[moving > 1].index)
        notes.append(f"{len(changed)} Philippine pairs change RTA status in the panel"
                     + (f" ({', '.join(changed)})" if changed else "")
                     + "; the RTA tests on Philippine dyads rest on them alone.")
    return {"name": "PHL", "title": "The Philippines", "tables": tables, "notes": notes,
            "skipped": skipped}
