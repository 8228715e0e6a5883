"""The ``migtrade ...`` command line equivalent to each recipe step, for people to read.

The manifest records these so that a reader can redo any single step by hand. They are built
from the step's fields with every value quoted for a POSIX shell; migtrade never runs them.
Options left at their defaults are not written out.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from migtrade.estimation.options import EstimateOptions
from migtrade.recipes.schema import (
    CounterfactualStep,
    DatasetStep,
    ModelStep,
    PanelStep,
    PlotStep,
    TableStep,
    TestStep,
)

SOURCE_OPTIONS: dict[str, tuple[str, ...]] = {
    "worldbank": ("indicators", "years", "file", "base_url"),
    "undesa": ("years", "file", "base_url"),
    "abel-cohen": ("methods", "years", "file", "base_url"),
    "cepii": ("columns", "years", "file", "base_url"),
    "file": ("file", "mapping", "years"),
    **{publisher: ("table", "file", "base_url")
       for publisher in ("yotov2016", "santos-silva-tenreyro", "ppml-fe-bias", "ge-gravity")},
}
"""The options of ``[[datasets]] options`` each source of ``migtrade fetch`` takes."""

URL_SOURCES: tuple[str, ...] = ("undesa", "abel-cohen")
"""Sources whose parser also reads a published file a dataset names by ``url`` and ``sha256``
(a layout a plain table reader cannot read, such as the JSON matrices of the migrant stocks
and flows): the file is obtained and checked like any ``url`` dataset, then read as ``--file``."""

_FETCH_FLAGS = {"file": "--file", "base_url": "--base-url", "years": "--years",
                "indicators": "--indicator", "columns": "--columns", "methods": "--method",
                "mapping": "--map", "table": "--table"}
# A [[models]] key is an option of EstimateOptions and so, dashed, a flag of migtrade estimate.
_ESTIMATE_FLAGS = {f.name: "--" + f.name.replace("_", "-") for f in dataclasses.fields(ModelStep)
                   if f.name in (*EstimateOptions.names(), "split", "workers")}
_TABLE_FLAGS = {"keep": "--keep", "drop": "--drop", "order": "--order", "digits": "--digits",
                "title": "--title", "standalone": "--standalone"}
_PLOT_FLAGS = {"keep": "--keep", "drop": "--drop", "pattern": "--pattern", "periods": "--periods",
               "title": "--title", "xlabel": "--xlabel", "width": "--width", "height": "--height",
               "dpi": "--dpi"}


def display(path: Path) -> str:
    """A path as a person at this terminal would type it: relative to here when below it."""
    absolute = path.resolve()
    try:
        return str(absolute.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(absolute)


def shell(words: Iterable[str]) -> str:
    """Words quoted for a POSIX shell and joined."""
    return " ".join(shlex.quote(w) for w in words)


def _text(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}" if float(f"{value:g}") == value else repr(value)
    if isinstance(value, tuple):
        return ",".join(_text(v) for v in value)
    return str(value)


def _flags(step: object, flags: Mapping[str, str]) -> list[str]:
    """``--flag value`` for every field in ``flags`` whose value differs from the default."""
    defaults = {}
    for f in dataclasses.fields(step):  # type: ignore[arg-type]
        if f.default is not dataclasses.MISSING:
            defaults[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            defaults[f.name] = f.default_factory()
    words: list[str] = []
    for name, flag in flags.items():
        value = getattr(step, name)
        if value == defaults.get(name) or value is None:
            continue
        if isinstance(value, bool):  # a switch: --keep-singletons, or --no-impose-null
            words.append(flag if value else "--no-" + flag[2:])
        elif isinstance(value, tuple) and flag in ("--keep", "--drop", "--order", "--indicator",
                                                   "--columns", "--method"):
            for item in value:
                words += [flag, str(item)]
        else:
            words += [flag, _text(value) if value != () else "none"]
    return words


def _store(store: Path | None) -> list[str]:
    return ["--store", display(store)] if store is not None else []


def _titles(titles: Sequence[str] | None) -> str:
    # Neither `migtrade table` nor `migtrade plot` takes column titles; say what the recipe set.
    return "  # titles: " + ", ".join(json.dumps(t, ensure_ascii=False) for t in titles) \
        if titles else ""


def fetch_command(step: DatasetStep, store: Path | None, resolve: Callable[[str], Path],
                  verified: Path | None = None) -> str:
    """``migtrade fetch SOURCE --name NAME ...``; ``resolve`` maps the option ``file`` to a path.

    ``verified`` is the checked copy of a file the dataset names by ``url``, read as ``--file``.
    """
    words = ["migtrade", "fetch", str(step.source), "--name", step.name]
    if verified is not None:
        words += ["--file", display(verified)]
    options = step.options
    if options is not None:
        for key, flag in _FETCH_FLAGS.items():
            value = getattr(options, key)
            if not value:
                continue
            if key == "file":
                words += [flag, display(resolve(value))]
            elif key == "mapping":
                for standard, column in value.items():
                    words += [flag, f"{standard}={column}"]
            elif isinstance(value, tuple):
                words += [flag, ",".join(value)]
            else:
                words += [flag, str(value)]
    return shell([*words, *_store(store)])


def file_command(step: DatasetStep, local: Path | None, store: Path | None) -> str:
    """``migtrade fetch file --url URL --sha256 HEX --name NAME ...`` for a dataset given by url,
    or ``migtrade fetch file --file PATH --name NAME --map ...`` for a renamed local file.

    ``rename = {old = "new"}`` becomes ``--map new=old``; the models' commands then read the
    stored dataset by name.
    """
    words = ["migtrade", "fetch", "file", "--name", step.name]
    for url in step.urls:
        words += ["--url", url]
    if step.sha256:
        words += ["--sha256", step.sha256]
    if step.member:
        words += ["--member", step.member]
    if local is not None and not step.urls:
        words += ["--file", display(local)]
    for old, new in step.rename.items():
        words += ["--map", f"{new}={old}"]
    return shell([*words, *_store(store)])


def panel_command(step: PanelStep, refs: Mapping[str, str], out: Path, store: Path | None) -> str:
    """``migtrade panel build --out FILE --trade REF ...``; ``refs`` maps dataset names to ``--data``."""
    words = ["migtrade", "panel", "build", "--out", display(out)]
    for key in ("trade", "stocks", "flows", "covariates"):
        name = getattr(step, key)
        if name is not None:
            words += [f"--{key}", refs[name]]
    for entry in step.country_year:
        indicator, sep, name = entry.rpartition("=")
        words += ["--country-year", f"{indicator.strip()}={refs[name.strip()]}" if sep
                  else refs[name.strip()]]
    if step.years:
        words += ["--years", step.years]
    if step.countries:
        words += ["--countries", step.countries]
    return shell([*words, *_store(store)])


def estimate_command(step: ModelStep, data: str, save: Path, store: Path | None) -> str:
    """``migtrade estimate FORMULA --data REF ... --save FILE``."""
    words = ["migtrade", "estimate", step.formula, "--data", data, *_flags(step, _ESTIMATE_FLAGS),
             "--save", display(save)]
    return shell([*words, *_store(store)])


def test_command(step: TestStep, data: str, save: Path, store: Path | None) -> str:
    """``migtrade test substitution --data REF ... --save FILE``."""
    words = ["migtrade", "test", "substitution", "--data", data]
    if step.case:
        words += ["--case", step.case]
    if step.alpha != 0.05:
        words += ["--alpha", _text(step.alpha)]
    if not step.iv:
        words.append("--no-iv")
    for target, terms in step.instruments.items():
        words += ["--instrument", f"{target}={terms}"]
    if step.expect:
        words += ["--expect", step.expect]
    return shell([*words, "--save", display(save), *_store(store)])


def ge_command(step: CounterfactualStep, data: str, save: Path, table: Path,
               plot: Path | None, store: Path | None) -> str:
    """``migtrade ge --data REF ... --save FILE > TABLE``, then ``migtrade plot ge`` if any."""
    from migtrade.recipes.counterfactuals import GE_OPTION_FIELDS

    flags = {name: "--" + name.replace("_", "-") for name in GE_OPTION_FIELDS}
    required = ["--year", str(step.year)]
    shown = ["--countries", ",".join(step.countries)] if step.countries else []
    words = ["migtrade", "ge", "--data", data, *required,
             *_flags(step, {k: v for k, v in flags.items() if k != "year"}),
             *shown, "--format", step.format, "--save", display(save), *_store(store)]
    command = shell(words) + " > " + shlex.quote(display(table))
    if plot is not None:
        command += " && " + shell(["migtrade", "plot", "ge", display(save), *shown,
                                   "-o", display(plot)])
    return command


def table_command(step: TableStep, results: Sequence[Path], output: Path) -> str:
    """``migtrade table RESULT... --format FMT -o FILE``."""
    words = ["migtrade", "table", *(display(r) for r in results), "--format", step.format]
    words += _flags(step, _TABLE_FLAGS)
    for old, new in step.rename.items():
        words += ["--rename", f"{old}={new}"]
    if step.statistic != "se":
        words.append(f"--{step.statistic}")
    if step.stars != (0.10, 0.05, 0.01):
        words += ["--stars", _text(step.stars) if step.stars else "none"]
    return shell([*words, "-o", display(output)]) + _titles(step.titles)


def plot_command(step: PlotStep, results: Sequence[Path], output: Path) -> str:
    """``migtrade plot KIND RESULT... -o FILE``."""
    words = ["migtrade", "plot", step.kind, *(display(r) for r in results)]
    words += _flags(step, _PLOT_FLAGS)
    if step.kind == "event" and step.ref != -1.0:
        words += ["--ref", _text(step.ref)]
    return shell([*words, "-o", display(output)]) + _titles(step.titles)
