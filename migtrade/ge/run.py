"""One counterfactual from data to the ``migtrade.ge/1`` result: the one entry point of the
general-equilibrium engine, shared by the command line, recipes and the Python API."""

from __future__ import annotations

import platform
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from migtrade.errors import DataError
from migtrade.ge.baseline import Baseline, prepare_baseline, resolve_columns
from migtrade.ge.costs import CostModel, build_cost_model
from migtrade.ge.draws import DrawContext, draw_coefficients, run_draws
from migtrade.ge.options import GEOptions
from migtrade.ge.outputs import changed_countries, country_rows, pair_rows
from migtrade.ge.result import GEResult
from migtrade.ge.solve import Equilibrium, Problem, biproportional
from migtrade.ge.solvers import SOLVERS
from migtrade.version import __version__


@dataclass(frozen=True)
class _Scenario:
    """The problem to solve and what the document says about where it came from."""

    baseline: Baseline
    problem: Problem
    kind: str  # "observed" or "fitted"
    notes: tuple[str, ...]
    costs: CostModel | None = None


def run_counterfactual(frame: pd.DataFrame, options: GEOptions, *,
                       data_info: dict[str, Any] | None = None, workers: int | None = None,
                       scheduler: str | None = None) -> GEResult:
    """Solve a general-equilibrium counterfactual of structural gravity.

    Parameters
    ----------
    frame
        A panel of bilateral flows with domestic flows (exporter == importer) and a year column.
    options
        The scenario and the solver's settings (:class:`GEOptions`).
    data_info
        Where the data came from, copied into the document's ``data``.
    workers, scheduler
        Run the Monte Carlo draws on a local Dask cluster of ``workers`` processes, or on the
        running cluster at ``scheduler`` (the numbers do not change: the draws are made here).

    Returns
    -------
    GEResult
        Per-country changes, per-pair flows, and (with draws) their intervals.

    Raises
    ------
    DataError, UsageError
        Bad input, named with the fix (exit 2).
    ConvergenceError
        When the solver does not reach its tolerance (exit 5).

    Notes
    -----
    ``--beta``: the baseline is the year's observed flows and ``exp(beta_ij)`` the change in
    ``t_ij^(1 - sigma)``. ``--estimate``: the model is estimated by PPML, the pair costs are
    built from its pair effects and coefficients (:mod:`migtrade.ge.costs`), the baseline is the
    year's flows fitted from those costs with exporter and importer effects (their output and
    expenditure are the observed ones), and the change in costs comes from ``--change``. The
    equilibrium is that of :mod:`migtrade.ge.solve`, by the fixed point or by GEPPML.
    """
    columns = resolve_columns(frame, options)
    scenario = _beta_scenario(frame, options, columns) if options.beta is not None else \
        _estimated_scenario(frame, options, columns, data_info)
    problem = scenario.problem
    eq, solver_notes, converged = _solve(problem, options)
    countries = country_rows(scenario.baseline.countries, problem, eq, changed_countries(problem.change))
    notes = [*_baseline_notes(scenario, options), *scenario.notes, *solver_notes]
    draws_block = None
    if options.draws:
        assert scenario.costs is not None  # GEOptions allows draws only with --estimate
        draws_block = _draws(scenario, options, countries, notes, workers, scheduler)
    costs = scenario.costs
    extra: dict[str, Any] = {
        "options": {"tol": options.tol, "maxiter": options.maxiter, "max_rounds": options.max_rounds,
                    "vcov": options.vcov if options.estimate else None,
                    "columns": {"exporter": columns.exporter, "importer": columns.importer,
                                "trade": columns.trade, "year": columns.year}},
        "estimation": None if costs is None else costs.fit.result.to_dict(),
        "fill_estimation": None if costs is None or costs.fill is None else costs.fill.result.to_dict(),
    }
    return GEResult(
        year=options.year, sigma=options.substitution, theta=options.elasticity,
        reference=None if problem.reference is None else scenario.baseline.countries[problem.reference],
        method=options.method, imbalances=options.imbalances,
        scenario={"beta": options.beta, "estimate": options.estimate, "change": options.change,
                  "fill_pairs": options.fill_pairs, "where": options.where},
        baseline=scenario.kind,
        partial={} if costs is None else {
            t: {"estimate": float(b), "std_error": float(np.sqrt(max(costs.cov[k, k], 0.0)))}
            for k, (t, b) in enumerate(zip(costs.terms, costs.params, strict=True))},
        countries=countries, pairs=tuple(pair_rows(scenario.baseline.countries, problem, eq)),
        draws=draws_block, converged=converged, iterations=eq.iterations, tolerance=options.tol,
        notes=tuple(notes), data=dict(data_info or {}), versions=_versions(), extra=extra,
    )


