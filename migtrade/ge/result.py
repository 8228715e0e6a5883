"""The result of a general-equilibrium counterfactual, saved as one ``migtrade.ge/1`` document.

Keys are only ever added to the schema, never renamed or removed. Percent changes are
``(counterfactual - baseline) / baseline x 100``; ``baseline`` says which flows they are measured
from (the data as observed, or the flows fitted from estimated trade costs).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from migtrade.errors import DataError

SCHEMA = "migtrade.ge/1"

# Per-country fields, in the order tables show them.
COUNTRY_FIELDS: tuple[str, ...] = (
    "exports_conditional_pct", "exports_full_pct", "imports_full_pct", "domestic_full_pct",
    "factory_gate_price_pct", "imr_pct", "omr_pct", "real_gdp_pct", "welfare_ratio",
    "terms_of_trade_pct", "output_baseline", "expenditure_baseline",
)
PAIR_FIELDS: tuple[str, ...] = (
    "exporter", "importer", "trade_baseline", "trade_conditional", "trade_full", "partial_effect",
)
# Keys every document has; anything else in a document is kept as it is in ``extra``.
_CORE_KEYS = (
    "schema", "year", "sigma", "theta", "reference", "method", "imbalances", "scenario",
    "baseline", "partial", "countries", "pairs", "draws", "converged", "iterations",
    "tolerance", "notes", "data", "versions",
)


@dataclass(frozen=True)
class GEResult:
    """Everything about one counterfactual except the data.

    ``countries`` maps an ISO3 code to its fields (:data:`COUNTRY_FIELDS`, ``changed`` and,
    with draws, ``intervals``); ``pairs`` lists every directed pair with its baseline,
    conditional and full-endowment flows and its partial effect; ``extra`` holds keys beyond
    the fixed ones (e.g. ``estimation``, the result of the estimate path).
    """

    year: int
    sigma: float
    theta: float
    reference: str | None
    method: str
    imbalances: str
    scenario: dict[str, Any]
    baseline: str
    partial: dict[str, dict[str, float | None]]
    countries: dict[str, dict[str, Any]]
    pairs: tuple[dict[str, Any], ...]
    draws: dict[str, Any] | None
    converged: bool
    iterations: int
    tolerance: float
    notes: tuple[str, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def country_table(self) -> dict[str, dict[str, Any]]:
        """The per-country fields (a copy)."""
        return {iso: dict(row) for iso, row in self.countries.items()}

    def to_dict(self) -> dict[str, Any]:
        """The ``migtrade.ge/1`` document."""
        out: dict[str, Any] = {
            "schema": SCHEMA,
            "year": self.year,
            "sigma": self.sigma,
            "theta": self.theta,
            "reference": self.reference,
            "method": self.method,
            "imbalances": self.imbalances,
            "scenario": dict(self.scenario),
            "baseline": self.baseline,
            "partial": {k: dict(v) for k, v in self.partial.items()},
            "countries": {k: dict(v) for k, v in self.countries.items()},
            "pairs": [dict(p) for p in self.pairs],
            "draws": None if self.draws is None else dict(self.draws),
            "converged": self.converged,
            "iterations": self.iterations,
            "tolerance": self.tolerance,
            "notes": list(self.notes),
            "data": dict(self.data),
            "versions": dict(self.versions),
        }
        for key, value in self.extra.items():
            out.setdefault(key, value)
        return _clean(out)

    def to_json(self, indent: int | None = 2) -> str:
        """Serialise to JSON (NaN and infinities become null)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> GEResult:
        """Rebuild a result from its document; refuses other schemas.

        Raises
        ------
        DataError
            When the object is not a ``migtrade.ge/1`` document or lacks one of its keys.
        """
        schema = obj.get("schema") if isinstance(obj, dict) else None
        if schema != SCHEMA:
            raise DataError(
                f"not a migtrade general-equilibrium result (schema {schema!r}, expected {SCHEMA!r})",
                "Pass a file written by 'migtrade ge --save'.",
            )
        missing = [k for k in _CORE_KEYS if k not in obj]
        if missing:
            raise DataError(f"the {SCHEMA} document lacks {', '.join(missing)}",
                            "Pass a complete file written by 'migtrade ge --save'.")
        return cls(
            year=int(obj["year"]),
            sigma=float(obj["sigma"]),
            theta=float(obj["theta"]),
            reference=obj["reference"],
            method=str(obj["method"]),
            imbalances=str(obj["imbalances"]),
            scenario=dict(obj["scenario"]),
            baseline=str(obj["baseline"]),
            partial={k: dict(v) for k, v in obj["partial"].items()},
            countries={k: dict(v) for k, v in obj["countries"].items()},
            pairs=tuple(dict(p) for p in obj["pairs"]),
            draws=None if obj["draws"] is None else dict(obj["draws"]),
            converged=bool(obj["converged"]),
            iterations=int(obj["iterations"]),
            tolerance=float(obj["tolerance"]),
            notes=tuple(obj["notes"]),
            data=dict(obj["data"]),
            versions=dict(obj["versions"]),
            extra={k: v for k, v in obj.items() if k not in _CORE_KEYS},
        )

    @classmethod
    def load(cls, path: str | Path) -> GEResult:
        """Read a saved result file."""
        p = Path(path)
        try:
            obj = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError(f"result file '{p}' does not exist", "Check the path.") from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise DataError(f"'{p}' is not a JSON file",
                            "Pass a file written by 'migtrade ge --save'.") from None
        return cls.from_dict(obj)


def _clean(value: Any) -> Any:
    """Plain Python values for JSON: numpy scalars and arrays converted, non-finite floats null."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_clean(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
