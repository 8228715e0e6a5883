"""A safe row filter: Python-like conditions evaluated on the columns of a DataFrame.

``exporter != importer and year in (1986, 1990)``, ``trade > 0``, ``iso3 == "MEX"``,
``log(dist) < 8``, ``not (cntg == 1) or year >= 2000``, ``notna(tariff)``.

The text goes through ``ast.parse`` (parsing runs nothing) and the tree is then checked against a
whitelist of node types before a small interpreter evaluates it with numpy and pandas; attribute
access, subscripts, lambdas, comprehensions and calls of anything but ``log``, ``abs``, ``isna``
and ``notna`` are refused. Column names that are not identifiers can be written in backticks.

A comparison involving a missing value is False, so ``x != 1`` keeps no row where x is missing;
``not`` simply negates (``not (x == 1)`` keeps them).
"""

from __future__ import annotations

import ast
import operator
import re
from typing import Any

import numpy as np
import pandas as pd

from migtrade.errors import UsageError
from migtrade.spec.design import column_not_found

FUNCTIONS = ("log", "abs", "isna", "notna")
_CONSTANT_TYPES = (bool, int, float, str)
_COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_ARITHMETIC = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.divide}
_FORBIDDEN = {
    ast.Attribute: "attribute access",
    ast.Subscript: "subscripts",
    ast.Lambda: "lambda",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions",
    ast.IfExp: "conditional expressions",
    ast.NamedExpr: "assignment expressions (:=)",
    ast.JoinedStr: "f-strings",
    ast.Starred: "starred expressions",
    ast.Dict: "dictionaries",
    ast.Set: "sets",
    ast.Await: "await",
}
_OPERATOR_HINTS = {
    ast.BitAnd: ("'&'", "Write 'and' instead of '&'."),
    ast.BitOr: ("'|'", "Write 'or' instead of '|'."),
    ast.Invert: ("'~'", "Write 'not' instead of '~'."),
}
_ALLOWED = (
    ast.BoolOp, ast.UnaryOp, ast.Compare, ast.BinOp, ast.Name, ast.Constant, ast.Tuple, ast.List,
    ast.Call, ast.Load, ast.And, ast.Or, ast.Not, ast.USub, ast.UAdd, ast.In, ast.NotIn,
    *_COMPARE, *_ARITHMETIC,
)  # fmt: skip
_SYNTAX_HINT = (
    "Write conditions like: trade > 0 and year in (1986, 1990); compare with ==, not =; "
    'quote text: iso3 == "MEX".'
)
_BACKTICK = re.compile(r"`([^`]*)`|\"[^\"]*\"|'[^']*'")

# A value is a float64 array (numbers), a Series (text and other non-numeric columns), a Python
# constant or a tuple of constants; a condition is a bool array.
Value = np.ndarray | pd.Series | bool | int | float | str | tuple


def where_mask(frame: pd.DataFrame, expression: str) -> np.ndarray:
    """Evaluate a filter expression on every row of a DataFrame.

    Parameters
    ----------
    frame
        The data.
    expression
        A condition such as ``exporter != importer and year in (1986, 1990)``.

    Returns
    -------
    numpy.ndarray
        Boolean, one entry per row; rows where a compared value is missing are False.

    Raises
    ------
    UsageError
        When the expression does not parse or uses a construct outside the whitelist.
    DataError
        When it names a column that is not in the data.
    """
    text = expression.strip()
    if not text:
        raise UsageError("the filter is empty", _SYNTAX_HINT)
    names: dict[str, str] = {}
    source = _BACKTICK.sub(lambda m: _placeholder(m, names, text), text)
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        where = f" at column {exc.offset}" if exc.offset and not names else ""
        raise UsageError(f"cannot parse filter '{text}': {exc.msg}{where}", _SYNTAX_HINT) from exc
    except (RecursionError, MemoryError, ValueError) as exc:
        raise UsageError(f"cannot parse filter '{text}'", "Simplify the expression.") from exc
    evaluator = _Evaluator(frame, text, names)
    try:
        evaluator.check(tree.body)
        return evaluator.condition(tree.body)
    except RecursionError as exc:
        raise UsageError(f"filter '{text}' is nested too deeply", "Simplify it.") from exc