def _beta_scenario(frame: pd.DataFrame, options: GEOptions, columns: Any) -> _Scenario:
    assert options.beta is not None
    baseline = prepare_baseline(frame, options, columns, where=options.where)
    if options.beta not in baseline.rows.columns:
        from migtrade.spec.design import column_not_found

        raise column_not_found(options.beta, baseline.rows.columns)
    raw = baseline.rows[options.beta]
    if not pd.api.types.is_numeric_dtype(raw):
        raise DataError(f"the partial-effect column '{options.beta}' is not numeric",
                        "Point --beta at a column of changes in log trade costs.")
    beta = baseline.matrix(raw.to_numpy(dtype=float, na_value=np.nan))
    notes = []
    if np.isinf(beta).any():
        raise DataError(f"the partial-effect column '{options.beta}' has infinite values",
                        "Fix those rows.")
    missing = np.isnan(beta)
    if missing.any():
        notes.append(f"{int(missing.sum())} pairs have no value of '{options.beta}'; their partial "
                     "effect is taken as zero (as ge_gravity does).")
        beta = np.where(missing, 0.0, beta)
    if np.any(np.diag(beta) != 0):
        notes.append(f"{int(np.sum(np.diag(beta) != 0))} domestic pairs have a non-zero "
                     f"'{options.beta}'; it is set to zero (as ge_gravity does).")
        np.fill_diagonal(beta, 0.0)
    if not np.any(beta != 0):
        raise DataError(f"the partial effects in '{options.beta}' are zero for every pair in "
                        f"{options.year}: the change touches no pair",
                        "Check the column and the year.")
    problem = Problem(flows=baseline.flows, change=np.exp(beta), theta=options.elasticity,
                      imbalances=options.imbalances, reference=baseline.reference)
    return _Scenario(baseline=baseline, problem=problem, kind="observed", notes=tuple(notes))


def _estimated_scenario(frame: pd.DataFrame, options: GEOptions, columns: Any,
                        data_info: dict[str, Any] | None) -> _Scenario:
    baseline = prepare_baseline(frame, options, columns)
    costs = build_cost_model(frame, options, columns, baseline, data_info)
    log_t, log_new = costs.log_costs()
    n = baseline.size
    fitted = biproportional(np.exp(log_t).reshape(n, n), baseline.flows.sum(axis=1),
                            baseline.flows.sum(axis=0), tol=min(options.tol, 1e-12))
    problem = Problem(flows=fitted, change=np.exp(log_new - log_t).reshape(n, n),
                      theta=options.elasticity, imbalances=options.imbalances,
                      reference=baseline.reference)
    notes = []
    if costs.filled.any():
        cols = baseline.columns
        labels = (baseline.rows[cols.exporter].astype(str) + "-"
                  + baseline.rows[cols.importer].astype(str))[costs.filled]
        notes.append(f"{int(costs.filled.sum())} pairs had no estimated pair effect (no trade in "
                     f"the estimation sample: {', '.join(labels.iloc[:6])}"
                     f"{', ...' if len(labels) > 6 else ''}); their trade costs are predicted by "
                     f"a PPML on {options.fill_pairs} with exporter and importer effects in "
                     f"{options.year}.")
    touched = int(costs.touched.sum())
    notes.append(f"The change '{options.change}' alters the trade costs of {touched} pairs.")
    return _Scenario(baseline=baseline, problem=problem, kind="fitted", notes=tuple(notes), costs=costs)


