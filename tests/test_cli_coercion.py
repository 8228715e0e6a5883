"""The plain-value converter of command-line options (``migtrade.cli.coercion``) gives what
typer's own converter gives, value for value and error for error, on every option of every
command, and spares the estimate path pydantic."""

from __future__ import annotations

import subprocess
import sys
from enum import Enum
from pathlib import Path
from typing import Any

import pytest

coercion = pytest.importorskip("migtrade.cli.coercion")
if coercion.RuntimeParam is None:  # pragma: no cover - a typer without per-option converters
    pytest.skip("this typer converts options without per-option validators", allow_module_level=True)

from typer._coercion import build_runtime_param  # noqa: E402
from typer.main import get_command  # noqa: E402

from migtrade.cli.app import build_app  # noqa: E402


def _commands(command: Any) -> list[Any]:
    found = [command]
    for sub in getattr(command, "commands", {}).values():
        found += _commands(sub)
    return found


def _samples(annotation: Any, tmp: Path) -> list[Any]:
    """Values a user may type for an option of this type, valid and not."""
    common: list[Any] = ["", " 5", "abc", "1_000", "inf", "nan", "-", "5.0", "007", "+4", "-3"]
    if annotation is bool:
        return [True, False, "yes", "", "0"]
    if annotation is float:
        return [*common, 0.95, "1e-8", "1E5", ".5", "5.", "-2.5e-3"]
    if annotation is int:
        return [*common, 1000, "1000", "99999999999999999999"]
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        members = list(annotation)
        return [*common, members[0], *(m.value for m in members),
                *(str(m.value).upper() for m in members)]
    if annotation is Path:
        existing = tmp / "there.json"
        existing.write_text("{}")
        return [*common, str(existing), str(tmp), str(tmp / "missing" / "x.json"), existing]
    if annotation == list[str]:
        return [("a ~ b",), ["a ~ b", "c ~ d"], (), ("x", 3)]
    return [*common, "trade ~ rta | exporter", 5]


def _outcome(runtime: Any, value: Any, param: Any, ctx: Any) -> tuple[str, Any]:
    try:
        got = runtime._coerce_value(value, param=param, ctx=ctx)
    except Exception as err:  # the error itself is what is compared
        return "error", (type(err).__name__, str(err))
    return "value", (type(got), repr(got))


def test_every_option_converts_as_typer_does(tmp_path: Path) -> None:
    root = get_command(build_app())
    coercion.install(root)  # as the root command does when it runs
    checked = 0
    for command in _commands(root):
        ctx = command.make_context(command.name, [], resilient_parsing=True)
        for param in command.get_params(ctx):
            runtime = getattr(param, "_runtime_param", None)
            if not isinstance(runtime, coercion.PlainRuntimeParam):
                continue
            typer_own = build_runtime_param(param.type_descriptor)
            for value in _samples(param.type_descriptor.annotation, tmp_path):
                mine = _outcome(runtime, value, param, ctx)
                theirs = _outcome(typer_own, value, param, ctx)
                assert mine == theirs, (command.name, param.name, value)
                checked += 1
    assert checked > 2000  # every command's options were reached, not a handful


def test_options_with_checks_keep_typers_converter() -> None:
    """Bounds, parsers and path checks are typer's to apply: no plain converter there."""
    import typer

    app = typer.Typer()

    @app.command()
    def run(n: int = typer.Option(1, min=0), f: Path = typer.Option(Path("."), exists=True),
            s: str = "x") -> None:  # pragma: no cover - only its parameters are read
        pass

    command = get_command(app)
    coercion.install(command)
    kinds = {p.name: type(p._runtime_param).__name__ for p in command.params}
    assert kinds["n"] != "PlainRuntimeParam" and kinds["f"] != "PlainRuntimeParam"
    assert kinds["s"] == "PlainRuntimeParam"


def test_estimate_does_not_load_pydantic(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("y,x,g\n1,0.5,a\n2,1.5,a\n0,2.5,b\n3,0.1,b\n4,1.1,c\n2,0.7,c\n")
    code = ("import sys\nfrom migtrade.cli.app import main\nsys.argv = ['migtrade', 'estimate', "
            f"'y ~ x | g', '--data', {str(data)!r}, '--format', 'json', '--tol', '1e-9']\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "print('pydantic' in sys.modules, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stderr.strip().splitlines()[-1] == "False"
    assert '"coefficients"' in done.stdout
