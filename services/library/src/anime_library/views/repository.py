"""All SQL of views (the rules are in `views.service`).

A batch of views is one statement: the marks decide which views count (the
last count of that user, anime and episode older than the window), the counted
ones go into the per-day and total aggregates, and every view moves its anime
to the top of the user's recently viewed. Reads of the counts then touch at
most eight small rows, however many views there are.
"""

from __future__ import annotations

import datetime
import functools
import uuid
from dataclasses import dataclass

import asyncpg

from anime_common import as_uuid, fetch_page
from anime_library.jobs.repository import BatchWrite

# Episode 0 in a mark stands for "no episode given" (primary keys have no NULL).
NO_EPISODE = 0


@dataclass(frozen=True, slots=True)
class ViewRow:
    user_id: uuid.UUID
    anime_id: uuid.UUID
    episode: int | None
    viewed_at: datetime.datetime


@dataclass(frozen=True, slots=True)
class ViewCounts:
    total: int
    last_7_days: int


# Aggregates are written in anime order, so two batches touching the same
# anime lock their rows in the same order (no deadlock between workers).
_RECORD_VIEWS = """given AS (
    SELECT DISTINCT ON (user_id, anime_id, episode) * FROM (
        SELECT user_id, anime_id, coalesce(episode, 0) AS episode, viewed_at  -- 0: NO_EPISODE
        FROM batch) AS v
    ORDER BY user_id, anime_id, episode, viewed_at DESC
), counted AS (
    INSERT INTO library.view_marks AS mark (user_id, anime_id, episode, counted_at)
    SELECT user_id, anime_id, episode, viewed_at FROM given
    ON CONFLICT (user_id, anime_id, episode) DO UPDATE SET counted_at = excluded.counted_at
    WHERE mark.counted_at
        <= excluded.counted_at - make_interval(secs => $1::double precision)
    RETURNING anime_id, counted_at
), days AS (
    INSERT INTO library.anime_view_days AS d (anime_id, day, views)
    SELECT anime_id, CAST(counted_at AT TIME ZONE 'UTC' AS date), count(*)
    FROM counted GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (anime_id, day) DO UPDATE SET views = d.views + excluded.views
), totals AS (
    INSERT INTO library.anime_view_totals AS t (anime_id, views)
    SELECT anime_id, count(*) FROM counted GROUP BY 1 ORDER BY 1
    ON CONFLICT (anime_id) DO UPDATE SET views = t.views + excluded.views
), recent AS (
    INSERT INTO library.recent_views AS r (user_id, anime_id, episode, viewed_at)
    SELECT DISTINCT ON (user_id, anime_id)
        user_id, anime_id, NULLIF(episode, 0), viewed_at
    FROM given ORDER BY user_id, anime_id, viewed_at DESC
    ON CONFLICT (user_id, anime_id) DO UPDATE
        SET episode = excluded.episode, viewed_at = excluded.viewed_at
        WHERE r.viewed_at <= excluded.viewed_at
)"""


@functools.cache
def record_views(window_seconds: float) -> BatchWrite:
    """The write of view jobs for one dedupe window (one object per window: jobs batch by it)."""
    return BatchWrite(
        record="user_id uuid, anime_id uuid, episode integer, viewed_at timestamptz",
        steps=_RECORD_VIEWS,
        arguments=(float(window_seconds),),
    )


async def recent_views(
    *, connection: asyncpg.Connection, user_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[ViewRow], int]:
    """A page of the anime the user viewed, the most recently viewed first."""
    rows, total = await fetch_page(
        connection,
        sql="SELECT user_id, anime_id, episode, viewed_at, count(*) OVER () AS total"
        " FROM library.recent_views WHERE user_id = $1"
        " ORDER BY viewed_at DESC, anime_id LIMIT $2 OFFSET $3",
        count_sql="SELECT count(*) FROM library.recent_views WHERE user_id = $1",
        args=(user_id, limit, offset),
    )
    return [
        ViewRow(
            user_id=as_uuid(row["user_id"]),
            anime_id=as_uuid(row["anime_id"]),
            episode=row["episode"],
            viewed_at=row["viewed_at"],
        )
        for row in rows
    ], total


async def view_counts(
    *, connection: asyncpg.Connection, anime_id: uuid.UUID, since: datetime.date
) -> ViewCounts:
    """Counted views of an anime in total and on the UTC days from `since` on."""
    row = await connection.fetchrow(
        "SELECT"
        " (SELECT views FROM library.anime_view_totals WHERE anime_id = $1) AS total,"
        " (SELECT sum(views) FROM library.anime_view_days"
        "  WHERE anime_id = $1 AND day >= $2) AS recent",
        anime_id,
        since,
    )
    return ViewCounts(total=int(row["total"] or 0), last_7_days=int(row["recent"] or 0))
