"""One canonical country code, ISO 3166-1 alpha-3, from whatever a data source uses.

:func:`to_iso3` accepts English names as written by UN DESA, the World Bank, Abel & Cohen or
CEPII, ISO 3166-1 alpha-2 and alpha-3 codes, and UN M49 numeric codes (as integers or as
zero-padded strings). The ISO standard comes from the MIT-licensed ``iso3166`` package; every
exception (other names, retired codes, Kosovo, the Channel Islands, former states, aggregates)
is in :mod:`migtrade.panel.country_aliases`.

Nothing is dropped silently: inputs that match nothing are returned in
:attr:`CountryMatch.unmatched`, and regions, income groups and totals in
:attr:`CountryMatch.aggregates`; neither gets a code.

Examples
--------
>>> m = to_iso3(["Mexico", "United States of America", "484", 840, "PH", "World", "Atlantis"])
>>> m.codes
('MEX', 'USA', 'MEX', 'USA', 'PHL', None, None)
>>> sorted(m.aggregates), sorted(m.unmatched)
(['World'], ['Atlantis'])
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from numbers import Integral, Real

from migtrade.errors import UsageError
from migtrade.panel import country_aliases as aliases

MISSING = "<missing>"
"""How a missing input (None, NaN, empty string) is listed among the unmatched."""

_DROPPED_CHARS = re.compile(r"[.'’‘`´]")
_SEPARATORS = re.compile(r"[^0-9a-z]+")
_ALPHA2 = re.compile(r"[A-Za-z0-9]{2}")
_ALPHA3 = re.compile(r"[A-Za-z]{3}")
_DIGITS = re.compile(r"\d{1,4}")
_AGGREGATE = "<aggregate>"


@dataclass(frozen=True)
class CountryMatch:
    """The result of :func:`to_iso3`: one code (or None) per input, and what did not match.

    Attributes
    ----------
    inputs
        The values given, in order.
    codes
        The ISO 3166-1 alpha-3 code of each input (or migtrade's code for the entities listed in
        :data:`~migtrade.panel.country_aliases.NON_ISO_ENTITIES`); None for aggregates and for
        inputs that match nothing.
    unmatched
        Inputs (as text) that are neither a country nor an aggregate.
    aggregates
        Inputs (as text) recognised as regions, income groups or totals.
    source
        The source the inputs were read as, if one was given.
    """

    inputs: tuple[str | int, ...]
    codes: tuple[str | None, ...]
    unmatched: frozenset[str]
    aggregates: frozenset[str]
    source: str | None = None

    def __post_init__(self) -> None:
        if len(self.inputs) != len(self.codes):
            raise ValueError(f"{len(self.inputs)} inputs but {len(self.codes)} codes")

    def __len__(self) -> int:
        return len(self.inputs)

    @property
    def n_matched(self) -> int:
        """How many inputs received a code."""
        return sum(code is not None for code in self.codes)

    def mapping(self) -> dict[str | int, str]:
        """Each matched input and its code."""
        return {value: code for value, code in zip(self.inputs, self.codes, strict=True)
                if code is not None}

    def summary(self) -> str:
        """One line: matched, aggregates and unmatched counts over distinct inputs."""
        distinct = len(set(map(str, self.inputs)))
        return (f"{distinct - len(self.unmatched) - len(self.aggregates)} of {distinct} distinct "
                f"inputs matched, {len(self.aggregates)} aggregates, "
                f"{len(self.unmatched)} unmatched")


def normalize_name(text: str) -> str:
    """Fold a country name to the form the lookup tables use.

    Accents are removed, case is folded, "&" becomes "and", periods and apostrophes vanish,
    any other punctuation separates words, the word "the" is dropped and "st" becomes "saint".
    So "Côte d’Ivoire" and "COTE D'IVOIRE" fold to "cote divoire", and "St. Vincent & the
    Grenadines" and "Saint Vincent and the Grenadines" agree. The lookup then ignores the
    spaces too, so that "Cote d Ivoire" matches as well.

    Parameters
    ----------
    text
        A country name as written in a source.

    Returns
    -------
    str
        Lower-case ASCII words separated by single spaces.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    plain = _DROPPED_CHARS.sub("", plain.casefold().replace("&", " and "))
    words = _SEPARATORS.sub(" ", plain).split()
    return " ".join("saint" if w == "st" else w for w in words if w != "the")


