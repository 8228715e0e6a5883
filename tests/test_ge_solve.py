"""The equilibrium solvers against the model's own identities, and each other.

Every identity is exact in the model, so the tolerances are those of the solvers (a change in
log prices below 1e-12 here): 1e-9 relative leaves room for the accumulated rounding of N-term
sums.
"""

from __future__ import annotations

import numpy as np
import pytest
from ge_panels import random_problem

from migtrade.errors import ConvergenceError
from migtrade.ge.geppml import solve_geppml, solve_published_loop
from migtrade.ge.outputs import measures
from migtrade.ge.solve import Problem, biproportional, solve_fixed_point

TOL = 1e-12
SOLVERS = {"fixed-point": solve_fixed_point, "geppml": solve_geppml}
CASES = [(imb, ref) for imb in ("additive", "multiplicative") for ref in (None, 2)]


@pytest.mark.parametrize("method", SOLVERS)
@pytest.mark.parametrize(("imbalances", "reference"), CASES)
def test_no_change_changes_nothing(method: str, imbalances: str, reference: int | None) -> None:
    p = random_problem(imbalances=imbalances, reference=reference)
    same = Problem(p.flows, np.ones_like(p.flows), p.theta, p.imbalances, p.reference)
    eq = SOLVERS[method](same, tol=TOL)
    assert np.allclose(eq.price, 1.0, atol=1e-12) and np.allclose(eq.imr, 1.0, atol=1e-12)
    assert np.allclose(eq.flows, same.flows, rtol=1e-10)
    assert np.allclose(eq.conditional, same.flows, rtol=1e-10)
    values = measures(same, eq)
    welfare = values[:, 8]
    assert np.allclose(np.delete(values, 8, axis=1), 0.0, atol=1e-8)
    assert np.allclose(welfare, 1.0, atol=1e-10)


@pytest.mark.parametrize("method", SOLVERS)
@pytest.mark.parametrize(("imbalances", "reference"), CASES)
def test_equilibrium_conditions(method: str, imbalances: str, reference: int | None) -> None:
    p = random_problem(imbalances=imbalances, reference=reference, zeros=5)
    eq = SOLVERS[method](p, tol=TOL)
    Y, E, X, B, theta = p.output, p.expenditure, p.flows, p.change, p.theta
    # Market clearing: each country sells its output, each spends its expenditure.
    assert np.allclose(eq.flows.sum(axis=1), eq.output, rtol=1e-9)
    assert np.allclose(eq.flows.sum(axis=0), eq.expenditure, rtol=1e-9)
    assert np.allclose(eq.output, Y * eq.price, rtol=1e-12)
    # Imbalances: deficits fixed in value, or expenditure proportional to output.
    if imbalances == "additive":
        assert np.allclose(eq.expenditure - eq.output, E - Y, rtol=1e-9, atol=1e-9 * E.max())
    else:
        ratio = (eq.expenditure / eq.output) / (E / Y)
        assert np.allclose(ratio, ratio[0], rtol=1e-10)
        assert eq.expenditure.sum() == pytest.approx(eq.output.sum(), rel=1e-12)
    # The numeraire.
    if reference is None:
        assert (Y * eq.price).sum() == pytest.approx(Y.sum(), rel=1e-12)
    else:
        assert eq.imr[reference] == pytest.approx(1.0, abs=1e-12)
    # The resistances from their definitions: Phat^(-theta) = sum_i pi_ij B_ij w_i^(-theta), and
    # Pihat^(-theta) = sum_j (X_ij / Y_i) B_ij (E'_j / E_j) / Phat_j^(-theta).
    p_mtheta = ((X / E) * B).T @ eq.price ** (-theta)
    assert np.allclose(eq.imr, p_mtheta ** (-1 / theta), rtol=1e-10)
    pi_mtheta = ((X / Y[:, None]) * B) @ ((eq.expenditure / E) / p_mtheta)
    assert np.allclose(eq.omr, pi_mtheta ** (-1 / theta), rtol=1e-9)
    # Zero flows stay zero.
    assert np.all(eq.flows[X == 0] == 0)


