"""Loads the demo catalogue (``server.demo_data``) and demo accounts; running it again changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

import server.models  # noqa: F401 - every table on the metadata, for the ORM to order its inserts
from accounts.services import AccountService
from core.settings import Settings
from server.demo_data import demo_accounts, demo_venues
from server.demo_programs import load_demo_programs
from venues.directory import CatalogueDirectory
from venues.models import OpeningHours, Space, Venue
from venues.services import parse_hhmm
from venues.slots import extend_horizon

_VENUE_FIELDS = (
    "kind", "name", "name_en", "district", "address", "lat", "lon", "phone",
    "description", "description_en", "is_sample", "opens_on_holidays",
)  # fmt: skip
_SPACE_FIELDS = ("kind", "shape", "name", "name_en", "capacity", "max_party", "slot_minutes")


@dataclass(frozen=True, slots=True)
class DemoResult:
    venues_created: int
    venues_total: int
    accounts: list[dict[str, Any]]
    slots_created: int = 0
    programs_created: int = 0


def _apply(target: Any, data: dict[str, Any], fields: tuple[str, ...]) -> None:
    for name in fields:
        if getattr(target, name, None) != data.get(name):
            setattr(target, name, data.get(name))


def _sync_hours(venue: Venue, rows: list[dict[str, Any]]) -> bool:
    wanted = sorted((r["weekday"], parse_hhmm(r["opens"]), parse_hhmm(r["closes"])) for r in rows)
    have = sorted((h.weekday, h.opens, h.closes) for h in venue.opening_hours)
    if wanted == have:
        return False
    venue.opening_hours.clear()
    return True


async def load_demo(session: AsyncSession, settings: Settings) -> DemoResult:
    existing = {
        v.slug: v
        for v in (
            await session.scalars(select(Venue).options(selectinload(Venue.spaces), selectinload(Venue.opening_hours)))
        ).all()
    }
    created = 0
    pending_hours: list[tuple[Venue, list[dict[str, Any]]]] = []
    for data in demo_venues():
        venue = existing.get(data["slug"])
        if venue is None:
            venue = Venue(slug=data["slug"], rules={}, spaces=[], opening_hours=[])
            session.add(venue)
            created += 1
        _apply(venue, data, _VENUE_FIELDS)
        if _sync_hours(venue, data["opening_hours"]):
            pending_hours.append((venue, data["opening_hours"]))
        spaces = {s.slug: s for s in venue.spaces}
        for space_data in data["spaces"]:
            space = spaces.get(space_data["slug"])
            if space is None:
                space = Space(slug=space_data["slug"], rules={})
                venue.spaces.append(space)
            _apply(space, space_data, _SPACE_FIELDS)
    await session.flush()  # old opening hours go before the new ones reuse their unique keys
    for venue, rows in pending_hours:
        venue.opening_hours.extend(
            OpeningHours(weekday=r["weekday"], opens=parse_hhmm(r["opens"]), closes=parse_hhmm(r["closes"]))
            for r in rows
        )
    await session.flush()

    accounts = AccountService(session, settings, CatalogueDirectory(session))
    slugs = [v["slug"] for v in demo_venues()]
    made = []
    for account in demo_accounts(slugs):
        user, _ = await accounts.upsert(
            account["email"],
            account["password"],
            account["role"],
            account.get("venues", []),
            name=account["name"],
        )
        user.birth_year = account.get("birth_year")
        made.append(account)
    await session.flush()
    slots = await extend_horizon(session)
    programs = await load_demo_programs(session)
    total = len(existing) + created
    return DemoResult(
        venues_created=created, venues_total=total, accounts=made, slots_created=slots, programs_created=programs
    )
