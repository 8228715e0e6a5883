"""A proof that no zero outcome is separated, read off a weighted least-squares residual.

Notes
-----
Separation (:mod:`migtrade.estimation.separation`) is a z = X g + D a that is 0 on every row with
y > 0, >= 0 on every row with y = 0 and > 0 on some. A vector d orthogonal to every column of
[X, D] and > 0 on every zero row rules it out: z'd = 0 would be a sum of terms >= 0 (the positive
rows contribute 0), so z is 0 on the zero rows too. The rectifier check builds such a d by a
regression of its own; any weighted least-squares residual e of any outcome on [X, D] gives one
as well, d = -W e, once it is negative on every zero row.

Each PPML step is such a regression: the working outcome ``z = eta + (y - mu) / mu`` on [X, D]
under the weights ``W = w mu``. On a zero row z = eta - 1, so e < 0 there exactly when the step
lowers that row's linear predictor by less than 1. Near the optimum of an unseparated model every
step is small and the proof holds; along a separating direction the step lowers the separated rows'
predictors by about 1 (the regression fits their z exactly), which the proof cannot pass. On the
1.6 M-row gravity panel and the 1 M-row worker-firm ring the fit's last steps give d > 0 on every
zero row.

Orthogonality holds to the solver's tolerance, not exactly: least squares on the demeaned
regressors makes e orthogonal to them to rounding, and each fixed-effect level's weighted sum of
e (its imbalance) is what the demeaning left. The proof is accepted when each zero row's d is at
least ``MARGIN`` times the largest imbalance among its levels: the rectifier's own acceptance
reads a d of at least 1e-5 against imbalances of at most 1e-6 of a group's gross sum, a margin of
ten. On those two panels the fits' last steps clear it by 300 and 2,000 times.

A step at the full tolerance that still lowers some zero row's predictor by 1 or more is what a
separating direction does; the fit then stops and the rectifier runs at once. On the ring with a
regressor that separates 195 rows together with the firm effects, the fit stopped after 7 steps
(1.0 s) instead of converging unproved after 12 (1.7 s).
"""

from __future__ import annotations

import numpy as np

from migtrade.estimation.absorb import Absorber
from migtrade.estimation.kernels import group_sums

# A zero row's d must be at least this many times the largest imbalance of its levels.
MARGIN = 10.0
# A fit asked to prove it gives up after this many steps without the proof (then the rectifier
# runs): an unseparated fit has it within its first steps at the full inner tolerance, while
# along a separating direction each step only lowers the separated rows' means by a factor e.
PROOF_WITHIN_STEPS = 25


class NotRuledOut(Exception):
    """A fit asked to rule separation out stopped without doing so: a step at the full
    tolerance lowered a zero row's predictor by 1 or more, or ``PROOF_WITHIN_STEPS`` passed."""


def residual_proves_no_separation(resid: np.ndarray, weights: np.ndarray, zero: np.ndarray,
                                  absorber: Absorber | None) -> bool | None:
    """Whether ``d = -weights * resid`` proves that no zero row is separated (module notes):
    True when it does, None when d is positive on every zero row but some row falls short of
    the margin (a finer demeaning may prove it), False when d is not positive on some zero row.

    ``resid`` is the residual of a weighted least-squares fit on the regressors demeaned under
    ``weights`` (so orthogonal to them) and on the fixed effects of ``absorber`` (None: none),
    ``zero`` the rows with a zero outcome (indices: gathered without a pass to count a mask).
    """
    if not zero.size:
        return True
    dual = np.take(weights, zero)
    dual *= np.take(resid, zero)
    np.negative(dual, out=dual)
    if not dual.min() > 0.0:
        return False
    if absorber is None:
        return True
    codes, offsets = absorber.codes, absorber.offsets
    levels = int(offsets[-1])
    net = np.empty((levels, 1), order="F")
    gross = np.empty_like(net)
    group_sums(np.asfortranarray(resid.reshape(-1, 1)), codes, offsets,
               np.ascontiguousarray(weights, dtype=np.float64), net, gross)
    imbalance = np.abs(net[:, 0])
    worst = np.zeros(dual.shape[0])
    for q in range(codes.shape[0]):
        level = np.take(codes[q], zero).astype(np.int64)
        level += offsets[q]
        np.maximum(worst, np.take(imbalance, level), out=worst)
    return True if np.all(dual >= MARGIN * worst) else None
