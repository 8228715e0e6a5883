"""Checking a recipe's ``expect`` values: published estimates, standard errors, counts, verdicts.

Each check gives the number of values compared and one sentence per value that does not hold,
so that a run can report every mismatch at once instead of stopping at the first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from migtrade.recipes.schema import ModelStep, TestStep

if TYPE_CHECKING:
    from migtrade.results.result import EstimationResult

# The tolerance is inclusive: a value printed as -0.841 must accept -0.8405 exactly, which binary
# floating point may land just beyond.
_SLACK = 1e-9


def check_model(step: ModelStep, result: EstimationResult) -> tuple[int, list[str]]:
    """Compare a model's estimates, standard errors and count with ``expect*``.

    Returns
    -------
    checked, failures
        How many values were compared, and a sentence for each that differs.
    """
    coefs = result.coefficients()
    failures: list[str] = []
    checked = 0
    where = f"models.{step.name}"
    for key, what in (("expect", "estimate"), ("expect_se", "std_error")):
        for term, wanted in getattr(step, key).items():
            checked += 1
            if term not in coefs:
                estimated = ", ".join(coefs) or "none"
                failures.append(f"{where}: no coefficient '{term}' (estimated: {estimated})")
                continue
            got = float(getattr(coefs[term], what))
            gap = abs(got - wanted)
            if not gap <= step.expect_tol + _SLACK:
                label = "estimate" if what == "estimate" else "standard error"
                failures.append(f"{where}: {term} {label} {got:.6g} differs from the expected "
                                f"{wanted:g} by {gap:.2g} (tolerance {step.expect_tol:g})")
    if step.expect_nobs is not None:
        checked += 1
        if result.nobs != step.expect_nobs:
            failures.append(f"{where}: {result.nobs:,} observations, expected "
                            f"{step.expect_nobs:,}")
    return checked, failures


def check_test(step: TestStep, verdict: str) -> tuple[int, list[str]]:
    """Compare a substitution test's verdict with ``expect``."""
    if step.expect is None:
        return 0, []
    if verdict == step.expect:
        return 1, []
    return 1, [f"tests.{step.name}: the verdict is '{verdict}', expected '{step.expect}'"]
