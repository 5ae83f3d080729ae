"""The server's QR signing keys: made once, kept in the database (private half encrypted), rotated by
key id. Keys are cached per process; a code naming a key id the cache does not know reloads it once."""

from __future__ import annotations

import base64
import hashlib
import os
import time
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Engine, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkin.models import CheckinKey
from core.clock import utcnow

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
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    return _cache.setdefault(engine, {})


def _cache_key(secret_key: str) -> str:
    return hashlib.sha256(secret_key.encode()).hexdigest()


async def _load(session: AsyncSession, secret_key: str, now: datetime) -> KeyRing:
    keys = (await session.scalars(select(CheckinKey).order_by(CheckinKey.id))).all()
    active = [k for k in keys if k.retired_at is None]
    if not active:
        private = Ed25519PrivateKey.generate()
        key = CheckinKey(public_key=public_key_text(private.public_key()), private_key=_seal(private, secret_key))
        session.add(key)
        await session.flush()
        keys = [*keys, key]
        active = [key]
    signing_row = active[-1]
    public = {}
    expires = {}
    for key in keys:
        if key.expires_at is not None and key.expires_at <= now:
            continue  # an expired key verifies nothing
        public[key.id] = Ed25519PublicKey.from_public_bytes(_unb64(key.public_key))
        expires[key.id] = key.expires_at
    return KeyRing(signing_row.id, _open(signing_row.private_key, secret_key), public, expires, time.monotonic())


async def key_ring(
    session: AsyncSession, secret_key: str, *, now: datetime | None = None, refresh: bool = False
) -> KeyRing:
    now = now or utcnow()
    rings = _rings(session)
    cache_key = _cache_key(secret_key)
    ring = rings.get(cache_key)
    stale = ring is None or time.monotonic() - ring.loaded_at > CACHE_SECONDS
    if refresh or stale or any(e is not None and e <= now for e in (ring.expires.values() if ring else ())):
        ring = await _load(session, secret_key, now)
        rings[cache_key] = ring
    assert ring is not None
    return ring


async def rotate(session: AsyncSession, secret_key: str, *, now: datetime | None = None) -> int:
    """Retire the signing key (its codes stay valid for a grace period) and start a new one."""
    now = now or utcnow()
    for key in (await session.scalars(select(CheckinKey).where(CheckinKey.retired_at.is_(None)))).all():
        key.retired_at = now
        key.expires_at = now + RETIRED_KEY_GRACE
    private = Ed25519PrivateKey.generate()
    key = CheckinKey(public_key=public_key_text(private.public_key()), private_key=_seal(private, secret_key))
    session.add(key)
    await session.flush()
    _rings(session).pop(_cache_key(secret_key), None)
    return key.id
