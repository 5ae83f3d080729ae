"""The server's QR signing keys: made once, kept in the database (private half encrypted), rotated by
key id. Keys are cached per process; a code naming a key id the cache does not know reloads it once.

The private half is sealed (AES-GCM) under a key derived from ``SEOULRUN_SECRET_KEY``. When that secret
changes, the signing key no longer opens: it is opened with the secrets of ``SEOULRUN_SECRET_KEY_PREVIOUS``
and sealed again under the current one (the same key signs on, nothing else changes), or, when none of
them opens it, retired like a rotated key (its public half verifies the codes it signed until
``RETIRED_KEY_GRACE``) and replaced by a new signing key, with a warning in the log. Every process of a
deployment must run with the same secret: one still on the old secret would take the key back.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Engine, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from checkin.models import CheckinKey
from core.clock import utcnow

log = logging.getLogger(__name__)

# How long codes signed by a retired key stay valid: longer than any booking window ahead.
RETIRED_KEY_GRACE = timedelta(days=60)
CACHE_SECONDS = 60.0


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _wrapping_key(secret_key: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"seoulrun checkin signing key").derive(
        secret_key.encode()
    )


def _seal(private_key: Ed25519PrivateKey, secret_key: str) -> str:
    raw = private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    nonce = os.urandom(12)
    return _b64(nonce + AESGCM(_wrapping_key(secret_key)).encrypt(nonce, raw, b"checkin_key"))


def _open(sealed: str, secret_key: str) -> Ed25519PrivateKey:
    data = _unb64(sealed)
    raw = AESGCM(_wrapping_key(secret_key)).decrypt(data[:12], data[12:], b"checkin_key")
    return Ed25519PrivateKey.from_private_bytes(raw)


def _try_open(sealed: str, secret_key: str) -> Ed25519PrivateKey | None:
    """The private key, or None when ``secret_key`` did not seal it (AES-GCM refuses the tag)."""
    try:
        return _open(sealed, secret_key)
    except (InvalidTag, ValueError):
        return None


def public_key_text(key: Ed25519PublicKey) -> str:
    return _b64(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


@dataclass
class KeyRing:
    signing_id: int
    signing: Ed25519PrivateKey
    public: dict[int, Ed25519PublicKey]
    expires: dict[int, datetime | None]
    loaded_at: float


# Per engine (so per database), per secret: each test database, and each server process, has its own.
_cache: weakref.WeakKeyDictionary[Engine, dict[str, KeyRing]] = weakref.WeakKeyDictionary()


def _rings(session: AsyncSession) -> dict[str, KeyRing]:
    return _cache.setdefault(_engine(session), {})


def _cache_key(secret_key: str) -> str:
    return hashlib.sha256(secret_key.encode()).hexdigest()


# The previous secrets of each database's app (``SEOULRUN_SECRET_KEY_PREVIOUS``), by current secret: the
# app factory tells us, since the check-in service hands us only the current secret.
_previous: weakref.WeakKeyDictionary[Engine, dict[str, tuple[str, ...]]] = weakref.WeakKeyDictionary()


def remember_previous_secrets(engine: AsyncEngine | Engine, secret_key: str, previous: Sequence[str]) -> None:
    sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
    _previous.setdefault(sync_engine, {})[_cache_key(secret_key)] = tuple(p for p in previous if p != secret_key)


def _engine(session: AsyncSession) -> Engine:
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def _new_key(session: AsyncSession, secret_key: str) -> CheckinKey:
    private = Ed25519PrivateKey.generate()
    key = CheckinKey(public_key=public_key_text(private.public_key()), private_key=_seal(private, secret_key))
    session.add(key)
    return key


async def _active(session: AsyncSession, *, lock: bool = False, fresh: bool = False) -> list[CheckinKey]:
    query = select(CheckinKey).where(CheckinKey.retired_at.is_(None)).order_by(CheckinKey.id)
    if lock:
        # Two processes finding the key sealed under another secret: one replaces it, the other waits
        # here and then finds the replacement (PostgreSQL; SQLite has one writer at a time anyway).
        query = query.with_for_update()
    if lock or fresh:
        query = query.execution_options(populate_existing=True)
    return list((await session.scalars(query)).all())


async def _unseal(
    session: AsyncSession, row: CheckinKey, secret_key: str, previous: Sequence[str], now: datetime
) -> tuple[CheckinKey, Ed25519PrivateKey]:
    """The signing key sealed under a secret other than the current one: sealed again if a previous
    secret opens it, else retired and replaced."""
    for old in previous:
        private = _try_open(row.private_key, old)
        if private is None:
            continue
        # Another process may be sealing it again at the same time: either sealing opens.
        row.private_key = _seal(private, secret_key)
        await session.flush()
        log.info("check-in signing key %s sealed again under the current SEOULRUN_SECRET_KEY", row.id)
        return row, private
    await _active(session, lock=True)
    # Read again after the lock: a statement's snapshot on PostgreSQL predates what it waited for.
    active = await _active(session, fresh=True)
    if active and (private := _try_open(active[-1].private_key, secret_key)) is not None:
        return active[-1], private  # another process replaced or re-sealed it meanwhile
    for key in active:
        key.retired_at = now
        key.expires_at = now + RETIRED_KEY_GRACE
    replacement = _new_key(session, secret_key)
    await session.flush()
    log.warning(
        "check-in signing key %s was sealed under another SEOULRUN_SECRET_KEY and none of "
        "SEOULRUN_SECRET_KEY_PREVIOUS opens it: retired it (the codes it signed stay valid until %s) and "
        "started signing key %s",
        row.id,
        (now + RETIRED_KEY_GRACE).date().isoformat(),
        replacement.id,
    )
    return replacement, _open(replacement.private_key, secret_key)


async def _load(session: AsyncSession, secret_key: str, now: datetime, previous: Sequence[str]) -> KeyRing:
    keys = (await session.scalars(select(CheckinKey).order_by(CheckinKey.id))).all()
    active = [k for k in keys if k.retired_at is None]
    if not active:
        key = _new_key(session, secret_key)
        await session.flush()
        keys = [*keys, key]
        active = [key]
    signing_row = active[-1]
    signing = _try_open(signing_row.private_key, secret_key)
    if signing is None:
        signing_row, signing = await _unseal(session, signing_row, secret_key, previous, now)
        keys = (await session.scalars(select(CheckinKey).order_by(CheckinKey.id))).all()
    public = {}
    expires = {}
    for key in keys:
        if key.expires_at is not None and key.expires_at <= now:
            continue  # an expired key verifies nothing
        public[key.id] = Ed25519PublicKey.from_public_bytes(_unb64(key.public_key))
        expires[key.id] = key.expires_at
    return KeyRing(signing_row.id, signing, public, expires, time.monotonic())


async def key_ring(
    session: AsyncSession,
    secret_key: str,
    *,
    now: datetime | None = None,
    refresh: bool = False,
    previous: Sequence[str] | None = None,
) -> KeyRing:
    """The keys in force: the signing key, and the public halves that verify codes. ``previous`` are
    the secrets used before ``secret_key``; by default those the app was started with."""
    now = now or utcnow()
    rings = _rings(session)
    cache_key = _cache_key(secret_key)
    ring = rings.get(cache_key)
    stale = ring is None or time.monotonic() - ring.loaded_at > CACHE_SECONDS
    if refresh or stale or any(e is not None and e <= now for e in (ring.expires.values() if ring else ())):
        if previous is None:
            previous = _previous.get(_engine(session), {}).get(cache_key, ())
        ring = await _load(session, secret_key, now, previous)
        rings[cache_key] = ring
    assert ring is not None
    return ring


async def rotate(session: AsyncSession, secret_key: str, *, now: datetime | None = None) -> int:
    """Retire the signing key (its codes stay valid for a grace period) and start a new one; the new key's id."""
    now = now or utcnow()
    retired = await _active(session, lock=True)
    for key in retired:
        key.retired_at = now
        key.expires_at = now + RETIRED_KEY_GRACE
    key = _new_key(session, secret_key)
    await session.flush()
    _rings(session).pop(_cache_key(secret_key), None)
    return key.id
