"""All SQL of favorites.

Writes take a whole batch of queued jobs at once, in the statement that
finishes them (`BatchWrite`, PERF_NOTES.md).
Reads run on the plain asyncpg read pool (`anime_common.create_read_pool`).
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from anime_common import as_uuid, fetch_page
from anime_library.jobs.repository import BatchWrite, JobRow, job_row


@dataclass(frozen=True, slots=True)
class FavoriteRow:
    id: uuid.UUID
    user_id: uuid.UUID
    anime_id: uuid.UUID
    created_at: datetime.datetime


@dataclass(frozen=True, slots=True)
class FavoritePair:
    """The payload of a removal: which favorite goes."""

    user_id: uuid.UUID
    anime_id: uuid.UUID


def _favorite(row: asyncpg.Record) -> FavoriteRow:
    return FavoriteRow(
        id=as_uuid(row["id"]),
        user_id=as_uuid(row["user_id"]),
        anime_id=as_uuid(row["anime_id"]),
        created_at=row["created_at"],
    )


# --- writes (in the statement that finishes their jobs) -----------------------------------

# A pair that is already a favorite is left as it is.
ADD_FAVORITES = BatchWrite(
    record="id uuid, user_id uuid, anime_id uuid, created_at timestamptz",
    steps="""added AS (
    INSERT INTO library.favorites (id, user_id, anime_id, created_at)
    SELECT id, user_id, anime_id, created_at FROM batch
    ON CONFLICT (user_id, anime_id) DO NOTHING
)""",
)

# By (user, anime); a pair that matches nothing is fine.
REMOVE_FAVORITES = BatchWrite(
    record="user_id uuid, anime_id uuid",
    steps="""removed AS (
    DELETE FROM library.favorites AS f USING batch AS d
    WHERE f.user_id = d.user_id AND f.anime_id = d.anime_id
)""",
)

# The job of a removal that matched no anime: it succeeds and writes nothing (API.md: 202).
REMOVE_NOTHING = BatchWrite()


# --- reads ----------------------------------------------------------------------------


# Of each (user, anime): the stored favorite, unless its removal is open, and
# the newest add job of it ($3: the add keys, $4: the removal keys).
_FAVORITES_TO_KEEP = """
SELECT q.user_id AS asked_user, q.anime_id AS asked_anime, f.id AS favorite_id,
       f.created_at AS favorited_at, j.*
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[])
    AS q(user_id, anime_id, add_key, removal_key)
LEFT JOIN library.favorites f ON f.user_id = q.user_id AND f.anime_id = q.anime_id
    AND NOT EXISTS (SELECT 1 FROM library.jobs
                    WHERE key = q.removal_key AND status IN ('queued', 'running'))
LEFT JOIN LATERAL (
    SELECT id, key, status, error, created_at, finished_at, owner, NULL::text AS payload
    FROM library.jobs WHERE kept AND key = q.add_key
    ORDER BY created_at DESC LIMIT 1) j ON true
"""


@dataclass(frozen=True, slots=True)
class KeptFavorite:
    """What an add reads first: the favorite to keep, and its newest add job."""

    stored: FavoriteRow | None  # None: not stored, or its removal is open
    newest_add: JobRow | None  # None: never added, or pruned


async def favorites_to_keep(
    *,
    connection: asyncpg.Connection,
    pairs: Sequence[tuple[uuid.UUID, uuid.UUID]],
    add_keys: Sequence[str],
    removal_keys: Sequence[str],
) -> dict[tuple[uuid.UUID, uuid.UUID], KeptFavorite]:
    """Of (user, anime) pairs, what an add must know, by pair; keys in the order of `pairs`.

    One statement for a batch of requests on a plain asyncpg connection (a hot
    path: every add, batched by `anime_common.Batcher`).
    """
    rows = await connection.fetch(
        _FAVORITES_TO_KEEP,
        [user for user, _ in pairs],
        [anime for _, anime in pairs],
        list(add_keys),
        list(removal_keys),
    )
    found: dict[tuple[uuid.UUID, uuid.UUID], KeptFavorite] = {}
    for row in rows:
        user_id, anime_id = as_uuid(row["asked_user"]), as_uuid(row["asked_anime"])
        stored = (
            FavoriteRow(
                id=as_uuid(row["favorite_id"]),
                user_id=user_id,
                anime_id=anime_id,
                created_at=row["favorited_at"],
            )
            if row["favorite_id"] is not None
            else None
        )
        newest = job_row(row) if row["id"] is not None else None
        found[user_id, anime_id] = KeptFavorite(stored=stored, newest_add=newest)
    return found


async def favorite_anime_id(
    *, connection: asyncpg.Connection, user_id: uuid.UUID, favorite_id: uuid.UUID
) -> uuid.UUID | None:
    """The anime of one of the user's favorites by its id: stored, or still to be added."""
    value = await connection.fetchval(
        "SELECT anime_id FROM library.favorites WHERE id = $1 AND user_id = $2"
        " UNION ALL"
        " SELECT (payload->>'anime_id')::uuid FROM library.jobs"
        " WHERE owner = $2 AND kind = 'favorite-add' AND status IN ('queued', 'running')"
        " AND payload->>'id' = $1::text"
        " LIMIT 1",
        favorite_id,
        user_id,
    )
    return as_uuid(value) if value is not None else None


# `$2` NULL means every anime of the user.
_FAVORITES_OF = "FROM library.favorites WHERE user_id = $1 AND ($2::uuid IS NULL OR anime_id = $2)"


async def list_favorites(
    *,
    connection: asyncpg.Connection,
    user_id: uuid.UUID,
    anime_id: uuid.UUID | None,
    limit: int,
    offset: int,
) -> tuple[list[FavoriteRow], int]:
    """A page of the user's favorites (of one anime when `anime_id` is given), newest first."""
    rows, total = await fetch_page(
        connection,
        sql=f"SELECT id, user_id, anime_id, created_at, count(*) OVER () AS total {_FAVORITES_OF}"
        " ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4",
        count_sql=f"SELECT count(*) {_FAVORITES_OF}",
        args=(user_id, anime_id, limit, offset),
    )
    return [_favorite(row) for row in rows], total
