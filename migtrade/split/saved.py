"""A split run's ``--save`` file: rewritten whole as sectors finish, read back by ``--resume``.

The file is the JSON list of :mod:`migtrade.split.outcome`; every element carries the run's
identity, a sha256 of what determines its numbers (the formulas, models, options, the split
variable and the data's sha256), so a file made by another run is refused rather than mixed in.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from migtrade.atomic import write_text
from migtrade.errors import UsageError
from migtrade.split.outcome import SectorOutcome


def run_identity(var: str, formulas: Sequence[str], models: Sequence[str],
                 options: dict[str, Any], data_sha256: str | None) -> str:
    """sha256 of everything that decides a split run's numbers."""
    what = {"var": var, "formulas": list(formulas), "models": list(models),
            "options": options, "data": data_sha256}
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()


def read_saved(path: Path, run_id: str) -> list[SectorOutcome]:
    """The outcomes already in ``path`` for this run; nothing when the file does not exist.

    Raises
    ------
    UsageError
        When the file is not a split run's list, or was made by another run.
    """
    if not path.exists():
        return []
    try:
        obj = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UsageError(f"cannot resume from '{path}': it is not JSON",
                         "Pass the file a split run saved, or drop --resume.") from None
    if not isinstance(obj, list) or not all(isinstance(e, dict) and "split" in e for e in obj):
        raise UsageError(f"cannot resume from '{path}': it is not a split run's results",
                         "Pass the file a split run saved with --save, or drop --resume.")
    if any(e.get("split_run") != run_id for e in obj):
        raise UsageError(f"cannot resume from '{path}': it was made by another split run (formula, "
                         "options, split variable or data differ)",
                         "Resume with the command that made it, or save to a new file.")
    return [SectorOutcome.from_dict(e) for e in obj]


class SaveFile:
    """The ``--save`` file, rewritten atomically at most every ``interval`` seconds."""

    def __init__(self, path: Path | None, run_id: str, interval: float = 1.0) -> None:
        self.path = path
        self.run_id = run_id
        self.interval = interval
        self._last = 0.0

    def write(self, outcomes: Iterable[SectorOutcome], *, force: bool = False) -> None:
        if self.path is None:
            return
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        text = json.dumps([o.to_dict(self.run_id) for o in outcomes], indent=1, allow_nan=False)
        write_text(self.path, text + "\n")
        self._last = now
