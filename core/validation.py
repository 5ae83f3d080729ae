"""Checks of input that several domains share, each raising ``validation_error`` with the field."""

from __future__ import annotations

from datetime import date, datetime

from core.errors import ValidationFailed, field_error


def check_date_range(start: date, end: date, max_days: int) -> None:
    """``from``..``to`` inclusive: not backwards, and at most ``max_days`` days."""
    if end < start:
        raise ValidationFailed("validation.range_backwards", errors=[field_error("to", "field.before_from")])
    if (end - start).days >= max_days:
        raise ValidationFailed(
            "validation.range_too_long",
            errors=[field_error("to", "field.range_longer", max_days=max_days)],
            max_days=max_days,
        )


def require_aware(value: datetime, field: str) -> datetime:
    """An instant must say its offset: a bare 10:00 could be Seoul or UTC, nine hours apart."""
    if value.tzinfo is None:
        raise ValidationFailed("validation.offset_required", errors=[field_error(field, "field.offset_required")])
    return value
