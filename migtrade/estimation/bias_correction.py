"""Bias corrections of a PPML gravity fit: the request, its checks and the registry of methods.

:func:`check_request` refuses what no correction covers before anything is estimated (OLS, IV,
weights for the analytical one, standard errors not clustered on one dimension, fixed effects
without the gravity structure); :func:`correct` runs the method named in
:data:`BIAS_CORRECTIONS` on the fitted model and returns the corrected estimates, the covariance
to report and the ``bias_correction`` block of the result:

``{"method": ..., "structure": "three-way" | "two-way" | null, "terms": {term: {"uncorrected",
"uncorrected_std_error", "bias"}}, ...}`` where the reported estimate is ``uncorrected - bias``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from migtrade.errors import UsageError
from migtrade.estimation.bias_panel import PairPanel, not_the_pair, same_groups
from migtrade.estimation.bias_structure import (
    GravityKind,
    GravityStructure,
    country_variables,
    detect_structure,
)
from migtrade.estimation.vcov import VcovSpec
from migtrade.spec.formula import ModelSpec

# Estimates the same model on other rows of the data: (terms, estimates).
RefitRows = Callable[[pd.DataFrame], tuple[tuple[str, ...], np.ndarray]]


class BiasCorrection(StrEnum):
    """The bias corrections on offer."""

    analytical = "analytical"
    jackknife = "jackknife"


ANALYTICAL_METHOD = "weidner-zylkin-2021"
JACKKNIFE_METHOD = "split-panel-jackknife"


@dataclass(frozen=True)
class FittedModel:
    """What a correction needs from a converged PPML fit, on the estimation sample's rows.

    Attributes
    ----------
    rows
        The data the estimation sample was drawn from (for the country, period and pair
        columns): the sample's rows, or, with ``used``, those among more rows.
    cluster_codes
        The codes of the clustering dimensions on those rows.
    adjustment
        The small-sample factor of the covariance.
    refit
        Estimates the same model on a subset of ``rows`` (for the jackknife).
    """

    spec: ModelSpec
    vcov: VcovSpec
    terms: tuple[str, ...]
    params: np.ndarray
    cov: np.ndarray
    y: np.ndarray
    mu: np.ndarray
    x_tilde: np.ndarray
    bread: np.ndarray
    rows: pd.DataFrame
    fe_codes: tuple[np.ndarray, ...]
    cluster_codes: tuple[np.ndarray, ...]
    adjustment: float
    refit: RefitRows
    used: np.ndarray | None = None

    def column(self, name: str) -> pd.Series:
        """One column on the estimation sample's rows (only that column is copied)."""
        column = self.rows[name]
        return column if self.used is None else column[self.used]

    def sample(self) -> pd.DataFrame:
        """The estimation sample's rows, every column."""
        return self.rows if self.used is None else self.rows.iloc[np.flatnonzero(self.used)]


@dataclass(frozen=True)
class Corrected:
    """Corrected estimates, the covariance to report, the result's block and notes."""

    params: np.ndarray
    cov: np.ndarray
    record: dict[str, Any]
    notes: tuple[str, ...]


def parse_request(value: str | bool | BiasCorrection | None) -> BiasCorrection | None:
    """``"analytical"``, ``"jackknife"``, True (the analytical correction, the default one),
    False or None (no correction)."""
    if value is None or isinstance(value, BiasCorrection):
        return value
    if isinstance(value, bool):
        return BiasCorrection.analytical if value else None
    try:
        return BiasCorrection(str(value).strip().lower())
    except ValueError:
        raise UsageError(f"unknown bias correction '{value}'",
                         f"Use {' or '.join(m.value for m in BiasCorrection)} (or true for "
                         "analytical).") from None


