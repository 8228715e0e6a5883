"""The sparse LU factorisation that preconditions the ``direct`` strategy.

Eliminating the dimension with the most levels (workers, say) leaves a system on the other
dimensions' levels (firms and years) whose matrix, the Schur complement
``S = B - C A^{-1} C'`` with ``A = D_e'WD_e`` (diagonal), ``C = D_o'WD_e`` and ``B = D_o'WD_o``,
is small and sparse when each eliminated group touches few levels of the others. Conjugate
gradients on the full system would need hundreds of passes over the rows on a long fixed-effect
graph; preconditioned by a factorisation of S they need a handful.

Notes
-----
For a column x the weighted projection ``x - D_e a_e - D_o a_o`` solves

.. math::

    S a_o = D_o'Wx - C A^{-1} D_e'Wx, \\qquad a_e = A^{-1} (D_e'Wx - C' a_o).

What depends on the codes alone (the sparsity patterns of C and of B's blocks between the other
dimensions, and where each row's weight lands in them) is planned once per design
(:class:`DirectPlan`) and shared by every weighting IRLS and the separation checks use. This
module forms S and factorises it; the iterations themselves, each one compiled pass over the rows
per column, are :mod:`migtrade.estimation.schur`'s, which keeps one factorisation while the
weights move from one IRLS step to the next (S under new weights stays close, and forming
``C A^{-1} C'`` again is the costly part: tens of millions of products on a worker-firm panel)
and factorises again under the current weights when they need more than ``PCG_REFRESH``
iterations.

``S`` is singular (one redundant level per connected component and per extra dimension), so the
factorisation is of ``S + ridge I`` with a relative ``RIDGE``; the system is consistent, so the
iterations converge on the range of S and the null direction they leave does not change the
residual.
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from migtrade.estimation.last_plan import LastPlan

if TYPE_CHECKING:
    import scipy.sparse as sp

RIDGE = 1e-10
# Use the direct solve only when the Schur complement is cheap to form and factorise.
MAX_REDUCED_LEVELS = 60_000
MAX_PRODUCT_TERMS = 60_000_000
# Iterations with a factorisation made under other weights before S is factorised afresh (a
# factorisation, 0.08-0.12 s on the worker-firm ring, costs about as much as 16-25 iterations
# of three columns there; measured, the factorisation of one IRLS step lets the next converge
# in 5 to 10).
PCG_REFRESH = 16
# A kept factorisation is made afresh at once only when a tenth of the rows' weights (in the
# sample of :data:`migtrade.estimation.schur.WEIGHT_SAMPLE`) moved by more than this in logs
# (e^2.5 = 12), a wider margin than the other preconditioners' (their iterations cost more
# next to their set-up). Measured on the worker-firm ring: from the separation check's weights
# to the fit's first the move is 9.3 (the kept one would need 28 iterations); from the first
# IRLS step to the second 1.3, where the kept one needs 9 iterations instead of 1 after a new
# factorisation and 1 more in each later step: 0.05 s against 0.12-0.15 s.
FAR_MOVE_LU = 2.5
# Blocks of rows of C A^-1 C' computed in parallel (each row by one thread: the same sums
# whatever the threads).
PRODUCT_BLOCKS = 16


def _pattern(rows: np.ndarray, cols: np.ndarray,
             shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR pattern (sorted, without duplicates) of a matrix with entries at (rows, cols).

    Returns where each input entry lands in the pattern's data (entries at the same place are
    summed there), the column indices and the row pointers: one compiled counting sort by row
    and a stamp per column (0.17 s against 0.8 s for sorting the keys, 2 M entries in random
    order).
    """
    from migtrade.estimation.kernels_schur import entry_pattern

    if not rows.size:
        return (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int32),
                np.zeros(shape[0] + 1, dtype=np.int64))
    return entry_pattern(rows, cols, shape)


def _joined(rows: list[np.ndarray]) -> np.ndarray:
    """The rows end to end; one row (three dimensions, one pair) as it is, not copied."""
    return rows[0] if len(rows) == 1 else np.concatenate(rows)


