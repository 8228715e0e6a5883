"""Reading saved results for tables and plots: one result per file, or a list of them.

``migtrade estimate --save`` writes one ``migtrade.estimation/1`` object for one model and a JSON
list of them for several; both are read here, with one clear error for anything else.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from migtrade.errors import DataError
from migtrade.results.result import SCHEMA, EstimationResult

_FAMILY = SCHEMA.rsplit("/", 1)[0]
_HINT = "Pass a file written by 'migtrade estimate --save'."


def load_results(paths: Sequence[str | Path]) -> list[EstimationResult]:
    """All results in ``paths``, in order (a list file contributes each of its results).

    Raises
    ------
    DataError
        When a file is missing, unreadable, not JSON, not a migtrade result, of a newer schema
        version, or damaged; the message names the file.
    """
    out: list[EstimationResult] = []
    for path in paths:
        out.extend(load_result_file(path))
    return out


def load_result_file(path: str | Path) -> list[EstimationResult]:
    """The results in one file: a single object or a non-empty list of objects."""
    p = Path(path)
    obj = read_json_file(p, _HINT)
    items = obj if isinstance(obj, list) else [obj]
    if not items:
        raise DataError(f"'{p}' holds an empty list of results", _HINT)
    return [_result(item, p, i if isinstance(obj, list) else None) for i, item in enumerate(items)]


def read_json_file(p: Path, hint: str) -> Any:
    """The JSON value in a result file, or a DataError naming the file and ``hint``."""
    try:
        return json.loads(p.read_bytes())
    except FileNotFoundError:
        raise DataError(f"result file '{p}' does not exist", "Check the path.") from None
    except IsADirectoryError:
        raise DataError(f"'{p}' is a folder, not a result file", hint) from None
    except PermissionError:
        raise DataError(f"result file '{p}' cannot be read (permission denied)", "Check its permissions.") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise DataError(f"'{p}' is not a JSON file", hint) from None


def _result(obj: Any, path: Path, index: int | None) -> EstimationResult:
    where = f"'{path}'" if index is None else f"item {index + 1} of '{path}'"
    schema = obj.get("schema") if isinstance(obj, dict) else None
    if not isinstance(schema, str) or not schema.startswith(_FAMILY + "/"):
        raise DataError(f"{where} is not a migtrade estimation result (no '{SCHEMA}' schema)", _HINT)
    if schema != SCHEMA:
        version = schema.rsplit("/", 1)[1]
        if not (version.isdigit() and int(version) > int(SCHEMA.rsplit("/", 1)[1])):
            raise DataError(f"{where} has an unknown schema '{schema}'; this migtrade reads '{SCHEMA}'", _HINT)
        raise DataError(
            f"{where} has schema '{schema}'; this migtrade reads '{SCHEMA}'",
            "It was written by a newer migtrade: upgrade migtrade to read it.",
        )
    try:
        return EstimationResult.from_dict(obj)
    except (KeyError, TypeError, ValueError) as err:
        raise DataError(f"{where} is a damaged result file ({type(err).__name__}: {err})", _HINT) from None
