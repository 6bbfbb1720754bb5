"""What every library repository module needs: asyncpg UUIDs made plain, pages with totals.

Reads run on the service's plain asyncpg pool (`anime_common.create_read_pool`,
as in the catalog): single autocommit statements, `$n` parameters. Writes run
in the SQLAlchemy session of a transaction (`Database.transaction`).
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg


def as_uuid(value: Any) -> uuid.UUID:
    # asyncpg answers with its own UUID type, which JSON encoders refuse.
    return value if type(value) is uuid.UUID else uuid.UUID(int=value.int)


async def fetch_page(
    connection: asyncpg.Connection, *, sql: str, count_sql: str, args: tuple[Any, ...]
) -> tuple[list[asyncpg.Record], int]:
    """A page of rows and the total behind it.

    `sql` selects `count(*) OVER () AS total` beside its columns and ends with
    `LIMIT $n OFFSET $n+1` (its last two arguments), so a page costs one query;
    only an empty page (past the end, or nothing at all) needs `count_sql`, which
    takes the arguments before those two, for the total.
    """
    rows = await connection.fetch(sql, *args)
    if rows:
        return rows, int(rows[0]["total"])
    return [], int(await connection.fetchval(count_sql, *args[:-2]) or 0)
