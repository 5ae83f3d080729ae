"""The audit log as the API shows it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec


class AuditEntryRead(msgspec.Struct):
    id: int
    at: datetime
    actor_id: int | None
    actor_role: str
    address: str | None
    action: str
    subject_kind: str
    subject_id: int
    venue_id: int | None
    details: dict[str, Any]