def check_request(method: BiasCorrection, *, model: str, spec: ModelSpec, vcov: VcovSpec,
                  weights: str | None) -> None:
    """Refuse, before estimating, a request no correction covers.

    Raises
    ------
    UsageError
        For OLS, IV models, weights with the analytical correction, a covariance not clustered
        on one dimension (analytical), or fixed effects without the gravity structure.
    """
    if model != "ppml":
        raise UsageError(f"--bias-correction {method.value} is for PPML, not {model.upper()}",
                         "Estimate with --model ppml, or leave out --bias-correction.")
    if spec.is_iv:
        raise UsageError("--bias-correction does not cover instrumental-variables models",
                         "Estimate the model without instruments, or leave out --bias-correction.")
    if method is BiasCorrection.jackknife:
        country_variables(spec.fixed_effects)
        return
    structure = detect_structure(spec.fixed_effects)
    if weights is not None:
        raise UsageError("the Weidner-Zylkin correction is derived for unweighted PPML",
                         "Leave out --weights, or use --bias-correction jackknife.")
    pair = f"{structure.origin}^{structure.destination}"
    if vcov.kind != "cluster" or len(vcov.clusters) != 1:
        raise UsageError(
            "the Weidner-Zylkin variance correction is for standard errors clustered by pair, "
            f"not '{vcov.label()}'",
            f"Use --vcov cluster:{pair}.",
        )


def correct(method: BiasCorrection, fitted: FittedModel) -> Corrected:
    """Apply the correction named ``method`` to a fitted model."""
    return BIAS_CORRECTIONS[method](fitted)


def _terms(fitted: FittedModel, bias: np.ndarray) -> dict[str, dict[str, float]]:
    se = np.sqrt(np.clip(np.diag(fitted.cov), 0, None))
    return {t: {"uncorrected": float(b), "uncorrected_std_error": float(s), "bias": float(d)}
            for t, b, s, d in zip(fitted.terms, fitted.params, se, bias, strict=True)}


def _pair_panel(fitted: FittedModel, structure: GravityStructure) -> tuple[PairPanel, bool]:
    """The pairs x periods panel, and whether the clusters are the pairs by construction.

    Clustered by ``origin^destination`` (as the correction requires), the clusters' codes
    number the pairs already: the panel is built on them and only the period is factorised
    over all rows. Otherwise the pairs are numbered from the two country columns, and the
    caller checks that the clusters are those pairs.
    """
    names = [structure.origin, structure.destination, structure.time, *structure.fixed_effects[2:]]
    pair_codes = None
    if structure.pair_column is not None:
        pair_codes = fitted.fe_codes[_fe_index(fitted.spec, structure.fixed_effects[2])]
    if _cluster_pair(fitted.vcov) == {structure.origin, structure.destination}:
        pair = fitted.cluster_codes[0]
        if pair_codes is not None and not same_groups(pair, pair_codes):
            raise not_the_pair(names)
        rows = fitted.rows
        return PairPanel.of_pairs(pair, rows[structure.origin], rows[structure.destination],
                                  rows[structure.time], names, used=fitted.used), True
    origin, destination, time = (fitted.column(c) for c in names[:3])
    return PairPanel.build(origin, destination, time, names, pair_codes=pair_codes), False


def _cluster_pair(vcov: VcovSpec) -> frozenset[str] | None:
    """The two columns of a clustering on one combination ``a^b``, or None."""
    if len(vcov.clusters) != 1:
        return None
    parts = frozenset(c.strip() for c in vcov.clusters[0].split("^"))
    return parts if len(parts) == 2 else None


def _fe_index(spec: ModelSpec, name: str) -> int:
    return [fe.name for fe in spec.fixed_effects].index(name)


def _levels(fitted: FittedModel) -> dict[str, int]:
    """Distinct values of each fixed-effect column in the sample (which one is the period)."""
    columns = {v for fe in fitted.spec.fixed_effects for v in fe.variables}
    return {c: _count_levels(fitted.column(c)) for c in columns}


