"""Writing an entry: ``await record(session, "booking.cancelled", "booking", booking.id, venue_id=...)``, in the
session (and so the transaction) of the change it describes, so that the change and its entry commit or
roll back together."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from audit.context import current
from audit.models import SYSTEM_ROLE, AuditEntry
from core.clock import utcnow
from core.database import insert_row, write_at_commit


def _values(
    action: str,
    subject_kind: str,
    subject_id: int,
    venue_id: int | None,
    details: dict[str, Any] | None,
    now: datetime | None,
) -> dict[str, Any]:
    acting = current()
    actor_id = acting.actor_id if acting else None
    return {
        "at": now or utcnow(),
        "actor_id": actor_id,
        "actor_role": (acting.actor_role if acting and actor_id is not None else None) or SYSTEM_ROLE,
        "address": acting.address if acting else None,
        "action": action,
        "subject_kind": subject_kind,
        "subject_id": subject_id,
        "venue_id": venue_id,
        "details": details or {},
    }


_INSERT: Final = insert_row(AuditEntry)


async def record(
    session: AsyncSession,
    action: str,
    subject_kind: str,
    subject_id: int,
    *,
    venue_id: int | None,
    details: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> None:
    """The entry, written by one ``INSERT`` with the commit of the session's transaction
    (``core.database.write_at_commit``: no object, whose flush cost about three times the statement; on
    PostgreSQL one statement with the other rows written then)."""
    await write_at_commit(session, _INSERT, _values(action, subject_kind, subject_id, venue_id, details, now))
