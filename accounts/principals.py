"""Who a bearer token is, remembered per accounts version (``core.catalogue_version``).

The answers given from memory (``server.fast_lane``) must know who asks without a query each time. A
token's holder, role and venues can only change by a write to the accounts' tables, which bumps the
accounts version: revoking a token (a logout, a new password) updates or deletes its row, and an
account's role, its being switched off and its venue assignments are rows of ``user_account`` and
``venue_assignment``. So what was read under accounts version V holds for as long as it is V, whatever
else is written meanwhile (the bookings of a rush); a token's own expiry is checked against the clock
on every use. Only tokens that are valid are remembered: a wrong one goes the ordinary way (and gets
its 401 there).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from accounts.models import VENUE_SCOPED_ROLES, AccessToken, Role, User, VenueAssignment
from accounts.services import holder_params, token_holder
from core.clock import utcnow
from core.database import read_only
from core.memo import VersionedMemo

# At most this many tokens per process and version (then the memory starts again).
MAX_TOKENS: Final = 100_000
_HOLDER: Final = token_holder(select(User.id, User.role, AccessToken.expires_at))
_VENUES: Final = select(VenueAssignment.venue_id).where(VenueAssignment.user_id == bindparam("user_id"))
# More to read about the holder while their token is read, in the same session (``Principals.of``).
Also = Callable[[AsyncSession, int], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    role: str
    expires_at: datetime
    venue_ids: frozenset[int]

    def can_work_at(self, venue_id: int, *roles: Role) -> bool:
        """``User.can_work_at``: admins everywhere, the given roles at their own venues."""
        return self.role == Role.ADMIN or (self.role in roles and venue_id in self.venue_ids)


class Principals:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.known: VersionedMemo[bytes, Principal] = VersionedMemo(MAX_TOKENS)

    async def of(self, token: str, version: int, also: Also | None = None) -> Principal | None:
        """The holder of ``token`` as of the accounts ``version`` (read before this call); ``None`` when
        the token is not valid now. When the token has to be read, ``also`` reads more about its holder
        in the same session (one connection and session for both: a rush's first request of each
        citizen needs their used keys too)."""
        now = utcnow()
        if not self.known.turn(version):
            return await self._load(token, now, also)  # a request that read the version before a newer one
        digest = hashlib.sha256(token.encode()).digest()
        principal = self.known.get(version, digest)
        if principal is None:
            principal = await self._load(token, now, also)
            if principal is None:
                return None
            self.known.put(version, digest, principal)
        return principal if principal.expires_at > now else None

    async def _load(self, token: str, now: datetime, also: Also | None) -> Principal | None:
        async with read_only(self.engine) as session:
            row = (await session.execute(_HOLDER, holder_params(token, now))).first()
            if row is None:
                return None
            venues: Sequence[int] = ()
            if row.role in VENUE_SCOPED_ROLES:  # a citizen or an admin works at no venue of their own
                venues = (await session.scalars(_VENUES, {"user_id": row.id})).all()
            if also is not None:
                await also(session, row.id)
        return Principal(row.id, row.role, row.expires_at, frozenset(venues))
