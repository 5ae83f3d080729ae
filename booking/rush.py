"""The 10:00 rush's commonest answer, from memory: "sold out" for a slot whose last place is gone.

When a popular slot opens, nearly every request comes after its places are taken, and they all get
the same refusal. ``BookingService._refuse_if_full`` gives it before any lock or rule; this gives the
very same answer without a query, from what was read under the current catalogue version
(``core.catalogue_version``). Every write that could change the answer bumps the version: a place
taken or given back, a slot's status or capacity, a booking made with an ``Idempotency-Key`` (its
record is written with the booking). So what was read under version V holds while the version is V.

The refusal is given only when the ordinary path would give it too: the slot is open with no place
left, and the request's ``Idempotency-Key`` is not one the citizen has used (a retry gets its first
answer). A citizen who holds one of its places and asks again gets ``already_booked``, as the ordinary
path answers them before any lock. Anything else, or anything unknown, goes the ordinary way; the
guarded UPDATE stays the only guard of the places.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from booking.errors import AlreadyBooked, SoldOut
from booking.models import ACTIVE, Booking, IdempotencyRecord
from core.catalogue_version import VersionReader
from core.database import read_only
from core.errors import DomainError
from core.memo import VersionedMemo
from venues import places

# Set in a request's ASGI state to the slot asked for when this lane found it, under the request's
# version, not full (places left, not open, or not there): ``BookingService.book`` then skips its own
# look for a full slot, which would read the same row again. Skipping it only ever costs speed: the
# full path gives every answer that look gives.
NOT_FULL: Final = "seoulrun.slot_not_full"

# The refusals given from memory, the same for every request (never raised: the lane answers them, so
# no traceback is kept on them); their answer's bytes are made once per language (``server.fast_lane``).
SOLD_OUT: Final = SoldOut("sold_out.places_left", remaining=0)
ALREADY_BOOKED: Final = AlreadyBooked("already_booked.slot")
SHARED_REFUSALS: Final = (SOLD_OUT, ALREADY_BOOKED)

# The lane's reads, made once (module constants): they run for most requests of a rush.
_HOLDERS: Final = select(Booking.user_id).where(
    Booking.slot_id == bindparam("slot_id"), Booking.status.in_(ACTIVE), Booking.user_id.is_not(None)
)
_KEYS: Final = select(IdempotencyRecord.key).where(IdempotencyRecord.user_id == bindparam("user_id"))

# Per process and version, at most this many slots and citizens' keys (then the memory starts again).
MAX_SLOTS: Final = 10_000
MAX_CITIZENS: Final = 100_000


@dataclass(frozen=True, slots=True)
class SlotState:
    full: bool  # open, and no place left
    holders: frozenset[int]  # citizens with an active booking of it (only read when full)


class FullSlots:
    def __init__(self, engine: AsyncEngine, versions: VersionReader) -> None:
        self.engine = engine
        self.versions = versions  # the slot's places are read as the version is: no session, no pool
        self.slots: VersionedMemo[int, SlotState] = VersionedMemo(MAX_SLOTS)
        self.keys: VersionedMemo[int, frozenset[str]] = VersionedMemo(MAX_CITIZENS)
        self.loading: dict[tuple[int, int], asyncio.Future[SlotState]] = {}

    async def state(self, version: int, slot_id: int) -> SlotState | None:
        """The slot as of ``version`` (read before this call): ``full`` when it is open with no place
        left; ``None`` when ``version`` is older than one already seen (unknown: the ordinary path answers)."""
        if not self.slots.turn(version) or not self.keys.turn(version):
            return None
        state = self.slots.get(version, slot_id)
        if state is None:
            state = await self._slot(version, slot_id)
        return state

    async def refusal(
        self, version: int, slot: SlotState, user_id: int, idempotency_key: str | None
    ) -> DomainError | None:
        """The ordinary path's answer to this citizen's request for the full ``slot`` (from ``state``,
        under the same ``version``): ``already_booked`` to a holder, ``sold_out`` to anyone else; ``None``
        for a retry of a request the citizen made before (its first answer is replayed there)."""
        if idempotency_key is not None:
            keys = self.keys.get(version, user_id)
            if keys is None:
                async with read_only(self.engine) as session:
                    keys = await self._read_keys(session, version, user_id)
            if idempotency_key in keys:
                return None
        return ALREADY_BOOKED if user_id in slot.holders else SOLD_OUT

    def keys_reader(self, version: int) -> Callable[[AsyncSession, int], Awaitable[None]]:
        """Reads a citizen's used keys in a session opened for something else (``Principals.of``: who
        their token is), so that ``refusal`` finds them in memory."""

        async def read(session: AsyncSession, user_id: int) -> None:
            if self.keys.get(version, user_id) is None:
                await self._read_keys(session, version, user_id)

        return read

    async def _read_keys(self, session: AsyncSession, version: int, user_id: int) -> frozenset[str]:
        keys = frozenset(await session.scalars(_KEYS, {"user_id": user_id}))
        self.keys.put(version, user_id, keys)
        return keys

    async def _slot(self, version: int, slot_id: int) -> SlotState:
        """One read per slot and version in a process, however many requests ask at once."""
        flight = (version, slot_id)
        pending = self.loading.get(flight)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[SlotState] = asyncio.get_running_loop().create_future()
        self.loading[flight] = future
        try:
            state = await self._read_slot(slot_id)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: the requests waiting for it get it raised
            raise
        finally:
            del self.loading[flight]
        future.set_result(state)
        self.slots.put(version, slot_id, state)
        return state

    async def _read_slot(self, slot_id: int) -> SlotState:
        # The places on the version's own connection (one round trip, no session: most of the day a
        # slot has places left, and this is all that is read); the holders, only of a full slot.
        row = await self.versions.fetch_row(*self.versions.driver_sql(places.LEFT_IF_OPEN, slot_id=slot_id))
        if row is None or row[0] is None or row[0] > 0:
            return SlotState(full=False, holders=frozenset())
        async with read_only(self.engine) as session:
            holders = await session.scalars(_HOLDERS, {"slot_id": slot_id})
            return SlotState(full=True, holders=frozenset(h for h in holders if h is not None))
