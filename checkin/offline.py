"""The door without a network: the day's manifest (keys, bookings, revoked codes) for a scanner to check
codes offline, and the sync of the scans it made meanwhile.

A synced scan is evidence about the past, so it is held to what the door could have seen: made within
the booking's check-in window, not in the future, not older than the sync limit, and the first scan
wins. Overturning a no-show takes more: the scan must carry the booking's signed code, since without it
nothing shows that the person was there.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from accounts.privacy import mask_name
from booking.models import Booking, BookingStatus
from booking.noshows import NoShows
from booking.operations import require_staff
from booking.reads import holder_name
from checkin import tokens
from checkin.keys import key_ring, public_key_text
from checkin.models import CheckinScan
from checkin.schemas import Manifest, ManifestBooking, ManifestKey, OfflineScan, Revoked, SyncItem, SyncResult
from checkin.services import CheckinService, checkin_window
from core.clock import day_bounds_utc, to_kst
from core.database import insert_ignoring_conflicts
from core.errors import NotFound, ValidationFailed, field_error
from venues.models import Space, Venue
from venues.rules import effective_rules

# A scanner's clock may run a little fast; a scan further in the future than this is refused.
CLOCK_SKEW: Final = timedelta(minutes=5)


class Offline:
    def __init__(self, checkin: CheckinService) -> None:
        self.checkin = checkin
        self.session: AsyncSession = checkin.session
        self.now = checkin.now
        self.max_age = timedelta(hours=checkin.settings.offline_sync_max_hours)

    async def manifest(self, staff: User, venue_id: int, day: date) -> Manifest:
        require_staff(staff, venue_id)
        venue = await self.session.get(Venue, venue_id)
        if venue is None:
            raise NotFound("venue.not_found", venue_id=venue_id)
        ring = await key_ring(self.session, self.checkin.settings.secret_key, now=self.now)
        start, end = day_bounds_utc(day)
        rows = (
            await self.session.execute(
                select(Booking, User, Space.rules)
                .outerjoin(User, User.id == Booking.user_id)
                .join(Space, Space.id == Booking.space_id)
                .where(Booking.venue_id == venue_id, Booking.starts_at < end, Booking.ends_at > start)
                .order_by(Booking.starts_at, Booking.id)
            )
        ).all()
        bookings = []
        for booking, user, space_rules in rows:
            opens, closes = checkin_window(booking, effective_rules(venue.kind, venue.rules, space_rules))
            bookings.append(
                ManifestBooking(
                    id=booking.id,
                    status=booking.status,
                    party_size=booking.party_size,
                    holder=mask_name(holder_name(booking, user)),
                    space_id=booking.space_id,
                    start=to_kst(booking.starts_at),
                    end=to_kst(booking.ends_at),
                    checkin_opens=to_kst(opens),
                    checkin_closes=to_kst(closes),
                    qr_version=booking.qr_version % 256,
                    checked_in_at=to_kst(booking.checked_in_at) if booking.checked_in_at else None,
                )
            )
        return Manifest(
            venue_id=venue_id,
            date=day,
            generated_at=to_kst(self.now),
            token_format=tokens.__doc__.split("\n\n")[1].strip() if tokens.__doc__ else "",
            keys=[
                ManifestKey(key_id=kid, public_key=public_key_text(key), expires_at=ring.expires.get(kid))
                for kid, key in sorted(ring.public.items())
            ],
            bookings=bookings,
            revoked=[Revoked(booking_id=b.id, versions_below=b.qr_version) for b in bookings if b.qr_version > 0],
        )

    async def sync(self, staff: User, venue_id: int, device_id: str, scans: list[OfflineScan]) -> SyncResult:
        """Apply scans made while the door was offline. The first scan wins; a batch sent twice applies once."""
        require_staff(staff, venue_id)
        items: list[SyncItem] = []
        applied = duplicates = 0
        for index, scan in enumerate(sorted(scans, key=lambda s: s.scanned_at)):
            if scan.scanned_at.tzinfo is None:
                raise ValidationFailed(
                    "validation.offset_required",
                    errors=[field_error(f"scans[{index}].scanned_at", "field.offset_required")],
                )
            result = await self._apply(staff, venue_id, device_id, scan)
            applied += result == "checked_in"
            duplicates += result in ("duplicate", "already_synced")
            items.append(SyncItem(booking_id=scan.booking_id, scanned_at=to_kst(scan.scanned_at), result=result))
        return SyncResult(applied=applied, duplicates=duplicates, items=items)

    async def _apply(self, staff: User, venue_id: int, device_id: str, scan: OfflineScan) -> str:
        if scan.scanned_at > self.now + CLOCK_SKEW:
            return "future"
        if scan.scanned_at < self.now - self.max_age:
            return "stale"
        code_holds = False
        claims: tokens.Claims | None = None
        if scan.payload is not None:
            claims = await self.checkin.verify(scan.payload)
            if claims is None or claims.booking_id != scan.booking_id or claims.venue_id != venue_id:
                return "invalid"
            code_holds = True
        booking = await self.session.scalar(
            select(Booking).where(Booking.id == scan.booking_id).execution_options(populate_existing=True)
        )
        if booking is None:
            return "not_found"
        if booking.venue_id != venue_id:
            return "wrong_venue"
        if code_holds and claims is not None and claims.qr_version != booking.qr_version % 256:
            return "invalid"  # a code reissued since
        recorded = await insert_ignoring_conflicts(
            self.session,
            CheckinScan.__table__,
            [
                {
                    "booking_id": booking.id,
                    "venue_id": venue_id,
                    "device_id": device_id,
                    "scanned_at": scan.scanned_at,
                    "staff_id": staff.id,
                    "source": "offline",
                    "result": "synced",
                    "arrived": scan.arrived,
                    "created_at": self.now,
                    "updated_at": self.now,
                }
            ],
        )
        if not recorded:
            return "already_synced"
        if booking.status in (BookingStatus.CANCELLED, BookingStatus.EXPIRED):
            return "cancelled"
        opens, closes = checkin_window(booking, await self.checkin.rules_of(booking))
        if scan.scanned_at < opens:
            return "too_early"
        if scan.scanned_at > closes:
            return "too_late"
        if booking.status in (BookingStatus.CHECKED_IN, BookingStatus.CHECKED_OUT):
            if booking.checked_in_at is not None and scan.scanned_at < booking.checked_in_at:
                # The first scan wins: an earlier offline scan is the real arrival time.
                booking.checked_in_at = scan.scanned_at
            return "duplicate"
        if booking.status == BookingStatus.NO_SHOW:
            if not code_holds:
                return "needs_code"  # a claim without the code cannot overturn a no-show
            await NoShows(self.session, self.now).overturn(booking, staff.id)
        if booking.status != BookingStatus.CONFIRMED:
            return "invalid"
        checked = await self.checkin.check_in(booking, staff.id, scan.scanned_at, scan.arrived, "scanned_offline")
        return "checked_in" if checked else "duplicate"
