"""The normal and Student-t distribution functions and their inverses, for p-values and intervals.

Every result needs two-sided p-values and confidence bounds; these four functions give them
without a special-function library, whose import alone cost a sixth of a second in every
process. They take a float or an array (elementwise, broadcast like numpy) and are accurate to
full double precision, in the far tails too (a p-value of 1e-300 comes out right to its last
digits but for |log p| eps): the tests hold them to scipy.special within a relative
5e-14 + 4e-16 |log p| (CDFs) and 1e-12 (quantiles), and to exact values within a few ulp.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import overload

import numpy as np

_EPS = 2.220446049250313e-16
# 1/sqrt(2) as the sum of a double and the double nearest the rest.
_SQRT1_2_HI = 0.7071067811865476
_SQRT1_2_LO = -4.833646656726457e-17
_SQRT_PI = math.sqrt(math.pi)
_LN_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_HALF_LN_PI = 0.5 * math.log(math.pi)
# Veltkamp's constant 2**27 + 1: splits a double into two halves whose products are exact.
_SPLITTER = 134217729.0
# From a = df/2 = 8 up, log Gamma(a + 1/2) - log Gamma(a) comes from Stirling's series to a
# relative 1e-16 (below, by shifting a up): two lgamma values would lose |lgamma| eps.
_STIRLING_MIN_A = 8.0
# Coefficients B_2k / (2k (2k - 1)) of Stirling's series for log Gamma.
_STIRLING = (1.0 / 12.0, -1.0 / 360.0, 1.0 / 1260.0, -1.0 / 1680.0, 1.0 / 1188.0,
             -691.0 / 360360.0, 1.0 / 156.0, -3617.0 / 122400.0)
_CF_MAX_TERMS = 100_000
_LARGEST = 1.7976931348623157e308
_NEWTON_MAX_STEPS = 60

ArrayLike = float | np.ndarray


# ---------------------------------------------------------------- normal distribution


def _split(x: float) -> tuple[float, float]:
    t = _SPLITTER * x
    high = t - (t - x)
    return high, x - high


def _two_product(x: float, c: float) -> tuple[float, float]:
    """x c as hi + lo exactly (Dekker), for |x c| well inside the range of doubles."""
    hi = x * c
    if not math.isfinite(hi) or abs(x) > 1e300 or abs(c) > 1e300:
        return hi, 0.0
    x_hi, x_lo = _split(x)
    c_hi, c_lo = _split(c)
    return hi, ((x_hi * c_hi - hi) + x_hi * c_lo + x_lo * c_hi) + x_lo * c_lo


def _times_sqrt1_2(x: float) -> tuple[float, float]:
    """x / sqrt(2) as hi + lo with |lo| <= ulp(hi)."""
    hi, lo = _two_product(x, _SQRT1_2_HI)
    return hi, lo + x * _SQRT1_2_LO


def _erfc_corrected(z: float, z_lo: float) -> float:
    """erfc(z + z_lo) for a small z_lo: erfc(z) (1 - g z_lo), g = 2 exp(-z^2) / (sqrt(pi) erfc(z))."""
    value = math.erfc(z)
    if value > 0.0 and z_lo != 0.0:
        value *= 1.0 - 2.0 / _SQRT_PI * math.exp(-z * z) / value * z_lo
    return value


def _normal_cdf(x: float) -> float:
    if math.isnan(x):
        return math.nan
    z, z_lo = _times_sqrt1_2(-x)
    # the rounding of -x/sqrt(2) alone would cost a relative 2 z^2 eps (1.5e-13 at p = 1e-300)
    return 0.5 * (_erfc_corrected(z, z_lo) if x < 0.0 else math.erfc(z))


def _normal_lower_quantile(q: float) -> float:
    """Phi^-1(q) for 0 < q <= 1/2."""
    x = _rational_quantile(q)
    for _ in range(4):
        if x > -1.0:  # near the centre, Phi(x) - q from erf and the exact q - 1/2
            resid = 0.5 * math.erf(x * _SQRT1_2_HI) - (q - 0.5)
            u = resid * math.exp(0.5 * x * x + _LN_SQRT_2PI)
        else:  # relative to q, the density by logs so it never underflows
            resid = _normal_cdf(x) - q
            u = resid / q * math.exp(math.log(q) + 0.5 * x * x + _LN_SQRT_2PI)
        step = u / (1.0 + 0.5 * x * u)
        x -= step
        if abs(step) <= 2 * _EPS * abs(x):
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


def _normal_quantile(p: float) -> float:
    if not 0.0 <= p <= 1.0:  # NaN too
        return math.nan
    if p == 0.0:
        return -math.inf
    if p == 1.0:
        return math.inf
    if p > 0.5:
        return -_normal_lower_quantile(1.0 - p)  # 1 - p is exact for p >= 1/2
    return _normal_lower_quantile(p)


# ---------------------------------------------------------------- Student's t distribution


def _log_gamma_ratio_half_excess(a: float) -> float:
    """log Gamma(a + 1/2) - log Gamma(a) - log(a) / 2 (-> -1/(8a)), without the cancellation
    of two large lgamma values."""
    if a < _STIRLING_MIN_A:
        # up to where the series is exact, by Gamma(z + 1) = z Gamma(z):
        # log G(a + 1/2) - log G(a) = that at a + n - sum_j log(1 + 1/(2(a + j)))
        n = math.ceil(_STIRLING_MIN_A - a)
        shifted = _log_gamma_ratio_half_excess(a + n) + 0.5 * math.log1p(n / a)
        return shifted - math.fsum(math.log1p(0.5 / (a + j)) for j in range(n))
    # Stirling: log G(z) = (z - 1/2) log z - z + log sqrt(2 pi) + sum_k c_k z^(1 - 2k); the
    # difference of the leading terms is a log(1 + 1/(2a)) - 1/2 + log(a) / 2.
    series = 0.0
    for k, c in enumerate(_STIRLING, start=1):
        series += c * ((a + 0.5) ** (1 - 2 * k) - a ** (1 - 2 * k))
    return (a * math.log1p(0.5 / a) - 0.5) + series


def _log_gamma_ratio_half(a: float) -> float:
    """log Gamma(a + 1/2) - log Gamma(a)."""
    return 0.5 * math.log(a) + _log_gamma_ratio_half_excess(a)


def _log_beta_half(a: float) -> float:
    """log B(a, 1/2) = log Gamma(a) + log sqrt(pi) - log Gamma(a + 1/2)."""
    return _HALF_LN_PI - _log_gamma_ratio_half(a)


def _sqrt_bernoulli_series(terms: int) -> tuple[float, ...]:
    """Taylor coefficients h_k of h(v) = sqrt(v / (1 - exp(-v))) at 0 (radius 2 pi).

    v / (1 - e^-v) = sum f_n v^n follows from f(v) (1 - e^-v) / v = 1, i.e.
    sum_j f_j (-1)^(n-j) / (n - j + 1)! = [n = 0]; then h = sqrt(f) term by term."""
    f = [1.0]
    for n in range(1, terms):
        f.append(-sum(f[j] * (-1.0) ** (n - j) / math.factorial(n - j + 1) for j in range(n)))
    h = [1.0]
    for n in range(1, terms):
        h.append((f[n] - sum(h[j] * h[n - j] for j in range(1, n))) / 2.0)
    return tuple(h)


# log(1 + t^2/df) up to which the tail comes from the expansion below (its terms fall like
# (u / 2 pi)^k at worst, and by 1/a more); from the continued fraction beyond.
_EXPANSION_MAX_U = 1.0
# The expansion is asymptotic in a: its smallest term, about k! / (2 pi a)^k, is below 1e-19 at
# 32 terms from a = 8 (df = 16) on; measured against exact values it is within 1-2 ulp there.
_EXPANSION_MIN_A = 8.0
_H = _sqrt_bernoulli_series(32)


def _t_tail_large_df(a: float, u: float) -> float:
    """P(T < -|t|) for large a = df/2 and u = log(1 + t^2/df) <= 1, by an expansion in
    incomplete gamma functions (see :func:`t_cdf`)."""
    # z = a u exactly as z + z_lo, its root as root + root_lo: the roundings would cost a
    # relative z eps in erfc and exp (1e-13 at p = 1e-300)
    z, z_lo = _two_product(a, u)
    root = math.sqrt(z)
    square, square_lo = _two_product(root, root)
    root_lo = ((z - square) - square_lo + z_lo) / (2.0 * root) if root > 0.0 else 0.0
    e = math.exp(-z) * (1.0 - z_lo)
    k_term = _erfc_corrected(root, root_lo)  # Gamma(1/2, z) / sqrt(pi)
    push = math.sqrt(z / math.pi) * e  # z^(k+1/2) e^-z / (sqrt(pi) a^k), k = 0
    total = _H[0] * k_term
    small = 0
    for k in range(1, len(_H)):
        k_term = ((k - 0.5) * k_term + push) / a
        push *= u
        piece = _H[k] * k_term
        total += piece
        # two negligible terms in a row: one alone may be a small h_k (h_4 / h_3 = 0.04)
        small = small + 1 if abs(piece) <= 0.25 * _EPS * abs(total) else 0
        if small == 2:
            break
    return 0.5 * math.exp(_log_gamma_ratio_half_excess(a)) * total


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b) / (x^a (1-x)^b / (a B(a, b))), by modified Lentz."""
    tiny = 1e-300
    d = 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    c = 1.0
    value = d
    for m in range(1, _CF_MAX_TERMS):
        two_m = 2.0 * m
        for coef in (m * (b - m) * x / ((a + two_m - 1.0) * (a + two_m)),
                     -(a + m) * (a + b + m) * x / ((a + two_m) * (a + two_m + 1.0))):
            d = 1.0 + coef * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + coef / c
            c = c if abs(c) > tiny else tiny
            value *= d * c
        if abs(d * c - 1.0) <= _EPS:
            break
    return value


