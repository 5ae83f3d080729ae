"""Checks of input that several domains share, each raising ``validation_error`` with the field."""

from __future__ import annotations

from datetime import date, datetime

from core.errors import ValidationFailed


def check_date_range(start: date, end: date, max_days: int) -> None:
    """``from``..``to`` inclusive: not backwards, and at most ``max_days`` days."""
    if end < start:
        raise ValidationFailed(
            "to 는 from 이후여야 합니다 (to must not be before from)",
            errors=[{"field": "to", "message": "before from"}],
        )
    if (end - start).days >= max_days:
        raise ValidationFailed(
            f"기간은 {max_days}일 이하여야 합니다 (at most {max_days} days)",
            errors=[{"field": "to", "message": f"range longer than {max_days} days"}],
        )


def require_aware(value: datetime, field: str) -> datetime:
    """An instant must say its offset: a bare 10:00 could be Seoul or UTC, nine hours apart."""
    if value.tzinfo is None:
        raise ValidationFailed(
            "시각에는 시간대가 필요합니다 (times need an offset, e.g. +09:00)",
            errors=[{"field": field, "message": "offset required"}],
        )
    return value
