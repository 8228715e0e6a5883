"""The normal and Student-t distribution functions against scipy.special, and the Poisson
log-factorial sum against scipy's gammaln.

Tolerances. Each side evaluates the same exact function of its double argument; correctly
rounded answers would differ by a few eps (2.2e-16). The budgets are larger where a method
loses digits for a known reason:

* normal CDF: relative 3e-14 over [-8, 8]; in the lower tail down to 1e-300, 3e-13 to scipy and
  2e-14 to a 40-digit reference (Laplace's continued fraction in ``decimal``). Rounding
  -x/sqrt(2) costs a relative 2 z^2 eps (1.5e-13 at z = 26) unless corrected, as here; the
  reference shows which side is right.
* t CDF: relative 5e-14 + 4e-16 |log F|. Any method ends in exp (or erfc) of an exponent of
  size |log F|, whose rounding alone moves the result by |log F| eps / 2 on each side (7.7e-14
  at F = 1e-300, where scipy and this module differ by up to 2e-13, and each from a 40-digit
  evaluation by about 1e-13); the 5e-14 is the continued fraction's or the series' rounding.
* quantiles: relative 1e-12 (the inverse divides the CDF's error by the elasticity
  t f(t) / F(t) >= 1 in the tails); and F(F^-1(p)) = p to 2e-13, the CDF's own error plus one
  rounding of t.
"""

from __future__ import annotations

import math
from decimal import Decimal, getcontext
from pathlib import Path

import numpy as np
import pytest
from scipy import special

from migtrade.estimation import kernels
from migtrade.results.distributions import normal_cdf, normal_quantile, t_cdf, t_quantile
from migtrade.results.result import EstimationResult

FIXTURES = Path(__file__).parent / "fixtures" / "results"

DFS = [1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 100.0, 1e3, 1e4, 1e5, 1e6, 1e7]
T_GRID = np.concatenate([np.linspace(-40.0, 40.0, 321), -np.logspace(1, 3, 41), np.logspace(1, 3, 41)])
P_GRID = np.concatenate([10.0 ** -np.linspace(300, 0.31, 200), np.linspace(0.01, 0.99, 99),
                         1.0 - 10.0 ** -np.linspace(16, 1, 60)])


