"""All SQL of collections (the rules are in `collections.service`).

Reads run on the asyncpg read pool (`$n` parameters, see `anime_common.fetch_page`);
writes, and the reads a write makes under its locks, in the write's session.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from anime_common import as_uuid, fetch_page


@dataclass(frozen=True, slots=True)
class CollectionRow:
    id: uuid.UUID
    user_id: uuid.UUID
    name: str
    description: str | None
    is_public: bool
    items_count: int
    created_at: datetime.datetime
    updated_at: datetime.datetime


@dataclass(frozen=True, slots=True)
class ItemRow:
    anime_id: uuid.UUID
    added_at: datetime.datetime


def name_key(name: str) -> str:
    """What makes two names the same name: case and surrounding spaces do not count."""
    return name.strip().casefold()


def _collection(row: Any) -> CollectionRow:
    """From an asyncpg record or a SQLAlchemy row's mapping."""
    return CollectionRow(
        id=as_uuid(row["id"]),
        user_id=as_uuid(row["user_id"]),
        name=row["name"],
        description=row["description"],
        is_public=row["is_public"],
        items_count=int(row["items_count"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _item(row: Any) -> ItemRow:
    return ItemRow(anime_id=as_uuid(row["anime_id"]), added_at=row["added_at"])


_COLUMNS = (
    "c.id, c.user_id, c.name, c.description, c.is_public, c.created_at, c.updated_at,"
    " (SELECT count(*) FROM library.collection_items AS i WHERE i.collection_id = c.id)"
    " AS items_count"
)


# --- collections ----------------------------------------------------------------------


_SELECT = f"SELECT {_COLUMNS} FROM library.collections AS c"  # noqa: S608 - fixed fragments only
# One user's collections: all of them, or (`public_only`, $2) the public ones.
_OF_USER = "c.user_id = $1 AND (c.is_public OR NOT $2)"


async def get_collection(
    *, connection: asyncpg.Connection, collection_id: uuid.UUID
) -> CollectionRow | None:
    row = await connection.fetchrow(f"{_SELECT} WHERE c.id = $1", collection_id)
    return _collection(row) if row is not None else None


async def list_collections(
    *,
    connection: asyncpg.Connection,
    user_id: uuid.UUID,
    public_only: bool,
    limit: int,
    offset: int,
) -> tuple[list[CollectionRow], int]:
    """A page of one user's collections (only the public ones, or all), newest first."""
    rows, total = await fetch_page(
        connection,
        sql=f"SELECT {_COLUMNS}, count(*) OVER () AS total FROM library.collections AS c"  # noqa: S608 - fixed fragments only
        f" WHERE {_OF_USER} ORDER BY c.created_at DESC, c.id DESC LIMIT $3 OFFSET $4",
        count_sql=f"SELECT count(*) FROM library.collections AS c WHERE {_OF_USER}",  # noqa: S608
        args=(user_id, public_only, limit, offset),
    )
    return [_collection(row) for row in rows], total


_LOCK_COLLECTION = text("SELECT 1 FROM library.collections WHERE id = :id FOR UPDATE")
_GET_LOCKED = text(f"{_SELECT} WHERE c.id = :id")


async def lock_collection(
    *, session: AsyncSession, collection_id: uuid.UUID
) -> CollectionRow | None:
    """A collection, its row held until the transaction ends (other writes to it wait)."""
    await session.execute(_LOCK_COLLECTION, {"id": collection_id})
    # Its own statement: it starts after the lock was granted, so it counts the
    # items another transaction committed while we waited.
    row = (await session.execute(_GET_LOCKED, {"id": collection_id})).first()
    return _collection(row._mapping) if row is not None else None


async def lock_user(*, session: AsyncSession, user_id: uuid.UUID) -> None:
    """Hold a user's collection creations until this transaction ends (the per-user bound)."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"library.collections:{user_id}"},
    )


async def count_collections(*, session: AsyncSession, user_id: uuid.UUID) -> int:
    result = await session.execute(
        text("SELECT count(*) FROM library.collections WHERE user_id = :user"), {"user": user_id}
    )
    return int(result.scalar() or 0)


async def insert_collection(
    *,
    session: AsyncSession,
    collection_id: uuid.UUID,
    user_id: uuid.UUID,
    name: str,
    description: str | None,
    is_public: bool,
    at: datetime.datetime,
) -> bool:
    """Insert a collection; False when the user already has one of that name."""
    result = await session.execute(
        text(
            "INSERT INTO library.collections"
            " (id, user_id, name, name_key, description, is_public, created_at, updated_at)"
            " VALUES (:id, :user, :name, :key, :description, :public, :at, :at)"
            " ON CONFLICT (user_id, name_key) DO NOTHING RETURNING id"
        ),
        {
            "id": collection_id,
            "user": user_id,
            "name": name,
            "key": name_key(name),
            "description": description,
            "public": is_public,
            "at": at,
        },
    )
    return result.first() is not None


# Each column changes only when its `set_*` flag is true (PATCH: the fields given).
_UPDATE_COLLECTION = text(
    """
    UPDATE library.collections SET
        name = CASE WHEN :set_name THEN CAST(:name AS varchar) ELSE name END,
        name_key = CASE WHEN :set_name THEN CAST(:name_key AS varchar) ELSE name_key END,
        description = CASE WHEN :set_description THEN CAST(:description AS varchar)
            ELSE description END,
        is_public = CASE WHEN :set_public THEN CAST(:is_public AS boolean) ELSE is_public END,
        updated_at = :at
    WHERE id = :id
    """
)


async def update_collection(
    *,
    session: AsyncSession,
    collection_id: uuid.UUID,
    at: datetime.datetime,
    name: str | None = None,
    description: str | None = None,
    set_description: bool = False,
    is_public: bool | None = None,
) -> bool:
    """Change what is given (None keeps a column, but `set_description` may clear it).

    Always moves `updated_at`. False when the new name is already one of the
    user's; the failed statement aborts the transaction, so the caller must end it.
    """
    try:
        await session.execute(
            _UPDATE_COLLECTION,
            {
                "id": collection_id,
                "at": at,
                "set_name": name is not None,
                "name": name,
                "name_key": name_key(name) if name is not None else None,
                "set_description": set_description,
                "description": description,
                "set_public": is_public is not None,
                "is_public": is_public,
            },
        )
    except IntegrityError:
        # The one unique constraint besides the key: (user_id, name_key).
        return False
    return True


async def delete_collection(*, session: AsyncSession, collection_id: uuid.UUID) -> None:
    """Delete a collection; its items go with it (ON DELETE CASCADE)."""
    await session.execute(
        text("DELETE FROM library.collections WHERE id = :id"), {"id": collection_id}
    )


# --- items --------------------------------------------------------------------------------


async def add_items(
    *,
    session: AsyncSession,
    collection_id: uuid.UUID,
    anime_ids: Sequence[uuid.UUID],
    at: datetime.datetime,
) -> list[uuid.UUID]:
    """Append anime in the order given; those already in the collection are skipped."""
    result = await session.execute(
        text(
            "INSERT INTO library.collection_items (collection_id, anime_id, added_at)"
            " SELECT :collection, anime_id, :at"
            " FROM unnest(CAST(:animes AS uuid[])) WITH ORDINALITY AS given(anime_id, n)"
            " ORDER BY n ON CONFLICT (collection_id, anime_id) DO NOTHING RETURNING anime_id"
        ),
        {"collection": collection_id, "animes": list(anime_ids), "at": at},
    )
    return [as_uuid(value) for value in result.scalars()]


async def remove_item(
    *, session: AsyncSession, collection_id: uuid.UUID, anime_id: uuid.UUID
) -> bool:
    result = await session.execute(
        text(
            "DELETE FROM library.collection_items"
            " WHERE collection_id = :collection AND anime_id = :anime RETURNING anime_id"
        ),
        {"collection": collection_id, "anime": anime_id},
    )
    return result.first() is not None


async def get_item(
    *, session: AsyncSession, collection_id: uuid.UUID, anime_id: uuid.UUID
) -> ItemRow | None:
    result = await session.execute(
        text(
            "SELECT anime_id, added_at FROM library.collection_items"
            " WHERE collection_id = :collection AND anime_id = :anime"
        ),
        {"collection": collection_id, "anime": anime_id},
    )
    row = result.first()
    return _item(row._mapping) if row is not None else None


async def list_items(
    *,
    connection: asyncpg.Connection,
    collection_id: uuid.UUID,
    limit: int | None = None,
    offset: int = 0,
) -> list[ItemRow]:
    """A collection's items in the order they were added (all of them without `limit`)."""
    rows = await connection.fetch(
        "SELECT anime_id, added_at FROM library.collection_items"
        " WHERE collection_id = $1 ORDER BY seq LIMIT $2 OFFSET $3",
        collection_id,
        limit,
        offset,
    )
    return [_item(row) for row in rows]
