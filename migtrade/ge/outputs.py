"""From a solved equilibrium to the numbers of the ``migtrade.ge/1`` document.

Notes
-----
Percent changes are ``(counterfactual - baseline) / baseline x 100``. Per country i, with
baseline flows X and counterfactual flows X' (conditional: X^c):

* exports: international sales ``sum_{j != i} X_ij``, conditional and full endowment;
* imports: ``sum_{j != i} X_ji``; domestic sales ``X_ii``;
* factory-gate price ``w_i``; inward and outward multilateral resistances P and Pi (the indices
  themselves, not their powers ``1 - sigma``);
* real GDP ``Y_i / P_i``: ``w_i / Phat_i``; ``welfare_ratio`` is ``ge_gravity``'s welfare, new
  over old: real expenditure ``(E'_i / E_i) / Phat_i`` with additive imbalances, the real wage
  ``w_i / Phat_i`` with multiplicative ones;
* terms of trade: the factory-gate price over the price of imports, a CES index of the
  partners' factory-gate prices with baseline import shares m_ji:
  ``ToT_i = w_i / (sum_{j != i} m_ji w_j^(-theta))^(-1 / theta)`` (trade-cost changes left
  out, so that it measures prices, not market access).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from migtrade.ge.solve import Equilibrium, Problem


def percent(new: np.ndarray, old: np.ndarray) -> np.ndarray:
    """``(new - old) / old x 100``, NaN where the baseline is zero."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(old != 0, (new - old) / np.where(old != 0, old, 1.0) * 100.0, np.nan)


def international(flows: np.ndarray, axis: int) -> np.ndarray:
    """Row (axis 1: exports) or column (axis 0: imports) sums without the diagonal."""
    return flows.sum(axis=axis) - np.diag(flows)


def welfare_ratio(problem: Problem, eq: Equilibrium) -> np.ndarray:
    """``ge_gravity``'s welfare, new over old (see module notes)."""
    if problem.imbalances == "multiplicative":
        return eq.price / eq.imr
    return (eq.expenditure / problem.expenditure) / eq.imr


def terms_of_trade(problem: Problem, eq: Equilibrium) -> np.ndarray:
    """Change (new over old) of the factory-gate price over the CES price of imports."""
    imports = problem.flows.copy()
    np.fill_diagonal(imports, 0.0)
    total = imports.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = imports / total[None, :]
        index = (shares.T @ eq.price ** (-problem.theta)) ** (-1.0 / problem.theta)
        return np.where(total > 0, eq.price / index, np.nan)


# The numeric country fields, each a function of (problem, equilibrium).
COUNTRY_MEASURES = {
    "exports_conditional_pct": lambda p, e: percent(international(e.conditional, 1), international(p.flows, 1)),
    "exports_full_pct": lambda p, e: percent(international(e.flows, 1), international(p.flows, 1)),
    "imports_full_pct": lambda p, e: percent(international(e.flows, 0), international(p.flows, 0)),
    "domestic_full_pct": lambda p, e: percent(np.diag(e.flows), np.diag(p.flows)),
    "factory_gate_price_pct": lambda p, e: (e.price - 1.0) * 100.0,
    "imr_pct": lambda p, e: (e.imr - 1.0) * 100.0,
    "omr_pct": lambda p, e: (e.omr - 1.0) * 100.0,
    "real_gdp_pct": lambda p, e: (e.price / e.imr - 1.0) * 100.0,
    "welfare_ratio": welfare_ratio,
    "terms_of_trade_pct": lambda p, e: (terms_of_trade(p, e) - 1.0) * 100.0,
}


def measures(problem: Problem, eq: Equilibrium) -> np.ndarray:
    """Every numeric country field that changes with the solution: (N, fields) in the order of
    :data:`COUNTRY_MEASURES`."""
    return np.column_stack([f(problem, eq) for f in COUNTRY_MEASURES.values()])


def country_rows(countries: tuple[str, ...], problem: Problem, eq: Equilibrium,
                 changed: np.ndarray) -> dict[str, dict[str, Any]]:
    """The ``countries`` block: each country's fields, baseline output and expenditure, and
    whether it is in a pair the scenario changes."""
    values = measures(problem, eq)
    out: dict[str, dict[str, Any]] = {}
    for k, iso in enumerate(countries):
        row: dict[str, Any] = {name: float(values[k, j]) for j, name in enumerate(COUNTRY_MEASURES)}
        row["output_baseline"] = float(problem.output[k])
        row["expenditure_baseline"] = float(problem.expenditure[k])
        row["changed"] = bool(changed[k])
        out[iso] = row
    return out


def pair_rows(countries: tuple[str, ...], problem: Problem, eq: Equilibrium) -> list[dict[str, Any]]:
    """The ``pairs`` block, exporter by exporter."""
    partial = np.log(problem.change)
    n = len(countries)
    return [
        {"exporter": countries[i], "importer": countries[j],
         "trade_baseline": float(problem.flows[i, j]), "trade_conditional": float(eq.conditional[i, j]),
         "trade_full": float(eq.flows[i, j]), "partial_effect": float(partial[i, j])}
        for i in range(n) for j in range(n)
    ]


def changed_countries(change: np.ndarray) -> np.ndarray:
    """Countries in at least one pair whose costs change (off the diagonal or on it)."""
    moved = change != 1.0
    return moved.any(axis=1) | moved.any(axis=0)
