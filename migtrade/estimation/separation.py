"""Separation in Poisson models: zero outcomes that the model fits exactly only at infinity.

A row i with y_i = 0 is *separated* when some z = X g + D a (D the fixed-effect dummies) is 0 on
every y > 0 row, >= 0 on every y = 0 row and > 0 at i: moving the coefficients along (g, a)
raises the likelihood without bound, so the MLE does not exist. Without the separated rows it
does; (g, a) then become collinearities, which the caller removes. Checks, after Correia,
Guimarães & Zylkin (2019, 2020): ``fe`` (a level whose outcomes are all zero), ``simplex``
(regressors only: null space of X on the positive rows, then a linear programme) and ``relu``
(the iterated rectifier, for certificates mixing regressors and fixed effects).

Notes
-----
The rectifier iterates u <- max(P u, 0) on the zero rows (u = 1 there at the start, 0 on the
positive rows), P being the weighted least-squares projection on [X, D] with weight K on the
positive rows. For a certificate z, z'u never decreases and |u| never increases, and the only
fixed points are certificates and 0. Hence three exits, each a proof:

* ``P u`` is >= 0 on the zero rows and ~0 on the positive ones: it is a certificate.
* |u| < 1, impossible under separation since z'u >= z'1 >= |z| (before any guess, below).
* The running sum m of the weighted residuals W(u - P u) is orthogonal to [X, D]; if m > 0 on
  every zero row no certificate exists, as z'm = 0 would be a sum of terms >= 0, not all 0.
  This ends the usual, unseparated case after one pass.

K only sets the speed and is kept moderate: along combinations almost 0 on the positive rows,
exactly the ones that matter, alternating projections move about 1/K of the way per sweep and
stop early with a wrong answer. Every demeaning is checked for that; K is lowered if it fails.

Rows that are not separated shrink geometrically, sometimes slowly, so every few passes those
still shrinking are guessed unseparated and held at 0 like the positive rows (ppmlhdfe
accelerates in the same spirit). A certificate found so is still one; its rows are dropped and
the check runs again on the rest until a run proves that nothing is left.

With fixed effects, :func:`migtrade.estimation.fit.estimate` runs this check only where the PPML
fit's own steps do not prove that nothing is separated (:mod:`migtrade.estimation.no_separation`:
the residual of a step is such a running sum m, from the fit's regression instead of one of its
own).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from migtrade.estimation.absorb import Absorber
from migtrade.estimation.fixed_effects import compact
from migtrade.estimation.kernels import weighted_cross
from migtrade.estimation.options import SEPARATION_METHODS

# Weights of the positive rows in the rectifier's regressions, tried in turn until the inner
# demeaning is accurate (see the module notes).
WEIGHT_LADDER = (1e4, 1e2, 1.0)
# Singular values (of columns scaled to unit norm) below this count as exact collinearity.
RANK_RTOL = 1e-9
# Smallest eigenvalue of a unit-scaled Gram matrix above which its columns are taken as clearly
# independent without a QR (its rounding error is about n * eps, 1e-9 for ten million rows).
GRAM_FLOOR = 1e-4
# The rectifier reads values down to ``tol`` times their scale off the inner demeaning.
INNER_TOL = 1e-12
INNER_MAXITER = 20_000
BALANCE_TOL = 1e-6
# Every BOOST_EVERY passes, rows whose value fell below DECAY times the last are held at 0.
BOOST_EVERY = 3
DECAY = 0.9
_TINY = 1e-300
METHODS = SEPARATION_METHODS
# A rectifier that runs out of passes undecided hands the rows left to the exact linear programme
# on the regressors and every fixed-effect dummy when that design has at most this many cells
# (rows x columns): on small designs the rectifier can stall (a 12-row panel with three effects
# took more than 100 passes without certifying the 5 separated rows the programme finds at once).
EXACT_MAX_CELLS = 2_000_000


def _with_dummies(X: np.ndarray, codes: Sequence[np.ndarray]) -> np.ndarray:
    """The regressors beside a dummy column for every level of every fixed effect."""
    return np.column_stack([X, *(np.eye(int(c.max(initial=-1)) + 1)[c] for c in codes)])


def _positive(y: np.ndarray) -> np.ndarray:
    return np.asarray(y, dtype=np.float64).reshape(-1) > 0


def _as_matrix(X: np.ndarray | None, n: int) -> np.ndarray:
    if X is None:
        return np.empty((n, 0))
    return np.asarray(X, dtype=np.float64).reshape(n, -1)


def _dense_codes(codes: Sequence[np.ndarray], keep: np.ndarray) -> list[np.ndarray]:
    """Codes restricted to ``keep``, renumbered so that every level is present."""
    return [compact(np.asarray(c)[keep])[0] for c in codes]


def _rows(a: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``a[idx]``, without the copy when ``idx`` keeps every row in order; a matrix keeps its
    Fortran order (gathered column by column), which the compiled passes read without a copy."""
    if idx.size == a.shape[0]:
        return a
    if a.ndim == 2 and a.flags.f_contiguous and a.shape[1] > 1:
        out = np.empty((idx.size, a.shape[1]), order="F")
        for j in range(a.shape[1]):
            np.take(a[:, j], idx, out=out[:, j])
        return out
    return a[idx]


