"""Every connection a request takes goes back, even when a dependency after the request's session
refuses it (a bad token: 401; a page for someone else: 403). Litestar does not run the clean-up of
``yield`` dependencies when a later dependency raises, so without our own clean-up each such refusal
would hold a connection until the garbage collector found it (a pool emptied by a flood of 401s)."""

from __future__ import annotations

import gc

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import Database, MakeUser, MakeVenue
from tests.web.conftest import Client
from web.auth import SESSION_COOKIE


class PoolCount:
    def __init__(self, engine: AsyncEngine) -> None:
        self.out = 0
        event.listen(engine.sync_engine.pool, "checkout", self._checkout)
        event.listen(engine.sync_engine.pool, "checkin", self._checkin)

    def _checkout(self, *_: object) -> None:
        self.out += 1

    def _checkin(self, *_: object) -> None:
        self.out -= 1


async def test_a_refused_request_gives_its_connection_back(
    client: Client, db: Database, make_user: MakeUser, make_venue: MakeVenue
) -> None:
    venue = await make_venue()
    citizen = await make_user()
    pool = PoolCount(db.engine)
    for _ in range(3):
        # The API: the token is read with the request's session, then refused.
        answer = await client.get("/api/me", headers={"Authorization": "Bearer not-a-token"})
        assert answer.status_code == 401
        assert pool.out == 0, "a refused API request kept its connection"
        # A page for the staff of a venue, asked by a citizen: 403 after the viewer was read.
        client.cookies.set(SESSION_COOKIE, citizen.token)
        page = await client.get(f"/staff/venues/{venue.id}/day")
        client.cookies.clear()
        assert page.status_code == 403
        assert pool.out == 0, "a refused page kept its connection"
    gc.collect()
    assert pool.out == 0