@pytest.mark.parametrize(("imbalances", "reference"), CASES)
def test_fixed_point_and_geppml_agree(imbalances: str, reference: int | None) -> None:
    p = random_problem(n=9, seed=11, imbalances=imbalances, reference=reference, zeros=8)
    a = solve_fixed_point(p, tol=1e-10)
    b = solve_geppml(p, tol=1e-10)
    assert np.allclose(a.price, b.price, rtol=1e-6)
    assert np.allclose(a.flows, b.flows, rtol=1e-6)
    assert np.allclose(measures(p, a), measures(p, b), rtol=1e-6, atol=1e-6, equal_nan=True)


def test_real_outcomes_do_not_depend_on_the_numeraire_with_multiplicative_imbalances() -> None:
    world = solve_fixed_point(random_problem(imbalances="multiplicative"), tol=TOL)
    ref = solve_fixed_point(random_problem(imbalances="multiplicative", reference=4), tol=TOL)
    assert np.allclose(world.price / world.imr, ref.price / ref.imr, rtol=1e-10)
    assert not np.allclose(world.price, ref.price, rtol=1e-6)  # nominal prices do


def test_conditional_equilibrium_keeps_output_and_expenditure() -> None:
    p = random_problem(zeros=4)
    eq = solve_fixed_point(p, tol=TOL)
    assert np.allclose(eq.conditional.sum(axis=1), p.output, rtol=1e-10)
    assert np.allclose(eq.conditional.sum(axis=0), p.expenditure, rtol=1e-10)
    # It is the cost-changed baseline rescaled by exporter and importer factors.
    support = p.flows > 0
    ratio = np.log(eq.conditional[support] / (p.flows * p.change)[support])
    rows, cols = np.nonzero(support)
    design = np.zeros((rows.size, 2 * p.flows.shape[0]))
    design[np.arange(rows.size), rows] = 1
    design[np.arange(rows.size), p.flows.shape[0] + cols] = 1
    coef = np.linalg.lstsq(design, ratio, rcond=None)[0]
    assert np.allclose(design @ coef, ratio, atol=1e-9)


def test_biproportional_matches_margins_and_is_a_ppml_fit() -> None:
    p = random_problem()
    fitted = biproportional(p.flows * p.change, p.output, p.expenditure, tol=1e-13)
    assert np.allclose(fitted.sum(axis=1), p.output, rtol=1e-12)
    assert np.allclose(fitted.sum(axis=0), p.expenditure, rtol=1e-12)


def test_fixed_point_reports_non_convergence() -> None:
    with pytest.raises(ConvergenceError, match=r"fixed-point solver did not converge in 3 iterations.*last change") as err:
        solve_fixed_point(random_problem(), tol=1e-14, maxiter=3)
    assert "--maxiter" in (err.value.hint or "")
    assert err.value.exit_code == 5


def test_geppml_reports_non_convergence() -> None:
    with pytest.raises(ConvergenceError, match=r"GEPPML did not converge in 2 rounds") as err:
        solve_geppml(random_problem(), tol=1e-14, maxiter=2)
    assert "--maxiter" in (err.value.hint or "")


def test_published_loop_stops_at_its_cap() -> None:
    # The published loop is no contraction (on this random problem it drifts away from the
    # equilibrium), so only its cap and its conditional equilibrium are properties to test; its
    # rule and its numbers are tested on the book's application (test_ge_nafta.py).
    p = random_problem(imbalances="multiplicative", reference=0)
    for cap in (1, 2):
        loop = solve_published_loop(p, max_rounds=cap)
        assert loop.rounds == cap and not loop.stopped_by_rule
        assert np.allclose(loop.equilibrium.conditional, solve_fixed_point(p).conditional, rtol=1e-9)
