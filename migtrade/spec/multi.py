"""Stepwise formulas: one formula with ``sw()`` or ``csw()`` stands for several.

fixest's stepwise functions, expanded on tokens before any formula is parsed:

* ``sw(a, b, c)`` gives one formula per argument: ``... a ...``, ``... b ...``, ``... c ...``;
* ``csw(a, b, c)`` is cumulative: ``... a ...``, ``... a + b ...``, ``... a + b + c ...``.

A stepwise call must be a whole term of the regressor part or of the fixed-effect part, e.g.
``trade ~ rta + csw(log_dist, cntg) | sw(exporter, exporter^year)``. With several calls the
formulas are every combination of their alternatives, the first call varying slowest, so the
example gives four formulas. Arguments are copied as written (backticks, ``i()`` terms and
spacing included), so the expansion never changes how a term is spelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product

from migtrade.errors import FormulaError
from migtrade.spec.expr import Token, split_top, tokenize

STEPWISE: tuple[str, ...] = ("sw", "csw")

# Several calls multiply: beyond this many formulas the expansion is almost surely a mistake, and
# estimating them all would take long before anyone noticed.
MAX_FORMULAS = 200


@dataclass(frozen=True)
class _Call:
    """One stepwise call: its character span in the formula and the texts it expands to."""

    start: int
    end: int
    alternatives: tuple[str, ...]


def expand_formula(formula: str) -> list[str]:
    """Expand the ``sw()`` and ``csw()`` calls of one formula into plain formulas.

    Parameters
    ----------
    formula
        A formula such as ``"trade ~ csw(log_dist, cntg, lang) | exporter^year"``.

    Returns
    -------
    list of str
        The formulas in order; ``[formula]`` itself when there is no stepwise call.

    Raises
    ------
    FormulaError
        When a stepwise call is empty, has an empty argument, is nested in another expression or
        another stepwise call, is not a whole term, or sits in the outcome or instrument part.

    Examples
    --------
    >>> expand_formula("y ~ csw(a, b) | fe")
    ['y ~ a | fe', 'y ~ a + b | fe']
    >>> expand_formula("y ~ x | sw(e, i)")
    ['y ~ x | e', 'y ~ x | i']
    """
    tokens = tokenize(formula)
    calls = [_call(formula, tokens, i) for i, tok in enumerate(tokens) if _is_stepwise(tokens, i, tok)]
    if not calls:
        return [formula]
    count = 1
    for call in calls:
        count *= len(call.alternatives)
    if count > MAX_FORMULAS:
        raise FormulaError(
            f"formula '{formula}' expands to {count:,} models, more than {MAX_FORMULAS}",
            "Split it into several smaller stepwise formulas.",
        )
    out = []
    for combination in product(*(c.alternatives for c in calls)):
        text = formula
        # Right to left, so earlier character positions stay valid.
        for call, alt in sorted(zip(calls, combination, strict=True), key=lambda ca: -ca[0].start):
            text = text[: call.start] + alt + text[call.end :]
        out.append(text)
    return out


def expand_formulas(formulas: Sequence[str]) -> list[str]:
    """Expand each formula in turn and concatenate the results, keeping their order."""
    out: list[str] = []
    for formula in formulas:
        out.extend(expand_formula(formula))
    if len(out) > MAX_FORMULAS:
        raise FormulaError(
            f"the formulas expand to {len(out):,} models, more than {MAX_FORMULAS}",
            "Estimate them in several runs.",
        )
    return out


def _is_stepwise(tokens: list[Token], i: int, tok: Token) -> bool:
    nxt = tokens[i + 1] if i + 1 < len(tokens) else None
    return tok.kind == "name" and tok.value in STEPWISE and nxt is not None and nxt.value == "("


def _call(formula: str, tokens: list[Token], i: int) -> _Call:
    name, opener = tokens[i], tokens[i + 1]
    close = next(j for j in range(i + 2, len(tokens))
                 if tokens[j].value == ")" and tokens[j].depth == opener.depth)
    call_text = formula[name.start : tokens[close].end]
    where = f"'{call_text}' in formula '{formula}'"
    if name.depth > 0:
        raise FormulaError(f"{where} is inside another expression",
                           f"Write {name.value}() as a whole term, e.g. y ~ {name.value}(a, b).")
    _check_part(formula, tokens, i, where)
    before = tokens[i - 1] if i > 0 else None
    after = tokens[close + 1] if close + 1 < len(tokens) else None
    if (before is not None and before.value not in ("~", "+", "|")) or (
        after is not None and after.value not in ("+", "|")
    ):
        raise FormulaError(f"{where} is not a whole term",
                           "Separate it from other terms with '+', e.g. y ~ x + csw(a, b).")
    inner = tokens[i + 2 : close]
    if any(_is_stepwise(inner, k, t) for k, t in enumerate(inner)):
        raise FormulaError(f"{where} nests a stepwise call", "Use one sw() or csw() per term.")
    args = split_top(inner, [","]) if inner else [[]]
    if any(not arg for arg in args):
        raise FormulaError(f"{where} has an empty argument",
                           f"Give one or more terms separated by commas, e.g. {name.value}(a, b).")
    texts = [formula[arg[0].start : arg[-1].end] for arg in args]
    if name.value == "sw":
        alternatives = tuple(texts)
    else:
        alternatives = tuple(" + ".join(texts[:k]) for k in range(1, len(texts) + 1))
    return _Call(name.start, tokens[close].end, alternatives)


def _check_part(formula: str, tokens: list[Token], i: int, where: str) -> None:
    """Refuse a call in the outcome or in the instrument part (``| endog ~ instruments``)."""
    tildes = sum(1 for t in tokens[:i] if t.depth == 0 and t.value == "~")
    bars = sum(1 for t in tokens[:i] if t.depth == 0 and t.value == "|")
    if tildes == 0:
        raise FormulaError(f"{where} is in the outcome",
                           "Stepwise calls go among the regressors or the fixed effects; "
                           "repeat the formula for each outcome instead.")
    if bars >= 2:
        raise FormulaError(f"{where} is in the instrument part",
                           "Stepwise calls go among the regressors or the fixed effects.")
