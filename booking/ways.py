"""The ways to a place, and which rule applies to which: one table instead of ``if``s across services.

Every way ends in the same writer of places (``venues.places``) and goes through the same checks
(``booking.eligibility``); this table says which checks each way runs, and why. A rule people expect
to hold everywhere (DOMAIN.md: "every way to a place obeys the same rules") is a column that is True
on every row where it can apply.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class Way(StrEnum):
    """How a booking came to hold its place; the value is the reason written in its history."""

    BOOKING = "booked"  # a citizen books a slot, a drop-in session or a stay online, or joins its waitlist
    PROMOTION = "promoted"  # a freed place goes to the first in line (confirmed, or offered for a while)
    OFFER = "offer_accepted"  # the citizen accepts a place offered from the waitlist
    COURSE = "enrolled"  # a whole course: a seat in every remaining session, or none
    APPLICATION = "applied"  # an entry in a lottery (no place yet; the draw gives them)
    LOTTERY = "lottery_won"  # a lottery's winner, in drawn order
    WALK_IN = "walk_in"  # staff book a free place for a guest at the door


@dataclass(frozen=True, slots=True)
class Checks:
    """Which rules a way runs. ``window`` is the registration window (the programme's for its sessions,
    else the space's booking window); ``eligibility`` a programme's publication and age band; ``direct``
    that a programme's sessions are taken its own way (a course by enrolling, a lottery by the draw)."""

    window: bool
    eligibility: bool
    direct: bool
    suspension: bool
    quota: bool
    overlap: bool
    party: bool


RULES: Final[dict[Way, Checks]] = {
    Way.BOOKING: Checks(
        window=True, eligibility=True, direct=True, suspension=True, quota=True, overlap=True, party=True
    ),
    # The window and eligibility were checked when the citizen joined the queue, in the window; places free
    # up later, when others cancel. The rest is checked again: a citizen suspended, at their quota, or
    # booked elsewhere at that time meanwhile is passed over (and stays in line).
    Way.PROMOTION: Checks(
        window=False, eligibility=False, direct=False, suspension=True, quota=True, overlap=True, party=False
    ),
    # An offer already counts against the quota (it holds the place); accepting it must not need a
    # second unit of quota, but a citizen suspended or booked elsewhere meanwhile cannot take it.
    Way.OFFER: Checks(
        window=False, eligibility=False, direct=False, suspension=True, quota=False, overlap=True, party=False
    ),
    # A course counts one booking per session in each session's week.
    Way.COURSE: Checks(
        window=True, eligibility=True, direct=False, suspension=True, quota=True, overlap=True, party=True
    ),
    # An application meets every rule about the citizen as a booking of the programme's sessions would,
    # when it is made: the draw itself must not look at anyone's record.
    Way.APPLICATION: Checks(
        window=True, eligibility=True, direct=False, suspension=True, quota=True, overlap=True, party=True
    ),
    # The draw is a function of what it publishes (seed, entries with their party sizes, places) and of
    # nothing else, so that anyone can re-run it and get the same winners.
    Way.LOTTERY: Checks(
        window=False, eligibility=False, direct=False, suspension=False, quota=False, overlap=False, party=False
    ),
    # A guest at the door has no account: no window (they are here), no quota, no no-show record, no
    # other bookings to overlap; the largest party still holds.
    Way.WALK_IN: Checks(
        window=False, eligibility=False, direct=False, suspension=False, quota=False, overlap=False, party=True
    ),
}
