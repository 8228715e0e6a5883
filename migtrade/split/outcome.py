"""What one (sector, model) of a split run produced: a result or the reason it has none.

A split run's saved file is a JSON list with one element per sector and model. An estimated
sector is the usual ``migtrade.estimation/1`` object plus ``"split": {VAR: value}`` and
``"status": "ok"``; a sector that could not be estimated keeps the formula, the model and the
error (its kind, message and exit code) in place of the numbers. Both carry ``"split_run"``,
the identity of the run (formulas, options, data and split variable), so that ``--resume``
never mixes two runs in one file.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from migtrade.errors import MigtradeError
from migtrade.results.result import EstimationResult

OK = "ok"
FAILED = "failed"

TIDY_COLUMNS = ("formula", "model", "term", "estimate", "std_error", "p_value", "nobs",
                "converged", "status", "error")


class SectorsFailed(MigtradeError):
    """Some sectors of a split run could not be estimated; the others are saved."""

    exit_code = 7


class SectorError(MigtradeError):
    """The first failing sector of a ``--strict`` run, with that sector's own exit code."""

    def __init__(self, message: str, hint: str | None, exit_code: int) -> None:
        super().__init__(message, hint)
        self.exit_code = exit_code


def plain(value: Any) -> Any:
    """A level of the split variable as JSON keeps it (numpy scalars made Python ones)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def sector_key(split: Mapping[str, Any], formula: str, model: str) -> str:
    """A stable text key of one (sector, formula, model), for resuming and de-duplicating."""
    import json

    return json.dumps([sorted(split.items()), formula, model], default=str)


@dataclass(frozen=True)
class SectorOutcome:
    """One model on one sector: the result document, or the error that stopped it.

    Parameters
    ----------
    split
        ``{VAR: level}`` with the level as the data hold it (text codes keep leading zeros).
    formula, model
        The model as written and the estimator.
    result
        The ``migtrade.estimation/1`` object (None when the sector failed).
    error
        ``{"kind", "message", "exit_code"}`` when the sector failed.
    """

    split: dict[str, Any]
    formula: str
    model: str
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", sector_key(self.split, self.formula, self.model))

    @property
    def ok(self) -> bool:
        return self.error is None

    @classmethod
    def failure(cls, split: dict[str, Any], formula: str, model: str,
                err: MigtradeError) -> SectorOutcome:
        return cls(split, formula, model, error={
            "kind": type(err).__name__, "message": err.one_line(), "exit_code": int(err.exit_code)})

    def to_dict(self, run_id: str) -> dict[str, Any]:
        """The element of the saved JSON list."""
        if self.result is not None:
            return {**self.result, "split": dict(self.split), "status": OK, "split_run": run_id}
        return {"split": dict(self.split), "status": FAILED, "formula": self.formula,
                "model": self.model, "error": dict(self.error or {}), "split_run": run_id}

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> SectorOutcome:
        """Read an element back (``--resume``)."""
        split = dict(obj["split"])
        if obj.get("status") == OK:
            body = {k: v for k, v in obj.items() if k not in ("split", "status", "split_run")}
            return cls(split, str(obj["formula"]), str(obj["model"]), result=body)
        return cls(split, str(obj["formula"]), str(obj.get("model", "")), error=dict(obj["error"]))

    def estimation_result(self) -> EstimationResult:
        """The engine's result object of an estimated sector."""
        if self.result is None:
            raise ValueError("a failed sector has no result")
        return EstimationResult.from_dict(self.result)

    def describe(self) -> str:
        """``product=0101`` (the sector's levels as text)."""
        return ", ".join(f"{k}={v}" for k, v in self.split.items())


def _finite(value: Any) -> float:
    return math.nan if value is None else float(value)


def tidy_frame(outcomes: Iterable[SectorOutcome], split_vars: Sequence[str]) -> pd.DataFrame:
    """One row per sector, model and term; a failed sector is one row with its error.

    Columns: the split variable(s), ``formula``, ``model``, ``term``, ``estimate``,
    ``std_error``, ``p_value``, ``nobs``, ``converged``, ``status``, ``error``.
    """
    rows: list[dict[str, Any]] = []
    for out in outcomes:
        base = {var: out.split.get(var) for var in split_vars}
        base.update(formula=out.formula, model=out.model)
        if out.result is None:
            rows.append({**base, "term": None, "estimate": math.nan, "std_error": math.nan,
                         "p_value": math.nan, "nobs": None, "converged": None, "status": FAILED,
                         "error": (out.error or {}).get("message")})
            continue
        for term, coef in out.result["coefficients"].items():
            rows.append({**base, "term": term, "estimate": _finite(coef.get("estimate")),
                         "std_error": _finite(coef.get("std_error")),
                         "p_value": _finite(coef.get("p_value")), "nobs": out.result["nobs"],
                         "converged": bool(out.result["converged"]), "status": OK, "error": None})
    frame = pd.DataFrame(rows, columns=[*split_vars, *TIDY_COLUMNS])
    frame["nobs"] = frame["nobs"].astype("Int64")
    frame["converged"] = frame["converged"].astype("boolean")
    return frame
