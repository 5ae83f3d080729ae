"""Settings read from ``SEOULRUN_*`` environment variables, with defaults good for a laptop."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

PROJECT_ROOT: Final = Path(__file__).resolve().parent.parent
DEFAULT_SQLITE_PATH: Final = PROJECT_ROOT / "var" / "seoulrun.sqlite3"
# The key of the app's ``Settings`` in its state (``server.app``), for code that reads them from a request.
SETTINGS_STATE: Final = "settings"


def _env(name: str, default: str) -> str:
    return os.environ.get(f"SEOULRUN_{name}", default)


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(f"SEOULRUN_{name}")
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _periods(raw: str) -> tuple[tuple[str, int], ...]:
    """``"deliver-notifications=5,*=60"``: a job's period in seconds (``*``: every job without its own)."""
    pairs = []
    for item in raw.split(","):
        if not item.strip():
            continue
        name, sep, seconds = item.partition("=")
        if not sep or not seconds.strip().isdigit() or int(seconds) < 1:
            raise ValueError(f"SEOULRUN_SCHEDULER_PERIODS: {item.strip()!r} is not JOB=SECONDS")
        pairs.append((name.strip(), int(seconds)))
    return tuple(pairs)


def _log_format(raw: str) -> str:
    value = raw.strip().lower() or "json"
    if value not in {"json", "text"}:
        raise ValueError(f"SEOULRUN_LOG_FORMAT must be json or text, not {raw!r}")
    return value


@dataclass(frozen=True, slots=True)
class Rate:
    """At most ``count`` requests in ``seconds``; ``count`` 0 is no limit. Written ``"20/60"``."""

    count: int
    seconds: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        count, _, seconds = text.strip().partition("/")
        rate = cls(int(count), int(seconds or "60"))
        if rate.count < 0 or rate.seconds < 1:
            raise ValueError(f"a rate is COUNT/SECONDS with COUNT >= 0 and SECONDS >= 1, not {text!r}")
        return rate

    def __str__(self) -> str:
        return f"{self.count}/{self.seconds}"


def _env_rate(name: str, default: str) -> Rate:
    return Rate.parse(_env(name, "") or default)


