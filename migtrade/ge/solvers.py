"""The solution methods by name (``--method``); each takes a :class:`Problem` and returns the
same :class:`Equilibrium`."""

from __future__ import annotations

from collections.abc import Callable

from migtrade.ge.solve import Equilibrium, Problem, solve_fixed_point

Solver = Callable[..., Equilibrium]


def _geppml(problem: Problem, *, tol: float, maxiter: int) -> Equilibrium:
    # Loaded on use: GEPPML runs the estimation engine, which the fixed point never needs.
    from migtrade.ge.geppml import solve_geppml

    return solve_geppml(problem, tol=tol, maxiter=maxiter)


SOLVERS: dict[str, Solver] = {"fixed-point": solve_fixed_point, "geppml": _geppml}
