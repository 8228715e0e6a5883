"""The absorb core: exactness against a sparse least-squares solve, its invariants, and the
agreement of its serial and row-parallel kernels.

Tolerances: the projection stops when one sweep moves no element by more than 1e-8 times the
column's scale; with Irons-Tuck extrapolation the remaining error is of the same order, so
residuals are compared to 1e-7 (absolute, columns of unit scale).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.linalg import lsqr

from migtrade.estimation import absorb
from migtrade.estimation.absorb import Absorber


def random_fe(rng: np.random.Generator, n: int, sizes: tuple[int, ...]) -> list[np.ndarray]:
    codes = []
    for g in sizes:
        c = rng.integers(0, g, n)
        c[:g] = np.arange(g)  # every level present
        codes.append(c)
    return codes


def dummies(codes: list[np.ndarray]) -> sp.csr_matrix:
    n = codes[0].size
    return sp.hstack([sp.csr_matrix((np.ones(n), (np.arange(n), c)), shape=(n, c.max() + 1)) for c in codes]).tocsr()


@pytest.mark.parametrize("sizes", [(30,), (30, 20), (40, 25, 60), (10, 10, 10, 10)])
def test_equals_weighted_least_squares_on_dummies(sizes: tuple[int, ...]) -> None:
    rng = np.random.default_rng(len(sizes))
    n = 3000
    codes = random_fe(rng, n, sizes)
    w = rng.uniform(0.2, 5.0, n)
    x = rng.normal(size=(n, 2))
    res = Absorber(codes, w).demean(x)
    assert res.converged
    D = dummies(codes)
    sw = np.sqrt(w)
    for j in range(2):
        coef = lsqr(sp.diags(sw) @ D, sw * x[:, j], atol=1e-14, btol=1e-14, iter_lim=50_000)[0]
        np.testing.assert_allclose(res.resid[:, j], x[:, j] - D @ coef, atol=1e-7)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n_fe=st.integers(1, 3))
def test_residual_is_orthogonal_to_every_fixed_effect(seed: int, n_fe: int) -> None:
    rng = np.random.default_rng(seed)
    n = 500
    codes = random_fe(rng, n, tuple(int(g) for g in rng.integers(2, 40, n_fe)))
    w = rng.uniform(0.1, 3.0, n)
    x = rng.normal(size=n) * 10
    r = Absorber(codes, w).demean(x, tol=1e-8).resid
    # The conjugate-gradient strategy guarantees what it tests: every group's weighted mean of
    # the residual is at most tol times the column's scale.
    scale = max(1.0, float(x.std()))
    for c in codes:
        means = np.bincount(c, weights=w * r) / np.bincount(c, weights=w)
        assert np.abs(means).max() <= 1e-8 * scale
    # Idempotent: projecting again changes nothing.
    np.testing.assert_allclose(Absorber(codes, w).demean(r).resid, r, atol=1e-7)


def test_warm_start_reaches_the_same_answer() -> None:
    rng = np.random.default_rng(5)
    codes = random_fe(rng, 4000, (50, 40, 200))
    x = rng.normal(size=4000)
    ab = Absorber(codes)
    cold = ab.demean(x)
    start = x - 0.9 * (x - cold.resid)  # any x - D a is a valid start
    warm = ab.demean(x, start=start)
    np.testing.assert_allclose(warm.resid, cold.resid, atol=1e-7)
    assert warm.sweeps <= cold.sweeps


@pytest.mark.parametrize("sizes", [(30, 20), (40, 25, 60), (10, 10, 10, 10)])
def test_strategies_give_the_same_projection(sizes: tuple[int, ...]) -> None:
    rng = np.random.default_rng(sum(sizes))
    n = 5000
    codes = random_fe(rng, n, sizes)
    w = rng.uniform(0.2, 5.0, n)
    x = rng.normal(size=(n, 2))
    ab = Absorber(codes, w)
    cg = ab.demean(x, tol=1e-10, strategy="cg")
    ap = ab.demean(x, tol=1e-10, strategy="map")
    auto = ab.demean(x, tol=1e-10, strategy="auto")
    direct = ab.demean(x, tol=1e-10, strategy="direct")
    crossed = ab.demean(x, tol=1e-10, strategy="crossed")
    schur = ab.demean(x, tol=1e-10, strategy="schur")
    for other in (ap, auto, direct, crossed, schur):
        assert other.converged
        np.testing.assert_allclose(cg.resid, other.resid, atol=1e-8)


def gravity_blocks(rng: np.random.Generator, countries: int, years: int,
                   dup: int = 1) -> tuple[list[np.ndarray], np.ndarray]:
    """Exporter-year, importer-year and pair codes of a gravity panel with holes: every year
    misses some countries (so the blocks have unequal sizes) and some flows; ``dup`` rows per
    flow (several products, say)."""
    rows = []
    for t in range(years):
        present = rng.random(countries) > 0.15
        for e in np.flatnonzero(present):
            for i in np.flatnonzero(present):
                if e != i and rng.random() > 0.1:
                    rows.extend([(e, i, t)] * dup)
    e, i, t = np.array(rows).T
    ey = np.unique(e * years + t, return_inverse=True)[1]
    iy = np.unique(i * years + t, return_inverse=True)[1]
    pair = np.unique(np.minimum(e, i) * countries + np.maximum(e, i), return_inverse=True)[1]
    return [ey, iy, pair], e


@pytest.mark.parametrize("dims", [2, 3])
@pytest.mark.parametrize("dup", [1, 3])
def test_crossed_pair_matches_conjugate_gradients(dims: int, dup: int) -> None:
    rng = np.random.default_rng(dims * 10 + dup)
    codes, _ = gravity_blocks(rng, 25, 6, dup)
    codes = codes[:dims]
    n = codes[0].size
    # PPML-like weights spanning several orders of magnitude, the hard case for the block inverse.
    w = np.exp(rng.normal(0.0, 2.5, n))
    x = rng.normal(size=(n, 3)) * np.array([1.0, 100.0, 0.01])
    ab = Absorber(codes, w)
    layout = ab.crossed_layout()
    assert layout is not None
    if dims == 2:
        assert layout.n_blocks == 6  # one block per year
    cg = ab.demean(x, tol=1e-11, strategy="cg")
    crossed = ab.demean(x, tol=1e-11, strategy="crossed")
    assert crossed.converged
    scale = np.abs(x).max(axis=0)
    np.testing.assert_array_less(np.abs(cg.resid - crossed.resid).max(axis=0), 1e-8 * scale)
    if dims == 2:
        assert crossed.sweeps <= 3  # exact: one projection and at most a refinement or two


def test_auto_takes_the_crossed_pair_for_two_large_crossed_effects() -> None:
    rng = np.random.default_rng(5)
    codes, _ = gravity_blocks(rng, 60, 25)
    ab = Absorber(codes[:2], rng.uniform(0.5, 2.0, codes[0].size))
    assert codes[0].size >= absorb.CROSSED_MIN_ROWS
    x = rng.normal(size=codes[0].size)
    auto = ab.demean(x, tol=1e-10)
    assert auto.converged and auto.sweeps == 1
    np.testing.assert_allclose(auto.resid, ab.demean(x, tol=1e-10, strategy="cg").resid, atol=1e-8)


def test_no_crossed_pair_when_the_graph_is_one_large_block() -> None:
    from migtrade.synthetic.sparse import ring_panel

    d = ring_panel(200_000, seed=1).frame  # 20,000 workers x 870 firms in one block
    ab = Absorber([d["indiv"].to_numpy(), d["firm"].to_numpy()])
    assert ab.crossed_layout() is None


def test_cg_converges_on_a_long_sparse_graph_where_projections_crawl() -> None:
    from migtrade.synthetic.sparse import ring_panel

    # 100,000 rows: 10,000 workers on a ring of 435 firms. Measured: CG 165 passes, MAP 1,814.
    d = ring_panel(100_000, seed=2).frame
    codes = [d["indiv"].to_numpy(), d["firm"].to_numpy(), d["year"].to_numpy()]
    ab = Absorber(codes)
    cg = ab.demean(d["x2"].to_numpy(), tol=1e-9, strategy="cg")
    ap = ab.demean(d["x2"].to_numpy(), tol=1e-9, strategy="map", maxiter=200_000)
    assert cg.converged and ap.converged
    assert cg.sweeps * 5 < ap.sweeps
    # MAP's stopping rule (a small change per sweep) is not a bound on its error; CG's is.
    np.testing.assert_allclose(cg.resid, ap.resid, atol=1e-5)


def test_non_finite_input_is_reported_not_converged() -> None:
    codes = [np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])]
    x = np.array([1.0, np.nan, 2.0, 3.0])
    assert not Absorber(codes).demean(x).converged


@pytest.mark.parametrize("dims", [2, 3])
def test_crossed_pair_reports_non_finite_input_as_not_converged(dims: int) -> None:
    rng = np.random.default_rng(11)
    codes, _ = gravity_blocks(rng, 12, 3)
    x = rng.normal(size=codes[0].size)
    x[5] = np.nan
    assert not Absorber(codes[:dims]).demean(x, strategy="crossed").converged


def test_overwrite_demeans_in_place_with_the_same_answer() -> None:
    rng = np.random.default_rng(12)
    codes = random_fe(rng, 4000, (30, 20, 15))
    ab = Absorber(codes, rng.uniform(0.5, 2.0, 4000))
    x = np.asfortranarray(rng.normal(size=(4000, 3)))
    copy = ab.demean(x, tol=1e-10)
    work = x.copy(order="F")
    inplace = ab.demean(work, tol=1e-10, overwrite=True)
    assert inplace.resid is work
    np.testing.assert_array_equal(inplace.resid, copy.resid)
    np.testing.assert_array_equal(ab.demean(x, tol=1e-10).resid, copy.resid)  # x untouched


def test_ppml_through_the_crossed_pair_equals_alternating_projections(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A two-way gravity PPML large enough for ``auto`` to take the crossed pair (in the IRLS
    steps and the separation check) gives the estimates alternating projections give."""
    from migtrade.estimation.fit import estimate
    from migtrade.estimation.vcov import VcovSpec
    from migtrade.synthetic.gravity import gravity_panel

    frame = gravity_panel(60, 15, seed=3).frame
    assert len(frame) >= absorb.CROSSED_MIN_ROWS
    formula = "trade ~ rta + log_migrant_stock + log_dist | exporter^year + importer^year"
    vcov = VcovSpec.parse("cluster:pair_id")
    crossed = estimate(formula, frame, vcov=vcov).result
    monkeypatch.setattr(absorb, "CROSSED_MIN_ROWS", 10**12)
    plain = estimate(formula, frame, vcov=vcov).result
    assert crossed.fe_sweeps < plain.fe_sweeps  # the crossed pair was used
    np.testing.assert_allclose(crossed.params, plain.params, rtol=1e-7)
    np.testing.assert_allclose(np.sqrt(np.diag(crossed.cov)), np.sqrt(np.diag(plain.cov)), rtol=1e-6)


