"""Run the substitution battery on a dyadic panel and reach a verdict.

:func:`run_battery` derives the variables (:mod:`migtrade.hypotheses.variables`), runs every test
of :mod:`migtrade.hypotheses.specs` that the data allow through the estimation engine, lists the
others as skipped with the variable they lack and the commands that provide it, builds the
evidence table and applies the rule of :mod:`migtrade.hypotheses.verdict`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from migtrade.errors import DataError, MigtradeError, UsageError
from migtrade.estimation.bootstrap import BootstrapMethod, BootstrapOptions
from migtrade.estimation.fit import Estimate, FitOptions, estimate
from migtrade.estimation.vcov import VcovSpec
from migtrade.hypotheses.jackknife import DEFAULT_GROUPS, jackknife
from migtrade.hypotheses.lincom import Combination, lincom
from migtrade.hypotheses.report import SubstitutionReport, TestRecord
from migtrade.hypotheses.specs import (
    ALL_TESTS,
    BATTERY,
    CLUSTER,
    FOCUS,
    INSTRUMENT_TARGETS,
    TESTS,
    VOTING,
    TestSpec,
)
from migtrade.hypotheses.variables import DerivedPanel, add_battery_variables
from migtrade.hypotheses.verdict import RULE, Evidence, decide
from migtrade.results.result import EstimationResult
from migtrade.spec.formula import ModelSpec

_COVARIATES = "`migtrade fetch cepii`, then `migtrade panel build --covariates cepii_gravity`"
_WDI = "`migtrade fetch worldbank`, then `migtrade panel build --country-year wdi`"
VARIABLE_SOURCES: dict[str, str] = {
    "trade": "`migtrade fetch cepii` (or your own file with `migtrade fetch file`), then "
             "`migtrade panel build --trade cepii_gravity`",
    "migrant_stock": "`migtrade fetch undesa`, then `migtrade panel build --stocks undesa_stock`",
    "migrant_stock_reverse": "`migtrade fetch undesa`, then "
                             "`migtrade panel build --stocks undesa_stock`",
    "migration_flow": "`migtrade fetch abel-cohen`, then "
                      "`migtrade panel build --flows abel_cohen_flows`",
    **{v: _COVARIATES for v in ("rta", "dist", "contig", "comlang", "colony")},
    **{f"{v}_{s}": _WDI for v in ("gdp", "pop", "remittances", "remittances_gdp")
       for s in ("o", "d")},
}
"""For each panel variable, the commands that put it in the panel."""


class Inference(StrEnum):
    """How the voting tests get their p-values (see :func:`run_battery`)."""

    jackknife = "jackknife"
    bootstrap = "bootstrap"


BOOTSTRAP_REPS = 999
"""Replications of the voting tests' bootstrap: the Bonferroni level alpha/3 is then resolved
in steps of 0.001."""

BOOTSTRAP_METHODS: dict[str, BootstrapMethod] = {"ppml": BootstrapMethod.score,
                                                 "ols": BootstrapMethod.wild}
"""The bootstrap of each model: the score bootstrap for PPML, the wild bootstrap for OLS."""


def voting_bootstrap(spec: TestSpec, reps: int = BOOTSTRAP_REPS) -> BootstrapOptions:
    """The bootstrap of a voting test's numbers: each sum of coefficients that votes, tested
    against zero with the null imposed, clustered by pair; intervals from the unrestricted
    bootstrap (inverting the restricted test would cost a dozen fits per number)."""
    return BootstrapOptions(method=BOOTSTRAP_METHODS[spec.model], reps=reps,
                            hypotheses=tuple(q.terms for q in spec.quantities
                                             if q.role != "supporting"),
                            invert_intervals=False)


def _with_bootstrap(result: EstimationResult, combination: Combination) -> Combination:
    """The combination with its p-value (and interval, when there is one) from the bootstrap."""
    boot = result.bootstrap.get(" + ".join(combination.terms))
    if not boot:
        return combination
    ends = [float("nan") if boot.get(k) is None else float(boot[k]) for k in ("ci_low", "ci_high")]
    lo, hi = ends if all(np.isfinite(ends)) else (combination.ci_low, combination.ci_high)
    return replace(combination, p_value=float(boot["p_value"]), ci_low=lo, ci_high=hi)


def missing_reason(variable: str) -> str:
    """Why a test cannot run: the variable it lacks and how to get it."""
    how = VARIABLE_SOURCES.get(variable)
    if how is None:
        return f"needs '{variable}', which the data lack"
    return f"needs '{variable}', which the data lack; get it with {how}"


def parse_instruments(texts: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Read ``--instrument TARGET=TERM[+TERM...]`` options.

    Parameters
    ----------
    texts
        E.g. ``["trade=rta + gravity_ln_trade", "stock=ln_stock_lag2"]``.

    Returns
    -------
    dict
        Target (a key of :data:`~migtrade.hypotheses.specs.INSTRUMENT_TARGETS`) to its terms.

    Raises
    ------
    UsageError
        On an unknown target, a target given twice, or terms that do not parse.
    """
    out: dict[str, tuple[str, ...]] = {}
    choices = ", ".join(INSTRUMENT_TARGETS)
    for text in texts:
        target, sep, rest = text.partition("=")
        target = target.strip()
        if not sep or target not in INSTRUMENT_TARGETS:
            raise UsageError(f"cannot read --instrument '{text}'",
                             f"Write TARGET=TERMS with TARGET one of {choices}, "
                             "e.g. --instrument 'trade=rta + gravity_ln_trade'.")
        if target in out:
            raise UsageError(f"--instrument gives '{target}' twice", "Give each target once.")
        spec = ModelSpec.parse(f"instrumented ~ {rest}")
        if not spec.terms:
            raise UsageError(f"--instrument '{text}' names no instrument", "Add a variable.")
        out[target] = tuple(t.name for t in spec.terms)
    return out


