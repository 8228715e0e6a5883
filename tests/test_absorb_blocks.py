"""The compiled block preconditioner of the ``schur`` strategy (kernels_blocks): the exact inverse,
block by block, of the block normal matrices, and the projection it leads to.

Tolerances: the preconditioner is compared with numpy's dense solve of the same held block
systems (condition numbers below 1e4 here) to 1e-9 relative; projections are compared with
alternating projections to 1e-8 on columns of unit scale, as in test_absorb_schur (both stop
when each group's weighted mean or each sweep's change is below 1e-11 times the scale).
"""

from __future__ import annotations

import numpy as np
import pytest
from test_absorb_schur import sorted_gravity, two_components

from migtrade.estimation import kernels_blocks, schur
from migtrade.estimation.absorb import Absorber


def held_blocks(rng: np.random.Generator, n_blocks: int, m_e: int, m_s: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Cross tables of lognormal weights with missing cells, an empty e level and padding on
    the s side of some blocks, and the mask of held levels (each block's first s level and its
    padding)."""
    cross = rng.lognormal(0.0, 1.0, (n_blocks, m_e, m_s)) * (rng.random((n_blocks, m_e, m_s)) > 0.2)
    held = np.zeros((n_blocks, m_s), dtype=np.uint8)
    held[:, 0] = 1
    for b in range(0, n_blocks, 2):  # padding: the last s levels of every other block
        cross[b, :, m_s - 2:] = 0.0
        held[b, m_s - 2:] = 1
    cross[1, 3, :] = 0.0  # an empty e level
    return np.ascontiguousarray(cross), held


def dense_solve(cross: np.ndarray, held: np.ndarray, g_e: np.ndarray, g_s: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """z = M g by numpy: per block, [diag(a) X; X' diag(b)] z = g with the held s levels (and
    empty e levels) at 0."""
    z_e, z_s = np.zeros_like(g_e), np.zeros_like(g_s)
    for b in range(cross.shape[0]):
        x = cross[b]
        e_live = x.sum(axis=1) > 0
        s_live = held[b] == 0
        xl = x[np.ix_(e_live, s_live)]
        ne = int(e_live.sum())
        top = np.hstack([np.diag(x.sum(axis=1)[e_live]), xl])
        bottom = np.hstack([xl.T, np.diag(x.sum(axis=0)[s_live])])
        sol = np.linalg.solve(np.vstack([top, bottom]),
                              np.concatenate([g_e[b][e_live], g_s[b][s_live]]))
        z_e[b][e_live] = sol[:ne]
        z_s[b][s_live] = sol[ne:]
    return z_e, z_s


@pytest.mark.parametrize("m_e, m_s", [(9, 7), (13, 13), (5, 11)])
def test_solve_is_the_exact_inverse_of_each_held_block(m_e: int, m_s: int) -> None:
    rng = np.random.default_rng(m_e * m_s)
    n_blocks, k = 6, 3
    cross, held = held_blocks(rng, n_blocks, m_e, m_s)
    inv_a, chol = kernels_blocks.factor_blocks(cross, held)
    # The reduced system numbers the real levels in a scrambled order.
    places_e = n_blocks * m_e
    places_s = n_blocks * m_s
    perm = rng.permutation(places_e + places_s)
    e_of = perm[:places_e].reshape(n_blocks, m_e).astype(np.int64)
    s_of = perm[places_e:].reshape(n_blocks, m_s).astype(np.int64)
    g = np.asfortranarray(rng.normal(size=(places_e + places_s, k)))
    g[s_of[held == 1]] = 0.0  # held levels carry no residual
    z = kernels_blocks.solve_blocks(g, cross, held, inv_a, chol, e_of, s_of)
    for j in range(k):
        want_e, want_s = dense_solve(cross, held, g[e_of, j], g[s_of, j])
        scale = max(np.abs(want_e).max(), np.abs(want_s).max())
        np.testing.assert_allclose(z[e_of, j], want_e, rtol=0, atol=1e-9 * scale)
        np.testing.assert_allclose(z[s_of, j], want_s, rtol=0, atol=1e-9 * scale)


def test_blocks_in_parallel_give_the_serial_answer_bit_for_bit(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each block is built and applied by one thread alone: one thread or two, the same bits."""
    rng = np.random.default_rng(3)
    cross, held = held_blocks(rng, 8, 21, 17)
    e_of = np.arange(8 * 21, dtype=np.int64).reshape(8, 21)
    s_of = 8 * 21 + np.arange(8 * 17, dtype=np.int64).reshape(8, 17)
    g = np.asfortranarray(rng.normal(size=(8 * 38, 4)))
    serial = kernels_blocks.factor_blocks(cross, held)
    z_serial = kernels_blocks.solve_blocks(g, cross, held, *serial, e_of, s_of)
    monkeypatch.setattr(kernels_blocks, "PARALLEL_MIN_ENTRIES", 0)
    parallel = kernels_blocks.factor_blocks(cross, held)
    z_parallel = kernels_blocks.solve_blocks(g, cross, held, *parallel, e_of, s_of)
    np.testing.assert_array_equal(serial[1], parallel[1])
    np.testing.assert_array_equal(z_serial, z_parallel)


def test_a_pivot_lost_to_rounding_keeps_the_factor_positive_definite() -> None:
    """E level 0 and s levels 1 and 2 meet only each other: within the block they are a
    component of their own that no held level pins, so the pivot of s level 2 vanishes up to
    rounding. It is replaced by 1 with its row cleared, and the preconditioner stays finite and
    positive definite."""
    rng = np.random.default_rng(4)
    cross = rng.lognormal(size=(1, 6, 5))
    cross[0, 0, [0, 3, 4]] = 0.0
    cross[0, 1:, 1:3] = 0.0
    cross = np.ascontiguousarray(cross)
    held = np.zeros((1, 5), dtype=np.uint8)
    held[0, 0] = 1
    inv_a, chol = kernels_blocks.factor_blocks(cross, held)
    assert chol[0, 2, 2] == 1.0 and not chol[0, 2, :2].any()
    assert np.all(np.isfinite(chol)) and np.all(np.diag(chol[0]) > 0)
    g = np.asfortranarray(rng.normal(size=(11, 2)))
    z = kernels_blocks.solve_blocks(g, cross, held, inv_a, chol,
                                    np.arange(6, dtype=np.int64).reshape(1, 6),
                                    6 + np.arange(5, dtype=np.int64).reshape(1, 5))
    assert np.all(np.isfinite(z))
    assert np.all(np.einsum("ij,ij->j", g, z) > 0)


def designs() -> dict[str, list[np.ndarray]]:
    rng = np.random.default_rng(21)
    balanced = sorted_gravity(rng, 24, 7)
    keep = rng.random(balanced[0].size) > 0.3  # unbalanced: 30% of the flows missing
    return {
        "balanced": balanced,
        "unbalanced": [c[keep] for c in balanced],
        "two components": two_components(rng),
    }


@pytest.mark.parametrize("name", list(designs()))
@pytest.mark.parametrize("spread", [0.5, 2.5])
def test_schur_with_the_compiled_blocks_is_the_projection_of_map(name: str,
                                                                  spread: float) -> None:
    codes = [np.unique(c, return_inverse=True)[1] for c in designs()[name]]
    rng = np.random.default_rng(len(name))
    n = codes[0].size
    w = rng.lognormal(0.0, spread, n)
    x = np.asfortranarray(rng.normal(size=(n, 3)) + (codes[-1] % 5)[:, None])
    ab = Absorber(codes, w)
    got = ab.demean(x, tol=1e-11, strategy="schur")
    assert got.converged
    assert isinstance(ab._schur, schur.SchurProjector) and ab._schur.kind == "blocks"
    ref = ab.demean(x, tol=1e-11, strategy="map")
    np.testing.assert_allclose(got.resid, ref.resid, atol=1e-8)


def _projector_inputs(countries: int, years: int, seed: int):
    rng = np.random.default_rng(seed)
    codes = sorted_gravity(rng, countries, years)
    n = codes[0].size
    ab = Absorber(codes, rng.lognormal(0.0, 1.5, n))
    plan = schur.SchurPlan.build(ab.codes, ab.n_levels)
    return ab, plan


@pytest.mark.parametrize("countries, years", [(30, 6), (120, 4)])
def test_schur_diagonal_without_the_diagonal_and_in_parallel(countries: int, years: int) -> None:
    """The pass's weights, group inverses and level sums do not depend on whether it also forms
    the diagonal of S, nor on the threads (fixed chunks); the diagonal matches its definition
    (B minus, per eliminated group, the squared weight at the level over the group's weight)
    to 1e-12 relative."""
    from migtrade.estimation import kernels_schur

    ab, plan = _projector_inputs(countries, years, countries)
    codes = ab.codes if plan.codes is None else plan.codes
    order = np.empty(0, dtype=np.int64) if plan.order is None else plan.order
    args = (codes, plan.dims, plan.starts, plan.ptr, ab.weights.copy(), order, plan.m,
            plan.chunks)
    full = kernels_schur.schur_diagonal(*args, True, False)
    for diagonal, parallel in [(True, True), (False, False), (False, True)]:
        got = kernels_schur.schur_diagonal(*args, diagonal, parallel)
        for a, b in zip(got[:3], full[:3], strict=True):
            np.testing.assert_array_equal(a, b)
        assert (got[3] is None) != diagonal
        if diagonal:
            np.testing.assert_array_equal(got[3], full[3])
    w, inv_a, b, s = full
    group = np.repeat(np.arange(plan.ptr.size - 1), np.diff(plan.ptr))
    want_s = b.copy()
    for q, start in zip(plan.dims, plan.starts, strict=True):
        level = codes[q] + start
        cell = np.unique(np.stack([group, level]), axis=1, return_inverse=True)[1].ravel()
        cw = np.bincount(cell, weights=w)
        first = np.unique(cell, return_index=True)[1]
        np.subtract.at(want_s, level[first], cw ** 2 * inv_a[group[first]])
    np.testing.assert_allclose(s, want_s, rtol=1e-12, atol=1e-12 * float(b.max()))


def test_repeated_solves_take_the_dearer_blocks_and_the_same_projection() -> None:
    """A gravity design whose year blocks cost more than the default limit a row (about the
    countries: 150) gets the diagonal of S; the same design made for repeated solves gets the
    blocks, keeps them for a copy under nearby weights, and both projections equal alternating
    projections to 1e-8."""
    ab, _ = _projector_inputs(150, 3, 7)
    rng = np.random.default_rng(3)
    x = np.asfortranarray(rng.normal(size=(ab.n, 2)) + (ab.codes[0] % 7)[:, None])
    plain = ab.with_weights(ab.weights)
    got_plain = plain.demean(x, tol=1e-11, strategy="schur")
    assert isinstance(plain._schur, schur.SchurProjector) and plain._schur.kind == "diagonal"
    repeated = ab.for_repeated_solves()
    got = repeated.demean(x, tol=1e-11, strategy="schur")
    assert isinstance(repeated._schur, schur.SchurProjector) and repeated._schur.kind == "blocks"
    ref = ab.demean(x, tol=1e-11, strategy="map")
    np.testing.assert_allclose(got.resid, ref.resid, atol=1e-8)
    np.testing.assert_allclose(got_plain.resid, ref.resid, atol=1e-8)
    nearby = repeated.with_weights(ab.weights * rng.uniform(0.9, 1.1, ab.n))
    assert nearby.repeated
    nearby.demean(x, tol=1e-11, strategy="schur")
    assert isinstance(nearby._schur, schur.SchurProjector) and not nearby._schur.fresh
