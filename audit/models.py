"""The audit log's one table. Append-only, and the database says so: a trigger refuses every UPDATE and
DELETE of ``audit_entry`` on PostgreSQL and on SQLite (created with the table by ``metadata.create_all``
and by the migration), so that not even a bug or a hand-written query in the app rewrites the past.

No foreign keys on purpose: an entry outlives the account, venue or booking it names (a cascade would be
a DELETE, which the trigger refuses anyway)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from advanced_alchemy.base import IdentityBase
from advanced_alchemy.types import DateTimeUTC, JsonB
from sqlalchemy import DDL, Index, Integer, String, event
from sqlalchemy.orm import Mapped, mapped_column

SYSTEM_ROLE: Final = "system"

# The same statements in the migration (migrations/versions/*_audit_log.py): a trigger per database.
POSTGRES_GUARD: Final = (
    "CREATE OR REPLACE FUNCTION audit_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'audit_entry is append-only' USING ERRCODE = 'restrict_violation'; END $$",
    "CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON audit_entry "
    "FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only()",
    # TRUNCATE empties a table without a row trigger firing: refused too.
    "CREATE TRIGGER audit_entry_no_truncate BEFORE TRUNCATE ON audit_entry "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_append_only()",
)
SQLITE_GUARD: Final = tuple(
    f"CREATE TRIGGER audit_entry_no_{verb.lower()} BEFORE {verb} ON audit_entry "
    "BEGIN SELECT RAISE(ABORT, 'audit_entry is append-only'); END"
    for verb in ("UPDATE", "DELETE")
)


class AuditEntry(IdentityBase):
    __tablename__ = "audit_entry"
    __table_args__ = (
        Index("ix_audit_entry_venue_at", "venue_id", "at"),
        Index("ix_audit_entry_subject", "subject_kind", "subject_id"),
        Index("ix_audit_entry_actor_at", "actor_id", "at"),
        Index("ix_audit_entry_at", "at"),
    )

    at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    # None when the system did it (a scheduled job, the command line).
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_role: Mapped[str] = mapped_column(String(16))
    # The client address of the request; None outside requests.
    address: Mapped[str | None] = mapped_column(String(64))
    # Stable, ``<subject>.<what happened>``: ``booking.cancelled`` (audit.actions lists them).
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject_kind: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[int] = mapped_column(Integer)
    # The venue the subject belongs to, for staff and managers who read their venues' entries only.
    venue_id: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[dict[str, Any]] = mapped_column(JsonB, default=dict)


def _guard(statement: str, dialect: str) -> DDL:
    return DDL(statement).execute_if(dialect=dialect)  # type: ignore[no-untyped-call]


for _statement in POSTGRES_GUARD:
    event.listen(AuditEntry.__table__, "after_create", _guard(_statement, "postgresql"))
for _statement in SQLITE_GUARD:
    event.listen(AuditEntry.__table__, "after_create", _guard(_statement, "sqlite"))