@dataclass(frozen=True)
class _Tables:
    names: Mapping[str, str]
    alpha2: Mapping[str, str]
    alpha3: Mapping[str, str]
    numeric: Mapping[int, str]
    aggregate_names: frozenset[str]
    ambiguous: frozenset[str]
    source_aggregates: Mapping[str, frozenset[str]]


def _inverted(name: str) -> str | None:
    """ "Korea, Republic of" -> "Republic of Korea"; None where inverting reads wrong."""
    head, sep, tail = name.partition(", ")
    if not sep or "," in tail:
        return None
    last = tail.split()[-1].lower()
    if last in ("of", "the") or len(tail.split()) == 1:
        return f"{tail} {head}"
    return None


def _key(text: str) -> str:
    """The lookup key: the normalised words run together, so "d Ivoire" and "d'Ivoire" agree."""
    return normalize_name(text).replace(" ", "")


def _add(table: dict[str, str], key: str, code: str, origin: str) -> None:
    folded = _key(key)
    if table.get(folded, code) != code:
        raise RuntimeError(f"country table conflict: {origin} '{key}' -> {code}, "
                           f"but '{folded}' already means {table[folded]}")
    table[folded] = code


@lru_cache(maxsize=1)
def _tables() -> _Tables:
    import iso3166

    names: dict[str, str] = {}
    alpha2: dict[str, str] = {}
    alpha3: dict[str, str] = {}
    numeric: dict[int, str] = {}
    for c in iso3166.countries:
        alpha2[c.alpha2] = alpha3[c.alpha3] = c.alpha3
        numeric[int(c.numeric)] = c.alpha3
        for name in {c.name, c.apolitical_name}:
            _add(names, name, c.alpha3, "ISO name")
            if (inv := _inverted(name)) is not None:
                _add(names, inv, c.alpha3, "ISO name")
    for code, entity in aliases.NON_ISO_ENTITIES.items():
        alpha3.setdefault(code, code)
        if entity.alpha2 is not None:
            alpha2.setdefault(entity.alpha2, code)
        if entity.numeric is not None:
            numeric.setdefault(entity.numeric, code)
        _add(names, entity.name, alpha3[code], "entity")
    for raw, target in aliases.CODE_ALIASES.items():
        (alpha2 if len(raw) == 2 else alpha3)[raw] = alpha3[target]
    for number, target in aliases.NUMERIC_ALIASES.items():
        numeric.setdefault(number, target)
    for name, target in aliases.NAME_ALIASES.items():
        _add(names, name, alpha3[target], "alias")
    ambiguous = frozenset(_key(n) for n in aliases.AMBIGUOUS_NAMES)
    clash = ambiguous & set(names)
    if clash:
        raise RuntimeError(f"names both ambiguous and matched: {sorted(clash)}")
    return _Tables(
        names=names, alpha2=alpha2, alpha3=alpha3, numeric=numeric,
        aggregate_names=frozenset(_key(n) for n in aliases.AGGREGATE_NAMES),
        ambiguous=ambiguous,
        source_aggregates={src: frozenset(_key(n) for n in group)
                           for src, group in aliases.SOURCE_AGGREGATES.items()},
    )


def known_codes() -> frozenset[str]:
    """Every code :func:`to_iso3` can return: ISO 3166-1 alpha-3 plus migtrade's entities."""
    return frozenset(_tables().alpha3[code] for code in _tables().alpha3)


def _resolve_number(number: int, tables: _Tables) -> str | None:
    if number in tables.numeric:
        return tables.numeric[number]
    if number in aliases.AGGREGATE_NUMERIC or 900 <= number < 2000:
        return _AGGREGATE
    return None


