"""The scheduler's stop at shutdown: no new runs, the runs under way finish within the grace, and one
that outlasts it is cancelled (APScheduler's own shutdown would cancel them at once)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from core.clock import KST
from core.settings import Settings
from server.scheduler import JobSpec, Scheduler, _run


def _scheduler_with(seconds: float, events: list[str]) -> Scheduler:
    async def job(engine: Any, settings: Settings, now: datetime | None) -> str:
        events.append("started")
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            events.append("cancelled")
            raise
        events.append("finished")
        return "done"

    scheduler = Scheduler()
    spec = JobSpec("slow-job", job, IntervalTrigger(hours=1))
    scheduler.add_job(
        _run, DateTrigger(datetime.now(KST) + timedelta(milliseconds=50)), args=(spec, None, None, scheduler.runs)
    )
    return scheduler


async def _started(scheduler: Scheduler, events: list[str]) -> None:
    scheduler.start()
    for _ in range(100):
        if events:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the job did not start")


async def test_stop_lets_a_run_under_way_finish() -> None:
    events: list[str] = []
    scheduler = _scheduler_with(0.5, events)
    await _started(scheduler, events)
    await scheduler.stop(grace_seconds=10)
    assert events == ["started", "finished"]
    assert not scheduler.running
    assert not scheduler.runs


async def test_stop_cancels_a_run_that_outlasts_the_grace() -> None:
    events: list[str] = []
    scheduler = _scheduler_with(30, events)
    await _started(scheduler, events)
    started = asyncio.get_running_loop().time()
    await scheduler.stop(grace_seconds=0.3)
    await asyncio.sleep(0.05)  # the cancellation reaches the task
    assert asyncio.get_running_loop().time() - started < 2
    assert events == ["started", "cancelled"]
    assert not scheduler.running
