"""The Python API's view of a split run: the estimated sectors as :class:`Result` objects, the
failed ones with their errors, and the tidy table."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from migtrade.api.result import Result

if TYPE_CHECKING:
    import pandas as pd

    from migtrade.split import SplitRun


class SplitResult(Sequence[Result]):
    """One :class:`Result` per estimated (level, formula, model) of a split run, in level order.

    ``levels[i]`` is the level of ``self[i]``; ``failed`` lists the (level, formula, model)
    that could not be estimated, each as ``{"split", "formula", "model", "error"}``;
    :meth:`to_frame` is the tidy table (one row per level, model and term, failures included)
    and :meth:`save` writes what ``migtrade estimate --split VAR --save`` writes.
    """

    def __init__(self, run: SplitRun) -> None:
        self.run = run
        done = [o for o in run.outcomes if o.ok]
        self._results = [Result(o.estimation_result()) for o in done]
        self.levels: list[Any] = [o.split[run.var] for o in done]
        self.var = run.var

    @overload
    def __getitem__(self, index: int) -> Result: ...

    @overload
    def __getitem__(self, index: slice) -> list[Result]: ...

    def __getitem__(self, index: int | slice) -> Result | list[Result]:
        return self._results[index]

    def __len__(self) -> int:
        return len(self._results)

    def __iter__(self) -> Iterator[Result]:
        return iter(self._results)

    def get(self, level: Any) -> list[Result]:
        """The results (one per formula and model) of one level; empty if it failed or is absent."""
        return [r for r, lv in zip(self._results, self.levels, strict=True) if lv == level]

    @property
    def failed(self) -> list[dict[str, Any]]:
        """The (level, formula, model) that could not be estimated, with their errors."""
        return [{"split": dict(o.split), "formula": o.formula, "model": o.model, "error": dict(o.error or {})}
                for o in self.run.failed]

    def to_frame(self) -> pd.DataFrame:
        """One row per level, model and term: ``estimate``, ``std_error``, ``p_value``, ``nobs``,
        ``converged``, ``status`` and ``error`` (failed levels are one row each)."""
        return self.run.to_frame()

    def to_list(self) -> list[dict[str, Any]]:
        """The JSON list of the saved file."""
        return self.run.to_list()

    def save(self, path: str | Path) -> Path:
        """Write the JSON list atomically (what ``migtrade estimate --split --save`` writes)."""
        from migtrade.atomic import write_text

        return write_text(path, json.dumps(self.to_list(), indent=1, allow_nan=False) + "\n")

    def __repr__(self) -> str:
        return (f"<SplitResult by {self.var}: {len(set(map(str, self.levels)))} levels estimated, "
                f"{len(self.failed)} failed>")