def _t_log_x(t: float, df: float) -> tuple[float, float, float]:
    """x = df / (df + t^2), 1 - x and log x, none overflowing for huge |t|.

    log x = -log(1 + s), s = t^2/df carried as s + s_lo (Dekker's product and a corrected
    division): the roundings of t^2 and of the division would otherwise move x^a by a eps."""
    abs_t = abs(t)
    if abs_t >= 1e150:  # t^2 overflows: r = df / t^2 by logs
        log_r = math.log(df / abs_t) - math.log(abs_t)
        r = math.exp(log_r)
        log1p_r = math.log1p(r)
        return r / (1.0 + r), 1.0 / (1.0 + r), log_r - log1p_r
    square, square_lo = _two_product(t, t)
    s = square / df
    back, back_lo = _two_product(s, df)
    s_lo = ((square - back) - back_lo + square_lo) / df
    log_x = -(math.log1p(s) + s_lo / (1.0 + s))
    if s <= 1.0:
        return 1.0 / (1.0 + s), s / (1.0 + s), log_x
    r = df / square
    return r / (1.0 + r), 1.0 / (1.0 + r), log_x


def _tail_by_fraction(a: float, y: float) -> bool:
    """Whether I_x(a, 1/2) comes from its own fraction (else from 1 - I_y(1/2, a)).

    Each fraction converges fast on its side of x = (a + 1)/(a + b + 2), i.e. of
    y = 1.5 / (a + 2.5); measured against exact values (even df, 200 digits), the tail's is the
    more accurate down to half that (1e-15 against up to 5e-15 from 1 - I_y near the switch),
    and below it 1 - I_y loses nothing (the tail is above 0.1 there)."""
    return y > 0.75 / (a + 2.5)


