"""The substitution battery with bootstrap inference (``--inference bootstrap``): the voting
numbers take their p-values from the score bootstrap of the same model, the verdicts on panels
with a known truth stay right, and the NAFTA case gets a bootstrap column.

The panels are those of ``test_substitution.py`` (40 countries x 5 years, voting tests only).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import cli

from migtrade.errors import UsageError
from migtrade.estimation.fit import estimate
from migtrade.estimation.vcov import VcovSpec
from migtrade.hypotheses.battery import run_battery, voting_bootstrap
from migtrade.hypotheses.cases import case_mex_usa
from migtrade.hypotheses.specs import TESTS, VOTING
from migtrade.hypotheses.variables import add_battery_variables
from migtrade.synthetic.migration import migration_panel

FAST = [t for t in VOTING if not t.startswith("iv_")]


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["complements", "hump", "none"])
def test_bootstrap_battery_finds_the_truth(scenario: str) -> None:
    panel = migration_panel(40, 5, scenario=scenario, seed=1)
    report = run_battery(panel.frame, tests=FAST, inference="bootstrap", bootstrap_reps=399)
    assert report.verdict == panel.truth.verdict, report.reasons
    for name in ("network_trade_pair", "migration_flow_rta_pair", "migration_rta_dynamics"):
        record = report.test(name)
        assert record.result.vcov["type"] == "cluster"  # no jackknife
        assert any("score bootstrap" in n for n in record.notes)
        for q, c in zip(TESTS[name].quantities, record.quantities, strict=True):
            boot = record.result.bootstrap.get(" + ".join(q.terms))
            if q.role == "supporting":
                assert boot is None
            else:
                assert c.p_value == boot["p_value"] and boot["reps"] == 399


def test_voting_bootstrap_is_the_engine_bootstrap_of_the_sum() -> None:
    """The long-run number's p-value is the score bootstrap of rta + rta_lag1 + rta_lag2."""
    derived = add_battery_variables(migration_panel(40, 5, scenario="hump", seed=1).frame)
    spec = TESTS["migration_rta_dynamics"]
    options = voting_bootstrap(spec, 399)
    assert options.hypotheses == (("rta",), ("rta", "rta_lag1", "rta_lag2"))
    formula = spec.formula(tuple(derived.frame.columns))
    res = estimate(formula, derived.frame, model="ppml", vcov=VcovSpec.parse("cluster:dyad"),
                   bootstrap=options).result
    long_run = res.bootstrap["rta + rta_lag1 + rta_lag2"]
    report = run_battery(derived, tests=["migration_rta_dynamics"], inference="bootstrap",
                         bootstrap_reps=399)
    assert report.test("migration_rta_dynamics").quantities[2].p_value == long_run["p_value"]
    assert long_run["statistic"] == pytest.approx(
        report.test("migration_rta_dynamics").result.bootstrap["rta + rta_lag1 + rta_lag2"]["statistic"])


def test_unknown_inference_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown inference"):
        run_battery(migration_panel(20, 5, seed=1).frame, tests=FAST, inference="sandwich")


def _renamed(frame: pd.DataFrame) -> pd.DataFrame:
    codes = sorted(frame["origin"].unique())
    names = {codes[0]: "MEX", codes[1]: "USA", codes[2]: "PHL", codes[3]: "CAN"}
    return frame.replace({"origin": names, "destination": names})


def test_nafta_case_has_a_bootstrap_column() -> None:
    derived = add_battery_variables(_renamed(migration_panel(40, 5, scenario="none", seed=1).frame))
    options = voting_bootstrap(TESTS["migration_flow_rta_pair"], 199)
    case = case_mex_usa(derived, n_placebos=8, bootstrap=options)
    flows = case["tables"][1]
    assert flows["columns"][-1] == "score bootstrap p"
    assert flows["rows"][0][-1] is None  # the reference year
    p = np.array([r[-1] for r in flows["rows"][1:]], dtype=float)
    assert np.all((p > 0) & (p <= 1))
    json.dumps(case, allow_nan=False)


@pytest.mark.slow
def test_cli_inference_bootstrap(tmp_path: Path) -> None:
    path = tmp_path / "panel.csv"
    migration_panel(30, 5, scenario="complements", seed=2).frame.to_csv(path, index=False)
    code, out, err = cli("test", "substitution", "--data", path, "--no-iv",
                         "--inference", "bootstrap", "--reps", "199", "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    assert report["verdict"] == "complements"
    tests = report["tests"]
    tests = tests if isinstance(tests, dict) else {t["name"]: t for t in tests}
    boot = tests["network_trade_pair"]["result"]["coefficients"]
    assert "bootstrap" not in boot["ln_stock_lag"]  # only the voting sum is bootstrapped
