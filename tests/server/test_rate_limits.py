"""The abuse limits (core.ratelimit): the memory store and the limiter on their own, the client address
behind trusted proxies, and every limited way in through HTTP (429 rate_limited with Retry-After)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from core.clients import ClientAddresses
from core.errors import RateLimited
from core.ratelimit import Limiter, MemoryStore, RateLimit, Rule, address_identity, rules
from core.settings import Rate, Settings
from server.app import create_app
from tests.accounts.test_auth_http import assert_problem
from tests.conftest import PASSWORD, Database, MakeSpace, MakeUser, in_days
from tests.web.conftest import HTML, csrf_token

# --- the memory store and the limiter, with a clock of our own ---------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_memory_store_counts_in_fixed_windows_and_gives_back() -> None:
    clock = Clock()
    store = MemoryStore(clock)
    assert await store.hit("k", 60) == (1, 60.0)
    clock.now += 20
    assert await store.hit("k", 60) == (2, 40.0)
    assert await store.hit("other", 60) == (1, 60.0)  # keys count on their own
    await store.give_back("k")
    assert await store.hit("k", 60) == (2, 40.0)
    clock.now += 40  # the window has ended: a new one starts with this request
    assert await store.hit("k", 60) == (1, 60.0)
    clock.now += 61
    await store.give_back("k")  # nothing to give back in an ended window
    assert await store.hit("k", 60) == (1, 60.0)


async def test_memory_store_prunes_ended_windows() -> None:
    clock = Clock()
    store = MemoryStore(clock)
    for n in range(store.PRUNE_EVERY - 1):
        await store.hit(f"old-{n}", 10)
    clock.now += 11
    await store.hit("new", 10)  # the PRUNE_EVERY-th hit sweeps the ended windows
    assert set(store.windows) == {"new"}


def _limiter(store: Any, clock: Clock, *, address: Rate | None = None, account: Rate | None = None) -> Limiter:
    table = {limit: Rule(address or Rate(2, 60), account or Rate(3, 60)) for limit in RateLimit}
    return Limiter(table, store, ClientAddresses(), clock=clock)


SCOPE = {"type": "http", "client": ("203.0.113.7", 5000), "headers": []}


async def test_limiter_refuses_past_the_count_with_the_seconds_left() -> None:
    clock = Clock()
    limiter = _limiter(MemoryStore(clock), clock)
    await limiter.check_address(RateLimit.BOOKING, SCOPE)
    clock.now += 15.5
    await limiter.check_address(RateLimit.BOOKING, SCOPE)
    with pytest.raises(RateLimited) as refused:
        await limiter.check_address(RateLimit.BOOKING, SCOPE)
    assert refused.value.params["retry_after"] == 45  # ceil(44.5)
    assert refused.value.params["limit"] == "booking"
    # Another limit, another address and the account dimension each have their own counters.
    await limiter.check_address(RateLimit.SCAN, SCOPE)
    await limiter.check_address(RateLimit.BOOKING, {**SCOPE, "client": ("203.0.113.8", 1)})
    for _ in range(3):
        await limiter.check_account(RateLimit.BOOKING, "user:1")
    with pytest.raises(RateLimited):
        await limiter.check_account(RateLimit.BOOKING, "user:1")
    await limiter.give_back(RateLimit.BOOKING, "user:1")
    with pytest.raises(RateLimited):  # the refused one was counted too: give_back took one of four off
        await limiter.check_account(RateLimit.BOOKING, "user:1")
    clock.now += 60
    await limiter.check_address(RateLimit.BOOKING, SCOPE)  # a new window


async def test_a_count_of_zero_is_no_limit() -> None:
    clock = Clock()
    limiter = _limiter(MemoryStore(clock), clock, address=Rate(0, 60))
    for _ in range(100):
        await limiter.check_address(RateLimit.LOGIN, SCOPE)
    assert limiter.store.windows == {}  # type: ignore[attr-defined]


class BrokenStore:
    def __init__(self) -> None:
        self.calls = 0

    async def hit(self, key: str, seconds: int) -> tuple[int, float]:
        self.calls += 1
        raise ConnectionError("Redis is down")

    async def give_back(self, key: str) -> None:
        self.calls += 1
        raise ConnectionError("Redis is down")

    async def close(self) -> None:
        pass


async def test_a_failing_store_fails_open_warns_once_and_is_left_alone_a_while(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    store = BrokenStore()
    limiter = _limiter(store, clock, address=Rate(1, 60))
    with caplog.at_level(logging.WARNING, logger="core.ratelimit"):
        for _ in range(5):
            await limiter.check_address(RateLimit.BOOKING, SCOPE)  # never refused
        assert store.calls == 1  # asked once, then left alone for FAIL_OPEN_SECONDS
        clock.now += limiter.FAIL_OPEN_SECONDS + 0.1
        await limiter.check_address(RateLimit.BOOKING, SCOPE)
        assert store.calls == 2
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # at most one a minute
    assert "not enforced" in warnings[0].getMessage()
    assert limiter.failures == 2


@pytest.fixture
def warnings() -> Iterator[list[logging.LogRecord]]:
    """The warnings of core.ratelimit (a handler of its own: the app's logging setup replaces the root's)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("core.ratelimit")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


