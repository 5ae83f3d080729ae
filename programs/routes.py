"""HTTP endpoints of programmes: finding them, managing them (managers), and instructors' sessions."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from litestar import Controller, get, patch, post
from litestar.di import Provide
from litestar.params import Parameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.deps import BEARER_SECURITY, provide_current_user, require_role, require_venue_role
from accounts.models import Role, User
from core.clock import day_bounds_utc, today_kst
from core.fields import Id, OptionalId, SearchText
from core.pagination import DEFAULT_LIMIT, Limit, Offset, Page
from core.validation import check_optional_day
from programs.models import ProgramKind
from programs.schemas import (
    ProgramCreate,
    ProgramDetail,
    ProgramSummary,
    ProgramUpdate,
    SessionMove,
    SessionRead,
)
from programs.services import ProgramService, SessionHooks, session_read

AUTH = {"current_user": Provide(provide_current_user)}


class ProgramController(Controller):
    path = "/api/programs"
    tags = ["programmes"]

    @get(operation_id="listPrograms", summary="Find programmes (프로그램 찾기)")
    async def list_programs(
        self,
        db_session: AsyncSession,
        venue_id: OptionalId = None,
        kind: ProgramKind | None = None,
        age: Annotated[
            int | None, Parameter(ge=0, le=120, description="Keep those a citizen of this age may join")
        ] = None,
        q: SearchText = None,
        from_: Annotated[date | None, QueryParameter(name="from", description="With a session on or after")] = None,
        to: Annotated[date | None, Parameter(description="With a session on or before")] = None,
        limit: Limit = DEFAULT_LIMIT,
        offset: Offset = 0,
    ) -> Page[ProgramSummary]:
        return await ProgramService(db_session).search(
            venue_id=venue_id,
            kind=kind,
            age=age,
            q=q,
            start=check_optional_day(from_, "from"),
            end=check_optional_day(to, "to"),
            limit=limit,
            offset=offset,
        )

    @get("/{program_id:int}", operation_id="getProgram", summary="A programme with its sessions and places left")
    async def get_program(self, program_id: Id, db_session: AsyncSession) -> ProgramDetail:
        return await ProgramService(db_session).detail(program_id)

    @post(dependencies=AUTH, security=BEARER_SECURITY, operation_id="createProgram", summary="Create (managers)")
    async def create_program(
        self, data: ProgramCreate, current_user: User, db_session: AsyncSession, session_hooks: SessionHooks
    ) -> ProgramDetail:
        require_venue_role(current_user, data.venue_id, Role.MANAGER)
        service = ProgramService(db_session, session_hooks=session_hooks)
        program = await service.create(data)
        return await service.detail(program.id)

    @patch(
        "/{program_id:int}",
        dependencies=AUTH,
        security=BEARER_SECURITY,
        operation_id="updateProgram",
        summary="Edit; a new schedule changes future sessions only (managers)",
    )
    async def update_program(
        self,
        program_id: Id,
        data: ProgramUpdate,
        current_user: User,
        db_session: AsyncSession,
        session_hooks: SessionHooks,
    ) -> ProgramDetail:
        service = ProgramService(db_session, session_hooks=session_hooks)
        require_venue_role(current_user, (await service.get(program_id)).venue_id, Role.MANAGER)
        await service.update(program_id, data)
        return await service.detail(program_id)

    @post(
        "/{program_id:int}/sessions/{session_id:int}/move",
        status_code=200,
        dependencies=AUTH,
        security=BEARER_SECURITY,
        operation_id="moveSession",
        summary="Move a session; its people are told (managers)",
    )
    async def move_session(
        self,
        program_id: Id,
        session_id: Id,
        data: SessionMove,
        current_user: User,
        db_session: AsyncSession,
        session_hooks: SessionHooks,
    ) -> SessionRead:
        service = ProgramService(db_session, session_hooks=session_hooks)
        require_venue_role(current_user, (await service.get(program_id)).venue_id, Role.MANAGER)
        session, slot = await service.move_session(program_id, session_id, data)
        return session_read(session, slot)

    @post(
        "/{program_id:int}/sessions/{session_id:int}/cancel",
        status_code=200,
        dependencies=AUTH,
        security=BEARER_SECURITY,
        operation_id="cancelSession",
        summary="Cancel a session; its bookings are cancelled and their people told (managers)",
    )
    async def cancel_session(
        self,
        program_id: Id,
        session_id: Id,
        current_user: User,
        db_session: AsyncSession,
        session_hooks: SessionHooks,
    ) -> SessionRead:
        service = ProgramService(db_session, session_hooks=session_hooks)
        program, session, slot = await service.session_of(program_id, session_id)
        require_venue_role(current_user, program.venue_id, Role.MANAGER)
        await service.cancel_session(program, session, slot)
        return session_read(session, slot)


class InstructorController(Controller):
    path = "/api/me"
    tags = ["programmes"]
    dependencies = AUTH
    security = BEARER_SECURITY

    @get("/sessions", operation_id="mySessions", summary="The sessions I teach (강사 일정)")
    async def my_sessions(
        self,
        current_user: User,
        db_session: AsyncSession,
        from_: Annotated[date | None, QueryParameter(name="from")] = None,
        to: date | None = None,
    ) -> list[SessionRead]:
        require_role(current_user, Role.INSTRUCTOR, Role.STAFF, Role.MANAGER)
        start = check_optional_day(from_, "from") or today_kst()
        end = check_optional_day(to, "to") or start + timedelta(days=90)
        rows = await ProgramService(db_session).instructor_sessions(
            current_user, start=day_bounds_utc(start)[0], end=day_bounds_utc(end)[1]
        )
        return [session_read(s, slot) for _, s, slot in rows]
