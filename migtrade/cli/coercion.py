"""Command-line values turned into Python values without building a validator per option.

Typer (from 0.26) converts every option's value through a pydantic ``TypeAdapter`` built for
that option on first use: importing pydantic and building the adapters of ``migtrade
estimate``'s 29 options costs 0.06 s of every run, a tenth of a 1,000-row estimate. Most values
need no validator at all: a string for a ``str`` option, a plain number, one of an enum's
values, a path. :func:`install` gives every option of a command a converter that handles those
values itself, with the same result typer's would give, and hands anything else (a value that
may be invalid, an option with bounds, a callback parser or path checks) to typer's own
converter, built only then; errors are therefore typer's own, word for word.

Where typer has no such converters (older or newer versions with other internals) nothing is
installed and typer converts as it always does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, get_args, get_origin

try:
    from typer._coercion import RuntimeParam, build_runtime_param
    from typer._param_types import coerce_cli_choice, coerce_cli_path
    from typer.core import _TyperParameter
except ImportError:  # a typer without per-option converters: nothing to replace
    RuntimeParam = None  # type: ignore[assignment,misc]

# Numbers written plainly (what float() and pydantic both read, and read alike); anything else,
# "1_000", " 5", "inf", goes to typer's converter.
_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
# Options with these set are converted by typer (bounds, custom parsers, path checks).
_CONSTRAINTS = ("min", "max", "parser", "click_type", "path_type", "resolve_path", "allow_dash",
                "exists", "writable", "formats")
_SLOW = object()  # "not a plain value: ask typer"


def _plain(annotation: Any, info: Any, value: Any, param: Any, ctx: Any) -> Any:
    """The converted value, or ``_SLOW`` when typer's converter must decide."""
    kind = type(value)
    if annotation is bool:  # flags arrive as bools, which typer does not convert
        return value if kind is bool else _SLOW
    if annotation is str:
        return value if kind is str else _SLOW
    if annotation is float:
        if kind is float:
            return value
        return float(value) if kind is str and _FLOAT.fullmatch(value) else _SLOW
    if annotation is int:
        if kind is int:
            return value
        return int(value) if kind is str and _INT.fullmatch(value) else _SLOW
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        # typer's own matching (case, the context's normaliser), which needs no validator.
        return coerce_cli_choice(value, choices=list(annotation), case_sensitive=info.case_sensitive,
                                 ctx=ctx)
    if annotation is Path:
        if kind is str and value:
            # typer's checks on a Path it has made (it makes one with pydantic: Path(value)).
            return coerce_cli_path(Path(value), info, path_type=Path, param=param, ctx=ctx)
        return _SLOW
    if (get_origin(annotation) is list and get_args(annotation) == (str,)
            and isinstance(value, (list, tuple)) and all(type(v) is str for v in value)):
        return list(value)
    return _SLOW


if RuntimeParam is not None:

    @dataclass(frozen=True)
    class PlainRuntimeParam(RuntimeParam):
        """typer's converter for one option, with plain values converted without pydantic."""

        descriptor: Any = None
        _slow: list[Any] = field(default_factory=list)

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            try:
                got = _plain(self.annotation, self.parameter_info, value, param, ctx)
            except Exception:  # typer's converter raises the error, in its own words
                got = _SLOW
            if got is not _SLOW:
                return got
            if not self._slow:
                self._slow.append(build_runtime_param(self.descriptor))
            return self._slow[0]._coerce_value(value, param=param, ctx=ctx)


def _eligible(param: Any) -> bool:
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is None or descriptor.file_annotation is not None:
        return False
    info = descriptor.parameter_info
    unset = (None, False)  # by identity: a bound of 0 is set
    return all(any(getattr(info, name, None) is u for u in unset) for name in _CONSTRAINTS)


def install_params(params: Iterable[Any]) -> None:
    """Give each of ``params`` that typer has not yet given a converter the plain-value one."""
    if RuntimeParam is None:
        return
    for param in params:
        if (isinstance(param, _TyperParameter) and getattr(param, "_runtime_param", 1) is None
                and _eligible(param)):
            descriptor = param.type_descriptor
            try:
                plain = PlainRuntimeParam(parameter_info=descriptor.parameter_info,
                                          annotation=descriptor.annotation, descriptor=descriptor)
            except (TypeError, AttributeError):  # a typer whose converters are built otherwise
                return
            param._runtime_param = plain


def install(command: Any) -> None:
    """Give the options of ``command`` and of its subcommands the plain-value converter (the
    ``--help`` option, made when the command is parsed, gets it from :class:`PlainValues`)."""
    install_params(getattr(command, "params", ()))
    for sub in getattr(command, "commands", {}).values():
        install(sub)


class PlainValues:
    """Mixin for a click command class: its parameters, ``--help`` included, get the
    plain-value converter when the command is parsed."""

    def get_params(self, ctx: Any) -> list[Any]:
        params: list[Any] = super().get_params(ctx)  # type: ignore[misc]
        install_params(params)
        return params
