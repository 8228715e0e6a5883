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
bracketing root finder converges in a few evaluations. Each side is searched from the
estimate (where t = 0 and the gap is -q) and the end of the unrestricted interval by secants
(:func:`invert`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

MAX_WIDENINGS = 12
# Outwards, a secant step goes at most this many times as far from the estimate as the last point.
MAX_REACH = 4.0
# |gap| below this share of the critical value is the plateau where the sample's statistic is it.
PLATEAU_RTOL = 1e-7
# Inside the bracket, this many evaluations running on one side of the end call for a bisection.
STALLED_RUN = 3
# An end is taken where the secant's root lies within this share of xtol of the last point.
CLOSE_SHARE = 0.25
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
        First distance tried on each side: the half-width of the unrestricted interval, a
        guess that is usually within a small fraction of a standard error of the end.
    xtol
        Absolute precision of each end: the root of the secant through the last two points when
        it lies within ``CLOSE_SHARE * xtol`` of the last one, else the middle of a bracket no
        wider than ``xtol`` (one point where the test does not reject, one where it does).
    max_evals
        Most evaluations of ``gap`` on each side.

    Returns
    -------
    lo, hi
        An end is infinite when the test does not reject within ``2 ** MAX_WIDENINGS`` times
        ``step`` of the estimate.

    Raises
    ------
    EvaluationBudget
        When a side needs more than ``max_evals`` evaluations.

    Notes
    -----
    The gap is close to linear in the null value (``|t|`` grows linearly away from the
    estimate, the critical value moves slowly), so each side is searched by secants through
    the last two points, starting from the estimate and the first guess: outwards until the
    test rejects (at most ``MAX_REACH`` times as far from the estimate as the last point), then
    inside the bracket. Where secant steps keep landing on one side of the end (the gap has a
    kink where two replications swap places) the bracket is bisected instead. A proposal
    within ``xtol / 2`` of an end of the bracket is moved to that distance, on the side of the
    root: when the secant is accurate this closes the bracket with one more evaluation. The
    search stops earlier where the secant of the last two points puts the end within
    ``CLOSE_SHARE * xtol`` of the last: the error of that linear interpolation is of the order
    of the gap's curvature times that distance. Each side usually needs two or three
    evaluations. Where the sample's own replications are the
    critical value the gap is flat at zero (:func:`rejection_gap`); such a plateau is crossed
    by strides doubling from ``xtol / 2`` and its end found from the points beyond it.
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

        ends.append(_end(counted, estimate, gap_at_estimate, estimate + sign * step, sign, xtol))
    return ends[0], ends[1]


def _secant(x0: float, f0: float, x1: float, f1: float) -> float | None:
    """The root of the line through two points, or None when it is flat."""
    if f1 == f0:
        return None
    return x1 - f1 * (x1 - x0) / (f1 - f0)


def _end(f: Callable[[float], float], estimate: float, f_estimate: float, first: float,
         sign: float, xtol: float) -> float:
    """Where ``f`` turns positive going from ``estimate`` (f <= 0) in the direction ``sign``."""
    limit = abs(first - estimate) * 2.0 ** MAX_WIDENINGS
    # The sample's own replications (v = 1, v = -1) tie its statistic at every null value: where
    # they are the critical value the gap is -TIE_RTOL |t|, a plateau that secants cannot cross.
    plateau = PLATEAU_RTOL * max(abs(f_estimate), 1.0)
    inner, f_inner = estimate, f_estimate  # farthest point known not to reject
    outer, f_outer = math.nan, math.nan  # nearest point known to reject, once one is
    beyond, f_beyond = math.nan, math.nan  # the nearest before it
    last, f_last = estimate, f_estimate
    x, stride, run, side = first, 0.0, 0, 0
    while True:
        fx = f(x)
        # How many evaluations running have landed on the same side of the end.
        run, side = (run + 1 if (fx > 0) == (side > 0) else 1), (1 if fx > 0 else -1)
        if fx <= 0:
            if sign * (x - inner) > 0:
                inner, f_inner = x, fx
        elif math.isnan(outer) or sign * (x - outer) < 0:
            beyond, f_beyond, outer, f_outer = outer, f_outer, x, fx
        prev, f_prev, last, f_last = last, f_last, x, fx
        root = _secant(prev, f_prev, last, f_last)
        if root is not None and abs(root - last) <= CLOSE_SHARE * xtol and \
                not -plateau <= f_last < 0:
            return root  # the secant puts the end within a small share of xtol of a point
        if math.isnan(outer):
            # Outwards: the secant's root, at least xtol / 2 beyond the last point that does not
            # reject and at most ``MAX_REACH`` times as far from the estimate; across a plateau,
            # strides from xtol / 2 doubling each time.
            if abs(inner - estimate) >= limit:
                return sign * math.inf
            far = estimate + MAX_REACH * (inner - estimate)
            if -plateau <= f_inner < 0:
                stride = max(2.0 * stride, 0.5 * xtol)
                x = inner + sign * min(stride, abs(far - inner))
            elif root is None or sign * (root - inner) < 0 or sign * (root - far) > 0:
                x = far  # the gap does not grow towards a root: widen
            else:
                x = inner + sign * max(sign * (root - inner), 0.5 * xtol)
            continue
        width = abs(outer - inner)
        if width <= xtol:
            return 0.5 * (inner + outer)
        lo, hi = min(inner, outer), max(inner, outer)
        if root is None or not lo <= root <= hi:
            root = _secant(inner, f_inner, outer, f_outer)
        if -plateau <= f_inner < 0:
            # Past a plateau the gap grows from zero at its end: the secant of the two nearest
            # points that reject, else bisection.
            root = None if math.isnan(beyond) else _secant(beyond, f_beyond, outer, f_outer)
        if root is None or not lo <= root <= hi or run >= STALLED_RUN:
            root = 0.5 * (lo + hi)
        # Kept xtol / 2 inside the bracket: when the secant is accurate the next point closes it.
        x = min(max(root, lo + 0.5 * xtol), hi - 0.5 * xtol)
