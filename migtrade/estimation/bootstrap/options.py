"""What a bootstrap is asked to do, and what it reports for one coefficient."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from migtrade.errors import UsageError
from migtrade.estimation.bootstrap.weights import WeightKind

DEFAULT_REPS = 9999
DEFAULT_SEED = 20_240_601


class BootstrapMethod(StrEnum):
    """Which bootstrap: the wild cluster bootstrap (OLS) or the score bootstrap (PPML)."""

    wild = "wild"
    score = "score"


METHOD_MODELS: dict[BootstrapMethod, str] = {BootstrapMethod.wild: "ols",
                                             BootstrapMethod.score: "ppml"}
"""The model each bootstrap applies to."""


@dataclass(frozen=True)
class BootstrapOptions:
    """Bootstrap inference for every coefficient of a clustered model.

    Parameters
    ----------
    method
        ``wild`` (OLS; the wild cluster bootstrap) or ``score`` (PPML; the score bootstrap of
        Kline & Santos 2012).
    reps
        Replications B; with Rademacher weights and 2^G <= B all 2^G sign vectors are used.
    seed
        Seed of the weights, so that results are reproducible.
    weights
        ``rademacher``, ``webb`` or ``mammen``.
    impose_null
        Impose the null hypothesis on the bootstrap data-generating process (WCR, and the
        restricted score bootstrap); False gives the unrestricted versions (WCU).
    hypotheses
        What to test against zero: None for every coefficient, or sums of coefficients, each
        given by its terms (``("rta", "rta_lag1", "rta_lag2")``) and reported under the label
        ``"rta + rta_lag1 + rta_lag2"``.
    invert_intervals
        With the null imposed, find intervals by test inversion (for the score bootstrap one
        restricted fit per trial value); False reports the unrestricted bootstrap-t interval of
        the score bootstrap and no interval for the wild bootstrap.
    """

    method: BootstrapMethod
    reps: int = DEFAULT_REPS
    seed: int = DEFAULT_SEED
    weights: WeightKind = WeightKind.rademacher
    impose_null: bool = True
    hypotheses: tuple[tuple[str, ...], ...] | None = None
    invert_intervals: bool = True

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "method", BootstrapMethod(self.method))
        except ValueError:
            raise UsageError(f"unknown bootstrap '{self.method}'", "Use wild (OLS) or score (PPML).") from None
        try:
            object.__setattr__(self, "weights", WeightKind(self.weights))
        except ValueError:
            raise UsageError(f"unknown bootstrap weights '{self.weights}'",
                             "Use rademacher, webb or mammen.") from None
        if self.reps < 1:
            raise UsageError(f"--reps must be a positive number of replications, not {self.reps}",
                             "Use e.g. --reps 9999.")
        if self.seed < 0:
            raise UsageError(f"--seed must be >= 0, not {self.seed}", "Use e.g. --seed 1.")

    def check_level(self, draws: int, conf_level: float, n_clusters: int) -> None:
        """Refuse a number of draws that cannot resolve the test at the confidence level.

        A two-sided test at level alpha = 1 - conf_level needs at least one draw in the
        rejection region: floor(alpha * draws) >= 1.
        """
        alpha = 1.0 - conf_level
        if math.floor(alpha * draws + 1e-9) < 1:
            if draws < self.reps:  # full enumeration: the clusters, not B, are the limit
                raise UsageError(
                    f"{n_clusters} clusters allow only {draws} distinct Rademacher draws, too few "
                    f"for a {conf_level:g} confidence level",
                    "Use --bootstrap-weights webb, which has 6^G draws, or a lower --conf-level.")
            need = math.ceil(1.0 / alpha)
            raise UsageError(f"--reps {self.reps} is too small for a {conf_level:g} confidence level",
                             f"Use at least {need} replications, e.g. --reps 9999.")

    def targets(self, names: Sequence[str]) -> dict[str, np.ndarray]:
        """Each tested quantity's label and its vector r over the kept terms ``names``.

        A sum naming a term that was not estimated is left out (the caller notes it).
        """
        if self.hypotheses is None:
            return {name: np.eye(len(names))[j] for j, name in enumerate(names)}
        out: dict[str, np.ndarray] = {}
        for terms in self.hypotheses:
            if all(t in names for t in terms):
                r = np.zeros(len(names))
                for t in terms:
                    r[list(names).index(t)] += 1.0
                out[" + ".join(terms)] = r
        return out

    def describe(self) -> str:
        """One phrase naming the bootstrap, e.g. 'wild cluster bootstrap (WCR, rademacher)'."""
        if self.method is BootstrapMethod.wild:
            kind = "WCR" if self.impose_null else "WCU"
            return f"wild cluster bootstrap ({kind}, {self.weights.value} weights)"
        kind = "null imposed" if self.impose_null else "unrestricted"
        return f"score bootstrap ({kind}, {self.weights.value} weights)"


@dataclass(frozen=True)
class TermBootstrap:
    """Bootstrap inference on one coefficient (tested against zero; interval by inversion)."""

    method: str
    p_value: float
    ci_low: float
    ci_high: float
    reps: int
    weights: str
    full_enumeration: bool
    impose_null: bool
    seed: int
    clusters: int
    statistic: float
    interval: str  # how the interval was found

    def to_dict(self) -> dict[str, Any]:
        """The ``coefficients[term].bootstrap`` JSON object."""
        return dict(vars(self))
