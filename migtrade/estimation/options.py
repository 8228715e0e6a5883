"""The options of an estimate, declared and checked once.

:class:`EstimateOptions` is what ``migtrade estimate`` (its flags), a recipe's ``[[models]]``
table and the Python API (``migtrade.estimate(...)`` keyword arguments) all build: the same
names (the flags in snake_case), the same defaults and the same checks, made when the object is
created, before any data are read. :class:`FitOptions` is its numerical part, the one the engine
and the hypothesis battery pass around.

Messages name an option by its name (``maxiter``), which is the keyword of the API and of a
recipe and, with ``--`` and dashes, the flag of the command line.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from migtrade.errors import UsageError

if TYPE_CHECKING:
    from migtrade.estimation.bias_correction import BiasCorrection
    from migtrade.estimation.bootstrap import BootstrapOptions
    from migtrade.estimation.vcov import VcovSpec


class OptionError(UsageError):
    """A value an estimation option cannot take; ``option`` names the option (``maxiter``)."""

    def __init__(self, option: str, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.option = option


@contextmanager
def _checking(option: str) -> Iterator[None]:
    """Name ``option`` on any usage error raised while its value is checked."""
    try:
        yield
    except OptionError:
        raise
    except UsageError as err:
        raise OptionError(option, err.message, err.hint) from None


class Model(StrEnum):
    """The estimators (the names of :data:`migtrade.estimation.models.MODELS`)."""

    ols = "ols"
    ppml = "ppml"


def parse_models(value: str | Sequence[str]) -> list[str]:
    """``"ols,ppml"`` or ``["ols", "ppml"]`` -> ``["ols", "ppml"]``: several models to fit
    each formula with, each named once.

    Raises
    ------
    OptionError
        For an unknown model, or one named twice.
    """
    names = value.split(",") if isinstance(value, str) else list(value)
    out = [str(n).strip().lower() for n in names]
    choices = [m.value for m in Model]
    for name in out:
        if name not in choices:
            among = f" in {','.join(out)!r}" if len(out) > 1 else ""
            raise OptionError("model", f"unknown model '{name}'{among}",
                              f"Use {' or '.join(choices)}, or several comma-separated.")
    if not out or len(set(out)) != len(out):
        raise OptionError("model", f"model {value!r} names a model twice" if out else "no model given",
                          "Give each model once.")
    return out


SEPARATION_METHODS: tuple[str, ...] = ("fe", "simplex", "relu")
"""The PPML separation checks, in the order they run (see :mod:`migtrade.estimation.separation`)."""

DEFAULT_TOL = 1e-8
DEFAULT_FE_TOL = 1e-8
DEFAULT_MAXITER = 1000
DEFAULT_FE_MAXITER = 100_000
DEFAULT_REPS = 9999
DEFAULT_SEED = 20_240_601


def _bias_request(value: str | bool | None) -> BiasCorrection | None:
    """The bias correction asked for; its module (and the panel code behind it) loads only when
    one is."""
    if value is None or value is False:
        return None
    from migtrade.estimation.bias_correction import parse_request

    return parse_request(value)


def _separation(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"fe,simplex"``, ``"none"``, ``["fe"]``, ``[]`` or None -> a checked tuple."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    methods: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise OptionError("separation", f"separation check {item!r} is not a name",
                             f"Use any of {', '.join(SEPARATION_METHODS)}, or none.")
        name = item.strip().lower()
        if not name or name == "none":
            continue
        if name not in SEPARATION_METHODS:
            raise OptionError("separation", f"unknown separation check '{item.strip()}'",
                             f"Use any of {', '.join(SEPARATION_METHODS)}, or none.")
        if name not in methods:
            methods.append(name)
    return tuple(methods)


def _positive_number(name: str, value: Any, example: str) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value <= 0:
        raise OptionError(name, f"{name} must be a positive number, not {value!r}",
                          f"Use e.g. {name} = {example}.")
    return float(value)


def _count(name: str, value: Any, example: str, *, least: int = 1) -> int:
    whole = isinstance(value, int) and not isinstance(value, bool)
    if isinstance(value, float) and value.is_integer():
        value, whole = int(value), True
    if not whole or value < least:
        raise OptionError(name, f"{name} must be a whole number of at least {least}, not {value!r}",
                          f"Use e.g. {name} = {example}.")
    return int(value)


def _bootstrap_terms(value: Any) -> tuple[tuple[str, ...], ...] | None:
    """``"rta,a+b"`` or ``["rta", "a + b"]`` -> ``(("rta",), ("a", "b"))``; None for every term."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else value
    if isinstance(items, str | bytes) or not isinstance(items, Sequence) \
            or not all(isinstance(i, str) for i in items):
        raise OptionError("bootstrap_terms", f"bootstrap_terms must be terms such as 'rta' or "
                          f"'rta + rta_lag', not {value!r}", "Give a comma-separated list of terms.")
    out = tuple(tuple(t.strip() for t in item.split("+")) for item in items if item.strip())
    if not out or any(not t for terms in out for t in terms):
        raise OptionError("bootstrap_terms", f"bootstrap_terms names no term, or an empty one: {value!r}",
                          "Give terms such as rta,log_dist or a sum such as rta+rta_lag.")
    return out