def _count_levels(column: pd.Series) -> int:
    """Distinct values of a column: categorical codes and integers of a narrow range by a table
    of the values present (one pass; hashing every row costs twice as much)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy().astype(np.intp) + 1  # -1 (missing) to 0, not counted
        return int(np.count_nonzero(np.bincount(codes)[1:]))
    values = column.to_numpy()
    if values.dtype.kind in "iu" and values.size:
        low, high = int(values.min()), int(values.max())
        if high - low <= 4 * values.size + 1024:
            return int(np.count_nonzero(np.bincount(values.astype(np.int64) - low)))
    return int(column.nunique())


def _analytical(fitted: FittedModel) -> Corrected:
    from migtrade.estimation.bias import weidner_zylkin

    structure = detect_structure(fitted.spec.fixed_effects, lambda: _levels(fitted),
                                 countries=_cluster_pair(fitted.vcov))
    panel, by_pair = _pair_panel(fitted, structure)
    if not by_pair and not same_groups(panel.pair, fitted.cluster_codes[0]):
        pair = f"{structure.origin}^{structure.destination}"
        raise UsageError(
            f"the Weidner-Zylkin variance correction is for standard errors clustered by pair "
            f"({pair}); the clusters of '{fitted.vcov.clusters[0]}' are not the pairs",
            f"Use --vcov cluster:{pair}.",
        )
    wz = weidner_zylkin(structure.kind, panel, fitted.y, fitted.mu, fitted.x_tilde,
                        fitted.bread, fitted.adjustment)
    record = {
        "method": ANALYTICAL_METHOD,
        "structure": structure.kind.value,
        "fixed_effects": list(structure.fixed_effects),
        "variance": wz.variance_method,
        "sizes": {structure.origin: panel.n_origins, structure.destination: panel.n_destinations,
                  structure.time: panel.n_periods, "pairs": panel.n_pairs},
        "terms": _terms(fitted, wz.bias),
    }
    what = ("estimates corrected for their incidental-parameter bias and standard errors "
            if structure.kind is GravityKind.three_way else
            "estimates unchanged (no bias of this order in the two-way model), standard errors ")
    note = (f"bias correction: Weidner-Zylkin (2021), {structure.describe()}; {what}"
            f"adjusted for the leverage of the fixed effects ({wz.variance_method})")
    return Corrected(params=fitted.params - wz.bias, cov=wz.cov, record=record, notes=(note,))


def _jackknife(fitted: FittedModel) -> Corrected:
    from migtrade.estimation.jackknife_bias import split_panel_jackknife

    levels = _levels(fitted)
    origin, destination, _ = country_variables(fitted.spec.fixed_effects, levels)
    rows = fitted.sample()
    jk = split_panel_jackknife(fitted.terms, fitted.params, rows[origin], rows[destination],
                               lambda mask: fitted.refit(rows.iloc[np.flatnonzero(mask)]))
    try:
        structure: str | None = detect_structure(fitted.spec.fixed_effects, levels).kind.value
    except UsageError:
        structure = None
    terms = _terms(fitted, jk.bias)
    for k, t in enumerate(fitted.terms):
        terms[t]["subpanels"] = [float(v) for v in jk.subpanels[:, k]]  # type: ignore[assignment]
    record = {
        "method": JACKKNIFE_METHOD,
        "structure": structure,
        "split": {"countries": [origin, destination],
                  "halves": "alternate positions of the sorted codes"},
        "terms": terms,
    }
    note = (f"bias correction: split-panel jackknife over halves of {origin} and of {destination} "
            "(2 x full-sample estimate - mean of the four sub-panel estimates); standard errors "
            "not corrected")
    return Corrected(params=jk.params, cov=fitted.cov, record=record, notes=(note,))


BIAS_CORRECTIONS: dict[BiasCorrection, Callable[[FittedModel], Corrected]] = {
    BiasCorrection.analytical: _analytical,
    BiasCorrection.jackknife: _jackknife,
}