# --- the client address ----------------------------------------------------------------------------


def _scope(peer: str, *forwarded: str) -> dict[str, Any]:
    return {"client": (peer, 1234), "headers": [(b"x-forwarded-for", f.encode()) for f in forwarded]}


def test_x_forwarded_for_is_ignored_without_a_trusted_proxy() -> None:
    addresses = ClientAddresses()
    assert addresses.of(_scope("203.0.113.7", "198.51.100.1")) == "203.0.113.7"
    assert ClientAddresses(["10.0.0.0/8"]).of(_scope("203.0.113.7", "198.51.100.1")) == "203.0.113.7"


def test_a_trusted_proxy_names_the_client() -> None:
    addresses = ClientAddresses(["10.0.0.0/8", "127.0.0.1"])
    assert addresses.of(_scope("127.0.0.1", "198.51.100.1")) == "198.51.100.1"
    # A chain: read from the right past the trusted hops; what the client wrote on the left is ignored.
    assert addresses.of(_scope("10.1.2.3", "1.2.3.4, 198.51.100.1, 10.9.9.9")) == "198.51.100.1"
    assert addresses.of(_scope("10.1.2.3", "1.2.3.4", "198.51.100.1")) == "198.51.100.1"  # two headers
    assert addresses.of(_scope("10.1.2.3", "198.51.100.1:5555")) == "198.51.100.1"
    assert addresses.of(_scope("10.1.2.3", "[2001:db8::1]:443")) == "2001:db8::1"
    assert addresses.of(_scope("10.1.2.3", "10.0.0.2")) == "10.0.0.2"  # only proxies: the leftmost
    assert addresses.of(_scope("10.1.2.3", "not-an-address")) == "10.1.2.3"  # garbage: the proxy itself
    assert addresses.of(_scope("10.1.2.3")) == "10.1.2.3"  # no header
    assert addresses.of(_scope("::ffff:10.1.2.3", "198.51.100.1")) == "198.51.100.1"  # IPv4-mapped peer


