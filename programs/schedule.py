"""Expanding a programme's RFC 5545 recurrence rule into session starts, in Asia/Seoul.

The rule is parsed and expanded by ``dateutil.rrule`` (never by us): ``FREQ=WEEKLY;BYDAY=TU,TH;COUNT=8``
from a first start on the Seoul wall clock, minus EXDATEs (a date drops every occurrence that day; a
date-time drops that one occurrence). Days when the space is closed (Korean public holidays, closures)
are skipped by the caller, who knows the venue.

Why the expansion runs on a twin of the calendar near the year 9999
-------------------------------------------------------------------
dateutil checks COUNT and UNTIL only on a date that matches the rule. Between two matches it walks
period after period (a day, a week, a month or a year at a time) and stops only at ``datetime.MAXYEAR``.
A rule that never matches (``FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30;COUNT=1``) therefore walks some 2.9
million days to the year 9999: tens of seconds of CPU. Our own horizon cannot stop it, since the
generator yields nothing to stop at; a worker thread alone would only move those seconds (and the
GIL) elsewhere, one thread per request.

So we move the rule instead of waiting for it. The Gregorian calendar repeats itself: a run of years
with the same lengths and the same weekday on 1 January has the same dates on the same weekdays, and
every part of a rule (BYDAY, BYMONTHDAY, BYYEARDAY, BYWEEKNO, BYSETPOS, INTERVAL counted from the
first start) depends on nothing else. We find the latest twin of the years around our horizon that
still fits before 9999, expand the same rule from the twin of the first start, and shift the dates
back. The twins of a run of years recur every 28 years (400 at worst, across a century that is not a
leap year, and such first starts are refused), so dateutil's own end of time lies at most about 30
years past our horizon: some 11,000 days for a daily rule that never matches, under 0.2 s of CPU
instead of a minute. BYEASTER, a dateutil
extension outside RFC 5545, follows the moon rather than the weekday and is refused; so are the
frequencies finer than a day (SECONDLY, MINUTELY, HOURLY), which make no sense for sessions, and rules
that give more than a few start times a day. What is left is still CPU, so ``expand`` runs it in a
worker thread, one at a time: the event loop only waits for the answer.
"""

from __future__ import annotations

import asyncio
import calendar
import re
import weakref
from datetime import UTC, date, datetime, timedelta
from typing import Final

import anyio
import anyio.to_thread
from dateutil.rrule import rrule, rrulestr

from core.clock import KST
from core.errors import ValidationFailed, field_error

MAX_OCCURRENCES: Final = 400
MAX_SPAN: Final = timedelta(days=800)
# Sessions start at most this many times a day (BYHOUR x BYMINUTE x BYSECOND).
MAX_TIMES_PER_DAY: Final = 24
FREQUENCIES: Final = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
TOO_FINE: Final = ("SECONDLY", "MINUTELY", "HOURLY")
# The twin of our horizon ends at most this many years before 9999; else the first start is refused.
MAX_TAIL_YEARS: Final = 30
_UNTIL: Final = re.compile(r"(\d{8})(?:T(\d{6})(Z?))?")


def _exdate(value: str) -> date | datetime:
    try:
        if "T" in value:
            parsed = datetime.fromisoformat(value)
            return parsed.replace(tzinfo=KST) if parsed.tzinfo is None else parsed.astimezone(KST)
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValidationFailed(
            "schedule.bad_exdate", errors=[field_error("exdates", "field.not_a_date", value=value)], value=value
        ) from exc


def _parts(text: str) -> list[tuple[str, str]]:
    pairs = (part.partition("=") for part in text.split(";") if part.strip())
    return [(key.strip().upper(), value.strip()) for key, _, value in pairs]


def _unreadable(reason: str) -> ValidationFailed:
    return ValidationFailed(
        "schedule.unreadable_rule", errors=[field_error("rrule", "field.unreadable", reason=reason)], reason=reason
    )


def _until(value: str) -> datetime:
    """An UNTIL as the Seoul wall clock: RFC 5545 allows a date, a local date-time, or one in UTC (``Z``)."""
    match = _UNTIL.fullmatch(value.upper())
    if match is None:
        raise _unreadable(f"UNTIL={value} is not YYYYMMDD or YYYYMMDDTHHMMSS[Z]")
    day, clock, utc = match.groups()
    try:
        if clock is None:
            # A date: the whole day counts (dateutil reads it as midnight, which would drop that day's sessions).
            return datetime.strptime(day, "%Y%m%d") + timedelta(days=1, microseconds=-1)  # noqa: DTZ007
        instant = datetime.strptime(day + clock, "%Y%m%d%H%M%S")  # noqa: DTZ007 - the wall clock, see occurrences()
    except ValueError as exc:
        raise _unreadable(f"UNTIL={value}: {exc}") from exc
    if utc:
        return instant.replace(tzinfo=UTC).astimezone(KST).replace(tzinfo=None)
    return instant


def _times_per_day(parts: list[tuple[str, str]]) -> int:
    total = 1
    for key, value in parts:
        if key in ("BYHOUR", "BYMINUTE", "BYSECOND"):
            total *= len({v for v in value.split(",") if v.strip()}) or 1
    return total


