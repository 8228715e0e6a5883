"""Read a recipe file and check it completely before anything runs.

Beyond the schema (:mod:`migtrade.recipes.validate`), every reference must name a step defined
in the recipe, names must be usable as file names, input files must exist, output files must stay
inside the output folder, and formulas, covariance types, year lists and table and plot options
must get through the same parsers the commands use. Each problem is one :class:`RecipeError`
naming the file and the key path.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from migtrade.errors import DataError, MigtradeError
from migtrade.recipes.commands import SOURCE_OPTIONS, URL_SOURCES
from migtrade.recipes.schema import (
    CounterfactualStep,
    DatasetStep,
    ModelStep,
    PanelStep,
    PlotStep,
    Recipe,
    TableStep,
    TestStep,
)
from migtrade.recipes.validate import RecipeError, build, key_path

RESERVED_OUTPUTS = ("manifest.json", "models", "tests", "panels", "counterfactuals")
"""Names in the output folder that steps write themselves and tables and plots may not use."""

TABLE_EXTENSIONS: dict[str, str] = {"md": "md", "latex": "tex", "html": "html", "csv": "csv",
                                    "json": "json", "text": "txt"}
"""The file extension of a table written without ``file``."""


@dataclass(frozen=True)
class RecipeFile:
    """A checked recipe and where it came from.

    Attributes
    ----------
    source
        The file as the user named it (used in messages).
    folder
        The folder relative paths in the recipe are resolved against.
    sha256
        Of the file's bytes.
    recipe
        The recipe.
    """

    source: str
    folder: Path
    sha256: str
    recipe: Recipe

    def resolve(self, relative: str) -> Path:
        """A path of the recipe, relative to the recipe's folder unless absolute."""
        path = Path(relative).expanduser()
        # normpath folds "recipes/../../shared" so that tables and plots name the data plainly.
        return Path(os.path.normpath(path if path.is_absolute() else self.folder / path))

    def table_file(self, index: int) -> str:
        """Where table ``index`` is written, relative to the output folder."""
        table = self.recipe.tables[index]
        return table.file or f"{table.name}.{TABLE_EXTENSIONS[table.format]}"

    def plot_name(self, index: int) -> str:
        """The name of plot ``index``: given, or its file's name without the extension."""
        plot = self.recipe.plots[index]
        return plot.name or PurePosixPath(plot.file).stem


def load_recipe(path: str | Path) -> RecipeFile:
    """Read, validate and cross-check a recipe.

    Parameters
    ----------
    path
        The TOML file.

    Returns
    -------
    RecipeFile

    Raises
    ------
    DataError
        If the file cannot be read.
    RecipeError
        If it is not valid TOML or breaks any rule of the schema.
    """
    source = str(path)
    file = Path(path).expanduser()
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise DataError(f"recipe file '{source}' does not exist", "Check the path.") from None
    except IsADirectoryError:
        raise DataError(f"recipe '{source}' is a folder", "Give the path of a .toml file.") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise RecipeError(source, "", f"not a valid TOML file ({exc})",
                          "Check the syntax near the place named.") from None
    recipe = build(Recipe, data, "", source)
    loaded = RecipeFile(source=source, folder=file.resolve().parent,
                        sha256=hashlib.sha256(raw).hexdigest(), recipe=recipe)
    _Checker(loaded).check()
    return loaded


@contextmanager
def at(source: str, path: str) -> Iterator[None]:
    """Report an error of migtrade's own parsers at the key path it came from."""
    try:
        yield
    except RecipeError:
        raise
    except MigtradeError as err:
        raise RecipeError(source, path, err.message, err.hint) from None


