"""HTTP endpoints of the venue catalogue: public reading, and editing by managers and administrators."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from litestar import Controller, delete, get, patch, post, put
from litestar.di import Provide
from litestar.params import Parameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.deps import BEARER_SECURITY, provide_current_user, require_role, require_venue_role
from accounts.models import Role, User
from accounts.schemas import AccountRead
from accounts.services import account_read, venue_team
from core.clock import today_kst
from core.fields import ONE_LINE_PATTERN, Id, OptionalId, SearchText
from core.pagination import DEFAULT_LIMIT, Limit, Offset, Page
from core.validation import check_optional_day
from venues import districts
from venues.models import VenueKind
from venues.schemas import (
    ClosureCreate,
    ClosureRead,
    DayRead,
    DistrictRead,
    OpeningHoursItem,
    SpaceCreate,
    SpaceRead,
    SpaceUpdate,
    VenueCreate,
    VenueDetail,
    VenueSummary,
    VenueUpdate,
)
from venues.services import ClosureHooks, VenueService, closure_read, venue_detail

AUTH = {"current_user": Provide(provide_current_user)}


class VenueController(Controller):
    path = "/api/venues"
    tags = ["venues"]

    @get(operation_id="listVenues", summary="Find venues (장소 찾기)")
    async def list_venues(
        self,
        db_session: AsyncSession,
        kind: Annotated[VenueKind | None, Parameter(description="Venue kind")] = None,
        district: Annotated[
            str | None,
            Parameter(
                max_length=100, pattern=ONE_LINE_PATTERN, description="District code or name, e.g. gangbuk or 강북구"
            ),
        ] = None,
        q: SearchText = None,
        limit: Limit = DEFAULT_LIMIT,
        offset: Offset = 0,
    ) -> Page[VenueSummary]:
        return await VenueService(db_session).search(kind=kind, district=district, q=q, limit=limit, offset=offset)

    @get("/{venue_id:int}", operation_id="getVenue", summary="A venue with its spaces and opening hours")
    async def get_venue(self, venue_id: Id, db_session: AsyncSession) -> VenueDetail:
        return await VenueService(db_session).detail(venue_id)

    @get("/{venue_id:int}/days", operation_id="venueDays", summary="Open or closed, day by day (운영일)")
    async def venue_days(
        self,
        venue_id: Id,
        db_session: AsyncSession,
        from_: Annotated[
            date | None, QueryParameter(name="from", description="First Seoul date (default today)")
        ] = None,
        to: Annotated[date | None, Parameter(description="Last Seoul date, inclusive (default from + 30 days)")] = None,
        space_id: OptionalId = None,
    ) -> list[DayRead]:
        start = check_optional_day(from_, "from") or today_kst()
        end = check_optional_day(to, "to") or start + timedelta(days=30)
        return await VenueService(db_session).days(venue_id, start, end, space_id)

    @get("/{venue_id:int}/closures", operation_id="listClosures", summary="Closures of a venue (휴관)")
    async def list_closures(
        self,
        venue_id: Id,
        db_session: AsyncSession,
        since: Annotated[date | None, Parameter(description="Only closures ending on or after this date")] = None,
        limit: Limit = DEFAULT_LIMIT,
        offset: Offset = 0,
    ) -> Page[ClosureRead]:
        since = check_optional_day(since, "since")
        return await VenueService(db_session).list_closures(venue_id, since=since, limit=limit, offset=offset)

    # --- managers and administrators ---------------------------------------------------------------

    @post(
        dependencies=AUTH,
        security=BEARER_SECURITY,
        operation_id="createVenue",
        summary="Create a venue (admin)",
    )
    async def create_venue(self, data: VenueCreate, current_user: User, db_session: AsyncSession) -> VenueDetail:
        require_role(current_user, Role.ADMIN)
        service = VenueService(db_session)
        venue = await service.create(data)
        return await service.detail(venue.id)

    @patch(
        "/{venue_id:int}",
        dependencies=AUTH,
        security=BEARER_SECURITY,
        operation_id="updateVenue",
        summary="Edit a venue (its managers, admin)",
    )
    async def update_venue(
        self, venue_id: Id, data: VenueUpdate, current_user: User, db_session: AsyncSession
    ) -> VenueDetail:
        require_venue_role(current_user, venue_id, Role.MANAGER)
        return venue_detail(await VenueService(db_session).update(venue_id, data))

    @put(
        "/{venue_id:int}/opening-hours",
        dependencies=AUTH,
        security=BEARER_SECURITY,
        operation_id="setOpeningHours",
        summary="Replace the weekly opening hours (its managers, admin)",
    )
    async def set_opening_hours(
        self, venue_id: Id, data: list[OpeningHoursItem], current_user: User, db_session: AsyncSession
    ) -> VenueDetail:
        require_venue_role(current_user, venue_id, Role.MANAGER)
        return venue_detail(await VenueService(db_session).set_opening_hours(venue_id, data))

    @post(
        "/{venue_id:int}/spaces",
        dependencies=AUTH,
        security=BEARER_SECURITY,
        operation_id="createSpace",
        summary="Add a space (its managers, admin)",
    )
    async def create_space(
        self, venue_id: Id, data: SpaceCreate, current_user: User, db_session: AsyncSession
    ) -> SpaceRead:
        require_venue_role(current_user, venue_id, Role.MANAGER)
        return await VenueService(db_session).add_space(venue_id, data)

    @post(
        "/{venue_id:int}/closures",
        dependencies=AUTH,
        security=BEARER_SECURITY,
        operation_id="createClosure",
        summary="Close a venue or space for dates (its managers, admin)",
    )
    async def create_closure(
        self,
        venue_id: Id,
        data: ClosureCreate,
        current_user: User,
        db_session: AsyncSession,
        closure_hooks: ClosureHooks,
    ) -> ClosureRead:
        require_venue_role(current_user, venue_id, Role.MANAGER)
        closure = await VenueService(db_session, closure_hooks=closure_hooks).add_closure(
            venue_id, data, created_by_id=current_user.id
        )
        return closure_read(closure)

    @delete(
        "/{venue_id:int}/closures/{closure_id:int}",
        dependencies=AUTH,
        security=BEARER_SECURITY,
        operation_id="deleteClosure",
        summary="Remove a closure (its managers, admin)",
    )
    async def delete_closure(
        self, venue_id: Id, closure_id: Id, current_user: User, db_session: AsyncSession, closure_hooks: ClosureHooks
    ) -> None:
        require_venue_role(current_user, venue_id, Role.MANAGER)
        await VenueService(db_session, closure_hooks=closure_hooks).delete_closure(venue_id, closure_id)

    @get(
        "/{venue_id:int}/team",
        dependencies=AUTH,
        security=BEARER_SECURITY,
        operation_id="venueTeam",
        summary="Staff and managers of a venue (its staff and managers, admin)",
    )
    async def venue_team(self, venue_id: Id, current_user: User, db_session: AsyncSession) -> list[AccountRead]:
        require_venue_role(current_user, venue_id, Role.STAFF, Role.MANAGER)
        await VenueService(db_session).get(venue_id)
        users = await venue_team(db_session, venue_id)
        return [account_read(u) for u in users]


class SpaceController(Controller):
    path = "/api/spaces"
    tags = ["venues"]

    @get("/{space_id:int}", operation_id="getSpace", summary="A space with the rules in force")
    async def get_space(self, space_id: Id, db_session: AsyncSession) -> SpaceRead:
        return await VenueService(db_session).space(space_id)

    @patch(
        "/{space_id:int}",
        dependencies=AUTH,
        security=BEARER_SECURITY,
        operation_id="updateSpace",
        summary="Edit a space (its venue's managers, admin)",
    )
    async def update_space(
        self, space_id: Id, data: SpaceUpdate, current_user: User, db_session: AsyncSession
    ) -> SpaceRead:
        service = VenueService(db_session)
        space = await service.get_space(space_id)
        require_venue_role(current_user, space.venue_id, Role.MANAGER)
        return await service.update_space(space_id, data)


@get(
    "/api/districts",
    operation_id="listDistricts",
    summary="The 25 districts of Seoul (자치구)",
    tags=["venues"],
)
async def list_districts() -> list[DistrictRead]:
    return [DistrictRead(code=d.code, name=d.name, name_en=d.name_en) for d in districts.DISTRICTS]
