"""Confidence intervals for every general-equilibrium number by Monte Carlo.

Notes
-----
The coefficients of the estimated model are drawn from their estimated (clustered) sampling
distribution, ``b_d ~ N(b, V)``, with a seeded :class:`numpy.random.Generator`; all draws are
made up front in the parent, so the numbers do not depend on how the work is shared out. Each
draw rebuilds the costs (pair costs held at their estimates), refits the baseline, re-solves
the counterfactual, and yields every country measure. Intervals are the percentiles
``(1 - level) / 2`` and ``(1 + level) / 2`` over the draws that succeeded; draws that fail are
listed with their reason, never dropped silently.

Draws are independent tasks, run in a pool of processes (one per core, started fresh so that
no thread of the parent's compiled loops is inherited), in chunks to keep the overhead low; or,
with ``cluster_workers`` or ``scheduler``, on a Dask cluster through the engine of split runs
(:func:`migtrade.split.cluster.map_chunks`).
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from migtrade.errors import MigtradeError
from migtrade.ge.outputs import COUNTRY_MEASURES, measures
from migtrade.ge.solve import Imbalances, Problem, biproportional
from migtrade.ge.solvers import SOLVERS


@dataclass(frozen=True)
class DrawContext:
    """What every draw shares: costs as a function of the coefficients, baseline margins and
    the solver's settings."""

    pair_cost: np.ndarray
    x_base: np.ndarray
    x_new: np.ndarray
    output: np.ndarray
    expenditure: np.ndarray
    theta: float
    imbalances: Imbalances
    reference: int | None
    method: str
    tol: float
    maxiter: int

    def problem(self, params: np.ndarray) -> Problem:
        """The counterfactual problem for one coefficient vector."""
        n = self.output.shape[0]
        log_t = self.pair_cost + self.x_base @ params
        log_new = self.pair_cost + self.x_new @ params
        kernel = np.exp(log_t).reshape(n, n)
        baseline = biproportional(kernel, self.output, self.expenditure, tol=min(self.tol, 1e-10))
        return Problem(flows=baseline, change=np.exp(log_new - log_t).reshape(n, n),
                       theta=self.theta, imbalances=self.imbalances, reference=self.reference)

    def solve(self, params: np.ndarray) -> np.ndarray:
        """Every country measure (N x fields) for one coefficient vector."""
        # A draw far in the tails can overflow the costs: that is a failed draw, not a warning.
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            problem = self.problem(params)
            eq = SOLVERS[self.method](problem, tol=self.tol, maxiter=self.maxiter)
        return measures(problem, eq)


@dataclass(frozen=True)
class DrawOutcome:
    """The results of all draws: values[k] is None for a failed draw, with reasons[k] set."""

    values: tuple[np.ndarray | None, ...]
    reasons: tuple[str | None, ...]
    seed: int

    @property
    def succeeded(self) -> int:
        """How many draws solved."""
        return sum(v is not None for v in self.values)

    def failed(self) -> list[dict[str, Any]]:
        """The failed draws, numbered from 1, with their reasons."""
        return [{"draw": k + 1, "reason": r} for k, r in enumerate(self.reasons) if r is not None]

    def intervals(self, countries: tuple[str, ...], conf_level: float) -> dict[str, dict[str, list[float]]]:
        """Percentile intervals per country and measure (empty when no draw succeeded)."""
        ok = [v for v in self.values if v is not None]
        if not ok:
            return {}
        stack = np.stack(ok)  # draws x countries x fields
        tail = (1.0 - conf_level) / 2.0 * 100.0
        low, high = np.nanpercentile(stack, [tail, 100.0 - tail], axis=0)
        return {iso: {name: [float(low[k, j]), float(high[k, j])]
                      for j, name in enumerate(COUNTRY_MEASURES)}
                for k, iso in enumerate(countries)}


def draw_coefficients(params: np.ndarray, cov: np.ndarray, draws: int, seed: int | None) -> tuple[np.ndarray, int]:
    """``draws`` vectors from N(params, cov), and the seed used (drawn from the OS when None,
    and reported, so that any run can be repeated)."""
    used = int(np.random.SeedSequence().generate_state(1, np.uint32)[0]) if seed is None else int(seed)
    rng = np.random.default_rng(used)
    # eigh copes with a covariance that is only semi-definite (a coefficient without variance).
    return rng.multivariate_normal(params, cov, size=draws, method="eigh"), used


_CONTEXT: dict[str, DrawContext] = {}


def _start_worker(context: DrawContext) -> None:
    _CONTEXT["draw"] = context


def _one(item: tuple[int, np.ndarray]) -> tuple[int, np.ndarray | None, str | None]:
    k, params = item
    try:
        return k, _CONTEXT["draw"].solve(params), None
    except (MigtradeError, ArithmeticError, ValueError, np.linalg.LinAlgError) as exc:
        text = exc.one_line() if isinstance(exc, MigtradeError) else f"{type(exc).__name__}: {exc}"
        return k, None, text


def _chunk(context: DrawContext, items: list[tuple[int, np.ndarray]]) -> list[tuple[int, np.ndarray | None, str | None]]:
    """A chunk of draws on a Dask worker."""
    _start_worker(context)
    return [_one(item) for item in items]


def run_draws(context: DrawContext, coefficients: np.ndarray, seed: int, *,
              workers: int | None = None, cluster_workers: int | None = None,
              scheduler: str | None = None) -> DrawOutcome:
    """Solve the counterfactual for each row of ``coefficients``, in parallel.

    Parameters
    ----------
    workers
        Processes; None uses every core. One runs in this process.
    cluster_workers, scheduler
        Run the draws on a local Dask cluster of this many worker processes, or on the running
        cluster whose scheduler is at this address, instead of a process pool.

    Notes
    -----
    The workers are started with ``spawn``: a script that calls this at import time must do so
    under ``if __name__ == "__main__":``, as for any process pool.
    """
    draws = coefficients.shape[0]
    n_workers = max(1, min(workers or os.cpu_count() or 1, draws))
    items = list(enumerate(coefficients))
    if cluster_workers is not None or scheduler is not None:
        from migtrade.split.cluster import client_for, map_chunks

        with client_for(cluster_workers, scheduler) as client:
            results = map_chunks(client, _chunk, context, items)
    elif n_workers == 1:
        _start_worker(context)
        results = [_one(item) for item in items]
    else:
        chunk = max(1, draws // (n_workers * 8))
        with ProcessPoolExecutor(max_workers=n_workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_start_worker, initargs=(context,)) as pool:
            results = list(pool.map(_one, items, chunksize=chunk))
    values: list[np.ndarray | None] = [None] * draws
    reasons: list[str | None] = [None] * draws
    for k, value, reason in results:
        values[k], reasons[k] = value, reason
    return DrawOutcome(values=tuple(values), reasons=tuple(reasons), seed=seed)
