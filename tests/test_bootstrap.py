"""The wild cluster bootstrap and the score bootstrap: against wildboottest and against the same
models with the fixed effects as dummies.

Tolerances. Under full enumeration (Rademacher weights, 2^G <= B) a bootstrap p-value is a
count over the same 2^G sign vectors in both programs, so it must agree exactly; the only
freedom is how a replication that ties the sample's |t| is counted. With the null imposed the
vectors v = 1 and v = -1 reproduce the sample's |t| exactly, and whether wildboottest (which
counts strictly larger |t*|) sees them depends on rounding in its last digit; we count ties as
at least as extreme (as boottest does). The comparison therefore recomputes wildboottest's
p-value from its own replications with our tie rule, and requires its raw p-value to be within
those two ties (2 / 2^G). Absorbed versus dummy fixed effects: the same draws (same seed) give
the same replications up to rounding, so p-values agree exactly; intervals come from a root
search to 1e-6 standard errors (wild) or 1e-3 (score), the tolerance used for them.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import cli
from typer.testing import CliRunner

from migtrade.cli.app import app
from migtrade.errors import UsageError
from migtrade.estimation.bootstrap import BootstrapOptions, WeightKind
from migtrade.estimation.bootstrap.invert import TIE_RTOL
from migtrade.estimation.bootstrap.weights import WEIGHTS, DrawPlan
from migtrade.estimation.fit import estimate
from migtrade.estimation.vcov import VcovSpec
from migtrade.results.result import EstimationResult

G = 8
B = 999  # 2^8 = 256 < 999: both programs enumerate every sign vector


def _panel(seed: int = 3, n: int = 400, clusters: int = G) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "x1": rng.normal(size=n), "x2": rng.normal(size=n),
        "cl": rng.integers(0, clusters, n), "year": rng.integers(0, 5, n),
    })
    # A firm effect nested in the clusters: firm = cluster * 3 + (0..2).
    frame["firm"] = frame["cl"] * 3 + rng.integers(0, 3, n)
    shock = rng.normal(size=clusters)[frame["cl"]]
    frame["y"] = 0.3 * frame["x1"] + 0.2 * frame["year"] + 0.1 * frame["firm"] % 1.3 + shock \
        + rng.normal(size=n)
    frame["flow"] = rng.poisson(np.exp(0.5 + 0.3 * frame["x1"] + 0.1 * frame["year"] + 0.5 * shock))
    return frame


def _dummies(frame: pd.DataFrame, column: str) -> tuple[pd.DataFrame, list[str]]:
    d = pd.get_dummies(frame[column], prefix=column, drop_first=True).astype(float)
    return pd.concat([frame, d], axis=1), list(d.columns)


def _wildboottest_p(X: pd.DataFrame, y: pd.Series, cluster: np.ndarray, param: str,
                    impose_null: bool) -> tuple[float, float]:
    """wildboottest's raw p-value, and the p-value from its replications with our tie rule."""
    wbt = pytest.importorskip("wildboottest.wildboottest")  # test extra; only these tests need it
    R = np.zeros(X.shape[1])
    R[list(X.columns).index(param)] = 1.0
    boot = wbt.WildboottestCL(X=X.to_numpy(), Y=y.to_numpy(), cluster=cluster, R=R, B=B, seed=1,
                              parallel=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        boot.get_scores(bootstrap_type="11", impose_null=impose_null)
        boot.get_weights(weights_type="rademacher")
    assert boot.full_enumeration and boot.B == 2 ** G
    boot.get_numer()
    boot.get_denom()
    boot.get_tboot()
    boot.get_vcov()
    boot.get_tstat()
    boot.get_pvalue()
    t = float(np.ravel(boot.t_stat)[0])
    ours = float(np.mean(np.abs(boot.t_boot) >= abs(t) * (1 - TIE_RTOL)))
    return float(boot.pvalue), ours


def _boot(formula: str, frame: pd.DataFrame, model: str = "ols", **kw: object) -> EstimationResult:
    method = "wild" if model == "ols" else "score"
    opts = BootstrapOptions(method=method, reps=kw.pop("reps", B), **kw)  # type: ignore[arg-type]
    return estimate(formula, frame, model=model, vcov=VcovSpec.parse("cluster:cl"),
                    bootstrap=opts).result


@pytest.mark.parametrize("impose_null", [True, False])
def test_wild_matches_wildboottest_without_fixed_effects(impose_null: bool) -> None:
    frame = _panel()
    res = _boot("y ~ x1 + x2", frame, impose_null=impose_null)
    X = pd.DataFrame({"(Intercept)": 1.0, "x1": frame["x1"], "x2": frame["x2"]})
    for term in ("x1", "x2"):
        raw, tie_rule = _wildboottest_p(X, frame["y"], frame["cl"].to_numpy(), term, impose_null)
        boot = res.bootstrap[term]
        assert boot["full_enumeration"] and boot["reps"] == 2 ** G
        assert boot["p_value"] == pytest.approx(tie_rule, abs=1e-12)
        assert abs(boot["p_value"] - raw) <= 2 / 2 ** G + 1e-12


@pytest.mark.parametrize("fe", ["firm", "year"])  # nested in the clusters, and not nested
def test_wild_with_absorbed_fixed_effects_equals_dummies_in_wildboottest(fe: str) -> None:
    frame, dummies = _dummies(_panel(), fe)
    res = _boot(f"y ~ x1 + x2 | {fe}", frame)
    X = pd.concat([pd.DataFrame({"(Intercept)": 1.0, "x1": frame["x1"], "x2": frame["x2"]}),
                   frame[dummies]], axis=1)
    for term in ("x1", "x2"):
        _, tie_rule = _wildboottest_p(X, frame["y"], frame["cl"].to_numpy(), term, True)
        assert res.bootstrap[term]["p_value"] == pytest.approx(tie_rule, abs=1e-12)


@pytest.mark.parametrize("weights", ["webb", "mammen", "rademacher"])
def test_wild_absorbed_equals_dummies_with_random_draws(weights: str) -> None:
    # 12 clusters and 999 draws: no enumeration, the same seeded draws on both sides.
    frame, dummies = _dummies(_panel(seed=7, clusters=12), "year")
    absorbed = _boot("y ~ x1 + x2 | year", frame, weights=weights)
    explicit = _boot(f"y ~ x1 + x2 + {' + '.join(dummies)}", frame, weights=weights)
    for term in ("x1", "x2"):
        a, e = absorbed.bootstrap[term], explicit.bootstrap[term]
        assert not a["full_enumeration"] and a["reps"] == B
        assert a["p_value"] == e["p_value"]
        se = absorbed.std_errors[absorbed.terms.index(term)]
        assert a["ci_low"] == pytest.approx(e["ci_low"], abs=1e-5 * se)
        assert a["ci_high"] == pytest.approx(e["ci_high"], abs=1e-5 * se)


def test_wild_interval_is_the_inverted_test() -> None:
    """Just inside the interval the test does not reject at 5%, just outside it does."""
    frame = _panel(seed=11, clusters=12)
    res = _boot("y ~ x1 + x2 | year", frame, reps=1999)
    for term in ("x1", "x2"):
        b = res.bootstrap[term]
        se = res.std_errors[res.terms.index(term)]
        for end, inward in ((b["ci_low"], 1.0), (b["ci_high"], -1.0)):
            # y - beta0 * x has coefficient 0 where the original has beta0: test beta0 = end ± 1e-3 se.
            def at(beta0: float, x: str = term) -> EstimationResult:
                return _boot("y ~ x1 + x2 | year", frame.assign(y=frame["y"] - beta0 * frame[x]),
                             reps=1999)

            inside, outside = at(end + inward * 1e-3 * se), at(end - inward * 1e-3 * se)
            assert inside.bootstrap[term]["p_value"] > 0.05 >= outside.bootstrap[term]["p_value"]


def test_score_bootstrap_absorbed_equals_dummies() -> None:
    frame, dummies = _dummies(_panel(seed=5, clusters=10), "year")
    tested = (("x1",), ("x2",), ("x1", "x2"))  # the dummies' coefficients are not bootstrapped
    for impose in (True, False):
        absorbed = _boot("flow ~ x1 + x2 | year", frame, model="ppml", impose_null=impose,
                         hypotheses=tested)
        explicit = _boot(f"flow ~ x1 + x2 + {' + '.join(dummies)}", frame, model="ppml",
                         impose_null=impose, hypotheses=tested)
        assert set(absorbed.bootstrap) == set(explicit.bootstrap) == {"x1", "x2", "x1 + x2"}
        for term in ("x1", "x2", "x1 + x2"):
            a, e = absorbed.bootstrap[term], explicit.bootstrap[term]
            se = absorbed.std_errors[0]
            assert a["p_value"] == e["p_value"]
            assert a["statistic"] == pytest.approx(e["statistic"], rel=1e-6)
            assert a["ci_low"] == pytest.approx(e["ci_low"], abs=2e-3 * se)
            assert a["ci_high"] == pytest.approx(e["ci_high"], abs=2e-3 * se)
            assert a["interval"] == ("test inversion" if impose else "bootstrap-t (unrestricted)")


def test_unrestricted_score_statistic_is_the_cluster_robust_t() -> None:
    """Without the null imposed the sample's statistic is b / se with the CR0 sandwich: the
    engine's clustered t (normal, G/(G-1) for PPML under the Stata convention) times
    sqrt(G/(G-1))."""
    frame = _panel(seed=5, clusters=10)
    res = _boot("flow ~ x1 + x2 | year", frame, model="ppml", impose_null=False)
    for term in ("x1", "x2"):
        t = res.tstats[res.terms.index(term)]
        assert res.bootstrap[term]["statistic"] == pytest.approx(t * np.sqrt(10 / 9), rel=1e-8)


def test_weights_have_mean_zero_and_variance_one() -> None:
    for table in WEIGHTS.values():
        assert table.probs.sum() == pytest.approx(1.0)
        assert table.probs @ table.values == pytest.approx(0.0, abs=1e-15)
        assert table.probs @ table.values**2 == pytest.approx(1.0)


def test_full_enumeration_uses_every_sign_vector_once() -> None:
    plan = DrawPlan(WeightKind.rademacher, 100, 1, 6)
    assert plan.full_enumeration and plan.draws == 64
    table = WEIGHTS[WeightKind.rademacher]
    rows = np.vstack([c.matrix(6, table) for c in plan.chunks()])
    assert len({tuple(r) for r in rows}) == 64
    webb = WEIGHTS[WeightKind.webb]
    first, again = (np.vstack([c.matrix(6, webb) for c in DrawPlan(WeightKind.webb, 50, 9, 6).chunks()])
                    for _ in range(2))
    assert first.shape == (50, 6) and np.array_equal(first, again)  # same seed, same draws


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"vcov": "robust"}, "needs clusters"),
    ({"vcov": "cluster:cl,year"}, "one cluster variable"),
    ({"model": "ppml"}, "applies to OLS"),
    ({"reps": 10, "clusters": 12}, "too small"),
    ({"clusters": 4}, "too few"),
])
def test_bad_bootstrap_requests_are_usage_errors(kwargs: dict, message: str) -> None:
    frame = _panel(clusters=kwargs.pop("clusters", G))
    formula = kwargs.pop("formula", "y ~ x1 + x2 | year")
    model = kwargs.pop("model", "ols")
    opts = BootstrapOptions(method="wild", reps=kwargs.pop("reps", B))  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=message):
        estimate(formula.replace("y ~", "flow ~") if model == "ppml" else formula, frame,
                 model=model, vcov=VcovSpec.parse(kwargs.pop("vcov", "cluster:cl")), bootstrap=opts)


