"""The interval search of the bootstrap tests (:func:`invert`) on gaps whose ends are known, and
the score bootstrap's interval as the inverted test.

An end is the middle of a bracket no wider than ``xtol`` holding the true end, so it is within
``xtol / 2`` of it; the numbers of evaluations are those the search promises for a gap that is
linear on each side (two to four a side) and bounds for the awkward shapes.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from migtrade.estimation.bootstrap.invert import EvaluationBudget, invert

XTOL = 1e-3


class Gap:
    """A gap with ends ``lo`` and ``hi``, counting its evaluations."""

    def __init__(self, lo: float, hi: float, shape: str = "linear") -> None:
        self.lo, self.hi, self.shape, self.calls = lo, hi, shape, 0

    def __call__(self, b: float) -> float:
        self.calls += 1
        d = max(self.lo - b, b - self.hi)  # distance outside the interval (negative inside)
        if self.shape == "kinked":  # slope 1 inside, 3 outside, a kink at each end
            return d if d <= 0 else 3.0 * d
        if self.shape == "plateau":  # flat at -1e-9 over 0.05 before each end, as with ties
            return max(d, -1e-9) if d > -0.05 else d + 0.05 - 1e-9
        return d


@pytest.mark.parametrize("shape", ["linear", "kinked"])
@pytest.mark.parametrize("first", [1.4, 1.6, 0.5, 4.0])  # the guess inside, outside, far off
def test_ends_within_half_the_tolerance(shape: str, first: float) -> None:
    gap = Gap(-1.0, 2.0, shape)
    lo, hi = invert(gap, 0.5, gap(0.5), first, xtol=XTOL, max_evals=24)
    assert abs(lo + 1.0) <= XTOL / 2 and abs(hi - 2.0) <= XTOL / 2
    # The unrestricted interval's ends (within 0.1 of the true ones here): at most 4 a side.
    if shape == "linear" and first in (1.4, 1.6):
        assert gap.calls - 1 <= 8


def test_a_plateau_of_ties_is_crossed() -> None:
    gap = Gap(-1.0, 2.0, "plateau")
    lo, hi = invert(gap, 0.5, gap(0.5), 1.45, xtol=XTOL, max_evals=24)
    assert abs(lo + 1.0) <= XTOL / 2 and abs(hi - 2.0) <= XTOL / 2


def test_a_side_that_never_rejects_is_infinite() -> None:
    lo, hi = invert(lambda b: max(b - 2.0, -0.5), 0.5, -0.5, 1.5, xtol=XTOL, max_evals=40)
    assert lo == -math.inf and abs(hi - 2.0) <= XTOL / 2


def test_the_budget_is_a_limit() -> None:
    with pytest.raises(EvaluationBudget):
        invert(Gap(-1.0, 2.0), 0.5, -1.5, 1.0, xtol=1e-12, max_evals=1)


def test_score_interval_is_the_inverted_test() -> None:
    """Just inside the score bootstrap's interval the restricted test does not reject at 5%,
    just outside it does: the test of beta = b0 is the test of 0 with b0 x in the offset (the
    same restricted fit, the same draws)."""
    from test_bootstrap import _panel

    from migtrade.estimation.bootstrap import BootstrapOptions
    from migtrade.estimation.fit import estimate
    from migtrade.estimation.vcov import VcovSpec

    def boot(frame: pd.DataFrame, invert_intervals: bool, offset: str | None = None) -> dict:
        opts = BootstrapOptions(method="score", reps=1999, hypotheses=(("x1",),),  # type: ignore[arg-type]
                                invert_intervals=invert_intervals)
        res = estimate("flow ~ x1 + x2 | year", frame, model="ppml", offset=offset,
                       vcov=VcovSpec.parse("cluster:cl"), bootstrap=opts).result
        return {"se": res.std_errors[res.terms.index("x1")], **res.bootstrap["x1"]}

    frame = _panel(seed=11, clusters=12)
    b = boot(frame, True)
    assert b["interval"] == "test inversion" and np.isfinite([b["ci_low"], b["ci_high"]]).all()
    for end, inward in ((b["ci_low"], 1.0), (b["ci_high"], -1.0)):
        def p_at(beta0: float) -> float:
            return float(boot(frame.assign(shift=beta0 * frame["x1"]), False, "shift")["p_value"])

        assert p_at(end + inward * 2e-3 * b["se"]) > 0.05 >= p_at(end - inward * 2e-3 * b["se"])
