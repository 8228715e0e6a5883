"""The result of the substitution battery: frozen, self-contained, and one JSON object.

The JSON layout is the ``migtrade.substitution/1`` schema: a top-level ``verdict`` (one of
:data:`~migtrade.hypotheses.verdict.VERDICTS`), the ``rule``, the ``evidence`` table, every test's
estimates under ``tests`` (each holding its full ``migtrade.estimation/1`` result), the
``skipped`` tests with their reasons, and the ``case`` study when one was asked for. Fields are
only ever added within a schema version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migtrade.errors import DataError
from migtrade.hypotheses.lincom import Combination
from migtrade.hypotheses.verdict import VERDICTS, Evidence
from migtrade.results.result import EstimationResult

SCHEMA = "migtrade.substitution/1"


def _combination(obj: dict[str, Any]) -> Combination:
    def num(v: Any) -> float:
        return float("nan") if v is None else float(v)

    return Combination(label=obj["label"], terms=tuple(obj["terms"]),
                       **{k: num(obj[k]) for k in ("estimate", "std_error", "statistic",
                                                   "p_value", "ci_low", "ci_high")})


@dataclass(frozen=True)
class TestRecord:
    """One test that ran.

    Attributes
    ----------
    name, title, family, description
        From its :class:`~migtrade.hypotheses.specs.TestSpec`.
    formula, model
        What the engine estimated.
    result
        The full estimation result.
    quantities
        The reported numbers (coefficients and sums of coefficients).
    event_study
        For the dynamic tests: the cumulative response 0, 1, 2 steps after entry.
    first_stage
        For the instrumental-variables tests: the engine's first-stage diagnostics.
    notes
        Anything the reader should know about this test.
    """

    name: str
    title: str
    family: str
    description: str
    formula: str
    model: str
    result: EstimationResult
    quantities: tuple[Combination, ...] = ()
    event_study: tuple[Combination, ...] = ()
    first_stage: dict[str, Any] | None = None
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "title": self.title, "family": self.family, "description": self.description,
            "formula": self.formula, "model": self.model,
            "quantities": [q.to_dict() for q in self.quantities],
            "event_study": [q.to_dict() for q in self.event_study],
            "first_stage": self.first_stage, "notes": list(self.notes),
            "result": self.result.to_dict(),
        }

    @classmethod
    def from_dict(cls, name: str, obj: dict[str, Any]) -> TestRecord:
        """Inverse of :meth:`to_dict`."""
        return cls(name=name, title=obj["title"], family=obj["family"],
                   description=obj["description"], formula=obj["formula"], model=obj["model"],
                   result=EstimationResult.from_dict(obj["result"]),
                   quantities=tuple(_combination(q) for q in obj.get("quantities", [])),
                   event_study=tuple(_combination(q) for q in obj.get("event_study", [])),
                   first_stage=obj.get("first_stage"), notes=tuple(obj.get("notes", [])))


@dataclass(frozen=True)
class SubstitutionReport:
    """Everything ``migtrade test substitution`` found.

    Attributes
    ----------
    verdict
        One of :data:`~migtrade.hypotheses.verdict.VERDICTS`.
    alpha, threshold
        The chosen significance level and the level each voting test was judged at.
    rule
        The verdict rule in plain words.
    reasons
        Why this verdict, in sentences.
    evidence
        The evidence table.
    tests
        Every test that ran, in order.
    skipped
        ``(test name, reason)`` for every test that could not run.
    data
        Where the data came from (path or dataset, sha256, rows).
    step
        Years between panel years (the length of a lag).
    notes
        Assumptions and data caveats.
    case
        The case study, when one was asked for.
    """

    verdict: str
    alpha: float
    threshold: float
    rule: str
    reasons: tuple[str, ...]
    evidence: tuple[Evidence, ...]
    tests: tuple[TestRecord, ...]
    skipped: tuple[tuple[str, str], ...] = ()
    data: dict[str, Any] = field(default_factory=dict)
    step: int = 5
    notes: tuple[str, ...] = ()
    case: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {self.verdict!r}")

    def test(self, name: str) -> TestRecord:
        """The record of the test called ``name``."""
        for record in self.tests:
            if record.name == name:
                return record
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """The ``migtrade.substitution/1`` object."""
        return {
            "schema": SCHEMA,
            "verdict": self.verdict,
            "alpha": self.alpha,
            "threshold": self.threshold,
            "rule": self.rule,
            "reasons": list(self.reasons),
            "evidence": [e.to_dict() for e in self.evidence],
            "tests": {t.name: t.to_dict() for t in self.tests},
            "skipped": {name: reason for name, reason in self.skipped},
            "data": dict(self.data),
            "step": self.step,
            "notes": list(self.notes),
            "case": self.case,
        }

    def to_json(self, indent: int | None = 2) -> str:
        """Serialise to JSON (non-finite numbers become null)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> SubstitutionReport:
        """Rebuild a report from its JSON object; refuses other schemas."""
        schema = obj.get("schema") if isinstance(obj, dict) else None
        if schema != SCHEMA:
            raise DataError(f"not a migtrade substitution report (schema {schema!r}, "
                            f"expected {SCHEMA!r})",
                            "Pass a file written by 'migtrade test substitution --save'.")
        return cls(
            verdict=obj["verdict"], alpha=float(obj["alpha"]),
            threshold=float(obj["threshold"]), rule=obj["rule"],
            reasons=tuple(obj["reasons"]),
            evidence=tuple(Evidence.from_dict(e) for e in obj["evidence"]),
            tests=tuple(TestRecord.from_dict(n, t) for n, t in obj["tests"].items()),
            skipped=tuple((n, r) for n, r in obj.get("skipped", {}).items()),
            data=dict(obj.get("data", {})), step=int(obj.get("step", 5)),
            notes=tuple(obj.get("notes", [])), case=obj.get("case"),
        )

    @classmethod
    def load(cls, path: str | Path) -> SubstitutionReport:
        """Read a saved report."""
        try:
            obj = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise DataError(f"report file '{path}' does not exist", "Check the path.") from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise DataError(f"'{path}' is not a JSON file",
                            "Pass a file written by 'migtrade test substitution'.") from None
        return cls.from_dict(obj)