class _Checker:
    """The cross-field rules, one method per kind of step."""

    def __init__(self, loaded: RecipeFile) -> None:
        self.loaded = loaded
        self.source = loaded.source
        self.recipe = loaded.recipe
        self.data_names = [d.name for d in self.recipe.datasets] + [p.name for p in self.recipe.panels]
        self.model_names = [m.name for m in self.recipe.models]

    def fail(self, path: str, problem: str, hint: str | None = None) -> RecipeError:
        return RecipeError(self.source, path, problem, hint)

    def check(self) -> None:
        r = self.recipe
        self.name("recipe.name", r.recipe.name)
        self.unique([(f"datasets[{i}].name", d.name) for i, d in enumerate(r.datasets)]
                    + [(f"panels[{i}].name", p.name) for i, p in enumerate(r.panels)])
        for kind in ("models", "tests", "counterfactuals", "tables"):
            self.unique([(f"{kind}[{i}].name", s.name) for i, s in enumerate(getattr(r, kind))])
        # A plot's name only labels its step (its file is its own), so any text will do.
        self.unique([(f"plots[{i}].name", self.loaded.plot_name(i)) for i in range(len(r.plots))],
                    rule=False)
        for i, d in enumerate(self.recipe.datasets):
            self.dataset(f"datasets[{i}]", d)
        for i, p in enumerate(self.recipe.panels):
            self.panel(f"panels[{i}]", p)
        for i, m in enumerate(self.recipe.models):
            self.model(f"models[{i}]", m)
        for i, t in enumerate(self.recipe.tests):
            self.test(f"tests[{i}]", t)
        outputs: dict[str, str] = {}
        for i, c in enumerate(self.recipe.counterfactuals):
            self.counterfactual(f"counterfactuals[{i}]", c)
            if c.plot is not None:
                self.output(f"counterfactuals[{i}].plot", c.plot, outputs)
        for i, table in enumerate(self.recipe.tables):
            self.table(f"tables[{i}]", table)
            self.output(f"tables[{i}].file", self.loaded.table_file(i), outputs)
        for i, plot in enumerate(self.recipe.plots):
            self.plot(f"plots[{i}]", plot)
            self.output(f"plots[{i}].file", plot.file, outputs)

    def name(self, path: str, name: str) -> None:
        from migtrade.store.names import NAME_RULE, is_valid_name

        if not is_valid_name(name):
            raise self.fail(path, f"invalid name '{name}': use {NAME_RULE}", "For example t1c4.")

    def unique(self, entries: Sequence[tuple[str, str]], *, rule: bool = True) -> None:
        seen: set[str] = set()
        for path, name in entries:
            if rule:
                self.name(path, name)
            if name in seen:
                raise self.fail(path, f"the name '{name}' is used twice",
                                "Give every step of a kind its own name (datasets and panels share "
                                "one set of names).")
            seen.add(name)

    def refer(self, path: str, name: str, names: Sequence[str], what: str) -> None:
        if name not in names:
            known = ", ".join(names) if names else "none are defined"
            raise self.fail(path, f"no {what} named '{name}' in the recipe (defined: {known})",
                            "Define it in the recipe or correct the name.")

    def existing(self, path: str, relative: str) -> None:
        target = self.loaded.resolve(relative)
        if not target.is_file():
            what = "is a folder" if target.is_dir() else "does not exist"
            raise self.fail(path, f"file '{relative}' {what} (resolved to '{target}')",
                            "Relative paths are relative to the recipe's folder.")

    def dataset(self, path: str, d: DatasetStep) -> None:
        given = d.file is not None or d.url is not None
        published = d.source in URL_SOURCES and d.url is not None
        if given == (d.source is not None) and not published:
            problem = "'source' does not go with 'url' or 'file'" if given else \
                "give 'url' (with 'sha256') or 'file', or else 'source'"
            hint = "Run `migtrade run --schema` for the dataset keys."
            if given:
                hint = (f"Only {', '.join(URL_SOURCES)} read a published file named by 'url' and "
                        "'sha256'; leave out 'source' to read the file as a table. " + hint)
            raise self.fail(path, problem, hint)
        if given and not published:
            self.located(path, d)
            return
        if published:
            # A published file in a source's own layout: obtained and checked like any url
            # dataset, then read by that source's parser.
            self.located(path, replace(d, options=None))
        for key in ("member", "rename") if published else ("sha256", "member", "rename"):
            if getattr(d, key):
                raise self.fail(key_path(path, key), "does not apply to a 'source'",
                                "A source checks its own data; map columns with options.mapping.")
        from migtrade.sources.base import parse_years
        from migtrade.sources.registry import SOURCES

        if d.source not in SOURCES:
            raise self.fail(key_path(path, "source"), f"unknown source '{d.source}'",
                            f"Use one of: {', '.join(SOURCES)}.")
        options = d.options
        if options is None:
            return
        allowed = SOURCE_OPTIONS.get(str(d.source), ("file", "base_url", "years"))
        if published:
            allowed = tuple(k for k in allowed if k not in ("file", "base_url"))  # 'url' says where
        for key in ("file", "base_url", "years", "indicators", "columns", "methods", "mapping",
                    "table"):
            if getattr(options, key) and key not in allowed:
                raise self.fail(key_path(key_path(path, "options"), key),
                                f"source '{d.source}' does not take this option",
                                f"Its options are: {', '.join(allowed)}.")
        if options.file is not None:
            self.existing(f"{path}.options.file", options.file)
        with at(self.source, f"{path}.options.years"):
            parse_years(options.years)

    def located(self, path: str, d: DatasetStep) -> None:
        """A dataset given by ``url`` and ``sha256`` and/or ``file``: addresses, hash, member, rename.

        Whether the file can be had is decided when the run starts, for all datasets at once
        (:mod:`migtrade.recipes.acquire`), since a copy may sit in a ``--data-dir`` folder.
        """
        from migtrade.sources.verified import RemoteFile, check_sha256, check_url

        if d.options is not None:
            raise self.fail(key_path(path, "options"), "only a 'source' takes options")
        if d.url is not None and not d.urls:
            raise self.fail(key_path(path, "url"), "names no address", "Give one or more addresses.")
        for i, url in enumerate(d.urls):
            with at(self.source, key_path(path, "url") + (f"[{i}]" if isinstance(d.url, tuple) else "")):
                check_url(url)
        if d.sha256 is None and (d.urls or d.member):
            raise self.fail(key_path(path, "sha256"), "missing: a file named by its address needs "
                            "the sha256 of its bytes" if d.urls else "missing: 'member' needs it",
                            "Take it from the publisher, or compute it from a copy with "
                            "`sha256sum FILE`.")
        if d.sha256 is not None:
            with at(self.source, key_path(path, "sha256")):
                check_sha256(d.sha256)
            with at(self.source, path):
                RemoteFile(urls=d.urls, sha256=d.sha256, member=d.member, local=d.file)
        if d.equivalent and not d.urls:
            raise self.fail(key_path(path, "equivalent"), "only a file named by 'url' has "
                            "equivalents", "Give the published file's url and sha256 first.")
        for name, digest in d.equivalent.items():
            if not name.strip() or Path(name).name != name:
                raise self.fail(key_path(key_path(path, "equivalent"), name),
                                "not a file name", "Give the bare name of the equivalent file.")
            with at(self.source, key_path(key_path(path, "equivalent"), name)):
                check_sha256(digest)
        renamed = list(d.rename.values())
        for old, new in d.rename.items():
            if not old or not new.strip():
                raise self.fail(key_path(key_path(path, "rename"), old), "an empty column name")
            if renamed.count(new) > 1:
                raise self.fail(key_path(key_path(path, "rename"), old),
                                f"'{new}' is the new name of two columns", "Give each its own name.")

    def panel(self, path: str, p: PanelStep) -> None:
        from migtrade.panel.build import parse_years

        inputs = {k: getattr(p, k) for k in ("trade", "stocks", "flows", "covariates")}
        if not any(inputs.values()):
            raise self.fail(path, "no dyadic input", "Give at least one of trade, stocks, flows, "
                            "covariates.")
        datasets = [d.name for d in self.recipe.datasets]
        renamed = {d.name for d in self.recipe.datasets if d.rename}
        for key, name in inputs.items():
            if name is not None:
                self.refer(key_path(path, key), name, datasets, "dataset")
                if name in renamed:
                    raise self.fail(key_path(path, key), f"dataset '{name}' renames columns, which a "
                                    "panel input does not take",
                                    "The panel builder recognises the columns of known layouts; "
                                    "leave out 'rename', or give the models another dataset.")
        for i, entry in enumerate(p.country_year):
            self.refer(f"{path}.country_year[{i}]", entry.rpartition("=")[2].strip(), datasets,
                       "dataset")
        with at(self.source, key_path(path, "years")):
            parse_years(p.years)

    def model(self, path: str, m: ModelStep) -> None:
        from migtrade.estimation.options import OptionError
        from migtrade.spec.formula import ModelSpec

        self.refer(key_path(path, "data"), m.data, self.data_names, "dataset or panel")
        with at(self.source, key_path(path, "formula")):
            ModelSpec.parse(m.formula)
        try:
            m.options()  # the checks of migtrade estimate, made once in EstimateOptions
        except OptionError as err:
            raise self.fail(key_path(path, err.option), err.message, err.hint) from None
        if not m.expect_tol > 0:
            raise self.fail(key_path(path, "expect_tol"), "must be positive")
        if m.expect_nobs is not None and m.expect_nobs < 0:
            raise self.fail(key_path(path, "expect_nobs"), "must not be negative")
        for key in ("expect", "expect_se"):
            for term, value in getattr(m, key).items():
                if key == "expect_se" and value < 0:
                    raise self.fail(key_path(key_path(path, key), term), "must not be negative")

    def test(self, path: str, t: TestStep) -> None:
        self.refer(key_path(path, "data"), t.data, self.data_names, "dataset or panel")
        if not 0 < t.alpha < 1:
            raise self.fail(key_path(path, "alpha"), "must be between 0 and 1")

    def counterfactual(self, path: str, c: CounterfactualStep) -> None:
        from migtrade.recipes.counterfactuals import (
            COUNTRY_NUMBERS,
            ge_options,
            parse_expect_key,
            parse_reverse_key,
        )
        from migtrade.report.plots import plot_format

        self.refer(key_path(path, "data"), c.data, self.data_names, "dataset or panel")
        try:
            with at(self.source, path):
                ge_options(c)
        except ImportError:
            pass  # without the engine the step fails when it runs, with the reason
        for key in c.expect:
            with at(self.source, key_path(key_path(path, "expect"), key)):
                parse_expect_key(key)
        for key in c.expect_reverse:
            with at(self.source, key_path(key_path(path, "expect_reverse"), key)):
                parse_reverse_key(key)
        tols = c.expect_tol if isinstance(c.expect_tol, dict) else {"": c.expect_tol}
        for key, value in tols.items():
            where = key_path(key_path(path, "expect_tol"), key) if key else key_path(path, "expect_tol")
            if key and key not in c.expect and key not in c.expect_reverse \
                    and key not in COUNTRY_NUMBERS:
                raise self.fail(where, "names neither an expected value nor a field",
                                "Use a key of expect or expect_reverse, or a field such as "
                                "real_gdp_pct.")
            if not value > 0:
                raise self.fail(where, "must be positive")
        for i, code in enumerate(c.countries):
            if not (len(code) == 3 and code.isalpha() and code.isupper()):
                raise self.fail(f"{path}.countries[{i}]", f"'{code}' is not an ISO3 code",
                                "Write codes such as MEX, in capitals.")
        if c.plot is not None:
            with at(self.source, key_path(path, "plot")):
                plot_format(Path(c.plot))

    def models(self, path: str, names: Sequence[str]) -> None:
        if not names:
            raise self.fail(path, "names no model", "List one or more models of the recipe.")
        split = {m.name for m in self.recipe.models if m.split is not None}
        for i, name in enumerate(names):
            self.refer(key_path(path, i), name, self.model_names, "model")
            if name in split:
                raise self.fail(key_path(path, i), f"model '{name}' is split by a column",
                                "Tables and plots take unsplit models; read the split model's JSON list.")
            if name in names[:i]:
                raise self.fail(key_path(path, i), f"model '{name}' is listed twice")

    def table(self, path: str, t: TableStep) -> None:
        from migtrade.report.table import TableOptions

        self.models(key_path(path, "models"), t.models)
        if t.titles is not None and len(t.titles) != len(t.models):
            raise self.fail(key_path(path, "titles"),
                            f"{len(t.titles)} titles for {len(t.models)} models", "Give one per model.")
        with at(self.source, path):
            TableOptions(keep=t.keep, drop=t.drop, order=t.order, rename=tuple(t.rename.items()),
                         statistic=t.statistic, stars=t.stars, digits=t.digits, title=t.title)
        if t.standalone and t.format not in ("latex", "html"):
            raise self.fail(key_path(path, "standalone"), f"does not apply to {t.format}",
                            "Use it with format latex or html.")

    def plot(self, path: str, p: PlotStep) -> None:
        from migtrade.report.plots import PlotStyle, plot_format

        self.models(key_path(path, "models"), p.models)
        if p.titles is not None and len(p.titles) != len(p.models):
            raise self.fail(key_path(path, "titles"),
                            f"{len(p.titles)} titles for {len(p.models)} models", "Give one per model.")
        with at(self.source, key_path(path, "file")):
            plot_format(Path(p.file))
        with at(self.source, path):
            PlotStyle(width=p.width, height=p.height, dpi=p.dpi, title=p.title, xlabel=p.xlabel)
        if isinstance(p.ref, str) and p.ref != "none":
            raise self.fail(key_path(path, "ref"), f"'{p.ref}' is neither a number nor 'none'")
        coef_only, event_only = ("keep", "drop"), ("pattern", "periods")
        for key in event_only if p.kind == "coef" else coef_only:
            if getattr(p, key):
                raise self.fail(key_path(path, key), f"does not apply to a {p.kind} plot")

    def output(self, path: str, file: str, seen: dict[str, str]) -> None:
        parts = PurePosixPath(file.replace("\\", "/")).parts
        if not parts or PurePosixPath(file).is_absolute() or Path(file).is_absolute() \
                or ".." in parts or file.startswith("~"):
            raise self.fail(path, f"'{file}' is not a path inside the output folder",
                            "Give a relative path without '..', e.g. table1.tex.")
        if parts[0] in RESERVED_OUTPUTS:
            raise self.fail(path, f"'{file}' is written by migtrade itself",
                            f"Avoid {', '.join(RESERVED_OUTPUTS)}.")
        normal = "/".join(parts)
        if normal in seen:
            raise self.fail(path, f"'{file}' is also written by {seen[normal]}", "Give another file.")
        seen[normal] = path
