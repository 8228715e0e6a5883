"""The ``schur`` and ``direct`` strategies: eliminate the largest fixed effect exactly, then
conjugate gradients on the system left.

The dimension with the most levels (the pair effect of a gravity panel, the worker of a
worker-firm panel) is projected out exactly by group means within its groups; the system left on
the other dimensions' levels (exporter-year and importer-year; firm and year) is solved by
preconditioned conjugate gradients, matrix-free, each iteration one compiled pass over the codes
and weights per column (:mod:`migtrade.estimation.kernels_schur`), where a sweep of alternating
projections reads and writes every column once per dimension.

Preconditioners: a sparse LU factorisation of S where S is small and sparse (``direct``: the
worker-firm ring, 5-8 iterations per IRLS step); the exact inverse of the two other dimensions'
own normal matrix, block by block, where their graph falls apart into blocks cheap enough
(:data:`BLOCKS_MAX_COST_PER_ROW`; exporter-year and importer-year: one block per year, 5-10
iterations per IRLS step on the 1.6 M-row gravity panel); the diagonal of S otherwise (10-19
there, each iteration cheaper: the same time in all, and half the time of the blocks on the
10 M-row panel, whose 500 x 500 blocks cost more to build than they save). The first two are
kept while the IRLS weights move and made afresh when a solve needs more iterations.

The stop rule is the absorb core's: every group's weighted mean of the residual below the
tolerance. The residual's e-group means are zero by construction, its other groups' means are the
CG residual scaled by the groups' weight sums; CG stops when they are below half the tolerance,
the residual is formed and the rule checked on it, and CG restarts from there when the
recursively updated residual has drifted.

The rows must come in runs of one group of the eliminated dimension; a panel sorted by pair (or
worker) already does, otherwise the plan keeps the row order that sorts it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from migtrade.estimation import kernels_blocks, kernels_schur
from migtrade.estimation.last_plan import LastPlan

# Below this many cells (rows x columns) the columns run on the calling thread alone, as the other
# kernels do: waking an OpenMP team costs more than it saves on small models.
PARALLEL_MIN_CELLS = 200_000
# A pass over the rows runs in this many runs of groups, each summing into its own copy of the
# reduced system (added in order at the end), the runs in parallel; fewer when the rows are
# fewer than ROWS_PER_LEVEL times the levels (the copies would cost more than the rows).
PASS_CHUNKS = 4
ROWS_PER_LEVEL = 8
# The block preconditioner is made only when forming and factorising its blocks costs at most
# this many multiply-adds per row (blocks x m_e x m_s^2 / rows); otherwise the diagonal of S.
# Measured (one thread, the IRLS demeanings of whole fits): on the 1.6 M-row gravity panel
# (200 countries, 201 per row) both take 0.87 s, the blocks 5-10 passes a demeaning and the
# diagonal 10-19; on the 10 M-row one (500 countries, 501 per row) the blocks take 13.7 s, 1.2 s
# a build, and the diagonal 7.0 s.
BLOCKS_MAX_COST_PER_ROW = 100
# For an absorber that will solve many times under nearby weights (the score bootstrap's
# restricted fits, each one or two IRLS steps from the last), one build serves them all, and the
# blocks are made up to this cost instead. Measured on the 1.6 M-row gravity panel (201 a row):
# its default score bootstrap (ten restricted fits) took 3.38 s and 361 passes with the diagonal
# of S, 2.46 s and 151 passes with the blocks, interval ends equal to 1e-9 relative.
BLOCKS_REPEATED_COST_PER_ROW = 1000
# Restarts of CG from the recomputed residual when the recursively updated one has drifted.
RESTARTS = 20
# CG iterations after which a block preconditioner made under other weights (the previous IRLS
# step's) is made afresh under the current ones: building it costs about as much as a dozen
# iterations on the gravity panel, and a fresh one needs 5 to 9.
STALE_PASSES = 12
STALE_MARGIN = 4
# A kept preconditioner is made afresh at once when a tenth of the rows' weights (in a sample of
# this many) moved by more than this factor in logs (e.^0.5 = 1.65); the direct strategy's
# factorisation has its own, wider margin (:data:`migtrade.estimation.direct.FAR_MOVE_LU`).
WEIGHT_SAMPLE = 20_000
FAR_MOVE = 0.5
# A level whose diagonal of S is this small next to its weight sum is (up to rounding) outside
# the range of S; it is preconditioned by its weight sum instead.
DIAGONAL_FLOOR = 1e-12


_NO_ORDER = np.empty(0, dtype=np.int64)


@dataclass(frozen=True)
class BlockLayout:
    """Where the levels of two other dimensions sit in the padded blocks of their graph.

    ``row_e`` and ``row_s`` are the dimensions (rows of the absorber's codes) on the larger and
    the smaller side; ``level_e`` / ``level_s`` give each of their levels' padded index
    (block x m_e + local), ``start_e`` / ``start_s`` where they start in the reduced system.
    """

    row_e: int
    row_s: int
    cell: np.ndarray  # (n,) each row's cell in the padded (block, e, s) tables
    level_e: np.ndarray
    level_s: np.ndarray
    start_e: int
    start_s: int
    n_blocks: int
    m_e: int
    m_s: int
    s_real: np.ndarray
    # The level of the reduced system behind each padded place of a block (-1: padding), and
    # the levels held at 0 (a block's first on the smaller side, and its padding).
    e_of: np.ndarray
    s_of: np.ndarray
    held: np.ndarray

    @classmethod
    def plan(cls, codes: np.ndarray, n_levels: Sequence[int], others: list[int],
             starts: np.ndarray, max_cost: int = BLOCKS_MAX_COST_PER_ROW) -> BlockLayout | None:
        """The blocks of the two other dimensions, or None when they do not fall apart into
        blocks small enough (the limits of :mod:`migtrade.estimation.crossed`) or cost more
        than ``max_cost`` multiply-adds a row."""
        from migtrade.estimation import crossed

        if len(others) != 2:
            return None
        n = codes.shape[1]
        budget = max(crossed.MIN_CELLS, crossed.MAX_CELLS_PER_ROW * n)
        # blocks x m_e x m_s^2, the cost of the blocks, is what the layout calls its flops: a
        # layout too dear is turned down before its rows' places are made.
        places = crossed.PairPlaces.of(
            codes, tuple(n_levels), others[0], others[1], budget,
            max_flops=min(crossed.MAX_FLOPS, max_cost * max(1, n)))
        if places is None:
            return None
        start_e = int(starts[others.index(places.q_e)])
        start_s = int(starts[others.index(places.q_s)])
        e_of = np.full(places.n_blocks * places.m_e, -1, dtype=np.int64)
        e_of[places.place_e] = start_e + np.arange(places.place_e.size)
        s_of = np.full(places.n_blocks * places.m_s, -1, dtype=np.int64)
        s_of[places.place_s] = start_s + np.arange(places.place_s.size)
        held = ~places.s_real.reshape(places.n_blocks, places.m_s)
        held[:, 0] = True
        return cls(row_e=places.q_e, row_s=places.q_s, cell=places.cells(codes),
                   level_e=places.place_e, level_s=places.place_s, start_e=start_e,
                   start_s=start_s, n_blocks=places.n_blocks, m_e=places.m_e, m_s=places.m_s,
                   s_real=places.s_real, e_of=e_of.reshape(places.n_blocks, places.m_e),
                   s_of=s_of.reshape(places.n_blocks, places.m_s), held=held.astype(np.uint8))


@dataclass(frozen=True)
class SchurPlan:
    """Where the eliminated groups' rows sit, from the codes alone.

    ``order`` sorts the rows by eliminated group (None when they already come in runs);
    ``codes`` then holds the other dimensions' codes in that order (None: the absorber's own).
    """

    q_e: int
    order: np.ndarray | None
    codes: np.ndarray | None
    dims: np.ndarray
    starts: np.ndarray
    m: int
    ptr: np.ndarray
    longest: int
    chunks: np.ndarray  # the groups where the passes split the rows (see pass_chunks)
    n_levels: tuple[int, ...]
    # A copy of the codes when the rows already come in runs (no sorted copy to check against),
    # and the eliminated level of every group.
    kept: np.ndarray | None
    group_levels: np.ndarray
    # The blocks of the other two dimensions (planned when first asked for: ``direct`` does not
    # need them), the last preconditioners made and what they were made under.
    memo: dict[str, object] = field(default_factory=dict)

    def blocks(self, codes: np.ndarray, n_levels: Sequence[int],
               max_cost: int = BLOCKS_MAX_COST_PER_ROW) -> BlockLayout | None:
        """The blocks of the two other dimensions of ``codes`` (the design planned), or None
        when they do not fall apart into blocks or the blocks cost more than ``max_cost``
        multiply-adds a row to form and factorise (planned once for each limit asked for)."""
        key = f"layout {max_cost}"
        if key not in self.memo:
            others = [q for q in range(len(n_levels)) if q != self.q_e]
            self.memo[key] = BlockLayout.plan(codes, n_levels, others,
                                              np.append(self.starts, self.m), max_cost)
        return self.memo[key]  # type: ignore[return-value]

    @classmethod
    def build(cls, codes: np.ndarray, n_levels: Sequence[int]) -> SchurPlan:
        """The plan for the (Q, n) ``codes``, the last one kept for absorbers on the same rows."""
        return _LAST_PLAN.get(codes, lambda: cls._build(codes, n_levels),
                              lambda plan, codes: plan.describes(codes, n_levels))

    def describes(self, codes: np.ndarray, n_levels: Sequence[int]) -> bool:
        """Whether this plan was made from ``codes``: checked against the sorted copy of the
        codes the plan holds (no copy of the absorber's codes is kept beside it)."""
        if tuple(n_levels) != self.n_levels or codes.shape[1] != int(self.ptr[-1]):
            return False
        if self.order is None:
            return self.kept is not None and np.array_equal(self.kept, codes)
        assert self.codes is not None
        e = codes[self.q_e][self.order]
        if not np.array_equal(e, np.repeat(self.group_levels, np.diff(self.ptr))):
            return False
        others = [q for q in range(len(n_levels)) if q != self.q_e]
        return all(np.array_equal(codes[q][self.order], self.codes[k])
                   for k, q in enumerate(others))

    @classmethod
    def _build(cls, codes: np.ndarray, n_levels: Sequence[int]) -> SchurPlan:
        n = codes.shape[1]
        q_e = int(np.argmax(n_levels))
        others = [q for q in range(len(n_levels)) if q != q_e]
        starts = np.concatenate([[0], np.cumsum([n_levels[q] for q in others])]).astype(np.int64)
        e = codes[q_e]
        breaks = np.flatnonzero(e[1:] != e[:-1]) + 1
        order: np.ndarray | None = None
        sorted_codes: np.ndarray | None = None
        dims = np.array(others, dtype=np.int64)
        if breaks.size + 1 != n_levels[q_e]:  # some group is split over several runs
            # Every level has rows, so the groups are the levels in order.
            order, sorted_codes, ptr = kernels_schur.group_rows(e, n_levels[q_e], codes, others)
            dims = np.arange(len(others), dtype=np.int64)
            group_levels = np.arange(n_levels[q_e], dtype=np.int32)
        else:
            ptr = np.concatenate([[0], breaks, [n]]).astype(np.int64)
            group_levels = e[ptr[:-1]] if n else e[:0]
        return cls(q_e=q_e, order=order, codes=sorted_codes, dims=dims, starts=starts[:-1].copy(),
                   m=int(starts[-1]), ptr=ptr, longest=int(np.diff(ptr).max(initial=0)),
                   chunks=pass_chunks(ptr, int(starts[-1])), n_levels=tuple(n_levels),
                   kept=codes.copy() if order is None else None,
                   group_levels=np.ascontiguousarray(group_levels))


_LAST_PLAN: LastPlan[SchurPlan] = LastPlan()


def pass_chunks(ptr: np.ndarray, m: int) -> np.ndarray:
    """The groups at which a pass splits the rows: :data:`PASS_CHUNKS` runs of groups of about
    equal rows, fewer when the rows are few next to the m levels (each run sums into m values
    per column of its own). The split depends on the design alone, so the sums do not depend
    on the number of threads."""
    n = int(ptr[-1])
    chunks = max(1, min(PASS_CHUNKS, n // max(1, ROWS_PER_LEVEL * m)))
    cuts = np.searchsorted(ptr, np.arange(1, chunks) * n / chunks)
    bounds = np.concatenate([[0], cuts, [ptr.size - 1]]).astype(np.int64)  # nondecreasing
    # Repeated cuts dropped by hand: np.unique would load numpy.ma for it (8-15 ms of a run).
    return bounds[np.concatenate([[True], bounds[1:] != bounds[:-1]])]


class CrossedBlocks:
    """The preconditioner of a design with two other dimensions whose graph falls apart into
    blocks (exporter-year and importer-year: a block per year): the exact inverse, block by
    block, of the two dimensions' own normal matrix ``D_o'WD_o`` (without the eliminated one).

    Within a block it is ``[diag(a) X; X' diag(b)]`` with X the cross table of weights; it is
    inverted through ``diag(b) - X' diag(a)^-1 X`` on the smaller side, whose first level (and
    padding) is held at 0, which selects coordinates and keeps the preconditioner symmetric.
    Formed, factorised and applied by compiled loops, blocks in parallel
    (:mod:`migtrade.estimation.kernels_blocks`). Measured on the 1.6 M-row gravity panel: 5
    iterations to 1e-8 where the diagonal of S needs 34.
    """

    def __init__(self, layout: BlockLayout, weights: np.ndarray) -> None:
        lo = layout
        self.layout = lo
        cross = np.bincount(lo.cell, weights=weights, minlength=lo.n_blocks * lo.m_e * lo.m_s)
        self.cross = cross.reshape(lo.n_blocks, lo.m_e, lo.m_s)
        self.inv_a, self.chol = kernels_blocks.factor_blocks(self.cross, lo.held)

    def __call__(self, g: np.ndarray) -> np.ndarray:
        """z = M g for the (m, k) reduced residual g."""
        lo = self.layout
        return kernels_blocks.solve_blocks(g, self.cross, lo.held, self.inv_a, self.chol,
                                           lo.e_of, lo.s_of)


class SchurProjector:
    """The weighted projection off several fixed effects by exact elimination of the largest
    one and preconditioned conjugate gradients on the rest, under fixed weights.

    ``factorised`` preconditions by a sparse LU factorisation of S
    (:meth:`migtrade.estimation.direct.DirectProjector.factorise`, the ``direct`` strategy, for
    designs where S is small and sparse); otherwise by :class:`CrossedBlocks` where the two
    other dimensions fall apart into blocks costing at most :data:`BLOCKS_MAX_COST_PER_ROW`
    multiply-adds a row (:data:`BLOCKS_REPEATED_COST_PER_ROW` when ``repeated``: an absorber
    made for many solves under nearby weights), and by the diagonal of S elsewhere. A
    factorisation or block preconditioner made under other weights (the previous IRLS step's)
    is kept unless the weights moved far (:data:`FAR_MOVE`) and until a solve needs more than
    :attr:`stale_after` iterations, then made afresh.
    """

    def __init__(self, codes: np.ndarray, n_levels: Sequence[int], weights: np.ndarray,
                 factorised: bool = False, plan: SchurPlan | None = None,
                 repeated: bool = False) -> None:
        # ``plan``: the one made from these very codes (an absorber's copies under other
        # weights share it), which needs no comparison with the last design's.
        if plan is None:
            plan = SchurPlan.build(codes, n_levels)
        self.plan = plan
        self.codes = codes if plan.codes is None else plan.codes
        w = np.ascontiguousarray(weights, dtype=np.float64)
        block_cost = BLOCKS_REPEATED_COST_PER_ROW if repeated else BLOCKS_MAX_COST_PER_ROW
        self.layout = None if factorised else plan.blocks(codes, n_levels, block_cost)
        self.kind = ("lu" if factorised else "blocks" if self.layout is not None else "diagonal")
        # The diagonal of S only for the preconditioner that is it (a third of the pass).
        self.w, self.inv_a, b, s = kernels_schur.schur_diagonal(
            self.codes, plan.dims, plan.starts, plan.ptr, w,
            _NO_ORDER if plan.order is None else plan.order, plan.m, plan.chunks,
            self.kind == "diagonal", w.shape[0] >= PARALLEL_MIN_CELLS)
        self.inv_b = np.where(b > 0, 1.0 / np.where(b > 0, b, 1.0), 0.0)
        self.inv_s = self.inv_b
        if s is not None:
            usable = s > DIAGONAL_FLOOR * b
            self.inv_s = np.where(usable, 1.0 / np.where(usable, s, 1.0), self.inv_b)
        self._codes, self._levels, self._weights = codes, tuple(n_levels), w
        self.pre: object | None = plan.memo.get(self.kind)
        self.fresh = self.pre is None
        if self.kind != "diagonal" and (self.pre is None or self._moved_far()):
            self._refresh()

    def _sample(self) -> np.ndarray:
        """The weights of a fixed sample of rows (every rows // WEIGHT_SAMPLE-th)."""
        step = max(1, self._weights.size // WEIGHT_SAMPLE)
        return self._weights[::step]

    def _moved_far(self) -> bool:
        """Whether the weights moved too far from those the kept preconditioner was made under
        for it to be worth trying (one IRLS step from the start means, or the separation
        checks' weights before the fit's)."""
        then = self.plan.memo.get(self.kind + " weights")
        if not isinstance(then, np.ndarray) or then.shape != self._sample().shape:
            return True
        far = FAR_MOVE
        if self.kind == "lu":
            from migtrade.estimation.direct import FAR_MOVE_LU

            far = FAR_MOVE_LU
        with np.errstate(divide="ignore", invalid="ignore"):
            moves = np.abs(np.log(self._sample() / then))
        return not bool(np.quantile(np.nan_to_num(moves, nan=np.inf), 0.9) <= far)

    def _refresh(self) -> None:
        """Make the preconditioner under the current weights, and keep it for the next ones."""
        if self.kind == "lu":
            from migtrade.estimation.direct import DirectProjector

            self.pre = DirectProjector(self._codes, self._levels, self._weights).factorise()
        else:
            assert self.layout is not None
            self.pre = CrossedBlocks(self.layout, self._weights)
        self.plan.memo[self.kind] = self.pre
        self.plan.memo[self.kind + " weights"] = self._sample().copy()
        self.fresh = True

    @property
    def stale_after(self) -> int:
        """Iterations after which a preconditioner made under other weights is made afresh: a
        fixed number, or a few more than it needed under its own weights when that was more."""
        floor = STALE_PASSES
        if self.kind == "lu":
            from migtrade.estimation.direct import PCG_REFRESH

            floor = PCG_REFRESH
        own = self.plan.memo.get(self.kind + " iterations", 0)
        return max(floor, int(own) + STALE_MARGIN)  # type: ignore[call-overload]

    def _precondition(self, g: np.ndarray) -> np.ndarray:
        pre = self.pre
        if isinstance(pre, CrossedBlocks):
            return pre(g)
        if pre is not None:  # the sparse LU of S
            return pre.solve(np.ascontiguousarray(g))  # type: ignore[attr-defined]
        return self.inv_s[:, None] * g

    def _project(self, x: np.ndarray, cols: np.ndarray, a: np.ndarray | None,
                 parallel: bool, write: bool = True) -> np.ndarray:
        """r = (I - P_e)(x[:, cols] - D_o a), written to x[:, cols] when ``write``; returns
        D_o' W r, (m, k) row-major."""
        plan = self.plan
        out = np.empty((plan.m, cols.size))
        kernels_schur.schur_project(
            x, cols, np.empty((0, cols.size)) if a is None else np.ascontiguousarray(a), out,
            self.codes, plan.dims, plan.starts, plan.ptr,
            _NO_ORDER if plan.order is None else plan.order, self.w, self.inv_a, plan.longest,
            plan.chunks, write, parallel)
        return out

    def _apply(self, p: np.ndarray, parallel: bool) -> np.ndarray:
        plan = self.plan
        out = np.empty(p.shape)
        kernels_schur.schur_apply(np.ascontiguousarray(p), out, self.codes, plan.dims,
                                  plan.starts, plan.ptr, self.w, self.inv_a, plan.longest,
                                  plan.chunks, parallel)
        return out

    def project(self, x: np.ndarray, tols: np.ndarray, maxiter: int) -> np.ndarray:
        """Residuals of the projection of the columns of the Fortran-ordered float64 (n, k)
        ``x``, in place; the passes over the rows used per column (-1: not converged).

        Conjugate gradients on ``S a = g`` for the columns not yet within their tolerance, from
        a = 0; when every column's CG residual is within half its tolerance (or has stalled),
        the residual is formed and the stop rule checked on it; CG restarts from there when the
        recursively updated residual has drifted (at most :data:`RESTARTS` times).
        """
        k = x.shape[1]
        parallel = x.shape[0] * k >= PARALLEL_MIN_CELLS
        tols = np.asarray(tols, dtype=np.float64)
        passes = np.full(k, -1, dtype=np.int64)
        failed = np.zeros(k, dtype=bool)
        # The first pass only reads x: the last one forms (I - P_e)(x - D_o a) from x itself.
        g = self._project(x, np.arange(k, dtype=np.int64), None, parallel, write=False)
        used = 1
        for restart in range(RESTARTS + 1):
            with np.errstate(invalid="ignore", over="ignore"):
                worst = np.abs(g * self.inv_b[:, None]).max(axis=0, initial=0.0)
            failed |= ~np.isfinite(worst)
            done = (worst <= tols) & (passes < 0)
            passes[done] = used
            if restart == 0 and done.any():  # within tolerance once the pairs' means are off
                self._project(x, np.flatnonzero(done).astype(np.int64), None, parallel)
            live = np.flatnonzero((passes < 0) & ~failed)
            if not live.size or used >= maxiter or restart == RESTARTS:
                break
            a, more = self._cg(g[:, live], tols[live], maxiter - used, parallel)
            used += more + 1
            if self.fresh and restart == 0:
                self.plan.memo[self.kind + " iterations"] = more
            elif not self.fresh and more >= self.stale_after:
                self._refresh()
            g = np.zeros_like(g)
            g[:, live] = self._project(x, live.astype(np.int64), a, parallel)
        return passes

    def _cg(self, g: np.ndarray, tols: np.ndarray, budget: int,
            parallel: bool) -> tuple[np.ndarray, int]:
        """a with ``S a`` = the (m, k) ``g`` until every column's CG residual, as weighted group
        means, is within half its tolerance (or stalls); the solution and the passes used."""
        a = np.zeros_like(g)
        r = g.copy()
        z = self._precondition(r)
        p = z.copy()
        rz = np.einsum("ij,ij->j", r, z)
        moving = np.ones(g.shape[1], dtype=bool)
        used = 0
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            while used < budget:
                on = np.flatnonzero(moving)
                q = self._apply(p[:, on], parallel)
                used += 1
                pq = np.einsum("ij,ij->j", p[:, on], q)
                good = (pq > 0) & np.isfinite(pq)
                alpha = np.where(good, rz[on] / np.where(good, pq, 1.0), 0.0)
                a[:, on] += alpha * p[:, on]
                r[:, on] -= alpha * q
                worst = np.abs(r[:, on] * self.inv_b[:, None]).max(axis=0, initial=0.0)
                moving[on] = good & (worst > 0.5 * tols[on]) & (rz[on] != 0)
                if not moving.any():
                    break
                if used >= self.stale_after and not self.fresh:
                    break  # the caller makes the preconditioner afresh and restarts
                on = np.flatnonzero(moving)
                z = self._precondition(r[:, on])
                rz_new = np.einsum("ij,ij->j", r[:, on], z)
                p[:, on] = z + (rz_new / rz[on]) * p[:, on]
                rz[on] = rz_new
        return a, used
