"""The venue catalogue's rules: listing and searching, editing by managers, opening days and closures."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, time

import msgspec
from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from audit.log import record as audit
from core.clock import utcnow
from core.errors import Conflict, NotFound, ValidationFailed, field_error
from core.pagination import Page, count
from core.validation import check_date_range
from venues import districts
from venues.days import closures_between, day_statuses
from venues.models import Closure, OpeningHours, Slot, SlotOrigin, Space, SpaceShape, Venue, VenueKind
from venues.opening import DayStatus
from venues.rules import effective_rules, override_to_json, parse_override
from venues.schemas import (
    ClosureCreate,
    ClosureRead,
    DayRead,
    IntervalRead,
    OpeningHoursItem,
    SpaceCreate,
    SpaceRead,
    SpaceUpdate,
    VenueCreate,
    VenueDetail,
    VenueSummary,
    VenueUpdate,
)
from venues.slots import generate_slots

MAX_DAYS_RANGE = 366

ClosureHook = Callable[[AsyncSession, Closure], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ClosureHooks:
    """What closures do to the rest of the system, wired by the app (``server.wiring``): the booking
    engine cancels the bookings a new closure hits and reopens what a removed one had closed. Called
    inside the same transaction; venues must not import booking (dependencies point the other way)."""

    added: Sequence[ClosureHook] = ()
    removed: Sequence[ClosureHook] = ()


def hhmm(value: time) -> str:
    return value.strftime("%H:%M")


def parse_hhmm(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def _district(code: str) -> districts.District:
    found = districts.resolve(code)
    if found is None:
        choices = ", ".join(d.code for d in districts.DISTRICTS)
        raise ValidationFailed(
            "venue.unknown_district", errors=[field_error("district", "field.one_of", choices=choices)], district=code
        )
    return found


def venue_summary(venue: Venue) -> VenueSummary:
    district = districts.BY_CODE[venue.district]
    return VenueSummary(
        id=venue.id,
        slug=venue.slug,
        name=venue.name,
        name_en=venue.name_en,
        kind=VenueKind(venue.kind),
        district=venue.district,
        district_name=district.name,
        district_name_en=district.name_en,
        address=venue.address,
        lat=venue.lat,
        lon=venue.lon,
        is_sample=venue.is_sample,
    )


def space_read(space: Space, venue: Venue) -> SpaceRead:
    return SpaceRead(
        id=space.id,
        venue_id=space.venue_id,
        slug=space.slug,
        name=space.name,
        name_en=space.name_en,
        kind=space.kind,  # type: ignore[arg-type]
        shape=space.shape,  # type: ignore[arg-type]
        capacity=space.capacity,
        max_party=space.max_party,
        slot_minutes=space.slot_minutes,
        is_active=space.is_active,
        rules=effective_rules(venue.kind, venue.rules, space.rules),
    )


def venue_detail(venue: Venue) -> VenueDetail:
    summary = msgspec.structs.asdict(venue_summary(venue))
    return VenueDetail(
        **summary,
        phone=venue.phone,
        description=venue.description,
        description_en=venue.description_en,
        opens_on_holidays=venue.opens_on_holidays,
        is_active=venue.is_active,
        opening_hours=[
            OpeningHoursItem(weekday=h.weekday, opens=hhmm(h.opens), closes=hhmm(h.closes)) for h in venue.opening_hours
        ],
        spaces=[space_read(s, venue) for s in venue.spaces],
        rules=effective_rules(venue.kind, venue.rules),
        rule_overrides=parse_override(venue.rules),
    )


def closure_read(closure: Closure) -> ClosureRead:
    return ClosureRead(
        id=closure.id,
        venue_id=closure.venue_id,
        space_id=closure.space_id,
        start_date=closure.start_date,
        end_date=closure.end_date,
        reason=closure.reason,
        reason_en=closure.reason_en,
    )


def _closure_details(closure: Closure) -> dict[str, object]:
    return {
        "space_id": closure.space_id,
        "start_date": closure.start_date.isoformat(),
        "end_date": closure.end_date.isoformat(),
        "reason": closure.reason,
    }


def _check_opening_hours(items: Sequence[OpeningHoursItem]) -> list[OpeningHours]:
    rows = sorted((i.weekday, parse_hhmm(i.opens), parse_hhmm(i.closes)) for i in items)
    for index, (weekday, opens, closes) in enumerate(rows):
        if opens >= closes:
            raise ValidationFailed(
                "venue.opens_before_closes",
                errors=[field_error(f"opening_hours[{index}]", "field.opens_before_closes")],
            )
        if index and rows[index - 1][0] == weekday and rows[index - 1][2] > opens:
            raise ValidationFailed(
                "venue.hours_overlap", errors=[field_error(f"opening_hours[{index}]", "field.overlaps_previous")]
            )
    return [OpeningHours(weekday=w, opens=o, closes=c) for w, o, c in rows]


def _check_space_shape(shape: str, capacity: int, max_party: int, slot_minutes: int | None) -> None:
    if shape == SpaceShape.STAY and slot_minutes is not None:
        raise ValidationFailed(
            "space.stay_has_no_slot_length", errors=[field_error("slot_minutes", "field.null_for_stay")]
        )
    if shape != SpaceShape.STAY and slot_minutes is None:
        raise ValidationFailed(
            "space.slot_minutes_required", errors=[field_error("slot_minutes", "field.required_for_slotted_spaces")]
        )
    if max_party > capacity:
        raise ValidationFailed(
            "validation.max_party_over_capacity", errors=[field_error("max_party", "field.at_most_capacity")]
        )


class VenueService:
    def __init__(self, session: AsyncSession, *, closure_hooks: ClosureHooks | None = None) -> None:
        self.session = session
        self.closure_hooks = closure_hooks

    def _hooks(self) -> ClosureHooks:
        # Loud rather than silent: a closure changed without the booking engine would leave its
        # bookings standing.
        if self.closure_hooks is None:
            raise RuntimeError("VenueService needs closure_hooks to change closures")
        return self.closure_hooks

    # --- reading ---------------------------------------------------------------------------------

    def _filtered(self, kind: str | None, district: str | None, q: str | None) -> Select[tuple[Venue]]:
        query = select(Venue).where(Venue.is_active.is_(True))
        if kind:
            query = query.where(Venue.kind == kind)
        if district:
            query = query.where(Venue.district == _district(district).code)
        if q and q.strip():
            like = f"%{q.strip().lower()}%"
            query = query.where(
                or_(
                    func.lower(Venue.name).like(like),
                    func.lower(Venue.name_en).like(like),
                    func.lower(Venue.address).like(like),
                    Venue.slug.like(like),
                )
            )
        return query

    async def search(
        self, *, kind: str | None, district: str | None, q: str | None, limit: int, offset: int
    ) -> Page[VenueSummary]:
        query = self._filtered(kind, district, q)
        total = await count(self.session, query)
        venues = (await self.session.scalars(query.order_by(Venue.id).limit(limit).offset(offset))).all()
        return Page(items=[venue_summary(v) for v in venues], total=total, limit=limit, offset=offset)

    async def summaries(self, venue_ids: Iterable[int]) -> list[VenueSummary]:
        """The venues of these ids (a staff member's venues), by name; unknown ids are left out."""
        ids = sorted(set(venue_ids))
        if not ids:
            return []
        venues = (await self.session.scalars(select(Venue).where(Venue.id.in_(ids)).order_by(Venue.name))).all()
        return [venue_summary(v) for v in venues]

    async def get(self, venue_id: int, *, with_children: bool = False) -> Venue:
        query = select(Venue).where(Venue.id == venue_id)
        if with_children:
            query = query.options(selectinload(Venue.spaces), selectinload(Venue.opening_hours))
        venue = await self.session.scalar(query)
        if venue is None:
            raise NotFound("venue.not_found", venue_id=venue_id)
        return venue

    async def detail(self, venue_id: int) -> VenueDetail:
        return venue_detail(await self.get(venue_id, with_children=True))

    async def get_space(self, space_id: int) -> Space:
        space = await self.session.scalar(select(Space).where(Space.id == space_id).options(selectinload(Space.venue)))
        if space is None:
            raise NotFound("space.not_found", space_id=space_id)
        return space

    async def space(self, space_id: int) -> SpaceRead:
        space = await self.get_space(space_id)
        return space_read(space, space.venue)

    # --- opening days ----------------------------------------------------------------------------

    async def day_statuses(
        self, venue: Venue, start: date, end: date, *, space_id: int | None = None
    ) -> list[DayStatus]:
        """Open or closed, with hours or the reason, for each Seoul date from ``start`` to ``end``."""
        return await day_statuses(self.session, venue, start, end, space_id=space_id)

    async def days(self, venue_id: int, start: date, end: date, space_id: int | None = None) -> list[DayRead]:
        check_date_range(start, end, MAX_DAYS_RANGE)
        venue = await self.get(venue_id)
        if space_id is not None and (await self.get_space(space_id)).venue_id != venue_id:
            raise NotFound("space.not_at_venue", venue_id=venue_id, space_id=space_id)
        statuses = await self.day_statuses(venue, start, end, space_id=space_id)
        return [
            DayRead(
                date=s.date,
                open=s.open,
                hours=[IntervalRead(opens=hhmm(i.opens), closes=hhmm(i.closes)) for i in s.hours],
                reason=s.reason,
                reason_en=s.reason_en,
            )
            for s in statuses
        ]

    async def closures_between(self, venue_id: int, start: date, end: date) -> Sequence[Closure]:
        return await closures_between(self.session, venue_id, start, end)

    # --- editing ---------------------------------------------------------------------------------

    async def _flush_unique(self, refusal: Conflict) -> None:
        """Flush; the slug's unique index (the guard between two racing creations) answers ``refusal``."""
        try:
            async with self.session.begin_nested():
                await self.session.flush()
        except IntegrityError as exc:
            raise refusal from exc

    async def create(self, data: VenueCreate) -> Venue:
        venue = Venue(
            slug=data.slug,
            kind=data.kind,
            name=data.name.strip(),
            name_en=data.name_en.strip(),
            district=_district(data.district).code,
            address=data.address.strip(),
            lat=data.lat,
            lon=data.lon,
            phone=data.phone,
            description=data.description,
            description_en=data.description_en,
            opens_on_holidays=data.opens_on_holidays,
            is_sample=data.is_sample,
            rules=override_to_json(data.rules),
            opening_hours=_check_opening_hours(data.opening_hours),
            spaces=[],
        )
        self.session.add(venue)
        await self._flush_unique(Conflict("venue.slug_taken", slug=data.slug))
        await audit(self.session, "venue.created", "venue", venue.id, venue_id=venue.id, details={"slug": venue.slug})
        return venue

    async def update(self, venue_id: int, data: VenueUpdate) -> Venue:
        venue = await self.get(venue_id, with_children=True)
        changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
        if "district" in changes:
            changes["district"] = _district(changes["district"]).code
        if "rules" in changes:
            changes["rules"] = override_to_json(changes["rules"])
        for key, value in changes.items():
            setattr(venue, key, value)
        await self.session.flush()
        await audit(
            self.session, "venue.updated", "venue", venue.id, venue_id=venue.id, details={"fields": sorted(changes)}
        )
        return venue

    async def set_opening_hours(self, venue_id: int, items: Sequence[OpeningHoursItem]) -> Venue:
        venue = await self.get(venue_id, with_children=True)
        venue.opening_hours.clear()
        await self.session.flush()  # delete the old week first: the new one reuses its unique keys
        venue.opening_hours.extend(_check_opening_hours(items))
        await self.session.flush()
        week = [f"{h.weekday} {hhmm(h.opens)}-{hhmm(h.closes)}" for h in venue.opening_hours]
        await audit(
            self.session, "venue.opening_hours_set", "venue", venue.id, venue_id=venue.id, details={"hours": week}
        )
        return venue

    async def add_space(self, venue_id: int, data: SpaceCreate) -> SpaceRead:
        venue = await self.get(venue_id)
        max_party = data.max_party or (data.capacity if data.shape != SpaceShape.SHARED else 1)
        _check_space_shape(data.shape, data.capacity, max_party, data.slot_minutes)
        space = Space(
            venue_id=venue.id,
            slug=data.slug,
            kind=data.kind,
            shape=data.shape,
            name=data.name.strip(),
            name_en=data.name_en.strip(),
            capacity=data.capacity,
            max_party=max_party,
            slot_minutes=data.slot_minutes,
            rules=override_to_json(data.rules),
        )
        self.session.add(space)
        await self._flush_unique(Conflict("space.slug_taken", slug=data.slug))
        await audit(self.session, "space.created", "space", space.id, venue_id=venue.id, details={"slug": space.slug})
        return space_read(space, venue)

    async def update_space(self, space_id: int, data: SpaceUpdate) -> SpaceRead:
        space = await self.get_space(space_id)
        changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
        if "rules" in changes:
            changes["rules"] = override_to_json(changes["rules"])
        capacity = changes.get("capacity", space.capacity)
        max_party = changes.get("max_party", min(space.max_party, capacity))
        _check_space_shape(space.shape, capacity, max_party, changes.get("slot_minutes", space.slot_minutes))
        asked = sorted(changes)
        changes["max_party"] = max_party
        for key, value in changes.items():
            setattr(space, key, value)
        if space.shape == SpaceShape.SHARED and "capacity" in changes:
            # Future practice slots follow the new size; a slot already holding more people than that
            # keeps its size (its bookings stay), and the CHECK on taken <= capacity guards the rest.
            await self.session.execute(
                update(Slot)
                .where(
                    Slot.space_id == space.id,
                    Slot.origin == SlotOrigin.GENERATED,
                    Slot.starts_at > utcnow(),
                    Slot.taken <= capacity,
                )
                .values(capacity=capacity, sequence=Slot.sequence + 1)
                .execution_options(synchronize_session=False)
            )
        await self.session.flush()
        await audit(
            self.session, "space.updated", "space", space.id, venue_id=space.venue_id, details={"fields": asked}
        )
        return space_read(space, space.venue)

    async def closure_of(self, venue_id: int, data: ClosureCreate, *, created_by_id: int | None) -> Closure:
        """The closure ``data`` asks for, checked but not saved: what ``add_closure`` saves, and what a
        preview (which bookings it would cancel) looks at before anything is written."""
        venue = await self.get(venue_id)
        if data.end_date < data.start_date:
            raise ValidationFailed(
                "closure.end_before_start", errors=[field_error("end_date", "field.before_start_date")]
            )
        if data.space_id is not None and (await self.get_space(data.space_id)).venue_id != venue.id:
            raise ValidationFailed(
                "space.of_another_venue", errors=[field_error("space_id", "field.not_a_space_of_venue")]
            )
        closure = Closure(
            venue_id=venue.id,
            space_id=data.space_id,
            start_date=data.start_date,
            end_date=data.end_date,
            reason=data.reason.strip(),
            reason_en=data.reason_en.strip(),
            created_by_id=created_by_id,
        )
        return closure

    async def add_closure(self, venue_id: int, data: ClosureCreate, *, created_by_id: int | None) -> Closure:
        closure = await self.closure_of(venue_id, data, created_by_id=created_by_id)
        hooks = self._hooks()
        self.session.add(closure)
        await self.session.flush()
        await audit(
            self.session,
            "closure.created",
            "closure",
            closure.id,
            venue_id=closure.venue_id,
            details=_closure_details(closure),
        )
        for hook in hooks.added:
            await hook(self.session, closure)
        return closure

    async def list_closures(self, venue_id: int, *, since: date | None, limit: int, offset: int) -> Page[ClosureRead]:
        await self.get(venue_id)
        query = select(Closure).where(Closure.venue_id == venue_id)
        if since:
            query = query.where(Closure.end_date >= since)
        total = await count(self.session, query)
        rows = (
            await self.session.scalars(query.order_by(Closure.start_date, Closure.id).limit(limit).offset(offset))
        ).all()
        return Page(items=[closure_read(c) for c in rows], total=total, limit=limit, offset=offset)

    async def delete_closure(self, venue_id: int, closure_id: int) -> None:
        closure = await self.session.get(Closure, closure_id)
        if closure is None or closure.venue_id != venue_id:
            raise NotFound("closure.not_found", venue_id=venue_id, closure_id=closure_id)
        hooks = self._hooks()
        for hook in hooks.removed:  # before the row goes: they find what it closed by its id
            await hook(self.session, closure)
        await audit(
            self.session, "closure.removed", "closure", closure.id, venue_id=venue_id, details=_closure_details(closure)
        )
        await self.session.delete(closure)
        await self.session.flush()
        # Days the closure kept free of slots get them now (generation is idempotent).
        await generate_slots(self.session, start=closure.start_date, end=closure.end_date, venue_ids=[venue_id])
