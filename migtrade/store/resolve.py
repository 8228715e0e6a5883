"""Turn a ``--data`` argument into a table and a description of where it came from.

``--data`` takes a file path or the name of a dataset in the local store. An existing file wins,
so a file that happens to be named like a dataset is still read as a file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from migtrade.errors import DataError, UsageError
from migtrade.store.files import FORMATS, read_table, sha256_of, start_sha256

if TYPE_CHECKING:
    import pandas as pd

    from migtrade.store.catalog import Store
    from migtrade.table import ColumnTable

_PATH_HINT = "Give the path of a CSV, gzip CSV, Parquet or Stata file, or the name of a stored dataset " \
             "(see `migtrade data list`)."


def _looks_like_path(ref: str) -> bool:
    return any(sep in ref for sep in ("/", "\\")) or ref.lower().endswith(
        tuple(f".{ext}" for ext in (*FORMATS, "tsv", "tsv.gz", "txt", "pq")))


@overload
def load_data(ref: str, columns: list[str] | None = None, *,
              store: Store | str | Path | None = None,
              arrays: Literal[False] = False) -> tuple[pd.DataFrame, dict[str, Any]]: ...


@overload
def load_data(ref: str, columns: list[str] | None = None, *,
              store: Store | str | Path | None = None,
              arrays: bool) -> tuple[pd.DataFrame | ColumnTable, dict[str, Any]]: ...


def load_data(ref: str, columns: list[str] | None = None, *,
              store: Store | str | Path | None = None,
              arrays: bool = False) -> tuple[pd.DataFrame | ColumnTable, dict[str, Any]]:
    """Read ``ref``, a file path or a stored dataset name, and describe where the data came from.

    Parameters
    ----------
    ref
        Path of a data file, or name of a dataset in the store. An existing file is read first.
    columns
        Read only these columns where possible; names the data lacks are skipped, so that the
        caller can report them together with the formula that asked for them.
    store
        A :class:`~migtrade.store.catalog.Store`, or its folder; None means the default store
        (``$MIGTRADE_STORE`` or the per-user data folder).
    arrays
        With ``columns``, a Parquet file is read into a :class:`~migtrade.table.ColumnTable`
        where its columns allow, without pandas (``read_table``).

    Returns
    -------
    frame, info
        ``info`` is ``{"path", "sha256", "rows"}`` for a file (sha256 of the file) and
        ``{"dataset", "sha256", "rows", "provenance"}`` for a stored dataset (sha256 of the
        stored Parquet file, provenance as :meth:`Provenance.to_dict` gives it).

    Raises
    ------
    DataError
        If ``ref`` is neither an existing file nor a stored dataset, or cannot be read.
    """
    path = Path(ref).expanduser()
    if path.exists():
        digest = start_sha256(path) if path.is_file() else None  # beside the read
        frame = read_table(path, columns=columns, arrays=arrays)
        return frame, {"path": str(path), "sha256": digest() if digest else sha256_of(path),
                       "rows": len(frame)}

    from migtrade.store.catalog import Store
    from migtrade.store.names import is_valid_name, ordered_suggestions

    if not is_valid_name(ref):
        if _looks_like_path(ref):
            raise DataError(f"data file '{ref}' does not exist", _PATH_HINT)
        raise DataError(f"no file or stored dataset named '{ref}'", _PATH_HINT)
    st = store if isinstance(store, Store) else Store(store)
    stored = st.list()
    found = next((i for i in stored if i.name == ref), None)
    if found is None:
        what = f"data file '{ref}' does not exist" if _looks_like_path(ref) else \
            f"no file or stored dataset named '{ref}'"
        names = ordered_suggestions(ref, [i.name for i in stored])
        where = f"the store at '{st.root}' holds " + (", ".join(names[:10]) if names else "nothing")
        raise DataError(f"{what} ({where})", _PATH_HINT)
    wanted = None if columns is None else [c for c in dict.fromkeys(columns) if c in found.columns]
    frame, info = st.read_with_info(ref, wanted)
    return frame, {"dataset": info.name, "sha256": info.file_sha256, "rows": info.rows,
                   "provenance": info.provenance.to_dict()}


class Loading:
    """:func:`load_data` running on a thread of its own; :meth:`result` waits for it."""

    def __init__(self, ref: str, columns: list[str] | None, store: Store | str | Path | None,
                 arrays: bool) -> None:
        import threading

        self._outcome: tuple[pd.DataFrame | ColumnTable, dict[str, Any]] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(ref, columns, store, arrays),
                                        name="migtrade-load", daemon=True)
        self._thread.start()

    def _run(self, ref: str, columns: list[str] | None, store: Store | str | Path | None,
             arrays: bool) -> None:
        try:
            self._outcome = load_data(ref, columns, store=store, arrays=arrays)
        except BaseException as exc:  # raised again, as it was, on the caller's thread
            self._error = exc

    def result(self) -> tuple[pd.DataFrame | ColumnTable, dict[str, Any]]:
        """What :func:`load_data` returned, or the error it raised."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._outcome is not None
        return self._outcome


