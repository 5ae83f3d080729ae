"""Factories for programme tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from core.clock import utcnow
from core.database import unit_of_work
from programs.models import Program
from programs.schemas import ProgramCreate
from programs.services import ProgramService
from server.wiring import SESSION_HOOKS
from tests.conftest import Database

MakeProgram = Callable[..., Awaitable[Program]]


@pytest.fixture
def make_program(db: Database) -> MakeProgram:
    async def make(venue_id: int, space_id: int, *, now: datetime | None = None, **overrides: Any) -> Program:
        now = now or utcnow()
        fields: dict[str, Any] = {
            "venue_id": venue_id,
            "space_id": space_id,
            "title": "드론 정비 실습",
            "title_en": "Drone maintenance practice",
            "kind": "course",
            "capacity": 10,
            "registration_opens_at": now - timedelta(days=1),
            "registration_closes_at": now + timedelta(days=1),
            "rrule": "FREQ=WEEKLY;COUNT=4",
            "first_start": now + timedelta(days=2),
            "duration_minutes": 120,
        }
        fields.update(overrides)
        async with unit_of_work(db.engine) as session:
            return await ProgramService(session, now=now, session_hooks=SESSION_HOOKS).create(ProgramCreate(**fields))

    return make
