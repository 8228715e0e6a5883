"""The verdict of the substitution battery: one rule, written once, applied to the evidence table.

:func:`decide` holds the rule; :data:`RULE` is its plain-language statement, taken from the
function's docstring so that what is printed with every result, what the README says and what the
code does cannot drift apart.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

VERDICTS: tuple[str, ...] = (
    "substitutes",
    "complements",
    "short-run-complements-long-run-substitutes",
    "inconclusive",
)
HUMP = "short-run-complements-long-run-substitutes"
VOTING_ROLES: tuple[str, ...] = ("network", "migration", "long-run")


@dataclass(frozen=True)
class Evidence:
    """One row of the evidence table.

    Attributes
    ----------
    test
        Name of the test that produced it.
    quantity
        What the number measures.
    role
        ``network``, ``migration``, ``short-run``, ``long-run`` or ``supporting``.
    estimate, std_error, p_value
        The estimate and its inference (a sum of coefficients has a delta-method error).
    predicted
        Sign of the estimate under each hypothesis, ``{"complements": 1, "substitutes": -1}``.
    counts
        Whether the row takes part in the verdict (a fallback test does not when the test it
        stands in for ran).
    short
        A few words for narrow tables.
    reading
        Filled by :func:`decide`: ``complements``, ``substitutes`` or ``not significant``;
        ``positive`` or ``negative`` for a row that neither hypothesis predicts a sign for.
    """

    test: str
    quantity: str
    role: str
    estimate: float
    std_error: float
    p_value: float
    predicted: Mapping[str, int] = field(
        default_factory=lambda: {"complements": 1, "substitutes": -1})
    counts: bool = True
    short: str = ""
    reading: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        def num(v: float) -> float | None:
            return float(v) if math.isfinite(v) else None

        return {"test": self.test, "quantity": self.quantity, "role": self.role,
                "estimate": num(self.estimate), "std_error": num(self.std_error),
                "p_value": num(self.p_value), "predicted": dict(self.predicted),
                "counts": self.counts, "short": self.short, "reading": self.reading}

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> Evidence:
        """Inverse of :meth:`to_dict`."""
        def num(v: Any) -> float:
            return float("nan") if v is None else float(v)

        return cls(test=obj["test"], quantity=obj["quantity"], role=obj["role"],
                   estimate=num(obj["estimate"]), std_error=num(obj["std_error"]),
                   p_value=num(obj["p_value"]), predicted=dict(obj["predicted"]),
                   counts=bool(obj["counts"]), short=obj.get("short", ""),
                   reading=obj.get("reading", ""))

    @property
    def votes(self) -> bool:
        """True when the row takes part in the verdict."""
        return self.counts and self.role in (*VOTING_ROLES, "short-run")


@dataclass(frozen=True)
class Verdict:
    """The outcome of :func:`decide`.

    Attributes
    ----------
    verdict
        One of :data:`VERDICTS`.
    alpha
        The chosen significance level.
    threshold
        The level each voting test is judged at (alpha over the number of voting tests).
    n_tests
        Number of voting tests that ran.
    reasons
        Why, in sentences.
    evidence
        The evidence rows with their readings.
    """

    verdict: str
    alpha: float
    threshold: float
    n_tests: int
    reasons: tuple[str, ...]
    evidence: tuple[Evidence, ...]


def _reading(row: Evidence, level: float) -> str:
    if not (math.isfinite(row.estimate) and math.isfinite(row.p_value)) or row.p_value >= level:
        return "not significant"
    sign = 1 if row.estimate > 0 else -1
    if not row.predicted:
        return "positive" if sign > 0 else "negative"
    for hypothesis in ("complements", "substitutes"):
        if row.predicted.get(hypothesis) == sign:
            return hypothesis
    return "not significant"


def decide(evidence: Sequence[Evidence], alpha: float = 0.05) -> Verdict:
    """Reach the verdict from the evidence table.

    Parameters
    ----------
    evidence
        The rows of the evidence table; rows with role ``supporting`` or ``counts=False`` are
        read (at the unadjusted alpha) but do not vote.
    alpha
        Significance level, between 0 and 1.

    Returns
    -------
    Verdict

    Notes
    -----
    The rule, in plain words:

    1. Three tests vote. (a) Networks: the elasticity of trade to the migrant stock one panel
       step (five years in five-yearly data) earlier, summed over both directions (immigrants in the importer from the exporter, and
       the reverse), from PPML with exporter-year, importer-year and pair fixed effects.
       (b) Migration: the response of migration flows to a regional trade agreement (RTA), from
       PPML with origin-year, destination-year and pair fixed effects (migrant stocks stand in
       when the data have no flows). (c) Dynamics: the same migration model with the RTA one step
       ahead, in force, and one and two steps before; the short run is the coefficient of the RTA
       in force, the long run the sum of the in-force and lagged coefficients. Complementarity
       predicts positive values, substitution negative ones. Every other test is reported as
       supporting evidence and does not vote.
    2. Each voting test is judged at alpha divided by the number of voting tests that could run
       (Bonferroni), so that when trade and migration are unrelated a wrong verdict has a chance
       of at most alpha.
    3. If the short-run migration response is significantly positive and the long-run response
       significantly negative, the verdict is short-run complements, long-run substitutes
       (Martin's migration hump).
    4. If the short-run response is significant and the long-run estimate has the opposite
       sign, significant or not, the verdict is inconclusive: the migration response reverses,
       and the data cannot say whether it is a hump.
    5. Otherwise each voting number that is significant counts for the hypothesis whose sign it
       has: the network elasticity, the migration response and the long-run response (the short
       run alone does not count). If all such counts agree, that is the verdict; if none is
       significant, or they disagree, the verdict is inconclusive.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, not {alpha}")
    voting_tests = sorted({row.test for row in evidence if row.votes})
    m = len(voting_tests)
    threshold = alpha / m if m else alpha
    rows = tuple(replace(r, reading=_reading(r, threshold if r.votes else alpha))
                 for r in evidence)
    by_role = {r.role: r for r in rows if r.votes}
    reasons: list[str] = []
    if m == 0:
        reasons.append("none of the voting tests could run on these data")
        return Verdict("inconclusive", alpha, threshold, 0, tuple(reasons), rows)
    reasons.append(f"alpha = {alpha:g}; {m} voting test{'s' if m > 1 else ''}, each judged at "
                   f"{alpha:g}/{m} = {threshold:.4g}")
    short, long_ = by_role.get("short-run"), by_role.get("long-run")
    if short is not None and long_ is not None and short.reading == "complements" \
            and long_.reading == "substitutes":
        reasons.append(f"migration rises after an RTA in the short run ({short.estimate:+.3f}, "
                       f"p = {short.p_value:.2g}) and falls in the long run "
                       f"({long_.estimate:+.3f}, p = {long_.p_value:.2g})")
        return Verdict(HUMP, alpha, threshold, m, tuple(reasons), rows)
    if short is not None and long_ is not None and short.reading != "not significant" \
            and math.isfinite(long_.estimate) and long_.estimate * short.estimate < 0:
        reasons.append(f"the short-run migration response ({short.estimate:+.3f}, "
                       f"p = {short.p_value:.2g}) and the long-run one ({long_.estimate:+.3f}, "
                       f"p = {long_.p_value:.2g}) have opposite signs")
        return Verdict("inconclusive", alpha, threshold, m, tuple(reasons), rows)
    votes = {r.role: r.reading for r in rows if r.votes and r.role in VOTING_ROLES
             and r.reading != "not significant"}
    for role, reading in votes.items():
        row = by_role[role]
        reasons.append(f"{role}: {row.quantity} = {row.estimate:+.3f} (p = {row.p_value:.2g}) "
                       f"points to {reading}")
    found = set(votes.values())
    if not found:
        reasons.append("no voting test is significant")
        return Verdict("inconclusive", alpha, threshold, m, tuple(reasons), rows)
    if len(found) > 1:
        reasons.append("the voting tests disagree")
        return Verdict("inconclusive", alpha, threshold, m, tuple(reasons), rows)
    return Verdict(found.pop(), alpha, threshold, m, tuple(reasons), rows)


def _rule_text() -> str:
    doc = inspect.cleandoc(decide.__doc__ or "")
    return doc.split("The rule, in plain words:", 1)[1].strip()


RULE: str = _rule_text()
"""The verdict rule in plain words (printed with every result and quoted in the README)."""
