"""Find regressors absorbed by the fixed effects or collinear with earlier regressors.

The decision is deterministic: regressors are examined in formula order and a later regressor
is dropped in favour of an earlier one, so identical runs keep identical columns.

Two tests, both relative so that they do not depend on the units of the data:

* absorbed: the weighted sum of squares left after removing the fixed effects is below
  ``tol`` times the sum of squares about the mean. A column constant within the groups of one
  fixed effect (distance under a pair effect) is also found exactly and named.
* collinear: a sequential Cholesky factorisation of X'WX (on the demeaned columns) whose new
  pivot is below ``tol`` times the column's own sum of squares, i.e. an R-squared of the column on
  the columns kept so far above ``1 - tol``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from migtrade.estimation.fixed_effects import constant_within
from migtrade.estimation.kernels import weighted_cross

DEFAULT_TOL = 1e-9
# Share of a regressor's variance left after demeaning above which it cannot be constant within
# the groups of a fixed effect, even after a loose demeaning (PPML's first, at 1e-4, leaves an
# error of that order in a column the fixed effects absorb: its share is then near 1e-8).
CLEARLY_FREE = 1e-2


@dataclass(frozen=True)
class Omission:
    """A regressor that cannot be estimated, and why (``absorbed by the fixed effect pair_id``)."""

    term: str
    reason: str

    @property
    def note(self) -> str:
        """The sentence printed among a result's notes."""
        return f"{self.term} dropped: {self.reason}"


@dataclass(frozen=True)
class ColumnSelection:
    """Which regressors to keep, and each one dropped with the reason."""

    keep: tuple[int, ...]
    omitted: tuple[Omission, ...]

    @property
    def notes(self) -> tuple[str, ...]:
        return tuple(o.note for o in self.omitted)


def select_columns(
    demeaned: np.ndarray,
    raw: np.ndarray,
    weights: np.ndarray,
    names: Sequence[str],
    *,
    fe_codes: Sequence[np.ndarray] = (),
    fe_names: Sequence[str] = (),
    tol: float = DEFAULT_TOL,
) -> ColumnSelection:
    """Pick the regressors that can be estimated.

    Parameters
    ----------
    demeaned
        (n, k) regressors after the fixed effects were projected out (equal to ``raw`` without FE).
    raw
        (n, k) regressors as in the data.
    weights
        Weights of the projection.
    """
    k = demeaned.shape[1]
    notes: list[Omission] = []
    candidates: list[int] = []
    wsum = float(weights.sum())
    # One buffer for every column's deviations from its mean, and sums of weighted squares
    # without temporaries: each n-long temporary costs its fresh pages (on 1.1 M rows and two
    # regressors the squares took six).
    centred = np.empty(raw.shape[0]) if fe_codes else None
    for j in range(k):
        xj = raw[:, j]
        if fe_codes:
            assert centred is not None
            mean = float(weights @ xj) / wsum if wsum > 0 else 0.0
            np.subtract(xj, mean, out=centred)
            total = float(np.einsum("i,i,i->", weights, centred, centred))
            left = float(np.einsum("i,i,i->", weights, demeaned[:, j], demeaned[:, j]))
            # A column constant within the groups of some fixed effect keeps nothing after the
            # demeaning but its error; with a good share of its variance left it cannot be, and
            # the pass over the data that would show it is saved.
            clearly_free = total > 0.0 and left > CLEARLY_FREE * total
            absorber_name = None if clearly_free else next(
                (nm for c, nm in zip(fe_codes, fe_names, strict=True) if constant_within(xj, c)),
                None,
            )
            if absorber_name is not None:
                notes.append(Omission(names[j], f"absorbed by the fixed effect {absorber_name}"))
                continue
            if total == 0.0 or left <= tol * total:
                notes.append(Omission(names[j], "absorbed by the fixed effects"))
                continue
        elif float(weights @ xj**2) == 0.0:
            notes.append(Omission(names[j], "it is zero on every observation used"))
            continue
        candidates.append(j)

    if not candidates:
        return ColumnSelection(keep=(), omitted=tuple(notes))

    # Every column a candidate (the usual case): the demeaned block as it is, not a copy of it.
    chosen = demeaned if len(candidates) == k else demeaned[:, candidates]
    gram = weighted_cross(chosen, weights)[0]
    keep: list[int] = []
    kept_pos: list[int] = []  # positions in ``gram`` of the kept columns
    chol = np.zeros((len(candidates), len(candidates)))
    for pos, j in enumerate(candidates):
        diag = gram[pos, pos]
        row = len(keep)
        v = _solve_lower(chol[:row, :row], gram[kept_pos, pos])
        pivot = diag - float(v @ v)
        if pivot <= tol * diag or diag <= 0.0:
            kept_names = ", ".join(names[i] for i in keep) or "the constant"
            notes.append(Omission(names[j], f"collinear with {kept_names}"))
            continue
        chol[row, :row] = v
        chol[row, row] = np.sqrt(pivot)
        keep.append(j)
        kept_pos.append(pos)
    return ColumnSelection(keep=tuple(keep), omitted=tuple(notes))


# Up to this many kept columns the triangular solve runs as plain forward substitution, which
# needs no linear-algebra library loaded (scipy's costs 0.03 s of import on every estimate).
SMALL_SOLVE = 64


def _solve_lower(lower: np.ndarray, b: np.ndarray) -> np.ndarray:
    """v with ``lower @ v = b``, ``lower`` lower triangular with a positive diagonal."""
    m = b.shape[0]
    if m > SMALL_SOLVE:
        from scipy.linalg import solve_triangular

        return np.asarray(solve_triangular(lower, b, lower=True))
    v = np.zeros(m)
    for i in range(m):
        v[i] = (b[i] - lower[i, :i] @ v[:i]) / lower[i, i]
    return v
