"""The options of a general-equilibrium counterfactual, validated once.

The names are the snake_case of the ``migtrade ge`` flags, so that the command, the recipe step
and the Python API speak the same language.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

from migtrade.errors import UsageError

Imbalances = Literal["additive", "multiplicative"]
Method = Literal["fixed-point", "geppml"]
# The estimate path's covariance: clustered by the pair (the formula's pair fixed effect when it
# has one, otherwise the directed exporter-importer pair).
PAIR_CLUSTER = "cluster:<pair>"
DEFAULT_TOL = 1e-10
DEFAULT_MAXITER = 10_000


@dataclass(frozen=True)
class GEOptions:
    """What to solve and how.

    Exactly one of ``sigma`` (elasticity of substitution) and ``theta`` (trade elasticity,
    ``theta = sigma - 1``) is given, and exactly one scenario: ``beta`` (a column of partial
    effects on log trade, as in ``ge_gravity``) or ``estimate`` with ``change`` (a model to
    estimate and a change of one of its regressors).

    Parameters
    ----------
    year
        The baseline year of the general equilibrium.
    sigma, theta
        Elasticity of substitution (> 1) or trade elasticity (> 0).
    reference
        ISO3 code of the country whose inward multilateral resistance is the numeraire
        (P_ref = 1, as in Yotov et al. 2016); None holds world output constant (ge_gravity).
    beta
        Column of partial effects: the change in each pair's log trade cost term
        ``(1 - sigma) log t_ij``.
    estimate
        A PPML formula such as ``trade ~ rta | exporter^year + importer^year + pair_id``.
    change
        ``"VAR = VALUE [if CONDITION]"``; several separated by ``;``.
    fill_pairs
        Terms (``log(dist) + cntg``) that predict the pair costs of pairs without an estimated
        pair effect.
    where
        Filter of the estimation sample (estimate path) or of the baseline rows (beta path).
    exporter, importer, trade
        Column names; None picks exporter/importer or origin/destination, and trade.
    imbalances
        ``additive``: deficits fixed in value (E' = Y' + D); ``multiplicative``: fixed as a
        share of output (E' = phi Y').
    method
        ``fixed-point`` (the exact-hat iteration of ge_gravity) or ``geppml`` (iterated
        constrained PPML, Anderson, Larch & Yotov 2018).
    draws, seed
        Monte Carlo draws of the coefficients for confidence intervals, and their seed.
    vcov
        Covariance of the estimate path (``cluster:<pair>`` clusters by the pair).
    tol, maxiter
        Stop when the largest change in factory-gate prices between iterations is below
        ``tol``; fail after ``maxiter`` iterations.
    max_rounds
        Run the published GEPPML loop of Yotov et al. (2016, ch. 2) instead, stopping by its own
        rule (standard deviation and maximum of the change in price changes at most 0.01) or
        after this many rounds; it reproduces the book's printed numbers but is not a converged
        equilibrium. Needs ``method="geppml"`` and a reference. None iterates to ``tol``.
    conf_level
        Coverage of the Monte Carlo intervals.
    """

    year: int
    sigma: float | None = None
    theta: float | None = None
    reference: str | None = None
    beta: str | None = None
    estimate: str | None = None
    change: str | None = None
    fill_pairs: str | None = None
    where: str | None = None
    exporter: str | None = None
    importer: str | None = None
    trade: str | None = None
    imbalances: Imbalances = "additive"
    method: Method = "fixed-point"
    draws: int = 0
    seed: int | None = None
    vcov: str = PAIR_CLUSTER
    tol: float = DEFAULT_TOL
    maxiter: int = DEFAULT_MAXITER
    max_rounds: int | None = None
    conf_level: float = 0.95

    def __post_init__(self) -> None:
        self._check_elasticity()
        self._check_scenario()
        if self.imbalances not in get_args(Imbalances):
            raise UsageError(f"unknown trade imbalances '{self.imbalances}'",
                             "Use additive or multiplicative.")
        if self.method not in get_args(Method):
            raise UsageError(f"unknown solution method '{self.method}'", "Use fixed-point or geppml.")
        if isinstance(self.draws, bool) or not isinstance(self.draws, int) or self.draws < 0:
            raise UsageError(f"--draws must be a whole number >= 0, not {self.draws!r}",
                             "Give e.g. --draws 1000, or 0 for no intervals.")
        if self.draws and self.estimate is None:
            raise UsageError("--draws needs --estimate: with --beta there is no sampling "
                             "distribution to draw from",
                             "Estimate the model with --estimate and --change, or drop --draws.")
        if not (math.isfinite(self.tol) and self.tol > 0):
            raise UsageError(f"--tol must be a positive number, not {self.tol}", "Use e.g. 1e-10.")
        if self.maxiter < 1:
            raise UsageError(f"--maxiter must be at least 1, not {self.maxiter}", "Use e.g. 10000.")
        if self.max_rounds is not None:
            if self.max_rounds < 1:
                raise UsageError(f"max_rounds must be at least 1, not {self.max_rounds}",
                                 "Leave it unset to iterate to the tolerance.")
            if self.method != "geppml" or self.reference is None:
                raise UsageError("max_rounds runs the published GEPPML loop, which needs "
                                 "--method geppml and a --reference country",
                                 "Add --method geppml --reference DEU, or leave max_rounds unset.")
        if not 0 < self.conf_level < 1:
            raise UsageError(f"the confidence level must be between 0 and 1, not {self.conf_level}",
                             "Use e.g. 0.95.")
        if self.reference is not None and not self.reference.strip():
            raise UsageError("--reference is empty", "Give the ISO3 code of a country in the data.")

    def _check_elasticity(self) -> None:
        if (self.sigma is None) == (self.theta is None):
            raise UsageError(
                "give exactly one of --sigma (elasticity of substitution) and --theta (trade "
                "elasticity)" + ("" if self.sigma is None else ", not both"),
                "E.g. --sigma 7 as in Yotov et al. (2016), or --theta 4 as in ge_gravity; "
                "sigma = theta + 1.")
        if self.sigma is not None and not (math.isfinite(self.sigma) and self.sigma > 1):
            raise UsageError(f"--sigma must be greater than 1, not {self.sigma}",
                             "The elasticity of substitution of the CES model exceeds 1; e.g. --sigma 7.")
        if self.theta is not None and not (math.isfinite(self.theta) and self.theta > 0):
            raise UsageError(f"--theta must be greater than 0, not {self.theta}",
                             "The trade elasticity is positive; e.g. --theta 4.")

    def _check_scenario(self) -> None:
        if (self.beta is None) == (self.estimate is None):
            raise UsageError(
                "give exactly one scenario: --beta COLUMN, or --estimate FORMULA with --change"
                + ("" if self.beta is None else ", not both"),
                "E.g. --beta eu_effect, or --estimate \"trade ~ rta | exporter^year + "
                "importer^year + pair_id\" --change \"rta = 0 if ...\".")
        if self.estimate is not None and not (self.change and self.change.strip()):
            raise UsageError("--estimate needs --change", 'E.g. --change "rta = 0".')
        if self.beta is not None and self.change is not None:
            raise UsageError("--change goes with --estimate, not with --beta",
                             "With --beta the column already holds the change.")
        if self.beta is not None and self.fill_pairs is not None:
            raise UsageError("--fill-pairs goes with --estimate, not with --beta",
                             "Drop --fill-pairs.")

    @property
    def elasticity(self) -> float:
        """The trade elasticity theta = sigma - 1."""
        return float(self.theta) if self.theta is not None else float(self.sigma) - 1.0  # type: ignore[arg-type]

    @property
    def substitution(self) -> float:
        """The elasticity of substitution sigma = theta + 1."""
        return float(self.sigma) if self.sigma is not None else float(self.theta) + 1.0  # type: ignore[arg-type]
