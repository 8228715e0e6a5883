"""Separated observations are dropped and the rest estimated as if the sample had been right.

Each case builds data where the Poisson MLE does not exist on the full sample, then checks that
migtrade's estimate equals the estimate on the correct sample (the separated rows removed by
hand, and the regressor they made useless removed from the formula), to 1e-8 relative: the same
problem solved twice with the same tolerances.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from migtrade.estimation.fit import estimate
from migtrade.estimation.vcov import VcovSpec


def base(seed: int = 3, n_g: int = 15, per: int = 8) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_g), per)
    h = np.tile(np.arange(per), n_g)
    n = g.size
    x1 = rng.normal(size=n)
    mu = np.exp(0.5 + 0.3 * rng.normal(size=n_g)[g] + 0.2 * rng.normal(size=per)[h] + 0.4 * x1)
    y = rng.poisson(mu).astype(float)
    y[y == 0] = 1.0  # no accidental zeros: separation only where a case puts it
    return pd.DataFrame({"g": g, "h": h, "x1": x1, "y": y})


def same(a, b) -> None:
    assert a.terms == b.terms
    np.testing.assert_allclose(a.params, b.params, rtol=1e-8)
    np.testing.assert_allclose(a.std_errors, b.std_errors, rtol=1e-6)


def test_fixed_effect_group_with_all_zero_outcome() -> None:
    d = base()
    d.loc[d["g"] == 4, "y"] = 0.0
    full = estimate("y ~ x1 | g + h", d, model="ppml", vcov=VcovSpec.parse("cluster:g")).result
    right = estimate("y ~ x1 | g + h", d[d["g"] != 4], model="ppml", vcov=VcovSpec.parse("cluster:g")).result
    assert full.dropped["separated"] == 8
    same(full, right)


def test_dummy_regressor_separates_without_fixed_effects() -> None:
    d = base()
    sep = np.zeros(len(d), dtype=bool)
    sep[:5] = True
    d.loc[sep, "y"] = 0.0
    d["s"] = sep.astype(float)
    full = estimate("y ~ x1 + s", d, model="ppml").result
    right = estimate("y ~ x1", d[~sep], model="ppml").result
    assert full.dropped["separated"] == 5
    assert tuple(t for t, _ in full.omitted) == ("s", )
    same(full, right)


def test_combination_of_regressor_and_fixed_effects_separates() -> None:
    # z = s - 1{g == 2} is zero on every positive row and positive on the rows where s = 1 and
    # g != 2, whose outcome is zero: neither s alone nor the fixed effects alone show it.
    d = base()
    d["s"] = 0.0
    d.loc[d["g"] == 2, "s"] = 1.0
    extra = d.index[(d["g"] == 7) & (d["h"] < 3)]
    d.loc[extra, "s"] = 1.0
    d.loc[extra, "y"] = 0.0
    full = estimate("y ~ x1 + s | g + h", d, model="ppml").result
    right = estimate("y ~ x1 | g + h", d.drop(index=extra), model="ppml").result
    assert full.dropped["separated"] == len(extra)
    same(full, right)


@pytest.mark.parametrize("methods", [("fe",), ("fe", "simplex", "relu")])
def test_no_separation_no_drop(methods: tuple[str, ...]) -> None:
    from migtrade.estimation.fit import FitOptions

    d = base()
    d.loc[d.index % 7 == 0, "y"] = 0.0
    res = estimate("y ~ x1 | g + h", d, model="ppml", options=FitOptions(separation=methods)).result
    assert res.dropped["separated"] == 0
