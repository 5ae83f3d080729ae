"""Check-in at the door: codes for bookings, scans with one unambiguous answer, the offline manifest and
its sync, check-out, walk-ins, and undoing a mistaken check-in. Every change is a conditional UPDATE
recorded in the booking's history, so two scans at once check a booking in once."""

from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta
from typing import Final

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from accounts.models import Role, User
from accounts.passwords import hash_password
from accounts.privacy import mask_name
from booking.errors import InvalidTransition
from booking.models import Booking, BookingStatus
from booking.schemas import BookingCreate, BookingRead
from booking.services import BookingService, booking_read, require_staff
from checkin import tokens
from checkin.keys import key_ring, public_key_text
from checkin.models import CheckinScan
from checkin.schemas import (
    Manifest,
    ManifestBooking,
    ManifestKey,
    OfflineScan,
    Revoked,
    ScanResult,
    SyncItem,
    SyncResult,
    WalkInCreate,
)
from core.clock import day_bounds_utc, kst, to_kst
from core.database import insert_ignoring_conflicts
from core.errors import NotFound, ValidationFailed
from core.settings import Settings
from venues.models import Slot, Space, Venue
from venues.rules import Rules, effective_rules

# How long after its end a code stays valid (a late check-out, a stay's last morning).
CODE_GRACE: Final = timedelta(hours=6)

MESSAGES: Final[dict[str, tuple[str, str]]] = {
    "checked_in": ("입장 확인되었습니다", "Checked in"),
    "already_checked_in": ("이미 입장한 예약입니다", "Already checked in"),
    "wrong_venue": ("다른 장소의 예약입니다", "This booking is for another venue"),
    "too_early": ("아직 입장 시간이 아닙니다", "Too early to check in"),
    "too_late": ("입장 시간이 지났습니다", "Too late to check in"),
    "cancelled": ("취소된 예약입니다", "This booking was cancelled"),
    "not_found": ("예약을 찾을 수 없습니다", "No such booking"),
    "invalid": ("유효하지 않은 코드입니다", "Invalid code"),
}


def checkin_window(booking: Booking, rules: Rules) -> tuple[datetime, datetime]:
    """When a booking may be checked in: around a slot's start, or from a stay's arrival time to its end."""
    if booking.check_in is not None:
        return kst(booking.check_in, rules.stay_check_in), booking.ends_at
    return (
        booking.starts_at - timedelta(minutes=rules.checkin_opens_minutes_before),
        booking.starts_at + timedelta(minutes=rules.checkin_closes_minutes_after),
    )


