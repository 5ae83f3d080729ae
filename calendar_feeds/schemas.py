"""Request and response bodies of the calendar feed endpoints. Instants go out in Asia/Seoul (+09:00)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from core.fields import Id

ScopeName = Literal["venue", "space", "program", "me"]


class FeedCreate(msgspec.Struct, forbid_unknown_fields=True):
    """``target_id`` names the venue, space or programme; a ``me`` feed has none (or the caller's own id)."""

    scope: ScopeName
    target_id: Id | None = None


class FeedCreated(msgspec.Struct):
    """The answer to ``POST /api/feeds``: the only time the secret url is shown, so copy it now."""

    id: int
    scope: str
    target_id: int | None
    name: str
    url: str  # {base_url}/ical/<secret>.ics
    webcal_url: str  # the same with webcal://, which opens the calendar app's "subscribe" dialogue
    https_url: str  # the same over https, to paste into "add calendar from url"
    created_at: datetime


class FeedRead(msgspec.Struct):
    """A feed in the owner's list; the secret is not stored, so its url cannot be shown again."""

    id: int
    scope: str
    target_id: int | None
    name: str
    created_at: datetime
    last_fetched_at: datetime | None