def _resolve_name(text: str, tables: _Tables, source: str | None) -> str | None:
    words = normalize_name(text).split()
    folded = "".join(words)
    if source is not None and folded in tables.source_aggregates.get(source, frozenset()):
        return _AGGREGATE
    if folded in tables.names:
        return tables.names[folded]
    if folded in tables.ambiguous or not folded:
        return None
    if (folded in tables.aggregate_names or words[0] in aliases.AGGREGATE_FIRST_WORDS
            or not aliases.AGGREGATE_WORDS.isdisjoint(words)):
        return _AGGREGATE
    return None


def _resolve(value: object, tables: _Tables, source: str | None) -> str | None:
    """A code, ``_AGGREGATE`` or None for one input value."""
    if isinstance(value, bool):
        return None
    if isinstance(value, Integral):
        return _resolve_number(int(value), tables)
    if isinstance(value, Real):
        number = float(value)
        return _resolve_number(int(number), tables) if number.is_integer() else None
    text = str(value).strip()
    if _DIGITS.fullmatch(text):
        return _resolve_number(int(text), tables)
    if _ALPHA2.fullmatch(text) or _ALPHA3.fullmatch(text):
        code = text.upper()
        table = tables.alpha2 if len(code) == 2 else tables.alpha3
        if code in table:
            return table[code]
        if code in aliases.AGGREGATE_CODES:
            return _AGGREGATE
    return _resolve_name(text, tables, source)


def _is_missing(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, str):
        return not value.strip()
    try:  # pandas.NA and numpy NaN scalars
        return bool(value != value)
    except (TypeError, ValueError):
        return True


def to_iso3(values: Iterable[str | int], *, source: str | None = None) -> CountryMatch:
    """Map country names and codes to ISO 3166-1 alpha-3.

    Parameters
    ----------
    values
        Names ("Viet Nam", "Bolivia (Plurinational State of)", "Korea, Rep."), ISO alpha-2 or
        alpha-3 codes ("MX", "MEX"), or UN M49 numeric codes (484 or "484"). Matching ignores
        case, accents, punctuation and extra spaces.
    source
        Where the values come from, one of
        :data:`~migtrade.panel.country_aliases.SOURCES`. It settles names that differ between
        sources: in UN DESA data "Micronesia" is a region, elsewhere it may be the country.

    Returns
    -------
    CountryMatch
        One code or None per value, the unmatched values and the aggregates.

    Raises
    ------
    UsageError
        If ``source`` is not a known source.

    Notes
    -----
    Resolution order for each value: a number (int, or a string of digits) is an ISO numeric or
    UN M49 code; two or three letters are tried as alpha-2/alpha-3 codes (then as World Bank
    aggregate codes); anything else is a name, looked up after :func:`normalize_name`. Former
    states keep their own code ("Serbia and Montenegro" -> SCG); "Sudan (former)" and the Abel
    & Cohen "Sudan*" are SDN, the code ISO kept after 2011.
    """
    if source is not None and source not in aliases.SOURCES:
        raise UsageError(f"unknown country source '{source}'",
                         f"Use one of {', '.join(aliases.SOURCES)}.")
    tables = _tables()
    seen: dict[object, str | None] = {}
    inputs: list[str | int] = []
    codes: list[str | None] = []
    unmatched: set[str] = set()
    aggregates: set[str] = set()
    for value in values:
        inputs.append(value)
        if _is_missing(value):
            codes.append(None)
            unmatched.add(MISSING)
            continue
        key = (type(value), value)
        if key not in seen:
            seen[key] = _resolve(value, tables, source)
        found = seen[key]
        if found == _AGGREGATE:
            aggregates.add(str(value))
            codes.append(None)
        else:
            if found is None:
                unmatched.add(str(value))
            codes.append(found)
    return CountryMatch(tuple(inputs), tuple(codes), frozenset(unmatched),
                        frozenset(aggregates), source)
