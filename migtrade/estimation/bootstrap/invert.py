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
reject; its ends are the roots of ``|t(beta0)| - q(beta0)``. For fixed draws every t*_b is a
continuous function of beta0, so that gap is continuous (unlike p, a step function) and a
bracketing root finder (Brent) converges in a few evaluations. Each side is bracketed from the
estimate (where t = 0 and the gap is -q) outwards, doubling the step until the test rejects.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy.optimize import brentq

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


class EvaluationBudget(Exception):
    """Raised inside the root search when it has used up its evaluations."""


def invert(gap: Callable[[float], float], estimate: float, step: float, *, xtol: float,
           max_evals: int) -> tuple[float, float]:
    """The interval ``{beta0 : gap(beta0) < 0}`` around ``estimate``.

    Parameters
    ----------
    gap
        ``|t(beta0)| - q(beta0)``; negative at ``estimate``.
    estimate
        The point estimate, inside the interval.
    step
        First distance tried on each side (a guess of the half-width).
    xtol
        Absolute precision of each end.
    max_evals
        Most evaluations of ``gap`` on each side.

    Raises
    ------
    EvaluationBudget
        When a side needs more than ``max_evals`` evaluations; (-inf or inf) when the test
        never rejects within ``MAX_WIDENINGS`` doublings is returned as an infinite end.
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

        inner, dist = estimate, step
        outer = estimate + sign * dist
        value = counted(outer)
        widen = 0
        while value < 0:
            widen += 1
            if widen > MAX_WIDENINGS:
                break
            inner, dist = outer, dist * 2.0
            outer = estimate + sign * dist
            value = counted(outer)
        if value < 0:
            ends.append(sign * math.inf)
            continue
        lo, hi = sorted((inner, outer))
        ends.append(float(brentq(counted, lo, hi, xtol=xtol, maxiter=max_evals)))
    return ends[0], ends[1]
