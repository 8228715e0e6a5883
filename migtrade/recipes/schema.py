"""The recipe schema: one frozen dataclass per TOML table, the only keys a recipe may use.

Every field is plain data (text, numbers, booleans, lists and tables of them). Formulas, filters
and options are handed to migtrade's own parsers, exactly as the commands hand them; nothing in a
recipe is ever evaluated as Python or passed to a shell.

:func:`migtrade.recipes.validate.build` turns parsed TOML into these classes by their type hints,
so that the dataclasses below are the whole definition of what a recipe may say.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Literal

from migtrade.estimation.options import (
    DEFAULT_FE_MAXITER,
    DEFAULT_FE_TOL,
    DEFAULT_MAXITER,
    DEFAULT_TOL,
    SEPARATION_METHODS,
)
from migtrade.ge.options import DEFAULT_MAXITER as GE_MAXITER
from migtrade.ge.options import DEFAULT_TOL as GE_TOL
from migtrade.ge.options import PAIR_CLUSTER, Imbalances, Method

if TYPE_CHECKING:
    from migtrade.estimation.options import EstimateOptions

Verdict = Literal["substitutes", "complements", "short-run-complements-long-run-substitutes",
                  "inconclusive"]
TableFormat = Literal["md", "latex", "html", "csv", "json", "text"]


@dataclass(frozen=True)
class RecipeInfo:
    """``[recipe]``: what the recipe is.

    Attributes
    ----------
    name
        Names the default output folder ``migtrade-out/<name>/``; lowercase letters, digits,
        ``_``, ``-`` and ``.``.
    description
        Free text for the manifest.
    """

    name: str
    description: str = ""


@dataclass(frozen=True)
class SourceOptions:
    """``options`` of a fetched dataset: the options of ``migtrade fetch SOURCE``.

    Attributes
    ----------
    file
        Read this downloaded copy instead of the network (relative to the recipe's folder).
    base_url
        A mirror instead of the source's default address.
    years
        ``"FIRST:LAST"`` inclusive, or one year.
    indicators
        World Bank indicator codes (``worldbank``).
    columns
        CEPII columns, ``NAME`` or ``STANDARD=NAME`` (``cepii``).
    methods
        Abel-Cohen estimation methods (``abel-cohen``).
    mapping
        ``{standard name = "column in the file"}`` (``file``).
    table
        Which file of a named publisher (``yotov2016``, ``santos-silva-tenreyro``, ...).
    """

    file: str | None = None
    base_url: str | None = None
    years: str | None = None
    indicators: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    mapping: dict[str, str] = field(default_factory=dict)
    table: str | None = None


@dataclass(frozen=True)
class DatasetStep:
    """``[[datasets]]``: a published file (url + sha256), a local file, or a fetched source.

    Give ``url`` (with ``sha256``), ``file``, or both; or else ``source``. ``source`` with
    ``url`` and ``sha256`` (``undesa``, ``abel-cohen``): the published file, obtained and
    checked like any ``url`` dataset, is read by that source's parser as its ``--file``.

    Attributes
    ----------
    name
        How later steps refer to it; for a fetched source also its name in the store.
    url
        The file's public address, or several addresses serving the same bytes (mirrors, tried
        in order). It is downloaded once into the download cache; a copy found by name in a
        ``--data-dir`` folder is used first.
    sha256
        The sha256 of the file's bytes (of the archive, with ``member``); required with ``url``.
        Any copy with another hash is refused.
    member
        For a zip archive: the member to read.
    file
        CSV, gzip CSV, Parquet or Stata file; a relative path is relative to the recipe's folder,
        and is also looked for by name in the ``--data-dir`` folders. With ``url``, a local copy
        used when present.
    rename
        ``{old = "new"}`` column names, applied when the file is read (not with ``source``, whose
        ``options.mapping`` does this, nor for panel inputs, which are recognised by layout).
    equivalent
        ``{"FILE NAME" = "SHA256"}``, only with ``url``: the same data in another layout (a
        conversion kept by an institution or a test suite), accepted when no copy of the published
        file is at hand and a file of that name with that sha256 sits beside the recipe or in a
        ``--data-dir`` folder. It is never downloaded; the manifest records which file was read.
    source
        A source of ``migtrade fetch`` (worldbank, undesa, abel-cohen, cepii, file, yotov2016...);
        with ``url``, the parser that reads the file.
    options
        The fetch options (:class:`SourceOptions`), only with ``source``.
    description
        Free text.
    """

    name: str
    url: str | tuple[str, ...] | None = None
    sha256: str | None = None
    member: str | None = None
    file: str | None = None
    rename: dict[str, str] = field(default_factory=dict)
    equivalent: dict[str, str] = field(default_factory=dict)
    source: str | None = None
    options: SourceOptions | None = None
    description: str = ""

    @property
    def urls(self) -> tuple[str, ...]:
        """``url`` as a tuple of addresses (empty when not given)."""
        if self.url is None:
            return ()
        return (self.url,) if isinstance(self.url, str) else self.url


@dataclass(frozen=True)
class PanelStep:
    """``[[panels]]``: ``migtrade panel build`` from datasets of the recipe.

    The panel is written to ``panels/<name>.parquet`` in the output folder and can then be the
    ``data`` of models and tests.

    Attributes
    ----------
    name
        How later steps refer to the panel.
    trade, stocks, flows, covariates
        Names of datasets of the recipe holding each input.
    country_year
        Names of country-year datasets, each optionally ``"INDICATOR=name"``.
    years
        ``"1990,1995"``, ``"1986:2006"`` or ``"1990:2020:5"``.
    countries
        ``"MEX,USA,PHL"``, or ``"@trade"`` for the countries of the trade input.
    """

    name: str
    trade: str | None = None
    stocks: str | None = None
    flows: str | None = None
    covariates: str | None = None
    country_year: tuple[str, ...] = ()
    years: str | None = None
    countries: str | None = None


@dataclass(frozen=True)
class ModelStep:
    """``[[models]]``: ``migtrade estimate`` of one formula with one estimator.

    The result is written to ``models/<name>.json`` (schema ``migtrade.estimation/1``).

    Attributes
    ----------
    name
        How tables and plots refer to the model.
    data
        A dataset or panel of the recipe.
    formula
        ``"y ~ x1 + x2 | fe1 + fe2"``, parsed by migtrade's formula parser.
    model, vcov, small_sample, where, weights, offset, separation, keep_singletons, tol,
    fe_tol, maxiter, fe_maxiter, conf_level, bias_correction
        As the options of ``migtrade estimate``; ``separation = []`` turns the checks off.
        ``bias_correction = true`` is the analytical correction. With ``bias_correction``,
        ``expect`` and ``expect_se`` are checked against the
        corrected estimates and standard errors.
    split, workers
        As ``--split`` and ``--workers``: the model on each level of the column ``split`` (on
        a local Dask cluster of ``workers`` processes, or in process), written as the JSON
        list of a split run; its numbers are in the manifest level by level. ``expect*`` do
        not apply, and tables and plots take unsplit models.
    expect
        ``{term = estimate}``: published values the estimates must match.
    expect_se
        ``{term = standard error}``: likewise for standard errors.
    expect_nobs
        The number of observations, matched exactly.
    expect_tol
        Largest accepted absolute difference for ``expect`` and ``expect_se``; the default,
        0.0005, is half a unit in the last place of a table printed to three decimals.
    """

    name: str
    data: str
    formula: str
    model: Literal["ppml", "ols"] = "ppml"
    vcov: str = "robust"
    small_sample: Literal["stata", "fixest"] = "stata"
    where: str | None = None
    weights: str | None = None
    offset: str | None = None
    separation: tuple[str, ...] = SEPARATION_METHODS
    keep_singletons: bool = False
    tol: float = DEFAULT_TOL
    fe_tol: float = DEFAULT_FE_TOL
    maxiter: int = DEFAULT_MAXITER
    fe_maxiter: int = DEFAULT_FE_MAXITER
    conf_level: float = 0.95
    bias_correction: bool | Literal["analytical", "jackknife"] | None = None
    split: str | None = None
    workers: int | None = None
    expect: dict[str, float] = field(default_factory=dict)
    expect_se: dict[str, float] = field(default_factory=dict)
    expect_nobs: int | None = None
    expect_tol: float = 0.0005

    def __post_init__(self) -> None:
        # ``true`` names the default correction, ``false`` none: the command line spells them
        # --bias-correction analytical and nothing.
        if isinstance(self.bias_correction, bool):
            object.__setattr__(self, "bias_correction", "analytical" if self.bias_correction else None)

    def options(self) -> EstimateOptions:
        """The estimate's options, checked: the object ``migtrade estimate`` builds from its flags."""
        from migtrade.estimation.options import EstimateOptions, OptionError

        if self.split is None and self.workers is not None:
            raise OptionError("workers", "workers runs a split model", "Give split = COLUMN, or drop workers.")
        if self.split is not None and (self.expect or self.expect_se or self.expect_nobs is not None):
            raise OptionError("split", "expect, expect_se and expect_nobs do not apply to a split model",
                              "Check the levels' numbers through the manifest (--check), or drop split.")
        names = set(EstimateOptions.names())
        return EstimateOptions(**{f.name: getattr(self, f.name) for f in fields(self) if f.name in names})


