"""Offset pages with their total in one round trip, for SQLAlchemy and for the read pool.

A page selects `count(*) OVER ()` beside its columns, so the rows and the total
behind them come back together; only an empty page past the start (an offset
beyond the end) asks for the total on its own. Keyset pages (the catalog's
anchors) are another thing and do not use this.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")

_TOTAL = "_page_total"


async def paged(
    session: AsyncSession, statement: Select[T], *, limit: int, offset: int
) -> tuple[list[T], int]:
    """A page of a one-entity (or one-column) ordered select, and the rows it pages through."""
    result = await session.execute(
        statement.add_columns(func.count().over().label(_TOTAL)).limit(limit).offset(offset)
    )
    rows = result.all()
    if rows:
        return [row[0] for row in rows], int(rows[0][-1])
    if offset == 0:
        return [], 0
    counted = select(func.count()).select_from(statement.order_by(None).subquery())
    return [], int(await session.scalar(counted) or 0)


async def fetch_page(
    connection: asyncpg.Connection, *, sql: str, count_sql: str, args: Sequence[Any]
) -> tuple[list[asyncpg.Record], int]:
    """A page of records from the read pool, and the total behind it.

    `sql` selects `count(*) OVER () AS total` beside its columns and ends with
    `LIMIT $n OFFSET $n+1` (its last two arguments); `count_sql` takes the
    arguments before those two and counts the rows, for an empty page past the start.
    """
    rows = await connection.fetch(sql, *args)
    if rows:
        return rows, int(rows[0]["total"])
    if args[-1] == 0:
        return [], 0
    return [], int(await connection.fetchval(count_sql, *args[:-2]) or 0)
