"""One error tree for everything a user can get wrong, and the exit code of each.

A command turns a :class:`MigtradeError` into one line on stderr and its exit code; any other
exception is a bug in migtrade and keeps its traceback.

Exit codes (stable; scripts may rely on them):

====  =====================================================================
0     success
1     an unexpected internal error (a bug: please report it with the traceback)
2     usage or data error: bad formula, bad option, missing column, unreadable file
3     network or data-source error: unreachable host, HTTP failure, bad payload
4     estimation failure: nothing left to estimate, every regressor absorbed
5     did not converge: the inner demeaning or the outer IRLS loop hit its limit
6     a check failed: a verdict or a reproduced number differs from what was expected
7     some sectors of a split run failed; the others are saved
====  =====================================================================
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import ParamSpec, TypeVar


class MigtradeError(Exception):
    """Base of every error caused by the user's input or environment."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """The message and, when there is one, what to do about it, on a single line."""
        text = self.message.replace("\n", " ").strip()
        if self.hint:
            text = f"{text.rstrip('.')}. {self.hint.strip()}"
        return text


class UsageError(MigtradeError):
    """An option, formula or filter that cannot be understood."""


class FormulaError(UsageError):
    """A model formula that does not parse or names something that does not exist."""


class DataError(MigtradeError):
    """Input data that cannot be read or does not fit the model."""


class SourceError(MigtradeError):
    """A data source that cannot be reached or returned something unusable."""

    exit_code = 3


class EstimationError(MigtradeError):
    """A model that cannot be estimated on the data given."""

    exit_code = 4


class ConvergenceError(EstimationError):
    """An iterative algorithm that did not reach its tolerance."""

    exit_code = 5


class CheckFailed(MigtradeError):
    """An expectation set by the user (a verdict, a reproduced number) did not hold."""

    exit_code = 6


# -- the Python API's words ---------------------------------------------------------------------
# Messages and hints were written for the command line ("Raise --maxiter"); raised through the
# Python API they name the keyword instead ("Raise maxiter"). The error keeps its class and exit
# code, so that `except migtrade.UsageError` works the same from a notebook and a script.

P = ParamSpec("P")
R = TypeVar("R")

# "--fe-maxiter" -> "fe_maxiter"; "--impose-null/--no-impose-null" -> "impose_null".
_FLAG = re.compile(r"(?<![\w-])--([a-z][a-z0-9]*(?:-[a-z0-9]+)*)(?:/--no-[a-z0-9-]+)?")


def in_api_words(text: str | None) -> str | None:
    """``text`` with each ``--flag-name`` written as the keyword ``flag_name``."""
    return None if text is None else _FLAG.sub(lambda m: m.group(1).replace("-", "_"), text)


def speaks_python(function: Callable[P, R]) -> Callable[P, R]:
    """Re-raise the package's errors from ``function`` with keywords in place of flags."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except MigtradeError as err:
            err.message = in_api_words(err.message) or ""
            err.hint = in_api_words(err.hint)
            err.args = (err.message, *err.args[1:])
            raise

    return wrapper
