"""Turning a feed's rows into an RFC 5545 calendar, with the texts people read in their calendar app.

Everything here is pure: plain rows in, bytes out, no database and no clock of its own, so that a
render can run in a worker thread (2,000 events take about half a second of CPU) and be tested alone.

What calendar apps need, and why each piece is there:
- times as ``DTSTART;TZID=Asia/Seoul`` with the ``VTIMEZONE`` that icalendar generates, so that an app
  set to another zone still shows 14:00 in Seoul at the right instant;
- a ``UID`` that never changes for a booking, slot or session, and a ``SEQUENCE`` that grows with each
  change of time or status, so that an app updates the event it has instead of adding a second one;
- cancelled events kept as ``STATUS:CANCELLED`` for a while, because an app that missed the change
  would otherwise keep showing them;
- ``REFRESH-INTERVAL`` and ``X-PUBLISHED-TTL``, the polling interval that Apple, Outlook and Thunderbird
  honour (Google polls on its own schedule whatever we say).
icalendar escapes commas, semicolons and backslashes, folds lines at 75 octets without splitting a
UTF-8 character, and ends lines with CRLF.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Final, Literal

from icalendar import Calendar, Event, Timezone, vText

from accounts.privacy import mask_name
from core.clock import KST, to_kst

PRODID: Final = "-//Seoul Run 4050//Venue calendar feeds 1.0//KO"
TZID: Final = "Asia/Seoul"
REFRESH: Final = timedelta(hours=1)

EventStatus = Literal["CONFIRMED", "TENTATIVE", "CANCELLED"]

# Booking statuses as calendar statuses: a place held or used is confirmed; a place waited for or
# offered but not yet accepted is tentative; the rest are kept as cancelled so that apps drop them.
# A no-show is shown as cancelled too: the person did not come, and the event should not look attended.
BOOKING_EVENT_STATUS: Final[dict[str, EventStatus]] = {
    "confirmed": "CONFIRMED",
    "checked_in": "CONFIRMED",
    "checked_out": "CONFIRMED",
    "held": "TENTATIVE",
    "waitlisted": "TENTATIVE",
    "offered": "TENTATIVE",
    "cancelled": "CANCELLED",
    "expired": "CANCELLED",
    "no_show": "CANCELLED",
}
ENDED_BOOKING_STATUSES: Final = ("cancelled", "expired", "no_show")

BOOKING_STATUS_WORDS: Final[dict[str, tuple[str, str]]] = {
    "held": ("임시 확보", "held"),
    "confirmed": ("확정", "confirmed"),
    "waitlisted": ("대기", "waitlisted"),
    "offered": ("자리 제안 (수락 대기)", "place offered, to accept"),
    "checked_in": ("입장 완료", "checked in"),
    "checked_out": ("퇴실 완료", "checked out"),
    "cancelled": ("취소", "cancelled"),
    "no_show": ("불참", "no-show"),
    "expired": ("만료", "expired"),
}
SLOT_STATUS_WORDS: Final[dict[str, tuple[str, str]]] = {
    "open": ("운영", "open"),
    "blocked": ("예약 중지", "closed to new bookings"),
    "closed": ("휴관·취소", "closed, bookings cancelled"),
}
SESSION_STATUS_WORDS: Final[dict[str, tuple[str, str]]] = {
    "scheduled": ("예정", "scheduled"),
    "moved": ("일정 변경됨", "moved"),
    "cancelled": ("취소", "cancelled"),
}
# A word in front of the summary, because many apps show TENTATIVE and CANCELLED no differently.
SUMMARY_PREFIX: Final[dict[str, str]] = {
    "cancelled": "[취소 Cancelled] ",
    "expired": "[취소 Cancelled] ",
    "no_show": "[불참 No-show] ",
    "waitlisted": "[대기 Waitlist] ",
    "offered": "[자리 제안 Offered] ",
    "held": "[임시 Held] ",
    "blocked": "[예약 중지 Closed to bookings] ",
    "closed": "[취소 Cancelled] ",
}
WEEKDAYS_KO: Final = "월화수목금토일"
WEEKDAYS_EN: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


# --- rows ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Place:
    """Where an event happens: the venue (address, coordinates) and the space in it."""

    venue_id: int
    venue_name: str
    venue_name_en: str
    address: str
    lat: float | None
    lon: float | None
    space_name: str
    space_name_en: str
    space_shape: str

    @property
    def location(self) -> str:
        # The address last: calendar apps geocode the whole text, and the names help the person.
        return f"{self.venue_name} {self.space_name}, {self.address}"

    @property
    def geo(self) -> tuple[float, float] | None:
        return (self.lat, self.lon) if self.lat is not None and self.lon is not None else None


@dataclass(frozen=True, slots=True)
class SlotRow:
    """A slot of a venue or space feed: a programme session, a one-off slot or a booked generated one."""

    id: int
    place: Place
    starts_at: datetime
    ends_at: datetime
    capacity: int
    taken: int
    status: str
    origin: str
    note: str
    sequence: int
    updated_at: datetime
    program_id: int | None = None
    program_title: str | None = None
    program_title_en: str | None = None


@dataclass(frozen=True, slots=True)
class BookingRow:
    """A booking of a ``me`` feed, or a stay of a venue or space feed (then with its holder's name)."""

    id: int
    place: Place
    status: str
    starts_at: datetime
    ends_at: datetime
    party_size: int
    sequence: int
    updated_at: datetime
    check_in: date | None = None
    check_out: date | None = None
    holder_name: str | None = None
    program_id: int | None = None
    program_title: str | None = None
    program_title_en: str | None = None


@dataclass(frozen=True, slots=True)
class RosterLine:
    holder_name: str
    party_size: int
    status: str


@dataclass(frozen=True, slots=True)
class SessionRow:
    """A session of a programme feed, with its roster (names masked when rendered)."""

    id: int
    program_id: int
    title: str
    title_en: str
    place: Place
    status: str
    starts_at: datetime
    ends_at: datetime
    capacity: int
    taken: int
    sequence: int
    updated_at: datetime
    roster: Sequence[RosterLine] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class FeedEvent:
    uid: str
    start: datetime
    end: datetime
    status: EventStatus
    sequence: int
    last_modified: datetime
    summary: str
    description: str
    location: str
    geo: tuple[float, float] | None
    url: str


@dataclass(frozen=True, slots=True)
class CalendarMeta:
    name: str
    description: str
    first_day: date
    last_day: date


@dataclass(frozen=True, slots=True)
class Links:
    """The public base url and its host, for event URLs and UIDs (``booking-12@seoulrun4050.example``)."""

    base_url: str
    host: str

    def uid(self, kind: str, row_id: int) -> str:
        return f"{kind}-{row_id}@{self.host}"

    def booking(self, booking_id: int) -> str:
        return f"{self.base_url}/api/bookings/{booking_id}"

    def program(self, program_id: int) -> str:
        return f"{self.base_url}/api/programs/{program_id}"

    def venue_day(self, venue_id: int, day: date) -> str:
        return f"{self.base_url}/api/venues/{venue_id}/bookings?date={day.isoformat()}"


# --- texts ---------------------------------------------------------------------------------------


def _when(instant: datetime, *, english: bool = False) -> str:
    """A Seoul wall-clock time as people read it: 2026-12-01(화) 15:00, or 2026-12-01 (Tue) 15:00."""
    local = to_kst(instant)
    if english:
        return f"{local:%Y-%m-%d} ({WEEKDAYS_EN[local.weekday()]}) {local:%H:%M}"
    return f"{local:%Y-%m-%d}({WEEKDAYS_KO[local.weekday()]}) {local:%H:%M}"


def _unit(shape: str) -> tuple[str, str]:
    """Exclusive spaces count parties (one per slot), shared spaces count people."""
    return ("팀", "parties") if shape == "exclusive" else ("명", "people")


def slot_event(row: SlotRow, links: Links) -> FeedEvent:
    place = row.place
    ko_unit, en_unit = _unit(place.space_shape)
    count = f"{row.taken}/{row.capacity}"
    if row.program_title:
        label, label_en = row.program_title, row.program_title_en or row.program_title
    else:
        label, label_en = place.space_name, place.space_name_en
    prefix = SUMMARY_PREFIX.get(row.status, "")
    status_ko, status_en = SLOT_STATUS_WORDS.get(row.status, (row.status, row.status))
    remaining = max(row.capacity - row.taken, 0) if row.status == "open" else 0
    lines = [
        f"장소: {place.venue_name} {place.space_name}",
        f"예약: {count}{ko_unit} · 남은 자리 {remaining}",
        f"상태: {status_ko}",
    ]
    if row.program_title:
        lines.append(f"프로그램: {row.program_title}")
    if row.note and row.note != row.program_title:
        lines.append(f"메모: {row.note}")
    lines += [
        "",
        f"Place: {place.venue_name_en} · {place.space_name_en}",
        f"Booked: {row.taken} of {row.capacity} {en_unit} · {remaining} left",
        f"Status: {status_en}",
    ]
    if row.program_title_en:
        lines.append(f"Programme: {row.program_title_en}")
    url = (
        links.program(row.program_id)
        if row.program_id
        else links.venue_day(place.venue_id, to_kst(row.starts_at).date())
    )
    return FeedEvent(
        uid=links.uid("slot", row.id),
        start=row.starts_at,
        end=row.ends_at,
        status="CANCELLED" if row.status == "closed" else "CONFIRMED",
        sequence=row.sequence,
        last_modified=row.updated_at,
        summary=f"{prefix}{label} · {count}{ko_unit} ({label_en} · {count} booked)",
        description="\n".join(lines),
        location=place.location,
        geo=place.geo,
        url=url,
    )


def _booking_label(row: BookingRow) -> tuple[str, str]:
    place = row.place
    if row.program_title:
        return row.program_title, row.program_title_en or row.program_title
    if row.check_in is not None:
        return f"{place.space_name} 숙박", f"{place.space_name_en} stay"
    return f"{place.space_name} 예약", f"{place.space_name_en} booking"


def _stay_lines(row: BookingRow) -> tuple[list[str], list[str]]:
    if row.check_in is None or row.check_out is None:
        return [], []
    nights = (row.check_out - row.check_in).days
    return (
        [f"체크인 {_when(row.starts_at)} · 체크아웃 {_when(row.ends_at)} · {nights}박"],
        [
            f"Check-in {_when(row.starts_at, english=True)} · check-out {_when(row.ends_at, english=True)}"
            f" · {nights} night{'s' if nights > 1 else ''}"
        ],
    )


def booking_event(row: BookingRow, links: Links) -> FeedEvent:
    """A citizen's own booking, in their own calendar: no one else's data."""
    place = row.place
    label, label_en = _booking_label(row)
    status_ko, status_en = BOOKING_STATUS_WORDS.get(row.status, (row.status, row.status))
    stay_ko, stay_en = _stay_lines(row)
    lines = [
        f"장소: {place.venue_name} {place.space_name}",
        *stay_ko,
        f"인원: {row.party_size}명",
        f"상태: {status_ko}",
        f"예약 번호: {row.id}",
        "",
        f"Place: {place.venue_name_en} · {place.space_name_en}",
        *stay_en,
        f"Party: {row.party_size}",
        f"Status: {status_en}",
        f"Booking no. {row.id}",
    ]
    return FeedEvent(
        uid=links.uid("booking", row.id),
        start=row.starts_at,
        end=row.ends_at,
        status=BOOKING_EVENT_STATUS.get(row.status, "CANCELLED"),
        sequence=row.sequence,
        last_modified=row.updated_at,
        summary=f"{SUMMARY_PREFIX.get(row.status, '')}{label} ({label_en})",
        description="\n".join(lines),
        location=place.location,
        geo=place.geo,
        url=links.booking(row.id),
    )


def stay_event(row: BookingRow, links: Links) -> FeedEvent:
    """A stay in a staff feed: one event from check-in to check-out, the holder's name masked."""
    place = row.place
    holder = mask_name(row.holder_name or "")
    status_ko, status_en = BOOKING_STATUS_WORDS.get(row.status, (row.status, row.status))
    stay_ko, stay_en = _stay_lines(row)
    lines = [
        f"객실: {place.venue_name} {place.space_name}",
        *stay_ko,
        f"예약자: {holder} · {row.party_size}명",
        f"상태: {status_ko}",
        f"예약 번호: {row.id}",
        "",
        f"Room: {place.venue_name_en} · {place.space_name_en}",
        *stay_en,
        f"Holder: {holder} · party of {row.party_size}",
        f"Status: {status_en}",
        f"Booking no. {row.id}",
    ]
    return FeedEvent(
        uid=links.uid("booking", row.id),
        start=row.starts_at,
        end=row.ends_at,
        status=BOOKING_EVENT_STATUS.get(row.status, "CANCELLED"),
        sequence=row.sequence,
        last_modified=row.updated_at,
        summary=(
            f"{SUMMARY_PREFIX.get(row.status, '')}{place.space_name} 숙박 · {holder} {row.party_size}명"
            f" ({place.space_name_en} stay · {holder}, party of {row.party_size})"
        ),
        description="\n".join(lines),
        location=place.location,
        geo=place.geo,
        url=links.booking(row.id),
    )


def session_event(row: SessionRow, links: Links) -> FeedEvent:
    """A session for its instructors: counts, and the roster with masked names (who to expect)."""
    place = row.place
    count = f"{row.taken}/{row.capacity}"
    status_ko, status_en = SESSION_STATUS_WORDS.get(row.status, (row.status, row.status))
    coming = [r for r in row.roster if r.status not in ("waitlisted", "cancelled", "expired")]
    waiting = [r for r in row.roster if r.status == "waitlisted"]
    lines = [
        f"장소: {place.venue_name} {place.space_name}",
        f"예약: {count}명 · 대기 {len(waiting)}건",
        f"상태: {status_ko}",
    ]
    if coming or waiting:
        lines.append("참가자 명단:")
        for n, entry in enumerate([*coming, *waiting], start=1):
            word = BOOKING_STATUS_WORDS.get(entry.status, (entry.status, entry.status))[0]
            lines.append(f"{n}. {mask_name(entry.holder_name)} · {entry.party_size}명 · {word}")
    lines += [
        "",
        f"Place: {place.venue_name_en} · {place.space_name_en}",
        f"Booked: {row.taken} of {row.capacity} · waitlist {len(waiting)}",
        f"Status: {status_en}",
    ]
    if coming or waiting:
        lines.append("Roster above, names masked (김*수).")
    prefix = SUMMARY_PREFIX["cancelled"] if row.status == "cancelled" else ""
    return FeedEvent(
        uid=links.uid("session", row.id),
        start=row.starts_at,
        end=row.ends_at,
        status="CANCELLED" if row.status == "cancelled" else "CONFIRMED",
        sequence=row.sequence,
        last_modified=row.updated_at,
        summary=f"{prefix}{row.title} · {count}명 ({row.title_en} · {count} booked)",
        description="\n".join(lines),
        location=place.location,
        geo=place.geo,
        url=links.program(row.program_id),
    )


# --- the calendar --------------------------------------------------------------------------------


def seoul_timezone(first_day: date, last_day: date) -> Timezone:
    """The VTIMEZONE of Asia/Seoul as icalendar generates it from the tz database, for the feed's window
    (Seoul has kept +09:00 since 1988, so this is one STANDARD block)."""
    return Timezone.from_tzid(TZID, first_date=first_day - timedelta(days=1), last_date=last_day + timedelta(days=1))


def _vevent(event: FeedEvent, stamp: datetime) -> Event:
    vevent = Event()
    vevent.add("uid", event.uid)
    vevent.add("dtstamp", stamp)
    vevent.add("last-modified", event.last_modified)
    vevent.add("sequence", event.sequence)
    # Aware datetimes in Asia/Seoul: icalendar writes DTSTART;TZID=Asia/Seoul:YYYYMMDDTHHMMSS.
    vevent.add("dtstart", event.start.astimezone(KST))
    vevent.add("dtend", event.end.astimezone(KST))
    vevent.add("status", event.status)
    vevent.add("transp", "TRANSPARENT" if event.status == "CANCELLED" else "OPAQUE")
    vevent.add("summary", event.summary)
    vevent.add("description", event.description)
    vevent.add("location", event.location)
    if event.geo is not None:
        vevent.add("geo", event.geo)
    vevent.add("url", event.url)
    return vevent


def render_calendar(meta: CalendarMeta, events: Iterable[FeedEvent], *, now: datetime) -> bytes:
    """The whole calendar as bytes (UTF-8, CRLF, folded). ``now`` becomes every event's DTSTAMP."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    # X- and RFC 7986 names are unknown to icalendar's type table: vText makes it escape them as text.
    calendar.add("name", vText(meta.name))
    calendar.add("x-wr-calname", vText(meta.name))
    calendar.add("x-wr-caldesc", vText(meta.description))
    calendar.add("x-wr-timezone", TZID)
    calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", "PT1H")
    calendar.add_component(seoul_timezone(meta.first_day, meta.last_day))
    for event in events:
        calendar.add_component(_vevent(event, now))
    body: bytes = calendar.to_ical()
    return body
