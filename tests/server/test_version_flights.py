"""The catalogue version's reads shared between requests (``core.catalogue_version._Flight``): at most one
read under way per query and process, every request answered by a read that began after it arrived, and
a request that goes away taking nothing from the others."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from core.catalogue_version import _Flight


class Reads:
    """A query whose reads the test ends one at a time, each answering with its number, and the flight
    that shares them; ``join`` is a request asking for the version."""

    def __init__(self) -> None:
        self.started = 0
        self.gates: list[asyncio.Future[Any]] = []
        self.flight = _Flight(self.query)

    def join(self) -> asyncio.Future[tuple[Any, ...] | None]:
        return asyncio.ensure_future(self.flight.join(asyncio.get_running_loop()))

    async def query(self) -> tuple[Any, ...] | None:
        self.started += 1
        gate: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.gates.append(gate)
        outcome = await gate
        if isinstance(outcome, Exception):
            raise outcome
        return (self.started if outcome is None else outcome,)

    def end(self, outcome: Any = None) -> None:
        self.gates[-1].set_result(outcome)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_requests_that_arrive_during_a_read_share_the_next_one() -> None:
    reads = Reads()
    first = reads.join()
    await settle()
    assert reads.started == 1
    later = [reads.join() for _ in range(20)]
    await settle()
    assert reads.started == 1  # one read under way at a time
    reads.end()
    await settle()
    assert await first == (1,)
    assert reads.started == 2  # the next read began after they arrived; none of them took the first
    assert not any(task.done() for task in later)
    reads.end()
    assert [await task for task in later] == [(2,)] * 20
    await settle()
    assert reads.started == 2  # nobody waiting: no third read
    again = reads.join()
    await settle()
    assert reads.started == 3
    reads.end()
    assert await again == (3,)


async def test_a_request_that_goes_away_cancels_only_its_own_wait() -> None:
    reads = Reads()
    leader = reads.join()
    await settle()
    leaving, staying = reads.join(), reads.join()
    await settle()  # both wait for the read after the leader's
    leaving.cancel()
    await settle()
    assert leaving.cancelled()
    reads.end()
    assert await leader == (1,)
    await settle()
    assert reads.started == 2  # the read the two waited for still runs for the one who stayed
    reads.end()
    assert await staying == (2,)


async def test_a_failed_read_fails_its_own_requests_and_the_next_read_goes_on() -> None:
    reads = Reads()
    first = reads.join()
    await settle()
    waiting = reads.join()
    await settle()
    reads.end(OSError("connection lost"))
    with pytest.raises(OSError, match="connection lost"):
        await first
    await settle()
    reads.end()
    assert await waiting == (2,)