def _solve(problem: Problem, options: GEOptions) -> tuple[Equilibrium, list[str], bool]:
    if options.max_rounds is not None:
        from migtrade.ge.geppml import solve_published_loop

        loop = solve_published_loop(problem, max_rounds=options.max_rounds)
        how = ("stopped by its rule (standard deviation and maximum of the change in price "
               "changes at most 0.01)" if loop.stopped_by_rule else
               f"stopped at max_rounds = {options.max_rounds} before its rule was met")
        return loop.equilibrium, [
            f"Solved by the published GEPPML loop of Yotov et al. (2016, ch. 2) for "
            f"{loop.rounds} rounds, {how}; this is not a converged equilibrium (leave max_rounds "
            "unset for one)."], loop.stopped_by_rule
    eq = SOLVERS[options.method](problem, tol=options.tol, maxiter=options.maxiter)
    what = "iterations of the fixed point of ge_gravity" if options.method == "fixed-point" else \
        "rounds of constrained PPML (GEPPML)"
    return eq, [f"Converged in {eq.iterations} {what}: the largest change in log factory-gate "
                f"prices was {eq.last_change:.2g} < {options.tol:g}."], True


def _baseline_notes(scenario: _Scenario, options: GEOptions) -> list[str]:
    year = options.year
    if scenario.kind == "observed":
        base = f"the flows of {year} as observed"
    else:
        base = (f"the flows of {year} fitted by a PPML with exporter and importer effects "
                "constrained by the estimated trade costs (the GEPPML baseline of Yotov et al. "
                "2016; it has the observed output and expenditure)")
    ref = scenario.problem.reference
    numeraire = ("world output is held constant (the numeraire of ge_gravity)" if ref is None else
                 f"the inward multilateral resistance of {scenario.baseline.countries[ref]} is "
                 "held at one (the numeraire)")
    imbalance = ("trade deficits are held constant in value (additive)"
                 if options.imbalances == "additive" else
                 "expenditure is held at its ratio to output (multiplicative), scaled so that "
                 "world expenditure equals world output")
    return [f"Percent changes are (counterfactual - baseline) / baseline x 100, where the "
            f"baseline is {base}.",
            f"Sigma = {options.substitution:g} (trade elasticity theta = {options.elasticity:g}); "
            f"{numeraire}; {imbalance}."]


def _draws(scenario: _Scenario, options: GEOptions, countries: dict[str, dict[str, Any]],
           notes: list[str], workers: int | None = None, scheduler: str | None = None) -> dict[str, Any]:
    costs = scenario.costs
    assert costs is not None
    problem = scenario.problem
    context = DrawContext(
        pair_cost=costs.pair_cost, x_base=costs.x_base, x_new=costs.x_new,
        output=problem.output, expenditure=problem.expenditure, theta=problem.theta,
        imbalances=problem.imbalances, reference=problem.reference,
        method="fixed-point" if options.max_rounds is not None else options.method,
        tol=options.tol, maxiter=options.maxiter)
    coefficients, seed = draw_coefficients(costs.params, costs.cov, options.draws, options.seed)
    outcome = run_draws(context, coefficients, seed, cluster_workers=workers, scheduler=scheduler)
    intervals = outcome.intervals(scenario.baseline.countries, options.conf_level)
    for iso, fields in intervals.items():
        countries[iso]["intervals"] = fields
    failed = outcome.failed()
    notes.append(
        f"Intervals: {options.conf_level:.0%} percentile intervals over {outcome.succeeded} of "
        f"{options.draws} Monte Carlo draws of the coefficients from their estimated "
        f"({costs.fit.result.vcov.type}) sampling distribution, pair costs held at their "
        f"estimates (seed {seed})"
        + ("; each draw solved to convergence by the fixed point" if options.max_rounds else "")
        + (f"; {len(failed)} draws failed and are listed under draws.failed." if failed else "."))
    return {"requested": options.draws, "succeeded": outcome.succeeded, "failed": failed,
            "seed": seed, "conf_level": options.conf_level}


def _versions() -> dict[str, str]:
    return {"migtrade": __version__, "python": platform.python_version(),
            "numpy": np.__version__, "pandas": pd.__version__}