def test_direct_follows_changing_weights_on_a_long_sparse_graph() -> None:
    """The direct strategy keeps one factorisation while the weights move a little (as between
    IRLS steps) and factorises again when they move far; every answer is the projection CG
    gives, in a few passes over the rows (two, plus one per iteration on the small system)."""
    from migtrade.estimation import direct
    from migtrade.synthetic.sparse import ring_panel

    d = ring_panel(40_000, seed=4).frame
    codes = [d["indiv"].to_numpy(), d["firm"].to_numpy(), d["year"].to_numpy()]
    rng = np.random.default_rng(4)
    x = np.asfortranarray(np.column_stack([d["x2"].to_numpy(), rng.normal(size=len(d)) * 50.0]))
    ab = Absorber(codes)
    w = np.exp(rng.normal(size=len(d)))
    factorisations = []
    for step in range(5):
        # Small moves, then one far (new weights of another scale), then small again.
        w = np.exp(3.0 * rng.normal(size=len(d))) if step == 2 else w * np.exp(
            0.05 * rng.normal(size=len(d)))
        now = ab.with_weights(w)
        got = now.demean(x, tol=1e-10, strategy="direct")
        ref = now.demean(x, tol=1e-10, strategy="cg")
        assert got.converged and got.sweeps <= 2 + 2 * direct.PCG_REFRESH
        # Both stop with every group's weighted mean of the residual below 1e-10 x scale (50).
        np.testing.assert_allclose(got.resid, ref.resid, atol=1e-7)
        factorisations.append(direct.DirectPlan.build(now.codes, now.n_levels).factor["weights"])
    # One factorisation served the small moves; the far move brought a new one.
    assert factorisations[0] is factorisations[1]
    assert factorisations[2] is not factorisations[1]


