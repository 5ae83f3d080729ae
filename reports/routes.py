"""HTTP endpoints for managers and administrators: the audit log and the booking report, as JSON or CSV
(``?format=csv`` or ``Accept: text/csv``)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import date, timedelta
from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.di import Provide
from litestar.params import Parameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.deps import BEARER_SECURITY, provide_current_user, require_role, require_venue_role
from accounts.models import VENUE_SCOPED_ROLES, Role, User
from audit.queries import CSV_COLUMNS as AUDIT_COLUMNS
from audit.queries import AuditFilter, csv_rows, entries
from audit.schemas import AuditEntryRead
from core.clock import today_kst
from core.fields import OptionalId
from core.pagination import DEFAULT_LIMIT, Limit, Offset, Page
from core.spreadsheet import CSV_MEDIA_TYPE, csv_bytes, wants_csv
from core.validation import check_date_range, check_optional_day
from reports.bookings import CSV_COLUMNS as REPORT_COLUMNS
from reports.bookings import BookingReport, Group, booking_report

AUTH = {"current_user": Provide(provide_current_user)}
MAX_REPORT_DAYS = 366

Format = Annotated[
    str | None, QueryParameter(name="format", pattern=r"^(json|csv)$(?!\n)", description="csv for a spreadsheet")
]
Token = Annotated[str | None, Parameter(max_length=64, pattern=r"^[a-z_.]+$(?!\n)")]
FromDate = Annotated[date | None, QueryParameter(name="from", description="First Seoul date, inclusive")]
ToDate = Annotated[date | None, Parameter(description="Last Seoul date, inclusive")]


def _csv(name: str, header: Sequence[str], rows: Iterable[Sequence[Any]], **headers: str) -> Response[Any]:
    # Response[Any]: the OpenAPI document shows the handlers' JSON; their docstrings tell of the CSV.
    return Response(
        csv_bytes(header, rows),
        media_type=f"{CSV_MEDIA_TYPE}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"', **headers},
    )


def _readable_venues(user: User, venue_id: int | None, *roles: Role) -> Collection[int] | None:
    """The venues whose records ``user`` may read (None: every one); a venue asked for must be one."""
    require_role(user, *roles)
    if venue_id is not None:
        require_venue_role(user, venue_id, *roles)
    return None if user.role == Role.ADMIN else user.venue_ids


class AuditController(Controller):
    path = "/api/audit"
    tags = ["audit"]
    dependencies = AUTH
    security = BEARER_SECURITY

    @get(
        operation_id="listAuditEntries",
        summary="Who did what, when, from where (admin: all; staff and managers: their venues)",
    )
    async def list_entries(
        self,
        request: Request[Any, Any, Any],
        current_user: User,
        db_session: AsyncSession,
        venue_id: OptionalId = None,
        action: Token = None,
        subject_kind: Token = None,
        subject_id: OptionalId = None,
        actor_id: OptionalId = None,
        from_: FromDate = None,
        to: ToDate = None,
        format_: Format = None,
        limit: Limit = DEFAULT_LIMIT,
        offset: Offset = 0,
    ) -> Response[Page[AuditEntryRead]]:
        """Newest first. ``?format=csv`` (or ``Accept: text/csv``) gives the same page as CSV."""
        venues = _readable_venues(current_user, venue_id, *VENUE_SCOPED_ROLES)
        wanted = AuditFilter(
            venue_id=venue_id,
            action=action,
            subject_kind=subject_kind,
            subject_id=subject_id,
            actor_id=actor_id,
            start=check_optional_day(from_, "from"),
            end=check_optional_day(to, "to"),
        )
        page = await entries(db_session, wanted, venues, limit=limit, offset=offset)
        if wants_csv(format_, request.headers.get("accept")):
            return _csv("audit", AUDIT_COLUMNS, csv_rows(page), **{"X-Total-Count": str(page.total)})
        return Response(page)


class ReportController(Controller):
    path = "/api/reports"
    tags = ["reports"]
    dependencies = AUTH
    security = BEARER_SECURITY

    @get("/bookings", operation_id="bookingReport", summary="Bookings, attendance, no-shows, places used (managers)")
    async def bookings(
        self,
        request: Request[Any, Any, Any],
        current_user: User,
        db_session: AsyncSession,
        group: Group = Group.VENUE,
        from_: FromDate = None,
        to: ToDate = None,
        venue_id: OptionalId = None,
        format_: Format = None,
    ) -> Response[BookingReport]:
        """Bookings starting from ``from`` to ``to`` (Seoul dates; by default the four weeks to today),
        counted per ``group``. Managers see their venues, admins all."""
        venues = _readable_venues(current_user, venue_id, Role.MANAGER)
        end = check_optional_day(to, "to") or today_kst()
        start = check_optional_day(from_, "from") or end - timedelta(days=27)
        check_date_range(start, end, MAX_REPORT_DAYS)
        report = await booking_report(db_session, group, start, end, venue_id=venue_id, venues=venues)
        if wants_csv(format_, request.headers.get("accept")):
            rows = ([getattr(r, c) for c in REPORT_COLUMNS] for r in report.rows)
            return _csv(f"bookings-by-{group}-{start}-{end}", REPORT_COLUMNS, rows)
        return Response(report)
