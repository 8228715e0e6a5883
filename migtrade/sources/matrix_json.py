"""Origin-by-destination matrices in the JSON layout of chord-diagram visualisations.

The UN DESA migrant stocks and the Abel–Cohen flows are also published (for example with
github.com/X80110/migration-visualization, ``json/stock.json`` and ``json/flow_*.json``) as one
JSON object::

    {"names": [...], "regions": [0, 52, ...], "matrix": {"1990": [[...], ...], ...}, ...}

``names`` lists regions and countries in one sequence: each region's name comes first, followed
by its countries. ``regions`` gives the positions of the region names. ``matrix`` maps a year
(the mid-year of a stock, the start of a five-year flow period) to a square matrix in the order
of ``names``, row = origin, column = destination; the region rows and columns hold aggregates,
not countries, and are set apart here. Other keys (flags, colours, totals) are for display and
are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from migtrade.errors import DataError

_HINT = "Give the JSON file as published, with 'names', 'regions' and 'matrix'."


@dataclass(frozen=True)
class MatrixFile:
    """The countries and the per-year matrices of one file, region rows and columns removed.

    Attributes
    ----------
    countries
        Country names, in matrix order.
    regions
        The region names that were set apart.
    matrices
        Year to a ``len(countries)`` square array, row = origin, column = destination.
    """

    countries: tuple[str, ...]
    regions: tuple[str, ...]
    matrices: dict[int, np.ndarray]

    def long(self, value: str, year: str) -> pd.DataFrame:
        """``origin, destination, <year>, <value>`` for every country pair with a positive value.

        Zero cells (and the diagonal, which the layout leaves at zero) are left out, as the
        sources leave out empty cells. Rows are in year, origin, destination order of the matrix.
        """
        parts = list(self._cells(value, year))
        if not parts:
            return pd.DataFrame({"origin": pd.Series(dtype="string"),
                                 "destination": pd.Series(dtype="string"),
                                 year: pd.Series(dtype="int64"), value: pd.Series(dtype="float64")})
        return pd.concat(parts, ignore_index=True)

    def _cells(self, value: str, year: str) -> Iterator[pd.DataFrame]:
        names = np.array(self.countries, dtype=object)
        for y, matrix in sorted(self.matrices.items()):
            rows, cols = np.nonzero(matrix > 0)
            yield pd.DataFrame({"origin": pd.array(names[rows], dtype="string"),
                                "destination": pd.array(names[cols], dtype="string"),
                                year: np.full(len(rows), y, dtype="int64"),
                                value: matrix[rows, cols].astype("float64")})


def looks_like_matrix_json(raw: bytes) -> bool:
    """Whether the bytes start as a JSON object (the layout is then checked by :func:`parse`)."""
    return raw.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"


def parse(raw: bytes, what: str) -> MatrixFile:
    """Read the JSON matrix layout.

    Parameters
    ----------
    raw
        The file's bytes (UTF-8).
    what
        What the file holds, for messages ("UN DESA stock JSON").

    Returns
    -------
    MatrixFile

    Raises
    ------
    DataError
        If the bytes are not JSON, keys are missing, a region position is out of range, a
        matrix is not square in the order of ``names``, or a cell is not a non-negative number.
    """
    try:
        doc = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{what}: not a JSON file ({exc})", _HINT) from None
    if not isinstance(doc, dict):
        raise DataError(f"{what}: expected a JSON object, found {type(doc).__name__}", _HINT)
    missing = [k for k in ("names", "regions", "matrix") if k not in doc]
    if missing:
        raise DataError(f"{what}: no {', '.join(repr(k) for k in missing)} in the JSON object", _HINT)
    names, regions, by_year = doc["names"], doc["regions"], doc["matrix"]
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise DataError(f"{what}: 'names' is not a list of names", _HINT)
    if not isinstance(regions, list) or not all(isinstance(r, int) and 0 <= r < len(names)
                                                for r in regions):
        raise DataError(f"{what}: 'regions' must list positions in 'names' (0 to {len(names) - 1})",
                        _HINT)
    if not isinstance(by_year, dict) or not by_year:
        raise DataError(f"{what}: 'matrix' is not an object of year -> matrix", _HINT)
    keep = np.array([i for i in range(len(names)) if i not in set(regions)], dtype=np.intp)
    matrices = {_year(key, what): _matrix(m, len(names), f"{what}, year {key}")[np.ix_(keep, keep)]
                for key, m in by_year.items()}
    return MatrixFile(countries=tuple(names[i] for i in keep),
                      regions=tuple(names[r] for r in regions), matrices=matrices)


def _year(key: str, what: str) -> int:
    text = str(key).strip()
    if not (text.isdigit() and len(text) == 4):
        raise DataError(f"{what}: matrix key '{key}' is not a year", _HINT)
    return int(text)


def _matrix(value: object, size: int, where: str) -> np.ndarray:
    if not isinstance(value, list) or len(value) != size or \
            not all(isinstance(row, list) and len(row) == size for row in value):
        raise DataError(f"{where}: the matrix is not {size} x {size}, the length of 'names'", _HINT)
    try:
        array = np.array(value, dtype="float64")
    except (TypeError, ValueError):
        raise DataError(f"{where}: a cell is not a number", _HINT) from None
    if not np.isfinite(array).all() or (array < 0).any():
        raise DataError(f"{where}: a cell is negative or not finite", _HINT)
    return array
