"""Reading the log: filtered, newest first, limited to the venues a reader may see."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from audit.models import AuditEntry
from audit.schemas import AuditEntryRead
from core.clock import day_bounds_utc, to_kst
from core.pagination import Page, count

CSV_COLUMNS = (
    "id",
    "at",
    "actor_id",
    "actor_role",
    "address",
    "action",
    "subject_kind",
    "subject_id",
    "venue_id",
    "details",
)


@dataclass(frozen=True, slots=True)
class AuditFilter:
    venue_id: int | None = None
    action: str | None = None
    subject_kind: str | None = None
    subject_id: int | None = None
    actor_id: int | None = None
    start: date | None = None  # Seoul dates, inclusive
    end: date | None = None


def entry_read(entry: AuditEntry) -> AuditEntryRead:
    return AuditEntryRead(
        id=entry.id,
        at=to_kst(entry.at),
        actor_id=entry.actor_id,
        actor_role=entry.actor_role,
        address=entry.address,
        action=entry.action,
        subject_kind=entry.subject_kind,
        subject_id=entry.subject_id,
        venue_id=entry.venue_id,
        details=entry.details,
    )


def _query(wanted: AuditFilter, venues: Collection[int] | None) -> Select[tuple[AuditEntry]]:
    """``venues``: the venues whose entries the reader may see; None for everything (admins)."""
    query = select(AuditEntry)
    if venues is not None:
        query = query.where(AuditEntry.venue_id.in_(sorted(venues)))
    if wanted.venue_id is not None:
        query = query.where(AuditEntry.venue_id == wanted.venue_id)
    if wanted.action:
        query = query.where(AuditEntry.action == wanted.action)
    if wanted.subject_kind:
        query = query.where(AuditEntry.subject_kind == wanted.subject_kind)
    if wanted.subject_id is not None:
        query = query.where(AuditEntry.subject_id == wanted.subject_id)
    if wanted.actor_id is not None:
        query = query.where(AuditEntry.actor_id == wanted.actor_id)
    if wanted.start is not None:
        query = query.where(AuditEntry.at >= day_bounds_utc(wanted.start)[0])
    if wanted.end is not None:
        query = query.where(AuditEntry.at < day_bounds_utc(wanted.end)[1])
    return query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())


async def entries(
    session: AsyncSession, wanted: AuditFilter, venues: Collection[int] | None, *, limit: int, offset: int
) -> Page[AuditEntryRead]:
    query = _query(wanted, venues)
    total = await count(session, query)
    rows = (await session.scalars(query.limit(limit).offset(offset))).all()
    return Page(items=[entry_read(e) for e in rows], total=total, limit=limit, offset=offset)


def csv_rows(page: Page[AuditEntryRead]) -> Iterator[list[Any]]:
    for e in page.items:
        yield [
            e.id,
            e.at.isoformat(),
            e.actor_id,
            e.actor_role,
            e.address,
            e.action,
            e.subject_kind,
            e.subject_id,
            e.venue_id,
            json.dumps(e.details, ensure_ascii=False, sort_keys=True, default=str),
        ]