@dataclass(frozen=True)
class TestStep:
    """``[[tests]]``: ``migtrade test substitution`` on a dyadic panel.

    The report is written to ``tests/<name>.json`` (schema ``migtrade.substitution/1``).

    Attributes
    ----------
    name
        Names the report.
    data
        A dataset or panel of the recipe.
    case
        ``"MEX-USA"`` or ``"PHL"``; none for the battery alone.
    alpha
        Significance level of the verdict.
    iv
        Run the instrumental-variables tests.
    instruments
        ``{trade = "TERMS", stock = "TERMS"}`` replacing the default instruments.
    expect
        The verdict the test must reach.
    """

    __test__ = False  # a recipe step, not a test case for pytest to collect

    name: str
    data: str
    case: Literal["MEX-USA", "PHL"] | None = None
    alpha: float = 0.05
    iv: bool = True
    instruments: dict[str, str] = field(default_factory=dict)
    expect: Verdict | None = None


@dataclass(frozen=True)
class CounterfactualStep:
    """``[[counterfactuals]]``: ``migtrade ge``, a general-equilibrium counterfactual.

    The result is written to ``counterfactuals/<name>.json`` (schema ``migtrade.ge/1``) and its
    table to ``counterfactuals/<name>.<extension of the format>``; every number goes into the
    manifest.

    Attributes
    ----------
    name
        Names the result.
    data
        A dataset or panel of the recipe.
    year, sigma, theta, reference, beta, estimate, change, fill_pairs, where, exporter,
    importer, trade, imbalances, method, draws, seed, vcov, tol, maxiter, max_rounds,
    conf_level
        As the options of ``migtrade ge`` (:class:`~migtrade.ge.options.GEOptions`).
    format
        The table written beside the result: md, latex, csv or rich (plain text).
    countries
        ISO3 codes the table and the plot show; all by default.
    plot
        An image file (.png, .svg or .pdf, relative to the output folder) for the welfare plot
        of ``migtrade plot ge``; none by default.
    expect
        ``{"ISO3.field" = value}`` for any per-country number (``"MEX.real_gdp_pct"``), or
        ``{"partial.TERM" = value}`` for an estimated partial effect.
    expect_reverse
        ``{"ISO3.field_pct" = value}``: a percent change read the other way, from the
        counterfactual back to the baseline, ``(baseline - counterfactual) / counterfactual x
        100`` (how Yotov et al. 2016 report the effect of an agreement that the counterfactual
        removes); compared as ``100 (1 / (1 + c / 100) - 1)`` of the result's change ``c``.
    expect_tol
        Largest accepted absolute difference for ``expect`` and ``expect_reverse``: one number,
        or a table by key (``"MEX.exports_full_pct"``) or by field (``exports_full_pct``);
        0.0005 where none is given, half a unit in the last place of three decimals.
    """

    name: str
    data: str
    year: int
    sigma: float | None = None
    theta: float | None = None
    reference: str | None = None
    beta: str | None = None
    estimate: str | None = None
    change: str | None = None
    fill_pairs: str | None = None
    where: str | None = None
    exporter: str | None = None
    importer: str | None = None
    trade: str | None = None
    imbalances: Imbalances = "additive"
    method: Method = "fixed-point"
    draws: int = 0
    seed: int | None = None
    vcov: str = PAIR_CLUSTER
    tol: float = GE_TOL
    maxiter: int = GE_MAXITER
    max_rounds: int | None = None
    conf_level: float = 0.95
    format: Literal["md", "latex", "csv", "rich"] = "md"
    countries: tuple[str, ...] = ()
    plot: str | None = None
    expect: dict[str, float] = field(default_factory=dict)
    expect_reverse: dict[str, float] = field(default_factory=dict)
    expect_tol: float | dict[str, float] = 0.0005


