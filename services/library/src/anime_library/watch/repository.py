"""All SQL of watch progress.

A batch of progress rows is one upsert (`INSERT ... SELECT FROM unnest(...)`),
as the job runner hands it over; reads run on the plain asyncpg read pool.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from anime_common import as_uuid, fetch_page


@dataclass(frozen=True, slots=True)
class ProgressRow:
    user_id: uuid.UUID
    anime_id: uuid.UUID
    episode: int
    position_seconds: float | None
    progress_percent: float | None
    completed: bool
    last_watched_at: datetime.datetime


def _progress(row: asyncpg.Record) -> ProgressRow:
    return ProgressRow(
        user_id=as_uuid(row["user_id"]),
        anime_id=as_uuid(row["anime_id"]),
        episode=row["episode"],
        position_seconds=row["position_seconds"],
        progress_percent=row["progress_percent"],
        completed=row["completed"],
        last_watched_at=row["last_watched_at"],
    )


# --- writes (inside a job's transaction) --------------------------------------------

# The newest sighting wins even if an older one is written later (another
# replica, a retry): a row only moves forward in time.
_UPSERT_PROGRESS = """
INSERT INTO library.watch_progress AS w
    (user_id, anime_id, episode, position_seconds, progress_percent, completed,
     last_watched_at)
SELECT * FROM unnest(
    $1::uuid[], $2::uuid[], $3::integer[], $4::double precision[], $5::double precision[],
    $6::boolean[], $7::timestamptz[])
ON CONFLICT (user_id, anime_id, episode) DO UPDATE SET
    position_seconds = excluded.position_seconds,
    progress_percent = excluded.progress_percent,
    completed = excluded.completed,
    last_watched_at = excluded.last_watched_at
WHERE w.last_watched_at <= excluded.last_watched_at
"""


async def upsert_progress(*, connection: asyncpg.Connection, rows: Sequence[ProgressRow]) -> None:
    """One row per (user, anime, episode); rows of one statement must not share that key."""
    await connection.execute(
        _UPSERT_PROGRESS,
        [row.user_id for row in rows],
        [row.anime_id for row in rows],
        [row.episode for row in rows],
        [row.position_seconds for row in rows],
        [row.progress_percent for row in rows],
        [row.completed for row in rows],
        [row.last_watched_at for row in rows],
    )


# --- reads ----------------------------------------------------------------------------


async def progress_of_anime(
    *,
    connection: asyncpg.Connection,
    user_id: uuid.UUID,
    anime_id: uuid.UUID,
    limit: int,
    offset: int,
) -> tuple[list[ProgressRow], int]:
    """A page of the user's per-episode progress in one anime, by episode."""
    rows, total = await fetch_page(
        connection,
        sql="SELECT user_id, anime_id, episode, position_seconds, progress_percent, completed,"
        " last_watched_at, count(*) OVER () AS total FROM library.watch_progress"
        " WHERE user_id = $1 AND anime_id = $2 ORDER BY episode LIMIT $3 OFFSET $4",
        count_sql="SELECT count(*) FROM library.watch_progress"
        " WHERE user_id = $1 AND anime_id = $2",
        args=(user_id, anime_id, limit, offset),
    )
    return [_progress(row) for row in rows], total


async def continue_watching(
    *, connection: asyncpg.Connection, user_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[ProgressRow], int]:
    """The latest progress row of each anime the user watched, most recent first."""
    rows, total = await fetch_page(
        connection,
        sql="""
            SELECT *, count(*) OVER () AS total FROM (
                SELECT DISTINCT ON (anime_id)
                    user_id, anime_id, episode, position_seconds, progress_percent, completed,
                    last_watched_at
                FROM library.watch_progress WHERE user_id = $1
                ORDER BY anime_id, last_watched_at DESC, episode DESC
            ) AS latest
            ORDER BY last_watched_at DESC, anime_id LIMIT $2 OFFSET $3
            """,
        count_sql="SELECT count(DISTINCT anime_id) FROM library.watch_progress WHERE user_id = $1",
        args=(user_id, limit, offset),
    )
    return [_progress(row) for row in rows], total
