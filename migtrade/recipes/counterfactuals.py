"""The ``[[counterfactuals]]`` step: its options for the engine, its expectations, its numbers.

A step's GE options are the fields it shares by name with
:class:`~migtrade.ge.options.GEOptions`, so that the engine validates a recipe exactly as it
validates ``migtrade ge``. ``expect`` keys name a per-country number (``"MEX.real_gdp_pct"``) or
an estimated partial effect (``"partial.rta"``). The manifest records every number of the
``migtrade.ge/1`` document a reader compares: convergence, the partial effects, every
per-country field with its interval, and the draws; the pair flows stay in the saved document.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from migtrade.errors import UsageError
from migtrade.recipes.schema import CounterfactualStep

if TYPE_CHECKING:
    from migtrade.ge.options import GEOptions

GE_OPTION_FIELDS: tuple[str, ...] = (
    "year", "sigma", "theta", "reference", "beta", "estimate", "change", "fill_pairs", "where",
    "exporter", "importer", "trade", "imbalances", "method", "draws", "seed", "vcov", "tol",
    "maxiter", "max_rounds", "conf_level",
)
"""The fields of a step that are options of ``migtrade ge``, in the order of GEOptions."""

COUNTRY_NUMBERS: tuple[str, ...] = (
    "real_gdp_pct", "welfare_ratio", "exports_conditional_pct", "exports_full_pct",
    "imports_full_pct", "domestic_full_pct", "factory_gate_price_pct", "imr_pct", "omr_pct",
    "terms_of_trade_pct", "output_baseline", "expenditure_baseline",
)
"""Per-country numbers of the document that ``expect`` may name and the manifest records."""

TABLE_EXTENSIONS: dict[str, str] = {"md": "md", "latex": "tex", "csv": "csv", "rich": "txt"}
"""The extension of a step's table by its format."""

# The tolerance is inclusive: a value printed as 3.403 must accept 3.4025 exactly, which binary
# floating point may land just beyond.
_SLACK = 1e-9
_ISO3 = re.compile(r"[A-Z]{3}")


@dataclass(frozen=True)
class ExpectKey:
    """A parsed ``expect`` key: a country's field, or (country None) a partial effect's term."""

    country: str | None
    name: str

    @property
    def label(self) -> str:
        return f"partial effect {self.name}" if self.country is None else f"{self.country} {self.name}"


def parse_expect_key(key: str) -> ExpectKey:
    """``"MEX.real_gdp_pct"`` or ``"partial.rta"``.

    Raises
    ------
    UsageError
        When the key is neither.
    """
    head, sep, tail = key.partition(".")
    if sep and head == "partial" and tail:
        return ExpectKey(None, tail)
    if sep and _ISO3.fullmatch(head) and tail in COUNTRY_NUMBERS:
        return ExpectKey(head, tail)
    raise UsageError(f"cannot read the expectation '{key}'",
                     "Write \"ISO3.FIELD\" (e.g. \"MEX.real_gdp_pct\"; fields: "
                     f"{', '.join(COUNTRY_NUMBERS)}) or \"partial.TERM\" (e.g. \"partial.rta\").")


def parse_reverse_key(key: str) -> ExpectKey:
    """An ``expect_reverse`` key: a country's percent change (``"MEX.real_gdp_pct"``)."""
    parsed = parse_expect_key(key)
    if parsed.country is None or not parsed.name.endswith("_pct"):
        raise UsageError(f"'{key}' is not a country's percent change",
                         "expect_reverse reads percent changes back, e.g. \"MEX.real_gdp_pct\".")
    return parsed


def table_file(step: CounterfactualStep) -> str:
    """Where the step's table is written, relative to the output folder."""
    return f"counterfactuals/{step.name}.{TABLE_EXTENSIONS[step.format]}"


