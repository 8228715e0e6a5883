"""Tokens and numeric expressions of model formulas.

Formula text is split into tokens here and expression pieces (``log(dist)``, ``(x ** 2)``) are
parsed by a small recursive-descent parser into immutable trees: :class:`Column`, :class:`Number`,
:class:`Unary`, :class:`Binary` and :class:`Call`. Nothing is ever evaluated as Python; the design
builder walks these trees with numpy. Each node's ``text`` is its normalised spelling, used in
coefficient names and in normalised formulas, and parses back to an equal tree.
"""

from __future__ import annotations

import keyword
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from migtrade.errors import FormulaError

FUNCTIONS = ("log", "log1p", "exp", "sqrt", "abs")
ALLOWED_FUNCTIONS = ", ".join(FUNCTIONS)

MAX_DEPTH = 100
_FUNCTION_HINTS = {
    "I": "Write arithmetic inside parentheses instead, e.g. (x ** 2).",
    "C": "Write i(x) for the dummies of a categorical variable.",
    "factor": "Write i(x) for the dummies of a categorical variable.",
    "ln": "Write log(x) for the natural logarithm.",
    "poly": "Write the powers as separate terms, e.g. x + (x ** 2).",
}
# Binding strength of each node kind; a child binding more loosely than its context gets brackets.
_ADD, _MUL, _UNARY, _POW, _ATOM = 1, 2, 3, 4, 5
_BINARY_PREC = {"+": _ADD, "-": _ADD, "*": _MUL, "/": _MUL, "**": _POW}
_NAME = re.compile(r"[^\W\d]\w*")
_TOKEN = re.compile(
    r"(?P<space>\s+)"
    r"|(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>" + _NAME.pattern + ")"
    r"|(?P<op>\*\*|[-+*/()\[\],=:^|~])"
)
_OPENERS = {"(": ")", "[": "]"}


@dataclass(frozen=True)
class Token:
    """One token: kind is name, quoted (backticks), number, string or op.

    ``depth`` counts the brackets open around the token; a bracket has the depth of its outside.
    """

    kind: str
    value: str
    start: int
    end: int
    depth: int


def quote_name(name: str) -> str:
    """A column name as written in a formula: bare when it is an identifier, else in backticks."""
    bare = _NAME.fullmatch(name) is not None and not keyword.iskeyword(name)
    return name if bare else f"`{name}`"