def _placeholder(match: re.Match[str], names: dict[str, str], text: str) -> str:
    if match.group(1) is None:
        return match.group()  # a quoted string: kept as written
    if not match.group(1):
        raise UsageError(f"empty backticks in filter '{text}'", "Put a column name inside.")
    key = f"_bt{len(names)}_"
    while key in text:
        key += "_"
    names[key] = match.group(1)
    return key


class _Evaluator:
    def __init__(self, frame: pd.DataFrame, text: str, names: dict[str, str]) -> None:
        self.frame = frame
        self.text = text
        self.names = names
        self.n = len(frame)

    def snippet(self, node: ast.AST) -> str:
        source = ast.unparse(node)
        for key, name in self.names.items():
            source = source.replace(key, f"`{name}`")
        return source

    def refuse(self, what: str, node: ast.AST, hint: str) -> UsageError:
        return UsageError(
            f"{what} ('{self.snippet(node)}') not allowed in filter '{self.text}'", hint
        )

    def check(self, node: ast.AST) -> None:
        """Reject every node outside the whitelist before anything is evaluated."""
        # Constructs that are never data go first, so they are named whatever surrounds them.
        for sub in ast.walk(node):
            if type(sub) in _FORBIDDEN:
                hint = _SYNTAX_HINT
                if isinstance(sub, ast.Attribute):
                    hint = "Call functions as f(x), e.g. isna(x); methods are not available."
                raise self.refuse(_FORBIDDEN[type(sub)], sub, hint)
        for sub in ast.walk(node):
            kind = type(sub)
            if isinstance(sub, ast.BinOp | ast.UnaryOp) and type(sub.op) in _OPERATOR_HINTS:
                symbol, hint = _OPERATOR_HINTS[type(sub.op)]
                raise self.refuse(f"operator {symbol}", sub, hint)
            if isinstance(sub, ast.BinOp) and type(sub.op) not in _ARITHMETIC:
                raise self.refuse("this operator", sub, "Use + - * / in arithmetic.")
            if isinstance(sub, ast.Call):
                func = sub.func.id if isinstance(sub.func, ast.Name) else None
                if func is None or func not in FUNCTIONS:
                    what = f"function '{func}'" if func else "this call"
                    raise self.refuse(what, sub, f"Allowed functions: {', '.join(FUNCTIONS)}.")
                if len(sub.args) != 1 or sub.keywords:
                    raise self.refuse(f"{func}() with these arguments", sub, f"Write {func}(x).")
            if isinstance(sub, ast.Constant) and not isinstance(sub.value, _CONSTANT_TYPES):
                hint = (
                    "Use isna(x) to select missing values." if sub.value is None else _SYNTAX_HINT
                )
                raise self.refuse("this constant", sub, hint)
            if isinstance(sub, ast.Compare) and any(
                isinstance(o, ast.Is | ast.IsNot) for o in sub.ops
            ):
                raise self.refuse("'is'", sub, "Compare with == or use isna(x).")
            if not isinstance(sub, _ALLOWED):
                raise self.refuse(f"'{kind.__name__}'", sub, _SYNTAX_HINT)

    # -- conditions ---------------------------------------------------------------------------

    def condition(self, node: ast.expr) -> np.ndarray:
        if isinstance(node, ast.BoolOp):
            masks = [self.condition(v) for v in node.values]
            combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
            return combine.reduce(masks)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return ~self.condition(node.operand)
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.Call) and _func_name(node) in ("isna", "notna"):
            missing = self.missing(self.value(node.args[0]))
            return missing if _func_name(node) == "isna" else ~missing
        if isinstance(node, ast.Constant) and isinstance(node.value, bool):
            return np.full(self.n, node.value)
        if isinstance(node, ast.Name):
            series = self.column(node)
            if pd.api.types.is_bool_dtype(series.dtype):
                return series.to_numpy(dtype=bool, na_value=False)
        raise UsageError(
            f"'{self.snippet(node)}' in filter '{self.text}' is not a condition",
            f"Compare it, e.g. {self.snippet(node)} > 0.",
        )

    def compare(self, node: ast.Compare) -> np.ndarray:
        mask = np.ones(self.n, dtype=bool)
        left = self.value(node.left)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, ast.In | ast.NotIn):
                if not isinstance(right_node, ast.Tuple | ast.List):
                    raise self.refuse("'in' without a list", node, "Write year in (1986, 1990).")
                options = tuple(self.value(e) for e in right_node.elts)
                found = self.isin(left, options, node)
                mask &= found if isinstance(op, ast.In) else ~found & ~self.missing(left)
                left = options
                continue
            right = self.value(right_node)
            mask &= self.pair(left, _COMPARE[type(op)], right, node)
            left = right
        return mask

    def pair(self, left: Value, op: Any, right: Value, node: ast.AST) -> np.ndarray:
        if isinstance(left, tuple) or isinstance(right, tuple):
            raise self.refuse("a list outside 'in'", node, "Write year in (1986, 1990).")
        if _is_text(left) != _is_text(right):
            raise self.refuse(
                "comparing text with a number", node, 'Quote text values: iso3 == "MEX".'
            )
        try:
            with np.errstate(invalid="ignore"):
                result = op(left, right)
        except TypeError as exc:
            raise self.refuse(
                "this comparison", node, f"The values cannot be ordered ({exc})."
            ) from exc
        mask = self.as_mask(result)
        return mask & ~self.missing(left) & ~self.missing(right)

    def isin(self, left: Value, options: tuple[Value, ...], node: ast.AST) -> np.ndarray:
        if isinstance(left, tuple) or any(not isinstance(o, _CONSTANT_TYPES) for o in options):
            raise self.refuse(
                "'in' with non-constant values", node, "List constants: (1986, 1990)."
            )
        if any(_is_text(o) != _is_text(left) for o in options):
            raise self.refuse("comparing text with a number", node, 'Quote text values: ("MEX",).')
        if isinstance(left, np.ndarray | pd.Series):
            return self.as_mask(pd.Series(left).isin(list(options))) & ~self.missing(left)
        return np.full(self.n, left in options)

    # -- values -------------------------------------------------------------------------------

    def column(self, node: ast.Name) -> pd.Series:
        name = self.names.get(node.id, node.id)
        columns = self.frame.columns
        if name not in columns:
            raise column_not_found(name, columns)
        series = self.frame[name]
        if isinstance(series, pd.DataFrame):
            raise UsageError(f"column '{name}' appears more than once in the data", "Rename it.")
        return series.reset_index(drop=True)

    def value(self, node: ast.expr) -> Value:
        if isinstance(node, ast.Constant) and isinstance(node.value, _CONSTANT_TYPES):
            return node.value
        if isinstance(node, ast.Name):
            series = self.column(node)
            if pd.api.types.is_numeric_dtype(series.dtype):
                return series.to_numpy(dtype=np.float64, na_value=np.nan)
            return series
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            operand = self.number(node.operand)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.BinOp):
            left, right = self.number(node.left), self.number(node.right)
            with np.errstate(all="ignore"):
                result: np.ndarray | float = _ARITHMETIC[type(node.op)](left, right)
            return result
        if isinstance(node, ast.Call) and _func_name(node) in ("log", "abs"):
            func = np.log if _func_name(node) == "log" else np.abs
            with np.errstate(all="ignore"):
                transformed: np.ndarray | float = func(self.number(node.args[0]))
            return transformed
        if isinstance(node, ast.Tuple | ast.List):
            raise self.refuse("a list outside 'in'", node, "Write year in (1986, 1990).")
        raise UsageError(
            f"'{self.snippet(node)}' in filter '{self.text}' is a condition, not a value",
            "Combine conditions with and / or.",
        )

    def number(self, node: ast.expr) -> np.ndarray | float:
        value = self.value(node)
        if isinstance(value, np.ndarray) or (
            isinstance(value, int | float) and not isinstance(value, bool)
        ):
            return value
        raise self.refuse(
            "arithmetic on a non-number", node, "Use arithmetic on numeric columns only."
        )

    def missing(self, value: Value) -> np.ndarray:
        if isinstance(value, np.ndarray):
            return np.isnan(value) if value.dtype.kind == "f" else np.zeros(self.n, dtype=bool)
        if isinstance(value, pd.Series):
            return value.isna().to_numpy(dtype=bool)
        return np.zeros(self.n, dtype=bool)

    def as_mask(self, result: object) -> np.ndarray:
        if isinstance(result, pd.Series):
            return result.to_numpy(dtype=bool, na_value=False)
        if isinstance(result, np.ndarray):
            return result.astype(bool, copy=False)
        return np.full(self.n, bool(result))


def _func_name(node: ast.AST) -> str:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return node.func.id
    return ""


def _is_text(value: Value) -> bool:
    if isinstance(value, str):
        return True
    return isinstance(value, pd.Series)
