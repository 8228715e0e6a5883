"""Which gravity structure a model's fixed effects have, for the bias corrections.

Weidner & Zylkin (2021) derive the incidental-parameter bias of PPML for two structures of fixed
effects on flows from country i to country j in period t:

* three-way: ``i^t + j^t + i^j`` (exporter-time, importer-time and pair effects); the estimate
  and its cluster-robust variance are biased, both of order 1/N;
* two-way: ``i^t + j^t``; only the variance is biased.

:func:`detect_structure` recognises them from the formula (the order of the effects and of the
variables inside them is free) and names what it found; the pair effect may also be a single
column, accepted when its groups are exactly the (i, j) pairs of the sample (checked on the data
by :class:`migtrade.estimation.bias_panel.PairPanel`). Anything else is refused with a message
that says what was found and what is covered. :func:`country_variables` finds only i, j and t,
which is all the split-panel jackknife needs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from migtrade.errors import UsageError
from migtrade.spec.formula import FixedEffect

# The number of distinct values of each column, or a function that counts them when needed.
Levels = Mapping[str, int] | Callable[[], Mapping[str, int]]

_COVERED = ("write the fixed effects as exp^year + imp^year (two-way) or "
            "exp^year + imp^year + exp^imp (three-way)")


class GravityKind(StrEnum):
    """The fixed-effect structures the analytical corrections cover."""

    three_way = "three-way"
    two_way = "two-way"


@dataclass(frozen=True)
class GravityStructure:
    """The countries, the period and the effects of a gravity model.

    Attributes
    ----------
    kind
        Three-way or two-way.
    origin, destination
        The two country columns, in the order their country-time effects appear in the formula
        (the corrections treat them symmetrically).
    time
        The period column shared by the country-time effects.
    fixed_effects
        The names of the origin-time, destination-time and (three-way) pair effects, as written.
    pair_column
        The single column standing for the pair effect, or None when it is written ``i^j``.
    """

    kind: GravityKind
    origin: str
    destination: str
    time: str
    fixed_effects: tuple[str, ...]
    pair_column: str | None = None

    def describe(self) -> str:
        """'three-way: country-time effects a^t and b^t, pair effect a^b' (for the notes)."""
        text = (f"{self.kind.value}: country-time effects {self.fixed_effects[0]} and "
                f"{self.fixed_effects[1]}")
        if self.kind is GravityKind.three_way:
            text += f", pair effect {self.fixed_effects[2]}"
        return text


def _country_time(fixed_effects: Sequence[FixedEffect], levels: Levels | None,
                  countries: frozenset[str] | None = None) -> tuple[int, int, str, str, str] | None:
    """Indices of two two-variable effects sharing one variable (the period), with the two
    countries and the period; None when there are none.

    Three effects ``a^b + b^c + a^c`` read alike whichever variable is the period. The reading
    whose two countries are ``countries`` (the columns of a clustering by pair) is taken when
    there is one; otherwise the period is the variable with the fewest levels in ``levels``
    (the short dimension of Weidner & Zylkin's asymptotics, counted only when the formula leaves
    a choice), ties and a missing ``levels`` going to the formula's order.
    """
    pairs = [(k, fe.variables) for k, fe in enumerate(fixed_effects) if len(fe.variables) == 2]
    found = []
    for x, (k1, v1) in enumerate(pairs):
        for k2, v2 in pairs[x + 1:]:
            shared = set(v1) & set(v2)
            if len(shared) == 1:
                time = shared.pop()
                a = next(v for v in v1 if v != time)
                b = next(v for v in v2 if v != time)
                if a != b:
                    found.append((k1, k2, a, b, time))
    if not found:
        return None
    if countries is not None:
        for f in found:
            if {f[2], f[3]} == countries:
                return f
    if levels is None or len(found) == 1:
        return found[0]
    counts = levels() if callable(levels) else levels
    return min(found, key=lambda f: counts.get(f[4], 0))  # min keeps the first of equals


def country_variables(fixed_effects: Sequence[FixedEffect],
                      levels: Levels | None = None) -> tuple[str, str, str]:
    """The origin, destination and period columns of any model with effects ``i^t`` and ``j^t``
    (``levels``: the number of distinct values of each column, see :func:`_country_time`).

    Raises
    ------
    UsageError
        When no two effects interact two different country columns with one period column.
    """
    found = _country_time(fixed_effects, levels)
    if found is None:
        raise UsageError(
            f"no origin-time and destination-time fixed effects in '{_listed(fixed_effects)}'",
            "The jackknife splits the origins and the destinations into halves: include fixed "
            "effects such as exp^year + imp^year.",
        )
    return found[2], found[3], found[4]


def detect_structure(fixed_effects: Sequence[FixedEffect], levels: Levels | None = None,
                     countries: frozenset[str] | None = None) -> GravityStructure:
    """The Weidner–Zylkin structure of a model's fixed effects (``countries``: the two columns
    of the clustering by pair; ``levels``: the number of distinct values of each column; they
    decide the period when the formula cannot, see :func:`_country_time`).

    Raises
    ------
    UsageError
        When the effects are not ``i^t + j^t`` or ``i^t + j^t + pair``; the message lists the
        effects found.
    """
    found = _country_time(fixed_effects, levels, countries)
    listed = _listed(fixed_effects)
    if found is None:
        raise UsageError(
            f"the Weidner-Zylkin bias correction needs origin-time and destination-time fixed "
            f"effects; the model has '{listed or 'none'}'",
            f"For the analytical correction {_COVERED}.",
        )
    k1, k2, a, b, time = found
    rest = [fe for k, fe in enumerate(fixed_effects) if k not in (k1, k2)]
    names = (fixed_effects[k1].name, fixed_effects[k2].name)
    if not rest:
        return GravityStructure(GravityKind.two_way, a, b, time, names)
    if len(rest) == 1:
        variables = rest[0].variables
        if set(variables) == {a, b} and len(variables) == 2:
            return GravityStructure(GravityKind.three_way, a, b, time, (*names, rest[0].name))
        if len(variables) == 1 and variables[0] not in (a, b, time):
            return GravityStructure(GravityKind.three_way, a, b, time, (*names, rest[0].name),
                                    pair_column=variables[0])
    raise UsageError(
        f"the Weidner-Zylkin bias correction covers two-way ({a}^{time} + {b}^{time}) and "
        f"three-way (+ {a}^{b}) fixed effects; the model has '{listed}'",
        f"Drop the other fixed effects, {_COVERED}, or use --bias-correction jackknife.",
    )


def _listed(fixed_effects: Sequence[FixedEffect]) -> str:
    return " + ".join(fe.name for fe in fixed_effects)
