"""All SQL of watch progress.

A batch of progress rows is one upsert, run by the job runner in the statement
that finishes the batch's jobs; reads run on the plain asyncpg read pool.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

import asyncpg

from anime_common import as_uuid, fetch_page
from anime_library.jobs.repository import BatchWrite


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


# --- writes (in the statement that finishes their jobs) -----------------------------------

# The newest sighting wins even if an older one is written later (another
# replica, a retry): a row only moves forward in time. The table's checks are
# the route's validation, made again where the row is written.
WRITE_PROGRESS = BatchWrite(
    record="user_id uuid, anime_id uuid, episode integer, position_seconds double precision,"
    " progress_percent double precision, completed boolean, last_watched_at timestamptz",
    steps="""written AS (
    INSERT INTO library.watch_progress AS w
        (user_id, anime_id, episode, position_seconds, progress_percent, completed,
         last_watched_at)
    SELECT user_id, anime_id, episode, position_seconds, progress_percent, completed,
           last_watched_at
    FROM batch
    ON CONFLICT (user_id, anime_id, episode) DO UPDATE SET
        position_seconds = excluded.position_seconds,
        progress_percent = excluded.progress_percent,
        completed = excluded.completed,
        last_watched_at = excluded.last_watched_at
    WHERE w.last_watched_at <= excluded.last_watched_at
)""",
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
