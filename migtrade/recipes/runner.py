"""Run a checked recipe: every step through the library call its command uses, then the manifest.

Steps run kind by kind (datasets, panels, models, tests, counterfactuals, tables, plots). Each
writes its files into the output folder as it finishes; ``manifest.json`` is written last, so a
run that fails part way leaves no manifest. A step's error keeps its exit code and gains the
recipe file and the step's key path in its message.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migtrade.atomic import write_text
from migtrade.errors import MigtradeError
from migtrade.recipes import commands
from migtrade.recipes.acquire import Located
from migtrade.recipes.expect import check_model, check_test
from migtrade.recipes.load import RecipeFile
from migtrade.recipes.manifest import SCHEMA, Comparison, compare, finite, read_manifest, versions
from migtrade.recipes.outputs import MANIFEST, OutputFolder, prepare_output
from migtrade.recipes.schema import (
    CounterfactualStep,
    DatasetStep,
    ModelStep,
    PanelStep,
    PlotStep,
    TableStep,
    TestStep,
)

if TYPE_CHECKING:
    import pandas as pd

    from migtrade.results.result import EstimationResult


@dataclass(frozen=True)
class StepRecord:
    """What one step did: its command equivalent, its files and a one-line summary."""

    kind: str
    name: str
    command: str | None
    outputs: tuple[str, ...]
    summary: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """The manifest's entry for the step."""
        return {"kind": self.kind, "name": self.name, "command": self.command,
                "outputs": list(self.outputs), "seconds": round(self.seconds, 3)}


@dataclass(frozen=True)
class RunReport:
    """The outcome of :func:`run_recipe`.

    Attributes
    ----------
    out
        The output folder.
    manifest
        The manifest written there.
    checked
        How many ``expect`` values were compared.
    failures
        One sentence per ``expect`` value that does not hold.
    comparison
        The comparison with the previous manifest, when one was given.
    """

    out: Path
    manifest: dict[str, Any]
    checked: int
    failures: tuple[str, ...]
    comparison: Comparison | None = None


def run_recipe(loaded: RecipeFile, out: Path, *, force: bool = False,
               store: Path | None = None, offline: bool = False, check: Path | None = None,
               rtol: float = 1e-6, atol: float = 1e-10,
               on_step: Callable[[StepRecord], None] | None = None,
               data_dirs: Sequence[Path] = (), base_url: str | None = None) -> RunReport:
    """Run every step of a recipe into ``out`` and write the manifest.

    Parameters
    ----------
    loaded
        A recipe from :func:`~migtrade.recipes.load.load_recipe`.
    out
        The output folder; it must be empty or absent unless ``force``.
    force
        Write into a non-empty folder.
    store
        The store folder for fetched datasets (default: ``$MIGTRADE_STORE`` or the user's).
    offline
        Fetch only from the download cache.
    check
        A previous manifest to compare every number with; it is read before anything runs.
    rtol, atol
        Tolerances of that comparison.
    on_step
        Called after each step, e.g. to print progress.
    data_dirs
        Folders searched by file name for local copies of the recipe's files.
    base_url
        A mirror root for the addresses of ``url`` datasets (else ``MIGTRADE_FILE_URL``).

    Returns
    -------
    RunReport
        Expectations that failed and drift are reported there, not raised.

    Raises
    ------
    SourceError
        Before anything is written, when a dataset's file cannot be obtained or has another
        sha256 (:func:`~migtrade.recipes.acquire.acquire`).
    """
    from migtrade.recipes.acquire import acquire
    from migtrade.sources.http import HttpSettings

    previous = read_manifest(check) if check is not None else None
    started = time.perf_counter()
    located = acquire(loaded, folders=data_dirs, base_url=base_url,
                      settings=HttpSettings.from_env(offline=offline, refresh=False, quiet=True))
    prepare_output(out, force=force)
    run = _Run(loaded, OutputFolder(out), store=store, offline=offline, on_step=on_step)
    run.located, run.data_dirs = located, tuple(data_dirs)
    run.all()
    manifest = run.manifest(time.perf_counter() - started)
    write_text(out / MANIFEST, json.dumps(manifest, indent=2, allow_nan=False) + "\n")
    comparison = compare(previous, manifest, rtol=rtol, atol=atol) if previous else None
    return RunReport(out=out, manifest=manifest, checked=run.checked,
                     failures=tuple(run.failures), comparison=comparison)


