"""The numeric arrays of a model: outcome, regressors, instruments and fixed-effect codes.

Everything is vectorised: expressions are evaluated column-wise with numpy, factor levels come
sorted (as ``pd.factorize(sort=True)`` gives them; :mod:`migtrade.table`), and a combined fixed
effect ``a^b`` is the factorisation of the pair of integer codes rather than of concatenated
strings, which keeps two million rows fast.
Rows are never dropped here; :attr:`Design.missing` flags the rows an estimator must leave out.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from migtrade.errors import DataError, FormulaError
from migtrade.spec.expr import Binary, Call, Column, Expr, Number, Unary, format_level, quote_name
from migtrade.spec.formula import ModelSpec, Term
from migtrade.table import ColumnTable, view_of

if TYPE_CHECKING:
    import pandas as pd

INTERCEPT = "(Intercept)"
_MAX_LISTED = 15
_FUNCTIONS = {"log": np.log, "log1p": np.log1p, "exp": np.exp, "sqrt": np.sqrt, "abs": np.abs}
_BINARY = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "**": np.power}


@dataclass(frozen=True)
class Design:
    """The arrays of one model on one data set, row-aligned with the frame they came from.

    Non-finite values (a missing input, ``log(0)``, a division by zero) are NaN everywhere, and
    ``missing`` marks every row with such a value or with a missing fixed-effect level.
    """

    y: np.ndarray
    X: np.ndarray
    names: tuple[str, ...]
    endog: np.ndarray
    endog_names: tuple[str, ...]
    instruments: np.ndarray
    instrument_names: tuple[str, ...]
    fe_codes: tuple[np.ndarray, ...]
    fe_names: tuple[str, ...]
    missing: np.ndarray
    outcome_infinite: np.ndarray  # rows whose outcome evaluated to +-inf (counted in missing)

    def select(self, rows: np.ndarray) -> Design:
        """The same design on a subset of rows, e.g. ``design.select(~design.missing)``.

        Parameters
        ----------
        rows
            A boolean mask of length n, or integer row positions.

        Returns
        -------
        Design
            Fixed-effect codes are renumbered 0..G-1 over the levels that remain (keeping their
            sorted order), as estimators that absorb them expect every level to be present.
        """
        codes = []
        for fe in self.fe_codes:
            kept = fe[rows]
            valid = kept >= 0
            renumbered = np.full(kept.shape, -1, dtype=np.int64)
            renumbered[valid] = np.unique(kept[valid], return_inverse=True)[1]
            codes.append(renumbered)
        return Design(
            y=self.y[rows],
            X=np.asfortranarray(self.X[rows]),
            names=self.names,
            endog=np.asfortranarray(self.endog[rows]),
            endog_names=self.endog_names,
            instruments=np.asfortranarray(self.instruments[rows]),
            instrument_names=self.instrument_names,
            fe_codes=tuple(codes),
            fe_names=self.fe_names,
            missing=self.missing[rows],
            outcome_infinite=self.outcome_infinite[rows],
        )


def column_not_found(name: str, available: Iterable[object]) -> DataError:
    """The error for a column that is not in the data, listing close matches first.

    Parameters
    ----------
    name
        The column asked for.
    available
        The columns the data has.

    Returns
    -------
    DataError
        To be raised by the caller.
    """
    columns = [str(c) for c in available]
    close = difflib.get_close_matches(name, columns, n=5, cutoff=0.6)
    ordered = close + [c for c in columns if c not in close]
    listing = ", ".join(ordered[:_MAX_LISTED]) or "(none)"
    if len(ordered) > _MAX_LISTED:
        listing += f", ... ({len(ordered) - _MAX_LISTED} more)"
    hint = (
        f"Did you mean '{close[0]}'?"
        if close
        else "Check the spelling; write names with spaces or symbols in backticks: `trade value`."
    )
    return DataError(f"column '{name}' not found in the data; available columns: {listing}", hint)


def build_design(spec: ModelSpec, frame: pd.DataFrame | ColumnTable) -> Design:
    """Evaluate the outcome, regressors, instruments and fixed effects of a model.

    Parameters
    ----------
    spec
        The parsed formula.
    frame
        The data, already filtered to the rows to use: factor levels are those present here.

    Returns
    -------
    Design
        Arrays of length ``len(frame)``; rows with a missing value are flagged, not dropped.

    Raises
    ------
    DataError
        When a column is missing, a regressor is not numeric, or an ``i()`` reference level is
        not among the levels in the data.
    FormulaError
        When ``i()`` terms expand to the same coefficient name twice.
    """
    data = _Data(frame)
    for name in spec.ordered_columns():
        data.require(name)
    y_raw = data.evaluate(spec.outcome, "the outcome")
    y = _finite(y_raw)
    X, names = _block(data, spec.terms, "a regressor", spec.intercept)
    endog, endog_names = _block(data, spec.endogenous, "an endogenous regressor", False)
    instr, instr_names = _block(data, spec.instruments, "an instrument", False)
    seen: set[str] = set()
    for name in (*names, *endog_names):
        if name in seen:
            raise FormulaError(
                f"coefficient '{name}' appears twice in formula '{spec.formula}'",
                "Give overlapping i() terms different ref= levels, or drop one of them.",
            )
        seen.add(name)
    fe_codes = tuple(data.fixed_effect(fe.variables) for fe in spec.fixed_effects)
    missing = np.isnan(y)
    for block in (X, endog, instr):
        for j in range(block.shape[1]):
            missing |= np.isnan(block[:, j])
    for codes in fe_codes:
        missing |= codes < 0
    return Design(
        y=y,
        X=X,
        names=names,
        endog=endog,
        endog_names=endog_names,
        instruments=instr,
        instrument_names=instr_names,
        fe_codes=fe_codes,
        fe_names=tuple(fe.name for fe in spec.fixed_effects),
        missing=missing,
        outcome_infinite=np.isinf(y_raw),
    )


def _finite(values: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(values), values, np.nan)


def _block(
    data: _Data, terms: Sequence[Term], role: str, intercept: bool
) -> tuple[np.ndarray, tuple[str, ...]]:
    """The columns of a list of terms, written straight into one Fortran-ordered array."""
    factors = {i: _levels_kept(data, t) for i, t in enumerate(terms) if t.is_factor}
    names: list[str] = [INTERCEPT] if intercept else []
    for i, term in enumerate(terms):
        names.extend(term.names(factors[i][1]) if i in factors else term.names())
    X = np.empty((data.n, len(names)), dtype=np.float64, order="F")
    start = 0
    if intercept:
        X[:, 0] = 1.0
        start = 1
    for i, term in enumerate(terms):
        if i in factors:
            width = _write_factor(data, term, factors[i][0], X[:, start:], role)
        else:
            product = data.evaluate(term.factors[0], role)
            for factor in term.factors[1:]:
                product = product * data.evaluate(factor, role)
            X[:, start] = product
            width = 1
        for j in range(start, start + width):
            column = X[:, j]
            column[~np.isfinite(column)] = np.nan
        start += width
    return X, tuple(names)


def _levels_kept(data: _Data, term: Term) -> tuple[np.ndarray, list[object]]:
    """For an ``i()`` term: the column of each level (-1 when left out) and the levels kept."""
    assert term.factor_var is not None
    _, levels = data.factor(term.factor_var)
    labels = [format_level(v) for v in levels]
    if len(set(labels)) < len(labels):
        raise DataError(
            f"levels of column '{term.factor_var}' print identically (e.g. 1 and '1')",
            "Give the column a single type before using it in i().",
        )
    if term.ref is None:
        dropped = set(labels[:1]) if not term.factors else set()
    else:
        dropped = {format_level(r) for r in term.ref}
        unknown = sorted(dropped - set(labels))
        if unknown:
            shown = ", ".join(labels[:_MAX_LISTED]) + (", ..." if len(labels) > _MAX_LISTED else "")
            raise DataError(
                f"reference level '{unknown[0]}' of {term.name} is not a level of column "
                f"'{term.factor_var}' in the data: {shown}",
                "Pick ref= among the observed levels.",
            )
    keep = np.array([label not in dropped for label in labels], dtype=bool)
    position = np.full(len(labels), -1, dtype=np.int64)
    position[keep] = np.arange(int(keep.sum()))
    return position, [v for v, k in zip(levels, keep, strict=True) if k]


def _write_factor(data: _Data, term: Term, position: np.ndarray, out: np.ndarray, role: str) -> int:
    """Fill the dummy (or dummy-times-variable) columns of an ``i()`` term at the left of out."""
    assert term.factor_var is not None
    codes, _ = data.factor(term.factor_var)
    width = int((position >= 0).sum())
    block = out[:, :width]
    block[:] = 0.0
    column = np.where(codes >= 0, position[codes], -1)
    rows = np.flatnonzero(column >= 0)
    bad = codes < 0
    if term.factors:
        by = data.evaluate(term.factors[0], role)
        block[rows, column[rows]] = by[rows]
        bad |= ~np.isfinite(by)
    else:
        block[rows, column[rows]] = 1.0
    block[bad, :] = np.nan
    return width


class _Data:
    """Column access with caches, so a column used several times is converted only once."""

    def __init__(self, frame: pd.DataFrame | ColumnTable) -> None:
        self.table = view_of(frame)
        self.n = len(self.table)
        self._numeric: dict[str, np.ndarray] = {}
        self._factors: dict[str, tuple[np.ndarray, list[object]]] = {}

    def require(self, name: str) -> None:
        columns = self.table.names
        if name not in columns:
            raise column_not_found(name, columns)
        if columns.count(name) > 1:
            raise DataError(
                f"column '{name}' appears more than once in the data", "Rename the duplicates."
            )

    def numeric(self, name: str, role: str) -> np.ndarray:
        if name not in self._numeric:
            if not self.table.is_numeric(name):
                hint = "Convert it to numbers in the data first."
                if role != "the outcome":
                    var = quote_name(name)
                    hint = (
                        f"For a categorical variable write i({var}), or make it a fixed effect "
                        f"(| {var})."
                    )
                raise DataError(
                    f"column '{name}' is not numeric (dtype {self.table.dtype_name(name)}) and "
                    f"cannot be {role}",
                    hint,
                )
            self._numeric[name] = self.table.numeric(name)
        return self._numeric[name]

    def evaluate(self, expr: Expr, role: str) -> np.ndarray:
        """The values of an expression, as float64 of length n (non-finite where undefined)."""
        with np.errstate(all="ignore"):
            return np.asarray(self._eval(expr, role), dtype=np.float64)

    def _eval(self, expr: Expr, role: str) -> np.ndarray:
        if isinstance(expr, Column):
            return self.numeric(expr.name, role)
        if isinstance(expr, Number):
            return np.full(self.n, float(expr.value))
        if isinstance(expr, Unary):
            operand = self._eval(expr.operand, role)
            return -operand if expr.op == "-" else operand
        if isinstance(expr, Binary):
            result: np.ndarray = _BINARY[expr.op](
                self._eval(expr.left, role), self._eval(expr.right, role)
            )
            return result
        if isinstance(expr, Call):
            value: np.ndarray = _FUNCTIONS[expr.func](self._eval(expr.arg, role))
            return value
        raise TypeError(f"unknown expression node {type(expr).__name__}")

    def factor(self, name: str) -> tuple[np.ndarray, list[object]]:
        """Codes 0..G-1 in sorted level order (-1 where missing) and the G levels."""
        if name not in self._factors:
            integers = self.table.plain_integers(name)
            dense = _dense_codes(integers) if integers is not None else None
            if dense is not None:
                self._factors[name] = (dense[0], dense[1].tolist())
                return self._factors[name]
            try:
                self._factors[name] = self.table.sorted_codes(name)
            except TypeError as exc:
                raise DataError(
                    f"the values of column '{name}' cannot be sorted into levels ({exc})",
                    "Give the column a single type, e.g. all text or all numbers.",
                ) from exc
        return self._factors[name]

    def fixed_effect(self, variables: Sequence[str]) -> np.ndarray:
        """Codes of one fixed effect; combinations are one level per observed tuple of values."""
        # The factor's own codes: nothing downstream writes into a design's codes (the sample
        # takes 32-bit copies), and each combination below makes a new array.
        codes = self.factor(variables[0])[0]
        for name in variables[1:]:
            other, levels = self.factor(name)
            width = max(len(levels), 1)
            # Lexicographic keys: refactorising them in sorted order keeps the levels sorted.
            # Without a missing value (the usual case) the key is made and replaced by its
            # codes in one array: at ten million rows each fresh array's pages cost as much
            # as the arithmetic.
            if codes.size and int(codes.min()) >= 0 and int(other.min()) >= 0:
                key = np.multiply(codes, width, dtype=np.int64)
                key += other
                dense = _dense_codes(key, in_place=True)
                codes = dense[0] if dense is not None else \
                    np.unique(key, return_inverse=True)[1].astype(np.int64)
                continue
            key = codes * width + other
            valid = (codes >= 0) & (other >= 0)
            kept = key[valid]
            dense = _dense_codes(kept)
            found = dense[0] if dense is not None else np.unique(kept, return_inverse=True)[1]
            codes = np.full(self.n, -1, dtype=np.int64)
            codes[valid] = found
        return codes


def _dense_codes(values: np.ndarray, *,
                 in_place: bool = False) -> tuple[np.ndarray, np.ndarray] | None:
    """Codes in sorted level order, and the levels, of integers whose range is at most a few
    times their number; None for a wider range. ``in_place``: ``values`` (int64) becomes the
    codes.

    A table of the values present and its running count give each value its rank in one pass,
    where hashing and sorting (``pd.factorize(sort=True)``) cost several: measured on ten million
    combined exporter-year keys, 0.08 s instead of 0.74 s.
    """
    if not values.size:
        return None
    low, high = int(values.min()), int(values.max())
    if high - low > 4 * values.size + 1024:
        return None
    # Shifted (in 64 bits, which cannot overflow) only when the values do not start at 0;
    # indexing takes any integer type.
    if in_place:
        shifted = values
        if low:
            shifted -= low
    elif low:
        shifted = values.astype(np.int64)
        shifted -= low
    else:
        shifted = values
    present = np.zeros(high - low + 1, dtype=bool)
    present[shifted] = True
    rank = np.cumsum(present, dtype=np.int64) - 1
    levels = np.flatnonzero(present) + low
    if shifted is values and not in_place:
        return rank[shifted], levels
    # The ranks gathered into the array of shifted values itself ("clip": unbuffered, and every
    # index is in range).
    return np.take(rank, shifted, out=shifted, mode="clip"), levels