@dataclass(frozen=True)
class TableStep:
    """``[[tables]]``: ``migtrade table`` of models of the recipe.

    Attributes
    ----------
    name
        Names the table; the file defaults to ``<name>.<extension of the format>``.
    models
        Models of the recipe, one column each.
    format
        md, latex, html, csv, json or text.
    file
        Where to write it, relative to the output folder.
    keep, drop, order, rename, statistic, stars, digits, titles, title, standalone
        As the options of ``migtrade table`` (:class:`~migtrade.report.table.TableOptions`);
        ``rename`` is a table ``{old = "new"}``.
    """

    name: str
    models: tuple[str, ...]
    format: TableFormat
    file: str | None = None
    keep: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    order: tuple[str, ...] = ()
    rename: dict[str, str] = field(default_factory=dict)
    statistic: Literal["se", "tstat", "ci"] = "se"
    stars: tuple[float, ...] = (0.10, 0.05, 0.01)
    digits: int = 3
    titles: tuple[str, ...] | None = None
    title: str | None = None
    standalone: bool = False


@dataclass(frozen=True)
class PlotStep:
    """``[[plots]]``: ``migtrade plot coef`` or ``migtrade plot event`` of models of the recipe.

    Attributes
    ----------
    kind
        ``coef`` or ``event``.
    models
        Models of the recipe.
    file
        Image file relative to the output folder: .png, .svg or .pdf.
    name
        Names the step; the file's name without its extension by default.
    keep, drop
        Coefficients to show or leave out (``coef``).
    pattern, periods, ref
        Event-study coefficients, their periods and the reference period (``event``); ``ref``
        is a number or ``"none"``.
    titles, title, xlabel, width, height, dpi
        Legend labels and the figure's looks.
    """

    kind: Literal["coef", "event"]
    models: tuple[str, ...]
    file: str
    name: str | None = None
    keep: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    pattern: str | None = None
    periods: tuple[float, ...] | None = None
    ref: float | str = -1.0
    titles: tuple[str, ...] | None = None
    title: str | None = None
    xlabel: str | None = None
    width: float = 7.0
    height: float = 4.5
    dpi: int = 150


@dataclass(frozen=True)
class Recipe:
    """A whole recipe file.

    Steps run kind by kind in this order (datasets, panels, models, tests, counterfactuals,
    tables, plots), and within a kind in the order written.
    """

    recipe: RecipeInfo
    datasets: tuple[DatasetStep, ...] = ()
    panels: tuple[PanelStep, ...] = ()
    models: tuple[ModelStep, ...] = ()
    tests: tuple[TestStep, ...] = ()
    counterfactuals: tuple[CounterfactualStep, ...] = ()
    tables: tuple[TableStep, ...] = ()
    plots: tuple[PlotStep, ...] = ()
