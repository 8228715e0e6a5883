"""GEPPML: the counterfactual equilibrium by iterated, constrained PPML (Anderson, Larch & Yotov
2018; Yotov et al. 2016, ch. 2).

Notes
-----
A PPML of flows on exporter and importer fixed effects with the log trade costs as an offset
(coefficient constrained to one) fits exactly the margins of the flows it is given, and its
fixed effects are the structural terms: with costs ``K = X B`` (baseline flows times the cost
change, so that the baseline itself has zero fixed effects) and the importer effect of the
reference country R set to zero,

``exp(a_i) = w_i^(-theta) E'_R / E_R``,   ``exp(b_j) = (E'_j / E_j) / Phat_j^(-theta) / (E'_R / E_R)``.

Each round builds flows with the margins of the current guess, output ``Y w`` and expenditure
``E'(w)`` (their product over world output, scaled to those margins on the pairs that can
trade), estimates the constrained PPML with migtrade's engine, and reads the new factory-gate
prices off the exporter effects, ``w_i = (exp(a_i) E_R / E'_R)^(-1 / theta)`` (or rescaled to
constant world output). Its fixed point is the equilibrium of :mod:`migtrade.ge.solve`.

:func:`solve_published_loop` is the loop of the book's do-files instead, which updates the flows
by the changes in prices and multilateral resistances of the previous round and stops when the
standard deviation and the maximum of the change in price changes are below 0.01. It does not
converge to the equilibrium (on the NAFTA application the rounds oscillate around it and drift
away after some twenty rounds); it is here to reproduce the published numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

from migtrade.errors import UsageError
from migtrade.estimation.absorb import Absorber
from migtrade.estimation.ppml import fit_ppml
from migtrade.ge.solve import (
    Equilibrium,
    Problem,
    biproportional,
    expenditure_after,
    iterate_prices,
)

# The inner PPML is solved far below the outer tolerance, so that the prices read off its fixed
# effects are exact to ~1e-13 (measured against biproportional scaling on the 69-country data).
PPML_TOL = 1e-14
PPML_FE_TOL = 1e-12
# Log flows within this of an exact exporter-plus-importer form are taken as their own fit.
STRUCTURAL_GAP = 1e-11
# The book's stopping rule: sd and max of the change in price changes at most 0.01.
PUBLISHED_TOL = 0.01


@dataclass(frozen=True)
class _Grid:
    """The pairs that can trade (a positive cost kernel) as a long table for the engine."""

    rows: np.ndarray
    cols: np.ndarray
    log_kernel: np.ndarray
    n: int

    @classmethod
    def of(cls, kernel: np.ndarray) -> _Grid:
        rows, cols = np.nonzero(kernel > 0)
        return cls(rows=rows.astype(np.int64), cols=cols.astype(np.int64),
                   log_kernel=np.log(kernel[rows, cols]), n=kernel.shape[0])

    def matrix(self, values: np.ndarray) -> np.ndarray:
        out = np.zeros((self.n, self.n))
        out[self.rows, self.cols] = values
        return out


def _fit(grid: _Grid, y: np.ndarray, reference: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    positive = bool(np.all(y > 0))
    if positive:
        # A dependent variable that already has the model's form (the published loop builds
        # one every round) is its own fit; the engine's deviance would be zero up to rounding,
        # below what its relative convergence test can resolve.
        a, b, gap = _two_way_effects(np.log(y) - grid.log_kernel, grid.rows, grid.cols, grid.n,
                                     reference)
        if gap < STRUCTURAL_GAP:
            return grid.matrix(y), np.exp(a), np.exp(b)
    codes = [grid.rows, grid.cols]
    fit = fit_ppml(y, np.empty((y.shape[0], 0), order="F"), (), Absorber(codes), np.ones(y.shape[0]),
                   offset=grid.log_kernel, fe_codes=codes, tol=PPML_TOL, fe_tol=PPML_FE_TOL)
    a, b, _ = _two_way_effects(fit.eta - grid.log_kernel, grid.rows, grid.cols, grid.n, reference)
    return grid.matrix(fit.mu), np.exp(a), np.exp(b)


def _two_way_effects(values: np.ndarray, rows: np.ndarray, cols: np.ndarray, n: int,
                     reference: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Least-squares exporter and importer effects ``a_i + b_j ~ values`` with ``b_reference = 0``,
    and the largest absolute residual.

    The normal equations of the two-way layout are 2N x 2N and sparse; with ``b_reference``
    removed they have full rank whenever the pairs connect every country, as domestic flows
    guarantee. A sparse LU keeps them off the threaded dense BLAS, which competes with the
    engine's compiled loops for the cores.
    """
    m = rows.shape[0]
    design = sp.csr_matrix((np.ones(2 * m), (np.repeat(np.arange(m), 2),
                                             np.column_stack([rows, n + cols]).ravel())),
                           shape=(m, 2 * n))
    keep = np.flatnonzero(np.arange(2 * n) != n + reference)
    design = design[:, keep]
    gram = (design.T @ design).tocsc()
    sol = np.zeros(2 * n)
    sol[keep] = spsolve(gram, design.T @ values)
    gap = float(np.max(np.abs(sol[rows] + sol[n + cols] - values)))
    return sol[:n], sol[n:], gap