def _present(frame: pd.DataFrame, column: str) -> bool:
    return column in frame.columns and bool(frame[column].notna().any())


def _nan_combination(label: str, terms: tuple[str, ...]) -> Combination:
    nan = float("nan")
    return Combination(label, terms, nan, nan, nan, nan, nan, nan)


def _first_stage(est: Estimate) -> dict[str, Any] | None:
    block = getattr(est.result, "first_stage", None)
    if block is None:
        block = est.result.to_dict().get("first_stage")
    if block is None:
        return None
    if hasattr(block, "to_dict"):
        block = block.to_dict()
    return dict(block) if isinstance(block, Mapping) else {"value": block}


def _weak_note(first_stage: Mapping[str, Any] | None) -> str | None:
    """A warning when the engine's first stage flags weak instruments."""
    if not first_stage or not first_stage.get("weak_instruments"):
        return None
    stats = [f"{name}: F = {block['f_stat']:.1f}" for name, block in first_stage.items()
             if isinstance(block, Mapping) and isinstance(block.get("f_stat"), (int, float))]
    rule = first_stage.get("weak_instrument_rule", "first-stage F below 10")
    return f"weak instruments ({rule}): " + ", ".join(stats)


def _record(spec: TestSpec, formula: str, est: Estimate, result: EstimationResult,
            notes: list[str]) -> TestRecord:
    quantities = []
    for q in spec.quantities:
        try:
            quantities.append(_with_bootstrap(result, lincom(result, q.terms, label=q.label)))
        except MigtradeError as err:
            quantities.append(_nan_combination(q.label, q.terms))
            notes.append(f"{q.label}: {err.message}")
    event: list[Combination] = []
    if spec.family == "dynamics":
        path = spec.quantities[-1].terms
        for h in range(1, len(path) + 1):
            label = f"{h - 1} step{'s' if h != 2 else ''} after entry"
            try:
                event.append(lincom(result, path[:h], label=label))
            except MigtradeError:
                event.append(_nan_combination(label, path[:h]))
    first_stage = _first_stage(est) if spec.endogenous else None
    weak = _weak_note(first_stage)
    if weak:
        notes.append(weak)
    return TestRecord(name=spec.name, title=spec.title, family=spec.family,
                      description=spec.description, formula=formula, model=spec.model,
                      result=result, quantities=tuple(quantities), event_study=tuple(event),
                      first_stage=first_stage, notes=tuple(notes))


