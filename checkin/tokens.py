"""Signed QR payloads that a scanner can verify offline.

Layout (15 bytes signed, then a 64-byte Ed25519 signature), base-32 so that the QR code uses its compact
alphanumeric mode, behind the prefix ``SR1:``::

    version(1) key_id(2) booking_id(4) venue_id(4) qr_version(1) valid_until(4, minutes since the epoch)

A scanner with the venue's manifest (public keys, the day's bookings and their current ``qr_version``)
can check a code with no network: the signature, the key, the venue, the validity and the generation.
"""

from __future__ import annotations

import base64
import binascii
import struct
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PREFIX = "SR1:"
VERSION = 1
_LAYOUT = struct.Struct(">BHIIBI")
SIGNATURE_BYTES = 64


@dataclass(frozen=True, slots=True)
class Claims:
    key_id: int
    booking_id: int
    venue_id: int
    qr_version: int
    valid_until: datetime


class TokenError(ValueError):
    """The text is not one of our codes, or its signature does not hold."""


def _minutes(instant: datetime) -> int:
    return int(instant.timestamp() // 60)


def encode(claims: Claims, private_key: Ed25519PrivateKey) -> str:
    body = _LAYOUT.pack(
        VERSION,
        claims.key_id,
        claims.booking_id,
        claims.venue_id,
        claims.qr_version % 256,
        _minutes(claims.valid_until),
    )
    signed = body + private_key.sign(body)
    return PREFIX + base64.b32encode(signed).decode("ascii").rstrip("=")


def parse(text: str) -> tuple[Claims, bytes, bytes]:
    """Read a code without checking its signature: the claims, the signed bytes and the signature."""
    text = text.strip()
    if not text.upper().startswith(PREFIX):
        raise TokenError("not a Seoul Run 4050 code")
    raw = text[len(PREFIX) :].upper()
    try:
        data = base64.b32decode(raw + "=" * (-len(raw) % 8))
    except (binascii.Error, ValueError) as exc:
        raise TokenError("not base-32") from exc
    if len(data) != _LAYOUT.size + SIGNATURE_BYTES:
        raise TokenError("wrong length")
    body, signature = data[: _LAYOUT.size], data[_LAYOUT.size :]
    version, key_id, booking_id, venue_id, qr_version, valid_until = _LAYOUT.unpack(body)
    if version != VERSION:
        raise TokenError("unknown version")
    claims = Claims(key_id, booking_id, venue_id, qr_version, datetime.fromtimestamp(valid_until * 60, UTC))
    return claims, body, signature


def verify(text: str, public_keys: dict[int, Ed25519PublicKey]) -> Claims:
    """The claims of a genuine code; ``TokenError`` for anything forged, altered or of an unknown key."""
    claims, body, signature = parse(text)
    key = public_keys.get(claims.key_id)
    if key is None:
        raise TokenError("unknown or retired key")
    try:
        key.verify(signature, body)
    except InvalidSignature as exc:
        raise TokenError("bad signature") from exc
    return claims