def test_cli_json_round_trip_and_table(tmp_path) -> None:
    path = tmp_path / "panel.csv"
    _panel().to_csv(path, index=False)
    runner = CliRunner()
    out = tmp_path / "r.json"
    res = runner.invoke(app, ["estimate", "y ~ x1 + x2 | year", "--data", str(path), "--model", "ols",
                              "--vcov", "cluster:cl", "--bootstrap", "wild", "--reps", "999",
                              "--format", "json", "--save", str(out)])
    assert res.exit_code == 0, res.output
    boot = json.loads(res.stdout)["coefficients"]["x1"]["bootstrap"]
    assert {"method", "p_value", "ci_low", "ci_high", "reps", "weights", "full_enumeration"} <= set(boot)
    assert boot["method"] == "wild" and boot["full_enumeration"] is True and boot["reps"] == 256
    again = EstimationResult.load(out)
    assert again.bootstrap["x1"] == boot
    assert again.to_dict()["coefficients"]["x1"]["bootstrap"] == boot
    table = runner.invoke(app, ["table", str(out), "--bootstrap-p", "--format", "text"])
    assert table.exit_code == 0, table.output
    assert f"{{{boot['p_value']:.3f}}}" in table.stdout
    assert "full enumeration" in table.stdout and "Bootstrap p-values in braces" in table.stdout


