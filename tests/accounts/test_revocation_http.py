"""A password set by someone else, or a deactivation, ends every session of the account: the tokens
handed out before stop working at once (finding 10), through the admin API and the command line."""

from __future__ import annotations

from sqlalchemy import select

from accounts.models import User
from accounts.services import AccountService
from core.database import unit_of_work
from tests.accounts.test_auth_http import Client, assert_problem
from tests.conftest import PASSWORD, Database, MakeUser
from venues.directory import CatalogueDirectory

NEW_PASSWORD = "a-new-door-code-4050"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _login(client: Client, email: str, password: str) -> str:
    response = await client.post("/api/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def test_an_admins_new_password_ends_every_session_of_the_user_and_none_of_the_admins(
    client: Client, make_user: MakeUser
) -> None:
    admin = await make_user(role="admin")
    staff = await make_user(role="staff")
    other = await make_user(role="staff")
    second = await _login(client, staff.user.email, PASSWORD)  # a second device
    for token in (staff.token, second, admin.token, other.token):
        assert (await client.get("/api/me", headers=bearer(token))).status_code == 200

    changed = await client.patch(f"/api/users/{staff.id}", json={"password": NEW_PASSWORD}, headers=admin.headers)
    assert changed.status_code == 200, changed.text

    for token in (staff.token, second):
        assert_problem(await client.get("/api/me", headers=bearer(token)), 401, "unauthenticated")
    # The admin who did it, and everyone else, stay logged in.
    assert (await client.get("/api/me", headers=admin.headers)).status_code == 200
    assert (await client.get("/api/users", headers=admin.headers)).status_code == 200
    assert (await client.get("/api/me", headers=other.headers)).status_code == 200
    # The old password is gone; the new one logs in, and that session works.
    old = await client.post("/api/auth/login", json={"email": staff.user.email, "password": PASSWORD})
    assert_problem(old, 401, "unauthenticated")
    fresh = await _login(client, staff.user.email, NEW_PASSWORD)
    assert (await client.get("/api/me", headers=bearer(fresh))).json()["id"] == staff.id


async def test_deactivation_ends_the_sessions_and_reactivation_does_not_bring_them_back(
    client: Client, make_user: MakeUser
) -> None:
    admin = await make_user(role="admin")
    staff = await make_user(role="staff")
    off = await client.patch(f"/api/users/{staff.id}", json={"is_active": False}, headers=admin.headers)
    assert off.status_code == 200, off.text
    assert_problem(await client.get("/api/me", headers=staff.headers), 401, "unauthenticated")
    refused = await client.post("/api/auth/login", json={"email": staff.user.email, "password": PASSWORD})
    assert_problem(refused, 401, "unauthenticated")
    assert (await client.get("/api/me", headers=admin.headers)).status_code == 200

    on = await client.patch(f"/api/users/{staff.id}", json={"is_active": True}, headers=admin.headers)
    assert on.status_code == 200, on.text
    # Revoked, not merely hidden while the account was off.
    assert_problem(await client.get("/api/me", headers=staff.headers), 401, "unauthenticated")
    assert (await client.get("/api/me", headers=bearer(await _login(client, staff.user.email, PASSWORD)))).is_success


async def test_an_edit_that_is_not_about_access_keeps_the_sessions(client: Client, make_user: MakeUser) -> None:
    admin = await make_user(role="admin")
    staff = await make_user(role="staff")
    renamed = await client.patch(f"/api/users/{staff.id}", json={"name": "박직원"}, headers=admin.headers)
    assert renamed.status_code == 200, renamed.text
    assert (await client.get("/api/me", headers=staff.headers)).json()["name"] == "박직원"


async def test_the_command_lines_update_of_an_existing_account_ends_its_sessions(
    client: Client, db: Database, make_user: MakeUser
) -> None:
    """``seoulrun users create EMAIL --password ...`` on an existing account goes through
    ``AccountService.upsert`` (server/cli.py), which updates the account and so revokes its tokens."""
    staff = await make_user(role="staff")
    keeper = await make_user(role="staff")
    async with unit_of_work(db.engine) as session:
        _, created = await AccountService(session, db.settings, CatalogueDirectory(session)).upsert(
            staff.user.email.upper(), NEW_PASSWORD, "manager", []
        )
    assert created is False
    assert_problem(await client.get("/api/me", headers=staff.headers), 401, "unauthenticated")
    assert (await client.get("/api/me", headers=keeper.headers)).status_code == 200
    me = (await client.get("/api/me", headers=bearer(await _login(client, staff.user.email, NEW_PASSWORD)))).json()
    assert me["role"] == "manager"
    async with unit_of_work(db.engine) as session:
        assert await session.scalar(select(User.is_active).where(User.id == staff.id)) is True
