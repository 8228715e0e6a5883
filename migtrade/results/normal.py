"""The standard normal distribution function and its inverse, to full double precision.

The arithmetic behind :mod:`migtrade.results.distributions` (which documents the methods):
Dekker's exact products, erfc with the rounding of its argument corrected, and Halley's steps
from a rational start for the quantile. :mod:`migtrade.results.student_t` builds on these.
"""

from __future__ import annotations

import math

EPS = 2.220446049250313e-16
# 1/sqrt(2) as the sum of a double and the double nearest the rest.
_SQRT1_2_HI = 0.7071067811865476
_SQRT1_2_LO = -4.833646656726457e-17
_SQRT_PI = math.sqrt(math.pi)
_LN_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
# Veltkamp's constant 2**27 + 1: splits a double into two halves whose products are exact.
_SPLITTER = 134217729.0


def _split(x: float) -> tuple[float, float]:
    t = _SPLITTER * x
    high = t - (t - x)
    return high, x - high


def two_product(x: float, c: float) -> tuple[float, float]:
    """x c as hi + lo exactly (Dekker), for |x c| well inside the range of doubles."""
    hi = x * c
    if not math.isfinite(hi) or abs(x) > 1e300 or abs(c) > 1e300:
        return hi, 0.0
    x_hi, x_lo = _split(x)
    c_hi, c_lo = _split(c)
    return hi, ((x_hi * c_hi - hi) + x_hi * c_lo + x_lo * c_hi) + x_lo * c_lo


def _times_sqrt1_2(x: float) -> tuple[float, float]:
    """x / sqrt(2) as hi + lo with |lo| <= ulp(hi)."""
    hi, lo = two_product(x, _SQRT1_2_HI)
    return hi, lo + x * _SQRT1_2_LO


def erfc_corrected(z: float, z_lo: float) -> float:
    """erfc(z + z_lo) for a small z_lo: erfc(z) (1 - g z_lo), g = 2 exp(-z^2) / (sqrt(pi) erfc(z))."""
    value = math.erfc(z)
    if value > 0.0 and z_lo != 0.0:
        value *= 1.0 - 2.0 / _SQRT_PI * math.exp(-z * z) / value * z_lo
    return value


def cdf(x: float) -> float:
    if math.isnan(x):
        return math.nan
    z, z_lo = _times_sqrt1_2(-x)
    # the rounding of -x/sqrt(2) alone would cost a relative 2 z^2 eps (1.5e-13 at p = 1e-300)
    return 0.5 * (erfc_corrected(z, z_lo) if x < 0.0 else math.erfc(z))


def lower_quantile(q: float) -> float:
    """Phi^-1(q) for 0 < q <= 1/2."""
    x = _rational_quantile(q)
    for _ in range(4):
        if x > -1.0:  # near the centre, Phi(x) - q from erf and the exact q - 1/2
            resid = 0.5 * math.erf(x * _SQRT1_2_HI) - (q - 0.5)
            u = resid * math.exp(0.5 * x * x + _LN_SQRT_2PI)
        else:  # relative to q, the density by logs so it never underflows
            resid = cdf(x) - q
            u = resid / q * math.exp(math.log(q) + 0.5 * x * x + _LN_SQRT_2PI)
        step = u / (1.0 + 0.5 * x * u)
        x -= step
        if abs(step) <= 2 * EPS * abs(x):
            break
    return x


# A published rational approximation of the normal quantile (relative error below 1.2e-9),
# used only as the starting point of the Halley steps.
_CENTRE_NUM = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
               1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)
_CENTRE_DEN = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
               6.680131188771972e01, -1.328068155288572e01, 1.0)
_TAIL_NUM = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
             -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)
_TAIL_DEN = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00,
             3.754408661907416e00, 1.0)
_TAIL_START = 0.02425


def _horner(coefs: tuple[float, ...], x: float) -> float:
    acc = 0.0
    for c in coefs:
        acc = acc * x + c
    return acc


def _rational_quantile(q: float) -> float:
    if q < _TAIL_START:
        r = math.sqrt(-2.0 * math.log(q))
        return _horner(_TAIL_NUM, r) / _horner(_TAIL_DEN, r)
    c = q - 0.5
    r = c * c
    return c * _horner(_CENTRE_NUM, r) / _horner(_CENTRE_DEN, r)


def quantile(p: float) -> float:
    if not 0.0 <= p <= 1.0:  # NaN too
        return math.nan
    if p == 0.0:
        return -math.inf
    if p == 1.0:
        return math.inf
    if p > 0.5:
        return -lower_quantile(1.0 - p)  # 1 - p is exact for p >= 1/2
    return lower_quantile(p)
