"""The scheduler's leader and the record of job runs, at the service level on both databases.

The lease row lets one process lead at a time and hands over once the lease has run out; the
``job_run`` row lets an occurrence run once even when two processes both believe they lead. The test
with real server processes (and kill -9) is ``test_many_servers.py``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from core.database import unit_of_work
from core.settings import Settings
from server.job_runs import JobOutcome, JobRun, occurrence_of, purge_job_runs
from server.lease import Leader, SchedulerLease
from server.scheduler import JobSpec, _tick, job_specs, run_occurrence
from tests.conftest import Database

T0 = datetime(2026, 12, 2, 3, 0, 7, tzinfo=UTC)


def _settings(db: Database, **changes: Any) -> Settings:
    return dataclasses.replace(db.settings, scheduler_lease_seconds=30, scheduler_renew_seconds=10, **changes)


async def test_one_process_leads_and_another_takes_over_only_once_the_lease_has_run_out(db: Database) -> None:
    settings = _settings(db)
    a, b = Leader(db.engine, settings, holder="a"), Leader(db.engine, settings, holder="b")
    assert await a.try_take(T0)
    assert not await b.try_take(T0 + timedelta(seconds=1))
    # a renews: its lease now runs to T0 + 20 + 30 s.
    assert await a.try_take(T0 + timedelta(seconds=20))
    assert not await b.try_take(T0 + timedelta(seconds=49))
    assert a.leads(T0 + timedelta(seconds=49))
    assert not b.leads(T0 + timedelta(seconds=49))
    # a stopped renewing (it died): b takes the lease once it has run out, and a cannot renew it any more.
    assert await b.try_take(T0 + timedelta(seconds=50))
    assert not await a.try_take(T0 + timedelta(seconds=51))
    assert not a.leads(T0 + timedelta(seconds=51))
    assert b.leads(T0 + timedelta(seconds=51))
    async with unit_of_work(db.engine) as session:
        lease = await session.get_one(SchedulerLease, "scheduler")
        assert (lease.holder, lease.expires_at) == ("b", T0 + timedelta(seconds=80))


async def test_processes_racing_for_a_free_lease_get_one_leader(db: Database) -> None:
    settings = _settings(db)
    engines: list[AsyncEngine] = [db.new_engine() for _ in range(6)]
    try:
        for round_ in range(3):  # the first lease (the INSERT), then twice an expired one (the UPDATE)
            at = T0 + timedelta(minutes=round_)
            leaders = [Leader(e, settings, holder=f"p{i}-{round_}") for i, e in enumerate(engines)]
            taken = await asyncio.gather(*(leader.try_take(at) for leader in leaders))
            assert sum(taken) == 1, taken
    finally:
        for engine in engines:
            await engine.dispose()


async def test_a_released_lease_is_taken_at_the_next_renewal(db: Database) -> None:
    settings = _settings(db)
    a, b = Leader(db.engine, settings, holder="a"), Leader(db.engine, settings, holder="b")
    assert await a.try_take()
    await a.release()
    assert not a.leads()
    assert await b.try_take()


def test_an_occurrence_is_the_tick_on_the_grid_of_its_period() -> None:
    at = datetime(2026, 12, 2, 3, 0, 7, 500_000, tzinfo=UTC)
    assert occurrence_of(at, timedelta(seconds=30)) == datetime(2026, 12, 2, 3, 0, 0, tzinfo=UTC)
    assert occurrence_of(at, timedelta(minutes=5)) == datetime(2026, 12, 2, 3, 0, 0, tzinfo=UTC)
    later = at + timedelta(seconds=30)
    assert occurrence_of(later, timedelta(seconds=30)) == datetime(2026, 12, 2, 3, 0, 30, tzinfo=UTC)
    # A daily job's occurrence is its Seoul day: midnight KST, 15:00 UTC the day before.
    assert occurrence_of(at, timedelta(days=1)) == datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    assert occurrence_of(datetime(2026, 12, 2, 15, 0, tzinfo=UTC), timedelta(days=1)) == datetime(
        2026, 12, 2, 15, 0, tzinfo=UTC
    )


def test_periods_come_from_the_settings_for_tests_and_drills() -> None:
    specs = {spec.id: spec for spec in job_specs()}
    plain = Settings(secret_key="x")
    assert specs["deliver-notifications"].period(plain) == timedelta(seconds=30)
    assert specs["send-reminders"].describe(plain) == "daily at 18:00 KST"
    fast = Settings(secret_key="x", scheduler_periods=(("deliver-notifications", 3), ("*", 2)))
    assert specs["deliver-notifications"].period(fast) == timedelta(seconds=3)
    assert specs["send-reminders"].period(fast) == timedelta(seconds=2)
    assert specs["send-reminders"].describe(fast) == "every 2 s"


class Counting:
    def __init__(self, *, fail: bool = False, pause: float = 0.0) -> None:
        self.calls = 0
        self.fail = fail
        self.pause = pause

    async def __call__(self, engine: AsyncEngine, settings: Settings, now: datetime | None = None) -> int:
        self.calls += 1
        await asyncio.sleep(self.pause)
        if self.fail:
            raise RuntimeError("the job broke")
        return 7


async def _runs(engine: AsyncEngine) -> list[JobRun]:
    async with unit_of_work(engine) as session:
        return list((await session.scalars(select(JobRun).order_by(JobRun.id))).all())


async def test_an_occurrence_runs_once_even_when_two_processes_believe_they_lead(db: Database) -> None:
    """A leader that stalled past its lease and the one that took over meanwhile both reach the same
    tick: the insert of the occurrence's row lets one of them run it."""
    job = Counting(pause=0.05)
    spec = JobSpec("test-job", job, every=timedelta(seconds=30))
    other = db.new_engine()
    try:
        ran = await asyncio.gather(
            run_occurrence(spec, db.engine, db.settings, "old-leader", now=T0),
            run_occurrence(spec, other, db.settings, "new-leader", now=T0 + timedelta(seconds=2)),
        )
    finally:
        await other.dispose()
    assert sorted(ran) == [False, True]
    assert job.calls == 1
    [run] = await _runs(db.engine)
    assert (run.job, run.occurrence, run.outcome, run.items) == ("test-job", T0 - timedelta(seconds=7), "ok", 7)
    assert run.holder == ("old-leader" if ran[0] else "new-leader")
    assert run.finished_at is not None
    assert run.finished_at >= run.started_at
    # The next tick is the next occurrence, and runs.
    assert await run_occurrence(spec, db.engine, db.settings, "new-leader", now=T0 + timedelta(seconds=30))
    assert job.calls == 2


