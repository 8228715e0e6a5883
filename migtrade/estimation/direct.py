"""A direct solve of the fixed-effect normal equations, for designs where it is cheap.

Eliminating the dimension with the most levels (workers, say) leaves a system on the other
dimensions' levels (firms and years) whose matrix, the Schur complement
``S = B - C A^{-1} C'`` with ``A = D_e'WD_e`` (diagonal), ``C = D_o'WD_e`` and ``B = D_o'WD_o``,
is small and sparse when each eliminated group touches few levels of the others. Its sparse LU
factorisation then projects any number of columns exactly, however long the fixed-effect graph;
conjugate gradients would need hundreds of passes there.

``S`` is singular (one redundant level per connected component and per extra dimension), so a
relative ridge of ``RIDGE`` on its diagonal is added; the small bias it leaves is removed by the
conjugate-gradient polish that always follows (see :class:`migtrade.estimation.absorb.Absorber`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

RIDGE = 1e-10
# Use the direct solve only when the Schur complement is cheap to form and factorise.
MAX_REDUCED_LEVELS = 60_000
MAX_PRODUCT_TERMS = 60_000_000


def _dummies(codes: np.ndarray, n_levels: int, values: np.ndarray) -> sp.csr_matrix:
    n = codes.shape[0]
    return sp.csr_matrix((values, (np.arange(n), codes)), shape=(n, n_levels))


class DirectProjector:
    """Exact weighted projection off several fixed effects by elimination and sparse LU."""

    def __init__(self, codes: np.ndarray, n_levels: Sequence[int], weights: np.ndarray) -> None:
        from scipy.sparse.linalg import splu

        q_e = int(np.argmax(n_levels))
        others = [q for q in range(len(n_levels)) if q != q_e]
        self.q_e = q_e
        self.others = others
        self.n_levels = tuple(n_levels)
        w = weights
        ones = np.ones(codes.shape[1])
        de = _dummies(codes[q_e], n_levels[q_e], ones)
        do = sp.hstack([_dummies(codes[q], n_levels[q], ones) for q in others]).tocsr()
        self.de, self.do = de, do
        wde = de.multiply(w[:, None]).tocsr()
        a = np.asarray(wde.sum(axis=0)).ravel()
        self.inv_a = np.where(a > 0, 1.0 / np.where(a > 0, a, 1.0), 0.0)
        c = (do.T @ wde).tocsc()  # m_o x G_e
        b = (do.T @ do.multiply(w[:, None])).tocsc()
        s = (b - c @ sp.diags(self.inv_a) @ c.T).tocsc()
        diag = s.diagonal()
        ridge = RIDGE * max(float(diag.max(initial=0.0)), 1.0)
        self.c = c
        self.lu = splu((s + sp.diags(np.full(s.shape[0], ridge))).tocsc())
        self.w = w

    @staticmethod
    def affordable(codes: np.ndarray, n_levels: Sequence[int]) -> bool:
        """Whether forming and factorising the Schur complement is cheap for this design."""
        if len(n_levels) < 2:
            return False
        q_e = int(np.argmax(n_levels))
        reduced = sum(n_levels) - n_levels[q_e]
        if reduced > MAX_REDUCED_LEVELS:
            return False
        # Each eliminated group contributes (rows in it x other dimensions)^2 products at most.
        counts = np.bincount(codes[q_e], minlength=n_levels[q_e]).astype(np.float64)
        terms = float(np.sum((counts * (len(n_levels) - 1)) ** 2))
        return terms <= MAX_PRODUCT_TERMS

    def project(self, x: np.ndarray, refinements: int = 2) -> np.ndarray:
        """Residuals ``x - D a`` of the weighted projection, column by column (x is n x k).

        The ridge leaves an error of relative size ridge / (smallest non-zero eigenvalue of S);
        projecting the residual again (iterative refinement) multiplies it by that ratio each
        time, so two refinements reach machine precision on the designs this is used for.
        """
        r = self._once(x)
        for _ in range(refinements):
            r = self._once(r)
        return r

    def _once(self, x: np.ndarray) -> np.ndarray:
        wx = x * self.w[:, None]
        b_e = self.de.T @ wx
        b_o = self.do.T @ wx
        rhs = b_o - self.c @ (self.inv_a[:, None] * b_e)
        a_o = self.lu.solve(np.asarray(rhs))
        a_e = self.inv_a[:, None] * (b_e - self.c.T @ a_o)
        return np.asfortranarray(x - self.de @ a_e - self.do @ a_o)
