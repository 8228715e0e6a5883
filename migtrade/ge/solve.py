"""The counterfactual equilibrium of one-sector structural gravity, in changes ("exact hat").

Notes
-----
Baseline flows ``X`` (exporters in rows, importers in columns, domestic flows on the diagonal)
give output ``Y_i = sum_j X_ij``, expenditure ``E_j = sum_i X_ij``, deficits ``D = E - Y`` and
expenditure shares ``pi_ij = X_ij / E_j``. A change in trade costs is
``B_ij = (t'_ij / t_ij)^(1 - sigma) = exp(beta_ij)``; ``theta = sigma - 1``. With factory-gate
price changes ``w`` (hats are new over old):

* inward multilateral resistance ``Phat_j^(-theta) = sum_i pi_ij B_ij w_i^(-theta)``;
* expenditure ``E'_j = Y_j w_j + D_j`` (additive imbalances) or
  ``E'_j = lambda E_j w_j`` (multiplicative; ``lambda = sum Y w / sum E w`` keeps world
  spending equal to world income, which is what the multiplicative option of ``ge_gravity``
  converges to);
* market clearing ``Y_i w_i = sum_j pi_ij B_ij w_i^(-theta) E'_j / Phat_j^(-theta)``, i.e.
  ``w_i = (sum_j pi_ij B_ij E'_j / Phat_j^(-theta) / Y_i)^(1 / (1 + theta))``;
* outward multilateral resistance ``Pihat_i^(-theta) = w_i^(1 + theta)`` (from
  ``Y_i = (beta_i p_i)^(1 - sigma) Pi_i^(1 - sigma)`` with endowments fixed);
* new flows ``X'_ij = pi_ij B_ij w_i^(-theta) / Phat_j^(-theta) E'_j``.

Prices are determined up to a numeraire: either world output is held constant,
``sum Y w = sum Y`` (``ge_gravity``), or the reference country's inward multilateral resistance
is held at one, ``Phat_R = 1`` (Yotov et al. 2016). The fixed point iterates the market-clearing
condition (Baier, Yotov & Zylkin 2019) and stops when the largest change in
``log w`` between two iterations is below the tolerance.

The conditional equilibrium keeps output and expenditure fixed and lets both multilateral
resistances adjust: ``X^c_ij = a_i b_j X_ij B_ij`` with the margins of ``X``, the constrained
PPML of Yotov et al. (2016), solved here by biproportional scaling.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from migtrade.errors import ConvergenceError

Imbalances = Literal["additive", "multiplicative"]


@dataclass(frozen=True)
class Problem:
    """A baseline and a change of trade costs, everything a solver needs.

    ``reference`` is the row index of the numeraire country (``Phat_R = 1``), or None to hold
    world output constant.
    """

    flows: np.ndarray
    change: np.ndarray
    theta: float
    imbalances: Imbalances = "additive"
    reference: int | None = None

    @property
    def output(self) -> np.ndarray:
        """Baseline output ``Y_i``, the row sums."""
        return self.flows.sum(axis=1)

    @property
    def expenditure(self) -> np.ndarray:
        """Baseline expenditure ``E_j``, the column sums."""
        return self.flows.sum(axis=0)


@dataclass(frozen=True)
class Equilibrium:
    """A solved counterfactual: changes (new over old) and new levels.

    ``imr`` and ``omr`` are the changes in P and Pi themselves, not in their powers
    ``1 - sigma``; ``conditional`` are the flows with output and expenditure fixed.
    """

    price: np.ndarray
    imr: np.ndarray
    omr: np.ndarray
    output: np.ndarray
    expenditure: np.ndarray
    flows: np.ndarray
    conditional: np.ndarray
    iterations: int
    last_change: float


def expenditure_after(problem: Problem, w: np.ndarray) -> np.ndarray:
    """New expenditure under the problem's imbalance convention, given price changes ``w``."""
    Y, E = problem.output, problem.expenditure
    if problem.imbalances == "multiplicative":
        return E * w * (Y @ w) / (E @ w)
    return Y * w + (E - Y)


def _normalise(problem: Problem, w: np.ndarray, weighted: np.ndarray) -> np.ndarray:
    """Scale ``w`` to the numeraire; ``weighted`` is ``pi * B``."""
    if problem.reference is None:
        Y = problem.output
        return w * (Y.sum() / (Y @ w))
    r = problem.reference
    theta = problem.theta
    # Phat_R^(-theta) scales as c^(-theta) when w scales by c: pick c so that Phat_R = 1.
    return w * (weighted[:, r] @ w ** (-theta)) ** (1.0 / theta)


