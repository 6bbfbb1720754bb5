"""The rules of views: who watched what, counted once per window, and public counts.

`POST /views` validates (the anime through the catalog, the episode against
its count), submits job `view:<user>:<anime>:<episode or 0>` and answers 202;
the job decides whether the view counts (not when the same user's view of the
same anime and episode was counted within `VIEW_DEDUPE_SECONDS`) and keeps the
aggregates that `GET /views/stats` reads. While a view's job is still queued, a
repeat replaces its payload (the newest time wins) instead of adding a job.
"""

from __future__ import annotations

import datetime
import uuid

from anime_library.anime import AnimeSummary, anime_with_episode, utc_now, with_anime
from anime_library.jobs.runner import Work
from anime_library.jobs.schemas import JobOut
from anime_library.state import LibraryState
from anime_library.views import repository
from anime_library.views.repository import NO_EPISODE, ViewRow
from anime_library.views.schemas import ViewAccepted, ViewIn, ViewOut, ViewStatsOut

# "Last 7 days" is today (UTC) and the six days before it.
STATS_DAYS = 7


async def record_view(
    *, state: LibraryState, user_id: uuid.UUID, data: ViewIn, window_seconds: float
) -> ViewAccepted:
    anime = await anime_with_episode(state=state, reference=data.anime_id, episode=data.episode)
    row = ViewRow(user_id=user_id, anime_id=anime.id, episode=data.episode, viewed_at=utc_now())
    key = f"view:{user_id}:{anime.id}:{data.episode or NO_EPISODE}"
    job = await state.runner.submit(
        key, Work(repository.record_views(window_seconds), row), owner=user_id, replace=True
    )
    return ViewAccepted(
        anime_id=row.anime_id, episode=row.episode, viewed_at=row.viewed_at, job=JobOut.of(job)
    )


async def recent_views(
    *, state: LibraryState, user_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[ViewOut], int]:
    async with state.reader.acquire() as connection:
        rows, total = await repository.recent_views(
            connection=connection, user_id=user_id, limit=limit, offset=offset
        )
    return await with_anime(state=state, rows=rows, render=_view_out), total


def _view_out(row: ViewRow, anime: AnimeSummary) -> ViewOut:
    return ViewOut(anime_id=row.anime_id, episode=row.episode, viewed_at=row.viewed_at, anime=anime)


async def view_stats(*, state: LibraryState, reference: str) -> ViewStatsOut:
    """Public counts of an anime known to the catalog (404 otherwise)."""
    anime = await state.catalog.resolve(reference)
    since = utc_now().date() - datetime.timedelta(days=STATS_DAYS - 1)
    async with state.reader.acquire() as connection:
        counts = await repository.view_counts(connection=connection, anime_id=anime.id, since=since)
    return ViewStatsOut(anime_id=anime.id, total=counts.total, last_7_days=counts.last_7_days)