def _beta_half_pair(a: float, x: float, y: float, log_x: float,
                    xa: float | None = None) -> tuple[float, float]:
    """I_x(a, 1/2) / 2 and I_y(1/2, a) / 2 (y = 1 - x), the one by its continued fraction
    where that converges fast, the other as 1/2 minus it; ``xa`` is x^a where known."""
    # x^a: exp(a log x) is off by |a log x| eps / 2 (the rounding of log x), pow(x, a) by
    # about 2 a eps (from the rounding of x); the smaller of the two.
    if xa is not None:
        pass
    elif x >= 1e-300 and log_x < -4.0:
        xa = x**a
    else:
        exponent, exponent_lo = _two_product(a, log_x)
        xa = math.exp(exponent) * (1.0 + exponent_lo)
    front = xa * math.sqrt(y) * math.exp(-_log_beta_half(a))
    if _tail_by_fraction(a, y):
        tail = 0.5 * front / a * _beta_continued_fraction(a, 0.5, x)
        return tail, 0.5 - tail
    # I_x(a, 1/2) = 1 - I_{1-x}(1/2, a)
    centre = 0.5 * front / 0.5 * _beta_continued_fraction(0.5, a, y)
    return 0.5 - centre, centre


def _t_halves(t: float, df: float) -> tuple[float, float]:
    """P(T < -|t|) and P(-|t| < T < 0), each to full relative precision where it is small."""
    a = 0.5 * df
    x, y, log_x = _t_log_x(t, df)
    centre_by_fraction = not _tail_by_fraction(a, y)
    if a >= _EXPANSION_MIN_A and -log_x <= _EXPANSION_MAX_U:
        tail = min(_t_tail_large_df(a, -log_x), 0.5)  # at t -> 0 its sum may round above 1/2
        return tail, (_beta_half_pair(a, x, y, log_x)[1] if centre_by_fraction else 0.5 - tail)
    if abs(t) >= 1e150:  # x underflows: x^a = (sqrt(df)/|t|)^df (1 + df/t^2)^-a, by pow
        root_r = math.sqrt(df) / abs(t)
        return _beta_half_pair(a, x, y, log_x, root_r**df * math.exp(-a * math.log1p(root_r * root_r)))
    return _beta_half_pair(a, x, y, log_x)


