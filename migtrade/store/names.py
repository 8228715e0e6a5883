"""The rule for dataset names, and the message for a name the store does not hold."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

from migtrade.errors import DataError, UsageError

NAME_RULE = "lowercase letters, digits, '_', '-' and '.', starting with a letter or digit, at most 64 characters"
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")


def is_valid_name(name: str) -> bool:
    """Whether ``name`` follows :data:`NAME_RULE`."""
    return bool(_NAME.fullmatch(name))


def check_name(name: str) -> str:
    """Return ``name`` if it follows :data:`NAME_RULE`, else raise :class:`UsageError` quoting it.

    The rule keeps names usable unquoted in shells and as file names on every platform; a
    leading ``.`` or ``-`` is refused because it reads as a hidden file or an option.
    """
    if not isinstance(name, str) or not is_valid_name(name):
        raise UsageError(f"invalid dataset name {name!r}: use {NAME_RULE}",
                         "For example gravity_panel or wdi-gdp.2024.")
    return name


def ordered_suggestions(name: str, names: Sequence[str]) -> list[str]:
    """All ``names``, the ones close to ``name`` first (closest first), then the rest sorted."""
    close = difflib.get_close_matches(name, names, n=len(names) or 1, cutoff=0.6)
    return close + sorted(n for n in names if n not in close)


def unknown_dataset(name: str, names: Sequence[str], root: object) -> DataError:
    """The error for a name that is not in the store, listing what is (close matches first)."""
    if not names:
        return DataError(f"no stored dataset named '{name}': the store at '{root}' is empty",
                         "Fetch data first with `migtrade fetch`, or pass --store.")
    listed = ordered_suggestions(name, names)
    shown = ", ".join(listed[:20]) + (f" and {len(listed) - 20} more" if len(listed) > 20 else "")
    return DataError(f"no stored dataset named '{name}'; stored: {shown}",
                     "See `migtrade data list`.")
