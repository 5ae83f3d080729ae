"""HTTP endpoints of accounts: register, log in and out, the caller's account, and admin user management."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, patch, post
from litestar.di import Provide
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.deps import BEARER_SECURITY, bearer_token, login_key, provide_current_user, require_role
from accounts.models import Role, User
from accounts.schemas import (
    AccountCreate,
    AccountRead,
    AccountUpdate,
    LoginRequest,
    RegisterRequest,
    TokenResponse,
)
from accounts.services import AccountService, VenueDirectory, account_read
from core.fields import Id, SearchText
from core.pagination import DEFAULT_LIMIT, Limit, Offset, Page
from core.ratelimit import RateLimit, give_back, limit_account, rate_limit
from core.settings import Settings


class AuthController(Controller):
    path = "/api/auth"
    tags = ["accounts"]

    @post(
        "/register",
        guards=[rate_limit(RateLimit.REGISTER)],
        operation_id="register",
        summary="Register a citizen account (시민 회원가입)",
    )
    async def register(self, data: RegisterRequest, db_session: AsyncSession, settings: Settings) -> AccountRead:
        return account_read(await AccountService(db_session, settings).register(data))

    @post(
        "/login",
        status_code=200,
        guards=[rate_limit(RateLimit.LOGIN)],
        operation_id="login",
        summary="Log in and get a bearer token (로그인)",
    )
    async def login(
        self, request: Request[Any, Any, Any], data: LoginRequest, db_session: AsyncSession, settings: Settings
    ) -> TokenResponse:
        # Failed logins count per target email too, whichever addresses they come from.
        await limit_account(request, login_key(data.email))
        token, expires_at = await AccountService(db_session, settings).login(data.email, data.password)
        await give_back(request, login_key(data.email))
        return TokenResponse(access_token=token, expires_at=expires_at)

    @post(
        "/logout",
        status_code=204,
        operation_id="logout",
        summary="Revoke the bearer token of this request (로그아웃)",
        dependencies={"current_user": Provide(provide_current_user)},
        security=BEARER_SECURITY,
    )
    async def logout(
        self,
        request: Request[Any, Any, Any],
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
    ) -> None:
        token = bearer_token(request)
        if token:
            await AccountService(db_session, settings).revoke(token)


class MeController(Controller):
    path = "/api/me"
    tags = ["accounts"]
    dependencies = {"current_user": Provide(provide_current_user)}
    security = BEARER_SECURITY

    @get(operation_id="me", summary="The caller's account (내 계정)")
    async def me(self, current_user: User) -> AccountRead:
        return account_read(current_user)


class UserAdminController(Controller):
    """Accounts made and edited by city administrators: staff, managers, instructors."""

    path = "/api/users"
    tags = ["accounts"]
    dependencies = {"current_user": Provide(provide_current_user)}
    security = BEARER_SECURITY

    @get(operation_id="listUsers", summary="List accounts (admin)")
    async def list_users(
        self,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
        role: Annotated[str | None, Parameter(pattern=r"^(citizen|staff|manager|instructor|admin)$(?!\n)")] = None,
        q: SearchText = None,
        limit: Limit = DEFAULT_LIMIT,
        offset: Offset = 0,
    ) -> Page[AccountRead]:
        require_role(current_user, Role.ADMIN)
        return await AccountService(db_session, settings).search(role=role, q=q, limit=limit, offset=offset)

    @post(operation_id="createUser", summary="Create an account with any role (admin)")
    async def create_user(
        self,
        data: AccountCreate,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
        venue_directory: VenueDirectory,
    ) -> AccountRead:
        require_role(current_user, Role.ADMIN)
        return account_read(await AccountService(db_session, settings, venue_directory).create(data))

    @get("/{user_id:int}", operation_id="getUser", summary="One account (admin)")
    async def get_user(
        self, user_id: Id, current_user: User, db_session: AsyncSession, settings: Settings
    ) -> AccountRead:
        require_role(current_user, Role.ADMIN)
        return account_read(await AccountService(db_session, settings).get(user_id))

    @patch("/{user_id:int}", operation_id="updateUser", summary="Change role, venues, password or status (admin)")
    async def update_user(
        self,
        user_id: Id,
        data: AccountUpdate,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
        venue_directory: VenueDirectory,
    ) -> AccountRead:
        require_role(current_user, Role.ADMIN)
        return account_read(await AccountService(db_session, settings, venue_directory).update(user_id, data))
