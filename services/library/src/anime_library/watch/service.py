"""The rules of watch progress: what is checked before a sighting is queued, what its job writes.

As for favorites, requests validate (the anime and episode through the catalog),
submit a job and answer 202; its write (`repository.WRITE_PROGRESS`) is an
idempotent upsert in which the newest sighting wins.
"""

from __future__ import annotations

import uuid

from anime_common import ValidationError
from anime_library.anime import (
    AnimeSummary,
    anime_id_for_reading,
    anime_with_episode,
    utc_now,
    with_anime,
)
from anime_library.jobs.runner import Work
from anime_library.jobs.schemas import JobOut
from anime_library.state import LibraryState
from anime_library.watch import repository
from anime_library.watch.repository import ProgressRow
from anime_library.watch.schemas import ContinueOut, ProgressAccepted, ProgressIn, ProgressOut

# An episode counts as watched from here on (API.md).
COMPLETED_PERCENT = 90.0


# --- requests -----------------------------------------------------------------------------


async def episode_duration_within(
    *, state: LibraryState, anime_id: uuid.UUID, episode: int, position: float
) -> int | None:
    """The episode's duration (None when unknown); a 422 when `position` is past it.

    As for the count, the catalog is asked again before refusing.
    """
    duration = await state.catalog.episode_duration(anime_id=anime_id, episode=episode)
    if duration and position > duration:
        duration = await state.catalog.episode_duration(
            anime_id=anime_id, episode=episode, fresh=True
        )
        if duration and position > duration:
            raise ValidationError.for_field(
                "position_seconds", f"this episode lasts {duration} seconds"
            )
    return duration


async def record_progress(
    *, state: LibraryState, user_id: uuid.UUID, data: ProgressIn
) -> ProgressAccepted:
    """Validate against the catalog (API.md), then queue the upsert; the newest one wins."""
    if data.position_seconds is None and data.progress_percent is None:
        message = "position_seconds or progress_percent is required"
        raise ValidationError(
            "Invalid watch progress",
            fields=[
                {"field": "position_seconds", "message": message},
                {"field": "progress_percent", "message": message},
            ],
        )
    anime = await anime_with_episode(state=state, reference=data.anime_id, episode=data.episode)
    percent = data.progress_percent
    if data.position_seconds is not None:
        duration = await episode_duration_within(
            state=state, anime_id=anime.id, episode=data.episode, position=data.position_seconds
        )
        if percent is None and duration:
            percent = round(data.position_seconds * 100 / duration, 2)
    row = ProgressRow(
        user_id=user_id,
        anime_id=anime.id,
        episode=data.episode,
        position_seconds=data.position_seconds,
        progress_percent=percent,
        completed=percent is not None and percent >= COMPLETED_PERCENT,
        last_watched_at=utc_now(),
    )
    key = f"watch-progress:{user_id}:{anime.id}:{data.episode}"
    job = await state.runner.submit(
        key, Work(repository.WRITE_PROGRESS, row), owner=user_id, replace=True
    )
    return ProgressAccepted(
        anime_id=row.anime_id,
        episode=row.episode,
        position_seconds=row.position_seconds,
        progress_percent=row.progress_percent,
        last_watched_at=row.last_watched_at,
        job=JobOut.of(job),
    )


async def progress_of(
    *, state: LibraryState, user_id: uuid.UUID, reference: str, limit: int, offset: int
) -> tuple[list[ProgressOut], int]:
    anime_id = await anime_id_for_reading(state=state, reference=reference)
    if anime_id is None:
        return [], 0
    async with state.reader.acquire() as connection:
        rows, total = await repository.progress_of_anime(
            connection=connection, user_id=user_id, anime_id=anime_id, limit=limit, offset=offset
        )
    return [
        ProgressOut(
            episode=row.episode,
            position_seconds=row.position_seconds,
            progress_percent=row.progress_percent,
            completed=row.completed,
            last_watched_at=row.last_watched_at,
        )
        for row in rows
    ], total


async def continue_watching(
    *, state: LibraryState, user_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[ContinueOut], int]:
    async with state.reader.acquire() as connection:
        rows, total = await repository.continue_watching(
            connection=connection, user_id=user_id, limit=limit, offset=offset
        )
    return await with_anime(state=state, rows=rows, render=_continue_out), total


def _continue_out(row: ProgressRow, anime: AnimeSummary) -> ContinueOut:
    return ContinueOut(
        anime_id=row.anime_id,
        episode=row.episode,
        position_seconds=row.position_seconds,
        progress_percent=row.progress_percent,
        last_watched_at=row.last_watched_at,
        anime=anime,
    )