def test_ipv6_clients_count_by_their_64() -> None:
    assert address_identity("2001:db8:1:2:aaaa::1") == address_identity("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert address_identity("2001:db8:1:3::1") != address_identity("2001:db8:1:2::1")
    assert address_identity("203.0.113.7") == "203.0.113.7"


def test_the_table_reads_the_settings() -> None:
    settings = Settings(secret_key="x", rate_limit_booking=Rate(7, 30), rate_limit_booking_account=Rate(3, 30))
    assert rules(settings)[RateLimit.BOOKING] == Rule(Rate(7, 30), Rate(3, 30))
    assert set(rules(settings)) == set(RateLimit)
    assert Rate.parse("20/60") == Rate(20, 60)
    assert Rate.parse("0") == Rate(0, 60)
    with pytest.raises(ValueError, match="COUNT/SECONDS"):
        Rate.parse("5/0")


def test_from_env_reads_the_limits_and_the_older_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEOULRUN_SECRET_KEY", "x")
    monkeypatch.setenv("SEOULRUN_AUTH_RATE_PER_MINUTE", "7")
    monkeypatch.setenv("SEOULRUN_RATE_LIMIT_SCAN_ACCOUNT", "5/10")
    monkeypatch.setenv("SEOULRUN_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1")
    monkeypatch.setenv("SEOULRUN_REDIS_URL", "redis://127.0.0.1:6379/3")
    settings = Settings.from_env()
    assert settings.rate_limit_login == settings.rate_limit_register == Rate(7, 60)
    assert settings.rate_limit_scan_account == Rate(5, 10)
    assert settings.trusted_proxies == ("10.0.0.0/8", "127.0.0.1")
    assert settings.redis_url == "redis://127.0.0.1:6379/3"
    monkeypatch.setenv("SEOULRUN_RATE_LIMIT_LOGIN", "3/30")
    assert Settings.from_env().rate_limit_login == Rate(3, 30)


# --- through HTTP ----------------------------------------------------------------------------------


def limited(settings: Settings, **rates: Rate) -> Settings:
    return replace(settings, **rates)


Start = Callable[[Litestar], Awaitable[httpx.AsyncClient]]


def from_address(app: Litestar, address: str) -> httpx.AsyncClient:
    """Requests to an app whose lifespan runs, from the peer ``address`` (on this test's event loop)."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def started() -> AsyncIterator[Start]:
    """Start an app (its lifespan, through the test client) and return a client from 192.0.2.10.

    Every request of these tests goes through ``httpx.ASGITransport`` on the test's loop: a write from
    Litestar's test client (which serves from a loop of its own) after one from here finds SQLite locked.
    """
    opened: list[Any] = []

    async def start(app: Litestar) -> httpx.AsyncClient:
        lifespan = AsyncTestClient(app=app)
        await lifespan.__aenter__()
        client = from_address(app, "192.0.2.10")
        opened.extend([lifespan, client])
        return client

    yield start
    for item in reversed(opened):
        await item.__aexit__(None, None, None)


def assert_limited(response: httpx.Response, limit: str, window: int = 60) -> None:
    problem = assert_problem(response, 429, "rate_limited")
    assert 1 <= int(response.headers["retry-after"]) <= window
    assert problem["limit"] == limit
    assert problem["seconds"] == int(response.headers["retry-after"])
    assert "초 후 다시 시도해 주세요" in problem["detail"]  # Korean by default


@dataclass
class Way:
    name: str
    limit: str
    setting: str
    call: Callable[[httpx.AsyncClient, dict[str, Any]], Awaitable[httpx.Response]]
    who: str | None = None  # the account that makes the request


async def _web_post(client: httpx.AsyncClient, path: str, data: dict[str, Any]) -> httpx.Response:
    token = await csrf_token(client, path)
    return await client.post(path, data={**data, "_csrf_token": token}, headers=HTML, follow_redirects=False)


WAYS = [
    Way("api login", "login", "rate_limit_login",
        lambda c, h: c.post("/api/auth/login", json={"email": "nobody@example.com", "password": "wrong-4050-pw"})),
    Way("web login", "login", "rate_limit_login",
        lambda c, h: _web_post(c, "/login", {"email": "nobody@example.com", "password": "wrong-4050-pw"})),
    Way("api register", "register", "rate_limit_register",
        lambda c, h: c.post("/api/auth/register", json={"email": "x"})),
    Way("web signup", "register", "rate_limit_register", lambda c, h: _web_post(c, "/signup", {"email": "x"})),
    Way("booking", "booking", "rate_limit_booking",
        lambda c, h: c.post("/api/bookings", json={"slot_id": 999_999, "party_size": 1}, headers=h), "citizen"),
    Way("accept offer", "booking", "rate_limit_booking",
        lambda c, h: c.post("/api/bookings/999999/accept", headers=h), "citizen"),
    Way("enrolment", "booking", "rate_limit_booking",
        lambda c, h: c.post("/api/programs/999999/enrol", json={"party_size": 1}, headers=h), "citizen"),
    Way("lottery application", "booking", "rate_limit_booking",
        lambda c, h: c.post("/api/programs/999999/applications", json={"party_size": 1}, headers=h), "citizen"),
    Way("scan", "scan", "rate_limit_scan",
        lambda c, h: c.post("/api/checkin/scan", json={"venue_id": 999_999, "payload": "garbage"}, headers=h),
        "staff"),
    Way("offline sync", "scan", "rate_limit_scan",
        lambda c, h: c.post("/api/checkin/sync", json={"venue_id": 999_999, "device_id": "door-1", "scans": []},
                            headers=h), "staff"),
    Way("feed", "feed", "rate_limit_feed", lambda c, h: c.get("/ical/no-such-feed.ics")),
    Way("feed head", "feed", "rate_limit_feed", lambda c, h: c.head("/ical/no-such-feed.ics")),
]  # fmt: skip


@pytest.mark.parametrize("way", WAYS, ids=[w.name for w in WAYS])
async def test_each_limited_way_in_answers_429_past_its_limit_per_address(
    db: Database, make_user: MakeUser, started: Start, way: Way
) -> None:
    app = create_app(limited(db.settings, **{way.setting: Rate(3, 60)}), engine=db.engine)
    client = await started(app)
    headers = (await make_user(role=way.who)).headers if way.who else {}
    for _ in range(3):
        answer = await way.call(client, headers)
        assert answer.status_code != 429, answer.text
    refused = await way.call(client, headers)
    if way.name == "feed head":
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
    elif way.name.startswith("web"):
        assert refused.status_code == 429
        assert "text/html" in refused.headers["content-type"]
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert "요청이 너무 많습니다" in refused.text
    else:
        assert_limited(refused, way.limit)
    # In English too, from the catalogue.
    if way.name == "booking":
        english = await way.call(client, {**headers, "Accept-Language": "en"})
        assert assert_problem(english, 429, "rate_limited")["title"] == "Too many requests"


async def test_limits_apply_only_to_their_routes(db: Database, make_user: MakeUser, started: Start) -> None:
    tight = Rate(1, 60)
    settings = limited(db.settings, rate_limit_booking=tight, rate_limit_booking_account=tight, rate_limit_scan=tight)
    client = await started(create_app(settings, engine=db.engine))
    citizen = await make_user()
    for _ in range(5):  # reading is not limited, nor cancelling
        assert (await client.get("/api/me/bookings", headers=citizen.headers)).status_code == 200
        assert (await client.post("/api/bookings/999999/cancel", headers=citizen.headers)).status_code == 404
        assert (await client.get("/api/venues")).status_code == 200


async def test_bookings_count_per_account(db: Database, make_user: MakeUser, started: Start) -> None:
    settings = limited(db.settings, rate_limit_booking=Rate(100, 60), rate_limit_booking_account=Rate(2, 60))
    app = create_app(settings, engine=db.engine)
    client = await started(app)
    first, second = await make_user(), await make_user()
    body = {"slot_id": 999_999, "party_size": 1}
    for _ in range(2):
        assert (await client.post("/api/bookings", json=body, headers=first.headers)).status_code == 404
    assert_limited(await client.post("/api/bookings", json=body, headers=first.headers), "booking")
    # From another address the same account is still over its limit; another account is not.
    async with from_address(app, "198.51.100.20") as elsewhere:
        assert_limited(await elsewhere.post("/api/programs/1/enrol", json={}, headers=first.headers), "booking")
    assert (await client.post("/api/bookings", json=body, headers=second.headers)).status_code == 404
    # A second token of the same account is the same account.
    token = (await client.post("/api/auth/login", json={"email": first.user.email, "password": PASSWORD})).json()
    again = {"Authorization": f"Bearer {token['access_token']}"}
    assert_limited(await client.post("/api/bookings", json=body, headers=again), "booking")


async def test_scans_count_per_staff_account(db: Database, make_user: MakeUser, started: Start) -> None:
    settings = limited(db.settings, rate_limit_scan_account=Rate(2, 60))
    client = await started(create_app(settings, engine=db.engine))
    staff, other = await make_user(role="staff"), await make_user(role="staff")
    scan = {"venue_id": 999_999, "payload": "garbage"}
    for _ in range(2):
        assert (await client.post("/api/checkin/scan", json=scan, headers=staff.headers)).status_code != 429
    assert_limited(await client.post("/api/checkin/scan", json=scan, headers=staff.headers), "scan")
    assert (await client.post("/api/checkin/scan", json=scan, headers=other.headers)).status_code != 429


async def test_feeds_count_per_feed_url(db: Database, started: Start) -> None:
    settings = limited(db.settings, rate_limit_feed=Rate(100, 60), rate_limit_feed_account=Rate(2, 60))
    client = await started(create_app(settings, engine=db.engine))
    for _ in range(2):
        assert (await client.get("/ical/one.ics")).status_code == 404
    assert_limited(await client.get("/ical/one.ics"), "feed")
    assert (await client.get("/ical/two.ics")).status_code == 404


async def test_failed_logins_count_per_email_from_any_address(
    db: Database, make_user: MakeUser, started: Start
) -> None:
    settings = limited(db.settings, rate_limit_login=Rate(100, 60), rate_limit_login_account=Rate(3, 900))
    app = create_app(settings, engine=db.engine)
    await started(app)
    target, bystander = await make_user(), await make_user()
    for n in range(3):  # three guesses, each from another address
        async with from_address(app, f"198.51.100.{n + 1}") as guesser:
            wrong = {"email": target.user.email.upper(), "password": f"guess-{n}-4050"}
            assert (await guesser.post("/api/auth/login", json=wrong)).status_code == 401
    async with from_address(app, "203.0.113.99") as owner:
        # Now even the right password waits: it is not tried, so a guess cannot be confirmed either.
        right = {"email": target.user.email, "password": PASSWORD}
        refused = await owner.post("/api/auth/login", json=right)
        assert_limited(refused, "login", window=900)
        assert int(refused.headers["retry-after"]) > 60
        # Another email is not affected, and its successful logins use up nothing.
        for _ in range(5):
            ok = await owner.post("/api/auth/login", json={"email": bystander.user.email, "password": PASSWORD})
            assert ok.status_code == 200, ok.text


async def test_web_and_api_logins_share_the_count_per_email(db: Database, make_user: MakeUser, started: Start) -> None:
    settings = limited(db.settings, rate_limit_login=Rate(100, 60), rate_limit_login_account=Rate(2, 900))
    client = await started(create_app(settings, engine=db.engine))
    user = await make_user()
    assert (await client.post("/api/auth/login", json={"email": user.user.email, "password": "x"})).status_code == 401
    wrong = await _web_post(client, "/login", {"email": user.user.email, "password": "wrong-password-1"})
    assert wrong.status_code == 422
    refused = await _web_post(client, "/login", {"email": user.user.email, "password": PASSWORD})
    assert refused.status_code == 429
    assert "text/html" in refused.headers["content-type"]


async def test_spoofed_x_forwarded_for_is_ignored_without_trusted_proxies(db: Database, started: Start) -> None:
    app = create_app(limited(db.settings, rate_limit_feed=Rate(2, 60)), engine=db.engine)
    await started(app)
    async with from_address(app, "127.0.0.1") as client:
        for n in range(2):
            answer = await client.get(f"/ical/f{n}.ics", headers={"X-Forwarded-For": f"198.51.100.{n}"})
            assert answer.status_code == 404
        assert_limited(await client.get("/ical/f9.ics", headers={"X-Forwarded-For": "198.51.100.77"}), "feed")


async def test_behind_a_trusted_proxy_each_forwarded_client_counts_on_its_own(db: Database, started: Start) -> None:
    settings = limited(db.settings, rate_limit_feed=Rate(2, 60), trusted_proxies=("127.0.0.0/8",))
    app = create_app(settings, engine=db.engine)
    await started(app)
    async with from_address(app, "127.0.0.1") as proxy, from_address(app, "203.0.113.5") as direct:
        for n in range(6):  # three clients, two each: none over the limit
            client = f"198.51.100.{n % 3}"
            answer = await proxy.get(f"/ical/f{n}.ics", headers={"X-Forwarded-For": f"6.6.6.6, {client}"})
            assert answer.status_code == 404, answer.text
        assert_limited(await proxy.get("/ical/x.ics", headers={"X-Forwarded-For": "198.51.100.0"}), "feed")
        # A peer that is not a trusted proxy cannot pass for someone else.
        for _ in range(2):
            assert (await direct.get("/ical/y.ics", headers={"X-Forwarded-For": "198.51.100.50"})).status_code == 404
        assert_limited(await direct.get("/ical/y.ics", headers={"X-Forwarded-For": "198.51.100.51"}), "feed")


async def test_redis_configured_but_down_lets_bookings_through(
    db: Database, make_user: MakeUser, started: Start, warnings: list[logging.LogRecord]
) -> None:
    # Nothing listens on port 1: every call to the store fails at once.
    settings = limited(db.settings, redis_url="redis://127.0.0.1:1/0", rate_limit_booking_account=Rate(1, 60))
    client = await started(create_app(settings, engine=db.engine))
    citizen = await make_user()
    for _ in range(4):
        answer = await client.post("/api/bookings", json={"slot_id": 999_999}, headers=citizen.headers)
        assert answer.status_code == 404, answer.text
    assert [r.getMessage() for r in warnings if "not enforced" in r.getMessage()]


async def test_a_real_booking_is_limited_like_any_other(
    db: Database, make_user: MakeUser, make_space: MakeSpace, make_slot: Any, started: Start
) -> None:
    settings = limited(db.settings, rate_limit_booking_account=Rate(1, 60))
    client = await started(create_app(settings, engine=db.engine))
    citizen = await make_user()
    space = await make_space()
    first, second = await make_slot(space, in_days(2)), await make_slot(space, in_days(3))
    booked = await client.post("/api/bookings", json={"slot_id": first.id, "party_size": 1}, headers=citizen.headers)
    assert booked.status_code == 201, booked.text
    refused = await client.post("/api/bookings", json={"slot_id": second.id}, headers=citizen.headers)
    assert_limited(refused, "booking")
    mine = await client.get("/api/me/bookings", headers=citizen.headers)
    assert [b["id"] for b in mine.json()["items"]] == [booked.json()["id"]]  # nothing was booked by it


def test_a_request_address_is_worked_out_again_for_another_peer_headers_or_proxies() -> None:
    """The address is kept in the request's scope once worked out; a copy of the scope with another
    peer or other headers, or a reader trusting other proxies, does not get the kept one."""
    scope = _scope("10.1.2.3", "198.51.100.1")
    assert ClientAddresses().of(scope) == "10.1.2.3"
    assert ClientAddresses(["10.0.0.0/8"]).of(scope) == "198.51.100.1"
    assert ClientAddresses(["10.0.0.0/8"]).of({**scope, "client": ("10.9.9.9", 1)}) == "198.51.100.1"
    assert ClientAddresses(["10.0.0.0/8"]).of({**scope, "client": ("203.0.113.9", 1)}) == "203.0.113.9"
    other = {**scope, "headers": [(b"x-forwarded-for", b"198.51.100.2")]}
    assert ClientAddresses(["10.0.0.0/8"]).of(other) == "198.51.100.2"
    assert ClientAddresses().of(scope) == "10.1.2.3"