def _default_secret() -> str:
    # A development fallback: a random key per process would log everyone out on every restart
    # (and differ between workers), so keep one beside the SQLite database instead.
    path = PROJECT_ROOT / "var" / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
        return key


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = field(default_factory=lambda: f"sqlite+aiosqlite:///{DEFAULT_SQLITE_PATH}")
    secret_key: str = ""
    # Secrets used before this one, newest first: what they sealed (the QR signing key) is opened with
    # them once and sealed again under ``secret_key``, so the secret can change without a new key.
    secret_key_previous: tuple[str, ...] = ()
    base_url: str = "http://127.0.0.1:8000"
    debug: bool = False
    scheduler_enabled: bool = True
    token_ttl_hours: int = 24 * 14
    # Connections per process, all kept open (core.database.create_engine); the most it ever holds.
    db_pool_size: int = 20
    db_lock_timeout_ms: int = 5000
    # How long a request waits for a pooled connection (PostgreSQL) before answering 503.
    db_pool_timeout_s: float = 10.0
    # argon2 cost: the defaults of argon2-cffi (RFC 9106 low-memory profile); tests lower them.
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    max_body_bytes: int = 1024 * 1024
    # Abuse limits (core.ratelimit, one table there): per client address, and per account where there
    # is one. Logins count per address and, failed ones, per target email (guessing from many addresses).
    rate_limit_login: Rate = Rate(20, 60)
    rate_limit_login_account: Rate = Rate(30, 900)
    rate_limit_register: Rate = Rate(20, 60)
    # Bookings, enrolments, lottery applications and accepted offers. Per address generously: a mobile
    # carrier puts many citizens behind one address (carrier-grade NAT).
    rate_limit_booking: Rate = Rate(600, 60)
    rate_limit_booking_account: Rate = Rate(30, 60)
    # Check-in scans and offline syncs: a busy door scans a person every second or two.
    rate_limit_scan: Rate = Rate(1200, 60)
    rate_limit_scan_account: Rate = Rate(600, 60)
    # Calendar feeds, per address (a calendar service fetches many people's feeds from few addresses)
    # and per feed url.
    rate_limit_feed: Rate = Rate(600, 60)
    rate_limit_feed_account: Rate = Rate(60, 60)
    # Where the counters are kept: Redis (shared by every process and server) or, empty, in memory.
    redis_url: str = ""
    redis_key_prefix: str = "seoulrun:"
    # Proxies whose X-Forwarded-For names the client (addresses or CIDR networks); none by default.
    trusted_proxies: tuple[str, ...] = ()
    # How long ``seoulrun serve`` lets the requests in flight finish after SIGTERM.
    shutdown_timeout_seconds: int = 30
    # How old a scan made offline may be when it is synced (older ones are refused as stale).
    offline_sync_max_hours: int = 48
    # Outgoing mail: SMTP through aiosmtplib. Without a host, e-mails are written to the log instead.
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = "서울런 4050 <no-reply@seoulrun4050.example>"
    smtp_starttls: bool = True
    # Below the outbox lease (notifications.delivery.LEASE), so that a live worker always finishes.
    smtp_timeout_seconds: float = 20.0
    # SMS/KakaoTalk: "log" (development), or "package.module:factory" for a city's gateway
    # (notifications.channels.SmsGateway).
    sms_gateway: str = "log"
    # Delivery of the outbox: tries per message before it is marked failed, and the first wait between
    # tries (doubled after each failure, at most an hour).
    notify_max_attempts: int = 8
    notify_backoff_seconds: int = 30
    # Many processes, one scheduler: the process holding the lease row runs the jobs. It renews the
    # lease every ``scheduler_renew_seconds``; a leader that stops renewing is replaced once its lease
    # of ``scheduler_lease_seconds`` has run out (server/lease.py).
    scheduler_lease_seconds: float = 30.0
    scheduler_renew_seconds: float = 10.0
    # Periods in seconds that replace the jobs' own ("deliver-notifications=5", "*=2" for all): tests
    # and drills run the jobs every few seconds.
    scheduler_periods: tuple[tuple[str, int], ...] = ()
    # Logs: "json" (one JSON object a line, for a log collector) or "text" (readable, for `make run`).
    log_format: str = "json"
    # A bearer token that may read /metrics (Prometheus); without it only an admin's token may.
    metrics_token: str = ""

    @classmethod
    def from_env(cls) -> Settings:
        database_url = _env("DATABASE_URL", "") or f"sqlite+aiosqlite:///{DEFAULT_SQLITE_PATH}"
        # The older name of the login and registration limit per address and minute, still honoured.
        auth_rate = f"{_env('AUTH_RATE_PER_MINUTE', '20')}/60"
        return cls(
            database_url=database_url,
            secret_key=_env("SECRET_KEY", "") or _default_secret(),
            secret_key_previous=tuple(s.strip() for s in _env("SECRET_KEY_PREVIOUS", "").split(",") if s.strip()),
            base_url=_env("BASE_URL", "http://127.0.0.1:8000").rstrip("/"),
            debug=_env_bool("DEBUG", False),
            scheduler_enabled=_env_bool("SCHEDULER", True),
            token_ttl_hours=int(_env("TOKEN_TTL_HOURS", str(24 * 14))),
            db_pool_size=int(_env("DB_POOL_SIZE", "20")),
            db_lock_timeout_ms=int(_env("DB_LOCK_TIMEOUT_MS", "5000")),
            db_pool_timeout_s=float(_env("DB_POOL_TIMEOUT_S", "10")),
            argon2_time_cost=int(_env("ARGON2_TIME_COST", "3")),
            argon2_memory_kib=int(_env("ARGON2_MEMORY_KIB", "65536")),
            rate_limit_login=_env_rate("RATE_LIMIT_LOGIN", auth_rate),
            rate_limit_login_account=_env_rate("RATE_LIMIT_LOGIN_ACCOUNT", "30/900"),
            rate_limit_register=_env_rate("RATE_LIMIT_REGISTER", auth_rate),
            rate_limit_booking=_env_rate("RATE_LIMIT_BOOKING", "600/60"),
            rate_limit_booking_account=_env_rate("RATE_LIMIT_BOOKING_ACCOUNT", "30/60"),
            rate_limit_scan=_env_rate("RATE_LIMIT_SCAN", "1200/60"),
            rate_limit_scan_account=_env_rate("RATE_LIMIT_SCAN_ACCOUNT", "600/60"),
            rate_limit_feed=_env_rate("RATE_LIMIT_FEED", "600/60"),
            rate_limit_feed_account=_env_rate("RATE_LIMIT_FEED_ACCOUNT", "60/60"),
            redis_url=_env("REDIS_URL", ""),
            redis_key_prefix=_env("REDIS_KEY_PREFIX", "seoulrun:"),
            trusted_proxies=tuple(p.strip() for p in _env("TRUSTED_PROXIES", "").split(",") if p.strip()),
            shutdown_timeout_seconds=int(_env("SHUTDOWN_TIMEOUT_SECONDS", "30")),
            offline_sync_max_hours=int(_env("OFFLINE_SYNC_MAX_HOURS", "48")),
            smtp_host=_env("SMTP_HOST", ""),
            smtp_port=int(_env("SMTP_PORT", "587")),
            smtp_user=_env("SMTP_USER", ""),
            smtp_password=_env("SMTP_PASSWORD", ""),
            smtp_from=_env("SMTP_FROM", "") or "서울런 4050 <no-reply@seoulrun4050.example>",
            smtp_starttls=_env_bool("SMTP_STARTTLS", True),
            smtp_timeout_seconds=float(_env("SMTP_TIMEOUT_SECONDS", "20")),
            sms_gateway=_env("SMS_GATEWAY", "log") or "log",
            notify_max_attempts=int(_env("NOTIFY_MAX_ATTEMPTS", "8")),
            notify_backoff_seconds=int(_env("NOTIFY_BACKOFF_SECONDS", "30")),
            scheduler_lease_seconds=float(_env("SCHEDULER_LEASE_SECONDS", "30")),
            scheduler_renew_seconds=float(_env("SCHEDULER_RENEW_SECONDS", "10")),
            scheduler_periods=_periods(_env("SCHEDULER_PERIODS", "")),
            log_format=_log_format(_env("LOG_FORMAT", "json")),
            metrics_token=_env("METRICS_TOKEN", ""),
        )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
