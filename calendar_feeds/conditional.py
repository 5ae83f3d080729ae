"""Conditional GET of a feed: ETag and Last-Modified, If-None-Match and If-Modified-Since (RFC 9110 §13)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime


def http_date(instant: datetime) -> str:
    """An HTTP date (``Wed, 25 Nov 2026 05:28:17 GMT``) for Last-Modified."""
    return format_datetime(instant.astimezone(UTC).replace(microsecond=0), usegmt=True)


def entity_tags(header: str) -> set[str]:
    """The entity tags of an If-None-Match header, compared weakly (RFC 9110 §13.1.2)."""
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


def not_modified(etag: str, last_modified: datetime, if_none_match: str | None, if_modified_since: str | None) -> bool:
    """Whether the client's copy is still this version, so that ``304`` answers the poll."""
    if if_none_match is not None:
        # If-None-Match wins over If-Modified-Since when both are sent (RFC 9110 §13.1.3).
        tags = entity_tags(if_none_match)
        return "*" in tags or etag.removeprefix("W/") in tags
    if if_modified_since:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError, IndexError):
            return False
        if since.tzinfo is None:
            return False
        return last_modified <= since
    return False
