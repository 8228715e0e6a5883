"""The named specifications of the substitution battery, as data.

Each :class:`TestSpec` says what is regressed on what, by which estimator, with which fixed
effects, which coefficients are the evidence, and the sign each hypothesis predicts for them.
Variable names are those of the panel (:mod:`migtrade.panel.schema`) and of the derived columns
(:data:`migtrade.hypotheses.variables.DERIVED`).

Fixed effects: ``origin^year`` and ``destination^year`` are the exporter-year and importer-year
effects of trade gravity and, in the migration equations, the origin-year and destination-year
effects that stand for multilateral resistance to migration (Bertoli & Fernandez-Huertas Moraga
2013). ``origin^destination`` is the directed pair effect. Standard errors are clustered by the
unordered pair (``dyad``), so the two directions of a pair may be correlated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from migtrade.hypotheses.variables import GEOGRAPHY

FE_COUNTRY_YEAR: tuple[str, ...] = ("origin^year", "destination^year")
FE_PAIR: tuple[str, ...] = (*FE_COUNTRY_YEAR, "origin^destination")
CLUSTER = "dyad"
HYPOTHESES: tuple[str, ...] = ("complements", "substitutes")
ROLES: tuple[str, ...] = ("network", "migration", "short-run", "long-run", "supporting")
"""How a reported quantity enters the verdict (see :mod:`migtrade.hypotheses.verdict`)."""

FOCUS = "focus"
"""Name of the 0/1 column marking the dyads a case is about (see :meth:`TestSpec.focused`)."""


@dataclass(frozen=True)
class Quantity:
    """One number a test reports: a coefficient, or the sum of several.

    Attributes
    ----------
    label
        What it measures, in words.
    terms
        Coefficient names summed (one term: the coefficient itself).
    role
        One of :data:`ROLES`; only the non-supporting ones enter the verdict.
    short
        A few words for narrow tables.
    """

    label: str
    terms: tuple[str, ...]
    role: str = "supporting"
    short: str = ""

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}; use one of {ROLES}")


@dataclass(frozen=True)
class TestSpec:
    """A named, documented specification of the battery.

    Attributes
    ----------
    name
        Identifier, used in the JSON output and in ``--instrument``.
    title
        One line for tables.
    family
        ``networks``, ``migration``, ``dynamics`` or ``iv``.
    description
        What the test estimates and why.
    outcome
        Left-hand side of the formula.
    regressors
        Right-hand-side terms; ``1`` when there are none besides the endogenous ones.
    fixed_effects
        Absorbed effects.
    model
        ``ppml`` or ``ols``.
    needs
        Panel columns the test cannot run without.
    quantities
        The numbers reported, with their role in the verdict.
    geography
        Add the gravity controls (log distance, contiguity, language, colony) that the data hold;
        only for models without a pair effect, which would absorb them.
    where
        Row filter.
    endogenous, instruments
        The instrumental-variables part, if any.
    instrument_target
        ``trade`` or ``stock``: the key under which ``--instrument`` replaces the instruments.
    fallback_for
        The quantities of this test vote only when the named test did not run.
    predicted
        Sign of the evidence under each hypothesis (+1 or -1); empty when neither hypothesis
        predicts one (the timing of the trade response to an RTA).
    """

    name: str
    title: str
    family: str
    description: str
    outcome: str
    regressors: tuple[str, ...]
    fixed_effects: tuple[str, ...]
    model: str
    needs: tuple[str, ...]
    quantities: tuple[Quantity, ...]
    geography: bool = False
    where: str | None = None
    endogenous: tuple[str, ...] = ()
    instruments: tuple[str, ...] = ()
    instrument_target: str | None = None
    fallback_for: str | None = None
    predicted: Mapping[str, int] = field(
        default_factory=lambda: {"complements": 1, "substitutes": -1})

    def formula(self, columns: Sequence[str] = ()) -> str:
        """The engine formula; geography controls are added where ``columns`` holds them."""
        rhs = list(self.regressors)
        if self.geography:
            rhs += ["log(dist)" if g == "dist" else g for g in GEOGRAPHY if g in columns]
        text = f"{self.outcome} ~ {' + '.join(rhs) if rhs else '1'}"
        text += " | " + " + ".join(self.fixed_effects)
        if self.endogenous:
            text += f" | {' + '.join(self.endogenous)} ~ {' + '.join(self.instruments)}"
        return text

    def with_instruments(self, instruments: Sequence[str]) -> TestSpec:
        """The same test with other excluded instruments (``--instrument``)."""
        return replace(self, instruments=tuple(instruments))

    def focused(self) -> TestSpec:
        """The test on the dyads marked by :data:`FOCUS`, with the others as the comparison.

        Each evidence term ``x`` (and each endogenous regressor and instrument) becomes
        ``i(focus, x)``: one slope for the focus dyads and one for the rest, with the fixed
        effects estimated on every dyad, so the focus dyads' coefficient keeps the full
        battery's identification.
        """
        evidence = {t for q in self.quantities for t in q.terms}

        def wrap(term: str) -> str:
            return f"i({FOCUS}, {term})"

        def rename(term: str) -> str:
            return f"{FOCUS}::1:{term}"

        regressors = tuple(wrap(r) if r in evidence else r for r in self.regressors)
        endogenous = tuple(wrap(e) for e in self.endogenous)
        instruments = tuple(wrap(z) for z in self.instruments)
        quantities = tuple(replace(q, terms=tuple(rename(t) for t in q.terms))
                           for q in self.quantities)
        return replace(self, regressors=regressors, endogenous=endogenous,
                       instruments=instruments, quantities=quantities,
                       needs=(*self.needs, FOCUS))


_NETWORK = ("ln_stock_lag", "ln_stock_reverse_lag")
_NETWORK_QUANTITIES = (
    Quantity("imports of the destination from the origin-born living there", ("ln_stock_lag",),
             short="network: imports"),
    Quantity("exports of the origin to the destination-born living there",
             ("ln_stock_reverse_lag",), short="network: exports"),
)
_DYNAMIC = ("rta_lead1", "rta", "rta_lag1", "rta_lag2")
_NEEDS_NETWORK = ("trade", "migrant_stock", "migrant_stock_reverse", "rta")


def _migration(outcome: str, driver: str, pair: bool, primary: bool) -> TestSpec:
    flow = outcome == "migration_flow"
    what = "Abel-Cohen five-year flows" if flow else "bilateral migrant stocks"
    on = "RTA in force" if driver == "rta" else "log bilateral trade (both directions)"
    label = ("migration response to an RTA" if driver == "rta"
             else "elasticity of migration to bilateral trade")
    role = "migration" if primary else "supporting"
    needs = (outcome, "trade") if driver == "ln_trade_total" else (outcome, "rta")
    stem = "migration_flow" if flow else "migration_stock"
    name = f"{stem}_{'rta' if driver == 'rta' else 'trade'}{'_pair' if pair else ''}"
    return TestSpec(
        name=name,
        title=f"{what} on {on}" + (", pair FE" if pair else ""),
        family="migration",
        description=(
            f"PPML migration gravity: {what} on {on}, with origin-year and destination-year "
            "fixed effects (multilateral resistance to migration)"
            + (" and pair fixed effects, so only changes within a pair identify the effect."
               if pair else "; geography is controlled, but any unobserved affinity of a pair "
                            "that raises both trade and migration biases towards complements.")
            + (" Trade intensity is trade relative to the partners' GDPs; the GDPs are "
               "absorbed by the country-year effects, so log trade gives the same coefficient."
               if driver != "rta" else "")),
        outcome=outcome,
        regressors=(driver,),
        fixed_effects=FE_PAIR if pair else FE_COUNTRY_YEAR,
        model="ppml",
        needs=needs,
        quantities=(Quantity(label, (driver,), role,
                             "RTA" if driver == "rta" else "trade elasticity"),),
        geography=not pair,
        fallback_for=None if flow or not primary else "migration_flow_rta_pair",
    )


BATTERY: tuple[TestSpec, ...] = (
    TestSpec(
        name="network_trade",
        title="trade on lagged migrant networks",
        family="networks",
        description=(
            "PPML trade gravity with exporter-year and importer-year fixed effects plus "
            "log(1 + migrant stock) one step (five years) before the trade it explains, in both "
            "directions: immigrants from the origin living in the destination (the destination's "
            "imports; Head & Ries 1998 find about 0.3) and the destination-born living in the "
            "origin (the origin's exports; about 0.1). Without pair effects, anything that "
            "makes a pair close raises both and reads as complementarity."),
        outcome="trade",
        regressors=(*_NETWORK, "rta"),
        fixed_effects=FE_COUNTRY_YEAR,
        model="ppml",
        needs=_NEEDS_NETWORK,
        quantities=(*_NETWORK_QUANTITIES,
                    Quantity("network elasticity of trade (both directions)", _NETWORK,
                             short="network: sum")),
        geography=True,
    ),
    TestSpec(
        name="network_trade_pair",
        title="trade on lagged migrant networks, pair FE",
        family="networks",
        description=(
            "The network model with pair fixed effects added: only the growth of a pair's "
            "migrant stock within the pair identifies the elasticity. Pair effects can absorb "
            "the whole cross-sectional network effect (Parsons 2012), which is why this, and "
            "not the model without them, votes."),
        outcome="trade",
        regressors=(*_NETWORK, "rta"),
        fixed_effects=FE_PAIR,
        model="ppml",
        needs=_NEEDS_NETWORK,
        quantities=(*_NETWORK_QUANTITIES,
                    Quantity("network elasticity of trade (both directions)", _NETWORK,
                             "network", "network: sum")),
    ),
    _migration("migration_flow", "rta", pair=False, primary=False),
    _migration("migration_flow", "rta", pair=True, primary=True),
    _migration("migration_flow", "ln_trade_total", pair=False, primary=False),
    _migration("migration_flow", "ln_trade_total", pair=True, primary=False),
    _migration("migrant_stock", "rta", pair=False, primary=False),
    _migration("migrant_stock", "rta", pair=True, primary=True),
    _migration("migrant_stock", "ln_trade_total", pair=False, primary=False),
    _migration("migrant_stock", "ln_trade_total", pair=True, primary=False),
    TestSpec(
        name="migration_rta_dynamics",
        title="migration flows on RTA lead and distributed lags, pair FE",
        family="dynamics",
        description=(
            "PPML of five-year migration flows on the RTA one step ahead (a placebo: it should "
            "be zero), in force, and in force one and two steps before, with origin-year, "
            "destination-year and pair effects. The short-run response is the coefficient of "
            "the RTA in force; the long-run response is the sum of the in-force and lagged "
            "coefficients (delta-method standard error). A positive short run with a negative "
            "long run is Martin's migration hump."),
        outcome="migration_flow",
        regressors=_DYNAMIC,
        fixed_effects=FE_PAIR,
        model="ppml",
        needs=("migration_flow", "rta"),
        quantities=(
            Quantity("anticipation one step before entry (placebo)", ("rta_lead1",),
                     short="lead (placebo)"),
            Quantity("short-run migration response (period of entry)", ("rta",), "short-run",
                     "short run"),
            Quantity("long-run migration response (sum of entry and lags)",
                     ("rta", "rta_lag1", "rta_lag2"), "long-run", "long run"),
        ),
    ),
    TestSpec(
        name="trade_rta_dynamics",
        title="trade on RTA lead and distributed lags, pair FE",
        family="dynamics",
        description=(
            "The same lead and distributed lags on trade: how long trade takes to respond to an "
            "agreement, against which the timing of the migration response can be read."),
        outcome="trade",
        regressors=_DYNAMIC,
        fixed_effects=FE_PAIR,
        model="ppml",
        needs=("trade", "rta"),
        quantities=(
            Quantity("anticipation one step before entry (placebo)", ("rta_lead1",),
                     short="lead (placebo)"),
            Quantity("short-run trade response (period of entry)", ("rta",), short="short run"),
            Quantity("long-run trade response (sum of entry and lags)",
                     ("rta", "rta_lag1", "rta_lag2"), short="long run"),
        ),
        predicted={},
    ),
)
"""The tests that do not need instruments, in the order they are run and reported."""


def _iv(name: str, model: str, target: str) -> TestSpec:
    two_sls = model == "ols"
    how = ("2SLS on logs with absorbed fixed effects" if two_sls
           else "Poisson with a control function (first-stage residual as a regressor)")
    if target == "stock":
        return TestSpec(
            name=name,
            title=f"trade on lagged stock, instrumented ({'2SLS' if two_sls else 'Poisson CF'})",
            family="iv",
            description=(
                f"{how}: trade on log(1 + stock) one step before, instrumented by the stock two "
                "steps before (predetermined networks), with exporter-year, importer-year and "
                "pair effects. Answers the worry that migrants go where trade is about to grow."),
            outcome="log(trade)" if two_sls else "trade",
            regressors=("rta",),
            fixed_effects=FE_PAIR,
            model=model,
            needs=("trade", "migrant_stock", "rta"),
            quantities=(Quantity("network elasticity of trade, instrumented", ("ln_stock_lag",),
                                 short="network (IV)"),),
            where="trade > 0" if two_sls else None,
            endogenous=("ln_stock_lag",),
            instruments=("ln_stock_lag2",),
            instrument_target="stock",
        )
    return TestSpec(
        name=name,
        title=f"migration on trade, instrumented ({'2SLS' if two_sls else 'Poisson CF'})",
        family="iv",
        description=(
            f"{how}: migration flows on log bilateral trade, instrumented by RTA timing, with "
            "origin-year, destination-year and pair effects. Answers the worry that trade follows "
            "migrants rather than the reverse."),
        outcome="log(migration_flow)" if two_sls else "migration_flow",
        regressors=(),
        fixed_effects=FE_PAIR,
        model=model,
        needs=("migration_flow", "trade", "rta"),
        quantities=(Quantity("elasticity of migration to trade, instrumented",
                             ("ln_trade_total",), short="trade elasticity (IV)"),),
        where="migration_flow > 0" if two_sls else None,
        endogenous=("ln_trade_total",),
        instruments=("rta",),
        instrument_target="trade",
    )


IV_BATTERY: tuple[TestSpec, ...] = (
    _iv("iv_network_trade_2sls", "ols", "stock"),
    _iv("iv_network_trade_cf", "ppml", "stock"),
    _iv("iv_migration_trade_2sls", "ols", "trade"),
    _iv("iv_migration_trade_cf", "ppml", "trade"),
)
"""The instrumental-variables tests (first-stage strength is reported with each)."""

ALL_TESTS: tuple[TestSpec, ...] = (*BATTERY, *IV_BATTERY)
TESTS: dict[str, TestSpec] = {t.name: t for t in ALL_TESTS}
VOTING: tuple[str, ...] = tuple(
    t.name for t in ALL_TESTS if any(q.role != "supporting" for q in t.quantities))
"""Tests whose quantities can enter the verdict."""

INSTRUMENT_TARGETS: dict[str, str] = {
    "trade": "log bilateral trade in the migration equations (default instrument: rta)",
    "stock": "the lagged migrant stock in the trade equations (default: ln_stock_lag2)",
}
"""What ``--instrument TARGET=TERMS`` can instrument."""