def solve_geppml(problem: Problem, *, tol: float = 1e-10, maxiter: int = 10_000) -> Equilibrium:
    """Solve the full-endowment equilibrium by iterated constrained PPML.

    Parameters
    ----------
    problem
        Baseline flows, cost change, trade elasticity, imbalances and numeraire.
    tol
        Stop when ``max |log w_new - log w|`` between rounds is below this.
    maxiter
        Rounds (one PPML each) before giving up.

    Raises
    ------
    ConvergenceError
        When the tolerance is not reached within ``maxiter`` rounds.
    """
    X, B, theta = problem.flows, problem.change, problem.theta
    Y, E = problem.output, problem.expenditure
    kernel = X * B
    grid = _Grid.of(kernel)
    support = (kernel > 0).astype(float)
    # Any fixed effect normalisation gives the same prices once rescaled below; without a
    # reference country the first country's importer effect is the one set to zero.
    anchor = 0 if problem.reference is None else problem.reference

    def step(w: np.ndarray) -> np.ndarray:
        y_new, e_new = Y * w, expenditure_after(problem, w)
        # Flows with exactly the current output and expenditure on the pairs that can trade:
        # their product over world output, scaled to those margins where some pairs cannot.
        target = biproportional(support * np.outer(y_new, e_new) / y_new.sum(), y_new, e_new,
                                tol=1e-14)
        _, exp_a, _ = _fit(grid, target[grid.rows, grid.cols], anchor)
        w_new = exp_a ** (-1.0 / theta)
        if problem.reference is None:
            return w_new * (Y.sum() / (Y @ w_new))
        return w_new * (E[anchor] / e_new[anchor]) ** (-1.0 / theta)

    return iterate_prices(problem, step, tol=tol, maxiter=maxiter, solver="GEPPML", unit="rounds",
                          hint="Raise --maxiter, loosen --tol, or use --method fixed-point.")


@dataclass(frozen=True)
class PublishedLoop:
    """What the book's loop ends with: the equilibrium as its do-file computes it."""

    equilibrium: Equilibrium
    rounds: int
    stopped_by_rule: bool


