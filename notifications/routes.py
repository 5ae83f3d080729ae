"""HTTP endpoints of notifications: my notices and how they reach me; the outbox for administrators."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, post, put
from litestar.di import Provide
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.deps import BEARER_SECURITY, provide_current_user, require_role
from accounts.models import Role, User
from core.clock import utcnow
from core.fields import Id
from core.pagination import DEFAULT_LIMIT, Limit, Offset, Page
from notifications.admin import outbox_page, retry
from notifications.notices import mark_read, notices_of
from notifications.preferences import preferences_of, set_preferences
from notifications.schemas import NoticeRead, OutboxMessageRead, PreferencesRead, PreferencesUpdate


class MyNoticesController(Controller):
    path = "/api/me"
    tags = ["notifications"]
    dependencies = {"current_user": Provide(provide_current_user)}
    security = BEARER_SECURITY

    @get("/notices", operation_id="myNotices", summary="Messages about my bookings (알림)")
    async def my_notices(
        self,
        current_user: User,
        db_session: AsyncSession,
        unread: bool = False,
        limit: Limit = DEFAULT_LIMIT,
        offset: Offset = 0,
    ) -> Page[NoticeRead]:
        """Every notice, whichever channels carry them beside this list."""
        return await notices_of(db_session, current_user, unread=unread, limit=limit, offset=offset)

    @post(
        "/notices/{notice_id:int}/read",
        status_code=204,
        operation_id="readNotice",
        summary="Mark a notice read",
    )
    async def read_notice(self, notice_id: Id, current_user: User, db_session: AsyncSession) -> None:
        await mark_read(db_session, current_user, notice_id, utcnow())

    @get(
        "/notification-preferences",
        operation_id="myNotificationPreferences",
        summary="How my notices reach me: e-mail, SMS (알림 받는 방법)",
    )
    async def my_preferences(self, current_user: User, db_session: AsyncSession) -> PreferencesRead:
        return await preferences_of(db_session, current_user)

    @put(
        "/notification-preferences",
        operation_id="setMyNotificationPreferences",
        summary="Choose how my notices reach me (SMS needs a phone number on the account)",
    )
    async def set_my_preferences(
        self, data: PreferencesUpdate, current_user: User, db_session: AsyncSession
    ) -> PreferencesRead:
        return await set_preferences(db_session, current_user, data, utcnow())


class OutboxController(Controller):
    """The messages sent, waiting and failed (admin): a failed one can be sent again."""

    path = "/api/notifications/outbox"
    tags = ["notifications"]
    dependencies = {"current_user": Provide(provide_current_user)}
    security = BEARER_SECURITY

    @get(operation_id="listOutbox", summary="Outgoing messages and their delivery (admin)")
    async def list_outbox(
        self,
        current_user: User,
        db_session: AsyncSession,
        status: Annotated[str | None, Parameter(pattern="^(pending|sending|sent|failed)$")] = None,
        user_id: Annotated[int | None, Parameter(ge=1)] = None,
        limit: Limit = DEFAULT_LIMIT,
        offset: Offset = 0,
    ) -> Page[OutboxMessageRead]:
        require_role(current_user, Role.ADMIN)
        return await outbox_page(db_session, status=status, user_id=user_id, limit=limit, offset=offset)

    @post(
        "/{message_id:int}/retry",
        status_code=200,
        operation_id="retryOutboxMessage",
        summary="Send a failed message again (admin)",
    )
    async def retry_message(self, message_id: Id, current_user: User, db_session: AsyncSession) -> OutboxMessageRead:
        require_role(current_user, Role.ADMIN)
        return await retry(db_session, message_id, utcnow())