def _relative(ours: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    ours, theirs = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
    with np.errstate(invalid="ignore"):  # 0/0 where both are 0 (the median)
        return np.where(ours == theirs, 0.0, np.abs(ours - theirs) / np.abs(theirs))


def _t_cdf_budget(f: np.ndarray) -> np.ndarray:
    return 5e-14 + 4e-16 * np.abs(np.log(f))


def _normal_tail_reference(x: float) -> float:
    """Phi(x) for x <= -5 to 40 digits: erfc by Laplace's continued fraction in decimal."""
    getcontext().prec = 45
    z = -Decimal(x) / Decimal(2).sqrt()
    frac = Decimal(0)
    for k in range(400, 0, -1):  # erfc(z) = exp(-z^2)/sqrt(pi) / (z + (1/2)/(z + 1/(z + (3/2)/...)))
        frac = (Decimal(k) / 2) / (z + frac)
    pi = Decimal("3.14159265358979323846264338327950288419716939937510")
    return float((-(z * z)).exp() / pi.sqrt() / (z + frac) / 2)


def test_normal_cdf_against_scipy_and_a_reference_in_the_tail() -> None:
    centre = np.linspace(-8.0, 8.0, 801)
    assert _relative(normal_cdf(centre), special.ndtr(centre)).max() < 3e-14
    tail = np.linspace(-37.0, -5.0, 321)  # Phi(-37) = 5.7e-300
    assert _relative(normal_cdf(tail), special.ndtr(tail)).max() < 3e-13
    reference = np.array([_normal_tail_reference(x) for x in tail[::8]])
    assert _relative(normal_cdf(tail[::8]), reference).max() < 2e-14


def test_normal_quantile_against_scipy() -> None:
    assert _relative(normal_quantile(P_GRID), special.ndtri(P_GRID)).max() < 1e-12
    near_half = 0.5 + np.array([1e-12, -1e-9, 1e-6, -1e-3])
    assert _relative(normal_quantile(near_half), special.ndtri(near_half)).max() < 1e-12


@pytest.mark.parametrize("df", DFS)
def test_t_cdf_against_scipy(df: float) -> None:
    ours, theirs = t_cdf(T_GRID, df), special.stdtr(df, T_GRID)
    keep = theirs > 1e-300  # both sides underflow below (df = 1e7: Phi(-40) ~ 1e-350)
    assert np.all(_relative(ours[keep], theirs[keep]) < _t_cdf_budget(theirs[keep]))


@pytest.mark.parametrize("df", DFS)
def test_t_quantile_against_scipy(df: float) -> None:
    theirs = special.stdtrit(df, P_GRID)
    # Only where scipy's quantile is one: for df = 3 to 10 below p ~ 1e-200 its stdtrit returns
    # inf, or a t whose own stdtr is off p by up to a factor 8; the round trip below covers those.
    with np.errstate(all="ignore"):
        keep = np.isfinite(theirs) & (_relative(special.stdtr(df, theirs), P_GRID) < 1e-12)
    assert keep.mean() > 0.7
    assert _relative(t_quantile(P_GRID[keep], df), theirs[keep]).max() < 1e-12


@pytest.mark.parametrize("df", DFS)
def test_t_quantile_inverts_the_cdf(df: float) -> None:
    """F(F^-1(p)) = p to 3e-13 relative, down to p = 1e-300 (and up to 1 - 1e-16): half an ulp
    of t moves F by its elasticity t f(t) / F(t) times eps / 2, up to df eps / 2 in a t tail
    (F ~ |t|^-df) and t^2 eps / 2 in a normal one (1.5e-13 at t = -37); the CDF's own error
    adds up to 1e-13 there. Checked for every p, where scipy's quantile is not."""
    assert _relative(t_cdf(t_quantile(P_GRID, df), df), P_GRID).max() < 3e-13


_PI = Decimal("3.14159265358979323846264338327950288419716939937510582097494459230781640628")


def _exact_normal_cdf(x: float) -> Decimal:
    """Phi(x) to 60 digits by the series of erf (|x| < 8)."""
    getcontext().prec = 80
    z = Decimal(x) / Decimal(2).sqrt()
    total, term, n = Decimal(0), z, 0
    while abs(term) > Decimal(10) ** -70:
        total += term / (2 * n + 1)
        n += 1
        term = -term * z * z / n
    return (1 + 2 / _PI.sqrt() * total) / 2


def _exact_t_tail_even(t: float, df: int) -> Decimal:
    """P(T < -|t|) for even df to 80 digits: (1 - sin th sum_k<df/2 (2k-1)!!/(2k)!! cos^2k th) / 2,
    tan th = |t| / sqrt(df)."""
    getcontext().prec = 120
    tt, nu = abs(Decimal(t)), Decimal(df)
    cos2 = nu / (nu + tt * tt)
    total, coef, power = Decimal(0), Decimal(1), Decimal(1)
    for k in range(df // 2):
        if k:
            coef, power = coef * (2 * k - 1) / (2 * k), power * cos2
        total += coef * power
    return (1 - tt / (nu + tt * tt).sqrt() * total) / 2


def test_saved_results_against_exact_values() -> None:
    """The p-values and 95% quantiles of the saved results behind the golden tables, within
    3 ulp of the exact values (the golden files were regenerated when this module replaced
    scipy.special, whose values for these are up to 53 ulp off: 1.211037322127071e-11 for
    2 Phi(-6.778888750086183) = 1.2110373221270796e-11, and Phi^-1(0.975) = 1.959963984540054
    for 1.9599639845400538...)."""
    for name in ("ppml_2way", "ppml_3way", "ols_2way"):
        result = EstimationResult.load(FIXTURES / f"{name}.json")
        df = result.vcov.df if result.vcov.distribution == "t" else None
        for z, p in zip(-np.abs(result.tstats), result.pvalues, strict=True):
            exact = float(2 * (_exact_t_tail_even(z, int(df)) if df else _exact_normal_cdf(z)))
            assert abs(p - exact) <= 3 * np.spacing(exact), (name, z)
    assert normal_quantile(0.975) == 1.9599639845400538  # 1.959963984540053855604...
    t64 = 1.9977296543176926  # the double nearest 1.997729654317692572518933...
    assert abs(t_quantile(0.975, 64.0) - t64) <= np.spacing(t64)


def test_scalars_stay_scalars_and_edges() -> None:
    assert isinstance(t_cdf(-2.0, 10.0), float) and isinstance(normal_quantile(0.975), float)
    assert t_quantile(0.0, 5.0) == -math.inf and t_quantile(1.0, 5.0) == math.inf
    assert t_quantile(0.5, 5.0) == 0.0 and t_cdf(0.0, 5.0) == 0.5
    assert math.isnan(normal_quantile(1.5)) and math.isnan(t_cdf(1.0, -1.0))
    assert t_cdf(-2.0, math.inf) == normal_cdf(-2.0)
    assert t_cdf(np.array([-1.0, 1.0]), np.array([4.0, 4.0])).shape == (2,)
    tiny = np.array([-1e-200, -1e-17, 1e-17])
    for df in DFS:  # no p-value above 1, no lower tail above 1/2
        assert np.all(2 * t_cdf(-np.abs(tiny), df) <= 1.0) and np.all(t_cdf(tiny[2:], df) >= 0.5)
    assert t_quantile(0.5 + 1e-16, 20.0) == 2.8179065711266887e-16  # (p - 1/2) / f(0), exactly
    assert t_quantile(1e-100, 0.3) == -math.inf  # |t| ~ 1e333 is beyond the doubles


def test_weighted_log_factorial_sum_against_gammaln() -> None:
    """Relative 1e-13: the compiled sum is compensated, scipy's dot is not; each log-gamma is
    good to a few eps on both sides."""
    rng = np.random.default_rng(13)
    y = np.concatenate([rng.exponential(3.0, 5000), np.zeros(2000), rng.uniform(0, 1, 500),
                        rng.integers(0, 1000, 5000).astype(float), [1e12, 3.7e11, 1e9 + 0.5]])
    w = rng.uniform(0.1, 4.0, y.size)
    pos = y > 0
    expected = float(w[pos] @ special.gammaln(y[pos] + 1))
    assert abs(kernels.weighted_log_factorial_sum(y, w) - expected) < 1e-13 * abs(expected)
    small = y[:200]  # y in (0, 1) has log Gamma(y + 1) < 0: sums of both signs
    assert abs(kernels.weighted_log_factorial_sum(small, np.ones(200))
               - float(special.gammaln(small[small > 0] + 1).sum())) < 1e-12
    assert kernels.weighted_log_factorial_sum(np.zeros(5), np.ones(5)) == 0.0
