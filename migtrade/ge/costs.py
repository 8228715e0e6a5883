"""The estimate path: a structural gravity model estimated by PPML, turned into each pair's
trade costs before and after the change.

Notes
-----
With coefficients ``b`` on the regressors ``x`` (their values in the baseline year) and the
normalised pair costs ``gamma`` of :mod:`migtrade.ge.effects`, the baseline costs are
``t_ij^(1 - sigma) = exp(gamma_ij + x_ij b)`` and the counterfactual ones
``exp(gamma_ij + x'_ij b)``, ``x'`` being ``x`` after ``--change``. The partial effect of the
change on a pair is ``(x'_ij - x_ij) b``. A Monte Carlo draw replaces ``b`` and keeps ``gamma``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from migtrade.errors import DataError, UsageError
from migtrade.estimation.fit import Estimate, estimate
from migtrade.estimation.vcov import VcovSpec
from migtrade.ge.baseline import Baseline, Columns
from migtrade.ge.change import apply_changes, no_pair_touched, parse_changes
from migtrade.ge.effects import fill_pair_costs, pair_costs, recover_effects, term_columns
from migtrade.ge.options import PAIR_CLUSTER, GEOptions
from migtrade.spec.design import build_design
from migtrade.spec.formula import ModelSpec


@dataclass(frozen=True)
class CostModel:
    """Everything that maps coefficients to baseline and counterfactual trade costs.

    Arrays of pairs are in the baseline's row-major order (N * N).
    """

    terms: tuple[str, ...]
    params: np.ndarray
    cov: np.ndarray
    x_base: np.ndarray
    x_new: np.ndarray
    pair_cost: np.ndarray
    filled: np.ndarray
    touched: np.ndarray
    fit: Estimate
    fill: Estimate | None

    def log_costs(self, params: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Log costs ``(1 - sigma) log t`` before and after the change, for ``params``
        (the estimates when None)."""
        b = self.params if params is None else params
        return self.pair_cost + self.x_base @ b, self.pair_cost + self.x_new @ b

    def partial(self, params: np.ndarray | None = None) -> np.ndarray:
        """The change's partial effect on each pair's log trade."""
        b = self.params if params is None else params
        return (self.x_new - self.x_base) @ b


def build_cost_model(frame: pd.DataFrame, options: GEOptions, columns: Columns, baseline: Baseline,
                     data_info: dict[str, Any] | None = None) -> CostModel:
    """Estimate ``options.estimate`` and build the costs of the baseline year.

    Raises
    ------
    UsageError
        For an IV formula, a model without regressors, or ``--fill-pairs`` without pair effects.
    DataError
        For missing regressors in the baseline year, a change that touches no pair, or pair
        costs that cannot be filled.
    """
    assert options.estimate is not None and options.change is not None  # GEOptions checks this
    spec = ModelSpec.parse(options.estimate)
    if spec.is_iv:
        raise UsageError("the general equilibrium takes a PPML gravity model, not an IV one",
                         "Remove the '| endog ~ instruments' part of --estimate.")
    if not spec.terms:
        raise UsageError(f"the formula '{spec.formula}' has no regressor to change",
                         "Add the variable to change, e.g. trade ~ rta | exporter^year + importer^year + pair_id.")
    changes = parse_changes(options.change)
    vcov, data = _vcov(options.vcov, spec, frame, columns)
    fit = estimate(spec, data, model="ppml", vcov=vcov, where=options.where, data_info=data_info)
    res = fit.result

    regressor_columns = [c for t in spec.terms for c in t.columns()]
    changed_rows, touched = apply_changes(baseline.rows, changes, regressor_columns)
    x_base = _regressors(spec, baseline.rows, res.terms, baseline, "baseline")
    x_new = _regressors(spec, changed_rows, res.terms, baseline, "changed")
    partial = (x_new - x_base) @ res.params
    touched &= partial != 0
    if not touched.any():
        raise no_pair_touched(options.change, options.year)

    effects = recover_effects(spec, data, fit, columns, options.where)
    if effects.has("pair"):
        filled = fill_pair_costs(pair_costs(effects, baseline), baseline, options.fill_pairs,
                                 data_info)
        pair_cost, was_filled, fill = filled.log_cost, filled.filled, filled.fit
    else:
        if options.fill_pairs:
            raise UsageError("--fill-pairs fills pair effects, and the formula has none",
                             "Drop --fill-pairs, or add a pair fixed effect such as pair_id.")
        size = baseline.size * baseline.size
        pair_cost, was_filled, fill = np.zeros(size), np.zeros(size, dtype=bool), None
    return CostModel(terms=res.terms, params=np.asarray(res.params, dtype=float),
                     cov=np.asarray(res.cov, dtype=float), x_base=x_base, x_new=x_new,
                     pair_cost=pair_cost, filled=was_filled, touched=touched, fit=fit, fill=fill)


def _regressors(spec: ModelSpec, rows: pd.DataFrame, terms: tuple[str, ...], baseline: Baseline,
                which: str) -> np.ndarray:
    design = build_design(spec, rows)
    x = term_columns(design.names, design.X, terms)
    bad = ~np.all(np.isfinite(x), axis=1)
    if bad.any():
        cols = baseline.columns
        labels = (rows[cols.exporter].astype(str) + " -> " + rows[cols.importer].astype(str))[bad]
        raise DataError(
            f"{int(bad.sum())} pairs of {rows[cols.year].iloc[0]} have a missing or non-finite "
            f"regressor ({which} values), e.g. {', '.join(labels.iloc[:4])}",
            "Every pair of the baseline year needs the model's regressors; fill them or pick "
            "another --year.")
    return x


def _vcov(text: str, spec: ModelSpec, frame: pd.DataFrame, columns: Columns) -> tuple[VcovSpec, pd.DataFrame]:
    """The covariance spec; ``cluster:<pair>`` clusters by the formula's pair effect when it has
    one (a fixed effect without the year that is not a single country), else by the directed
    pair, added as a column ``exporter^importer``."""
    if text.strip() != PAIR_CLUSTER:
        return VcovSpec.parse(text), frame
    sides = {columns.exporter, columns.importer}
    for fe in spec.fixed_effects:
        names = set(fe.variables)
        if columns.year in names or names <= {columns.exporter} or names <= {columns.importer}:
            continue
        if len(fe.variables) == 1:
            return VcovSpec.parse(f"cluster:{fe.variables[0]}"), frame
        if names == sides:
            break
    name = f"{columns.exporter}^{columns.importer}"
    codes = pd.factorize(pd.MultiIndex.from_arrays([frame[columns.exporter], frame[columns.importer]]))[0]
    return VcovSpec.parse(f"cluster:{name}"), frame.assign(**{name: codes})
