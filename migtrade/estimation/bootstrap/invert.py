"""Bootstrap p-values, critical values and confidence intervals by test inversion.

Notes
-----
With t the statistic for H0: beta = beta0 and t*_1..t*_B its bootstrap replications (made with
the null imposed, so they depend on beta0), the symmetric two-sided p-value is

    p(beta0) = #{b : |t*_b| >= |t|} / B.

Ties count as at least as extreme: under full enumeration with the null imposed the two sign
vectors v = 1 and v = -1 reproduce the sample's |t| exactly, so the smallest p-value is 2 / 2^G
(as in boottest and wildboottest); a relative tolerance of ``TIE_RTOL`` keeps rounding from
deciding a tie. The test rejects at level alpha when p <= alpha, that is when |t| > q(beta0), the
(B - floor(alpha B))-th smallest |t*_b|. The confidence set is the set of beta0 the test does not
reject; its ends are where ``|t(beta0)| - q(beta0)`` (:func:`rejection_gap`) turns positive. For fixed draws every t*_b is a
continuous function of beta0, so that gap is continuous (unlike p, a step function) and a
bracketing root finder converges in a few evaluations. Each side is bracketed from the
estimate (where t = 0 and the gap is -q) outwards, doubling the step until the test rejects.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

MAX_WIDENINGS = 12
TIE_RTOL = 1e-9


def p_value(t_obs: float, tstar: np.ndarray) -> float:
    """Share of replications at least as extreme: ``mean(|t*| >= |t|)``, ties within ``TIE_RTOL``."""
    bound = abs(t_obs) * (1.0 - TIE_RTOL)
    return float(np.mean(np.abs(tstar) >= bound))


def critical_value(tstar: np.ndarray, alpha: float) -> float:
    """The smallest |t| a test at level ``alpha`` rejects: the (B - floor(alpha B))-th |t*|."""
    b = tstar.size
    k = b - math.floor(alpha * b + 1e-9) - 1
    return float(np.partition(np.abs(tstar), k)[k])


def rejection_gap(t_obs: float, tstar: np.ndarray, alpha: float) -> float:
    """Positive exactly when the test rejects at ``alpha`` (p <= alpha under the tie rule of
    :func:`p_value`): ``|t| (1 - TIE_RTOL) - q``. Replications that reproduce the sample's
    statistic for every null value (v = 1 and v = -1 under the null imposed; random draws pick
    them often when clusters are few) then count as ties, not as a crossing, so the gap is not
    zero along a whole stretch of null values."""
    return abs(t_obs) * (1.0 - TIE_RTOL) - critical_value(tstar, alpha)


class EvaluationBudget(Exception):
    """Raised inside the root search when it has used up its evaluations."""


def invert(gap: Callable[[float], float], estimate: float, gap_at_estimate: float, step: float,
           *, xtol: float, max_evals: int) -> tuple[float, float]:
    """The interval ``{beta0 : gap(beta0) <= 0}`` around ``estimate``.

    Parameters
    ----------
    gap
        :func:`rejection_gap` as a function of the null value.
    estimate, gap_at_estimate
        The point estimate, inside the interval, and the gap there (known without evaluating:
        the statistic is 0 and the replications are those of the fit itself).
    step
        First distance tried on each side (a guess of the half-width).
    xtol
        Absolute precision of each end.
    max_evals
        Most evaluations of ``gap`` on each side.

    Returns
    -------
    lo, hi
        An end is infinite when the test does not reject within ``MAX_WIDENINGS`` doublings.

    Raises
    ------
    EvaluationBudget
        When a side needs more than ``max_evals`` evaluations.

    Notes
    -----
    Each side is bracketed by doubling the step, then narrowed by false position with the
    Illinois modification (superlinear where the gap is smooth) and a bisection whenever a step
    fails to halve the bracket (the gap jumps where two replications swap places).
    """
    ends = []
    for sign in (-1.0, 1.0):
        used = 0

        def counted(x: float) -> float:
            nonlocal used
            used += 1
            if used > max_evals:
                raise EvaluationBudget
            return gap(x)

        inner, f_inner, dist = estimate, gap_at_estimate, step
        outer = estimate + sign * dist
        f_outer = counted(outer)
        widen = 0
        while f_outer <= 0:
            widen += 1
            if widen > MAX_WIDENINGS:
                break
            inner, f_inner, dist = outer, f_outer, dist * 2.0
            outer = estimate + sign * dist
            f_outer = counted(outer)
        if f_outer <= 0:
            ends.append(sign * math.inf)
            continue
        ends.append(_boundary(counted, inner, f_inner, outer, f_outer, xtol))
    return ends[0], ends[1]


def _boundary(f: Callable[[float], float], inner: float, f_inner: float, outer: float,
              f_outer: float, xtol: float) -> float:
    """Where ``f`` turns positive between ``inner`` (f <= 0) and ``outer`` (f > 0)."""
    last_width = abs(outer - inner)
    kept = 0  # +1 when the inner end moved twice running, -1 for the outer end
    while abs(outer - inner) > xtol:
        width = abs(outer - inner)
        x = inner + (outer - inner) * f_inner / (f_inner - f_outer)
        # Bisect when the last step did not halve the bracket, or when false position would
        # land next to an end (at a jump of the gap it would creep towards the jump).
        margin = 0.01 * width
        if width > 0.5 * last_width or not min(inner, outer) + margin < x < max(inner, outer) - margin:
            x = 0.5 * (inner + outer)
        last_width = width
        fx = f(x)
        if fx <= 0:
            inner, f_inner = x, fx
            if kept == 1:
                f_outer *= 0.5
            kept = 1
        else:
            outer, f_outer = x, fx
            if kept == -1:
                f_inner *= 0.5
            kept = -1
    return 0.5 * (inner + outer)
