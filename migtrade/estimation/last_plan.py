"""The plan of the last fixed-effect design, kept for the absorbers built on the same rows.

The separation checks and the fit each build their own absorber on the same rows; the exact
strategies (:mod:`migtrade.estimation.crossed`, :mod:`migtrade.estimation.direct`) plan their
solve from the codes once and reuse it when the next design has the same codes. Comparing the
codes costs one pass where planning costs a sort or a graph search.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import numpy as np

Plan = TypeVar("Plan")


class LastPlan(Generic[Plan]):
    """One strategy's plan of the last design it saw, with a copy of that design's codes."""

    def __init__(self) -> None:
        self._codes: np.ndarray | None = None
        self._plan: Plan | None = None

    def get(self, codes: np.ndarray, build: Callable[[], Plan],
            same: Callable[[Plan, np.ndarray], bool] | None = None) -> Plan:
        """The plan for ``codes``: the kept one when the codes are the same, else ``build()``.

        ``same(plan, codes)``, when given, tells whether a plan was made from these codes
        from what the plan holds itself, and no copy of the codes is kept."""
        if same is not None:
            if self._plan is not None and same(self._plan, codes):
                return self._plan
            self._codes, self._plan = None, build()
            return self._plan
        kept = self._codes
        if kept is not None and kept.shape == codes.shape and np.array_equal(kept, codes):
            return self._plan  # type: ignore[return-value]
        plan = build()
        self._codes, self._plan = codes.copy(), plan
        return plan
