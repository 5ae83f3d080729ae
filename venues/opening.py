"""When a venue is open: weekly hours, minus Korean public holidays (lunar ones included) and closures.

Holidays come from the ``holidays`` package (``holidays.KR``), which computes Seollal and Chuseok from
the lunisolar calendar and adds substitute holidays; we never keep a list of our own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, time
from functools import lru_cache

import holidays

from core.i18n import translate


@dataclass(frozen=True, slots=True)
class Holiday:
    name: str
    name_en: str


@lru_cache(maxsize=64)
def _holidays_of_year(year: int) -> dict[date, Holiday]:
    ko = holidays.country_holidays("KR", years=year, language="ko")
    en = holidays.country_holidays("KR", years=year, language="en_US")
    return {day: Holiday(str(name), str(en.get(day, name))) for day, name in ko.items()}


def korean_holiday(day: date) -> Holiday | None:
    return _holidays_of_year(day.year).get(day)


@dataclass(frozen=True, slots=True)
class Interval:
    opens: time
    closes: time


@dataclass(frozen=True, slots=True)
class ClosureSpan:
    start_date: date
    end_date: date
    reason: str
    reason_en: str
    space_id: int | None = None


@dataclass(frozen=True, slots=True)
class DayStatus:
    date: date
    open: bool
    hours: tuple[Interval, ...]
    reason: str | None = None
    reason_en: str | None = None


def weekly_hours(rows: Iterable[tuple[int, time, time]]) -> dict[int, tuple[Interval, ...]]:
    """Group ``(weekday, opens, closes)`` rows by weekday, intervals in order."""
    by_day: dict[int, list[Interval]] = {}
    for weekday, opens, closes in rows:
        by_day.setdefault(weekday, []).append(Interval(opens, closes))
    return {day: tuple(sorted(items, key=lambda i: i.opens)) for day, items in by_day.items()}


def day_status(
    day: date,
    hours: dict[int, tuple[Interval, ...]],
    closures: Sequence[ClosureSpan],
    *,
    opens_on_holidays: bool,
    space_id: int | None = None,
) -> DayStatus:
    """Whether a venue (or its space ``space_id``) is open on a Seoul date, and if not, why."""
    for closure in closures:
        applies = closure.space_id is None or closure.space_id == space_id
        if applies and closure.start_date <= day <= closure.end_date:
            return DayStatus(day, False, (), closure.reason, closure.reason_en)
    if not opens_on_holidays and (holiday := korean_holiday(day)):
        return DayStatus(
            day,
            False,
            (),
            translate("venue_day.public_holiday", "ko", name=holiday.name),
            translate("venue_day.public_holiday", "en", name=holiday.name_en),
        )
    intervals = hours.get(day.weekday(), ())
    if not intervals:
        return DayStatus(
            day, False, (), translate("venue_day.regular_closing", "ko"), translate("venue_day.regular_closing", "en")
        )
    return DayStatus(day, True, intervals)