def solve_fixed_point(problem: Problem, *, tol: float = 1e-10, maxiter: int = 10_000) -> Equilibrium:
    """Solve for the full-endowment equilibrium by the exact-hat fixed point of ``ge_gravity``.

    Parameters
    ----------
    problem
        Baseline flows, cost change, trade elasticity, imbalances and numeraire.
    tol
        Stop when ``max |log w_new - log w|`` is below this.
    maxiter
        Iterations before giving up.

    Raises
    ------
    ConvergenceError
        When the tolerance is not reached within ``maxiter`` iterations.
    """
    X, B, theta = problem.flows, problem.change, problem.theta
    Y, E = problem.output, problem.expenditure
    weighted = (X / E[None, :]) * B

    def step(w: np.ndarray) -> np.ndarray:
        p_mtheta = weighted.T @ w ** (-theta)
        e_new = expenditure_after(problem, w)
        w_new = ((weighted @ (e_new / p_mtheta)) / Y) ** (1.0 / (1.0 + theta))
        return _normalise(problem, w_new, weighted)

    return iterate_prices(
        problem, step, tol=tol, maxiter=maxiter, solver="the fixed-point solver", unit="iterations",
        hint="Raise --maxiter, loosen --tol, or check the partial effects for extreme values.")


def iterate_prices(problem: Problem, step: Callable[[np.ndarray], np.ndarray], *, tol: float,
                   maxiter: int, solver: str, unit: str, hint: str) -> Equilibrium:
    """Iterate ``w -> step(w)`` from ``w = 1`` until ``max |log w_new - log w| < tol``.

    The loop of every full-endowment solver: ``step`` is one update of the factory-gate price
    changes (already normalised to the numeraire); ``solver``, ``unit`` and ``hint`` word the
    error when the tolerance is not reached within ``maxiter`` updates.

    Raises
    ------
    ConvergenceError
        Naming the solver, the last change and the tolerance.
    """
    w = np.ones(problem.flows.shape[0])
    change = np.inf
    for iteration in range(1, maxiter + 1):
        w_new = step(w)
        change = float(np.max(np.abs(np.log(w_new) - np.log(w))))
        w = w_new
        if not np.isfinite(change):
            break
        if change < tol:
            return equilibrium_at(problem, w, iterations=iteration, last_change=change, tol=tol)
    raise ConvergenceError(
        f"{solver} did not converge in {maxiter} {unit} (last change in log factory-gate prices "
        f"{change:.3g}, tolerance {tol:g})", hint)


def equilibrium_at(problem: Problem, w: np.ndarray, *, iterations: int, last_change: float,
                   tol: float = 1e-10) -> Equilibrium:
    """Every counterfactual quantity implied by the factory-gate price changes ``w``."""
    X, B, theta = problem.flows, problem.change, problem.theta
    E = problem.expenditure
    weighted = (X / E[None, :]) * B
    p_mtheta = weighted.T @ w ** (-theta)
    e_new = expenditure_after(problem, w)
    flows = weighted * (w ** (-theta))[:, None] * (e_new / p_mtheta)[None, :]
    return Equilibrium(
        price=w,
        imr=p_mtheta ** (-1.0 / theta),
        omr=w ** (-(1.0 + theta) / theta),
        output=problem.output * w,
        expenditure=e_new,
        flows=flows,
        conditional=biproportional(X * B, problem.output, problem.expenditure, tol=tol),
        iterations=iterations,
        last_change=last_change,
    )


def biproportional(kernel: np.ndarray, rows: np.ndarray, cols: np.ndarray, *, tol: float = 1e-10,
                   maxiter: int = 100_000) -> np.ndarray:
    """Scale ``kernel`` by row and column factors so that it has the given margins.

    This is the fitted matrix of a PPML of any flows with these margins on exporter and
    importer fixed effects with ``log(kernel)`` as offset (the fixed effects' first-order
    conditions are exactly the margins). Stops when every margin is met to a relative ``tol``.

    Raises
    ------
    ConvergenceError
        When the margins are not met within ``maxiter`` rounds.
    """
    a = np.ones(kernel.shape[0])
    b = cols / (kernel.T @ a)
    gap = np.inf
    for _ in range(maxiter):
        a = rows / (kernel @ b)
        b = cols / (kernel.T @ a)
        # Columns hold exactly after the b step; the rows' relative gap measures the distance.
        gap = float(np.max(np.abs(a * (kernel @ b) / rows - 1.0)))
        if gap < tol:
            return kernel * a[:, None] * b[None, :]
    raise ConvergenceError(
        f"the conditional equilibrium (biproportional scaling) did not converge (relative gap "
        f"in output {gap:.3g})",
        "Check the baseline for countries that trade with nobody but themselves.",
    )
