"""Seeded three-way gravity panels of Weidner & Zylkin's (2021) simulation design.

N countries trade with each other (all N x N ordered pairs, as in their design) in T periods:

    y_ijt = lambda_ijt * omega_ijt,    lambda_ijt = exp(beta x_ijt + alpha_it + gamma_jt + eta_ij),

with ``beta = 1`` and ``alpha_it``, ``gamma_jt``, ``eta_ij`` independent normal with standard
deviation 1/16. The regressor is correlated with the fixed effects and persistent: from
``x_ij0 = eta_ij + N(0, 0.5^2)``,

    x_ijt = x_ij,t-1 / 2 + alpha_it + gamma_jt + eta_ij + N(0, 0.5^2),     t = 1 .. T

(period 0 only starts the recursion). The error is log-normal with mean one and variance
``sigma^2_ijt``, ``omega = exp(-log(1 + sigma^2)/2 + sqrt(log(1 + sigma^2)) z_ijt)``, where z is a
stationary AR(1) in t with coefficient 0.3 and unit variance, so the errors of a pair are
correlated over time. Four variance functions (``dgp``, numbered as in the code cited below):
1: Var(y) = 1 (sigma^2 = 1/lambda^2); 2: Var(y) = lambda; 3: Var(y) = lambda^2;
4: Var(y) = lambda / 2 + lambda^2 exp(2x) / 2.

These facts are taken from the replication code of Czarnowske & Stammann (2022, "Latent
unbalancedness in three-way gravity models"), which states that it follows Weidner & Zylkin's
simulation design; the parameters above are the whole of it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

BETA = 1.0
FE_SD = 1.0 / 16.0
X_SD = 0.5
Z_RHO = 0.3

VARIANCES: dict[int, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    1: lambda lam, x: 1.0 / lam**2,
    2: lambda lam, x: 1.0 / lam,
    3: lambda lam, x: np.ones_like(lam),
    4: lambda lam, x: 0.5 / lam + 0.5 * np.exp(2.0 * x),
}


def three_way_panel(countries: int, periods: int, *, dgp: int = 1,
                    rng: np.random.Generator | int = 0) -> pd.DataFrame:
    """One draw of the design: columns exp, imp, year, x, y (and the true mean ``lam``).

    Parameters
    ----------
    countries
        N; every ordered pair (i, j), i and j in 0 .. N-1, is a pair.
    periods
        T, the periods kept (1 .. T).
    dgp
        The variance function, 1 to 4 (module notes).
    rng
        A generator or a seed.
    """
    if dgp not in VARIANCES:
        raise ValueError(f"dgp must be one of {sorted(VARIANCES)}, not {dgp}")
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    n, t = countries, periods
    pairs = n * n
    exp = np.repeat(np.arange(n), n)
    imp = np.tile(np.arange(n), n)
    alpha = gen.normal(0.0, FE_SD, (n, t + 1))
    gamma = gen.normal(0.0, FE_SD, (n, t + 1))
    eta = gen.normal(0.0, FE_SD, pairs)
    x = np.empty((pairs, t + 1))
    z = np.empty((pairs, t + 1))
    x[:, 0] = eta + gen.normal(0.0, X_SD, pairs)
    z[:, 0] = gen.normal(0.0, 1.0, pairs)
    for s in range(1, t + 1):
        x[:, s] = x[:, s - 1] / 2 + alpha[exp, s] + gamma[imp, s] + eta + gen.normal(0.0, X_SD, pairs)
        z[:, s] = Z_RHO * z[:, s - 1] + gen.normal(0.0, np.sqrt(1.0 - Z_RHO**2), pairs)
    x, z = x[:, 1:], z[:, 1:]
    lam = np.exp(BETA * x + alpha[exp, 1:] + gamma[imp, 1:] + eta[:, None])
    log_var = np.log1p(VARIANCES[dgp](lam, x))
    y = lam * np.exp(-0.5 * log_var + np.sqrt(log_var) * z)
    return pd.DataFrame({
        "exp": np.repeat(exp, t), "imp": np.repeat(imp, t), "year": np.tile(np.arange(1, t + 1), pairs),
        "x": x.ravel(), "y": y.ravel(), "lam": lam.ravel(),
    })
