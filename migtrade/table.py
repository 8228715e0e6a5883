"""A data table as the engine reads it: numeric arrays and integer codes, from pandas or without it.

Notes
-----
A model needs of its data only numeric columns as float arrays and the integer codes of the
columns that are fixed effects, clusters or factors. :class:`ColumnTable` holds a Parquet file's
columns as exactly that, read by Arrow without pandas: importing pandas costs 0.25-0.3 s, a third
of a log-OLS estimate on a million rows. :func:`view_of` gives the engine one interface
(:class:`TableView`) over a :class:`ColumnTable` and over a pandas DataFrame (the Python API's
input), and both give the same arrays and codes:

* numbers as float64 with NaN where missing;
* levels in sorted order (``pd.factorize(sort=True)``): a categorical column's in the order of
  its categories, a text column's in code-point order, numbers by value;
* clusters numbered by first appearance (``pd.factorize``), and combinations ``a^b`` by the
  first appearance of each observed pair (``groupby(sort=False).ngroup()``), -1 where missing:
  the order in which clusters are summed, so the last digits of a standard error, depend on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

# Integer values whose range is at most this many times their count (plus a constant) are coded
# through a table indexed by value (one pass) instead of a sort.
DENSE_RANGE = 4


@dataclass(frozen=True)
class Coded:
    """A text or categorical column as codes into its levels (-1 where missing).

    ``categorical``: the levels are in their own order (a Parquet dictionary, pandas' categories),
    which sorting follows; otherwise they are text, codes numbered by first appearance.
    """

    codes: np.ndarray
    levels: np.ndarray  # object array of str
    categorical: bool

    @property
    def dtype_name(self) -> str:
        """The dtype pandas gives the column, for messages."""
        return "category" if self.categorical else "str"


class TableView(Protocol):
    """What the engine reads of a table (see the module notes)."""

    @property
    def names(self) -> list[str]: ...

    def __len__(self) -> int: ...

    def dtype_name(self, name: str) -> str: ...

    def is_numeric(self, name: str) -> bool: ...

    def numeric(self, name: str) -> np.ndarray:
        """The column as float64: the table's own array where it is one (read, never write)."""
        ...

    def plain_integers(self, name: str) -> np.ndarray | None: ...

    def sorted_codes(self, name: str) -> tuple[np.ndarray, list[object]]: ...

    def appearance_codes(self, name: str) -> np.ndarray: ...


class ColumnTable:
    """Columns of one length: numeric NumPy arrays (no missing integers or booleans) and
    :class:`Coded` text or categorical columns."""

    def __init__(self, columns: dict[str, np.ndarray | Coded], rows: int) -> None:
        self._columns = columns
        self._rows = rows

    @property
    def columns(self) -> list[str]:
        """The column names, in the file's order."""
        return list(self._columns)

    @property
    def names(self) -> list[str]:
        return list(self._columns)

    def __len__(self) -> int:
        return self._rows

    def clear(self) -> None:
        """Let every column go (the caller has taken what it needs)."""
        self._columns.clear()

    def to_pandas(self) -> pd.DataFrame:
        """The same table as a DataFrame (for the rare paths that work on pandas)."""
        import pandas as pd

        data: dict[str, Any] = {}
        for name, col in self._columns.items():
            if isinstance(col, Coded):
                if col.categorical:
                    data[name] = pd.Categorical.from_codes(col.codes, categories=pd.Index(col.levels.tolist()))
                else:
                    values = col.levels[np.maximum(col.codes, 0)]
                    data[name] = pd.Series(np.where(col.codes >= 0, values, None), dtype="str")
            else:
                data[name] = col
        return pd.DataFrame(data, index=pd.RangeIndex(self._rows))

    # -- TableView ------------------------------------------------------------------------------

    def dtype_name(self, name: str) -> str:
        col = self._columns[name]
        return col.dtype_name if isinstance(col, Coded) else str(col.dtype)

    def is_numeric(self, name: str) -> bool:
        return not isinstance(self._columns[name], Coded)

    def numeric(self, name: str) -> np.ndarray:
        col = self._columns[name]
        assert not isinstance(col, Coded)
        # A float64 column is returned as it is, as a DataFrame's is (``to_numpy`` gives a
        # view): readers never write into it, and a copy costs its fresh pages.
        return col.astype(np.float64, copy=False)

    def plain_integers(self, name: str) -> np.ndarray | None:
        col = self._columns[name]
        return col if isinstance(col, np.ndarray) and col.dtype.kind in "iu" else None

    def sorted_codes(self, name: str) -> tuple[np.ndarray, list[object]]:
        col = self._columns[name]
        if isinstance(col, Coded):
            complete = not col.codes.size or int(col.codes.min()) >= 0
            if col.categorical:
                # The categories present, in the categories' order.
                present = np.zeros(len(col.levels), dtype=bool)
                present[col.codes if complete else col.codes[col.codes >= 0]] = True
                levels = col.levels[present].tolist()
                if complete and present.all():
                    return col.codes.astype(np.int64), levels
                rank = np.cumsum(present, dtype=np.int64) - 1
                if complete:
                    return rank[col.codes], levels
                codes = np.where(col.codes >= 0, rank[np.maximum(col.codes, 0)], -1)
                return codes, levels
            order = np.argsort(col.levels, kind="stable")  # code-point order of the text
            rank = np.empty(len(order), dtype=np.int64)
            rank[order] = np.arange(len(order))
            codes = np.where(col.codes >= 0, rank[np.maximum(col.codes, 0)], -1)
            return codes, col.levels[order].tolist()
        return sorted_levels(col)

    def appearance_codes(self, name: str) -> np.ndarray:
        col = self._columns[name]
        if isinstance(col, Coded):
            if col.categorical:
                return first_appearance(col.codes, col.codes < 0)
            return col.codes.astype(np.int64)
        return first_appearance(col)


def sorted_levels(values: np.ndarray) -> tuple[np.ndarray, list[object]]:
    """Codes in sorted level order (-1 where NaN) and the levels of a numeric array."""
    valid = ~np.isnan(values) if values.dtype.kind == "f" else None
    kept = values if valid is None or valid.all() else values[valid]
    levels, inverse = np.unique(kept, return_inverse=True)
    if kept is values:
        return inverse.astype(np.int64), levels.tolist()
    codes = np.full(values.shape[0], -1, dtype=np.int64)
    codes[valid] = inverse
    return codes, levels.tolist()


def first_appearance(values: np.ndarray, missing: np.ndarray | None = None) -> np.ndarray:
    """Codes numbered by first appearance, as ``pd.factorize`` gives them, -1 where ``missing``
    (and where a float is NaN)."""
    n = values.shape[0]
    if values.dtype.kind == "f":
        nan = np.isnan(values)
        missing = nan if missing is None else missing | nan
    if missing is not None and not missing.any():
        missing = None
    if missing is not None and missing.all():
        return np.full(n, -1, dtype=np.int64)
    if values.dtype.kind in "iu" and n:
        present_values = values if missing is None else values[~missing]
        low, high = int(present_values.min()), int(present_values.max())
        if high - low <= DENSE_RANGE * n + 1024:
            shifted = values.astype(np.int64) - low
            if missing is not None:
                shifted[missing] = 0  # any slot: these rows are -1 in the end
            first = np.full(high - low + 1, n, dtype=np.int64)
            # Assigned in reverse, the last write (NumPy's documented rule for repeated
            # indices) is each value's first row.
            rows = np.arange(n - 1, -1, -1, dtype=np.int64)
            if missing is None:
                first[shifted[::-1]] = rows
            else:
                keep = ~missing[::-1]
                first[shifted[::-1][keep]] = rows[keep]
            present = np.flatnonzero(first < n)
            table = np.full(first.shape[0], -1, dtype=np.int64)
            table[present[np.argsort(first[present], kind="stable")]] = np.arange(present.size)
            codes = table[shifted]
            return codes if missing is None else np.where(missing, -1, codes)
    kept = values if missing is None else values[~missing]
    _, first_rows, inverse = np.unique(kept, return_index=True, return_inverse=True)
    rank = np.empty(first_rows.size, dtype=np.int64)
    rank[np.argsort(first_rows, kind="stable")] = np.arange(first_rows.size)
    if missing is None:
        return rank[inverse]
    codes = np.full(n, -1, dtype=np.int64)
    codes[~missing] = rank[inverse]
    return codes


def combined_appearance(parts: Sequence[np.ndarray]) -> np.ndarray:
    """Codes of the observed combinations of several code arrays (each numbered from 0, -1 where
    missing), by first appearance; -1 where any part is missing."""
    key = np.zeros(parts[0].shape[0], dtype=np.int64)
    missing = np.zeros(parts[0].shape[0], dtype=bool)
    for codes in parts:
        width = int(codes.max()) + 1 if codes.size else 1
        key = key * max(width, 1) + np.maximum(codes, 0)
        missing |= codes < 0
    return first_appearance(key, missing)


class FrameView:
    """A pandas DataFrame as a :class:`TableView`."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame

    @property
    def names(self) -> list[str]:
        return list(self.frame.columns)

    def __len__(self) -> int:
        return len(self.frame)

    def dtype_name(self, name: str) -> str:
        return str(self.frame[name].dtype)

    def is_numeric(self, name: str) -> bool:
        import pandas as pd

        dtype = self.frame[name].dtype
        return bool(pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype))

    def numeric(self, name: str) -> np.ndarray:
        return self.frame[name].to_numpy(dtype=np.float64, na_value=np.nan)

    def plain_integers(self, name: str) -> np.ndarray | None:
        # Plain NumPy integers only: a nullable integer column may hold missing values.
        column = self.frame[name]
        plain = isinstance(column.dtype, np.dtype) and column.dtype.kind in "iu"
        return column.to_numpy() if plain else None

    def sorted_codes(self, name: str) -> tuple[np.ndarray, list[object]]:
        import pandas as pd

        codes, uniques = pd.factorize(self.frame[name], sort=True)
        return np.asarray(codes, dtype=np.int64), list(uniques.tolist())

    def appearance_codes(self, name: str) -> np.ndarray:
        import pandas as pd

        return pd.factorize(self.frame[name], use_na_sentinel=True)[0].astype(np.int64)


def view_of(table: ColumnTable | pd.DataFrame) -> TableView:
    """The engine's view of ``table``."""
    return table if isinstance(table, ColumnTable) else FrameView(table)
