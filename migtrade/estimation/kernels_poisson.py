"""The passes over the rows of a PPML IRLS step, each one compiled loop.

:mod:`migtrade.estimation.ppml` strings them together: after the weighted least squares,
:func:`predict` forms the new linear predictor (and the fixed-effect part of the working
variable, the next demeaning's warm start); :func:`means` its means and the two sums the deviance
needs, with the check that the step neither overflows nor leaves the reals; :func:`working` the
next step's weights, working variable and warm start. On the 1.6 M-row gravity panel these three
passes replaced some twenty NumPy passes a step (about 25 ms of every IRLS step's 30 ms outside
the demeaning). The loops are C (:mod:`migtrade.estimation._kernels_poisson`, compiled by pip at
install time); their sums do not depend on the number of threads.
"""

from __future__ import annotations

import numpy as np

from migtrade.estimation import (
    _env_openmp,  # noqa: F401  (before the first kernel loads)
    _kernels_poisson,
)

NO_OFFSET = np.empty(0)


def predict(z: np.ndarray, zt: np.ndarray, xt: np.ndarray, beta: np.ndarray,
            offset: np.ndarray | None, z_fe: np.ndarray, eta: np.ndarray) -> None:
    """``z_fe = z - zt`` and ``eta = z_fe + xt @ beta (+ offset)``, written into ``z_fe`` and
    ``eta`` (float64 vectors); ``xt`` Fortran-ordered (a view of the demeaned block will do)."""
    _kernels_poisson.predict(z, zt, xt, np.ascontiguousarray(beta, dtype=np.float64),
                             NO_OFFSET if offset is None else offset, z_fe, eta)


def means(eta: np.ndarray, wy: np.ndarray, w: np.ndarray, cap: float,
          mu: np.ndarray) -> tuple[bool, float, float]:
    """``mu = exp(eta)`` written into ``mu``, and (ok, sum wy eta, sum w mu); ok is False when
    some eta is not finite or not below ``cap``."""
    return _kernels_poisson.means(eta, wy, w, float(cap), mu)


def working(eta: np.ndarray, mu: np.ndarray, y: np.ndarray, w: np.ndarray,
            offset: np.ndarray | None, z_fe: np.ndarray, irls_w: np.ndarray, z: np.ndarray,
            start: np.ndarray) -> None:
    """``irls_w = w mu``, ``z = (y - mu) / mu + eta (- offset)`` and ``start = z - z_fe``, written
    into the last three (``z`` may hold the previous working variable; ``start`` may be a column
    of a Fortran-ordered block)."""
    _kernels_poisson.working(eta, mu, y, w, NO_OFFSET if offset is None else offset, z_fe,
                             irls_w, z, start)


def start_means(codes: np.ndarray, n_levels: np.ndarray, y: np.ndarray, w: np.ndarray,
                ybar: float) -> np.ndarray:
    """The IRLS start ``(y + m) / 2``: m is one sweep of iterative proportional fitting from
    ``ybar`` over the (Q, n) int32 ``codes`` with ``n_levels`` levels each (one pass a dimension
    and one more, in place of NumPy's two weighted bincounts, a gather and a product each)."""
    out = np.empty(y.shape[0])
    _kernels_poisson.start_means(np.ascontiguousarray(codes, dtype=np.int32),
                                 np.ascontiguousarray(n_levels, dtype=np.int64), y, w,
                                 float(ybar), out)
    return out