def _column(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise OptionError(name, f"{name} must name a column, not {value!r}",
                          f"Give the column's name, or leave {name} out.")
    return value.strip()


@dataclass(frozen=True)
class FitOptions:
    """Numerical options of the engine (defaults suit almost every gravity panel).

    Parameters
    ----------
    tol
        PPML: convergence tolerance on the relative change in deviance (> 0).
    fe_tol
        Tolerance of the fixed-effect demeaning (> 0).
    maxiter
        PPML: the most IRLS iterations (>= 1).
    fe_maxiter
        The most demeaning sweeps per solve (>= 1).
    drop_singletons
        Drop observations alone in a fixed-effect group (iteratively).
    separation
        PPML separation checks, any of :data:`SEPARATION_METHODS`; empty for none.
    conf_level
        Coverage of the confidence intervals, strictly between 0 and 1.
    """

    tol: float = DEFAULT_TOL
    fe_tol: float = DEFAULT_FE_TOL
    maxiter: int = DEFAULT_MAXITER
    fe_maxiter: int = DEFAULT_FE_MAXITER
    drop_singletons: bool = True
    separation: tuple[str, ...] = SEPARATION_METHODS
    conf_level: float = 0.95

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "tol", _positive_number("tol", self.tol, "1e-8"))
        set_(self, "fe_tol", _positive_number("fe_tol", self.fe_tol, "1e-8"))
        set_(self, "maxiter", _count("maxiter", self.maxiter, "1000"))
        set_(self, "fe_maxiter", _count("fe_maxiter", self.fe_maxiter, "100000"))
        set_(self, "separation", _separation(self.separation))
        level = self.conf_level
        if not isinstance(level, int | float) or isinstance(level, bool) or not 0 < level < 1:
            raise OptionError("conf_level", f"conf_level must be between 0 and 1, not {level!r}",
                              "Use e.g. conf_level = 0.95.")
        set_(self, "conf_level", float(level))
        set_(self, "drop_singletons", bool(self.drop_singletons))


