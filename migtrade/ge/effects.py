"""Pair trade costs from an estimated gravity model: recovering the pair fixed effects, putting
them on a common footing, and filling the pairs the data cannot identify.

Notes
-----
The engine absorbs fixed effects without estimating them. Here the model is fitted once more
with the coefficients held at their estimates (an offset) and the fixed effects left free, whose
optimum is the joint one; the log fitted means minus ``X b`` are then exactly a sum of the fixed
effects, solved for by sparse least squares (``lsqr``; the residual is checked).

Each fixed effect is classified on the estimation sample as exporter-side (constant within
exporter and year), importer-side (within importer and year) or pair (within the directed pair).
The first two are absorbed by the counterfactual's own exporter and importer effects; the sum
of the pair effects is the pair's time-invariant log trade cost ``gamma_ij``. It is identified
only up to ``f(i) + g(j)``, which the general equilibrium does not see; costs are put on the
footing of Yotov et al. (2016), whose domestic pairs share one omitted effect, by
``gamma_ij - (gamma_ii + gamma_jj) / 2`` (domestic costs 0; with a symmetric pair effect such
as ``pair_id`` this is exactly the book's normalisation).

Pairs without an estimated pair effect (no trade in the whole estimation sample, so separated)
are filled as the book does: a PPML in the baseline year of ``exp(gamma_ij)`` on the terms of
``--fill-pairs`` with exporter and importer effects, on the international pairs that have one;
its prediction replaces the missing costs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.linalg import lsqr

from migtrade.errors import DataError, EstimationError, UsageError
from migtrade.estimation.absorb import Absorber
from migtrade.estimation.fit import Estimate, estimate
from migtrade.estimation.ppml import fit_ppml
from migtrade.estimation.vcov import VcovSpec
from migtrade.ge.baseline import Baseline, Columns
from migtrade.spec.design import build_design
from migtrade.spec.expr import quote_name
from migtrade.spec.formula import ModelSpec
from migtrade.spec.where import where_mask

# The refit only moves the fixed effects; at this tolerance they match the joint fit to far
# below what the counterfactual can show.
REFIT_TOL = 1e-12
# The fixed effects must reproduce the log means to this (relative to their size).
EXACT_RTOL = 1e-8
FILL_COLUMN = "__pair_cost__"
Side = str  # "exporter", "importer" or "pair"


@dataclass(frozen=True)
class EffectValues:
    """The fixed effects of a PPML fit on its estimation sample.

    ``rows`` are the used rows; ``values[k]`` is dimension k's effect on each of them and
    ``sides[k]`` its classification.
    """

    rows: pd.DataFrame
    values: tuple[np.ndarray, ...]
    names: tuple[str, ...]
    sides: tuple[Side, ...]

    def total(self, side: Side) -> np.ndarray:
        """The sum of the effects of one side on each used row."""
        out = np.zeros(len(self.rows))
        for v, s in zip(self.values, self.sides, strict=True):
            if s == side:
                out += v
        return out

    def has(self, side: Side) -> bool:
        """Whether any fixed effect is on this side."""
        return side in self.sides


def term_columns(design_names: tuple[str, ...], X: np.ndarray, terms: tuple[str, ...]) -> np.ndarray:
    """The columns of ``X`` for the estimated ``terms``; a term absent from the design (a level
    dummy of another year) is a column of zeros."""
    index = {name: j for j, name in enumerate(design_names)}
    out = np.zeros((X.shape[0], len(terms)))
    for k, term in enumerate(terms):
        if term in index:
            out[:, k] = X[:, index[term]]
    return out


def recover_effects(spec: ModelSpec, frame: pd.DataFrame, fit: Estimate, columns: Columns,
                    where: str | None) -> EffectValues:
    """The fixed effects of ``fit`` (a PPML of ``spec`` on ``frame`` filtered by ``where``).

    Raises
    ------
    UsageError
        When a fixed effect is neither exporter-side, importer-side nor a pair effect.
    EstimationError
        When the recovered effects do not reproduce the fitted means.
    """
    kept = where_mask(frame, where) if where else np.ones(len(frame), dtype=bool)
    sub = frame[kept]
    used = fit.sample.used[kept]
    codes = list(fit.sample.fe_codes)
    if not codes:
        return EffectValues(rows=sub[used].reset_index(drop=True), values=(), names=(), sides=())
    design = build_design(spec, sub)
    res = fit.result
    X = term_columns(design.names, design.X[used], res.terms)
    xb = X @ res.params
    y = design.y[used]
    refit = fit_ppml(y, np.empty((y.shape[0], 0), order="F"), (), Absorber(codes), np.ones(y.shape[0]),
                     offset=xb, fe_codes=codes, tol=REFIT_TOL, fe_tol=REFIT_TOL)
    target = refit.eta - xb
    sizes = [int(c.max()) + 1 for c in codes]
    starts = np.concatenate([[0], np.cumsum(sizes)])
    n = target.shape[0]
    dummies = sp.csr_matrix(
        (np.ones(n * len(codes)),
         (np.repeat(np.arange(n), len(codes)),
          np.column_stack([c + s for c, s in zip(codes, starts[:-1], strict=True)]).ravel())),
        shape=(n, int(starts[-1])))
    solution = lsqr(dummies, target, atol=1e-15, btol=1e-15, iter_lim=100_000)[0]
    gap = float(np.max(np.abs(dummies @ solution - target)))
    if gap > EXACT_RTOL * max(1.0, float(np.max(np.abs(target)))):
        raise EstimationError(
            f"the fixed effects of '{spec.formula}' could not be recovered (largest error {gap:.3g})",
            "Check the fixed effects of the formula; the general equilibrium needs exporter-year, "
            "importer-year and pair effects.")
    values = tuple(solution[s + c] for s, c in zip(starts[:-1], codes, strict=True))
    rows = sub[used].reset_index(drop=True)
    sides = tuple(_side(rows, c, name, columns) for c, name in zip(codes, design.fe_names, strict=True))
    return EffectValues(rows=rows, values=values, names=design.fe_names, sides=sides)


def _side(rows: pd.DataFrame, codes: np.ndarray, name: str, columns: Columns) -> Side:
    exp = pd.factorize(rows[columns.exporter])[0]
    imp = pd.factorize(rows[columns.importer])[0]
    year = pd.factorize(rows[columns.year])[0] if columns.year in rows.columns else np.zeros_like(exp)
    for side, (a, b) in (("exporter", (exp, year)), ("importer", (imp, year)), ("pair", (exp, imp))):
        if _constant_within(codes, a, b):
            return side
    raise UsageError(
        f"the fixed effect '{name}' is neither an exporter(-year), an importer(-year) nor a pair "
        "effect, so its part of trade costs cannot be carried to the counterfactual",
        "Use fixed effects such as exporter^year + importer^year + pair_id.")


def _constant_within(codes: np.ndarray, a: np.ndarray, b: np.ndarray) -> bool:
    """Whether ``codes`` takes one value within each group of (a, b)."""
    group = a.astype(np.int64) * (int(b.max()) + 1) + b
    width = int(codes.max()) + 1
    combos = np.unique(group * width + codes)
    return bool(np.unique(combos // width).size == combos.size)


def pair_costs(effects: EffectValues, baseline: Baseline) -> np.ndarray:
    """Each baseline pair's log pair cost on the domestic-zero footing, NaN where unidentified.

    Raises
    ------
    DataError
        When a country's domestic pair has no estimated effect.
    """
    cols = baseline.columns
    per_row = pd.DataFrame({"e": effects.rows[cols.exporter].astype(str).to_numpy(),
                            "i": effects.rows[cols.importer].astype(str).to_numpy(),
                            "v": effects.total("pair")})
    per_pair = per_row.groupby(["e", "i"], sort=False)["v"].first()
    keys = pd.MultiIndex.from_arrays([baseline.rows[cols.exporter].astype(str),
                                      baseline.rows[cols.importer].astype(str)])
    gamma = baseline.matrix(per_pair.reindex(keys).to_numpy(dtype=float))
    home = np.diag(gamma)
    lacking = [baseline.countries[k] for k in np.flatnonzero(np.isnan(home))]
    if lacking:
        raise DataError(
            f"the domestic pair effect of {', '.join(lacking[:5])} is not estimated",
            "Include domestic flows (exporter == importer) with positive trade in the estimation "
            "sample.")
    return (gamma - 0.5 * (home[:, None] + home[None, :])).ravel()


@dataclass(frozen=True)
class Filled:
    """Pair costs with the gaps filled, and the regression that filled them."""

    log_cost: np.ndarray
    filled: np.ndarray
    fit: Estimate | None


def fill_pair_costs(log_cost: np.ndarray, baseline: Baseline, terms: str | None,
                    data_info: dict | None = None) -> Filled:
    """Fill the missing pair costs by the PPML of ``exp(cost)`` on ``terms`` (see module notes).

    Raises
    ------
    DataError
        When costs are missing and no ``terms`` are given, or a country has no estimated cost
        with any partner to anchor its effects.
    """
    missing = np.isnan(log_cost)
    if not missing.any():
        return Filled(log_cost=log_cost, filled=missing, fit=None)
    cols = baseline.columns
    labels = (baseline.rows[cols.exporter].astype(str) + " -> "
              + baseline.rows[cols.importer].astype(str))[missing]
    if not terms:
        raise DataError(
            f"{int(missing.sum())} pairs have no estimated pair effect (no trade in the whole "
            f"estimation sample), e.g. {', '.join(labels.iloc[:4])}",
            "Fill their trade costs from gravity terms with --fill-pairs, e.g. "
            "--fill-pairs \"log(dist) + cntg + lang + clny\".")
    frame = baseline.rows.copy()
    frame[FILL_COLUMN] = np.exp(log_cost)
    exp_q, imp_q = quote_name(cols.exporter), quote_name(cols.importer)
    spec = ModelSpec.parse(f"{FILL_COLUMN} ~ {terms} | {exp_q} + {imp_q}")
    if spec.is_iv or not spec.terms:
        raise UsageError(f"--fill-pairs '{terms}' must be regressor terms such as log(dist) + cntg",
                         "Give the terms only, without '~' or '|'.")
    where = f"{exp_q} != {imp_q}"
    fit = estimate(spec, frame, model="ppml", vcov=VcovSpec.parse("robust"), where=where,
                   data_info=data_info)
    effects = recover_effects(spec, frame, fit, cols, where)
    side_value = {}
    for side, column in (("exporter", cols.exporter), ("importer", cols.importer)):
        per_row = pd.Series(effects.total(side), index=effects.rows[column].astype(str).to_numpy())
        side_value[side] = per_row.groupby(level=0).first()
    holes = frame[missing]
    design = build_design(spec, holes)
    z = term_columns(design.names, design.X, fit.result.terms)
    a = holes[cols.exporter].astype(str).map(side_value["exporter"]).to_numpy(dtype=float)
    b = holes[cols.importer].astype(str).map(side_value["importer"]).to_numpy(dtype=float)
    predicted = a + b + z @ fit.result.params
    if not np.all(np.isfinite(predicted)):
        bad = labels[~np.isfinite(predicted)]
        raise DataError(
            f"the trade costs of {', '.join(bad.iloc[:4])} cannot be filled: a country has no "
            "estimated pair cost with any partner, or a --fill-pairs term is missing there",
            "Check the --fill-pairs terms for missing values, or drop those countries.")
    out = log_cost.copy()
    out[missing] = predicted
    return Filled(log_cost=out, filled=missing, fit=fit)
