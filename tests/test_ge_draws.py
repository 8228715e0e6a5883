"""Monte Carlo intervals: seeded, reproducible however the draws are shared out, containing the
point estimate, and every failed draw reported with its reason."""

from __future__ import annotations

import numpy as np
import pytest
from ge_panels import YEAR, small_panel

from migtrade.ge import GEOptions
from migtrade.ge import run as run_module
from migtrade.ge.draws import DrawContext, draw_coefficients, run_draws
from migtrade.ge.outputs import COUNTRY_MEASURES
from migtrade.ge.run import run_counterfactual

SCENARIO = dict(year=YEAR, sigma=5.0, estimate="trade ~ rta | exporter^year + importer^year + pair_id",
                change="rta = 0")


def _context(maxiter: int = 10_000) -> tuple[DrawContext, np.ndarray, np.ndarray]:
    """A draw context for the small panel, with the estimate and its covariance."""
    from migtrade.ge.baseline import prepare_baseline, resolve_columns
    from migtrade.ge.costs import build_cost_model

    frame = small_panel()
    options = GEOptions(**SCENARIO)  # type: ignore[arg-type]
    columns = resolve_columns(frame, options)
    baseline = prepare_baseline(frame, options, columns)
    costs = build_cost_model(frame, options, columns, baseline)
    context = DrawContext(pair_cost=costs.pair_cost, x_base=costs.x_base, x_new=costs.x_new,
                          output=baseline.flows.sum(axis=1), expenditure=baseline.flows.sum(axis=0),
                          theta=4.0, imbalances="additive", reference=None, method="fixed-point",
                          tol=1e-10, maxiter=maxiter)
    return context, costs.params, costs.cov


def test_coefficient_draws_are_seeded() -> None:
    a, seed_a = draw_coefficients(np.array([0.5, -1.0]), np.diag([0.01, 0.04]), 2000, 42)
    b, _ = draw_coefficients(np.array([0.5, -1.0]), np.diag([0.01, 0.04]), 2000, 42)
    assert seed_a == 42 and np.array_equal(a, b)
    # Moments of N(b, V) within five Monte Carlo standard errors.
    assert np.allclose(a.mean(axis=0), [0.5, -1.0], atol=5 * np.sqrt(np.array([0.01, 0.04]) / 2000))
    assert np.allclose(a.std(axis=0), [0.1, 0.2], rtol=5 / np.sqrt(2 * 2000))
    _, drawn_seed = draw_coefficients(np.zeros(1), np.eye(1), 1, None)
    assert isinstance(drawn_seed, int)


def test_parallel_draws_equal_serial_ones() -> None:
    context, params, cov = _context()
    coefficients, seed = draw_coefficients(params, cov, 12, 3)
    serial = run_draws(context, coefficients, seed, workers=1)
    parallel = run_draws(context, coefficients, seed, workers=2)
    assert serial.succeeded == parallel.succeeded == 12
    for a, b in zip(serial.values, parallel.values, strict=True):
        assert a is not None and b is not None and np.array_equal(a, b)


def test_failed_draws_are_listed_with_their_reason() -> None:
    context, params, _ = _context()
    # The second draw's coefficient overflows the costs; the first and third are fine.
    coefficients = np.array([params, params * 2000.0, params * 0.9])
    outcome = run_draws(context, coefficients, 0, workers=1)
    assert outcome.succeeded == 2
    failed = outcome.failed()
    assert [f["draw"] for f in failed] == [2]
    assert failed[0]["reason"]
    tight = _context(maxiter=2)[0]
    none = run_draws(tight, coefficients[:1], 0, workers=1)
    assert none.succeeded == 0 and "did not converge in 2 iterations" in none.failed()[0]["reason"]
    assert none.intervals(("A",), 0.95) == {}


@pytest.fixture(scope="module")
def with_draws():
    frame = small_panel()
    return run_counterfactual(frame, GEOptions(**SCENARIO, draws=40, seed=11))  # type: ignore[arg-type]


def test_document_draws_and_intervals(with_draws) -> None:
    draws = with_draws.draws
    assert draws == {"requested": 40, "succeeded": 40, "failed": [], "seed": 11, "conf_level": 0.95}
    for iso, row in with_draws.countries.items():
        intervals = row["intervals"]
        assert set(intervals) == set(COUNTRY_MEASURES)
        for field in ("real_gdp_pct", "exports_full_pct", "welfare_ratio", "factory_gate_price_pct"):
            low, high = intervals[field]
            # The point estimate lies inside its 95% interval (small changes are nearly linear
            # in the coefficient, so the percentile interval is centred on it).
            assert low <= row[field] <= high, (iso, field, low, row[field], high)
    assert any("Monte Carlo draws" in n and "seed 11" in n for n in with_draws.notes)


def test_same_seed_same_intervals(with_draws) -> None:
    again = run_counterfactual(small_panel(), GEOptions(**SCENARIO, draws=40, seed=11))  # type: ignore[arg-type]
    for iso, row in with_draws.countries.items():
        assert again.countries[iso]["intervals"] == row["intervals"]


def test_document_lists_failed_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    real = run_module.draw_coefficients

    def with_a_bad_draw(params, cov, draws, seed):
        coefficients, used = real(params, cov, draws, seed)
        coefficients[1] = params * 2000.0
        return coefficients, used

    monkeypatch.setattr(run_module, "draw_coefficients", with_a_bad_draw)
    result = run_counterfactual(small_panel(), GEOptions(**SCENARIO, draws=3, seed=1))  # type: ignore[arg-type]
    assert result.draws is not None
    assert result.draws["succeeded"] == 2
    assert [f["draw"] for f in result.draws["failed"]] == [2]
    assert any("1 draws failed and are listed under draws.failed" in n for n in result.notes)
