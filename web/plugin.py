"""``WebPlugin``: mounts the web pages on the app (``server/app.py`` adds it to its plugins).

It brings the pages' router (HTMX requests, the page context and the signed-in account as dependencies,
errors as pages), the Jinja templates, CSRF protection for every form outside the JSON API, and HTML
error pages for browsers that ask for an unknown path.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from litestar import Router
from litestar.config.app import AppConfig
from litestar.config.csrf import CSRFConfig
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.plugins import InitPluginProtocol
from litestar.template.config import TemplateConfig
from litestar_htmx import HTMXRequest

from core.settings import Settings
from web import i18n
from web.assets import Assets
from web.auth import provide_viewer
from web.errors import browser_aware, page_exception_handlers
from web.nav import nav_items
from web.pages import provide_page_context, secure
from web.routes import accounts, book, home, manage, me, programs, staff, static, venues

TEMPLATE_DIR: Final = Path(__file__).resolve().parent / "templates"

# The JSON API keeps its bearer tokens (no cookie, so no CSRF); feeds and the docs take no forms.
CSRF_EXCLUDE: Final = ["^/api/", "^/ical/", "^/schema", "^/health$", "^/static/"]

ROUTE_HANDLERS: Final[list[Any]] = [
    home.home,
    accounts.signup_page,
    accounts.signup,
    accounts.login_page,
    accounts.login,
    accounts.logout_page,
    accounts.logout,
    venues.venue_list,
    venues.venue_page,
    programs.program_list,
    programs.program_detail,
    programs.program_draw,
    book.book_page,
    book.book,
    book.book_stay_page,
    book.book_stay,
    book.enrol_page,
    book.enrol,
    book.apply_page,
    book.apply,
    me.bookings_page,
    me.booking_page,
    me.booking_qr_png,
    me.booking_qr_svg,
    me.cancel_page,
    me.cancel,
    me.accept,
    me.calendar_page,
    me.calendar_create,
    me.calendar_revoke,
    me.notices_page,
    me.notice_read,
    me.notice_preferences,
    staff.staff_home,
    staff.scan_page,
    staff.scan_submit,
    staff.service_worker,
    staff.checkin_scan,
    staff.checkin_manifest,
    staff.checkin_sync,
    staff.day_page,
    staff.walk_in,
    staff.check_out,
    staff.undo_check_in,
    manage.manage_home,
    manage.manage_venue,
    manage.space_page,
    manage.space_submit,
    manage.hours_page,
    manage.hours_submit,
    manage.closure_page,
    manage.closure_submit,
    manage.closure_preview,
    manage.closure_delete,
    manage.slot_page,
    manage.slot_submit,
    manage.slot_status,
    manage.new_program_page,
    manage.new_program_submit,
    manage.program_page,
    manage.program_submit,
    manage.session_cancel,
    manage.feed_create,
    manage.feed_revoke,
    static.static_file,
]


def jinja_environment(assets: Assets) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(["html", "j2"], default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        enable_async=False,
        extensions=["jinja2.ext.do"],
    )
    env.globals.update(i18n.JINJA_GLOBALS)
    env.globals.update({"static": assets.static_url, "vendor": assets.vendor_url, "nav_items": nav_items})
    return env


class WebPlugin(InitPluginProtocol):
    def __init__(
        self, settings: Settings, *, assets: Assets | None = None, routes: Sequence[Any] | None = None
    ) -> None:
        self.settings = settings
        self.assets = assets or Assets.discover()
        self.routes = list(ROUTE_HANDLERS if routes is None else routes)

    def router(self) -> Router:
        assets = self.assets
        return Router(
            path="/",
            route_handlers=self.routes,
            dependencies={
                "viewer": Provide(provide_viewer),
                "ctx": Provide(provide_page_context, sync_to_thread=False),
                "assets": Provide(lambda: assets, sync_to_thread=False),
            },
            exception_handlers=page_exception_handlers(),
            request_class=HTMXRequest,
            after_request=secure,
            include_in_schema=False,
            opt={"web_page": True},
        )

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        i18n.register()
        app_config.route_handlers.append(self.router())
        app_config.template_config = TemplateConfig(
            instance=JinjaTemplateEngine.from_environment(jinja_environment(self.assets))
        )
        app_config.csrf_config = CSRFConfig(
            secret=hmac.new(self.settings.secret_key.encode(), b"csrf", hashlib.sha256).hexdigest(),
            cookie_name="csrftoken",
            cookie_secure=self.settings.base_url.startswith("https://"),
            cookie_samesite="lax",
            cookie_httponly=True,  # pages put the token in their forms and hx-headers; no script reads it
            header_name="x-csrftoken",
            exclude=CSRF_EXCLUDE,
        )
        # A new mapping: the app's may be core.errors.EXCEPTION_HANDLERS itself, which the pages also use.
        handlers = dict(app_config.exception_handlers)
        if (api_http_handler := handlers.get(HTTPException)) is not None:
            handlers[HTTPException] = browser_aware(api_http_handler)
        app_config.exception_handlers = handlers
        return app_config
