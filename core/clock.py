"""The one clock of the service: aware UTC instants inside, Asia/Seoul at the edges."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

KST: Final = ZoneInfo("Asia/Seoul")
# The years the service takes dates and instants in. The programme runs 2022-2026; a century either way
# is room enough, and keeps every day's arithmetic (a 62-day range, a 800-day rule, the UTC instant of a
# Seoul midnight) far from the ends of Python's dates, where year 1 or 9999 overflowed.
FIRST_YEAR: Final = 2000
LAST_YEAR: Final = 2100


def utcnow() -> datetime:
    return datetime.now(UTC)


def today_kst(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(KST).date()


def kst(day: date, at: time) -> datetime:
    """The instant of a wall-clock time on a date in Seoul, as aware UTC."""
    return datetime.combine(day, at, tzinfo=KST).astimezone(UTC)


def to_kst(instant: datetime) -> datetime:
    return instant.astimezone(KST)


def day_bounds_utc(day: date) -> tuple[datetime, datetime]:
    """The UTC instants at which a Seoul calendar day starts and ends."""
    start = kst(day, time(0))
    return start, start + timedelta(days=1)
