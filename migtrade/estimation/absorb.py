"""The absorb core: weighted alternating projections over any number of fixed-effect dimensions.

OLS, PPML (through IRLS), separation checks and IV all stand on :class:`Absorber`. It removes from
each column its projection on the span of the fixed-effect dummies, under observation weights,
without ever building the dummies.

Notes
-----
For dimensions q = 1..Q with dummy matrices D_q, one sweep applies
``r <- (I - P_Q) ... (I - P_1) r`` with ``P_q = D_q (D_q' W D_q)^{-1} D_q' W``: the weighted group
means. The sweeps converge to the residual of the weighted least-squares projection of the column on
``[D_1 .. D_Q]`` (the method of alternating projections). Irons-Tuck extrapolation on every pair of
sweeps speeds up the linear convergence. With one dimension a single sweep is exact.

Strategies that compute the same projection (``STRATEGIES``). ``auto`` (the default) takes
``direct`` on large panels where it is cheap, ``schur`` on large models of three or more
dimensions from a design's second demeaning on, ``crossed`` on large two-dimension models whose
pair splits into blocks; elsewhere it runs ``map``, fastest on the dense graphs of small
gravity panels, and hands any column still unconverged after ``AUTO_MAP_SWEEPS`` sweeps to
``cg``, which does not crawl on long sparse graphs:

* ``crossed``: for exactly two dimensions whose graph falls apart into small blocks
  (exporter-year and importer-year: one block per year), an exact projection by a batched
  Schur complement per block (:mod:`migtrade.estimation.crossed`); otherwise what ``auto`` does.

* ``direct``: eliminate the largest dimension exactly and solve the small system left on the
  others by compiled conjugate gradients preconditioned with a sparse LU of its matrix, one
  factorisation kept while the IRLS weights move (:mod:`migtrade.estimation.schur`,
  :mod:`migtrade.estimation.direct`): a few passes over the rows on worker-firm style designs
  whatever the length of their graph. ``auto`` takes it from ``DIRECT_MIN_ROWS`` rows when the
  small system is cheap to form and factorise
  (:meth:`~migtrade.estimation.direct.DirectProjector.affordable`).

* ``schur``: the same elimination and iterations where S is too large to factorise (the
  gravity panel with pair effects), preconditioned by the diagonal of S, or block by block
  when the other two dimensions fall apart into cheap blocks (:mod:`migtrade.estimation.schur`).
  Each pass reads the rows once for all columns; on the IRLS demeanings of the three-way
  gravity fits it takes half the time of ``map`` (1.6 M and 10 M rows). ``auto`` takes it
  from ``DIRECT_MIN_ROWS`` rows from a design's second demeaning on: its plan (the rows sorted
  by the eliminated groups) pays over the IRLS steps, not for a lone OLS demeaning.

* ``cg`` (default): conjugate gradients on the normal equations ``D'WD a = D'W x`` with the
  group weight sums as preconditioner (:mod:`migtrade.estimation.kernels_cg`). It stops when
  every group's weighted mean of the residual is below the tolerance, i.e. when the residual is
  orthogonal to every dummy, and needs about the square root of the iterations of alternating
  projections on long, sparse fixed-effect graphs.
* ``map``: alternating projections with Irons-Tuck extrapolation
  (:mod:`migtrade.estimation.kernels`); it stops when a sweep moves no element by more than
  the tolerance.

Warm starts: any start ``r0 = x - D a`` gives the same limit, so IRLS passes the previous
iteration's fixed-effect part and the next demeaning starts close to its answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from migtrade.errors import ConvergenceError
from migtrade.estimation import kernels

if TYPE_CHECKING:
    from migtrade.estimation.crossed import CrossedLayout

DEFAULT_TOL = 1e-8
DEFAULT_MAXITER = 100_000
STRATEGIES = ("auto", "schur", "direct", "crossed", "cg", "map")
DEFAULT_STRATEGY = "auto"
DIRECT_MIN_ROWS = 200_000
# Below this many rows alternating projections finish before the blocks of a crossed pair are built.
CROSSED_MIN_ROWS = 50_000
# ``auto`` takes ``schur`` on designs of three or more dimensions from their second demeaning
# on (Absorber._demeaned_before), telling designs apart by this many of their codes' rows.
FINGERPRINT_SAMPLE = 4096
# From this many rows ``auto`` takes ``schur`` on a design's first demeaning too: measured on the
# first demeaning of the three-way gravity fits (the ReLU separation check, its plan included),
# 1.0-1.2 s against 1.5-1.7 s for ``map`` at 10 M rows and 0.15-0.22 s against 0.21-0.23 s at
# 1.6 M rows; on log-OLS's lone demeaning at 1.1 M rows 0.09 s against 0.14-0.20 s (whole
# processes, medians of 7: 0.49 s against 0.54 s, 28 MiB more at the peak for the plan); the
# same time either way at 0.4 M rows (2026-12-05).
SCHUR_FIRST_MIN_ROWS = 1_000_000
_LAST_DESIGN: list[object] = [None]
# ``auto`` gives alternating projections this many sweeps (enough for gravity panels, whose
# fixed-effect graphs are dense) before handing a column that has not converged to CG.
AUTO_MAP_SWEEPS = 200


@dataclass(frozen=True)
class DemeanResult:
    """Demeaned columns and how hard the projection worked."""

    resid: np.ndarray
    sweeps: int
    converged: bool


def tolerance_scale(cols: np.ndarray) -> np.ndarray:
    """``max(1, std(x_j))`` of each column of the (n, k) ``cols``: the scale the demeaning's
    tolerance is relative to by default.

    Each standard deviation comes from the column's sum and its sum of squares, two passes
    without a temporary, where ``cols.std(axis=0)`` makes two arrays the size of the whole
    block (on 1.1 M rows and three columns their fresh pages cost 5 to 60 ms, as the machine
    goes). The formula's cancellation, where a column's mean dwarfs its spread, only moves a
    tolerance's scale. A column with a value that is not finite has a scale that is not
    either (NumPy's maximum keeps NaN), so the demeaning cannot report it converged.
    """
    n = cols.shape[0]
    out = np.ones(cols.shape[1])
    if not n:
        return out
    with np.errstate(invalid="ignore", over="ignore"):
        for j in range(cols.shape[1]):
            col = cols[:, j]
            mean = col.sum() / n
            out[j] = np.maximum(1.0, np.sqrt(np.maximum(col @ col / n - mean * mean, 0.0)))
    return out


class Absorber:
    """Projects columns off the span of several fixed effects under fixed weights.

    Parameters
    ----------
    codes
        One integer array per fixed-effect dimension, each of length n with levels 0 .. G-1 and
        every level present.
    weights
        Observation weights (positive), or None for equal weights.
    """

    def __init__(self, codes: Sequence[np.ndarray], weights: np.ndarray | None = None) -> None:
        if not codes:
            raise ValueError("Absorber needs at least one fixed-effect dimension")
        n = len(codes[0])
        self.n = n
        # Dimensions are kept largest first (the projection does not depend on the order): the
        # sweeps then converge faster, measured on the gravity panel's exporter-year,
        # importer-year and pair effects 30 sweeps instead of 36.
        levels = [int(np.max(c)) + 1 if n else 0 for c in codes]
        order = sorted(range(len(codes)), key=lambda q: -levels[q])
        # Each dimension written straight into its row (no int32 copy stacked again).
        self.codes = np.empty((len(codes), n), dtype=np.int32)
        for row, q in enumerate(order):
            self.codes[row] = codes[q]
        self.n_levels = tuple(levels[q] for q in order)
        self.offsets = np.concatenate([[0], np.cumsum(self.n_levels)]).astype(np.int64)
        self.weights = (
            np.ones(n) if weights is None else np.ascontiguousarray(weights, dtype=np.float64)
        )
        self._inv_wsum: np.ndarray | None = None
        # What depends on the codes alone, shared with every :meth:`with_weights` copy.
        self._plans: dict[str, object] = {}
        self._direct: object | None = None
        self._crossed: object | None = None
        self._schur: object | None = None
        # Set by :meth:`for_repeated_solves`, kept by :meth:`with_weights`.
        self.repeated = False

    def for_repeated_solves(self) -> Absorber:
        """The same fixed effects, for a caller that will demean many times under nearby
        weights (the score bootstrap's restricted fits): ``schur`` then builds its block
        preconditioner at a higher cost (:data:`migtrade.estimation.schur.BLOCKS_REPEATED_COST_PER_ROW`),
        once for all the solves it serves. The answers are the same to the tolerance."""
        new = self.with_weights(self.weights)
        new.repeated = True
        return new

    def with_weights(self, weights: np.ndarray) -> Absorber:
        """The same fixed effects under new weights (the codes are shared, not copied)."""
        new = object.__new__(Absorber)
        new.n = self.n
        new.codes = self.codes
        new.n_levels = self.n_levels
        new.offsets = self.offsets
        new.weights = np.ascontiguousarray(weights, dtype=np.float64)
        new._inv_wsum = None
        new._plans = self._plans
        new._direct = None
        new._crossed = None
        new._schur = None
        new.repeated = self.repeated
        return new

    def _cg(self, work: np.ndarray, tols: np.ndarray, maxiter: int, iters: np.ndarray) -> None:
        from migtrade.estimation.kernels_cg import cg_columns

        cg_columns(work, self.codes, self.offsets, self.weights, self.inv_wsum,
                   np.ascontiguousarray(tols), maxiter, iters)

    def _map(self, work: np.ndarray, tols: np.ndarray, maxiter: int, sweeps: np.ndarray) -> None:
        # One thread per column: the passes are bound by memory bandwidth, so splitting a lone
        # column's rows between threads does not pay.
        kernels.demean_columns(work, self.codes, self.offsets, self.weights, self.inv_wsum, tols,
                               maxiter, sweeps, self._runs())

    def _demean_crossed(self, work: np.ndarray, tols: np.ndarray, maxiter: int,
                        sweeps: np.ndarray) -> np.ndarray:
        from migtrade.estimation.crossed import CrossedProjector

        layout = self.crossed_layout()
        assert layout is not None
        if self._crossed is None:
            self._crossed = CrossedProjector(layout, self.weights)
        assert isinstance(self._crossed, CrossedProjector)
        work, used = self._crossed.demean(work, tols)
        work = np.asfortranarray(work)
        sweeps[:] = used
        self._finish_with_cg(work, tols, maxiter, sweeps, 0)
        return work

    def _demean_schur(self, work: np.ndarray, tols: np.ndarray, maxiter: int,
                      sweeps: np.ndarray, factorised: bool) -> None:
        """``schur``, or ``direct`` (``factorised``: the same iterations preconditioned by a
        sparse LU of the small system)."""
        from migtrade.estimation import schur

        projector = self._direct if factorised else self._schur
        if projector is None:
            # The plan depends on the codes alone: made once for this absorber and its copies
            # under other weights (every IRLS step's), not compared with the codes each time.
            plan = self._plans.get("schur_plan")
            projector = schur.SchurProjector(self.codes, self.n_levels, self.weights, factorised,
                                             plan=plan, repeated=self.repeated)  # type: ignore[arg-type]
            self._plans["schur_plan"] = projector.plan
            if factorised:
                self._direct = projector
            else:
                self._schur = projector
        assert isinstance(projector, schur.SchurProjector)
        sweeps[:] = projector.project(work, tols, maxiter)
        self._finish_with_cg(work, tols, maxiter, sweeps, maxiter)

    def _finish_with_cg(self, work: np.ndarray, tols: np.ndarray, maxiter: int,
                        sweeps: np.ndarray, spent: int) -> None:
        """Hand the columns not converged (sweeps < 0) to CG; their last iterate is some
        x - D a, a valid start. ``spent`` sweeps are added to the count of those that then do."""
        slow = np.flatnonzero(sweeps < 0)
        if not slow.size:
            return
        sub = np.asfortranarray(work[:, slow])
        more = np.zeros(slow.size, dtype=np.int64)
        self._cg(sub, tols[slow], maxiter, more)
        work[:, slow] = sub
        sweeps[slow] = np.where(more >= 0, spent + more, -1)

    @property
    def inv_wsum(self) -> np.ndarray:
        """1 / (sum of weights) of every level of every dimension, 0 for an empty level; computed
        when a strategy first needs it (the crossed pair does not)."""
        if self._inv_wsum is None:
            self._inv_wsum = self._inverse_weight_sums()
        return self._inv_wsum

    def _inverse_weight_sums(self) -> np.ndarray:
        wsum = np.concatenate(
            [
                np.bincount(row, weights=self.weights, minlength=g)
                for row, g in zip(self.codes, self.n_levels, strict=True)
            ]
        )
        with np.errstate(divide="ignore"):
            return np.where(wsum > 0, 1.0 / wsum, 0.0)

    def crossed_layout(self) -> CrossedLayout | None:
        """The pair of dimensions projected exactly by ``crossed`` (computed once, kept across
        :meth:`with_weights`), or None when no pair is affordable."""
        if "crossed" not in self._plans:
            from migtrade.estimation.crossed import CrossedLayout

            multi = len(self.n_levels) > 1
            self._plans["crossed"] = CrossedLayout.plan(self.codes, self.n_levels) if multi else None
        return self._plans["crossed"]  # type: ignore[return-value]

    def _runs(self) -> np.ndarray:
        """Per dimension, whether its groups come in runs of adjacent rows (kernels notes)."""
        if "runs" not in self._plans:
            self._plans["runs"] = np.array([kernels.grouped_in_runs(c) for c in self.codes])
        return self._plans["runs"]  # type: ignore[return-value]

    def _demeaned_before(self) -> bool:
        """Whether this design (the same codes, told by a sample of them) was demeaned before
        in this process: ``auto`` takes ``schur`` from a design's second demeaning on, when its
        plan (sorted codes and weights, 0.03-0.06 s and 24 bytes a row) pays over the
        demeanings still to come; a lone demeaning (OLS) keeps alternating projections."""
        if "fingerprint" not in self._plans:
            step = max(1, self.n // FINGERPRINT_SAMPLE)
            self._plans["fingerprint"] = (self.n, self.n_levels,
                                          self.codes[:, ::step].tobytes())
        mine = self._plans["fingerprint"]
        seen = _LAST_DESIGN[0] == mine
        _LAST_DESIGN[0] = mine
        return seen

    def _use_direct(self) -> bool:
        if "direct" not in self._plans:
            from migtrade.estimation.direct import DirectProjector

            self._plans["direct"] = DirectProjector.affordable(self.codes, self.n_levels)
        return bool(self._plans["direct"])

    def demean(
        self,
        x: np.ndarray,
        *,
        tol: float = DEFAULT_TOL,
        maxiter: int = DEFAULT_MAXITER,
        start: np.ndarray | None = None,
        scale: np.ndarray | None = None,
        tols: np.ndarray | None = None,
        strategy: str | None = None,
        overwrite: bool = False,
    ) -> DemeanResult:
        """Residuals of the weighted projection of each column of ``x`` on the fixed effects.

        Parameters
        ----------
        x
            (n,) or (n, k) array.
        tol
            Stop when one sweep changes no element by more than ``tol`` times the column's scale.
        start
            Optional warm start of the same shape: any ``x - D a`` (for instance the previous
            residual when only the weights changed a little).
        scale
            Per-column scale for the tolerance; by default ``max(1, std(x_j))``.
        tols
            Per-column absolute tolerances; overrides ``tol`` and ``scale``.
        strategy
            One of :data:`STRATEGIES` (module notes); by default :data:`DEFAULT_STRATEGY`.
        overwrite
            Demean ``x`` in place when it is a Fortran-ordered float64 (n, k) array and no
            ``start`` is given, instead of working on a copy.
        """
        one_d = x.ndim == 1
        cols = x.reshape(-1, 1) if one_d else x
        in_place = (overwrite and start is None and not one_d and x.dtype == np.float64
                    and x.flags.f_contiguous)
        work = x if in_place else np.array(
            cols if start is None else start.reshape(cols.shape), dtype=np.float64, order="F")
        if tols is None:
            if scale is None:
                scale = tolerance_scale(cols)
            tols = tol * np.asarray(scale, dtype=np.float64).reshape(-1)
        tols = np.ascontiguousarray(tols, dtype=np.float64)
        sweeps = np.zeros(work.shape[1], dtype=np.int64)
        method = strategy or DEFAULT_STRATEGY
        if method not in STRATEGIES:
            raise ValueError(f"unknown demeaning strategy {method!r}")
        if method == "auto":
            # Small problems converge in a few sweeps; the factorisations pay off on big ones.
            big = self.n >= DIRECT_MIN_ROWS and len(self.n_levels) > 1
            if big and self._use_direct():
                method = "direct"
            elif (big and len(self.n_levels) >= 3
                  and (self._demeaned_before() or self.n >= SCHUR_FIRST_MIN_ROWS)):
                method = "schur"
            elif (len(self.n_levels) == 2 and self.n >= CROSSED_MIN_ROWS and work.shape[1]
                  and self.crossed_layout() is not None):
                method = "crossed"  # exact in one projection
        if method == "crossed" and (len(self.n_levels) != 2 or self.crossed_layout() is None):
            method = "auto"  # not two crossed dimensions in blocks: what auto does then
        if not work.shape[1]:
            pass
        elif method == "crossed":
            work = self._demean_crossed(work, tols, maxiter, sweeps)
        elif method in ("schur", "direct") and len(self.n_levels) > 1 and self.n:
            self._demean_schur(work, tols, maxiter, sweeps, factorised=method == "direct")
        elif method == "cg" and len(self.n_levels) > 1:
            self._cg(work, tols, maxiter, sweeps)
        else:
            budget = min(maxiter, AUTO_MAP_SWEEPS) if method == "auto" else maxiter
            self._map(work, tols, budget, sweeps)
            if method == "auto" and len(self.n_levels) > 1:
                self._finish_with_cg(work, tols, maxiter, sweeps, budget)
        converged = bool(np.all(sweeps >= 0))
        used = int(sweeps.max()) if converged and sweeps.size else maxiter
        resid = work[:, 0] if one_d else work
        return DemeanResult(resid=resid, sweeps=used, converged=converged)

    def demean_or_raise(self, x: np.ndarray, **kwargs: object) -> DemeanResult:
        """:meth:`demean`, raising :class:`ConvergenceError` when it does not converge."""
        res = self.demean(x, **kwargs)  # type: ignore[arg-type]
        if not res.converged:
            maxiter = kwargs.get("maxiter", DEFAULT_MAXITER)
            raise ConvergenceError(
                f"the fixed-effect demeaning did not converge within {maxiter} sweeps",
                "Raise --fe-maxiter or loosen --fe-tol, or check that the fixed effects are not "
                "nearly collinear.",
            )
        return res
