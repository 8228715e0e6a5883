"""A recipe's ``[[models]]`` step with ``split``: the model on each level of a column."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from migtrade.recipes.schema import ModelStep


def _finite(value: Any) -> float | None:
    import math

    return float(value) if value is not None and math.isfinite(float(value)) else None


def run_split_step(step: ModelStep, frame: pd.DataFrame, info: dict[str, Any],
                   write: Callable[[str, str], Path]) -> tuple[Path, dict[str, Any], str]:
    """Run the split model; write ``models/<name>.json`` (the JSON list of a split run).

    Returns
    -------
    target, numbers, summary
        The file written; the manifest's numbers (``{"split", "levels": {level: {"nobs",
        "converged", "coefficients"} or {"error"}}}``); a one-line summary.
    """
    from migtrade.split import SplitOptions, run_split
    from migtrade.store.resolve import DATA_ATTR

    assert step.split is not None
    data = frame.copy(deep=False)
    data.attrs[DATA_ATTR] = dict(info)  # the recipe's description of the data, as unsplit models
    options = step.options()
    run = run_split([step.formula], [options.model], options, data,
                    SplitOptions(step.split, workers=step.workers))
    target = write(f"models/{step.name}.json", json.dumps(run.to_list(), indent=1, allow_nan=False) + "\n")
    levels: dict[str, Any] = {}
    for out in run.outcomes:
        key = str(out.split[step.split])
        if out.result is None:
            levels[key] = {"error": (out.error or {}).get("message")}
            continue
        levels[key] = {"nobs": out.result["nobs"], "converged": out.result["converged"],
                       "coefficients": {t: {"estimate": _finite(c.get("estimate")),
                                            "std_error": _finite(c.get("std_error"))}
                                        for t, c in out.result["coefficients"].items()}}
    failed = len(run.failed)
    summary = f"split by {step.split}: {len(levels) - failed} levels estimated, {failed} failed"
    return target, {"split": step.split, "levels": levels}, summary