@dataclass
class DirectPlan:
    """What the direct solve needs that depends on the codes alone.

    ``e`` holds the eliminated dimension's codes; ``o`` the other dimensions' codes numbered
    across them (one row per dimension); ``c_at`` / ``u_at`` where each (dimension, row) pair's
    weight is summed in C's and in the upper cross blocks of B's data.
    """

    q_e: int
    e: np.ndarray
    o: np.ndarray
    g_e: int
    m_o: int
    c_at: np.ndarray
    c_row: np.ndarray | None  # the one row behind each entry of C, when no entry has two
    ct_row: np.ndarray | None  # the same for C' (in the rows' order when they come by group)
    c_indices: np.ndarray
    c_indptr: np.ndarray
    u_at: np.ndarray
    u_indices: np.ndarray
    u_indptr: np.ndarray
    u_rows: np.ndarray  # which pair of other dimensions each block of u_at belongs to
    c_t: tuple[np.ndarray, np.ndarray, np.ndarray]  # C' as (source in C's data, indices, indptr)
    b_sym: tuple[np.ndarray, np.ndarray, np.ndarray]  # B's off-diagonal part, from u's data
    factor: dict[str, object] = field(default_factory=dict)  # the shared LU preconditioner

    @classmethod
    def build(cls, codes: np.ndarray, n_levels: Sequence[int]) -> DirectPlan:
        """Plan the solve for the (Q, n) ``codes`` of a design, eliminating the largest dimension.

        The last plan is kept with a copy of its codes: the separation checks and the fit build
        their own absorbers on the same rows, and comparing the codes costs a pass where
        planning costs a sort.
        """
        return _LAST_PLAN.get(codes, lambda: cls._build(codes, n_levels))

    @classmethod
    def _build(cls, codes: np.ndarray, n_levels: Sequence[int]) -> DirectPlan:
        # The plan is patterns alone, made by compiled counting sorts that let go of the
        # interpreter: scipy's sparse solvers, which the factorisation needs next, import
        # meanwhile (0.15 s; no design that is not planned for this strategy loads them).
        _import_solver_meanwhile()
        q_e = int(np.argmax(n_levels))
        others = [q for q in range(len(n_levels)) if q != q_e]
        g_e = int(n_levels[q_e])
        offsets = np.concatenate([[0], np.cumsum([n_levels[q] for q in others])]).astype(np.int64)
        m_o = int(offsets[-1])
        e = np.ascontiguousarray(codes[q_e])
        n, n_o = e.size, len(others)
        # The other dimensions' codes numbered across them, and the eliminated group of each of
        # their entries, each written once into the int64 array the pattern reads (no 32-bit
        # copies stacked and widened: on the worker-firm ring those were 50 MB of fresh pages).
        o = np.empty((n_o, n), dtype=np.int64)
        rows_e = np.empty(n_o * n, dtype=np.int64)
        for k, q in enumerate(others):
            np.add(codes[q], offsets[k], out=o[k])
            rows_e[k * n:(k + 1) * n] = e
        # C' (a row per eliminated group) and C from the same entries; ``inverse`` says where
        # each entry of C' sits in C's data (entries that share a cell in one share it in both).
        t_at, t_indices, t_indptr = _pattern(rows_e, o.ravel(), (g_e, m_o))
        del rows_e
        # C is C' transposed: one counting sort of C''s distinct entries by column, not a second
        # sort of every entry (0.04 s on the worker-firm ring).
        from migtrade.estimation.kernels_schur import transpose_pattern

        inverse, c_indices, c_indptr = transpose_pattern(t_indices, t_indptr, m_o)
        c_at = inverse[t_at]
        c_row: np.ndarray | None = None
        ct_row: np.ndarray | None = None
        index = np.int32 if max(e.size, t_indices.size) < np.iinfo(np.int32).max else np.int64
        if c_at.size == t_indices.size:  # every entry of C comes from one row: gather, not sum
            c_row = np.empty(c_at.size, dtype=index)
            row_ids = np.arange(n, dtype=index)
            for k in range(n_o):
                c_row[c_at[k * n:(k + 1) * n]] = row_ids
            ct_row = c_row[inverse]
            c_at = np.empty(0, dtype=np.int64)  # not needed then
        inverse = inverse.astype(index)
        pairs = [(a, b) for a in range(n_o) for b in range(a + 1, n_o)]
        if pairs:
            u_at, u_indices, u_indptr = _pattern(_joined([o[a] for a, _ in pairs]),
                                                 _joined([o[b] for _, b in pairs]), (m_o, m_o))
        else:
            u_at = np.empty(0, dtype=np.int64)
            u_indices = np.empty(0, dtype=np.int32)
            u_indptr = np.zeros(m_o + 1, dtype=np.int64)
        return cls(q_e=q_e, e=e, o=o, g_e=g_e, m_o=m_o, c_at=c_at, c_row=c_row, ct_row=ct_row,
                   c_indices=c_indices, c_indptr=c_indptr, u_at=u_at, u_indices=u_indices,
                   u_indptr=u_indptr, u_rows=np.array(pairs, dtype=np.int64),
                   c_t=(inverse, t_indices, t_indptr),
                   b_sym=_symmetric(u_indices, u_indptr, m_o))