def _parse(rule: str) -> tuple[str, datetime | None]:
    """The rule without its UNTIL, and the UNTIL on the Seoul wall clock; refuses what we do not expand."""
    parts = _parts(rule.strip().removeprefix("RRULE:"))
    keys = [key for key, _ in parts]
    for freq in (value.upper() for key, value in parts if key == "FREQ"):
        if freq not in FREQUENCIES:
            if freq not in TOO_FINE:
                raise _unreadable(f"FREQ={freq}")
            raise ValidationFailed(
                "schedule.frequency_too_fine", errors=[field_error("rrule", "field.frequency_one_of")], freq=freq
            )
    if "BYEASTER" in keys:
        raise ValidationFailed(
            "schedule.unsupported_part",
            errors=[field_error("rrule", "field.unsupported_part", part="BYEASTER")],
            part="BYEASTER",
        )
    if _times_per_day(parts) > MAX_TIMES_PER_DAY:
        raise ValidationFailed(
            "schedule.too_many_times",
            errors=[field_error("rrule", "field.too_many_times", max=MAX_TIMES_PER_DAY)],
            max=MAX_TIMES_PER_DAY,
        )
    until = [_until(value) for key, value in parts if key == "UNTIL"]
    text = ";".join(f"{key}={value}" for key, value in parts if key != "UNTIL")
    return text, (until[0] if until else None)


def _rule(text: str, dtstart: datetime, until: datetime | None) -> rrule:
    try:
        parsed = rrulestr(text, dtstart=dtstart)
    except (ValueError, TypeError, OverflowError) as exc:
        raise _unreadable(str(exc)) from exc
    if not isinstance(parsed, rrule):  # DTSTART, RDATE or a second rule in the text: not one rule
        raise _unreadable("one RRULE only (FREQ=...;...)")
    return parsed.replace(until=until) if until is not None else parsed


def validate_rule(rule: str) -> tuple[str, datetime | None]:
    """Refuse what dateutil cannot parse, what we do not expand, and rules without an end (COUNT or
    UNTIL); the rule without its UNTIL, and the UNTIL on the Seoul wall clock."""
    text, until = _parse(rule)
    _rule(text, datetime(2027, 1, 1), None)  # noqa: DTZ001 - the Seoul wall clock, see occurrences()
    if until is None and "COUNT" not in {key for key, _ in _parts(text)}:
        raise ValidationFailed("schedule.needs_end", errors=[field_error("rrule", "field.add_count_or_until")])
    return text, until


def _year_kind(year: int) -> tuple[bool, int]:
    return calendar.isleap(year), date(year, 1, 1).weekday()


def _twin_shift(first: date, last: date) -> timedelta:
    """How far to move the dates ``first``..``last`` so that they land on identical years (same lengths,
    same weekdays) ending as close to 9999 as we can find; the year on either side is matched too, for
    weeks that straddle New Year and for ISO week numbers."""
    low, high = first.year - 1, last.year + 1
    if low < 1 or high > 9999:
        raise ValidationFailed(
            "schedule.first_start_out_of_range",
            errors=[field_error("first_start", "field.first_start_out_of_range")],
        )
    kinds = [_year_kind(y) for y in range(low, high + 1)]
    # A shift by a multiple of 400 years always matches, so this ends within 400 steps.
    for years in range(9999 - high, -1, -1):
        if all(_year_kind(low + years + i) == kind for i, kind in enumerate(kinds)):
            if 9999 - (high + years) > MAX_TAIL_YEARS:
                break
            return date(low + years, 1, 1) - date(low, 1, 1)
    raise ValidationFailed(
        "schedule.first_start_out_of_range", errors=[field_error("first_start", "field.first_start_out_of_range")]
    )


def occurrences(rule: str, first_start: datetime, exdates: list[str]) -> list[datetime]:
    """Every start the rule gives within ``MAX_SPAN`` of the first (at most ``MAX_OCCURRENCES``), as
    aware datetimes in Seoul, EXDATEs removed. A rule that gives none is refused.

    CPU-bound for up to a few tens of milliseconds: from the event loop, call ``expand``."""
    text, until = validate_rule(rule)
    start = first_start.astimezone(KST).replace(tzinfo=None)
    horizon = start + MAX_SPAN
    shift = _twin_shift(start.date(), horizon.date())
    # An UNTIL past the horizon changes nothing within it; capped, it also ends dateutil's walk sooner.
    until = min(until, horizon) if until is not None else None
    twin = _rule(text, start + shift, until + shift if until is not None else None)
    skipped_days: set[date] = set()
    skipped: set[datetime] = set()
    for value in exdates:
        parsed = _exdate(value)
        if isinstance(parsed, datetime):
            skipped.add(parsed.replace(tzinfo=None))
        else:
            skipped_days.add(parsed)
    # dateutil looks for the match after the COUNT-th before it stops: we stop at the COUNT-th ourselves.
    count = next((int(value) for key, value in _parts(text) if key == "COUNT"), None)
    given = 0
    result: list[datetime] = []
    for shifted in twin:
        naive = shifted - shift
        if naive > horizon or len(result) >= MAX_OCCURRENCES:
            break
        given += 1
        if naive.date() not in skipped_days and naive not in skipped:
            result.append(naive.replace(tzinfo=KST))
        if given == count:
            break
    if not given:
        days = MAX_SPAN.days
        raise ValidationFailed(
            "schedule.no_sessions", errors=[field_error("rrule", "field.no_sessions", days=days)], days=days
        )
    return result


# One expansion at a time per process: each is pure Python holding the GIL, so several at once would
# take turns with the event loop as much as with each other. Programmes are edited rarely; a queue of
# them costs nothing, and the event loop never competes with more than one.
# (A limiter belongs to one event loop: a server process has one, the tests one per test.)
_one_at_a_time: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


async def expand(rule: str, first_start: datetime, exdates: list[str]) -> list[datetime]:
    """``occurrences`` in a worker thread: bounded, but milliseconds of CPU that the event loop need not wait on."""
    loop = asyncio.get_running_loop()
    limiter = _one_at_a_time.get(loop)
    if limiter is None:
        limiter = _one_at_a_time[loop] = anyio.CapacityLimiter(1)
    return await anyio.to_thread.run_sync(occurrences, rule, first_start, exdates, limiter=limiter)
