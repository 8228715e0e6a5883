"""``migtrade test substitution``: the battery's verdicts on panels with a known truth, the
coefficient sums it reports, its messages when data are missing, and the command line.

The synthetic panels are small (40 countries x 5 years) and only the tests that vote are run
where the verdict is what is checked, which keeps each battery to a couple of seconds.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import cli
from scipy import stats

from migtrade.errors import DataError, EstimationError, UsageError
from migtrade.estimation.fit import estimate
from migtrade.estimation.vcov import VcovSpec
from migtrade.hypotheses.battery import parse_instruments, run_battery
from migtrade.hypotheses.cases import case_mex_usa, case_phl
from migtrade.hypotheses.lincom import delta_method, lincom
from migtrade.hypotheses.report import SubstitutionReport
from migtrade.hypotheses.specs import TESTS, VOTING
from migtrade.hypotheses.variables import add_battery_variables
from migtrade.hypotheses.verdict import VERDICTS
from migtrade.synthetic.migration import SCENARIOS, migration_panel

FAST = [t for t in VOTING if not t.startswith("iv_")]


def run(*args: str) -> tuple[int, str, str]:
    """``migtrade ARGS`` in this process, error handler included."""
    return cli(*args)


@pytest.fixture(scope="module")
def panels() -> dict[str, pd.DataFrame]:
    return {s: migration_panel(40, 5, scenario=s, seed=1).frame for s in SCENARIOS}


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("subst") / "hump.csv"
    migration_panel(30, 5, scenario="hump", seed=2).frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_battery_finds_the_truth_of_each_scenario(panels: dict[str, pd.DataFrame],
                                                  scenario: str) -> None:
    report = run_battery(panels[scenario], tests=FAST)
    truth = migration_panel(4, 2, scenario=scenario).truth.verdict
    assert report.verdict == truth, report.reasons
    assert report.threshold == pytest.approx(0.05 / 3)
    voting = {e.test for e in report.evidence if e.votes}
    assert voting == {"network_trade_pair", "migration_flow_rta_pair", "migration_rta_dynamics"}


def test_voting_tests_use_jackknife_errors(panels: dict[str, pd.DataFrame]) -> None:
    report = run_battery(panels["none"], tests=["network_trade_pair", "migration_flow_rta"])
    pair = report.test("network_trade_pair").result
    plain = report.test("migration_flow_rta").result
    assert pair.vcov["type"] == "jackknife" and pair.vcov["df"] == 19
    assert plain.vcov["type"] == "cluster" and plain.vcov["clusters"] == {"dyad": 780}


def test_lincom_equals_the_manual_sum(panels: dict[str, pd.DataFrame]) -> None:
    data = add_battery_variables(panels["complements"]).frame
    res = estimate(TESTS["migration_rta_dynamics"].formula(), data, model="ppml",
                   vcov=VcovSpec.parse("cluster:dyad")).result
    terms = ["rta", "rta_lag1", "rta_lag2"]
    idx = [res.terms.index(t) for t in terms]
    w = np.ones(3)
    value = float(w @ res.params[idx])
    se = float(np.sqrt(w @ res.cov[np.ix_(idx, idx)] @ w))
    c = lincom(res, terms)
    assert c.estimate == pytest.approx(value, rel=1e-12)
    assert c.std_error == pytest.approx(se, rel=1e-12)
    assert c.p_value == pytest.approx(2 * stats.norm.sf(abs(value / se)), rel=1e-9)
    assert c.ci_low == pytest.approx(value - stats.norm.ppf(0.975) * se, rel=1e-9)
    weighted = lincom(res, {"rta": 2.0, "rta_lag1": -1.0})
    b, v = res.params[idx[:2]], res.cov[np.ix_(idx[:2], idx[:2])]
    assert weighted.estimate == pytest.approx(2 * b[0] - b[1])
    assert weighted.std_error == pytest.approx(np.sqrt(4 * v[0, 0] - 4 * v[0, 1] + v[1, 1]))
    # The numerical delta method reproduces the exact linear case, and exp(sum) - 1 has
    # gradient exp(sum) times the sum's.
    linear = delta_method(res, lambda x: float(x.sum()), terms, label="sum")
    assert linear.std_error == pytest.approx(se, rel=1e-6)
    pct = delta_method(res, lambda x: float(np.expm1(x.sum())), terms, label="%")
    assert pct.std_error == pytest.approx(np.exp(value) * se, rel=1e-6)
    with pytest.raises(EstimationError, match="rta_lag9"):
        lincom(res, ["rta", "rta_lag9"])


def test_lincom_uses_the_t_distribution_of_ols(panels: dict[str, pd.DataFrame]) -> None:
    data = add_battery_variables(panels["none"]).frame
    res = estimate("log(trade) ~ ln_stock_lag + ln_stock_reverse_lag | origin^year + "
                   "destination^year", data, model="ols",
                   vcov=VcovSpec.parse("cluster:dyad")).result
    c = lincom(res, ["ln_stock_lag", "ln_stock_reverse_lag"])
    df = res.vcov["df"]
    assert c.p_value == pytest.approx(2 * stats.t.sf(abs(c.statistic), df), rel=1e-9)


def test_missing_variables_skip_tests_and_name_the_commands(
        panels: dict[str, pd.DataFrame]) -> None:
    frame = panels["complements"].drop(columns=["migration_flow", "migration_period"])
    report = run_battery(frame, tests=FAST)
    skipped = dict(report.skipped)
    assert set(skipped) == {"migration_flow_rta_pair", "migration_rta_dynamics"}
    reason = skipped["migration_rta_dynamics"]
    assert "'migration_flow'" in reason
    assert "migtrade fetch abel-cohen" in reason and "migtrade panel build --flows" in reason
    # Stocks stand in for the missing flows and now vote.
    stock = [e for e in report.evidence if e.test == "migration_stock_rta_pair"]
    assert stock and stock[0].counts and stock[0].votes
    assert report.verdict in VERDICTS


def test_no_runnable_test_is_a_data_error_naming_the_variables() -> None:
    frame = pd.DataFrame({"origin": ["AAA", "BBB"], "destination": ["BBB", "AAA"],
                          "year": [1990, 1990], "dist": [100.0, 100.0]})
    with pytest.raises(DataError) as err:
        run_battery(frame)
    text = err.value.one_line()
    for var in ("'trade'", "'migration_flow'", "'migrant_stock'"):
        assert var in text
    assert "migtrade fetch undesa" in text and "migtrade panel build" in text


def test_verdict_rule_cases() -> None:
    from migtrade.hypotheses.verdict import Evidence, decide

    def row(role: str, est: float, p: float, test: str | None = None) -> Evidence:
        return Evidence(test or role, role, role, est, 0.1, p)

    def verdict(*rows: Evidence) -> str:
        return decide(rows, 0.05).verdict

    dyn = "dynamics"
    assert verdict(row("network", 0.2, 0.001), row("migration", 0.1, 0.5)) == "complements"
    assert verdict(row("network", -0.2, 0.001), row("migration", -0.3, 0.001)) == "substitutes"
    assert verdict(row("network", 0.2, 0.001), row("migration", -0.3, 0.001)) == "inconclusive"
    # Significant at 0.05 but not at 0.05 / 2: no vote.
    assert verdict(row("network", 0.2, 0.03), row("migration", 0.1, 0.5)) == "inconclusive"
    hump = (row("short-run", 0.4, 0.001, dyn), row("long-run", -0.4, 0.001, dyn),
            row("migration", 0.3, 0.001))
    assert verdict(*hump) == "short-run-complements-long-run-substitutes"
    # A reversal whose long run is not significant stays undecided.
    assert verdict(row("short-run", 0.4, 0.001, dyn), row("long-run", -0.4, 0.2, dyn),
                   row("migration", 0.3, 0.001)) == "inconclusive"
    assert verdict(row("network", 0.2, 0.001, "x"),
                   Evidence("y", "q", "supporting", -5.0, 0.1, 1e-9)) == "complements"
    assert decide([], 0.05).verdict == "inconclusive"


def test_report_json_round_trip(panels: dict[str, pd.DataFrame]) -> None:
    report = run_battery(panels["substitutes"], tests=["network_trade", "trade_rta_dynamics"])
    text = report.to_json()
    again = SubstitutionReport.from_dict(json.loads(text))
    assert again.to_json() == text
    assert again.test("trade_rta_dynamics").event_study[2].label == "2 steps after entry"
    with pytest.raises(DataError, match="substitution report"):
        SubstitutionReport.from_dict({"schema": "migtrade.estimation/1"})


def test_instrument_option_replaces_the_instruments(panels: dict[str, pd.DataFrame]) -> None:
    assert parse_instruments(["trade=rta + gravity_ln_trade"]) == {
        "trade": ("rta", "gravity_ln_trade")}
    for bad in ("rta", "wages=rta", "trade="):
        with pytest.raises(UsageError):
            parse_instruments([bad])
    report = run_battery(panels["none"], tests=["iv_migration_trade_2sls"],
                         instruments={"trade": ("gravity_ln_trade",)})
    record = report.test("iv_migration_trade_2sls")
    assert record.formula.endswith("| ln_trade_total ~ gravity_ln_trade")
    assert record.first_stage is not None and "ln_trade_total" in record.first_stage
    with pytest.raises(DataError, match="wages"):
        run_battery(panels["none"], tests=["iv_migration_trade_2sls"],
                    instruments={"trade": ("wages",)})


def _renamed(frame: pd.DataFrame) -> pd.DataFrame:
    codes = sorted(frame["origin"].unique())
    names = {codes[0]: "MEX", codes[1]: "USA", codes[2]: "PHL", codes[3]: "CAN"}
    return frame.replace({"origin": names, "destination": names})


def test_cases_on_a_synthetic_panel(panels: dict[str, pd.DataFrame]) -> None:
    derived = add_battery_variables(_renamed(panels["complements"]))
    mex = case_mex_usa(derived, n_placebos=8)
    titles = [t["title"] for t in mex["tables"]]
    assert len(titles) == 4 and titles[1].startswith("NAFTA event study: migration flow")
    flows = mex["tables"][1]
    assert flows["rows"][0][:3] == [1990, 0.0, 0.0]
    assert all(0 < r[-1] <= 1 for r in flows["rows"][1:])
    json.dumps(mex, allow_nan=False)
    phl = case_phl(derived)
    assert any("remittances" in t["title"].lower() for t in phl["tables"])
    assert phl["skipped"] == {}
    json.dumps(phl, allow_nan=False)
    report = run_battery(derived, tests=["migration_flow_rta_pair"], focus=("PHL",), case=phl,
                         jackknife_groups=0)
    assert report.evidence[0].quantity.startswith("migration response")
    assert "focus::1:rta" in report.test("migration_flow_rta_pair").result.terms
    assert report.case == phl


def test_case_needs_its_countries(panels: dict[str, pd.DataFrame]) -> None:
    derived = add_battery_variables(panels["none"])
    with pytest.raises(DataError, match="Mexico"):
        case_mex_usa(derived)
    with pytest.raises(DataError, match="Philippine"):
        case_phl(derived)


def test_cli_expect_mismatch_exits_6(small_csv: Path) -> None:
    code, out, err = run("test", "substitution", "--data", str(small_csv), "--no-iv",
                         "--format", "md", "--expect", "complements")
    assert code == 6, err
    assert "## Verdict: short-run-complements-long-run-substitutes" in out
    assert err.startswith("migtrade: error: the verdict is "
                          "'short-run-complements-long-run-substitutes', expected 'complements'")
    assert "Verdict rule" in out and "Bonferroni" in out


def test_cli_json_has_the_verdict_and_every_test(small_csv: Path, tmp_path: Path) -> None:
    saved = tmp_path / "report.json"
    code, out, err = run("test", "substitution", "--data", str(small_csv), "--format", "json",
                         "--expect", "short-run-complements-long-run-substitutes",
                         "--save", str(saved))
    assert code == 0, err
    obj = json.loads(out)
    assert obj["verdict"] == "short-run-complements-long-run-substitutes"
    assert set(obj["tests"]) | set(obj["skipped"]) == set(TESTS)
    assert "iv_migration_trade_cf" in obj["tests"]
    for test in obj["tests"].values():
        assert test["result"]["schema"] == "migtrade.estimation/1"
        assert test["quantities"] and "estimate" in test["quantities"][0]
    assert obj["evidence"][0]["reading"] in ("complements", "substitutes", "not significant")
    assert json.loads(saved.read_text()) == obj


def test_cli_bad_input_is_one_line(small_csv: Path) -> None:
    code, _, err = run("test", "substitution", "--data", str(small_csv), "--instrument", "x=rta")
    assert code == 2 and err.count("\n") == 1 and "--instrument 'x=rta'" in err
    code, _, err = run("test", "substitution", "--data", str(small_csv), "--case", "PHL")
    assert code == 2 and "no Philippine dyads" in err