def _t_cdf(t: float, df: float) -> float:
    if math.isnan(t) or math.isnan(df) or df <= 0.0:
        return math.nan
    if math.isinf(df):
        return _normal_cdf(t)
    if t == 0.0:
        return 0.5
    if math.isinf(t):
        return 0.0 if t < 0 else 1.0
    tail, centre = _t_halves(t, df)
    return tail if t < 0 else 0.5 + centre


def _t_log_density(t: float, df: float) -> float:
    """log f(t) = -log(df)/2 - log B(df/2, 1/2) + ((df + 1)/2) log(df / (df + t^2))."""
    a = 0.5 * df
    log_x = _t_log_x(t, df)[2]
    return -0.5 * math.log(df) - _log_beta_half(a) + (a + 0.5) * log_x


def _t_start(q: float, df: float) -> list[float]:
    """Starting points for the lower quantile: the normal's expanded in 1/df, and the tail's."""
    z = _normal_lower_quantile(q)
    z2 = z * z
    g1 = (z2 + 1.0) * z / 4.0
    g2 = ((5.0 * z2 + 16.0) * z2 + 3.0) * z / 96.0
    g3 = (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) * z / 384.0
    g4 = ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) * z / 92160.0
    starts = [z + (g1 + (g2 + (g3 + g4 / df) / df) / df) / df]
    # F(t) ~ df^(df/2 - 1) |t|^-df / B(df/2, 1/2) as t -> -inf
    log_abs_t = ((0.5 * df - 1.0) * math.log(df) - _log_beta_half(0.5 * df) - math.log(q)) / df
    if log_abs_t < 700.0:
        starts.append(-math.exp(log_abs_t))
    if df == 1.0:
        starts.append(-1.0 / math.tan(math.pi * q))
    elif df == 2.0:
        starts.append((2.0 * q - 1.0) / math.sqrt(2.0 * q * (1.0 - q)))
    return [s for s in starts if math.isfinite(s) and s < 0.0]


def _t_lower_quantile(q: float, df: float) -> float:
    """F^-1(q) for 0 < q < 1/2: Newton steps on log F (on F near the centre), kept in a bracket."""
    if df < 4.0 and _t_halves(-_LARGEST, df)[0] > q:
        return -math.inf  # below the largest double (|t| ~ q^(-1/df); never for df >= 4)
    centre_q = 0.5 - q  # exact for q >= 1/4

    def residual(t: float) -> tuple[float, float]:
        """(F(t) - q measured in the step's scale, the Newton step's divisor)."""
        tail, centre = _t_halves(t, df)
        log_f = _t_log_density(t, df)
        if q >= 0.25:
            return centre_q - centre, math.exp(log_f)
        if tail <= 0.0:  # F(t) underflowed: far below the root; the bracket takes over
            return -math.inf, 1.0
        ratio = tail / q  # log(tail) - log(q) would leave an error of ulp(log q), 1e-13 at 1e-300
        log_ratio = math.log(ratio) if 0.0 < ratio < math.inf else math.log(tail) - math.log(q)
        return log_ratio, math.exp(log_f - math.log(tail))

    best: tuple[float, float, float] | None = None
    for start in _t_start(q, df):
        r, slope = residual(start)
        if best is None or abs(r) < abs(best[1]) or math.isnan(best[1]):
            best = (start, r, slope)
    if best is None:
        return math.nan
    t, r, slope = best
    lo, hi = -math.inf, 0.0
    for _ in range(_NEWTON_MAX_STEPS):
        if r == 0.0:
            return t
        if r > 0.0:
            hi = min(hi, t)
        else:
            lo = max(lo, t)
        candidate = t - r / slope
        if abs(candidate - t) <= 2.0 * _EPS * abs(t) and lo <= candidate <= hi:
            return candidate  # a step within an ulp or two: converged
        if not (lo < candidate < hi):
            if math.isinf(lo):
                candidate = 2.0 * t if t < 0.0 else -1.0
            elif hi < 0.0:
                candidate = -math.sqrt(-lo) * math.sqrt(-hi)  # halfway in log|t|
            else:
                candidate = 0.5 * lo
        done = abs(candidate - t) <= 2.0 * _EPS * abs(candidate)
        t = candidate
        if done:
            return t
        r, slope = residual(t)
    return t


