"""Rows written with the commit (``core.database.write_at_commit``): nothing before it, everything with
it, nothing after a rollback; on PostgreSQL, with the catalogue version's bump, one statement."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from audit.models import AuditEntry
from core.clock import utcnow
from core.database import insert_row, unit_of_work, write_at_commit
from notifications.models import Notice, OutboxMessage
from tests.booking.test_rush_fast_lane import statements_of
from tests.conftest import Database, MakeUser, MakeVenue

_AUDIT = insert_row(AuditEntry)
_NOTICE = insert_row(Notice)
_OUTBOX = insert_row(OutboxMessage)


def _entry(action: str) -> dict[str, Any]:
    return {
        "at": utcnow(),
        "actor_role": "system",
        "action": action,
        "subject_kind": "test",
        "subject_id": 1,
        "venue_id": None,
        "details": {"n": 1},
    }


async def _actions(db: Database) -> list[str]:
    async with unit_of_work(db.engine) as s:
        return list((await s.scalars(select(AuditEntry.action).order_by(AuditEntry.id))).all())


async def test_rows_are_written_with_the_commit_and_get_their_defaults(db: Database) -> None:
    async with unit_of_work(db.engine) as s:
        await write_at_commit(s, _AUDIT, _entry("test.one"))
        await write_at_commit(s, _AUDIT, _entry("test.two"))
        assert await s.scalar(select(func.count()).select_from(AuditEntry)) == 0  # not yet
    assert await _actions(db) == ["test.one", "test.two"]
    async with unit_of_work(db.engine) as s:
        at = await s.scalar(select(AuditEntry.at).where(AuditEntry.action == "test.one"))
    assert at is not None  # the column's own default, given with the row


async def test_a_rollback_drops_them_and_the_session_goes_on_without_them(db: Database) -> None:
    async with unit_of_work(db.engine) as s:
        await write_at_commit(s, _AUDIT, _entry("test.rolled_back"))
        await s.rollback()
        await write_at_commit(s, _AUDIT, _entry("test.kept"))
    assert await _actions(db) == ["test.kept"]


async def test_inside_a_savepoint_a_row_is_written_at_once_and_goes_with_its_rollback(db: Database) -> None:
    async with unit_of_work(db.engine) as s:
        await write_at_commit(s, _AUDIT, _entry("test.before"))
        try:
            async with s.begin_nested():
                await write_at_commit(s, _AUDIT, _entry("test.in_savepoint"))
                assert await s.scalar(select(func.count()).select_from(AuditEntry)) == 1  # at once
                raise RuntimeError
        except RuntimeError:
            pass
        async with s.begin_nested():
            await write_at_commit(s, _AUDIT, _entry("test.in_released_savepoint"))
    assert await _actions(db) == ["test.in_released_savepoint", "test.before"]


async def test_followers_take_the_key_of_their_row(db: Database, make_user: MakeUser) -> None:
    citizen = await make_user()
    messages = [
        {
            "user_id": citizen.id,
            "channel": channel,
            "address": address,
            "facts": {"name": "시민"},
            "status": "pending",
            "next_attempt_at": utcnow(),
        }
        for channel, address in (("email", "a@example.com"), ("sms", "010-0000-0000"))
    ]
    async with unit_of_work(db.engine) as s:
        for n in range(2):
            notice = {"user_id": citizen.id, "kind": "test", "title": f"알림 {n}", "title_en": f"Notice {n}"}
            await write_at_commit(s, _NOTICE, notice, followers=[(_OUTBOX, m, "notice_id") for m in messages])
    async with unit_of_work(db.engine) as s:
        notices = dict((await s.execute(select(Notice.id, Notice.title).order_by(Notice.id))).tuples().all())
        rows = (
            await s.execute(select(OutboxMessage.notice_id, OutboxMessage.channel).order_by(OutboxMessage.id))
        ).tuples()
        sent = [(notices[notice_id], channel) for notice_id, channel in rows]
    assert sent == [("알림 0", "email"), ("알림 0", "sms"), ("알림 1", "email"), ("알림 1", "sms")]


async def test_on_postgresql_the_rows_and_the_bump_are_one_statement(db: Database, make_venue: MakeVenue) -> None:
    venue = await make_venue()
    async with unit_of_work(db.engine) as s:
        with statements_of(db, bumps=True) as statements:
            venue_row = await s.get(type(venue), venue.id)
            assert venue_row is not None
            venue_row.name = "새 이름"  # a write the public reads show: the version is bumped
            await s.flush()
            await write_at_commit(s, _AUDIT, _entry("test.one"))
            await write_at_commit(s, _AUDIT, _entry("test.two"))
            await s.commit()
    after_flush = statements[
        statements.index(next(x for x in statements if x.lstrip().startswith("UPDATE venue"))) + 1 :
    ]
    writes = [x for x in after_flush if "audit_entry" in x or "catalogue_version" in x]
    if db.backend == "postgres":
        assert len(writes) == 1
        assert writes[0].count("INSERT INTO audit_entry") == 2  # a part each, the second after the first
        assert "UPDATE catalogue_version" in writes[0]
    else:
        assert len(writes) == 3
    assert await _actions(db) == ["test.one", "test.two"]
