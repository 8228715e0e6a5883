"""The one entry point of ``migtrade test substitution``: data in, report out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from migtrade.errors import UsageError
from migtrade.estimation.fit import FitOptions
from migtrade.hypotheses.battery import BOOTSTRAP_REPS, run_battery, voting_bootstrap
from migtrade.hypotheses.cases import CASES, case_mex_usa, case_phl
from migtrade.hypotheses.nafta_ge import with_nafta_ge
from migtrade.hypotheses.report import SubstitutionReport
from migtrade.hypotheses.specs import TESTS
from migtrade.hypotheses.variables import add_battery_variables


def substitution_test(
    frame: pd.DataFrame,
    *,
    case: str | None = None,
    alpha: float = 0.05,
    instruments: Mapping[str, Sequence[str]] | None = None,
    include_iv: bool = True,
    data_info: Mapping[str, Any] | None = None,
    options: FitOptions | None = None,
    inference: str = "jackknife",
    bootstrap_reps: int = BOOTSTRAP_REPS,
) -> SubstitutionReport:
    """Run the substitution battery, and a case study if asked, on a dyadic panel.

    Parameters
    ----------
    frame
        The dyadic panel (:mod:`migtrade.panel.schema`).
    case
        ``"MEX-USA"`` (the NAFTA event study beside NAFTA's general-equilibrium real GDP
        effect; the verdict is the whole panel's) or ``"PHL"``
        (the Philippines; the verdict is that of the Philippine dyads).
    alpha
        Significance level of the verdict.
    instruments
        ``{target: terms}`` replacing the default instruments.
    include_iv
        Run the instrumental-variables tests.
    data_info
        Where the data came from.
    options
        Numerical options of the engine.
    inference, bootstrap_reps
        p-values of the voting tests: ``jackknife`` or ``bootstrap`` (the score bootstrap with
        that many replications; see :func:`~migtrade.hypotheses.battery.run_battery`).

    Returns
    -------
    SubstitutionReport

    Raises
    ------
    UsageError
        On an unknown case.
    DataError
        When no test can run, or the case's countries are not in the data.
    """
    derived = add_battery_variables(frame)
    common: dict[str, Any] = {"alpha": alpha, "instruments": instruments,
                              "include_iv": include_iv, "data_info": data_info,
                              "options": options, "inference": inference,
                              "bootstrap_reps": bootstrap_reps}
    if case is None:
        return run_battery(derived, **common)
    name = case.strip().upper()
    if name == "MEX-USA":
        boot = (voting_bootstrap(TESTS["migration_flow_rta_pair"], bootstrap_reps)
                if inference == "bootstrap" else None)
        case_study = with_nafta_ge(case_mex_usa(derived, options=options, bootstrap=boot), frame)
        return run_battery(derived, case=case_study, **common)
    if name == "PHL":
        return run_battery(derived, case=case_phl(derived), focus=("PHL",), **common)
    raise UsageError(f"unknown case '{case}'", f"Use one of: {', '.join(CASES)}.")
