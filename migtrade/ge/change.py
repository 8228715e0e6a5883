"""The counterfactual change of a regressor: ``"VAR = VALUE [if CONDITION]"``.

``rta = 0 if exporter in ('CAN', 'MEX', 'USA') and importer in ('CAN', 'MEX', 'USA')`` sets the
RTA dummy to zero for the NAFTA pairs; ``intl_brdr = 0`` removes the border everywhere. Several
changes are separated by ``;`` and applied in order. The condition is a filter of
:mod:`migtrade.spec.where` (nothing in it is run as Python); the value is a number.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from migtrade.errors import DataError, UsageError
from migtrade.spec.design import column_not_found
from migtrade.spec.where import where_mask

_SYNTAX = ('Write --change "VAR = VALUE [if CONDITION]", e.g. "rta = 0 if exporter in (\'CAN\', '
           '\'MEX\') and importer in (\'CAN\', \'MEX\')"; several separated by ";".')
_HEAD = re.compile(r"^\s*(?:`(?P<quoted>[^`]+)`|(?P<name>[A-Za-z_][A-Za-z0-9_.]*))\s*=(?!=)\s*(?P<rest>.*)$",
                   re.DOTALL)
# " if " outside quotes separates the value from the condition.
_IF = re.compile(r"\s+if\s+")


@dataclass(frozen=True)
class Change:
    """One assignment, as parsed."""

    column: str
    value: float
    condition: str | None
    text: str

    def rows(self, frame: pd.DataFrame) -> np.ndarray:
        """The rows the condition selects (all rows when there is none)."""
        if self.condition is None:
            return np.ones(len(frame), dtype=bool)
        return where_mask(frame, self.condition)


def parse_changes(text: str) -> tuple[Change, ...]:
    """Parse ``"VAR = VALUE [if CONDITION]"``, several separated by ``;``.

    Raises
    ------
    UsageError
        When a piece does not have that form or its value is not a number.
    """
    pieces = [p.strip() for p in _split_outside_quotes(text, ";") if p.strip()]
    if not pieces:
        raise UsageError("--change is empty", _SYNTAX)
    return tuple(_parse_one(p) for p in pieces)


def _parse_one(piece: str) -> Change:
    head = _HEAD.match(piece)
    if head is None:
        raise UsageError(f"cannot parse the change '{piece}'", _SYNTAX)
    column = head.group("quoted") or head.group("name")
    rest = head.group("rest").strip()
    value_text, condition = rest, None
    for match in _IF.finditer(rest):
        if _outside_quotes(rest, match.start()):
            value_text, condition = rest[:match.start()].strip(), rest[match.end():].strip()
            break
    if condition is not None and not condition:
        raise UsageError(f"the change '{piece}' has 'if' without a condition", _SYNTAX)
    try:
        value = float(value_text)
    except ValueError:
        raise UsageError(f"the value '{value_text}' in the change '{piece}' is not a number",
                         _SYNTAX) from None
    if not np.isfinite(value):
        raise UsageError(f"the value in the change '{piece}' is not finite", _SYNTAX)
    return Change(column=column, value=value, condition=condition, text=piece)


def apply_changes(frame: pd.DataFrame, changes: Iterable[Change], regressor_columns: Iterable[str],
                  ) -> tuple[pd.DataFrame, np.ndarray]:
    """The frame with the changes applied, and which rows any change altered.

    Raises
    ------
    UsageError
        When a change names a column the model's regressors do not read.
    DataError
        When the column is not in the data.
    """
    allowed = set(regressor_columns)
    out = frame.copy()
    touched = np.zeros(len(frame), dtype=bool)
    for change in changes:
        if change.column not in frame.columns:
            raise column_not_found(change.column, frame.columns)
        if change.column not in allowed:
            raise UsageError(
                f"the change '{change.text}' sets '{change.column}', which no regressor of the "
                "formula reads",
                f"Change one of: {', '.join(sorted(allowed)) or '(the formula has no regressors)'}.")
        rows = change.rows(out)
        old = pd.to_numeric(out[change.column], errors="coerce").to_numpy(dtype=float)
        new = old.copy()
        new[rows] = change.value
        differs = rows & ~np.isclose(old, new, rtol=0, atol=0)
        touched |= differs
        out[change.column] = new
    return out, touched


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts, start = [], 0
    for k, ch in enumerate(text):
        if ch == sep and _outside_quotes(text, k):
            parts.append(text[start:k])
            start = k + 1
    parts.append(text[start:])
    return parts


def _outside_quotes(text: str, position: int) -> bool:
    """Whether ``position`` is outside '...', "..." and `...` in ``text``."""
    quote = None
    for ch in text[:position]:
        if quote is None and ch in "'\"`":
            quote = ch
        elif ch == quote:
            quote = None
    return quote is None


def no_pair_touched(change_text: str, year: int) -> DataError:
    """The error for a change that alters no pair of the baseline year."""
    return DataError(
        f"the change '{change_text}' touches no pair in {year}: no row matches its condition "
        "with a different value",
        "Check the condition and the value (e.g. the pairs already have that value).")
