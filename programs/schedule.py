"""Expanding a programme's RFC 5545 recurrence rule into session starts, in Asia/Seoul.

The rule is parsed by ``dateutil.rrule`` (never by us): ``FREQ=WEEKLY;BYDAY=TU,TH;COUNT=8`` from a first
start on the Seoul wall clock, minus EXDATEs (a date drops every occurrence that day; a date-time drops
that one occurrence). Days when the space is closed (Korean public holidays, closures) are skipped by the
caller, who knows the venue.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from dateutil.rrule import rruleset, rrulestr

from core.clock import KST
from core.errors import ValidationFailed, field_error

MAX_OCCURRENCES = 400
MAX_SPAN = timedelta(days=800)


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


def validate_rule(rule: str) -> None:
    """Refuse what dateutil cannot parse, and rules without an end (COUNT or UNTIL)."""
    text = _naive_until(rule.strip().removeprefix("RRULE:"))
    try:
        rrulestr(text, dtstart=datetime(2027, 1, 1))  # noqa: DTZ001 - the Seoul wall clock, see occurrences()
    except (ValueError, TypeError) as exc:
        raise ValidationFailed(
            "schedule.unreadable_rule",
            errors=[field_error("rrule", "field.unreadable", reason=str(exc))],
            reason=str(exc),
        ) from exc
    upper = text.upper()
    if "COUNT=" not in upper and "UNTIL=" not in upper:
        raise ValidationFailed("schedule.needs_end", errors=[field_error("rrule", "field.add_count_or_until")])


def _naive_until(text: str) -> str:
    """We expand on the Seoul wall clock (naive), so an UNTIL in UTC (``...Z``) is read back into Seoul time."""
    parts = []
    for part in text.split(";"):
        key, _, value = part.partition("=")
        if key.upper() == "UNTIL" and value.upper().endswith("Z"):
            instant = datetime.strptime(value.upper(), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            value = instant.astimezone(KST).strftime("%Y%m%dT%H%M%S")
        parts.append(f"{key}={value}")
    return ";".join(parts)


def occurrences(rule: str, first_start: datetime, exdates: list[str]) -> list[datetime]:
    """Every start the rule gives, as aware datetimes in Seoul, EXDATEs removed."""
    validate_rule(rule)
    start = first_start.astimezone(KST)
    text = _naive_until(rule.strip().removeprefix("RRULE:"))
    ruleset = rruleset()
    ruleset.rrule(rrulestr(text, dtstart=start.replace(tzinfo=None)))  # type: ignore[arg-type]
    skipped_days: set[date] = set()
    for value in exdates:
        parsed = _exdate(value)
        if isinstance(parsed, datetime):
            ruleset.exdate(parsed.replace(tzinfo=None))
        else:
            skipped_days.add(parsed)
    result: list[datetime] = []
    for naive in ruleset:
        if naive - start.replace(tzinfo=None) > MAX_SPAN or len(result) >= MAX_OCCURRENCES:
            break
        if naive.date() in skipped_days:
            continue
        result.append(naive.replace(tzinfo=KST))
    return result