@pytest.mark.parametrize("shape", [(30, 40), (5_000, 4_000)])
@pytest.mark.parametrize("repeats", [False, True])
def test_direct_pattern_sums_every_entry_where_scipy_does(shape: tuple[int, int],
                                                          repeats: bool) -> None:
    """The plan's sparsity patterns (a table of keys, scipy's counting sort, or a sort of the
    keys, by range and repeats) put each entry where scipy's own conversion sums it."""
    from migtrade.estimation.direct import _pattern

    rng = np.random.default_rng(sum(shape) + repeats)
    n = min(3_000, shape[0] * shape[1] // 2)
    if repeats:
        rows, cols = rng.integers(0, shape[0], n), rng.integers(0, shape[1], n)
    else:  # distinct places
        flat = rng.choice(shape[0] * shape[1], n, replace=False)
        rows, cols = flat // shape[1], flat % shape[1]
    values = rng.normal(size=n)
    where, indices, indptr = _pattern(rows, cols, shape)
    mine = sp.csr_matrix((np.bincount(where, weights=values, minlength=indices.size), indices,
                          indptr), shape=shape)
    ref = sp.coo_matrix((values, (rows, cols)), shape=shape).tocsr()
    assert mine.has_sorted_indices and mine.nnz == ref.nnz
    np.testing.assert_allclose(mine.toarray(), ref.toarray(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_direct_reports_non_finite_input_as_not_converged(bad: float) -> None:
    rng = np.random.default_rng(21)
    codes = random_fe(rng, 5000, (800, 50, 10))
    x = rng.normal(size=(5000, 2))
    x[3, 1] = bad
    res = Absorber(codes, rng.uniform(0.5, 2.0, 5000)).demean(x, strategy="direct")
    assert not res.converged
