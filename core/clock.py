"""The one clock of the service: aware UTC instants inside, Asia/Seoul at the edges."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

KST: Final = ZoneInfo("Asia/Seoul")


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