async def test_a_failing_job_is_recorded_failed_and_its_next_occurrence_runs(db: Database) -> None:
    job = Counting(fail=True)
    spec = JobSpec("broken-job", job, every=timedelta(minutes=1))
    assert await run_occurrence(spec, db.engine, db.settings, "me", now=T0)
    assert await run_occurrence(spec, db.engine, db.settings, "me", now=T0 + timedelta(minutes=1))
    runs = await _runs(db.engine)
    assert [(r.outcome, r.items) for r in runs] == [(JobOutcome.FAILED, None), (JobOutcome.FAILED, None)]


async def test_only_the_leader_runs_a_tick(db: Database) -> None:
    settings = _settings(db)
    job = Counting()
    spec = JobSpec("test-job", job, every=timedelta(seconds=30))
    leader, follower = Leader(db.engine, settings, holder="leader"), Leader(db.engine, settings, holder="follower")
    assert await leader.try_take()
    assert not await follower.try_take()
    await _tick(spec, db.engine, settings, follower, set())
    assert job.calls == 0
    assert await _runs(db.engine) == []
    await _tick(spec, db.engine, settings, leader, set())
    assert job.calls == 1
    assert [r.holder for r in await _runs(db.engine)] == ["leader"]


async def test_old_job_runs_are_purged(db: Database) -> None:
    spec = JobSpec("test-job", Counting(), every=timedelta(seconds=30))
    long_ago = datetime.now(UTC) - timedelta(days=15)
    await run_occurrence(spec, db.engine, db.settings, "me", now=long_ago)
    await run_occurrence(spec, db.engine, db.settings, "me")
    # started_at is the time of the claim (now), so age the first row by hand.
    async with unit_of_work(db.engine) as session:
        first = (await _runs(db.engine))[0]
        (await session.get_one(JobRun, first.id)).started_at = long_ago
    assert await purge_job_runs(db.engine) == 1
    assert len(await _runs(db.engine)) == 1
