"""Password hashing (argon2id through argon2-cffi) and the strength rule for new passwords."""

from __future__ import annotations

import re
from functools import lru_cache

import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.i18n import Message, msg

MIN_LENGTH = 10
MAX_LENGTH = 128
_COMMON = frozenset(
    {
        "password", "password1", "password123", "1234567890", "qwerty1234", "iloveyou12", "seoul12345",
        "abcd123456", "qwertyuiop", "1q2w3e4r5t", "q1w2e3r4t5", "asdf123456", "seoulrun4050",
    }
)  # fmt: skip


@lru_cache(maxsize=8)
def hasher(time_cost: int, memory_kib: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)


def weakness(password: str, *, email: str = "", name: str = "") -> Message | None:
    """Why a new password is too weak, as a catalogue message; ``None`` when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return msg("password.too_short", min_length=MIN_LENGTH)
    if len(password) > MAX_LENGTH:
        return msg("password.too_long", max_length=MAX_LENGTH)
    classes = sum(bool(re.search(pattern, password)) for pattern in (r"[A-Za-z가-힣]", r"\d", r"[^A-Za-z0-9가-힣]"))
    if classes < 2:
        return msg("password.too_few_kinds")
    lowered = password.casefold()
    if lowered in _COMMON or len(set(lowered)) < 4:
        return msg("password.too_common")
    local = email.split("@", 1)[0].casefold()
    if (len(local) >= 4 and local in lowered) or (len(name) >= 2 and name.casefold() in lowered):
        return msg("password.contains_identity")
    return None


async def hash_password(password: str, *, time_cost: int, memory_kib: int) -> str:
    # Argon2 takes tens of milliseconds of CPU on purpose: keep it off the event loop.
    return await anyio.to_thread.run_sync(hasher(time_cost, memory_kib).hash, password)


async def verify_password(password_hash: str, password: str, *, time_cost: int, memory_kib: int) -> bool:
    def check() -> bool:
        try:
            return hasher(time_cost, memory_kib).verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    return await anyio.to_thread.run_sync(check)


# A real hash to verify against when the email is unknown, so that the answer takes as long either way.
_DUMMY: dict[tuple[int, int], str] = {}


async def dummy_verify(password: str, *, time_cost: int, memory_kib: int) -> None:
    key = (time_cost, memory_kib)
    if key not in _DUMMY:
        _DUMMY[key] = await hash_password("not-a-real-password-4050", time_cost=time_cost, memory_kib=memory_kib)
    await verify_password(_DUMMY[key], password, time_cost=time_cost, memory_kib=memory_kib)
