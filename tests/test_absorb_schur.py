"""The ``schur`` strategy (exact elimination of the largest fixed effect, then conjugate gradients
on the rest): the same projection as conjugate gradients and alternating projections.

Tolerances: every strategy stops when each group's weighted mean of the residual (``cg``,
``schur``) or each sweep's change (``map``) is below 1e-11 times the column's scale; the
residuals left differ by the error of the slower strategy, of that order times the conditioning
of the fixed-effect graph (at most a few hundred here), so they are compared to 1e-8 on columns
of unit scale.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from test_absorb import gravity_blocks, random_fe

from migtrade.estimation import absorb, schur
from migtrade.estimation.absorb import Absorber


def sorted_gravity(rng: np.random.Generator, countries: int, years: int) -> list[np.ndarray]:
    """Exporter-year, importer-year and pair codes of a balanced panel sorted by pair (as the
    benchmark panels and most gravity files are: the pair's rows in one run)."""
    e, i, t = np.meshgrid(np.arange(countries), np.arange(countries), np.arange(years),
                          indexing="ij")
    keep = e != i
    e, i, t = e[keep], i[keep], t[keep]
    return [e * years + t, i * years + t, np.unique(e * countries + i, return_inverse=True)[1]]


def two_components(rng: np.random.Generator) -> list[np.ndarray]:
    """Two unrelated panels stacked: a fixed-effect graph with two connected components."""
    a, _ = gravity_blocks(rng, 12, 5)
    b, _ = gravity_blocks(rng, 9, 4)
    return [np.concatenate([ca, cb + ca.max() + 1]) for ca, cb in zip(a, b, strict=True)]


def designs() -> dict[str, list[np.ndarray]]:
    rng = np.random.default_rng(11)
    return {
        "balanced, sorted by pair": sorted_gravity(rng, 20, 8),
        "unbalanced, rows by year": gravity_blocks(rng, 25, 6)[0],
        "three rows per flow": gravity_blocks(rng, 15, 5, dup=3)[0],
        "two components": two_components(rng),
        "random, four dimensions": random_fe(rng, 6000, (300, 40, 25, 60)),
        "random, two dimensions": random_fe(rng, 4000, (400, 30)),
    }


def dummies(codes: list[np.ndarray]) -> sp.csr_matrix:
    n = codes[0].size
    return sp.hstack([sp.csr_matrix((np.ones(n), (np.arange(n), c)), shape=(n, c.max() + 1))
                      for c in codes]).tocsr()


@pytest.mark.parametrize("name", list(designs()))
def test_schur_gives_the_projection_of_cg_and_map(name: str) -> None:
    codes = designs()[name]
    rng = np.random.default_rng(len(name))
    n = codes[0].size
    w = rng.uniform(0.05, 5.0, n)
    x = np.asfortranarray(rng.normal(size=(n, 3)) + codes[-1][:, None] % 7)
    ab = Absorber(codes, w)
    got = ab.demean(x, tol=1e-11, strategy="schur")
    assert got.converged
    for other in ("cg", "map"):
        ref = ab.demean(x, tol=1e-11, strategy=other)
        np.testing.assert_allclose(got.resid, ref.resid, atol=1e-8, err_msg=other)
    # The stop rule: every group's weighted mean of the residual, in every dimension, is below
    # the tolerance (1e-11 x the column's scale, a few units here).
    d = dummies(codes)
    means = (d.T @ (w[:, None] * got.resid)) / np.asarray(d.T @ w)[:, None]
    assert np.abs(means).max() <= 1e-11 * max(1.0, float(x.std(axis=0).max()))


def test_schur_takes_fewer_passes_than_map_sweeps_on_a_gravity_panel() -> None:
    codes = sorted_gravity(np.random.default_rng(2), 40, 10)
    rng = np.random.default_rng(3)
    w = rng.lognormal(0.0, 1.5, codes[0].size)
    x = rng.normal(size=(codes[0].size, 2))
    ab = Absorber(codes, w)
    got = ab.demean(x, tol=1e-8, strategy="schur")
    ap = ab.demean(x, tol=1e-8, strategy="map")
    assert got.converged and ap.converged
    # A pass of schur reads the codes and weights once; a sweep of map reads and writes the
    # column once per dimension.
    assert got.sweeps < 3 * ap.sweeps
    np.testing.assert_allclose(got.resid, ap.resid, atol=1e-6)


def test_warm_start_gives_the_same_answer_in_fewer_passes() -> None:
    codes = sorted_gravity(np.random.default_rng(4), 25, 8)
    rng = np.random.default_rng(5)
    n = codes[0].size
    x = rng.normal(size=n) + codes[2] % 5
    w1 = rng.uniform(0.5, 2.0, n)
    w2 = w1 * rng.uniform(0.95, 1.05, n)
    first = Absorber(codes, w1).demean(x, tol=1e-10, strategy="schur")
    ab2 = Absorber(codes, w2)
    cold = ab2.demean(x, tol=1e-10, strategy="schur")
    warm = ab2.demean(x, tol=1e-10, strategy="schur", start=first.resid)
    np.testing.assert_allclose(warm.resid, cold.resid, atol=1e-8)
    assert warm.sweeps < cold.sweeps


def test_threads_do_not_change_the_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    codes = sorted_gravity(np.random.default_rng(6), 20, 6)
    rng = np.random.default_rng(7)
    x = np.asfortranarray(rng.normal(size=(codes[0].size, 4)))
    w = rng.uniform(0.5, 2.0, codes[0].size)
    serial = Absorber(codes, w).demean(x, tol=1e-10, strategy="schur")
    monkeypatch.setattr(schur, "PARALLEL_MIN_CELLS", 0)
    parallel = Absorber(codes, w).demean(x, tol=1e-10, strategy="schur")
    np.testing.assert_array_equal(serial.resid, parallel.resid)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input_is_reported_not_converged(bad: float) -> None:
    codes = sorted_gravity(np.random.default_rng(8), 10, 4)
    x = np.random.default_rng(9).normal(size=(codes[0].size, 2))
    x[5, 1] = bad
    res = Absorber(codes).demean(x, strategy="schur")
    assert not res.converged


def test_one_dimension_is_a_single_exact_pass() -> None:
    codes = [np.repeat(np.arange(50), 4)]
    x = np.random.default_rng(10).normal(size=200)
    res = Absorber(codes).demean(x, strategy="schur")
    assert res.converged
    np.testing.assert_allclose(res.resid, x - np.repeat(x.reshape(50, 4).mean(axis=1), 4),
                               atol=1e-14)


def test_ppml_through_schur_equals_alternating_projections(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A three-way gravity PPML fitted with every demeaning by ``schur`` (separation checks and
    IRLS steps) gives the estimates and standard errors of alternating projections."""
    from migtrade.estimation.fit import estimate
    from migtrade.estimation.vcov import VcovSpec
    from migtrade.synthetic.gravity import gravity_panel

    frame = gravity_panel(30, 10, seed=5).frame
    formula = "trade ~ rta + log_migrant_stock | exporter^year + importer^year + pair_id"
    vcov = VcovSpec.parse("cluster:pair_id")
    monkeypatch.setattr(absorb, "DEFAULT_STRATEGY", "map")
    plain = estimate(formula, frame, vcov=vcov).result
    monkeypatch.setattr(absorb, "DEFAULT_STRATEGY", "schur")
    got = estimate(formula, frame, vcov=vcov).result
    # Both stop the IRLS loop at a relative change in deviance below 1e-8 with inner demeaning
    # to 1e-8: estimates agree far inside 1e-7.
    np.testing.assert_allclose(got.params, plain.params, rtol=1e-7)
    np.testing.assert_allclose(np.sqrt(np.diag(got.cov)), np.sqrt(np.diag(plain.cov)), rtol=1e-6)


def test_block_preconditioner_is_kept_while_weights_move_and_remade_when_they_jump() -> None:
    """Exporter-year and importer-year fall apart into one block per year, so ``schur`` takes
    the block preconditioner; a small move of the weights keeps it, a jump to weights of
    another scale remakes it, and every answer is the projection CG gives."""
    codes = sorted_gravity(np.random.default_rng(12), 30, 8)
    rng = np.random.default_rng(13)
    n = codes[0].size
    x = np.asfortranarray(rng.normal(size=(n, 2)) * 10.0)
    ab = Absorber(codes, np.exp(rng.normal(size=n)))
    first = ab.demean(x, tol=1e-10, strategy="schur")
    assert first.converged
    projector = ab._schur
    assert isinstance(projector, schur.SchurProjector) and projector.kind == "blocks"
    kept = projector.pre
    near = ab.with_weights(ab.weights * np.exp(0.02 * rng.normal(size=n)))
    far = ab.with_weights(np.exp(4.0 * rng.normal(size=n)))
    for now, remade in ((near, False), (far, True)):
        got = now.demean(x, tol=1e-10, strategy="schur")
        ref = now.demean(x, tol=1e-10, strategy="cg")
        assert got.converged
        # Both stop with every group's weighted mean below 1e-10 x the scale (about 10).
        np.testing.assert_allclose(got.resid, ref.resid, atol=1e-7)
        assert isinstance(now._schur, schur.SchurProjector)
        assert (now._schur.pre is not kept) == remade


@pytest.mark.parametrize("blocks", [1, 3, 16])
def test_sparse_product_on_a_pattern_equals_scipys_product(blocks: int) -> None:
    """The compiled product that forms C A^-1 C' for ``direct``: scipy's product, entry for
    entry, on a pattern holding every entry of it (and zeros where the pattern has more)."""
    from migtrade.estimation.kernels_schur import sparse_product_on

    rng = np.random.default_rng(blocks)
    c = sp.random(60, 200, density=0.05, random_state=rng, format="csr")
    t = sp.random(200, 50, density=0.05, random_state=rng, format="csr")
    wider = (c @ t + sp.random(60, 50, density=0.1, random_state=rng, format="csr")).tocsr()
    wider.sort_indices()
    got = sparse_product_on(c, t, (wider.indices.astype(np.int32), wider.indptr.astype(np.int64)),
                            blocks)
    want = (c @ t).toarray()[np.repeat(np.arange(60), np.diff(wider.indptr)), wider.indices]
    # Each entry is summed in the order of C's and T's entries, as scipy's product does:
    # equal to rounding.
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-15)


def test_auto_takes_schur_from_a_large_designs_second_demeaning(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``auto`` on a design of three dimensions above the row threshold, where the direct solve
    is not affordable: alternating projections for its first demeaning (a lone OLS demeaning
    does not pay for the plan), ``schur`` from the second on, on another absorber of the same
    codes too; every answer the projection of ``map``."""
    from migtrade.estimation import direct

    codes = sorted_gravity(np.random.default_rng(14), 30, 8)
    rng = np.random.default_rng(15)
    n = codes[0].size
    monkeypatch.setattr(absorb, "DIRECT_MIN_ROWS", n // 2)
    monkeypatch.setattr(direct, "MAX_REDUCED_LEVELS", 10)
    monkeypatch.setattr(absorb, "_LAST_DESIGN", [None])
    x = np.asfortranarray(rng.normal(size=(n, 2)))
    first = Absorber(codes, rng.lognormal(size=n))
    fit = Absorber(codes, rng.lognormal(size=n))
    for ab, took_schur in ((first, False), (fit, True), (fit.with_weights(fit.weights * 1.1), True)):
        got = ab.demean(x, tol=1e-11)
        assert got.converged
        assert (ab._schur is not None) == took_schur
        np.testing.assert_allclose(got.resid, ab.demean(x, tol=1e-11, strategy="map").resid,
                                   atol=1e-8)
    # Another design (other codes): alternating projections again.
    other = Absorber([c[::-1].copy() for c in codes])
    other.demean(x, tol=1e-8)
    assert other._schur is None


def test_direct_schur_complement_product_equals_scipys() -> None:
    """The direct strategy's C A^-1 C' (its pattern and entries by the compiled passes, rows in
    blocks of about equal entries of C, one dimension with few levels holding half of them)
    equals scipy's product."""
    from migtrade.estimation.direct import DirectProjector

    rng = np.random.default_rng(21)
    codes = np.vstack([rng.integers(0, 400, 3_000), rng.integers(0, 60, 3_000),
                       rng.integers(0, 5, 3_000)]).astype(np.int32)
    proj = DirectProjector(codes, [400, 60, 5], rng.lognormal(size=3_000))
    ct = proj.ct
    scaled = sp.csr_matrix((ct.data * np.repeat(proj.inv_a, np.diff(ct.indptr)), ct.indices,
                            ct.indptr), shape=ct.shape)
    # Each entry summed in the order of C's and T's entries, as scipy's product does.
    np.testing.assert_allclose(proj._product(scaled).toarray(), (proj.c @ scaled).toarray(),
                               rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("seed", range(4))
def test_direct_plan_patterns_equal_scipys(seed: int) -> None:
    """The direct strategy's plan (compiled counting sorts, no scipy): C' and C of the design's
    entries with duplicates summed where they share a cell, ``c_t`` mapping C' onto C's data,
    and B's off-diagonal pattern U + U' with the entry of U behind each of its entries; all as
    scipy builds them from the same entries."""
    from migtrade.estimation.direct import DirectPlan

    rng = np.random.default_rng(40 + seed)
    n = 4000
    levels = [int(rng.integers(300, 900)), int(rng.integers(10, 80)), int(rng.integers(2, 9))]
    codes = np.vstack([rng.integers(0, g, n) for g in levels]).astype(np.int32)
    plan = DirectPlan._build(codes, levels)
    e, others = codes[plan.q_e].astype(np.int64), plan.o
    rows_e = np.tile(e, others.shape[0])
    ones = np.ones(rows_e.size)
    ct = sp.csr_matrix((ones, (rows_e, others.ravel())), shape=(plan.g_e, plan.m_o))
    c = ct.T.tocsr()
    for mat in (ct, c):
        mat.sum_duplicates()
        mat.sort_indices()
    np.testing.assert_array_equal(plan.c_indices, c.indices)
    np.testing.assert_array_equal(plan.c_indptr, c.indptr)
    source, t_indices, t_indptr = plan.c_t
    np.testing.assert_array_equal(t_indices, ct.indices)
    np.testing.assert_array_equal(t_indptr, ct.indptr)
    # C' entry k sits in C's data at source[k]: the same count of design entries behind both.
    np.testing.assert_array_equal(c.data[source], ct.data)
    upper = sp.csr_matrix((np.arange(1, plan.u_indices.size + 1, dtype=float), plan.u_indices,
                           plan.u_indptr), shape=(plan.m_o, plan.m_o))
    sym = (upper + upper.T).tocsr()
    sym.sort_indices()
    b_source, b_indices, b_indptr = plan.b_sym
    np.testing.assert_array_equal(b_indices, sym.indices)
    np.testing.assert_array_equal(b_indptr, sym.indptr)
    np.testing.assert_array_equal(b_source, sym.data.astype(np.int64) - 1)


@pytest.mark.parametrize("blocks", [1, 4])
def test_sparse_pattern_is_the_pattern_of_scipys_product(blocks: int) -> None:
    """The pattern the direct strategy forms C A^-1 C' on: every entry of the product of two
    positive sparse matrices (so none cancels), rows sorted, whatever the blocks."""
    from migtrade.estimation.kernels_schur import sparse_pattern

    rng = np.random.default_rng(20 + blocks)
    c = sp.random(70, 300, density=0.03, random_state=rng, format="csr")
    t = sp.random(300, 90, density=0.04, random_state=rng, format="csr")
    want = (c @ t).tocsr()
    want.sort_indices()
    indptr, indices = sparse_pattern(c, t, blocks)
    np.testing.assert_array_equal(indptr, want.indptr)
    np.testing.assert_array_equal(indices, want.indices)


def test_group_rows_is_a_stable_sort_by_group() -> None:
    """The counting sort behind schur's plan: numpy's stable argsort, the other dimensions'
    codes carried along, and group starts that leave an empty level (7) empty."""
    from migtrade.estimation.kernels_schur import group_rows

    rng = np.random.default_rng(30)
    e = rng.integers(0, 12, 5000).astype(np.int32)
    e[e == 7] = 3
    codes = np.ascontiguousarray(np.vstack([rng.integers(0, 50, 5000), e,
                                            rng.integers(0, 9, 5000)]).astype(np.int32))
    order, sorted_codes, ptr = group_rows(e, 12, codes, [0, 2])
    want = np.argsort(e, kind="stable")
    np.testing.assert_array_equal(order, want)
    np.testing.assert_array_equal(sorted_codes, codes[[0, 2]][:, want])
    np.testing.assert_array_equal(ptr, np.concatenate([[0], np.cumsum(np.bincount(e, minlength=12))]))
    assert ptr[7] == ptr[8]


def test_copies_under_other_weights_share_the_plan_and_give_a_fresh_absorbers_answer() -> None:
    """The schur plan (codes alone) is made once for an absorber and its copies under other
    weights; a copy's projection equals that of a new absorber under those weights (the same
    passes, bit for bit)."""
    codes = sorted_gravity(np.random.default_rng(8), 30, 6)
    rng = np.random.default_rng(9)
    n = codes[0].size
    x = rng.normal(size=(n, 2))
    ab = Absorber(codes, rng.uniform(0.5, 2.0, n))
    ab.demean(x, tol=1e-10, strategy="schur")
    w2 = rng.uniform(0.5, 2.0, n)
    copy = ab.with_weights(w2)
    got = copy.demean(x, tol=1e-10, strategy="schur")
    assert copy._plans["schur_plan"] is ab._plans["schur_plan"]
    fresh = Absorber(codes, w2).demean(x, tol=1e-10, strategy="schur")
    np.testing.assert_array_equal(got.resid, fresh.resid)
    assert got.sweeps == fresh.sweeps


@pytest.mark.parametrize(("rows", "cols"), [(3_000, 500), (300, 60)])
def test_entry_pattern_numbers_the_distinct_entries_row_by_row(rows: int, cols: int) -> None:
    """The compiled pattern of entries at (rows, cols): the distinct places in row-major order
    and where each entry lands, as sorting the keys gives them (rows with few places sorted by
    insertion, with many by qsort)."""
    from migtrade.estimation.kernels_schur import entry_pattern

    rng = np.random.default_rng(rows)
    r, c = rng.integers(0, rows, 20_000), rng.integers(0, cols, 20_000)
    where, indices, indptr = entry_pattern(r, c, (rows, cols))
    keys, inverse = np.unique(r * cols + c, return_inverse=True)
    np.testing.assert_array_equal(indices, keys % cols)
    np.testing.assert_array_equal(np.diff(indptr), np.bincount(keys // cols, minlength=rows))
    np.testing.assert_array_equal(where, inverse.ravel())


@pytest.mark.parametrize(("rows", "cols"), [(2_000, 300), (50, 4_000), (1, 1)])
def test_transpose_pattern_is_scipys_transpose(rows: int, cols: int) -> None:
    """The transpose of a CSR pattern (the direct strategy's C from C'): scipy's pattern of the
    transposed matrix, and each entry's place in it, read off data numbered 1, 2, ..."""
    from migtrade.estimation.kernels_schur import entry_pattern, transpose_pattern

    rng = np.random.default_rng(rows + cols)
    r, c = rng.integers(0, rows, 9_000), rng.integers(0, cols, 9_000)
    _, indices, indptr = entry_pattern(r, c, (rows, cols))
    where, t_indices, t_indptr = transpose_pattern(indices, indptr, cols)
    numbered = sp.csr_matrix((np.arange(1, indices.size + 1, dtype=float), indices, indptr),
                             shape=(rows, cols))
    t = numbered.T.tocsr()
    t.sort_indices()
    np.testing.assert_array_equal(t_indices, t.indices)
    np.testing.assert_array_equal(t_indptr, t.indptr)
    np.testing.assert_array_equal(t.data[where], np.arange(1, indices.size + 1))
