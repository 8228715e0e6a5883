"""Every key a recipe may use, with its type and default, generated from the schema itself.

``migtrade run --schema`` prints this, so that the reference can never disagree with what the
validator accepts.
"""

from __future__ import annotations

import dataclasses
import json
import types
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from migtrade.recipes.schema import Recipe, SourceOptions

_NESTED = {SourceOptions: "datasets.options"}
_SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean"}


def schema_text() -> str:
    """The recipe reference: one block per TOML table, one line per key."""
    lines: list[str] = []
    hints = get_type_hints(Recipe)
    for f in dataclasses.fields(Recipe):
        hint = hints[f.name]
        cls = get_args(hint)[0] if get_origin(hint) is tuple else hint
        header = f"[[{f.name}]]" if get_origin(hint) is tuple else f"[{f.name}]"
        lines += _block(header, cls)
        if f.name == "datasets":
            lines += _block("[datasets.options]", SourceOptions)
    return "\n".join(lines) + "\n"


def _block(header: str, cls: Any) -> list[str]:
    summary = (cls.__doc__ or "").strip().splitlines()[0].split(": ", 1)[-1].replace("``", "`")
    out = ["", f"{header}  # {summary}"]
    hints = get_type_hints(cls)
    width = max(len(f.name) for f in dataclasses.fields(cls))
    for f in dataclasses.fields(cls):
        out.append(f"  {f.name:<{width}}  {_type(hints[f.name])}{_default(f)}")
    return out


def _type(hint: Any) -> str:
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(_type(a) for a in get_args(hint) if a is not type(None))
    if origin is Literal:
        return " | ".join(json.dumps(c) for c in get_args(hint))
    if hint in _NESTED:
        return f"table (see [{_NESTED[hint]}])"
    if origin is tuple:
        return f"array of {_type(get_args(hint)[0])}s"
    if origin is dict:
        return f"table of {_type(get_args(hint)[1])}s"
    return _SCALARS[hint]


def _default(f: dataclasses.Field[Any]) -> str:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:
        return ", required"
    if value is None or value == {} or value == ():
        return ""
    if isinstance(value, tuple):
        return " = [" + ", ".join(json.dumps(v) for v in value) + "]"
    return f" = {json.dumps(value)}"
