"""A lottery is drawn once however many processes run the draw job, however often: real processes.

The demo catalogue on a database of its own, applications through a real server, then three
``seoulrun jobs run draw-lotteries`` processes at once, twice over. Exactly one draw is published, every
applicant has one result notice, and the places taken are the winners' (and nothing was drawn again).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import create_async_engine

from booking.models import Booking, BookingStatus
from core.clock import utcnow
from core.database import unit_of_work
from core.settings import PROJECT_ROOT, Settings
from notifications.models import Notice
from programs.models import Program
from tests.realserver import SECRET_KEY, real_server, scratch_database

DEMO_PASSWORD = "demo-citizen-4050"
CITIZENS = [f"citizen{n}@seoulrun4050.example" for n in range(1, 6)]
PROCESSES = 3


def _seoulrun(settings: Settings, *args: str) -> subprocess.Popen[str]:
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")]),
        "SEOULRUN_DATABASE_URL": settings.database_url,
        "SEOULRUN_SECRET_KEY": SECRET_KEY,
        "SEOULRUN_SCHEDULER": "0",
    }
    return subprocess.Popen(  # noqa: S603 - our own command line, no shell
        [sys.executable, "-m", "server.cli", *args],
        cwd=PROJECT_ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(process: subprocess.Popen[str]) -> str:
    output, _ = process.communicate(timeout=180)
    assert process.returncode == 0, output
    return output


async def _facts(settings: Settings, slot_ids: list[int]) -> tuple[int, int, int]:
    """(result notices, active bookings of the programme, programmes drawn) in the database."""
    engine = create_async_engine(settings.database_url)
    try:
        async with unit_of_work(engine) as session:
            notices = await session.scalar(
                select(func.count()).select_from(Notice).where(Notice.kind.in_(["lottery_won", "lottery_waitlisted"]))
            )
            bookings = await session.scalar(
                select(func.count())
                .select_from(Booking)
                .where(Booking.slot_id.in_(slot_ids), Booking.status == BookingStatus.CONFIRMED)
            )
            drawn = await session.scalar(select(func.count()).select_from(Program).where(Program.drawn_at.is_not(None)))
            return int(notices or 0), int(bookings or 0), int(drawn or 0)
    finally:
        await engine.dispose()


async def _close_registration(settings: Settings, program_id: int) -> None:
    engine = create_async_engine(settings.database_url)
    try:
        async with unit_of_work(engine) as session:
            await session.execute(
                update(Program)
                .where(Program.id == program_id)
                .values(registration_closes_at=utcnow() - timedelta(minutes=1))
            )
    finally:
        await engine.dispose()


async def _race_the_draw(settings: Settings, *, meet: bool) -> list[str]:
    """Three draw processes at once, made to meet: the test holds the programme rows' write lock while
    they start, so that each has found the lottery due and waits at its claim when the lock goes (with
    ``meet``; a later round finds nothing due and has nothing to wait for)."""
    engine = create_async_engine(settings.database_url)
    postgres = engine.dialect.name == "postgresql"
    try:
        async with engine.connect() as holder:
            await holder.execute(update(Program).values(title=Program.title))  # row locks (SQLite: the database)
            runners = [_seoulrun(settings, "jobs", "run", "draw-lotteries") for _ in range(PROCESSES)]
            deadline = asyncio.get_running_loop().time() + (60 if postgres else 2)
            while meet and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.2)
                if postgres:
                    async with engine.connect() as probe:
                        waiting = await probe.scalar(
                            text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
                        )
                    if int(waiting or 0) >= PROCESSES:
                        break
            await holder.rollback()
        return await asyncio.to_thread(lambda: [_finish(runner) for runner in runners])
    finally:
        await engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_three_processes_running_the_draw_twice_draw_it_once(backend: str, tmp_path: Path) -> None:
    with scratch_database(backend, tmp_path) as settings:
        _finish(_seoulrun(settings, "demo", "load"))
        with (
            real_server(settings, tmp_path, workers=1) as server,
            httpx.Client(base_url=server.base_url, timeout=60) as http,
        ):
            programs = http.get("/api/programs", params={"limit": 50}).json()["items"]
            lottery = next(p for p in programs if p["allocation"] == "lottery" and p["min_age"] is None)
            for email in CITIZENS:
                token = http.post("/api/auth/login", json={"email": email, "password": DEMO_PASSWORD}).json()
                applied = http.post(
                    f"/api/programs/{lottery['id']}/applications",
                    json={"party_size": 1},
                    headers={"Authorization": f"Bearer {token['access_token']}"},
                )
                assert applied.status_code == 201, applied.text
            assert http.get(f"/api/programs/{lottery['id']}/draw").status_code == 404
            asyncio.run(_close_registration(settings, lottery["id"]))

            first_draw: dict[str, Any] = {}
            for round_ in range(2):
                outputs = asyncio.run(_race_the_draw(settings, meet=round_ == 0))
                draw = http.get(f"/api/programs/{lottery['id']}/draw")
                assert draw.status_code == 200, (draw.text, outputs)
                first_draw = first_draw or draw.json()
                assert draw.json() == first_draw  # a second round changes nothing

        slots = sorted({p["slot_id"] for p in first_draw["places"]})
        notices, confirmed, drawn = asyncio.run(_facts(settings, slots))
        assert drawn == 1
        assert notices == len(CITIZENS)  # one result each, never two
        winners, waitlisted = first_draw["winners"], first_draw["waitlisted"]
        assert len(first_draw["entries"]) == len(CITIZENS)
        assert sorted(winners + waitlisted) == sorted(e["id"] for e in first_draw["entries"])
        assert confirmed == len(winners) * len(slots)
