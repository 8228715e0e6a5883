"""Student's t distribution function and its inverse, to full double precision.

The arithmetic behind :mod:`migtrade.results.distributions` (which documents the methods): the
regularised incomplete beta function by its continued fraction, a large-df expansion around the
normal limit, Stirling's series for the ratio of Gamma functions, and Newton steps for the
quantile; :mod:`migtrade.results.normal` supplies the exact products and the normal limit.
"""

from __future__ import annotations

import math

from migtrade.results import normal

_HALF_LN_PI = 0.5 * math.log(math.pi)
# From a = df/2 = 8 up, log Gamma(a + 1/2) - log Gamma(a) comes from Stirling's series to a
# relative 1e-16 (below, by shifting a up): two lgamma values would lose |lgamma| eps.
_STIRLING_MIN_A = 8.0
# Coefficients B_2k / (2k (2k - 1)) of Stirling's series for log Gamma.
_STIRLING = (1.0 / 12.0, -1.0 / 360.0, 1.0 / 1260.0, -1.0 / 1680.0, 1.0 / 1188.0,
             -691.0 / 360360.0, 1.0 / 156.0, -3617.0 / 122400.0)
_CF_MAX_TERMS = 100_000
_LARGEST = 1.7976931348623157e308
_NEWTON_MAX_STEPS = 60



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
    z, z_lo = normal.two_product(a, u)
    root = math.sqrt(z)
    square, square_lo = normal.two_product(root, root)
    root_lo = ((z - square) - square_lo + z_lo) / (2.0 * root) if root > 0.0 else 0.0
    e = math.exp(-z) * (1.0 - z_lo)
    k_term = normal.erfc_corrected(root, root_lo)  # Gamma(1/2, z) / sqrt(pi)
    push = math.sqrt(z / math.pi) * e  # z^(k+1/2) e^-z / (sqrt(pi) a^k), k = 0
    total = _H[0] * k_term
    small = 0
    for k in range(1, len(_H)):
        k_term = ((k - 0.5) * k_term + push) / a
        push *= u
        piece = _H[k] * k_term
        total += piece
        # two negligible terms in a row: one alone may be a small h_k (h_4 / h_3 = 0.04)
        small = small + 1 if abs(piece) <= 0.25 * normal.EPS * abs(total) else 0
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
        if abs(d * c - 1.0) <= normal.EPS:
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
    square, square_lo = normal.two_product(t, t)
    s = square / df
    back, back_lo = normal.two_product(s, df)
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
        exponent, exponent_lo = normal.two_product(a, log_x)
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


def cdf(t: float, df: float) -> float:
    if math.isnan(t) or math.isnan(df) or df <= 0.0:
        return math.nan
    if math.isinf(df):
        return normal.cdf(t)
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
    z = normal.lower_quantile(q)
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
        if abs(candidate - t) <= 2.0 * normal.EPS * abs(t) and lo <= candidate <= hi:
            return candidate  # a step within an ulp or two: converged
        if not (lo < candidate < hi):
            if math.isinf(lo):
                candidate = 2.0 * t if t < 0.0 else -1.0
            elif hi < 0.0:
                candidate = -math.sqrt(-lo) * math.sqrt(-hi)  # halfway in log|t|
            else:
                candidate = 0.5 * lo
        done = abs(candidate - t) <= 2.0 * normal.EPS * abs(candidate)
        t = candidate
        if done:
            return t
        r, slope = residual(t)
    return t


def quantile(p: float, df: float) -> float:
    if math.isnan(df) or df <= 0.0 or not 0.0 <= p <= 1.0:
        return math.nan
    if math.isinf(df):
        return normal.quantile(p)
    if p == 0.0:
        return -math.inf
    if p == 1.0:
        return math.inf
    if p == 0.5:
        return 0.0
    if p > 0.5:
        return -_t_lower_quantile(1.0 - p, df)  # 1 - p is exact for p >= 1/2
    return _t_lower_quantile(p, df)