def format_level(value: object) -> str:
    """How a level or constant prints in a name: ``1990`` rather than ``1990.0``."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def tokenize(source: str) -> list[Token]:
    """Split formula text into tokens, checking that brackets and quotes are balanced.

    Raises
    ------
    FormulaError
        On a character that belongs to no token, an unclosed quote or unbalanced brackets.
    """
    tokens: list[Token] = []
    open_brackets: list[Token] = []
    pos = 0
    while pos < len(source):
        char = source[pos]
        if char in "`'\"":
            close = source.find(char, pos + 1)
            what = "backtick" if char == "`" else "quote"
            if close < 0:
                raise FormulaError(
                    f"unclosed {what} at position {pos + 1} in formula '{source}'",
                    f"Add the closing {char}.",
                )
            value = source[pos + 1 : close]
            if char == "`" and not value:
                raise FormulaError(
                    f"empty backticks at position {pos + 1} in formula '{source}'",
                    "Put a column name between the backticks.",
                )
            kind = "quoted" if char == "`" else "string"
            tokens.append(Token(kind, value, pos, close + 1, len(open_brackets)))
            pos = close + 1
            continue
        match = _TOKEN.match(source, pos)
        if match is None:
            raise FormulaError(
                f"unexpected character '{char}' at position {pos + 1} in formula '{source}'",
                "Write column names with spaces or symbols in backticks, e.g. `trade value`.",
            )
        kind = match.lastgroup or "op"
        text = match.group()
        pos = match.end()
        if kind == "space":
            continue
        if kind == "name" and keyword.iskeyword(text):
            # Python words read as code, not data; backticks make the intent explicit.
            raise FormulaError(
                f"'{text}' at position {match.start() + 1} in formula '{source}' is a reserved "
                "word",
                f"Write a column of that name in backticks: `{text}`.",
            )
        depth = len(open_brackets)
        if text in (")", "]"):
            where = f"'{text}' at position {match.start() + 1}"
            if not open_brackets:
                raise _unbalanced(source, f"{where} has no matching opening bracket", "Remove it")
            opener = open_brackets.pop()
            if _OPENERS[opener.value] != text:
                at = f"'{opener.value}' at position {opener.start + 1}"
                raise _unbalanced(source, f"{at} is closed by {where}", f"Close {at} instead")
            depth -= 1
        token = Token(kind, text, match.start(), match.end(), depth)
        if text in _OPENERS:
            open_brackets.append(token)
        tokens.append(token)
    if open_brackets:
        opener = open_brackets[-1]
        at = f"'{opener.value}' at position {opener.start + 1}"
        raise _unbalanced(
            source, f"{at} is never closed", f"Add the missing '{_OPENERS[opener.value]}'"
        )
    return tokens


def _unbalanced(source: str, problem: str, fix: str) -> FormulaError:
    return FormulaError(f"unbalanced parentheses in formula '{source}': {problem}", f"{fix}.")


def split_top(tokens: list[Token], separators: Iterable[str]) -> list[list[Token]]:
    """Split a token slice at separators outside any bracket nested within the slice."""
    seps = set(separators)
    base = min((t.depth for t in tokens), default=0)
    pieces: list[list[Token]] = [[]]
    for tok in tokens:
        if tok.depth == base and tok.kind == "op" and tok.value in seps:
            pieces.append([])
        else:
            pieces[-1].append(tok)
    return pieces


class Expr:
    """A numeric expression over data columns (base of the expression node types)."""

    precedence = _ATOM

    @property
    def text(self) -> str:
        """The normalised spelling."""
        raise NotImplementedError

    def children(self) -> tuple[Expr, ...]:
        """The direct sub-expressions."""
        return ()

    def columns(self) -> tuple[str, ...]:
        """The data columns read, in order of first appearance."""
        seen: dict[str, None] = {}
        for child in self.children():
            seen.update(dict.fromkeys(child.columns()))
        return tuple(seen)

    def bracketed(self, context: int) -> str:
        """``text``, in parentheses when this node binds more loosely than ``context`` needs."""
        return f"({self.text})" if self.precedence < context else self.text

    @property
    def factor_text(self) -> str:
        """The spelling as a factor of a term, where only atoms stand unbracketed."""
        return self.bracketed(_ATOM)


@dataclass(frozen=True)
class Column(Expr):
    """A data column, read by name."""

    name: str

    @property
    def text(self) -> str:
        return quote_name(self.name)

    def columns(self) -> tuple[str, ...]:
        return (self.name,)


@dataclass(frozen=True)
class Number(Expr):
    """A numeric constant."""

    value: float

    @property
    def text(self) -> str:
        return format_level(float(self.value))


@dataclass(frozen=True)
class Unary(Expr):
    """Negation (``-x``) or unary plus."""

    op: str
    operand: Expr
    precedence = _UNARY

    @property
    def text(self) -> str:
        return f"{self.op}{self.operand.bracketed(_UNARY)}"

    def children(self) -> tuple[Expr, ...]:
        return (self.operand,)


@dataclass(frozen=True)
class Binary(Expr):
    """One of ``+ - * / **`` applied to two expressions."""

    op: str
    left: Expr
    right: Expr

    @property
    def precedence(self) -> int:  # type: ignore[override]
        return _BINARY_PREC[self.op]

    @property
    def text(self) -> str:
        prec = self.precedence
        # ** groups to the right and takes a signed exponent; the others group to the left.
        left = self.left.bracketed(prec + 1 if prec == _POW else prec)
        right = self.right.bracketed(_UNARY if prec == _POW else prec + 1)
        return f"{left} {self.op} {right}"

    def children(self) -> tuple[Expr, ...]:
        return (self.left, self.right)


@dataclass(frozen=True)
class Call(Expr):
    """A whitelisted function (see ``FUNCTIONS``) of one expression."""

    func: str
    arg: Expr

    @property
    def text(self) -> str:
        return f"{self.func}({self.arg.text})"

    def children(self) -> tuple[Expr, ...]:
        return (self.arg,)


class ExprParser:
    """Recursive descent over the tokens of one expression.

    Parameters
    ----------
    tokens
        The tokens of the expression only.
    where
        Where the expression sits, for error messages, e.g. ``"term 'log(dist)'"``.
    """

    def __init__(self, tokens: list[Token], where: str) -> None:
        self.tokens = tokens
        self.where = where
        self.pos = 0
        self.nesting = 0

    def error(self, message: str, hint: str) -> FormulaError:
        """A :class:`FormulaError` located at this expression."""
        return FormulaError(f"{message} in {self.where}", hint)

    def factor(self) -> Expr:
        """A factor of a term: a column, a call or an expression in parentheses, nothing more."""
        expr = self._atom()
        tok = self._peek()
        if tok is not None:
            if tok.value in ("*", "/", "**", "^"):
                hint = "Write (a * b) for a product of values, or a:b for an interaction."
                if tok.value in ("**", "^"):
                    hint = "Write powers in parentheses, e.g. (x ** 2); '^' combines fixed effects."
                raise self.error(f"operator '{tok.value}' outside parentheses", hint)
            raise self.error(f"unexpected '{tok.value}'", "Separate terms with '+'.")
        return self._checked(expr)

    def whole(self) -> Expr:
        """A full expression, which must use up every token."""
        expr = self._sum()
        tok = self._peek()
        if tok is not None:
            raise self.error(f"unexpected '{tok.value}'", "Check the expression.")
        return self._checked(expr)

    def _checked(self, expr: Expr) -> Expr:
        # Long chains such as a + b + c + ... are built in a loop but rendered recursively.
        depth, stack = 0, [(expr, 1)]
        while stack:
            node, level = stack.pop()
            depth = max(depth, level)
            stack.extend((child, level + 1) for child in node.children())
        if depth > MAX_DEPTH:
            raise self.error("expression nested too deeply", "Simplify it.")
        return expr

    def _peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self) -> Token:
        tok = self._peek()
        if tok is None:
            raise self.error("unexpected end", "Complete the expression.")
        self.pos += 1
        return tok

    def _expect(self, value: str) -> None:
        tok = self._peek()
        if tok is None or tok.value != value:
            found = "the end" if tok is None else f"'{tok.value}'"
            raise self.error(f"expected '{value}' but found {found}", "Check the brackets.")
        self.pos += 1

    def _nested(self, rule: Callable[[], Expr]) -> Expr:
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            raise self.error("expression nested too deeply", "Simplify it.")
        try:
            return rule()
        finally:
            self.nesting -= 1

    def _sum(self) -> Expr:
        left = self._product()
        while (tok := self._peek()) is not None and tok.value in ("+", "-"):
            self.pos += 1
            left = Binary(tok.value, left, self._product())
        return left

    def _product(self) -> Expr:
        left = self._unary()
        while (tok := self._peek()) is not None and tok.value in ("*", "/"):
            self.pos += 1
            left = Binary(tok.value, left, self._unary())
        return left

    def _unary(self) -> Expr:
        tok = self._peek()
        if tok is not None and tok.value in ("-", "+"):
            self.pos += 1
            return Unary(tok.value, self._nested(self._unary))
        base = self._atom()
        tok = self._peek()
        if tok is not None and tok.value == "^":
            raise self.error("'^' is not a power here", "Write powers as x ** 2.")
        if tok is not None and tok.value == "**":
            self.pos += 1
            return Binary("**", base, self._nested(self._unary))
        return base

    def _atom(self) -> Expr:
        tok = self._take()
        if tok.kind == "number":
            value = float(tok.value)
            if not math.isfinite(value):
                raise self.error(f"number '{tok.value}' is too large", "Use a smaller constant.")
            return Number(value)
        if tok.kind == "quoted":
            return Column(tok.value)
        if tok.kind == "name":
            nxt = self._peek()
            if nxt is None or nxt.value != "(":
                return Column(tok.value)
            return self._call(tok.value)
        if tok.value == "(":
            inner = self._nested(self._sum)
            self._expect(")")
            return inner
        if tok.kind == "string":
            raise self.error(
                f"unexpected text '{tok.value}'", "Write column names in backticks, not quotes."
            )
        raise self.error(f"unexpected '{tok.value}'", "Check the expression.")

    def _call(self, func: str) -> Expr:
        if func == "i":
            raise self.error("i() must be a term of its own", "Write i(f, x) as a separate term.")
        if func not in FUNCTIONS:
            hint = _FUNCTION_HINTS.get(
                func, "Use one of these, or compute the column in the data first."
            )
            raise FormulaError(
                f"unknown function '{func}' in {self.where}; allowed: {ALLOWED_FUNCTIONS}", hint
            )
        self._expect("(")
        if (tok := self._peek()) is not None and tok.value == ")":
            raise self.error(f"{func}() needs an argument", f"Write {func}(x).")
        arg = self._nested(self._sum)
        tok = self._peek()
        if tok is not None and tok.value in (",", "="):
            raise self.error(f"{func}() takes exactly one argument", f"Write {func}(x).")
        self._expect(")")
        return Call(func, arg)