def test_cli_one_cluster_and_no_cluster_exit_2(tmp_path) -> None:
    """The command: one line on stderr and exit code 2."""
    path = tmp_path / "panel.csv"
    _panel().to_csv(path, index=False)
    base = ["estimate", "y ~ x1 + x2", "--data", str(path), "--model", "ols", "--bootstrap", "wild"]
    for extra, message in ((["--vcov", "cluster:cl", "--where", "cl == 1"], "only 1 cluster"),
                           ([], "needs clusters")):
        code, _, err = cli(*base, *extra)
        assert code == 2
        assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("fe_term", [False, True])
@pytest.mark.parametrize("kind", list(WeightKind))
def test_score_replications_equal_the_explicit_formula(kind: WeightKind, fe_term: bool,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The compiled forms (packed bits read four at a time, or value codes; without the
    fixed-effect term) and the dense blocks (with it), over several chunks of draws, against
    t*(v) = sum_g v_g c_g / sqrt(sum_g (v_g c_g - q_g' sum_h v_h s_h - sum_h F_gh v_h)^2)
    computed from the weights."""
    from migtrade.estimation.bootstrap import weights
    from migtrade.estimation.bootstrap.score import ClusterPieces

    g = 5003 if not fe_term else 203  # not a multiple of 8 or 4
    monkeypatch.setattr(weights, "CHUNK_CELLS", 50_000 if not fe_term else 20_000)  # several chunks
    rng = np.random.default_rng(4)
    s, q, a = rng.normal(size=(g, 3)), rng.normal(size=(g, 3)) / g, rng.normal(size=3)
    f = rng.normal(size=(g, g)) / g if fe_term else None
    pieces = ClusterPieces(a=a, s=s, c=s @ a, q=q, f=f)
    plan = DrawPlan(kind, 1200, 7, g)
    assert len(list(plan.chunks())) >= 2
    V = np.vstack([ch.matrix(g, WEIGHTS[kind]) for ch in plan.chunks()])
    resid = V * pieces.c - (V @ s) @ q.T - (V @ f.T if f is not None else 0.0)
    expected = (V @ pieces.c) / np.sqrt(np.einsum("bg,bg->b", resid, resid))
    np.testing.assert_allclose(pieces.replications(plan), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("byte_table", [False, True])
@pytest.mark.parametrize("kind", list(WeightKind))
def test_joint_score_replications_equal_the_explicit_formula(kind: WeightKind, byte_table: bool,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Three tested combinations of one fit (shared s_g) and two of another (its own s_g, as the
    restricted fits' beside the unrestricted one) in one pass over the draws, through the
    table of byte or of half-byte sums, several row blocks and bands of byte positions, against
    t*(v) computed from the weights for each combination alone."""
    from migtrade.estimation.bootstrap import kernels, weights
    from migtrade.estimation.bootstrap.score import ClusterPieces, joint_replications

    g = 1001  # not a multiple of 8 or 4
    monkeypatch.setattr(weights, "CHUNK_CELLS", 50_000)  # chunks of 399 packed rows: two blocks
    monkeypatch.setattr(kernels, "BYTE_TABLE_BYTES", 1 << 30 if byte_table else 0)
    rng = np.random.default_rng(8)
    s, s_other = rng.normal(size=(g, 3)), rng.normal(size=(g, 3))
    pieces = []
    for fit_s in (s, s, s_other, s, s_other):  # the fits' pieces interleaved
        a, q = rng.normal(size=3), rng.normal(size=(g, 3)) / g
        pieces.append(ClusterPieces(a=a, s=fit_s, c=fit_s @ a, q=q, f=None))
    plan = DrawPlan(kind, 1200, 3, g)
    V = np.vstack([ch.matrix(g, WEIGHTS[kind]) for ch in plan.chunks()])
    for piece, got in zip(pieces, joint_replications(pieces, plan), strict=True):
        resid = V * piece.c - (V @ piece.s) @ piece.q.T
        expected = (V @ piece.c) / np.sqrt(np.einsum("bg,bg->b", resid, resid))
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def _poisson_irls(y: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """Fitted means of a Poisson regression of y on the columns of Z, by plain Newton steps."""
    beta = np.zeros(Z.shape[1])
    beta[0] = np.log(y.mean())
    for _ in range(100):
        mu = np.exp(Z @ beta)
        step = np.linalg.solve(Z.T @ (mu[:, None] * Z), Z.T @ (y - mu))
        beta += step
        if np.max(np.abs(step)) < 1e-13:
            break
    return np.exp(Z @ beta)


def test_score_bootstrap_is_one_newton_step_with_dummies() -> None:
    """The restricted score bootstrap from scratch, with the fixed effects as dummies and every
    cluster's share of the Newton step computed from its own scores and Hessian: under full
    enumeration the p-value and the statistic are migtrade's with the (crossed) year effects
    absorbed, to 1e-12 and 1e-8."""
    import itertools

    frame = _panel(seed=5, clusters=10)
    y, cl = frame["flow"].to_numpy(float), frame["cl"].to_numpy()
    years = pd.get_dummies(frame["year"]).to_numpy(float)
    Z = np.column_stack([frame["x1"], frame["x2"], years])  # x1 is tested
    mu = _poisson_irls(y, Z[:, 1:])
    hess_inv = np.linalg.inv(Z.T @ (mu[:, None] * Z))
    a = hess_inv[:, 0]
    s = np.array([Z[cl == g].T @ (y - mu)[cl == g] for g in range(10)])
    d = np.array([Z[cl == g].T @ (mu[cl == g] * (Z[cl == g] @ a)) for g in range(10)])
    c, m = s @ a, s @ hess_inv  # m_g = H^{-1} s_g; the step of draw v is sum_g v_g m_g

    def t_stat(v: np.ndarray) -> np.ndarray:
        resid = v * c - (v @ m) @ d.T
        return (v @ c) / np.sqrt(np.einsum("bg,bg->b", resid, resid))

    V = np.array(list(itertools.product([-1.0, 1.0], repeat=10)))
    t0 = float(t_stat(np.ones((1, 10)))[0])
    expected = float(np.mean(np.abs(t_stat(V)) >= abs(t0) * (1 - TIE_RTOL)))
    res = _boot("flow ~ x1 + x2 | year", frame, model="ppml", reps=9999, hypotheses=(("x1",),),
                invert_intervals=False)
    boot = res.bootstrap["x1"]
    assert boot["full_enumeration"] and boot["reps"] == 1024
    assert boot["statistic"] == pytest.approx(t0, rel=1e-8)
    assert boot["p_value"] == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("model", ["ols", "ppml"])
def test_sum_of_coefficients_equals_the_reparametrised_coefficient(model: str) -> None:
    """b1 x1 + b2 x2 = (b1 + b2) x1 + b2 (x2 - x1): the bootstrap test of b1 + b2 = 0 is the test
    of the first coefficient after reparametrisation (same restricted model, same statistic,
    same draws), for the wild and the score bootstrap."""
    frame = _panel(seed=9, clusters=12)
    frame["d21"] = frame["x2"] - frame["x1"]
    outcome = "y" if model == "ols" else "flow"
    summed = _boot(f"{outcome} ~ x1 + x2 | year", frame, model=model, hypotheses=(("x1", "x2"),),
                   weights="webb")
    direct = _boot(f"{outcome} ~ x1 + d21 | year", frame, model=model, hypotheses=(("x1",),),
                   weights="webb")
    a, b = summed.bootstrap["x1 + x2"], direct.bootstrap["x1"]
    assert a["p_value"] == b["p_value"]
    assert a["statistic"] == pytest.approx(b["statistic"], rel=1e-6)
    se = direct.std_errors[0]
    tol = (1e-5 if model == "ols" else 2e-3) * se
    assert a["ci_low"] == pytest.approx(b["ci_low"], abs=tol)
    assert a["ci_high"] == pytest.approx(b["ci_high"], abs=tol)


def test_bootstrap_cells_in_every_format() -> None:
    """p-values in braces (escaped in LaTeX), intervals in brackets, stars from the bootstrap."""
    from migtrade.report.render import render_table
    from migtrade.report.table import TableOptions, build_table

    res = _boot("y ~ x1 + x2 | year", _panel())
    p = res.bootstrap["x2"]["p_value"]
    table = build_table([res], TableOptions(statistic="boot_p"))
    cell = table.cells[table.terms.index("x2")][0]
    assert cell is not None and cell.below == f"{{{p:.3f}}}"
    assert cell.stars == "*" * sum(p < lvl for lvl in (0.1, 0.05, 0.01))
    assert cell.value is not None and cell.value.p_value == res.pvalues[res.terms.index("x2")]
    assert rf"\{{{p:.3f}\}}" in render_table([res], "latex", TableOptions(statistic="boot_p"))
    ci = build_table([res], TableOptions(statistic="boot_ci"))
    b = res.bootstrap["x1"]
    ci_cell = ci.cells[ci.terms.index("x1")][0]
    assert ci_cell is not None and ci_cell.below == f"[{b['ci_low']:.3f}, {b['ci_high']:.3f}]"
    assert "bootstrap confidence intervals (test inversion)" in ci.legend


def test_bootstrap_terms_limit_the_work_to_the_terms_asked(tmp_path) -> None:
    """--bootstrap-terms: only those terms (a sum as a sum); nonsense is one line, exit 2."""
    path = tmp_path / "panel.csv"
    _panel().to_csv(path, index=False)
    base = ["estimate", "flow ~ x1 + x2 | year", "--data", str(path), "--vcov", "cluster:cl",
            "--reps", "999", "--format", "json"]
    code, out, err = cli(*base, "--bootstrap", "score", "--bootstrap-terms", "x2, x1+x2")
    assert code == 0, err
    coefficients = json.loads(out)["coefficients"]
    assert "bootstrap" not in coefficients["x1"] and coefficients["x2"]["bootstrap"]["reps"] == 256
    everything = _boot("flow ~ x1 + x2 | year", _panel(), model="ppml", reps=999)
    assert coefficients["x2"]["bootstrap"]["p_value"] == everything.bootstrap["x2"]["p_value"]
    for extra, message in ((["--bootstrap", "score", "--bootstrap-terms", "x1+"], "empty one"),
                           (["--bootstrap-terms", "x1"], "without a bootstrap")):
        code, _, err = cli(*base, *extra)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("formula", ["flow ~ x1 + x2 | firm", "flow ~ x1 + x2"])
def test_score_p_values_alone_equal_those_with_intervals(formula: str) -> None:
    """With the null imposed and p-values alone, the restricted fits come first and their draws
    share one pass with the unrestricted ones; with intervals each test runs on its own. Fixed
    effects nested in the clusters (or none) keep the fixed-effect term out, so both take the
    joint pass: same draws, same restricted fit at 0, hence the same statistics (to the
    rounding of the sums) and the same p-values."""
    frame = _panel(seed=5, clusters=30)
    alone = _boot(formula, frame, model="ppml", reps=999, invert_intervals=False)
    searched = _boot(formula, frame, model="ppml", reps=999)
    for term in ("x1", "x2"):
        a, b = alone.bootstrap[term], searched.bootstrap[term]
        assert a["statistic"] == pytest.approx(b["statistic"], rel=1e-10)
        assert a["p_value"] == b["p_value"]
        assert a["interval"] == "bootstrap-t (unrestricted)"
        assert b["interval"] == "test inversion"


@pytest.mark.parametrize("order", ["F", "C"])
@pytest.mark.parametrize("runs", [1, 3, 8])
def test_score_sums_equal_the_sums_by_cluster(order: str, runs: int,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The compiled per-cluster sums of the scores x̃_ij w_i (y_i - mu_i) and of the Hessian's
    rows times a_t, x̃_ij (x̃_i'a_t) w_i mu_i, against numpy's unbuffered add (the same products
    added in another grouping: 1e-12 relative), whatever the runs of rows the pass is split into."""
    from migtrade.estimation.bootstrap import kernels_rows

    rng = np.random.default_rng(3)
    n, g = 5_000, 37
    x = np.asarray(rng.normal(size=(n, 3)), order=order)
    y, w, mu = rng.poisson(2.0, n).astype(float), rng.uniform(0.5, 2, n), rng.uniform(0.5, 3, n)
    a = rng.normal(size=(2, 3))
    codes = rng.integers(0, g, n)
    codes[:g] = np.arange(g)
    rows = np.column_stack([w * (y - mu), *[(x @ at) * w * mu for at in a]])
    expected = np.zeros((g, 3, 3))
    np.add.at(expected, codes, x[:, :, None] * rows[:, None, :])
    monkeypatch.setattr(kernels_rows, "RUNS", runs)
    got = kernels_rows.score_sums(x, y, w, mu, a, codes, g)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())
    one = kernels_rows.score_sums(x, y, w, mu, a[1], codes.astype(np.int32), g)
    np.testing.assert_allclose(one, expected[:, :, [0, 2]], rtol=1e-12,
                               atol=1e-12 * np.abs(expected).max())
