"""``/signup``, ``/login``, ``/logout``: accounts on the web, with the session cookie of ``web.auth``."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.params import QueryParameter
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.deps import login_key
from accounts.passwords import MIN_LENGTH
from accounts.schemas import LoginRequest, RegisterRequest
from accounts.services import AccountService
from core.ratelimit import RateLimit, give_back, limit_account, rate_limit
from core.settings import Settings
from web.auth import SESSION_COOKIE, clear_session_cookie, safe_next, set_session_cookie
from web.forms import FieldSpec, Form, attempt
from web.pages import PageContext

CLEAR_ON_LOGOUT = '"cache"'

Next = Annotated[str | None, QueryParameter(name="next", max_length=2000)]

SIGNUP = Form(
    RegisterRequest,
    {
        "name": FieldSpec("web.signup.name", "web.signup.name_invalid"),
        "email": FieldSpec("web.signup.email", "web.signup.email_invalid"),
        "password": FieldSpec("web.signup.password", "web.signup.password_invalid", strip=False),
        "birth_year": FieldSpec("web.signup.birth_year", "web.signup.birth_year_invalid"),
        "phone": FieldSpec("web.signup.phone", "web.signup.phone_invalid"),
    },
)
LOGIN = Form(
    LoginRequest,
    {
        "email": FieldSpec("web.login.email", "web.signup.email_invalid"),
        "password": FieldSpec("web.login.password", strip=False),
    },
)


async def _form(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return dict((await request.form()).items())


@get("/signup", name="page.signup")
async def signup_page(ctx: PageContext, next_path: Next = None) -> Response[Any]:
    if ctx.viewer is not None:
        return ctx.redirect(safe_next(next_path))
    return ctx.render(
        "accounts/signup.html.j2", form=SIGNUP.blank(ctx.locale), next=safe_next(next_path, ""), min_length=MIN_LENGTH
    )


@post("/signup", name="page.signup.submit", guards=[rate_limit(RateLimit.REGISTER)])
async def signup(
    request: Request[Any, Any, Any], ctx: PageContext, db_session: AsyncSession, settings: Settings
) -> Response[Any]:
    data = await _form(request)
    target = safe_next(data.get("next"))
    values, form = SIGNUP.parse(data, ctx.locale)
    if values is not None:
        service = AccountService(db_session, settings)
        async with attempt(db_session) as refused:
            user = await service.register(values)
        if refused.error is not None:
            form.add_domain_error(refused.error, field_of_code={"conflict": "email"})
        else:
            token, _ = await service.issue_token(user)
            ctx.flash("web.signup.welcome", name=user.name)
            response = ctx.redirect(target)
            set_session_cookie(response, token, settings)
            return response
    return ctx.render(
        "accounts/signup.html.j2", status=422, form=form, next=safe_next(data.get("next"), ""), min_length=MIN_LENGTH
    )


@get("/login", name="page.login")
async def login_page(ctx: PageContext, next_path: Next = None) -> Response[Any]:
    if ctx.viewer is not None:
        return ctx.redirect(safe_next(next_path))
    return ctx.render("accounts/login.html.j2", form=LOGIN.blank(ctx.locale), next=safe_next(next_path, ""))


@post("/login", name="page.login.submit", guards=[rate_limit(RateLimit.LOGIN)])
async def login(
    request: Request[Any, Any, Any], ctx: PageContext, db_session: AsyncSession, settings: Settings
) -> Response[Any]:
    data = await _form(request)
    values, form = LOGIN.parse(data, ctx.locale)
    if values is not None:
        service = AccountService(db_session, settings)
        # The API's login counts failures per target email the same way (accounts.routes).
        await limit_account(request, login_key(values.email))
        async with attempt(db_session) as refused:
            token, _ = await service.login(values.email, values.password)
        if refused.error is not None:
            form.add_domain_error(refused.error)
        else:
            await give_back(request, login_key(values.email))
            if old := request.cookies.get(SESSION_COOKIE):
                await service.revoke(old)  # one session per browser: the one before ends here
            ctx.flash("web.login.welcome")
            response = ctx.redirect(safe_next(data.get("next")))
            set_session_cookie(response, token, settings)
            return response
    form.values["email"] = str(data.get("email", "")).strip()
    return ctx.render("accounts/login.html.j2", status=422, form=form, next=safe_next(data.get("next"), ""))


@get("/logout", name="page.logout.confirm")
async def logout_page(ctx: PageContext) -> Template:
    """A page with the logout button, for where the header's button cannot be (no JavaScript needed)."""
    return ctx.render("accounts/logout.html.j2")


@post("/logout", name="page.logout")
async def logout(
    request: Request[Any, Any, Any], ctx: PageContext, db_session: AsyncSession, settings: Settings
) -> Response[Any]:
    if token := request.cookies.get(SESSION_COOKIE):
        await AccountService(db_session, settings).revoke(token)
    ctx.flash("web.logout.done")
    response = ctx.redirect("/")
    clear_session_cookie(response)
    # A shared library PC keeps no cached page of the account. Not "storage": the door scanner's queue of
    # scans not yet synced lives in this origin's IndexedDB, and not "cookies": the notice rides in one.
    response.headers["Clear-Site-Data"] = CLEAR_ON_LOGOUT
    return response
