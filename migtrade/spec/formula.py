"""Model formulas in the fixest style, parsed into a :class:`ModelSpec`.

``DEPVAR ~ TERMS [| FIXED_EFFECTS] [| ENDOG ~ INSTRUMENTS]``, for example
``log(trade) ~ i(year, log(dist)) + cntg + lang | exporter^year + importer^year``.

Terms are separated by ``+``; ``1`` keeps and ``0`` or ``- 1`` removes the intercept; ``a:b`` is
the elementwise product of its factors; ``i(f)`` and ``i(f, x, ref=...)`` expand to dummies per
level of ``f``. Fixed effects are column names or combinations ``a^b``. The text is parsed by our
own parser (see :mod:`migtrade.spec.expr`); nothing in a formula is ever run as Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from migtrade.errors import FormulaError
from migtrade.spec.expr import (
    Expr,
    ExprParser,
    Token,
    format_level,
    quote_name,
    split_top,
    tokenize,
)

Level = int | float | str
_FULL_SYNTAX = "Write 'outcome ~ regressors | fixed effects | endogenous ~ instruments'."


@dataclass(frozen=True)
class Term:
    """One regressor term of a formula.

    A numeric term is the elementwise product of ``factors`` (``rta:log(dist)``). A factor term,
    ``i(factor_var, ...)``, expands to one dummy per level of ``factor_var``, times the single
    expression in ``factors`` when there is one (``i(year, log(dist))``). ``ref`` holds the levels
    left out, or None for the default: the first level for ``i(f)``, none for ``i(f, x)``.
    """

    factors: tuple[Expr, ...]
    factor_var: str | None = None
    ref: tuple[Level, ...] | None = None

    @property
    def is_factor(self) -> bool:
        """True for an ``i()`` term, whose columns depend on the levels in the data."""
        return self.factor_var is not None

    @property
    def name(self) -> str:
        """The term as written in a normalised formula, e.g. ``rta:log(dist)``."""
        if self.factor_var is None:
            return ":".join(f.factor_text for f in self.factors)
        parts = [quote_name(self.factor_var), *(f.text for f in self.factors)]
        if self.ref is not None:
            refs = [_ref_text(r) for r in self.ref]
            parts.append("ref=" + (refs[0] if len(refs) == 1 else "[" + ", ".join(refs) + "]"))
        return f"i({', '.join(parts)})"

    def columns(self) -> tuple[str, ...]:
        """The data columns read, in order of first appearance."""
        names = [] if self.factor_var is None else [self.factor_var]
        for f in self.factors:
            names.extend(f.columns())
        return tuple(dict.fromkeys(names))

    def names(self, levels: Sequence[object] = ()) -> tuple[str, ...]:
        """Coefficient names, fixest style: ``(name,)``, or per level ``year::1990[:log(dist)]``.

        Parameters
        ----------
        levels
            For an ``i()`` term, the levels that get a column, in order; otherwise ignored.
        """
        if self.factor_var is None:
            return (self.name,)
        var = quote_name(self.factor_var)
        tail = "".join(":" + f.factor_text for f in self.factors)
        return tuple(f"{var}::{format_level(level)}{tail}" for level in levels)


def _ref_text(value: Level) -> str:
    if isinstance(value, str):
        return f"'{value}'" if '"' in value else f'"{value}"'
    return format_level(value)


@dataclass(frozen=True)
class FixedEffect:
    """A fixed effect: one column, or the interaction of several (``exporter^year``)."""

    variables: tuple[str, ...]

    @property
    def name(self) -> str:
        """The fixed effect as written in a formula, e.g. ``exporter^year``."""
        return "^".join(quote_name(v) for v in self.variables)


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model formula.

    ``outcome`` is the expression tree whose normalised text is ``depvar``. With fixed effects
    ``intercept`` is False: the fixed effects absorb it.
    """

    formula: str
    depvar: str
    terms: tuple[Term, ...]
    intercept: bool
    fixed_effects: tuple[FixedEffect, ...]
    endogenous: tuple[Term, ...]
    instruments: tuple[Term, ...]
    outcome: Expr

    @classmethod
    def parse(cls, text: str) -> ModelSpec:
        """Parse ``DEPVAR ~ TERMS [| FIXED_EFFECTS] [| ENDOG ~ INSTRUMENTS]``.

        Parameters
        ----------
        text
            The formula; whitespace is free.

        Raises
        ------
        FormulaError
            When the text does not follow the syntax; the message quotes the offending piece.
        """
        return _Parser(text.strip()).formula()

    def columns(self) -> set[str]:
        """Every data column the model reads."""
        return set(self.ordered_columns())

    def ordered_columns(self) -> tuple[str, ...]:
        """Every data column the model reads, in order of first appearance in the formula."""
        names = list(self.outcome.columns())
        for term in self.terms:
            names.extend(term.columns())
        names.extend(v for fe in self.fixed_effects for v in fe.variables)
        names.extend(c for t in (*self.endogenous, *self.instruments) for c in t.columns())
        return tuple(dict.fromkeys(names))

    @property
    def is_iv(self) -> bool:
        """True when the formula has an instrumental-variables part."""
        return bool(self.endogenous)

    @property
    def normalized(self) -> str:
        """The formula in normalised spelling; parsing it gives back the same model."""
        rhs = " + ".join(t.name for t in self.terms)
        if not rhs:
            rhs = "1" if self.intercept or self.fixed_effects else "0"
        elif not self.intercept and not self.fixed_effects:
            rhs = "0 + " + rhs
        text = f"{self.depvar} ~ {rhs}"
        if self.fixed_effects:
            text += " | " + " + ".join(fe.name for fe in self.fixed_effects)
        if self.endogenous:
            endog = " + ".join(t.name for t in self.endogenous)
            text += f" | {endog} ~ " + " + ".join(t.name for t in self.instruments)
        return text


