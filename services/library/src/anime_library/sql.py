"""What every library repository module needs: asyncpg UUIDs made plain, pages with totals."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

Executor = AsyncConnection | AsyncSession


def as_uuid(value: Any) -> uuid.UUID:
    # asyncpg answers textual queries with its own UUID type, which JSON encoders refuse.
    return value if type(value) is uuid.UUID else uuid.UUID(int=value.int)


async def fetch_page(
    executor: Executor, *, sql: str, count_sql: str, params: Mapping[str, Any]
) -> tuple[list[Row[Any]], int]:
    """A page of rows and the total behind it.

    `sql` selects `count(*) OVER () AS total` beside its columns, so a page
    costs one query; only an empty page (past the end, or nothing at all) needs
    `count_sql` for the total.
    """
    result = await executor.execute(text(sql), params)
    rows = list(result.all())
    if rows:
        return rows, int(rows[0].total)
    counted = await executor.execute(text(count_sql), params)
    return [], int(counted.scalar() or 0)