def _abs_max(a: np.ndarray) -> np.ndarray:
    """max |a| of each column, without the n x k array of absolute values."""
    if a.shape[0] == 0:
        return np.zeros(a.shape[1])
    return np.maximum(a.max(axis=0), -a.min(axis=0))


def _weighted_norms(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """sqrt(sum_i w_i x_ij^2) of each column, in one pass without the cross products (they
    only scale the rank screens, whose floor is far above rounding)."""
    if X.shape[1] == 0:
        return np.empty(0)
    return np.sqrt(np.einsum("ij,ij,i->j", X, X, w))


def _unit_columns(X: np.ndarray, norms: np.ndarray) -> np.ndarray:
    return X / np.where(norms > 0, norms, 1.0)


def fe_separated(y: np.ndarray, codes: Sequence[np.ndarray]) -> np.ndarray:
    """Observations in a fixed-effect level whose outcomes are all zero.

    Parameters
    ----------
    y
        Outcome, length n (non-negative).
    codes
        One integer code array per fixed-effect dimension.

    Returns
    -------
    numpy.ndarray
        Boolean mask, True for observations to drop.
    """
    pos = _positive(y)
    mask = np.zeros(pos.shape[0], dtype=bool)
    # Signed integer codes of any width: bincount and indexing take them without a copy.
    for c in (np.asarray(c) for c in codes):
        if c.size:
            mask |= np.bincount(c[pos], minlength=int(c.max()) + 1)[c] == 0
    return mask


def _gram(A: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """A'A over ``rows`` only, in one compiled pass."""
    return weighted_cross(A, rows.astype(np.float64))[0]


def _clearly_full_rank(gram: np.ndarray, norms: np.ndarray, floor: float = GRAM_FLOOR) -> bool:
    """True when columns with Gram matrix ``gram``, each divided by its entry of ``norms``, have
    a smallest singular value far above any rank tolerance used here.

    The Gram matrix costs one pass where a QR of a tall matrix costs several. It squares the
    condition number, so it only answers "clearly full rank" (smallest eigenvalue above
    ``floor``, far above its rounding error of about n * eps); anything else goes to the QR.
    """
    if gram.shape[0] == 0:
        return True
    if np.any(norms <= 0):
        return False
    g = gram / np.outer(norms, norms)
    return bool(np.all(np.isfinite(g)) and np.linalg.eigvalsh(g)[0] > floor)


def _null_space(A: np.ndarray, rtol: float) -> np.ndarray:
    """Orthonormal basis (k, m) of the right null space of the tall ``A`` (unit-norm columns);
    QR first, so that the SVD is of a k x k matrix."""
    if A.shape[0] == 0:
        return np.eye(A.shape[1])
    R = np.linalg.qr(A, mode="r")
    _, s, vt = np.linalg.svd(R, full_matrices=True)
    rank = int(np.sum(s > rtol * max(1.0, s[0]))) if s.size else 0
    return vt[rank:].T


def _max_support(Z: np.ndarray) -> np.ndarray:
    """Largest set of rows with Z g > 0 subject to Z g >= 0: maximise sum(t), 0 <= t <= 1,
    t <= Z g. Certificates add up, so the largest support is unique, and an optimum puts t = 1
    on all of it (scale g until Z g >= 1 there)."""
    # scipy's sparse matrices and its LP solver load only here, when a null space exists (their
    # import costs 0.1-0.15 s of every process otherwise).
    import scipy.sparse as sp
    from scipy.optimize import linprog

    n0, m = Z.shape
    a_ub = sp.hstack([sp.csr_matrix(-Z), sp.identity(n0, format="csr")], format="csr")
    cost = np.concatenate([np.zeros(m), -np.ones(n0)])
    bounds = [(None, None)] * m + [(0.0, 1.0)] * n0

    res = linprog(cost, A_ub=a_ub, b_ub=np.zeros(n0), bounds=bounds, method="highs")
    if res.status != 0 or res.x is None:
        raise RuntimeError(f"separation LP failed: {res.message}")
    return np.asarray(res.x[m:] > 0.5)


def simplex_separated(y: np.ndarray, X: np.ndarray, *, rtol: float = RANK_RTOL) -> np.ndarray:
    """Separation caused by the regressors alone (no fixed effects).

    Parameters
    ----------
    y
        Outcome, length n.
    X
        (n, k) regressors, including the constant if the model has one; k may be 0.
    rtol
        Relative singular-value tolerance for the null space of X on the positive rows, after
        scaling every column to unit norm.

    Returns
    -------
    numpy.ndarray
        Boolean mask of separated observations.

    Notes
    -----
    A certificate is X g with g in the null space N of X on the positive rows, so the programme
    runs over the dim(N) coordinates of X_0 N on the zero rows. N is usually empty, and then
    there is nothing more to do.
    """
    pos = _positive(y)
    n = pos.shape[0]
    X = _as_matrix(X, n)
    mask = np.zeros(n, dtype=bool)
    zero_idx = np.flatnonzero(~pos)
    if X.shape[1] == 0 or zero_idx.size == 0:
        return mask
    norms = np.sqrt(np.einsum("ij,ij->j", X, X))
    if _clearly_full_rank(_gram(X, pos), norms):
        return mask
    Xu = _unit_columns(X, norms)
    null = _null_space(Xu[pos], rtol)
    if null.shape[1] == 0:
        return mask
    Z = Xu[zero_idx] @ null
    # Rows where every certificate is 0 neither constrain the LP nor can be separated.
    active = np.max(np.abs(Z), axis=1) > rtol
    zero_idx, Z = zero_idx[active], Z[active]
    while zero_idx.size:
        found = _max_support(Z)
        if not found.any():
            break
        mask[zero_idx[found]] = True
        zero_idx, Z = zero_idx[~found], Z[~found]
    return mask


class _Inaccurate(Exception):
    """The weighted projection was not computed to the accuracy the stopping rules rely on."""


class _Projector:
    """Residuals of the W-orthogonal projection on [X, D] for fixed weights, reused across calls."""

    def __init__(self, X: np.ndarray, codes: Sequence[np.ndarray], w: np.ndarray,
                 first: np.ndarray | None = None) -> None:
        self.w = w
        # sqrt(w), needed only by the explicit basis of nearly collinear regressors: made there,
        # not held through every demeaning (8 bytes a row).
        self.sw: np.ndarray | None = None
        self.absorber = Absorber(codes, w) if codes else None
        # The projection on the demeaned regressors X~ is either X~ M M' X~'W (M a k x r
        # matrix, no n x k array beyond X~ itself) or, for nearly collinear X, B B' with an
        # explicit orthonormal basis B of sqrt(W) X~.
        self.xt = np.empty((w.shape[0], 0))
        self.m = np.empty((0, 0))
        self.basis: np.ndarray | None = None
        self._last: tuple[np.ndarray, np.ndarray] | None = None
        # ``first``, the vector the first residual() will be asked for, is demeaned with X in
        # one call: the columns then run in parallel instead of u alone after X.
        self._first: tuple[np.ndarray, np.ndarray] | None = None
        k = X.shape[1]
        demeaned_x: np.ndarray | None = None
        if first is not None and self.absorber is not None:
            block = np.empty((w.shape[0], k + 1), order="F")
            block[:, :k] = X
            block[:, k] = first
            # The regressors' norms (below) read off the Fortran-ordered copy: X itself may be
            # C-ordered, and the compiled product would copy it once more.
            x_cols = block[:, :k]
            scales = np.maximum(_abs_max(block), _TINY)
            norms = _weighted_norms(x_cols, w)
            block = self._demean(block, None, scales, overwrite=True)
            self._first = (first, block[:, k])
            demeaned_x = block[:, :k]
        elif k:
            norms = _weighted_norms(X, w)
        if k:
            # Norms taken before demeaning: a column the fixed effects absorb then shows a tiny
            # singular value instead of being blown back up to unit size.
            self.xt = np.asfortranarray(
                demeaned_x if demeaned_x is not None
                else self._demean(X, None, np.maximum(_abs_max(X), _TINY)))
            gram = weighted_cross(self.xt, w)[0]
            own = np.sqrt(np.diag(gram))
            if _clearly_full_rank(gram, norms) and _clearly_full_rank(gram, own):
                # Well conditioned even with each column at unit length: with L the Cholesky
                # factor of the unit-scaled Gram matrix, sqrt(W) X~ D^-1 L^-T is orthonormal to
                # rounding error (condition number <= 1 / floor), so M = D^-1 L^-T.
                chol = np.linalg.cholesky(gram / np.outer(own, own))
                self.m = np.linalg.inv(chol).T / own[:, None]
            else:
                self.sw = np.sqrt(w)
                xs = self.xt * self.sw[:, None]
                Q, R = np.linalg.qr(_unit_columns(xs, norms))
                U, sv, _ = np.linalg.svd(R)
                self.basis = np.asarray(Q @ U[:, : int(np.sum(sv > RANK_RTOL))])

    def _demean(self, x: np.ndarray, start: np.ndarray | None, scale: np.ndarray,
                overwrite: bool = False) -> np.ndarray:
        if self.absorber is None:
            return np.array(x, dtype=np.float64)
        res = self.absorber.demean(
            x, tol=INNER_TOL, maxiter=INNER_MAXITER, start=start, scale=scale, overwrite=overwrite
        )
        if not (res.converged and np.all(np.isfinite(res.resid))):
            raise _Inaccurate
        self._check_balanced(res.resid, scale)
        return res.resid

    def _check_balanced(self, r: np.ndarray, scale: np.ndarray) -> None:
        """Raise unless each column of ``r`` is W-orthogonal to every dummy: a sweep that stopped
        early along a slow direction (module notes) looked converged but leaves groups unbalanced.
        """
        from migtrade.estimation.kernels import group_sums

        ab = self.absorber
        assert ab is not None
        cols = np.asfortranarray(r.reshape(r.shape[0], -1))
        levels = int(ab.offsets[-1])
        net = np.empty((levels, cols.shape[1]), order="F")
        gross = np.empty_like(net)
        group_sums(cols, ab.codes, ab.offsets, self.w, net, gross)
        if np.any(np.abs(net) > BALANCE_TOL * np.maximum(gross, scale.reshape(1, -1))):
            raise _Inaccurate

    def residual(self, u: np.ndarray) -> np.ndarray:
        """e = u - P u; ``u`` is kept, not copied, as the next call's warm start, so the caller
        must not change it in place afterwards."""
        if self._first is not None and u is self._first[0]:
            ut = self._first[1]  # demeaned with X already
        else:
            start = None
            if self._last is not None:
                # Any u - D a is a valid start; the previous answer moved by the change in u is
                # one.
                start = self._last[1] + (u - self._last[0])
            ut = self._demean(u, start, np.array([max(float(np.abs(u).max()), _TINY)]))
        self._first = None
        self._last = (u, ut)
        if self.basis is not None:
            assert self.sw is not None  # made with the basis
            v = ut * self.sw
            v -= self.basis @ (self.basis.T @ v)
            return v / self.sw
        if self.m.shape[1]:
            e = self.xt @ (self.m @ (self.m.T @ (self.xt.T @ (self.w * ut))))
            return np.subtract(ut, e, out=e)  # ut stays: it is the next warm start
        return ut


def _relu_run(
    pos: np.ndarray,
    X: np.ndarray,
    codes: Sequence[np.ndarray],
    tol: float,
    maxiter: int,
    weight: float,
    boost: bool,
) -> tuple[np.ndarray | None, int]:
    """One rectifier run: (certified separated rows, or an empty mask when non-separation is
    certified, or None when undecided after ``maxiter`` passes), and the passes used."""
    zero = ~pos
    free = zero.copy()
    u = zero.astype(np.float64)
    proj = _Projector(X, codes, np.where(free, 1.0, weight), first=u)
    # Allocated at the first pass, not held through the projector's demeaning (peak memory).
    dual: np.ndarray | None = None
    plain = True
    for it in range(1, maxiter + 1):
        e = proj.residual(u)
        if dual is None:
            dual = proj.w * e
        else:
            dual += proj.w * e
        # The usual exit, after one pass: decided before any other n-vector is formed.
        if dual[zero].min() > tol:
            return np.zeros_like(pos), it
        fit = u - e
        f0 = fit[zero]
        top = float(f0.max())
        violation = max(float(np.abs(fit[pos]).max(initial=0.0)), float(-f0.min()))
        if top > tol and violation <= 0.1 * tol * top:
            return zero & (fit > tol * top), it
        new = np.where(free, np.maximum(fit, 0.0), 0.0)
        # With fixed weights z'u never falls below z'1 = |z|_1 >= |z|_2 for a certificate z.
        if plain and np.linalg.norm(new) < 1.0 - tol:
            return np.zeros_like(pos), it
        if not new.any():
            return None, it
        if boost and it % BOOST_EVERY == 0:
            # Rows whose value keeps shrinking are most likely not separated; holding them at 0
            # like the positive rows lets the rest converge at once. A wrong guess only costs
            # completeness of this run: whatever it certifies is still a certificate.
            fading = free & ((new < DECAY * u) | (new == 0.0))
            if fading.any() and (free & ~fading).any():
                free &= ~fading
                new[fading] = 0.0
                proj = _Projector(X, codes, np.where(free, 1.0, weight), first=new)
                plain = False
        u = new
    return None, maxiter


def relu_separated(
    y: np.ndarray,
    X: np.ndarray | None,
    codes: Sequence[np.ndarray] | None,
    *,
    tol: float = 1e-5,
    maxiter: int = 100,
) -> np.ndarray:
    """Separation by the iterated rectifier, with or without fixed effects.

    Parameters
    ----------
    y
        Outcome, length n.
    X
        (n, k) regressors (k may be 0); include the constant when there are no fixed effects.
    codes
        Fixed-effect code arrays, or None / empty for none.
    tol
        Fitted values within ``tol`` times the largest one of zero count as zero.
    maxiter
        Rectifier passes allowed over all runs; past it a :class:`RuntimeWarning` is issued and
        only the observations certified so far are returned.

    Returns
    -------
    numpy.ndarray
        Boolean mask of separated observations (see the module notes for the method).
    """
    pos = _positive(y)
    n = pos.shape[0]
    X = _as_matrix(X, n)
    codes = [np.asarray(c) for c in codes] if codes is not None else []
    mask = np.zeros(n, dtype=bool)
    if pos.all() or (X.shape[1] == 0 and not codes):
        return mask
    budget, boost = maxiter, True
    while budget > 0:
        keep = ~mask
        idx = np.flatnonzero(keep)
        if pos[idx].all():
            return mask
        sub_codes = _dense_codes(codes, keep) if mask.any() else codes
        for weight in WEIGHT_LADDER:
            try:
                found, used = _relu_run(_rows(pos, idx), _rows(X, idx), sub_codes, tol, budget,
                                        weight, boost)
                break
            except _Inaccurate:
                continue
        else:
            warnings.warn(
                "the separation check (ReLU) could not demean accurately; skipped",
                RuntimeWarning,
                stacklevel=2,
            )
            return mask
        budget -= used
        if found is None:
            # Undecided, perhaps because a guess held a separated row at 0: go on without guesses.
            boost = False
            continue
        if not found.any():
            return mask
        mask[idx[found]] = True
    idx = np.flatnonzero(~mask)
    sub_codes = _dense_codes(codes, ~mask) if mask.any() else codes
    columns = X.shape[1] + sum(int(c.max(initial=-1)) + 1 for c in sub_codes)
    if idx.size * columns <= EXACT_MAX_CELLS:
        mask[idx[simplex_separated(_rows(pos, idx), _with_dummies(_rows(X, idx), sub_codes))]] = True
        return mask
    warnings.warn(
        f"the separation check (ReLU) did not finish in {maxiter} passes; "
        f"{int(mask.sum())} observations certified as separated so far",
        RuntimeWarning,
        stacklevel=2,
    )
    return mask


@dataclass(frozen=True)
class SeparationReport:
    """Which observations to drop, and how many each method found."""

    mask: np.ndarray
    by_fe: int
    by_simplex: int
    by_relu: int

    @property
    def n_dropped(self) -> int:
        """Number of separated observations."""
        return int(self.mask.sum())


def detect_separation(
    y: np.ndarray,
    X: np.ndarray | None,
    codes: Sequence[np.ndarray] | None,
    *,
    methods: Sequence[str] = METHODS,
    tol: float = 1e-5,
    maxiter: int = 100,
) -> SeparationReport:
    """Run the separation checks in the order fe, simplex, relu until none drops anything.

    Parameters
    ----------
    y
        Outcome, length n (non-negative).
    X
        (n, k) regressors or None; include the constant when there are no fixed effects.
    codes
        Fixed-effect code arrays, or None / empty for none.
    methods
        Which of ``"fe"``, ``"simplex"``, ``"relu"`` to run (always in that order).
    tol, maxiter
        Passed to :func:`relu_separated`.

    Returns
    -------
    SeparationReport
        Each method sees only the rows not yet dropped; singletons are the caller's business.
    """
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ValueError(f"unknown separation method(s): {sorted(unknown)}; use {METHODS}")
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    n = y.shape[0]
    X = _as_matrix(X, n)
    codes = [np.asarray(c) for c in codes] if codes is not None else []
    mask = np.zeros(n, dtype=bool)
    counts = dict.fromkeys(METHODS, 0)
    order = [m for m in METHODS if m in methods]
    # The rows left, taken once each time the mask changes and shared by the methods that run
    # on them (the regressors are the largest copy).
    rows: dict[str, np.ndarray] = {}

    def left(name: str) -> np.ndarray:
        if name not in rows:
            rows[name] = _rows(y if name == "y" else X, idx)
        return rows[name]

    # Each method is run to its own fixed point; it needs running again only when another one
    # has dropped rows since.
    stale = set(order)
    idx = np.arange(n)
    while stale:
        for method in order:
            if mask.all():  # nothing left to check
                stale.clear()
                break
            if method not in stale:
                continue
            stale.discard(method)
            keep = ~mask
            if method == "fe":
                found = fe_separated(left("y"), [_rows(c, idx) for c in codes])
            elif method == "simplex":
                found = simplex_separated(left("y"), left("X"))
            else:
                sub_codes = _dense_codes(codes, keep) if mask.any() else codes
                found = relu_separated(left("y"), left("X"), sub_codes, tol=tol,
                                       maxiter=maxiter)
            if found.any():
                mask[idx[found]] = True
                counts[method] += int(found.sum())
                stale |= set(order) - {method}
                idx = np.flatnonzero(~mask)
                rows.clear()
    return SeparationReport(
        mask=mask, by_fe=counts["fe"], by_simplex=counts["simplex"], by_relu=counts["relu"]
    )
