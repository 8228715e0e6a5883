"""Combinations of estimated coefficients and their standard errors (delta method).

A long-run effect is the sum of distributed-lag coefficients; a total network effect is the sum
of the elasticities in both directions. Their standard errors come from the coefficients'
covariance matrix, so the correlation between the pieces counts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from migtrade.errors import EstimationError
from migtrade.results.distributions import normal_cdf, normal_quantile, t_cdf, t_quantile
from migtrade.results.result import EstimationResult


@dataclass(frozen=True)
class Combination:
    """A function of coefficients with its inference.

    Attributes
    ----------
    label
        What it is, e.g. ``rta + rta_lag1 + rta_lag2``.
    terms
        The coefficients it uses.
    estimate, std_error, statistic, p_value, ci_low, ci_high
        As for a coefficient, under the result's distribution (t with its degrees of freedom,
        or normal) and confidence level.
    """

    label: str
    terms: tuple[str, ...]
    estimate: float
    std_error: float
    statistic: float
    p_value: float
    ci_low: float
    ci_high: float

    def to_dict(self) -> dict[str, object]:
        """JSON-ready fields (non-finite numbers become None)."""
        out: dict[str, object] = {"label": self.label, "terms": list(self.terms)}
        for key in ("estimate", "std_error", "statistic", "p_value", "ci_low", "ci_high"):
            value = float(getattr(self, key))
            out[key] = value if np.isfinite(value) else None
        return out


def _positions(result: EstimationResult, terms: Sequence[str]) -> list[int]:
    absent = [t for t in terms if t not in result.terms]
    if absent:
        omitted = dict(result.omitted)
        why = "; ".join(f"{t}: {omitted.get(t, 'not in the model')}" for t in absent)
        raise EstimationError(f"cannot combine coefficients that were not estimated ({why})",
                              "Combine only terms listed in the result.")
    return [result.terms.index(t) for t in terms]


def _inference(result: EstimationResult, label: str, terms: tuple[str, ...], value: float,
               variance: float, level: float | None) -> Combination:
    se = float(np.sqrt(variance)) if variance > 0 else 0.0
    stat = value / se if se > 0 else float("nan")
    df = float(result.vcov.df) if result.vcov.distribution == "t" and result.vcov.df else None
    z = -abs(stat)
    p = 2.0 * (t_cdf(z, df) if df else normal_cdf(z))
    lvl = result.conf_level if level is None else level
    q = t_quantile(0.5 + lvl / 2, df) if df else normal_quantile(0.5 + lvl / 2)
    return Combination(label, terms, float(value), se, float(stat), p, value - q * se,
                       value + q * se)


def lincom(result: EstimationResult, weights: Mapping[str, float] | Sequence[str], *,
           label: str | None = None, level: float | None = None) -> Combination:
    """A linear combination ``w'b`` of coefficients with standard error ``sqrt(w'Vw)``.

    Parameters
    ----------
    result
        An estimation result.
    weights
        ``{term: weight}``, or a list of terms to add up (each with weight one).
    label
        Name of the combination; by default the terms joined by ``+``.
    level
        Confidence level of the interval (default: the result's).

    Returns
    -------
    Combination

    Raises
    ------
    EstimationError
        If a term was not estimated (absorbed, collinear or not in the model).

    Notes
    -----
    For a linear function the delta method is exact: with ``V`` the coefficients' covariance,
    ``Var(w'b) = w'Vw``. The p-value and interval use the same distribution as the result's own
    coefficients (t with the result's degrees of freedom for OLS, normal for PPML).
    """
    w = dict.fromkeys(weights, 1.0) if not isinstance(weights, Mapping) else dict(weights)
    terms = tuple(w)
    idx = _positions(result, terms)
    vec = np.array([w[t] for t in terms], dtype=float)
    value = float(vec @ result.params[idx])
    variance = float(vec @ result.cov[np.ix_(idx, idx)] @ vec)
    name = label or " + ".join(terms if all(v == 1.0 for v in vec)
                               else (f"{v:g}*{t}" for t, v in zip(terms, vec, strict=True)))
    return _inference(result, name, terms, value, variance, level)


def delta_method(result: EstimationResult, func: Callable[[np.ndarray], float],
                 terms: Sequence[str], *, label: str, level: float | None = None,
                 step: float = 1e-6) -> Combination:
    """A smooth function of coefficients with its delta-method standard error.

    Parameters
    ----------
    result
        An estimation result.
    func
        Maps the coefficients of ``terms`` (in that order) to a number, e.g.
        ``lambda b: np.exp(b.sum()) - 1`` for a long-run effect in proportions.
    terms
        The coefficients ``func`` reads.
    label
        Name of the quantity.
    level
        Confidence level of the interval (default: the result's).
    step
        Relative step of the central-difference gradient.

    Returns
    -------
    Combination

    Notes
    -----
    ``Var(f(b)) ~ g'Vg`` with ``g`` the gradient of ``f`` at the estimate, here by central
    differences with a step of ``step * max(1, |b_k|)``.
    """
    names = tuple(terms)
    idx = _positions(result, names)
    b = result.params[idx].astype(float)
    grad = np.empty(b.size)
    for k in range(b.size):
        h = step * max(1.0, abs(b[k]))
        up, down = b.copy(), b.copy()
        up[k] += h
        down[k] -= h
        grad[k] = (func(up) - func(down)) / (2 * h)
    variance = float(grad @ result.cov[np.ix_(idx, idx)] @ grad)
    return _inference(result, label, names, float(func(b)), variance, level)
