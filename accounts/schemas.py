"""Request and response bodies of the account endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from core.fields import Ids, OneLine

# No spaces and no control characters (NUL included) anywhere in an address.
_ADDRESS_PART = r"[^@\s\x00-\x1f\x7f-\x9f]+"
Email = Annotated[
    str,
    msgspec.Meta(min_length=3, max_length=254, pattern=rf"^{_ADDRESS_PART}@{_ADDRESS_PART}\.{_ADDRESS_PART}$(?!\n)"),
]
Name = Annotated[OneLine, msgspec.Meta(min_length=1, max_length=100)]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
BirthYear = Annotated[int, msgspec.Meta(ge=1900, le=2100)]
Phone = Annotated[str, msgspec.Meta(max_length=40, pattern=r"^\+?[0-9][0-9 -]{5,38}$(?!\n)")]
RoleName = Annotated[str, msgspec.Meta(pattern=r"^(citizen|staff|manager|instructor|admin)$(?!\n)")]


class RegisterRequest(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    password: Password
    name: Name
    birth_year: BirthYear
    phone: Phone | None = None


class LoginRequest(msgspec.Struct):
    email: Annotated[OneLine, msgspec.Meta(max_length=254)]
    password: Password


class TokenResponse(msgspec.Struct):
    access_token: str
    expires_at: datetime
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret


class AccountRead(msgspec.Struct):
    id: int
    email: str
    name: str
    role: str
    birth_year: int | None = None
    phone: str | None = None
    venue_ids: list[int] = msgspec.field(default_factory=list)


class AccountCreate(msgspec.Struct, forbid_unknown_fields=True):
    """An account made by an administrator: any role, venues for staff and managers."""

    email: Email
    password: Password
    name: Name
    role: RoleName
    birth_year: BirthYear | None = None
    phone: Phone | None = None
    venue_ids: Ids = msgspec.field(default_factory=list)


class AccountUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    role: RoleName | msgspec.UnsetType = msgspec.UNSET
    password: Password | msgspec.UnsetType = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET
    venue_ids: Ids | msgspec.UnsetType = msgspec.UNSET
