"""The run manifest (schema ``migtrade.manifest/1``) and the comparison of two manifests.

A manifest is one JSON object written last, atomically, into the output folder::

    {
      "schema": "migtrade.manifest/1",
      "recipe": {"name", "description", "file", "sha256"},
      "created_at": "2024-05-01T12:00:00Z",
      "seconds": 5.2,
      "versions": {"migtrade": "0.1.0", "python": "3.11.7", "numpy": ..., ...},
      "datasets": {NAME: {"kind": "url" | "file" | "source" | "panel", "location", "sha256", "rows",
                          "mirrors"?, "member"?, "obtained"?}},
      "steps": [{"kind", "name", "command", "outputs", "seconds"}],
      "results": {
        "models": {NAME: {"nobs": int, "converged": bool,
                          "coefficients": {TERM: {"estimate": float, "std_error": float}}}},
        "tests": {NAME: {"verdict": str,
                         "estimates": {"TEST: QUANTITY": {"estimate": float, "std_error": float}}}},
        "counterfactuals": {NAME: {"converged": bool, "iterations": int,
                                   "partial": {TERM: {"estimate": float, "std_error": float}},
                                   "countries": {ISO3: {FIELD: float, "changed": bool,
                                                        "intervals": {FIELD: [low, high]}}},
                                   "draws": {"requested", "succeeded", "failed"} | null}}
      },
      "expectations": {"checked": int, "failed": [str, ...]}
    }

A ``url`` dataset's ``sha256`` is that of the bytes the recipe names (the archive's, for a
``member``), whether they came from a data folder or a download; ``obtained`` says which.
A step's ``command`` is null for a dataset read from a file as it is (the commands of the steps
that use it read the file themselves). ``results`` holds every number the run produced
(``counterfactuals`` only when the recipe has some; their pair flows stay in the saved
``migtrade.ge/1`` documents); ``--check`` compares exactly these. Fields are
only ever added within a schema version.
"""

from __future__ import annotations

import json
import math
import platform
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from migtrade.errors import DataError

SCHEMA = "migtrade.manifest/1"
DEPENDENCIES = ("numpy", "pandas", "scipy", "pyarrow", "duckdb", "matplotlib", "typer")
"""Packages whose versions can change the numbers or the files, recorded in every manifest."""

Number = float | int | str | bool | None


def versions() -> dict[str, str | None]:
    """migtrade's, Python's and each dependency's version (None when not installed)."""
    from migtrade.version import __version__

    out: dict[str, str | None] = {"migtrade": __version__,
                                  "python": platform.python_version()}
    for name in DEPENDENCIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def finite(value: float) -> float | None:
    """A float for JSON: None for NaN and infinities."""
    return float(value) if math.isfinite(value) else None


def read_manifest(path: str | Path) -> dict[str, Any]:
    """Read a manifest written by ``migtrade run``.

    Raises
    ------
    DataError
        If the file is missing, not JSON, or of another schema or version.
    """
    file = Path(path).expanduser()
    hint = "Pass the manifest.json written by 'migtrade run'."
    try:
        obj = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"manifest '{path}' does not exist", hint) from None
    except IsADirectoryError:
        raise DataError(f"manifest '{path}' is a folder", hint) from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise DataError(f"'{path}' is not a JSON file", hint) from None
    schema = obj.get("schema") if isinstance(obj, dict) else None
    if schema != SCHEMA:
        raise DataError(f"'{path}' is not a manifest of this migtrade (schema {schema!r}, "
                        f"expected {SCHEMA!r})", hint)
    if not isinstance(obj.get("results"), dict):
        raise DataError(f"manifest '{path}' has no results", hint)
    return obj


def numbers(manifest: Mapping[str, Any]) -> dict[tuple[str, ...], Number]:
    """Every number of a manifest's ``results``, keyed by its path in the object."""
    return dict(_walk(manifest.get("results", {}), ()))


def _walk(node: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Number]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, (*path, str(key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, (*path, str(i)))
    else:
        yield path, node


@dataclass(frozen=True)
class Drift:
    """One number that differs from the previous run (None: absent on that side)."""

    path: tuple[str, ...]
    previous: Number
    current: Number
    missing: str | None = None

    @property
    def label(self) -> str:
        """``models.t1c4: log(dist) estimate``."""
        head = ".".join(self.path[:2])
        rest = [p for p in self.path[2:] if p not in ("coefficients", "estimates", "countries")]
        return f"{head}: {' '.join(rest)}" if rest else head

    @property
    def difference(self) -> float | None:
        """current - previous, when both are numbers."""
        if _is_float(self.previous) and _is_float(self.current):
            return float(self.current) - float(self.previous)  # type: ignore[arg-type]
        return None


@dataclass(frozen=True)
class Comparison:
    """The outcome of comparing a run with a previous manifest."""

    checked: int
    drift: tuple[Drift, ...]
    notes: tuple[str, ...] = ()


def _is_float(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _same(previous: Number, current: Number, rtol: float, atol: float, exact: bool) -> bool:
    if exact or not (_is_float(previous) and _is_float(current)):
        return previous == current and type(previous) is type(current)
    a, b = float(current), float(previous)  # type: ignore[arg-type]
    return abs(a - b) <= atol + rtol * abs(b)


def compare(previous: Mapping[str, Any], current: Mapping[str, Any], *, rtol: float = 1e-6,
            atol: float = 1e-10) -> Comparison:
    """Compare every number of two manifests.

    Floats agree when ``|current - previous| <= atol + rtol * |previous|``; counts (``nobs``),
    verdicts and flags must be equal. A number on only one side is drift too.

    Parameters
    ----------
    previous, current
        Manifests (:func:`read_manifest` checks the previous one's schema).
    rtol, atol
        Relative and absolute tolerances.

    Returns
    -------
    Comparison
    """
    old, new = numbers(previous), numbers(current)
    drift: list[Drift] = []
    for path, value in old.items():
        if path not in new:
            drift.append(Drift(path, value, None, missing="now"))
            continue
        exact = path[-1] in ("nobs", "verdict", "converged")
        if not _same(value, new[path], rtol, atol, exact):
            drift.append(Drift(path, value, new[path]))
    drift.extend(Drift(path, None, value, missing="before") for path, value in new.items()
                 if path not in old)
    notes = []
    before, now = previous.get("recipe", {}), current.get("recipe", {})
    if before.get("sha256") != now.get("sha256"):
        notes.append("the recipe has changed since the previous run")
    old_data, new_data = previous.get("datasets", {}), current.get("datasets", {})
    for name, info in new_data.items():
        if name in old_data and old_data[name].get("sha256") != info.get("sha256") \
                and info.get("kind") != "panel":
            notes.append(f"dataset '{name}' has changed (sha256 {str(old_data[name].get('sha256'))[:12]}"
                         f" -> {str(info.get('sha256'))[:12]})")
    return Comparison(checked=len(old), drift=tuple(drift), notes=tuple(notes))
