"""Which coefficients of a result form an event study, and at which relative period each one is.

Without options the period is read from the coefficient name by one of two documented patterns:

``LEAD_LAG``: ``<series>_lead<k>`` is period ``-k``, ``<series>_lag<k>`` is period ``+k``
    (``rta_lead2`` is -2, ``rta_lag0`` is 0, ``rta_lag3`` is 3), the usual names of event-time
    dummies built by hand.
``FACTOR_LEVEL``: ``<var>::<number>[:<x>]`` is period ``<number>``, the names of ``i()`` terms
    (``rel::-2`` is -2, ``year::1994:rta`` is 1994).

A ``pattern`` selects the coefficients instead. When it has a named group ``period``, that group
is the period and the rest of the name the series (``'^rta_f(?P<period>-?\\d+)$'``); otherwise
the names must still follow one of the patterns above. Explicit ``periods`` give the period of
each selected coefficient, in order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from migtrade.errors import UsageError

LEAD_LAG = re.compile(r"^(?P<series>.+?)_(?P<kind>lead|lag)(?P<k>\d+)$")
FACTOR_LEVEL = re.compile(r"^(?P<var>[^:]+)::(?P<period>[-+]?\d+(?:\.\d+)?)(?P<tail>:.+)?$")


@dataclass(frozen=True)
class EventTerm:
    """One event-study coefficient: its name, the series it belongs to and its relative period."""

    term: str
    series: str
    period: float


def parse_event_term(term: str) -> tuple[str, float, str] | None:
    """``(series, period, axis)`` of a coefficient name, or None when no pattern matches.

    ``axis`` names the horizontal axis: "Periods relative to the event" for leads and lags, the
    factor variable for ``i()`` terms.

    Examples
    --------
    >>> parse_event_term("rta_lead3")
    ('rta', -3.0, 'Periods relative to the event')
    >>> parse_event_term("year::1994:rta")
    ('rta × year', 1994.0, 'year')
    """
    m = LEAD_LAG.match(term)
    if m:
        k = float(m["k"])
        return m["series"], -k if m["kind"] == "lead" else k, "Periods relative to the event"
    m = FACTOR_LEVEL.match(term)
    if m:
        series = f"{m['tail'][1:]} × {m['var']}" if m["tail"] else m["var"]
        return series, float(m["period"]), m["var"]
    return None


def event_terms(
    terms: Sequence[str], *, pattern: str | None = None, periods: Sequence[float] | None = None
) -> tuple[list[EventTerm], str]:
    """The event-study coefficients among ``terms`` and the label of the period axis.

    Parameters
    ----------
    terms
        A result's coefficient names, in order.
    pattern
        A regular expression selecting the coefficients (``re.search``); by default every name
        that one of the documented patterns reads.
    periods
        The period of each selected coefficient, in order; overrides what the names say.

    Raises
    ------
    UsageError
        When nothing is selected, a selected name has no readable period, ``periods`` has the
        wrong length, or two coefficients of one series share a period.
    """
    rx = _compile(pattern) if pattern else None
    chosen = [t for t in terms if rx.search(t)] if rx else [t for t in terms if parse_event_term(t)]
    if not chosen:
        what = f"matching --pattern '{pattern}'" if pattern else "named like rta_lead2, rta_lag1 or rel::-2"
        raise UsageError(f"no coefficient {what} among: {', '.join(terms) or 'none'}",
                         "Pass --pattern REGEX (and --periods if the names hold no period).")
    if periods is not None:
        if len(periods) != len(chosen):
            raise UsageError(f"--periods gives {len(periods)} periods for {len(chosen)} coefficients "
                             f"({', '.join(chosen)})", "Give one period per coefficient, in order.")
        series = pattern or "event"
        out = [EventTerm(t, series, float(p)) for t, p in zip(chosen, periods, strict=True)]
        axis = "Period"
    else:
        out, axes = [], set()
        for t in chosen:
            parsed = _from_pattern(rx, t) if rx is not None and "period" in rx.groupindex else parse_event_term(t)
            if parsed is None:
                raise UsageError(f"cannot read a period from the coefficient name '{t}'",
                                 "Add a (?P<period>...) group to --pattern, or pass --periods.")
            out.append(EventTerm(t, parsed[0], parsed[1]))
            axes.add(parsed[2])
        axis = axes.pop() if len(axes) == 1 else "Period"
    seen: set[tuple[str, float]] = set()
    for e in out:
        if (e.series, e.period) in seen:
            raise UsageError(f"two coefficients of '{e.series}' are at period {e.period:g}",
                             "Narrow --pattern, or pass --periods.")
        seen.add((e.series, e.period))
    return out, axis


def _from_pattern(rx: re.Pattern[str], term: str) -> tuple[str, float, str] | None:
    m = rx.search(term)
    try:
        period = float(m["period"]) if m and m["period"] is not None else None
    except ValueError:
        period = None
    if m is None or period is None:
        return None
    # The series is the name without its period: 'rta_f-2' and 'rta_f3' both belong to 'rta_f'.
    series = (term[: m.start("period")] + term[m.end("period") :]).strip("_:") or term
    return series, period, "Period"


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as err:
        raise UsageError(f"--pattern '{pattern}' is not a regular expression ({err})",
                         "Escape special characters, e.g. 'rel::\\-'.") from None