def ge_options(step: CounterfactualStep) -> GEOptions:
    """The engine's options for the step (validated by :class:`GEOptions` itself)."""
    from migtrade.ge.options import GEOptions

    return GEOptions(**{name: getattr(step, name) for name in GE_OPTION_FIELDS})


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def expected_value(key: ExpectKey, doc: Mapping[str, Any]) -> tuple[float | None, str | None]:
    """The document's value for an expectation, or why there is none."""
    if key.country is None:
        partial = (doc.get("partial") or {}).get(key.name)
        if not isinstance(partial, Mapping):
            known = ", ".join(doc.get("partial") or {}) or "none"
            return None, f"no partial effect '{key.name}' (estimated: {known})"
        return _number(partial.get("estimate")), None
    country = (doc.get("countries") or {}).get(key.country)
    if not isinstance(country, Mapping):
        return None, f"no country {key.country} in the counterfactual"
    return _number(country.get(key.name)), None


DEFAULT_TOL = 0.0005


def tolerance(step: CounterfactualStep, key: str) -> float:
    """The accepted difference for an expectation: by key, then by field, then the default."""
    if isinstance(step.expect_tol, float | int):
        return float(step.expect_tol)
    field_name = key.partition(".")[2]
    return float(step.expect_tol.get(key, step.expect_tol.get(field_name, DEFAULT_TOL)))


def reverse_percent(change: float) -> float | None:
    """``(old - new) / new x 100`` from ``change = (new - old) / old x 100``."""
    if change <= -100:
        return None
    return 100.0 * (1.0 / (1.0 + change / 100.0) - 1.0)


def check_counterfactual(step: CounterfactualStep, doc: Mapping[str, Any]) -> tuple[int, list[str]]:
    """Compare a counterfactual's numbers with ``expect`` and ``expect_reverse``.

    Returns
    -------
    checked, failures
        How many values were compared, and a sentence for each that differs.
    """
    where = f"counterfactuals.{step.name}"
    failures: list[str] = []
    wanted_values = [(k, v, False) for k, v in step.expect.items()]
    wanted_values += [(k, v, True) for k, v in step.expect_reverse.items()]
    for raw, wanted, reverse in wanted_values:
        key = parse_expect_key(raw)
        got, problem = expected_value(key, doc)
        label = f"{key.label} read back" if reverse else key.label
        if problem is not None:
            failures.append(f"{where}: {problem}")
            continue
        if got is not None and reverse:
            got = reverse_percent(got)
        if got is None:
            failures.append(f"{where}: {label} is missing (not finite), expected {wanted:g}")
            continue
        gap, tol = abs(got - wanted), tolerance(step, raw)
        if not gap <= tol + _SLACK:
            failures.append(f"{where}: {label} {got:.6g} differs from the expected {wanted:g} "
                            f"by {gap:.2g} (tolerance {tol:g})")
    return len(wanted_values), failures


def manifest_numbers(doc: Mapping[str, Any]) -> dict[str, Any]:
    """What the manifest records of a counterfactual, for ``--check`` to compare."""
    countries: dict[str, dict[str, Any]] = {}
    for code, row in (doc.get("countries") or {}).items():
        entry: dict[str, Any] = {k: _number(row.get(k)) for k in COUNTRY_NUMBERS}
        entry["changed"] = bool(row.get("changed"))
        if row.get("intervals"):
            entry["intervals"] = {k: [_number(v) for v in pair]
                                  for k, pair in row["intervals"].items()}
        countries[code] = entry
    draws = doc.get("draws")
    return {
        "converged": bool(doc.get("converged")),
        "iterations": doc.get("iterations"),
        "partial": {term: {"estimate": _number(v.get("estimate")),
                           "std_error": _number(v.get("std_error"))}
                    for term, v in (doc.get("partial") or {}).items()},
        "countries": countries,
        "draws": None if not isinstance(draws, Mapping) else {
            "requested": draws.get("requested"), "succeeded": draws.get("succeeded"),
            "failed": len(draws.get("failed") or ())},
    }
