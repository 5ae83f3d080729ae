"""The venue catalogue as accounts see it: which venues exist (``accounts.services.VenueDirectory``)."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from venues.models import Venue


class CatalogueDirectory:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def existing(self, venue_ids: Collection[int]) -> set[int]:
        if not venue_ids:
            return set()
        return set((await self.session.scalars(select(Venue.id).where(Venue.id.in_(venue_ids)))).all())

    async def by_slug(self, slugs: Collection[str]) -> dict[str, int]:
        if not slugs:
            return {}
        rows = await self.session.execute(select(Venue.slug, Venue.id).where(Venue.slug.in_(slugs)))
        return {slug: venue_id for slug, venue_id in rows}


def provide_venue_directory(db_session: AsyncSession) -> CatalogueDirectory:
    return CatalogueDirectory(db_session)