@dataclass(frozen=True)
class EstimateOptions:
    """Everything ``migtrade estimate`` can be told about how to fit a model, checked.

    The field names are the command's flags in snake_case and its defaults; see the README's
    "Options that matter". The parsed forms the engine uses are :attr:`vcov_spec`, :attr:`fit`,
    :attr:`bootstrap_options` and :attr:`bias`.

    Parameters
    ----------
    model
        ``"ppml"`` or ``"ols"``.
    vcov
        ``"robust"``, ``"iid"``, ``"cluster:VAR"``, ``"cluster:VAR1,VAR2"`` (multi-way) or
        ``"cluster:VAR1^VAR2"`` (their combinations).
    small_sample
        ``"stata"`` or ``"fixest"`` (the conventions are tabulated in the README).
    where, weights, offset
        A row filter; columns of weights and of an offset.
    separation
        PPML separation checks: a comma-separated string, a list, or ``"none"``.
    keep_singletons
        Keep observations alone in a fixed-effect group.
    tol, fe_tol, maxiter, fe_maxiter, conf_level
        As :class:`FitOptions`.
    bootstrap
        ``"wild"`` (OLS) or ``"score"`` (PPML); None for none.
    reps, seed, bootstrap_weights, impose_null
        The bootstrap's replications, seed, weights (``rademacher``, ``webb``, ``mammen``) and
        whether the null is imposed.
    bootstrap_intervals
        With the null imposed, intervals by test inversion (for the score bootstrap one
        restricted PPML fit per trial value); False gives p-values only (and the score
        bootstrap's unrestricted bootstrap-t interval).
    bootstrap_terms
        Bootstrap only these terms (``"rta,log_dist"``; ``"a+b"`` tests the sum); None for
        every coefficient. With the null imposed the score bootstrap fits the model once per
        tested term.
    bias_correction
        PPML: ``"analytical"`` (or True) or ``"jackknife"``; None (or False) for none.
    """

    model: str = Model.ppml.value
    vcov: str = "robust"
    small_sample: str = "stata"
    where: str | None = None
    weights: str | None = None
    offset: str | None = None
    separation: str | Sequence[str] | None = SEPARATION_METHODS
    keep_singletons: bool = False
    tol: float = DEFAULT_TOL
    fe_tol: float = DEFAULT_FE_TOL
    maxiter: int = DEFAULT_MAXITER
    fe_maxiter: int = DEFAULT_FE_MAXITER
    conf_level: float = 0.95
    bootstrap: str | None = None
    reps: int = DEFAULT_REPS
    seed: int = DEFAULT_SEED
    bootstrap_weights: str = "rademacher"
    impose_null: bool = True
    bootstrap_intervals: bool = True
    bootstrap_terms: str | Sequence[str] | None = None
    bias_correction: str | bool | None = None
    fit: FitOptions = field(init=False, repr=False, compare=False)
    vcov_spec: VcovSpec = field(init=False, repr=False, compare=False)
    bootstrap_options: BootstrapOptions | None = field(init=False, repr=False, compare=False)
    bias: BiasCorrection | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        from migtrade.estimation.vcov import VcovSpec

        set_ = object.__setattr__
        model = str(self.model).strip().lower() if isinstance(self.model, str) else self.model
        if model not in tuple(Model):
            raise OptionError("model", f"unknown model {self.model!r}",
                              f"Use {' or '.join(m.value for m in Model)}.")
        set_(self, "model", str(model))
        if not isinstance(self.vcov, str):
            raise OptionError("vcov", f"vcov must be text such as 'robust' or 'cluster:pair_id', "
                              f"not {self.vcov!r}", "Use iid, robust or cluster:VAR[,VAR2].")
        with _checking("small_sample" if self.small_sample not in ("stata", "fixest") else "vcov"):
            set_(self, "vcov_spec", VcovSpec.parse(self.vcov, self.small_sample))
        set_(self, "small_sample", self.vcov_spec.small_sample.value)
        if self.where is not None and (not isinstance(self.where, str) or not self.where.strip()):
            raise OptionError("where", f"where must be a filter such as 'year >= 1990', not {self.where!r}",
                              "Give a filter, or leave where out.")
        set_(self, "weights", _column("weights", self.weights))
        set_(self, "offset", _column("offset", self.offset))
        set_(self, "separation", _separation(self.separation))
        set_(self, "fit", FitOptions(
            tol=self.tol, fe_tol=self.fe_tol, maxiter=self.maxiter, fe_maxiter=self.fe_maxiter,
            drop_singletons=not self.keep_singletons, separation=tuple(self.separation or ()),
            conf_level=self.conf_level))
        for name in ("tol", "fe_tol", "maxiter", "fe_maxiter", "conf_level"):
            set_(self, name, getattr(self.fit, name))
        with _checking("bias_correction"):
            set_(self, "bias", _bias_request(self.bias_correction))
        set_(self, "bias_correction", self.bias.value if self.bias else None)
        set_(self, "bootstrap_options", self._bootstrap())
        if self.bias is not None and self.bootstrap_options is not None:
            raise OptionError("bias_correction", "a bootstrap and a bias correction cannot be combined",
                              "The bootstrap is of the uncorrected estimate; ask for one of them.")

    def _bootstrap(self) -> BootstrapOptions | None:
        reps = _count("reps", self.reps, "9999")
        seed = _count("seed", self.seed, "1", least=0)
        hypotheses = _bootstrap_terms(self.bootstrap_terms)
        if self.bootstrap is None:
            if hypotheses is not None:
                raise OptionError("bootstrap_terms", "bootstrap_terms without a bootstrap",
                                  "Add --bootstrap wild or score, or leave out --bootstrap-terms.")
            return None
        from migtrade.estimation.bootstrap import BootstrapOptions

        method, weights = str(self.bootstrap).strip().lower(), str(self.bootstrap_weights).strip().lower()
        with _checking("bootstrap_weights" if method in ("wild", "score") else "bootstrap"):
            return BootstrapOptions(method=method, reps=reps, seed=seed,  # type: ignore[arg-type]
                                    weights=weights, impose_null=bool(self.impose_null),  # type: ignore[arg-type]
                                    invert_intervals=bool(self.bootstrap_intervals),
                                    hypotheses=hypotheses)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The options a caller may set (the command's flags in snake_case)."""
        return tuple(f.name for f in fields(cls) if f.init)
