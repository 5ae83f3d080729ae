"""Calendar feed subscriptions: who follows what, through which secret url.

The url is a capability: anyone holding it reads the feed without logging in, because calendar apps
cannot send a bearer token. So only the SHA-256 of its secret is stored (a leaked table grants nothing),
a feed can be revoked, and the owner's right to the feed is checked again at every fetch.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from advanced_alchemy.base import IdentityAuditBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column


class FeedScope(StrEnum):
    VENUE = "venue"  # a venue's schedule, for its staff and managers
    SPACE = "space"  # one space of a venue, for its staff and managers
    PROGRAM = "program"  # a programme's sessions, for its instructors and the venue's staff
    ME = "me"  # the account's own bookings


class CalendarFeed(IdentityAuditBase):
    __tablename__ = "calendar_feed"
    __table_args__ = (
        CheckConstraint("scope IN ('venue', 'space', 'program', 'me')", name="scope_valid"),
        # A feed of one's own bookings has no target; every other scope names one.
        CheckConstraint("(scope = 'me') = (target_id IS NULL)", name="target_by_scope"),
        Index("ix_calendar_feed_user", "user_id", "revoked_at"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(16))
    # A venue, space or programme id, by scope; not a foreign key because it points at one of three tables.
    target_id: Mapped[int | None] = mapped_column(Integer)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    # Written at most once a minute per feed, so that a calendar app polling it costs no write per poll.
    last_fetched_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None
