"""The null-imposed score test near the estimate from the path of restricted fits
(bootstrap.expansion) against the restricted PPML fits it stands for.

Tolerances. At Δ = 0 the expansion's pieces are the unrestricted fit's, so its replications
equal the unrestricted bootstrap's up to rounding (1e-12). Away from 0 it is exact to O(Δ³) in
the means and O(Δ²) in the demeaned regressors: its errors against the restricted fit fall by at
least a factor of three when Δ halves (measured: 7 to 30). Intervals: the search stops within 1e-3 standard errors
of an end (score.XTOL_SE), with either way of evaluating the test, so the intervals from the
expansion and from restricted fits agree to that tolerance.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd
import pytest

from migtrade.estimation.bootstrap import BootstrapOptions, engine, score
from migtrade.estimation.bootstrap.expansion import PathSums, PathTest
from migtrade.estimation.bootstrap.score import ClusterPieces, PoissonScores, joint_replications
from migtrade.estimation.bootstrap.weights import DrawPlan, WeightKind
from migtrade.estimation.fit import estimate
from migtrade.estimation.vcov import VcovSpec

# Fixed effects nested in the clusters (firm), and crossed with more clusters than the
# fixed-effect term of the draws is kept for (so that the expansion applies).
CASES = [("flow ~ x1 + x2 | firm", 3000, 30), ("flow ~ x1 + x2 | firm + year", 6000, 450)]
ONE_REGRESSOR = ("flow ~ x1 | firm", 3000, 30)


def _panel(n: int, clusters: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                          "cl": rng.integers(0, clusters, n), "year": rng.integers(0, 6, n)})
    frame["firm"] = frame["cl"] * 3 + rng.integers(0, 3, n)
    shock = rng.normal(size=clusters)[frame["cl"]]
    frame["flow"] = rng.poisson(np.exp(0.5 + 0.3 * frame["x1"] - 0.2 * frame["x2"]
                                       + 0.1 * frame["year"] + 0.5 * shock
                                       + 0.3 * (frame["firm"] % 3)))
    return frame


def _intervals(formula: str, frame: pd.DataFrame, weights: str) -> dict[str, tuple[float, ...]]:
    res = estimate(formula, frame, model="ppml", vcov=VcovSpec.parse("cluster:cl"),
                   bootstrap=BootstrapOptions(
                       method="score", reps=1999, weights=weights,  # type: ignore[arg-type]
                       hypotheses=(("x1",), ("x2",), ("x1", "x2")) if "x2" in formula
                       else None)).result
    # The combination's standard error bounded by the sum of its terms'.
    se = {t: res.std_errors[res.terms.index(t)] for t in res.terms}
    se["x1 + x2"] = se["x1"] + se.get("x2", 0.0)
    return {t: (b["ci_low"], b["ci_high"], se[t], b["p_value"], b["statistic"])
            for t, b in res.bootstrap.items()}


@pytest.mark.parametrize(("formula", "n", "clusters"), [*CASES, ONE_REGRESSOR])
@pytest.mark.parametrize("weights", ["rademacher", "webb"])
def test_intervals_from_the_path_equal_those_from_restricted_fits(
        formula: str, n: int, clusters: int, weights: str, monkeypatch: pytest.MonkeyPatch) -> None:
    frame = _panel(n, clusters)
    fits: list[float] = []
    real = score.ScoreTest.imposed

    def counted(self: score.ScoreTest, beta0: float) -> tuple[float, np.ndarray]:
        fits.append(beta0)
        return real(self, beta0)

    monkeypatch.setattr(score.ScoreTest, "imposed", counted)
    from_path = _intervals(formula, frame, weights)
    assert fits == []  # no restricted fit for the intervals (the nulls' are made before)
    monkeypatch.setattr(score, "REACH", -1.0)  # every end beyond reach: restricted fits
    from_fits = _intervals(formula, frame, weights)
    assert len(fits) >= 4 * len(from_path) and 0.0 not in fits  # at least two a side
    assert set(from_path) == ({"x1", "x2", "x1 + x2"} if "x2" in formula else {"x1"})
    for term, (lo, hi, se, p, stat) in from_path.items():
        lo2, hi2, _, p2, stat2 = from_fits[term]
        assert (p, stat) == (p2, stat2)  # the nulls' restricted fits, the same either way
        assert abs(lo - lo2) <= 1e-3 * se
        assert abs(hi - hi2) <= 1e-3 * se


def _fit_pieces() -> tuple[engine.RestrictedFits, dict[str, np.ndarray]]:
    """The restricted fits of the second case and the arrays of its score bootstrap."""
    captured: dict[str, object] = {}
    formula, n, clusters = CASES[1]

    class Kept(engine.RestrictedFits):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            captured["fits"] = self

    real = engine.bootstrap_poisson

    def kept(names: object, **kwargs: object) -> object:
        captured.update(kwargs)
        return real(names, **kwargs)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(engine, "RestrictedFits", Kept)
        mp.setattr(engine, "bootstrap_poisson", kept)
        estimate(formula, _panel(n, clusters), model="ppml", vcov=VcovSpec.parse("cluster:cl"),
                 bootstrap=BootstrapOptions(method="score", reps=99))  # type: ignore[arg-type]
    return captured["fits"], captured  # type: ignore[return-value]


def test_the_path_test_converges_to_the_restricted_fits_test() -> None:
    fits, arrays = _fit_pieces()
    y, w, cluster = arrays["y"], arrays["weights"], arrays["cluster"]
    unrestricted: PoissonScores = arrays["unrestricted"]  # type: ignore[assignment]
    g = int(cluster.max()) + 1
    plan = DrawPlan(WeightKind.rademacher, 499, 7, g)
    for j in range(2):
        r = np.eye(2)[j]
        [terms] = fits.path_terms([r])
        path = PathTest.on(PathSums.from_terms(r, terms, unrestricted.x_tilde, unrestricted.mu,
                                               y, w, cluster, g), plan)
        # At the estimate: the unrestricted fit's own test.
        t0, tstar0 = path.statistics(0.0)
        [tstar_hat] = joint_replications([ClusterPieces.of(unrestricted, r, y, w, cluster, g)],
                                         plan)
        assert abs(t0) < 1e-9
        np.testing.assert_allclose(tstar0, tstar_hat, rtol=0, atol=1e-12)
        # Away from it: errors against the restricted fit fall faster than Δ.
        se = float(np.sqrt(unrestricted.bread[j, j]))
        errors = []
        for steps in (8.0, 4.0, 2.0):  # model standard errors (near the cluster-robust ones here)
            delta = steps * se
            exact = fits.unrestricted.beta[j] + delta
            fit = fits(r, exact)
            pieces = ClusterPieces.of(PoissonScores(mu=fit.mu, x_tilde=fit.point.x_tilde,
                                                    bread=fit.point.bread), r, y, w, cluster, g)
            [tstar] = joint_replications([pieces], plan)
            t, ts = path.statistics(delta)
            errors.append((abs(t - pieces.statistic()), float(np.abs(ts - tstar).max())))
        for (far_t, far_ts), (near_t, near_ts) in pairwise(errors):
            assert near_t < far_t / 3 and near_ts < far_ts / 3
        # Two standard errors out, about an end of the interval (measured: t within 7e-7 and
        # 1.5e-4, t* within 1.3e-4 and 1.2e-4, moving an end by about as many standard errors).
        assert errors[-1][0] < 5e-4 and errors[-1][1] < 5e-4


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("from_basis", [False, True])
def test_path_sums_are_the_polynomials_of_the_cluster_sums(k: int, from_basis: bool) -> None:
    """The kernel's coefficients of Δ⁰..Δ² against the cluster sums of the polynomials written
    out with NumPy (1e-12 relative: the same products summed in another order), whatever the
    number of runs of rows it splits the pass into, with the residuals given or made row by row
    from a basis (as from the demeaned products x̃_i x̃_j shared by the tested combinations)."""
    from migtrade.estimation.bootstrap import kernels_rows

    rng = np.random.default_rng(k)
    n, g = 2000, 37
    xt, resid = rng.normal(size=(n, k)), rng.normal(size=(n, 1 + k))
    basis, of_basis = resid, None
    if from_basis:
        basis, of_basis = np.asfortranarray(rng.normal(size=(n, 4))), rng.normal(size=(4, 1 + k))
        resid = basis @ of_basis
    e_of_x, p_of_x = rng.normal(size=k), rng.normal(size=k)
    y, w, mu = rng.poisson(2.0, n).astype(float), rng.uniform(0.5, 2, n), rng.uniform(0.5, 3, n)
    codes = rng.integers(0, g, n)
    e = xt @ e_of_x
    p = resid[:, 0] - e * e - xt @ p_of_x
    dxt = resid[:, 1:] - e[:, None] * xt
    h0 = w * mu
    u = [w * y - h0, -h0 * e, -0.5 * h0 * (e * e + p)]  # scores' coefficients of Δ⁰..Δ²
    hw = [h0, h0 * e, 0.5 * h0 * (e * e + p)]
    s_rows = [xt * u[0][:, None], dxt * u[0][:, None] + xt * u[1][:, None],
              xt * u[2][:, None] + dxt * u[1][:, None]]
    outer = np.einsum("ij,il->ijl", xt, xt)
    cross = np.einsum("ij,il->ijl", xt, dxt) + np.einsum("ij,il->ijl", dxt, xt)
    h_rows = [outer * hw[0][:, None, None], outer * hw[1][:, None, None] + cross * h0[:, None, None],
              outer * hw[2][:, None, None] + cross * hw[1][:, None, None]
              + np.einsum("ij,il->ijl", dxt, dxt) * h0[:, None, None]]
    want_s = np.stack([np.stack([np.bincount(codes, rows[:, j], g) for j in range(k)], axis=1)
                       for rows in s_rows], axis=1)
    want_h = np.stack([np.stack([np.stack([np.bincount(codes, rows[:, j, m], g)
                                           for m in range(k)], axis=1) for j in range(k)], axis=1)
                       for rows in h_rows], axis=1)
    for runs in (1, 3, 8):
        kernels_rows.RUNS, old = runs, kernels_rows.RUNS
        try:
            s, h = kernels_rows.path_sums(xt, basis, of_basis, e_of_x, p_of_x, y, w, mu, codes, g)
        finally:
            kernels_rows.RUNS = old
        np.testing.assert_allclose(s, want_s, rtol=1e-12, atol=1e-12 * np.abs(want_s).max())
        np.testing.assert_allclose(h, want_h, rtol=1e-12, atol=1e-12 * np.abs(want_h).max())