def _t_quantile(p: float, df: float) -> float:
    if math.isnan(df) or df <= 0.0 or not 0.0 <= p <= 1.0:
        return math.nan
    if math.isinf(df):
        return _normal_quantile(p)
    if p == 0.0:
        return -math.inf
    if p == 1.0:
        return math.inf
    if p == 0.5:
        return 0.0
    if p > 0.5:
        return -_t_lower_quantile(1.0 - p, df)  # 1 - p is exact for p >= 1/2
    return _t_lower_quantile(p, df)


# ---------------------------------------------------------------- public, elementwise


def _elementwise(fn: Callable[..., float], *args: ArrayLike) -> ArrayLike:
    if all(isinstance(a, float | int) for a in args):
        return fn(*(float(a) for a in args))
    ufunc = np.frompyfunc(lambda *xs: fn(*(float(x) for x in xs)), len(args), 1)
    # t^2 overflowing for |t| > 1e154 (and underflows in the far tail) are handled on purpose
    with np.errstate(over="ignore", under="ignore"):
        return np.asarray(ufunc(*(np.asarray(a, dtype=float) for a in args)), dtype=float)


@overload
def normal_cdf(x: float) -> float: ...
@overload
def normal_cdf(x: np.ndarray) -> np.ndarray: ...
def normal_cdf(x: ArrayLike) -> ArrayLike:
    """The standard normal distribution function Phi(x).

    Notes
    -----
    Phi(x) = erfc(-x / sqrt 2) / 2 (``math.erfc``). For x < 0 the argument z = -x / sqrt 2 is
    formed exactly as z + dz (Dekker's product with 1/sqrt 2 split in two doubles), and the
    result corrected to first order, erfc(z + dz) = erfc(z) (1 - dz 2 exp(-z^2) / (sqrt(pi)
    erfc(z))): rounding z alone would cost a relative error of 2 z^2 eps, 1.5e-13 at
    Phi(x) = 1e-300.
    """
    return _elementwise(_normal_cdf, x)


@overload
def normal_quantile(p: float) -> float: ...
@overload
def normal_quantile(p: np.ndarray) -> np.ndarray: ...
def normal_quantile(p: ArrayLike) -> ArrayLike:
    """The standard normal quantile Phi^-1(p); -inf at 0, inf at 1, NaN outside [0, 1].

    Notes
    -----
    For p > 1/2, Phi^-1(p) = -Phi^-1(1 - p) (1 - p is exact). For q = min(p, 1 - p) a rational
    approximation in q - 1/2 (centre) or sqrt(-2 log q) (tail), relative error 1.2e-9, starts
    Halley's iteration x <- x - u / (1 + x u / 2), u = (Phi(x) - q) / phi(x), which triples the
    correct digits per step (one or two steps reach double precision). Near the centre
    Phi(x) - q is formed as erf(x / sqrt 2) / 2 - (q - 1/2), so that quantiles near 0 keep
    their relative accuracy; in the tail u = ((Phi(x) - q) / q) exp(log q + x^2 / 2 +
    log sqrt(2 pi)), which never underflows.
    """
    return _elementwise(_normal_quantile, p)


