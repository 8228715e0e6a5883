"""Against pyfixest (a test-only reference) on seeded synthetic gravity panels.

Coefficients must agree to 1e-6 relative: both packages iterate to tolerances of 1e-8 or tighter
(pyfixest is run with fixef_tol=1e-10 and iwls_tol=1e-10 here), so their gap is far below that.
Standard errors under the fixest convention agree to 1e-4 relative: they depend on the converged
weights and on the demeaned regressors, each accurate to about 1e-7.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from migtrade.estimation.fit import estimate
from migtrade.estimation.vcov import VcovSpec
from migtrade.synthetic.gravity import gravity_panel

pf = pytest.importorskip("pyfixest")

VCOVS = {"iid": "iid", "robust": "hetero", "cluster:pair_id": {"CRV1": "pair_id"}}


@pytest.fixture(scope="module", params=[3, 11])
def panel(request: pytest.FixtureRequest) -> pd.DataFrame:
    return gravity_panel(25, 6, seed=request.param).frame


def _pyfixest(kind: str, formula: str, data: pd.DataFrame, vcov: object):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "ppml":
            return pf.fepois(formula, data, vcov=vcov, fixef_tol=1e-10, iwls_tol=1e-10, iwls_maxiter=200)
        return pf.feols(formula, data, vcov=vcov, fixef_tol=1e-10)


CASES = [
    ("ppml", "trade ~ rta + log_migrant_stock | exporter^year + importer^year + pair_id",
     "trade ~ rta + log_migrant_stock | exporter^year + importer^year + pair_id"),
    ("ppml", "trade ~ log_dist + cntg + lang + rta | exporter^year + importer^year",
     "trade ~ log_dist + cntg + lang + rta | exporter^year + importer^year"),
    ("ols", "log(trade) ~ rta + log_migrant_stock | exporter^year + importer^year + pair_id",
     "np.log(trade) ~ rta + log_migrant_stock | exporter^year + importer^year + pair_id"),
]


@pytest.mark.parametrize("vcov", list(VCOVS))
@pytest.mark.parametrize(("model", "ours", "theirs"), CASES)
def test_matches_pyfixest(panel: pd.DataFrame, model: str, ours: str, theirs: str, vcov: str) -> None:
    data = panel if model == "ppml" else panel[panel["trade"] > 0].reset_index(drop=True)
    res = estimate(ours, data, model=model, vcov=VcovSpec.parse(vcov, "fixest")).result
    fit = _pyfixest(model, theirs, data, VCOVS[vcov])
    assert res.nobs == fit._N
    their = fit.coef()
    np.testing.assert_allclose(res.params, their[list(res.terms)].to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(res.std_errors, fit.se()[list(res.terms)].to_numpy(), rtol=1e-4)
