"""Tests of the formula parser: syntax, term names, round trips, errors and safety."""

from __future__ import annotations

import keyword
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from migtrade.errors import FormulaError, UsageError
from migtrade.spec.expr import Binary, Call, Column, Expr, Number, Unary
from migtrade.spec.formula import FixedEffect, ModelSpec, Term

PUZZLE = "log(trade) ~ i(year, log(dist)) + cntg + lang + clny | exporter^year + importer^year"


def names(spec: ModelSpec) -> list[str]:
    return [t.name for t in spec.terms]


def test_distance_puzzle_formula() -> None:
    spec = ModelSpec.parse(PUZZLE)
    assert spec.formula == PUZZLE
    assert spec.depvar == "log(trade)"
    assert spec.outcome == Call("log", Column("trade"))
    assert names(spec) == ["i(year, log(dist))", "cntg", "lang", "clny"]
    factor = spec.terms[0]
    assert factor.is_factor and factor.factor_var == "year" and factor.ref is None
    assert factor.factors == (Call("log", Column("dist")),)
    assert factor.names([1986, 1990.0]) == ("year::1986:log(dist)", "year::1990:log(dist)")
    assert spec.fixed_effects == (
        FixedEffect(("exporter", "year")),
        FixedEffect(("importer", "year")),
    )
    assert [fe.name for fe in spec.fixed_effects] == ["exporter^year", "importer^year"]
    assert spec.intercept is False
    assert not spec.is_iv and spec.endogenous == () and spec.instruments == ()
    assert spec.columns() == {
        "trade", "year", "dist", "cntg", "lang", "clny", "exporter", "importer",
    }  # fmt: skip
    assert spec.ordered_columns()[:3] == ("trade", "year", "dist")


def test_intercept_only_with_fixed_effects() -> None:
    spec = ModelSpec.parse("y ~ 1 | id1 + id2")
    assert spec.terms == ()
    assert spec.intercept is False
    assert [fe.variables for fe in spec.fixed_effects] == [("id1",), ("id2",)]


@pytest.mark.parametrize(
    ("formula", "intercept", "terms"),
    [
        ("y ~ 1", True, []),
        ("y ~ x", True, ["x"]),
        ("y ~ 1 + x", True, ["x"]),
        ("y ~ 0 + x", False, ["x"]),
        ("y ~ x + 0", False, ["x"]),
        ("y ~ x - 1", False, ["x"]),
        ("y ~ -1 + x", False, ["x"]),
        ("y ~ x | 0", True, ["x"]),
        ("y ~ x | fe", False, ["x"]),
    ],
)
def test_intercept_rules(formula: str, intercept: bool, terms: list[str]) -> None:
    spec = ModelSpec.parse(formula)
    assert spec.intercept is intercept
    assert names(spec) == terms


def test_whitespace_is_free() -> None:
    tight = ModelSpec.parse("log(trade)~i(year,log(dist))+cntg|exporter^year")
    loose = ModelSpec.parse(
        "  log ( trade ) ~ i ( year , log( dist ) )  +  cntg | exporter ^ year "
    )
    assert tight.terms == loose.terms
    assert tight.fixed_effects == loose.fixed_effects
    assert tight.depvar == loose.depvar == "log(trade)"
    assert loose.formula == "log ( trade ) ~ i ( year , log( dist ) )  +  cntg | exporter ^ year"


def test_interactions_are_products_of_factors() -> None:
    spec = ModelSpec.parse("y ~ rta:log(dist) + a:b:c")
    assert names(spec) == ["rta:log(dist)", "a:b:c"]
    assert spec.terms[0].factors == (Column("rta"), Call("log", Column("dist")))
    assert spec.terms[1].columns() == ("a", "b", "c")
    assert spec.terms[0].names() == ("rta:log(dist)",)


@pytest.mark.parametrize(
    ("term", "name"),
    [
        ("log(x)", "log(x)"),
        ("log1p(x)", "log1p(x)"),
        ("exp(x)", "exp(x)"),
        ("sqrt(x/2)", "sqrt(x / 2)"),
        ("abs(-x)", "abs(-x)"),
        ("(x**2)", "(x ** 2)"),
        ("(x ** 2.0)", "(x ** 2)"),
        ("log(x + 1)", "log(x + 1)"),
        ("((a - b) * c)", "((a - b) * c)"),
        ("(a - (b - c))", "(a - (b - c))"),
        ("(-x ** 2)", "(-x ** 2)"),
        ("((-x) ** 2)", "((-x) ** 2)"),
        ("(2 ** -x)", "(2 ** -x)"),
        ("(x * 0.5)", "(x * 0.5)"),
        ("log(x * 1e-3)", "log(x * 0.001)"),
        ("(x)", "x"),
    ],
)
def test_expression_terms_are_normalised(term: str, name: str) -> None:
    spec = ModelSpec.parse(f"y ~ {term}")
    assert names(spec) == [name]
    assert ModelSpec.parse(f"y ~ {name}").terms == spec.terms


