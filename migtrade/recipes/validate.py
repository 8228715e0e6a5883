"""Parsed TOML to the frozen dataclasses of :mod:`migtrade.recipes.schema`, checked by type hints.

Every problem is reported as ``FILE: KEY.PATH: problem``, the key path written as in the recipe
with arrays of tables counted from 0 (``models[2].formula``). Unknown keys, missing required keys
and values of the wrong type are refused; nothing is coerced except integers where a float is
expected (TOML writes ``1`` for ``1.0``).
"""

from __future__ import annotations

import dataclasses
import re
import types
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from migtrade.errors import UsageError

T = TypeVar("T")

_HINT = "Run `migtrade run --schema` for every key a recipe may use."
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_TYPE_NAMES: dict[type, str] = {str: "a string", int: "an integer", float: "a number",
                                bool: "true or false"}


class RecipeError(UsageError):
    """A recipe that does not follow the schema; the message names the file and the key path."""

    def __init__(self, source: str, path: str, problem: str, hint: str | None = _HINT) -> None:
        where = f"{source}: {path}: " if path else f"{source}: "
        super().__init__(f"{where}{problem}", hint)
        self.source = source
        self.path = path
        self.problem = problem


def key_path(parent: str, key: str | int) -> str:
    """``models[2]`` and ``expect."log(dist)"``: a child's path as it is written in TOML."""
    if isinstance(key, int):
        return f"{parent}[{key}]"
    part = key if _BARE_KEY.fullmatch(key) else '"' + key.replace('"', '\\"') + '"'
    return f"{parent}.{part}" if parent else part


def describe(value: object) -> str:
    """A value's TOML type and, when short, the value itself, for error messages."""
    kinds = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
             dict: "table"}
    kind = next((name for t, name in kinds.items() if type(value) is t), type(value).__name__)
    if isinstance(value, list | dict):
        return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"
    text = repr(value) if not isinstance(value, bool) else str(value).lower()
    return f"{kind} {text if len(text) <= 40 else text[:37] + '...'}"


def build(cls: type[T], value: object, path: str, source: str) -> T:
    """Build the dataclass ``cls`` from a TOML table.

    Parameters
    ----------
    cls
        A dataclass of :mod:`migtrade.recipes.schema`.
    value
        The parsed TOML for it.
    path
        Its key path (empty for the whole file).
    source
        The recipe file as the user named it, for messages.

    Returns
    -------
    An instance of ``cls``.

    Raises
    ------
    RecipeError
        On an unknown key, a missing required key or a value of the wrong type.
    """
    if not isinstance(value, dict):
        raise RecipeError(source, path, f"expected a table, got {describe(value)}")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in value:
        if key not in fields:
            raise RecipeError(source, key_path(path, key), "unknown key",
                              f"Known keys here: {', '.join(fields)}.")
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        child = key_path(path, name)
        if name in value:
            kwargs[name] = convert(hints[name], value[name], child, source)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise RecipeError(source, child, "missing")
    return cls(**kwargs)


def convert(hint: Any, value: object, path: str, source: str) -> Any:
    """Check ``value`` against the type ``hint`` and return it in the dataclass's type.

    Supported hints: str, int, float, bool, ``Literal[...]``, ``tuple[T, ...]``,
    ``dict[str, T]``, unions (``X | None`` means the key may be left out) and dataclasses.
    """
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        arms = [a for a in get_args(hint) if a is not type(None)]
        if len(arms) == 1:
            return convert(arms[0], value, path, source)
        for arm in arms:
            try:
                return convert(arm, value, path, source)
            except RecipeError:
                continue
        wanted = " or ".join(expected(a) for a in arms)
        raise RecipeError(source, path, f"expected {wanted}, got {describe(value)}")
    if origin is Literal:
        choices = get_args(hint)
        if not isinstance(value, str) or value not in choices:
            listed = ", ".join(f"'{c}'" for c in choices)
            raise RecipeError(source, path, f"{describe(value)} is not one of {listed}")
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise RecipeError(source, path, f"expected an array, got {describe(value)}")
        item = get_args(hint)[0]
        return tuple(convert(item, v, key_path(path, i), source) for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise RecipeError(source, path, f"expected a table, got {describe(value)}")
        item = get_args(hint)[1]
        return {k: convert(item, v, key_path(path, k), source) for k, v in value.items()}
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return build(hint, value, path, source)
    return _scalar(hint, value, path, source)


def expected(hint: Any) -> str:
    """How a type is named in messages: "a string", "an array", "one of 'a', 'b'"."""
    origin = get_origin(hint)
    if origin is Literal:
        return "one of " + ", ".join(f"'{c}'" for c in get_args(hint))
    if origin is tuple:
        return "an array"
    if origin is dict or dataclasses.is_dataclass(hint):
        return "a table"
    return _TYPE_NAMES.get(hint, str(hint))


def _scalar(hint: Any, value: object, path: str, source: str) -> Any:
    # bool is a subclass of int in Python, but `true` is not a number in a recipe.
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint in (str, int, bool) and type(value) is hint:
        return value
    if hint not in _TYPE_NAMES:
        raise TypeError(f"unsupported type in the recipe schema: {hint!r}")
    raise RecipeError(source, path, f"expected {_TYPE_NAMES[hint]}, got {describe(value)}")