def solve_published_loop(problem: Problem, *, max_rounds: int) -> PublishedLoop:
    """The full-endowment loop of Yotov et al. (2016), ch. 2, as the do-files run it.

    Round s fits the constrained PPML to the previous fitted flows times
    ``dp_i dE_j / (dOMR_i dIMR_j)`` (the previous round's changes; 1 in the first), updates
    output to the fitted row sums, expenditure by the imbalance rule, the price change
    ``dp_i = ((exp(a_i^s) / exp(a_i^(s-1))) / (E_R^s / E_R^(s-1)))^(1 / (1 - sigma))``, and
    the resistances ``OMR = Y E_R / exp(a)``, ``IMR = E / (exp(b) E_R)``. It stops when the
    standard deviation and the maximum of ``dp^(s-1) - dp^(s-2)`` are at most 0.01, or after
    ``max_rounds`` rounds. The final flows are ``Y E t' / (OMR IMR)`` with
    ``Y = Y_0 ((exp(a^S) / exp(a^0)) / (E_R^S / E_R^0))^(1 / (1 - sigma))``.

    Raises
    ------
    UsageError
        When the problem has no reference country (the loop normalises on one).
    """
    if problem.reference is None:
        raise UsageError("the published GEPPML loop normalises on a reference country",
                         "Give --reference (the book uses DEU).")
    r, theta = problem.reference, problem.theta
    X, B = problem.flows, problem.change
    Y0, E0 = problem.output, problem.expenditure
    kernel = X * B
    grid = _Grid.of(kernel)

    def spend(y: np.ndarray) -> np.ndarray:
        return E0 * y / Y0 if problem.imbalances == "multiplicative" else y + (E0 - Y0)

    # Round 1 is the conditional equilibrium; the baseline effects are zero by construction of K.
    mu, exp_a, exp_b = _fit(grid, X[grid.rows, grid.cols], r)
    y_s, e_s = Y0.copy(), E0.copy()
    dp = exp_a ** (-1.0 / theta)  # (exp(a^1)/exp(a^0) / (E_R^1/E_R^0))^(1/(1-sigma)), a^0 = 0
    dp_before = np.zeros_like(dp)  # the do-file starts the price changes of round 0 at zero
    omr, imr = y_s * e_s[r] / exp_a, e_s / (exp_b * e_s[r])
    d_omr, d_imr = np.ones_like(dp), np.ones_like(dp)
    rounds, stopped = 0, False
    while rounds < max_rounds:
        rounds += 1
        d_spend = spend(y_s * dp) / spend(y_s)
        flows = mu * (dp / d_omr)[:, None] * (d_spend / d_imr)[None, :]
        mu, exp_a_new, exp_b = _fit(grid, flows[grid.rows, grid.cols], r)
        y_new = mu.sum(axis=1)
        e_new = spend(y_new)
        dp_new = ((exp_a_new / exp_a) / (e_new[r] / e_s[r])) ** (-1.0 / theta)
        omr_new, imr_new = y_new * e_new[r] / exp_a_new, e_new / (exp_b * e_new[r])
        d_omr, d_imr = omr_new / omr, imr_new / imr
        step = dp - dp_before
        stopped = bool(np.std(step, ddof=1) <= PUBLISHED_TOL and abs(np.max(step)) <= PUBLISHED_TOL)
        dp_before, dp = dp, dp_new
        exp_a, omr, imr, y_s, e_s = exp_a_new, omr_new, imr_new, y_new, e_new
        if stopped:
            break
    price = (exp_a / (e_s[r] / E0[r])) ** (-1.0 / theta)
    y_full = Y0 * price
    e_full = spend(y_full)
    omr_full = y_full * e_s[r] / exp_a
    imr_full = e_s / (exp_b * e_s[r])
    flows = np.outer(y_full / omr_full, e_full / imr_full) * kernel
    # The baseline resistances: the effects of the baseline fit are zero, so OMR_0 = Y E_R and
    # IMR_0 = E / E_R; the changes of P and Pi are the 1/(1-sigma) powers of the ratios.
    eq = Equilibrium(
        price=price,
        imr=(imr_full / (E0 / E0[r])) ** (-1.0 / theta),
        omr=(omr_full / (Y0 * E0[r])) ** (-1.0 / theta),
        output=y_full,
        expenditure=e_full,
        flows=flows,
        conditional=biproportional(kernel, Y0, E0),
        iterations=rounds,
        last_change=float(np.max(np.abs(np.log(dp)))),
    )
    return PublishedLoop(equilibrium=eq, rounds=rounds, stopped_by_rule=stopped)