_LAST_PLAN: LastPlan[DirectPlan] = LastPlan()
SOLVER_MODULE = "scipy.sparse.linalg"


def _import_solver_meanwhile() -> None:
    """Import scipy's sparse solvers (splu) on another thread while the plan is built, mostly
    in loops that let go of the interpreter: the import takes 0.06-0.08 s, the first
    factorisation waits for it. Python's import lock makes the factorisation's own import wait
    for this one rather than run twice."""
    if SOLVER_MODULE not in sys.modules:
        threading.Thread(target=importlib.import_module, args=(SOLVER_MODULE,),
                         name="import-sparse-solvers", daemon=True).start()


def _symmetric(indices: np.ndarray, indptr: np.ndarray,
               m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pattern of U + U' for the strictly upper pattern U (the two never overlap): which
    entry of U each of its entries is, its column indices and its row pointers."""
    rows = np.repeat(np.arange(m, dtype=np.int64), np.diff(indptr))
    cols = indices.astype(np.int64)
    at, sym_indices, sym_indptr = _pattern(np.concatenate([rows, cols]),
                                           np.concatenate([cols, rows]), (m, m))
    source = np.empty(at.size, dtype=np.int64)
    source[at] = np.tile(np.arange(indices.size, dtype=np.int64), 2)
    return source, sym_indices, sym_indptr


def _csr(data: np.ndarray, indices: np.ndarray, indptr: np.ndarray,
         shape: tuple[int, int]) -> sp.csr_matrix:
    """A CSR matrix on a pattern known to be valid (sorted, no duplicates): no checks, no copies."""
    import scipy.sparse as sp

    matrix = sp.csr_matrix(shape, dtype=np.float64)
    # sparsetools wants one index type for both arrays; int32 while it can hold the entries.
    index = np.int32 if indptr[-1] < np.iinfo(np.int32).max else np.int64
    matrix.data = data
    matrix.indices = indices.astype(index, copy=False)
    matrix.indptr = indptr.astype(index, copy=False)
    matrix.has_sorted_indices = True
    matrix.has_canonical_format = True
    return matrix


class DirectProjector:
    """Exact weighted projection off several fixed effects by elimination of the largest one."""

    def __init__(self, codes: np.ndarray, n_levels: Sequence[int], weights: np.ndarray) -> None:
        plan = DirectPlan.build(codes, n_levels)
        self.plan = plan
        w = np.ascontiguousarray(weights, dtype=np.float64)
        self.w = w
        n_o = plan.o.shape[0]
        a = np.bincount(plan.e, weights=w, minlength=plan.g_e)
        self.inv_a = np.where(a > 0, 1.0 / np.where(a > 0, a, 1.0), 0.0)
        n = w.shape[0]
        if plan.c_row is not None:
            c_data = w[plan.c_row]
        else:
            c_data = np.zeros(plan.c_indices.size)
            for k in range(n_o):
                c_data += np.bincount(plan.c_at[k * n:(k + 1) * n], weights=w,
                                      minlength=c_data.size)
        self.c = _csr(c_data, plan.c_indices, plan.c_indptr, (plan.m_o, plan.g_e))
        perm, indices, indptr = plan.c_t
        # C' gathered from the weights too when it can: its entries come in the groups' order,
        # which is the rows' own on a panel sorted by the eliminated dimension.
        ct_data = w[plan.ct_row] if plan.ct_row is not None else c_data[perm]
        self.ct = _csr(ct_data, indices, indptr, (plan.g_e, plan.m_o))
        # A level's weight sum is its row of C summed over the eliminated groups.
        self.b_diag = np.asarray(self.c.sum(axis=1)).ravel()
        u_data = np.zeros(plan.u_indices.size)
        for k in range(len(plan.u_rows)):
            u_data += np.bincount(plan.u_at[k * n:(k + 1) * n], weights=w, minlength=u_data.size)
        perm, indices, indptr = plan.b_sym
        self.b_off = _csr(u_data[perm], indices, indptr, (plan.m_o, plan.m_o))

    @staticmethod
    def affordable(codes: np.ndarray, n_levels: Sequence[int]) -> bool:
        """Whether forming and factorising the Schur complement is cheap for this design."""
        if len(n_levels) < 2:
            return False
        q_e = int(np.argmax(n_levels))
        reduced = sum(n_levels) - n_levels[q_e]
        if reduced > MAX_REDUCED_LEVELS:
            return False
        # Each eliminated group contributes (rows in it x other dimensions)^2 products at most;
        # their sum is at least n^2 / groups x (Q - 1)^2 (groups of equal size), which turns
        # the gravity panels down without counting the groups' rows.
        n = codes.shape[1]
        if float(n) ** 2 / max(1, n_levels[q_e]) * (len(n_levels) - 1) ** 2 > MAX_PRODUCT_TERMS:
            return False
        counts = np.bincount(codes[q_e], minlength=n_levels[q_e]).astype(np.float64)
        terms = float(np.sum((counts * (len(n_levels) - 1)) ** 2))
        return terms <= MAX_PRODUCT_TERMS

    def _factorise(self) -> None:
        import scipy.sparse as sp
        from scipy.sparse.linalg import splu

        # C A^-1 C' as one sparse product: A^-1 scales the rows of C' in place of a product
        # with a diagonal matrix; the ridge joins B's diagonal.
        ct = self.ct
        scaled = _csr(ct.data * np.repeat(self.inv_a, np.diff(ct.indptr)), ct.indices, ct.indptr,
                      ct.shape)
        ridge = RIDGE * max(float(self.b_diag.max(initial=0.0)), 1.0)
        s = sp.diags(self.b_diag + ridge) + self.b_off - self._product(scaled)
        self.plan.factor.update(lu=splu(s.tocsc()), weights=self.w)

    def _product(self, scaled: sp.csr_matrix) -> sp.csr_matrix:
        """C times ``scaled`` (C' with scaled rows): the pattern, which depends on the codes
        alone, once per design from the two patterns; the entries by one compiled pass, rows
        in parallel in blocks of about equal entries of C (the year rows of a worker-firm panel
        hold half of them)."""
        from migtrade.estimation.kernels_schur import sparse_pattern, sparse_product_on

        factor = self.plan.factor
        if "pattern" not in factor:
            indptr, indices = sparse_pattern(self.c, scaled, PRODUCT_BLOCKS)
            factor["pattern"] = (indices, indptr)
        pattern = factor["pattern"]
        assert isinstance(pattern, tuple)
        indices, indptr = pattern
        data = sparse_product_on(self.c, scaled, (indices, indptr), PRODUCT_BLOCKS)
        return _csr(data, indices, indptr, (self.c.shape[0], scaled.shape[1]))

    def factorise(self) -> object:
        """A sparse LU factorisation of S (plus the ridge) under these weights, also kept in the
        plan; its ``solve`` preconditions the ``schur`` iterations."""
        self._factorise()
        return self.plan.factor["lu"]