def test_operator_precedence() -> None:
    (term,) = ModelSpec.parse("y ~ (a + b * c ** 2 ** d)").terms
    expected = Binary(
        "+",
        Column("a"),
        Binary("*", Column("b"), Binary("**", Column("c"), Binary("**", Number(2), Column("d")))),
    )
    assert term.factors == (expected,)
    (neg,) = ModelSpec.parse("y ~ (-x ** 2)").terms
    assert neg.factors == (Unary("-", Binary("**", Column("x"), Number(2))),)


def test_backticked_column_names() -> None:
    spec = ModelSpec.parse("log(`trade value`) ~ `dist km` + i(`the year`) | `exp id`^year")
    assert spec.depvar == "log(`trade value`)"
    assert names(spec) == ["`dist km`", "i(`the year`)"]
    assert spec.terms[1].names([2000]) == ("`the year`::2000",)
    assert spec.fixed_effects[0].variables == ("exp id", "year")
    assert spec.fixed_effects[0].name == "`exp id`^year"
    assert spec.columns() == {"trade value", "dist km", "the year", "exp id", "year"}
    assert ModelSpec.parse(spec.normalized) == ModelSpec.parse(spec.normalized)


@pytest.mark.parametrize(
    ("term", "ref", "kept_names"),
    [
        ("i(year)", None, ("year::1990", "year::2000.5")),
        ("i(year, ref=1990)", (1990,), ("year::1990", "year::2000.5")),
        ("i(year, ref=[1986, 1990])", (1986, 1990), ("year::1990", "year::2000.5")),
        ("i(year, ref=-1)", (-1,), ("year::1990", "year::2000.5")),
        ("i(year, ref=1.5)", (1.5,), ("year::1990", "year::2000.5")),
        ('i(year, ref="MEX")', ("MEX",), ("year::1990", "year::2000.5")),
        ("i(year, ref='MEX')", ("MEX",), ("year::1990", "year::2000.5")),
    ],
)
def test_factor_terms(term: str, ref: tuple[object, ...] | None, kept_names: tuple[str]) -> None:
    (parsed,) = ModelSpec.parse(f"y ~ {term}").terms
    assert parsed.factor_var == "year"
    assert parsed.factors == ()
    assert parsed.ref == ref
    assert parsed.columns() == ("year",)
    assert parsed.names([1990.0, 2000.5]) == kept_names
    assert ModelSpec.parse(f"y ~ {parsed.name}").terms == (parsed,)


def test_factor_term_with_variable_and_reference() -> None:
    (term,) = ModelSpec.parse('y ~ i(iso3, log(dist), ref=["MEX", "USA"])').terms
    assert term.name == 'i(iso3, log(dist), ref=["MEX", "USA"])'
    assert term.ref == ("MEX", "USA")
    assert term.columns() == ("iso3", "dist")
    assert term.names(["CAN", "DEU"]) == ("iso3::CAN:log(dist)", "iso3::DEU:log(dist)")


def test_instrumental_variables_part() -> None:
    spec = ModelSpec.parse("y ~ x | fe1 + fe2 | d1 + log(d2) ~ z1 + z2:z3")
    assert spec.is_iv
    assert [t.name for t in spec.endogenous] == ["d1", "log(d2)"]
    assert [t.name for t in spec.instruments] == ["z1", "z2:z3"]
    assert [fe.name for fe in spec.fixed_effects] == ["fe1", "fe2"]
    assert {"d1", "d2", "z1", "z2", "z3"} <= spec.columns()
    no_fe = ModelSpec.parse("y ~ x | d ~ z")
    assert no_fe.is_iv and no_fe.fixed_effects == () and no_fe.intercept


