"""Every action the audit log records, ``<subject kind>.<what happened>``: stable strings that API.md
lists and programs filter by (``GET /api/audit?action=booking.cancelled``)."""

from __future__ import annotations

from typing import Final

ACTIONS: Final = (
    # accounts (accounts.services; suspensions: booking.noshows)
    "account.registered",
    "account.created",
    "account.updated",
    "account.suspended",
    # the venue catalogue (venues.services)
    "venue.created",
    "venue.updated",
    "venue.opening_hours_set",
    "space.created",
    "space.updated",
    "closure.created",
    "closure.removed",
    # slots added or blocked by hand (booking.operations)
    "slot.created",
    "slot.blocked",
    "slot.unblocked",
    # programmes (programs.services; the draw and applications: booking.lottery)
    "program.created",
    "program.updated",
    "program.drawn",
    "session.moved",
    "session.cancelled",
    "application.submitted",
    # every change of a booking, whichever way in made it (booking.history)
    "booking.created",
    "booking.confirmed",
    "booking.offered",
    "booking.expired",
    "booking.cancelled",
    "booking.checked_in",
    "booking.check_in_undone",
    "booking.checked_out",
    "booking.no_show",
    "booking.qr_reissued",
    "booking.moved",
)