def _select(tests: Sequence[str] | None, include_iv: bool) -> list[TestSpec]:
    if tests is None:
        return list(ALL_TESTS if include_iv else BATTERY)
    unknown = [t for t in tests if t not in TESTS]
    if unknown:
        raise UsageError(f"unknown test '{unknown[0]}'", f"Use one of: {', '.join(TESTS)}.")
    return [TESTS[t] for t in tests]


def run_battery(
    frame: pd.DataFrame | DerivedPanel,
    *,
    alpha: float = 0.05,
    tests: Sequence[str] | None = None,
    include_iv: bool = True,
    instruments: Mapping[str, Sequence[str]] | None = None,
    focus: Sequence[str] = (),
    data_info: Mapping[str, Any] | None = None,
    options: FitOptions | None = None,
    case: dict[str, Any] | None = None,
    jackknife_groups: int = DEFAULT_GROUPS,
    inference: Inference | str = Inference.jackknife,
    bootstrap_reps: int = BOOTSTRAP_REPS,
) -> SubstitutionReport:
    """Run the battery and reach the verdict.

    Parameters
    ----------
    frame
        The dyadic panel, or one already passed through
        :func:`~migtrade.hypotheses.variables.add_battery_variables`.
    alpha
        Significance level of the verdict.
    tests
        Names of the tests to run (default: all, see
        :data:`~migtrade.hypotheses.specs.TESTS`).
    include_iv
        Run the instrumental-variables tests when ``tests`` is None.
    instruments
        ``{target: terms}`` replacing the default instruments (see :func:`parse_instruments`).
    focus
        Country codes: the evidence coefficients are then those of the dyads with one of these
        countries on either side, the other dyads serving as the comparison.
    data_info
        Where the data came from; copied into the report and every result.
    options
        Numerical options of the engine.
    case
        A case study to attach to the report.
    jackknife_groups
        Groups of the delete-a-group jackknife that gives the voting tests their standard
        errors (see :mod:`migtrade.hypotheses.jackknife`); 0 keeps the pair-clustered ones.
    inference
        ``jackknife`` (the default): p-values of the voting numbers from the jackknife;
        ``bootstrap``: from the score bootstrap with the null imposed, clustered by pair
        (:func:`voting_bootstrap`), the standard errors staying pair-clustered.
    bootstrap_reps
        Replications of that bootstrap.

    Returns
    -------
    SubstitutionReport

    Raises
    ------
    DataError
        If no test can run on the variables the data hold (the message names what is missing
        and the commands that provide it), or an instrument names a column the data lack.
    UsageError
        If ``alpha`` is outside (0, 1) or a test name is unknown.
    """
    if not 0 < alpha < 1:
        raise UsageError(f"alpha must be between 0 and 1, not {alpha}", "Use e.g. 0.05.")
    try:
        inference = Inference(inference)
    except ValueError:
        raise UsageError(f"unknown inference '{inference}'", "Use jackknife or bootstrap.") from None
    derived = frame if isinstance(frame, DerivedPanel) else add_battery_variables(frame)
    data = derived.frame
    notes = list(derived.notes)
    if focus:
        codes = {c.upper() for c in focus}
        data = data.assign(**{FOCUS: (data["origin"].isin(codes)
                                      | data["destination"].isin(codes)).astype(float)})
        if not bool(data[FOCUS].any()):
            raise DataError(f"the data have no dyad with {', '.join(sorted(codes))}",
                            "Check the country codes (ISO3) against the panel.")
        notes.append(f"the evidence and the verdict are those of the dyads of "
                     f"{', '.join(sorted(codes))}; the other dyads are the comparison")
    overrides = dict(instruments or {})
    for target, terms in overrides.items():
        cols = ModelSpec.parse(f"instrumented ~ {' + '.join(terms)}").columns() - {"instrumented"}
        absent = sorted(c for c in cols if c not in data.columns)
        if absent:
            raise DataError(f"instrument variable '{absent[0]}' for {target} is not in the data",
                            "Name a panel column or a derived one: "
                            "rta, ln_stock_lag2, gravity_ln_trade, gravity_ln_stock.")
    vc = VcovSpec.parse(f"cluster:{CLUSTER}")
    records: list[TestRecord] = []
    skipped: list[tuple[str, str]] = []
    for spec in _select(tests, include_iv):
        if spec.instrument_target in overrides:
            spec = spec.with_instruments(overrides[spec.instrument_target])
        if focus:
            spec = spec.focused()
        lacking = [v for v in spec.needs if not _present(data, v)]
        if lacking:
            skipped.append((spec.name, missing_reason(lacking[0])))
            continue
        formula = spec.formula(tuple(c for c in data.columns if _present(data, c)))
        stands_in = spec.fallback_for in {r.name for r in records}
        votes = spec.name in VOTING and not stands_in
        boot = (voting_bootstrap(spec, bootstrap_reps)
                if votes and inference is Inference.bootstrap and not spec.endogenous else None)
        try:
            est = estimate(formula, data, model=spec.model, vcov=vc, where=spec.where,
                           options=options, data_info=dict(data_info or {}), bootstrap=boot)
        except MigtradeError as err:
            skipped.append((spec.name, f"could not be estimated: {err.one_line()}"))
            continue
        result, jk_notes = est.result, list[str]()
        if boot is not None:
            jk_notes.append(f"p-values of the voting numbers from the {boot.describe()}, "
                            f"{boot.reps} replications, null imposed, clustered by pair; "
                            "standard errors pair-clustered")
        if jackknife_groups and votes and inference is Inference.jackknife:
            result, jk_notes = jackknife(est.result, formula, data, model=spec.model,
                                         where=spec.where, groups=jackknife_groups,
                                         cluster=CLUSTER, options=options)
        records.append(_record(spec, formula, est, result, jk_notes))
    if not records:
        lacking = sorted({r.split("'")[1] for _, r in skipped if r.startswith("needs '")})
        if lacking:
            raise DataError(
                "no test of the battery can run: the data lack "
                + ", ".join(f"'{v}'" for v in lacking),
                "; ".join(f"for {v}: {VARIABLE_SOURCES.get(v, 'add it to the panel')}"
                          for v in lacking) + ".")
        raise DataError("no test of the battery could be estimated: "
                        + "; ".join(f"{n}: {r}" for n, r in skipped),
                        "Check the panel's coverage with `migtrade panel build`.")
    evidence = _evidence(records)
    verdict = decide(evidence, alpha)
    return SubstitutionReport(
        verdict=verdict.verdict, alpha=alpha, threshold=verdict.threshold, rule=RULE,
        reasons=verdict.reasons, evidence=verdict.evidence, tests=tuple(records),
        skipped=tuple(skipped), data=dict(data_info or {}), step=derived.step,
        notes=tuple(notes), case=case)


def _evidence(records: Sequence[TestRecord]) -> list[Evidence]:
    ran = {r.name for r in records}
    rows: list[Evidence] = []
    for record in records:
        spec = TESTS[record.name]
        counts = spec.fallback_for is None or spec.fallback_for not in ran
        for q, c in zip(spec.quantities, record.quantities, strict=True):
            rows.append(Evidence(test=record.name, quantity=q.label, role=q.role,
                                 estimate=c.estimate, std_error=c.std_error, p_value=c.p_value,
                                 predicted=dict(spec.predicted), counts=counts,
                                 short=q.short or q.label))
    return rows