@pytest.mark.parametrize(
    "formula",
    [
        PUZZLE,
        "y ~ 1 | id1 + id2",
        "y ~ 1",
        "y ~ 0 + x + z",
        "log(y + 1) ~ (x ** 2) + sqrt(a / b) + a:b | f^g^h",
        'y ~ i(year) + i(iso, x, ref=["MEX", "USA"]) + i(year, z, ref=-2.5)',
        "`a b` ~ `c d`:e | `f g`",
        "y ~ x | fe | d ~ z1 + z2",
        "y ~ x | d ~ z",
    ],
)
def test_normalized_round_trip(formula: str) -> None:
    spec = ModelSpec.parse(formula)
    again = ModelSpec.parse(spec.normalized)
    assert again.normalized == spec.normalized
    for field in ("depvar", "terms", "intercept", "fixed_effects", "endogenous", "instruments"):
        assert getattr(again, field) == getattr(spec, field)


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("", "the formula is empty"),
        ("y x", "formula 'y x' has no '~'"),
        ("y ~ log(x", "unbalanced parentheses in formula 'y ~ log(x': '(' at position 8 is never"),
        ("y ~ log(x))", "')' at position 11 has no matching opening bracket"),
        ("y ~ log(x]", "'(' at position 8 is closed by ']'"),
        (
            "y ~ system(x)",
            "unknown function 'system' in term 'system(x)'; allowed: log, log1p, exp, sqrt, abs",
        ),
        ("y ~ a + C(iso)", "unknown function 'C' in term 'C(iso)'"),
        ("y ~ x + + z", "empty term in regressors 'x + + z'"),
        ("y ~ x +", "empty term in regressors 'x +'"),
        ("y ~", "no regressors around '~'"),
        ("~ x", "has no outcome before '~'"),
        ("y ~ x | fe | d ~ z | w", "has 4 parts separated by '|'; at most 3"),
        ("y ~ x | log(fe)", "fixed effect 'log(fe)' must be a column name or a combination"),
        ("y ~ x | fe + a*b", "fixed effect 'a*b' must be a column name"),
        ("y ~ x | a^", "fixed effect 'a^' must be a column name"),
        ("y ~ x |", "empty fixed-effects part after '|'"),
        ("y ~ x | a + ", "empty fixed effect in 'a +'"),
        ("y ~ x | a + a", "fixed effect 'a' repeats a variable or appears twice"),
        ("y ~ x | a ~ b | fe", "the instruments part 'a ~ b' of formula"),
        ("y ~ x | a | b", "the third part 'b' of formula 'y ~ x | a | b' has no '~'"),
        ("y ~ x ~ z", "needs exactly one '~' before the first '|'"),
        ("y ~ x | d ~ z ~ w", "the instruments part 'd ~ z ~ w' must have exactly one '~'"),
        ("y ~ a*b", "operator '*' outside parentheses in term 'a*b'"),
        ("y ~ x^2", "operator '^' outside parentheses in term 'x^2'"),
        ("y ~ (x^2)", "'^' is not a power here in term '(x^2)'"),
        ("y ~ x - z", "cannot remove term 'z' with '-'"),
        ("y ~ 2", "term '2' uses no data column"),
        ("y ~ log(2)", "term 'log(2)' uses no data column"),
        ("y ~ x + x", "term 'x' appears twice"),
        ("y ~ x | x ~ z", "'x' is both an exogenous and an endogenous regressor"),
        ("y ~ 0", "formula 'y ~ 0' has nothing to estimate"),
        ("a + b ~ x", "the outcome 'a + b' must be a single expression"),
        ("y ~ x.y", "unexpected character '.' at position 6"),
        ("y ~ `x", "unclosed backtick at position 5"),
        ("y ~ ``", "empty backticks"),
        ("y ~ log(x, 2)", "log() takes exactly one argument in term 'log(x, 2)'"),
        ("y ~ log()", "log() needs an argument"),
        ("y ~ log(i(x))", "i() must be a term of its own in term 'log(i(x))'"),
        ("y ~ i(year):x", "i() must be a term of its own"),
        ("y ~ i(log(x))", "the factor 'log(x)' of i() must be a column name"),
        ("y ~ i()", "i() takes a factor and at most one variable"),
        ("y ~ i(a, b, c)", "i() takes a factor and at most one variable"),
        ("y ~ i(year, keep=1)", "unknown option 'keep' of i()"),
        ("y ~ i(year, ref=)", "ref= must be a value or a list of values in term 'i(year, ref=)'"),
        ("y ~ i(year, ref=x)", "ref= must be a value or a list of values"),
        ("y ~ i(year, ref=1, x)", "misplaced or empty argument of i()"),
        ("y ~ i(year) * 2", "unexpected '*' after i() in term 'i(year) * 2'"),
        ("y ~ x | d ~ 1", "constant '1' in instruments"),
        ("y ~ 'x'", "unexpected text 'x'"),
        ("y ~ " + "(" * 150 + "x" + ")" * 150, "nested too deeply"),
        ("y ~ log(" + "+".join(["x"] * 300) + ")", "nested too deeply"),
        ("y ~ (x 1)", "expected ')' but found '1'"),
    ],
)
def test_errors_are_helpful(formula: str, message: str) -> None:
    with pytest.raises(FormulaError) as info:
        ModelSpec.parse(formula)
    assert message in info.value.message
    assert info.value.hint
    assert "\n" not in info.value.one_line()