@overload
def t_cdf(t: float, df: float) -> float: ...
@overload
def t_cdf(t: np.ndarray | float, df: np.ndarray | float) -> np.ndarray | float: ...
def t_cdf(t: ArrayLike, df: ArrayLike) -> ArrayLike:
    """Student's t distribution function with ``df`` degrees of freedom (inf: the normal).

    Notes
    -----
    P(T < -|t|) = I_x(df/2, 1/2) / 2 with x = df / (df + t^2), the regularised incomplete beta
    function, and F(t) = 1 - F(-t). With a = df/2, b = 1/2,

        I_x(a, b) = x^a (1 - x)^b / (a B(a, b)) * 1 / (1 + d_1 / (1 + d_2 / (1 + ...))),
        d_2m+1 = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1)),
        d_2m = m (b - m) x / ((a + 2m - 1)(a + 2m)),

    evaluated by the modified Lentz method to a relative eps. The fraction converges quickly
    for x < (a + 1) / (a + b + 2), i.e. 1 - x > 1.5 / (a + 2.5); it is used for the tail down to
    half that (measured against exact values it is the more accurate one there), and below,
    I_x(a, b) = 1 - I_{1-x}(b, a), whose value P(-|t| < T < 0) is then itself accurate (which
    the quantile's Newton steps near the centre use). log x = -log(1 + s), s = t^2/df carried
    with its rounding error (Dekker's product), so that x^a = exp(a log x) (the exponent also
    carried exactly; ``pow(x, a)`` where log x < -4, and (sqrt(df)/|t|)^df (1 + df/t^2)^-a
    once t^2 overflows) keeps its relative accuracy at p = 1e-300 too. log B(a, 1/2) =
    log sqrt(pi) - (log Gamma(a + 1/2) - log Gamma(a)), the difference from Stirling's series
    term by term (eight terms, a >= 8; a smaller a shifted up by Gamma(z + 1) = z Gamma(z)):
    two lgamma values near 1e8 at df = 1e7 would cancel to an absolute error of 1e-8.

    For a >= 8 and u = log(1 + t^2/df) <= 1 the tail comes from an expansion instead: there x
    is close to 1, the fraction's terms nearly cancel and the rounding of x is magnified up to
    a-fold (5e-10 at df = 1e7). With s = e^-v in the beta integral,

        I_x(a, 1/2) = 1 / B(a, 1/2) * int_u^inf e^(-a v) v^(-1/2) h(v) dv,
        h(v) = sqrt(v / (1 - e^-v)) = sum_k h_k v^k   (radius 2 pi),

    so that, with z = a u and K_k = a^-k Gamma(k + 1/2, z) / sqrt(pi),

        P(T < -|t|) = (Gamma(a + 1/2) / (Gamma(a) sqrt(a))) / 2 * sum_k h_k K_k,
        K_0 = erfc(sqrt z),   K_k+1 = ((k + 1/2) K_k + sqrt(z / pi) u^k e^-z) / a,

    a recurrence of positive terms; the leading term is Phi(-sqrt(df log(1 + t^2/df))), the
    normal limit. h_k come from the Bernoulli series of v / (1 - e^-v); the terms fall at
    least like (u / 2 pi)^k a^-k. z = a u and sqrt(z) are carried with their rounding errors
    (Dekker's product), which erfc and exp would otherwise magnify z-fold.
    """
    return _elementwise(_t_cdf, t, df)


@overload
def t_quantile(p: float, df: float) -> float: ...
@overload
def t_quantile(p: np.ndarray | float, df: np.ndarray | float) -> np.ndarray | float: ...
def t_quantile(p: ArrayLike, df: ArrayLike) -> ArrayLike:
    """Student's t quantile F^-1(p) with ``df`` degrees of freedom (inf: the normal).

    Notes
    -----
    For p > 1/2, F^-1(p) = -F^-1(1 - p). For q = min(p, 1 - p) the start is the better (by
    the residual) of the normal quantile z expanded in 1/df (Cornish-Fisher, four terms,
    t = z + (z^3 + z)/(4 df) + (5z^5 + 16z^3 + 3z)/(96 df^2) + ...), the tail's
    t = -(df^(df/2 - 1) / (B(df/2, 1/2) q))^(1/df), and for df = 1, 2 the closed forms.
    Newton steps follow on log F(t) - log q (slope f/F, which keeps the steps well scaled over
    hundreds of orders of magnitude), or on F(t) - q for q >= 1/4 with F(t) - 1/2 from
    P(-|t| < T < 0) directly. Every point tried narrows a bracket (F(t) > q above the root);
    a step that leaves it is replaced by bisection in log|t|. Stops when a step changes t by
    at most 2 eps relative.
    """
    return _elementwise(_t_quantile, p, df)
