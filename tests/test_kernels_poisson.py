"""The compiled passes of the IRLS step against the NumPy expressions they replace, with and
without an offset, below and above the size where they run on several threads, and the same bits
on one thread as on all."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from migtrade.estimation.kernels_poisson import means, predict, start_means, working

# Below and above the rows from which the passes run in parallel (PARALLEL_MIN_ROWS, 100,000).
SIZES = [1, 37, 250_000]


def _data(n: int, k: int, seed: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "z": rng.normal(size=n), "zt": rng.normal(size=n),
        "xt": np.asfortranarray(rng.normal(size=(n, k))), "beta": rng.normal(size=k),
        "off": rng.normal(size=n), "y": rng.poisson(2.0, n).astype(float),
        "w": rng.uniform(0.5, 2.0, n), "eta": rng.normal(size=n),
    }


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("k", [0, 1, 3])
@pytest.mark.parametrize("with_offset", [False, True])
def test_predict_is_z_less_its_residual(n: int, k: int, with_offset: bool) -> None:
    d = _data(n, k)
    off = d["off"] if with_offset else None
    z_fe, eta = np.empty(n), np.empty(n)
    predict(d["z"], d["zt"], d["xt"], d["beta"], off, z_fe, eta)
    np.testing.assert_array_equal(z_fe, d["z"] - d["zt"])
    want = d["z"] - (d["zt"] - d["xt"] @ d["beta"]) + (0.0 if off is None else off)
    np.testing.assert_allclose(eta, want, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("n", SIZES)
def test_means_and_the_deviance_sums(n: int) -> None:
    d = _data(n, 0)
    wy = d["w"] * d["y"]
    mu = np.empty(n)
    ok, wy_eta, w_mu = means(d["eta"], wy, d["w"], 700.0, mu)
    assert ok
    # The C library's exp against NumPy's vectorised one: each within an ulp of the true value.
    np.testing.assert_allclose(mu, np.exp(d["eta"]), rtol=4.5e-16, atol=0)
    # Sums in blocks of rows, each in row order: within 1e-13 of the exactly rounded sums.
    assert wy_eta == pytest.approx(math.fsum(wy * d["eta"]), rel=1e-13, abs=1e-13)
    assert w_mu == pytest.approx(math.fsum(d["w"] * mu), rel=1e-13)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 700.0, 1e300])
@pytest.mark.parametrize("n", [5, 250_000])
def test_means_flag_what_cannot_be_a_step(bad: float, n: int) -> None:
    d = _data(n, 0)
    eta = d["eta"].copy()
    eta[n // 2] = bad
    ok, _, _ = means(eta, d["w"] * d["y"], d["w"], 700.0, np.empty(n))
    assert not ok


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("with_offset", [False, True])
def test_working_is_the_next_steps_weights_variable_and_start(n: int, with_offset: bool) -> None:
    d = _data(n, 0)
    mu = np.exp(d["eta"])
    off = d["off"] if with_offset else None
    z_fe = d["zt"]
    irls_w, z = np.empty(n), d["z"].copy()  # z is written over the last working variable
    block = np.empty((n, 2), order="F")
    working(d["eta"], mu, d["y"], d["w"], off, z_fe, irls_w, z, block[:, 0])
    np.testing.assert_array_equal(irls_w, d["w"] * mu)
    want = (d["y"] - mu) / mu + (d["eta"] if off is None else d["eta"] - off)
    np.testing.assert_array_equal(z, want)
    np.testing.assert_array_equal(block[:, 0], want - z_fe)


_SCRIPT = """
import json, sys
import numpy as np
from migtrade.estimation.kernels_poisson import means, predict
rng = np.random.default_rng(5)
n = 300_000
eta = rng.normal(size=n)
w = rng.uniform(0.5, 2.0, n)
ok, a, b = means(eta, w * 2.0, w, 700.0, np.empty(n))
x = np.asfortranarray(rng.normal(size=(n, 2)))
z_fe, out = np.empty(n), np.empty(n)
predict(eta, w, x, np.array([0.3, -1.2]), None, z_fe, out)
print(json.dumps([a.hex(), b.hex(), float(out.sum()).hex()]))
"""


def _start_numpy(codes: np.ndarray, y: np.ndarray, w: np.ndarray, ybar: float) -> np.ndarray:
    """The sweep of iterative proportional fitting as NumPy writes it (bincount sums in row
    order), then (y + m) / 2."""
    m = np.full(y.shape[0], ybar)
    for g in codes:
        observed = np.bincount(g, weights=w * y)
        fitted = np.bincount(g, weights=w * m)
        ok = (observed > 0) & (fitted > 0)
        m *= np.where(ok, observed / np.where(fitted > 0, fitted, 1.0), 1.0)[g]
    return 0.5 * (y + m)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dims", [1, 3])
def test_start_means_are_the_numpy_sweep_bit_for_bit(n: int, dims: int) -> None:
    rng = np.random.default_rng(n + dims)
    levels = [max(1, n // d) for d in (2, 7, 40)[:dims]]
    codes = np.vstack([rng.integers(0, g, n) for g in levels]).astype(np.int32)
    # Every level present (as in an absorber), some groups all zero (left as they are).
    for row, g in zip(codes, levels, strict=True):
        row[:g] = np.arange(g)
    y = rng.poisson(0.7, n).astype(float)
    y[codes[0] == 0] = 0.0
    w = rng.uniform(0.5, 2.0, n)
    ybar = float(w @ y) / float(w.sum())
    got = start_means(codes, np.array(levels), y, w, ybar)
    np.testing.assert_array_equal(got, _start_numpy(codes, y, w, ybar))
    assert np.all(got > 0) or ybar == 0.0


def test_one_thread_gives_the_same_bits_as_all() -> None:
    outputs = []
    for threads in ("1", "2"):
        env = dict(os.environ, OMP_NUM_THREADS=threads)
        proc = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True,
                              timeout=120, env=env)
        assert proc.returncode == 0, proc.stderr
        outputs.append(json.loads(proc.stdout))
    assert outputs[0] == outputs[1]
