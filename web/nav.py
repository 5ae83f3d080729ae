"""The site's navigation: an entry shows once a page of that name is registered (so a follower's page
appears in the header by being added) and, for some, only to the roles it is for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from jinja2 import pass_context
from jinja2.runtime import Context

from accounts.models import Role


@dataclass(frozen=True, slots=True)
class NavItem:
    route_name: str  # the ``name=`` of the page's route handler
    path: str
    label_key: str
    roles: frozenset[str] | None = None  # None: everyone, signed in or not


NAV: Final[tuple[NavItem, ...]] = (
    NavItem("page.home", "/", "web.nav.home"),
    NavItem("page.venues", "/venues", "web.nav.venues"),
    NavItem("page.programs", "/programs", "web.nav.programs"),
    NavItem("page.my_bookings", "/me/bookings", "web.nav.my_bookings", frozenset({Role.CITIZEN})),
    NavItem("page.my_notices", "/me/notices", "web.nav.my_notices", frozenset({Role.CITIZEN})),
    NavItem("page.my_calendar", "/me/calendar", "web.nav.my_calendar", frozenset({Role.CITIZEN})),
    NavItem("page.staff_home", "/staff", "web.nav.staff_home", frozenset({Role.STAFF, Role.MANAGER, Role.ADMIN})),
    NavItem("page.staff_scan", "/staff/scan", "web.nav.staff_scan", frozenset({Role.STAFF, Role.MANAGER, Role.ADMIN})),
    NavItem("page.manage", "/manage", "web.nav.manage", frozenset({Role.MANAGER, Role.ADMIN})),
)


def is_current(path: str, item_path: str) -> bool:
    return path == item_path or (item_path != "/" and path.startswith(item_path + "/"))


@pass_context
def nav_items(context: Context) -> list[dict[str, Any]]:
    request = context["request"]
    viewer = context.get("viewer")
    items = []
    for item in NAV:
        if request.app.get_handler_index_by_name(item.route_name) is None:
            continue
        if item.roles is not None and (viewer is None or viewer.role not in item.roles):
            continue
        items.append(
            {"path": item.path, "label_key": item.label_key, "current": is_current(request.url.path, item.path)}
        )
    # One current entry: the most specific (on /staff/scan, "scanner" rather than "staff home").
    current = [entry for entry in items if entry["current"]]
    if current:
        deepest = max(current, key=lambda entry: len(str(entry["path"])))
        for entry in current:
            entry["current"] = entry is deepest
    return items
