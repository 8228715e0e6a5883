"""``migtrade.test_substitution``: does trade substitute for migration, or complement it?"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pandas as pd

from migtrade.errors import UsageError, speaks_python

if TYPE_CHECKING:
    from migtrade.hypotheses.report import SubstitutionReport
    from migtrade.store.resolve import Data


class Substitution:
    """The report of the substitution battery: the verdict, its evidence and every test.

    Attributes
    ----------
    report
        The full :class:`~migtrade.hypotheses.report.SubstitutionReport`.
    """

    def __init__(self, report: SubstitutionReport) -> None:
        self.report = report

    @property
    def verdict(self) -> str:
        """``substitutes``, ``complements``, ``short-run-complements-long-run-substitutes`` or
        ``inconclusive``."""
        return self.report.verdict

    @property
    def reasons(self) -> tuple[str, ...]:
        """Why this verdict, in sentences."""
        return self.report.reasons

    @property
    def rule(self) -> str:
        """The verdict rule in plain words."""
        return self.report.rule

    @property
    def evidence(self) -> pd.DataFrame:
        """The evidence table: one row per quantity (test, quantity, role, estimate,
        std_error, p_value, counts, reading)."""
        rows = [{"test": e.test, "quantity": e.quantity, "role": e.role, "estimate": e.estimate,
                 "std_error": e.std_error, "p_value": e.p_value, "counts": e.counts,
                 "reading": e.reading} for e in self.report.evidence]
        return pd.DataFrame(rows, columns=["test", "quantity", "role", "estimate", "std_error",
                                           "p_value", "counts", "reading"])

    def to_dict(self) -> dict:
        """The report as ``migtrade test substitution --format json`` prints it."""
        return self.report.to_dict()

    def to_json(self, indent: int | None = 2) -> str:
        return self.report.to_json(indent=indent)

    def __repr__(self) -> str:
        return f"<migtrade substitution report: verdict {self.verdict!r}, {len(self.report.tests)} tests>"


@speaks_python
def test_substitution(
    data: Data,
    *,
    case: Literal["MEX-USA", "PHL"] | None = None,
    alpha: float = 0.05,
    instrument: Mapping[str, str | Sequence[str]] | Sequence[str] | None = None,
    no_iv: bool = False,
    inference: Literal["jackknife", "bootstrap"] = "jackknife",
    reps: int = 999,
    store: str | Path | None = None,
) -> Substitution:
    """Run the trade-migration battery and give the verdict, as ``migtrade test substitution``.

    Parameters
    ----------
    data
        The dyadic panel: a DataFrame (e.g. from :func:`migtrade.build_panel`), a file or a
        stored dataset name.
    case
        ``"MEX-USA"`` (NAFTA event study) or ``"PHL"`` (the Philippines).
    alpha
        Significance level of the verdict.
    instrument
        Replacement instruments: ``{"trade": "rta", "stock": "ln_stock_lag2"}`` or the
        command's ``["trade=rta"]`` form.
    no_iv
        Skip the instrumental-variables tests.
    inference
        p-values of the voting tests: ``jackknife`` (over country pairs) or ``bootstrap``
        (the score bootstrap clustered by pair, null imposed).
    reps
        Bootstrap replications.
    store
        Where a dataset name in ``data`` is looked up.
    """
    from migtrade.hypotheses.battery import parse_instruments
    from migtrade.hypotheses.substitution import substitution_test
    from migtrade.store.resolve import resolve

    if not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise UsageError(f"alpha must be between 0 and 1, not {alpha!r}", "Use e.g. alpha = 0.05.")
    if inference not in ("jackknife", "bootstrap"):
        raise UsageError(f"unknown inference '{inference}'", "Use jackknife or bootstrap.")
    if isinstance(instrument, Mapping):
        texts = [f"{k}={v if isinstance(v, str) else ' + '.join(v)}" for k, v in instrument.items()]
    else:
        texts = [instrument] if isinstance(instrument, str) else list(instrument or [])
    instruments = parse_instruments(texts)
    frame, info = resolve(data, store=store)
    report = substitution_test(frame, case=case, alpha=alpha, instruments=instruments,
                               include_iv=not no_iv, data_info=info, inference=inference,
                               bootstrap_reps=reps)
    return Substitution(report)


test_substitution.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