def test_formula_error_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        ModelSpec.parse("y ~ system(x)")


@pytest.mark.parametrize(
    "formula",
    [
        "y ~ __import__('os').system('echo hi')",
        "__import__('os').system('touch pwned') ~ x",
        "y ~ ().__class__",
        "y ~ open('pwned', 'w')",
        "y ~ x.__dict__",
        "y ~ lambda: 1",
        "y ~ eval('1')",
        "y ~ exec('import os')",
        "y ~ [c for c in x]",
        "y ~ x | __import__('os')",
    ],
)
def test_code_is_never_executed(
    formula: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[object] = []
    monkeypatch.setattr(os, "system", lambda *args: calls.append(args))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FormulaError):
        ModelSpec.parse(formula)
    assert calls == []
    assert list(tmp_path.iterdir()) == []


def test_term_dataclass_is_frozen_and_hashable() -> None:
    term = Term(factors=(Column("x"),))
    assert {term: 1}[Term(factors=(Column("x"),))] == 1
    with pytest.raises(AttributeError):
        term.factor_var = "y"  # type: ignore[misc]


identifiers = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True).filter(
    lambda name: not keyword.iskeyword(name)
)


@given(st.lists(identifiers, min_size=1, max_size=12, unique=True))
def test_identifiers_joined_with_plus_parse_back(columns: list[str]) -> None:
    spec = ModelSpec.parse("outcome_var ~ " + " + ".join(columns))
    assert [t.name for t in spec.terms] == columns
    assert [t.factors for t in spec.terms] == [(Column(c),) for c in columns]
    assert spec.intercept


@given(
    st.lists(identifiers, min_size=1, max_size=5, unique=True),
    st.lists(st.lists(identifiers, min_size=1, max_size=3, unique=True), max_size=4),
)
def test_fixed_effects_parse_back(terms: list[str], fes: list[list[str]]) -> None:
    unique_fes = list(dict.fromkeys(tuple(fe) for fe in fes))
    formula = "y ~ " + " + ".join(terms)
    if unique_fes:
        formula += " | " + " + ".join("^".join(fe) for fe in unique_fes)
    spec = ModelSpec.parse(formula)
    assert [fe.variables for fe in spec.fixed_effects] == unique_fes
    assert spec.intercept is not bool(unique_fes)


@given(st.text(st.characters(blacklist_characters="`", blacklist_categories=["Cs"]), min_size=1))
def test_any_backticked_name_is_a_column(name: str) -> None:
    spec = ModelSpec.parse(f"y ~ `{name}`")
    assert spec.terms[0].factors == (Column(name),)
    assert ModelSpec.parse(spec.normalized).terms == spec.terms


def _expressions() -> st.SearchStrategy[Expr]:
    leaves = st.one_of(
        identifiers.map(Column),
        st.integers(0, 10_000).map(lambda v: Number(float(v))),
        st.floats(0, 1e6, allow_nan=False, allow_infinity=False).map(Number),
    )

    def extend(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
        return st.one_of(
            st.builds(Unary, st.sampled_from(["-", "+"]), children),
            st.builds(Binary, st.sampled_from(["+", "-", "*", "/", "**"]), children, children),
            st.builds(Call, st.sampled_from(["log", "log1p", "exp", "sqrt", "abs"]), children),
        )

    return st.recursive(leaves, extend, max_leaves=12)


@settings(max_examples=200)
@given(_expressions())
def test_expression_text_parses_back_to_the_same_tree(expr: Expr) -> None:
    if not expr.columns():
        expr = Binary("*", expr, Column("x"))
    (term,) = ModelSpec.parse(f"y ~ {expr.factor_text}").terms
    assert term.factors == (expr,)
    outcome = ModelSpec.parse(f"{expr.factor_text} ~ z").outcome
    assert outcome == expr


def test_reserved_words_need_backticks() -> None:
    with pytest.raises(FormulaError, match=r"'lambda' at position 5 .* is a reserved word"):
        ModelSpec.parse("y ~ lambda + x")
    spec = ModelSpec.parse("y ~ `lambda` + x")
    assert spec.terms[0].factors == (Column("lambda"),)
    assert spec.normalized == "y ~ `lambda` + x"
