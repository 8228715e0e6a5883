"""Turn a ``--data`` argument into a table and a description of where it came from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from migtrade.errors import DataError
from migtrade.store.files import read_table, sha256_of


def load_data(ref: str, columns: list[str] | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read ``ref`` (a file path) and describe it: path, sha256 and rows."""
    path = Path(ref).expanduser()
    if path.exists():
        frame = read_table(path, columns=columns)
        return frame, {"path": str(path), "sha256": sha256_of(path), "rows": len(frame)}
    if any(sep in ref for sep in ("/", "\\")) or "." in Path(ref).name:
        raise DataError(f"data file '{ref}' does not exist", "Check the path given to --data.")
    raise DataError(
        f"no file or stored dataset named '{ref}'",
        "Give the path of a CSV, gzip CSV, Parquet or Stata file to --data.",
    )