class CheckinService(BookingService):
    def __init__(self, session: AsyncSession, settings: Settings, *, now: datetime | None = None) -> None:
        super().__init__(session, now=now)
        self.settings = settings

    async def _rules_of(self, booking: Booking) -> Rules:
        row = (
            await self.session.execute(
                select(Venue.kind, Venue.rules, Space.rules)
                .join(Space, Space.venue_id == Venue.id)
                .where(Space.id == booking.space_id)
            )
        ).one()
        return effective_rules(row[0], row[1], row[2])

    # --- codes -----------------------------------------------------------------------------------

    async def code_for(self, booking: Booking) -> str:
        ring = await key_ring(self.session, self.settings.secret_key, now=self.now)
        claims = tokens.Claims(
            key_id=ring.signing_id,
            booking_id=booking.id,
            venue_id=booking.venue_id,
            qr_version=booking.qr_version,
            valid_until=booking.ends_at + CODE_GRACE,
        )
        return tokens.encode(claims, ring.signing)

    async def own_booking(self, user: User, booking_id: int) -> Booking:
        booking = await self.get(booking_id)
        if booking.user_id != user.id:
            raise NotFound(f"예약 {booking_id} 없음 (no booking {booking_id})")
        return booking

    async def reissue(self, user: User, booking_id: int) -> Booking:
        booking = await self.own_booking(user, booking_id)
        await self.session.execute(
            update(Booking)
            .where(Booking.id == booking.id)
            .values(qr_version=Booking.qr_version + 1)
            .execution_options(synchronize_session=False)
        )
        await self.session.refresh(booking)
        self._record(booking, booking.status, booking.status, "code_reissued", user.id)
        return booking

    # --- scanning --------------------------------------------------------------------------------

    def _answer(self, result: str, booking: BookingRead | None = None, **extra: object) -> ScanResult:
        message, message_en = MESSAGES[result]
        return ScanResult(
            ok=result == "checked_in",
            result=result,
            message=message,
            message_en=message_en,
            booking=booking,
            **extra,  # type: ignore[arg-type]
        )

    async def scan(
        self, staff: User, venue_id: int, payload: str, *, arrived: int | None = None, device_id: str = "web"
    ) -> ScanResult:
        require_staff(staff, venue_id)
        ring = await key_ring(self.session, self.settings.secret_key, now=self.now)
        try:
            claims = tokens.parse(payload)[0]
            if claims.key_id not in ring.public:
                ring = await key_ring(self.session, self.settings.secret_key, now=self.now, refresh=True)
            claims = tokens.verify(payload, ring.public)
        except tokens.TokenError:
            return self._answer("invalid")
        # One query for everything the answer needs: the booking, its venue and space, the holder's name.
        row = (
            await self.session.execute(
                select(Booking, Venue, Space, User.name)
                .join(Venue, Venue.id == Booking.venue_id)
                .join(Space, Space.id == Booking.space_id)
                .join(User, User.id == Booking.user_id)
                .where(Booking.id == claims.booking_id)
                .execution_options(populate_existing=True)
            )
        ).first()
        if row is None:
            return self._answer("not_found")
        booking, venue, space, name = row
        if claims.qr_version != booking.qr_version % 256:
            return self._answer("invalid")  # an older code of a booking whose code was reissued
        if claims.venue_id != venue_id or booking.venue_id != venue_id:
            return self._answer("wrong_venue", booking_read(booking, venue, space))
        holder = mask_name(name)
        about = {"holder": holder, "party_size": booking.party_size}
        if booking.status in (BookingStatus.CANCELLED, BookingStatus.EXPIRED):
            return self._answer("cancelled", booking_read(booking, venue, space), **about)
        if booking.status in (BookingStatus.CHECKED_IN, BookingStatus.CHECKED_OUT):
            return self._answer(
                "already_checked_in",
                booking_read(booking, venue, space),
                checked_in_at=to_kst(booking.checked_in_at) if booking.checked_in_at else None,
                **about,
            )
        if booking.status != BookingStatus.CONFIRMED:  # waitlisted, offered, held, no_show
            result = "too_late" if booking.status == BookingStatus.NO_SHOW else "invalid"
            return self._answer(result, booking_read(booking, venue, space))
        opens, closes = checkin_window(booking, effective_rules(venue.kind, venue.rules, space.rules))
        if self.now < opens:
            return self._answer("too_early", booking_read(booking, venue, space), **about)
        if self.now > closes or self.now > claims.valid_until:
            return self._answer("too_late", booking_read(booking, venue, space), **about)
        if arrived is not None and arrived > booking.party_size:
            raise ValidationFailed(
                f"예약 인원({booking.party_size}명)보다 많습니다 (more than the party of {booking.party_size})",
                errors=[{"field": "arrived", "message": f"at most {booking.party_size}"}],
            )
        checked = await self._check_in(booking, staff.id, self.now, arrived, "scanned")
        self.session.add(
            CheckinScan(
                booking_id=booking.id,
                venue_id=venue_id,
                device_id=device_id,
                scanned_at=self.now,
                staff_id=staff.id,
                source="online",
                result="checked_in" if checked else "already_checked_in",
                arrived=arrived,
            )
        )
        if checked:
            # What the UPDATE wrote, without reading it back (and without marking the row dirty).
            set_committed_value(booking, "status", BookingStatus.CHECKED_IN)
            set_committed_value(booking, "checked_in_at", self.now)
            set_committed_value(booking, "arrived", arrived or booking.party_size)
        else:  # another scan won the race a moment ago
            await self.session.refresh(booking)
        return self._answer(
            "checked_in" if checked else "already_checked_in",
            booking_read(booking, venue, space),
            arrived=booking.arrived,
            checked_in_at=to_kst(booking.checked_in_at) if booking.checked_in_at else None,
            **about,
        )

    async def _check_in(
        self, booking: Booking, actor_id: int | None, at: datetime, arrived: int | None, reason: str
    ) -> bool:
        """Confirmed → checked in, once: of two scans at the same moment, one UPDATE wins."""
        result = await self.session.execute(
            update(Booking)
            .where(Booking.id == booking.id, Booking.status == BookingStatus.CONFIRMED)
            .values(
                status=BookingStatus.CHECKED_IN,
                checked_in_at=at,
                arrived=arrived or booking.party_size,
                sequence=Booking.sequence + 1,
                updated_at=self.now,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return False
        self._record(booking, BookingStatus.CONFIRMED, BookingStatus.CHECKED_IN, reason, actor_id)
        return True

    # --- offline ---------------------------------------------------------------------------------

    async def manifest(self, staff: User, venue_id: int, day: date) -> Manifest:
        require_staff(staff, venue_id)
        venue = await self.session.get(Venue, venue_id)
        if venue is None:
            raise NotFound(f"장소 {venue_id} 없음 (no venue {venue_id})")
        ring = await key_ring(self.session, self.settings.secret_key, now=self.now)
        start, end = day_bounds_utc(day)
        rows = (
            await self.session.execute(
                select(Booking, User.name, Space.rules)
                .join(User, User.id == Booking.user_id)
                .join(Space, Space.id == Booking.space_id)
                .where(Booking.venue_id == venue_id, Booking.starts_at < end, Booking.ends_at > start)
                .order_by(Booking.starts_at, Booking.id)
            )
        ).all()
        bookings = []
        for booking, name, space_rules in rows:
            opens, closes = checkin_window(booking, effective_rules(venue.kind, venue.rules, space_rules))
            bookings.append(
                ManifestBooking(
                    id=booking.id,
                    status=booking.status,
                    party_size=booking.party_size,
                    holder=mask_name(name),
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
        for scan in sorted(scans, key=lambda s: s.scanned_at):
            if scan.scanned_at.tzinfo is None:
                raise ValidationFailed(
                    "scanned_at 에는 시간대가 필요합니다 (scanned_at needs an offset)",
                    errors=[{"field": "scans.scanned_at", "message": "offset required"}],
                )
            result = await self._apply_offline(staff, venue_id, device_id, scan)
            applied += result == "checked_in"
            duplicates += result in ("duplicate", "already_synced")
            items.append(SyncItem(booking_id=scan.booking_id, scanned_at=to_kst(scan.scanned_at), result=result))
        return SyncResult(applied=applied, duplicates=duplicates, items=items)

    async def _apply_offline(self, staff: User, venue_id: int, device_id: str, scan: OfflineScan) -> str:
        booking = await self.session.scalar(
            select(Booking).where(Booking.id == scan.booking_id).execution_options(populate_existing=True)
        )
        if booking is None:
            return "not_found"
        if booking.venue_id != venue_id:
            return "wrong_venue"
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
        if booking.status in (BookingStatus.CHECKED_IN, BookingStatus.CHECKED_OUT):
            if booking.checked_in_at is not None and scan.scanned_at < booking.checked_in_at:
                # The first scan wins: an earlier offline scan is the real arrival time.
                booking.checked_in_at = scan.scanned_at
            return "duplicate"
        if booking.status == BookingStatus.NO_SHOW:
            # Marked a no-show while the scanner was offline; the synced scan proves the arrival.
            rules = await self._rules_of(booking)
            _, closes = checkin_window(booking, rules)
            if scan.scanned_at > closes:
                return "too_late"
            await self._undo_no_show(booking, staff.id)
        if booking.status != BookingStatus.CONFIRMED:
            return "invalid"
        checked = await self._check_in(booking, staff.id, scan.scanned_at, scan.arrived, "scanned_offline")
        return "checked_in" if checked else "duplicate"

    async def _undo_no_show(self, booking: Booking, actor_id: int) -> None:
        # The place was released when the booking became a no-show: take it back if it is still free.
        if booking.slot_id is not None and booking.units:
            taken = await self.session.execute(
                update(Slot)
                .where(Slot.id == booking.slot_id, Slot.taken + booking.units <= Slot.capacity)
                .values(taken=Slot.taken + booking.units)
                .execution_options(synchronize_session=False)
            )
            if taken.rowcount != 1:  # type: ignore[attr-defined]
                booking.units = 0  # they were in the room; the counter stays within capacity
        await self._transition(booking, [BookingStatus.NO_SHOW], BookingStatus.CONFIRMED, "no_show_revoked", actor_id)
        user = await self.session.get(User, booking.user_id)
        if user is not None and user.suspended_until is not None:
            rules = await self._rules_of(booking)
            since = self.now - timedelta(days=rules.no_show_window_days)
            count = await self.session.scalar(
                select(func.count())
                .select_from(Booking)
                .where(Booking.user_id == user.id, Booking.status == BookingStatus.NO_SHOW, Booking.starts_at >= since)
            )
            if int(count or 0) < rules.no_show_limit:
                user.suspended_until = None

    # --- staff actions ---------------------------------------------------------------------------

    async def check_out(self, staff: User, booking_id: int) -> Booking:
        booking = await self.get(booking_id, for_update=True)
        require_staff(staff, booking.venue_id)
        if booking.status == BookingStatus.CHECKED_OUT:
            return booking
        if not await self._transition(
            booking, [BookingStatus.CHECKED_IN], BookingStatus.CHECKED_OUT, "checked_out", staff.id
        ):
            raise InvalidTransition(
                "입장한 예약만 퇴실 처리할 수 있습니다"
                f" (only a checked-in booking can check out; it is {booking.status})"
            )
        return booking

    async def undo_check_in(self, staff: User, booking_id: int) -> Booking:
        booking = await self.get(booking_id, for_update=True)
        require_staff(staff, booking.venue_id)
        if booking.status == BookingStatus.CONFIRMED:
            return booking
        if not await self._transition(
            booking,
            [BookingStatus.CHECKED_IN],
            BookingStatus.CONFIRMED,
            "check_in_undone",
            staff.id,
            checked_in_at=None,
            arrived=None,
        ):
            raise InvalidTransition(f"입장 상태가 아닙니다 (the booking is {booking.status})")
        return booking

    async def walk_in(self, staff: User, venue_id: int, data: WalkInCreate) -> Booking:
        """Staff book a free place for a person at the door and check them in at once."""
        require_staff(staff, venue_id)
        slot = await self.get_slot(data.slot_id)
        if slot.venue_id != venue_id:
            raise ValidationFailed(
                "다른 장소의 시간입니다 (that slot is at another venue)",
                errors=[{"field": "slot_id", "message": "not a slot of this venue"}],
            )
        guest = await self._guest(data)
        answer, _ = await self.book(guest, BookingCreate(slot_id=slot.id, party_size=data.party_size), actor=staff)
        booking = await self.get(answer.id)
        await self._check_in(booking, staff.id, self.now, data.party_size, "walk_in")
        await self.session.refresh(booking)
        return booking

    async def _guest(self, data: WalkInCreate) -> User:
        if data.email:
            existing = await self.session.scalar(select(User).where(User.email == data.email.strip().lower()))
            if existing is not None:
                return existing
        # A walk-in without an account gets one they cannot log in to (a random password, never shown).
        user = User(
            email=data.email.strip().lower() if data.email else f"walk-in-{secrets.token_hex(8)}@guest.invalid",
            password_hash=await hash_password(
                secrets.token_urlsafe(32),
                time_cost=self.settings.argon2_time_cost,
                memory_kib=self.settings.argon2_memory_kib,
            ),
            name=data.name.strip(),
            phone=data.phone,
            birth_year=data.birth_year,
            role=Role.CITIZEN,
            assignments=[],
        )
        self.session.add(user)
        await self.session.flush()
        return user
