"""Offset pagination as API.md states it: ``?limit=`` (default 50, at most 500) and ``?offset=``."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

import msgspec
from litestar.params import Parameter
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500

Limit = Annotated[
    int, Parameter(ge=1, le=MAX_LIMIT, description=f"Page size, 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT})")
]
# Past the end of any list the service keeps (a deeper page is reached with filters), and far inside the
# 64-bit OFFSET of both databases: 2**63 reached the driver and failed there.
MAX_OFFSET = 10_000_000
Offset = Annotated[int, Parameter(ge=0, le=MAX_OFFSET, description=f"Items to skip, 0 to {MAX_OFFSET} (default 0)")]


class Page(msgspec.Struct, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


async def count(session: AsyncSession, query: Select[Any]) -> int:
    total = await session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    return int(total or 0)
