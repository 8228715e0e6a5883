"""Split-panel jackknife bias correction for gravity models (Weidner & Zylkin 2021, section 4).

The incidental-parameter bias of three-way PPML is ``B / N_j + D / N_i``: the origin-time
effects are estimated from the N_j destinations, the destination-time effects from the N_i
origins. Halving both sets of countries doubles the bias. The origins are split into two halves
and the destinations into two halves, the model is estimated on each of the four sub-panels
(origins of one half trading with destinations of one half, all periods), and

    beta_J = 2 beta - (beta_11 + beta_12 + beta_21 + beta_22) / 4,

whose bias is of smaller order. The periods are not split: with T fixed, halving T would not
change the bias. The halves are the countries in alternate positions of their sorted codes
(first, third, ... and second, fourth, ...), so the correction is reproducible and needs no
random numbers. Nothing here depends on the analytical formulas, so the correction applies to any
fixed effects as long as the model has origin-time and destination-time effects that say which
columns are the countries. The standard errors are left as estimated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from migtrade.errors import EstimationError

Refit = Callable[[np.ndarray], tuple[tuple[str, ...], np.ndarray]]
HALVES = ("first", "second")


@dataclass(frozen=True)
class JackknifeCorrection:
    """The full-sample and the four sub-panel estimates.

    Attributes
    ----------
    uncorrected
        The full-sample estimates, beta.
    subpanels
        (4, k) estimates on (origin half, destination half) = (1, 1), (1, 2), (2, 1), (2, 2).
    """

    uncorrected: np.ndarray
    subpanels: np.ndarray

    @property
    def params(self) -> np.ndarray:
        """The corrected estimates, ``2 beta - mean of the sub-panel estimates``."""
        return 2.0 * self.uncorrected - self.subpanels.mean(axis=0)

    @property
    def bias(self) -> np.ndarray:
        """The estimated bias, ``beta - beta_J`` (the sub-panel mean minus beta)."""
        return self.subpanels.mean(axis=0) - self.uncorrected


def halves(codes: pd.Series) -> np.ndarray:
    """True for the rows whose level is in the second half (alternate positions of the sorted
    levels)."""
    position = pd.factorize(codes, sort=True)[0]
    return position % 2 == 1


def split_panel_jackknife(terms: Sequence[str], params: np.ndarray, origin: pd.Series,
                          destination: pd.Series, refit: Refit) -> JackknifeCorrection:
    """The split-panel jackknife estimate.

    Parameters
    ----------
    terms, params
        The full-sample estimates.
    origin, destination
        The country columns on the estimation sample's rows.
    refit
        Estimates the same model on the rows of a boolean mask; returns its terms and estimates.

    Raises
    ------
    EstimationError
        When a sub-panel cannot be estimated or loses a regressor (too few countries, or a
        regressor without variation in it).
    """
    second_origin = halves(origin)
    second_destination = halves(destination)
    estimates = []
    for a, oh in enumerate((~second_origin, second_origin)):
        for b, dh in enumerate((~second_destination, second_destination)):
            where = f"the jackknife sub-panel of the {HALVES[a]} half of the origins and the " \
                    f"{HALVES[b]} half of the destinations"
            try:
                got_terms, got = refit(oh & dh)
            except EstimationError as err:  # ConvergenceError keeps its exit code
                raise type(err)(f"{where}: {err.message}", err.hint) from None
            missing = [t for t in terms if t not in got_terms]
            if missing:
                raise EstimationError(
                    f"{where} cannot estimate {', '.join(missing)} (absorbed or collinear there)",
                    "The jackknife needs every regressor to vary within each quarter of the "
                    "countries; use --bias-correction analytical.",
                )
            estimates.append(np.array([got[got_terms.index(t)] for t in terms]))
    return JackknifeCorrection(uncorrected=np.asarray(params, dtype=float),
                               subpanels=np.vstack(estimates))
