"""Registration, login and tokens through the public HTTP API."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import PASSWORD, MakeUser

Client = AsyncTestClient[Litestar]


def registration(**overrides: Any) -> dict[str, Any]:
    body = {
        "email": "kim.jungnyeon@example.com",
        "password": "seoul-run-4050!",
        "name": "김중년",
        "birth_year": 1972,
    }
    body.update(overrides)
    return body


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    return body


async def test_citizen_registers_logs_in_and_reads_own_account(client: Client) -> None:
    response = await client.post("/api/auth/register", json=registration(phone="010-1234-5678"))
    assert response.status_code == 201, response.text
    account = response.json()
    assert account["email"] == "kim.jungnyeon@example.com"
    assert account["role"] == "citizen"
    assert account["name"] == "김중년"
    assert "password" not in response.text
    assert "argon2" not in response.text

    login = await client.post(
        "/api/auth/login", json={"email": "Kim.Jungnyeon@Example.com", "password": "seoul-run-4050!"}
    )
    assert login.status_code == 200, login.text
    token = login.json()
    assert token["token_type"] == "bearer"
    assert token["expires_at"].endswith("+09:00")

    me = await client.get("/api/me", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert me.status_code == 200
    assert me.json()["id"] == account["id"]
    assert me.json()["birth_year"] == 1972


async def test_duplicate_email_is_a_conflict_whatever_its_case(client: Client) -> None:
    assert (await client.post("/api/auth/register", json=registration())).status_code == 201
    again = await client.post("/api/auth/register", json=registration(email="KIM.JUNGNYEON@example.com", name="김다른"))
    assert_problem(again, 409, "conflict")


@pytest.mark.parametrize(
    "password",
    [
        "short-1",  # too short
        "onlyletterspassword",  # one class of characters
        "12345678901234",  # digits only
        "password123",  # common
        "kim.jungnyeon-2024",  # contains the email's local part
    ],
)
async def test_weak_passwords_are_refused_with_a_field_error(client: Client, password: str) -> None:
    response = await client.post("/api/auth/register", json=registration(password=password))
    body = assert_problem(response, 400, "validation_error")
    assert body["errors"][0]["field"] == "password"
    # Nothing was created: the same email can still register with a good password.
    assert (await client.post("/api/auth/register", json=registration())).status_code == 201


async def test_wrong_password_and_unknown_email_get_the_same_401(client: Client, make_user: MakeUser) -> None:
    account = await make_user(email="park@example.com")
    wrong = await client.post("/api/auth/login", json={"email": "park@example.com", "password": "not-the-password-1"})
    unknown = await client.post("/api/auth/login", json={"email": "nobody@example.com", "password": PASSWORD})
    assert_problem(wrong, 401, "unauthenticated")
    assert_problem(unknown, 401, "unauthenticated")
    assert wrong.json()["detail"] == unknown.json()["detail"]
    ok = await client.post("/api/auth/login", json={"email": "park@example.com", "password": PASSWORD})
    assert ok.status_code == 200
    assert (
        account.id
        == (await client.get("/api/me", headers={"Authorization": f"Bearer {ok.json()['access_token']}"})).json()["id"]
    )


async def test_inactive_account_cannot_log_in(client: Client, make_user: MakeUser) -> None:
    await make_user(email="gone@example.com", is_active=False)
    response = await client.post("/api/auth/login", json={"email": "gone@example.com", "password": PASSWORD})
    assert_problem(response, 401, "unauthenticated")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer "},
    ],
)
async def test_me_without_a_valid_token_is_401(client: Client, headers: dict[str, str]) -> None:
    assert_problem(await client.get("/api/me", headers=headers), 401, "unauthenticated")


async def test_logout_revokes_the_token(client: Client, make_user: MakeUser) -> None:
    account = await make_user()
    assert (await client.get("/api/me", headers=account.headers)).status_code == 200
    assert (await client.post("/api/auth/logout", headers=account.headers)).status_code == 204
    assert_problem(await client.get("/api/me", headers=account.headers), 401, "unauthenticated")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": "seoul-run-4050!", "name": "김", "birth_year": 1970}, "email"),
        (registration(email="not-an-email"), "email"),
        (registration(birth_year=1850), "birth_year"),
        (registration(birth_year="1970년"), "birth_year"),
        (registration(name=""), "name"),
        (registration(phone="call me"), "phone"),
        (registration(role="admin"), "role"),  # citizens cannot pick their role
    ],
)
async def test_malformed_registration_names_the_field(client: Client, body: dict[str, Any], field: str) -> None:
    response = await client.post("/api/auth/register", json=body)
    problem = assert_problem(response, 400, "validation_error")
    assert any(field in error["field"] or field in error["message"] for error in problem["errors"]), problem


async def test_birth_year_in_the_future_is_refused(client: Client) -> None:
    response = await client.post("/api/auth/register", json=registration(birth_year=2090))
    assert_problem(response, 400, "validation_error")


async def test_admin_creates_staff_assigned_to_a_venue(client: Client, make_user: MakeUser, make_venue: Any) -> None:
    admin = await make_user(role="admin")
    venue = await make_venue()
    body = {
        "email": "staff@example.com",
        "password": "door-scanner-77",
        "name": "이직원",
        "role": "staff",
        "venue_ids": [venue.id],
    }
    created = await client.post("/api/users", json=body, headers=admin.headers)
    assert created.status_code == 201, created.text
    assert created.json()["venue_ids"] == [venue.id]

    citizen = await make_user()
    assert_problem(await client.post("/api/users", json=body, headers=citizen.headers), 403, "forbidden")
    bad_venue = {**body, "email": "x@example.com", "venue_ids": [999999]}
    assert_problem(await client.post("/api/users", json=bad_venue, headers=admin.headers), 400, "validation_error")
    citizen_with_venue = {**body, "email": "y@example.com", "role": "citizen"}
    assert_problem(
        await client.post("/api/users", json=citizen_with_venue, headers=admin.headers),
        400,
        "validation_error",
    )

    listed = await client.get("/api/users", params={"role": "staff"}, headers=admin.headers)
    assert listed.status_code == 200
    assert [u["email"] for u in listed.json()["items"]] == ["staff@example.com"]


async def test_password_guessing_is_rate_limited(client: Client, make_user: MakeUser) -> None:
    await make_user(email="target@example.com")
    answers = [
        await client.post("/api/auth/login", json={"email": "target@example.com", "password": f"guess-{n}-4050"})
        for n in range(21)
    ]
    assert {a.status_code for a in answers[:20]} == {401}
    problem = assert_problem(answers[20], 429, "rate_limited")
    assert int(answers[20].headers["retry-after"]) > 0
    assert problem["detail"]
