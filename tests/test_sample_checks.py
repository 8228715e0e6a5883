"""The sample's checks alternate until neither drops a row, each run again only when the other
changed the sample: the same statuses as running both until nothing changes, with no check
repeated on an unchanged sample."""

from __future__ import annotations

import numpy as np
import pytest

import migtrade.estimation.sample as sample_module
from migtrade.estimation.fixed_effects import singleton_mask
from migtrade.estimation.sample import build_sample
from migtrade.estimation.separation import detect_separation


def _reference(codes: list[np.ndarray], y: np.ndarray, X: np.ndarray, poisson: bool) -> np.ndarray:
    """Statuses by the plain rule: singletons, then separation, again until nothing changes."""
    status = np.zeros(y.size, dtype=np.int8)
    alive = np.ones(y.size, dtype=bool)
    while True:
        single = singleton_mask(codes, alive)
        status[single] = 3
        alive &= ~single
        idx = np.flatnonzero(alive)
        sep = np.zeros(y.size, dtype=bool)
        if poisson and np.any(y[idx] == 0):
            sub = [np.unique(c[idx], return_inverse=True)[1] for c in codes]
            sep[idx[detect_separation(y[idx], X[idx], sub).mask]] = True
        status[sep] = 4
        alive &= ~sep
        if not single.any() and not sep.any():
            return status


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("poisson", [True, False])
def test_statuses_and_no_repeated_check(seed: int, poisson: bool,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(seed)
    n = 300
    codes = [rng.integers(0, 60, n), rng.integers(0, 40, n)]
    y = rng.poisson(1.0, n).astype(float)
    y[codes[0] % 9 == 0] = 0.0  # groups with no positive outcome: separated rows
    X = rng.standard_normal((n, 2))
    calls: list[int] = []

    def counted(c: list[np.ndarray], keep: np.ndarray) -> np.ndarray:
        calls.append(int(keep.sum()))
        return singleton_mask(c, keep)

    monkeypatch.setattr(sample_module, "singleton_mask", counted)
    got = build_sample(n_rows=n, excluded=np.zeros(n, dtype=bool), missing=np.zeros(n, dtype=bool),
                       fe_codes=[c.astype(np.int32) for c in codes], y=y, X=X, poisson=poisson)
    expected = _reference(codes, y, X, poisson)
    assert np.array_equal(got.status, expected)
    # Every singleton pass after the first sees a sample the separation checks changed.
    assert len(calls) == len(set(calls))
    if not poisson:
        assert len(calls) == 1