def start_loading(ref: str, columns: list[str] | None = None, *,
                  store: Store | str | Path | None = None, arrays: bool = False) -> Loading:
    """Start :func:`load_data` on a second thread and return at once.

    Reading and decoding a Parquet file and hashing it run mostly outside the interpreter's
    lock (Arrow's decoders, hashlib), so a caller that imports its modules meanwhile overlaps
    the two on a second core: the fit's imports (scipy's special functions among them) and
    the read of 1.1 M rows take 0.1-0.2 s each.
    """
    return Loading(ref, columns, store, arrays)


# -- the Python API's ``data`` argument: a DataFrame besides a path or a dataset name -----------

DATA_ATTR = "migtrade_data"
"""The key of ``DataFrame.attrs`` holding where a frame came from."""

if TYPE_CHECKING:
    Data = pd.DataFrame | str | Path


def check_columns(frame: pd.DataFrame, what: str = "the data") -> None:
    """Refuse duplicate, empty or non-text column names, which no formula could name safely."""
    names = [str(c) for c in frame.columns]
    other = [f"{c!r}" for c in frame.columns if not isinstance(c, str)]
    if other:
        raise DataError(f"{what} has column names that are not text: {', '.join(other[:5])}",
                        "Name the columns with text, e.g. frame.columns = frame.columns.astype(str).")
    empty = [i + 1 for i, c in enumerate(frame.columns) if not c.strip()]
    if empty:
        raise DataError(f"{what} has columns without a name (position {', '.join(map(str, empty[:5]))})",
                        "Give every column a name.")
    seen: set[str] = set()
    repeated = sorted({c for c in names if c in seen or seen.add(c)})  # type: ignore[func-returns-value]
    if repeated:
        raise DataError(f"{what} has repeated column names: {', '.join(repeated[:5])}",
                        "Rename the columns so that each name is used once.")


def _fingerprint(frame: pd.DataFrame) -> str:
    """sha256 of the frame's column names and the row hashes of its values (index included)."""
    import pandas as pd

    digest = hashlib.sha256("\x1f".join(map(str, frame.columns)).encode())
    try:
        digest.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    except TypeError:  # unhashable cells (lists, dicts): fall back on their text
        digest.update(frame.to_csv().encode())
    return digest.hexdigest()


def resolve(data: Data, columns: Sequence[str] | None = None, *,
            store: str | Path | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The frame behind ``data`` and a description of where it came from (the JSON ``data``)."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        check_columns(data)
        info = data.attrs.get(DATA_ATTR)
        if isinstance(info, Mapping) and info.get("rows") == len(data):
            return data, dict(info)
        return data, {"description": "pandas DataFrame", "sha256": _fingerprint(data),
                      "rows": len(data)}
    if isinstance(data, str | Path):
        frame, info = load_data(str(data), list(columns) if columns is not None else None, store=store)
        if columns is not None and not set(columns) <= set(frame.columns):
            frame, info = load_data(str(data), store=store)  # read whole, so errors list every column
        check_columns(frame, f"'{data}'")
        return frame, info
    raise UsageError(f"data must be a pandas DataFrame, a file path or a stored dataset name, "
                     f"not {type(data).__name__}", "Pass a DataFrame or a path.")