class _Run:
    """The state of one run: loaded data, results, and what goes into the manifest."""

    def __init__(self, loaded: RecipeFile, folder: OutputFolder, *, store: Path | None,
                 offline: bool, on_step: Callable[[StepRecord], None] | None) -> None:
        self.loaded, self.recipe, self.folder = loaded, loaded.recipe, folder
        self.store, self.offline, self.on_step = store, offline, on_step
        self.located: dict[str, Located] = {}  # url and file datasets, obtained before the run
        self.data_dirs: tuple[Path, ...] = ()
        self.frames: dict[str, tuple[pd.DataFrame, dict[str, Any]]] = {}
        self.refs: dict[str, str] = {}       # name -> what `--data` takes in a command
        self.sources: dict[str, str] = {}    # name -> what the panel builder reads
        self.datasets: dict[str, dict[str, Any]] = {}
        self.results: dict[str, EstimationResult] = {}
        self.steps: list[StepRecord] = []
        self.numbers: dict[str, dict[str, Any]] = {"models": {}, "tests": {}}
        if self.recipe.counterfactuals:
            self.numbers["counterfactuals"] = {}
        self.checked = 0
        self.failures: list[str] = []
        # Frames only models and tests read are kept in memory; panel inputs are read by the builder.
        self.needed = {m.data for m in self.recipe.models} | {t.data for t in self.recipe.tests} \
            | {c.data for c in self.recipe.counterfactuals}

    def all(self) -> None:
        r = self.recipe
        for i, d in enumerate(r.datasets):
            self.step("dataset", f"datasets[{i}]", d.name, partial(self.dataset, d))
        for i, p in enumerate(r.panels):
            self.step("panel", f"panels[{i}]", p.name, partial(self.panel, p))
        for i, m in enumerate(r.models):
            self.step("model", f"models[{i}]", m.name, partial(self.model, m))
        for i, t in enumerate(r.tests):
            self.step("test", f"tests[{i}]", t.name, partial(self.test, t))
        for i, c in enumerate(r.counterfactuals):
            self.step("counterfactual", f"counterfactuals[{i}]", c.name,
                      partial(self.counterfactual, c))
        for i, table in enumerate(r.tables):
            self.step("table", f"tables[{i}]", table.name,
                      partial(self.table, table, self.loaded.table_file(i)))
        for i, plot in enumerate(r.plots):
            self.step("plot", f"plots[{i}]", self.loaded.plot_name(i), partial(self.plot, plot))

    def step(self, kind: str, path: str, name: str,
             action: Callable[[], tuple[str | None, str]]) -> None:
        before = len(self.folder.written)
        started = time.perf_counter()
        with self.context(path, name):
            command, summary = action()
        record = StepRecord(kind=kind, name=name, command=command,
                            outputs=tuple(self.folder.written[before:]), summary=summary,
                            seconds=time.perf_counter() - started)
        self.steps.append(record)
        if self.on_step is not None:
            self.on_step(record)

    @contextmanager
    def context(self, path: str, name: str) -> Iterator[None]:
        """Prefix a step's error with the recipe and the step, keeping its class and exit code."""
        try:
            yield
        except MigtradeError as err:
            # Amended in place: subclasses may carry more than a message (an HTTP status, a URL).
            err.message = f"{self.loaded.source}: {path} ({name}): {err.message}"
            err.args = (err.message,)
            raise

    def keep(self, name: str, frame: pd.DataFrame, info: dict[str, Any]) -> None:
        if name in self.needed:
            self.frames[name] = (frame, info)

    def dataset(self, d: DatasetStep) -> tuple[str | None, str]:
        from migtrade.sources.userfile import apply_mapping
        from migtrade.store.resolve import load_data

        if d.source is not None:
            return self.fetch(d)
        located = self.located[d.name]
        frame, info = load_data(str(located.path), store=self.store)
        if d.rename:
            frame = apply_mapping(frame, {new: old for old, new in d.rename.items()},
                                  located.path.name)
        entry = located.manifest_entry(d, info["sha256"], info["rows"])
        self.sources[d.name] = str(located.path)
        self.datasets[d.name] = entry
        self.keep(d.name, frame, located.data_info(info))
        command = None
        if d.urls or d.rename:
            # Commands read the file as the recipe does only once it is stored under its name.
            command = commands.file_command(d, located.path, self.store)
            self.refs[d.name] = d.name
        else:
            self.refs[d.name] = commands.display(located.path)
        return command, f"{info['rows']:,} rows, sha256 {entry['sha256'][:12]}, {located.summary()}"

    def fetch(self, d: DatasetStep) -> tuple[str | None, str]:
        from migtrade.sources.base import FetchOptions, parse_years
        from migtrade.sources.http import HttpSettings
        from migtrade.sources.run import fetch_to_store
        from migtrade.store.resolve import load_data

        o = d.options
        # A source reading a published file (url + sha256): the verified copy is its --file.
        located = self.located.get(d.name)
        given = located.path if located is not None else \
            self.loaded.resolve(o.file) if o is not None and o.file else None
        # The addresses and hash go into the stored dataset's provenance with the copy read.
        urls, sha256 = (d.urls, d.sha256) if located is not None else ((), None)
        request = FetchOptions(file=given, urls=urls, sha256=sha256) if o is None else FetchOptions(
            file=given, base_url=o.base_url,
            years=parse_years(o.years), indicators=o.indicators, columns=o.columns,
            methods=o.methods, mapping=dict(o.mapping), table=o.table, urls=urls, sha256=sha256)
        settings = HttpSettings.from_env(offline=self.offline, refresh=False, quiet=True)
        written = fetch_to_store(str(d.source), request, name=d.name, store_root=self.store,
                                 settings=settings, data_dirs=self.data_dirs)
        main = written[0]
        frame, info = load_data(d.name, store=self.store)
        self.refs[d.name] = self.sources[d.name] = d.name
        if located is not None:
            entry = {**located.manifest_entry(d, main.provenance.sha256, info["rows"]),
                     "source": d.source, "stored_sha256": info["sha256"]}
            info = located.data_info(info)
            how = f", {located.summary()}"
        else:
            entry = {"kind": "source", "source": d.source, "location": main.provenance.location,
                     "sha256": main.provenance.sha256, "stored_sha256": info["sha256"],
                     "rows": info["rows"]}
            how = ""
        self.datasets[d.name] = entry
        self.keep(d.name, frame, info)
        command = commands.fetch_command(d, self.store, self.loaded.resolve,
                                         None if located is None else located.path)
        return command, (f"{info['rows']:,} rows from {d.source}, sha256 "
                         f"{str(entry['sha256'])[:12]}{how}")

    def panel(self, p: PanelStep) -> tuple[str | None, str]:
        from migtrade.panel.build import build_panel, parse_countries, parse_years
        from migtrade.store.resolve import load_data

        relative = f"panels/{p.name}.parquet"
        target = self.folder.path(relative)

        def source(entry: str) -> str:
            indicator, sep, name = entry.rpartition("=")
            ref = self.sources[name.strip()]
            return f"{indicator.strip()}={ref}" if sep else ref

        inputs = {k: self.sources[v] for k in ("trade", "stocks", "flows", "covariates")
                  if (v := getattr(p, k)) is not None}
        report = build_panel(name=None, **inputs,
                             country_year=tuple(source(e) for e in p.country_year),
                             years=parse_years(p.years), countries=parse_countries(p.countries),
                             store_root=self.store, out=target)
        self.folder.record(relative)
        frame, info = load_data(str(target), store=self.store)
        self.refs[p.name] = commands.display(target)
        n_countries = len(report.result.countries())
        years = sorted(int(y) for y in frame["year"].unique())
        self.datasets[p.name] = {"kind": "panel", "location": relative, "sha256": info["sha256"],
                                 "rows": info["rows"], "countries": n_countries, "years": years}
        self.keep(p.name, frame, info)
        command = commands.panel_command(p, self.refs, target, self.store)
        return command, f"{len(frame):,} rows, {n_countries} countries, years {years}"

    def model(self, m: ModelStep) -> tuple[str | None, str]:
        from migtrade.estimation.fit import fit

        frame, info = self.frames[m.data]
        if m.split is not None:
            from migtrade.recipes.split_step import run_split_step

            target, numbers, summary = run_split_step(m, frame, info, self.folder.text)
            self.numbers["models"][m.name] = numbers
            return commands.estimate_command(m, self.refs[m.data], target, self.store), summary
        result = fit(m.formula, frame, m.options(), data_info=info).result
        target = self.folder.text(f"models/{m.name}.json", result.to_json() + "\n")
        self.results[m.name] = result
        self.numbers["models"][m.name] = {
            "nobs": result.nobs, "converged": result.converged,
            "coefficients": {t: {"estimate": finite(c.estimate), "std_error": finite(c.std_error)}
                             for t, c in result.coefficients().items()}}
        checked, failures = check_model(m, result)
        self.checked += checked
        self.failures.extend(failures)
        met = f", {checked - len(failures)}/{checked} expected values met" if checked else ""
        command = commands.estimate_command(m, self.refs[m.data], target, self.store)
        return command, f"{result.label} N = {result.nobs:,}{met}"

    def test(self, t: TestStep) -> tuple[str | None, str]:
        try:
            from migtrade.hypotheses.battery import parse_instruments
            from migtrade.hypotheses.substitution import substitution_test
        except ImportError as exc:
            raise MigtradeError(f"the substitution battery cannot be loaded ({exc})",
                                "Install a migtrade that includes it, or remove the [[tests]] "
                                "step.") from None
        frame, info = self.frames[t.data]
        instruments = parse_instruments([f"{k}={v}" for k, v in t.instruments.items()])
        report = substitution_test(frame, case=t.case, alpha=t.alpha,
                                   instruments=instruments or None, include_iv=t.iv,
                                   data_info=info)
        target = self.folder.text(f"tests/{t.name}.json", report.to_json() + "\n")
        obj = report.to_dict()
        estimates: dict[str, dict[str, float | None]] = {}
        for row in obj["evidence"]:
            key = base = f"{row['test']}: {row['quantity']}"
            repeat = 1
            while key in estimates:
                repeat += 1
                key = f"{base} ({repeat})"
            estimates[key] = {"estimate": row["estimate"], "std_error": row["std_error"]}
        self.numbers["tests"][t.name] = {"verdict": obj["verdict"], "estimates": estimates}
        checked, failures = check_test(t, obj["verdict"])
        self.checked += checked
        self.failures.extend(failures)
        command = commands.test_command(t, self.refs[t.data], target, self.store)
        return command, f"verdict: {obj['verdict']}"

    def counterfactual(self, c: CounterfactualStep) -> tuple[str | None, str]:
        from migtrade.recipes import counterfactuals as cf

        try:
            from migtrade.ge.run import run_counterfactual
        except ImportError as exc:
            raise MigtradeError(f"the general-equilibrium engine cannot be loaded ({exc})",
                                "Install a migtrade that includes it, or remove the "
                                "[[counterfactuals]] step.") from None
        from migtrade.report.ge_plot import welfare_plot
        from migtrade.report.ge_table import render_ge
        from migtrade.report.plots import plot_format

        frame, info = self.frames[c.data]
        result = run_counterfactual(frame, cf.ge_options(c), data_info=info)
        doc = result.to_dict()
        target = self.folder.text(f"counterfactuals/{c.name}.json", result.to_json() + "\n")
        shown = c.countries or None
        table = self.folder.text(cf.table_file(c), render_ge(doc, c.format, countries=shown))
        image = None
        if c.plot is not None:
            image = self.folder.binary(c.plot, welfare_plot(doc, plot_format(Path(c.plot)),
                                                            countries=shown))
        self.numbers["counterfactuals"][c.name] = cf.manifest_numbers(doc)
        checked, failures = cf.check_counterfactual(c, doc)
        self.checked += checked
        self.failures.extend(failures)
        met = f", {checked - len(failures)}/{checked} expected values met" if checked else ""
        if c.max_rounds is not None:  # the published loop: its rule, not a tolerance, stops it
            state = ("stopped by the published rule after" if doc["converged"] else
                     "NOT stopped by the published rule in") + f" {doc['iterations']} rounds"
        else:
            state = ("converged" if doc["converged"] else "NOT converged") + \
                f" in {doc['iterations']} iterations"
        command = commands.ge_command(c, self.refs[c.data], target, table, image, self.store)
        return command, f"{len(doc['countries'])} countries, {state}{met}"

    def model_files(self, names: tuple[str, ...]) -> list[Path]:
        return [self.folder.root / f"models/{n}.json" for n in names]

    def table(self, t: TableStep, file: str) -> tuple[str | None, str]:
        from migtrade.report.render import render_table
        from migtrade.report.table import TableOptions

        options = TableOptions(keep=t.keep, drop=t.drop, order=t.order,
                               rename=tuple(t.rename.items()), statistic=t.statistic,
                               stars=t.stars, digits=t.digits, titles=t.titles, title=t.title)
        text = render_table([self.results[n] for n in t.models], t.format, options,
                            standalone=t.standalone)
        target = self.folder.text(file, text)
        return commands.table_command(t, self.model_files(t.models), target), \
            f"{t.format} table of {_count(len(t.models), 'model')}"

    def plot(self, p: PlotStep) -> tuple[str | None, str]:
        from migtrade.report.plots import PlotStyle, coef_plot, event_plot, plot_format

        results = [self.results[n] for n in p.models]
        style = PlotStyle(width=p.width, height=p.height, dpi=p.dpi, title=p.title, xlabel=p.xlabel)
        fmt = plot_format(Path(p.file))
        if p.kind == "coef":
            image = coef_plot(results, fmt, keep=p.keep, drop=p.drop, titles=p.titles, style=style)
        else:
            ref = None if isinstance(p.ref, str) else p.ref
            image = event_plot(results, fmt, pattern=p.pattern, periods=p.periods, ref=ref,
                               titles=p.titles, style=style)
        target = self.folder.binary(p.file, image)
        return commands.plot_command(p, self.model_files(p.models), target), \
            f"{p.kind} plot of {_count(len(p.models), 'model')}"

    def manifest(self, seconds: float) -> dict[str, Any]:
        from migtrade.sources.base import utc_now

        info = self.recipe.recipe
        return {
            "schema": SCHEMA,
            "recipe": {"name": info.name, "description": info.description,
                       "file": commands.display(Path(self.loaded.source)),
                       "sha256": self.loaded.sha256},
            "created_at": utc_now(),
            "seconds": round(seconds, 3),
            "versions": versions(),
            "datasets": self.datasets,
            "steps": [s.to_dict() for s in self.steps],
            "results": self.numbers,
            "expectations": {"checked": self.checked, "failed": list(self.failures)},
        }


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
