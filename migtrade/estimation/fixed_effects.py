"""Fixed-effect bookkeeping: compact codes, iterative singleton removal, absorbed degrees of freedom.

Everything here works on integer code arrays (one per fixed-effect dimension), never on the dummies.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from migtrade.estimation.kernels import compact_codes


def compact(codes: np.ndarray) -> tuple[np.ndarray, int]:
    """Renumber codes to 0 .. G-1 keeping their order; returns the new codes (int32) and G.

    Codes that are int32 and already 0 .. G-1 with every level present are returned as they
    are, not copied (the caller must then not change them in place).
    """
    if codes.size == 0:
        return codes.astype(np.int32), 0
    if codes.dtype == np.int32:
        # One compiled pass each for the largest code, the levels present and the renumbering
        # (NumPy's fancy indexing took three times as long: 10 calls, 0.07 s on 1.6 M rows).
        done = compact_codes(codes)
        if done is not None:
            return done
    present = np.zeros(int(codes.max()) + 1, dtype=bool)
    present[codes] = True
    if codes.dtype == np.int32 and present.all():
        return codes, present.size
    # The small table is made int32 before the gather, so the n codes are written once.
    mapping = (np.cumsum(present) - 1).astype(np.int32)
    return mapping[codes], int(present.sum())


def singleton_mask(codes: Sequence[np.ndarray], keep: np.ndarray) -> np.ndarray:
    """Observations to drop because they are alone in a group of some fixed effect.

    Dropping one singleton can create another (in a different dimension), so the check repeats
    until nothing changes, as reghdfe and fixest do. ``keep`` marks rows still in the sample.

    Notes
    -----
    The rows left at the end are the largest subset of ``keep`` in which every group of every
    dimension that has a row has at least two: a row of that subset is never alone in any
    superset, so it is never dropped, and whatever is left when nothing changes is such a
    subset. The result therefore does not depend on the order of the checks, which lets each
    dimension be checked again only when it can have changed: the group sizes are counted
    once and lowered by the rows dropped, and a dimension is passed over again only when one
    of the groups that lost rows is left with exactly one (on most panels, never: one pass
    per dimension instead of two).
    """
    alive = keep.copy()
    if not codes or not alive.any():
        return np.zeros_like(keep)
    every = bool(alive.all())  # then the codes are counted as they are, not gathered
    counts = [np.bincount(c if every else c[alive], minlength=int(c.max()) + 1) for c in codes]
    # Per dimension, the groups that lost rows since its last pass (None: not passed yet).
    touched: list[list[np.ndarray] | None] = [None] * len(codes)
    unchanged = 0  # dimensions in a row found with nothing to drop
    q = 0
    while unchanged < len(codes):
        c, count, lost = codes[q], counts[q], touched[q]
        if lost is not None and not any(np.any(count[g] == 1) for g in lost):
            unchanged += 1
        else:
            touched[q] = []
            single = np.flatnonzero(alive & (count[c] == 1))
            if single.size:
                alive[single] = False
                for other, (c2, count2) in enumerate(zip(codes, counts, strict=True)):
                    groups = c2[single]
                    count2 -= np.bincount(groups, minlength=count2.size)
                    if touched[other] is not None:
                        touched[other].append(groups)  # type: ignore[union-attr]
                unchanged = 1
            else:
                unchanged += 1
        q = (q + 1) % len(codes)
    return keep & ~alive


def absorbed_dof(codes: Sequence[np.ndarray]) -> tuple[int, int]:
    """Parameters absorbed by the fixed effects: (sum of levels, redundant levels).

    The redundancy count is exact for the first two dimensions (one per connected component of
    their bipartite graph, beyond the first) and one per further dimension, the convention of
    reghdfe; it can only overstate the degrees of freedom used, never understate them.
    """
    levels = [int(c.max()) + 1 if c.size else 0 for c in codes]
    total = sum(levels)
    if len(codes) <= 1:
        return total, 0
    g1, g2 = levels[0], levels[1]
    if g1 + g2 < np.iinfo(np.int32).max:
        # A compiled union-find over the rows: one pass, and no graph library to load (scipy's
        # graph search costs 0.04 s of import on every estimate, more than the search itself).
        # The union-find that also finds the blocks of a crossed pair.
        from migtrade.estimation.kernels_crossed import components

        n_comp, _ = components(codes[0], codes[1], g1, g2)
    else:
        n_comp = _components_sparse(codes[0], codes[1], g1, g2)
    redundant = n_comp + (len(codes) - 2)
    return total, redundant


def _components_sparse(first: np.ndarray, second: np.ndarray, g1: int, g2: int) -> int:
    """Components of the same graph by scipy's graph search (node numbers beyond 32 bits)."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    other = second.astype(np.int64)
    other += g1
    graph = sp.coo_matrix((np.ones(first.size, dtype=np.int8), (first.astype(np.int64), other)),
                          shape=(g1 + g2, g1 + g2))
    return int(connected_components(graph, directed=False)[0])


def is_nested(fe_codes: np.ndarray, cluster_codes: np.ndarray) -> bool:
    """True when every level of the fixed effect lies within a single cluster."""
    if fe_codes.size == 0:
        return True
    g = int(fe_codes.max()) + 1
    # Nested levels map onto the clusters, so there are at least as many levels as clusters
    # with rows: fewer (exporter-year effects under pair clusters) settle it without the
    # passes over the rows below.
    if g < np.count_nonzero(np.bincount(cluster_codes)):
        return False
    # Any one row's cluster stands for its level (the last written, here): the level is nested
    # when every row of it has that cluster.
    one = np.full(g, -1, dtype=cluster_codes.dtype)
    one[fe_codes] = cluster_codes
    return bool(np.array_equal(one[fe_codes], cluster_codes))


def constant_within(x: np.ndarray, codes: np.ndarray, rtol: float = 1e-10) -> bool:
    """True when ``x`` takes one value within every group of ``codes`` (it is absorbed by them):
    no group's spread exceeds ``rtol`` times the largest absolute value (at least 1)."""
    from migtrade.estimation.kernels import spread_within

    if x.size == 0:
        return True
    g = int(codes.max()) + 1
    scale = max(1.0, float(np.abs(x).max()))
    spread = spread_within(np.ascontiguousarray(x, dtype=np.float64),
                           np.ascontiguousarray(codes), g)
    return bool(spread <= rtol * scale)


def fe_dof(
    codes: Sequence[np.ndarray],
    nested: Sequence[bool],
    convention: str,
    absorbed: tuple[int, int] | None = None,
) -> int:
    """Fixed-effect parameters counted in K of the small-sample factor (N-1)/(N-K).

    ``nested[q]`` says whether dimension q is nested in a cluster variable (all False without
    clustering). Stata (reghdfe) leaves nested dimensions out entirely and counts the rest exactly
    for the first two dimensions; fixest counts every level less one per extra dimension, then
    replaces each nested dimension by a single parameter. ``absorbed``, when given, is
    :func:`absorbed_dof` of all of ``codes``, used when no dimension is nested instead of
    counting the components again.
    """
    if not codes:
        return 0
    if convention == "stata":
        free = [c for c, nst in zip(codes, nested, strict=True) if not nst]
        total, redundant = (absorbed if absorbed is not None and len(free) == len(codes)
                            else absorbed_dof(free))
        return total - redundant
    levels = [int(c.max()) + 1 for c in codes]
    dof = sum(levels) - (len(codes) - 1)
    for lv, nst in zip(levels, nested, strict=True):
        if nst:
            dof -= lv - 1
    return dof
