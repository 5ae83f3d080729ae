"""Checks of input that several domains share, each raising ``validation_error`` with the field."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, TypeVar

from litestar import Request

from core.clock import FIRST_YEAR, LAST_YEAR
from core.errors import ValidationFailed, field_error

D = TypeVar("D", bound=date)


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


def check_day(value: D, field: str) -> D:
    """A date, or an instant, in the years the service works in (``FIRST_YEAR`` to ``LAST_YEAR``).

    Every date and instant that comes in passes here (query parameters from the routes, body fields
    from the schemas' ``__post_init__``), so that no day arithmetic further in can overflow.
    """
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValidationFailed(
            "validation.year_range",
            errors=[field_error(field, "field.year_range", first=FIRST_YEAR, last=LAST_YEAR)],
            first=FIRST_YEAR,
            last=LAST_YEAR,
        )
    return value


def check_optional_day(value: D | None, field: str) -> D | None:
    return None if value is None else check_day(value, field)


def check_instant(value: datetime, field: str) -> datetime:
    """An instant with its offset, in the years the service works in."""
    return check_day(require_aware(value, field), field)


def check_fields(body: Any, *, days: tuple[str, ...] = (), instants: tuple[str, ...] = ()) -> None:
    """For a request schema's ``__post_init__``: its date fields and instant fields, where set."""
    for name in days:
        value = getattr(body, name)
        if isinstance(value, date):
            check_day(value, name)
    for name in instants:
        value = getattr(body, name)
        if isinstance(value, datetime):
            check_instant(value, name)


class BoundedRequest(Request[Any, Any, Any]):
    """A request whose JSON body may not nest deeper than the decoder can follow.

    msgspec decodes nested arrays and objects recursively and raises ``RecursionError`` near Python's
    recursion limit (a body of 10,000 ``[``): that is malformed input, a ``400``, not a crash.
    """

    async def json(self) -> Any:
        try:
            return await super().json()
        except RecursionError:
            raise ValidationFailed("validation.too_deep", errors=[field_error("body", "field.too_deep")]) from None
