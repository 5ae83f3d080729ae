"""HTTP endpoints of check-in: QR codes for holders; scans, the manifest, sync and door actions for staff."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.di import Provide
from litestar.params import QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.deps import BEARER_SECURITY, provide_current_user
from accounts.models import User
from booking.schemas import BookingRead
from checkin import qr
from checkin.offline import Offline
from checkin.schemas import Manifest, ScanRequest, ScanResult, SyncRequest, SyncResult, WalkInCreate
from checkin.services import CheckinService
from core.clock import today_kst
from core.fields import Id
from core.ratelimit import RateLimit, rate_limit
from core.settings import Settings
from core.validation import check_optional_day

AUTH = {"current_user": Provide(provide_current_user)}
# Scans and offline syncs, per address and per staff account (core.ratelimit).
SCAN_LIMIT = [rate_limit(RateLimit.SCAN)]


class BookingCodeController(Controller):
    path = "/api/bookings/{booking_id:int}"
    tags = ["check-in"]
    dependencies = AUTH
    security = BEARER_SECURITY

    async def _code(self, booking_id: Id, user: User, session: AsyncSession, settings: Settings) -> str:
        service = CheckinService(session, settings)
        return await service.code_for(await service.own_booking(user, booking_id))

    @get("/qr.png", operation_id="bookingQrPng", summary="The booking's QR code as PNG (holder only)")
    async def qr_png(
        self, booking_id: Id, current_user: User, db_session: AsyncSession, settings: Settings
    ) -> Response[bytes]:
        code = await self._code(booking_id, current_user, db_session, settings)
        return Response(qr.png(code), media_type="image/png", headers={"Cache-Control": "private, no-store"})

    @get("/qr.svg", operation_id="bookingQrSvg", summary="The booking's QR code as SVG (holder only)")
    async def qr_svg(
        self, booking_id: Id, current_user: User, db_session: AsyncSession, settings: Settings
    ) -> Response[bytes]:
        code = await self._code(booking_id, current_user, db_session, settings)
        return Response(qr.svg(code), media_type="image/svg+xml", headers={"Cache-Control": "private, no-store"})

    @get("/qr", operation_id="bookingQrText", summary="The text of the booking's QR code (holder only)")
    async def qr_text(
        self, booking_id: Id, current_user: User, db_session: AsyncSession, settings: Settings
    ) -> dict[str, str]:
        return {"payload": await self._code(booking_id, current_user, db_session, settings)}

    @post("/qr/reissue", status_code=200, operation_id="reissueQr", summary="A new code; the old one stops working")
    async def reissue(
        self, booking_id: Id, current_user: User, db_session: AsyncSession, settings: Settings
    ) -> dict[str, str]:
        service = CheckinService(db_session, settings)
        return {"payload": await service.code_for(await service.reissue(current_user, booking_id))}

    @post("/check-out", status_code=200, operation_id="checkOut", summary="Check a stay out (staff)")
    async def check_out(
        self, booking_id: Id, current_user: User, db_session: AsyncSession, settings: Settings
    ) -> BookingRead:
        service = CheckinService(db_session, settings)
        return await service.bookings.read(await service.check_out(current_user, booking_id))

    @post("/undo-check-in", status_code=200, operation_id="undoCheckIn", summary="Undo a mistaken check-in (staff)")
    async def undo_check_in(
        self, booking_id: Id, current_user: User, db_session: AsyncSession, settings: Settings
    ) -> BookingRead:
        service = CheckinService(db_session, settings)
        return await service.bookings.read(await service.undo_check_in(current_user, booking_id))


class CheckinController(Controller):
    path = "/api/checkin"
    tags = ["check-in"]
    dependencies = AUTH
    security = BEARER_SECURITY

    @post(
        "/scan",
        status_code=200,
        guards=SCAN_LIMIT,
        operation_id="scan",
        summary="Scan a code at the door (staff of that venue)",
    )
    async def scan(
        self, data: ScanRequest, current_user: User, db_session: AsyncSession, settings: Settings
    ) -> ScanResult:
        # Scans that write nothing are mostly answered before this route (server.fast_lane).
        return await CheckinService(db_session, settings).scan(
            current_user, data.venue_id, data.payload, arrived=data.arrived, device_id=data.device_id
        )

    @get(
        "/venues/{venue_id:int}/manifest",
        operation_id="checkinManifest",
        summary="The day's bookings, keys and revoked codes, for a scanner to work offline",
    )
    async def manifest(
        self,
        venue_id: Id,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
        day: Annotated[date | None, QueryParameter(name="date", description="Seoul date (default today)")] = None,
    ) -> Manifest:
        day = check_optional_day(day, "date") or today_kst()
        return await Offline(CheckinService(db_session, settings)).manifest(current_user, venue_id, day)

    @post(
        "/sync",
        status_code=200,
        guards=SCAN_LIMIT,
        operation_id="checkinSync",
        summary="Apply scans made offline (idempotent)",
    )
    async def sync(
        self, data: SyncRequest, current_user: User, db_session: AsyncSession, settings: Settings
    ) -> SyncResult:
        offline = Offline(CheckinService(db_session, settings))
        return await offline.sync(current_user, data.venue_id, data.device_id, data.scans)

    @post(
        "/venues/{venue_id:int}/walk-ins",
        operation_id="walkIn",
        summary="Book a free place for a person at the door and check them in (staff)",
    )
    async def walk_in(
        self, venue_id: Id, data: WalkInCreate, current_user: User, db_session: AsyncSession, settings: Settings
    ) -> BookingRead:
        service = CheckinService(db_session, settings)
        return await service.bookings.read(await service.walk_in(current_user, venue_id, data))