def _has_top(tokens: list[Token], value: str) -> bool:
    return any(t.depth == 0 and t.value == value and t.kind == "op" for t in tokens)


class _Parser:
    """Splits one formula into its parts and turns each into terms or fixed effects."""

    def __init__(self, source: str) -> None:
        self.source = source

    def span(self, tokens: Sequence[Token]) -> str:
        return self.source[tokens[0].start : tokens[-1].end] if tokens else ""

    def formula(self) -> ModelSpec:
        source = self.source
        if not source:
            raise FormulaError("the formula is empty", "Write e.g. 'y ~ x1 + x2 | fe'.")
        tokens = tokenize(source)
        if not _has_top(tokens, "~"):
            raise FormulaError(
                f"formula '{source}' has no '~'", "Write it as 'outcome ~ regressors', e.g. y ~ x."
            )
        parts = split_top(tokens, {"|"})
        if len(parts) > 3:
            raise FormulaError(
                f"formula '{source}' has {len(parts)} parts separated by '|'; at most 3 are allowed",
                _FULL_SYNTAX,
            )
        main = split_top(parts[0], {"~"})
        if len(main) != 2:
            raise FormulaError(
                f"formula '{source}' needs exactly one '~' before the first '|'", _FULL_SYNTAX
            )
        outcome = self.outcome(main[0])
        terms, intercept = self.terms(main[1], "regressors", allow_intercept=True)
        fes: tuple[FixedEffect, ...] = ()
        endog: tuple[Term, ...] = ()
        instr: tuple[Term, ...] = ()
        for index, part in enumerate(parts[1:], start=1):
            if _has_top(part, "~"):
                if index != len(parts) - 1:
                    raise FormulaError(
                        f"the instruments part '{self.span(part)}' of formula '{source}' must "
                        "come last",
                        _FULL_SYNTAX,
                    )
                endog, instr = self.iv_part(part)
            elif index == 2:
                raise FormulaError(
                    f"the third part '{self.span(part)}' of formula '{source}' has no '~'",
                    "The third part names the instruments: endogenous ~ instruments.",
                )
            else:
                fes = self.fixed_effects(part)
        both = sorted({t.name for t in terms} & {t.name for t in endog})
        if both:
            raise FormulaError(
                f"'{both[0]}' is both an exogenous and an endogenous regressor",
                "List it only before the '~' of the instruments part.",
            )
        if not terms and not intercept and not fes:
            raise FormulaError(
                f"formula '{source}' has nothing to estimate",
                "Add a regressor, or 1 for an intercept.",
            )
        return ModelSpec(
            formula=source,
            depvar=outcome.factor_text,
            terms=terms,
            intercept=intercept and not fes,
            fixed_effects=fes,
            endogenous=endog,
            instruments=instr,
            outcome=outcome,
        )

    def outcome(self, tokens: list[Token]) -> Expr:
        if not tokens:
            raise FormulaError(f"formula '{self.source}' has no outcome before '~'", "Write y ~ x.")
        where = f"the outcome '{self.span(tokens)}'"
        if any(_has_top(tokens, op) for op in "+-:"):
            raise FormulaError(
                f"{where} must be a single expression",
                "Wrap arithmetic in parentheses, e.g. (a + b) ~ x; one outcome per model.",
            )
        return ExprParser(tokens, where).factor()

    def terms(
        self, tokens: list[Token], what: str, *, allow_intercept: bool
    ) -> tuple[tuple[Term, ...], bool]:
        """Signed terms; also whether the intercept is kept (``0`` or ``- 1`` removes it)."""
        if not tokens:
            raise FormulaError(
                f"no {what} around '~' in formula '{self.source}'",
                "Write y ~ 1 for a model with an intercept only.",
            )
        pieces: list[tuple[str, list[Token]]] = [("+", [])]
        for tok in tokens:
            if tok.depth == 0 and tok.kind == "op" and tok.value in ("+", "-"):
                pieces.append((tok.value, []))
            else:
                pieces[-1][1].append(tok)
        if not pieces[0][1] and len(pieces) > 1:
            pieces = pieces[1:]  # a leading sign, as in "-1 + x"
        found: dict[str, Term] = {}
        intercept = True
        for sign, piece in pieces:
            if not piece:
                raise FormulaError(
                    f"empty term in {what} '{self.span(tokens)}'",
                    "Remove the extra '+' or '-', or add the missing term.",
                )
            text = self.span(piece)
            if len(piece) == 1 and piece[0].kind == "number":
                if not allow_intercept:
                    raise FormulaError(
                        f"constant '{text}' in {what} '{self.span(tokens)}'",
                        "The intercept is set in the regressors part only.",
                    )
                if float(piece[0].value) == 1.0 or (float(piece[0].value) == 0 and sign == "+"):
                    intercept = intercept and sign == "+" and float(piece[0].value) == 1.0
                    continue
            if sign == "-":
                raise FormulaError(
                    f"cannot remove term '{text}' with '-' in '{self.span(tokens)}'",
                    "Only the intercept can be removed ('- 1'); write differences in "
                    "parentheses, e.g. (a - b).",
                )
            term = self.term(piece)
            if term.name in found:
                raise FormulaError(f"term '{term.name}' appears twice", "List each term once.")
            found[term.name] = term
        return tuple(found.values()), intercept

    def term(self, tokens: list[Token]) -> Term:
        text = self.span(tokens)
        where = f"term '{text}'"
        factors = split_top(tokens, {":"})
        if any(not f for f in factors):
            raise FormulaError(f"empty factor in {where}", "Write interactions as a:b.")
        head = tokens[:2]
        if len(factors) == 1 and [(t.kind, t.value) for t in head] == [("name", "i"), ("op", "(")]:
            return self.factor_term(tokens, where)
        exprs = tuple(ExprParser(f, where).factor() for f in factors)
        if not any(e.columns() for e in exprs):
            raise FormulaError(
                f"{where} uses no data column",
                "Write 1 to keep the intercept, 0 or - 1 to remove it.",
            )
        return Term(factors=exprs)

    def factor_term(self, tokens: list[Token], where: str) -> Term:
        """``i(f)`` or ``i(f, x)``, each with an optional ``ref=`` value or list."""
        close = next(j for j, t in enumerate(tokens) if j > 1 and t.depth == 0 and t.value == ")")
        if close != len(tokens) - 1:
            raise FormulaError(
                f"unexpected '{tokens[close + 1].value}' after i() in {where}",
                "Interact an i() term through its second argument: i(f, x).",
            )
        usage = "Write i(f), i(f, x), i(f, ref=v) or i(f, x, ref=[v1, v2])."
        positional: list[list[Token]] = []
        ref: tuple[Level, ...] | None = None
        for arg in split_top(tokens[2:-1], {","}) if close > 2 else []:
            if len(arg) >= 2 and arg[0].kind == "name" and arg[1].value == "=":
                if arg[0].value != "ref":
                    raise FormulaError(f"unknown option '{arg[0].value}' of i() in {where}", usage)
                ref = self.ref(arg[2:], where)
            elif ref is not None or not arg:
                raise FormulaError(f"misplaced or empty argument of i() in {where}", usage)
            else:
                positional.append(arg)
        if not positional or len(positional) > 2:
            raise FormulaError(f"i() takes a factor and at most one variable in {where}", usage)
        if len(positional[0]) != 1 or positional[0][0].kind not in ("name", "quoted"):
            raise FormulaError(
                f"the factor '{self.span(positional[0])}' of i() must be a column name in {where}",
                "Create the grouping variable in the data first.",
            )
        by = () if len(positional) == 1 else (ExprParser(positional[1], where).whole(),)
        return Term(factors=by, factor_var=positional[0][0].value, ref=ref)

    def ref(self, tokens: list[Token], where: str) -> tuple[Level, ...]:
        bad = FormulaError(
            f"ref= must be a value or a list of values in {where}",
            'Write ref=1990, ref="MEX" or ref=[1986, 1990].',
        )
        items = [tokens]
        if tokens and tokens[0].value == "[" and tokens[-1].value == "]":
            items = split_top(tokens[1:-1], {","})
        values: list[Level] = []
        for item in items:
            sign = -1.0 if len(item) == 2 and item[0].value == "-" else 1.0
            body = item[1:] if sign < 0 else item
            if len(body) == 1 and body[0].kind == "string" and sign > 0:
                values.append(body[0].value)
            elif len(body) == 1 and body[0].kind == "number":
                number = sign * float(body[0].value)
                values.append(int(number) if number.is_integer() else number)
            else:
                raise bad
        return tuple(values)

    def fixed_effects(self, tokens: list[Token]) -> tuple[FixedEffect, ...]:
        if not tokens:
            raise FormulaError(
                f"empty fixed-effects part after '|' in formula '{self.source}'",
                "List fixed effects like '| exporter + importer', or drop the '|'.",
            )
        if len(tokens) == 1 and tokens[0].kind == "number" and float(tokens[0].value) == 0:
            return ()
        found: dict[tuple[str, ...], FixedEffect] = {}
        for piece in split_top(tokens, {"+"}):
            if not piece:
                raise FormulaError(
                    f"empty fixed effect in '{self.span(tokens)}'", "Remove the extra '+'."
                )
            names, carets = piece[0::2], piece[1::2]
            if (
                len(piece) % 2 == 0
                or any(t.kind not in ("name", "quoted") for t in names)
                or any(t.value != "^" or t.kind != "op" for t in carets)
            ):
                raise FormulaError(
                    f"fixed effect '{self.span(piece)}' must be a column name or a combination "
                    "such as exporter^year",
                    "Compute transformed variables in the data first; separate fixed effects "
                    "with '+'.",
                )
            fe = FixedEffect(tuple(t.value for t in names))
            if len(set(fe.variables)) < len(fe.variables) or fe.variables in found:
                raise FormulaError(
                    f"fixed effect '{self.span(piece)}' repeats a variable or appears twice",
                    "List each fixed effect once.",
                )
            found[fe.variables] = fe
        return tuple(found.values())

    def iv_part(self, tokens: list[Token]) -> tuple[tuple[Term, ...], tuple[Term, ...]]:
        sides = split_top(tokens, {"~"})
        if len(sides) != 2:
            raise FormulaError(
                f"the instruments part '{self.span(tokens)}' must have exactly one '~'",
                "Write endogenous ~ instruments, e.g. | tariff ~ port_distance.",
            )
        endog, _ = self.terms(sides[0], "endogenous regressors", allow_intercept=False)
        instr, _ = self.terms(sides[1], "instruments", allow_intercept=False)
        return endog, instr
